"""The web portal over real HTTP (docs/portal.md): assets built into the binary, login with
users from portal.users or the admin token, session cookies, roles, CSRF, the admin-action
record, the live SSE stream, audit search and reports."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN

SALT = "00112233445566778899aabbccddeeff"


def pbkdf2_entry(name: str, role: str, password: str, iterations: int = 1000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(SALT), iterations)
    return f"{name}:{role}:pbkdf2-sha256${iterations}${SALT}${digest.hex()}"


def sha256_entry(name: str, role: str, password: str) -> str:
    digest = hashlib.sha256(bytes.fromhex(SALT) + password.encode()).hexdigest()
    return f"{name}:{role}:sha256${SALT}${digest}"


USERS = ",".join([pbkdf2_entry("alice", "admin", "alice-pw"),
                  sha256_entry("bob", "viewer", "bob-pw")])


@pytest.fixture
def portal(surge_server):
    return surge_server(config={"portal.users": USERS})


def login(srv, **body) -> tuple[requests.Session, dict]:
    """A fresh client session logged in with body; returns (session, login answer)."""
    s = requests.Session()
    r = s.post(srv.url + "/api/v1/portal/login", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return s, r.json()


def error_of(r: requests.Response) -> dict:
    return r.json()["error"]


# ---------------------------------------------------------------- assets

def test_assets_are_served_with_their_types_etags_and_csp(portal):
    index = portal.get("/")
    assert index.status_code == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in index.headers["Content-Security-Policy"]
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert index.headers["Cache-Control"] == "no-cache"
    assert index.headers["X-Frame-Options"] == "DENY"
    assert '<script src="/assets/app.js"></script>' in index.text
    # no script or style from another origin: the machines have no internet
    assert "http://" not in index.text and "https://" not in index.text
    expected = {"app.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8",
                "index.html": "text/html; charset=utf-8",
                "favicon.svg": "image/svg+xml",
                "uPlot.iife.min.js": "text/javascript; charset=utf-8",
                "uPlot.min.css": "text/css; charset=utf-8"}
    for name, ctype in expected.items():
        r = portal.get("/assets/" + name)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"] == ctype, name
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        etag = r.headers["ETag"]
        assert len(etag) == 18 and etag.startswith('"') and etag.endswith('"'), etag
        again = portal.get("/assets/" + name, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", name
    assert "uPlot" in portal.get("/assets/uPlot.iife.min.js").text
    stale = portal.get("/assets/app.js", headers={"If-None-Match": '"0000000000000000"'})
    assert stale.status_code == 200 and len(stale.content) > 1000


def test_an_unknown_asset_is_404_naming_it(portal):
    r = portal.get("/assets/nope.js")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    assert error_of(r)["field"] == "file"
    assert error_of(r)["message"] == "no portal asset named 'nope.js'"
    assert portal.get("/assets/../surge.db").status_code == 404


# ---------------------------------------------------------------- login and sessions

def test_login_with_a_good_password_sets_a_strict_httponly_session_cookie(portal):
    r = requests.post(portal.url + "/api/v1/portal/login",
                      json={"username": "alice", "password": "alice-pw"}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == "alice" and body["role"] == "admin"
    assert len(body["csrf_token"]) == 32 and int(body["csrf_token"], 16) >= 0
    assert body["session_ttl_s"] == 28800
    cookie = r.headers["Set-Cookie"]
    sid = cookie.split(";")[0].split("=", 1)[1]
    assert cookie.startswith("surge_session=") and len(sid) == 32
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"):
        assert attribute in cookie, cookie
    assert sid != body["csrf_token"]


def test_login_with_a_sha256_hash_and_the_viewer_role(portal):
    _, body = login(portal, username="bob", password="bob-pw")
    assert (body["user"], body["role"]) == ("bob", "viewer")


def test_login_with_a_bad_password_or_unknown_user_is_401_and_recorded(portal):
    for body in ({"username": "alice", "password": "wrong"},
                 {"username": "mallory", "password": "alice-pw"}):
        r = requests.post(portal.url + "/api/v1/portal/login", json=body, timeout=10)
        assert r.status_code == 401, r.text
        assert error_of(r)["message"] == "unknown user or wrong password"
        assert "Set-Cookie" not in r.headers
    r = requests.post(portal.url + "/api/v1/portal/login", json={"token": "not-the-token"},
                      timeout=10)
    assert r.status_code == 401 and error_of(r)["message"] == "the token is not the admin token"
    actions = portal.admin("GET", "/api/v1/admin/actions").json()["actions"]
    failed = [(a["actor"], a["status"], a["detail"]) for a in actions
              if a["path"] == "/api/v1/portal/login"]
    assert failed == [("token", 401, "login failed"), ("mallory", 401, "login failed"),
                      ("alice", 401, "login failed")]


def test_login_body_errors_name_the_field(portal):
    r = requests.post(portal.url + "/api/v1/portal/login", json={"username": "alice"}, timeout=10)
    assert r.status_code == 422 and error_of(r)["field"] == "password"
    r = requests.post(portal.url + "/api/v1/portal/login", json={"password": "x"}, timeout=10)
    assert r.status_code == 422 and error_of(r)["field"] == "username"
    r = requests.post(portal.url + "/api/v1/portal/login",
                      json={"username": "alice", "password": "alice-pw", "role": "admin"},
                      timeout=10)
    assert r.status_code == 422 and error_of(r)["field"] == "role"
    r = requests.post(portal.url + "/api/v1/portal/login",
                      json={"token": ADMIN_TOKEN, "username": "alice"}, timeout=10)
    assert r.status_code == 422 and error_of(r)["field"] == "token"


def test_the_admin_token_logs_in_as_admin(portal):
    s, body = login(portal, token=ADMIN_TOKEN)
    assert (body["user"], body["role"]) == ("admin-token", "admin")
    assert s.get(portal.url + "/api/v1/portal/session").json()["user"] == "admin-token"


def test_a_session_reads_admin_endpoints_without_the_bearer_token(portal):
    s, _ = login(portal, username="bob", password="bob-pw")
    r = s.get(portal.url + "/api/v1/admin/regions")
    assert r.status_code == 200 and r.json()["count"] == 64
    assert requests.get(portal.url + "/api/v1/admin/regions", timeout=10).status_code == 401


def test_logout_ends_the_session(portal):
    s, body = login(portal, username="alice", password="alice-pw")
    r = s.post(portal.url + "/api/v1/portal/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 200 and r.json() == {"logged_out": True}
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    # the old cookie no longer works, even if a client kept it
    old = requests.get(portal.url + "/api/v1/admin/regions",
                       cookies={"surge_session": s.cookies.get("surge_session") or "x" * 32},
                       timeout=10)
    assert old.status_code == 401
    assert s.get(portal.url + "/api/v1/portal/session").status_code == 401


def test_logout_with_a_session_needs_the_csrf_token(portal):
    s, _ = login(portal, username="alice", password="alice-pw")
    r = s.post(portal.url + "/api/v1/portal/logout")
    assert r.status_code == 403 and error_of(r)["field"] == "X-CSRF-Token"
    assert s.get(portal.url + "/api/v1/portal/session").status_code == 200


def test_a_session_expires_after_the_idle_ttl(surge_server):
    srv = surge_server(config={"portal.users": USERS, "portal.session_ttl_s": 1})
    s, body = login(srv, username="alice", password="alice-pw")
    assert body["session_ttl_s"] == 1
    # the client would drop the cookie itself after Max-Age: send it as a stale client would
    cookie = {"Cookie": "surge_session=" + s.cookies["surge_session"]}
    assert requests.get(srv.url + "/api/v1/admin/regions", headers=cookie,
                        timeout=10).status_code == 200
    time.sleep(0.6)
    # each request moves the idle expiry
    assert requests.get(srv.url + "/api/v1/portal/session", headers=cookie,
                        timeout=10).status_code == 200
    time.sleep(0.6)
    assert requests.get(srv.url + "/api/v1/portal/session", headers=cookie,
                        timeout=10).status_code == 200
    time.sleep(1.3)
    r = requests.get(srv.url + "/api/v1/admin/regions", headers=cookie, timeout=10)
    assert r.status_code == 401, r.text
    assert error_of(r)["field"] == "cookie"
    assert "expired" in error_of(r)["message"]


def test_an_unknown_session_cookie_is_401(portal):
    r = requests.get(portal.url + "/api/v1/admin/rules",
                     cookies={"surge_session": "0123456789abcdef0123456789abcdef"}, timeout=10)
    assert r.status_code == 401 and error_of(r)["field"] == "cookie"


# ---------------------------------------------------------------- roles and CSRF

CONTROLS = "/api/v1/admin/regions/dr5ru/controls"


def test_a_viewer_gets_403_on_every_change(portal):
    s, body = login(portal, username="bob", password="bob-pw")
    h = {"X-CSRF-Token": body["csrf_token"]}
    changes = [("PUT", CONTROLS, {"emergency_cap": 1.5}),
               ("DELETE", CONTROLS, None),
               ("POST", "/api/v1/admin/rules",
                {"region_id": "dr5ru", "product_type": "standard", "base_price": 99}),
               ("POST", "/api/v1/admin/experiments",
                {"experiment_id": "x", "name": "x", "variants": [{"name": "a"}, {"name": "b"}],
                 "traffic_split": {"a": 50, "b": 50}}),
               ("DELETE", "/api/v1/admin/regions/dr5ru", None)]
    for method, path, payload in changes:
        r = s.request(method, portal.url + path, json=payload, headers=h, timeout=10)
        assert r.status_code == 403, (method, path, r.text)
        assert error_of(r)["code"] == "forbidden"
        assert error_of(r)["message"] == ("user 'bob' has the viewer role: it may read but not "
                                          "change anything")
    # nothing changed
    assert portal.admin("GET", "/api/v1/admin/regions/dr5ru").status_code == 200
    assert portal.admin("GET", CONTROLS).json()["emergency_cap"] is None
    # and the refusals are in the record, with who tried
    actions = portal.admin("GET", "/api/v1/admin/actions").json()["actions"]
    refused = [(a["actor"], a["role"], a["method"], a["status"]) for a in actions
               if a["status"] == 403]
    assert len(refused) == len(changes)
    assert all(x[:2] == ("bob", "viewer") for x in refused)


def test_a_change_with_a_session_and_no_csrf_token_is_403(portal):
    s, _ = login(portal, username="alice", password="alice-pw")
    r = s.put(portal.url + CONTROLS, json={"emergency_cap": 1.5})
    assert r.status_code == 403
    assert error_of(r)["field"] == "X-CSRF-Token"
    assert error_of(r)["message"].startswith("a change made with a portal session needs the "
                                             "X-CSRF-Token header")
    assert portal.admin("GET", CONTROLS).json()["emergency_cap"] is None


def test_a_change_with_a_wrong_csrf_token_is_403(portal):
    s, body = login(portal, username="alice", password="alice-pw")
    other, other_body = login(portal, username="alice", password="alice-pw")
    for token in ("f" * 32, "short", other_body["csrf_token"]):
        r = s.put(portal.url + CONTROLS, json={"emergency_cap": 1.5},
                  headers={"X-CSRF-Token": token})
        assert r.status_code == 403, token
        assert error_of(r)["field"] == "X-CSRF-Token"
        assert error_of(r)["message"] == ("the X-CSRF-Token header does not match this "
                                          "session's csrf_token")
    assert portal.admin("GET", CONTROLS).json()["emergency_cap"] is None


def test_an_admin_change_with_session_and_csrf_works_and_is_audited_with_the_user(portal):
    s, body = login(portal, username="alice", password="alice-pw")
    r = s.put(portal.url + CONTROLS, json={"emergency_cap": 1.5, "reason": "storm"},
              headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 200, r.text
    assert r.json()["emergency_cap"] == 1.5
    actions = portal.admin("GET", "/api/v1/admin/actions").json()["actions"]
    change = next(a for a in actions if a["path"] == CONTROLS)
    assert (change["actor"], change["role"], change["method"], change["status"]) == \
        ("alice", "admin", "PUT", 200)
    assert json.loads(change["detail"]) == {"emergency_cap": 1.5, "reason": "storm"}
    assert change["trace_id"] == r.headers["X-Trace-Id"]
    # the bearer token keeps working unchanged, and is recorded too
    r = portal.admin("DELETE", CONTROLS)
    assert r.status_code == 204
    latest = portal.admin("GET", "/api/v1/admin/actions?limit=1").json()["actions"]
    assert [(a["actor"], a["method"], a["status"]) for a in latest] == \
        [("token@127.0.0.1", "DELETE", 204)]


def test_the_config_change_event_names_the_portal_user(portal):
    from conftest import run_surge
    s, body = login(portal, username="alice", password="alice-pw")
    r = s.post(portal.url + "/api/v1/admin/rules",
               json={"region_id": "dr5ru", "product_type": "standard", "base_price": 14},
               headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 201, r.text
    out = run_surge("log", "cat", "system-events", "--data-dir", str(portal.data_dir))
    assert out.returncode == 0, out.stderr
    changes = [json.loads(line)["event"] for line in out.stdout.splitlines()]
    assert [(c["type"], c["key"], c["actor"]) for c in changes] == \
        [("config_change", "POST /api/v1/admin/rules", "alice")]


def test_a_bad_portal_users_entry_stops_start_up_with_a_precise_error(tmp_path):
    from conftest import run_surge
    r = run_surge("serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                  "--set", "portal.users=alice:root:sha256$00$00", timeout=30)
    assert r.returncode != 0
    assert "portal.users: user 'alice' has role 'root'; roles are admin and viewer" in r.stderr


# ---------------------------------------------------------------- live stream

def read_sse_event(url: str, cookie: str, timeout: float) -> tuple[float, dict, dict]:
    """Opens the stream, returns (seconds to the first data event, its JSON, headers)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    t0 = time.monotonic()
    sock.sendall(f"GET /api/v1/live HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                 f"Cookie: surge_session={cookie}\r\n\r\n".encode())
    data = b""
    try:
        while b"\ndata: " not in data or not data.split(b"\ndata: ", 1)[1].count(b"\n\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    elapsed = time.monotonic() - t0
    head, _, rest = data.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    payload = rest.split(b"\ndata: ", 1)[1].split(b"\n\n", 1)[0]
    return elapsed, json.loads(payload), headers


def test_the_live_stream_delivers_a_snapshot_within_2_seconds(portal):
    s, _ = login(portal, username="bob", password="bob-pw")
    elapsed, snap, headers = read_sse_event(portal.url, s.cookies["surge_session"], 5)
    assert headers["Content-Type"] == "text/event-stream"
    assert elapsed < 2.0, elapsed
    # the sample city: 64 regions x 2 products, priced as compute prices them now (no
    # features: only the time of day can move the surge)
    assert len(snap["regions"]) == 128
    first = min(snap["regions"], key=lambda x: (x["region_id"], x["product_type"]))
    quote = compute(portal, "dr5r1", "premium")
    assert first == {"region_id": "dr5r1", "product_type": "premium",
                     "surge": quote["surge_multiplier"], "price": quote["price"]}
    assert set(snap["totals"]) >= {"events_per_s", "prices_per_s", "p99_ms", "model_version"}


def test_the_live_snapshot_shows_a_capped_surge(portal):
    feats = {"features": {"demand_score": 0.95, "expected_demand": 200,
                          "available_drivers": 10}, "ttl_s": 600}
    assert portal.admin("PUT", "/api/v1/admin/regions/dr5ru/features", json=feats).status_code \
        == 200
    one = portal.admin("GET", "/api/v1/live").json()
    high = next(r for r in one["regions"]
                if (r["region_id"], r["product_type"]) == ("dr5ru", "standard"))
    assert high["surge"] > 1.3
    assert portal.admin("PUT", CONTROLS, json={"emergency_cap": 1.2}).status_code == 200
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        snap = portal.admin("GET", "/api/v1/live").json()
        now = next(r for r in snap["regions"]
                   if (r["region_id"], r["product_type"]) == ("dr5ru", "standard"))
        if now["surge"] == 1.2:
            break
        time.sleep(0.3)
    assert now == {"region_id": "dr5ru", "product_type": "standard", "surge": 1.2, "price": 14.5}


def test_the_live_totals_count_prices_and_their_p99(portal):
    deadline = time.monotonic() + 5
    totals = {}
    while time.monotonic() < deadline:
        for _ in range(20):
            compute(portal)
        totals = portal.admin("GET", "/api/v1/live").json()["totals"]
        if totals["prices_per_s"] > 0 and totals["p99_ms"] is not None:
            break
        time.sleep(0.3)
    assert totals["prices_per_s"] > 0, totals
    # a histogram bucket's upper bound, in milliseconds (buckets: 0.05 ms .. 1 s)
    assert totals["p99_ms"] in (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000)
    assert totals["model_version"] == "none"


def test_the_live_stream_needs_a_session_or_the_token(portal):
    r = requests.get(portal.url + "/api/v1/live", headers={"Accept": "text/event-stream"},
                     timeout=5)
    assert r.status_code == 401


def test_live_streams_are_limited_and_shutdown_does_not_wait_for_them(surge_server):
    srv = surge_server(config={"portal.users": USERS, "portal.live_max_clients": 2})
    s, _ = login(srv, username="bob", password="bob-pw")
    streams = [s.get(srv.url + "/api/v1/live", headers={"Accept": "text/event-stream"},
                     stream=True, timeout=5) for _ in range(2)]
    assert [r.status_code for r in streams] == [200, 200]
    third = s.get(srv.url + "/api/v1/live", headers={"Accept": "text/event-stream"}, timeout=5)
    assert third.status_code == 503
    assert "portal.live_max_clients" in error_of(third)["message"]
    streams[0].close()
    t0 = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - t0 < 3, "shutdown waited for an open live stream"
    streams[1].close()


# ---------------------------------------------------------------- audit search and reports

def compute(srv, region="dr5ru", product="standard", user="u1"):
    r = srv.post("/api/v1/pricing/compute",
                 json={"region_id": region, "product_type": product, "user_id": user})
    assert r.status_code == 200, r.text
    return r.json()


def test_audit_search_by_request_id_trace_id_and_region(portal):
    a = compute(portal, "dr5ru")
    b = compute(portal, "dr5ru", "premium")
    c = compute(portal, "dr5r1")
    s, _ = login(portal, username="bob", password="bob-pw")
    url = portal.url + "/api/v1/admin/audit/search"
    one = s.get(url, params={"request_id": a["request_id"]}).json()
    assert one["count"] == 1
    d = one["decisions"][0]
    assert (d["request_id"], d["trace_id"], d["region_id"], d["price"]) == \
        (a["request_id"], a["trace_id"], "dr5ru", a["price"])
    assert d["factors"] == a["factors"]
    by_trace = s.get(url, params={"trace_id": b["trace_id"]}).json()
    assert [x["request_id"] for x in by_trace["decisions"]] == [b["request_id"]]
    region = s.get(url, params={"region_id": "dr5ru"}).json()
    assert [x["request_id"] for x in region["decisions"]] == [b["request_id"], a["request_id"]]
    everything = s.get(url, params={"limit": 2}).json()
    assert [x["request_id"] for x in everything["decisions"]] == [c["request_id"],
                                                                   b["request_id"]]
    past = s.get(url, params={"region_id": "dr5ru", "from": "2000-01-01T00:00:00Z",
                              "to": "2000-01-02T00:00:00Z"}).json()
    assert past["count"] == 0


def test_audit_search_rejects_bad_arguments_precisely(portal):
    cases = [({"request_id": "XYZ"}, "request_id", "must be 32 lower-case hex characters"),
             ({"region_id": "dr5ra"}, "region_id", None),
             ({"limit": "0"}, "limit", "'limit' must be an integer 1..1000"),
             ({"limit": "5x"}, "limit", None),
             ({"from": "yesterday"}, "from", None),
             ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to", None)]
    for params, field, message in cases:
        r = portal.admin("GET", "/api/v1/admin/audit/search", params=params)
        assert r.status_code == 422, (params, r.text)
        assert error_of(r)["field"] == field, params
        if message:
            assert error_of(r)["message"] == message


def test_reports_aggregate_trips_revenue_and_surge_by_hour_and_region(portal):
    prices = [compute(portal, "dr5ru")["price"] for _ in range(3)]
    premium = compute(portal, "dr5r1", "premium")
    r = portal.admin("GET", "/api/v1/admin/reports")
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["surge_buckets"] == ["1-1.25", "1.25-1.5", "1.5-2", "2-2.5", "2.5-3", "3+"]
    assert len(rep["by_hour"]) in (1, 2)  # the calls may straddle an hour
    assert sum(h["decisions"] for h in rep["by_hour"]) == 4
    assert sum(h["revenue"] for h in rep["by_hour"]) == pytest.approx(sum(prices) +
                                                                      premium["price"])
    by_region = {x["region_id"]: x for x in rep["by_region"]}
    assert by_region["dr5ru"]["decisions"] == 3
    assert by_region["dr5ru"]["revenue"] == pytest.approx(sum(prices))
    # no features: the surge is 1 or the time-of-day bump (1.04), both in the first bucket
    assert by_region["dr5ru"]["surge_distribution"] == [3, 0, 0, 0, 0, 0]
    assert by_region["dr5r1"]["revenue"] == premium["price"]
    assert by_region["dr5r1"]["avg_surge"] == premium["surge_multiplier"]
    only = portal.admin("GET", "/api/v1/admin/reports", params={"region_id": "dr5r1"}).json()
    assert [x["region_id"] for x in only["by_region"]] == ["dr5r1"]
    r = portal.admin("GET", "/api/v1/admin/reports",
                     params={"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"})
    assert r.status_code == 422 and error_of(r)["message"] == "a report covers at most 31 days"
