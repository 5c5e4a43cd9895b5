#!/usr/bin/env bash
# demo.sh: trains a first demand model on simulated history when there is none, runs `surge
# serve` with the sample city, waits until it is ready, starts the market simulator against it
# (first the last 8 days of demand as history, then live at 60x) and prints how to use it.
# `make demo` installs what is missing and builds surge first, then runs this; arguments are
# passed to serve (make demo DEMO_ARGS="--set log.access=true"). Ctrl-C stops the simulator
# and the server cleanly. No network is needed.
#   SURGE_LISTEN    HOST:PORT to listen on (default 0.0.0.0:8080)
#   SURGE_DATA_DIR  data directory (default ./data)
#   DEMO_SPEED      the simulator's clock, simulated seconds per second (default 60)
#   DEMO_SIMULATE=0 do not start the simulator
#   DEMO_BACKFILL_DAYS  days of history the simulator sends before its live run (default 8; 0: none)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BUILD:-build}/surge
listen=${SURGE_LISTEN:-0.0.0.0:8080}
data_dir=${SURGE_DATA_DIR:-./data}
speed=${DEMO_SPEED:-60}
ready_timeout_s=60
history_days=28
backfill_days=${DEMO_BACKFILL_DAYS:-8} # the stream keeps 8 days of 15-minute history

say() { printf 'demo: %s\n' "$*"; }
[[ -x $bin ]] || {
    say "$bin not found: run 'make demo' (it builds surge first)" >&2
    exit 1
}

mkdir -p "$data_dir"
rm -f "$data_dir/listen.addr" # the server writes the address it got once it listens
# A first model, trained on simulated history and made live, when the registry has none; before
# the server starts, since rollouts of a running server go through its admin API. `surge train`
# and `surge models` may not exist yet in this build: then the demo prices without a model.
train_first_model() {
    local models history=$data_dir/sim-history.csv out
    # `surge models list` prints a header line and one line per model version
    models=$("$bin" models list --data-dir "$data_dir" 2>&1) || true
    if [[ $models != *"not built yet"* ]] && (($(grep -c . <<<"$models") > 1)); then
        say "a model is registered already: not training"
        return 0
    fi
    if [[ ! -s $history ]]; then
        say "simulating $history_days days of demand history into $history"
        "$bin" simulate --history-out "$history" --days "$history_days" >/dev/null 2>&1 || {
            say "could not simulate the history; no model for now" >&2
            return 0
        }
    fi
    say "training a first model: $bin train --input $history"
    if out=$("$bin" train --input "$history" --data-dir "$data_dir" 2>&1); then
        local version
        version=$("$bin" models list --data-dir "$data_dir" 2>/dev/null |
            awk 'NR > 1 && $3 == "staged" { v = $2 } END { print v }')
        if [[ -n $version ]] && "$bin" models promote "$version" --data-dir "$data_dir" >/dev/null 2>&1; then
            say "model demand $version trained and live ($(tail -n 1 <<<"$out"))"
        else
            say "trained, but could not make it live: $(tail -n 1 <<<"$out")" >&2
        fi
    elif [[ $out == *"not built yet"* ]]; then
        say "skipping training: \`surge train\` is not built yet in this version; prices use no model"
    else
        say "training failed (prices use no model): $(tail -n 3 <<<"$out")" >&2
    fi
}
train_first_model

# The server and the simulator get their own sessions, so that a Ctrl-C reaches only this
# script, which stops them in order: the simulator first (it sends its last batch to the
# server), then the server.
setsid "$bin" serve --listen "$listen" --data-dir "$data_dir" "$@" &
pid=$!
sim_pid=""

stopping=0
stop() {
    local i
    stopping=1
    if [[ -n $sim_pid ]] && kill -INT "$sim_pid" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do
            kill -0 "$sim_pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    kill -TERM "$pid" 2>/dev/null || true
}
trap stop INT TERM
# Whatever ends this script ends them too.
trap '[[ -n $sim_pid ]] && kill -KILL "$sim_pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; true' EXIT

# Waits for the server (and the simulator) to exit; after Ctrl-C gives them 10 s before
# SIGKILL. Exits the script.
finish() {
    local rc=0 waited=0
    while kill -0 "$pid" 2>/dev/null || { [[ -n $sim_pid ]] && kill -0 "$sim_pid" 2>/dev/null; }; do
        if ((stopping)); then
            sleep 0.1
            if ((++waited > 100)); then
                say "surge did not stop within 10 s; killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
                [[ -n $sim_pid ]] && kill -KILL "$sim_pid" 2>/dev/null || true
            fi
        elif ! kill -0 "$pid" 2>/dev/null; then
            break # the server is gone: stop the simulator too
        else
            wait -n "$pid" ${sim_pid:+"$sim_pid"} 2>/dev/null || true # returns early on a trapped signal
            if [[ -n $sim_pid ]] && ! kill -0 "$sim_pid" 2>/dev/null && kill -0 "$pid" 2>/dev/null &&
                ((!stopping)); then
                say "the simulator stopped (see $data_dir/simulate.log); surge keeps running" >&2
                sim_pid=""
            fi
        fi
    done
    [[ -n $sim_pid ]] && { kill -INT "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
    wait "$pid" 2>/dev/null || rc=$?
    if ((stopping)); then
        say "stopped"
        exit 0
    fi
    say "surge exited with status $rc" >&2
    exit "$rc"
}

# Wait for <data_dir>/listen.addr (HOST:PORT), then for GET /readyz == 200.
addr=""
for ((i = 0; i < ready_timeout_s * 10; i++)); do
    kill -0 "$pid" 2>/dev/null && ((!stopping)) || finish
    if [[ -z $addr && -s $data_dir/listen.addr ]]; then
        addr=$(<"$data_dir/listen.addr")
    fi
    if [[ -n $addr ]] && curl -fs -o /dev/null --max-time 2 "http://$addr/readyz"; then
        break
    fi
    sleep 0.1
done
if [[ -z $addr ]] || ! curl -fs -o /dev/null --max-time 2 "http://$addr/readyz"; then
    say "surge was not ready within ${ready_timeout_s} s; stopping it" >&2
    stop
    finish
fi


port=${addr##*:}
host=${addr%:*}
[[ $host == 0.0.0.0 || $host == "[::]" || $host == 127.0.0.1 ]] && host=localhost
base="$host:$port"

if [[ ${DEMO_SIMULATE:-1} != 0 ]] && ((!stopping)); then
    # a new seed each run: a seed's event ids are remembered by the server for a day.
    # --backfill: first the $backfill_days days before now (searches and weather), so the stream
    # has its 8 days of 15-minute history (7-day averages, seasonality, the forecaster's
    # baseline_7d) from the first live minute; the simulator waits until the stream has read
    # them before it sends live events, which would otherwise make the older backfill late.
    # The default ingest limits hold (about 350 000 events over 128 000 riders and 64
    # regions: a few events per rider, under 10 000 per region against a bucket of 120 000).
    setsid "$bin" simulate --data-dir "$data_dir" --speed "$speed" --seed "$(date +%s)" \
        --backfill "$backfill_days" >"$data_dir/simulate.out" 2>"$data_dir/simulate.log" &
    sim_pid=$!
    sim_note="  the market simulator sends the last $backfill_days days of demand, then runs at ${speed}x:
  riders, drivers, weather and venue events flow into POST /api/v1/events
  (progress: tail -f $data_dir/simulate.log)"
else
    sim_note="  the market simulator is off (DEMO_SIMULATE=0)"
fi

if [[ -f $data_dir/admin.token ]]; then
    token_hint="in $data_dir/admin.token  (curl -H \"Authorization: Bearer \$(cat $data_dir/admin.token)\" ...)"
else
    token_hint="the admin.token you set"
fi

cat <<EOF

  surge is running: http://$base/   (portal)
  admin token: $token_hint
$sim_note

  # compute a price
  curl -s -X POST $base/api/v1/pricing/compute -H 'content-type: application/json' -d '{"region_id":"dr5ru","product_type":"standard","user_id":"u1"}'

  # explain a decision by its request_id
  rid=\$(curl -s -X POST $base/api/v1/pricing/compute -H 'content-type: application/json' -d '{"region_id":"dr5ru","product_type":"standard","user_id":"u1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["request_id"])')
  curl -s "$base/api/v1/pricing/explain?request_id=\$rid"

  # a region's live features (7-day ones from the backfill)
  curl -s $base/api/v1/features/dr5ru

  # the demand forecast with its 7-day baseline (once a model is live)
  curl -s "$base/api/v1/forecast/demand?region_id=dr5ru"

  # metrics (Prometheus text)
  curl -s $base/metrics | grep surge_events_total

  Ctrl-C stops the simulator and surge.

EOF
finish
