//! Live heap bytes per key, tollgate-std beside governor 0.10 (default features: DashMap keyed
//! store): `cargo bench -p tollgate-std --bench footprint [-- N...]` (default 100,000, 500,000
//! and 1,000,000 keys). `bash .ci/bench-std.sh` runs it and prints the table.
//!
//! For each store and key count N: build the limiter, check N distinct keys once each (governor
//! with `check_key(&String)`, tollgate with `check(&str)`, or with `check(&ShortKey)` made from
//! the text), then read what the heap holds that it did not before: bytes as requested from the
//! allocator (not the allocator's own rounding and headers) and blocks, both divided by N. The
//! key strings are written into one reused buffer, so only what a store keeps is counted. Every
//! key stays held: the quota's burst is far from spent, so no tollgate key is at rest and swept.
//!
//! The counting allocator is `stats_alloc`'s wrapper around the system allocator, so this file
//! needs no `unsafe impl GlobalAlloc` (the workspace forbids unsafe code), and it counts only this
//! process, not criterion's.
//!
//! Output: one tab-separated line per measurement, `footprint`, key type, store, N, bytes/key,
//! blocks/key; lines starting with `#` are comments.

mod common;

use std::alloc::System;

use compact_str::CompactString;
use governor::RateLimiter;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tollgate_std::key::ShortKey;
use tollgate_std::keyed::KeyedLimiter;

use common::{keyed_governor_quota, keyed_quota, u64_key, write_phone};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes and blocks that `fill` leaves allocated in what it returns.
fn live<T>(fill: impl FnOnce() -> T) -> (i128, i128) {
    let region = Region::new(GLOBAL);
    let kept = fill();
    let change = region.change();
    drop(kept);
    let bytes = change.bytes_allocated as i128 - change.bytes_deallocated as i128;
    let blocks = change.allocations as i128 - change.deallocations as i128;
    (bytes, blocks)
}

fn print_line(keys: &str, store: &str, n: u64, (bytes, blocks): (i128, i128)) {
    let per = |x: i128| x as f64 / n as f64;
    println!(
        "footprint\t{keys}\t{store}\t{n}\t{:.2}\t{:.3}",
        per(bytes),
        per(blocks)
    );
}

/// A store made by `new`, holding `n` phone numbers, each checked once by `check` (the text is
/// written into one reused buffer, so only what the store keeps is counted).
fn phones<L>(
    n: u64,
    new: impl FnOnce() -> L,
    check: impl Fn(&L, &str) -> bool,
    len: impl Fn(&L) -> usize,
) -> L {
    let store = new();
    let mut buf = String::with_capacity(32);
    for i in 0..n {
        write_phone(&mut buf, i);
        assert!(check(&store, &buf));
    }
    assert_eq!(len(&store) as u64, n);
    store
}

fn measure(n: u64, report: impl Fn(&str, &str, u64, (i128, i128))) {
    report(
        "u64",
        "tollgate",
        n,
        live(|| {
            let l = KeyedLimiter::<u64>::new(keyed_quota());
            for i in 0..n {
                assert!(l.check(&u64_key(i)).is_ok());
            }
            assert_eq!(l.len() as u64, n);
            l
        }),
    );
    report(
        "u64",
        "governor",
        n,
        live(|| {
            let l = RateLimiter::keyed(keyed_governor_quota());
            for i in 0..n {
                assert!(l.check_key(&u64_key(i)).is_ok());
            }
            assert_eq!(l.len() as u64, n);
            l
        }),
    );

    let tollgate = || KeyedLimiter::<CompactString>::new(keyed_quota());
    report(
        "phone",
        "tollgate",
        n,
        live(|| phones(n, tollgate, |l, k| l.check(k).is_ok(), KeyedLimiter::len)),
    );
    let tollgate = || KeyedLimiter::<String>::new(keyed_quota());
    report(
        "phone",
        "tollgate-String",
        n,
        live(|| phones(n, tollgate, |l, k| l.check(k).is_ok(), KeyedLimiter::len)),
    );
    let tollgate = || KeyedLimiter::<ShortKey>::new(keyed_quota());
    let check = |l: &KeyedLimiter<ShortKey>, k: &str| {
        l.check(&ShortKey::new(k).expect("a phone number fits"))
            .is_ok()
    };
    report(
        "phone",
        "tollgate-ShortKey",
        n,
        live(|| phones(n, tollgate, check, KeyedLimiter::len)),
    );
    let governor = || RateLimiter::keyed(keyed_governor_quota());
    report(
        "phone",
        "governor",
        n,
        live(|| {
            phones(
                n,
                governor,
                |l, k| l.check_key(&k.to_owned()).is_ok(),
                |l| l.len(),
            )
        }),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a key count.
    let counts: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("a key count"))
        .collect();
    let counts = if counts.is_empty() {
        vec![100_000, 500_000, 1_000_000]
    } else {
        counts
    };
    // Once untimed and unprinted: what the first limiter of a kind allocates for good (quanta's
    // calibration, DashMap's shard count) is not any key's.
    let quiet = live(|| measure(1, |_, _, _, _| {}));
    println!("# footprint\tkeys\tstore\tN\tbytes/key\tblocks/key");
    println!(
        "# after a first round at N = 1, which left {} bytes in {} blocks",
        quiet.0, quiet.1
    );
    for n in counts {
        measure(n, print_line);
    }
}
