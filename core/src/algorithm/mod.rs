//! The algorithms, the trait they all implement, and what every check answers.
//!
//! Every algorithm is a pure state machine: configuration in `&self`, state passed in, time
//! passed in. [`Algorithm::step`] looks at a state without changing it and says what a request
//! would do; [`Algorithm::record`] applies an admitting step. `check` and `peek` are those two
//! put together, and [`Algorithm::transition`] is the same from a state *value* to the next one,
//! for stores that swap whole states (an atomic compare-and-swap, a Redis script, a flash record).

pub mod any;
pub mod concurrency;
pub mod gcra;
pub mod leaky_bucket;
pub mod sliding_log;
pub mod sliding_window;
pub mod storage;
pub mod unlimited;

use crate::error::{InsufficientCapacity, ReleaseError};
pub use crate::quota::Allowance;
use crate::time::{Duration, Instant};

/// The answer to one check: allowed or not, and everything a server needs to say so.
///
/// The fields mean the same for every algorithm:
///
/// - `limit`: the most unit-cost requests that can be admitted at once from rest (GCRA: the
///   burst; a sliding window: the limit per window; a concurrency limit: the most in flight; a
///   shaper: its burst plus what it may queue). What the user wrote ("900 per 15 minutes") is
///   the limit's [`Allowance`].
/// - `remaining`: how many more unit-cost requests would be admitted at this same instant,
///   counting the effect of this request if it was admitted.
/// - `reset`: the time until the state is at rest again (indistinguishable from a fresh one)
///   if nothing else arrives. A concurrency limit is only brought to rest by releases, so while
///   anything is in flight it answers its configured hint here too; a policy's `reset` is the
///   longest of its limits'.
/// - `retry_after`: `None` when admitted; when denied, the exact wait after which this same
///   request would be admitted if nothing else arrives (a concurrency limit, which cannot know
///   when holders release, gives its configured hint instead).
/// - `delay`: how long an admitted request waits before it proceeds. Only a
///   [`Shaper`](crate::Shaper), which queues instead of refusing, ever answers more than zero;
///   a denial's delay is zero.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, Duration};
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
    /// How long an admitted request waits before it proceeds (a shaper's queue); zero otherwise.
    pub delay: Duration<HZ>,
}

impl<const HZ: u64> Decision<HZ> {
    /// An admission that proceeds at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Decision, Duration};
    ///
    /// let d = Decision::<1_000>::allowed(10, 9, Duration::<1_000>::from_secs(6));
    /// assert!(d.is_allowed() && d.delay.as_ticks() == 0);
    /// ```
    pub const fn allowed(limit: u32, remaining: u32, reset: Duration<HZ>) -> Self {
        Self {
            limit,
            remaining,
            reset,
            retry_after: None,
            delay: Duration::<HZ>::from_ticks(0),
        }
    }

    /// A denial that may be retried after `retry_after`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Decision, Duration};
    ///
    /// let d = Decision::<1_000>::denied(10, 0, Duration::<1_000>::from_secs(6), Duration::<1_000>::from_secs(1));
    /// assert_eq!(d.retry_after, Some(Duration::<1_000>::from_secs(1)));
    /// ```
    pub const fn denied(
        limit: u32,
        remaining: u32,
        reset: Duration<HZ>,
        retry_after: Duration<HZ>,
    ) -> Self {
        Self {
            limit,
            remaining,
            reset,
            retry_after: Some(retry_after),
            delay: Duration::<HZ>::from_ticks(0),
        }
    }

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
/// assert_eq!(wait, NotUntil::new(Duration::<1_000>::from_secs(1)));
/// assert_eq!(wait.earliest(t0), Instant::<1_000>::from_ticks(1_000));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotUntil<const HZ: u64> {
    pub(crate) wait: u64,
}

impl<const HZ: u64> NotUntil<HZ> {
    /// A denial that may be retried after `retry_after` (for adapters and stores that decide
    /// elsewhere, such as a server-side script).
    pub const fn new(retry_after: Duration<HZ>) -> Self {
        Self {
            wait: retry_after.as_ticks(),
        }
    }

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
/// # The pure step
///
/// A decision is made in two parts, so that any store can apply it:
///
/// 1. [`step`](Algorithm::step) looks at a state (`&`, never changed) and works out what a
///    request would do: whether it is admitted ([`admits`](Algorithm::admits)) and what it would
///    record. The step is a small `Copy` value.
/// 2. [`record`](Algorithm::record) applies an admitting step to the state it was taken from.
///
/// [`decision`](Algorithm::decision) turns a step into the figures a server reports, either as
/// recorded or as if it had not been (a policy denied by another limit reports every limit
/// without the request). [`check`](Algorithm::check), [`peek`](Algorithm::peek) and
/// [`transition`](Algorithm::transition) are provided on top; a policy decides each of its limits
/// with exactly one step.
///
/// # Contract, for every implementation
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
///
/// # Examples
///
/// The same decision made in place and as a transition between state values:
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Instant, Quota};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(2)?);
/// let now = Instant::<1_000>::from_ticks(0);
/// let before = gcra.new_state();
/// let (decision, after) = gcra.transition(&before, now, 1)?; // `before` is untouched
/// let mut in_place = before;
/// assert_eq!(gcra.check(&mut in_place, now, 1)?, decision);
/// assert_eq!(in_place, after);
///
/// let step = gcra.step(&after, now, 2)?; // look, then decide what to do
/// assert!(!gcra.admits(&step));
/// assert_eq!(gcra.decision(&after, &step, false).retry_after.map(|d| d.as_ticks()), Some(500));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Algorithm<const HZ: u64> {
    /// The per-key state.
    type State;

    /// What one look at a state found: enough to record the request if it is admitted and to
    /// report on it either way. Small and `Copy`; only meaningful with the state it was taken
    /// from.
    type Step: Copy;

    /// A state at rest.
    fn new_state(&self) -> Self::State;

    /// The largest cost that can ever be admitted at once.
    fn capacity(&self) -> u32;

    /// What this limit allows, as its user wrote it.
    fn allowance(&self) -> Allowance<HZ>;

    /// Looks at `state` for a request of `cost` at `now`, changing nothing.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`capacity`](Algorithm::capacity).
    fn step(
        &self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Self::Step, InsufficientCapacity>;

    /// Whether `step` admits its request.
    fn admits(&self, step: &Self::Step) -> bool;

    /// The figures to report for `step`: as recorded when `recorded` is true and the step
    /// admits, else as `state` stands without the request. Unrecorded figures are read from
    /// `state`, which must then still be the state the step was taken from; recorded figures come
    /// from the step alone, so they may be asked before or after [`record`](Algorithm::record).
    fn decision(&self, state: &Self::State, step: &Self::Step, recorded: bool) -> Decision<HZ>;

    /// How long a request that `step` denies must wait: exactly the `retry_after` of its
    /// [`decision`](Algorithm::decision), `None` when the step admits. The default asks the
    /// decision; algorithms that know the wait from the step alone answer without its other
    /// figures (a policy compares waits before it builds any report).
    #[inline]
    fn wait(&self, state: &Self::State, step: &Self::Step) -> Option<Duration<HZ>> {
        if self.admits(step) {
            None
        } else {
            self.decision(state, step, false).retry_after
        }
    }

    /// Records an admitting `step` into `state`, the state it was taken from. Recording a step
    /// that does not admit changes nothing.
    fn record(&self, state: &mut Self::State, step: &Self::Step);

    /// Whether `state` is indistinguishable from a fresh one at `now` and at every later instant.
    fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool;

    /// Whether [`release`](Algorithm::release) of `cost` would succeed, changing nothing.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when more would be released than is held.
    fn can_release(&self, state: &Self::State, cost: u32) -> Result<(), ReleaseError> {
        let _ = (state, cost);
        Ok(())
    }

    /// Gives back `cost` admitted earlier, for limits that count what is in flight.
    ///
    /// Rate limits count a request for its whole window whether or not it has finished, so the
    /// default does nothing and succeeds. A concurrency limit overrides it.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when more is released than is held; the state is then unchanged.
    fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError> {
        self.can_release(state, cost)
    }

    /// Decides a request of `cost` at `now` and records it if admitted.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`capacity`](Algorithm::capacity).
    #[inline]
    fn check(
        &self,
        state: &mut Self::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        let step = self.step(state, now, cost)?;
        let admitted = self.admits(&step);
        let decision = self.decision(state, &step, admitted);
        if admitted {
            self.record(state, &step);
        }
        Ok(decision)
    }

    /// Decides a request of `cost` at `now` without recording it: exactly what
    /// [`check`](Algorithm::check) would answer.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`capacity`](Algorithm::capacity).
    #[inline]
    fn peek(
        &self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        let step = self.step(state, now, cost)?;
        Ok(self.decision(state, &step, self.admits(&step)))
    }

    /// The pure transition: the decision on a request of `cost` at `now`, and the state after
    /// it (a copy of `state` when nothing is recorded). For stores that replace whole states.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`capacity`](Algorithm::capacity).
    fn transition(
        &self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<(Decision<HZ>, Self::State), InsufficientCapacity>
    where
        Self::State: Clone,
    {
        let mut next = state.clone();
        let decision = self.check(&mut next, now, cost)?;
        Ok((decision, next))
    }
}

/// The verdict of a step of the time-based algorithms, with what an admission records or how
/// long a denial waits, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Go {
    /// A cost of zero: admitted, records nothing.
    Free,
    /// Admitted; the state's lead over `now` after recording.
    Admit(u64),
    /// Denied; the exact wait.
    Deny(u64),
}

impl Go {
    /// Whether the step admits (a cost of zero always does).
    #[inline(always)]
    pub(crate) const fn admits(self) -> bool {
        !matches!(self, Self::Deny(_))
    }

    /// The wait of a denial, as a duration.
    #[inline(always)]
    pub(crate) const fn wait<const HZ: u64>(self) -> Option<Duration<HZ>> {
        match self {
            Self::Deny(wait) => Some(Duration::<HZ>::from_ticks(wait)),
            Self::Free | Self::Admit(_) => None,
        }
    }
}

/// Rejects a cost that can never fit.
#[inline(always)]
pub(crate) const fn fits(cost: u32, capacity: u32) -> Result<(), InsufficientCapacity> {
    if cost > capacity {
        Err(InsufficientCapacity::new(cost, capacity))
    } else {
        Ok(())
    }
}
