#!/usr/bin/env bash
# Instructions per decision under callgrind and bytes per key, tollgate and governor side by side:
#   bash .ci/bench.sh              # both tables (deterministic, about a minute)
#   bash .ci/bench.sh --criterion [FILTER]  # plus criterion wall-clock timings of the cases
#                                           # matching FILTER (all by default) and their medians;
#                                           # noisy on shared machines
# Counts come from `--toggle-collect` on the #[inline(never)] decide_* kernels in
# tests/bench/src/lib.rs, so they include the call's own ret but no loop overhead. `admitted` is
# the share of the BENCH_N decisions that were admitted: 100% on an allowed path, at most 1% on a
# denied one. Bytes per key come from tests/bench/src/bin/memory.rs (BENCH_KEYS keys).
# The first column is the case, the second instructions per decision: .ci/test.sh gates on them.
set -euo pipefail
cd "$(dirname "$0")/../tests/bench"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
n="${BENCH_N:-1000000}"
keys="${BENCH_KEYS:-100000}"
cargo build --release --quiet --bins
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '%-40s %14s %9s\n' case instr/decision admitted
for case in $(target/release/count --list); do
    valgrind --tool=callgrind --toggle-collect='*decide_*' --callgrind-out-file="$tmp/out" \
        target/release/count "$case" "$n" >"$tmp/stdout" 2>"$tmp/log"
    ir="$(sed -n 's/^==[0-9]*== Collected : //p' "$tmp/log")"
    admitted="$(sed -n 's/^.*: \([0-9]*\) of [0-9]* admitted$/\1/p' "$tmp/stdout")"
    printf '%-40s %14s %9s\n' "$case" \
        "$(awk -v ir="$ir" -v n="$n" 'BEGIN { printf "%.2f", ir / n }')" \
        "$(awk -v a="$admitted" -v n="$n" 'BEGIN { printf "%.2f%%", 100 * a / n }')"
done
echo
target/release/memory "$keys"
if [ "${1:-}" = "--criterion" ]; then
    cargo bench --quiet --bench decisions -- "${2:-}" >"$tmp/criterion" 2>&1 || { cat "$tmp/criterion"; exit 1; }
    echo
    printf '%-40s %12s\n' "criterion case" "median, ns"
    for c in $(target/release/count --list | grep -F -- "${2:-}"); do
        est="target/criterion/decision/$c/new/estimates.json"
        [ -f "$est" ] || continue
        median="$(sed -n 's/.*"median":{"confidence_interval":{[^}]*},"point_estimate":\([0-9.eE+-]*\).*/\1/p' "$est")"
        printf '%-40s %12.2f\n' "$c" "$median"
    done
fi
