#!/usr/bin/env bash
# install-deps.sh: installs what surge needs to build and test on Debian 12: the Debian packages
# below and a Python venv (.venv) with the test tools of tests/requirements.txt. It checks
# first and installs only what is missing, so a second run does nothing and takes well under a
# second. Run as root, or as a user who may sudo. `make demo` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build and test tools, then libraries for the distributed deployment and model formats.
PACKAGES=(
    build-essential cmake pkg-config clang-format clang
    libmicrohttpd-dev libjansson-dev libsqlite3-dev libcmocka-dev
    wrk nginx-light tzdata ca-certificates curl
    libavro-dev libsnappy-dev libzstd-dev librdkafka-dev libhiredis-dev libpq-dev
    libxgboost-dev libprotobuf-c-dev protobuf-c-compiler
    libcurl4-openssl-dev redis-server
    nodejs chromium
)
VENV=.venv
REQUIREMENTS=tests/requirements.txt
STAMP=$VENV/.requirements.sha256

say() { printf 'install-deps: %s\n' "$*"; }
die() {
    printf 'install-deps: error: %s\n' "$*" >&2
    exit 1
}

# Runs a noisy command quietly; on failure shows the end of its output and stops.
run_logged() {
    local what=$1 log
    shift
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        die "$what failed (command: $*)"
    fi
    rm -f "$log"
}

# ---------------------------------------------------------------- Debian packages

# One dpkg-query for all packages; a package counts only when fully installed (a removed
# package whose config files remain is not).
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null |
    awk '$2 == "installed" { print $1 }' || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
    grep -qxF -- "$pkg" <<<"$installed" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    say "debian packages: all ${#PACKAGES[@]} present"
else
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found; install these packages by hand: ${missing[*]}"
    SUDO=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 ||
            die "not root and sudo is not available; as root run: apt-get install ${missing[*]}"
        SUDO=(sudo)
    fi
    say "debian packages: installing ${missing[*]}"
    run_logged "apt-get update" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run_logged "apt-get install" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    say "debian packages: done"
fi

# ---------------------------------------------------------------- Python venv for the tests

if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "python venv: $VENV present"
else
    command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH"
    rm -rf "$VENV"
    say "python venv: creating $VENV with $(python3 --version 2>&1)"
    run_logged "python3 -m venv $VENV" python3 -m venv "$VENV"
fi

[[ -f $REQUIREMENTS ]] || die "$REQUIREMENTS is missing"
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [[ $want == "$have" ]]; then
    say "python packages: up to date with $REQUIREMENTS"
else
    say "python packages: installing $REQUIREMENTS"
    rm -f "$STAMP"
    run_logged "pip install" "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -r "$REQUIREMENTS"
    run_logged "checking the test tools" "$VENV/bin/python" -c \
        'import pytest, requests, yaml, schemathesis'
    run_logged "schemathesis --help" "$VENV/bin/schemathesis" --help
    printf '%s\n' "$want" >"$STAMP"
    say "python packages: done"
fi

# ---------------------------------------------------------------- npm: the portal's tooling

# uPlot (built into the binary's portal assets) and playwright-core (the end-to-end tests, with
# Debian's chromium), pinned by package-lock.json. `npm ci` runs only when the lock changed.
NPM_STAMP=node_modules/.package-lock.sha256
if [[ -f package-lock.json ]]; then
    command -v npm >/dev/null 2>&1 || die "npm not found (it comes with the nodejs package)"
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    have=$(cat "$NPM_STAMP" 2>/dev/null || true)
    if [[ $want == "$have" && -d node_modules/uplot && -d node_modules/playwright-core ]]; then
        say "npm packages: up to date with package-lock.json"
    else
        say "npm packages: npm ci"
        run_logged "npm ci" npm ci --no-audit --no-fund
        printf '%s\n' "$want" >"$NPM_STAMP"
        say "npm packages: done"
    fi
fi
