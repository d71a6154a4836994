#!/usr/bin/env bash
# tollgate-std beside governor 0.10 (default features: quanta clock, DashMap keyed store), every
# case of the comparison in one table:
#   bash .ci/bench-std.sh            # BENCH_RUNS (default 3) criterion runs + bytes per key
#   bash .ci/bench-std.sh keyed      # only the criterion cases whose id contains "keyed"
#   BENCH_RUNS=1 bash .ci/bench-std.sh
#   BENCH_ARGS='--measurement-time 1 --warm-up-time 0.5' bash .ci/bench-std.sh   # a quick look
# About 2 minutes per run on a 2-core machine, after a first build of about a minute; not part
# of CI's test run. The cases are std-adapter/benches/vs_governor.rs (criterion: one limiter,
# one limiter shared by 2 and 8 threads, admitting and turning a flood away, keyed) and
# std-adapter/benches/footprint.rs (live heap bytes per key under a counting allocator, its own
# process).
#
# Figures: criterion's median time per iteration with its 95% confidence interval; with several
# runs, the middle of the runs' medians and the envelope of their intervals. Ratio is always
# tollgate's cost over governor's (time over time; for throughput governor's decisions per second
# over tollgate's), so below 1 is tollgate ahead; its range is the worst and best pairing of the
# two intervals over the runs. Raw results stay in target/bench-std/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${BENCH_RUNS:-3}"
filter="${1:-}"
export CARGO_TERM_COLOR=never
# One codegen unit, as tests/bench has: whether governor's generics or ours are inlined into a
# loop must not depend on how rustc splits a crate. Line tables for `perf report`.
export CARGO_PROFILE_BENCH_CODEGEN_UNITS="${CARGO_PROFILE_BENCH_CODEGEN_UNITS:-1}"
export CARGO_PROFILE_BENCH_DEBUG="${CARGO_PROFILE_BENCH_DEBUG:-line-tables-only}"

target="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
out="$target/bench-std"
rm -rf "$out"
mkdir -p "$out"
echo "building the benches (bench profile, one codegen unit)..." >&2
cargo bench -p tollgate-std --bench vs_governor --bench footprint --no-run 2>"$out/build.log" ||
    { cat "$out/build.log" >&2; exit 1; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$runs"); do
    echo "run $run of $runs: criterion (logs in $out/criterion-$run.log)..." >&2
    # Only this run's results are read: criterion keeps old ones next to them.
    rm -rf "$target/criterion/direct" "$target/criterion/shared" "$target/criterion/keyed"
    cargo bench -p tollgate-std --bench vs_governor -- $filter ${BENCH_ARGS:-} >"$out/criterion-$run.log" 2>&1 ||
        { cat "$out/criterion-$run.log" >&2; exit 1; }
    mkdir -p "$out/run-$run"
    (cd "$target/criterion" && find direct shared keyed -path '*/new/*.json' \
        -exec cp --parents {} "$out/run-$run" \; 2>/dev/null) || true
    echo "run $run of $runs: bytes per key..." >&2
    cargo bench -p tollgate-std --bench footprint >"$out/footprint-$run.tsv" 2>"$out/footprint-$run.log" ||
        { cat "$out/footprint-$run.log" >&2; exit 1; }
done

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$runs" "$load_before" "$load_after" <<'PY'
import glob, json, os, statistics, sys

out, runs, load_before, load_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

# (case label, criterion group, criterion value, tollgate function, target ratio or None)
TIME_CASES = [
    ("1. one limiter, allowed", "direct", "allowed", "tollgate", 0.9),
    ("1. one limiter, denied (burst spent)", "direct", "denied", "tollgate", 0.9),
    ("2. shared by 2 threads, allowed", "shared", "2-threads", "tollgate", 1.0),
    ("2. shared by 8 threads, allowed", "shared", "8-threads", "tollgate", 1.0),
    ("2. shared by 2 threads, denied (burst spent)", "shared", "2-threads-denied", "tollgate", 1.0),
    ("2. shared by 8 threads, denied (burst spent)", "shared", "8-threads-denied", "tollgate", 1.0),
    ("3. keyed u64, 1,000 keys", "keyed", "u64/1000", "tollgate", None),
    ("3. keyed u64, 1,000,000 keys", "keyed", "u64/1000000", "tollgate", 0.6),
    ("3. keyed phone, 1,000 keys (tollgate CompactString)", "keyed", "phone/1000", "tollgate", None),
    ("3. keyed phone, 1,000 keys (tollgate String)", "keyed", "phone/1000", "tollgate-String", None),
    ("3. keyed phone, 1,000 keys (tollgate ShortKey)", "keyed", "phone/1000", "tollgate-ShortKey", None),
    ("3. keyed phone, 1,000,000 keys (tollgate CompactString)", "keyed", "phone/1000000", "tollgate", 0.6),
    ("3. keyed phone, 1,000,000 keys (tollgate String)", "keyed", "phone/1000000", "tollgate-String", 0.6),
    ("3. keyed phone, 1,000,000 keys (tollgate ShortKey)", "keyed", "phone/1000000", "tollgate-ShortKey", 0.6),
    ("new keys: u64, per key of a fill from empty to 200,000 (no target)", "keyed", "u64-new/200000", "tollgate", None),
]

def load_runs():
    """{(group, function, value): [(point, lo, hi, elements_per_iter) per run]}"""
    results = {}
    for run in range(1, runs + 1):
        for bench in glob.glob(f"{out}/run-{run}/**/new/benchmark.json", recursive=True):
            with open(bench) as f:
                b = json.load(f)
            with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
                m = json.load(f)["median"]
            elements = (b.get("throughput") or {}).get("Elements", 1)
            key = (b["group_id"], b["function_id"], b["value_str"])
            ci = m["confidence_interval"]
            results.setdefault(key, []).append(
                (m["point_estimate"], ci["lower_bound"], ci["upper_bound"], elements))
    return results

def verdict(ratio, lo, hi, target):
    if target is None:
        return ""
    if hi <= target:
        return "met"
    if ratio <= target:
        return "met (range crosses)"
    if lo <= target:
        return "missed (range crosses)"
    return "missed"

def fmt_time(ns):
    return f"{ns:.1f} ns" if ns < 100 else f"{ns:.0f} ns"

rows = []
res = load_runs()
for label, group, value, tfun, target in TIME_CASES:
    t = res.get((group, tfun, value))
    g = res.get((group, "governor", value))
    if not t or not g:
        continue
    tp, gp = statistics.median(r[0] for r in t), statistics.median(r[0] for r in g)
    tlo, thi = min(r[1] for r in t), max(r[2] for r in t)
    glo, ghi = min(r[1] for r in g), max(r[2] for r in g)
    ratio = tp / gp
    rlo = min(a[1] / b[2] for a, b in zip(t, g))
    rhi = max(a[2] / b[1] for a, b in zip(t, g))
    if group == "shared":
        n = t[0][3]
        cell = lambda p, lo, hi: f"{n * 1e3 / p:.1f} M/s [{n * 1e3 / hi:.1f}–{n * 1e3 / lo:.1f}]"
    else:
        # Per element: one decision, or one key of a fill (the `u64-new` case).
        n = t[0][3]
        cell = lambda p, lo, hi: f"{fmt_time(p / n)} [{lo / n:.1f}–{hi / n:.1f}]"
    rows.append((label, cell(tp, tlo, thi), cell(gp, glo, ghi),
                 f"{ratio:.2f} [{rlo:.2f}–{rhi:.2f}]",
                 "" if target is None else f"≤ {target:.2f}", verdict(ratio, rlo, rhi, target)))

# Bytes per key: {(keys, store, n): [bytes/key per run]}
fp, blocks = {}, {}
for run in range(1, runs + 1):
    path = f"{out}/footprint-{run}.tsv"
    if not os.path.exists(path):
        continue
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        _, keys, store, n, per, blk = line.rstrip("\n").split("\t")
        fp.setdefault((keys, store, int(n)), []).append(float(per))
        blocks[(keys, store, int(n))] = float(blk)
for (keys, store, n), t in sorted(fp.items(), key=lambda kv: (kv[0][0] != "u64", kv[0][2], kv[0][1])):
    if store == "governor":
        continue
    g = fp.get((keys, "governor", n))
    if not g:
        continue
    tp, gp = statistics.median(t), statistics.median(g)
    ratio, rlo, rhi = tp / gp, min(t) / max(g), max(t) / min(g)
    name = {"tollgate": "tollgate CompactString" if keys == "phone" else "tollgate",
            "tollgate-String": "tollgate String", "tollgate-ShortKey": "tollgate ShortKey"}[store]
    label = f"4. bytes/key, {keys}, {n:,} keys" + (f" ({name})" if keys == "phone" else "")
    cell = lambda p, v, k: f"{p:.1f} B [{min(v):.1f}–{max(v):.1f}], {blocks[k]:.2f} blocks"
    rows.append((label, cell(tp, t, (keys, store, n)), cell(gp, g, (keys, "governor", n)),
                 f"{ratio:.2f} [{rlo:.2f}–{rhi:.2f}]", "≤ 0.75", verdict(ratio, rlo, rhi, 0.75)))

head = ("case", "tollgate-std", "governor 0.10", "ratio t/g [range]", "target", "")
print(f"\n{os.cpu_count()} CPUs, load average {load_before} before the runs, {load_after} after.")
print(f"{runs} run(s); time: criterion median per decision [95% CI, envelope over runs]; "
      "throughput: decisions per second, all threads [from the CI]; bytes: live heap per key "
      "as requested from the allocator [min–max over runs], and heap blocks per key.\n")
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---", "---:", "---:", "---:", "---:", "---"]) + "|")
for r in rows:
    print("| " + " | ".join(r) + " |")
floor = res.get(("direct", "floor", "counter-read"))
if floor:
    print(f"\nThe floor under case 1: one read of the time-stamp counter alone (quanta's raw "
          f"read, as both clocks make it) {statistics.median(r[0] for r in floor):.1f} ns "
          f"[{min(r[1] for r in floor):.1f}–{max(r[2] for r in floor):.1f}].")
PY
