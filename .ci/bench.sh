#!/usr/bin/env bash
# Instructions per decision under callgrind, tollgate and governor side by side:
#   bash .ci/bench.sh            # callgrind table only (deterministic, about a minute)
#   bash .ci/bench.sh --criterion  # plus criterion wall-clock timings (noisy on shared machines)
# Counts come from `--toggle-collect` on the #[inline(never)] decide_* kernels in
# tests/bench/src/lib.rs, so they include the call's own ret but no loop overhead.
set -euo pipefail
cd "$(dirname "$0")/../tests/bench"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
n="${BENCH_N:-1000000}"
cargo build --release --quiet --bin count
printf '%-36s %14s\n' case instr/decision
for case in $(target/release/count --list); do
    out="$(mktemp)"
    valgrind --tool=callgrind --toggle-collect='*decide_*' --callgrind-out-file="$out" \
        target/release/count "$case" "$n" >/dev/null 2>"$out.log"
    ir="$(sed -n 's/^==[0-9]*== Collected : //p' "$out.log")"
    printf '%-36s %14s\n' "$case" "$(awk -v ir="$ir" -v n="$n" 'BEGIN { printf "%.2f", ir / n }')"
    rm -f "$out" "$out.log"
done
if [ "${1:-}" = "--criterion" ]; then
    cargo bench --quiet --bench decisions
fi
