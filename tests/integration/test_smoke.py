"""The smallest end-to-end check: surge starts, listens and says it is healthy."""


def test_healthz_returns_ok(surge_server):
    srv = surge_server()
    r = srv.get("/healthz")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["status"] == "ok"


def test_server_stops_cleanly_on_sigterm(surge_server):
    srv = surge_server()
    assert srv.get("/readyz").status_code == 200
    assert srv.stop() == 0
