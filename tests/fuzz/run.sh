#!/usr/bin/env bash
# tests/fuzz/run.sh: builds the libFuzzer target for the log backend's recovery
# (tests/fuzz/fuzz_log_recovery.c) with clang, ASan and UBSan, writes a seed corpus from a real log
# (tests/fuzz/make_log_seeds.c), and fuzzes for a bounded time. Exit code 0 when nothing crashed,
# leaked or hung; otherwise libFuzzer's report names the input it saved under the build dir.
# Installs clang (Debian) when missing.
#   FUZZ_SECONDS=20       how long to fuzz (-max_total_time)
#   FUZZ_BUILD=build/fuzz where the binaries, seeds, corpus and crash inputs go
#   FUZZ_JOBS=1           parallel fuzzing jobs
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_JOBS=${FUZZ_JOBS:-1}

say() { printf 'fuzz: %s\n' "$*" >&2; }
die() {
    printf 'fuzz: error: %s\n' "$*" >&2
    exit 1
}

if ! command -v clang >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "clang not found and apt-get is not available"
    SUDO=()
    if ((EUID != 0)); then SUDO=(sudo); fi
    say "installing clang"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        clang >/dev/null || die "apt-get install clang failed"
fi

mkdir -p "$FUZZ_BUILD/seeds" "$FUZZ_BUILD/corpus"
libs=$(pkg-config --libs snappy jansson)
sources=(src/core/*.c src/bus/*.c)

say "building $FUZZ_BUILD/fuzz_log_recovery with $(clang --version | head -n 1)"
clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${sources[@]}" tests/fuzz/fuzz_log_recovery.c -o "$FUZZ_BUILD/fuzz_log_recovery" \
    $libs -lpthread -lm

say "writing seeds from a real log"
gcc -std=c11 -D_GNU_SOURCE -O1 -Isrc "${sources[@]}" tests/fuzz/make_log_seeds.c \
    -o "$FUZZ_BUILD/make_log_seeds" $libs -lpthread -lm
rm -f "$FUZZ_BUILD/seeds"/*
"$FUZZ_BUILD/make_log_seeds" "$FUZZ_BUILD/seeds"

say "fuzzing for ${FUZZ_SECONDS}s ($(ls "$FUZZ_BUILD/seeds" | wc -l) seeds, $(ls "$FUZZ_BUILD/corpus" | wc -l) corpus inputs)"
args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$FUZZ_BUILD/")
if ((FUZZ_JOBS > 1)); then args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    "$FUZZ_BUILD/fuzz_log_recovery" "${args[@]}" "$FUZZ_BUILD/corpus" "$FUZZ_BUILD/seeds"
say "no crash, leak or hang in ${FUZZ_SECONDS}s"
