//! tollgate-std beside governor 0.10 (its default features: the quanta clock and the DashMap
//! keyed store), in one criterion run. `bash .ci/bench-std.sh` runs it and prints the table.
//!
//! - `direct`: one limiter, the clock read included. `allowed`: 10⁹ per second with a burst of
//!   10⁹ on both, so every check passes; `denied`: 1 per hour, its burst spent before timing.
//!   tollgate's `Limiter::check()` against governor's `RateLimiter::direct(quota).check()`.
//! - `shared`: the allowed limiter behind an `Arc`, shared by 2 and by 8 threads that each make
//!   the same number of checks. An iteration is one check per thread, so the time per iteration
//!   is the wall time of `threads` decisions: throughput = threads / time.
//! - `keyed`: 1,000 and 1,000,000 keys, all inserted before timing, then visited one check per
//!   visit in an order shuffled once with a fixed seed (not timed). Every check passes (see
//!   `common::KEYED_BURST`). `u64` keys, and phone numbers (`+14155000123`): governor keyed by
//!   `String` and asked with `&String`; tollgate by `CompactString` and by `String`, both asked
//!   with `&str`, and by `ShortKey`, made from the `&str` in every check. `u64-new`: new keys
//!   only, each iteration a fill of an empty limiter (see `keyed_new`).
//!
//! Every case first checks that it takes the path it is named for, and again after timing.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use governor::{Quota as GQuota, RateLimiter};
use tollgate_std::key::ShortKey;
use tollgate_std::keyed::KeyedLimiter;
use tollgate_std::{Limiter, Quota};

use common::{keyed_governor_quota, keyed_quota, nonzero, u64_key, write_phone};

/// Seed of the visit order (any fixed value: the same order for every library and every run).
const SHUFFLE_SEED: u64 = 0x746f_6c6c_6761_7465;

const ALLOWED_PER_SECOND: u32 = 1_000_000_000;

fn allowed_quota() -> Quota {
    Quota::per_second(ALLOWED_PER_SECOND).expect("a valid quota")
}

fn allowed_governor_quota() -> GQuota {
    GQuota::per_second(nonzero(ALLOWED_PER_SECOND))
}

fn denied_quota() -> Quota {
    Quota::per_hour(1).expect("a valid quota")
}

fn denied_governor_quota() -> GQuota {
    GQuota::per_hour(nonzero(1))
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct");

    // The floor under both libraries' checks: the time-stamp counter read alone, as both clocks
    // make it (quanta's raw read; governor's `QuantaClock` and tollgate's `StdClock` add a
    // scaling or not, and one atomic access).
    let counter = quanta::Clock::new();
    group.bench_function(BenchmarkId::new("floor", "counter-read"), |b| {
        b.iter(|| counter.raw());
    });

    let tollgate = Limiter::new(allowed_quota());
    let governor = RateLimiter::direct(allowed_governor_quota());
    assert!((0..10_000).all(|_| tollgate.check().is_ok() && governor.check().is_ok()));
    group.bench_function(BenchmarkId::new("tollgate", "allowed"), |b| {
        b.iter(|| tollgate.check());
    });
    group.bench_function(BenchmarkId::new("governor", "allowed"), |b| {
        b.iter(|| governor.check());
    });
    assert!(tollgate.check().is_ok() && governor.check().is_ok());

    let tollgate = Limiter::new(denied_quota());
    let governor = RateLimiter::direct(denied_governor_quota());
    assert!(tollgate.check().is_ok() && governor.check().is_ok());
    assert!(tollgate.check().is_err() && governor.check().is_err());
    group.bench_function(BenchmarkId::new("tollgate", "denied"), |b| {
        b.iter(|| tollgate.check());
    });
    group.bench_function(BenchmarkId::new("governor", "denied"), |b| {
        b.iter(|| governor.check());
    });
    assert!(tollgate.check().is_err() && governor.check().is_err());
    group.finish();
}

/// Runs `iters` checks on each of `threads` threads sharing `limiter`, released together, and
/// returns the wall time from the first thread's start to the last one's end. `check` says
/// whether a check went the way the case expects (admitted, or denied).
///
/// # Panics
///
/// If any check went the other way: the case measures one path.
fn on_threads<L, F>(limiter: &Arc<L>, threads: usize, iters: u64, check: F) -> Duration
where
    L: Send + Sync + 'static,
    F: Fn(&L) -> bool + Copy + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let limiter = Arc::clone(limiter);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let mut off_path = 0_u64;
                for _ in 0..iters {
                    if !check(&limiter) {
                        off_path += 1;
                    }
                }
                (start, Instant::now(), off_path)
            })
        })
        .collect();
    let spans: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("a bench thread panicked"))
        .collect();
    assert!(
        spans.iter().all(|&(_, _, off_path)| off_path == 0),
        "a check left the case's path"
    );
    let start = spans.iter().map(|s| s.0).min().expect("threads");
    let end = spans.iter().map(|s| s.1).max().expect("threads");
    end - start
}

fn shared(c: &mut Criterion) {
    let mut group = c.benchmark_group("shared");
    // Every sample the same size, large enough (4 s / 30) that spawning and waking the threads,
    // which is not timed anyway, leaves no trace.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(30);
    for threads in [2_usize, 8] {
        group.throughput(Throughput::Elements(threads as u64));
        let case = format!("{threads}-threads");
        let tollgate = Arc::new(Limiter::new(allowed_quota()));
        group.bench_function(BenchmarkId::new("tollgate", &case), |b| {
            b.iter_custom(|iters| on_threads(&tollgate, threads, iters, |l| l.check().is_ok()));
        });
        let governor = Arc::new(RateLimiter::direct(allowed_governor_quota()));
        group.bench_function(BenchmarkId::new("governor", &case), |b| {
            b.iter_custom(|iters| on_threads(&governor, threads, iters, |l| l.check().is_ok()));
        });
    }
    // A flood the limiter turns away: every check denied (its one request spent), so no
    // thread ever writes the state and the threads can share its cache line.
    for threads in [2_usize, 8] {
        group.throughput(Throughput::Elements(threads as u64));
        let case = format!("{threads}-threads-denied");
        let tollgate = Arc::new(Limiter::new(denied_quota()));
        assert!(tollgate.check().is_ok() && tollgate.check().is_err());
        group.bench_function(BenchmarkId::new("tollgate", &case), |b| {
            b.iter_custom(|iters| on_threads(&tollgate, threads, iters, |l| l.check().is_err()));
        });
        let governor = Arc::new(RateLimiter::direct(denied_governor_quota()));
        assert!(governor.check().is_ok() && governor.check().is_err());
        group.bench_function(BenchmarkId::new("governor", &case), |b| {
            b.iter_custom(|iters| on_threads(&governor, threads, iters, |l| l.check().is_err()));
        });
    }
    group.finish();
}

/// Fisher-Yates with splitmix64 from a fixed seed: the same order everywhere.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_add(1);
        let r = common::mix(state);
        // `i + 1` ≤ 10⁶ here: the modulo's bias is below 10⁻¹³.
        let j = usize::try_from(r % (i as u64 + 1)).expect("below len");
        items.swap(i, j);
    }
}

/// Times one check per visit of `visits`, in order, round and round.
fn bench_visits<K, R>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    visits: &[K],
    mut check: impl FnMut(&K) -> R,
) {
    group.bench_function(id, |b| {
        let mut i = 0;
        b.iter(|| {
            let key = &visits[i];
            i += 1;
            if i == visits.len() {
                i = 0;
            }
            check(key)
        });
    });
}

/// Fills `store` with every key (one admitted check each), benches one check per visit, and
/// makes sure the case stayed on its path: every check admitted, every key still held.
fn bench_store<K, L, E>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    (keys, visits): (&[K], &[K]),
    store: L,
    len: impl Fn(&L) -> usize,
    check: impl Fn(&L, &K) -> Result<(), E>,
) {
    assert!(keys.iter().all(|k| check(&store, k).is_ok()));
    assert_eq!(len(&store), keys.len());
    bench_visits(group, id, visits, |k| check(&store, k));
    assert!(keys.iter().all(|k| check(&store, k).is_ok()));
    assert_eq!(len(&store), keys.len());
}

fn keyed_u64(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: u64) {
    let keys: Vec<u64> = (0..n).map(u64_key).collect();
    let mut visits = keys.clone();
    shuffle(&mut visits, SHUFFLE_SEED);
    let case = format!("u64/{n}");
    let both = (&keys[..], &visits[..]);

    bench_store(
        group,
        BenchmarkId::new("tollgate", &case),
        both,
        KeyedLimiter::<u64>::new(keyed_quota()),
        KeyedLimiter::len,
        |l, k| l.check(k),
    );
    bench_store(
        group,
        BenchmarkId::new("governor", &case),
        both,
        RateLimiter::keyed(keyed_governor_quota()),
        |l| l.len(),
        |l, k| l.check_key(k),
    );
}

fn keyed_phone(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: u64,
) {
    let keys: Vec<String> = (0..n)
        .map(|i| {
            let mut s = String::new();
            write_phone(&mut s, i);
            s
        })
        .collect();
    let mut visits = keys.clone();
    shuffle(&mut visits, SHUFFLE_SEED);
    // The visit list's strings in visiting order, as requests' keys arrive in fresh buffers.
    let visits: Vec<String> = visits.iter().map(|s| s.as_str().to_owned()).collect();
    let case = format!("phone/{n}");
    let both = (&keys[..], &visits[..]);

    bench_store(
        group,
        BenchmarkId::new("tollgate", &case),
        both,
        KeyedLimiter::<CompactString>::new(keyed_quota()),
        KeyedLimiter::len,
        |l, k| l.check(k.as_str()),
    );
    bench_store(
        group,
        BenchmarkId::new("tollgate-String", &case),
        both,
        KeyedLimiter::<String>::new(keyed_quota()),
        KeyedLimiter::len,
        |l, k| l.check(k.as_str()),
    );
    // The number arrives as text: its conversion is part of every check.
    bench_store(
        group,
        BenchmarkId::new("tollgate-ShortKey", &case),
        both,
        KeyedLimiter::<ShortKey>::new(keyed_quota()),
        KeyedLimiter::len,
        |l, k| l.check(&ShortKey::new(k).expect("a phone number fits")),
    );
    bench_store(
        group,
        BenchmarkId::new("governor", &case),
        both,
        RateLimiter::keyed(keyed_governor_quota()),
        |l| l.len(),
        |l, k| l.check_key(k),
    );
}

/// Keys arriving for the first time, as in a flood of new clients: an iteration fills an empty
/// limiter with `NEW_KEYS` keys it has never seen, so every check inserts, and the time includes
/// the table's growth from empty (its dropping is not timed); the throughput is per key, so the
/// script divides by it. Not one of the cases: it shows what the tables' load and growth
/// cost a flood of new keys.
fn keyed_new(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    fn fill<L, E>(new: impl Fn() -> L, check: impl Fn(&L, &u64) -> Result<(), E>) -> Duration {
        let store = new();
        let start = Instant::now();
        for i in 0..NEW_KEYS {
            assert!(check(&store, &u64_key(i)).is_ok());
        }
        start.elapsed()
    }
    let case = format!("u64-new/{NEW_KEYS}");
    group.bench_function(BenchmarkId::new("tollgate", &case), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    fill(
                        || KeyedLimiter::<u64>::new(keyed_quota()),
                        |l, k| l.check(k),
                    )
                })
                .sum::<Duration>()
        });
    });
    group.bench_function(BenchmarkId::new("governor", &case), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    fill(
                        || RateLimiter::keyed(keyed_governor_quota()),
                        |l, k| l.check_key(k),
                    )
                })
                .sum::<Duration>()
        });
    });
}

/// Keys per fill in the `u64-new` case.
const NEW_KEYS: u64 = 200_000;

fn keyed(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed");
    for n in [1_000, 1_000_000] {
        keyed_u64(&mut group, n);
        keyed_phone(&mut group, n);
    }
    // Whole fills (tens of milliseconds each): ten samples.
    group.sample_size(10);
    group.throughput(Throughput::Elements(NEW_KEYS));
    keyed_new(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = direct, shared, keyed
}
criterion_main!(benches);
