# bench/lib.sh: what the benchmarks that run servers share, sourced by their run.sh after they
# define say() and die() and create $tmp: the servers they started (server_pid[name] = pid),
# the load generator running now ($child), a clean-up on exit that stops all of them (TERM, then
# KILL after 10 s) and removes $tmp unless KEEP_TMP=1, and small helpers.
declare -A server_pid=()
child="" # the running load generator (wrk, vegeta, ...)

# Stops server NAME (TERM, then KILL after 10 s) and forgets it; nothing when it is not running.
stop_server() {
    local name=$1 pid i
    pid=${server_pid[$name]:-}
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) did not stop within 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    unset "server_pid[$name]"
}

bench_cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    [[ -n $child ]] && kill -TERM "$child" 2>/dev/null || true
    for name in "${!server_pid[@]}"; do kill -TERM "${server_pid[$name]}" 2>/dev/null || true; done
    for name in "${!server_pid[@]}"; do stop_server "$name"; done
    [[ -n $child ]] && wait "$child" 2>/dev/null || true
    if [[ ${KEEP_TMP:-0} == 1 ]]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a load generator in the background and waits, so that a signal is handled at once.
run_child() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    child=$!
    local rc=0
    wait "$child" || rc=$?
    child=""
    return "$rc"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers 200; gives up after 30 s or when pid exits ($tmp/NAME.log is its log).
wait_ready() {
    local name=$1 pid=$2 url=$3 i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$tmp/$name.log" >&2 || true
            die "$name exited during start-up"
        }
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    die "$name did not become ready at $url within 30 s"
}
