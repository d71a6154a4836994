//! Policies: several named limits enforced together, all or nothing.
//!
//! Real APIs rarely have one limit: "5 concurrent requests, 300 per minute and 900 per 15
//! minutes", four sliding buckets reported side by side, a rolling hour and a rolling day with
//! the exceeded one named in the 429 body. A [`Policy`] holds [`Named`] limits, each any
//! [`Algorithm`], and checks them as one:
//!
//! ```
//! use tollgate_core::{Algorithm, Gcra, Quota, Instant, Duration, Named, Policy};
//!
//! const HZ: u64 = 1_000;
//! let policy = Policy::new((
//!     Named::new("minute", Gcra::new(Quota::<HZ>::per_minute(300)?.with_burst(5)?)),
//!     Named::new("quarter", Gcra::new(Quota::<HZ>::per_seconds(900, 15 * 60)?)),
//! ));
//! let mut state = policy.new_state(); // (GcraState, GcraState): 16 bytes
//! let now = Instant::<HZ>::from_ticks(0);
//! for _ in 0..5 {
//!     assert!(policy.check(&mut state, now, 1)?.is_allowed());
//! }
//! let denied = policy.check(&mut state, now, 1)?;
//! assert_eq!(denied.limit_exceeded(), Some("minute"));
//! assert_eq!(denied.retry_after(), Some(Duration::<HZ>::from_millis(200)));
//! // Denied by "minute", so "quarter" was not charged either: 895 of 900 remain.
//! assert_eq!(denied.reports[1].decision.remaining, 895);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantee
//!
//! **A request is admitted exactly when every limit admits it, and then every limit records it;
//! when any limit denies, no limit records anything.** Each limit takes exactly one
//! [`step`](Algorithm::step) (its verdict, from its state as it stands); only when every step
//! admits does every limit [`record`](Algorithm::record) its step. So each limit's state evolves
//! exactly as if that limit alone had been shown the policy's admitted requests, and **every
//! limit's own guarantee holds at once** for the traffic the policy admits. A cost above any
//! limit's capacity is an [`InsufficientCapacity`] error naming that limit, and nothing is
//! recorded.
//!
//! A denial names the denying limit with the **longest wait** (the first declared among equal
//! waits), and its `retry_after` is that longest wait: with nothing else arriving, every other
//! limit admits by then too (each limit's admission only becomes easier as time passes with no
//! arrivals), so the wait is exact whenever each limit's is. Reports come in declaration order;
//! when the request is denied, limits that would have admitted it report their state without it
//! (`remaining` does not count a request that was not recorded).
//!
//! # Lists of limits
//!
//! One engine ([`engine`]) decides every kind of list, in one pass per limit:
//!
//! - a **tuple** of 1 to 8 limits of any algorithms: every call is static and inlinable, the
//!   state is the tuple of the limits' states, and the decision holds its reports inline;
//! - an **array** `[Named<A, N>; LEN]` of one algorithm (an [`AnyLimit`](crate::AnyLimit) mixes
//!   algorithms), likewise;
//! - a **slice** `&[Named<A, N>]` of a list read at run time, whose states are a slice and whose
//!   reports go to a buffer the caller provides ([`Policy::check_into`]). Nothing allocates.
//!
//! Names may be `&'static str` or any owned string type (a `String` from a file); decisions
//! borrow them from the policy.
//!
//! # Unlimited limits
//!
//! An API plan may have no daily limit while the other plans do. [`Unlimited`](crate::Unlimited)
//! (state `()`) and `None` of an `Option<A>` (state `A::State`, so plans with and without a
//! limit share one state type) always admit. Their [`Allowance`] is
//! `Unlimited`, so they stay in [`PolicyDecision::reports`] (indices match declaration order) but
//! [`PolicyDecision::limited`], [`PolicyDecision::applicable`], headers and test overrides leave
//! them out.
//!
//! # Test overrides
//!
//! [`Overrides`] can force a denial (`X-RateLimit: 1`) or lower a named limit for one request
//! (`X-RateLimit-Hour: 5`). Lowering a limit of capacity `L` to `L' < L` decides as if `k = L − L'`
//! more units were charged (the limit also takes a step at `cost + k`) but records only the real
//! cost; the report gives `limit = L'` and `remaining` reduced by `k`. For counting limits
//! (sliding log or window) that is exactly a limit of `L'` per window; for GCRA it lowers the
//! burst to `L'` and keeps the rate. Overrides can only make a decision stricter and never record
//! more than the plain check would; see [`Overrides`] for the exact rules.

pub mod decision;
pub mod engine;
pub mod named;
pub mod overrides;
pub mod report;

use crate::algorithm::{Algorithm, Allowance, Decision};
use crate::error::{InsufficientCapacity, ReleaseError};
use crate::time::Instant;
use decision::{PolicyDecision, Verdict};
use engine::{Ask, FixedLimits, Limits, look};
#[cfg(doc)]
use named::Named;
pub use overrides::Overrides;
use report::Report;

/// Several named limits enforced together, all or nothing (see the [module docs](self)).
///
/// `L` is a tuple of 1 to 8 [`Named`] limits, an array of them, or a slice of them. A policy of a
/// fixed number of limits is itself an [`Algorithm`] (whose [`Decision`] is
/// [`PolicyDecision::decision`]), so it fits anywhere one limit does: a key table, a shared
/// limiter, another policy.
///
/// # Examples
///
/// 5 concurrent, 300 per minute and 900 per 15 minutes, in a `static`:
///
/// ```
/// use tollgate_core::{Algorithm, Concurrency, Gcra, Quota, Instant, Duration, Named, Policy, Unlimited, valid};
///
/// const HZ: u64 = 1_000;
/// static API: Policy<(Named<Concurrency<HZ>>, Named<Gcra<HZ>>, Named<Gcra<HZ>>, Named<Unlimited>)> =
///     Policy::new((
///         Named::new("concurrent", valid!(Concurrency::new(5))),
///         Named::new("minute", Gcra::new(valid!(Quota::per_minute(300), with_burst(5)))),
///         Named::new("quarter", Gcra::new(valid!(Quota::per_seconds(900, 15 * 60)))),
///         Named::new("day", Unlimited),
///     ));
///
/// let mut s = API.new_state();
/// let d = API.check(&mut s, Instant::<HZ>::from_ticks(0), 1)?;
/// assert_eq!(d.limited().count(), 3);
/// assert!(d.reports[3].allowance.is_unlimited());
/// # Ok::<(), tollgate_core::InsufficientCapacity>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Policy<L> {
    limits: L,
}

impl<L> Policy<L> {
    /// A policy enforcing every limit of `limits` together.
    pub const fn new(limits: L) -> Self {
        Self { limits }
    }

    /// The limits.
    pub const fn limits(&self) -> &L {
        &self.limits
    }

    /// How many limits there are.
    pub fn len<const HZ: u64>(&self) -> usize
    where
        L: Limits<HZ>,
    {
        self.limits.len()
    }

    /// Whether there are no limits (such a policy admits everything).
    pub fn is_empty<const HZ: u64>(&self) -> bool
    where
        L: Limits<HZ>,
    {
        self.limits.is_empty()
    }

    /// Every limit's fresh state.
    pub fn new_state<const HZ: u64>(&self) -> L::State
    where
        L: FixedLimits<HZ>,
    {
        self.limits.new_state()
    }

    /// The largest cost every limit can admit at once: the smallest capacity.
    pub fn capacity<const HZ: u64>(&self) -> u32
    where
        L: Limits<HZ>,
    {
        self.limits.capacity()
    }

    /// Decides a request of `cost` at `now`; if every limit admits it, records it in every limit.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds some limit's capacity (naming the smallest);
    /// nothing is recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Instant, InsufficientCapacity, Named, Policy, Quota};
    ///
    /// let policy = Policy::new((
    ///     Named::new("second", Gcra::new(Quota::<1_000>::per_second(2)?)),
    ///     Named::new("minute", Gcra::new(Quota::<1_000>::per_minute(3)?)),
    /// ));
    /// let mut state = policy.new_state();
    /// let at = Instant::<1_000>::from_ticks;
    /// assert!(policy.check(&mut state, at(0), 1)?.is_allowed());
    /// assert!(policy.check(&mut state, at(0), 1)?.is_allowed());
    /// let d = policy.check(&mut state, at(0), 1)?;
    /// assert_eq!(d.limit_exceeded(), Some("second"));
    /// assert_eq!(d.reports[1].decision.remaining, 1); // "minute" was not charged
    /// assert!(policy.check(&mut state, at(500), 1)?.is_allowed());
    /// assert_eq!(policy.check(&mut state, at(1_000), 1)?.limit_exceeded(), Some("minute"));
    /// // A cost above a limit's capacity is an error, not a denial.
    /// assert_eq!(policy.check(&mut state, at(60_000), 3), Err(InsufficientCapacity::new(3, 2).at(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check<'n, const HZ: u64>(
        &'n self,
        state: &mut L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<PolicyDecision<HZ, L::Reports<'n>>, InsufficientCapacity>
    where
        L: FixedLimits<HZ>,
    {
        self.check_with(state, now, cost, &Overrides::NONE)
    }

    /// [`check`](Self::check) with test [`Overrides`], which can only make it stricter.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds some limit's capacity or lowered value;
    /// nothing is recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Instant, Named, Overrides, Policy, Quota};
    ///
    /// let policy = Policy::new((Named::new("hour", Gcra::new(Quota::<1_000>::per_hour(100)?)),));
    /// let mut s = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let two = Overrides::lowering(&[("HOUR", 2)]); // names match case-insensitively
    /// assert!(policy.check_with(&mut s, now, 1, &two)?.is_allowed());
    /// assert!(policy.check_with(&mut s, now, 1, &two)?.is_allowed());
    /// let d = policy.check_with(&mut s, now, 1, &two)?;
    /// assert_eq!((d.is_denied(), d.reports[0].decision.limit), (true, 2));
    /// // Only the two real requests were recorded: with this one, 97 of the plain 100 remain.
    /// assert_eq!(policy.check(&mut s, now, 1)?.reports[0].decision.remaining, 97);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check_with<'n, const HZ: u64>(
        &'n self,
        state: &mut L::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<PolicyDecision<HZ, L::Reports<'n>>, InsufficientCapacity>
    where
        L: FixedLimits<HZ>,
    {
        let ask = Ask {
            now,
            cost,
            overrides,
        };
        let (outcome, steps) = look(&self.limits, state, &ask)?;
        let allowed = matches!(outcome, Verdict::Allowed);
        if allowed && cost > 0 {
            self.limits.record(state, &ask, &steps);
        }
        // Recorded figures come from the steps alone (see `Algorithm::decision`), so the reports
        // are built after recording, straight into the answer.
        Ok(PolicyDecision {
            outcome,
            reports: self.limits.reports(state, &ask, &steps, allowed),
        })
    }

    /// Decides a request without recording it: exactly what [`check`](Self::check) would answer.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Instant, Named, Policy, Quota};
    ///
    /// let policy = Policy::new((Named::new("minute", Gcra::new(Quota::<1_000>::per_minute(1)?)),));
    /// let mut s = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let peeked = policy.peek(&s, now, 1)?;
    /// assert_eq!(s, policy.new_state()); // nothing recorded
    /// assert_eq!(peeked, policy.check(&mut s, now, 1)?);
    /// assert_eq!(policy.peek(&s, now, 1)?.limit_exceeded(), Some("minute"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn peek<'n, const HZ: u64>(
        &'n self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<PolicyDecision<HZ, L::Reports<'n>>, InsufficientCapacity>
    where
        L: FixedLimits<HZ>,
    {
        self.peek_with(state, now, cost, &Overrides::NONE)
    }

    /// [`peek`](Self::peek) with test [`Overrides`].
    ///
    /// # Errors
    ///
    /// As [`check_with`](Self::check_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Instant, Named, Overrides, Policy, Quota, Verdict};
    ///
    /// let policy = Policy::new((Named::new("minute", Gcra::new(Quota::<1_000>::per_minute(10)?)),));
    /// let s = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let forced = policy.peek_with(&s, now, 1, &Overrides::deny())?; // X-RateLimit: 1
    /// assert_eq!(forced.outcome, Verdict::Forced);
    /// assert!(policy.peek(&s, now, 1)?.is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn peek_with<'n, const HZ: u64>(
        &'n self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<PolicyDecision<HZ, L::Reports<'n>>, InsufficientCapacity>
    where
        L: FixedLimits<HZ>,
    {
        let ask = Ask {
            now,
            cost,
            overrides,
        };
        let (outcome, steps) = look(&self.limits, state, &ask)?;
        let allowed = matches!(outcome, Verdict::Allowed);
        let reports = self.limits.reports(state, &ask, &steps, allowed);
        Ok(PolicyDecision { outcome, reports })
    }

    /// [`check_with`](Self::check_with) for any list of limits, a runtime one included, writing
    /// one report per limit into `out` (which needs at least [`len`](Self::len) reports; start
    /// from [`Report::EMPTY`]).
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds some limit's capacity or lowered value, and
    /// also, for a runtime list, when `state` or `out` has no room for some limit (reported as
    /// that limit with a capacity of zero: no request can be decided without its state or
    /// report). Nothing is recorded then.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Instant, Named, Overrides, Policy, Quota, Report};
    ///
    /// // Limits read at run time: a vector of any length, one algorithm (or `AnyLimit`).
    /// let limits: Vec<Named<Gcra<1_000>, String>> = vec![
    ///     Named::new("minute".into(), Gcra::new(Quota::per_minute(30)?)),
    ///     Named::new("hour".into(), Gcra::new(Quota::per_hour(500)?)),
    /// ];
    /// let policy = Policy::new(&limits[..]);
    /// let mut states: Vec<_> = limits.iter().map(|l| l.algorithm().new_state()).collect();
    /// let mut reports = vec![Report::EMPTY; limits.len()];
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let d = policy.check_into(&mut states, now, 30, &Overrides::NONE, &mut reports)?;
    /// assert!(d.is_allowed());
    /// let d = policy.check_into(&mut states, now, 1, &Overrides::NONE, &mut reports)?;
    /// assert_eq!((d.limit_exceeded(), d.reports()[1].decision.remaining), (Some("minute"), 470));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check_into<'n, 'r, const HZ: u64>(
        &'n self,
        state: &mut L::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        out: &'r mut [Report<'n, HZ>],
    ) -> Result<PolicyDecision<HZ, &'r [Report<'n, HZ>]>, InsufficientCapacity>
    where
        L: Limits<HZ>,
    {
        self.fits(state, cost, out.len())?;
        let ask = Ask {
            now,
            cost,
            overrides,
        };
        let (outcome, steps) = look(&self.limits, state, &ask)?;
        let allowed = matches!(outcome, Verdict::Allowed);
        self.limits.report_into(state, &ask, &steps, allowed, out);
        if allowed && cost > 0 {
            self.limits.record(state, &ask, &steps);
        }
        Ok(PolicyDecision {
            outcome,
            reports: out.get(..self.limits.len()).unwrap_or(&[]),
        })
    }

    /// [`peek_with`](Self::peek_with) for any list of limits: see [`check_into`](Self::check_into).
    ///
    /// # Errors
    ///
    /// As [`check_into`](Self::check_into).
    #[inline]
    pub fn peek_into<'n, 'r, const HZ: u64>(
        &'n self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        out: &'r mut [Report<'n, HZ>],
    ) -> Result<PolicyDecision<HZ, &'r [Report<'n, HZ>]>, InsufficientCapacity>
    where
        L: Limits<HZ>,
    {
        self.fits(state, cost, out.len())?;
        let ask = Ask {
            now,
            cost,
            overrides,
        };
        let (outcome, steps) = look(&self.limits, state, &ask)?;
        let allowed = matches!(outcome, Verdict::Allowed);
        self.limits.report_into(state, &ask, &steps, allowed, out);
        Ok(PolicyDecision {
            outcome,
            reports: out.get(..self.limits.len()).unwrap_or(&[]),
        })
    }

    /// Checks that `state` and a report buffer of `reports` have room for every limit.
    fn fits<const HZ: u64>(
        &self,
        state: &L::State,
        cost: u32,
        reports: usize,
    ) -> Result<(), InsufficientCapacity>
    where
        L: Limits<HZ>,
    {
        let room = reports.min(self.limits.states(state));
        if room < self.limits.len() {
            return Err(InsufficientCapacity::new(cost, 0).at(room));
        }
        Ok(())
    }

    /// Whether every limit is at rest at `now`.
    ///
    /// When a stricter limit masks a looser one, the policy may already decide like a fresh one
    /// while this is still false; that only keeps a table entry a little longer, never drops one
    /// too early.
    pub fn is_at_rest<const HZ: u64>(&self, state: &L::State, now: Instant<HZ>) -> bool
    where
        L: Limits<HZ>,
    {
        self.limits.is_at_rest(state, now)
    }

    /// Gives `cost` back to every limit (only in-flight limits act on it), or to none. Nothing is
    /// copied: every limit is asked first whether it can release, then each releases.
    ///
    /// # Errors
    ///
    /// The first [`ReleaseError`] in declaration order; then no limit's state changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Concurrency, Gcra, Instant, Named, Policy, Quota, ReleaseError};
    ///
    /// let policy = Policy::new((
    ///     Named::new("concurrent", Concurrency::<1_000>::new(2)?),
    ///     Named::new("second", Gcra::new(Quota::<1_000>::per_second(10)?)),
    /// ));
    /// let mut s = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// policy.check(&mut s, now, 1)?;
    /// policy.check(&mut s, now, 1)?;
    /// assert_eq!(policy.check(&mut s, now, 1)?.limit_exceeded(), Some("concurrent"));
    /// policy.release(&mut s, 1)?; // one request finished; the rate limit still counts it
    /// let d = policy.check(&mut s, now, 1)?;
    /// assert_eq!((d.is_allowed(), d.reports[1].decision.remaining), (true, 7));
    /// policy.release(&mut s, 2)?;
    /// assert_eq!(policy.release(&mut s, 1), Err(ReleaseError { released: 1, in_flight: 0 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release<const HZ: u64>(
        &self,
        state: &mut L::State,
        cost: u32,
    ) -> Result<(), ReleaseError>
    where
        L: Limits<HZ>,
    {
        self.limits.release(state, cost)
    }
}

impl<S, const HZ: u64> PolicyStep<S, HZ> {
    /// The request the step was taken for.
    fn ask(&self) -> Ask<'static, HZ> {
        Ask {
            now: self.now,
            cost: self.cost,
            overrides: &Overrides::NONE,
        }
    }
}

/// What one look at a policy found: every limit's step and the verdict.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PolicyStep<S, const HZ: u64> {
    steps: S,
    outcome: Verdict,
    now: Instant<HZ>,
    cost: u32,
}

impl<const HZ: u64, L: FixedLimits<HZ>> Algorithm<HZ> for Policy<L> {
    type State = L::State;
    type Step = PolicyStep<L::Steps, HZ>;

    fn new_state(&self) -> L::State {
        self.limits.new_state()
    }

    fn capacity(&self) -> u32 {
        self.limits.capacity()
    }

    /// The allowance of the limit with the smallest count (a policy promises at least as much
    /// as its strictest limit).
    fn allowance(&self) -> Allowance<HZ> {
        (0..self.limits.len())
            .filter_map(|i| self.limits.allowance(i))
            .filter(|a| !a.is_unlimited())
            .min_by_key(Allowance::count)
            .unwrap_or(Allowance::Unlimited)
    }

    fn step(
        &self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Self::Step, InsufficientCapacity> {
        let ask = Ask {
            now,
            cost,
            overrides: &Overrides::NONE,
        };
        let (outcome, steps) = look(&self.limits, state, &ask)?;
        Ok(PolicyStep {
            steps,
            outcome,
            now,
            cost,
        })
    }

    fn admits(&self, step: &Self::Step) -> bool {
        matches!(step.outcome, Verdict::Allowed)
    }

    fn decision(&self, state: &L::State, step: &Self::Step, recorded: bool) -> Decision<HZ> {
        let recorded = recorded && matches!(step.outcome, Verdict::Allowed);
        let reports = self
            .limits
            .reports(state, &step.ask(), &step.steps, recorded);
        PolicyDecision {
            outcome: step.outcome,
            reports,
        }
        .decision()
    }

    fn record(&self, state: &mut L::State, step: &Self::Step) {
        if matches!(step.outcome, Verdict::Allowed) && step.cost > 0 {
            self.limits.record(state, &step.ask(), &step.steps);
        }
    }

    fn is_at_rest(&self, state: &L::State, now: Instant<HZ>) -> bool {
        self.limits.is_at_rest(state, now)
    }

    fn can_release(&self, state: &L::State, cost: u32) -> Result<(), ReleaseError> {
        self.limits.can_release(state, cost)
    }

    fn release(&self, state: &mut L::State, cost: u32) -> Result<(), ReleaseError> {
        self.limits.release(state, cost)
    }
}
