#!/usr/bin/env python3
"""Writes the committed seed corpora: fuzz/corpus/<target>/seed-*.

Usage: python3 fuzz/make_seeds.py [target...]   (default: every target below)

The targets decode their input with `arbitrary`, so any bytes make a valid input: each gets a few
deterministic pseudo-random inputs of growing length, plus all-zero and all-0xff ones (the
smallest and largest choices everywhere). The `headers` target reads text, and gets
hand-written header blocks instead. The `codec` target gets those too (its round-trip mode reads
them with `arbitrary`), and valid state records of every kind, which random bytes almost never
are (a CRC-32 guards them): see `codec()`.
Deterministic, so rerunning it changes nothing.
"""
import os
import random
import struct
import sys
import zlib

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
    "codec",
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
    # One seed per other dialect the client reads.
    "github": b"\x01x-ratelimit-limit: 5000\nx-ratelimit-remaining: 4999\nx-ratelimit-used: 1\n"
    b"x-ratelimit-reset: 1742377200\nx-ratelimit-resource: core\n",
    "reddit": b"\x04X-Ratelimit-Used: 2\nX-Ratelimit-Remaining: 598.0\nX-Ratelimit-Reset: 540\n",
    "discord": b"\x07X-RateLimit-Limit: 5\nX-RateLimit-Remaining: 0\n"
    b"X-RateLimit-Reset: 1470173023.123\nX-RateLimit-Reset-After: 64.57\nRetry-After: 0.5\n",
    "twitter": b"\x01x-rate-limit-limit: 900\nx-rate-limit-remaining: 847\nx-rate-limit-reset: 1742377455\n",
    "named": b"\x01X-RateLimit-UserLimit: 60\nX-RateLimit-UserRemaining: 42\n"
    b"X-RateLimit-UserReset: 1742377200000\nX-RateLimit-ClientLimit: 1000\nX-RateLimit-ClientRemaining: 999\n",
    "openai": b"\x08x-ratelimit-limit-requests: 60\nx-ratelimit-remaining-requests: 59\n"
    b"x-ratelimit-reset-requests: 1s\nx-ratelimit-limit-tokens: 150000\n"
    b"x-ratelimit-remaining-tokens: 0\nx-ratelimit-reset-tokens: 1h2m3.5s\n",
    "anthropic": b"\x0danthropic-ratelimit-requests-limit: 50\nanthropic-ratelimit-requests-remaining: 0\n"
    b"anthropic-ratelimit-requests-reset: 2025-03-19T09:40:00.25+00:00\n"
    b"anthropic-ratelimit-input-tokens-reset: 2025-03-19T09:39:30Z\nretry-after: 2\n",
    "shopify": b"\x10X-Shopify-Shop-Api-Call-Limit: 40/40\nRetry-After: 2.0\n",
    "draft06": b"\x01RateLimit-Policy: 100;w=60\nRateLimit-Limit: 100, 100;w=60\n"
    b"RateLimit-Remaining: 25\nRateLimit-Reset: 5\n",
    "draft07": b"\x01RateLimit: limit=100, remaining=0, reset=5\n"
    b"RateLimit-Policy: 10;w=1, 50;w=60, 1000;w=3600\n",
}


# Inputs that once failed, kept as seeds (hex): the target and what they caught.
REGRESSIONS = {
    "table": {
        # A `check_keys` of three new keys in a one-slot `EvictLeastLoss` table could never fit;
        # it left the table refusing every later new key until the end of time instead of
        # evicting (core/src/table: make_room's bound set by a request that pins its own keys).
        "regression-check-keys-bound": "4418030740d54d178c92b4e6e33ee82d0dd429620788003f000000e8"
        "0000116d003f00000004e80000",
    },
}


def binary(target, rng):
    sizes = [32, 96, 256, 640, 1536]
    seeds = {"zeros": bytes(256), "ones": b"\xff" * 256}
    for n in sizes:
        seeds["random-%d" % n] = bytes(rng.getrandbits(8) for _ in range(n))
    return seeds


# ---- codec: state records (see core/src/codec.rs) ----
# A codec input is a mode byte (0: decode as is, 1: decode with every record's checksum forged,
# 2 and 3: round trip), a tick-rate byte, then the bytes.

MAGIC, VERSION = 0x54, 1
GCRA, METER, SHAPER, CONCURRENCY, SLIDING_LOG, SLIDING_WINDOW, UNLIMITED = range(1, 8)


def frame(kind, payload, crc=True):
    head = bytes([MAGIC, VERSION, kind]) + struct.pack("<H", len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head) if crc else 0)


def u64(v):
    return struct.pack("<Q", v)


def u32(v):
    return struct.pack("<I", v)


def log_record(width, newest, before, entries, crc=True):
    """`entries`: (age behind the newest, cost) oldest first; the newest has age 0."""
    body = bytes([width]) + u64(newest) + u32(before) + u32(len(entries))
    total = before
    for age, cost in entries:
        total = (total + cost) % (1 << 32)
        stamp = (newest - age) % (1 << (8 * width))
        body += stamp.to_bytes(width, "little") + u32(total)
    return frame(SLIDING_LOG, body, crc)


def window_record(start, head, counts, crc=True):
    body = u32(len(counts)) + u64(start) + u32(head) + u32(sum(counts))
    body += b"".join(u32(c) for c in counts)
    return frame(SLIDING_WINDOW, body, crc)


def codec(rng):
    records = {
        "gcra": frame(GCRA, u64(1_700)),
        "gcra-end": frame(GCRA, u64(2**64 - 1)),
        "meter": frame(METER, u64(600) + u64(1_000)),
        "meter-end": frame(METER, u64(100) + u64(2**64 - 101)),
        "shaper": frame(SHAPER, u64(5_000)),
        "concurrency": frame(CONCURRENCY, u32(3)),
        "unlimited": frame(UNLIMITED, b""),
        "log16": log_record(2, 70_000, 7, [(900, 1), (300, 2), (0, 1)]),
        "log32": log_record(4, 1_500, 0, [(999, 2), (500, 1), (0, 2)]),
        "log64": log_record(8, 2**63, 2**32 - 1, [(10, 3), (0, 1)]),
        "log-empty": log_record(4, 123, 9, []),
        "window2": window_record(1_000, 1, [2, 3]),
        "window4": window_record(750, 2, [1, 0, 4, 0]),
        "window11": window_record(0, 10, [1] * 11),
    }
    seeds = {}
    for name, r in records.items():
        seeds["record-" + name] = bytes([0, 1]) + r
    # A tuple policy's state (GCRA, log of 8, window of 4, concurrency) and an array policy's
    # (GCRA, log): records one after another.
    seeds["record-tuple"] = bytes([0, 2]) + (
        records["gcra"] + records["log32"] + records["window4"] + records["concurrency"]
    )
    seeds["record-array"] = bytes([0, 3]) + records["gcra"] + records["log32"]
    # The same shapes with fields that break their invariants, checksums to be forged.
    broken = [
        frame(METER, u64(2**64 - 1) + u64(5), crc=False),  # drains past the end of time
        log_record(4, 1_500, 0, [(0, 1), (500, 1)], crc=False),  # out of order
        log_record(4, 1_500, 0, [(500, 0), (0, 1)], crc=False),  # an entry of no cost
        log_record(2, 1_500, 0, [(5, 1)], crc=False),  # the newest is not at `newest`
        log_record(8, 7, 0, [(0, 1)] * 30, crc=False),  # more entries than any ring
        window_record(0, 4, [1, 1, 1, 1], crc=False),  # the head outside the ring
        frame(SLIDING_WINDOW, u32(4) + u64(0) + u32(0) + u32(9) + u32(1) * 4, crc=False),
        frame(CONCURRENCY, u32(1) + b"\0", crc=False),  # a payload too long for its kind
    ]
    for i, r in enumerate(broken):
        seeds["forged-%d" % i] = bytes([1, i]) + r
    # Round trips: requests read with `arbitrary`.
    for n in [32, 160, 640]:
        seeds["trip-%d" % n] = bytes([2, n % 4]) + bytes(rng.getrandbits(8) for _ in range(n))
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
        if target == "codec":
            seeds.update(codec(rng))
        for name, data in REGRESSIONS.get(target, {}).items():
            seeds[name] = bytes.fromhex(data)
        write(target, seeds)


if __name__ == "__main__":
    main(sys.argv[1:])
