#!/usr/bin/env bash
# `tollgate simulate` throughput: 10 million requests over 100,000 keys against one GCRA limit
# (10 a second, burst 5), release build, one thread. Not part of CI's test run.
#   bash .ci/bench-simulate.sh          # 3 runs of each: no decisions file, --out /dev/null, --out FILE
#   RUNS=1 REQUESTS=2000000 bash .ci/bench-simulate.sh
# The trace is generated once (about 350 MB in target/bench-simulate/, deterministic) and kept.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
requests="${REQUESTS:-10000000}"
keys="${KEYS:-100000}"
dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/bench-simulate"
mkdir -p "$dir"
trace="$dir/trace-$requests-$keys.jsonl"
policy="$dir/gcra.toml"
cat >"$policy" <<'TOML'
[[limit]]
name = "second"
algorithm = "gcra"
limit = 10
window = "1s"
burst = 5
TOML
if [ ! -s "$trace" ]; then
    echo "writing $trace..." >&2
    python3 - "$trace" "$requests" "$keys" <<'PY'
import random, sys
path, n, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
with open(path, "w") as f:
    t, buf = 0, []
    for i in range(n):
        if i % 100 == 0:
            t += 1
        buf.append('{"t_ms": %d, "key": "key-%d"}\n' % (t, rng.randrange(keys)))
        if len(buf) >= 100_000:
            f.write("".join(buf))
            buf = []
    f.write("".join(buf))
PY
fi
cargo build --release -p tollgate-std --features cli --bin tollgate 2>/dev/null
bin="$(dirname "$dir")/release/tollgate"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$bin" "$policy" "$trace" "$requests" "$runs" "$dir/decisions.jsonl" <<'PY'
import resource, subprocess, sys, time
binary, policy, trace, n, runs, out_file = sys.argv[1:7]
n, runs = int(n), int(runs)
for run in range(1, runs + 1):
    for out in (None, "/dev/null", out_file):
        args = [binary, "simulate", "--policy", policy, "--trace", trace]
        if out:
            args += ["--out", out]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"run {run}  out={str(out):<45} {wall:6.2f} s wall "
              f"({after.ru_utime - before.ru_utime:.2f} user, {after.ru_stime - before.ru_stime:.2f} sys)  "
              f"{n / wall / 1e6:5.2f} M decisions/s  {after.ru_maxrss // 1024} MB max resident", flush=True)
PY
rm -f "$dir/decisions.jsonl"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
