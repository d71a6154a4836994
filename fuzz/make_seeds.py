#!/usr/bin/env python3
"""Writes the committed seed corpora: fuzz/corpus/<target>/seed-*.

Usage: python3 fuzz/make_seeds.py [target...]   (default: every target below)

The targets decode their input with `arbitrary`, so any bytes make a valid input: each gets a few
deterministic pseudo-random inputs of growing length, plus all-zero and all-0xff ones (the
smallest and largest choices everywhere). The `headers` target reads text, and gets
hand-written header blocks instead.
Deterministic, so rerunning it changes nothing.
"""
import os
import random
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

BINARY = [
    "config",
    "gcra",
    "meter",
    "shaper",
    "sliding_window",
    "sliding_log",
    "concurrency",
    "pacer",
    "policy",
    "table",
    "render",
    "contract",
]

# Header seeds: a flag byte (bits 0-2 pick the client's clock, 3-4 the pacer's tick rate), then
# `name: value` lines, as the `headers` target reads them.
HEADERS = {
    "001": b"\x01X-RateLimit-Limit: 120\nX-RateLimit-Remaining: 95\n"
    b"X-RateLimit-Reset: 1742377200\nRetry-After: 45\n",
    "ietf": b"\x09RateLimit-Policy: \"minute\";q=300;w=60, \"quarter\";q=900;w=900\n"
    b"RateLimit: \"minute\";r=12;t=30, \"quarter\";r=0;t=600\n",
    "date": b"\x11Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    b"retry-after: Sunday, 06-Nov-94 08:49:37 GMT\r\nRetry-After: Sun Nov  6 08:49:37 1994\r\n",
    "millis": b"\x1fX-RateLimit-Remaining: 0, 7\nX-RateLimit-Reset: 1479308598680, 3600\n",
    "tokens": b"\x02ratelimit: minute;r=0;t=5\nratelimit-policy: minute;q=10;w=1;qu=\"requests\"\n",
    "004": b"\x01X-RateLimit: 0\nX-RateLimit-Hour: 5\nx-ratelimit-minute: 1\nX-RateLimit: yes\n",
    "garbage": b"\x07\xff\xfe: ;q=;w=,,\"\"\x00\nRateLimit: \"a\";r=-1;t=1.5\nRetry-After: 99999999999999999999\n",
}


def binary(target, rng):
    sizes = [32, 96, 256, 640, 1536]
    seeds = {"zeros": bytes(256), "ones": b"\xff" * 256}
    for n in sizes:
        seeds["random-%d" % n] = bytes(rng.getrandbits(8) for _ in range(n))
    return seeds


def write(target, seeds):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)


def main(targets):
    for target in targets or BINARY + ["headers"]:
        rng = random.Random(target)  # one fixed stream per target
        if target == "headers":
            seeds = dict(HEADERS)
        else:
            seeds = binary(target, rng)
        write(target, seeds)


if __name__ == "__main__":
    main(sys.argv[1:])
