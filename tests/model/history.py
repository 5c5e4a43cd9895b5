"""Synthetic demand history for `surge train` tests: a CSV with daily and weekly seasonality,
weather effects and Poisson-like noise, generated with a fixed seed (same file every run).

    python tests/model/history.py OUT.csv [--regions 3] [--weeks 6] [--step-min 15] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import datetime, timedelta, timezone

START = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday


def demand_rate(region: int, t: datetime, temp: float, precip: float, holiday: int) -> float:
    """Expected requests per hour at t."""
    hour = t.hour + t.minute / 60
    weekend = t.weekday() >= 5
    if weekend:
        daily = 0.4 + 0.8 * math.exp(-((hour - 13) ** 2) / 18) + 0.5 * math.exp(-((hour - 22) ** 2) / 4)
    else:
        daily = 0.3 + 1.2 * math.exp(-((hour - 8.5) ** 2) / 2) + 1.0 * math.exp(-((hour - 18) ** 2) / 3)
    weekly = [1.0, 1.05, 1.05, 1.1, 1.25, 0.9, 0.75][t.weekday()]
    weather = 1 + 0.25 * min(precip, 4) / 4 + 0.01 * max(0.0, 5 - temp)
    base = [40.0, 70.0, 110.0, 55.0, 90.0][region % 5]
    return base * daily * weekly * weather * (0.8 if holiday else 1.0)


def rows(regions: int = 3, weeks: int = 6, step_min: int = 15, seed: int = 7):
    rng = random.Random(seed)
    steps = weeks * 7 * 24 * 60 // step_min
    region_ids = [f"dr5r{c}" for c in "uvwxyz"[:regions]]
    holidays = {START.date() + timedelta(days=d) for d in (11, 25)}
    for r, region in enumerate(region_ids):
        temp = 3.0
        precip = 0.0
        for i in range(steps):
            t = START + timedelta(minutes=step_min * i)
            temp += rng.gauss(0, 0.15) + 0.02 * (3 - temp) + 0.05 * math.sin(2 * math.pi * (t.hour - 9) / 24)
            if precip > 0:
                precip = max(0.0, precip - rng.random() * 0.3)
            elif rng.random() < 0.004 * step_min / 15:
                precip = rng.uniform(0.5, 4)
            holiday = 1 if t.date() in holidays else 0
            lam = demand_rate(r, t, temp, precip, holiday) * step_min / 60
            value = max(0, round(lam + rng.gauss(0, math.sqrt(lam))))
            ts = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            yield region, ts, value, round(temp, 2), round(precip, 2), holiday


def write_history(path, regions: int = 3, weeks: int = 6, step_min: int = 15, seed: int = 7) -> None:
    with open(path, "w") as f:
        f.write("region_id,ts,demand,temperature,precipitation,holiday\n")
        for region, ts, value, temp, precip, holiday in rows(regions, weeks, step_min, seed):
            f.write(f"{region},{ts},{value},{temp},{precip},{holiday}\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--regions", type=int, default=3)
    ap.add_argument("--weeks", type=int, default=6)
    ap.add_argument("--step-min", type=int, default=15)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    write_history(a.out, a.regions, a.weeks, a.step_min, a.seed)
