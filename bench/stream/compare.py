"""Compares two aggregate CSVs of the stream contract (surge replay's, Flink's, or the pandas
reference's) row for row: rows matched by (region_id, window, window_start, window_end), every
count equal and cancel_rate equal as a double. Prints one JSON line {"rows_a", "rows_b",
"differing"} and, on stderr, the first differing rows. Exit 0 when equal, 1 otherwise.

    python compare.py A.csv B.csv
    python compare.py --events events.ndjson B.csv     (A = the pandas reference of the events)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "stream"))
import reference  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", help="NDJSON events: compare B with their reference aggregates")
    p.add_argument("a", nargs="?")
    p.add_argument("b")
    args = p.parse_args()
    if args.events:
        a = reference.aggregates(reference.read_events(args.events))
    else:
        a = reference.read_aggregates_csv(args.a)
    b = reference.read_aggregates_csv(args.b)
    count, report = reference.diff_rows(a, b)
    print(json.dumps({"rows_a": len(a), "rows_b": len(b), "differing": count}))
    if count:
        print(report, file=sys.stderr)
    return 0 if count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
