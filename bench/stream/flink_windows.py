"""The peer of bench/stream: the stream contract's window aggregates (tumbling 1 min and 5 min,
sliding 15 min by 1 min, per region) in Apache Flink SQL (PyFlink, local mini-cluster,
streaming mode, parallelism 1), over a bounded CSV file of region_id,type,ts.

    python flink_windows.py --input events.csv --output out.csv [--parallelism 1]

Event time is ts (epoch ms) with a 30 s bounded-out-of-orderness watermark, windows are window
TVFs (TUMBLE, HOP) in UTC. The three aggregates run as one job (one statement set sharing the
source). Writes the rows in surge's CSV format (header included) and prints one JSON line:
{"rows", "jvm_cpu_s" (user + system CPU of the JVM), "jvm_start_s" (until the table
environment is up), "job_s" (submit to finish, as seen from Python), "net_runtime_s" (Flink's
own job runtime), "total_s"}.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import time

HEADER = ("region_id,window,window_start,window_end,searches,views,bookings,cancels,"
          "cancel_rate,driver_locations,driver_statuses")


def jvm_cpu_seconds() -> float:
    """CPU time (user + system) the Flink JVM has used so far: it is PyFlink's gateway process,
    which this Python process does not wait for, so /usr/bin/time does not count it."""
    from pyflink.java_gateway import get_gateway

    pid = get_gateway().jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return round(ticks / os.sysconf("SC_CLK_TCK"), 2)


def main() -> int:
    t0 = time.monotonic()
    p = argparse.ArgumentParser()
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--lateness-s", type=int, default=30)
    a = p.parse_args()

    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    conf = Configuration()
    conf.set_string("parallelism.default", str(a.parallelism))
    conf.set_string("table.local-time-zone", "UTC")
    conf.set_string("table.exec.resource.default-parallelism", str(a.parallelism))
    # all windows of a bounded input close at its end (the final MAX watermark)
    settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf) \
        .build()
    env = TableEnvironment.create(settings)
    t_env = time.monotonic()

    parts = os.path.abspath(a.output + ".parts")
    shutil.rmtree(parts, ignore_errors=True)
    env.execute_sql(f"""
        CREATE TABLE events (
            region_id STRING,
            type STRING,
            ts BIGINT,
            rt AS TO_TIMESTAMP_LTZ(ts, 3),
            WATERMARK FOR rt AS rt - INTERVAL '{a.lateness_s}' SECOND
        ) WITH (
            'connector' = 'filesystem',
            'path' = 'file://{os.path.abspath(a.input)}',
            'format' = 'csv',
            'csv.ignore-parse-errors' = 'false',
            'csv.allow-comments' = 'true'
        )""")
    for name in ("tumbling_1m", "tumbling_5m", "sliding_15m"):
        env.execute_sql(f"""
            CREATE TABLE out_{name} (
                region_id STRING, `window` STRING, window_start BIGINT, window_end BIGINT,
                searches BIGINT, `views` BIGINT, bookings BIGINT, cancels BIGINT,
                cancel_rate DOUBLE, driver_locations BIGINT, driver_statuses BIGINT
            ) WITH (
                'connector' = 'filesystem',
                'path' = 'file://{parts}/{name}',
                'format' = 'csv',
                'sink.rolling-policy.file-size' = '1gb'
            )""")

    def counts(tvf: str, name: str) -> str:
        # window bounds as epoch ms: minutes since the epoch (windows are minute-aligned, UTC)
        epoch = "TIMESTAMP '1970-01-01 00:00:00'"
        return f"""
            INSERT INTO out_{name}
            SELECT region_id, '{name}',
                   CAST(TIMESTAMPDIFF(MINUTE, {epoch}, window_start) AS BIGINT) * 60000,
                   CAST(TIMESTAMPDIFF(MINUTE, {epoch}, window_end) AS BIGINT) * 60000,
                   searches, `views`, bookings, cancels,
                   CASE WHEN bookings > 0 THEN CAST(cancels AS DOUBLE) / bookings ELSE 0.0 END,
                   driver_locations, driver_statuses
            FROM (
                SELECT region_id, window_start, window_end,
                       COUNT(*) FILTER (WHERE type = 'search') AS searches,
                       COUNT(*) FILTER (WHERE type = 'view') AS `views`,
                       COUNT(*) FILTER (WHERE type = 'booking') AS bookings,
                       COUNT(*) FILTER (WHERE type = 'cancel') AS cancels,
                       COUNT(*) FILTER (WHERE type = 'driver_location') AS driver_locations,
                       COUNT(*) FILTER (WHERE type = 'driver_status') AS driver_statuses
                FROM TABLE({tvf})
                WHERE type IN ('search', 'view', 'booking', 'cancel', 'driver_location',
                               'driver_status')
                GROUP BY region_id, window_start, window_end
            )"""

    stmts = env.create_statement_set()
    stmts.add_insert_sql(counts("TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' MINUTE)",
                                "tumbling_1m"))
    stmts.add_insert_sql(counts("TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '5' MINUTE)",
                                "tumbling_5m"))
    stmts.add_insert_sql(counts("HOP(TABLE events, DESCRIPTOR(rt), INTERVAL '1' MINUTE, "
                                "INTERVAL '15' MINUTE)", "sliding_15m"))
    if os.environ.get("FLINK_EXPLAIN"):
        print(stmts.explain(), file=sys.stderr)
    t_submit = time.monotonic()
    result = stmts.execute()
    job = result.get_job_client().get_job_execution_result().result()
    t_done = time.monotonic()
    net_ms = job.get_net_runtime()
    jvm_cpu_s = jvm_cpu_seconds()

    # the sinks' part files (hidden in-progress files would mean an uncommitted sink)
    rows = 0
    with open(a.output, "w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for path in sorted(glob.glob(os.path.join(parts, "**", "*"), recursive=True)):
            if os.path.isdir(path):
                continue
            if os.path.basename(path).startswith("."):
                print(f"flink_windows: uncommitted part file {path}", file=sys.stderr)
                return 1
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        out.write(line if line.endswith("\n") else line + "\n")
                        rows += 1
    shutil.rmtree(parts, ignore_errors=True)
    print(json.dumps({"rows": rows, "jvm_cpu_s": jvm_cpu_s, "jvm_start_s": round(t_env - t0, 3),
                      "job_s": round(t_done - t_submit, 3),
                      "net_runtime_s": round(net_ms / 1000.0, 3),
                      "total_s": round(time.monotonic() - t0, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
