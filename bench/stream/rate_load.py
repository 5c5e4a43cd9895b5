"""A constant-rate background load for bench/stream's freshness probe: POST /api/v1/events at
--rate events/s (open loop: batch k of each connection is due at start + k * interval, sent
late when the previous answer is late, never skipped), events of the six counted types with
ts = now over the given regions, unique event_ids. Runs for --duration s or until SIGTERM and
prints one JSON line {"sent", "accepted", "seconds", "events_per_s", "behind_max_ms",
"p50_ms", "p99_ms"} (request latencies; behind = how late the last batch went out).

    python rate_load.py --addr 127.0.0.1:8080 --regions dr5ru,dr5rv --rate 50000 --duration 60
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "stream"))
from reference import geohash_center  # noqa: E402

ACCEPTED = re.compile(rb'"accepted"\s*:\s*(\d+)')
# (type, weight): the counted types in ingest proportions
MIX = [("search", 38), ("view", 24), ("booking", 10), ("cancel", 4), ("driver_location", 16),
       ("driver_status", 8)]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--regions", required=True)
    p.add_argument("--rate", type=int, default=50_000, help="events per second in all")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--tag", default="load")
    a = p.parse_args()
    host, port = a.addr.rsplit(":", 1)
    regions = [r for r in a.regions.split(",") if r]
    centres = {r: geohash_center(r) for r in regions}
    types = [t for t, w in MIX for _ in range(w)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    interval = a.batch * a.connections / a.rate  # seconds between batches of one connection
    lock = threading.Lock()
    stats = {"sent": 0, "accepted": 0, "behind_max_ms": 0.0, "latencies": [], "errors": []}
    t_start = time.monotonic()

    def body(worker: int, k: int, rng: random.Random) -> bytes:
        now = int(time.time() * 1000)
        lines = []
        for j in range(a.batch):
            t = rng.choice(types)
            r = rng.choice(regions)
            head = f'{{"event_id":"{a.tag}-{worker}-{k}-{j}","type":"{t}","ts":{now},'
            if t == "driver_location":
                lat, lon = centres[r]
                lines.append(head + f'"region_id":"{r}","lat":{lat!r},"lon":{lon!r},'
                                    f'"driver_id":"d{rng.randrange(3000)}"}}')
            elif t == "driver_status":
                lines.append(head + f'"region_id":"{r}","driver_id":"d{rng.randrange(3000)}",'
                                    f'"status":"{rng.choice(("available", "busy"))}"}}')
            else:
                lines.append(head + f'"region_id":"{r}","user_id":"u{rng.randrange(20000)}",'
                                    f'"product_type":"standard"}}')
        return ("\n".join(lines) + "\n").encode()

    def run(worker: int) -> None:
        rng = random.Random(worker)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        k = 0
        # the connections' batches are spread evenly over each interval
        first = t_start + worker * interval / a.connections
        while not stop.is_set() and time.monotonic() - t_start < a.duration:
            due = first + k * interval
            wait = due - time.monotonic()
            if wait > 0:
                if stop.wait(wait):
                    break
            behind = max(0.0, time.monotonic() - due) * 1000
            data = body(worker, k, rng)
            t0 = time.monotonic()
            try:
                conn.request("POST", "/api/v1/events", body=data,
                             headers={"Content-Type": "application/x-ndjson"})
                resp = conn.getresponse()
                answer = resp.read()
            except OSError as e:
                with lock:
                    stats["errors"].append(repr(e))
                return
            latency = (time.monotonic() - t0) * 1000
            m = ACCEPTED.search(answer[:200])
            with lock:
                stats["sent"] += a.batch
                stats["accepted"] += int(m.group(1)) if m else 0
                stats["behind_max_ms"] = max(stats["behind_max_ms"], behind)
                stats["latencies"].append(latency)
                if resp.status != 200:
                    stats["errors"].append(f"HTTP {resp.status}: {answer[:200]!r}")
            k += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t_start
    lat = sorted(stats["latencies"]) or [0.0]
    out = {"sent": stats["sent"], "accepted": stats["accepted"], "seconds": round(seconds, 2),
           "events_per_s": round(stats["sent"] / seconds) if seconds > 0 else 0,
           "behind_max_ms": round(stats["behind_max_ms"], 1),
           "p50_ms": round(lat[len(lat) // 2], 2),
           "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
           "errors": len(stats["errors"])}
    print(json.dumps(out), flush=True)
    for e in stats["errors"][:5]:
        print(f"rate_load: {e}", file=sys.stderr)
    return 0 if not stats["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
