//! A concurrency limit: at most `max` units in flight at once.
//!
//! Where the other algorithms count requests over time, this one counts requests that have
//! started and not yet finished, as in an API's "Maximum of 5 concurrent requests at any given
//! time". State is one `u32`, the cost in flight. A request of cost `c` is admitted when
//!
//! ```text
//! in_flight + c ≤ max
//! ```
//!
//! and then `in_flight ← in_flight + c`; finishing it calls [`Concurrency::release`] with the same
//! cost (or [`Concurrency::release_permit`] with the [`Permit`] that [`Concurrency::acquire`]
//! returned), and `in_flight ← in_flight − c`.
//!
//! # Guarantee
//!
//! For a state that starts at rest and changes only through one limiter's methods:
//!
//! - **the cost in flight never exceeds `max`**, and every request that fits
//!   (`in_flight + c ≤ max`) is admitted, so the limit is exact, not approximate;
//! - **a release never underflows**: releasing more than is in flight is a [`ReleaseError`] that
//!   changes nothing;
//! - **nothing admitted is lost or double counted**: the cost in flight is always the admitted
//!   cost minus the released cost.
//!
//! # Time and hints
//!
//! Time plays no part: nothing is ever freed by waiting, only by a release. The `now` that
//! [`Algorithm`] methods take is ignored, so a clock going backwards, standing still or jumping
//! changes nothing.
//!
//! A concurrency limit therefore cannot know when a denied request would fit: that depends on
//! when holders release. A denial carries the configured
//! [`retry_hint`](Concurrency::retry_hint) (one second unless set with
//! [`with_retry_hint`](Concurrency::with_retry_hint)) as its `retry_after`. Unlike the other
//! algorithms' `retry_after`, **the hint is not exact**: the request may fit sooner (a release)
//! or later (nothing released yet). Likewise a [`Decision`]'s `reset` is the hint whenever
//! anything is in flight, and zero at rest.
//!
//! # Permits
//!
//! [`Concurrency::acquire`] and [`Concurrency::try_acquire`] answer with a [`Permit`] that records
//! the cost taken, so the holder releases exactly that. A permit is plain data: it has no `Drop`
//! and no reference to the limiter or the state (core never guesses where the state lives, nor
//! locks it). Dropping a permit without releasing it keeps its slots taken for good; releasing it
//! into another limiter's state is a logic error this type cannot catch. The permit is neither
//! `Clone` nor `Copy`, so one permit is released at most once. Adapters can build guards that
//! release on drop on top of it.
//!
//! [`Algorithm::check`] admits without a permit; its caller knows the cost it passed and releases
//! it with [`Concurrency::release`].

use crate::algorithm::{Algorithm, Allowance, Decision, NotUntil, fits};
use crate::error::{ConfigError, InsufficientCapacity, ReleaseError};
use crate::time::{Duration, Instant};

/// Concurrency-limit configuration: the most in flight, and the retry hint given on denial.
/// Shared, immutable, `const`-built.
///
/// # Examples
///
/// "Maximum of 5 concurrent requests at any given time":
///
/// ```
/// use tollgate_core::{Concurrency, Duration};
///
/// static CONCURRENT: Concurrency<1_000> = match Concurrency::new(5) {
///     Ok(c) => c.with_retry_hint(Duration::<1_000>::from_millis(250)),
///     Err(_) => panic!("invalid limit"), // a compile-time error, never a run-time panic
/// };
/// let mut s = CONCURRENT.new_state();
/// let held: Vec<_> = (0..5).map(|_| CONCURRENT.try_acquire(&mut s).unwrap()).collect();
/// let busy = CONCURRENT.try_acquire(&mut s).unwrap_err();
/// assert_eq!(busy.retry_after(), Duration::<1_000>::from_millis(250)); // a hint, not a promise
/// for p in held {
///     CONCURRENT.release_permit(&mut s, p)?;
/// }
/// assert_eq!(s.in_flight(), 0);
/// # Ok::<(), tollgate_core::ReleaseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Concurrency<const HZ: u64> {
    max: u32,
    /// The retry hint, in ticks.
    hint: u64,
}

/// Concurrency-limit state: the cost in flight. Four bytes, `Copy`, zero when fresh.
///
/// Store it anywhere: [`to_raw`](ConcurrencyState::to_raw) and
/// [`from_raw`](ConcurrencyState::from_raw) give the `u32`. A state holding more than the limit's
/// `max` (say, restored under a lowered limit) admits nothing until releases bring it back under.
///
/// # Examples
///
/// ```
/// use tollgate_core::ConcurrencyState;
///
/// let s = ConcurrencyState::from_raw(3);
/// assert_eq!((s.in_flight(), s.to_raw()), (3, 3));
/// assert_eq!(ConcurrencyState::new(), ConcurrencyState::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConcurrencyState {
    in_flight: u32,
}

impl ConcurrencyState {
    /// A fresh state: nothing in flight.
    pub const fn new() -> Self {
        Self { in_flight: 0 }
    }

    /// A state from its stored cost in flight.
    pub const fn from_raw(in_flight: u32) -> Self {
        Self { in_flight }
    }

    /// The cost in flight, for storage.
    pub const fn to_raw(self) -> u32 {
        self.in_flight
    }

    /// The cost in flight: admitted and not yet released.
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

/// A record of one admission: the cost to release when the work is done.
///
/// Plain data, with no `Drop`: dropping a permit does **not** release it, and its slots stay
/// taken. Hand it back to [`Concurrency::release_permit`] on the state it came from. It is neither
/// `Clone` nor `Copy`, so it can be released at most once.
///
/// # Examples
///
/// ```
/// use tollgate_core::Concurrency;
///
/// let limit = Concurrency::<1_000>::new(5)?;
/// let mut s = limit.new_state();
/// let permit = limit.acquire(&mut s, 3)?.expect("3 of 5 fit");
/// assert_eq!((permit.cost(), s.in_flight()), (3, 3));
/// limit.release_permit(&mut s, permit)?;
/// assert_eq!(s.in_flight(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a permit holds its slots until released; dropping it does not release them"]
pub struct Permit {
    cost: u32,
}

impl Permit {
    /// The cost this permit holds, which releasing it frees.
    pub const fn cost(&self) -> u32 {
        self.cost
    }
}

impl<const HZ: u64> Concurrency<HZ> {
    /// At most `max` units in flight, with a retry hint of one second (`HZ` ticks).
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroLimit`] when `max` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Concurrency, ConfigError, Duration};
    ///
    /// let c = Concurrency::<32_768>::new(5)?;
    /// assert_eq!((c.max(), c.retry_hint()), (5, Duration::<32_768>::from_secs(1)));
    /// assert_eq!(Concurrency::<32_768>::new(0), Err(ConfigError::ZeroLimit));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub const fn new(max: u32) -> Result<Self, ConfigError> {
        if max == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        Ok(Self { max, hint: HZ })
    }

    /// The same limit with a different retry hint: the `retry_after` of every denial, and the
    /// `reset` of every decision while anything is in flight.
    ///
    /// Pick roughly how long a request takes to serve. A zero hint is allowed, but tells waiting
    /// callers to retry at once, so they poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Instant, Algorithm, Concurrency, Duration};
    ///
    /// let c = Concurrency::<1_000>::new(2)?.with_retry_hint(Duration::<1_000>::from_millis(50));
    /// let mut s = c.new_state();
    /// assert_eq!(c.check(&mut s, Instant::from_ticks(0), 2)?.reset, Duration::<1_000>::from_millis(50));
    /// assert_eq!(c.check(&mut s, Instant::from_ticks(0), 1)?.retry_after, Some(Duration::<1_000>::from_millis(50)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn with_retry_hint(self, hint: Duration<HZ>) -> Self {
        Self {
            hint: hint.as_ticks(),
            ..self
        }
    }

    /// The most cost in flight at once.
    pub const fn max(&self) -> u32 {
        self.max
    }

    /// The retry hint given on denial (not an exact wait: see the [module docs](self)).
    pub const fn retry_hint(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.hint)
    }

    /// A state at rest: nothing in flight.
    pub const fn new_state(&self) -> ConcurrencyState {
        ConcurrencyState::new()
    }

    /// The fast path: admit one unit at once, or deny with the retry hint.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] carrying the [`retry_hint`](Self::retry_hint) when `max` units are already in
    /// flight; the state is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::Concurrency;
    ///
    /// let c = Concurrency::<1_000>::new(1)?;
    /// let mut s = c.new_state();
    /// let p = c.try_acquire(&mut s).expect("the only slot is free");
    /// assert!(c.try_acquire(&mut s).is_err());
    /// c.release_permit(&mut s, p)?;
    /// assert!(c.try_acquire(&mut s).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self, state: &mut ConcurrencyState) -> Result<Permit, NotUntil<HZ>> {
        match self.admit(state.in_flight, 1) {
            Some(next) => {
                state.in_flight = next;
                Ok(Permit { cost: 1 })
            }
            None => Err(self.busy()),
        }
    }

    /// Admits `cost` units at once if they fit, recording them and answering with the permit to
    /// release.
    ///
    /// A cost of zero is always admitted, records nothing, and gives a permit of zero.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds [`max`](Self::max); otherwise `Ok` of either
    /// the [`Permit`] or, when the cost does not fit beside what is in flight, a [`NotUntil`]
    /// carrying the [`retry_hint`](Self::retry_hint), with the state unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Concurrency, InsufficientCapacity};
    ///
    /// let c = Concurrency::<1_000>::new(5)?;
    /// let mut s = c.new_state();
    /// let big = c.acquire(&mut s, 4)?.expect("4 of 5 fit");
    /// assert!(c.acquire(&mut s, 2)?.is_err()); // 4 + 2 > 5: busy, try later
    /// assert_eq!(c.acquire(&mut s, 6).unwrap_err(), InsufficientCapacity::new(6, 5));
    /// assert_eq!(s.in_flight(), 4);
    /// c.release_permit(&mut s, big)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn acquire(
        &self,
        state: &mut ConcurrencyState,
        cost: u32,
    ) -> Result<Result<Permit, NotUntil<HZ>>, InsufficientCapacity> {
        fits(cost, self.max)?;
        if cost == 0 {
            return Ok(Ok(Permit { cost }));
        }
        Ok(match self.admit(state.in_flight, cost) {
            Some(next) => {
                state.in_flight = next;
                Ok(Permit { cost })
            }
            None => Err(self.busy()),
        })
    }

    /// Frees exactly what `permit` took, consuming it.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when the permit holds more than is in flight, which happens only if the
    /// state was released past its permits or the permit came from another state; nothing
    /// changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Concurrency, Algorithm, Instant};
    ///
    /// let c = Concurrency::<1_000>::new(2)?;
    /// let mut s = c.new_state();
    /// let p = c.try_acquire(&mut s).expect("a slot is free");
    /// c.release_permit(&mut s, p)?;
    /// assert!(c.is_at_rest(&s, Instant::from_ticks(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn release_permit(
        &self,
        state: &mut ConcurrencyState,
        permit: Permit,
    ) -> Result<(), ReleaseError> {
        Algorithm::<HZ>::release(self, state, permit.cost)
    }

    /// The cost in flight after admitting `cost`, or `None` if it does not fit.
    #[inline(always)]
    fn admit(&self, in_flight: u32, cost: u32) -> Option<u32> {
        match in_flight.checked_add(cost) {
            Some(next) if next <= self.max => Some(next),
            _ => None,
        }
    }

    #[inline(always)]
    fn busy(&self) -> NotUntil<HZ> {
        NotUntil { wait: self.hint }
    }

    /// The decision and, if admitted with a non-zero cost, the new cost in flight.
    fn figures(&self, in_flight: u32, denied: bool) -> Decision<HZ> {
        let hint = Duration::<HZ>::from_ticks(self.hint);
        Decision {
            limit: self.max,
            remaining: self.max.saturating_sub(in_flight),
            reset: if in_flight == 0 {
                Duration::<HZ>::from_ticks(0)
            } else {
                hint
            },
            retry_after: if denied { Some(hint) } else { None },
            delay: Duration::<HZ>::from_ticks(0),
        }
    }
}

/// What one look at a concurrency limit found: what is in flight, and what would be after the
/// request (`None` when it does not fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConcurrencyStep {
    in_flight: u32,
    after: Option<u32>,
}

impl<const HZ: u64> Algorithm<HZ> for Concurrency<HZ> {
    type State = ConcurrencyState;
    type Step = ConcurrencyStep;

    fn new_state(&self) -> ConcurrencyState {
        ConcurrencyState::new()
    }

    fn capacity(&self) -> u32 {
        self.max
    }

    fn allowance(&self) -> Allowance<HZ> {
        Allowance::InFlight { count: self.max }
    }

    /// Looks at what is in flight for a request of `cost`; `now` plays no part.
    #[inline]
    fn step(
        &self,
        state: &ConcurrencyState,
        _now: Instant<HZ>,
        cost: u32,
    ) -> Result<ConcurrencyStep, InsufficientCapacity> {
        fits(cost, self.max)?;
        let after = if cost == 0 {
            Some(state.in_flight) // asks for the figures only
        } else {
            self.admit(state.in_flight, cost)
        };
        Ok(ConcurrencyStep {
            in_flight: state.in_flight,
            after,
        })
    }

    #[inline]
    fn admits(&self, step: &ConcurrencyStep) -> bool {
        step.after.is_some()
    }

    #[inline]
    fn wait(&self, _state: &ConcurrencyState, step: &ConcurrencyStep) -> Option<Duration<HZ>> {
        step.after
            .is_none()
            .then(|| Duration::<HZ>::from_ticks(self.hint))
    }

    #[inline]
    fn decision(
        &self,
        _state: &ConcurrencyState,
        step: &ConcurrencyStep,
        recorded: bool,
    ) -> Decision<HZ> {
        match step.after {
            Some(after) if recorded => self.figures(after, false),
            Some(_) => self.figures(step.in_flight, false),
            None => self.figures(step.in_flight, true),
        }
    }

    #[inline]
    fn record(&self, state: &mut ConcurrencyState, step: &ConcurrencyStep) {
        if let Some(after) = step.after {
            state.in_flight = after;
        }
    }

    /// Whether nothing is in flight, so `state` decides every request like a fresh one; `now`
    /// plays no part.
    fn is_at_rest(&self, state: &ConcurrencyState, _now: Instant<HZ>) -> bool {
        state.in_flight == 0
    }

    fn can_release(&self, state: &ConcurrencyState, cost: u32) -> Result<(), ReleaseError> {
        if cost > state.in_flight {
            Err(ReleaseError {
                released: cost,
                in_flight: state.in_flight,
            })
        } else {
            Ok(())
        }
    }

    /// Frees `cost` units that were admitted earlier.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when `cost` is more than is in flight; the state is then unchanged, so a
    /// double release can never make room that was not freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Instant, Algorithm, Concurrency, ReleaseError};
    ///
    /// let c = Concurrency::<1_000>::new(5)?;
    /// let mut s = c.new_state();
    /// c.check(&mut s, Instant::from_ticks(0), 2)?;
    /// assert_eq!(c.release(&mut s, 3), Err(ReleaseError { released: 3, in_flight: 2 }));
    /// assert_eq!(s.in_flight(), 2);
    /// c.release(&mut s, 2)?;
    /// assert_eq!(s.in_flight(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn release(&self, state: &mut ConcurrencyState, cost: u32) -> Result<(), ReleaseError> {
        Algorithm::<HZ>::can_release(self, state, cost)?;
        state.in_flight = state.in_flight.saturating_sub(cost);
        Ok(())
    }
}

impl crate::codec::Codec for ConcurrencyState {
    fn encoded_len(&self) -> usize {
        crate::codec::OVERHEAD.saturating_add(4)
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, crate::codec::CodecError> {
        crate::codec::write_record(out, crate::codec::kind::CONCURRENCY, 4, |w| {
            w.u32(self.in_flight);
        })
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        let (mut r, n) = crate::codec::read_record(bytes, crate::codec::kind::CONCURRENCY)?;
        r.u32()?;
        r.finish()?;
        Ok(n)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        let (mut r, n) = crate::codec::read_record(bytes, crate::codec::kind::CONCURRENCY)?;
        let in_flight = r.u32()?;
        r.finish()?;
        self.in_flight = in_flight;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type D = Duration<1_000>;
    type I = Instant<1_000>;

    fn five() -> Concurrency<1_000> {
        Concurrency::new(5).unwrap()
    }

    #[test]
    fn the_trait_release_gives_back_what_was_acquired() {
        let c = five();
        let mut s = c.new_state();
        Algorithm::<1_000>::check(&c, &mut s, I::from_ticks(0), 3).unwrap();
        assert_eq!(
            Algorithm::<1_000>::release(&c, &mut s, 4),
            Err(ReleaseError {
                released: 4,
                in_flight: 3
            })
        );
        assert_eq!(Algorithm::<1_000>::release(&c, &mut s, 3), Ok(()));
        assert!(c.is_at_rest(&s, I::from_ticks(0)));
    }

    #[test]
    fn a_zero_limit_is_a_config_error() {
        assert_eq!(Concurrency::<1_000>::new(0), Err(ConfigError::ZeroLimit));
    }

    #[test]
    fn the_default_hint_is_one_second_at_every_tick_rate() {
        assert_eq!(five().retry_hint(), D::from_secs(1));
        assert_eq!(
            Concurrency::<1_000_000_000>::new(1).unwrap().retry_hint(),
            Duration::<1_000_000_000>::from_secs(1)
        );
        assert_eq!(Concurrency::<1>::new(1).unwrap().retry_hint().as_ticks(), 1);
    }

    #[test]
    fn seed_000_admits_five_concurrent_requests_and_denies_the_sixth() {
        let c = five().with_retry_hint(D::from_millis(100));
        let mut s = c.new_state();
        let held: [Permit; 5] = core::array::from_fn(|_| c.try_acquire(&mut s).unwrap());
        assert_eq!(s.in_flight(), 5);
        let d = c.check(&mut s, I::from_ticks(0), 1).unwrap();
        assert_eq!(
            d,
            Decision {
                limit: 5,
                remaining: 0,
                reset: D::from_millis(100),
                retry_after: Some(D::from_millis(100)),
                delay: D::from_ticks(0),
            }
        );
        assert_eq!(s.in_flight(), 5);
        for p in held {
            c.release_permit(&mut s, p).unwrap();
        }
        assert!(c.is_at_rest(&s, I::from_ticks(0)));
    }

    #[test]
    fn decisions_report_limit_remaining_reset_and_hint() {
        let c = five().with_retry_hint(D::from_millis(40));
        let mut s = c.new_state();
        assert_eq!(
            c.peek(&s, I::from_ticks(0), 0).unwrap(),
            Decision {
                limit: 5,
                remaining: 5,
                reset: D::from_ticks(0),
                retry_after: None,
                delay: D::from_ticks(0),
            }
        );
        assert_eq!(
            c.check(&mut s, I::from_ticks(0), 3).unwrap(),
            Decision {
                limit: 5,
                remaining: 2,
                reset: D::from_millis(40),
                retry_after: None,
                delay: D::from_ticks(0),
            }
        );
        assert_eq!(
            c.check(&mut s, I::from_ticks(0), 3).unwrap(),
            Decision {
                limit: 5,
                remaining: 2,
                reset: D::from_millis(40),
                retry_after: Some(D::from_millis(40)),
                delay: D::from_ticks(0),
            }
        );
        assert_eq!(c.check(&mut s, I::from_ticks(0), 2).unwrap().remaining, 0);
        assert_eq!(s.in_flight(), 5);
    }

    #[test]
    fn a_cost_above_the_limit_is_an_error_not_a_denial() {
        let c = five();
        let mut s = c.new_state();
        let too_big = InsufficientCapacity::new(6, 5);
        assert_eq!(c.check(&mut s, I::from_ticks(0), 6), Err(too_big));
        assert_eq!(c.peek(&s, I::from_ticks(0), 6), Err(too_big));
        assert_eq!(c.acquire(&mut s, 6), Err(too_big));
        assert_eq!(c.acquire(&mut s, u32::MAX).unwrap_err().cost, u32::MAX);
        assert!(c.is_at_rest(&s, I::from_ticks(0)));
    }

    #[test]
    fn a_zero_cost_is_admitted_and_records_nothing_even_when_full() {
        let c = five();
        let mut s = ConcurrencyState::from_raw(7); // even above the limit
        assert!(c.check(&mut s, I::from_ticks(0), 0).unwrap().is_allowed());
        let p = c.acquire(&mut s, 0).unwrap().unwrap();
        assert_eq!((p.cost(), s.in_flight()), (0, 7));
        c.release_permit(&mut s, p).unwrap();
        assert_eq!(s.in_flight(), 7);
    }

    #[test]
    fn releasing_more_than_in_flight_is_an_error_that_changes_nothing() {
        let c = five();
        let mut s = c.new_state();
        assert_eq!(
            c.release(&mut s, 1),
            Err(ReleaseError {
                released: 1,
                in_flight: 0
            })
        );
        c.check(&mut s, I::from_ticks(0), 2).unwrap();
        assert_eq!(
            c.release(&mut s, u32::MAX),
            Err(ReleaseError {
                released: u32::MAX,
                in_flight: 2
            })
        );
        assert_eq!(s.in_flight(), 2);
        assert_eq!(c.release(&mut s, 0), Ok(()));
        assert_eq!(s.in_flight(), 2);
    }

    #[test]
    fn a_released_permit_frees_exactly_its_cost() {
        let c = five();
        let mut s = c.new_state();
        let a = c.acquire(&mut s, 2).unwrap().unwrap();
        let b = c.acquire(&mut s, 3).unwrap().unwrap();
        c.release_permit(&mut s, a).unwrap();
        assert_eq!(s.in_flight(), 3);
        assert!(c.acquire(&mut s, 3).unwrap().is_err());
        c.release_permit(&mut s, b).unwrap();
        assert!(c.is_at_rest(&s, I::from_ticks(0)));
    }

    #[test]
    fn a_state_above_a_lowered_limit_admits_nothing_until_released_under_it() {
        let c = Concurrency::<1_000>::new(2).unwrap();
        let mut s = ConcurrencyState::from_raw(u32::MAX);
        assert!(c.try_acquire(&mut s).is_err());
        let d = c.check(&mut s, I::from_ticks(0), 1).unwrap();
        assert_eq!((d.remaining, d.is_denied()), (0, true));
        c.release(&mut s, u32::MAX - 1).unwrap();
        assert!(c.try_acquire(&mut s).is_ok());
        assert_eq!(s.in_flight(), 2);
    }

    #[test]
    fn time_plays_no_part_in_the_algorithm_trait() {
        let c = five();
        let mut s = c.new_state();
        let late = Algorithm::check(&c, &mut s, I::from_ticks(u64::MAX), 4).unwrap();
        let early = Algorithm::peek(&c, &s, I::from_ticks(0), 1).unwrap();
        assert!(late.is_allowed() && early.is_allowed());
        assert_eq!(early, c.peek(&s, I::from_ticks(0), 1).unwrap());
        assert!(!Algorithm::is_at_rest(&c, &s, I::from_ticks(u64::MAX)));
        assert_eq!(Algorithm::capacity(&c), 5);
        c.release(&mut s, 4).unwrap();
        assert!(Algorithm::is_at_rest(&c, &s, I::from_ticks(0)));
        assert_eq!(Algorithm::new_state(&c), s);
    }

    #[test]
    fn a_zero_hint_denies_with_a_zero_wait() {
        let c = Concurrency::<1_000>::new(1)
            .unwrap()
            .with_retry_hint(D::from_ticks(0));
        let mut s = c.new_state();
        let _held = c.try_acquire(&mut s).unwrap();
        let d = c.check(&mut s, I::from_ticks(0), 1).unwrap();
        assert!(d.is_denied());
        assert_eq!(d.retry_after, Some(D::from_ticks(0)));
    }
}
