//! Limits that count nothing: [`Unlimited`], and `None` of an optional limit.

use crate::algorithm::{Algorithm, Allowance, Decision};
use crate::error::{InsufficientCapacity, ReleaseError};
use crate::time::{Duration, Instant};

/// The decision of a limit that counts nothing: `limit` and `remaining` saturate at `u32::MAX`.
/// Headers and overrides tell such a limit by its [`Allowance::Unlimited`], not by these numbers.
const fn unlimited_decision<const HZ: u64>() -> Decision<HZ> {
    Decision::allowed(u32::MAX, u32::MAX, Duration::<HZ>::from_ticks(0))
}

/// A limit that admits everything, such as an API plan's "unlimited per day". Its state is `()`.
///
/// Its [`allowance`](Algorithm::allowance) is [`Allowance::Unlimited`], so headers leave it out
/// and test overrides cannot lower it (there is no count to lower). Its decisions saturate
/// `limit` and `remaining` at `u32::MAX` and have a zero `reset`. Use `None` of an `Option<A>`
/// instead when some plans have the limit and others do not, so that every plan's state has the
/// same type.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Allowance, Unlimited, Instant};
///
/// let d = Algorithm::<1_000>::check(&Unlimited, &mut (), Instant::<1_000>::from_ticks(0), u32::MAX)?;
/// assert!(d.is_allowed() && d.remaining == u32::MAX);
/// assert_eq!(Algorithm::<1_000>::allowance(&Unlimited), Allowance::Unlimited);
/// # Ok::<(), tollgate_core::InsufficientCapacity>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Unlimited;

impl<const HZ: u64> Algorithm<HZ> for Unlimited {
    type State = ();
    type Step = ();

    fn new_state(&self) {}

    fn capacity(&self) -> u32 {
        u32::MAX
    }

    fn allowance(&self) -> Allowance<HZ> {
        Allowance::Unlimited
    }

    #[inline]
    fn step(&self, _state: &(), _now: Instant<HZ>, _cost: u32) -> Result<(), InsufficientCapacity> {
        Ok(())
    }

    #[inline]
    fn admits(&self, _step: &()) -> bool {
        true
    }

    #[inline]
    fn decision(&self, _state: &(), _step: &(), _recorded: bool) -> Decision<HZ> {
        unlimited_decision()
    }

    #[inline]
    fn record(&self, _state: &mut (), _step: &()) {}

    fn is_at_rest(&self, _state: &(), _now: Instant<HZ>) -> bool {
        true
    }
}

/// An optional limit: `Some(a)` is `a`, `None` is [`Unlimited`] with `a`'s state type.
///
/// This lets plans with and without a limit share one policy type and one state type (an
/// Agency plan with no daily limit beside plans that have one). `None` keeps its state at
/// `A::State::default()` forever.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Allowance, Gcra, Quota, Instant};
///
/// let free: Option<Gcra<1_000>> = Some(Gcra::new(Quota::per_day(2_000)?));
/// let agency: Option<Gcra<1_000>> = None;
/// let (mut a, mut b) = (free.new_state(), agency.new_state()); // both GcraState
/// let now = Instant::<1_000>::from_ticks(0);
/// assert_eq!(free.check(&mut a, now, 1)?.remaining, 1_999);
/// assert!(agency.check(&mut b, now, 1)?.is_allowed());
/// assert_eq!(agency.allowance(), Allowance::Unlimited);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<const HZ: u64, A: Algorithm<HZ>> Algorithm<HZ> for Option<A>
where
    A::State: Default,
{
    type State = A::State;
    type Step = Option<A::Step>;

    fn new_state(&self) -> A::State {
        match self {
            Some(a) => a.new_state(),
            None => A::State::default(),
        }
    }

    fn capacity(&self) -> u32 {
        self.as_ref().map_or(u32::MAX, A::capacity)
    }

    fn allowance(&self) -> Allowance<HZ> {
        self.as_ref().map_or(Allowance::Unlimited, A::allowance)
    }

    #[inline]
    fn step(
        &self,
        state: &A::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Option<A::Step>, InsufficientCapacity> {
        match self {
            Some(a) => a.step(state, now, cost).map(Some),
            None => Ok(None),
        }
    }

    #[inline]
    fn admits(&self, step: &Option<A::Step>) -> bool {
        match (self, step) {
            (Some(a), Some(step)) => a.admits(step),
            _ => true,
        }
    }

    #[inline]
    fn decision(&self, state: &A::State, step: &Option<A::Step>, recorded: bool) -> Decision<HZ> {
        match (self, step) {
            (Some(a), Some(step)) => a.decision(state, step, recorded),
            _ => unlimited_decision(),
        }
    }

    #[inline]
    fn record(&self, state: &mut A::State, step: &Option<A::Step>) {
        if let (Some(a), Some(step)) = (self, step) {
            a.record(state, step);
        }
    }

    fn is_at_rest(&self, state: &A::State, now: Instant<HZ>) -> bool {
        self.as_ref().is_none_or(|a| a.is_at_rest(state, now))
    }

    fn can_release(&self, state: &A::State, cost: u32) -> Result<(), ReleaseError> {
        match self {
            Some(a) => a.can_release(state, cost),
            None => Ok(()),
        }
    }

    fn release(&self, state: &mut A::State, cost: u32) -> Result<(), ReleaseError> {
        match self {
            Some(a) => a.release(state, cost),
            None => Ok(()),
        }
    }
}
