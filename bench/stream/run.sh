#!/usr/bin/env bash
# bench/stream/run.sh: the stream processor's throughput and freshness (DESIGN §5, §9), with
# Apache Flink as the peer on the same input and the same machine.
#
# a. Throughput. EVENTS seeded events (tests/stream/generator.py: the six counted types and
#    weather, the 64 regions of the sample city, SPAN_H hours of event time, disorder <= 5 s)
#    are POSTed to a fresh surge (NDJSON batches of 5000, rate limits off,
#    bus.fsync_interval_ms=100), which is then stopped. Timed, RUNS times each, best kept:
#      surge    `surge replay --json --aggregates-out` over that data dir (tumbling 1 min and 5 min,
#               sliding 15 min by 1 min, per region)
#      Flink    the same three aggregates in Flink SQL (bench/stream/flink_windows.py: PyFlink,
#               local mini-cluster, streaming mode, parallelism 1, bounded CSV file source of the
#               same events, event-time TUMBLE/HOP windows, 30 s bounded-out-of-orderness
#               watermark)
#    The two outputs are compared row for row (bench/stream/compare.py); they must be equal.
# b. Freshness. A fresh surge (fsync on: the default; rate limits off; cache.l1_entries=0)
#    takes a constant LOAD_RATE events/s (bench/stream/rate_load.py, ts = now) over every region
#    but one; bench/stream/freshness.py then PROBES times posts one driver_status (alternating
#    available / busy) to that probe region and measures from its 2xx until
#    GET /api/v1/features/{probe} shows it (last_event_ts_ms, available_drivers) and until
#    POST /api/v1/pricing/compute shows a moved factors.supply.
# Prints a markdown section and writes it to bench/results/stream-<date>.md; bench/run.sh puts
# the latest one into BENCHMARKS.md. PyFlink (bench/stream/requirements.txt, ~300 MB with
# Apache Beam) is installed on first use into $BUILD/bench-flink-venv, apart from the tests'
# .venv (Beam pins cloudpickle and grpcio); the generated events are cached in
# $BUILD/bench-stream-cache. About 3 minutes with the defaults once both exist.
#   EVENTS=2000000    events of the throughput run
#   SPAN_H=24         hours of event time they cover
#   RUNS=2            timed runs of surge replay and of Flink (best kept)
#   LOAD_RATE=50000   events/s of the background load during the probe
#   PROBES=100        freshness probes, PROBE_SPACING_MS=200 apart
#   BUILD=build       build directory holding surge
#   KEEP_TMP=1        keep the temp dir (server logs, both outputs, raw JSON)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

EVENTS=${EVENTS:-2000000}
SPAN_H=${SPAN_H:-24}
RUNS=${RUNS:-2}
LOAD_RATE=${LOAD_RATE:-50000}
PROBES=${PROBES:-100}
PROBE_SPACING_MS=${PROBE_SPACING_MS:-200}
BUILD=${BUILD:-build}
SEED=20261125
START_MS=1768089600000 # 2026-01-11T00:00:00Z
TOKEN=bench-admin-token-0123456789
TARGET_EPS=1000000
TARGET_P99_MS=1000
command_line="EVENTS=$EVENTS SPAN_H=$SPAN_H RUNS=$RUNS LOAD_RATE=$LOAD_RATE PROBES=$PROBES bench/stream/run.sh"

say() { printf 'bench/stream: %s\n' "$*" >&2; }
die() {
    printf 'bench/stream: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- tools

command -v curl >/dev/null 2>&1 || die "curl is needed"
command -v java >/dev/null 2>&1 || die "java (11+) is needed for Flink: apt-get install openjdk-17-jre-headless"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (Debian package time)"
PY=$root/.venv/bin/python
"$PY" -c 'import numpy, pandas' 2>/dev/null ||
    die "$PY with numpy and pandas is needed: run tools/install-deps.sh (tests/requirements.txt)"

SURGE=$root/$BUILD/surge
if [[ ! -x $SURGE ]]; then
    say "building $SURGE"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target surge >/dev/null
fi
if "$SURGE" replay --help 2>&1 | grep -q 'not built yet'; then
    die "$SURGE has no stream processor yet (\`surge replay\` says it is not built yet); build the stream (src/stream) first"
fi

FLINK_VENV=$root/$BUILD/bench-flink-venv
FLINK_PY=$FLINK_VENV/bin/python
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [[ $(cat "$FLINK_VENV/.requirements.sha256" 2>/dev/null) != "$want" ]]; then
    say "installing PyFlink (bench/stream/requirements.txt) into $BUILD/bench-flink-venv: about 300 MB, once"
    python3 -m venv "$FLINK_VENV" || die "python3 -m venv $FLINK_VENV failed"
    "$FLINK_PY" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" >&2 ||
        die "pip install -r bench/stream/requirements.txt failed (PyFlink from PyPI)"
    "$FLINK_PY" -c 'import pyflink' || die "pyflink does not import after installing it"
    printf '%s\n' "$want" >"$FLINK_VENV/.requirements.sha256"
fi

# ---------------------------------------------------------------- processes and clean-up

tmp=$(mktemp -d -t surge-bench-stream.XXXXXX)
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit }' /proc/stat; }
read -r busy0 total0 steal0 < <(cpu_ticks)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# server_pid, child, stop_server, the clean-up on exit
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

addr=""
start_surge() {
    local name=$1 dir=$tmp/$1 i
    shift
    mkdir -p "$dir"
    "$SURGE" serve --listen 127.0.0.1:0 --data-dir "$dir" --set admin.token="$TOKEN" \
        --set ingest.user_per_min=0 --set ingest.region_per_min=0 \
        --set ratelimit.ip_per_min=0 --set ratelimit.user_per_min=0 \
        --set ratelimit.global_per_s=0 "$@" >"$tmp/$name.log" 2>&1 &
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

json_get() { # json_get FILE KEY[.KEY]: one value of the last JSON line of FILE
    "$PY" -c 'import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
v = json.loads(line)
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

# ---------------------------------------------------------------- a. throughput: load

start_surge load --set bus.fsync_interval_ms=100
regions=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://$addr/api/v1/admin/regions" |
    "$PY" -c 'import json, sys; print(",".join(sorted(r["region_id"] for r in json.load(sys.stdin)["regions"])))') ||
    die "could not list the sample regions"
nregions=$(tr ',' '\n' <<<"$regions" | wc -l)

cache=$root/$BUILD/bench-stream-cache
key=$(printf '%s\n' "$EVENTS $SPAN_H $SEED $START_MS $regions" | cat - tests/stream/generator.py | sha256sum | cut -c1-16)
events_ndjson=$cache/events-$key.ndjson
events_csv=$cache/events-$key.csv
if [[ ! -s $events_ndjson || ! -s $events_csv ]]; then
    say "generating $EVENTS events over $nregions regions, $SPAN_H h of event time (cached in $BUILD/bench-stream-cache)"
    rm -rf "$cache"
    mkdir -p "$cache"
    "$PY" tests/stream/generator.py --seed "$SEED" --count "$EVENTS" --regions "$regions" \
        --start-ms "$START_MS" --span-ms $((SPAN_H * 3600000)) --id-prefix "b$key-" \
        --ndjson "$events_ndjson.part" --csv "$events_csv.part" || die "the generator failed"
    mv "$events_ndjson.part" "$events_ndjson"
    mv "$events_csv.part" "$events_csv"
fi
input_mib=$(du -m "$events_ndjson" | cut -f1)

say "loading $EVENTS events into surge (NDJSON batches of 5000, bus.fsync_interval_ms=100)"
"$PY" "$here/post_events.py" --addr "$addr" --file "$events_ndjson" --batch 5000 >"$tmp/post.json" ||
    die "loading the events failed: $(cat "$tmp/post.json")"
load_eps=$(json_get "$tmp/post.json" events_per_s)
stop_server surge
data_dir=$tmp/load

# ---------------------------------------------------------------- a. throughput: timed runs

best_surge="" best_flink=""
jvm_cpu_total=0
surge_runs="" flink_runs=""
for ((run = 1; run <= RUNS; run++)); do
    say "surge replay, run $run/$RUNS"
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/surge-time-$run" \
        "$SURGE" replay --data-dir "$data_dir" --aggregates-out "$tmp/surge-$run.csv" --json \
        >"$tmp/surge-$run.json" 2>"$tmp/surge-$run.err" ||
        die "surge replay failed: $(tail -n 5 "$tmp/surge-$run.err")"
    read -r wall user sys rss_kb <"$tmp/surge-time-$run"
    eps=$(json_get "$tmp/surge-$run.json" events_per_s)
    line="$eps $wall $user $sys $rss_kb $run"
    surge_runs+="${surge_runs:+ / }$(printf '%.0f' "$eps")"
    if [[ -z $best_surge ]] || awk -v a="$wall" -v b="${best_surge#* }" 'BEGIN { exit !(a < b + 0) }'; then
        best_surge=$line
    fi
    say "  $(printf '%.0f' "$eps") events/s (its JSON), ${wall}s wall, ${user}s user, ${sys}s sys"

    say "Flink, run $run/$RUNS"
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/flink-time-$run" \
        "$FLINK_PY" "$here/flink_windows.py" --input "$events_csv" --output "$tmp/flink-$run.csv" \
        >"$tmp/flink-$run.json" 2>"$tmp/flink-$run.err" ||
        die "the Flink job failed: $(grep -m3 -E 'Exception|Error' "$tmp/flink-$run.err")"
    read -r fwall fuser fsys frss_kb <"$tmp/flink-time-$run"
    job_s=$(json_get "$tmp/flink-$run.json" job_s)
    net_s=$(json_get "$tmp/flink-$run.json" net_runtime_s)
    jvm_s=$(json_get "$tmp/flink-$run.json" jvm_start_s)
    # the JVM is PyFlink's gateway, not waited for by Python: /usr/bin/time misses its CPU
    jvm_cpu=$(json_get "$tmp/flink-$run.json" jvm_cpu_s)
    fuser=$(awk -v a="$fuser" -v b="$jvm_cpu" 'BEGIN { print a + b }')
    jvm_cpu_total=$(awk -v a="$jvm_cpu_total" -v b="$jvm_cpu" 'BEGIN { print a + b }')
    flink_runs+="${flink_runs:+ / }${fwall}s"
    if [[ -z $best_flink ]] || awk -v a="$fwall" -v b="${best_flink%% *}" 'BEGIN { exit !(a < b + 0) }'; then
        best_flink="$fwall $fuser $fsys $frss_kb $job_s $net_s $jvm_s $run"
    fi
    say "  ${fwall}s wall (JVM start ${jvm_s}s, job ${job_s}s, Flink net runtime ${net_s}s), ${fuser}s CPU (Python user + JVM), ${fsys}s sys (Python)"
done

read -r s_eps s_wall s_user s_sys s_rss s_run <<<"$best_surge"
read -r f_wall f_user f_sys f_rss f_job f_net f_jvm f_run <<<"$best_flink"
s_json=$tmp/surge-$s_run.json
s_events=$(json_get "$s_json" events)
s_late=$(json_get "$s_json" late_events)
s_windows=$(json_get "$s_json" windows)
s_elapsed=$(json_get "$s_json" elapsed_s)

say "comparing surge's and Flink's rows"
compare_rc=0
"$PY" "$here/compare.py" "$tmp/surge-$s_run.csv" "$tmp/flink-$f_run.csv" >"$tmp/compare.json" \
    2>"$tmp/compare.err" || compare_rc=$?
differing=$(json_get "$tmp/compare.json" differing) || differing="?"
rows_surge=$(json_get "$tmp/compare.json" rows_a) || rows_surge="?"
rows_flink=$(json_get "$tmp/compare.json" rows_b) || rows_flink="?"
((compare_rc == 0)) || head -n 12 "$tmp/compare.err" >&2

# ---------------------------------------------------------------- b. freshness

probe=dr5ru
grep -qx "$probe" <(tr ',' '\n' <<<"$regions") || probe=${regions%%,*}
others=$(tr ',' '\n' <<<"$regions" | grep -vx "$probe" | paste -sd, -)
start_surge fresh --set cache.l1_entries=0
load_s=$(awk -v p="$PROBES" -v s="$PROBE_SPACING_MS" 'BEGIN { printf "%d", p * (s + 100) / 1000 + 60 }')
say "freshness: $LOAD_RATE events/s over $((nregions - 1)) regions, $PROBES probes of $probe"
"$PY" "$here/rate_load.py" --addr "$addr" --regions "$others" --rate "$LOAD_RATE" \
    --duration "$load_s" --tag "fresh$$" >"$tmp/rate.json" 2>"$tmp/rate.err" &
child=$!
sleep 3
probe_rc=0
"$PY" "$here/freshness.py" --addr "$addr" --region "$probe" --probes "$PROBES" \
    --spacing-ms "$PROBE_SPACING_MS" >"$tmp/fresh.json" 2>"$tmp/fresh.err" || probe_rc=$?
kill -TERM "$child" 2>/dev/null || true
wait "$child" || say "the background load reported errors: $(head -n 3 "$tmp/rate.err")"
child=""
fresh_features=$(curl -s "http://$addr/api/v1/features/$probe")
stop_server surge
((probe_rc == 0)) || say "the probe reported problems: $(cat "$tmp/fresh.json" "$tmp/fresh.err" | tail -n 3)"
rate_eps=$(json_get "$tmp/rate.json" events_per_s)
rate_behind=$(json_get "$tmp/rate.json" behind_max_ms)
rate_p99=$(json_get "$tmp/rate.json" p99_ms)
fp50=$(json_get "$tmp/fresh.json" features_ms.p50)
fp99=$(json_get "$tmp/fresh.json" features_ms.p99)
fmax=$(json_get "$tmp/fresh.json" features_ms.max)
pp50=$(json_get "$tmp/fresh.json" price_ms.p50)
pp99=$(json_get "$tmp/fresh.json" price_ms.p99)
pmax=$(json_get "$tmp/fresh.json" price_ms.max)
f_timeouts=$(json_get "$tmp/fresh.json" features_timeouts)
p_timeouts=$(json_get "$tmp/fresh.json" price_timeouts)
supply_values=$(json_get "$tmp/fresh.json" supply_values)
inexact=$(json_get "$tmp/fresh.json" inexact_last_event_ts)
inexact_examples=$(json_get "$tmp/fresh.json" inexact_examples)

# our own ticks: this script and every child it waited for, plus the Flink JVMs (not waited for)
our_ticks=$(awk -v j="$jvm_cpu_total" -v hz="$(getconf CLK_TCK)" '{ print $14 + $15 + $16 + $17 + j * hz }' "/proc/$$/stat")
read -r busy1 total1 steal1 < <(cpu_ticks)
other_pct=$(awk -v b=$((busy1 - busy0)) -v o="$our_ticks" -v t=$((total1 - total0)) \
    'BEGIN { v = t > 0 ? 100 * (b - o) / t : 0; printf "%.0f", (v < 0) ? 0 : v }')
steal_pct=$(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", (t > 0) ? 100 * s / t : 0 }')

# ---------------------------------------------------------------- report

fmt_int() { printf "%'d" "$1" 2>/dev/null || printf '%s' "$1"; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }
s_wall_eps=$(rate "$EVENTS" "$s_wall")
s_cpu_eps=$(rate "$EVENTS" "$(awk -v a="$s_user" -v b="$s_sys" 'BEGIN { print a + b }')")
f_wall_eps=$(rate "$EVENTS" "$f_wall")
f_job_eps=$(rate "$EVENTS" "$f_job")
f_net_eps=$(rate "$EVENTS" "$f_net")
f_cpu_eps=$(rate "$EVENTS" "$(awk -v a="$f_user" -v b="$f_sys" 'BEGIN { print a + b }')")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }'; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
surge_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src 2>/dev/null || surge_rev+=" + uncommitted changes in src/"
flink_version=$("$FLINK_PY" -c 'import importlib.metadata as m; print(m.version("apache-flink"))')
java_version=$(java -version 2>&1 | head -n 1)
date_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
failures=()
[[ $differing == 0 ]] || failures+=("surge and Flink differ in $differing rows (surge $rows_surge, Flink $rows_flink)")
[[ $s_late == 0 ]] || failures+=("surge replay counted $s_late late events; the input has none (disorder <= 5 s)")
((f_timeouts == 0)) || failures+=("$f_timeouts of $PROBES probes never showed in the features within 5 s")
((p_timeouts == 0)) || failures+=("$p_timeouts of $PROBES probes never moved the supply factor within 5 s")

section=$tmp/section.md
{
    echo "## stream: window aggregates and freshness"
    echo
    echo "- Date: $date_iso; surge $surge_rev; peer Apache Flink $flink_version (PyFlink, local mini-cluster), $java_version"
    echo "- Machine: $(nproc) CPUs, $cpu_model, Linux $(uname -r)"
    echo "- Command: \`$command_line\`"
    echo "- Input: $(fmt_int "$EVENTS") events from tests/stream/generator.py (seed $SEED): 38 % search, 24 % view, 10 % booking, 4 % cancel, 16 % driver_location,"
    echo "  6 % driver_status, 2 % weather (not counted), over the $nregions regions of the sample city (Zipf-like shares), $SPAN_H h of event time, disorder <= 5 s;"
    echo "  $input_mib MiB of NDJSON, loaded into surge at $(fmt_int "$load_eps") events/s (POST, batches of 5000, bus.fsync_interval_ms=100); Flink reads the same events as CSV (region_id,type,ts)"
    echo
    echo "### a. Throughput: tumbling 1 min + tumbling 5 min + sliding 15 min (1 min slide) per region"
    echo
    echo "$RUNS runs each, alternating; the fastest (wall clock) of each is shown. surge: \`surge replay --json --aggregates-out\` over the stopped server's data dir"
    echo "(one process; reads the log, decodes, windows, writes the CSV). Flink: bench/stream/flink_windows.py, parallelism 1, three INSERTs as one job over one"
    echo "bounded file source, event-time window TVFs with a 30 s bounded-out-of-orderness watermark. events/s = $(fmt_int "$EVENTS") input events / time."
    echo
    echo "| | wall s | events/s (wall) | CPU s (user + sys) | events/s per CPU s | peak RSS MiB | output rows | runs (wall) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    echo "| surge replay | $s_wall | $(fmt_int "$s_wall_eps") | $(awk -v a="$s_user" -v b="$s_sys" 'BEGIN { printf "%.2f", a + b }') | $(fmt_int "$s_cpu_eps") | $((s_rss / 1024)) | $rows_surge | $surge_runs events/s |"
    echo "| Flink, whole run (JVM start-up included; CPU: Python + JVM) | $f_wall | $(fmt_int "$f_wall_eps") | $(awk -v a="$f_user" -v b="$f_sys" 'BEGIN { printf "%.2f", a + b }') | $(fmt_int "$f_cpu_eps") | $((f_rss / 1024)) | $rows_flink | $flink_runs |"
    echo "| Flink, job only (submit to finish, JVM up) | $f_job | $(fmt_int "$f_job_eps") | | | | | |"
    echo "| Flink, its net runtime (JobExecutionResult) | $f_net | $(fmt_int "$f_net_eps") | | | | | |"
    echo
    echo "- surge's own JSON: $(fmt_int "$s_events") events in range, $(printf '%.0f' "$s_eps") events/s over its elapsed_s $s_elapsed, $s_windows windows, late_events $s_late."
    echo "- Ratio surge ÷ Flink (events/s, wall): $(ratio "$s_wall_eps" "$f_wall_eps") × whole run (JVM start-up included), $(ratio "$s_wall_eps" "$f_job_eps") × against Flink's job time, $(ratio "$s_wall_eps" "$f_net_eps") × against its net runtime; per CPU second $(ratio "$s_cpu_eps" "$f_cpu_eps") ×."
    echo "- Target (≥ $(fmt_int $TARGET_EPS) events/s per core): $(fmt_int "$s_cpu_eps") events per CPU second ($(awk -v a="$s_cpu_eps" -v t="$TARGET_EPS" 'BEGIN { printf "%.2f", a / t }') × target)."
    echo "- Same rows: surge $rows_surge, Flink $rows_flink, differing $differing (bench/stream/compare.py: every count equal, cancel_rate equal as a double)."
    echo "- Flink's JVM start-up and job set-up took ${f_jvm}s of its wall time (table environment created)."
    echo
    echo "### b. Freshness under load"
    echo
    echo "surge serve with defaults (fsync on) and cache.l1_entries=0, rate limits off. Background: bench/stream/rate_load.py, $(fmt_int "$LOAD_RATE") events/s requested"
    echo "($(fmt_int "$rate_eps") achieved; batches of 1000 on 2 connections, request p99 $rate_p99 ms, at most $rate_behind ms behind schedule) over $((nregions - 1)) regions."
    echo "Probe: $PROBES driver_status events to $probe, $PROBE_SPACING_MS ms apart, alternating available / busy; time from the event's 2xx to the first poll (every 2 ms) that shows it."
    echo
    echo "| seen in | p50 ms | p99 ms | max ms | not seen within 5 s |"
    echo "|---|---:|---:|---:|---:|"
    echo "| GET /api/v1/features/$probe (last_event_ts_ms and available_drivers) | $fp50 | $fp99 | $fmax | $f_timeouts |"
    echo "| POST /api/v1/pricing/compute (factors.supply moved) | $pp50 | $pp99 | $pmax | $p_timeouts |"
    echo
    echo "- Target: p99 < $TARGET_P99_MS ms at 50K events/s. Supply factor values seen: $supply_values."
    ((inexact == 0)) || echo "- features.last_event_ts_ms was not a whole number of ms in $inexact reads (e.g. $inexact_examples): the probe rounds it; the feature should be the exact event ts."
    echo "- Other work on the machine: load average $load_before at the start; processes outside this benchmark used about $other_pct % of the machine's CPU time during it (steal $steal_pct %)."
    echo "- Numbers from a shared 2-CPU machine are noisy (see the line above); surge and Flink ran alternately on the same machine, never at the same time."
    for f in "${failures[@]}"; do echo "- **FAILED CHECK** $f"; done
} >"$section"

mkdir -p bench/results
cp "$section" "bench/results/stream-$(date -u +%Y-%m-%d).md"
cat "$section"
say "wrote bench/results/stream-$(date -u +%Y-%m-%d).md"
say "last features of $probe: ${fresh_features:0:300}"
((${#failures[@]} == 0)) || die "checks failed: ${failures[*]}"
