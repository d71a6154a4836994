//! GCRA, the generic cell rate algorithm (virtual scheduling form).
//!
//! State is one `u64`: the theoretical arrival time `tat` of the next request if requests arrived
//! exactly one emission interval `T` apart. A request of cost `c` at `t` is admitted when
//!
//! ```text
//! max(tat, t) + c·T − t ≤ b·T          (b = burst; τ = (b − 1)·T is the tolerance)
//! ```
//!
//! and then `tat ← max(tat, t) + c·T`. No division and no clock read happens on the decision path;
//! [`Gcra::try_acquire`] is the branch-light fast path, [`Gcra::check`] adds the full
//! [`Decision`] (its `remaining` costs one division).
//!
//! # Guarantee
//!
//! For a quota of interval `T` and burst `b`, with `now` values that never go backwards: **in
//! every closed interval of length `d`, the admitted cost is at most `b + ⌊d / T⌋`**. Exactly: a
//! request is admitted iff, for every earlier admitted request at `tⱼ`, the cost admitted since
//! `tⱼ` (from `tⱼ` on, including this one) stays within `b + ⌊(t − tⱼ) / T⌋`. A denied request
//! is admitted after exactly its `retry_after`, and not one tick sooner, if nothing else arrives.
//!
//! A `now` earlier than one already seen is decided as at that earlier instant. Short of the end
//! of time (below), that is never more permissive than deciding at the later one, because
//! `max(tat, t) − t` only grows as `t` goes back. Once a request has been admitted at the later
//! instant, or denied there for want of slack, `tat` is past it, so an admitted request is charged
//! exactly as it would have been then. (A peek or a zero-cost check records nothing, so it does
//! not move the schedule.)
//!
//! Near the end of time (within `b·T` ticks of `u64::MAX`) requests whose schedule would
//! overflow are denied, never wrapped. Such a request can never be admitted: its `retry_after` is
//! the wait until the end of time, and `remaining` counts only what the schedule can still hold.

use crate::algorithm::{Algorithm, Allowance, Decision, Go, NotUntil, fits};
use crate::error::InsufficientCapacity;
use crate::quota::Quota;
use crate::time::{Duration, Instant};

/// GCRA configuration: the emission interval and the burst. Shared, immutable, `const`-built.
///
/// # Examples
///
/// An API's steady advice, "at most 1 request per second", against a quota of 900 per 15
/// minutes with a burst of 5:
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Duration};
///
/// let gcra = Gcra::new(Quota::<1_000>::new(900, Duration::<1_000>::from_secs(900))?.with_burst(5)?);
/// let mut s = gcra.new_state();
/// for second in 0..10_000u64 {
///     assert_eq!(gcra.try_acquire(&mut s, Instant::<1_000>::from_ticks(second * 1_000)), Ok(()));
/// }
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gcra<const HZ: u64> {
    quota: Quota<HZ>,
    /// Emission interval `T`, in ticks.
    t: u64,
    /// Tolerance `τ = (b − 1)·T`, in ticks.
    tau: u64,
    /// `b·T`, in ticks.
    bt: u64,
}

/// GCRA state: the theoretical arrival time, in ticks. Eight bytes, `Copy`, zero when fresh.
///
/// Store it anywhere: [`to_raw`](GcraState::to_raw) and [`from_raw`](GcraState::from_raw) give the
/// `u64`.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, GcraState, Quota, Instant};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(1)?);
/// let mut s = GcraState::new();
/// assert_eq!(s, GcraState::default());
/// gcra.try_acquire(&mut s, Instant::<1_000>::from_ticks(5_000)).unwrap();
/// let stored = s.to_raw(); // the next request is on schedule at 6 s
/// assert_eq!(stored, 6_000);
/// assert_eq!(GcraState::from_raw(stored), s);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GcraState {
    tat: u64,
}

impl GcraState {
    /// A fresh state, at rest at every instant.
    pub const fn new() -> Self {
        Self { tat: 0 }
    }

    /// A state from its stored theoretical arrival time.
    pub const fn from_raw(tat: u64) -> Self {
        Self { tat }
    }

    /// The theoretical arrival time, in ticks, for storage.
    pub const fn to_raw(self) -> u64 {
        self.tat
    }
}

impl<const HZ: u64> Gcra<HZ> {
    /// A GCRA limiter enforcing `quota` (its interval and burst).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Quota, Instant};
    ///
    /// let q = Quota::<1_000>::per_second(4)?; // one per 250 ms, burst 4
    /// let gcra = Gcra::new(q);
    /// assert_eq!(gcra.quota(), q);
    /// assert!(gcra.is_at_rest(&gcra.new_state(), Instant::<1_000>::from_ticks(0)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new(quota: Quota<HZ>) -> Self {
        let t = quota.interval().as_ticks();
        let bt = quota.burst_ticks();
        Self {
            quota,
            t,
            tau: bt.saturating_sub(t),
            bt,
        }
    }

    /// The quota this limiter enforces.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Quota, Duration};
    ///
    /// let gcra = Gcra::new(Quota::<1_000>::per_minute(300)?.with_burst(5)?);
    /// assert_eq!((gcra.quota().interval(), gcra.quota().burst()), (Duration::<1_000>::from_millis(200), 5));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn quota(&self) -> Quota<HZ> {
        self.quota
    }

    /// A state at rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, GcraState, Quota};
    ///
    /// let gcra = Gcra::new(Quota::<1_000>::per_second(1)?);
    /// assert_eq!(gcra.new_state(), GcraState::new());
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new_state(&self) -> GcraState {
        GcraState::new()
    }

    /// The fast path: admit one unit-cost request at `now` or say how long to wait.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] with the exact wait when denied; the state is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Quota, Instant, Duration};
    ///
    /// let gcra = Gcra::new(Quota::<1_000>::per_second(2)?); // burst 2, one per 500 ms
    /// let mut s = gcra.new_state();
    /// let t0 = Instant::<1_000>::from_ticks(0);
    /// assert_eq!(gcra.try_acquire(&mut s, t0), Ok(()));
    /// assert_eq!(gcra.try_acquire(&mut s, t0), Ok(()));
    /// let wait = gcra.try_acquire(&mut s, t0).unwrap_err();
    /// assert_eq!(wait.retry_after(), Duration::<1_000>::from_millis(500));
    /// assert!(gcra.try_acquire(&mut s, Instant::<1_000>::from_ticks(499)).is_err());
    /// assert_eq!(gcra.try_acquire(&mut s, wait.earliest(t0)), Ok(()));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self, state: &mut GcraState, now: Instant<HZ>) -> Result<(), NotUntil<HZ>> {
        let t = now.as_ticks();
        let tat = if state.tat > t { state.tat } else { t };
        // tat ≥ t, so the difference is exact.
        let ahead = tat.wrapping_sub(t);
        let next = tat.checked_add(self.t);
        if ahead <= self.tau
            && let Some(next) = next
        {
            state.tat = next;
            return Ok(());
        }
        // As `wait(ahead, T, t)`, with `t + ahead + T` being `tat + T`.
        Err(NotUntil {
            wait: match next {
                Some(_) => ahead.saturating_add(self.t).saturating_sub(self.bt),
                None => u64::MAX.saturating_sub(t),
            },
        })
    }

    /// Looks at `tat` for a request of `cost` at `t`.
    #[inline(always)]
    fn look(&self, tat: u64, t: u64, cost: u32) -> Result<GcraStep, InsufficientCapacity> {
        fits(cost, self.quota.burst())?;
        let ahead = tat.saturating_sub(t);
        // cost ≤ burst, so cost·T ≤ b·T, which was checked not to overflow.
        let charge = self.t.saturating_mul(u64::from(cost));
        let go = if cost == 0 {
            Go::Free
        } else {
            // Checked, not saturating: with `b·T = u64::MAX` a saturated sum would pass the test.
            match ahead.checked_add(charge) {
                Some(after) if after <= self.bt && t.checked_add(after).is_some() => {
                    Go::Admit(after)
                }
                _ => Go::Deny(self.wait(ahead, charge, t)),
            }
        };
        Ok(GcraStep { t, ahead, go })
    }

    /// The wait until `ahead + charge ≤ b·T`, or until the end of time if the schedule cannot
    /// hold the request even then (`tat + charge` overflows).
    #[inline(always)]
    fn wait(&self, ahead: u64, charge: u64, t: u64) -> u64 {
        match ahead.checked_add(charge).and_then(|a| t.checked_add(a)) {
            Some(_) => ahead.saturating_add(charge).saturating_sub(self.bt),
            None => u64::MAX.saturating_sub(t),
        }
    }

    /// The decision at `t` with the schedule `ahead` of it (`t + ahead` never overflows).
    fn figures(&self, ahead: u64, t: u64, retry: Option<u64>) -> Decision<HZ> {
        Decision {
            limit: self.quota.burst(),
            // Unit requests fit while the schedule stays within `b·T` and before the end of time.
            remaining: units_that_fit(self.bt, ahead, t, self.t),
            reset: Duration::<HZ>::from_ticks(ahead),
            retry_after: retry.map(Duration::<HZ>::from_ticks),
            delay: Duration::<HZ>::from_ticks(0),
        }
    }
}

/// What one GCRA look found: the schedule's lead over `now` and the verdict.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Instant, Quota};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(1)?);
/// let mut s = gcra.new_state();
/// let step = gcra.step(&s, Instant::<1_000>::from_ticks(0), 1)?;
/// assert!(gcra.admits(&step));
/// gcra.record(&mut s, &step);
/// assert_eq!(s.to_raw(), 1_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GcraStep {
    t: u64,
    ahead: u64,
    go: Go,
}

/// How many unit requests of `t` ticks each still fit at `now` when `used` ticks of a schedule of
/// `cap` ticks are taken: the schedule must stay within `cap` and end by the end of time, so this
/// is `⌊min(cap − used, u64::MAX − now − used) / t⌋`, every step saturating, and the count
/// saturates at `u32::MAX` (`t` is at least one tick for every valid quota).
///
/// The `remaining` of [`Gcra`], of the leaky-bucket [`Meter`](crate::Meter) and of the
/// [`Shaper`](crate::Shaper).
#[inline(always)]
pub(crate) fn units_that_fit(cap: u64, used: u64, now: u64, t: u64) -> u32 {
    let room = cap
        .saturating_sub(used)
        .min(u64::MAX.saturating_sub(now).saturating_sub(used));
    u32::try_from(room.checked_div(t).unwrap_or(0)).unwrap_or(u32::MAX)
}

impl<const HZ: u64> Algorithm<HZ> for Gcra<HZ> {
    type State = GcraState;
    type Step = GcraStep;

    fn new_state(&self) -> GcraState {
        GcraState::new()
    }

    fn capacity(&self) -> u32 {
        self.quota.burst()
    }

    fn allowance(&self) -> Allowance<HZ> {
        self.quota.allowance()
    }

    #[inline]
    fn step(
        &self,
        state: &GcraState,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<GcraStep, InsufficientCapacity> {
        self.look(state.tat, now.as_ticks(), cost)
    }

    #[inline]
    fn admits(&self, step: &GcraStep) -> bool {
        step.go.admits()
    }

    #[inline]
    fn wait(&self, _state: &GcraState, step: &GcraStep) -> Option<Duration<HZ>> {
        step.go.wait()
    }

    #[inline]
    fn decision(&self, _state: &GcraState, step: &GcraStep, recorded: bool) -> Decision<HZ> {
        match step.go {
            Go::Admit(after) if recorded => self.figures(after, step.t, None),
            Go::Deny(wait) => self.figures(step.ahead, step.t, Some(wait)),
            Go::Free | Go::Admit(_) => self.figures(step.ahead, step.t, None),
        }
    }

    #[inline]
    fn record(&self, state: &mut GcraState, step: &GcraStep) {
        if let Go::Admit(after) = step.go {
            // `t + after` was checked to fit when the step was taken.
            state.tat = step.t.saturating_add(after);
        }
    }

    /// Whether `state` is at rest at `now` (and so at every later instant): its theoretical
    /// arrival time has passed.
    fn is_at_rest(&self, state: &GcraState, now: Instant<HZ>) -> bool {
        state.tat <= now.as_ticks()
    }
}

crate::codec::u64_codec!(GcraState, crate::codec::kind::GCRA, tat);

#[cfg(test)]
mod tests {
    use super::*;

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let g = Gcra::new(
            Quota::<1_000>::per_minute(300)
                .unwrap()
                .with_burst(5)
                .unwrap(),
        );
        let mut s = g.new_state();
        for _ in 0..5 {
            assert_eq!(g.try_acquire(&mut s, at(0)), Ok(()));
        }
        assert_eq!(
            g.try_acquire(&mut s, at(0)).unwrap_err().retry_after(),
            D::from_millis(200)
        );
        assert!(g.try_acquire(&mut s, at(199)).is_err());
        assert_eq!(g.try_acquire(&mut s, at(200)), Ok(()));
    }

    #[test]
    fn decisions_report_limit_remaining_reset_and_retry() {
        let g = Gcra::new(Quota::<1_000>::per_second(4).unwrap()); // T = 250 ms, b = 4
        let mut s = g.new_state();
        let d = g.check(&mut s, at(1_000), 3).unwrap();
        assert_eq!(
            d,
            Decision {
                limit: 4,
                remaining: 1,
                reset: D::from_millis(750),
                retry_after: None,
                delay: D::from_ticks(0),
            }
        );
        let d = g.check(&mut s, at(1_100), 2).unwrap();
        // ahead = 650 ms; 2 units need 500 ms more but only 350 ms of slack: wait 150 ms.
        assert_eq!(
            d,
            Decision {
                limit: 4,
                remaining: 1,
                reset: D::from_millis(650),
                retry_after: Some(D::from_millis(150)),
                delay: D::from_ticks(0),
            }
        );
        assert!(g.check(&mut s, at(1_249), 2).unwrap().is_denied());
        assert!(g.check(&mut s, at(1_250), 2).unwrap().is_allowed());
    }

    #[test]
    fn a_cost_above_the_burst_is_an_error_not_a_denial() {
        let g = Gcra::new(Quota::<1_000>::per_second(4).unwrap());
        let mut s = g.new_state();
        assert_eq!(
            g.check(&mut s, at(0), 5),
            Err(InsufficientCapacity::new(5, 4))
        );
        assert_eq!(
            g.peek(&s, at(0), u32::MAX),
            Err(InsufficientCapacity::new(u32::MAX, 4))
        );
        assert_eq!(s, GcraState::new());
    }

    #[test]
    fn a_zero_cost_is_admitted_and_records_nothing() {
        let g = Gcra::new(Quota::<1_000>::per_second(1).unwrap());
        let mut s = g.new_state();
        g.check(&mut s, at(500), 1).unwrap();
        let before = s;
        let d = g.check(&mut s, at(0), 0).unwrap(); // even with a backwards clock
        assert!(d.is_allowed());
        assert_eq!((d.remaining, s), (0, before));
    }

    #[test]
    fn a_backwards_clock_never_opens_the_gate() {
        let g = Gcra::new(Quota::<1_000>::per_second(1).unwrap());
        let mut s = g.new_state();
        assert!(g.try_acquire(&mut s, at(10_000)).is_ok());
        assert!(g.try_acquire(&mut s, at(0)).is_err());
        assert!(g.try_acquire(&mut s, at(10_999)).is_err());
        assert!(g.try_acquire(&mut s, at(11_000)).is_ok());
    }

    #[test]
    fn the_end_of_time_stays_closed() {
        let g = Gcra::new(Quota::<1_000>::per_second(2).unwrap());
        let mut s = g.new_state();
        let end = at(u64::MAX - 100);
        assert!(g.try_acquire(&mut s, end).is_err());
        let d = g.check(&mut s, end, 1).unwrap();
        assert_eq!(d.retry_after, Some(D::from_ticks(100)));
        assert_eq!(s, GcraState::new());
    }

    #[test]
    fn remaining_counts_only_what_fits_before_the_end_of_time() {
        // Regression: `remaining` ignored the end of time and promised a unit that was denied.
        let g = Gcra::new(Quota::<1_000>::per_second(2).unwrap()); // T = 500, b·T = 1000
        let mut s = g.new_state();
        let t = at(u64::MAX - 700);
        assert_eq!(g.peek(&s, t, 0).unwrap().remaining, 1);
        assert!(g.try_acquire(&mut s, t).is_ok());
        assert!(g.try_acquire(&mut s, t).is_err());
    }

    #[test]
    fn a_request_the_schedule_can_never_hold_waits_until_the_end_of_time() {
        // Regression: the wait was the slack needed (500 ms), after which the request was denied
        // again because its schedule overflows; it now says "never" as the wait until the end.
        let g = Gcra::new(Quota::<1_000>::per_second(2).unwrap());
        let mut s = g.new_state();
        let t = at(u64::MAX - 1_200);
        assert!(g.check(&mut s, t, 2).unwrap().is_allowed()); // tat = end − 200
        let d = g.check(&mut s, t, 1).unwrap();
        assert_eq!(d.retry_after, Some(D::from_ticks(1_200)));
        assert!(g.peek(&s, at(u64::MAX - 700), 1).unwrap().is_denied());
        assert!(g.peek(&s, at(u64::MAX), 1).unwrap().is_denied());
    }

    #[test]
    fn units_that_fit_count_the_room_within_the_cap_and_before_the_end_of_time() {
        assert_eq!(units_that_fit(1_000, 300, 0, 250), 2);
        assert_eq!(units_that_fit(1_000, 1_200, 0, 250), 0);
        assert_eq!(units_that_fit(1_000, 300, u64::MAX - 800, 250), 2);
        assert_eq!(units_that_fit(1_000, 300, u64::MAX - 799, 250), 1);
        assert_eq!(units_that_fit(u64::MAX, 0, 0, 1), u32::MAX);
        assert_eq!(units_that_fit(1_000, 0, 0, 0), 0);
    }

    #[test]
    fn a_schedule_of_exactly_u64_max_ticks_admits_one_burst_only() {
        // Regression (found by the `shaper` fuzz target, via Gcra ≠ Shaper): with b·T =
        // u64::MAX, `ahead + c·T` saturated to u64::MAX, passed `≤ b·T`, and every later request
        // was admitted without moving the schedule.
        let g = Gcra::new(Quota::<1_000>::new(1, D::from_ticks(u64::MAX)).unwrap());
        let mut s = g.new_state();
        assert!(g.check(&mut s, at(0), 1).unwrap().is_allowed());
        assert_eq!(s, GcraState::from_raw(u64::MAX));
        let d = g.check(&mut s, at(0), 1).unwrap();
        assert_eq!(
            d,
            Decision {
                limit: 1,
                remaining: 0,
                reset: D::from_ticks(u64::MAX),
                retry_after: Some(D::from_ticks(u64::MAX)),
                delay: D::from_ticks(0),
            }
        );
        assert_eq!(s, GcraState::from_raw(u64::MAX));
        assert!(g.try_acquire(&mut s, at(0)).is_err());
        // The same with a burst of three: b·T = 3 · (u64::MAX / 3) = u64::MAX.
        let q = Quota::<1_000>::new(3, D::from_ticks(u64::MAX)).unwrap();
        let g = Gcra::new(q);
        let mut s = g.new_state();
        for _ in 0..3 {
            assert!(g.check(&mut s, at(0), 1).unwrap().is_allowed());
        }
        assert!(g.check(&mut s, at(0), 1).unwrap().is_denied());
        assert!(g.check(&mut s, at(0), 3).unwrap().is_denied());
    }

    #[test]
    fn at_rest_exactly_when_tat_has_passed() {
        let g = Gcra::new(Quota::<1_000>::per_second(1).unwrap());
        let mut s = g.new_state();
        assert!(g.is_at_rest(&s, at(0)));
        g.try_acquire(&mut s, at(0)).unwrap();
        assert!(!g.is_at_rest(&s, at(999)));
        assert!(g.is_at_rest(&s, at(1_000)));
        assert_eq!(
            g.check(&mut s, at(1_000), 1).unwrap().remaining,
            g.check(&mut GcraState::new(), at(1_000), 1)
                .unwrap()
                .remaining
        );
    }

    #[test]
    fn seed_000_burst_advice_fits_300_per_minute_with_burst_5() {
        // "Send at most 5 requests per second": 300 requests in one minute, paced 200 ms apart.
        let g = Gcra::new(
            Quota::<1_000>::per_minute(300)
                .unwrap()
                .with_burst(5)
                .unwrap(),
        );
        let mut s = g.new_state();
        for i in 0..300u64 {
            assert_eq!(g.try_acquire(&mut s, at(i * 200)), Ok(()), "request {i}");
        }
    }
}
