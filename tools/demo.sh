#!/usr/bin/env bash
# demo.sh: runs `surge serve` with the sample city, waits until it is ready and prints how to
# use it. `make demo` builds surge first and then runs this; arguments are passed to serve
# (make demo DEMO_ARGS="--set log.access=true"). Ctrl-C stops the server cleanly.
#   SURGE_LISTEN    HOST:PORT to listen on (default 0.0.0.0:8080)
#   SURGE_DATA_DIR  data directory (default ./data)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BUILD:-build}/surge
listen=${SURGE_LISTEN:-0.0.0.0:8080}
data_dir=${SURGE_DATA_DIR:-./data}
ready_timeout_s=60

say() { printf 'demo: %s\n' "$*"; }
[[ -x $bin ]] || {
    say "$bin not found: run 'make demo' (it builds surge first)" >&2
    exit 1
}

rm -f "$data_dir/listen.addr" # the server writes the address it got once it listens
"$bin" serve --listen "$listen" --data-dir "$data_dir" "$@" &
pid=$!

stopping=0
stop() {
    stopping=1
    kill -TERM "$pid" 2>/dev/null || true
}
trap stop INT TERM

# Waits for the server to exit; after Ctrl-C gives it 10 s before SIGKILL. Exits the script.
finish() {
    local rc=0 waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if ((stopping)); then
            sleep 0.1
            if ((++waited > 100)); then
                say "surge did not stop within 10 s; killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
            fi
        else
            wait "$pid" 2>/dev/null || true # returns early when a trapped signal arrives
        fi
    done
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
[[ $host == 0.0.0.0 || $host == "[::]" ]] && host=localhost
base="$host:$port"
if [[ -f $data_dir/admin.token ]]; then
    token_hint="in $data_dir/admin.token  (curl -H \"Authorization: Bearer \$(cat $data_dir/admin.token)\" ...)"
else
    token_hint="the admin.token you set"
fi

cat <<EOF

  surge is running: http://$base/   (portal)
  admin token: $token_hint

  # compute a price
  curl -s -X POST $base/api/v1/pricing/compute -H 'content-type: application/json' -d '{"region_id":"dr5ru","product_type":"standard","user_id":"u1"}'

  # explain a decision by its request_id
  rid=\$(curl -s -X POST $base/api/v1/pricing/compute -H 'content-type: application/json' -d '{"region_id":"dr5ru","product_type":"standard","user_id":"u1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["request_id"])')
  curl -s "$base/api/v1/pricing/explain?request_id=\$rid"

  # metrics (Prometheus text)
  curl -s $base/metrics

  Ctrl-C stops surge.

EOF
finish
