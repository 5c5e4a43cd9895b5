#!/usr/bin/env bash
# run.sh: the portal's end-to-end tests in real headless Chromium (Debian's chromium package,
# driven by playwright-core from npm) against a real `surge serve` on a temp data dir and a
# port the kernel picks. Screenshots of every page go to tests/artifacts/.
# Usage: tests/e2e/run.sh   (SURGE_BIN=path/to/surge, default build/surge; CHROMIUM=path)
set -euo pipefail
cd "$(dirname "$0")/../.."

die() {
    printf 'e2e: %s\n' "$*" >&2
    exit 1
}

: "${SURGE_BIN:=build/surge}"
[[ -x $SURGE_BIN ]] || die "no surge binary at $SURGE_BIN (make build, or set SURGE_BIN)"
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || die "no chromium at ${CHROMIUM:-/usr/bin/chromium} (tools/install-deps.sh installs it)"
[[ -d node_modules/playwright-core ]] || die "node_modules/playwright-core is missing (npm ci, or tools/install-deps.sh)"
mkdir -p tests/artifacts
SURGE_BIN=$(realpath "$SURGE_BIN") exec node --test --test-concurrency=1 tests/e2e/
