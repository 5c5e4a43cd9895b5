"""setup_features.py: gives surge and the FastAPI reference the same features (bench/compare).

    setup_features.py load   SURGE_URL TOKEN REDIS_URL MODEL_DIR OUT_DIR
    setup_features.py verify SURGE_URL REF_URL OUT_DIR

load: for every region of surge's sample city, makes a feature set from a fixed seed (the model's
inputs plus available drivers, weather and venue scores), writes it to Redis as the hash
`features:{region}` (what the reference reads), runs the model in ONNX Runtime on it and gives
surge the model's output through the admin feature override (demand_score = y / (y + the 7-day
average), expected_demand = y): surge cannot serve a model yet, so the model runs here, once per
region, on the same inputs. Writes OUT_DIR/keys.txt ("region product" lines, for wrk) and
OUT_DIR/rules.json (rule id and base price of each key, from surge's answers, for the reference).
Set SURGE_SERVES_MODEL=1 once surge runs the model itself: then surge gets only the raw inputs.

verify: asks both for every key and checks that price, surge_multiplier, demand_score and every
factor agree; prints a JSON summary line and exits 1 when they do not.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

FEATURES = [
    "hour_of_day", "day_of_week", "demand_15m", "demand_60m", "rolling_avg_demand_7d",
    "temperature", "precipitation", "nearby_event_score",
]
SEED = 7


def http(method: str, url: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def load(surge: str, token: str, redis_url: str, model_dir: str, out_dir: str) -> int:
    import onnxruntime as ort
    import redis

    out = Path(out_dir)
    regions = http("GET", f"{surge}/api/v1/admin/regions", token=token)["regions"]
    sess = ort.InferenceSession(str(Path(model_dir) / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    r = redis.Redis.from_url(redis_url)
    rng = np.random.default_rng(SEED)
    now = datetime.now(ZoneInfo("America/New_York"))
    serves_model = os.environ.get("SURGE_SERVES_MODEL") == "1"
    keys, rules = [], {}
    for reg in regions:
        rid = reg["region_id"]
        base = float(rng.uniform(8, 50))
        level = base * rng.uniform(0.6, 1.8)
        feats = {
            "hour_of_day": now.hour,
            "day_of_week": now.isoweekday(),
            "demand_15m": int(rng.poisson(level)),
            "demand_60m": int(rng.poisson(4 * level)),
            "rolling_avg_demand_7d": round(base, 3),
            "temperature": round(float(rng.normal(10, 6)), 1),
            "precipitation": round(float(rng.gamma(1.2, 2.0)) if rng.random() < 0.3 else 0.0, 1),
            "nearby_event_score": round(float(rng.uniform(0, 1)) if rng.random() < 0.2 else 0.0, 3),
            "available_drivers": int(rng.integers(2, 60)),
            "weather_severity": round(float(rng.uniform(0, 0.6)), 3),
            "confidence": 0.8,
        }
        r.delete(f"features:{rid}")
        r.hset(f"features:{rid}", mapping={k: str(v) for k, v in feats.items()})
        row = np.array([[float(feats[n]) for n in FEATURES]], dtype=np.float32)
        y = float(sess.run(None, {sess.get_inputs()[0].name: row})[0].reshape(-1)[0])
        avg = float(str(feats["rolling_avg_demand_7d"]))
        override = {
            "available_drivers": feats["available_drivers"],
            "weather_severity": feats["weather_severity"],
            "nearby_event_score": feats["nearby_event_score"],
            "confidence": feats["confidence"],
        }
        if serves_model:
            override.update({n: feats[n] for n in FEATURES})
        else:
            override["demand_score"] = y / (y + avg) if y + avg > 0 else 0.5
            override["expected_demand"] = y
        http("PUT", f"{surge}/api/v1/admin/regions/{rid}/features",
             {"features": override, "ttl_s": 3600}, token)
        for product in reg.get("products", []):
            ans = http("POST", f"{surge}/api/v1/pricing/compute",
                       {"region_id": rid, "product_type": product, "user_id": "u1"})
            rules[f"{rid} {product}"] = {"rule_id": ans["rule_id"],
                                         "base_price_cents": round(ans["base_price"] * 100)}
            keys.append(f"{rid} {product}")
    (out / "keys.txt").write_text("\n".join(keys) + "\n")
    (out / "rules.json").write_text(json.dumps(rules))
    print(json.dumps({"regions": len(regions), "keys": len(keys)}))
    return 0


def verify(surge: str, ref: str, out_dir: str) -> int:
    keys = Path(out_dir, "keys.txt").read_text().split("\n")
    same, differ, example = 0, [], None
    for key in filter(None, keys):
        rid, product = key.split()
        body = {"region_id": rid, "product_type": product, "user_id": "u1"}
        a = http("POST", f"{surge}/api/v1/pricing/compute", body)
        b = http("POST", f"{ref}/api/v1/pricing/compute", body)
        if example is None:
            example = {"surge_fields": sorted(a), "reference_fields": sorted(b)}
        fields_a = {k: a[k] for k in ("price", "surge_multiplier")}
        fields_b = {k: b[k] for k in ("price", "surge_multiplier")}
        ok = (fields_a == fields_b and a["factors"] == b["factors"]
              and abs(a["demand_score"] - b["demand_score"]) < 1e-5 and sorted(a) == sorted(b))
        if ok:
            same += 1
        else:
            differ.append({"key": key, "surge": a, "reference": b})
    print(json.dumps({"keys": same + len(differ), "identical": same,
                      "fields_equal": example["surge_fields"] == example["reference_fields"],
                      "first_difference": differ[0] if differ else None}))
    return 0 if not differ else 1


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "load":
        sys.exit(load(*sys.argv[2:]))
    if len(sys.argv) == 5 and sys.argv[1] == "verify":
        sys.exit(verify(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
