#!/usr/bin/env python3
"""Writes the committed seed corpora: fuzz/corpus/<target>/seed-*.

Usage: python3 fuzz/make_seeds.py [target...]   (default: every target below)

The targets decode their input with `arbitrary`, so any bytes make a valid input: each gets a few
deterministic pseudo-random inputs of growing length, plus all-zero and all-0xff ones (the
smallest and largest choices everywhere). Text targets also get hand-written inputs.
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
]

# Header seeds: a selector byte for the header name, then the value, as the `headers` target
# reads them (see fuzz_targets/headers.rs).
HEADERS = {
    "retry-after-seconds": b"\x00120",
    "retry-after-date": b"\x00Wed, 21 Oct 2015 07:28:00 GMT",
    "x-ratelimit": b"\x01100\n\x0299\n\x031700000000",
    "ietf-ratelimit": b'\x04"minute";r=0;t=12, "hour";r=40;t=2000',
    "ietf-policy": b'\x05"minute";q=300;w=60, "hour";q=5000;w=3600',
    "ietf-draft": b"\x06limit=10, remaining=0, reset=5",
    "garbage": b"\x07\xff\xfe;q=;w=,,\"\"\x00",
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
            seeds.update(binary(target, rng))
        else:
            seeds = binary(target, rng)
        write(target, seeds)


if __name__ == "__main__":
    main(sys.argv[1:])
