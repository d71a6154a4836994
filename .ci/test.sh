#!/usr/bin/env bash
# The whole test suite, as the README gives it: `bash .ci/test.sh`.
# Installs what it needs on a fresh machine, then runs each stage and stops at the first failure.
# Stages can be picked by name: `bash .ci/test.sh lint test`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUSTFLAGS="${RUSTFLAGS:--Dwarnings}"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:--Dwarnings}"
# Property tests: fixed seed count, and no regression files written by CI.
export PROPTEST_CASES="${PROPTEST_CASES:-256}"
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1

stage() { printf '\n=== %s (%(%H:%M:%S)T)\n' "$1" -1; }

# redis-server for the tests that run against a real Redis (tollgate-testkit's `redis` module
# starts its own servers on free ports; the distro's service is neither started nor used).
# Debian's package, installed quietly when missing; its output is shown only if it fails.
install_redis() {
    if command -v redis-server >/dev/null; then return 0; fi
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "setup: redis-server is missing and installing it needs root (no sudo here)" >&2
            return 1
        fi
        as_root=(sudo)
    fi
    # No service start during the install: a policy-rc.d that says "no" (101), as Docker images
    # have, put in place only if the machine has none and removed right after.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
        "${as_root[@]}" chmod 755 "$policy"
        own_policy=1
    fi
    local log status=0
    log="$(mktemp)"
    { "${as_root[@]}" apt-get update -q &&
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends redis-server; } >"$log" 2>&1 || status=$?
    if [ "$own_policy" = 1 ]; then "${as_root[@]}" rm -f "$policy"; fi
    if [ "$status" -ne 0 ]; then
        cat "$log" >&2
        echo "setup: installing redis-server failed (apt-get exit $status)" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    # redis-tools (a dependency of redis-server) brings redis-cli and redis-benchmark.
    for tool in redis-server redis-cli redis-benchmark; do
        if ! command -v "$tool" >/dev/null; then
            echo "setup: $tool is still missing after installing redis-server" >&2
            return 1
        fi
    done
}

setup() {
    stage setup
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
    install_redis
    redis-server --version
}

lint() {
    stage fmt
    cargo fmt --all -- --check
    stage clippy
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    # tollgate-std's features one at a time (the fuzz crate uses `simulate` alone).
    for features in tokio tower simulate; do
        cargo clippy -p tollgate-std --all-targets --features "$features" -- -D warnings
    done
}

test() {
    stage test
    cargo test --workspace
    cargo test --workspace --all-features
    # The embassy gateway in virtual time: exits 1 if any limit was exceeded.
    cargo run -q -p tollgate-embassy --example gateway >/dev/null
    stage doc
    cargo doc --workspace --no-deps --all-features
}

fuzz() {
    stage fuzz
    bash .ci/fuzz.sh "${FUZZ_SECONDS:-20}"
}

embedded() {
    stage embedded
    bash .ci/embedded.sh
}

bench() {
    stage bench
    cargo clippy --manifest-path tests/bench/Cargo.toml --release --all-targets -- -D warnings
    cargo test --manifest-path tests/bench/Cargo.toml --release
    table="$(bash .ci/bench.sh)"
    printf '%s\n' "$table"
    # The GCRA fast path's budget (instructions per decision with `now` given, x86_64).
    awk '$1 == "tollgate-gcra-allowed" && $2 > 12 { print "GCRA fast path over budget: " $2; exit 1 }' <<<"$table"
}

all=(setup lint test embedded bench fuzz)
for s in "${@:-${all[@]}}"; do "$s"; done
printf '\nall stages passed\n'
