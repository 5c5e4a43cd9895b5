"""Freshness probe of bench/stream: how long after an event's 2xx the live features and the
price show it. Each probe POSTs one driver_status for one driver of the probe region, with a
fresh ts, alternating available and busy, then polls (every --poll-ms) until
  features: GET /api/v1/features/{region} has features.last_event_ts_ms >= that ts (rounded
            to whole ms; values that are not whole ms are counted as "inexact") and
            available_drivers equal to the driver's new state (1 or 0), and
  price:    POST /api/v1/pricing/compute has a factors.supply different from the one read just
            before the event was sent (available_drivers moved, so the supply factor must).
Prints one JSON line: {"probes", "features_ms": {"p50", "p99", "max"}, "price_ms": {...},
"features_timeouts", "price_timeouts", "supply_values": [...]}. Times are from the moment the
2xx was read to the first poll answer that showed the change.

    python freshness.py --addr 127.0.0.1:8080 --region dr5ru [--probes 100] [--spacing-ms 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time


class Client:
    def __init__(self, addr: str):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, {"raw": raw[:200].decode(errors="replace")}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99),
            "max": round(max(values), 2) if values else None, "n": len(values)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--probes", type=int, default=100)
    p.add_argument("--spacing-ms", type=float, default=200)
    p.add_argument("--poll-ms", type=float, default=2)
    p.add_argument("--timeout-s", type=float, default=5)
    p.add_argument("--user", default="freshness-probe")
    p.add_argument("--driver", default="freshness-driver")
    a = p.parse_args()
    features_client, price_client, post_client = Client(a.addr), Client(a.addr), Client(a.addr)
    compute = {"region_id": a.region, "product_type": "standard", "user_id": a.user}
    feat_ms: list[float] = []
    price_ms: list[float] = []
    timeouts = {"features": 0, "price": 0}
    supply_values: set = set()
    problems: list[str] = []
    missed: list[dict] = []  # probes the features never showed, with what they showed last
    inexact: list[float] = []  # last_event_ts_ms values that were not whole milliseconds

    def supply() -> float | None:
        status, body = price_client.call("POST", "/api/v1/pricing/compute", compute)
        if status != 200:
            problems.append(f"compute HTTP {status}: {body}")
            return None
        return body.get("factors", {}).get("supply")

    for i in range(a.probes):
        state = "available" if i % 2 == 0 else "busy"
        before = supply()
        if before is None:
            break  # compute failed: the problem is reported below
        ts = int(time.time() * 1000)
        status, body = post_client.call("POST", "/api/v1/events", {
            "event_id": f"probe-{ts}-{i}", "type": "driver_status", "ts": ts,
            "region_id": a.region, "driver_id": a.driver, "status": state})
        t0 = time.monotonic()
        if status != 200 or body.get("accepted") != 1:
            problems.append(f"probe event not accepted: HTTP {status} {body}")
            break
        want_drivers = 1 if state == "available" else 0
        seen_features = seen_price = None
        last_seen: dict = {}
        while seen_features is None or seen_price is None:
            now = time.monotonic()
            if now - t0 > a.timeout_s:
                break
            if seen_features is None:
                status, body = features_client.call("GET", f"/api/v1/features/{a.region}")
                f = body.get("features", {}) if status == 200 else {}
                last_seen = {"status": status, "last_event_ts_ms": f.get("last_event_ts_ms"),
                             "available_drivers": f.get("available_drivers")}
                last = f.get("last_event_ts_ms", -1)
                if isinstance(last, float) and not last.is_integer():
                    inexact.append(last)
                # rounded: a value printed off by a rounding error still shows the event
                if round(last) >= ts and f.get("available_drivers") == want_drivers:
                    seen_features = (time.monotonic() - t0) * 1000
            if seen_price is None:
                s = supply()
                if s is not None and s != before:
                    seen_price = (time.monotonic() - t0) * 1000
                    supply_values.add(s)
            time.sleep(a.poll_ms / 1000)
        if seen_features is None:
            timeouts["features"] += 1
            missed.append({"probe": i, "status": state, "ts": ts, "last_seen": last_seen})
        else:
            feat_ms.append(seen_features)
        if seen_price is None:
            timeouts["price"] += 1
        else:
            price_ms.append(seen_price)
        rest = a.spacing_ms / 1000 - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)

    print(json.dumps({"probes": a.probes, "features_ms": summary(feat_ms),
                      "price_ms": summary(price_ms),
                      "features_timeouts": timeouts["features"],
                      "price_timeouts": timeouts["price"],
                      "supply_values": sorted(supply_values)[:6],
                      "features_missed": missed[:3],
                      "inexact_last_event_ts": len(inexact),
                      "inexact_examples": inexact[:3],
                      "problems": problems[:3]}), flush=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
