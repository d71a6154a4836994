//! Decision kernels shared by the criterion benches and the callgrind counter.
//!
//! Each `decide_*` function is one decision, `#[inline(never)]` so that callgrind's
//! `--toggle-collect` counts exactly its instructions and nothing of the driving loop. Each
//! `Case` drives one kernel in a loop that keeps it on the intended path (allowed or denied).

use core::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration as StdDuration;

use governor::clock::FakeRelativeClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota as GQuota, RateLimiter};
use tollgate_core::{Decision, Gcra, GcraState, Instant, Quota};

/// Ticks per second for every tollgate case: nanoseconds, like governor.
pub const HZ: u64 = 1_000_000_000;

/// One benchmark case: a name and a loop of `n` decisions.
pub struct Case {
    /// `algorithm-path`, e.g. `gcra-allowed`.
    pub name: &'static str,
    /// Runs `n` decisions and returns how many were admitted.
    pub run: fn(u64) -> u64,
}

/// Every case, tollgate's and governor's side by side.
pub const CASES: &[Case] = &[
    Case {
        name: "tollgate-gcra-allowed",
        run: gcra_allowed,
    },
    Case {
        name: "tollgate-gcra-denied",
        run: gcra_denied,
    },
    Case {
        name: "tollgate-gcra-check-allowed",
        run: gcra_check_allowed,
    },
    Case {
        name: "governor-gcra-allowed",
        run: governor_allowed,
    },
    Case {
        name: "governor-gcra-denied",
        run: governor_denied,
    },
];

/// The quota every GCRA case uses: 1,000 per second, burst 10.
fn quota() -> Quota<HZ> {
    Quota::<HZ>::per_second(1_000)
        .and_then(|q| q.with_burst(10))
        .expect("valid quota")
}

fn governor_quota() -> GQuota {
    GQuota::per_second(NonZeroU32::new(1_000).expect("non-zero"))
        .allow_burst(NonZeroU32::new(10).expect("non-zero"))
}

/// One GCRA fast-path decision with `now` given.
#[inline(never)]
pub fn decide_gcra(g: &Gcra<HZ>, s: &mut GcraState, now: Instant<HZ>) -> bool {
    g.try_acquire(s, now).is_ok()
}

/// One GCRA decision with the full `Decision` (remaining, reset, retry-after), all of it used.
#[inline(never)]
pub fn decide_gcra_check(
    g: &Gcra<HZ>,
    s: &mut GcraState,
    now: Instant<HZ>,
) -> Option<Decision<HZ>> {
    g.check(s, now, 1).ok()
}

type Governor = RateLimiter<
    NotKeyed,
    InMemoryState,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// One governor decision (it reads its own clock: here a fake one, one atomic load).
#[inline(never)]
pub fn decide_governor(l: &Governor) -> bool {
    l.check().is_ok()
}

fn gcra_allowed(n: u64) -> u64 {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let step = g.quota().interval().as_ticks();
    (0..n)
        .filter(|i| decide_gcra(&g, &mut s, Instant::<HZ>::from_ticks(black_box(i * step))))
        .count() as u64
}

fn gcra_denied(n: u64) -> u64 {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let now = Instant::<HZ>::from_ticks(0);
    (0..n)
        .filter(|_| decide_gcra(&g, &mut s, black_box(now)))
        .count() as u64
}

fn gcra_check_allowed(n: u64) -> u64 {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let step = g.quota().interval().as_ticks();
    (0..n)
        .filter(|i| {
            black_box(decide_gcra_check(
                &g,
                &mut s,
                Instant::<HZ>::from_ticks(black_box(i * step)),
            ))
            .is_some_and(|d| d.is_allowed())
        })
        .count() as u64
}

fn governor_allowed(n: u64) -> u64 {
    let clock = FakeRelativeClock::default();
    let l = RateLimiter::direct_with_clock(governor_quota(), clock.clone());
    let step = StdDuration::from_millis(1);
    (0..n)
        .filter(|_| {
            clock.advance(step);
            decide_governor(&l)
        })
        .count() as u64
}

fn governor_denied(n: u64) -> u64 {
    let l = RateLimiter::direct_with_clock(governor_quota(), FakeRelativeClock::default());
    (0..n).filter(|_| decide_governor(&l)).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_stays_on_its_path() {
        for c in CASES {
            let admitted = (c.run)(1_000);
            if c.name.ends_with("allowed") {
                assert_eq!(admitted, 1_000, "{}", c.name);
            } else {
                assert!(admitted <= 10, "{}: {admitted}", c.name);
            }
        }
    }
}
