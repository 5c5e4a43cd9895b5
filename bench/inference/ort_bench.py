"""ONNX Runtime's side of bench/inference: times session.run on the same rows surge's evaluator
and libxgboost are timed on (one thread: intra_op_num_threads=1, sequential execution), and
checks ONNX Runtime's predictions against surge's. Prints one JSON object.

Times are CPU time of the calling thread (time.thread_time_ns), like the C side: with one intra-op
thread ONNX Runtime runs in the caller's thread. Each session.run also pays Python and binding
overhead; the same loop over a one-node Identity graph measures that overhead, and the report
shows ONNX Runtime both as called from Python and with that overhead taken off.

usage: ort_bench.py MODEL.onnx ROWS.csv SURGE_PREDICTIONS.txt [REPS]"""

import json
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


def session_for(model_bytes: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def per_row_ns(session, name, rows, batch, reps, limit):
    """Median over reps of CPU ns per row, calling session.run on `batch` rows at a time."""
    n = min(len(rows), limit) // batch * batch
    chunks = [np.ascontiguousarray(rows[i:i + batch]) for i in range(0, n, batch)]
    out = []
    for _ in range(reps):
        t0 = time.thread_time_ns()
        for c in chunks:
            session.run(None, {name: c})
        out.append((time.thread_time_ns() - t0) / n)
    return statistics.median(out)


def main():
    model_path, rows_path, surge_path = sys.argv[1:4]
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    rows = np.loadtxt(rows_path, delimiter=",", dtype=np.float32)
    model = onnx.load(model_path)
    trees = session_for(model.SerializeToString())
    name = trees.get_inputs()[0].name
    nfeat = rows.shape[1]

    ident_graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])], "identity",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", nfeat])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", nfeat])])
    ident_model = helper.make_model(ident_graph, opset_imports=[helper.make_opsetid("", 17)])
    ident_model.ir_version = 8
    identity = session_for(ident_model.SerializeToString())

    predicted = trees.run(None, {name: rows})[0].reshape(-1)
    surge = np.loadtxt(surge_path, dtype=np.float32)
    rel = np.abs(predicted.astype(np.float64) - surge) / np.maximum(1.0, np.abs(predicted))

    # warm both sessions up
    for _ in range(50):
        trees.run(None, {name: rows[:1]})
        identity.run(None, {"X": rows[:1]})
    result = {
        "ort_version": ort.__version__,
        "agree_max_rel_diff": float(rel.max()),
        "agree_rows_exact": int(np.count_nonzero(predicted == surge)),
        "ort_single_ns": per_row_ns(trees, name, rows, 1, reps, 1024),
        "ort_batch32_ns": per_row_ns(trees, name, rows, 32, reps, len(rows)),
        "ort_batch_all_ns": per_row_ns(trees, name, rows, len(rows), reps, len(rows)),
        "call_overhead_single_ns": per_row_ns(identity, "X", rows, 1, reps, 1024),
        "call_overhead_batch32_ns": per_row_ns(identity, "X", rows, 32, reps, len(rows)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
