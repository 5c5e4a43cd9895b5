#!/usr/bin/env python3
"""Writes schemas/topics/<topic>.avsc, the union of the record schemas of the event types that
travel on each topic, from the per-type files beside this script (the source of truth).

The branch order is the wire format (a record value starts with its branch index), so it must
only ever be appended to. surge checks at start-up that every topic file is exactly the union of
the type files in this order (event_codec_new), and the unit tests run that check.

Usage: python3 tools/make_topics.py   (no arguments; rewrites schemas/topics/*.avsc)
"""
import json
import os

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")

# topic -> its records' schema files, in branch order (keep in step with src/event/event.c)
TOPICS = {
    "user-events": ["search", "view", "booking", "cancel"],
    "supply-events": ["driver_location", "driver_status"],
    "external-events": ["weather", "traffic", "venue_event", "holiday"],
    "system-events": ["config_change", "model_update", "price_change", "alert"],
    "pricing-decisions": ["pricing_decision"],
    "demand-signals": ["demand_signal"],
}


def main():
    os.makedirs(os.path.join(HERE, "topics"), exist_ok=True)
    for topic, names in TOPICS.items():
        union = []
        for name in names:
            with open(os.path.join(HERE, name + ".avsc")) as fp:
                union.append(json.load(fp))
        with open(os.path.join(HERE, "topics", topic + ".avsc"), "w") as fp:
            json.dump(union, fp, indent=2)
            fp.write("\n")


if __name__ == "__main__":
    main()
