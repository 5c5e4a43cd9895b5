#!/usr/bin/env bash
# bench/log/run.sh: raw append and read throughput of surge's own log (the embedded bus backend,
# DESIGN §9 and the bus issue: >= 2M records/s appended on 2 cores, batched).
#
# Builds bench/log/append_bench.c with gcc -O2 against the library sources and runs it on a data
# dir on the repository's disk (not tmpfs, so fsync costs what it costs): one producer thread per
# partition on 2 partitions, 100-byte JSON-like values with 5-byte keys, batches of 1000, each for
# BENCH_SECONDS seconds, with fsync after every batch and every 100 ms, snappy off and on, plus 4
# producers per partition with fsync after every batch (group commit); then reads each log back
# with one consumer per partition and with one alone. Prints a markdown section and writes it to
# bench/results/log-<date>.md. Takes about 5 x BENCH_SECONDS plus the read-backs.
#   BENCH_SECONDS=5    seconds of each append run
#   THREADS=2          partitions written, one producer thread each
#   BATCH=1000         records per batch
#   VALUE=100          bytes per record value
#   BENCH_DIR=build/bench-log   data dir (deleted after each run)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

SECONDS_EACH=${BENCH_SECONDS:-5}
THREADS=${THREADS:-2}
BATCH=${BATCH:-1000}
VALUE=${VALUE:-100}
BENCH_DIR=${BENCH_DIR:-build/bench-log}
command_line="BENCH_SECONDS=$SECONDS_EACH THREADS=$THREADS BATCH=$BATCH VALUE=$VALUE bench/log/run.sh"

say() { printf 'bench/log: %s\n' "$*" >&2; }

mkdir -p build bench/results
bin=build/append_bench
say "building $bin"
gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-unused-parameter -Isrc \
    src/core/*.c src/bus/*.c bench/log/append_bench.c -o "$bin" \
    $(pkg-config --libs snappy jansson) -lpthread -lm

mkdir -p "$BENCH_DIR"
abs_dir=$(cd "$BENCH_DIR" && pwd)
fs=$(df -T "$abs_dir" | awk 'NR == 2 { print $2 " on " $1 }')
say "running: $command_line (data dir $abs_dir, $fs)"
load=$(cut -d' ' -f1-3 /proc/loadavg)
rows=$("$bin" "$abs_dir" "$SECONDS_EACH" "$THREADS" "$BATCH" "$VALUE")
rm -rf "$abs_dir"

date_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
day=$(date -u +%Y-%m-%d)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
meeting=$(printf '%s\n' "$rows" | awk -F'|' '
    $2 ~ /append/ && $6 + 0 >= 2000000 {
        gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); gsub(/^ +| +$/, "", $5)
        list = list (list ? "; " : "") $3 ", " $4 ", " $5 " threads"
    }
    END { print (list ? list : "none") }')

report=$(
    cat <<EOF
## log: raw append and read throughput (bench/log)

- Date: $date_iso; surge $rev
- Machine: $(nproc) CPUs, $cpu, Linux $(uname -r); data dir on $fs; load average before
  the run: $load (the machine is shared)
- Command: \`$command_line\`
- Load: $THREADS producer threads, each on its own partition of user-events (the group commit
  row: 4 per partition); batches of $BATCH records, each a 5-byte key and a $VALUE-byte JSON-like
  value with random ids and padding (its JSON field names are what snappy finds to compress);
  every run lasts ${SECONDS_EACH} s and its clock stops after \`bus_close\` (so the last interval
  fsync counts).
  Reads: one consumer per partition, then one consumer alone over partition 0, from the page
  cache (the data was just written). "log MB/s" is what reaches the files, after compression.
- Target: >= 2,000,000 records/s appended on 2 cores, batched. Append runs that reach it:
  $meeting.

| path | policy | compression | threads | records/s | value MB/s | log MB/s | fsyncs | batch p50 µs | batch p99 µs |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|
$rows
EOF
)
printf '%s\n' "$report"
printf '%s\n' "$report" >"bench/results/log-$day.md"
say "wrote bench/results/log-$day.md"
