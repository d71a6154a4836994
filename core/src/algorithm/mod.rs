//! What every check answers, and the trait every algorithm implements.

pub mod concurrency;
pub mod gcra;
pub mod leaky_bucket;
pub mod sliding_log;
pub mod sliding_window;

use crate::error::{InsufficientCapacity, ReleaseError};
use crate::time::{Duration, Instant};

/// The answer to one check: allowed or not, and everything a server needs to say so.
///
/// The fields mean the same for every algorithm:
///
/// - `limit`: the most unit-cost requests that can be admitted at once from rest (GCRA: the
///   burst; a sliding window: the limit per window; a concurrency limit: the most in flight).
/// - `remaining`: how many more unit-cost requests would be admitted at this same instant,
///   counting the effect of this request if it was admitted.
/// - `reset`: the time until the state is at rest again (indistinguishable from a fresh one)
///   if nothing else arrives. A concurrency limit is only brought to rest by releases, so while
///   anything is in flight it answers its configured hint here too; a policy's `reset` is the
///   longest of its limits'.
/// - `retry_after`: `None` when admitted; when denied, the exact wait after which this same
///   request would be admitted if nothing else arrives (a concurrency limit, which cannot know
///   when holders release, gives its configured hint instead).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Duration};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(2)?); // burst 2, one per 500 ms
/// let mut s = gcra.new_state();
/// let t0 = Instant::<1_000>::from_ticks(10_000);
/// let d = gcra.check(&mut s, t0, 1)?;
/// assert!(d.is_allowed());
/// assert_eq!((d.limit, d.remaining, d.reset), (2, 1, Duration::<1_000>::from_millis(500)));
/// gcra.check(&mut s, t0, 1)?;
/// let d = gcra.check(&mut s, t0, 1)?;
/// assert_eq!(d.retry_after, Some(Duration::<1_000>::from_millis(500)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decision<const HZ: u64> {
    /// The most unit-cost requests that can be admitted at once from rest.
    pub limit: u32,
    /// Unit-cost requests that would still be admitted at this instant.
    pub remaining: u32,
    /// Time until the state is at rest again.
    pub reset: Duration<HZ>,
    /// `None` if admitted; otherwise how long until this request would be.
    pub retry_after: Option<Duration<HZ>>,
}

impl<const HZ: u64> Decision<HZ> {
    /// Whether the request was (or, from a peek, would be) admitted.
    #[inline]
    pub const fn is_allowed(&self) -> bool {
        self.retry_after.is_none()
    }

    /// Whether the request was (or would be) denied.
    #[inline]
    pub const fn is_denied(&self) -> bool {
        self.retry_after.is_some()
    }
}

/// A denial on the fast path: only the wait, nothing computed that the caller did not ask for.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Duration, NotUntil};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(1)?);
/// let mut s = gcra.new_state();
/// let t0 = Instant::<1_000>::from_ticks(0);
/// assert_eq!(gcra.try_acquire(&mut s, t0), Ok(()));
/// let wait = gcra.try_acquire(&mut s, t0).unwrap_err();
/// assert_eq!(wait.retry_after(), Duration::<1_000>::from_secs(1));
/// assert_eq!(wait.earliest(t0), Instant::<1_000>::from_ticks(1_000));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotUntil<const HZ: u64> {
    pub(crate) wait: u64,
}

impl<const HZ: u64> NotUntil<HZ> {
    /// The exact wait after which the same request would be admitted if nothing else arrives
    /// (for a [`Concurrency`](crate::Concurrency) limit: its configured hint).
    pub const fn retry_after(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.wait)
    }

    /// The instant at which to retry, given the `now` that was checked (saturating at the end of
    /// time).
    pub const fn earliest(&self, now: Instant<HZ>) -> Instant<HZ> {
        Instant::<HZ>::from_ticks(now.as_ticks().saturating_add(self.wait))
    }
}

/// A rate-limiting algorithm: configuration in `&self`, state passed in separately.
///
/// Configuration is shared and immutable; state is small plain data that the caller keeps where it
/// likes (a field, a `static` behind a mutex, a key table, flash, a remote store). Every method
/// takes `now` rather than reading a clock.
///
/// Contract, for every implementation:
///
/// - `peek` returns exactly what `check` would, without recording anything.
/// - `check` records the request only if it is admitted; a denied check leaves the state as it
///   was. Together these let several limits be combined all-or-nothing.
/// - A cost of zero is always admitted and records nothing: it asks for the metadata only.
/// - A cost larger than [`capacity`](Algorithm::capacity) is an [`InsufficientCapacity`] error,
///   never a denial.
/// - A `now` earlier than one already seen never admits what the later instant would deny.
/// - [`is_at_rest`](Algorithm::is_at_rest) is true only when the state would decide every
///   future request like [`new_state`](Algorithm::new_state) would, so a table may drop it; for a
///   single algorithm it is exact, while a [`Policy`](crate::Policy) may answer `false` a little
///   longer (a stricter limit can hide a looser one), which only keeps an entry longer.
///
/// Documented exceptions: near the end of time (within a burst's worth of ticks of `u64::MAX`)
/// the time-based algorithms deny whatever their schedule cannot hold, so there a backwards
/// `now` may be admitted and a `retry_after` points at the end of time rather than being exact;
/// and a [`Concurrency`](crate::Concurrency) limit, which cannot know when holders release,
/// answers a configured hint as `retry_after` and `reset`.
pub trait Algorithm<const HZ: u64> {
    /// The per-key state.
    type State;

    /// A state at rest.
    fn new_state(&self) -> Self::State;

    /// The largest cost that can ever be admitted at once.
    fn capacity(&self) -> u32;

    /// Decides a request of `cost` at `now` and records it if admitted.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`capacity`](Algorithm::capacity).
    fn check(
        &self,
        state: &mut Self::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity>;

    /// Decides a request of `cost` at `now` without recording it.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`capacity`](Algorithm::capacity).
    fn peek(
        &self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity>;

    /// Whether `state` is indistinguishable from a fresh one at `now` and at every later instant.
    fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool;

    /// Gives back `cost` admitted earlier, for limits that count what is in flight.
    ///
    /// Rate limits count a request for its whole window whether or not it has finished, so the
    /// default does nothing and succeeds. A concurrency limit overrides it.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when more is released than is held; the state is then unchanged.
    fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError> {
        let _ = (state, cost);
        Ok(())
    }
}

/// Rejects a cost that can never fit.
#[inline(always)]
pub(crate) const fn fits(cost: u32, capacity: u32) -> Result<(), InsufficientCapacity> {
    if cost > capacity {
        Err(InsufficientCapacity { cost, capacity })
    } else {
        Ok(())
    }
}
