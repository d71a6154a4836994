//! Threads hammer one limiter, one key of a keyed limiter, one policy: the admissions, counted
//! afterwards per window, never exceed the guarantee, and a denied request charges no limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use compact_str::CompactString;
use tollgate_core::{Clock, Concurrency, Gcra, Named};
use tollgate_std::clock::StdClock;
use tollgate_std::{
    Duration, Instant, KeyedLimiter, KeyedPolicy, Limit, Limiter, Quota, SharedPolicy,
};

const THREADS: [usize; 4] = [2, 4, 8, 16];

/// How long each run hammers.
const RUN: std::time::Duration = std::time::Duration::from_millis(150);

/// GCRA's guarantee, checked on every interval between two admissions: at most
/// `burst + ⌊d / T⌋` admitted in any closed interval of length `d`.
fn assert_gcra_bound(mut stamps: Vec<u64>, gcra: &Gcra<{ tollgate_std::HZ }>) {
    stamps.sort_unstable();
    let burst = u64::from(gcra.quota().burst());
    let t = gcra.quota().interval().as_ticks();
    for (i, &a) in stamps.iter().enumerate() {
        for (j, &b) in stamps.iter().enumerate().skip(i) {
            let count = (j - i + 1) as u64;
            let bound = burst + (b - a) / t;
            assert!(
                count <= bound,
                "{count} admitted in [{a}, {b}], bound {bound}"
            );
        }
    }
}

/// Runs `threads` threads for [`RUN`], each calling `attempt(now)` in a loop and collecting the
/// instants of its admissions.
fn hammer(
    threads: usize,
    clock: &StdClock,
    attempt: impl Fn(Instant) -> bool + Sync,
) -> (Vec<u64>, u64) {
    let tries = AtomicU64::new(0);
    let stamps = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    let start = std::time::Instant::now();
                    let mut n = 0;
                    while start.elapsed() < RUN {
                        let now = clock.now();
                        if attempt(now) {
                            mine.push(now.as_ticks());
                        }
                        n += 1;
                    }
                    tries.fetch_add(n, Ordering::Relaxed);
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    (stamps, tries.into_inner())
}

#[test]
fn a_shared_limiter_never_over_admits() {
    for threads in THREADS {
        let clock = StdClock::new();
        let quota = Quota::per_second(2_000).unwrap().with_burst(20).unwrap();
        let limiter = Limiter::with_clock(quota, clock.clone());
        let (stamps, tries) = hammer(threads, &clock, |now| limiter.check_at(now).is_ok());
        assert!(
            tries > stamps.len() as u64 * 2,
            "{threads} threads: the limit must bind"
        );
        assert!(
            stamps.len() > 100,
            "{threads} threads admitted only {}",
            stamps.len()
        );
        assert_gcra_bound(stamps, limiter.gcra());
    }
}

#[test]
fn one_hot_key_never_over_admits() {
    for threads in THREADS {
        let clock = StdClock::new();
        let quota = Quota::per_second(2_000).unwrap().with_burst(20).unwrap();
        let keyed = KeyedLimiter::<CompactString, _>::with_clock(quota, clock.clone());
        let other = AtomicU32::new(0);
        let (stamps, _) = hammer(threads, &clock, |now| {
            // Every fourth attempt is another key, so the shard also inserts and sweeps.
            let n = other.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(4) {
                let _ = keyed.check_at(format!("+1555{n:07}").as_str(), now);
                return false;
            }
            keyed.check_at("+14155550100", now).is_ok()
        });
        assert!(
            stamps.len() > 100,
            "{threads} threads admitted only {}",
            stamps.len()
        );
        assert_gcra_bound(stamps, keyed.gcra());
    }
}

fn named(name: &str, limit: Limit) -> Named<Limit, String> {
    Named::new(name.to_owned(), limit)
}

#[test]
fn a_shared_policy_charges_no_limit_for_a_denied_request() {
    for threads in THREADS {
        let clock = StdClock::new();
        // A tight rate and a loose log that will not expire during the run: every request the
        // policy admits is in the log once, and no denied one is.
        let rate = Gcra::new(Quota::per_second(1_000).unwrap().with_burst(10).unwrap());
        let policy = SharedPolicy::with_clock(
            vec![
                named("rate", Limit::Gcra(rate)),
                named(
                    "hour",
                    Limit::sliding_log(100_000, Duration::from_secs(3_600), 100_000).unwrap(),
                ),
            ],
            clock.clone(),
        );
        let (stamps, tries) = hammer(threads, &clock, |now| {
            let (d, _permit) = policy
                .check_at(now, 1, &tollgate_core::Overrides::NONE)
                .unwrap();
            d.is_allowed()
        });
        assert!(tries > stamps.len() as u64, "the rate must bind");
        let d = policy.peek(0).unwrap();
        let logged = 100_000 - d.reports[1].decision.remaining;
        assert_eq!(logged as usize, stamps.len(), "{threads} threads");
        assert_gcra_bound(stamps, &rate);
    }
}

#[test]
fn permits_keep_at_most_the_limit_in_flight() {
    for threads in THREADS {
        let policy = SharedPolicy::new(vec![named(
            "concurrent",
            Limit::Concurrency(Concurrency::new(3).unwrap()),
        )]);
        let in_flight = Arc::new(AtomicU32::new(0));
        let most = AtomicU32::new(0);
        let admitted = AtomicU64::new(0);
        thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..2_000 {
                        let (d, permit) = policy.check(1).unwrap();
                        if d.is_allowed() {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            admitted.fetch_add(1, Ordering::Relaxed);
                            std::hint::spin_loop();
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                        }
                        drop(permit);
                    }
                });
            }
        });
        assert!(most.into_inner() <= 3);
        assert!(admitted.into_inner() > 0);
        // Every permit was released: all three places are free again.
        let (d, permit) = policy.check(3).unwrap();
        assert!(d.is_allowed() && permit.holds());
    }
}

#[test]
fn keyed_permits_release_per_key() {
    let policy = KeyedPolicy::<String>::new(vec![named(
        "concurrent",
        Limit::Concurrency(Concurrency::new(2).unwrap()),
    )]);
    thread::scope(|s| {
        for t in 0..8 {
            let policy = &policy;
            s.spawn(move || {
                let key = format!("acct-{}", t % 2);
                for _ in 0..1_000 {
                    let (d, permit) = policy.check(0, key.as_str(), 1).unwrap();
                    assert!(d.is_allowed() || d.limit_exceeded() == Some("concurrent"));
                    drop(permit);
                }
            });
        }
    });
    // Nothing in flight: both keys came to rest and were dropped on release.
    assert_eq!(policy.len(), 0);
}
