#!/usr/bin/env python3
"""Writes 000-busy-client.jsonl, the trace `tollgate simulate` runs by default against seed 000's
policy (5 in flight, 300 a minute, 900 a quarter hour): three accounts over 16.5 minutes, each
meeting a different limit.

- acct-steady sends 4 requests a second for 5 minutes: under 300 a minute, but its 901st request
  in a quarter hour comes at 3m45s, and the "15min" limit holds it until its first requests
  leave the window, 15 minutes after they were made.
- acct-bursty sends 8 a second for one minute in every five: 480 a minute, so the "minute"
  limit denies the rest of each burst after its 300th request.
- acct-slow sends 3 a second for 6 minutes, each held 2 s: 6 in flight at once, one more than
  "concurrent" allows.

Deterministic (a fixed linear congruential generator jitters the times), so the file, its
decisions and the README's plot are reproducible: python3 make-000.py > 000-busy-client.jsonl
"""
import json
import sys

state = 20261203


def jitter(spread_ms):
    global state
    state = (state * 1103515245 + 12345) % 2**31
    return state % (spread_ms + 1)


requests = []
for i in range(4 * 300):
    requests.append((i * 250 + jitter(40), "acct-steady", None))
for burst in range(4):
    start = burst * 300_000 + 30_000
    for i in range(8 * 60):
        requests.append((start + i * 125 + jitter(20), "acct-bursty", None))
for i in range(3 * 360):
    requests.append((60_000 + i * 333 + jitter(30), "acct-slow", 2_000))

requests.sort(key=lambda r: (r[0], r[1]))
for t, key, hold in requests:
    line = {"t_ms": t, "key": key}
    if hold is not None:
        line["hold_ms"] = hold
    sys.stdout.write(json.dumps(line, separators=(", ", ": ")) + "\n")
