"""The stream processor inside `surge serve`: live features that follow the events and move
prices, the timeline and demand-signals of closed windows, late events in the side output, and
the checkpoint crash test (kill -9 mid-stream, restart, same features as an uninterrupted run)."""
import json
import re
import random
import time
from pathlib import Path

from conftest import run_surge

NO_LIMITS = {"ingest.user_per_min": 0, "ingest.region_per_min": 0, "ratelimit.ip_per_min": 0}
# Partitions that never delivered hold the watermark until they are idle (as Flink splits do):
# a short idle timeout lets these tests see windows close within a second or two.
QUICK_IDLE = dict(NO_LIMITS, **{"stream.idle_timeout_s": 1})
MIN = 60000


def post_events(srv, events):
    r = srv.post("/api/v1/events", json=events)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == len(events), body
    return body


def wait_processed(srv, total, timeout=10.0):
    """Waits until the stream has processed `total` events (late ones included) and its features
    were published at least once after that."""
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        status = srv.get("/api/v1/stream/status").json()
        if status["events_total"] + status["late_events_total"] >= total and status["lag_records"] == 0:
            time.sleep(0.5)  # one publish cycle (stream.publish_interval_ms = 200)
            return srv.get("/api/v1/stream/status").json()
        time.sleep(0.05)
    raise AssertionError(f"stream did not reach {total} events: {status}")


def features(srv, region):
    r = srv.get(f"/api/v1/features/{region}")
    assert r.status_code == 200, r.text
    return r.json()


def user_event(i, kind, ts, region, user):
    return {"event_id": f"{kind}-{i}", "type": kind, "ts": ts, "region_id": region,
            "user_id": user, "product_type": "standard"}


def driver_event(i, ts, region, driver, status):
    return {"event_id": f"drv-{i}", "type": "driver_status", "ts": ts, "region_id": region,
            "driver_id": driver, "status": status}


def test_live_features_follow_the_events_and_move_the_price(surge_server):
    srv = surge_server(config=NO_LIMITS)
    now = int(time.time() * 1000)
    t = now - now % MIN + 1000  # all in the current minute
    events = [user_event(i, "search", t + i, "dr5ru", f"u{i % 4}") for i in range(10)]
    events += [user_event(i, "booking", t + 20 + i, "dr5ru", f"u{i}") for i in range(2)]
    events += [driver_event(i, t + 30 + i, "dr5ru", f"d{i}", "available") for i in range(3)]
    post_events(srv, events)
    wait_processed(srv, 15)
    f = features(srv, "dr5ru")
    assert f["source"] == "stream"
    v = f["features"]
    assert v["search_count_1min"] == 10
    assert v["search_volume_15min"] == 10
    assert v["booking_count_15min"] == 2
    assert v["conversion_rate_15min"] == 0.2
    assert v["available_drivers"] == 3
    assert v["active_sessions"] == 4
    assert v["expected_demand"] == 10
    assert v["last_event_ts_ms"] == t + 32
    # supply: 2 / (1 + 3/10) - 1 = 0.538461..., weight 0.3 -> 0.1615 (1e-4 units)
    price = srv.post("/api/v1/pricing/compute",
                     json={"region_id": "dr5ru", "product_type": "standard", "user_id": "x"}).json()
    assert price["factors"]["supply"] == 0.1615, price
    assert "supply" not in price["fallback"]
    # seven more drivers: supply 10 = demand 10 -> the supply factor is 0
    post_events(srv, [driver_event(10 + i, t + 40 + i, "dr5ru", f"d{10 + i}", "available")
                      for i in range(7)])
    wait_processed(srv, 22)
    assert features(srv, "dr5ru")["features"]["available_drivers"] == 10
    price = srv.post("/api/v1/pricing/compute",
                     json={"region_id": "dr5ru", "product_type": "standard", "user_id": "x"}).json()
    assert price["factors"]["supply"] == 0, price
    # a region with no events has no stream features, and the price says so
    assert srv.get("/api/v1/features/dr5rv").status_code == 404


def test_closed_windows_reach_the_timeline_and_demand_signals(surge_server):
    srv = surge_server(config=QUICK_IDLE)
    now = int(time.time() * 1000)
    base = now - now % (5 * MIN) - 30 * MIN  # long ago: every window below closes at once
    counts = {0: 3, 1: 1, 4: 2}  # minute -> searches
    events = []
    for minute, n in counts.items():
        events += [user_event(f"{minute}-{i}", "search", base + minute * MIN + i * 1000, "dr5rs",
                              "u1") for i in range(n)]
    events.append(user_event("late-fence", "view", now, "dr5rs", "u1"))  # moves the watermark
    post_events(srv, events)
    wait_processed(srv, len(events))
    deadline = time.time() + 10  # the other partitions go idle after 1 s
    while True:
        timeline = srv.get("/api/v1/regions/dr5rs/timeline?minutes=60").json()
        if len(timeline["points"]) == len(counts) or time.time() > deadline:
            break
        time.sleep(0.1)
    got = {(p["ts"] - base) // MIN: p["searches"] for p in timeline["points"]}
    assert got == counts
    assert timeline["pane_ms"] == 60000
    r = srv.get("/api/v1/regions/dr5rs/timeline?minutes=0")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "minutes"
    # demand-signals holds the same windows (read beside the running server)
    out = run_surge("log", "cat", "demand-signals", "--data-dir", str(srv.data_dir))
    assert out.returncode == 0, out.stderr
    signals = [json.loads(line)["event"] for line in out.stdout.splitlines()]
    ones = {(s["window_start"] - base) // MIN: s["searches"] for s in signals
            if s["region_id"] == "dr5rs" and s["window"] == "tumbling_1m"}
    assert ones == counts
    five = [s for s in signals if s["region_id"] == "dr5rs" and s["window"] == "tumbling_5m"]
    assert [(s["window_start"] - base, s["searches"]) for s in five] == [(0, 6)]
    metrics = srv.get("/metrics").text
    assert "surge_stream_windows_closed_total" in metrics


def test_late_events_are_counted_and_kept_in_the_side_output(surge_server):
    srv = surge_server(config=QUICK_IDLE)
    now = int(time.time() * 1000)
    post_events(srv, [user_event(1, "search", now, "dr5ru", "u1")])
    wait_processed(srv, 1)
    deadline = time.time() + 10  # every other partition idle: the watermark is now - 30 s
    while srv.get("/api/v1/stream/status").json()["watermark_ms"] < now - 30000:
        assert time.time() < deadline, "the watermark did not advance"
        time.sleep(0.1)
    post_events(srv, [user_event(2, "search", now - 5 * MIN, "dr5ru", "u1")])  # 5 min late
    status = wait_processed(srv, 2)
    assert status["late_events_total"] == 1
    assert status["events_total"] == 1
    assert features(srv, "dr5ru")["features"]["search_volume_15min"] == 1
    assert "surge_stream_late_events_total 1" in srv.get("/metrics").text
    srv.stop()
    late = (srv.data_dir / "stream" / "late-events.ndjson").read_text().splitlines()
    assert len(late) == 1
    record = json.loads(late[0])
    assert record["event_id"] == "search-2"
    assert record["ts"] == now - 5 * MIN
    assert record["watermark"] >= now - 30000 - 1000


def crash_test_events(seed=7, n=3000):
    """n events over 8 regions within 10 minutes (less than the driver and session timeouts, so
    no state expires), in time order with at most 3 s of disorder."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    start = now - 10 * MIN
    regions = ["dr5ru", "dr5rv", "dr5rs", "dr5rt", "dr5rg", "dr5rk", "dr5re", "dr5rf"]
    events = []
    for i in range(n):
        ts = start + i * (10 * MIN // n) + rng.randint(-3000, 0)
        region = rng.choice(regions)
        kind = rng.choice(["search", "search", "view", "booking", "cancel", "driver_status"])
        if kind == "driver_status":
            events.append(driver_event(i, ts, region, f"d{rng.randint(1, 60)}",
                                       rng.choice(["available", "available", "busy", "offline"])))
        else:
            events.append(user_event(i, kind, ts, region, f"u{rng.randint(1, 300)}"))
    return events, regions


def snapshot(srv, regions):
    return {r: features(srv, r)["features"] for r in regions}


def test_checkpoint_crash_gives_the_features_of_an_uninterrupted_run(surge_server):
    events, regions = crash_test_events()
    batches = [events[i:i + 500] for i in range(0, len(events), 500)]
    config = dict(NO_LIMITS, **{"stream.checkpoint_interval_s": 1})

    whole = surge_server(config=config)
    for b in batches:
        post_events(whole, b)
    status = wait_processed(whole, len(events))
    assert status["late_events_total"] == 0
    expected = snapshot(whole, regions)
    whole.stop()

    crashed = surge_server(config=config)
    for b in batches[:3]:
        post_events(crashed, b)
    wait_processed(crashed, 1500)
    deadline = time.time() + 5
    while crashed.get("/api/v1/stream/status").json()["checkpoints_total"] < 1:
        assert time.time() < deadline, "no checkpoint within 5 s"
        time.sleep(0.1)
    post_events(crashed, batches[3])  # acknowledged, then the crash lands mid-processing
    crashed.kill9()

    again = surge_server(config=config, data_dir=crashed.data_dir)
    status = again.get("/api/v1/stream/status").json()
    assert status["restored_from_checkpoint"] is True
    for b in batches[4:]:
        post_events(again, b)
    status = wait_processed(again, len(events))
    assert status["events_total"] == len(events)  # nothing counted twice, nothing lost
    assert status["late_events_total"] == 0
    got = snapshot(again, regions)
    for r in regions:
        assert got[r] == expected[r], f"{r}: " + ", ".join(
            f"{k}: {got[r].get(k)} != {expected[r].get(k)}"
            for k in sorted(set(got[r]) | set(expected[r])) if got[r].get(k) != expected[r].get(k))


def test_replay_recomputes_the_windows_from_the_log(surge_server, tmp_path):
    srv = surge_server(config=NO_LIMITS)
    now = int(time.time() * 1000)
    base = now - now % (5 * MIN) - 20 * MIN
    events = [user_event(i, "search", base + i * 20000, "dr5ru", "u1") for i in range(30)]
    events += [user_event(100 + i, "booking", base + i * 60000, "dr5ru", "u1") for i in range(4)]
    events += [user_event(200, "cancel", base + 61000, "dr5ru", "u1")]
    post_events(srv, sorted(events, key=lambda e: e["ts"]))
    srv.stop()
    out = tmp_path / "agg.csv"
    r = run_surge("replay", "--data-dir", str(srv.data_dir), "--aggregates-out", str(out),
                  "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["events"] == 35 and summary["late_events"] == 0
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert rows[0] == ["region_id", "window", "window_start", "window_end", "searches", "views",
                       "bookings", "cancels", "cancel_rate", "driver_locations", "driver_statuses"]
    five = [row for row in rows[1:] if row[1] == "tumbling_5m"]
    # searches every 20 s for 10 minutes: 15 per 5 minutes; bookings at minutes 0..3
    assert [(int(w[2]) - base, int(w[4]), int(w[6]), int(w[7]), float(w[8])) for w in five] == [
        (0, 15, 4, 1, 0.25), (5 * MIN, 15, 0, 0, 0.0)]
    assert summary["windows"] == len(rows) - 1
    # a time range cuts events by event time
    r = run_surge("replay", "--data-dir", str(srv.data_dir), "--from", str(base + 5 * MIN),
                  "--json", "--quiet")
    assert json.loads(r.stdout)["events"] == 15
    bad = run_surge("replay", "--data-dir", str(srv.data_dir), "--from", "yesterday")
    assert bad.returncode == 2
    assert "--from 'yesterday' is not an RFC 3339 time" in bad.stderr


def test_every_feature_is_documented_in_features_md(surge_server, tmp_path):
    """docs/features.md's table names exactly the features the stream writes (the columns of
    `surge replay --features-out`)."""
    srv = surge_server()
    srv.stop()
    out = tmp_path / "f.csv"
    r = run_surge("replay", "--data-dir", str(srv.data_dir), "--features-out", str(out),
                  "--quiet")
    assert r.returncode == 0, r.stderr
    columns = out.read_text().splitlines()[0].split(",")
    assert columns[:2] == ["region_id", "ts"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    documented = set()
    for line in doc.splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([a-z_0-9]+)`", line.split("|")[1]))
    assert documented == set(columns[2:])
    assert len(columns) - 2 >= 50
