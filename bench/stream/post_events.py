"""Loads an NDJSON file of events into a running surge: POST /api/v1/events in NDJSON batches
over keep-alive connections, each connection sending every n-th batch, in file order per
connection. Prints one JSON line {"sent", "accepted", "duplicates", "rejected", "rate_limited",
"seconds", "events_per_s"}; exits 1 when any request failed or any event was not accepted.

    python post_events.py --addr 127.0.0.1:8080 --file events.ndjson [--batch 5000] [--connections 1]

One connection keeps the whole file in send order, which is what the stream's watermark sees;
more connections interleave batches (a batch's events stay together and in order).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time

COUNTS = re.compile(rb'"(accepted|duplicates|rejected|rate_limited)"\s*:\s*(\d+)')


def read_batches(path: str, batch: int) -> list[bytes]:
    with open(path, "rb") as f:
        lines = [ln for ln in f.read().split(b"\n") if ln.strip()]
    return [b"\n".join(lines[i:i + batch]) + b"\n" for i in range(0, len(lines), batch)]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True, help="HOST:PORT of surge")
    p.add_argument("--file", required=True)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--connections", type=int, default=1)
    a = p.parse_args()
    host, port = a.addr.rsplit(":", 1)
    batches = read_batches(a.file, a.batch)
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "rate_limited": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def send(worker: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        mine = {k: 0 for k in totals}
        for body in batches[worker::a.connections]:
            conn.request("POST", "/api/v1/events", body=body,
                         headers={"Content-Type": "application/x-ndjson"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                with lock:
                    errors.append(f"HTTP {resp.status}: {data[:300]!r}")
                return
            # the counts lead the answer; the per-event results are not parsed
            for key, value in COUNTS.findall(data[:400]):
                mine[key.decode()] += int(value)
        conn.close()
        with lock:
            for k, v in mine.items():
                totals[k] += v

    t0 = time.monotonic()
    threads = [threading.Thread(target=send, args=(w,)) for w in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    sent = sum(b.count(b"\n") for b in batches)
    print(json.dumps({"sent": sent, **totals, "seconds": round(seconds, 3),
                      "events_per_s": round(sent / seconds) if seconds > 0 else 0}))
    for e in errors:
        print(f"post_events: {e}", file=sys.stderr)
    return 0 if not errors and totals["accepted"] == sent else 1


if __name__ == "__main__":
    sys.exit(main())
