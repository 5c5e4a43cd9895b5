"""The stream's window aggregates are exact: ~50K seeded events POSTed to a real surge, then
`surge replay --aggregates-out` over its log, compared row for row with an independent pandas
reference (tests/stream/reference.py, written from the contract in docs, not from src/stream).

The input covers 16 regions of the sample city over 3 hours of event time with all six counted
types (and weather, which must not count), disorder up to 5 s (far below the 30 s allowed
lateness, so no event may be late), events exactly on minute and 5-minute boundaries and on the
last millisecond of a minute, RFC 3339 times with offsets, lat/lon instead of region_id, a
region with a single event and a region with only weather.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))
import generator  # noqa: E402
import reference  # noqa: E402
from conftest import run_surge  # noqa: E402

SEED = 20261125
COUNT = 50_000
START_MS = 1_768_111_200_000  # 2026-01-11T06:00:00Z
SPAN_MS = 3 * 3_600_000
BATCH = 5000
NO_LIMITS = {"ingest.user_per_min": 0, "ingest.region_per_min": 0, "ratelimit.ip_per_min": 0}
NOT_BUILT = "not built yet"

_loaded: dict = {}  # the data dir and events, loaded once for this module's tests


def _replay_not_built() -> str | None:
    """Why `surge replay` cannot be tested yet, or None when it can."""
    result = run_surge("replay", "--help")
    text = result.stdout + result.stderr
    return text.strip() if NOT_BUILT in text else None


def _skip_if_replay_not_built():
    why = _replay_not_built()
    if why:
        pytest.skip(f"`surge replay` is not built yet (it says: {why!r}); this test compares "
                    "its output with tests/stream/reference.py once it exists")


def _build_events(regions: list[str]) -> list[dict]:
    """The generated events plus the hand-placed edge cases, in send order."""
    counted, single, weather_only = regions[:16], regions[16], regions[17]
    events = generator.generate(SEED, COUNT, counted, START_MS, SPAN_MS, disorder_ms=5000,
                                id_prefix="ref-")
    # The single event of its region: a booking exactly on a minute boundary, sent right after
    # an event of the same time so that it is never late. Its windows hold one booking and no
    # cancel (cancel_rate 0 with bookings 1).
    at = next(i for i in range(COUNT // 2, COUNT)
              if isinstance(events[i]["ts"], int) and events[i]["ts"] % 60_000 == 0)
    events.insert(at + 1, {"event_id": "ref-single", "type": "booking", "ts": events[at]["ts"],
                           "region_id": single, "user_id": "u-single",
                           "product_type": "standard"})
    # A region with weather only: no row may appear for it.
    for k, i in enumerate(range(1000, COUNT, 9000)):
        events.insert(i, {"event_id": f"ref-weather-{k}", "type": "weather",
                          "ts": events[i]["ts"], "region_id": weather_only, "temp_c": 3.5,
                          "precip_mm": 1.0, "severity": 0.5})
    return events


def _load(surge_server, tmp_path_factory):
    """Starts surge, POSTs the events in batches, stops it; once per module."""
    if _loaded:
        return _loaded
    data_dir = tmp_path_factory.mktemp("stream-ref") / "data"
    srv = surge_server(config=NO_LIMITS, data_dir=data_dir)
    r = srv.admin("GET", "/api/v1/admin/regions")
    assert r.status_code == 200, r.text
    regions = sorted(x["region_id"] for x in r.json()["regions"])
    assert len(regions) >= 18, regions
    events = _build_events(regions)
    for i in range(0, len(events), BATCH):
        batch = events[i:i + BATCH]
        r = srv.post("/api/v1/events", json=batch, timeout=60)
        assert r.status_code == 200, r.text[:500]
        body = r.json()
        assert body["accepted"] == len(batch), \
            [x for x in body["results"] if x["status"] != "accepted"][:3]
    assert srv.stop() == 0
    _loaded.update(data_dir=data_dir, events=events, regions=regions,
                   frame=reference.events_frame(events))
    return _loaded


def _replay(data_dir: Path, out: Path, *extra: str) -> dict:
    result = run_surge("replay", "--data-dir", str(data_dir), "--aggregates-out", str(out),
                       "--json", *extra, timeout=300)
    assert result.returncode == 0, f"surge replay failed:\n{result.stdout}\n{result.stderr}"
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"--json must print one JSON object, got:\n{result.stdout}"
    return json.loads(lines[0])


def _check(loaded, out: Path, stats: dict, from_ms=None, to_ms=None):
    frame = loaded["frame"]
    expected = reference.aggregates(frame, from_ms, to_ms)
    actual = reference.read_aggregates_csv(out)
    count, report = reference.diff_rows(expected, actual)
    assert count == 0, "surge replay's aggregates differ from the reference:\n" + report

    in_range = frame
    if from_ms is not None:
        in_range = in_range[in_range["ts"] >= from_ms]
    if to_ms is not None:
        in_range = in_range[in_range["ts"] < to_ms]
    counted = int(in_range["type"].isin(list(reference.COUNTED)).sum())
    external = int((in_range["type"] == "weather").sum())
    assert stats["late_events"] == 0, stats
    # "events read in range": the user and supply events, or those and the external ones
    assert stats["events"] in (counted, counted + external), (stats, counted, external)
    assert stats["windows"] == len(expected), (stats, len(expected))
    # the regions the stream tracks: every region with a row, and the configured ones
    assert stats["regions"] >= expected["region_id"].nunique(), stats
    assert stats["elapsed_s"] >= 0 and stats["events_per_s"] >= 0, stats
    return expected


# ---------------------------------------------------------------- the reference itself

def _brute_force(events, from_ms=None, to_ms=None) -> dict:
    """Window counts by the contract's definitions, event by event, in plain Python."""
    rows: dict = {}
    for e in events:
        ts = reference.parse_time_ms(e["ts"])
        if e["type"] not in reference.COUNTED:
            continue
        if (from_ms is not None and ts < from_ms) or (to_ms is not None and ts >= to_ms):
            continue
        region = reference.event_region(e)
        p = math.floor(ts / 60_000) * 60_000
        keys = [("tumbling_1m", p, p + 60_000)]
        q = math.floor(ts / 300_000) * 300_000
        keys.append(("tumbling_5m", q, q + 300_000))
        for k in range(1, 16):  # windows [e - 15 min, e), e = p + 1 min .. p + 15 min
            end = p + k * 60_000
            keys.append(("sliding_15m", end - 900_000, end))
        for window, start, end in keys:
            row = rows.setdefault((region, window, start, end),
                                  dict.fromkeys(reference.COUNT_COLUMNS, 0))
            row[reference.COUNTED[e["type"]]] += 1
    return rows


def test_reference_agrees_with_a_brute_force_count():
    """The pandas reference gives what a per-event loop over the definitions gives."""
    regions = ["dr5ru", "dr5rv", "dr5rs"]
    events = generator.generate(11, 3000, regions, START_MS, 40 * 60_000, id_prefix="bf-")
    events.append({"event_id": "bf-x", "type": "cancel", "ts": START_MS - 1, "region_id": "dr5ru",
                   "user_id": "u", "product_type": "standard"})
    for from_ms, to_ms in [(None, None), (START_MS + 7 * 60_000 + 123, START_MS + 31 * 60_000)]:
        got = reference.aggregates(events, from_ms, to_ms)
        want = _brute_force(events, from_ms, to_ms)
        assert len(got) == len(want)
        for row in got.itertuples(index=False):
            counts = want[(row.region_id, row.window, row.window_start, row.window_end)]
            assert {c: getattr(row, c) for c in reference.COUNT_COLUMNS} == counts
            rate = counts["cancels"] / counts["bookings"] if counts["bookings"] else 0.0
            assert row.cancel_rate == rate
    # one booking and two cancels in a minute: rate 2.0; the event at START_MS - 1 sits in the
    # minute before START_MS and in the 15 sliding windows ending START_MS .. START_MS + 14 min
    tiny = [{"type": "booking", "ts": 60_000, "region_id": "dr5ru"},
            {"type": "cancel", "ts": "1970-01-01T00:01:59.999Z", "region_id": "dr5ru"},
            {"type": "cancel", "ts": "1970-01-01T01:01:30+01:00", "region_id": "dr5ru"},
            {"type": "weather", "ts": 60_000, "region_id": "dr5rv"}]
    got = reference.aggregates(tiny)
    one = got[got["window"] == "tumbling_1m"]
    assert one[["region_id", "window_start", "window_end", "bookings", "cancels"]].values.tolist() \
        == [["dr5ru", 60_000, 120_000, 1, 2]]
    assert one["cancel_rate"].tolist() == [2.0]
    assert sorted(got[got["window"] == "sliding_15m"]["window_end"]) == \
        [k * 60_000 for k in range(2, 17)]
    assert set(got["region_id"]) == {"dr5ru"}


def test_reference_geohash_matches_the_sample_city():
    """lat/lon events are counted in the cell surge derives: the sample city's own centres."""
    assert reference.geohash_encode(40.627441, -74.11377) == "dr5r1"
    assert reference.geohash_encode(40.7580, -73.9855) == "dr5ru"
    lat, lon = reference.geohash_center("dr5ru")
    assert reference.geohash_encode(lat, lon) == "dr5ru"
    assert reference.parse_time_ms("2026-01-11T05:32:00-05:00") == 1_768_127_520_000
    assert reference.parse_time_ms("2026-01-11T10:32:00.125Z") == 1_768_127_520_125


# ---------------------------------------------------------------- surge against the reference

def test_replay_aggregates_equal_the_reference(surge_server, tmp_path_factory, tmp_path):
    _skip_if_replay_not_built()
    loaded = _load(surge_server, tmp_path_factory)
    out = tmp_path / "aggregates.csv"
    stats = _replay(loaded["data_dir"], out)
    expected = _check(loaded, out, stats)

    # the input really has the cases this test is for
    regions = loaded["regions"]
    assert set(expected["region_id"]) == set(regions[:17]), "weather-only region must have no row"
    single = expected[expected["region_id"] == regions[16]]
    assert len(single) == 1 + 1 + 15 and (single["bookings"] == 1).all()
    assert (single["cancel_rate"] == 0.0).all()
    assert ((expected["bookings"] > 0) & (expected["cancels"] == 0)).any()
    assert ((expected["bookings"] == 0) & (expected["cancels"] > 0)).any()
    rates = expected.loc[expected["bookings"] > 0, "cancel_rate"]
    assert (rates != rates.round(0)).any(), "some cancel_rate must be a non-integer fraction"
    assert sorted(expected["window"].unique()) == sorted(reference.WINDOWS)


def test_replay_from_to_selects_by_event_time(surge_server, tmp_path_factory, tmp_path):
    _skip_if_replay_not_built()
    loaded = _load(surge_server, tmp_path_factory)
    # cut in the middle of 1-minute windows; --from as RFC 3339, --to as epoch ms
    rng = random.Random(SEED)
    from_ms = START_MS + 47 * 60_000 + 30_500
    to_ms = START_MS + 2 * 3_600_000 + 13 * 60_000 + rng.randrange(1, 59_999)
    from_text = "2026-01-11T06:47:30.500Z"
    assert reference.parse_time_ms(from_text) == from_ms
    out = tmp_path / "aggregates-cut.csv"
    stats = _replay(loaded["data_dir"], out, "--from", from_text, "--to", str(to_ms))
    expected = _check(loaded, out, stats, from_ms, to_ms)
    # the cut windows hold only part of their events: fewer than the uncut reference
    full = reference.aggregates(loaded["frame"])
    cut_minute = (from_ms // 60_000) * 60_000
    key = ["region_id", "window", "window_start"]
    a = expected[(expected["window"] == "tumbling_1m") & (expected["window_start"] == cut_minute)]
    b = full[(full["window"] == "tumbling_1m") & (full["window_start"] == cut_minute)]
    merged = a.merge(b, on=key, suffixes=("_cut", "_full"))
    assert len(merged) > 0
    assert (merged["searches_cut"] <= merged["searches_full"]).all()
    assert (merged["searches_cut"] < merged["searches_full"]).any()
