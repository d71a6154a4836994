//! One rate limit shared by threads, lock-free: GCRA in one `AtomicU64`.
//!
//! The state is the core's [`GcraState`], one `u64` (the theoretical arrival time). A decision
//! loads it, runs the core's pure step on a copy and, when the step admits, publishes the next
//! state with a compare-and-swap; if another thread changed the state in between, the step is
//! taken again on what that thread wrote. So every admission is the core's decision on the state
//! as it stood, in some order of the admissions: **the limiter never admits more than the core
//! would for the same requests in that order** ("`burst + ⌊d / T⌋` in any interval of length
//! `d`"), however many threads share it. A denial writes nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_core::{Algorithm, Clock, Gcra, GcraState, InsufficientCapacity, NotUntil};

use crate::clock::StdClock;
use crate::wait::{self, Attempt, Jitter};
use crate::{Decision, HZ, Instant, Quota};

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
    gcra: Gcra<HZ>,
    tat: AtomicU64,
    clock: C,
}

impl Limiter<StdClock> {
    /// A limiter of `quota` on the default clock, at rest.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, StdClock::new())
    }
}

impl<C: Clock<HZ>> Limiter<C> {
    /// A limiter of `quota` on `clock`, at rest.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            gcra: Gcra::new(quota),
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

    /// The state as it stands (for storing it elsewhere, or for a report).
    pub fn state(&self) -> GcraState {
        GcraState::from_raw(self.tat.load(Ordering::Acquire))
    }

    /// Admits one request now, or says how long to wait: the fastest path, as `governor`'s
    /// `check`.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] with the exact wait when denied; nothing is taken then.
    #[inline]
    pub fn check(&self) -> Result<(), NotUntil<HZ>> {
        self.check_at(self.clock.now())
    }

    /// [`check`](Self::check) at `now`.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    #[inline]
    pub fn check_at(&self, now: Instant) -> Result<(), NotUntil<HZ>> {
        let mut current = self.tat.load(Ordering::Acquire);
        loop {
            let mut state = GcraState::from_raw(current);
            self.gcra.try_acquire(&mut state, now)?;
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
        self.decide_at(self.clock.now(), cost)
    }

    /// [`decide`](Self::decide) at `now`.
    ///
    /// # Errors
    ///
    /// As [`decide`](Self::decide).
    pub fn decide_at(&self, now: Instant, cost: u32) -> Result<Decision, InsufficientCapacity> {
        let mut current = self.tat.load(Ordering::Acquire);
        loop {
            let state = GcraState::from_raw(current);
            let step = self.gcra.step(&state, now, cost)?;
            if !self.gcra.admits(&step) {
                return Ok(self.gcra.decision(&state, &step, false));
            }
            let mut next = state;
            self.gcra.record(&mut next, &step);
            if next == state {
                // A free request (cost zero) changes nothing to publish.
                return Ok(self.gcra.decision(&state, &step, true));
            }
            match self.tat.compare_exchange_weak(
                current,
                next.to_raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(self.gcra.decision(&state, &step, true)),
                Err(actual) => current = actual,
            }
        }
    }

    /// What [`decide`](Self::decide) would say now, taking nothing.
    ///
    /// # Errors
    ///
    /// As [`decide`](Self::decide).
    pub fn peek(&self, cost: u32) -> Result<Decision, InsufficientCapacity> {
        self.gcra.peek(&self.state(), self.clock.now(), cost)
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
    use crate::Duration;
    use crate::clock::FakeClock;

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
