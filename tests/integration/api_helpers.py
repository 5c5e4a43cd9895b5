"""Helpers for the API integration tests: exact JSON decimals, an independent replica of the
pricing formula of DESIGN §7, geohash neighbours, Prometheus text parsing and error checks.

The formula replica is written from DESIGN §7, not from the C code, and uses the same IEEE
double arithmetic (Python floats are C doubles, math.exp is the C library's exp), so every
contribution it predicts must match the server to the last of its 4 decimals."""

from __future__ import annotations

import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal

import requests

FACTOR_NAMES = ("demand", "supply", "time_of_day", "events", "weather")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------- JSON with exact decimals

def exact_json(resp: requests.Response):
    """The body parsed with every non-integer number as a Decimal of its exact text."""
    return json.loads(resp.text, parse_float=Decimal)


def dec(value) -> Decimal:
    """A Decimal of a JSON number read by exact_json (ints stay ints there)."""
    return value if isinstance(value, Decimal) else Decimal(value)


# ---------------------------------------------------------------- the formula (DESIGN §7)

def c_llround(x: float) -> int:
    """C's llround: to the nearest integer, halves away from zero (on the exact double)."""
    return int(Decimal(x).to_integral_value(rounding=ROUND_HALF_UP))


def contributions_e4(rule: dict, features: dict, local_hour: int) -> dict:
    """The contributions w_i * f_i in units of 1e-4, from a rule (as the admin API shows it)
    and the overridden features. Missing supply inputs mean a supply factor of 0."""
    x = rule["demand_k"] * (features.get("demand_score", 0.5) - rule["demand_threshold"])
    f = {"demand": 2.0 / (1.0 + math.exp(-x)) - 1.0}
    if "expected_demand" in features and "available_drivers" in features:
        supply = max(features["available_drivers"], 0.0)
        demand = features["expected_demand"] if features["expected_demand"] > 1e-6 else 1e-6
        f["supply"] = 2.0 / (1.0 + supply / demand) - 1.0
    else:
        f["supply"] = 0.0
    f["time_of_day"] = rule["time_multipliers"][local_hour] - 1.0
    f["events"] = features.get("nearby_event_score", 0.0) * rule["event_coefficient"]
    f["weather"] = features.get("weather_severity", 0.0)
    return {name: c_llround(rule["weights"][name] * f[name] * 10000.0) for name in FACTOR_NAMES}


def round_price_cents(base_cents: int, surge_e4: int, rounding_cents: int) -> int:
    """round_to_nearest(base * surge, rounding) in cents, halves away from zero."""
    value, step = base_cents * surge_e4, rounding_cents * 10000
    q, r = divmod(value, step)
    if 2 * r >= step:
        q += 1
    return q * rounding_cents


def e4(value) -> int:
    """A JSON multiplier/contribution (Decimal text with at most 4 places) in units of 1e-4."""
    scaled = dec(value) * 10000
    assert scaled == scaled.to_integral_value(), f"{value} has more than 4 decimals"
    return int(scaled)


def assert_factors_sum(decision: dict) -> None:
    """factors (the five contributions, clip and guardrails) add up to surge - 1 exactly."""
    factors = decision["factors"]
    assert set(factors) == set(FACTOR_NAMES) | {"clip", "guardrails"}
    total = sum((dec(v) for v in factors.values()), Decimal(0))
    assert total == dec(decision["surge_multiplier"]) - 1, (factors, decision["surge_multiplier"])
    guard_total = sum((dec(g["adjustment"]) for g in decision["guardrails"]), Decimal(0))
    assert dec(factors["guardrails"]) == guard_total


# ---------------------------------------------------------------- geohash (independent)

BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"


def geohash_encode(lat: float, lon: float, precision: int) -> str:
    lat_range, lon_range = [-90.0, 90.0], [-180.0, 180.0]
    bits, even, out, ch, n = 0, True, [], 0, 0
    while len(out) < precision:
        rng, val = (lon_range, lon) if even else (lat_range, lat)
        mid = (rng[0] + rng[1]) / 2
        ch <<= 1
        if val >= mid:
            ch |= 1
            rng[0] = mid
        else:
            rng[1] = mid
        even = not even
        n += 1
        if n == 5:
            out.append(BASE32[ch])
            ch, n = 0, 0
    return "".join(out)


def geohash_decode(h: str) -> tuple[float, float, float, float]:
    """(lat, lon, lat_err, lon_err) of the cell's centre."""
    lat_range, lon_range = [-90.0, 90.0], [-180.0, 180.0]
    even = True
    for c in h:
        v = BASE32.index(c)
        for b in range(4, -1, -1):
            rng = lon_range if even else lat_range
            mid = (rng[0] + rng[1]) / 2
            if v >> b & 1:
                rng[0] = mid
            else:
                rng[1] = mid
            even = not even
    return ((lat_range[0] + lat_range[1]) / 2, (lon_range[0] + lon_range[1]) / 2,
            (lat_range[1] - lat_range[0]) / 2, (lon_range[1] - lon_range[0]) / 2)


def geohash_neighbours(h: str) -> list[str]:
    """N, NE, E, SE, S, SW, W, NW."""
    lat, lon, lat_err, lon_err = geohash_decode(h)
    out = []
    for dlat, dlon in ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)):
        nlat, nlon = lat + dlat * 2 * lat_err, lon + dlon * 2 * lon_err
        if abs(nlat) > 90:
            continue
        if nlon > 180:
            nlon -= 360
        if nlon < -180:
            nlon += 360
        out.append(geohash_encode(nlat, nlon, len(h)))
    return out


# ---------------------------------------------------------------- Prometheus text

METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict:
    """{(name, ((label, value), ...sorted)): float} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def metric(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# ---------------------------------------------------------------- errors

def assert_error(resp: requests.Response, status: int, code: str, field: str | None,
                 message_part: str | None = None) -> dict:
    """The response is the JSON error {"error": {code, message, field, trace_id}}."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "field", "trace_id"}
    assert err["code"] == code, err
    assert err["field"] == field, err
    assert err["message"], err
    if message_part is not None:
        assert message_part in err["message"], err
    assert HEX32.match(err["trace_id"]), err
    assert resp.headers["X-Trace-Id"] == err["trace_id"]
    return err
