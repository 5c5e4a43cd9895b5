"""Forecasting end to end on a real server: `surge train` from the event log (replayed by the
stream's code), promotion through the admin API, the forecast endpoint, prices that use the
model (model_version, demand_score from the forecast against the 7-day baseline), canary
routing by user, and rollback."""
import json
import math
import random
import re
import time

from conftest import run_surge

NO_LIMITS = {"ingest.user_per_min": 0, "ingest.region_per_min": 0, "ratelimit.ip_per_min": 0}
QUARTER = 900000
DAY = 86400000
REGIONS = ["dr5ru", "dr5rv"]


def history_events(days=10, seed=3):
    """Searches with a daily cycle over `days` days up to now, in time order."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    start = now - now % QUARTER - days * DAY
    events = []
    for q in range(days * 96):
        t = start + q * QUARTER
        hour = (q % 96) / 4
        for region in REGIONS:
            lam = 6 + 5 * math.sin(2 * math.pi * (hour - 8) / 24)
            for _ in range(max(0, int(rng.gauss(lam, 1.5)))):
                events.append({"event_id": f"h{len(events)}", "type": "search",
                               "ts": t + rng.randint(0, QUARTER - 1000), "region_id": region,
                               "user_id": f"u{rng.randint(1, 500)}", "product_type": "standard"})
    events.sort(key=lambda e: e["ts"])
    return events


def load(srv, events):
    for i in range(0, len(events), 5000):
        r = srv.post("/api/v1/events", json=events[i:i + 5000])
        assert r.status_code == 200 and r.json()["accepted"] == len(events[i:i + 5000]), r.text


def wait_stream(srv, total, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = srv.get("/api/v1/stream/status").json()
        if st["events_total"] + st["late_events_total"] >= total and st["lag_records"] == 0:
            return st
        time.sleep(0.1)
    raise AssertionError(f"stream stuck: {st}")


def compute(srv, user, region="dr5ru"):
    r = srv.post("/api/v1/pricing/compute",
                 json={"region_id": region, "product_type": "standard", "user_id": user})
    assert r.status_code == 200, r.text
    return r.json()


def train(srv, *extra):
    out = run_surge("train", "--data-dir", str(srv.data_dir), "--rounds", "100", "--json", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_train_from_the_log_promote_forecast_and_price(surge_server):
    srv = surge_server(config=NO_LIMITS)
    events = history_events()
    load(srv, events)
    status = wait_stream(srv, len(events))
    assert status["late_events_total"] == 0

    # nothing is live yet: the price falls back, the forecast says what to do
    assert compute(srv, "a")["model_version"] == "none"
    r = srv.get("/api/v1/forecast/demand", params={"region_id": "dr5ru"})
    assert r.status_code == 404 and "promote" in r.json()["error"]["message"]

    model = train(srv)  # beside the running server: the log is read read-only
    assert model["version"] == "0.1.0" and model["status"] == "staged"
    metrics = {h["horizon_min"]: h for h in model["metrics"]["horizons"]}
    assert set(metrics) == {15, 30, 60}
    assert metrics[60]["mase"] < 1.0  # beats seasonal-naive on a daily cycle
    assert model["dataset"]["kind"] == "log" and model["dataset"]["events"] == len(events)

    r = srv.admin("POST", "/api/v1/admin/models/0.1.0/promote")
    assert r.status_code == 200, r.text
    f = srv.get("/api/v1/forecast/demand", params={"region_id": "dr5ru", "horizon": 30}).json()
    assert f["model_version"] == "0.1.0"
    assert [p["horizon_min"] for p in f["points"]] == [15, 30]
    for p in f["points"]:
        assert 0 <= p["lower"] <= p["expected"] <= p["upper"]
        assert p["baseline_7d"] is not None  # ten days of history: the 7-day baseline is known
    assert f["features"] == "online_store"

    before = srv.get("/metrics").text
    price = compute(srv, "a")
    assert price["model_version"] == "0.1.0"
    after = srv.get("/metrics").text

    def forecasts(metrics):
        return int(re.search(r"^surge_model_forecasts_total (\d+)$", metrics, re.M).group(1))
    assert forecasts(after) == forecasts(before) + 1  # this price's forecast
    assert "forecast" not in price["fallback"]
    # demand_score = y / (y + baseline) of the 15-minute horizon
    p15 = f["points"][0]
    expected_score = p15["expected"] / (p15["expected"] + p15["baseline_7d"])
    assert abs(price["demand_score"] - expected_score) < 1e-3

    # a second version as a 50 % canary: users split stably by hash, the rest stay on 0.1.0
    second = train(srv, "--seed", "7")
    assert second["version"] == "0.2.0"
    r = srv.admin("POST", "/api/v1/admin/models/0.2.0/canary", json={"percent": 50})
    assert r.status_code == 200, r.text
    served = {u: compute(srv, f"user-{u}")["model_version"] for u in range(40)}
    assert set(served.values()) == {"0.1.0", "0.2.0"}
    assert all(compute(srv, f"user-{u}")["model_version"] == v for u, v in served.items())

    # rollback drops the canary at once: everyone is on 0.1.0 again
    r = srv.admin("POST", "/api/v1/admin/models/rollback")
    assert r.status_code == 200, r.text
    assert {compute(srv, f"user-{u}")["model_version"] for u in range(40)} == {"0.1.0"}
    # 0.1.0 replaced nothing: there is no earlier version to roll back to
    r = srv.admin("POST", "/api/v1/admin/models/rollback")
    assert r.status_code == 409, r.text
    assert compute(srv, "a")["model_version"] == "0.1.0"


def test_train_from_an_empty_log_says_why(surge_server):
    srv = surge_server()
    srv.stop()
    out = run_surge("train", "--data-dir", str(srv.data_dir))
    assert out.returncode == 2
    assert "no complete 15-minute quarter" in out.stderr
