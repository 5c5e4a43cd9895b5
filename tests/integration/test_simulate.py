"""`surge simulate` against a real server: the events it sends are the events the server
accepts (its own count against the server's /metrics), its price quotes are real compute
calls, a re-run with the same seed sends the same event ids, the offline demand history has
the documented columns and a daily pattern, the backtest writes its CSV and markdown, and bad
flags exit 2 with a message that names the flag."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import time
from collections import defaultdict
from datetime import datetime

import pytest

from conftest import child_env, run_surge, surge_binary

EVENT_STATUSES = ("accepted", "duplicate", "rejected", "rate_limited")


def events_metrics(srv) -> dict[str, int]:
    text = srv.get("/metrics").text
    out = {}
    for status in EVENT_STATUSES:
        m = re.search(r'^surge_events_total\{status="%s"\} (\d+)$' % status, text, re.M)
        assert m, f"no surge_events_total{{status={status!r}}} in /metrics"
        out[status] = int(m.group(1))
    return out


def compute_count(srv) -> int:
    text = srv.get("/metrics").text
    m = re.search(r"^surge_pricing_decisions_total (\d+)$", text, re.M)
    return int(m.group(1)) if m else -1


def simulate(*args, timeout=60):
    out = run_surge("simulate", *args, timeout=timeout)
    summary = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None
    return out, summary


def test_live_run_sends_events_the_server_accepts(surge_server):
    srv = surge_server()
    before = events_metrics(srv)
    decisions_before = compute_count(srv)
    out, s = simulate("--data-dir", str(srv.data_dir), "--speed", "600", "--duration", "3",
                      "--seed", "5", "--quote-rate", "30")
    assert out.returncode == 0, out.stderr
    assert s is not None, out.stderr
    # something substantial was sent: 3 s at x600 is 30 simulated minutes of 64 regions
    assert s["sent"] > 2000, s
    assert s["errors"] == 0 and s["rejected"] == 0 and s["rate_limited"] == 0, s
    assert s["accepted"] == s["sent"], s
    after = events_metrics(srv)
    assert after["accepted"] - before["accepted"] == s["accepted"]
    assert after["rejected"] == before["rejected"]
    assert after["duplicate"] - before["duplicate"] == s["duplicates"] == 0
    # the quotes went through the real compute API
    assert s["quotes"] > 10, s
    if decisions_before >= 0:
        assert compute_count(srv) - decisions_before == s["quotes"] + s["quote_errors"]
    # the progress line reports the rates
    assert re.search(r"events [0-9.]+/s sent \d+ accepted \d+", out.stderr), out.stderr

    # the same seed from the same start sends the same event ids: all duplicates now
    first_start = None
    m = re.search(r"from (\S+) at x", out.stderr)
    if m:
        first_start = m.group(1)
    assert first_start, out.stderr
    again, s2 = simulate("--data-dir", str(srv.data_dir), "--speed", "600", "--duration", "1",
                         "--seed", "5", "--quote-rate", "0", "--start", first_start)
    assert again.returncode == 0, again.stderr
    assert s2["sent"] > 0 and s2["duplicates"] > 0 and s2["accepted"] == 0, s2


def test_backfill_gives_the_stream_a_week_of_history_and_no_late_events(surge_server):
    # the default ingest limits: an 8-day backfill of the default city stays under them
    srv = surge_server()
    out, s = simulate("--data-dir", str(srv.data_dir), "--backfill", "8", "--duration", "2",
                      "--speed", "600", "--seed", "21", "--quote-rate", "0", timeout=180)
    assert out.returncode == 0, out.stderr
    bf = s["backfill"]
    # about 37 000 searches and 6 144 weather events a day
    assert bf["days"] == 8 and 250_000 < bf["sent"] < 450_000, bf
    assert bf["accepted"] == bf["sent"], bf
    assert bf["rejected"] == bf["rate_limited"] == bf["errors"] == bf["duplicates"] == 0, bf
    assert bf["batches"] == -(-bf["sent"] // 5000), bf
    assert s["sent"] > 1000 and s["accepted"] == s["sent"], s
    # the progress line reports the verdicts; the live run starts after the stream read it all
    assert re.search(r"backfill \S+Z 8\.0/8 days .*sent %d accepted %d dup 0 rejected 0 "
                     r"limited 0 \| errors 0" % (bf["sent"], bf["sent"]), out.stderr), out.stderr
    assert out.stderr.index("the stream has read the backfill") < out.stderr.index("\nsim ")
    assert events_metrics(srv)["accepted"] == bf["accepted"] + s["accepted"]

    total = bf["accepted"] + s["accepted"]
    deadline = time.time() + 30
    while True:
        status = srv.get("/api/v1/stream/status").json()
        if status["events_total"] + status["late_events_total"] >= total and \
                status["lag_records"] == 0:
            break
        assert time.time() < deadline, status
        time.sleep(0.1)
    time.sleep(0.5)  # a publish cycle of the features
    assert status["late_events_total"] == 0, status
    # dr5ru, the centre, is the busiest region: a week of hours, and the nowcast against it
    r = srv.get("/api/v1/features/dr5ru")
    assert r.status_code == 200, r.text
    f = r.json()["features"]
    assert f["history_hours"] >= 167, f
    assert f["rolling_avg_demand_7d"] > 10, f  # searches an hour, over the week
    assert "seasonality_score" in f, f
    assert 0 < f["demand_score"] < 1, f


def test_rate_sizes_the_market_for_the_target(surge_server):
    srv = surge_server(config={"ingest.user_per_min": 0})
    out, s = simulate("--data-dir", str(srv.data_dir), "--speed", "60", "--rate", "2000",
                      "--duration", "3", "--quote-rate", "0", "--seed", "12")
    assert out.returncode == 0, out.stderr
    assert "--rate 2000 at x60: scale" in out.stderr
    # the market was sized for 2000 events a wall second over these 3 s (3 simulated minutes)
    assert 0.6 * 6000 < s["sent"] < 1.4 * 6000, s
    assert s["accepted"] == s["sent"], s


def test_ctrl_c_flushes_the_last_batch_and_exits_0(surge_server):
    srv = surge_server()
    proc = subprocess.Popen(
        [str(surge_binary()), "simulate", "--url", srv.url, "--speed", "120", "--seed", "9"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    s = json.loads(stdout.strip().splitlines()[-1])
    assert s["sent"] > 0 and s["errors"] == 0
    assert events_metrics(srv)["accepted"] == s["accepted"] == s["sent"]


def test_unreachable_server_is_an_error_not_a_hang(tmp_path):
    (tmp_path / "listen.addr").write_text("127.0.0.1:9\n")  # discard port: nothing listens
    out, s = simulate("--data-dir", str(tmp_path), "--speed", "600", "--duration", "5",
                      timeout=30)
    assert out.returncode == 1
    assert "does not answer" in out.stderr or "POST" in out.stderr
    missing = run_surge("simulate", "--data-dir", str(tmp_path / "nope"), "--duration", "1")
    assert missing.returncode == 1
    assert "listen.addr" in missing.stderr


def test_history_has_the_documented_columns_and_a_daily_pattern(tmp_path):
    path = tmp_path / "history.csv"
    out = run_surge("simulate", "--history-out", str(path), "--days", "7", "--regions", "16",
                    "--start", "2026-03-02T00:00:00-05:00", "--seed", "3")
    assert out.returncode == 0, out.stderr
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["region_id", "ts", "demand", "temperature",
                                    "precipitation", "holiday"]
    assert len(rows) == 7 * 96 * 16
    regions = {r["region_id"] for r in rows}
    assert len(regions) == 16 and "dr5ru" in regions
    # 15-minute steps from the start, the same for every region
    stamps = sorted({r["ts"] for r in rows})
    assert stamps[0] == "2026-03-02T05:00:00.000Z" and len(stamps) == 7 * 96
    # a daily pattern: New York's rush hours beat the small hours every weekday
    by_day_hour = defaultdict(int)
    for r in rows:
        ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
        local_hour = (ts.hour - 5) % 24
        day = (ts.timestamp() - 5 * 3600) // 86400
        by_day_hour[(day, local_hour)] += int(r["demand"])
        assert float(r["precipitation"]) >= 0 and -40 < float(r["temperature"]) < 45
        assert r["holiday"] in ("0", "1")
    days = sorted({d for d, _ in by_day_hour})
    for day in days[:5]:  # Monday to Friday
        assert by_day_hour[(day, 8)] > 3 * by_day_hour[(day, 3)], day
        assert by_day_hour[(day, 18)] > 3 * by_day_hour[(day, 3)], day
    # the same seed writes the same file
    again = tmp_path / "again.csv"
    run_surge("simulate", "--history-out", str(again), "--days", "7", "--regions", "16",
              "--start", "2026-03-02T00:00:00-05:00", "--seed", "3")
    assert again.read_bytes() == path.read_bytes()


def test_backtest_writes_csv_and_markdown(tmp_path):
    out = run_surge("simulate", "--backtest", "1", "--regions", "4", "--seed", "1",
                    "--start", "2026-03-02T05:00:00Z", "--out-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    with (tmp_path / "backtest.csv").open() as f:
        rows = {r["policy"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"static", "dynamic"}
    static, dynamic = rows["static"], rows["dynamic"]
    assert static["requests"] == dynamic["requests"]  # the same riders under both policies
    assert float(static["price_volatility"]) == 0 and float(static["mean_multiplier"]) == 1
    assert float(dynamic["mean_multiplier"]) >= 1
    md = (tmp_path / "backtest.md").read_text()
    assert md == out.stdout
    assert "| static |" in md and "| dynamic |" in md and "| dynamic / static |" in md
    again = run_surge("simulate", "--backtest", "1", "--regions", "4", "--seed", "1",
                      "--start", "2026-03-02T05:00:00Z", "--out-dir", str(tmp_path))
    assert again.stdout == out.stdout


@pytest.mark.parametrize("args, message", [
    (["--speed", "0"], "--speed '0': must be a number in (0, 100000]"),
    (["--speed", "fast"], "--speed 'fast'"),
    (["--regions", "2000"], "--regions '2000': must be an integer in 1..1024"),
    (["--center", "40.7"], "--center '40.7': must be LAT,LON"),
    (["--center", "95,10"], "the latitude must be a number in [-85, 85]"),
    (["--elasticity", "-1"], "--elasticity '-1'"),
    (["--start", "yesterday"], "--start 'yesterday': must be RFC 3339"),
    (["--seed", "-4"], "--seed '-4'"),
    (["--timezone", "Mars/Olympus"], "not a known IANA time zone"),
    (["--backtest", "0"], "--backtest '0': must be days in 1..366"),
    (["--history-out", "x.csv"], "--history-out needs --days N"),
    (["--days", "3"], "--days is for --history-out"),
    (["--backtest", "1", "--url", "http://127.0.0.1:1"], "are for a live run"),
    (["--backfill", "29"], "--backfill '29': must be whole days in 0..28"),
    (["--backfill", "-1"], "--backfill '-1': must be whole days in 0..28"),
    (["--backfill", "2.5"], "--backfill '2.5'"),
    (["--backtest", "1", "--backfill", "3"], "--backfill is for a live run"),
    (["--url", "ftp://x"], "--url 'ftp://x': must be an http:// URL"),
    (["--frobnicate", "1"], "unknown option '--frobnicate'"),
    (["--seed"], "--seed needs a value"),
])
def test_bad_flags_exit_2_with_a_precise_message(args, message):
    out = run_surge("simulate", *args)
    assert out.returncode == 2, (args, out.stderr)
    assert message in out.stderr, out.stderr


def test_help_describes_the_modes():
    out = run_surge("simulate", "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("Usage: surge simulate")
    for flag in ("--backtest", "--history-out", "--speed", "--rate", "--quote-rate", "--seed",
                 "--backfill"):
        assert flag in out.stdout
