#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 20): `bash .ci/fuzz.sh 600` for a long run,
# `bash .ci/fuzz.sh 600 gcra policy` for some targets only. One libFuzzer process at a time.
# Installs cargo-fuzz if absent; needs the nightly toolchain (libFuzzer's sanitizer flags).
# Any crash fails the script and leaves the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
targets=("$@")

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build >/dev/null 2>&1 || cargo +nightly fuzz build
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
    # Work on a scratch copy so a run never rewrites the committed seeds.
    work="$(mktemp -d)"
    out="$(cargo +nightly fuzz run "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" 2>&1)" || {
        # The panic message, the decoded input and how to reproduce it.
        printf '%s\n' "$out" | grep -m1 -A4 'panicked at' || true
        printf '%s\n' "$out" | sed -n '/^Failing input:/,/^Minimize test case/p' | head -n 120
        printf '%s\n' "$out" | grep -q 'panicked at' || printf '%s\n' "$out" | tail -n 40
        echo "fuzz target $t FAILED"
        exit 1
    }
    execs="$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')"
    rate="$(printf '%s\n' "$out" | sed -n 's/^stat::average_exec_per_sec: *//p')"
    cov="$(printf '%s\n' "$out" | grep -o 'cov: [0-9]*' | tail -n 1)"
    printf 'fuzz %-16s %ss  %s execs  %s exec/s  %s\n' "$t" "$secs" "$execs" "$rate" "$cov"
    rm -rf "$work"
done
