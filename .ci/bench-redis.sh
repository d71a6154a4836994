#!/usr/bin/env bash
# Decisions per second through Redis over loopback: tollgate's RedisPolicy beside redis-benchmark
# running the very same EVALSHA (same script, keys and arguments), in one run, each pair
# interleaved BENCH_RUNS times (default 3):
#   bash .ci/bench-redis.sh
#   BENCH_REQUESTS=50000 BENCH_RUNS=1 bash .ci/bench-redis.sh     # a quick look
# Pairs: one connection, one call at a time (redis-benchmark -c 1); one connection pipelined 16
# deep (-c 1 -P 16); many calls in flight (tollgate: 50 tasks on one multiplexed async
# connection; redis-benchmark: -c 50 connections). Ratio = tollgate / redis-benchmark in
# decisions per second: 1 means tollgate's client costs nothing beyond what Redis itself takes.
# Not part of CI's test run; needs redis-server and redis-benchmark (bash .ci/test.sh setup).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
runs="${BENCH_RUNS:-3}"
export BENCH_REQUESTS="${BENCH_REQUESTS:-200000}"
export BENCH_KEYS="${BENCH_KEYS:-100000}"
export BENCH_IN_FLIGHT="${BENCH_IN_FLIGHT:-50}"
export BENCH_PIPELINE="${BENCH_PIPELINE:-16}"

echo "building the bench (bench profile)..." >&2
bin="$(cargo bench -p tollgate-std --features redis --bench redis_throughput --no-run \
    --message-format=json 2>"${TMPDIR:-/tmp}/bench-redis-build.log" |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "redis_throughput":
        print(m["executable"])')"
if [ -z "$bin" ]; then cat "${TMPDIR:-/tmp}/bench-redis-build.log" >&2; exit 1; fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export REDIS_URL="redis://127.0.0.1:$port/"

# The EVALSHA tollgate sends (the bench loads the script first), for redis-benchmark.
IFS=$'\x1f' read -r -a command < <("$bin" --command)
echo "command: ${command[*]:0:3} ... (${#command[@]} arguments)" >&2

rb() { # connections pipeline -> requests per second
    redis-benchmark -p "$port" -n "$BENCH_REQUESTS" -r "$BENCH_KEYS" -c "$1" -P "$2" --csv \
        "${command[@]}" | python3 -c 'import csv, sys
rows = list(csv.reader(sys.stdin))
print(round(float(rows[-1][1])))'
}

results="$dir/results"
: >"$results"
for run in $(seq 1 "$runs"); do
    echo "run $run of $runs..." >&2
    "$bin" | sed "s/^/$run /" >>"$results"
    echo "$run redis-benchmark-c1 $(rb 1 1)" >>"$results"
    echo "$run redis-benchmark-c1-P$BENCH_PIPELINE $(rb 1 "$BENCH_PIPELINE")" >>"$results"
    echo "$run redis-benchmark-c$BENCH_IN_FLIGHT $(rb "$BENCH_IN_FLIGHT" 1)" >>"$results"
done

python3 - "$results" <<PY
import sys, statistics
runs = {}
for line in open(sys.argv[1]):
    run, name, rate = line.split()
    runs.setdefault(name, []).append(float(rate))
pairs = [
    ("one connection, one call at a time", "tollgate-one-connection", "redis-benchmark-c1"),
    ("one connection, pipelined $BENCH_PIPELINE", "tollgate-pipelined-$BENCH_PIPELINE", "redis-benchmark-c1-P$BENCH_PIPELINE"),
    ("$BENCH_IN_FLIGHT in flight (tollgate: multiplexed)", "tollgate-multiplexed-$BENCH_IN_FLIGHT", "redis-benchmark-c$BENCH_IN_FLIGHT"),
]
print(f"{'case':<44} {'tollgate/s':>22} {'redis-benchmark/s':>22} {'ratio':>16}")
for label, ours, theirs in pairs:
    a, b = runs[ours], runs[theirs]
    lo, hi = min(x / y for x in a for y in b), max(x / y for x in a for y in b)
    fmt = lambda v: f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})"
    print(f"{label:<44} {fmt(a):>22} {fmt(b):>22} {statistics.median(a)/statistics.median(b):>5.2f} ({lo:.2f}-{hi:.2f})")
print(f"\n{len(runs['tollgate-one-connection'])} runs of $BENCH_REQUESTS decisions over $BENCH_KEYS keys; load before: $(cut -d' ' -f1-3 /proc/loadavg)")
PY

# Server time per call, from Redis's own slow log (every call logged with its duration in
# microseconds, the round trip left out): the script's decision beside the scripting engine's
# floor (EVAL "return 1"). Less disturbed by a loaded machine than requests per second.
slow() { # label command... -> "label min p10 median" in microseconds
    local label="$1"
    shift
    redis-cli -p "$port" CONFIG SET slowlog-log-slower-than 0 >/dev/null
    redis-cli -p "$port" CONFIG SET slowlog-max-len 100000 >/dev/null
    redis-cli -p "$port" SLOWLOG RESET >/dev/null
    redis-benchmark -p "$port" -n 5000 -r "$BENCH_KEYS" -c 1 -q "$@" >/dev/null
    redis-cli -p "$port" --json SLOWLOG GET 100000 | python3 -c 'import json, sys, statistics
d = sorted(e[2] for e in json.load(sys.stdin) if e[3][0].upper() in ("EVAL", "EVALSHA"))
print(f"{sys.argv[1]:<44} min {d[0]:>4} us   p10 {d[len(d) // 10]:>4} us   median {statistics.median(d):>6.1f} us   ({len(d)} calls)")' "$label"
    redis-cli -p "$port" CONFIG SET slowlog-log-slower-than 10000 >/dev/null
}
echo
echo "server time per call (Redis's slow log, 5,000 calls, one at a time):"
slow "tollgate's decision (the command above)" "${command[@]}"
slow 'EVAL "return 1" 0 (the floor)' EVAL "return 1" 0
