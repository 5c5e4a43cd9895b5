#!/usr/bin/env bash
# bench/compute/run.sh: throughput and latency of POST /api/v1/pricing/compute, measured side by
# side with a peer on the same machine (DESIGN §9: >= 100K req/s on 2 cores, p99 < 1 ms at 5K/s).
#
# Servers, all on 127.0.0.1 and all running for the whole benchmark:
#   surge-cached    surge serve, price cache on (default), rate limits off, fresh data dir
#   surge-uncached  the same with --set cache.l1_entries=0
#   nginx           nginx-light returning a fixed JSON body of the size of surge's response:
#                   the ceiling of HTTP on this machine, the peer that the ratios are against
# Load:
#   closed loop  wrk -t1 -c64 --latency: surge-cached, surge-uncached (one key), surge-uncached
#                rotating over every region x product of the sample city (varied.lua), nginx;
#                the sequence runs RUNS times, interleaved, and the best run of each is kept
#   open loop    vegeta at fixed rates (OPEN_RATES) against surge-cached and nginx, at most
#                CONNECTIONS requests in flight (unbounded, vegeta answers any stall of the shared
#                machine with thousands of new workers and connections and collapses)
# Prints a markdown section and writes it to bench/results/compute-<date>.md; bench/run.sh puts
# the latest one into BENCHMARKS.md. Installs wrk, nginx-light (Debian) and vegeta (Go module
# proxy, into build/bench-bin) when missing. Takes about 2 min 10 s with the defaults.
#   DURATION=10       seconds of each closed-loop run
#   OPEN_DURATION=10  seconds of each open-loop run
#   OPEN_RATES="5000 12000"  requests/s of the open-loop runs
#   RUNS=2            interleaved repetitions of the closed-loop sequence
#   CONNECTIONS=64    wrk connections
#   BUILD=build       build directory holding surge
#   KEEP_TMP=1        keep the temp dir (server logs, raw wrk/vegeta output)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

DURATION=${DURATION:-10}
OPEN_DURATION=${OPEN_DURATION:-10}
OPEN_RATES=${OPEN_RATES:-5000 12000}
RUNS=${RUNS:-2}
CONNECTIONS=${CONNECTIONS:-64}
BUILD=${BUILD:-build}
VEGETA_VERSION=v12.13.0
TOKEN=bench-admin-token-0123456789
PATH_COMPUTE=/api/v1/pricing/compute
BODY='{"region_id":"dr5ru","product_type":"standard","user_id":"u1"}'
command_line="DURATION=$DURATION OPEN_DURATION=$OPEN_DURATION OPEN_RATES=\"$OPEN_RATES\" RUNS=$RUNS CONNECTIONS=$CONNECTIONS bench/compute/run.sh"

say() { printf 'bench/compute: %s\n' "$*" >&2; }
die() {
    printf 'bench/compute: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- tools

as_root() {
    if ((EUID == 0)); then "$@"; else sudo "$@"; fi
}

apt_packages=()
command -v wrk >/dev/null 2>&1 || apt_packages+=(wrk)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || apt_packages+=(nginx-light)
command -v curl >/dev/null 2>&1 || apt_packages+=(curl)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
if ((${#apt_packages[@]})); then
    say "installing ${apt_packages[*]} (Debian)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
        die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${apt_packages[@]}" >/dev/null || die "apt-get install ${apt_packages[*]} failed"
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

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

# ---------------------------------------------------------------- processes and clean-up

tmp=$(mktemp -d -t surge-bench-compute.XXXXXX)
# Busy and all CPU ticks of the machine (/proc/stat): with the ticks of our own processes at the
# end, they tell how much of the machine other work took during the benchmark.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit }' /proc/stat; }
read -r busy0 total0 steal0 < <(cpu_ticks)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
free_mib=$(df -Pm "$tmp" | awk 'NR == 2 { print $4 }')
# server_pid, child, the clean-up on exit, run_child, free_port, wait_ready
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

declare -A addr=()

start_surge() {
    local name=$1 dir=$tmp/$1 i
    shift
    mkdir -p "$dir"
    "$SURGE" serve --listen 127.0.0.1:0 --data-dir "$dir" --set admin.token="$TOKEN" \
        --set ratelimit.ip_per_min=0 --set ratelimit.user_per_min=0 \
        --set ratelimit.global_per_s=0 "$@" >"$tmp/$name.log" 2>&1 &
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

# POSTs the compute body once; prints the response body; fails on a non-200.
compute_once() {
    local out code
    out=$(curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$BODY" "http://$1$PATH_COMPUTE") || return 1
    code=${out##*$'\n'}
    [[ $code == 200 ]] || {
        say "POST $PATH_COMPUTE on $1 answered $code: ${out%$'\n'*}"
        return 1
    }
    printf '%s' "${out%$'\n'*}"
}

say "starting surge (cache on), surge (cache off) and nginx"
start_surge surge-cached
start_surge surge-uncached --set cache.l1_entries=0

# nginx returns a real surge response (the first, uncached one), so both send the same bytes.
sample=$(compute_once "${addr[surge-cached]}") || die "surge-cached does not answer compute"
compute_once "${addr[surge-uncached]}" >/dev/null || die "surge-uncached does not answer compute"
[[ $sample != *[\'\$\\]* ]] || die "the sample response has characters nginx would interpret"
mkdir -p "$tmp/nginx"
nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = $PATH_COMPUTE {
            default_type application/json;
            return 200 '$sample';
        }
        location = /readyz { return 200 'ok'; }
    }
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
    -g 'daemon off;' >"$tmp/nginx.log" 2>&1 &
server_pid[nginx]=$!
addr[nginx]=127.0.0.1:$nginx_port
wait_ready nginx "${server_pid[nginx]}" "http://${addr[nginx]}/readyz"
nginx_sample=$(compute_once "${addr[nginx]}") || die "nginx does not answer compute"
say "response sizes: surge ${#sample} bytes, nginx ${#nginx_sample} bytes"

# Every region x product of the sample city, for varied.lua.
curl -sf -H "Authorization: Bearer $TOKEN" "http://${addr[surge-uncached]}/api/v1/admin/regions" |
    python3 -c '
import json, sys
for r in json.load(sys.stdin)["regions"]:
    for p in r.get("products", []):
        print(r["region_id"], p)' >"$tmp/keys.txt" || die "could not list the regions"
nkeys=$(wc -l <"$tmp/keys.txt")
nregions=$(cut -d' ' -f1 "$tmp/keys.txt" | sort -u | wc -l)
((nkeys > 0)) || die "the sample city has no region x product"

# Every decision is audited into SQLite (~0.5 KB each): a run writes about 1 GB into the temp dir.
((free_mib > 3072)) || say "warning: only $free_mib MiB free in $tmp; the audit of ~2M decisions needs ~1 GB"

# ---------------------------------------------------------------- closed loop (wrk)

# label -> "server script [args]"
labels=(surge-cached surge-uncached surge-uncached-varied nginx)
declare -A target=(
    [surge-cached]="surge-cached $here/post.lua"
    [surge-uncached]="surge-uncached $here/post.lua"
    [surge-uncached-varied]="surge-uncached $here/varied.lua $tmp/keys.txt"
    [nginx]="nginx $here/post.lua"
)
declare -A best=() runs_rps=()

# Parses the WRK_RESULT line into the global associative array r.
declare -A r=()
parse_wrk() {
    local line kv
    r=()
    line=$(grep -m1 '^WRK_RESULT ' "$1") || return 1
    for kv in ${line#WRK_RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    r[rps]=$(awk -v n="${r[requests]}" -v d="${r[duration_us]}" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
    r[sockerr]=$((r[connect] + r[read] + r[write] + r[timeout]))
}

say "warming up (1 s each)"
for label in "${labels[@]}"; do
    read -r server script args <<<"${target[$label]}"
    run_child "$tmp/warmup-$label.txt" wrk -t1 -c"$CONNECTIONS" -d1s -s "$script" \
        "http://${addr[$server]}" ${args:+-- "$args"} || true
done

for ((run = 1; run <= RUNS; run++)); do
    for label in "${labels[@]}"; do
        read -r server script args <<<"${target[$label]}"
        out=$tmp/wrk-$label-$run.txt
        say "closed loop $run/$RUNS: $label (${DURATION}s)"
        run_child "$out" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" \
            "http://${addr[$server]}" ${args:+-- "$args"} ||
            die "wrk failed against $label: $(tail -n 5 "$out")"
        parse_wrk "$out" || die "no WRK_RESULT in $out: $(tail -n 5 "$out")"
        say "  ${r[rps]} req/s, p99 ${r[p99_us]} us, non-2xx ${r[non2xx]}, socket errors ${r[sockerr]}"
        runs_rps[$label]+="${runs_rps[$label]:+ / }${r[rps]}"
        if [[ -z ${best[$label]:-} ]] || ((r[rps] > ${best[$label]%% *})); then
            best[$label]="${r[rps]} ${r[p50_us]} ${r[p90_us]} ${r[p99_us]} ${r[max_us]} ${r[non2xx]} ${r[sockerr]} ${r[requests]}"
        fi
    done
done

# ---------------------------------------------------------------- open loop (vegeta)

open_servers=(surge-cached nginx)
declare -A open=()
printf '%s' "$BODY" >"$tmp/body.json"
for server in "${open_servers[@]}"; do
    printf 'POST http://%s%s\nContent-Type: application/json\n@%s\n' \
        "${addr[$server]}" "$PATH_COMPUTE" "$tmp/body.json" >"$tmp/targets-$server.txt"
done
for rate in $OPEN_RATES; do
    for server in "${open_servers[@]}"; do
        say "open loop: $server at $rate/s (${OPEN_DURATION}s)"
        bin=$tmp/vegeta-$server-$rate.bin
        run_child "$tmp/vegeta-$server-$rate.log" "$VEGETA" attack \
            -targets="$tmp/targets-$server.txt" -rate="$rate/s" -duration="${OPEN_DURATION}s" \
            -timeout=5s -max-workers="$CONNECTIONS" -output="$bin" || die "vegeta attack failed: $(tail -n 5 "$tmp/vegeta-$server-$rate.log")"
        "$VEGETA" report -type=json "$bin" >"$tmp/vegeta-$server-$rate.json"
        rm -f "$bin"
        open[$server/$rate]=$(python3 - "$tmp/vegeta-$server-$rate.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
lat = j["latencies"]
codes = ", ".join(f"{k}: {v}" for k, v in sorted(j.get("status_codes", {}).items()))
errs = j.get("errors") or []
print("%.0f\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%s\t%s" % (
    j["rate"], j["success"], lat["50th"] / 1e6, lat["90th"] / 1e6, lat["99th"] / 1e6,
    lat["max"] / 1e6, j["requests"], codes or "-", "; ".join(errs[:3]).replace("|", "/")))
EOF
        )
        IFS=$'\t' read -r _ success _ _ p99 _ _ _ _ <<<"${open[$server/$rate]}"
        say "  success $success, p99 $p99 ms"
    done
done

# ---------------------------------------------------------------- after the run

# Memory and counters of both surges, read before they stop.
declare -A rss=() hwm=() metric=()
for server in surge-cached surge-uncached; do
    rss[$server]=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/${server_pid[$server]}/status")
    hwm[$server]=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/${server_pid[$server]}/status")
    curl -sf "http://${addr[$server]}/metrics" >"$tmp/metrics-$server.txt" || true
    for m in surge_price_cache_hits_total surge_price_cache_misses_total \
        surge_pricing_decisions_total surge_audit_written_total surge_audit_queue_depth \
        surge_audit_write_failures_total; do
        metric[$server/$m]=$(awk -v m="$m" '$1 == m { printf "%.0f", $2 }' "$tmp/metrics-$server.txt")
    done
    metric[$server/non200]=$(awk '/^surge_http_requests_total\{/ && !/status="200"/ { n += $2 } END { printf "%.0f", n }' \
        "$tmp/metrics-$server.txt")
    metric[$server/ratelimited]=$(awk '/^surge_rate_limited_total\{/ { n += $2 } END { printf "%.0f", n }' \
        "$tmp/metrics-$server.txt")
done

# CPU ticks of our processes: the servers (threads included), nginx's workers, and every child
# this script has waited for (wrk, vegeta, curl, python3), then of the whole machine.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ours=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$$/stat")
for name in "${!server_pid[@]}"; do ours=$((ours + $(proc_ticks "${server_pid[$name]}"))); done
for pid in $(cat "/proc/${server_pid[nginx]}/task/"*/children 2>/dev/null); do
    ours=$((ours + $(proc_ticks "$pid")))
done
read -r busy1 total1 steal1 < <(cpu_ticks)
other_pct=$(awk -v b=$((busy1 - busy0)) -v o="$ours" -v t=$((total1 - total0)) \
    'BEGIN { v = t > 0 ? 100 * (b - o) / t : 0; printf "%.0f", v < 0 ? 0 : v }')
say "CPU ticks during the run: machine busy $((busy1 - busy0)) of $((total1 - total0)), this benchmark's processes $ours"
steal_pct=$(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN { v = t > 0 ? 100 * s / t : 0; printf "%.0f", v }')

# ---------------------------------------------------------------- report

ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
fmt_int() { printf "%'d" "$1" 2>/dev/null || printf '%s' "$1"; }

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
surge_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src 2>/dev/null || surge_rev+=" + uncommitted changes in src/"
vegeta_ver=$("$VEGETA" -version 2>/dev/null | awk '/^Version:/ { print $2 }')
date_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
warnings=()

declare -A desc=(
    [surge-cached]="surge, cache on"
    [surge-uncached]="surge, cache off (cache.l1_entries=0)"
    [surge-uncached-varied]="surge, cache off, $nkeys keys ($nregions regions × products)"
    [nginx]="nginx fixed response (peer, ceiling)"
)
declare -A keys=([surge-cached]=1 [surge-uncached]=1 [surge-uncached-varied]=$nkeys [nginx]=-)
read -r nginx_rps _ <<<"${best[nginx]}"

section=$tmp/section.md
{
    echo "## compute: POST $PATH_COMPUTE"
    echo
    echo "- Date: $date_iso; surge $surge_rev"
    echo "- Machine: $(nproc) CPUs, $cpu_model, Linux $(uname -r); load generator and servers share these CPUs, over loopback"
    echo "- Tools: $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), vegeta ${vegeta_ver:-$VEGETA_VERSION}"
    echo "- Command: \`$command_line\`"
    echo "- Response: surge ${#sample} bytes of JSON; nginx returns a copy of it (same size), worker_processes 2, access_log off"
    echo
    echo "### Closed loop"
    echo
    echo "\`wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -s bench/compute/post.lua URL\` (one key) or"
    echo "\`-s bench/compute/varied.lua URL -- KEYS\` (rotates over every region × product). The"
    echo "sequence ran $RUNS times interleaved; the table shows the run with the most requests/s."
    echo
    echo "| server | keys | req/s | vs nginx | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | req/s of each run |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for label in "${labels[@]}"; do
        read -r rps p50 p90 p99 max non2xx sockerr requests <<<"${best[$label]}"
        echo "| ${desc[$label]} | ${keys[$label]} | $(fmt_int "$rps") | $(ratio "$rps" "$nginx_rps") | $(ms "$p50") | $(ms "$p90") | $(ms "$p99") | $(ms "$max") | $non2xx | $sockerr | ${runs_rps[$label]} |"
        ((non2xx == 0)) || warnings+=("$label: $non2xx of $requests responses were not 2xx/3xx (wrk's \"Non-2xx or 3xx responses\")")
        ((sockerr == 0)) || warnings+=("$label: $sockerr socket errors (connect/read/write/timeout) in wrk's best run")
    done
    echo
    echo "### Open loop"
    echo
    echo "\`vegeta attack -rate=R/s -duration=${OPEN_DURATION}s -timeout=5s -max-workers=$CONNECTIONS\` with the one-key"
    echo "body, then \`vegeta report -type=json\`. Latency is measured from when vegeta sends each request; at"
    echo "most $CONNECTIONS requests are in flight (as many as wrk's connections), so a server or load generator that"
    echo "falls behind shows as an achieved rate below the target rather than as a pile of new connections."
    echo
    echo "| server | rate/s | achieved/s | success | p50 ms | p90 ms | p99 ms | p99 vs nginx | max ms | status codes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for rate in $OPEN_RATES; do
        IFS=$'\t' read -r _ _ _ _ nginx_p99 _ <<<"${open[nginx/$rate]}"
        for server in "${open_servers[@]}"; do
            IFS=$'\t' read -r achieved success p50 p90 p99 max requests codes errs <<<"${open[$server/$rate]}"
            echo "| ${desc[$server]} | $(fmt_int "$rate") | $(fmt_int "$achieved") | $success | $p50 | $p90 | $p99 | $(ratio "$p99" "$nginx_p99") | $max | $codes |"
            awk -v s="$success" 'BEGIN { exit !(s < 1) }' &&
                warnings+=("$server at $rate/s: success ratio $success of $requests requests (codes $codes; errors: ${errs:-none})")
            awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a < 0.95 * r) }' &&
                warnings+=("$server at $rate/s: vegeta achieved only $achieved/s with at most $CONNECTIONS requests in flight (the server or the load generator fell behind)")
        done
    done
    echo
    echo "### Notes"
    echo
    read -r cached_rps _ <<<"${best[surge-cached]}"
    first_rate=${OPEN_RATES%% *}
    IFS=$'\t' read -r _ _ _ _ open_p99 _ <<<"${open[surge-cached/$first_rate]}"
    echo "- Targets (DESIGN §9): ≥ 100K req/s on 2 cores: surge (cache on) $(fmt_int "$cached_rps") req/s, $(ratio "$cached_rps" "$nginx_rps") × nginx on the same machine;"
    IFS=$'\t' read -r _ _ _ _ open_nginx_p99 _ <<<"${open[nginx/$first_rate]}"
    echo "  p99 < 1 ms at 5K/s: surge (cache on) p99 $open_p99 ms at $first_rate/s (open loop), nginx $open_nginx_p99 ms in the same"
    echo "  conditions (vegeta, a Go client, shares the 2 CPUs: its own scheduling is part of every latency)."
    for server in surge-cached surge-uncached; do
        echo "- ${desc[$server]}: RSS ${rss[$server]} MiB after the run (peak ${hwm[$server]} MiB);" \
            "decisions ${metric[$server/surge_pricing_decisions_total]:-?}," \
            "cache hits ${metric[$server/surge_price_cache_hits_total]:-?} / misses ${metric[$server/surge_price_cache_misses_total]:-?};" \
            "audit written ${metric[$server/surge_audit_written_total]:-?}, queued ${metric[$server/surge_audit_queue_depth]:-?}, failed ${metric[$server/surge_audit_write_failures_total]:-?};" \
            "non-200 responses ${metric[$server/non200]:-?}, rate-limited ${metric[$server/ratelimited]:-?}"
        [[ ${metric[$server/non200]:-0} == 0 ]] ||
            warnings+=("$server: /metrics counts ${metric[$server/non200]} non-200 responses")
    done
    echo "- Other work on the machine: load average $load_before at the start; processes outside this benchmark used about $other_pct% of the machine's CPU time during it (steal $steal_pct%)."
    ((other_pct < 10)) || warnings+=("other processes used $other_pct% of the CPUs during the run: the absolute numbers are low, the ratios less reliable")
    echo "- Numbers from a shared machine are noisy: compare ratios against the peer of the same run, not absolute numbers across runs."
    for w in "${warnings[@]}"; do echo "- **WARNING**: $w"; done
} >"$section"

mkdir -p bench/results
result=bench/results/compute-$(date -u +%Y-%m-%d).md
cp "$section" "$result"
cat "$section"
say "wrote $result"
