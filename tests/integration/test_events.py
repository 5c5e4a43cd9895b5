"""POST /api/v1/events over real HTTP: per-event results, validation, NDJSON, deduplication
(also across restarts), rate limits, limits, the log they land in (`surge log`), and the crash
test: every acknowledged event survives kill -9 exactly once."""

from __future__ import annotations

import json
import random
import threading
import time

import requests

from conftest import run_surge

EVENTS = "/api/v1/events"
T0 = "2026-01-11T10:32:00Z"


def search(event_id: str, user: str = "u1", **extra) -> dict:
    e = {"event_id": event_id, "type": "search", "ts": T0, "lat": 40.7580, "lon": -73.9855,
         "user_id": user, "product_type": "standard"}
    e.update(extra)
    return e


def post(srv, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(srv.url + EVENTS, data=data, headers={"Content-Type": content_type},
                         timeout=30)


def log_cat(srv, topic: str, *args: str) -> list[dict]:
    out = run_surge("log", "cat", topic, "--data-dir", str(srv.data_dir), *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_one_event_is_accepted_durably_and_readable_from_the_log(surge_server):
    srv = surge_server()
    r = post(srv, search("e-1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["rejected"], body["rate_limited"]) == \
        (1, 0, 0, 0)
    res = body["results"][0]
    assert res["status"] == "accepted" and res["event_id"] == "e-1"
    assert res["topic"] == "user-events" and res["offset"] == 0
    # dr5ru's partition, as Kafka's default partitioner would put key "dr5ru"
    records = log_cat(srv, "user-events", "--partition", str(res["partition"]))
    assert len(records) == 1
    rec = records[0]
    assert rec["key"] == "dr5ru" and rec["offset"] == 0
    assert rec["headers"] == {"event_id": "e-1", "type": "search"}
    ev = rec["event"]
    assert ev["event_id"] == "e-1" and ev["type"] == "search" and ev["user_id"] == "u1"
    assert ev["region_id"] == "dr5ru"          # enriched from lat/lon
    assert ev["source"].startswith("api:127.0.0.1")
    assert ev["ts"] in (1768127520000, T0, "2026-01-11T10:32:00.000Z")


def test_a_batch_reports_each_event_and_one_bad_event_rejects_only_itself(surge_server):
    srv = surge_server()
    batch = [
        search("b-1"),
        {"event_id": "b-2", "type": "search", "ts": T0, "lat": 91, "lon": 0, "user_id": "u",
         "product_type": "standard"},
        {"event_id": "b-3", "type": "teleport", "ts": T0, "region_id": "dr5ru"},
        {"event_id": "b-4", "type": "driver_status", "ts": T0, "region_id": "dr5ru",
         "driver_id": "d1", "status": "sleeping"},
        {"event_id": "b-5", "type": "weather", "ts": 1768127520000, "region_id": "dr5ru",
         "temp_c": 3.5, "precip_mm": 1.2, "severity": 0.4},
        "not an object",
        search("b-7", ts="yesterday"),
        search("b-8", colour="blue"),
    ]
    r = post(srv, batch)
    assert r.status_code == 200, r.text
    body = r.json()
    status = [x["status"] for x in body["results"]]
    assert status == ["accepted", "rejected", "rejected", "rejected", "accepted", "rejected",
                      "rejected", "rejected"]
    fields = [x.get("error", {}).get("field") for x in body["results"]]
    assert fields == [None, "lat", "type", "status", None, None, "ts", "colour"]
    assert [x["index"] for x in body["results"]] == list(range(8))
    assert body["results"][4]["topic"] == "external-events"
    assert "available" in body["results"][3]["error"]["message"]
    assert (body["accepted"], body["rejected"]) == (2, 6)


def test_ndjson_batches_with_a_bad_line(surge_server):
    srv = surge_server()
    lines = [json.dumps(search("n-1")), "{not json", "", json.dumps(search("n-2", user="u2"))]
    r = post(srv, "\n".join(lines) + "\n", content_type="application/x-ndjson")
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["accepted", "rejected", "accepted"]
    assert "line 2" in res[1]["error"]["message"]


def test_all_rejected_is_422_and_wrong_content_type_is_415(surge_server):
    srv = surge_server()
    r = post(srv, {"event_id": "x", "type": "search"})
    assert r.status_code == 422
    assert r.json()["results"][0]["status"] == "rejected"
    r = post(srv, json.dumps(search("t")), content_type="text/plain")
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    r = post(srv, b"[1,")
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"


def test_duplicates_within_a_batch_across_requests_and_across_restarts(surge_server):
    srv = surge_server()
    r = post(srv, [search("d-1"), search("d-1"), search("d-2")])
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "duplicate", "accepted"]
    r = post(srv, search("d-2"))
    assert r.status_code == 200
    assert r.json()["results"][0]["status"] == "duplicate"
    srv.kill9()
    again = surge_server(data_dir=srv.data_dir)
    r = post(again, [search("d-1"), search("d-3")])
    assert [x["status"] for x in r.json()["results"]] == ["duplicate", "accepted"]
    # each id is in the log exactly once
    ids = [rec["headers"]["event_id"] for rec in log_cat(again, "user-events")]
    assert sorted(ids) == ["d-1", "d-2", "d-3"]


def test_rate_limit_per_user_is_per_event_and_429_when_all_are_limited(surge_server):
    srv = surge_server(config={"ingest.user_per_min": 2})
    r = post(srv, [search("r-1", user="alice"), search("r-2", user="alice"),
                   search("r-3", user="alice"), search("r-4", user="bob")])
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["accepted", "accepted", "rate_limited", "accepted"]
    assert res[2]["retry_after_s"] >= 1 and res[2]["error"]["field"] == "user_id"
    r = post(srv, search("r-5", user="alice"))
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    # a rate-limited event was not remembered: sent again later it is not a duplicate
    assert "r-3" not in [rec["headers"]["event_id"] for rec in log_cat(srv, "user-events")]
    metrics = srv.get("/metrics").text
    assert 'surge_events_total{status="rate_limited"} 2' in metrics
    assert 'surge_events_total{status="accepted"} 3' in metrics


def test_too_many_events_and_too_large_bodies_are_refused(surge_server):
    srv = surge_server(config={"ingest.max_events": 5, "ingest.max_body_bytes": 4096})
    r = post(srv, [search(f"m-{i}") for i in range(6)])
    assert r.status_code == 413 and "at most 5" in r.json()["error"]["message"]
    r = post(srv, [search(f"m-{i}", pad="x" * 1000) for i in range(5)])
    assert r.status_code == 413 and "ingest.max_body_bytes" in r.json()["error"]["message"]
    assert post(srv, [search("m-ok")]).status_code == 200


def test_log_topics_and_verify(surge_server):
    srv = surge_server()
    post(srv, [search("v-1"), search("v-2", user="u9")])
    out = run_surge("log", "topics", "--data-dir", str(srv.data_dir))
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[1:]]
    assert len(rows) == 6 * 12
    user = sum(int(r[4]) for r in rows if r[0] == "user-events")
    assert user == 2
    out = run_surge("log", "verify", "--data-dir", str(srv.data_dir))
    assert out.returncode == 0 and "log OK" in out.stdout
    out = run_surge("log", "cat", "nope", "--data-dir", str(srv.data_dir))
    assert out.returncode == 2 and "unknown topic 'nope'" in out.stderr


def test_every_acknowledged_event_survives_repeated_kill9_exactly_once(surge_server):
    """Clients ingest while the server is killed with SIGKILL again and again. Every event
    whose request got a 2xx must be in the log exactly once afterwards, and the log verifies."""
    srv = surge_server()
    data_dir = srv.data_dir
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    current = {"url": srv.url}
    rng = random.Random(7)

    def client(cid: int):
        n = 0
        while not stop.is_set():
            batch = [search(f"c{cid}-{n + i}", user=f"u{cid}-{(n + i) % 50}") for i in range(20)]
            n += 20
            try:
                r = requests.post(current["url"] + EVENTS, data=json.dumps(batch),
                                  headers={"Content-Type": "application/json"}, timeout=5)
            except requests.RequestException:
                time.sleep(0.02)
                continue
            if r.status_code == 200:
                with lock:
                    for x in r.json()["results"]:
                        if x["status"] in ("accepted", "duplicate"):
                            acked.add(x["event_id"])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(3)]
    for t in threads:
        t.start()
    for _ in range(4):
        time.sleep(0.3 + rng.random() * 0.4)
        srv.kill9()
        srv = surge_server(data_dir=data_dir)
        current["url"] = srv.url
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    srv.stop()
    assert len(acked) > 100
    out = run_surge("log", "verify", "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_surge("log", "cat", "user-events", "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stderr
    ids = [json.loads(line)["headers"]["event_id"] for line in out.stdout.splitlines()]
    assert len(ids) == len(set(ids)), "an event is in the log twice"
    missing = acked - set(ids)
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:5]}"


def test_prices_go_to_pricing_decisions_and_admin_changes_to_system_events(surge_server):
    srv = surge_server(config={"audit.flush_ms": 10})
    r = srv.post("/api/v1/pricing/compute",
                 json={"region_id": "dr5ru", "product_type": "premium", "user_id": "p1"})
    assert r.status_code == 200
    decision = r.json()
    srv.admin("PUT", "/api/v1/admin/regions/dr5ru/controls", json={"frozen": True})
    srv.stop()  # flushes the audit writer
    recs = log_cat(srv, "pricing-decisions")
    assert len(recs) == 1
    ev = recs[0]["event"]
    assert recs[0]["key"] == "dr5ru"
    assert recs[0]["headers"] == {"request_id": decision["request_id"]}
    assert ev["request_id"] == decision["request_id"]
    assert ev["trace_id"] == decision["trace_id"]
    # the published record is the decision the client got (the time-of-day factor makes the
    # surge depend on the hour the test runs at)
    assert (ev["price"], ev["base_price"], ev["surge_multiplier"]) == (
        decision["price"], 20, decision["surge_multiplier"])
    assert ev["user_id"] == "p1" and ev["product_type"] == "premium"
    assert ev["rule_id"] == decision["rule_id"] and ev["cached"] is False
    assert set(ev["factors"]) == {"demand", "supply", "time_of_day", "events", "weather", "clip",
                                  "guardrails"}
    system = log_cat(srv, "system-events")
    assert [s["event"]["type"] for s in system] == ["config_change"]
    change = system[0]["event"]
    assert change["key"] == "PUT /api/v1/admin/regions/dr5ru/controls"
    assert change["value"] == "frozen" and change["actor"] == "admin@127.0.0.1"


def test_only_successful_admin_changes_are_published_as_config_changes(surge_server):
    srv = surge_server()
    long_id = "x" * 300  # not a region: the admin call fails, but nothing is published for it
    assert srv.admin("GET", f"/api/v1/admin/experiments/{long_id}").status_code == 404
    body = {"experiment_id": "e" * 60, "name": "long", "variants": [{"name": "a"}, {"name": "b"}],
            "traffic_split": {"a": 50, "b": 50}}
    r = srv.admin("PUT", "/api/v1/admin/experiments/" + "e" * 60 + "?" + "q" * 300, json=body)
    assert r.status_code == 404  # PUT needs an existing experiment
    r = srv.admin("POST", "/api/v1/admin/experiments", json=body)
    assert r.status_code == 201, r.text
    r = srv.admin("DELETE", "/api/v1/admin/experiments/" + "e" * 60)
    assert r.status_code == 204
    srv.stop()
    keys = [rec["event"]["key"] for rec in log_cat(srv, "system-events")]
    assert keys == ["POST /api/v1/admin/experiments", "DELETE /api/v1/admin/experiments/" + "e" * 60]
