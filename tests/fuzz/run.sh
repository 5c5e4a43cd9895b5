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
scratch=$(mktemp -d "$([[ -w /dev/shm ]] && echo /dev/shm || echo /tmp)/surge_fuzz_run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$FUZZ_BUILD/")
if ((FUZZ_JOBS > 1)); then args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
FUZZ_TMPDIR=$scratch ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    "$FUZZ_BUILD/fuzz_log_recovery" "${args[@]}" "$FUZZ_BUILD/corpus" "$FUZZ_BUILD/seeds"
say "no crash, leak or hang in ${FUZZ_SECONDS}s"

# The event decoder and encoder (src/event): every fuzz_event_*.c target, same time budget each.
event_sources=(src/core/*.c src/event/*.c src/bus/*.c "$FUZZ_BUILD/event_schemas.c")
if [[ ! -f build/generated/event_schemas.c ]]; then
    say "generating the compiled-in schemas (cmake configure)"
    cmake -S . -B build >/dev/null
fi
cp build/generated/event_schemas.c "$FUZZ_BUILD/event_schemas.c"
event_libs=$(pkg-config --libs avro-c jansson snappy)
for target in tests/fuzz/fuzz_event_*.c; do
    name=$(basename "$target" .c)
    say "building $FUZZ_BUILD/$name"
    clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Ibuild/generated \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "${event_sources[@]}" "$target" -o "$FUZZ_BUILD/$name" $event_libs -lpthread -lm
    mkdir -p "$FUZZ_BUILD/corpus-$name"
    say "fuzzing $name for ${FUZZ_SECONDS}s"
    # libavro's generic values keep pointers 4 bytes into their allocations: LeakSanitizer
    # needs use_unaligned to see them (docs/design-notes.md)
    dict=()
    [[ -f tests/fuzz/$name.dict ]] && dict=(-dict="tests/fuzz/$name.dict")
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:use_unaligned=1} \
        "$FUZZ_BUILD/$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$FUZZ_BUILD/" "${dict[@]}" "$FUZZ_BUILD/corpus-$name"
    say "$name: no crash, leak or hang in ${FUZZ_SECONDS}s"
done

# The model loaders (src/model): fuzz_model_load, seeded with small models and their ONNX exports.
protoc-c --c_out="$FUZZ_BUILD" --proto_path=src/model src/model/onnx.proto
model_sources=(src/core/*.c src/model/ensemble.c src/model/xgb_json.c src/model/onnx.c "$FUZZ_BUILD/onnx.pb-c.c")
model_libs=$(pkg-config --libs jansson libprotobuf-c)
say "building $FUZZ_BUILD/fuzz_model_load"
clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -I"$FUZZ_BUILD" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${model_sources[@]}" tests/fuzz/fuzz_model_load.c -o "$FUZZ_BUILD/fuzz_model_load" $model_libs -lpthread -lm
gcc -std=c11 -D_GNU_SOURCE -O1 -Isrc -I"$FUZZ_BUILD" "${model_sources[@]}" tests/fuzz/make_model_seeds.c \
    -o "$FUZZ_BUILD/make_model_seeds" $model_libs -lpthread -lm
mkdir -p "$FUZZ_BUILD/seeds-fuzz_model_load" "$FUZZ_BUILD/corpus-fuzz_model_load"
"$FUZZ_BUILD/make_model_seeds" "$FUZZ_BUILD/seeds-fuzz_model_load"
say "fuzzing fuzz_model_load for ${FUZZ_SECONDS}s"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$FUZZ_BUILD/fuzz_model_load" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/fuzz_model_load.dict -artifact_prefix="$FUZZ_BUILD/" \
    "$FUZZ_BUILD/corpus-fuzz_model_load" "$FUZZ_BUILD/seeds-fuzz_model_load"
say "fuzz_model_load: no crash, leak or hang in ${FUZZ_SECONDS}s"
