"""The HTTP API over real HTTP against real `surge serve` processes (DESIGN §7-§8, docs/api.md):
pricing with exact factor decomposition, caching, guardrails, explain, versioned rules, the
admin CRUD endpoints, authentication, input validation, limits, rate limits, trace ids,
metrics and audit durability across a crash.

Every expected number is derived independently: contributions from DESIGN §7 in
api_helpers.contributions_e4 (and written out by hand for the main case), prices by rounding
to the rule's step, neighbours from an independent geohash implementation."""

from __future__ import annotations

import datetime as dt
import math
import socket
import time
from decimal import Decimal

import pytest

from api_helpers import (
    FACTOR_NAMES,
    HEX32,
    assert_error,
    assert_factors_sum,
    contributions_e4,
    dec,
    e4,
    exact_json,
    geohash_encode,
    geohash_neighbours,
    metric,
    parse_metrics,
    round_price_cents,
)
from conftest import run_surge

COMPUTE = "/api/v1/pricing/compute"
EXPLAIN = "/api/v1/pricing/explain"
RULES = "/api/v1/admin/rules"
REGIONS = "/api/v1/admin/regions"
EXPERIMENTS = "/api/v1/admin/experiments"
CENTER = "dr5ru"  # the sample city's centre cell (40.7580, -73.9855)
RUSH_HOURS = (7, 8, 17, 18)  # the sample rules' time multiplier is 1.2 at these local hours
FLAT_HOURS = [1.0] * 24

# Inputs whose factors are worked out by hand below (rule defaults: k 6, threshold 0.5,
# weights .4 .3 .2 .1 .1, event coefficient 0.5, time multipliers all 1.0):
#   demand  x = 6 * (0.8 - 0.5) = 1.8; f = 2 / (1 + e^-1.8) - 1 = 0.716298; 0.4 f = 0.28652 -> 0.2865
#   supply  f = 2 / (1 + 5 / 10) - 1 = 0.333333;                           0.3 f = 0.1
#   time    f = 1.0 - 1 = 0;                                               0.2 f = 0
#   events  f = 0.4 * 0.5 = 0.2;                                           0.1 f = 0.02
#   weather f = 0.3;                                                       0.1 f = 0.03
#   surge_raw = 1 + 0.2865 + 0.1 + 0 + 0.02 + 0.03 = 1.4365 (inside [1, 3], so clip 0)
#   price = round_to(10 * 1.4365 = 14.365, 0.25) = 14.25
BUSY = {"demand_score": 0.8, "expected_demand": 10, "available_drivers": 5,
        "weather_severity": 0.3, "nearby_event_score": 0.4}
BUSY_FACTORS = {"demand": "0.2865", "supply": "0.1", "time_of_day": "0", "events": "0.02",
                "weather": "0.03"}


# ---------------------------------------------------------------- helpers

def compute(srv, expect=200, headers=None, **body):
    r = srv.post(COMPUTE, json=body, headers=headers)
    assert r.status_code == expect, r.text
    return r


def decision(srv, **body) -> dict:
    """A successful compute, parsed with exact decimals, with its invariants checked."""
    r = compute(srv, **body)
    assert r.headers["Content-Type"] == "application/json"
    d = exact_json(r)
    assert r.headers["X-Trace-Id"] == d["trace_id"]
    assert_factors_sum(d)
    return d


def create_rule(srv, region=CENTER, product="standard", base_price=10, **fields) -> dict:
    """A rule that takes effect now; the max-change guardrail is off unless asked for and the
    time multipliers are flat, so results do not depend on the hour or on earlier quotes."""
    body = {"region_id": region, "product_type": product, "base_price": base_price,
            "max_change_per_min": 0, "time_multipliers": FLAT_HOURS}
    body.update(fields)
    r = srv.admin("POST", RULES, json=body)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["status"] == "active"
    return rule


def put_features(srv, features, region=CENTER, **extra) -> dict:
    r = srv.admin("PUT", f"{REGIONS}/{region}/features", json={"features": features, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def put_controls(srv, region=CENTER, **controls) -> dict:
    r = srv.admin("PUT", f"{REGIONS}/{region}/controls", json=controls)
    assert r.status_code == 200, r.text
    return r.json()


def explain(srv, request_id) -> dict:
    r = srv.get(EXPLAIN, params={"request_id": request_id})
    assert r.status_code == 200, r.text
    return exact_json(r)


def expected_for(rule: dict, features: dict, hour: int) -> tuple[dict, int, int]:
    """(contributions e4, surge_raw e4, clip e4) for a rule and features, from DESIGN §7."""
    contrib = contributions_e4(rule, features, hour)
    raw = 10000 + sum(contrib.values())
    lo, hi = round(rule["min_multiplier"] * 10000), round(rule["max_multiplier"] * 10000)
    return contrib, raw, min(max(raw, lo), hi) - raw


def rfc3339_ms(text: str) -> int:
    t = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return round(t.timestamp() * 1000)


def metrics(srv) -> dict:
    r = srv.get("/metrics")
    assert r.status_code == 200
    return parse_metrics(r.text)


# ---------------------------------------------------------------- compute

def test_compute_with_neutral_inputs_prices_at_base_and_lists_every_fallback(surge_server):
    srv = surge_server()
    std = decision(srv, region_id=CENTER, product_type="standard", user_id="rider-1")
    # the sample rules are hour dependent; explain tells the local hour the price used
    hour = explain(srv, std["request_id"])["inputs"]["local_hour"]
    time_e4 = 400 if hour in RUSH_HOURS else 0  # 0.2 * (1.2 - 1)
    surge_e4 = 10000 + time_e4
    assert e4(std["surge_multiplier"]) == surge_e4
    assert dec(std["price"]) == Decimal(round_price_cents(1200, surge_e4, 25)) / 100
    if hour not in RUSH_HOURS:
        assert dec(std["price"]) == 12 and dec(std["surge_multiplier"]) == 1
    assert dec(std["base_price"]) == 12
    assert {k: e4(v) for k, v in std["factors"].items()} == {
        "demand": 0, "supply": 0, "time_of_day": time_e4, "events": 0, "weather": 0,
        "clip": 0, "guardrails": 0}
    assert std["fallback"] == ["forecast", "supply", "weather", "events"]
    assert std["guardrails"] == []
    assert dec(std["demand_score"]) == Decimal("0.5") and std["confidence"] == 0
    assert std["model_version"] == "none"
    assert std["region_id"] == CENTER and std["product_type"] == "standard"
    assert std["user_id"] == "rider-1"
    assert std["cached"] is False
    assert HEX32.match(std["request_id"]) and HEX32.match(std["trace_id"])
    # request ids sort by time: their first 12 hex digits are the decision's epoch ms
    assert int(std["request_id"][:12], 16) == rfc3339_ms(std["timestamp"])
    assert rfc3339_ms(std["valid_until"]) - rfc3339_ms(std["timestamp"]) == 120_000
    assert dec(std["latency_ms"]) >= 0

    # the same centre by coordinates: 40.7580,-73.9855 is in dr5ru
    assert geohash_encode(40.7580, -73.9855, 5) == CENTER
    by_location = decision(srv, lat=40.7580, lon=-73.9855, product_type="standard")
    assert by_location["region_id"] == CENTER
    assert by_location["price"] == std["price"]
    assert by_location["cached"] is True  # same region, product, rule and model
    assert by_location["user_id"] == ""
    assert by_location["request_id"] != std["request_id"]

    premium = decision(srv, lat=40.7580, lon=-73.9855, product_type="premium")
    assert dec(premium["base_price"]) == 20
    assert dec(premium["price"]) == Decimal(round_price_cents(2000, surge_e4, 25)) / 100
    if hour not in RUSH_HOURS:
        assert dec(premium["price"]) == 20
    assert premium["fallback"] == ["forecast", "supply", "weather", "events"]
    assert premium["rule_id"] != std["rule_id"]


def test_feature_override_gives_the_factors_of_design_section_7_and_is_cached(surge_server):
    srv = surge_server()
    rule = create_rule(srv)
    stored = put_features(srv, BUSY, ttl_s=300)
    assert stored["source"] == "override" and stored["features"] == BUSY
    assert rfc3339_ms(stored["expires_at"]) - rfc3339_ms(stored["written_at"]) == 300_000

    first = decision(srv, region_id=CENTER, product_type="standard")
    assert first["rule_id"] == rule["rule_id"]
    assert first["factors"] == {**{k: Decimal(v) for k, v in BUSY_FACTORS.items()},
                                "clip": 0, "guardrails": 0}
    contrib, raw, clip = expected_for(rule, BUSY, hour=0)
    assert {k: e4(first["factors"][k]) for k in FACTOR_NAMES} == contrib
    assert (raw, clip) == (14365, 0)
    assert first["surge_multiplier"] == Decimal("1.4365")
    # 10 * 1.4365 = 14.365 -> the nearest multiple of 0.25 is 14.25
    assert first["price"] == Decimal("14.25")
    assert dec(first["price"]) % Decimal("0.25") == 0
    assert first["fallback"] == []  # every priced input was given
    assert first["demand_score"] == Decimal("0.8") and first["confidence"] == 0
    assert first["guardrails"] == [] and first["cached"] is False

    second = decision(srv, region_id=CENTER, product_type="standard")
    assert second["cached"] is True
    for key in ("price", "surge_multiplier", "factors", "fallback", "rule_id", "guardrails"):
        assert second[key] == first[key]

    # a new override invalidates the cache and prices the new inputs
    calmer = dict(BUSY, demand_score=0.6)
    put_features(srv, calmer)
    third = decision(srv, region_id=CENTER, product_type="standard")
    assert third["cached"] is False
    contrib, raw, clip = expected_for(rule, calmer, hour=0)
    # x = 6 * 0.1 = 0.6; f = 2 / (1 + e^-0.6) - 1 = 0.291313; 0.4 f = 0.116525 -> 0.1165
    assert third["factors"]["demand"] == Decimal("0.1165") and contrib["demand"] == 1165
    assert {k: e4(third["factors"][k]) for k in FACTOR_NAMES} == contrib
    assert third["surge_multiplier"] == Decimal("1.2665")
    assert third["price"] == Decimal("12.75")  # 12.665 -> 12.75
    assert decision(srv, region_id=CENTER, product_type="standard")["cached"] is True


def test_multiplier_is_clipped_at_max_multiplier_with_the_exact_clip(surge_server):
    srv = surge_server()
    rule = create_rule(srv, max_multiplier=1.5)
    hot = {"demand_score": 1.0, "expected_demand": 10, "available_drivers": 0,
           "weather_severity": 1.0, "nearby_event_score": 1.0}
    put_features(srv, hot)
    d = decision(srv, region_id=CENTER, product_type="standard")
    contrib, raw, clip = expected_for(rule, hot, hour=0)
    # demand: f = 2 / (1 + e^-3) - 1 = 0.905148, 0.4 f -> 0.3621; supply: no drivers, f = 1 -> 0.3;
    # events 1 * 0.5 * 0.1 = 0.05; weather 0.1: raw 1.8121, clipped to 1.5: clip -0.3121
    assert contrib == {"demand": 3621, "supply": 3000, "time_of_day": 0, "events": 500,
                       "weather": 1000}
    assert (raw, clip) == (18121, -3121)
    assert {k: e4(d["factors"][k]) for k in FACTOR_NAMES} == contrib
    assert d["factors"]["clip"] == Decimal("-0.3121")
    assert d["factors"]["guardrails"] == 0
    assert d["surge_multiplier"] == Decimal("1.5")
    assert d["price"] == Decimal("15")

    # and at the bottom: low demand and plenty of drivers clip up to min_multiplier 1
    quiet = {"demand_score": 0.0, "expected_demand": 10, "available_drivers": 30}
    put_features(srv, quiet)
    low = decision(srv, region_id=CENTER, product_type="standard")
    contrib, raw, clip = expected_for(rule, quiet, hour=0)
    assert raw < 10000 and clip == 10000 - raw
    assert e4(low["factors"]["clip"]) == clip
    assert low["surge_multiplier"] == 1 and low["price"] == 10
    assert low["fallback"] == ["weather", "events"]


def test_guardrails_emergency_cap_freeze_and_clearing(surge_server):
    srv = surge_server()
    create_rule(srv)
    put_features(srv, BUSY)
    assert decision(srv, region_id=CENTER, product_type="standard")["surge_multiplier"] == \
        Decimal("1.4365")

    controls = put_controls(srv, emergency_cap=1.2, reason="storm", updated_by="ops")
    assert controls["emergency_cap"] == 1.2 and controls["frozen"] is False
    assert controls["frozen_multiplier"] is None and controls["reason"] == "storm"
    capped = decision(srv, region_id=CENTER, product_type="standard")
    assert capped["cached"] is False  # a control change drops cached prices
    assert capped["guardrails"] == [
        {"name": "emergency_cap", "adjustment": Decimal("-0.2365"), "cap": Decimal("1.2")}]
    assert capped["factors"]["guardrails"] == Decimal("-0.2365")
    assert capped["factors"]["clip"] == 0
    assert capped["surge_multiplier"] == Decimal("1.2") and capped["price"] == 12
    assert explain(srv, capped["request_id"])["reproduced"] is True

    put_controls(srv, frozen=True, frozen_multiplier=1.3)
    frozen = decision(srv, region_id=CENTER, product_type="standard")
    assert frozen["guardrails"] == [
        {"name": "freeze", "adjustment": Decimal("-0.1365"), "frozen_multiplier": Decimal("1.3")}]
    assert frozen["surge_multiplier"] == Decimal("1.3") and frozen["price"] == 13

    # the cap acts after the freeze, so it wins over a higher frozen multiplier
    put_controls(srv, frozen=True, frozen_multiplier=2.0, emergency_cap=1.5)
    both = decision(srv, region_id=CENTER, product_type="standard")
    assert both["guardrails"] == [
        {"name": "freeze", "adjustment": Decimal("0.5635"), "frozen_multiplier": 2},
        {"name": "emergency_cap", "adjustment": Decimal("-0.5"), "cap": Decimal("1.5")}]
    assert both["factors"]["guardrails"] == Decimal("0.0635")
    assert both["surge_multiplier"] == Decimal("1.5") and both["price"] == 15
    assert explain(srv, both["request_id"])["reproduced"] is True

    r = srv.admin("DELETE", f"{REGIONS}/{CENTER}/controls")
    assert r.status_code == 204 and r.content == b""
    cleared = srv.admin("GET", f"{REGIONS}/{CENTER}/controls").json()
    assert cleared["emergency_cap"] is None and cleared["frozen"] is False
    assert cleared["frozen_multiplier"] is None
    restored = decision(srv, region_id=CENTER, product_type="standard")
    assert restored["guardrails"] == [] and restored["factors"]["guardrails"] == 0
    assert restored["surge_multiplier"] == Decimal("1.4365") and restored["price"] == Decimal("14.25")

    # a freeze without a multiplier holds the last quoted one while the inputs move
    put_controls(srv, frozen=True)
    put_features(srv, dict(BUSY, demand_score=0.6))  # would be 1.2665
    held = decision(srv, region_id=CENTER, product_type="standard")
    assert held["guardrails"] == [
        {"name": "freeze", "adjustment": Decimal("0.17"), "frozen_multiplier": Decimal("1.4365")}]
    assert held["surge_multiplier"] == Decimal("1.4365")

    # frozen_multiplier needs "frozen": true
    r = srv.admin("PUT", f"{REGIONS}/{CENTER}/controls", json={"frozen_multiplier": 1.3})
    assert_error(r, 422, "invalid_argument", "frozen_multiplier")
    assert_error(srv.admin("PUT", f"{REGIONS}/{CENTER}/controls", json={"emergency_cap": 0}),
                 422, "invalid_argument", "emergency_cap")
    assert_error(srv.admin("GET", f"{REGIONS}/zzzzz/controls"), 404, "not_found", "region_id")

    m = metrics(srv)
    assert metric(m, "surge_guardrail_actions_total", guardrail="emergency_cap") == 2
    assert metric(m, "surge_guardrail_actions_total", guardrail="freeze") == 3
    assert metric(m, "surge_guardrail_actions_total", guardrail="max_change") == 0


def test_max_change_guardrail_limits_the_move_from_the_previous_quote(surge_server):
    srv = surge_server()
    create_rule(srv, max_change_per_min=0.5)
    first = decision(srv, region_id=CENTER, product_type="standard")
    assert first["surge_multiplier"] == 1
    time.sleep(0.3)  # so that the allowed move, 0.5 per minute, is well above 0.0001
    put_features(srv, BUSY)
    d = decision(srv, region_id=CENTER, product_type="standard")
    assert len(d["guardrails"]) == 1
    g = d["guardrails"][0]
    assert g["name"] == "max_change" and g["previous_multiplier"] == 1
    assert g["limit_per_min"] == Decimal("0.5")
    # allowed move = round(0.5 * age_ms / 60000, 4 places), far below 0.4365 within seconds
    allowed = dec(d["surge_multiplier"]) - 1
    assert Decimal(0) < allowed < Decimal("0.05")
    assert dec(g["adjustment"]) == dec(d["surge_multiplier"]) - Decimal("1.4365")
    assert explain(srv, d["request_id"])["reproduced"] is True


# ---------------------------------------------------------------- explain

def test_explain_rebuilds_the_decision_from_the_audit(surge_server):
    srv = surge_server()
    rule = create_rule(srv)
    put_features(srv, BUSY)
    d = decision(srv, region_id=CENTER, product_type="standard", user_id="rider-7")
    ex = explain(srv, d["request_id"])  # at once: explain flushes the audit queue first
    assert ex["reproduced"] is True
    for key, value in d.items():
        assert ex[key] == value, key
    assert set(ex) - set(d) == {"reproduced", "inputs", "breakdown", "surge_raw", "rule"}
    inputs = ex["inputs"]
    assert inputs["demand_score"] == Decimal("0.8") and inputs["expected_demand"] == 10
    assert inputs["available_supply"] == 5 and inputs["weather_severity"] == Decimal("0.3")
    assert inputs["event_score"] == Decimal("0.4")
    assert 0 <= inputs["local_hour"] <= 23 and inputs["features_ts"] is not None
    assert [b["factor"] for b in ex["breakdown"]] == list(FACTOR_NAMES)
    for b in ex["breakdown"]:
        assert b["contribution"] == d["factors"][b["factor"]]
        assert b["weight"] == Decimal(str(rule["weights"][b["factor"]]))
    assert ex["breakdown"][0]["value"] == Decimal("0.716298")  # 2 / (1 + e^-1.8) - 1
    assert ex["surge_raw"] == Decimal("1.4365")
    assert ex["rule"]["rule_id"] == rule["rule_id"] and "status" not in ex["rule"]

    cached = decision(srv, region_id=CENTER, product_type="standard")
    assert cached["cached"] is True
    ex2 = explain(srv, cached["request_id"])
    assert ex2["cached"] is True and ex2["reproduced"] is True and ex2["price"] == d["price"]

    unknown = srv.get(EXPLAIN, params={"request_id": "0" * 32})
    assert_error(unknown, 404, "not_found", "request_id")
    for bad in ("xyz", d["request_id"].upper(), d["request_id"][:31], d["request_id"] + "0", ""):
        assert_error(srv.get(EXPLAIN, params={"request_id": bad}), 422, "invalid_argument",
                     "request_id")
    assert_error(srv.get(EXPLAIN), 422, "invalid_argument", "request_id")


# ---------------------------------------------------------------- rules

def test_rules_are_versioned_by_effective_date(surge_server):
    srv = surge_server()
    listed = srv.admin("GET", RULES, params={"region_id": CENTER, "product_type": "standard"})
    assert listed.status_code == 200
    (sample,) = listed.json()["rules"]
    assert sample["status"] == "active" and listed.json()["count"] == 1
    assert decision(srv, region_id=CENTER, product_type="standard")["rule_id"] == sample["rule_id"]

    effective_ms = int((time.time() + 2.0) * 1000)
    effective = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(effective_ms // 1000)) + \
        f".{effective_ms % 1000:03d}Z"
    r = srv.admin("POST", RULES, json={
        "region_id": CENTER, "product_type": "standard", "base_price": 15,
        "effective_date": effective,
        "max_change_per_min": 0, "time_multipliers": FLAT_HOURS})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["status"] == "scheduled" and new["base_price"] == 15
    assert new["effective_date"] == effective
    assert decision(srv, region_id=CENTER, product_type="standard")["rule_id"] == sample["rule_id"]

    time.sleep(max(0.0, effective_ms / 1000 - time.time()) + 0.2)
    now = decision(srv, region_id=CENTER, product_type="standard")
    assert now["rule_id"] == new["rule_id"]
    assert now["base_price"] == 15 and now["price"] == 15
    statuses = {rule["rule_id"]: rule["status"] for rule in srv.admin(
        "GET", RULES, params={"region_id": CENTER, "product_type": "standard"}).json()["rules"]}
    assert statuses == {sample["rule_id"]: "superseded", new["rule_id"]: "active"}
    assert srv.admin("GET", f"{RULES}/{sample['rule_id']}").json()["status"] == "superseded"

    # rules that took effect are kept for explain
    assert_error(srv.admin("DELETE", f"{RULES}/{new['rule_id']}"), 409, "conflict", "rule_id")
    assert_error(srv.admin("DELETE", f"{RULES}/{sample['rule_id']}"), 409, "conflict", "rule_id")
    # a scheduled one can go
    later = srv.admin("POST", RULES, json={"region_id": CENTER, "product_type": "standard",
                                           "base_price": 99, "effective_date":
                                           int((time.time() + 3600) * 1000)}).json()
    assert later["status"] == "scheduled"
    assert srv.admin("DELETE", f"{RULES}/{later['rule_id']}").status_code == 204
    assert_error(srv.admin("GET", f"{RULES}/{later['rule_id']}"), 404, "not_found", "rule_id")
    assert_error(srv.admin("DELETE", f"{RULES}/{later['rule_id']}"), 404, "not_found", "rule_id")
    assert_error(srv.admin("GET", f"{RULES}/abc"), 422, "invalid_argument", "rule_id")
    assert_error(srv.admin("GET", f"{RULES}/0"), 422, "invalid_argument", "rule_id")

    # rules are never changed retroactively
    past = srv.admin("POST", RULES, json={"region_id": CENTER, "product_type": "standard",
                                          "base_price": 10,
                                          "effective_date": "2020-01-01T00:00:00Z"})
    assert_error(past, 422, "invalid_argument", "effective_date", "past")
    for body, field in (
            ({"region_id": CENTER, "product_type": "standard", "base_price": 10.005}, "base_price"),
            ({"region_id": CENTER, "product_type": "standard", "base_price": 0}, "base_price"),
            ({"region_id": CENTER, "product_type": "standard"}, "base_price"),
            ({"region_id": CENTER, "product_type": "standard", "base_price": 10,
              "min_multiplier": 2, "max_multiplier": 1.5}, "max_multiplier"),
            ({"region_id": CENTER, "product_type": "standard", "base_price": 10,
              "weights": {"demand": 11}}, "weights.demand"),
            ({"region_id": CENTER, "product_type": "standard", "base_price": 10,
              "weights": {"surge": 1}}, "weights.surge"),
            ({"region_id": CENTER, "product_type": "standard", "base_price": 10,
              "time_multipliers": [1.0] * 23}, "time_multipliers"),
            ({"region_id": "zzzzz", "product_type": "standard", "base_price": 10}, "region_id"),
            ({"region_id": CENTER, "product_type": "helicopter", "base_price": 10},
             "product_type"),
            ({"region_id": CENTER, "product_type": "standard", "base_price": 10, "id": 1}, "id")):
        assert_error(srv.admin("POST", RULES, json=body), 422, "invalid_argument", field)
    assert len(srv.admin("GET", RULES, params={"region_id": CENTER}).json()["rules"]) == 3


# ---------------------------------------------------------------- regions and experiments

def test_regions_crud(surge_server):
    srv = surge_server()
    assert srv.admin("GET", REGIONS).json()["count"] == 64
    body = {"region_id": "u4pru", "name": "Aalborg", "timezone": "Europe/Copenhagen",
            "products": ["standard"]}
    r = srv.admin("POST", REGIONS, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in body} == body
    assert created["neighbours"] == geohash_neighbours("u4pru") == [
        "u4r2h", "u4r2j", "u4prv", "u4prt", "u4prs", "u4pre", "u4prg", "u4r25"]
    assert created["center"] == {"lat": 57.634277, "lon": 10.393066}  # the cell's centre, 6 dp
    assert created["created_at"] == created["updated_at"]

    assert_error(srv.admin("POST", REGIONS, json=body), 409, "conflict", "region_id")
    assert srv.admin("GET", f"{REGIONS}/u4pru").json() == created
    assert srv.admin("GET", REGIONS).json()["count"] == 65

    # no rule covers it yet
    assert_error(srv.post(COMPUTE, json={"region_id": "u4pru", "product_type": "standard"}),
                 422, "invalid_argument", "product_type", "no pricing rule")
    create_rule(srv, region="u4pru", base_price=8)
    assert decision(srv, region_id="u4pru", product_type="standard")["price"] == 8

    put = srv.admin("PUT", f"{REGIONS}/u4pru", json={"name": "Aalborg C",
                                                     "timezone": "Europe/Copenhagen",
                                                     "products": ["standard", "premium"]})
    assert put.status_code == 200, put.text
    changed = put.json()
    assert changed["name"] == "Aalborg C" and changed["products"] == ["standard", "premium"]
    assert changed["created_at"] == created["created_at"]
    assert rfc3339_ms(changed["updated_at"]) >= rfc3339_ms(created["updated_at"])
    assert srv.admin("GET", f"{REGIONS}/u4pru").json() == changed

    for bad, field in (({"region_id": "u4pr", "name": "x", "products": ["a"]}, "region_id"),
                       ({"region_id": "u4pra", "name": "x", "products": ["a"]}, "region_id"),
                       ({"region_id": "u4prv", "products": ["a"]}, "name"),
                       ({"region_id": "u4prv", "name": "x", "products": []}, "products"),
                       ({"region_id": "u4prv", "name": "x", "products": ["A"]}, "products"),
                       ({"region_id": "u4prv", "name": "x", "products": ["a", "a"]}, "products"),
                       ({"region_id": "u4prv", "name": "x", "products": ["a"],
                         "timezone": "Mars/Olympus"}, "timezone"),
                       ({"region_id": "u4prv", "name": "x", "products": ["a"], "size": 1},
                        "size")):
        assert_error(srv.admin("POST", REGIONS, json=bad), 422, "invalid_argument", field)
    assert_error(srv.admin("PUT", f"{REGIONS}/u4pru", json={"region_id": "u4prv", "name": "x",
                                                            "products": ["a"]}),
                 422, "invalid_argument", "region_id")

    r = srv.admin("DELETE", f"{REGIONS}/u4pru")
    assert r.status_code == 204 and r.content == b""
    assert_error(srv.admin("GET", f"{REGIONS}/u4pru"), 404, "not_found", "region_id")
    assert_error(srv.admin("DELETE", f"{REGIONS}/u4pru"), 404, "not_found", "region_id")
    assert_error(srv.post(COMPUTE, json={"region_id": "u4pru", "product_type": "standard"}),
                 404, "not_found", "region_id")
    assert srv.admin("GET", REGIONS).json()["count"] == 64


def test_experiments_crud_and_validation(surge_server):
    srv = surge_server()
    rule_id = srv.admin("GET", RULES).json()["rules"][0]["rule_id"]
    body = {"experiment_id": "cap-test", "name": "Lower cap",
            "variants": [{"name": "control"}, {"name": "capped", "rule_id": rule_id,
                                               "description": "max 2.0"}],
            "traffic_split": {"control": 90, "capped": 10}}
    r = srv.admin("POST", EXPERIMENTS, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "draft"
    assert created["variants"] == body["variants"]
    assert created["traffic_split"] == body["traffic_split"]
    assert_error(srv.admin("POST", EXPERIMENTS, json=body), 409, "conflict", "experiment_id")
    assert srv.admin("GET", f"{EXPERIMENTS}/cap-test").json() == created

    def bad(change, field, message=None):
        assert_error(srv.admin("POST", EXPERIMENTS, json={**body, "experiment_id": "x2",
                                                          **change}),
                     422, "invalid_argument", field, message)

    bad({"traffic_split": {"control": 50, "capped": 40}}, "traffic_split", "add up to 90")
    bad({"traffic_split": {"control": 50, "capped": 60}}, "traffic_split", "add up to 110")
    bad({"traffic_split": {"control": 100}}, "traffic_split")
    bad({"traffic_split": {"control": 50, "other": 50}}, "traffic_split")
    bad({"traffic_split": {"control": 150, "capped": -50}}, "traffic_split")
    bad({"variants": [{"name": "control"}]}, "variants")
    bad({"variants": [{"name": "a"}, {"name": "a"}], "traffic_split": {"a": 100}}, "variants")
    bad({"variants": [{"name": "control"}, {"name": "capped", "rule_id": 999999}]}, "variants")
    bad({"status": "paused"}, "status")
    bad({"experiment_id": "bad id"}, "experiment_id")
    bad({"name": ""}, "name")

    put = srv.admin("PUT", f"{EXPERIMENTS}/cap-test",
                    json={"name": "Lower cap", "status": "running",
                          "variants": [{"name": "a"}, {"name": "b"}],
                          "traffic_split": {"a": 50, "b": 50}})
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "running" and put.json()["created_at"] == created["created_at"]
    assert_error(srv.admin("PUT", f"{EXPERIMENTS}/nope", json={
        "name": "x", "variants": [{"name": "a"}, {"name": "b"}],
        "traffic_split": {"a": 50, "b": 50}}), 404, "not_found", "experiment_id")
    listed = srv.admin("GET", EXPERIMENTS).json()
    assert listed["count"] == 1 and listed["experiments"] == [put.json()]
    assert srv.admin("DELETE", f"{EXPERIMENTS}/cap-test").status_code == 204
    assert_error(srv.admin("GET", f"{EXPERIMENTS}/cap-test"), 404, "not_found", "experiment_id")
    assert srv.admin("GET", EXPERIMENTS).json() == {"experiments": [], "count": 0}


# ---------------------------------------------------------------- auth

def test_admin_needs_the_bearer_token(surge_server):
    srv = surge_server()
    for headers in ({}, {"Authorization": "Bearer wrong-token"},
                    {"Authorization": f"Bearer {srv.token}x"},
                    {"Authorization": f"Bearer {srv.token[:-1]}"},
                    {"Authorization": "Basic dGVzdDp0ZXN0"}, {"Authorization": srv.token}):
        r = srv.get(REGIONS, headers=headers)
        assert_error(r, 401, "unauthorized", None)
        assert r.headers["WWW-Authenticate"] == "Bearer"
    r = srv.post(RULES, json={"region_id": CENTER, "product_type": "standard", "base_price": 1})
    assert_error(r, 401, "unauthorized", None)
    assert srv.admin("GET", RULES, params={"region_id": CENTER}).json()["count"] == 2  # unchanged
    # the scheme is case-insensitive
    ok = srv.get(REGIONS, headers={"Authorization": f"bearer {srv.token}"})
    assert ok.status_code == 200
    # public endpoints need no token
    assert srv.get("/healthz").status_code == 200
    assert compute(srv, region_id=CENTER, product_type="standard").status_code == 200


# ---------------------------------------------------------------- bad input

def raw_http(srv, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes on a fresh connection and returns what the server answers (b"" when it
    closes without answering)."""
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_bad_input_matrix_is_rejected_precisely_and_changes_nothing(surge_server):
    srv = surge_server(config={"http.max_body_bytes": 1024, "http.max_header_bytes": 2048})
    ok = {"region_id": CENTER, "product_type": "standard"}
    before = decision(srv, **ok)
    regions_before = srv.admin("GET", REGIONS).json()
    rules_before = srv.admin("GET", RULES).json()
    json_headers = {"Content-Type": "application/json"}

    def post_raw(data, headers=json_headers):
        return srv.request("POST", COMPUTE, data=data, headers=headers)

    err = assert_error(post_raw(b'{"region_id": '), 400, "malformed", None)
    assert "line 1" in err["message"]
    assert_error(post_raw(b""), 400, "malformed", None)
    assert_error(post_raw(b"[1, 2]"), 400, "malformed", None)
    assert_error(post_raw(b'"dr5ru"'), 400, "malformed", None)
    assert_error(post_raw(b'{"region_id": "dr5ru", "region_id": "dr5ru", '
                          b'"product_type": "standard"}'), 400, "malformed", None)

    cases = [
        ({"region_id": 5, "product_type": "standard"}, 422, "region_id", "must be a string"),
        ({"region_id": CENTER, "product_type": 7}, 422, "product_type", "must be a string"),
        ({"region_id": CENTER, "product_type": "standard", "user_id": True}, 422, "user_id",
         None),
        ({"lat": "40.7", "lon": -73.9, "product_type": "standard"}, 422, "lat", "number"),
        ({"region_id": CENTER, "product_type": "standard", "coupon": "x"}, 422, "coupon",
         "unknown field"),
        ({"region_id": CENTER}, 422, "product_type", "required"),
        ({"region_id": CENTER, "product_type": ""}, 422, "product_type", None),
        ({"region_id": "zzzzz", "product_type": "standard"}, 404, "region_id", None),
        ({"region_id": CENTER, "product_type": "helicopter"}, 422, "product_type",
         "does not sell"),
        ({"lat": 91, "lon": 0, "product_type": "standard"}, 422, "lat", "out of range"),
        ({"lat": 0, "lon": -180.5, "product_type": "standard"}, 422, "lon", "out of range"),
        ({"region_id": CENTER, "lat": 40.758, "lon": -73.9855, "product_type": "standard"}, 422,
         "region_id", "not both"),
        ({"lat": 40.758, "product_type": "standard"}, 422, "lon", "required"),
        ({"product_type": "standard"}, 422, "region_id", "required"),
        ({"region_id": "dr5ra", "product_type": "standard"}, 422, "region_id", "geohash"),
        ({"region_id": CENTER, "product_type": "standard", "user_id": "u" * 65}, 422, "user_id",
         "longer than 64"),
    ]
    for body, status, field, message in cases:
        code = "not_found" if status == 404 else "invalid_argument"
        assert_error(srv.post(COMPUTE, json=body), status, code, field, message)

    # bodies larger than http.max_body_bytes: announced by Content-Length, or chunked
    big = {"region_id": CENTER, "product_type": "standard", "user_id": "x" * 2000}
    assert_error(srv.post(COMPUTE, json=big), 413, "too_large", None, "1024")

    def chunks():
        yield b'{"region_id": "dr5ru", "product_type": "standard", "user_id": "'
        yield b"x" * 3000
        yield b'"}'
    assert_error(post_raw(chunks()), 413, "too_large", None)

    # request headers larger than http.max_header_bytes: surge's JSON 431
    answer = raw_http(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 3000 +
                      b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b"X-Trace-Id" in answer and b'"code":"headers_too_large"' in answer
    # far larger than libmicrohttpd's memory for the connection (limit + 4 KiB): its own 431
    answer = raw_http(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 8000 +
                      b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b"Connection: close" in answer
    # and a request line longer than that, 414
    answer = raw_http(srv, b"GET /healthz?" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:100]
    # an encoded NUL does not cut a path parameter short: dr5ru%00xyz is not dr5ru
    r = srv.admin("DELETE", "/api/v1/admin/regions/dr5ru%00xyz")
    assert r.status_code == 404, r.text
    assert srv.admin("GET", "/api/v1/admin/regions/dr5ru").status_code == 200

    r = srv.get(COMPUTE)
    assert_error(r, 405, "method_not_allowed", None)
    assert r.headers["Allow"] == "POST"
    r = srv.request("DELETE", RULES, headers={"Authorization": f"Bearer {srv.token}"})
    assert_error(r, 405, "method_not_allowed", None)
    assert r.headers["Allow"] == "GET, POST"
    r = srv.request("PATCH", f"{REGIONS}/{CENTER}")  # 405 comes before authentication
    assert_error(r, 405, "method_not_allowed", None)
    assert r.headers["Allow"] == "GET, PUT, DELETE"

    assert_error(post_raw(b'{"region_id": "dr5ru", "product_type": "standard"}',
                          {"Content-Type": "text/plain"}), 415, "unsupported_media_type", None)
    assert_error(post_raw(b'{"region_id": "dr5ru", "product_type": "standard"}', {}), 415,
                 "unsupported_media_type", None)
    assert_error(post_raw(b'{"region_id": "dr5ru", "product_type": "standard"}',
                          {"Content-Type": "application/jsonx"}), 415,
                 "unsupported_media_type", None)
    assert post_raw(b'{"region_id": "dr5ru", "product_type": "standard"}',
                    {"Content-Type": "application/json; charset=utf-8"}).status_code == 200

    assert_error(srv.get("/api/v1/nope"), 404, "not_found", None, "no such endpoint")
    assert_error(srv.post(COMPUTE + "/", json=ok), 404, "not_found", None)
    assert_error(srv.get("/api/v1/features/zzzzz"), 404, "not_found", "region_id")
    assert_error(srv.get("/api/v1/features/dr5ra"), 422, "invalid_argument", "region_id")

    # still alive, ready, and answering exactly as before: nothing above changed any state
    assert srv.running
    assert srv.get("/readyz").status_code == 200
    after = decision(srv, **ok)
    for key in ("price", "base_price", "surge_multiplier", "factors", "guardrails", "fallback",
                "rule_id", "demand_score", "confidence", "model_version"):
        assert after[key] == before[key], key
    assert srv.admin("GET", REGIONS).json() == regions_before
    assert srv.admin("GET", RULES).json() == rules_before


def test_headers_just_under_the_limit_get_an_answer(surge_server):
    srv = surge_server(config={"http.max_header_bytes": 2048})
    silent = []
    for n in range(1500, 2100, 20):
        answer = raw_http(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          b"X-Big: " + b"y" * n + b"\r\n\r\n")
        if not answer.startswith(b"HTTP/1.1 "):
            silent.append(n)
        # surge's own limit: 2048 bytes of request line and headers, JSON error beyond it
        # method + path + 12, then name + value + 4 per header (how the server counts)
        size = (3 + 8 + 12) + (4 + 1 + 4) + (10 + 5 + 4) + (5 + n + 4)
        expected = b"HTTP/1.1 431 " if size > 2048 else b"HTTP/1.1 200 "
        assert answer.startswith(expected), (n, answer[:80])
    assert silent == []


# ---------------------------------------------------------------- rate limits

def test_rate_limit_per_user_answers_429_with_retry_after(surge_server):
    srv = surge_server(config={"ratelimit.user_per_min": 3})
    t0 = time.monotonic()
    for _ in range(3):
        compute(srv, region_id=CENTER, product_type="standard", user_id="alice")
    r = srv.post(COMPUTE, json={"region_id": CENTER, "product_type": "standard",
                                "user_id": "alice"})
    elapsed = time.monotonic() - t0
    assert_error(r, 429, "rate_limited", None, "user_id")
    retry_after = int(r.headers["Retry-After"])
    # 3 per minute refills one token in 20 s; what the bucket refilled meanwhile is deducted
    assert max(1, math.ceil(20 - elapsed)) <= retry_after <= 20
    assert compute(srv, region_id=CENTER, product_type="standard", user_id="bob").status_code \
        == 200
    assert compute(srv, region_id=CENTER, product_type="standard").status_code == 200  # no user
    m = metrics(srv)
    assert metric(m, "surge_rate_limited_total", scope="user") == 1
    assert metric(m, "surge_rate_limited_total", scope="ip") == 0
    assert metric(m, "surge_rate_limited_total", scope="global") == 0
    assert metric(m, "surge_http_requests_total", route=COMPUTE, method="POST",
                  status="429") == 1
    assert metric(m, "surge_pricing_decisions_total") == 5  # the refused one was not priced


def test_rate_limit_per_ip(surge_server):
    srv = surge_server(config={"ratelimit.ip_per_min": 2})
    for user in ("a", "b"):
        compute(srv, region_id=CENTER, product_type="standard", user_id=user)
    r = srv.post(COMPUTE, json={"region_id": CENTER, "product_type": "standard",
                                "user_id": "c"})
    assert_error(r, 429, "rate_limited", None, "client IP")
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    assert metric(metrics(srv), "surge_rate_limited_total", scope="ip") == 1
    # only pricing is rate limited
    assert srv.admin("GET", REGIONS).status_code == 200


# ---------------------------------------------------------------- trace ids

def test_trace_ids_follow_w3c_traceparent(surge_server):
    srv = surge_server()
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    tp = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    r = compute(srv, headers=tp, region_id=CENTER, product_type="standard")
    assert r.json()["trace_id"] == trace and r.headers["X-Trace-Id"] == trace
    request_id = r.json()["request_id"]
    # errors carry it too, in the body and the header
    err = assert_error(srv.post(COMPUTE, json={"region_id": CENTER}, headers=tp), 422,
                       "invalid_argument", "product_type")
    assert err["trace_id"] == trace
    assert srv.get("/healthz", headers=tp).headers["X-Trace-Id"] == trace
    # the audit keeps the decision's trace id; explain itself runs under its own
    ex = srv.get(EXPLAIN, params={"request_id": request_id})
    assert ex.json()["trace_id"] == trace and ex.headers["X-Trace-Id"] != trace

    # a later version may append fields after the flags
    later = f"01-{trace}-00f067aa0ba902b7-01-what-comes-next"
    assert srv.get("/healthz", headers={"traceparent": later}).headers["X-Trace-Id"] == trace

    seen = {trace}
    for bad in ("garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01",
                f"ff-{trace}-00f067aa0ba902b7-01", f"00-{trace.upper()}-00f067aa0ba902b7-01",
                f"00-{trace[:31]}-00f067aa0ba902b7-01", f"00_{trace}_00f067aa0ba902b7_01",
                f"00-{trace}-{'0' * 16}-01",  # all-zero parent id
                f"00-{trace}-00f067aa0ba902bz-01",  # parent id not hex
                f"00-{trace}-00f067aa0ba902b7-0g",  # flags not hex
                f"00-{trace}-00f067aa0ba902b7-01-extra",  # version 00 has exactly 4 fields
                f"01-{trace}-00f067aa0ba902b7-01x",
                ""):
        r = compute(srv, headers={"traceparent": bad}, region_id=CENTER,
                    product_type="standard")
        fresh = r.json()["trace_id"]
        assert HEX32.match(fresh) and r.headers["X-Trace-Id"] == fresh, bad
        assert fresh not in seen, bad
        seen.add(fresh)
    plain = [compute(srv, region_id=CENTER, product_type="standard").json()["trace_id"]
             for _ in range(2)]
    assert HEX32.match(plain[0]) and plain[0] != plain[1]


# ---------------------------------------------------------------- health, readiness, metrics

def test_healthz_readyz_and_index(surge_server, tmp_path):
    srv = surge_server()
    r = srv.get("/healthz")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert HEX32.match(r.headers["X-Trace-Id"])
    health = r.json()
    assert health["status"] == "ok"
    assert run_surge("version").stdout.split()[1] == health["version"]
    r = srv.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready",
                        "checks": {"server": "ok", "db": "ok", "audit_queue_depth": 0}}
    r = srv.get("/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<title>surge" in r.text and "/assets/app.js" in r.text  # the portal
    assert srv.request("HEAD", "/healthz").status_code == 200


def test_metrics_count_requests_latency_cache_and_audit(surge_server):
    srv = surge_server()
    for _ in range(3):
        compute(srv, region_id=CENTER, product_type="standard")  # 1 miss, then 2 hits
    compute(srv, region_id=CENTER, product_type="premium")  # another miss
    compute(srv, 422, region_id=CENTER, product_type="helicopter")
    r = srv.get("/metrics")
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    m = parse_metrics(r.text)
    route = {"route": COMPUTE, "method": "POST"}
    assert metric(m, "surge_http_requests_total", status="200", **route) == 4
    assert metric(m, "surge_http_requests_total", status="422", **route) == 1
    assert metric(m, "surge_http_request_duration_seconds_count", **route) == 5
    assert metric(m, "surge_http_request_duration_seconds_sum", **route) > 0
    buckets = [(le, v) for (name, labels), v in m.items()
               if name == "surge_http_request_duration_seconds_bucket"
               and ("route", COMPUTE) in labels for (k, le) in labels if k == "le"]
    values = [v for le, v in sorted(buckets, key=lambda b: float(b[0]))]
    assert len(values) == 14 and values == sorted(values) and values[-1] == 5
    assert dict(buckets)["+Inf"] == 5
    assert metric(m, "surge_price_cache_misses_total") == 2
    assert metric(m, "surge_price_cache_hits_total") == 2
    assert metric(m, "surge_price_cache_entries") == 2
    assert metric(m, "surge_pricing_decisions_total") == 4
    assert metric(m, "surge_pricing_fallback_total", input="forecast") == 2  # computed ones
    assert metric(m, "surge_audit_queue_depth") is not None
    assert metric(m, "surge_audit_queue_depth") >= 0
    assert metric(m, "surge_build_info", version=srv.get("/healthz").json()["version"]) == 1
    assert 'surge_http_requests_total{route="/metrics",method="GET",status="200"}' not in r.text
    assert metric(parse_metrics(srv.get("/metrics").text), "surge_http_requests_total",
                  route="/metrics", method="GET", status="200") == 1


# ---------------------------------------------------------------- audit durability

def test_decisions_flushed_before_a_crash_survive_it(surge_server):
    config = {"audit.flush_ms": 20}
    srv = surge_server(config=config)
    products = ("standard", "premium")
    answers = {}
    for i in range(200):
        d = compute(srv, region_id=CENTER if i % 3 else "dr5rv", product_type=products[i % 2],
                    user_id=f"rider-{i}").json()
        answers[d["request_id"]] = d
    assert len(answers) == 200
    time.sleep(0.020 + 1.0)  # audit.flush_ms plus a margin for the SQLite commit
    written = metric(metrics(srv), "surge_audit_written_total")
    assert written == 200, f"only {written} of 200 decisions were committed before the crash"
    srv.kill9()

    again = surge_server(data_dir=srv.data_dir, config=config)
    for request_id, d in answers.items():
        r = again.get(EXPLAIN, params={"request_id": request_id})
        assert r.status_code == 200, (request_id, r.text)
        ex = r.json()
        assert ex["reproduced"] is True
        for key in ("price", "surge_multiplier", "factors", "rule_id", "user_id", "trace_id",
                    "timestamp", "region_id", "product_type"):
            assert ex[key] == d[key], (request_id, key)


def test_a_repeated_query_parameter_is_refused(surge_server):
    """Handlers read a parameter's first value: ?limit=1&limit=x must not pass as ?limit=1."""
    srv = surge_server()
    r = srv.admin("GET", "/api/v1/admin/actions?limit=1&limit=x")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "limit"
    assert r.json()["error"]["message"] == (
        "query parameter 'limit' is given more than once; give it once")
    assert srv.admin("GET", "/api/v1/admin/actions?limit=1").status_code == 200
