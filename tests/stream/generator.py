"""Seeded event generator for the stream's exactness test and bench/stream: realistic mixes of
the six counted types (plus weather, which the aggregates must ignore) over a list of regions,
in a send order whose event times are disordered by at most `disorder_ms`.

    events = generate(seed=7, count=50_000, regions=[...], start_ms=..., span_ms=3 * 3600_000)
    python3 tests/stream/generator.py --seed 7 --count 2000000 --regions dr5ru,dr5rv \
        --start-ms 1768111200000 --span-ms 86400000 --ndjson out.ndjson --csv out.csv

The NDJSON holds the events as they are POSTed (send order); the CSV (region_id,type,ts, no
header, as Flink's csv format reads it) holds the same events for the Flink peer, each with the
region it is counted in.
Vectorised with numpy, so 2M events take a few seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import geohash_center  # noqa: E402

# (type, share): searches dominate, as in a ride-hailing market; weather is not counted.
MIX = [("search", 0.38), ("view", 0.24), ("booking", 0.10), ("cancel", 0.04),
       ("driver_location", 0.16), ("driver_status", 0.06), ("weather", 0.02)]
STATUSES = ["available", "busy", "offline"]
PRODUCTS = ["standard", "premium"]


def _rfc3339(ms: int, offset_minutes: int) -> str:
    """ms as RFC 3339 in a fixed UTC offset, with milliseconds."""
    zone = timezone(timedelta(minutes=offset_minutes))
    moment = datetime.fromtimestamp(ms // 1000, tz=zone) + timedelta(milliseconds=ms % 1000)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}"
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    return text + f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"


def generate_arrays(seed: int, count: int, regions: list[str], start_ms: int, span_ms: int,
                    disorder_ms: int = 5000):
    """The events as numpy arrays in send order: region index, type index (into MIX), ts.

    Send order follows a sorted 'arrival' time; each event's ts is its arrival time minus a
    random delay in [0, disorder_ms], so no event is more than disorder_ms older than one sent
    before it."""
    rng = np.random.default_rng(seed)
    arrival = np.sort(rng.integers(start_ms + disorder_ms, start_ms + span_ms, size=count,
                                   dtype=np.int64))
    ts = arrival - rng.integers(0, disorder_ms + 1, size=count, dtype=np.int64)
    # Boundary events: only an event that arrives within disorder_ms after a boundary may be
    # moved onto it, so the disorder bound holds for them too (about 1 % of the events land on
    # a minute boundary, 0.5 % on a 5-minute one, 0.5 % on the last ms of a minute).
    pick = rng.random(count)
    near_minute = arrival % 60_000 < disorder_ms
    near_five = arrival % 300_000 < disorder_ms
    minute = arrival // 60_000 * 60_000
    ts = np.where(near_minute & (pick < 0.12), minute, ts)
    ts = np.where(near_minute & (pick >= 0.12) & (pick < 0.18), minute - 1, ts)
    ts = np.where(near_five & (pick >= 0.7), arrival // 300_000 * 300_000, ts)
    # uneven regions (Zipf-like), so some windows are busy and some nearly empty
    weights = 1.0 / np.arange(1, len(regions) + 1) ** 0.8
    region = rng.choice(len(regions), size=count, p=weights / weights.sum())
    shares = np.array([s for _, s in MIX])
    kind = rng.choice(len(MIX), size=count, p=shares / shares.sum())
    return region.astype(np.int32), kind.astype(np.int32), ts


def render_ndjson(seed, region, kind, ts, regions, id_prefix, rfc3339_share=0.03,
                  latlon_share=0.05) -> list[str]:
    """One JSON line per event. A share of the events give their time as RFC 3339 (some with
    a non-UTC offset) and a share give lat/lon (the centre of the region's cell) instead of
    region_id; driver_location always carries lat/lon, as its schema requires."""
    rng = np.random.default_rng(seed + 1)
    count = len(ts)
    users = rng.integers(0, 20_000, size=count)
    drivers = rng.integers(0, 3_000, size=count)
    status = rng.integers(0, len(STATUSES), size=count)
    product = rng.integers(0, len(PRODUCTS), size=count)
    as_text = rng.random(count) < rfc3339_share
    offsets = rng.choice([0, 0, 60, -300, 330], size=count)
    as_latlon = rng.random(count) < latlon_share
    centres = [geohash_center(r) for r in regions]
    names = [t for t, _ in MIX]
    lines = []
    for i in range(count):
        t = names[kind[i]]
        r = region[i]
        when = int(ts[i])
        ts_text = json.dumps(_rfc3339(when, int(offsets[i]))) if as_text[i] else str(when)
        lat, lon = centres[r]
        if t == "driver_location":
            where = f'"lat":{lat!r},"lon":{lon!r}' + ("" if as_latlon[i] else
                                                     f',"region_id":"{regions[r]}"')
        elif as_latlon[i]:
            where = f'"lat":{lat!r},"lon":{lon!r}'
        else:
            where = f'"region_id":"{regions[r]}"'
        head = f'{{"event_id":"{id_prefix}{i}","type":"{t}","ts":{ts_text},{where}'
        if t in ("search", "view", "booking", "cancel"):
            tail = f',"user_id":"u{users[i]}","product_type":"{PRODUCTS[product[i]]}"}}'
        elif t == "driver_location":
            tail = f',"driver_id":"d{drivers[i]}"}}'
        elif t == "driver_status":
            tail = f',"driver_id":"d{drivers[i]}","status":"{STATUSES[status[i]]}"}}'
        else:  # weather
            tail = ',"temp_c":12.5,"precip_mm":0.4,"severity":0.25}'
        lines.append(head + tail)
    return lines


def render_csv(region, kind, ts, regions) -> list[str]:
    """region_id,type,ts lines (no header) for the Flink peer."""
    names = [t for t, _ in MIX]
    return [f"{regions[r]},{names[k]},{t}" for r, k, t in zip(region.tolist(), kind.tolist(),
                                                              ts.tolist())]


def generate(seed: int, count: int, regions: list[str], start_ms: int, span_ms: int,
             disorder_ms: int = 5000, id_prefix: str = "ev-") -> list[dict]:
    """The events as dicts, in send order."""
    region, kind, ts = generate_arrays(seed, count, regions, start_ms, span_ms, disorder_ms)
    return [json.loads(line) for line in render_ndjson(seed, region, kind, ts, regions, id_prefix)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--regions", required=True, help="comma-separated region ids")
    p.add_argument("--start-ms", type=int, required=True)
    p.add_argument("--span-ms", type=int, required=True)
    p.add_argument("--disorder-ms", type=int, default=5000)
    p.add_argument("--id-prefix", default="ev-")
    p.add_argument("--ndjson", help="write the events as NDJSON here")
    p.add_argument("--csv", help="write region_id,type,ts lines here (no header)")
    p.add_argument("--latlon-share", type=float, default=0.05)
    p.add_argument("--rfc3339-share", type=float, default=0.03)
    a = p.parse_args(argv)
    regions = [r for r in a.regions.split(",") if r]
    region, kind, ts = generate_arrays(a.seed, a.count, regions, a.start_ms, a.span_ms,
                                       a.disorder_ms)
    if a.ndjson:
        lines = render_ndjson(a.seed, region, kind, ts, regions, a.id_prefix,
                              a.rfc3339_share, a.latlon_share)
        Path(a.ndjson).write_text("\n".join(lines) + "\n")
    if a.csv:
        Path(a.csv).write_text("\n".join(render_csv(region, kind, ts, regions)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
