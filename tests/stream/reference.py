"""An independent reference for `surge replay --aggregates-out`: the per-region window counts of
the stream contract (tumbling 1 min and 5 min, sliding 15 min with a 1 min slide), computed
with pandas from the events as they were posted. Written from the contract, not from src/stream.

    from reference import aggregates, read_events
    rows = aggregates(read_events("events.ndjson"), from_ms=..., to_ms=...)

The result has exactly the columns of the CSV, in its order (AGGREGATE_COLUMNS), one row per
(region_id, window kind, window) that holds at least one counted event, sorted by
(region_id, window, window_start). `read_aggregates_csv` reads surge's CSV into the same shape,
and `diff_rows` compares two such frames exactly (cancel_rate as floats with ==).
Late events are not modelled: the contract's exactness test feeds input whose disorder is far
below the allowed lateness, and asserts that surge counted no late event.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

MINUTE_MS = 60_000
# The window kinds of the contract: name -> (length ms, slide ms).
WINDOWS = {
    "tumbling_1m": (60_000, 60_000),
    "tumbling_5m": (300_000, 300_000),
    "sliding_15m": (900_000, 60_000),
}
# Counted event types and the CSV column that counts each.
COUNTED = {
    "search": "searches",
    "view": "views",
    "booking": "bookings",
    "cancel": "cancels",
    "driver_location": "driver_locations",
    "driver_status": "driver_statuses",
}
COUNT_COLUMNS = list(COUNTED.values())
AGGREGATE_COLUMNS = ["region_id", "window", "window_start", "window_end", *COUNT_COLUMNS[:4],
                     "cancel_rate", *COUNT_COLUMNS[4:]]
KEY_COLUMNS = ["region_id", "window", "window_start", "window_end"]
GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
REGION_PRECISION = 5  # region.precision's default: the cell surge derives from lat/lon


# ---------------------------------------------------------------- event fields

def geohash_encode(lat: float, lon: float, precision: int = REGION_PRECISION) -> str:
    """The geohash cell containing (lat, lon): bits alternate longitude, latitude, each halving
    its interval, a point on a midpoint going to the upper half; 5 bits per character."""
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    chars, value, bits, even = [], 0, 0, True
    while len(chars) < precision:
        if even:
            mid = (lon_lo + lon_hi) / 2
            bit = lon >= mid
            lon_lo, lon_hi = (mid, lon_hi) if bit else (lon_lo, mid)
        else:
            mid = (lat_lo + lat_hi) / 2
            bit = lat >= mid
            lat_lo, lat_hi = (mid, lat_hi) if bit else (lat_lo, mid)
        value = value * 2 + int(bit)
        even = not even
        bits += 1
        if bits == 5:
            chars.append(GEOHASH_ALPHABET[value])
            value, bits = 0, 0
    return "".join(chars)


def geohash_center(cell: str) -> tuple[float, float]:
    """(lat, lon) of the centre of a geohash cell."""
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    even = True
    for ch in cell:
        value = GEOHASH_ALPHABET.index(ch)
        for shift in range(4, -1, -1):
            bit = (value >> shift) & 1
            if even:
                mid = (lon_lo + lon_hi) / 2
                lon_lo, lon_hi = (mid, lon_hi) if bit else (lon_lo, mid)
            else:
                mid = (lat_lo + lat_hi) / 2
                lat_lo, lat_hi = (mid, lat_hi) if bit else (lat_lo, mid)
            even = not even
    return (lat_lo + lat_hi) / 2, (lon_lo + lon_hi) / 2


def parse_time_ms(value) -> int:
    """Epoch ms from an int (epoch ms) or an RFC 3339 string ('Z' or an offset; fractions of a
    second are truncated to the millisecond)."""
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        if value.lstrip("-").isdigit():
            return int(value)
        text = value.strip().replace("z", "Z")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"RFC 3339 time without an offset: {value!r}")
        # whole milliseconds by integer arithmetic (timestamp() is a float)
        epoch_s = int(moment.replace(microsecond=0).timestamp())
        return epoch_s * 1000 + moment.microsecond // 1000
    raise ValueError(f"not a time: {value!r}")


def event_region(event: dict) -> str:
    """The region the contract counts an event in: region_id as posted, else the cell of
    lat/lon at region.precision."""
    region = event.get("region_id")
    if region:
        return region
    return geohash_encode(float(event["lat"]), float(event["lon"]))


# ---------------------------------------------------------------- input

def read_events(source) -> list[dict]:
    """Event dicts from an NDJSON file (path) or an iterable of dicts."""
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    return list(source)


def events_frame(events: Iterable[dict]) -> pd.DataFrame:
    """One row per event: region_id, type, ts (int64 epoch ms)."""
    rows = [(event_region(e), e["type"], parse_time_ms(e["ts"])) for e in events]
    frame = pd.DataFrame(rows, columns=["region_id", "type", "ts"])
    frame["ts"] = frame["ts"].astype("int64")
    return frame


# ---------------------------------------------------------------- the aggregates

def _window_rows(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """(region_id, type, window_start) for every window of kind that each event falls in."""
    length, slide = WINDOWS[kind]
    ts = frame["ts"].to_numpy(dtype=np.int64)
    # the latest window start at or before ts (floor division, also right for ts < 0)
    last_start = np.floor_divide(ts, slide) * slide
    per_event = length // slide  # windows that contain each event
    # starts last_start, last_start - slide, ..., last_start - (per_event - 1) * slide; for
    # sliding_15m these are the windows [e - 15 min, e) with e = p + 1 min .. p + 15 min
    offsets = np.arange(per_event, dtype=np.int64) * slide
    starts = (last_start[:, None] - offsets[None, :]).ravel()
    return pd.DataFrame({
        "region_id": np.repeat(frame["region_id"].to_numpy(), per_event),
        "type": np.repeat(frame["type"].to_numpy(), per_event),
        "window_start": starts,
    }).assign(window=kind, window_end=lambda d: d["window_start"] + length)


def aggregates(events, from_ms: int | None = None, to_ms: int | None = None) -> pd.DataFrame:
    """The contract's aggregate rows for events (dicts, or a frame from events_frame) selected
    by from_ms <= ts < to_ms (either bound may be None)."""
    frame = events if isinstance(events, pd.DataFrame) else events_frame(events)
    keep = frame["type"].isin(list(COUNTED))
    if from_ms is not None:
        keep &= frame["ts"] >= from_ms
    if to_ms is not None:
        keep &= frame["ts"] < to_ms
    frame = frame[keep]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in AGGREGATE_COLUMNS}).astype(
            {"region_id": object, "window": object, "cancel_rate": "float64"})[AGGREGATE_COLUMNS]

    parts = [_window_rows(frame, kind) for kind in WINDOWS]
    exploded = pd.concat(parts, ignore_index=True)
    counts = (exploded.groupby(KEY_COLUMNS + ["type"], sort=False).size()
              .unstack("type", fill_value=0))
    for event_type in COUNTED:
        if event_type not in counts.columns:
            counts[event_type] = 0
    counts = counts[list(COUNTED)].rename(columns=COUNTED).astype("int64")
    counts.columns.name = None
    counts = counts.reset_index()
    bookings = counts["bookings"].to_numpy(dtype=np.float64)
    cancels = counts["cancels"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # IEEE double division, as C's cancels / (double)bookings
        rate = np.where(bookings > 0, cancels / np.where(bookings > 0, bookings, 1.0), 0.0)
    counts["cancel_rate"] = rate
    counts["window_start"] = counts["window_start"].astype("int64")
    counts["window_end"] = counts["window_end"].astype("int64")
    return sort_rows(counts[AGGREGATE_COLUMNS])


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["region_id", "window", "window_start"], kind="mergesort") \
        .reset_index(drop=True)


# ---------------------------------------------------------------- comparing with surge

def read_aggregates_csv(path) -> pd.DataFrame:
    """surge's --aggregates-out CSV as a frame shaped like aggregates(); checks the header."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n")
    if header.split(",") != AGGREGATE_COLUMNS:
        raise AssertionError(f"{path}: header {header!r}, expected {','.join(AGGREGATE_COLUMNS)!r}")
    dtypes = {c: "int64" for c in AGGREGATE_COLUMNS}
    dtypes.update({"region_id": str, "window": str, "cancel_rate": "float64"})
    # round_trip: the exact double of each decimal text, as strtod gives it
    frame = pd.read_csv(path, dtype=dtypes, float_precision="round_trip", keep_default_na=False)
    return sort_rows(frame[AGGREGATE_COLUMNS])


def diff_rows(expected: pd.DataFrame, actual: pd.DataFrame, limit: int = 10) -> tuple[int, str]:
    """(number of differing rows, a report of the first `limit` of them). Rows are matched by
    (region_id, window, window_start, window_end); every other column must be equal, cancel_rate
    as a float with ==. A row on one side only counts as one difference."""
    merged = expected.merge(actual, on=KEY_COLUMNS, how="outer", suffixes=("_ref", "_surge"),
                            indicator=True)
    value_columns = [c for c in AGGREGATE_COLUMNS if c not in KEY_COLUMNS]
    both = merged["_merge"] == "both"
    differs = ~both
    for column in value_columns:
        differs |= both & (merged[f"{column}_ref"] != merged[f"{column}_surge"])
    bad = merged[differs].sort_values(["region_id", "window", "window_start"], kind="mergesort")
    if bad.empty:
        return 0, ""
    lines = [f"{len(bad)} of {len(merged)} rows differ (reference {len(expected)} rows, "
             f"surge {len(actual)} rows); the first {min(limit, len(bad))}:"]
    for _, row in bad.head(limit).iterrows():
        key = f"{row['region_id']} {row['window']} [{int(row['window_start'])}, " \
              f"{int(row['window_end'])})"
        if row["_merge"] == "left_only":
            lines.append(f"  {key}: only in the reference: " + _values(row, value_columns, "_ref"))
        elif row["_merge"] == "right_only":
            lines.append(f"  {key}: only in surge: " + _values(row, value_columns, "_surge"))
        else:
            lines.append(f"  {key}: reference " + _values(row, value_columns, "_ref") +
                         " | surge " + _values(row, value_columns, "_surge"))
    return len(bad), "\n".join(lines)


def _values(row, columns, suffix) -> str:
    out = []
    for c in columns:
        v = row[c + suffix]
        out.append(f"{c}={v!r}" if c == "cancel_rate" else f"{c}={int(v)}")
    return " ".join(out)
