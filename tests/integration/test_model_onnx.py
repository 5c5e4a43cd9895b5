"""surge's tree-ensemble evaluator against its peers (src/model/): models trained with python
xgboost (PyPI) and ONNX files built with the onnx package, evaluated by surge (through the test
helper tests/model/model_tool.c, built next to surge) and by xgboost / ONNX Runtime on the same
rows, missing values included. XGBoost JSON models must agree exactly; ONNX Runtime to 1e-5
relative (it adds base_values after the trees, XGBoost before)."""

import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import xgboost as xgb
from onnx import TensorProto, helper, numpy_helper

from conftest import surge_binary


@pytest.fixture(scope="module")
def model_tool() -> Path:
    build = os.environ.get("SURGE_BUILD_DIR")
    path = (Path(build) if build else surge_binary().parent) / "model_tool"
    if not path.exists():
        pytest.fail(f"{path} not found: build the model_tool target (cmake --build <dir>)")
    return path


def tool(model_tool, *args, check=True):
    r = subprocess.run([str(model_tool), *map(str, args)], capture_output=True, text=True,
                       timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"model_tool {args} failed ({r.returncode}): {r.stderr}")
    return r


def write_rows(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        for row in rows:
            f.write(",".join("nan" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def surge_predict(model_tool, model: Path, rows_csv: Path, mode="single") -> np.ndarray:
    out = tool(model_tool, "predict", model, rows_csv, mode).stdout.split()
    return np.array([np.float32(v) for v in out], dtype=np.float32)


def random_data(rng, n, nfeat, missing=0.15):
    x = rng.uniform(-3, 7, size=(n, nfeat)).astype(np.float32)
    x[:, ::3] = np.floor(x[:, ::3])  # a coarse grid: many rows sit exactly on thresholds
    x[rng.random(size=x.shape) < missing] = np.nan
    return x


def train(rng, objective, nfeat=8, trees=40, depth=5):
    x = random_data(rng, 800, nfeat)
    signal = np.nansum(x * np.where(np.arange(nfeat) % 2, 1.0, -0.5), axis=1)
    y = np.floor(np.abs(signal) + rng.uniform(0, 3, size=len(x)))
    booster = xgb.train({"objective": objective, "max_depth": depth, "eta": 0.3, "nthread": 1,
                         "seed": 3}, xgb.DMatrix(x, label=y, missing=np.nan), trees)
    return booster


def test_random_xgboost_models_match_python_xgboost_exactly(model_tool, tmp_path):
    rng = np.random.default_rng(20261125)
    for objective in ("reg:squarederror", "count:poisson", "reg:tweedie"):
        booster = train(rng, objective)
        model = tmp_path / f"{objective.replace(':', '_')}.json"
        booster.save_model(model)
        rows = random_data(rng, 1500, 8)
        rows_csv = tmp_path / "rows.csv"
        write_rows(rows_csv, rows)
        want = booster.inplace_predict(rows, missing=np.nan).astype(np.float32)
        for mode in ("single", "batch", "quantized"):
            got = surge_predict(model_tool, model, rows_csv, mode)
            assert got.shape == want.shape
            diff = np.abs(got.astype(np.float64) - want)
            assert np.array_equal(got, want), (
                f"{objective} {mode}: {np.count_nonzero(got != want)} of {len(want)} rows "
                f"differ, max |diff| {diff.max():.3g}")


def test_exported_onnx_runs_in_onnx_runtime_and_agrees(model_tool, tmp_path):
    rng = np.random.default_rng(7)
    for objective in ("reg:squarederror", "count:poisson"):
        booster = train(rng, objective, nfeat=6, trees=60, depth=6)
        model = tmp_path / "model.json"
        booster.save_model(model)
        onnx_path = tmp_path / "model.onnx"
        tool(model_tool, "export-onnx", model, onnx_path)
        proto = onnx.load(str(onnx_path))
        onnx.checker.check_model(proto, full_check=True)
        kinds = [n.op_type for n in proto.graph.node]
        assert kinds == (["TreeEnsembleRegressor", "Exp"] if objective == "count:poisson"
                         else ["TreeEnsembleRegressor"])
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["surge.objective"] == objective
        assert meta["surge.sum_order"] == "base_first"

        rows = random_data(rng, 2000, 6)
        rows_csv = tmp_path / "rows.csv"
        write_rows(rows_csv, rows)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        runtime = session.run(None, {"input": rows})[0].reshape(-1)
        from_json = surge_predict(model_tool, model, rows_csv)
        from_onnx = surge_predict(model_tool, onnx_path, rows_csv)
        # our ONNX file read back is the same model, summed in XGBoost's order: identical
        assert np.array_equal(from_onnx, from_json)
        rel = np.abs(runtime.astype(np.float64) - from_json) / np.maximum(1.0, np.abs(runtime))
        assert rel.max() <= 1e-5, f"{objective}: ONNX Runtime differs by {rel.max():.3g}"
        want = booster.inplace_predict(rows, missing=np.nan).astype(np.float32)
        assert np.array_equal(from_json, want)


def hand_made_ensemble(path: Path, modes=None, extra_nodes=(), opset_ml=3, reverse=False,
                       as_tensor=None):
    """Two trees in the order tree 5 then tree 2, every branch mode we support, missing values
    tracked true on some nodes, and a base value. (ONNX Runtime 1.23 reads node ids as
    positions in the tree's list, so the nodes are listed in id order.)"""
    # tree 5: node 0: x0 <= 1.5 ? node 3 : leaf 1 ; node 3: x1 > 0 ? leaf 4 : leaf 2
    # tree 2: node 0: x2 >= 2 ? leaf 1 : node 2 ; node 2: x0 < -1 ? leaf 3 : leaf 4
    nodes = [
        # treeid, nodeid, featureid, mode, value, true, false, missing_tracks_true
        (5, 0, 0, "BRANCH_LEQ", 1.5, 3, 1, 1),
        (5, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (5, 2, 0, "LEAF", 0.0, 0, 0, 0),
        (5, 3, 1, "BRANCH_GT", 0.0, 4, 2, 0),
        (5, 4, 0, "LEAF", 0.0, 0, 0, 0),
        (2, 0, 2, "BRANCH_GTE", 2.0, 1, 2, 1),
        (2, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (2, 2, 0, "BRANCH_LT", -1.0, 3, 4, 0),
        (2, 3, 0, "LEAF", 0.0, 0, 0, 0),
        (2, 4, 0, "LEAF", 0.0, 0, 0, 0),
        *extra_nodes,
    ]
    if reverse:  # the same trees with their nodes listed backwards (roots last)
        nodes = nodes[::-1]
    if modes:
        nodes = [(*n[:3], modes.get((n[0], n[1]), n[3]), *n[4:]) for n in nodes]
    targets = [(5, 4, 1.25), (5, 2, -0.5), (5, 1, 2.0), (2, 1, 0.75), (2, 3, -1.5),
               (2, 4, 0.125)]
    floats = {"nodes_values": [n[4] for n in nodes], "target_weights": [t[2] for t in targets],
              "base_values": [0.3]}
    if as_tensor:  # ai.onnx.ml 3's *_as_tensor forms: "float" (float_data), "raw", "double"
        def tensor(name, values):
            if as_tensor == "float":
                return helper.make_tensor(name, TensorProto.FLOAT, [len(values)], values)
            dtype = np.float64 if as_tensor == "double" else np.float32
            return numpy_helper.from_array(np.array(values, dtype=dtype), name)
        floats = {f"{k}_as_tensor": tensor(k, v) for k, v in floats.items()}
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml",
        nodes_treeids=[n[0] for n in nodes], nodes_nodeids=[n[1] for n in nodes],
        nodes_featureids=[n[2] for n in nodes], nodes_modes=[n[3] for n in nodes],
        nodes_truenodeids=[n[5] for n in nodes], nodes_falsenodeids=[n[6] for n in nodes],
        nodes_missing_value_tracks_true=[n[7] for n in nodes],
        target_treeids=[t[0] for t in targets], target_nodeids=[t[1] for t in targets],
        target_ids=[0] * len(targets), n_targets=1, post_transform="NONE", **floats)
    graph = helper.make_graph(
        [node], "hand_made",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", opset_ml)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_onnx_tree_ensembles_from_the_onnx_package_import_and_agree(model_tool, tmp_path):
    path = tmp_path / "hand.onnx"
    hand_made_ensemble(path)
    onnx.checker.check_model(onnx.load(str(path)))
    info = tool(model_tool, "info", path).stdout
    assert '"features": 3, "trees": 2, "max_depth": 2' in info
    grid = np.array([-2, -1, 0, 1.5, 2, 3, np.nan], dtype=np.float32)
    rows = np.array(np.meshgrid(grid, grid, grid)).reshape(3, -1).T.astype(np.float32)
    rows_csv = tmp_path / "rows.csv"
    write_rows(rows_csv, rows)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    runtime = session.run(None, {"X": rows})[0].reshape(-1)
    got = surge_predict(model_tool, path, rows_csv)
    # sums of a few exact binary fractions: identical, not merely close
    assert np.array_equal(got, runtime), np.column_stack([rows, got, runtime])[got != runtime]
    # one row worked out by hand: x0=1.5 (<= 1.5: node 3), x1=NaN (GT false, not tracked:
    # leaf 2, -0.5); x2=NaN (tracked true: leaf 1, 0.75); (-0.5 + 0.75) + 0.3 = 0.55
    one = tmp_path / "one.csv"
    write_rows(one, np.array([[1.5, np.nan, np.nan]], dtype=np.float32))
    assert surge_predict(model_tool, path, one)[0] == np.float32(np.float32(0.25) + np.float32(0.3))
    assert np.array_equal(surge_predict(model_tool, path, rows_csv, "quantized"), got)
    # surge finds each tree's root and children by id, whatever the order of the lists
    backwards = tmp_path / "backwards.onnx"
    hand_made_ensemble(backwards, reverse=True)
    assert np.array_equal(surge_predict(model_tool, backwards, rows_csv), got)
    # converted to XGBoost JSON: python xgboost and surge read it alike, bit for bit, and both
    # sum base_values first, XGBoost's way, so they are a rounding away from ONNX Runtime
    as_json = tmp_path / "hand.json"
    tool(model_tool, "export-xgboost-json", path, as_json)
    booster = xgb.Booster(model_file=str(as_json))
    by_xgboost = booster.inplace_predict(rows, missing=np.nan).astype(np.float32)
    assert np.array_equal(surge_predict(model_tool, as_json, rows_csv), by_xgboost)
    assert np.abs(by_xgboost.astype(np.float64) - runtime).max() <= 1e-6
    # the order shows on some rows: XGBoost sums (0.3 + a) + b, ONNX Runtime (a + b) + 0.3
    assert not np.array_equal(by_xgboost, runtime)
    # the same numbers given as tensors (float_data, raw float32 bytes, raw float64 bytes)
    for kind in ("float", "raw", "double"):
        tensors = tmp_path / f"tensor_{kind}.onnx"
        hand_made_ensemble(tensors, as_tensor=kind)
        attrs = {a.name for a in onnx.load(str(tensors)).graph.node[0].attribute}
        assert "nodes_values_as_tensor" in attrs and "nodes_values" not in attrs
        assert np.array_equal(surge_predict(model_tool, tensors, rows_csv), got), kind


def single_tree_model(path: Path, nodes, targets, nfeat=2):
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml",
        nodes_treeids=[n[0] for n in nodes], nodes_nodeids=[n[1] for n in nodes],
        nodes_featureids=[n[2] for n in nodes], nodes_modes=[n[3] for n in nodes],
        nodes_values=[n[4] for n in nodes], nodes_truenodeids=[n[5] for n in nodes],
        nodes_falsenodeids=[n[6] for n in nodes],
        nodes_missing_value_tracks_true=[n[7] for n in nodes],
        target_treeids=[t[0] for t in targets], target_nodeids=[t[1] for t in targets],
        target_ids=[0] * len(targets), target_weights=[t[2] for t in targets], n_targets=1)
    graph = helper.make_graph(
        [node], "inf", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", nfeat])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_infinite_thresholds_and_values_agree_with_onnx_runtime(model_tool, tmp_path):
    inf = float("inf")
    path = tmp_path / "inf.onnx"
    single_tree_model(path, [
        # x0 < -inf never holds: only a missing x0 (tracked true) reaches leaf 1
        (0, 0, 0, "BRANCH_LT", -inf, 1, 2, 1),
        (0, 1, 0, "LEAF", 0, 0, 0, 0),
        (0, 2, 1, "BRANCH_GTE", inf, 3, 4, 0),
        (0, 3, 0, "LEAF", 0, 0, 0, 0),
        (0, 4, 0, "LEAF", 0, 0, 0, 0),
        (1, 0, 0, "BRANCH_LT", inf, 1, 2, 0),
        (1, 1, 0, "LEAF", 0, 0, 0, 0),
        (1, 2, 0, "LEAF", 0, 0, 0, 0),
    ], [(0, 1, 1.0), (0, 3, 4.0), (0, 4, 16.0), (1, 1, 0.5), (1, 2, 0.25)])
    values = np.array([-np.inf, -1, 0, np.inf, np.nan], dtype=np.float32)
    rows = np.array(np.meshgrid(values, values)).reshape(2, -1).T.astype(np.float32)
    rows_csv = tmp_path / "rows.csv"
    write_rows(rows_csv, rows)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    runtime = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]).run(
        None, {"X": rows})[0].reshape(-1)
    for mode in ("single", "batch", "quantized"):
        got = surge_predict(model_tool, path, rows_csv, mode)
        assert np.array_equal(got, runtime), (mode, np.column_stack([rows, got, runtime]))
    # missing x0 -> leaf 1 (1.0); x0 missing fails x0 < +inf -> leaf 2 (0.25)
    one = tmp_path / "one.csv"
    write_rows(one, np.array([[np.nan, 0]], dtype=np.float32))
    assert surge_predict(model_tool, path, one)[0] == np.float32(1.25)

    leq = tmp_path / "leq.onnx"
    single_tree_model(leq, [(0, 0, 0, "BRANCH_LEQ", inf, 1, 2, 0), (0, 1, 0, "LEAF", 0, 0, 0, 0),
                            (0, 2, 0, "LEAF", 0, 0, 0, 0)], [(0, 1, 1.0), (0, 2, 2.0)])
    r = tool(model_tool, "info", leq, check=False)
    assert r.stderr == ("model_tool: ONNX: tree 0 node 0: threshold +inf is not supported with "
                        "BRANCH_LEQ\n")


def test_malformed_onnx_files_fail_with_a_precise_message(model_tool, tmp_path):
    path = tmp_path / "hand.onnx"
    hand_made_ensemble(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[:40])
    r = tool(model_tool, "info", cut, check=False)
    assert r.returncode == 1
    assert r.stderr == ("model_tool: ONNX: not a valid ModelProto (40 bytes: truncated or not "
                        "protobuf)\n")

    eq = tmp_path / "eq.onnx"
    hand_made_ensemble(eq, modes={(2, 2): "BRANCH_EQ"})
    r = tool(model_tool, "info", eq, check=False)
    assert r.stderr == ('model_tool: ONNX: tree 2 node 2: mode "BRANCH_EQ" is not supported '
                        "(LEAF, BRANCH_LT, BRANCH_LEQ, BRANCH_GT, BRANCH_GTE)\n")

    dangling = tmp_path / "dangling.onnx"
    hand_made_ensemble(dangling, extra_nodes=[(2, 9, 1, "BRANCH_LT", 0.0, 3, 77, 0)])
    r = tool(model_tool, "info", dangling, check=False)
    assert r.stderr == "model_tool: ONNX: tree 2 node 9: false node id 77 does not exist\n"

    shared = tmp_path / "shared.onnx"
    hand_made_ensemble(shared, extra_nodes=[(2, 9, 1, "BRANCH_LT", 0.0, 3, 4, 0)])
    r = tool(model_tool, "info", shared, check=False)
    assert r.stderr.startswith("model_tool: ONNX tree 1 node ")
    assert "already has a parent (a cycle or a shared subtree)" in r.stderr

    wrong = tmp_path / "objective.onnx"
    hand_made_ensemble(wrong)
    proto = onnx.load(str(wrong))
    onnx.helper.set_model_props(proto, {"surge.objective": "count:poisson"})
    onnx.save(proto, str(wrong))
    r = tool(model_tool, "info", wrong, check=False)
    assert r.stderr == ('model_tool: ONNX: metadata surge.objective "count:poisson" is not a '
                        "supported objective without an Exp node\n")

    not_trees = tmp_path / "add.onnx"
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "X"], ["Y"])], "add",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])])
    onnx.save(helper.make_model(graph), str(not_trees))
    r = tool(model_tool, "info", not_trees, check=False)
    assert r.stderr == ("model_tool: ONNX: graph node 0 (Add) is not supported: the graph must "
                        "be one ai.onnx.ml TreeEnsembleRegressor, optionally followed by Exp\n")
