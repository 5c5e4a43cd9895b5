"""train_model.py: the demand model both sides of bench/compare use: a small XGBoost regressor
(300 trees, depth 6) trained on synthetic data with a fixed seed, saved as XGBoost JSON (surge
imports it with `surge models import` and evaluates it per request) and converted to ONNX with
onnxmltools (for the reference, which runs it in ONNX Runtime per request).

    python train_model.py OUT_DIR

writes OUT_DIR/model.json, OUT_DIR/model.onnx and OUT_DIR/meta.json (feature names, training
metrics, the interval half-width both sides serve, versions). Deterministic: the same seed gives
the same trees.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

# The model's inputs, in order; the features hash in Redis (and surge's override) carries them.
FEATURES = [
    "hour_of_day", "day_of_week", "demand_15m", "demand_60m", "rolling_avg_demand_7d",
    "temperature", "precipitation", "nearby_event_score",
]
SEED = 20261125
ROWS = 20000


def synthetic(rng: np.random.Generator, n: int):
    """Requests in the next 15 minutes of a region from its recent demand, time and weather."""
    hour = rng.integers(0, 24, n)
    dow = rng.integers(1, 8, n)
    base = rng.uniform(5, 60, n)
    daily = 1 + 0.8 * np.exp(-((hour - 8) ** 2) / 4) + 0.9 * np.exp(-((hour - 18) ** 2) / 5) \
        - 0.6 * np.exp(-((hour - 3) ** 2) / 6)
    weekly = np.where(dow >= 6, 0.9, 1.0)
    precip = np.where(rng.random(n) < 0.2, rng.gamma(1.5, 2.0, n), 0.0)
    temp = rng.normal(12, 9, n)
    event = np.where(rng.random(n) < 0.1, rng.uniform(0, 1, n), 0.0)
    level = base * daily * weekly * (1 + 0.06 * precip) * (1 + 0.8 * event)
    d15 = rng.poisson(level)
    d60 = rng.poisson(4 * level)
    y = rng.poisson(level * (1 + 0.1 * rng.standard_normal(n)).clip(0.5, 1.5)).astype(np.float32)
    x = np.column_stack([hour, dow, d15, d60, base * 1.0, temp, precip, event]).astype(np.float32)
    return x, y


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType

    rng = np.random.default_rng(SEED)
    x, y = synthetic(rng, ROWS)
    split = int(ROWS * 0.8)
    model = xgb.XGBRegressor(n_estimators=300, max_depth=6, learning_rate=0.05,
                             subsample=1.0, tree_method="exact", random_state=SEED, n_jobs=1)
    model.fit(x[:split], y[:split])
    pred = model.predict(x[split:])
    mae = float(np.mean(np.abs(pred - y[split:])))
    # the interval both sides serve: the k-th smallest holdout |residual|, k = ceil(0.9 (n + 1)),
    # as surge's split-conformal intervals are made (docs/models.md)
    residuals = np.sort(np.abs(pred - y[split:]).astype(np.float64))
    k = min(len(residuals), int(np.ceil(0.9 * (len(residuals) + 1))))
    half_width = round(float(residuals[k - 1]), 6)
    wape = float(np.sum(np.abs(pred - y[split:])) / np.sum(y[split:]))
    model.get_booster().save_model(str(out / "model.json"))

    onx = onnxmltools.convert_xgboost(model, initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
                                      target_opset=15)
    (out / "model.onnx").write_bytes(onx.SerializeToString())

    import onnxruntime as ort
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_pred = sess.run(None, {"input": x[split:]})[0].reshape(-1)
    agree = float(np.max(np.abs(onnx_pred - pred)))

    meta = {"features": FEATURES, "seed": SEED, "rows": ROWS, "trees": 300, "max_depth": 6,
            "holdout_mae": mae, "holdout_wape": wape, "interval_half_width": half_width,
            "onnx_vs_xgboost_max_abs_diff": agree,
            "xgboost": xgb.__version__, "onnxmltools": onnxmltools.__version__,
            "onnxruntime": ort.__version__}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
