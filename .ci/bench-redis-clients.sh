#!/usr/bin/env bash
# redis-rs beside fred, the two candidate clients of the Redis store, on tollgate's very EVALSHA
# (same script, keys and arguments, from RedisPolicy::command) over loopback, clients
# interleaved run by run (BENCH_RUNS, default 3):
#   bash .ci/bench-redis-clients.sh
#   BENCH_REQUESTS=20000 BENCH_RUNS=1 bash .ci/bench-redis-clients.sh    # a quick look
#   BENCH_THREADS=2 bash .ci/bench-redis-clients.sh                     # multi-thread runtime
#   BENCH_SCRIPT=stub bash .ci/bench-redis-clients.sh   # a constant-reply script: the clients' cost
# Modes: one call at a time on one connection; 50 in flight on one multiplexed connection
# (redis-rs ConnectionManager, fred Client); 50 in flight on a pool of 4 (four
# ConnectionManagers round-robin, fred Pool). Ratio = fred / redis-rs in decisions per second.
# The crate is tests/redis-clients (standalone: the workspace never builds fred). Not part of
# CI's test run; needs redis-server (bash .ci/test.sh setup).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export BENCH_RUNS="${BENCH_RUNS:-3}"
export BENCH_REQUESTS="${BENCH_REQUESTS:-100000}"
export BENCH_KEYS="${BENCH_KEYS:-100000}"
export BENCH_IN_FLIGHT="${BENCH_IN_FLIGHT:-50}"
export BENCH_POOL="${BENCH_POOL:-4}"
export BENCH_THREADS="${BENCH_THREADS:-1}"
export BENCH_SCRIPT="${BENCH_SCRIPT:-tollgate}"

echo "building tests/redis-clients (release)..." >&2
log="${TMPDIR:-/tmp}/bench-redis-clients-build.log"
if ! cargo build --release --manifest-path tests/redis-clients/Cargo.toml >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
bin="tests/redis-clients/target/release/tollgate-redis-clients"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export REDIS_URL="redis://127.0.0.1:$port/"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" | tee "$dir/results" | sed 's/^/  /' >&2
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

version() { # crate -> version in the crate's lock file
    awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' \
        tests/redis-clients/Cargo.lock
}

python3 - "$dir/results" <<PY
import sys, statistics
rates = {}
for line in open(sys.argv[1]):
    run, client, mode, rate = line.split()
    rates.setdefault(mode, {}).setdefault(client, []).append(float(rate))
fmt = lambda v: f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})"
print(f"{'mode':<10} {'redis-rs/s':>26} {'fred/s':>26} {'fred/redis-rs':>18}")
for mode, by in rates.items():
    a, b = by["redis-rs"], by["fred"]
    lo, hi = min(y / x for x in a for y in b), max(y / x for x in a for y in b)
    print(f"{mode:<10} {fmt(a):>26} {fmt(b):>26} {statistics.median(b)/statistics.median(a):>5.2f} ({lo:.2f}-{hi:.2f})")
one = rates.get("one")
if one:
    print("\nlatency of one call at a time (median run): "
          + ", ".join(f"{c} {1e6 / statistics.median(v):.1f} us" for c, v in one.items()))
print(f"\n{len(a)} runs of $BENCH_REQUESTS decisions over $BENCH_KEYS keys, runtime threads $BENCH_THREADS, script $BENCH_SCRIPT; "
      f"redis $(version redis), fred $(version fred), tokio $(version tokio), "
      f"$(redis-server --version | grep -o 'v=[0-9.]*' | sed 's/v=/redis-server /')")
print("load before: $load_before; after: $load_after")
PY
