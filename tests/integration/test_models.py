"""`surge train` and `surge models` end to end, and the admin model endpoints on a real server.

The metrics `surge train --json` prints are recomputed here independently, from the input CSV
and the held-out predictions of `--predictions-out`: the seasonal-naive and 7-day baselines
come from the history itself, not from surge."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN, run_surge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from history import write_history  # noqa: E402  (tests/model/history.py)

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


def parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.csv"
    write_history(path, regions=3, weeks=6, step_min=15, seed=7)
    return path


def train(data_dir: Path, history: Path, *args: str):
    return run_surge("train", "--input", str(history), "--data-dir", str(data_dir), *args,
                     timeout=300)


def events(data_dir: Path) -> list[dict]:
    """The model_update events on system-events in the order they were written (they share
    the partition of the key "global", so its offsets order them)."""
    out = run_surge("log", "cat", "system-events", "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    records = [r for r in records if r["event"] and r["event"]["type"] == "model_update"]
    assert len({r["partition"] for r in records}) <= 1
    return [r["event"] for r in sorted(records, key=lambda r: r["offset"])]


# ---------------------------------------------------------------- training


def test_train_metrics_match_an_independent_computation_and_beat_seasonal_naive(history, tmp_path):
    preds = tmp_path / "pred.csv"
    out = train(tmp_path / "data", history, "--json", "--predictions-out", str(preds))
    assert out.returncode == 0, out.stderr
    assert "boosting rounds (100%)" in out.stderr  # the progress line
    result = json.loads(out.stdout)
    assert result["name"] == "demand" and result["version"] == "0.1.0"
    assert result["status"] == "staged"
    metrics = result["metrics"]
    assert metrics["step_min"] == 15 and metrics["rows"] == 3 * 6 * 7 * 96
    assert [h["horizon_min"] for h in metrics["horizons"]] == [15, 30, 60]
    assert result["dataset"]["sha256"] == hashlib.sha256(history.read_bytes()).hexdigest()

    demand = {}
    with open(history) as f:
        for row in csv.DictReader(f):
            demand[(row["region_id"], parse_ts(row["ts"]))] = float(row["demand"])

    def window(region, start, minutes):
        return sum(demand[(region, start + timedelta(minutes=m))] for m in range(0, minutes, 15))

    test_from = parse_ts(metrics["test_from"])
    rows: dict[int, list] = {15: [], 30: [], 60: []}
    with open(preds) as f:
        reader = csv.reader(f)
        assert next(reader) == ["region_id", "ts", "horizon_min", "actual", "predicted", "lower",
                                "upper"]
        for region, ts, h, actual, predicted, lower, upper in reader:
            rows[int(h)].append((region, parse_ts(ts), float(actual), float(predicted),
                                 float(lower), float(upper)))
    for h in metrics["horizons"]:
        minutes, got = h["horizon_min"], rows[h["horizon_min"]]
        assert len(got) == h["test_rows"] > 2000
        abs_sum = actual_sum = ape_sum = naive_sum = avg_sum = 0.0
        ape_n = covered = 0
        for region, ts, actual, predicted, lower, upper in got:
            assert ts >= test_from
            assert actual == window(region, ts, minutes)  # the label is the demand over [ts, ts+h)
            naive = window(region, ts - WEEK, minutes)
            avg = sum(window(region, ts - k * DAY, minutes) for k in range(1, 8)) / 7
            e = abs(actual - predicted)
            abs_sum += e
            actual_sum += actual
            if actual != 0:
                ape_sum += e / actual
                ape_n += 1
            naive_sum += abs(actual - naive)
            avg_sum += abs(actual - avg)
            covered += lower <= actual <= upper
            assert lower == pytest.approx(max(0.0, predicted - h["interval_half_width"]), abs=1e-3)
            assert upper == pytest.approx(predicted + h["interval_half_width"], abs=1e-3)
        n = len(got)
        assert h["mape_rows"] == ape_n
        assert h["mae"] == pytest.approx(abs_sum / n, rel=1e-6)
        assert h["wape"] == pytest.approx(abs_sum / actual_sum, rel=1e-6)
        assert h["mape"] == pytest.approx(ape_sum / ape_n, rel=1e-6)
        assert h["mae_seasonal_naive"] == pytest.approx(naive_sum / n, rel=1e-6)
        assert h["mase"] == pytest.approx(abs_sum / naive_sum, rel=1e-6)
        assert h["mae_avg_7d"] == pytest.approx(avg_sum / n, rel=1e-6)
        assert h["mase_avg_7d"] == pytest.approx(abs_sum / avg_sum, rel=1e-6)
        assert h["coverage"] == pytest.approx(covered / n, abs=1e-9)
        assert 0.85 <= h["coverage"] <= 0.95  # 90 % intervals
    sixty = metrics["horizons"][2]
    assert sixty["mase"] < 1.0, "the 60-minute model must beat seasonal-naive"
    assert sixty["mase_avg_7d"] < 1.0
    shares = [f["gain_share"] for f in result["feature_importance"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)


def test_training_twice_gives_the_same_sha256_and_artifact_bytes(history, tmp_path):
    a = train(tmp_path / "a", history, "--json", "--rounds", "40", "--seed", "5")
    b = train(tmp_path / "b", history, "--json", "--rounds", "40", "--seed", "5")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["sha256"] == rb["sha256"]
    files_a = sorted(p.name for p in (tmp_path / "a" / "models").iterdir())
    files_b = sorted(p.name for p in (tmp_path / "b" / "models").iterdir())
    assert files_a == files_b and len(files_a) == 3
    for name in files_a:
        data = (tmp_path / "a" / "models" / name).read_bytes()
        assert data == (tmp_path / "b" / "models" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() + ".json" == name  # content-addressed
    ids = "".join(f"{h['horizon_min']}:{h['sha256']}\n" for h in ra["metrics"]["horizons"])
    assert ra["sha256"] == hashlib.sha256(ids.encode()).hexdigest()
    # other hyperparameters, another model; the next training in a data dir is 0.2.0
    c = train(tmp_path / "a", history, "--json", "--rounds", "41", "--seed", "5")
    assert c.returncode == 0, c.stderr
    rc = json.loads(c.stdout)
    assert rc["version"] == "0.2.0" and rc["sha256"] != ra["sha256"]
    assert rc["params"]["rounds"] == 41 and rc["params"]["seed"] == 5


def test_hourly_input_and_params_file_and_explicit_version(tmp_path):
    hourly = tmp_path / "hourly.csv"
    write_history(hourly, regions=2, weeks=5, step_min=60, seed=3)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"rounds": 30, "max_depth": 4, "eta": 0.2}))
    out = train(tmp_path / "d", hourly, "--json", "--horizons", "60,120", "--params", str(params),
                "--param", "max_depth=3", "--version", "2.0.0", "--name", "hourly",
                "--test-from", "2026-01-30T00:00:00Z", "--interval", "0.8")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert (r["name"], r["version"]) == ("hourly", "2.0.0")
    assert r["metrics"]["step_min"] == 60
    assert r["metrics"]["test_from"] == "2026-01-30T00:00:00.000Z"
    assert r["metrics"]["interval"] == 0.8
    assert [h["horizon_min"] for h in r["metrics"]["horizons"]] == [60, 120]
    assert (r["params"]["rounds"], r["params"]["max_depth"], r["params"]["eta"]) == (30, 3, 0.2)
    again = train(tmp_path / "d", hourly, "--version", "2.0.0", "--name", "hourly",
                  "--rounds", "5")
    assert again.returncode == 1
    assert again.stderr == "surge: model hourly version 2.0.0 exists\n"
    bad = train(tmp_path / "d", hourly, "--horizons", "90")
    assert bad.returncode == 2
    assert bad.stderr == "surge: horizon 90 min is not a multiple of the input's step (60 min)\n"


@pytest.mark.parametrize("text, message", [
    ("region_id,ts\nr,2026-01-05T00:00:00Z\n",
     "surge: h.csv:1: missing column 'demand' (the header needs region_id, ts and demand)\n"),
    ("region_id,ts,demand\nr,2026-01-05T00:00:00Z,1\nr,2026-01-05T00:15:00Z,many\n",
     "surge: h.csv:3: column 3 (demand): 'many' is not a number >= 0\n"),
    ("region_id,ts,demand\nr,2026-01-05T00:15:00Z,1\nr,2026-01-05T00:00:00Z,1\n",
     "surge: h.csv:3: rows must be sorted by (region_id, ts): (r, 2026-01-05T00:00:00.000Z) "
     "comes after (r, 2026-01-05T00:15:00.000Z) on line 2\n"),
    ("region_id,ts,demand\nr,2026-01-05T00:00:00Z,1\nr,2026-01-05T00:00:00Z,2\n",
     "surge: h.csv:3: duplicate row for (r, 2026-01-05T00:00:00.000Z): line 2 has it already\n"),
    ("region_id,ts,demand\nr,5 Jan 2026,1\n",
     "surge: h.csv:2: column 2 (ts): '5 Jan 2026' is not an RFC 3339 time or epoch "
     "milliseconds\n"),
])
def test_bad_csv_gets_a_precise_error_and_exit_2(tmp_path, text, message):
    path = tmp_path / "h.csv"
    path.write_text(text)
    out = train(tmp_path / "d", path)
    assert out.returncode == 2
    assert out.stderr == message
    assert not (tmp_path / "d" / "models").exists()


def test_train_needs_input_and_rejects_bad_flags(tmp_path):
    # without --input it trains from the data dir's event log: here there is none
    out = run_surge("train", "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert f"surge: log directory {tmp_path}/log does not exist" in out.stderr
    out = run_surge("train", "--input", "x.csv", "--param", "eta=2", "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr == "surge: eta = '2': must be a number in (0, 1]\n"
    out = run_surge("train", "--input", str(tmp_path / "missing.csv"), "--data-dir",
                    str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.startswith(f"surge: cannot open {tmp_path / 'missing.csv'}: ")


# ---------------------------------------------------------------- registry from the CLI


def models(data_dir: Path, *args: str):
    return run_surge("models", *args, "--data-dir", str(data_dir))


def test_cli_rollout_lifecycle_and_events(history, tmp_path):
    data = tmp_path / "data"
    for _ in range(3):
        assert train(data, history, "--rounds", "20").returncode == 0
    listed = json.loads(models(data, "list", "--json").stdout)
    assert [(m["version"], m["status"]) for m in listed["models"]] == [
        ("0.1.0", "staged"), ("0.2.0", "staged"), ("0.3.0", "staged")]

    out = models(data, "canary", "0.2.0", "--percent", "10")
    assert out.returncode == 1
    assert out.stderr == ("surge: a canary needs a live version to compare with; promote one "
                          "first\n")
    assert models(data, "promote", "0.1.0").stdout == "demand 0.1.0: live\n"
    assert models(data, "shadow", "0.2.0").stdout == "demand 0.2.0: shadow\n"
    assert models(data, "canary", "0.2.0", "--percent", "10").stdout == \
        "demand 0.2.0: canary at 10%\n"
    out = models(data, "canary", "0.3.0", "--percent", "50")
    assert out.returncode == 1
    assert out.stderr == ("surge: version 0.2.0 is already the candidate (canary at 10%); roll it "
                          "back or promote it first\n")
    assert models(data, "canary", "0.2.0", "--percent", "50").returncode == 0
    assert models(data, "promote", "0.2.0").stdout == "demand 0.1.0: retired\ndemand 0.2.0: live\n"
    shown = json.loads(models(data, "show", "0.2.0", "--json").stdout)
    assert shown["status"] == "live" and shown["previous"] == "0.1.0"
    assert shown["updated_by"].startswith("cli:")
    assert [a["horizon_min"] for a in shown["manifest"]["artifacts"]] == [15, 30, 60]
    for a in shown["manifest"]["artifacts"]:
        assert (data / a["file"]).is_file()
    # rollback is instant and restores the previous live version
    assert models(data, "rollback").stdout == "demand 0.2.0: retired\ndemand 0.1.0: live\n"
    out = models(data, "rollback")
    assert out.returncode == 1
    assert out.stderr == ("surge: nothing to roll back: live version 0.1.0 replaced no earlier "
                          "version\n")
    out = models(data, "show", "9.9.9")
    assert out.returncode == 1 and out.stderr == "surge: model demand has no version 9.9.9\n"
    out = models(data, "canary", "0.3.0", "--percent", "0")
    assert out.returncode == 2
    assert out.stderr == "surge: --percent must be an integer in 1..100, got '0'\n"

    got = [(e["model"], e["version"], e["status"], e["source"]) for e in events(data)]
    assert got == [
        ("demand", "0.1.0", "staged", "cli"), ("demand", "0.2.0", "staged", "cli"),
        ("demand", "0.3.0", "staged", "cli"), ("demand", "0.1.0", "live", "cli"),
        ("demand", "0.2.0", "shadow", "cli"), ("demand", "0.2.0", "canary", "cli"),
        ("demand", "0.2.0", "canary", "cli"), ("demand", "0.1.0", "retired", "cli"),
        ("demand", "0.2.0", "live", "cli"), ("demand", "0.2.0", "retired", "cli"),
        ("demand", "0.1.0", "live", "cli")]


def test_cli_export_writes_an_onnx_model(history, tmp_path):
    data = tmp_path / "data"
    assert train(data, history, "--rounds", "10", "--horizons", "15,60").returncode == 0
    out = models(data, "export", "0.1.0", "--onnx", "--out", str(tmp_path / "m.onnx"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"wrote {tmp_path / 'm.onnx'} (ONNX, the 60-minute model of demand 0.1.0)\n"
    blob = (tmp_path / "m.onnx").read_bytes()
    assert b"TreeEnsembleRegressor" in blob and b"lag_1" in blob
    out = models(data, "export", "0.1.0", "--onnx", "--out", str(tmp_path / "x"), "--horizon",
                 "30")
    assert out.returncode == 2 and out.stderr == "surge: version 0.1.0 has no 30-minute model\n"


# ---------------------------------------------------------------- admin API


def test_admin_model_endpoints_on_a_real_server(history, tmp_path, surge_server):
    data = tmp_path / "data"
    for _ in range(3):
        assert train(data, history, "--rounds", "20").returncode == 0
    srv = surge_server(data_dir=data)

    r = srv.admin("GET", "/api/v1/admin/models")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3 and [m["status"] for m in body["models"]] == ["staged"] * 3
    sixty = body["models"][0]["metrics"]["horizons"][2]
    assert sixty["horizon_min"] == 60 and sixty["mase"] > 0 and sixty["test_rows"] > 2000
    assert body["models"][0]["params"]["rounds"] == 20
    assert srv.get("/api/v1/admin/models").status_code == 401

    r = srv.admin("POST", "/api/v1/admin/models/0.1.0/promote")
    assert r.status_code == 200
    assert [(m["version"], m["status"]) for m in r.json()["changed"]] == [("0.1.0", "live")]
    r = srv.admin("POST", "/api/v1/admin/models/0.2.0/canary", json={"percent": 10})
    assert r.status_code == 200
    changed = r.json()["changed"][0]
    assert (changed["version"], changed["status"], changed["canary_percent"]) == \
        ("0.2.0", "canary", 10)
    assert changed["updated_by"].startswith("admin@127.0.0.1")

    r = srv.admin("POST", "/api/v1/admin/models/0.3.0/shadow")
    assert r.status_code == 409
    assert r.json()["error"]["message"] == ("version 0.2.0 is already the candidate (canary at "
                                            "10%); roll it back or promote it first")
    r = srv.admin("POST", "/api/v1/admin/models/0.2.0/canary", json={"percent": 150})
    assert r.status_code == 422 and r.json()["error"]["field"] == "percent"
    r = srv.admin("POST", "/api/v1/admin/models/0.2.0/canary", json={"percent": 10, "x": 1})
    assert r.status_code == 422
    r = srv.admin("POST", "/api/v1/admin/models/9.9.9/promote")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "no version 9.9.9"
    r = srv.admin("GET", "/api/v1/admin/models/0.2.0?name=nothing")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "model nothing has no version 0.2.0"

    r = srv.admin("POST", "/api/v1/admin/models/rollback")
    assert r.status_code == 200
    assert [(m["version"], m["status"]) for m in r.json()["changed"]] == [("0.2.0", "retired")]
    r = srv.admin("GET", "/api/v1/admin/models/0.1.0")
    assert r.status_code == 200 and r.json()["status"] == "live"

    # the CLI refuses to change what the running server owns
    out = models(data, "promote", "0.3.0")
    assert out.returncode == 1
    assert "a surge server is running on this data dir" in out.stderr
    assert "POST /api/v1/admin/models/VERSION/promote" in out.stderr
    assert srv.admin("GET", "/api/v1/admin/models/0.3.0").json()["status"] == "staged"

    # training beside a running server registers (the db is shared) but cannot publish
    out = train(data, history, "--rounds", "5")
    assert out.returncode == 0
    assert "surge: note: model_update not published on system-events: log directory" in out.stderr
    assert srv.admin("GET", "/api/v1/admin/models/0.4.0").json()["status"] == "staged"

    got = [(e["version"], e["status"]) for e in events(data) if e["source"].startswith("admin@")]
    assert got == [("0.1.0", "live"), ("0.2.0", "canary"), ("0.2.0", "retired")]
    # pricing still answers after the model changes invalidated its cache
    r = srv.post("/api/v1/pricing/compute", json={"region_id": "dr5ru", "product_type": "standard",
                                                   "user_id": "u1"})
    assert r.status_code == 200


# ---------------------------------------------------------------- importing a model


def tiny_xgboost_model(path: Path, names=("hour_of_day", "demand_15m")):
    """A few trees trained in-process by python xgboost on (hour_of_day, demand_15m), saved
    as JSON; returns the Booster."""
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(11)
    x = np.column_stack([rng.integers(0, 24, 400), rng.uniform(0, 60, 400)]).astype(np.float32)
    y = (0.7 * x[:, 1] + np.where((x[:, 0] >= 7) & (x[:, 0] <= 18), 12.0, 2.0)).astype(np.float32)
    booster = xgb.train({"max_depth": 3, "eta": 0.3, "objective": "reg:squarederror",
                         "seed": 1, "nthread": 1},
                        xgb.DMatrix(x, label=y, feature_names=list(names)), num_boost_round=6)
    booster.save_model(str(path))
    return booster


def test_import_an_xgboost_model_and_serve_its_forecast(tmp_path, surge_server):
    import numpy as np

    booster = tiny_xgboost_model(tmp_path / "m.json")
    data = tmp_path / "data"
    out = models(data, "import", "--xgboost-json", str(tmp_path / "m.json"), "--features",
                 "hour_of_day,demand_15m", "--interval-half-width", "2.5")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"demand 0.1.0: staged (imported {tmp_path / 'm.json'}: "
                                 "XGBoost JSON, 6 trees, 2 features, horizon 15 min, artifact ")
    assert out.stderr == ""
    shown = json.loads(models(data, "show", "0.1.0", "--json").stdout)
    sha = hashlib.sha256((tmp_path / "m.json").read_bytes()).hexdigest()
    assert shown["status"] == "staged" and shown["metrics"] == {"imported": True}
    assert shown["manifest"] == {
        "features": ["hour_of_day", "demand_15m"], "step_min": 15, "timezone": "UTC",
        "objective": "reg:squarederror",
        "artifacts": [{"horizon_min": 15, "sha256": sha, "file": f"models/{sha}.json",
                       "interval_half_width": 2.5}]}
    assert shown["sha256"] == hashlib.sha256(f"15:{sha}\n".encode()).hexdigest()
    assert shown["dataset"] == {"kind": "import", "path": str(tmp_path / "m.json"),
                                "sha256": sha, "format": "xgboost-json"}
    assert (data / "models" / f"{sha}.json").read_bytes() == (tmp_path / "m.json").read_bytes()
    listed = models(data, "list")
    assert listed.returncode == 0 and " 15 min         -         -  " in listed.stdout
    assert models(data, "promote", "0.1.0").stdout == "demand 0.1.0: live\n"
    assert [(e["version"], e["status"]) for e in events(data)] == [("0.1.0", "staged"),
                                                                   ("0.1.0", "live")]

    srv = surge_server(data_dir=data)
    r = srv.admin("PUT", "/api/v1/admin/regions/dr5ru/features",
                  json={"features": {"demand_15m": 30, "available_drivers": 12,
                                     "expected_demand": 1, "demand_score": 0.6}})
    assert r.status_code == 200, r.text
    r = srv.get("/api/v1/forecast/demand", params={"region_id": "dr5ru", "horizon": 15})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == "0.1.0" and body["features"] == "online_store"
    [point] = body["points"]
    hour = parse_ts(point["ts"]).hour  # the origin's hour in the model's time zone (UTC)
    row = np.array([[hour, 30]], dtype=np.float32)
    want = float(booster.inplace_predict(row)[0])
    assert abs(point["expected"] - want) <= 1e-4
    assert abs(point["lower"] - max(0.0, want - 2.5)) <= 1e-4
    assert abs(point["upper"] - (want + 2.5)) <= 1e-4
    assert point["baseline_7d"] is None  # no week of stream history
    # the price uses it: the model's version and, without a baseline, the override's score
    r = srv.post("/api/v1/pricing/compute", json={"region_id": "dr5ru",
                                                   "product_type": "standard", "user_id": "u1"})
    assert r.status_code == 200 and r.json()["model_version"] == "0.1.0"
    assert r.json()["demand_score"] == 0.6
    assert abs(r.json()["confidence"] - max(0.0, 1 - (point["upper"] - point["lower"]) / want)) \
        <= 1e-4

    # importing beside the running server registers, but cannot publish
    out = models(data, "import", "--xgboost-json", str(tmp_path / "m.json"), "--features",
                 "hour_of_day,demand_15m", "--version", "2.0.0")
    assert out.returncode == 0
    assert "surge: note: model_update not published on system-events: log directory" in out.stderr
    assert srv.admin("GET", "/api/v1/admin/models/2.0.0").json()["status"] == "staged"


def test_import_an_onnx_model(tmp_path):
    tiny_xgboost_model(tmp_path / "m.json")
    data = tmp_path / "data"
    assert models(data, "import", "--xgboost-json", str(tmp_path / "m.json"), "--features",
                  "hour_of_day,demand_15m").returncode == 0
    out = models(data, "export", "0.1.0", "--onnx", "--out", str(tmp_path / "m.onnx"))
    assert out.returncode == 0, out.stderr
    # stored as ONNX bytes (the loader reads either by content); the names differ: a note
    out = models(data, "import", "--onnx", str(tmp_path / "m.onnx"), "--features",
                 "hour_of_day,demand_1h", "--horizon-min", "60", "--step-min", "30",
                 "--timezone", "Europe/Paris", "--name", "other")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"other 0.1.0: staged (imported {tmp_path / 'm.onnx'}: ONNX, ")
    assert out.stderr == ("surge: note: column 2 is 'demand_15m' in the model and 'demand_1h' "
                          "in --features; the forecaster fills it as 'demand_1h'\n")
    shown = json.loads(models(data, "show", "0.1.0", "--name", "other", "--json").stdout)
    [art] = shown["manifest"]["artifacts"]
    assert (art["horizon_min"], shown["manifest"]["step_min"], shown["manifest"]["timezone"]) == \
        (60, 30, "Europe/Paris")
    assert (data / art["file"]).read_bytes() == (tmp_path / "m.onnx").read_bytes()
    assert shown["dataset"]["format"] == "onnx"


def test_import_errors_are_precise(tmp_path):
    tiny_xgboost_model(tmp_path / "m.json")
    data = tmp_path / "data"
    model = str(tmp_path / "m.json")

    def imp(*args):
        return models(data, "import", *args)

    out = imp("--xgboost-json", model, "--features", "hour_of_day,demand_15m,temperature")
    assert out.returncode == 2
    assert out.stderr == f"surge: {model}: the model reads 2 features but --features names 3\n"
    out = imp("--xgboost-json", str(tmp_path / "missing.json"), "--features", "a,b")
    assert out.returncode == 1
    assert out.stderr == (f"surge: cannot open model {tmp_path / 'missing.json'}: No such file "
                          "or directory\n")
    (tmp_path / "bad.json").write_text('{"learner": {}}')
    out = imp("--xgboost-json", str(tmp_path / "bad.json"), "--features", "a,b")
    assert out.returncode == 2 and out.stderr.startswith(f"surge: {tmp_path / 'bad.json'}: ")
    out = imp("--onnx", model, "--features", "a,b")
    assert out.returncode == 2
    assert out.stderr == (f"surge: {model} holds JSON, not ONNX: import XGBoost JSON with "
                          "--xgboost-json\n")
    out = imp("--xgboost-json", model, "--features", "a,b", "--horizon-min", "abc")
    assert out.returncode == 2
    assert out.stderr == "surge: --horizon-min must be minutes 1..1440, got 'abc'\n"
    out = imp("--xgboost-json", model, "--features", "a,b", "--horizon-min", "20")
    assert out.returncode == 2
    assert out.stderr == "surge: --horizon-min 20 is not a multiple of --step-min 15\n"
    out = imp("--xgboost-json", model, "--features", "a,b", "--step-min", "7",
              "--horizon-min", "14")
    assert out.returncode == 2
    assert out.stderr == ("surge: step 7 min cannot be served: it must be a multiple of 15 min "
                          "that divides a day\n")
    out = imp("--xgboost-json", model, "--features", "hour_of_day,hour_of_day")
    assert out.returncode == 2
    assert out.stderr == "surge: feature 'hour_of_day' is named twice (columns 1 and 2)\n"
    out = imp("--xgboost-json", model)
    assert out.returncode == 2
    assert out.stderr == ("surge: models import needs --features NAME,NAME,... (the model's "
                          "columns in order)\n")
    out = imp("--features", "a,b")
    assert out.returncode == 2
    assert out.stderr == ("surge: models import needs the model: --xgboost-json FILE or --onnx "
                          "FILE\n")
    # nothing was registered or written by any of them
    assert json.loads(models(data, "list", "--json").stdout)["count"] == 0
    assert not (data / "models").exists() or not list((data / "models").glob("*.json"))
    assert "surge models import --xgboost-json FILE" in run_surge("models", "--help").stdout
