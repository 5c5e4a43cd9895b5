#!/usr/bin/env bash
# bench/ingest/run.sh: events/s accepted by POST /api/v1/events over HTTP, durable, in batches
# (DESIGN §9: >= 300K events/s durable, batched, embedded log; the seed's 20K events/s).
#
# Each run starts a fresh `surge serve` (fresh temp data dir, rate limits off:
# ingest.user_per_min=0, ingest.region_per_min=0, ratelimit.ip_per_min=0) in one of two
# configurations, one after the other so they never share the CPUs:
#   fsync-on     the default: a request is answered once its events are fdatasync'ed
#   fsync-100ms  --set bus.fsync_interval_ms=100: answered after the write; a background thread
#                fsyncs every 100 ms (a crash can lose the last 100 ms of acknowledged events)
# Load: ingest_load.c (built here with gcc -O2; plain sockets, HTTP/1.1 keep-alive), CONNECTIONS
# connections each POSTing JSON arrays of BATCH realistic mixed events (searches, views,
# bookings, cancels, driver positions and statuses, weather, traffic) over the 64 regions of
# the sample city, with unique event_ids, as fast as the server answers (closed loop). Bodies
# are rendered before the clock starts; per request the client only rewrites the fixed-width
# sequence digits of each event_id. The first WARMUP s are not counted.
# Checks: no duplicate, no rejected, no non-200 (the run fails otherwise), and the log holds
# exactly the accepted events (`surge log topics`). Reports events/s, request latency, and the
# log's fsyncs and batches per request (from /metrics).
# Prints a markdown section and writes it to bench/results/ingest-<date>.md; bench/run.sh puts
# the latest one into BENCHMARKS.md. About 50 s with the defaults.
#   DURATION=10     timed seconds of each run
#   WARMUP=2        seconds before the timed window
#   RUNS=2          runs of each configuration (interleaved); the best is shown
#   CONNECTIONS=8   client connections
#   BATCH=1000      events per request
#   BUILD=build     build directory holding surge
#   KEEP_TMP=1      keep the temp dir (server logs, raw results)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-2}
CONNECTIONS=${CONNECTIONS:-8}
BATCH=${BATCH:-1000}
BUILD=${BUILD:-build}
TOKEN=bench-admin-token-0123456789
TARGET_EPS=300000
command_line="DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS CONNECTIONS=$CONNECTIONS BATCH=$BATCH bench/ingest/run.sh"

say() { printf 'bench/ingest: %s\n' "$*" >&2; }
die() {
    printf 'bench/ingest: error: %s\n' "$*" >&2
    exit 1
}

command -v gcc >/dev/null 2>&1 || die "gcc is needed to build the load generator"
command -v curl >/dev/null 2>&1 || die "curl is needed"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

SURGE=$root/$BUILD/surge
if [[ ! -x $SURGE ]]; then
    say "building $SURGE"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target surge >/dev/null
fi

# ---------------------------------------------------------------- processes and clean-up

tmp=$(mktemp -d -t surge-bench-ingest.XXXXXX)
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit }' /proc/stat; }
read -r busy0 total0 steal0 < <(cpu_ticks)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# server_pid, child, stop_server, the clean-up on exit
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---------------------------------------------------------------- the load generator

say "building the load generator (gcc -O2)"
gcc -O2 -std=c11 -Wall -Wextra -pthread -o "$tmp/ingest_load" "$here/ingest_load.c" ||
    die "could not build bench/ingest/ingest_load.c"

# ---------------------------------------------------------------- one run

addr=""
start_surge() {
    local name=$1 dir=$tmp/$1 i
    shift
    mkdir -p "$dir"
    "$SURGE" serve --listen 127.0.0.1:0 --data-dir "$dir" --set admin.token="$TOKEN" \
        --set ingest.user_per_min=0 --set ingest.region_per_min=0 \
        --set ratelimit.ip_per_min=0 "$@" >"$tmp/$name.log" 2>&1 &
    server_pid[surge]=$!
    for ((i = 0; i < 300; i++)); do
        [[ -s $dir/listen.addr ]] && break
        kill -0 "${server_pid[surge]}" 2>/dev/null || break
        sleep 0.1
    done
    [[ -s $dir/listen.addr ]] || {
        tail -n 20 "$tmp/$name.log" >&2 || true
        die "$name did not write $dir/listen.addr"
    }
    addr=$(<"$dir/listen.addr")
    for ((i = 0; i < 300; i++)); do
        kill -0 "${server_pid[surge]}" 2>/dev/null || {
            tail -n 20 "$tmp/$name.log" >&2 || true
            die "$name exited during start-up"
        }
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz") == 200 ]] && return 0
        sleep 0.1
    done
    die "$name did not become ready within 30 s"
}

# Prints "name value" for the metrics the report uses.
read_metrics() {
    curl -sf "http://$addr/metrics" | awk '
        /^surge_events_total\{status="accepted"\}/ { print "accepted", $2 }
        /^surge_events_total\{status="duplicate"\}/ { print "duplicate", $2 }
        /^surge_events_total\{status="rejected"\}/ { print "rejected", $2 }
        /^surge_events_total\{status="rate_limited"\}/ { print "rate_limited", $2 }
        /^surge_bus_fsyncs_total / { print "fsyncs", $2 }
        /^surge_bus_batches_written_total / { print "batches", $2 }
        /^surge_bus_records_written_total / { print "records", $2 }
        /^surge_bus_bytes_written_total / { print "bytes", $2 }'
}

declare -A m0=() m1=()
regions=""
declare -A best=() runs_eps=()

run_config() {
    local config=$1 run=$2 name=$1-$2 out k v line kv
    shift 2
    start_surge "$name" "$@"
    if [[ -z $regions ]]; then
        regions=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://$addr/api/v1/admin/regions" |
            python3 -c 'import json, sys; print(",".join(r["region_id"] for r in json.load(sys.stdin)["regions"]))') ||
            die "could not list the sample regions"
        [[ -n $regions ]] || die "the sample city has no regions"
    fi
    m0=()
    while read -r k v; do m0[$k]=$v; done < <(read_metrics)
    out=$tmp/load-$name.txt
    say "$config, run $run/$RUNS: $CONNECTIONS connections x $BATCH events per request, ${WARMUP}+${DURATION}s"
    "$tmp/ingest_load" --port "${addr##*:}" --connections "$CONNECTIONS" --batch "$BATCH" \
        --warmup "$WARMUP" --duration "$DURATION" --regions "$regions" --tag "$name" >"$out" 2>&1 &
    child=$!
    local rc=0
    wait "$child" || rc=$?
    child=""
    ((rc == 0)) || die "the load generator failed against $name: $(tail -n 5 "$out")"
    m1=()
    while read -r k v; do m1[$k]=$v; done < <(read_metrics)
    local rss
    rss=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${server_pid[surge]}/status")
    # the log holds exactly the accepted events
    local logged
    logged=$("$SURGE" log topics --data-dir "$tmp/$name" |
        awk '$1 ~ /^(user|supply|external|system)-events$/ { n += $5 } END { print n + 0 }')
    stop_server surge

    line=$(grep -m1 '^RESULT ' "$out") || die "no RESULT from the load generator: $(tail -n 5 "$out")"
    declare -A r=()
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    local d_req=${r[all_requests]}
    local d_acc=$((${m1[accepted]%.*} - ${m0[accepted]%.*}))
    local d_dup=$((${m1[duplicate]%.*} - ${m0[duplicate]%.*}))
    local d_rej=$((${m1[rejected]%.*} - ${m0[rejected]%.*}))
    local d_rl=$((${m1[rate_limited]%.*} - ${m0[rate_limited]%.*}))
    local d_fs=$((${m1[fsyncs]%.*} - ${m0[fsyncs]%.*}))
    local d_bat=$((${m1[batches]%.*} - ${m0[batches]%.*}))
    local d_bytes=$((${m1[bytes]%.*} - ${m0[bytes]%.*}))
    local fs_req bat_req bytes_ev
    fs_req=$(awk -v a="$d_fs" -v b="$d_req" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
    bat_req=$(awk -v a="$d_bat" -v b="$d_req" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
    bytes_ev=$(awk -v a="$d_bytes" -v b="$d_acc" 'BEGIN { printf "%.0f", (b > 0) ? a / b : 0 }')
    say "  ${r[events_per_s]} events/s, ${r[requests_per_s]} requests/s, p50 ${r[p50_us]} us, p99 ${r[p99_us]} us, fsyncs/request $fs_req, duplicates $d_dup, rejected $d_rej"
    # every request of the run, warm-up included, against the server's own counters
    local problems=""
    ((d_dup == 0)) || problems+=" $d_dup duplicates;"
    ((d_rej == 0)) || problems+=" $d_rej rejected;"
    ((d_rl == 0)) || problems+=" $d_rl rate-limited;"
    ((${r[all_non200]} == 0)) || problems+=" ${r[all_non200]} non-200 answers;"
    ((d_acc == ${r[all_events]})) || problems+=" the server accepted $d_acc of ${r[all_events]} events sent;"
    ((logged == d_acc)) || problems+=" the log holds $logged records for $d_acc accepted events;"
    [[ -z $problems ]] || failures+=("$name:$problems")
    runs_eps[$config]+="${runs_eps[$config]:+ / }${r[events_per_s]}"
    if [[ -z ${best[$config]:-} ]] || ((r[events_per_s] > ${best[$config]%% *})); then
        best[$config]="${r[events_per_s]} ${r[requests_per_s]} ${r[p50_us]} ${r[p90_us]} ${r[p99_us]} ${r[max_us]} ${r[accepted]} $d_dup $d_rej ${r[all_non200]} $fs_req $bat_req $bytes_ev ${r[body_bytes_per_request]} $rss $logged"
    fi
}

failures=()
configs=(fsync-on fsync-100ms)
declare -A flags=([fsync-on]="" [fsync-100ms]="--set bus.fsync_interval_ms=100")
for ((run = 1; run <= RUNS; run++)); do
    for config in "${configs[@]}"; do
        # shellcheck disable=SC2086
        run_config "$config" "$run" ${flags[$config]}
    done
done

# CPU ticks of this script and every child it has waited for (the servers, the load generator,
# gcc, curl, python3), against those of the whole machine
our_ticks=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$$/stat")
read -r busy1 total1 steal1 < <(cpu_ticks)
other_pct=$(awk -v b=$((busy1 - busy0)) -v o="$our_ticks" -v t=$((total1 - total0)) \
    'BEGIN { v = t > 0 ? 100 * (b - o) / t : 0; printf "%.0f", (v < 0) ? 0 : v }')
steal_pct=$(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", (t > 0) ? 100 * s / t : 0 }')

# ---------------------------------------------------------------- report

ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
fmt_int() { printf "%'d" "$1" 2>/dev/null || printf '%s' "$1"; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
surge_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src 2>/dev/null || surge_rev+=" + uncommitted changes in src/"
fs_type=$(df -PT "$tmp" | awk 'NR == 2 { print $2 }')
date_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
declare -A desc=(
    [fsync-on]="fsync on (default: answered after fdatasync)"
    [fsync-100ms]="bus.fsync_interval_ms=100"
)

read -r _ _ _ _ _ _ _ _ _ _ _ _ _ body_bytes _ <<<"${best[fsync-on]}"
section=$tmp/section.md
{
    echo "## ingest: POST /api/v1/events"
    echo
    echo "- Date: $date_iso; surge $surge_rev"
    echo "- Machine: $(nproc) CPUs, $cpu_model, Linux $(uname -r); load generator and server share these CPUs, over loopback; log on $fs_type"
    echo "- Command: \`$command_line\`"
    echo "- Load: bench/ingest/ingest_load.c (gcc -O2, plain sockets, HTTP/1.1 keep-alive), $CONNECTIONS connections, closed loop;"
    echo "  each request a JSON array of $BATCH mixed events (35 % search, 25 % view, 7 % booking, 2 % cancel, 23 % driver_location,"
    echo "  6 % driver_status, 1 % weather, 1 % traffic) over the $(tr ',' '\n' <<<"$regions" | wc -l) regions of the sample city, unique event_ids,"
    echo "  $(awk -v b="$body_bytes" 'BEGIN { printf "%.0f", b / 1024 }') KiB of JSON per request"
    echo "- surge: fresh data dir per run, rate limits off (ingest.user_per_min=0, ingest.region_per_min=0, ratelimit.ip_per_min=0), other settings default (http.threads = CPUs)"
    echo
    echo "$RUNS runs of each configuration, interleaved, ${WARMUP} s warm-up then ${DURATION} s timed; the table shows the run with the most"
    echo "events/s. Latency is per request ($BATCH events), from the first byte sent to the last byte of the answer."
    echo
    echo "| configuration | events/s accepted | vs target 300K | requests/s | p50 ms | p90 ms | p99 ms | max ms | duplicates | rejected | non-200 | fsyncs / request | log batches / request | log bytes / event | peak RSS MiB | events/s of each run |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for config in "${configs[@]}"; do
        read -r eps rps p50 p90 p99 max acc dup rej non200 fsr batr bpe _ rss _ <<<"${best[$config]}"
        echo "| ${desc[$config]} | $(fmt_int "$eps") | $(awk -v a="$eps" -v t="$TARGET_EPS" 'BEGIN { printf "%.2f", a / t }') | $rps | $(ms "$p50") | $(ms "$p90") | $(ms "$p99") | $(ms "$max") | $dup | $rej | $non200 | $fsr | $batr | $bpe | $rss | ${runs_eps[$config]} |"
    done
    echo
    echo "### Notes"
    echo
    read -r eps_on _ <<<"${best[fsync-on]}"
    read -r eps_100 _ <<<"${best[fsync-100ms]}"
    echo "- Target (DESIGN §9): ≥ 300K events/s durable over HTTP: fsync on $(fmt_int "$eps_on") events/s ($(awk -v a="$eps_on" 'BEGIN { printf "%.2f", a / 300000 }') × target), bus.fsync_interval_ms=100 $(fmt_int "$eps_100") ($(awk -v a="$eps_100" 'BEGIN { printf "%.2f", a / 300000 }') ×); the seed asks for 20K events/s."
    echo "- fsyncs / request and log batches / request are surge_bus_fsyncs_total and surge_bus_batches_written_total over the run divided by the requests sent (warm-up included): a batch of mixed events is split by (topic, partition), one log batch each, all of them are written first and then each partition is fdatasync'ed once (bus_produce_many); fdatasyncs after the first find little left to write."
    echo "- Every run checks its counters: duplicates, rejected and rate-limited all 0 (surge_events_total), every event sent accepted, and \`surge log topics\` holding exactly the accepted events."
    echo "- Peer: the same events through Kafka (kcat, acks=all) is not measured yet; it comes with the distributed-mode issue."
    if [[ -f bench/log/run.sh ]]; then
        latest=$(find bench/results -maxdepth 1 -name 'log-*.md' 2>/dev/null | sort | tail -n 1)
        echo "- The raw log append rate without HTTP is bench/log/run.sh${latest:+ (latest: $latest)}."
    fi
    echo "- Other work on the machine: load average $load_before at the start; processes outside this benchmark used about $other_pct % of the machine's CPU time during it (steal $steal_pct %)."
    echo "- Numbers from a shared machine are noisy: compare configurations of the same run, not absolute numbers across runs."
    for f in "${failures[@]}"; do echo "- **FAILED CHECK** $f"; done
} >"$section"

mkdir -p bench/results
cp "$section" "bench/results/ingest-$(date -u +%Y-%m-%d).md"
cat "$section"
say "wrote bench/results/ingest-$(date -u +%Y-%m-%d).md"
((${#failures[@]} == 0)) || die "checks failed: ${failures[*]}"
