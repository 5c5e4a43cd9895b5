#!/usr/bin/env bash
# bench/compare/run.sh: surge against the seed's own stack on POST /api/v1/pricing/compute: a
# reference implementation in Python (FastAPI + uvicorn with 2 workers, features from Redis, the
# demand model in ONNX Runtime per request; bench/peers/fastapi_ref/) run side by side on the
# same machine, with the same requests, the same features and the same model (DESIGN §9: >= 50x
# its throughput, p99 < 1 ms at 5K/s).
#
# Servers, on 127.0.0.1, all running for the whole benchmark:
#   redis       redis-server on a free port, no persistence, in a temp dir
#   reference   uvicorn app:app --workers 2 (its own venv: $BUILD/bench-venv-fastapi)
#   surge       surge serve, fresh data dir, rate limits off, price cache off
#               (cache.l1_entries=0: every request is priced, as the reference prices it)
#   surge-cached the same with the cache on (surge's default), for reference
# The same model on both sides: train_model.py's model.json is imported into each surge data dir
# (`surge models import --xgboost-json`, the 8 feature names, the interval half-width from
# meta.json, America/New_York) and promoted before surge starts, so surge's forecaster evaluates
# it on every priced request, as the reference runs model.onnx in ONNX Runtime on every request.
# Both get the same feature set per region (bench/compare/setup_features.py): the reference reads
# it from Redis, surge from the admin feature override. A check then asks both for every key and
# requires identical prices, multipliers, factors, demand_score and confidence, and surge's
# forecast of every region within 1e-5 (relative) of ONNX Runtime's, before anything is measured.
# PRECOMPUTED_MODEL=1: the old path, surge without a model, given the model's output (computed
# once per region in ONNX Runtime) in the override. EXTRA_SERVE_ARGS="..." is appended to
# `surge serve` (not SURGE_*: surge refuses environment variables that name no config key).
# Load, in one command for both:
#   closed loop  wrk -t1 -cCONNECTIONS, rotating over every region x product (varied.lua)
#   open loop    vegeta at OPEN_RATES with up to OPEN_MAX_WORKERS requests in flight: a server
#                that cannot keep up queues them (its latency grows: coordinated omission does not
#                hide it) until the cap, beyond which vegeta's sent rate falls below the target
#   memory       RSS summed over each server's processes, sampled during the closed loop
# Writes bench/results/compare-<date>.md; bench/run.sh puts it into BENCHMARKS.md.
# About 2 minutes (plus the venv and the model on the first run).
#   DURATION=8         seconds of each closed-loop run
#   OPEN_DURATION=5    seconds of each open-loop run
#   OPEN_RATES="5000 12000 50000"
#   CONNECTIONS=64     wrk connections
#   OPEN_MAX_WORKERS=512  vegeta's cap on requests in flight
#   BUILD=build        build directory holding surge (and the venv, vegeta, the model)
#   KEEP_TMP=1         keep the temp dir (logs, raw outputs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

DURATION=${DURATION:-8}
OPEN_DURATION=${OPEN_DURATION:-5}
OPEN_RATES=${OPEN_RATES:-5000 12000 50000}
CONNECTIONS=${CONNECTIONS:-64}
OPEN_MAX_WORKERS=${OPEN_MAX_WORKERS:-512}
BUILD=${BUILD:-build}
VEGETA_VERSION=v12.13.0
TOKEN=bench-admin-token-0123456789
PATH_COMPUTE=/api/v1/pricing/compute
REF_DIR=$root/bench/peers/fastapi_ref
VENV=$root/$BUILD/bench-venv-fastapi
MODEL_DIR=$root/$BUILD/bench-compare-model
PRECOMPUTED_MODEL=${PRECOMPUTED_MODEL:-0}
export PRECOMPUTED_MODEL
MODEL_TZ=America/New_York
command_line="DURATION=$DURATION OPEN_DURATION=$OPEN_DURATION OPEN_RATES=\"$OPEN_RATES\" CONNECTIONS=$CONNECTIONS OPEN_MAX_WORKERS=$OPEN_MAX_WORKERS bench/compare/run.sh"

say() { printf 'bench/compare: %s\n' "$*" >&2; }
die() {
    printf 'bench/compare: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- tools

as_root() {
    if ((EUID == 0)); then "$@"; else sudo "$@"; fi
}
apt_packages=()
command -v wrk >/dev/null 2>&1 || apt_packages+=(wrk)
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
command -v curl >/dev/null 2>&1 || apt_packages+=(curl)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
if ((${#apt_packages[@]})); then
    say "installing ${apt_packages[*]} (Debian)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${apt_packages[@]}" >/dev/null || die "apt-get install ${apt_packages[*]} failed"
fi

VEGETA=$root/$BUILD/bench-bin/vegeta
if [[ ! -x $VEGETA ]]; then
    if command -v vegeta >/dev/null 2>&1; then
        VEGETA=$(command -v vegeta)
    else
        GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
        [[ -x $GO ]] || die "go is needed to install vegeta (github.com/tsenart/vegeta/v12)"
        say "installing vegeta $VEGETA_VERSION into $BUILD/bench-bin (Go module proxy)"
        mkdir -p "$root/$BUILD/bench-bin"
        (cd "$root/$BUILD/bench-bin" && GOBIN="$root/$BUILD/bench-bin" GOFLAGS=-mod=mod \
            "$GO" install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION") >&2 ||
            die "go install vegeta failed"
    fi
fi

SURGE=$root/$BUILD/surge
if [[ ! -x $SURGE ]]; then
    say "building $SURGE"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target surge >/dev/null
fi

# The reference's own venv, from PyPI, reinstalled when its requirements change.
want=$(sha256sum "$REF_DIR/requirements.txt" | cut -d' ' -f1)
if [[ $(cat "$VENV/.requirements.sha256" 2>/dev/null) != "$want" ]]; then
    say "installing the reference's Python packages into $VENV (PyPI)"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REF_DIR/requirements.txt" >&2 ||
        die "pip install -r $REF_DIR/requirements.txt failed"
    echo "$want" >"$VENV/.requirements.sha256"
fi
PY=$VENV/bin/python

if [[ ! -s $MODEL_DIR/model.onnx || $REF_DIR/train_model.py -nt $MODEL_DIR/model.onnx ]]; then
    say "training the reference model (XGBoost, fixed seed) and converting it to ONNX"
    "$PY" "$REF_DIR/train_model.py" "$MODEL_DIR" >/dev/null || die "train_model.py failed"
fi
model_features=$("$PY" -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["features"]))' "$MODEL_DIR/meta.json")
half_width=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("interval_half_width", 0))' "$MODEL_DIR/meta.json")

# ---------------------------------------------------------------- processes and clean-up

tmp=$(mktemp -d -t surge-bench-compare.XXXXXX)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A addr=()
# server_pid, child, the clean-up on exit, run_child, free_port, wait_ready
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

start_surge() {
    local name=$1 dir=$tmp/$1 i
    shift
    mkdir -p "$dir"
    if [[ $PRECOMPUTED_MODEL != 1 ]]; then
        # the reference's model, imported and made live before the server starts
        "$SURGE" models import --xgboost-json "$MODEL_DIR/model.json" --features "$model_features" \
            --interval-half-width "$half_width" --timezone "$MODEL_TZ" --version 0.1.0 \
            --data-dir "$dir" >>"$tmp/$name.import.log" 2>&1 &&
            "$SURGE" models promote 0.1.0 --data-dir "$dir" >>"$tmp/$name.import.log" 2>&1 ||
            die "importing the model into $name failed: $(cat "$tmp/$name.import.log")"
    fi
    # shellcheck disable=SC2086
    "$SURGE" serve --listen 127.0.0.1:0 --data-dir "$dir" --set admin.token="$TOKEN" \
        --set ratelimit.ip_per_min=0 --set ratelimit.user_per_min=0 \
        --set ratelimit.global_per_s=0 "$@" ${EXTRA_SERVE_ARGS:-} >"$tmp/$name.log" 2>&1 &
    server_pid[$name]=$!
    for ((i = 0; i < 300; i++)); do
        [[ -s $dir/listen.addr ]] && break
        kill -0 "${server_pid[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    [[ -s $dir/listen.addr ]] || {
        tail -n 20 "$tmp/$name.log" >&2 || true
        die "$name did not write $dir/listen.addr"
    }
    addr[$name]=$(<"$dir/listen.addr")
    wait_ready "$name" "${server_pid[$name]}" "http://${addr[$name]}/readyz"
}

# RSS in MiB of a process and all its descendants.
rss_tree() {
    local pids=("$1") i=0 total=0 kid
    while ((i < ${#pids[@]})); do
        for kid in $(cat "/proc/${pids[$i]}/task/"*/children 2>/dev/null); do pids+=("$kid"); done
        i=$((i + 1))
    done
    for kid in "${pids[@]}"; do
        total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$kid/status" 2>/dev/null || echo 0)))
    done
    awk -v k="$total" 'BEGIN { printf "%.1f", k / 1024 }'
}
nprocs_tree() {
    local pids=("$1") i=0 kid
    while ((i < ${#pids[@]})); do
        for kid in $(cat "/proc/${pids[$i]}/task/"*/children 2>/dev/null); do pids+=("$kid"); done
        i=$((i + 1))
    done
    echo "${#pids[@]}"
}

say "starting redis, surge (cache off), surge (cache on)"
redis_port=$(free_port)
mkdir -p "$tmp/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/redis" \
    --daemonize no >"$tmp/redis.log" 2>&1 &
server_pid[redis]=$!
for ((i = 0; i < 100; i++)); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null 2>&1 || die "redis-server did not start: $(tail -n 5 "$tmp/redis.log")"
start_surge surge --set cache.l1_entries=0
start_surge surge-cached

say "loading the same features into redis and surge"
"$PY" "$here/setup_features.py" load "http://${addr[surge]}" "$TOKEN" \
    "redis://127.0.0.1:$redis_port/0" "$MODEL_DIR" "$tmp" >"$tmp/load.json" ||
    die "setup_features.py load failed"
"$PY" "$here/setup_features.py" load "http://${addr[surge-cached]}" "$TOKEN" \
    "redis://127.0.0.1:$redis_port/0" "$MODEL_DIR" "$tmp" >/dev/null ||
    die "setup_features.py load (surge-cached) failed"

ref_port=$(free_port)
(cd "$REF_DIR" && PYTHONDONTWRITEBYTECODE=1 REF_REDIS_URL="redis://127.0.0.1:$redis_port/0" REF_MODEL="$MODEL_DIR/model.onnx" \
    REF_RULES="$tmp/rules.json" REF_TIMEZONE="$MODEL_TZ" REF_INTERVAL_HALF_WIDTH="$half_width" exec "$VENV/bin/uvicorn" app:app --host 127.0.0.1 \
    --port "$ref_port" --workers 2 --log-level warning --no-access-log) >"$tmp/reference.log" 2>&1 &
server_pid[reference]=$!
addr[reference]=127.0.0.1:$ref_port
wait_ready reference "${server_pid[reference]}" "http://${addr[reference]}/readyz"

say "checking that both answer the same for every key"
"$PY" "$here/setup_features.py" verify "http://${addr[surge]}" "http://${addr[reference]}" "$tmp" \
    >"$tmp/verify.json" || die "surge and the reference disagree: $(cat "$tmp/verify.json")"
verify=$(cat "$tmp/verify.json")
nkeys=$(wc -l <"$tmp/keys.txt")
say "  $verify"

# ---------------------------------------------------------------- closed loop (wrk)

declare -A r=() best=() mem=() procs=()
parse_wrk() {
    local line kv
    r=()
    line=$(grep -m1 '^WRK_RESULT ' "$1") || return 1
    for kv in ${line#WRK_RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    r[rps]=$(awk -v n="${r[requests]}" -v d="${r[duration_us]}" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
    r[sockerr]=$((r[connect] + r[read] + r[write] + r[timeout]))
}

labels=(reference surge surge-cached)
for label in "${labels[@]}"; do
    run_child "$tmp/warmup-$label.txt" wrk -t1 -c"$CONNECTIONS" -d1s -s "$here/../compute/varied.lua" \
        "http://${addr[$label]}" -- "$tmp/keys.txt" || true
done
for label in "${labels[@]}"; do
    say "closed loop: $label (${DURATION}s)"
    out=$tmp/wrk-$label.txt
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$here/../compute/varied.lua" \
        "http://${addr[$label]}" -- "$tmp/keys.txt" >"$out" 2>&1 &
    child=$!
    # memory under load: sampled in the middle of the run (redis counts with the reference)
    sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
    mem[$label]=$(rss_tree "${server_pid[$label]}")
    procs[$label]=$(nprocs_tree "${server_pid[$label]}")
    [[ $label == reference ]] && mem[redis]=$(rss_tree "${server_pid[redis]}")
    wait "$child" || die "wrk failed against $label: $(tail -n 5 "$out")"
    child=""
    parse_wrk "$out" || die "no WRK_RESULT in $out"
    best[$label]="${r[rps]} ${r[p50_us]} ${r[p90_us]} ${r[p99_us]} ${r[max_us]} ${r[non2xx]} ${r[sockerr]}"
    say "  ${r[rps]} req/s, p99 ${r[p99_us]} us, non-2xx ${r[non2xx]}, socket errors ${r[sockerr]}, RSS ${mem[$label]} MiB"
done

# ---------------------------------------------------------------- open loop (vegeta)

# the same rotation of bodies as wrk: one target per key, vegeta cycles through them
python3 - "$tmp/keys.txt" "$tmp" <<'EOF'
import json, sys
keys = [l.split() for l in open(sys.argv[1]) if l.strip()]
for i, (region, product) in enumerate(keys):
    with open(f"{sys.argv[2]}/body-{i}.json", "w") as f:
        json.dump({"region_id": region, "product_type": product, "user_id": "u1"}, f,
                  separators=(",", ":"))
EOF
open_servers=(reference surge)
declare -A open=()
for server in "${open_servers[@]}"; do
    : >"$tmp/targets-$server.txt"
    for ((i = 0; i < nkeys; i++)); do
        printf 'POST http://%s%s\nContent-Type: application/json\n@%s\n\n' "${addr[$server]}" \
            "$PATH_COMPUTE" "$tmp/body-$i.json" >>"$tmp/targets-$server.txt"
    done
done
for rate in $OPEN_RATES; do
    for server in "${open_servers[@]}"; do
        say "open loop: $server at $rate/s (${OPEN_DURATION}s)"
        bin=$tmp/vegeta-$server-$rate.bin
        run_child "$tmp/vegeta-$server-$rate.log" "$VEGETA" attack -targets="$tmp/targets-$server.txt" \
            -rate="$rate/s" -duration="${OPEN_DURATION}s" -timeout=5s -max-workers="$OPEN_MAX_WORKERS" \
            -output="$bin" || die "vegeta attack failed: $(tail -n 5 "$tmp/vegeta-$server-$rate.log")"
        "$VEGETA" report -type=json "$bin" >"$tmp/vegeta-$server-$rate.json"
        rm -f "$bin"
        open[$server/$rate]=$(python3 - "$tmp/vegeta-$server-$rate.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
lat = j["latencies"]
codes = ", ".join(f"{k}: {v}" for k, v in sorted(j.get("status_codes", {}).items()))
errs = len(j.get("errors") or [])
# throughput = successful responses a second over the whole attack (vegeta's own measure)
print("%.0f\t%.0f\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\t%s" % (
    j["rate"], j.get("throughput", 0), j["success"], lat["50th"] / 1e6, lat["90th"] / 1e6,
    lat["99th"] / 1e6, lat["max"] / 1e6, codes or "-"))
EOF
        )
        IFS=$'\t' read -r sent_rate thr success _ _ p99 _ _ <<<"${open[$server/$rate]}"
        say "  sent $sent_rate/s, answered $thr/s, success $success, p99 $p99 ms"
    done
done

# ---------------------------------------------------------------- report

ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
surge_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src 2>/dev/null || surge_rev+=" + uncommitted changes in src/"
meta=$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print("%d trees of depth %d on %d synthetic rows (seed %d); holdout WAPE %.3f; ONNX Runtime vs XGBoost max abs difference %.2g; xgboost %s, onnxmltools %s" % (m["trees"], m["max_depth"], m["rows"], m["seed"], m["holdout_wape"], m["onnx_vs_xgboost_max_abs_diff"], m["xgboost"], m["onnxmltools"]))' "$MODEL_DIR/meta.json")
pyver=$("$PY" -c 'import sys, fastapi, uvicorn, onnxruntime, redis; print(f"CPython {sys.version.split()[0]}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__} (uvloop, httptools), onnxruntime {onnxruntime.__version__}, redis-py {redis.__version__}")')
redis_ver=$(redis-server --version | awk '{ print $3 }' | sed 's/^v=//')
date_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
read -r ref_rps _ <<<"${best[reference]}"
read -r surge_rps _ <<<"${best[surge]}"
declare -A desc=(
    [reference]="FastAPI reference (2 uvicorn workers + Redis + ONNX Runtime)"
    [surge]="surge, cache off (every request priced)"
    [surge-cached]="surge, cache on (default)"
)

section=$tmp/section.md
{
    echo "## compare: surge vs the seed's stack (FastAPI + Redis + ONNX Runtime)"
    echo
    echo "- Date: $date_iso; surge $surge_rev"
    echo "- Machine: $(nproc) CPUs, $cpu_model, Linux $(uname -r); load generators and all servers share these CPUs, over loopback"
    echo "- Command: \`$command_line\`"
    echo "- Load average (1, 5, 15 min) before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these 2 CPUs lowers both sides' numbers; compare the ratios)"
    echo "- Reference: bench/peers/fastapi_ref/app.py on $pyver, Redis $redis_ver; 2 workers"
    echo "- Model: XGBoost, 300 trees of depth 6, fixed seed, converted to ONNX with onnxmltools (bench/peers/fastapi_ref/train_model.py)."
    if [[ $PRECOMPUTED_MODEL == 1 ]]; then
        echo "  The reference runs it in ONNX Runtime on every request. **PRECOMPUTED_MODEL=1**: surge serves no model here; the"
        echo "  model's output for each region (computed once with ONNX Runtime on the same inputs) is given to surge as its"
        echo "  expected_demand and confidence feature override, so surge's numbers leave out the model evaluation."
    else
        echo "  **Both sides evaluate it on every priced request**: the reference in ONNX Runtime (model.onnx), surge in its own"
        echo "  evaluator (model.json, imported with \`surge models import --xgboost-json model.json --features $model_features"
        echo "  --interval-half-width $half_width --timezone $MODEL_TZ\` and promoted before the server starts; the forecaster"
        echo "  builds the row per request: hour_of_day and day_of_week from the clock in $MODEL_TZ, the rest from the online"
        echo "  store). Outputs on both sides as docs/models.md defines them: expected_demand = ŷ (clipped at 0), confidence ="
        echo "  1 − (upper − lower) / ŷ with the interval ŷ ± $half_width (the 90 % quantile of the holdout's |residual|);"
        echo "  demand_score = ŷ / (ŷ + 7-day baseline of the window) needs a week of stream history, which neither side has"
        echo "  here (fresh data dir; no \`baseline_7d\` in the hash), so both keep the stream's nowcast demand_score from the"
        echo "  features (demand_15m / (demand_15m + rolling_avg_demand_7d)); the model's ŷ drives the supply factor."
    fi
    echo "- Same answers: before measuring, both were asked for each of the $nkeys keys ($((nkeys / 2)) regions × 2 products): \`$verify\`"
    echo "- surge also audits every decision (SQLite + the pricing-decisions topic); the reference does not."
    echo
    echo "### Closed loop"
    echo
    echo "\`wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -s bench/compute/varied.lua URL -- KEYS\` (rotates over every key);"
    echo "RSS is the sum over the server's processes, sampled in the middle of the run (the reference's Redis separately)."
    echo
    echo "| server | req/s | vs reference | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | RSS MiB (processes) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for label in "${labels[@]}"; do
        read -r rps p50 p90 p99 max non2xx sockerr <<<"${best[$label]}"
        extra=""
        [[ $label == reference ]] && extra=" + Redis ${mem[redis]}"
        echo "| ${desc[$label]} | $rps | $(ratio "$rps" "$ref_rps") × | $(ms "$p50") | $(ms "$p90") | $(ms "$p99") | $(ms "$max") | $non2xx | $sockerr | ${mem[$label]} (${procs[$label]})$extra |"
    done
    echo
    echo "### Open loop"
    echo
    echo "\`vegeta attack -rate=R/s -duration=${OPEN_DURATION}s -timeout=5s -max-workers=$OPEN_MAX_WORKERS\` over the same keys."
    echo "Requests are sent on schedule while fewer than $OPEN_MAX_WORKERS are in flight, so a server that falls behind queues"
    echo "them and its latency shows the queueing; with $OPEN_MAX_WORKERS in flight the schedule stalls and \"sent/s\" falls"
    echo "below the target (latency then leaves out the stall). \"answered/s\" counts the successful responses a second."
    echo
    echo "| rate/s | server | sent/s | answered/s | success | p50 ms | p90 ms | p99 ms | max ms | p99 vs reference | status codes |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for rate in $OPEN_RATES; do
        IFS=$'\t' read -r _ _ _ _ _ ref_p99 _ _ <<<"${open[reference/$rate]}"
        for server in "${open_servers[@]}"; do
            IFS=$'\t' read -r sent thr success p50 p90 p99 max codes <<<"${open[$server/$rate]}"
            echo "| $rate | ${desc[$server]} | $sent | $thr | $success | $p50 | $p90 | $p99 | $max | $(ratio3 "$p99" "$ref_p99") | $codes |"
        done
    done
    echo
    echo "### Summary"
    echo
    IFS=$'\t' read -r _ _ _ _ _ s5 _ _ <<<"${open[surge/${OPEN_RATES%% *}]}"
    IFS=$'\t' read -r _ _ _ _ _ r5 _ _ <<<"${open[reference/${OPEN_RATES%% *}]}"
    echo "- Throughput: surge (cache off) $surge_rps req/s = **$(ratio "$surge_rps" "$ref_rps") ×** the reference's $ref_rps req/s (target ≥ 50 ×)."
    echo "- p99 at ${OPEN_RATES%% *}/s: surge $s5 ms, reference $r5 ms (target < 1 ms)."
    echo "- Memory under load: surge ${mem[surge]} MiB in one process; the reference ${mem[reference]} MiB in ${procs[reference]} processes plus Redis ${mem[redis]} MiB."
    if [[ $PRECOMPUTED_MODEL == 1 ]]; then
        echo "- The model: not evaluated by surge in this run (PRECOMPUTED_MODEL=1)."
    else
        echo "- The model: evaluated per priced request on both sides (surge's forecasts checked against ONNX Runtime's: max relative difference $(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("forecast_max_rel_diff"))' "$verify"))."
    fi
    echo "- Model: $meta."
} >"$section"

mkdir -p bench/results
result=bench/results/compare-$(date -u +%Y-%m-%d).md
cp "$section" "$result"
cat "$section"
say "wrote $result"
