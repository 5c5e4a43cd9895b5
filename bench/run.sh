#!/usr/bin/env bash
# bench/run.sh: runs every benchmark bench/*/run.sh (or those named: bench/run.sh compute) and
# rewrites BENCHMARKS.md at the repository root: a header on how to reproduce, then the latest
# section of each benchmark, bench/results/<name>-<date>.md. `make bench` builds surge, installs
# the dependencies and calls this. A benchmark that fails keeps its previous section, marked.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bench: %s\n' "$*" >&2; }

names=()
if (($#)); then
    names=("$@")
else
    for script in bench/*/run.sh; do
        names+=("$(basename "$(dirname "$script")")")
    done
fi

declare -A failed=()
for name in "${names[@]}"; do
    [[ -x bench/$name/run.sh ]] || {
        say "no benchmark bench/$name/run.sh"
        exit 2
    }
    say "running bench/$name/run.sh"
    start=$SECONDS
    if bench/"$name"/run.sh; then
        say "$name: done in $((SECONDS - start)) s"
    else
        failed[$name]=1
        say "$name: FAILED (exit status $?), keeping its previous results"
    fi
done

# BENCHMARKS.md lists every benchmark that has results, not only the ones run now.
{
    echo "# Benchmarks"
    echo
    echo "Reproduce with \`make bench\` (all benchmarks; installs what they need, builds surge) or"
    echo "\`bench/<name>/run.sh\` (one; see its header for the knobs). Each benchmark runs its peer side"
    echo "by side in the same command and reports ratios against it: these machines are shared and"
    echo "noisy, so compare ratios, not absolute numbers across runs. Raw sections are kept in"
    echo "\`bench/results/<name>-<date>.md\`; this file shows the latest of each."
    echo
    echo "Machine of this update: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
        "$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)," \
        "updated $(date -u +%Y-%m-%dT%H:%M:%SZ)."
    for script in bench/*/run.sh; do
        name=$(basename "$(dirname "$script")")
        latest=$(find bench/results -maxdepth 1 -name "$name-*.md" 2>/dev/null | sort | tail -n 1)
        echo
        if [[ -z $latest ]]; then
            echo "## $name"
            echo
            echo "No results yet: run \`bench/$name/run.sh\`."
            continue
        fi
        if [[ -n ${failed[$name]:-} ]]; then
            echo "> The last run of bench/$name/run.sh failed; these are the results of $(basename "$latest")."
            echo
        fi
        cat "$latest"
    done
} >BENCHMARKS.md.tmp
mv BENCHMARKS.md.tmp BENCHMARKS.md
say "wrote BENCHMARKS.md"
((${#failed[@]} == 0))
