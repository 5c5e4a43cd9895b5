"""A/B experiments over real HTTP (docs/pricing.md "A/B experiments", docs/api.md): a running
experiment replaces the rule in force by the rule of the user's variant, chosen by a stable
bucket of (experiment_id, user_id); decisions record experiment_id and variant; the results
endpoint counts them from the audit; stopping the experiment stops the assignment.

Expected numbers come from the test's own bookkeeping: each variant's rule has its own base
price and flat time multipliers, and no features are written, so every input is neutral, the
surge is exactly 1 and the price is the variant's base price."""

from __future__ import annotations

import time
from decimal import Decimal

COMPUTE = "/api/v1/pricing/compute"
EXPLAIN = "/api/v1/pricing/explain"
RULES = "/api/v1/admin/rules"
EXPERIMENTS = "/api/v1/admin/experiments"
CENTER = "dr5ru"
FLAT_HOURS = [1.0] * 24


def price(srv, user_id=None) -> dict:
    body = {"region_id": CENTER, "product_type": "standard"}
    if user_id is not None:
        body["user_id"] = user_id
    r = srv.post(COMPUTE, json=body)
    assert r.status_code == 200, r.text
    return r.json(parse_float=Decimal)


def make_rule(srv, base_price) -> dict:
    r = srv.admin("POST", RULES, json={
        "region_id": CENTER, "product_type": "standard", "base_price": base_price,
        "max_change_per_min": 0, "time_multipliers": FLAT_HOURS})
    assert r.status_code == 201, r.text
    return r.json()


def results(srv, experiment_id, expected_total, timeout=5.0) -> dict:
    """The results once they count expected_total decisions (the audit writer flushes within
    audit.flush_ms; the endpoint also flushes first)."""
    deadline = time.monotonic() + timeout
    while True:
        r = srv.admin("GET", f"{EXPERIMENTS}/{experiment_id}/results")
        assert r.status_code == 200, r.text
        body = r.json(parse_float=Decimal)
        if body["decisions"] >= expected_total or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_running_experiment_splits_users_and_counts_results(surge_server):
    srv = surge_server(config={"audit.flush_ms": 10})
    # rules take effect when created: the last one, C, is the rule in force
    rule_a, rule_b, rule_c = make_rule(srv, 20), make_rule(srv, 30), make_rule(srv, 25)
    base = {"A": Decimal(20), "B": Decimal(30)}
    rule_of = {"A": rule_a["rule_id"], "B": rule_b["rule_id"]}
    in_force = price(srv, "rider-0")
    assert in_force["rule_id"] == rule_c["rule_id"] and in_force["base_price"] == 25
    assert "experiment_id" not in in_force and "variant" not in in_force

    r = srv.admin("POST", EXPERIMENTS, json={
        "experiment_id": "price-ab", "name": "Base price A/B", "status": "running",
        "variants": [{"name": "A", "rule_id": rule_a["rule_id"]},
                     {"name": "B", "rule_id": rule_b["rule_id"]}],
        "traffic_split": {"A": 50, "B": 50}})
    assert r.status_code == 201, r.text

    # nothing has been priced in it yet: zero counts, null statistics
    empty = results(srv, "price-ab", 0)
    assert empty["status"] == "running" and empty["decisions"] == 0
    assert [(v["name"], v["rule_id"], v["traffic_percent"], v["decisions"], v["mean_surge"],
             v["first"]) for v in empty["variants"]] == [
        ("A", rule_of["A"], 50, 0, None, None), ("B", rule_of["B"], 50, 0, None, None)]

    users = [f"rider-{i}" for i in range(200)]
    variant_of: dict[str, str] = {}
    counts = {"A": 0, "B": 0}
    request_ids = []
    for rnd in range(2):  # every user twice: the same variant each time
        for user in users:
            d = price(srv, user)
            assert d["experiment_id"] == "price-ab", d
            v = d["variant"]
            assert v in base, d
            assert variant_of.setdefault(user, v) == v, (user, variant_of[user], v)
            assert d["rule_id"] == rule_of[v]
            assert d["base_price"] == base[v] and d["price"] == base[v]
            assert d["surge_multiplier"] == 1
            counts[v] += 1
            if rnd == 0 and len(request_ids) < 3:
                request_ids.append(d["request_id"])
    assert counts["A"] > 0 and counts["B"] > 0, counts
    # 200 users split 50/50: far from all on one side (binomial sd ~7)
    assert 60 <= counts["A"] // 2 <= 140, counts

    # users without a user_id are in no experiment
    for _ in range(5):
        d = price(srv)
        assert "experiment_id" not in d and "variant" not in d
        assert d["rule_id"] == in_force["rule_id"]
        assert d["base_price"] == in_force["base_price"]
    blank = price(srv, "")
    assert "experiment_id" not in blank and blank["rule_id"] == in_force["rule_id"]

    # explain shows the experiment too
    for rid in request_ids:
        r = srv.get(EXPLAIN, params={"request_id": rid})
        assert r.status_code == 200, r.text
        e = r.json()
        assert e["experiment_id"] == "price-ab" and e["variant"] in base
        assert e["rule_id"] == rule_of[e["variant"]] and e["reproduced"] is True

    res = results(srv, "price-ab", 400)
    assert res["experiment_id"] == "price-ab" and res["decisions"] == 400
    by_name = {v["name"]: v for v in res["variants"]}
    assert [v["name"] for v in res["variants"]] == ["A", "B"]
    for name in ("A", "B"):
        v = by_name[name]
        assert v["rule_id"] == rule_of[name] and v["traffic_percent"] == 50
        assert v["decisions"] == counts[name]
        assert v["users"] == sum(1 for u in users if variant_of[u] == name)
        assert v["mean_surge"] == 1 and v["p50_surge"] == 1
        assert v["mean_price"] == base[name]
        assert v["first"] <= v["last"]

    # stopping the experiment stops the assignment at once
    r = srv.admin("PUT", f"{EXPERIMENTS}/price-ab", json={
        "name": "Base price A/B", "status": "stopped",
        "variants": [{"name": "A", "rule_id": rule_a["rule_id"]},
                     {"name": "B", "rule_id": rule_b["rule_id"]}],
        "traffic_split": {"A": 50, "B": 50}})
    assert r.status_code == 200, r.text
    for user in users[:20]:
        d = price(srv, user)
        assert "experiment_id" not in d and d["rule_id"] == in_force["rule_id"]
    after = results(srv, "price-ab", 400)
    assert after["status"] == "stopped" and after["decisions"] == 400

    # an unknown experiment has no results
    r = srv.admin("GET", f"{EXPERIMENTS}/nope/results")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text


def test_experiment_with_mismatched_rules_is_skipped(surge_server):
    srv = surge_server(config={"audit.flush_ms": 10})
    a = make_rule(srv, 20)
    in_force = price(srv, "rider-1")
    assert in_force["rule_id"] == a["rule_id"]
    r = srv.admin("POST", RULES, json={
        "region_id": CENTER, "product_type": "premium", "base_price": 40,
        "time_multipliers": FLAT_HOURS})
    assert r.status_code == 201, r.text
    other = r.json()
    r = srv.admin("POST", EXPERIMENTS, json={
        "experiment_id": "mixed", "name": "Two products", "status": "running",
        "variants": [{"name": "A", "rule_id": a["rule_id"]},
                     {"name": "B", "rule_id": other["rule_id"]}],
        "traffic_split": {"A": 50, "B": 50}})
    assert r.status_code == 201, r.text
    # the engine logs and skips it: prices are the rule in force's
    for i in range(20):
        d = price(srv, f"rider-{i}")
        assert "experiment_id" not in d and d["rule_id"] == in_force["rule_id"]
