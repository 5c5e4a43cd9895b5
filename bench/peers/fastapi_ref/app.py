"""app.py: a reference implementation of POST /api/v1/pricing/compute in the seed's own stack:
FastAPI on uvicorn, features read from Redis (`features:{region_id}` hashes, as DESIGN §2's
distributed deployment keeps them), the demand model run per request in ONNX Runtime, and
DESIGN §7's formula in the same integer units as surge (1e-4 multipliers, cents), so that for
the same features it returns the same price, multiplier and factors, in the same JSON fields.

It is the peer that bench/compare/run.sh measures surge against; it is not part of surge.
Configuration (environment):
  REF_REDIS_URL   redis://127.0.0.1:6379/0
  REF_MODEL       the ONNX model (train_model.py writes it)
  REF_RULES       JSON file {"REGION PRODUCT": {"rule_id": N, "base_price_cents": N}, ...}
  REF_TIMEZONE    local time of the regions (America/New_York)
  REF_INTERVAL_HALF_WIDTH  the model's interval half-width W (0)
Run: uvicorn app:app --workers 2 --port PORT

The model's outputs are used as surge's docs/models.md ("Forecasts in production", "Outputs")
defines them: the calendar inputs (hour_of_day, day_of_week) come from the clock in
REF_TIMEZONE, the others from the region's hash; expected_demand = y clipped at 0;
confidence = 1 - (upper - lower) / y clipped to [0, 1] with the interval [max(0, y - W), y + W];
demand_score = y / (y + baseline_7d) when the hash has the 7-day baseline of the window
(`baseline_7d`), else the hash's `demand_score` (the stream's nowcast), as surge keeps it when
its stream has no week of history.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import onnxruntime as ort
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

FEATURES = [
    "hour_of_day", "day_of_week", "demand_15m", "demand_60m", "rolling_avg_demand_7d",
    "temperature", "precipitation", "nearby_event_score",
]
# DESIGN §7's defaults, as surge's sample rules have them
WEIGHTS = {"demand": 0.4, "supply": 0.3, "time_of_day": 0.2, "events": 0.1, "weather": 0.1}
DEMAND_K, DEMAND_THRESHOLD, EVENT_COEFFICIENT = 6.0, 0.5, 0.5
TIME_MULTIPLIER = [1.2 if h in (7, 8, 17, 18) else 1.0 for h in range(24)]
MIN_E4, MAX_E4, ROUNDING_CENTS = 10000, 30000, 25
MODEL_VERSION = "ref-xgb-onnx"
# the model's inputs that are not calendar features, read from the hash
HASH_FEATURES = [n for n in FEATURES if n not in ("hour_of_day", "day_of_week")]
HALF_WIDTH = float(os.environ.get("REF_INTERVAL_HALF_WIDTH", "0"))

options = ort.SessionOptions()
options.intra_op_num_threads = 1  # one request, one row: threads only add hand-offs
options.inter_op_num_threads = 1
session = ort.InferenceSession(os.environ.get("REF_MODEL", "model.onnx"), options,
                               providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
with open(os.environ.get("REF_RULES", "rules.json")) as f:
    RULES = json.load(f)
ZONE = ZoneInfo(os.environ.get("REF_TIMEZONE", "America/New_York"))
store = aioredis.from_url(os.environ.get("REF_REDIS_URL", "redis://127.0.0.1:6379/0"),
                          decode_responses=True, max_connections=256)

app = FastAPI()


class ComputeRequest(BaseModel):
    region_id: str
    product_type: str
    user_id: str | None = None


def round_e4(x: float) -> int:
    # C's llround: halves away from zero
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def round_price(base_cents: int, surge_e4: int, rounding: int) -> int:
    value = base_cents * surge_e4
    step = rounding * 10000
    q, r = divmod(value, step)  # value >= 0 here
    if 2 * r >= step:
        q += 1
    return q * rounding


def rfc3339(ms: int) -> str:
    t = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def error(status: int, code: str, message: str, field: str | None):
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status)


@app.post("/api/v1/pricing/compute")
async def compute(req: ComputeRequest):
    started = time.perf_counter()
    rule = RULES.get(f"{req.region_id} {req.product_type}")
    if rule is None:
        return error(404, "not_found", f"no rule for {req.region_id} {req.product_type}",
                     "region_id")
    feats = await store.hgetall(f"features:{req.region_id}")
    fallback = []
    confidence = 0.0
    now = time.time()
    local = datetime.fromtimestamp(now, ZONE)
    hour = local.hour
    if all(name in feats for name in HASH_FEATURES):
        values = {name: float(feats[name]) for name in HASH_FEATURES}
        values["hour_of_day"], values["day_of_week"] = hour, local.isoweekday()
        row = np.array([[values[name] for name in FEATURES]], dtype=np.float32)
        y = float(session.run(None, {input_name: row})[0].reshape(-1)[0])
        expected = max(y, 0.0)
        if "baseline_7d" in feats:
            baseline = float(feats["baseline_7d"])
            demand_score = expected / (expected + baseline) if expected + baseline > 0 else 0.5
        elif "demand_score" in feats:
            demand_score = min(max(float(feats["demand_score"]), 0.0), 1.0)
        else:
            demand_score = 0.5
        width = (expected + HALF_WIDTH) - max(0.0, expected - HALF_WIDTH)
        confidence = min(max(1.0 - width / expected, 0.0), 1.0) if expected > 0 else 0.0
    else:
        fallback.append("forecast")
        expected, demand_score = 0.0, 0.5
    if "available_drivers" in feats:
        supply = max(0.0, float(feats["available_drivers"]))
        f_supply = 2.0 / (1.0 + supply / max(expected, 1e-6)) - 1.0
    else:
        fallback.append("supply")
        f_supply = 0.0
    if "weather_severity" not in feats:
        fallback.append("weather")
    if "nearby_event_score" not in feats:
        fallback.append("events")
    now_ms = int(now * 1000)
    f = {
        "demand": 2.0 / (1.0 + math.exp(-DEMAND_K * (demand_score - DEMAND_THRESHOLD))) - 1.0,
        "supply": f_supply,
        "time_of_day": TIME_MULTIPLIER[hour] - 1.0,
        "events": float(feats.get("nearby_event_score", 0)) * EVENT_COEFFICIENT,
        "weather": float(feats.get("weather_severity", 0)),
    }
    contribution = {k: round_e4(WEIGHTS[k] * v * 10000.0) for k, v in f.items()}
    raw = 10000 + sum(contribution.values())
    surge = min(max(raw, MIN_E4), MAX_E4)
    base = rule["base_price_cents"]
    price = round_price(base, surge, ROUNDING_CENTS)
    factors = {k: v / 10000 for k, v in contribution.items()}
    factors["clip"] = (surge - raw) / 10000
    factors["guardrails"] = 0
    request_id = secrets.token_hex(16)
    return {
        "request_id": request_id,
        "trace_id": secrets.token_hex(16),
        "region_id": req.region_id,
        "product_type": req.product_type,
        "price": price / 100,
        "base_price": base / 100,
        "surge_multiplier": surge / 10000,
        "demand_score": float(f"{demand_score:.6g}"),
        "confidence": float(f"{confidence:.6f}"),
        "factors": factors,
        "guardrails": [],
        "fallback": fallback,
        "valid_until": rfc3339(now_ms + 120000),
        "model_version": MODEL_VERSION,
        "rule_id": rule["rule_id"],
        "user_id": req.user_id or "",
        "cached": False,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "timestamp": rfc3339(now_ms),
    }


@app.get("/readyz")
async def readyz():
    await store.ping()
    return {"status": "ready"}

