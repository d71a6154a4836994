//! One rate limit shared by threads, lock-free: GCRA in one `AtomicU64`.
//!
//! The state is the core's [`GcraState`], one `u64` (the theoretical arrival time). A decision
//! loads it, runs the core's pure step on a copy and, when the step admits, publishes the next
//! state with a compare-and-swap; if another thread changed the state in between, the step is
//! taken again on what that thread wrote. So every admission is the core's decision on the state
//! as it stood, in some order of the admissions: **the limiter never admits more than the core
//! would for the same requests in that order** ("`burst + ⌊d / T⌋` in any interval of length
//! `d`"), however many threads share it. A denial writes nothing.
//!
//! # Time in the clock's counts
//!
//! The schedule is kept in the clock's raw counts ([`Counter`]), so that [`check`](Limiter::check)
//! reads the counter and never scales the reading: on [`StdClock`] that is the processor's
//! time-stamp counter, and skipping the scaling is what puts the check ahead of `governor`'s
//! (BENCHMARKS.md). The quota's interval `T` is converted to counts once, rounded up, and the
//! burst kept, so the limiter is never looser than the quota in nanoseconds; denials' waits and
//! decisions' figures are scaled back to nanoseconds, rounded up. Instants passed in
//! ([`check_at`](Limiter::check_at)) are taken as the last count at or before them. A counter
//! coarser than a nanosecond (aarch64's 24 MHz virtual counter) is read through its nanoseconds
//! instead: rounding two instants down to its counts could bring them T closer than counts say.
//! On clocks
//! whose counts are the nanosecond ticks ([`FakeClock`](crate::clock::FakeClock),
//! `TokioClock` (feature `tokio`), any clock with the default `Counter`), every
//! conversion is the identity and the limiter decides exactly as the core does in nanoseconds.

use std::hash::{Hash, Hasher};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_core::{Algorithm, Gcra, GcraState, InsufficientCapacity};

use crate::clock::{Counter, Scale, StdClock, span_ticks};
use crate::wait::{self, Attempt, Jitter};
use crate::{Decision, Duration, HZ, Instant, Quota};

/// A denial and its exact wait: [`retry_after`](NotUntil::retry_after).
///
/// The wait is kept as the limiter found it, in its clock's counts, and scaled to nanoseconds
/// (rounded up) only when asked for, so that a denial costs no more than the comparison that
/// made it. Two denials are equal when their waits in nanoseconds are.
///
/// # Examples
///
/// ```
/// use tollgate_std::{Duration, Instant, NotUntil};
///
/// let wait = NotUntil::new(Duration::from_millis(250));
/// assert_eq!(wait.retry_after(), Duration::from_millis(250));
/// assert_eq!(wait.earliest(Instant::from_ticks(1_000)), Instant::from_ticks(250_001_000));
/// assert_eq!(wait, tollgate_core::NotUntil::new(Duration::from_millis(250)).into());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NotUntil {
    /// The wait, in counts.
    counts: u64,
    /// Nanoseconds per 2³² counts.
    mul: NonZeroU64,
}

impl NotUntil {
    /// A denial that may be retried after `retry_after`.
    pub const fn new(retry_after: Duration) -> Self {
        Self {
            counts: retry_after.as_ticks(),
            mul: Scale::NANOS.mul(),
        }
    }

    /// The exact wait after which the same request would be admitted if nothing else arrives.
    #[inline]
    pub const fn retry_after(&self) -> Duration {
        Duration::from_ticks(span_ticks(self.counts, self.mul))
    }

    /// The instant at which to retry, given the `now` that was checked (saturating at the end of
    /// time).
    pub const fn earliest(&self, now: Instant) -> Instant {
        Instant::from_ticks(now.as_ticks().saturating_add(self.retry_after().as_ticks()))
    }
}

impl From<tollgate_core::NotUntil<HZ>> for NotUntil {
    fn from(core: tollgate_core::NotUntil<HZ>) -> Self {
        Self::new(core.retry_after())
    }
}

impl PartialEq for NotUntil {
    fn eq(&self, other: &Self) -> bool {
        self.retry_after() == other.retry_after()
    }
}

impl Eq for NotUntil {}

impl Hash for NotUntil {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.retry_after().as_ticks().hash(state);
    }
}

impl core::fmt::Display for NotUntil {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "rate limited: retry in {} ms",
            self.retry_after().as_millis()
        )
    }
}

impl std::error::Error for NotUntil {}

/// A lock-free GCRA limiter: see the [module docs](self).
///
/// Share it by reference (it is `Sync`) or behind an `Arc`.
///
/// # Examples
///
/// ```
/// use tollgate_std::{Limiter, Quota};
///
/// let limiter = Limiter::new(Quota::per_second(10)?.with_burst(2)?);
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_ok());
/// let wait = limiter.check().unwrap_err(); // the burst is spent
/// assert!(wait.retry_after().as_millis() <= 100); // 100 ms from the first request
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Limiter<C = StdClock> {
    /// The limit as given, in nanoseconds.
    gcra: Gcra<HZ>,
    /// The same limit in the clock's counts (its `Instant`s and `Duration`s are counts).
    counted: Gcra<HZ>,
    /// From counts to nanoseconds: the clock's scale, or [`Scale::NANOS`] when the limit does
    /// not fit in counts and the limiter reads nanoseconds instead.
    scale: Scale,
    /// Whether the limiter reads raw counts (else nanoseconds).
    raw: bool,
    /// The theoretical arrival time, in counts.
    tat: AtomicU64,
    clock: C,
}

impl Limiter<StdClock> {
    /// A limiter of `quota` on the default clock, at rest.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, StdClock::new())
    }
}

impl<C: Counter> Limiter<C> {
    /// A limiter of `quota` on `clock`, at rest.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        let gcra = Gcra::new(quota);
        let scale = clock.scale();
        // T in counts, rounded up, times the limit as the window, so that the counted quota's
        // interval is exactly that T; the burst as given.
        let t = scale.counts_in(quota.interval().as_ticks());
        // Checked, never saturated: a saturated window would give a shorter interval than T.
        let counted = t
            .checked_mul(u64::from(quota.limit()))
            .and_then(|window| Quota::new(quota.limit(), Duration::from_ticks(window)).ok())
            .and_then(|q| q.with_burst(quota.burst()).ok())
            .filter(|q| q.interval().as_ticks() == t);
        // Raw counts only where a count is at most a nanosecond: then two instants passed in
        // (`check_at`), each taken as the last count at or before it, are T apart whenever
        // their counts are T's counts apart. A coarser count (aarch64's 24 MHz CNTVCT, 41.7 ns)
        // rounds two instants less than T apart into counts T apart.
        let fine = scale.mul().get() <= 1 << 32;
        let (counted, scale, raw) = match counted {
            Some(q) if scale != Scale::NANOS && fine => (Gcra::new(q), scale, true),
            // Identity counts, counts coarser than a nanosecond, or a schedule too long for a
            // u64 of counts: nanoseconds.
            _ => (gcra, Scale::NANOS, false),
        };
        Self {
            gcra,
            counted,
            scale,
            raw,
            tat: AtomicU64::new(GcraState::new().to_raw()),
            clock,
        }
    }

    /// The limit.
    pub const fn gcra(&self) -> &Gcra<HZ> {
        &self.gcra
    }

    /// The clock.
    pub const fn clock(&self) -> &C {
        &self.clock
    }

    /// The state as it stands, in nanoseconds (for storing it elsewhere, or for a report).
    pub fn state(&self) -> GcraState {
        // The instant rounded up: a later arrival time is the stricter one.
        GcraState::from_raw(self.scale.ticks_up(self.tat.load(Ordering::Acquire)))
    }

    /// The reading in the limiter's counts.
    #[inline]
    fn counts(&self) -> Instant {
        Instant::from_ticks(if self.raw {
            self.clock.count()
        } else {
            self.clock.now().as_ticks()
        })
    }

    /// `now` in the limiter's counts: the last count at or before it.
    fn counts_at(&self, now: Instant) -> Instant {
        Instant::from_ticks(self.scale.count_at(now.as_ticks()))
    }

    /// A span in counts, in nanoseconds (rounded up).
    fn nanos(&self, counts: Duration) -> Duration {
        Duration::from_ticks(self.scale.ticks_in(counts.as_ticks()))
    }

    /// Admits one request now, or says how long to wait: the fastest path, as `governor`'s
    /// `check`.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] with the exact wait when denied; nothing is taken then.
    #[inline]
    pub fn check(&self) -> Result<(), NotUntil> {
        self.try_acquire(self.counts())
    }

    /// [`check`](Self::check) at `now`.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    #[inline]
    pub fn check_at(&self, now: Instant) -> Result<(), NotUntil> {
        self.try_acquire(self.counts_at(now))
    }

    /// The state a decision starts from: on x86, a full fence and then a plain load.
    ///
    /// Measured on this project's 2-core x86-64 machine (BENCHMARKS.md, case 2): the fence
    /// raised the admissions per second of threads hammering one limiter by 15% to 25% and cost
    /// an uncontended check nothing measurable (with and without, interleaved, three rounds
    /// each). It is a locked instruction on the thread's own stack, so it moves no shared cache
    /// line: a denial still only reads the state, and a flood of denials is answered from each
    /// core's copy of it, at 0% to 10% fewer denials per second than without the fence. (Reading
    /// the state exclusively, with a compare-and-swap, was tried too: a quarter of the denials
    /// per second.) Elsewhere, where it was not measured, a plain load.
    #[inline]
    fn first_read(&self) -> u64 {
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        std::sync::atomic::fence(Ordering::SeqCst);
        self.tat.load(Ordering::Acquire)
    }

    #[inline]
    fn try_acquire(&self, now: Instant) -> Result<(), NotUntil> {
        let mut current = self.first_read();
        loop {
            let mut state = GcraState::from_raw(current);
            if let Err(e) = self.counted.try_acquire(&mut state, now) {
                return Err(NotUntil {
                    counts: e.retry_after().as_ticks(),
                    mul: self.scale.mul(),
                });
            }
            match self.tat.compare_exchange_weak(
                current,
                state.to_raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Decides a request of `cost` now, with the full [`Decision`] (limit, remaining, reset,
    /// retry-after) for headers.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds the burst: no wait would admit it.
    #[inline]
    pub fn decide(&self, cost: u32) -> Result<Decision, InsufficientCapacity> {
        self.decide_counted(self.counts(), cost)
    }

    /// [`decide`](Self::decide) at `now`.
    ///
    /// # Errors
    ///
    /// As [`decide`](Self::decide).
    pub fn decide_at(&self, now: Instant, cost: u32) -> Result<Decision, InsufficientCapacity> {
        self.decide_counted(self.counts_at(now), cost)
    }

    fn decide_counted(&self, now: Instant, cost: u32) -> Result<Decision, InsufficientCapacity> {
        let gcra = &self.counted;
        let mut current = self.first_read();
        loop {
            let state = GcraState::from_raw(current);
            let step = gcra.step(&state, now, cost)?;
            if !gcra.admits(&step) {
                return Ok(self.in_nanos(gcra.decision(&state, &step, false)));
            }
            let mut next = state;
            gcra.record(&mut next, &step);
            if next == state {
                // A free request (cost zero) changes nothing to publish.
                return Ok(self.in_nanos(gcra.decision(&state, &step, true)));
            }
            match self.tat.compare_exchange_weak(
                current,
                next.to_raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(self.in_nanos(gcra.decision(&state, &step, true))),
                Err(actual) => current = actual,
            }
        }
    }

    /// A decision made in counts, its spans in nanoseconds.
    fn in_nanos(&self, d: Decision) -> Decision {
        Decision {
            reset: self.nanos(d.reset),
            retry_after: d.retry_after.map(|w| self.nanos(w)),
            delay: self.nanos(d.delay),
            ..d
        }
    }

    /// What [`decide`](Self::decide) would say now, taking nothing.
    ///
    /// # Errors
    ///
    /// As [`decide`](Self::decide).
    pub fn peek(&self, cost: u32) -> Result<Decision, InsufficientCapacity> {
        let state = GcraState::from_raw(self.tat.load(Ordering::Acquire));
        let d = self.counted.peek(&state, self.counts(), cost)?;
        Ok(self.in_nanos(d))
    }

    /// Blocks the thread until a request of `cost` is admitted, and returns its decision.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] at once when `cost` exceeds the burst (waiting would be forever).
    pub fn wait(&self, cost: u32) -> Result<Decision, InsufficientCapacity> {
        self.wait_with_jitter(cost, Jitter::NONE)
    }

    /// [`wait`](Self::wait), each pause lengthened by up to `jitter` so that waiters told the
    /// same wait do not wake together.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_with_jitter(
        &self,
        cost: u32,
        jitter: Jitter,
    ) -> Result<Decision, InsufficientCapacity> {
        wait::block_on(jitter, || self.attempt(cost))
    }

    /// Waits (asynchronously, on tokio's timer) until a request of `cost` is admitted.
    ///
    /// Cancellation safe: nothing is taken until the request is admitted, so a dropped future
    /// leaks no capacity.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub async fn until_ready(&self, cost: u32) -> Result<Decision, InsufficientCapacity> {
        self.until_ready_with_jitter(cost, Jitter::NONE).await
    }

    /// [`until_ready`](Self::until_ready) with each pause lengthened by up to `jitter`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub async fn until_ready_with_jitter(
        &self,
        cost: u32,
        jitter: Jitter,
    ) -> Result<Decision, InsufficientCapacity> {
        wait::until(jitter, || self.attempt(cost)).await
    }

    fn attempt(&self, cost: u32) -> Result<Attempt<Decision>, InsufficientCapacity> {
        let d = self.decide(cost)?;
        Ok(if d.is_allowed() {
            Attempt::Admitted(d)
        } else {
            Attempt::Denied(d.retry_after)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use tollgate_core::Clock;

    fn limiter(per_second: u32, burst: u32) -> (Limiter<FakeClock>, FakeClock) {
        let clock = FakeClock::new();
        let quota = Quota::per_second(per_second)
            .unwrap()
            .with_burst(burst)
            .unwrap();
        (Limiter::with_clock(quota, clock.clone()), clock)
    }

    #[test]
    fn check_and_decide_agree_with_the_core() {
        let (l, clock) = limiter(10, 3);
        let gcra = *l.gcra();
        let mut core = gcra.new_state();
        for i in 0..50u64 {
            clock.set(Instant::from_ticks(i * 37_000_000));
            let now = clock.now();
            let want = gcra.check(&mut core, now, 1).unwrap();
            let got = if i % 2 == 0 {
                l.decide(1).unwrap()
            } else {
                match l.check() {
                    Ok(()) => l.gcra().peek(&l.state(), now, 0).unwrap(),
                    Err(e) => {
                        assert_eq!(Some(e.retry_after()), want.retry_after);
                        continue;
                    }
                }
            };
            if i % 2 == 0 {
                assert_eq!(got, want, "at {i}");
            } else {
                assert!(want.is_allowed());
            }
            assert_eq!(l.state(), core);
        }
    }

    #[test]
    fn a_schedule_too_long_for_counts_falls_back_to_nanoseconds() {
        /// A counter 2²⁸ times finer than nanoseconds.
        #[derive(Debug)]
        struct Fine(FakeClock);
        impl Clock<HZ> for Fine {
            fn now(&self) -> Instant {
                self.0.now()
            }
        }
        impl Counter for Fine {
            fn count(&self) -> u64 {
                self.0.now().as_ticks().saturating_mul(1 << 28)
            }
            fn scale(&self) -> Scale {
                Scale::new(0, 1 << 4).unwrap() // 2⁻²⁸ ns per count
            }
        }
        // 5 per 100 s: T is 20 s, 5.4·10¹⁸ counts, and 5·T does not fit a u64 of counts (saturated,
        // it would have made the interval 3.7·10¹⁸ counts: 13.7 s).
        let q = Quota::new(5, crate::Duration::from_secs(100)).unwrap();
        let clock = FakeClock::new();
        let l = Limiter::with_clock(q, Fine(clock.clone()));
        for _ in 0..5 {
            assert!(l.check().is_ok());
        }
        let wait = l.check().unwrap_err().retry_after();
        assert_eq!(wait, crate::Duration::from_secs(20)); // exactly T, never less
    }

    /// A counter coarser than nanoseconds, as quanta's on aarch64 (24 MHz on Apple silicon):
    /// `mul` nanoseconds per 2³² counts, its reading the last count at or before the fake time.
    #[derive(Debug)]
    struct Coarse {
        clock: FakeClock,
        mul: u64,
    }

    impl Clock<HZ> for Coarse {
        fn now(&self) -> Instant {
            Instant::from_ticks(self.scale().ticks(self.count()))
        }
    }

    impl Counter for Coarse {
        fn count(&self) -> u64 {
            self.scale().count_at(self.clock.now().as_ticks())
        }
        fn scale(&self) -> Scale {
            Scale::new(0, self.mul).unwrap()
        }
    }

    /// One per 10 ns on a counter of 10 ns per count: instants 19 and 20 fall in counts 1 and 2,
    /// a whole T apart in counts, but the core denies at 20 what it admitted at 19, and so does
    /// the limiter.
    #[test]
    fn a_coarse_counter_decides_instants_as_the_core_does() {
        let quota = Quota::per_second(100_000_000)
            .unwrap()
            .with_burst(1)
            .unwrap();
        let coarse = Coarse {
            clock: FakeClock::new(),
            mul: 10 << 32,
        };
        let l = Limiter::with_clock(quota, coarse);
        let gcra = Gcra::new(quota);
        let mut core = gcra.new_state();
        for t in [19, 20, 28, 29, 30, 31, 45] {
            let at = Instant::from_ticks(t);
            let want = gcra.check(&mut core, at, 1).unwrap();
            assert_eq!(l.check_at(at).is_ok(), want.is_allowed(), "at {t} ns");
            assert_eq!(l.state(), core, "at {t} ns");
        }
    }

    /// On a 24 MHz counter at 1,000 per second, no two instants less than 1 ms apart are both
    /// admitted, wherever the first falls between two counts.
    #[test]
    fn a_24_mhz_counter_never_admits_two_within_t() {
        let mul = u64::try_from((1_000_000_000u128 << 32).div_ceil(24_000_000)).unwrap();
        let quota = Quota::per_second(1_000).unwrap().with_burst(1).unwrap();
        let t = quota.interval().as_ticks();
        for t1 in 0..200u64 {
            let coarse = Coarse {
                clock: FakeClock::new(),
                mul,
            };
            let l = Limiter::with_clock(quota, coarse);
            assert!(l.check_at(Instant::from_ticks(t1)).is_ok());
            let early = l.check_at(Instant::from_ticks(t1 + t - 1));
            assert!(early.is_err(), "admitted at {t1} ns and {} ns", t1 + t - 1);
            assert!(l.check_at(Instant::from_ticks(t1 + t)).is_ok());
        }
    }

    #[test]
    fn a_cost_above_the_burst_is_an_error_not_a_wait() {
        let (l, _) = limiter(10, 3);
        assert_eq!(l.decide(4), Err(InsufficientCapacity::new(4, 3)));
        assert_eq!(l.wait(4), Err(InsufficientCapacity::new(4, 3)));
    }

    #[test]
    fn wait_sleeps_until_admitted() {
        let l = Limiter::new(Quota::per_second(100).unwrap().with_burst(1).unwrap());
        assert!(l.check().is_ok());
        let start = std::time::Instant::now();
        let d = l.wait(1).unwrap();
        assert!(d.is_allowed());
        assert!(start.elapsed() >= std::time::Duration::from_millis(9));
        let _ = Duration::from_ticks(0);
    }
}
