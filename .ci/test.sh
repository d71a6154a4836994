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

setup() {
    stage setup
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
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
