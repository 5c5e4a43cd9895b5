#!/usr/bin/env bash
# bench/inference/run.sh: single-row latency and batch throughput of surge's tree-ensemble
# evaluator (src/model/ensemble.c) against libxgboost's own predictor and ONNX Runtime: the same
# model, the same rows, one command (DESIGN §9: <= 2 us per row for 300 trees of depth 6, >= 3x
# ONNX Runtime's batch throughput on one core).
#
#   1. inference_bench train: libxgboost (C API, fixed seed) fits TREES trees of depth DEPTH on
#      ROWS synthetic count-like rows of FEATURES features (10% missing); 4096 more rows (10%
#      missing) are the rows every peer is timed on
#   2. model_tool export-onnx: surge's own exporter writes the model as ONNX
#   3. inference_bench measure: surge (one row per call, 32 per call, quantized rows) and
#      libxgboost (XGBoosterPredictFromDense, nthread 1: 1, 32 and all 4096 rows per call), after
#      checking that both give the same float on every row
#   4. ort_bench.py: ONNX Runtime (PyPI) on the exported file, intra_op_num_threads=1, 1, 32 and
#      4096 rows per session.run, and its agreement with surge's predictions
# All times are CPU time of the measuring thread (the machine is shared: time given to other
# processes counts for nobody), medians of REPS runs. Prints a markdown section and writes it to
# bench/results/inference-<date>.md. Builds model_tool and inference_bench into BUILD; installs
# the Python peers into .venv from tests/requirements.txt when missing. About 1 minute.
#   ROWS=10000 TREES=300 DEPTH=6 FEATURES=30   the model
#   REPS=9                                      timed repetitions of each measurement
#   BUILD=build                                 build directory (RelWithDebInfo)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

ROWS=${ROWS:-10000}
TREES=${TREES:-300}
DEPTH=${DEPTH:-6}
FEATURES=${FEATURES:-30}
REPS=${REPS:-9}
BUILD=${BUILD:-build}
command_line="ROWS=$ROWS TREES=$TREES DEPTH=$DEPTH FEATURES=$FEATURES REPS=$REPS bench/inference/run.sh"

say() { printf 'bench/inference: %s\n' "$*" >&2; }
die() {
    printf 'bench/inference: error: %s\n' "$*" >&2
    exit 1
}

PY=$root/.venv/bin/python
if ! "$PY" -c 'import onnxruntime, onnx, numpy' >/dev/null 2>&1; then
    say "installing the Python peers (tests/requirements.txt) into .venv"
    [[ -x $PY ]] || python3 -m venv .venv
    .venv/bin/pip install -q -r tests/requirements.txt || die "pip install failed"
fi

say "building model_tool and inference_bench in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j 2 --target model_tool inference_bench >/dev/null ||
    die "build failed: cmake --build $BUILD --target model_tool inference_bench"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS

say "training $TREES trees of depth $DEPTH on $ROWS rows x $FEATURES features (libxgboost)"
"$BUILD/inference_bench" train "$work" "$ROWS" "$TREES" "$DEPTH" "$FEATURES"
"$BUILD/model_tool" export-onnx "$work/model.json" "$work/model.onnx"
info=$("$BUILD/model_tool" info "$work/model.json")
"$BUILD/model_tool" predict "$work/model.json" "$work/rows.csv" >"$work/surge.txt"

say "timing surge and libxgboost"
"$BUILD/inference_bench" measure "$work/model.json" "$work/rows.csv" "$REPS" >"$work/c.json"
say "timing ONNX Runtime"
"$PY" "$here/ort_bench.py" "$work/model.onnx" "$work/rows.csv" "$work/surge.txt" "$REPS" \
    >"$work/ort.json"

date_utc=$(date -u +%Y-%m-%d)
out=bench/results/inference-$date_utc.md
mkdir -p bench/results
"$PY" - "$work/c.json" "$work/ort.json" "$info" "$command_line" "$load_before" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$((SECONDS - start))" \
    "$(stat -c %s "$work/model.json")" "$(stat -c %s "$work/model.onnx")" >"$out" <<'EOF'
import json, os, platform, sys, datetime
c = json.load(open(sys.argv[1]))
o = json.load(open(sys.argv[2]))
info = json.loads(sys.argv[3])
cmd, load, commit, secs, json_size, onnx_size = sys.argv[4:10]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

def us(ns):
    return f"{ns / 1000:.2f}"

def rps(ns):
    return f"{1e9 / ns:,.0f}"

ort_single_pure = o["ort_single_ns"] - o["call_overhead_single_ns"]
ort_b32_pure = o["ort_batch32_ns"] - o["call_overhead_batch32_ns"]
rows = [
    ("surge, 1 row per call", c["ours_single_ns"], "the serving path"),
    ("surge, 1 quantized row per call", c["ours_quantized_ns"], "rows already binned (uint16)"),
    ("surge, quantize + predict", c["ours_quantize_predict_ns"], "binning included"),
    ("surge, 32 rows per call", c["ours_batch32_ns"], "batch"),
    ("libxgboost 1.7, 1 row per call", c["xgb_single_ns"], "XGBoosterPredictFromDense, nthread 1"),
    ("libxgboost 1.7, 32 rows per call", c["xgb_batch32_ns"], ""),
    ("libxgboost 1.7, 4096 rows per call", c["xgb_batch_all_ns"], "its best case"),
    (f"ONNX Runtime {o['ort_version']}, 1 row per call", o["ort_single_ns"], "from Python"),
    (f"ONNX Runtime {o['ort_version']}, 1 row per call, call overhead taken off", ort_single_pure,
     f"minus {us(o['call_overhead_single_ns'])} us of an Identity graph's session.run"),
    (f"ONNX Runtime {o['ort_version']}, 32 rows per call", o["ort_batch32_ns"], "from Python"),
    (f"ONNX Runtime {o['ort_version']}, 32 rows per call, call overhead taken off", ort_b32_pure, ""),
    (f"ONNX Runtime {o['ort_version']}, 4096 rows per call", o["ort_batch_all_ns"], "its best case"),
]
print("## inference: tree-ensemble evaluation (bench/inference)")
print()
print(f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}; surge {commit}; run took {secs} s")
print(f"- Machine: {os.cpu_count()} CPUs, {cpu}, Linux {platform.release()}; load average before the run: {load} (the machine is shared)")
print(f"- Command: `{cmd}`")
print(f"- Model: {info['trees']} trees, max depth {info['max_depth']}, {info['features']} features, "
      f"{info['objective']}, trained by libxgboost with a fixed seed; XGBoost JSON {int(json_size):,} bytes, "
      f"ONNX (surge's exporter) {int(onnx_size):,} bytes. Rows: {c['rows']} with 10% missing values.")
print("- Times: CPU time of the measuring thread per row, median of the runs; every peer runs on one "
      "thread in the caller's thread. ONNX Runtime is called from Python: the same loop over a "
      "one-node Identity graph measures what the call itself costs, and the rows \"call overhead "
      "taken off\" subtract it (an estimate of ONNX Runtime called from C).")
print(f"- Agreement: surge and libxgboost give the same float on {c['agree_rows_exact']} of {c['rows']} rows "
      f"(max |diff| {c['agree_max_abs_diff']:.3g}); ONNX Runtime on surge's ONNX file: max relative diff "
      f"{o['agree_max_rel_diff']:.3g}, identical on {o['agree_rows_exact']} rows (it adds base_score after the trees).")
single_ok = "meets" if c["ours_single_ns"] <= 2000 else "misses"
ratio_ort = o["ort_batch32_ns"] / c["ours_batch32_ns"]
ratio_ort_best = o["ort_batch_all_ns"] / c["ours_batch32_ns"]
print(f"- Targets: <= 2 us per row for 300 trees of depth 6: surge {us(c['ours_single_ns'])} us "
      f"({single_ok} it; each call timed on the wall clock: p50 {us(c['ours_single_p50_ns'])} us, "
      f"p99 {us(c['ours_single_p99_ns'])} us). >= 3x ONNX Runtime's batch throughput on one core: surge's 32-row batches "
      f"are {ratio_ort:.1f}x ONNX Runtime's 32-row calls and {ratio_ort_best:.1f}x its 4096-row calls.")
print()
print("| path | µs per row | rows/s | surge 32-row batch is | note |")
print("|---|---:|---:|---:|---|")
for name, ns, note in rows:
    print(f"| {name} | {us(ns)} | {rps(ns)} | {ns / c['ours_batch32_ns']:.1f}x | {note} |")
EOF
cat "$out"
say "wrote $out"
