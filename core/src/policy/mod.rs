//! Policies: several named limits enforced together, all or nothing.
//!
//! Real APIs rarely have one limit. Seed 000 enforces 5 concurrent requests, 300 per minute and
//! 900 per 15 minutes at once; seed 002 has four buckets; seed 004 names the one that was exceeded.
//! A [`Policy`] is a tuple of [`Named`] limits, each any [`Algorithm`], checked as one:
//!
//! ```
//! use tollgate_core::{Gcra, Quota, Instant, Duration, Named, Policy};
//!
//! const HZ: u64 = 1_000;
//! let minute = Quota::<HZ>::per_minute(300)?;
//! let quarter = Quota::<HZ>::new(900, Duration::<HZ>::from_secs(15 * 60))?;
//! let policy = Policy::new((
//!     Named::new("minute", minute.window(), Gcra::new(minute.with_burst(5)?)),
//!     Named::new("quarter", quarter.window(), Gcra::new(quarter)),
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
//! when any limit denies, no limit records anything.** The policy first
//! [`peek`](Algorithm::peek)s every limit, then, only if all admitted,
//! [`check`](Algorithm::check)s every limit with the same `now` and cost (which, by the trait's
//! contract, admits and records). So each limit's state evolves exactly as if that limit alone had
//! been shown the policy's admitted requests, and **every limit's own guarantee holds at once** for
//! the traffic the policy admits. A cost above any limit's capacity is an [`ExceedsLimit`] error,
//! and nothing is recorded.
//!
//! A denial names the denying limit with the **longest wait** (the first declared among equal
//! waits), and its `retry_after` is that longest wait: with nothing else arriving, every other
//! limit admits by then too (each limit's admission only becomes easier as time passes with no
//! arrivals), so the wait is exact whenever each limit's is. Reports come in declaration order;
//! when the request is denied, limits that would have admitted it report their state without it
//! (`remaining` does not count a request that was not recorded).
//!
//! # Composition costs nothing at run time
//!
//! The limits are a tuple, implemented for 1 to 8 limits by a macro, so every call is static and
//! inlinable: no `dyn`, no loop over a heterogeneous list. The state is the tuple of the limits'
//! states (`size_of` is their sum plus alignment padding); a decision is a fixed-size
//! [`PolicyDecision<HZ, N>`](PolicyDecision) with one [`Report`] per limit.
//!
//! # Unlimited limits
//!
//! Seed 001's Agency plan has no daily limit while the other plans do. [`Unlimited`] (state `()`)
//! and `None` of an `Option<A>` (state `A::State`, so plans with and without a limit share one
//! state type) always admit. They report `limit` and `remaining` as [`UNLIMITED`] (`u32::MAX`) and a
//! zero `reset`. They stay in [`PolicyDecision::reports`] so that indices match declaration order;
//! [`PolicyDecision::limited`] skips them, and [`PolicyDecision::applicable`] never picks one.
//!
//! # Test overrides (seed 004)
//!
//! [`Overrides`] can force a denial (`X-RateLimit: 1`) or lower a named limit for one request
//! (`X-RateLimit-Hour: 5`). Lowering a limit of capacity `L` to `L' < L` decides as if `k = L − L'`
//! more units were charged (the limit is peeked at `cost + k`) but records only the real cost; the
//! report gives `limit = L'` and `remaining` reduced by `k`. For counting limits (sliding log or
//! window, fixed window) that is exactly a limit of `L'` per window; for GCRA it lowers the burst to
//! `L'` and keeps the rate. Overrides can only make a decision stricter and never record more than
//! the plain check would; see [`Overrides`] for the exact rules.

use core::fmt;

use crate::algorithm::{Algorithm, Decision};
use crate::error::{InsufficientCapacity, ReleaseError};
pub mod report;

use report::{Report, ReportSet, least_remaining};
use crate::time::{Duration, Instant};

/// `limit` and `remaining` of a limit that counts nothing ([`Unlimited`], `None`).
pub const UNLIMITED: u32 = u32::MAX;

/// The decision of a limit that counts nothing.
const fn unlimited_decision<const HZ: u64>() -> Decision<HZ> {
    Decision {
        limit: UNLIMITED,
        remaining: UNLIMITED,
        reset: Duration::<HZ>::from_ticks(0),
        retry_after: None,
    }
}

/// One limit of a policy: an algorithm with the name and window clients see.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Named};
///
/// let q = Quota::<1_000>::per_hour(50)?;
/// let hour = Named::new("hour", q.window(), Gcra::new(q));
/// assert_eq!((hour.name(), hour.window().as_ticks()), ("hour", 3_600_000));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Named<A, const HZ: u64> {
    name: &'static str,
    window: Duration<HZ>,
    limit: A,
}

impl<A, const HZ: u64> Named<A, HZ> {
    /// `limit`, reported as `name` counted over `window` (zero for a concurrency limit).
    pub const fn new(name: &'static str, window: Duration<HZ>, limit: A) -> Self {
        Self {
            name,
            window,
            limit,
        }
    }

    /// The name clients see (`"minute"`, `"hour"`, `"concurrent"`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The window reported with this limit.
    pub const fn window(&self) -> Duration<HZ> {
        self.window
    }

    /// The algorithm.
    pub const fn limit(&self) -> &A {
        &self.limit
    }
}

/// A limit that admits everything: seed 001's "unlimited per day". Its state is `()`.
///
/// It reports `limit` and `remaining` as [`UNLIMITED`] and a zero `reset`; overrides cannot lower
/// it (there is no count to lower). Use `None` of an `Option<A>` instead when some plans have the
/// limit and others do not, so that every plan's state has the same type.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Unlimited, Instant, UNLIMITED};
///
/// let d = Algorithm::<1_000>::check(&Unlimited, &mut (), Instant::<1_000>::from_ticks(0), u32::MAX)?;
/// assert!(d.is_allowed() && d.limit == UNLIMITED && d.remaining == UNLIMITED);
/// # Ok::<(), tollgate_core::InsufficientCapacity>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Unlimited;

impl<const HZ: u64> Algorithm<HZ> for Unlimited {
    type State = ();

    fn new_state(&self) {}

    fn capacity(&self) -> u32 {
        UNLIMITED
    }

    fn check(
        &self,
        _state: &mut (),
        _now: Instant<HZ>,
        _cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        Ok(unlimited_decision())
    }

    fn peek(
        &self,
        _state: &(),
        _now: Instant<HZ>,
        _cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        Ok(unlimited_decision())
    }

    fn is_at_rest(&self, _state: &(), _now: Instant<HZ>) -> bool {
        true
    }
}

/// An optional limit: `Some(a)` is `a`, `None` is [`Unlimited`] with `a`'s state type.
///
/// This lets plans with and without a limit share one policy type and one state type (seed 001:
/// Agency has no daily limit). `None` keeps its state at `A::State::default()` forever.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, UNLIMITED};
///
/// let free: Option<Gcra<1_000>> = Some(Gcra::new(Quota::per_day(2_000)?));
/// let agency: Option<Gcra<1_000>> = None;
/// let (mut a, mut b) = (free.new_state(), agency.new_state()); // both GcraState
/// let now = Instant::<1_000>::from_ticks(0);
/// assert_eq!(free.check(&mut a, now, 1)?.remaining, 1_999);
/// assert_eq!(agency.check(&mut b, now, 1)?.remaining, UNLIMITED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<const HZ: u64, A: Algorithm<HZ>> Algorithm<HZ> for Option<A>
where
    A::State: Default,
{
    type State = A::State;

    fn new_state(&self) -> A::State {
        match self {
            Some(a) => a.new_state(),
            None => A::State::default(),
        }
    }

    fn capacity(&self) -> u32 {
        self.as_ref().map_or(UNLIMITED, A::capacity)
    }

    fn check(
        &self,
        state: &mut A::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        match self {
            Some(a) => a.check(state, now, cost),
            None => Ok(unlimited_decision()),
        }
    }

    fn peek(
        &self,
        state: &A::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        match self {
            Some(a) => a.peek(state, now, cost),
            None => Ok(unlimited_decision()),
        }
    }

    fn is_at_rest(&self, state: &A::State, now: Instant<HZ>) -> bool {
        self.as_ref().is_none_or(|a| a.is_at_rest(state, now))
    }

    fn release(&self, state: &mut A::State, cost: u32) -> Result<(), ReleaseError> {
        match self {
            Some(a) => a.release(state, cost),
            None => Ok(()),
        }
    }
}

/// Per-request test overrides (seed 004): force a denial, or lower named limits.
///
/// Rules, all enforced by the policy:
///
/// - **Only lower.** A value at or above the limit's capacity is ignored, and so is any value for
///   an [`Unlimited`] limit (capacity `u32::MAX`: no count to lower).
/// - **Unknown names are ignored.** Names match ASCII case-insensitively (`"Hour"` lowers
///   `"hour"`); when a name repeats, the lowest value wins.
/// - **Never corrupt state.** A lowered limit of `L'` out of capacity `L` is decided by peeking at
///   `cost + (L − L')` (and at `cost`), but only `cost` is ever recorded. So an overridden check
///   admits only what the plain check would admit, and then records exactly what it would.
/// - A cost above a lowered limit can never fit it: an [`ExceedsLimit`] error naming the limit,
///   with the lowered value as its capacity (`X-RateLimit-Hour: 0` rejects every request).
/// - **A forced denial records nothing.** If some limit denies the request anyway, the denial is
///   that limit's ([`Verdict::Denied`]). Otherwise it is [`Verdict::Forced`], no limit is named,
///   and `retry_after` is **zero**: the exact wait after which the same request *without* the
///   override would be admitted. A forced denial tests the client's 429 path; it is not a shortage.
/// - A cost of zero asks for metadata only and is admitted even when forced.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Duration, Named, Policy, Overrides, Verdict};
///
/// let hour = Quota::<1_000>::per_hour(50)?;
/// let policy = Policy::new((Named::new("hour", hour.window(), Gcra::new(hour)),));
/// let mut s = policy.new_state();
/// let now = Instant::<1_000>::from_ticks(0);
/// let five = Overrides::lowering(&[("Hour", 5)]);
/// for _ in 0..5 {
///     assert!(policy.check_with(&mut s, now, 1, &five)?.is_allowed());
/// }
/// let d = policy.check_with(&mut s, now, 1, &five)?;
/// assert_eq!((d.limit_exceeded(), d.reports[0].decision.limit), (Some("hour"), 5));
/// // Only the five real requests were recorded: the plain limit has 45 left.
/// assert_eq!(policy.peek(&s, now, 0)?.reports[0].decision.remaining, 45);
///
/// let forced = policy.check_with(&mut s, now, 1, &Overrides::deny())?;
/// assert_eq!((forced.outcome, forced.retry_after()), (Verdict::Forced, Some(Duration::<1_000>::from_ticks(0))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Overrides<'a> {
    /// Deny regardless of the limits (`X-RateLimit: 1`); records nothing.
    pub deny: bool,
    /// Lower named limits for this request only: `("hour", 5)` for `X-RateLimit-Hour: 5`.
    pub lower: &'a [(&'a str, u32)],
}

impl<'a> Overrides<'a> {
    /// No overrides: the plain check.
    pub const NONE: Overrides<'static> = Overrides {
        deny: false,
        lower: &[],
    };

    /// Force a denial.
    pub const fn deny() -> Self {
        Self {
            deny: true,
            lower: &[],
        }
    }

    /// Lower the named limits to the given values (never raises).
    pub const fn lowering(lower: &'a [(&'a str, u32)]) -> Self {
        Self { deny: false, lower }
    }

    /// The lowest value given for `name`, if any (ASCII case-insensitive).
    fn lowered(&self, name: &str) -> Option<u32> {
        self.lower
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, l)| l)
            .min()
    }

    /// Whether these overrides change nothing.
    pub const fn is_none(&self) -> bool {
        !self.deny && self.lower.is_empty()
    }
}

/// A cost that one of a policy's limits can never admit at once.
///
/// Names the limit with the smallest capacity (after overrides; the first declared among equals).
/// Waiting never helps, so this is an error, not a denial; nothing was recorded.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Named, Policy, ExceedsLimit, InsufficientCapacity};
///
/// let (a, b) = (Quota::<1_000>::per_second(10)?, Quota::<1_000>::per_second(1)?.with_burst(3)?);
/// let policy = Policy::new((
///     Named::new("fast", a.window(), Gcra::new(a)),
///     Named::new("burst", b.window(), Gcra::new(b)),
/// ));
/// let err = policy.check(&mut policy.new_state(), Instant::<1_000>::from_ticks(0), 12).unwrap_err();
/// assert_eq!(err, ExceedsLimit { limit: "burst", cost: 12, capacity: 3 });
/// assert_eq!(InsufficientCapacity::from(err), InsufficientCapacity { cost: 12, capacity: 3 });
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExceedsLimit {
    /// The name of the limit that can never admit the cost.
    pub limit: &'static str,
    /// The cost asked for.
    pub cost: u32,
    /// That limit's capacity (a lowered value when an override lowered it).
    pub capacity: u32,
}

impl fmt::Display for ExceedsLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a cost of {} can never fit limit \"{}\" of {}",
            self.cost, self.limit, self.capacity
        )
    }
}

impl core::error::Error for ExceedsLimit {}

impl From<ExceedsLimit> for InsufficientCapacity {
    fn from(e: ExceedsLimit) -> Self {
        InsufficientCapacity {
            cost: e.cost,
            capacity: e.capacity,
        }
    }
}

/// Whether a policy admitted a request and, if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Every limit admitted the request (and, from a check, recorded it).
    Allowed,
    /// The limit at this index (declaration order) denied it, with the longest wait of all the
    /// limits that denied it.
    Denied {
        /// Index into [`PolicyDecision::reports`].
        limit: usize,
    },
    /// An override forced a denial that no limit would have made.
    Forced,
}

/// A policy's answer: the outcome, and one [`Report`] per limit in declaration order.
///
/// Fixed size (`N` reports), `Copy`, no allocation. Multi-bucket headers (seed 002) render
/// [`reports`](Self::reports) or [`limited`](Self::limited); single-value headers (seeds 000, 001)
/// render [`applicable`](Self::applicable); a JSON body names
/// [`limit_exceeded`](Self::limit_exceeded) (seed 004).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Named, Policy};
///
/// let (m, h) = (Quota::<1_000>::per_minute(30)?, Quota::<1_000>::per_hour(500)?);
/// let policy = Policy::new((
///     Named::new("minute", m.window(), Gcra::new(m)),
///     Named::new("hour", h.window(), Gcra::new(h)),
/// ));
/// let d = policy.check(&mut policy.new_state(), Instant::<1_000>::from_ticks(0), 1)?;
/// let remaining: Vec<u32> = d.reports().iter().map(|r| r.decision.remaining).collect();
/// assert_eq!(remaining, [29, 499]);
/// assert_eq!(d.applicable().map(|r| r.name), Some("minute")); // the least remaining
/// assert_eq!(d.decision().remaining, 29);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PolicyDecision<const HZ: u64, const N: usize> {
    /// Admitted, denied by a limit, or forced.
    pub outcome: Verdict,
    /// Every limit's report, in declaration order (unlimited ones included).
    pub reports: [Report<'static, HZ>; N],
}

impl<const HZ: u64, const N: usize> PolicyDecision<HZ, N> {
    /// Whether the request was (or, from a peek, would be) admitted.
    pub const fn is_allowed(&self) -> bool {
        matches!(self.outcome, Verdict::Allowed)
    }

    /// Whether the request was (or would be) denied.
    pub const fn is_denied(&self) -> bool {
        !self.is_allowed()
    }

    /// Every limit's report, in declaration order.
    pub const fn reports(&self) -> &[Report<'static, HZ>] {
        &self.reports
    }

    /// The reports of the limits that count something (skips [`UNLIMITED`] ones).
    pub fn limited(&self) -> impl Iterator<Item = &Report<'static, HZ>> {
        self.reports
            .iter()
            .filter(|r| r.decision.limit != UNLIMITED)
    }

    /// The index of the limit that denied the request, if one did (a forced denial names none).
    const fn denying(&self) -> Option<usize> {
        match self.outcome {
            Verdict::Denied { limit } => Some(limit),
            Verdict::Allowed | Verdict::Forced => None,
        }
    }

    /// The report of the limit that denied the request (the longest wait), if one did.
    pub fn denied_by(&self) -> Option<&Report<'static, HZ>> {
        self.reports.get(self.denying()?)
    }

    /// The name of the limit that denied the request (seed 004's `limit_exceeded`), if one did.
    pub fn limit_exceeded(&self) -> Option<&'static str> {
        self.denied_by().map(|r| r.name)
    }

    /// `None` if admitted; otherwise how long until this same request would be admitted if nothing
    /// else arrives: the longest wait among the denying limits, or zero for a forced denial.
    pub fn retry_after(&self) -> Option<Duration<HZ>> {
        match self.outcome {
            Verdict::Allowed => None,
            Verdict::Denied { .. } => self.denied_by().and_then(|r| r.decision.retry_after),
            Verdict::Forced => Some(Duration::<HZ>::from_ticks(0)),
        }
    }

    /// The one limit to show in single-value headers: the denying limit if there is one, else the
    /// limit with the least `remaining` (the first declared among equals). `None` only when every
    /// limit is unlimited.
    pub fn applicable(&self) -> Option<&Report<'static, HZ>> {
        self.denied_by().or_else(|| {
            let limited = self
                .reports
                .iter()
                .enumerate()
                .filter(|(_, r)| r.decision.limit != UNLIMITED);
            self.reports.get(least_remaining(limited)?)
        })
    }

    /// The time until every limit is at rest again: the longest `reset`.
    pub fn reset(&self) -> Duration<HZ> {
        self.reports
            .iter()
            .map(|r| r.decision.reset)
            .max()
            .unwrap_or(Duration::<HZ>::from_ticks(0))
    }

    /// The policy as one [`Decision`]: the smallest `limit`, the smallest `remaining`, the longest
    /// `reset`, and the policy's `retry_after`. This is what [`Policy`] answers as an
    /// [`Algorithm`]; for headers, prefer [`applicable`](Self::applicable), whose fields all belong
    /// to one limit.
    pub fn decision(&self) -> Decision<HZ> {
        let mut d = unlimited_decision::<HZ>();
        for r in &self.reports {
            d.limit = d.limit.min(r.decision.limit);
            d.remaining = d.remaining.min(r.decision.remaining);
        }
        d.reset = self.reset();
        d.retry_after = self.retry_after();
        d
    }

    /// The decision made at `now` as a [`ReportSet`], the input of the header and body
    /// renderers: every report, with the denying one being the limit the policy named
    /// ([`denied_by`](Self::denied_by)).
    ///
    /// Use this rather than [`ReportSet::first_denied`]: when several limits deny, the policy
    /// names the one with the longest wait, which need not be the first. A
    /// [forced](Verdict::Forced) denial names no limit, so the set has no denying report (and no
    /// `Retry-After`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Quota, Instant, Duration, Named, Policy};
    ///
    /// let (s, m) = (Quota::<1_000>::per_second(1)?, Quota::<1_000>::per_minute(1)?);
    /// let policy = Policy::new((
    ///     Named::new("second", s.window(), Gcra::new(s)),
    ///     Named::new("minute", m.window(), Gcra::new(m)),
    /// ));
    /// let mut state = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// policy.check(&mut state, now, 1)?;
    /// let d = policy.check(&mut state, now, 1)?; // both deny: "minute" waits longest
    /// let set = d.report_set(now);
    /// assert_eq!(set.denied().map(|r| r.name), Some("minute"));
    /// assert_eq!(set.retry_after_secs(), Some(60));
    /// // The first denying report is "second", which would misname the limit.
    /// assert_eq!(tollgate_core::ReportSet::first_denied(now, d.reports()).denied().map(|r| r.name), Some("second"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report_set(&self, now: Instant<HZ>) -> ReportSet<'_, HZ> {
        // The index comes from this decision's own reports, so it is always in range.
        ReportSet::trusting(now, &self.reports, self.denying())
    }
}

impl<const HZ: u64, const N: usize> PolicyDecision<HZ, N> {
    /// The reports to render as headers and bodies: the limits that count something, in
    /// declaration order (unlimited ones left out, so no header says `4294967295`), with the
    /// denying limit's position among them.
    ///
    /// A forced denial names no limit, so it renders no `Retry-After`: without the override the
    /// same request would be admitted at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Quota, Instant, Named, Policy, Unlimited, HeaderConfig, HeaderLines,
    ///                     XRateLimit, ResetFormat, LimitValues};
    ///
    /// let m = Quota::<1_000>::per_minute(2_000)?;
    /// let agency = Policy::new((
    ///     Named::new("minute", m.window(), Gcra::new(m)),
    ///     Named::new("day", m.window(), Unlimited),
    /// ));
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let d = agency.check(&mut agency.new_state(), now, 1)?;
    /// let rendered = d.rendered();
    /// let config = HeaderConfig::none()
    ///     .with_x_ratelimit(XRateLimit::new(ResetFormat::DeltaSeconds, LimitValues::PerLimit));
    /// let mut out = HeaderLines(heapless::String::<256>::new());
    /// rendered.set(now).write_headers(&config, &mut out)?;
    /// assert_eq!(out.0.as_str(), "X-RateLimit-Limit: 2000\r\nX-RateLimit-Remaining: 1999\r\nX-RateLimit-Reset: 1\r\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rendered(&self) -> Rendered<HZ, N> {
        let mut reports = heapless::Vec::new();
        let mut denied = None;
        let denying = self.denying();
        for (i, r) in self.reports.iter().enumerate() {
            if r.decision.limit == UNLIMITED {
                continue;
            }
            if denying == Some(i) {
                denied = Some(reports.len());
            }
            // At most N reports go into a vector of capacity N.
            let _ = reports.push(*r);
        }
        Rendered { reports, denied }
    }
}

/// A policy decision's reports ready for rendering: see [`PolicyDecision::rendered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered<const HZ: u64, const N: usize> {
    reports: heapless::Vec<Report<'static, HZ>, N>,
    denied: Option<usize>,
}

impl<const HZ: u64, const N: usize> Rendered<HZ, N> {
    /// The reports, unlimited limits left out.
    pub fn reports(&self) -> &[Report<'static, HZ>] {
        &self.reports
    }

    /// The input of the header and body renderers, for a decision made at `now`.
    pub fn set(&self, now: Instant<HZ>) -> ReportSet<'_, HZ> {
        // `denied` is an index into `reports` by construction.
        ReportSet::trusting(now, &self.reports, self.denied)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A tuple of 1 to 8 [`Named`] limits: what a [`Policy`] holds. Sealed; use it through [`Policy`].
///
/// Every method is generated per tuple arity, so a policy's calls are static and its state is the
/// tuple of its limits' states.
pub trait Limits<const HZ: u64>: sealed::Sealed {
    /// The tuple of the limits' states.
    type State;
    /// The answer: [`PolicyDecision<HZ, N>`](PolicyDecision) for `N` limits.
    type Decision;

    /// Every limit's fresh state.
    fn new_state(&self) -> Self::State;

    /// The smallest capacity among the limits.
    fn capacity(&self) -> u32;

    /// Decides a request against every limit, then records it in all of them or in none.
    ///
    /// # Errors
    ///
    /// [`ExceedsLimit`] when `cost` exceeds some limit's capacity; nothing is recorded.
    fn check(
        &self,
        state: &mut Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<Self::Decision, ExceedsLimit>;

    /// Decides a request without recording it.
    ///
    /// # Errors
    ///
    /// [`ExceedsLimit`] when `cost` exceeds some limit's capacity.
    fn peek(
        &self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<Self::Decision, ExceedsLimit>;

    /// Whether every limit is at rest.
    fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool;

    /// Releases `cost` from every limit, or from none if any refuses.
    ///
    /// # Errors
    ///
    /// The first [`ReleaseError`] in declaration order; the state is then unchanged.
    fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError>
    where
        Self::State: Clone;

    /// The decision as one [`Decision`] (see [`PolicyDecision::decision`]).
    fn summarize(decision: &Self::Decision) -> Decision<HZ>;
}

/// One limit's view of a request.
#[derive(Clone, Copy)]
struct View<const HZ: u64> {
    report: Report<'static, HZ>,
    admitted: bool,
}

/// The limit's capacity, or the lowered value an override gives it.
fn effective_capacity<A: Algorithm<HZ>, const HZ: u64>(
    named: &Named<A, HZ>,
    overrides: &Overrides<'_>,
) -> u32 {
    let capacity = named.limit.capacity();
    lowered(named.name, capacity, overrides).unwrap_or(capacity)
}

/// The value an override lowers a limit of `capacity` to, if it lowers it at all.
fn lowered(name: &str, capacity: u32, overrides: &Overrides<'_>) -> Option<u32> {
    if capacity == UNLIMITED || overrides.lower.is_empty() {
        return None;
    }
    overrides.lowered(name).filter(|&l| l < capacity)
}

/// How one limit decides `cost` at `now`, with overrides; `None` when the cost can never fit.
#[inline]
fn view<A: Algorithm<HZ>, const HZ: u64>(
    named: &Named<A, HZ>,
    state: &A::State,
    now: Instant<HZ>,
    cost: u32,
    overrides: &Overrides<'_>,
) -> Option<View<HZ>> {
    let plain = named.limit.peek(state, now, cost).ok()?;
    let capacity = named.limit.capacity();
    let decision = match lowered(named.name, capacity, overrides) {
        None => plain,
        Some(low) => {
            if cost > low {
                return None;
            }
            // k = L − L' > 0 phantom units; cost + k ≤ L' + k = L, so the peek fits.
            let k = capacity.saturating_sub(low);
            let virt = named.limit.peek(state, now, cost.saturating_add(k)).ok()?;
            let admitted = cost == 0 || (plain.is_allowed() && virt.is_allowed());
            // An admitted peek already subtracted cost + k; a denied one counted nothing.
            let remaining = if virt.is_allowed() {
                virt.remaining
            } else {
                virt.remaining.saturating_sub(k)
            };
            Decision {
                limit: low,
                remaining: remaining.min(low),
                // What is really recorded drains on the real schedule.
                reset: plain.reset,
                retry_after: if admitted {
                    None
                } else {
                    plain.retry_after.max(virt.retry_after)
                },
            }
        }
    };
    Some(View {
        report: Report {
            name: named.name,
            window: named.window,
            decision,
        },
        admitted: cost == 0 || decision.is_allowed(),
    })
}

/// The policy's outcome from its limits' views: the longest wait denies (first among equals).
fn outcome<const HZ: u64>(views: &[View<HZ>], forced: bool, cost: u32) -> Verdict {
    let mut worst: Option<(usize, Option<Duration<HZ>>)> = None;
    for (i, v) in views.iter().enumerate() {
        if v.admitted {
            continue;
        }
        let wait = v.report.decision.retry_after;
        if worst.is_none_or(|(_, w)| wait > w) {
            worst = Some((i, wait));
        }
    }
    match worst {
        Some((limit, _)) => Verdict::Denied { limit },
        None if forced && cost > 0 => Verdict::Forced,
        None => Verdict::Allowed,
    }
}

macro_rules! tuple_limits {
    ($n:literal; $($idx:tt : $A:ident),+) => {
        impl<const HZ: u64, $($A: Algorithm<HZ>),+> sealed::Sealed for ($(Named<$A, HZ>,)+) {}

        impl<const HZ: u64, $($A: Algorithm<HZ>),+> Limits<HZ> for ($(Named<$A, HZ>,)+) {
            type State = ($($A::State,)+);
            type Decision = PolicyDecision<HZ, $n>;

            fn new_state(&self) -> Self::State {
                ($(self.$idx.limit.new_state(),)+)
            }

            fn capacity(&self) -> u32 {
                let mut capacity = UNLIMITED;
                $(capacity = capacity.min(self.$idx.limit.capacity());)+
                capacity
            }

            #[inline]
            fn check(
                &self,
                state: &mut Self::State,
                now: Instant<HZ>,
                cost: u32,
                overrides: &Overrides<'_>,
            ) -> Result<Self::Decision, ExceedsLimit> {
                let decision = Limits::peek(self, state, now, cost, overrides)?;
                if decision.is_allowed() && cost > 0 {
                    // Every limit admitted `cost` on a peek, so by the trait's contract every
                    // check below admits and records: all or nothing.
                    $(let _ = self.$idx.limit.check(&mut state.$idx, now, cost);)+
                }
                Ok(decision)
            }

            #[inline]
            fn peek(
                &self,
                state: &Self::State,
                now: Instant<HZ>,
                cost: u32,
                overrides: &Overrides<'_>,
            ) -> Result<Self::Decision, ExceedsLimit> {
                let mut views = [$(
                    match view(&self.$idx, &state.$idx, now, cost, overrides) {
                        Some(v) => v,
                        None => return Err(exceeds(self, cost, overrides)),
                    },
                )+];
                let outcome = outcome(&views, overrides.deny, cost);
                if !matches!(outcome, Verdict::Allowed) {
                    // Nothing will be recorded: limits that would have admitted the request
                    // report their state without it.
                    $(
                        if let Some(v) = views.get_mut($idx)
                            && v.admitted
                            && let Some(bare) = view(&self.$idx, &state.$idx, now, 0, overrides)
                        {
                            *v = bare;
                        }
                    )+
                }
                Ok(PolicyDecision {
                    outcome,
                    reports: views.map(|v| v.report),
                })
            }

            fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool {
                true $(&& self.$idx.limit.is_at_rest(&state.$idx, now))+
            }

            fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError>
            where
                Self::State: Clone,
            {
                let mut next = state.clone();
                $(self.$idx.limit.release(&mut next.$idx, cost)?;)+
                *state = next;
                Ok(())
            }

            fn summarize(decision: &Self::Decision) -> Decision<HZ> {
                decision.decision()
            }
        }

        impl<const HZ: u64, $($A: Algorithm<HZ>),+> Capacities for ($(Named<$A, HZ>,)+) {
            fn smallest(&self, cost: u32, overrides: &Overrides<'_>) -> ExceedsLimit {
                let mut worst = ExceedsLimit { limit: "", cost, capacity: UNLIMITED };
                $(
                    let capacity = effective_capacity(&self.$idx, overrides);
                    if capacity < worst.capacity {
                        worst = ExceedsLimit { limit: self.$idx.name, cost, capacity };
                    }
                )+
                worst
            }
        }
    };
}

/// The error path, kept out of line: which limit has the smallest (effective) capacity.
trait Capacities {
    fn smallest(&self, cost: u32, overrides: &Overrides<'_>) -> ExceedsLimit;
}

#[cold]
#[inline(never)]
fn exceeds<L: Capacities>(limits: &L, cost: u32, overrides: &Overrides<'_>) -> ExceedsLimit {
    limits.smallest(cost, overrides)
}

tuple_limits!(1; 0: A0);
tuple_limits!(2; 0: A0, 1: A1);
tuple_limits!(3; 0: A0, 1: A1, 2: A2);
tuple_limits!(4; 0: A0, 1: A1, 2: A2, 3: A3);
tuple_limits!(5; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4);
tuple_limits!(6; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4, 5: A5);
tuple_limits!(7; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4, 5: A5, 6: A6);
tuple_limits!(8; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4, 5: A5, 6: A6, 7: A7);

/// Several named limits enforced together, all or nothing (see the [module docs](self)).
///
/// `L` is a tuple of 1 to 8 [`Named`] limits. A policy is itself an [`Algorithm`] (whose
/// [`Decision`] is [`PolicyDecision::decision`]), so it fits anywhere one limit does: a key table, a
/// shared limiter, another policy.
///
/// # Examples
///
/// Seed 000: 5 concurrent, 300 per minute and 900 per 15 minutes, from a `const`:
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Duration, Named, Policy, Unlimited};
///
/// const HZ: u64 = 1_000;
/// const fn quota(q: Result<Quota<HZ>, tollgate_core::ConfigError>) -> Quota<HZ> {
///     match q { Ok(q) => q, Err(_) => panic!("invalid quota") } // a compile-time error
/// }
/// const MINUTE: Quota<HZ> = quota(Quota::per_minute(300));
/// const QUARTER: Quota<HZ> = quota(Quota::per_seconds(900, 15 * 60));
/// static API: Policy<(Named<Gcra<HZ>, HZ>, Named<Gcra<HZ>, HZ>, Named<Unlimited, HZ>)> = Policy::new((
///     Named::new("minute", MINUTE.window(), Gcra::new(MINUTE)),
///     Named::new("quarter", QUARTER.window(), Gcra::new(QUARTER)),
///     Named::new("day", Duration::<HZ>::from_secs(86_400), Unlimited),
/// ));
///
/// let mut s = API.new_state();
/// let d = API.check(&mut s, Instant::<HZ>::from_ticks(0), 1)?;
/// assert_eq!(d.limited().count(), 2);
/// assert_eq!(d.reports[2].decision.limit, tollgate_core::UNLIMITED);
/// # Ok::<(), tollgate_core::ExceedsLimit>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Policy<L> {
    limits: L,
}

impl<L> Policy<L> {
    /// A policy enforcing every limit of the tuple `limits` together.
    pub const fn new(limits: L) -> Self {
        Self { limits }
    }

    /// The tuple of named limits.
    pub const fn limits(&self) -> &L {
        &self.limits
    }

    /// Every limit's fresh state, as a tuple.
    pub fn new_state<const HZ: u64>(&self) -> L::State
    where
        L: Limits<HZ>,
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
    /// [`ExceedsLimit`] when `cost` exceeds some limit's capacity; nothing is recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{ExceedsLimit, Gcra, Instant, Named, Policy, Quota};
    ///
    /// let (s, m) = (Quota::<1_000>::per_second(2)?, Quota::<1_000>::per_minute(3)?);
    /// let policy = Policy::new((
    ///     Named::new("second", s.window(), Gcra::new(s)),
    ///     Named::new("minute", m.window(), Gcra::new(m)),
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
    /// assert_eq!(
    ///     policy.check(&mut state, at(60_000), 3),
    ///     Err(ExceedsLimit { limit: "second", cost: 3, capacity: 2 })
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check<const HZ: u64>(
        &self,
        state: &mut L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<L::Decision, ExceedsLimit>
    where
        L: Limits<HZ>,
    {
        self.limits.check(state, now, cost, &Overrides::NONE)
    }

    /// [`check`](Self::check) with test [`Overrides`], which can only make it stricter.
    ///
    /// # Errors
    ///
    /// [`ExceedsLimit`] when `cost` exceeds some limit's capacity or lowered value; nothing is
    /// recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Instant, Named, Overrides, Policy, Quota};
    ///
    /// let hour = Quota::<1_000>::per_hour(100)?;
    /// let policy = Policy::new((Named::new("hour", hour.window(), Gcra::new(hour)),));
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
    pub fn check_with<const HZ: u64>(
        &self,
        state: &mut L::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<L::Decision, ExceedsLimit>
    where
        L: Limits<HZ>,
    {
        self.limits.check(state, now, cost, overrides)
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
    /// use tollgate_core::{Gcra, Instant, Named, Policy, Quota};
    ///
    /// let m = Quota::<1_000>::per_minute(1)?;
    /// let policy = Policy::new((Named::new("minute", m.window(), Gcra::new(m)),));
    /// let mut s = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let peeked = policy.peek(&s, now, 1)?;
    /// assert_eq!(s, policy.new_state()); // nothing recorded
    /// assert_eq!(peeked, policy.check(&mut s, now, 1)?);
    /// assert_eq!(policy.peek(&s, now, 1)?.limit_exceeded(), Some("minute"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn peek<const HZ: u64>(
        &self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<L::Decision, ExceedsLimit>
    where
        L: Limits<HZ>,
    {
        self.limits.peek(state, now, cost, &Overrides::NONE)
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
    /// use tollgate_core::{Gcra, Instant, Named, Overrides, Policy, Quota, Verdict};
    ///
    /// let m = Quota::<1_000>::per_minute(10)?;
    /// let policy = Policy::new((Named::new("minute", m.window(), Gcra::new(m)),));
    /// let s = policy.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let forced = policy.peek_with(&s, now, 1, &Overrides::deny())?; // X-RateLimit: 1
    /// assert_eq!(forced.outcome, Verdict::Forced);
    /// assert!(policy.peek(&s, now, 1)?.is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn peek_with<const HZ: u64>(
        &self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<L::Decision, ExceedsLimit>
    where
        L: Limits<HZ>,
    {
        self.limits.peek(state, now, cost, overrides)
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

    /// Gives `cost` back to every limit (only in-flight limits act on it), or to none.
    ///
    /// # Errors
    ///
    /// The first [`ReleaseError`] in declaration order; then no limit's state changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Concurrency, Duration, Gcra, Instant, Named, Policy, Quota, ReleaseError};
    ///
    /// let rate = Quota::<1_000>::per_second(10)?;
    /// let policy = Policy::new((
    ///     Named::new("concurrent", Duration::<1_000>::from_ticks(0), Concurrency::new(2)?),
    ///     Named::new("second", rate.window(), Gcra::new(rate)),
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
        L::State: Clone,
    {
        self.limits.release(state, cost)
    }
}

impl<const HZ: u64, L: Limits<HZ>> Algorithm<HZ> for Policy<L>
where
    L::State: Clone,
{
    type State = L::State;

    fn new_state(&self) -> L::State {
        self.limits.new_state()
    }

    fn capacity(&self) -> u32 {
        self.limits.capacity()
    }

    fn check(
        &self,
        state: &mut L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        self.limits
            .check(state, now, cost, &Overrides::NONE)
            .map(|d| L::summarize(&d))
            .map_err(InsufficientCapacity::from)
    }

    fn peek(
        &self,
        state: &L::State,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        self.limits
            .peek(state, now, cost, &Overrides::NONE)
            .map(|d| L::summarize(&d))
            .map_err(InsufficientCapacity::from)
    }

    fn is_at_rest(&self, state: &L::State, now: Instant<HZ>) -> bool {
        self.limits.is_at_rest(state, now)
    }

    fn release(&self, state: &mut L::State, cost: u32) -> Result<(), ReleaseError> {
        self.limits.release(state, cost)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Gcra, GcraState, Quota};

    /// Small test-only algorithms, so policies can be tested before the real ones land.
    pub(crate) mod fake {
        use crate::algorithm::{Algorithm, Decision};
        use crate::error::{InsufficientCapacity, ReleaseError};
        use crate::time::{Duration, Instant};

        /// `limit` per fixed window of `window` ticks (windows start at multiples of `window`).
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct FixedWindow {
            pub(crate) limit: u32,
            pub(crate) window: u64,
        }

        /// The window index of the last recording and what it recorded.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub(crate) struct Count {
            pub(crate) index: u64,
            pub(crate) count: u32,
        }

        impl FixedWindow {
            /// The window index and count a request at `now` is decided against.
            fn current(&self, s: &Count, now: u64) -> (u64, u32) {
                let index = now / self.window;
                if s.count == 0 || s.index < index {
                    (index, 0)
                } else {
                    // Same window, or a backwards clock: decide as in the latest window seen.
                    (s.index, s.count)
                }
            }

            fn decide(&self, s: &Count, now: u64, cost: u32) -> (Decision<1_000>, Option<Count>) {
                let (index, count) = self.current(s, now);
                let end = (index + 1) * self.window;
                let admitted =
                    cost == 0 || u64::from(count) + u64::from(cost) <= u64::from(self.limit);
                let used = if admitted { count + cost } else { count };
                let d = Decision {
                    limit: self.limit,
                    remaining: self.limit - used,
                    reset: Duration::<1_000>::from_ticks(if used == 0 {
                        0
                    } else {
                        end.saturating_sub(now)
                    }),
                    retry_after: (!admitted)
                        .then(|| Duration::<1_000>::from_ticks(end.saturating_sub(now))),
                };
                let next = (admitted && cost > 0).then_some(Count { index, count: used });
                (d, next)
            }
        }

        impl Algorithm<1_000> for FixedWindow {
            type State = Count;
            fn new_state(&self) -> Count {
                Count::default()
            }
            fn capacity(&self) -> u32 {
                self.limit
            }
            fn check(
                &self,
                s: &mut Count,
                now: Instant<1_000>,
                cost: u32,
            ) -> Result<Decision<1_000>, InsufficientCapacity> {
                crate::algorithm::fits(cost, self.limit)?;
                let (d, next) = self.decide(s, now.as_ticks(), cost);
                if let Some(next) = next {
                    *s = next;
                }
                Ok(d)
            }
            fn peek(
                &self,
                s: &Count,
                now: Instant<1_000>,
                cost: u32,
            ) -> Result<Decision<1_000>, InsufficientCapacity> {
                crate::algorithm::fits(cost, self.limit)?;
                Ok(self.decide(s, now.as_ticks(), cost).0)
            }
            fn is_at_rest(&self, s: &Count, now: Instant<1_000>) -> bool {
                s.count == 0 || s.index < now.as_ticks() / self.window
            }
        }

        /// At most `max` in flight; denials suggest retrying after `hint` ticks.
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct InFlight {
            pub(crate) max: u32,
            pub(crate) hint: u64,
        }

        impl InFlight {
            fn decide(&self, held: u32, cost: u32) -> Decision<1_000> {
                let admitted = cost == 0 || held + cost <= self.max;
                let used = if admitted { held + cost } else { held };
                Decision {
                    limit: self.max,
                    remaining: self.max - used,
                    reset: Duration::<1_000>::from_ticks(0),
                    retry_after: (!admitted).then(|| Duration::<1_000>::from_ticks(self.hint)),
                }
            }
        }

        impl Algorithm<1_000> for InFlight {
            type State = u32;
            fn new_state(&self) -> u32 {
                0
            }
            fn capacity(&self) -> u32 {
                self.max
            }
            fn check(
                &self,
                s: &mut u32,
                _now: Instant<1_000>,
                cost: u32,
            ) -> Result<Decision<1_000>, InsufficientCapacity> {
                crate::algorithm::fits(cost, self.max)?;
                let d = self.decide(*s, cost);
                if d.is_allowed() {
                    *s += cost;
                }
                Ok(d)
            }
            fn peek(
                &self,
                s: &u32,
                _now: Instant<1_000>,
                cost: u32,
            ) -> Result<Decision<1_000>, InsufficientCapacity> {
                crate::algorithm::fits(cost, self.max)?;
                Ok(self.decide(*s, cost))
            }
            fn is_at_rest(&self, s: &u32, _now: Instant<1_000>) -> bool {
                *s == 0
            }
            fn release(&self, s: &mut u32, cost: u32) -> Result<(), ReleaseError> {
                match s.checked_sub(cost) {
                    Some(left) => {
                        *s = left;
                        Ok(())
                    }
                    None => Err(ReleaseError {
                        released: cost,
                        in_flight: *s,
                    }),
                }
            }
        }
    }

    use fake::{Count, FixedWindow, InFlight};

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    fn gcra(q: Result<Quota<1_000>, crate::ConfigError>) -> Gcra<1_000> {
        Gcra::new(q.unwrap())
    }

    /// Seed 000: 5 concurrent, 300 per minute (burst 5), 900 per 15 minutes.
    #[allow(clippy::type_complexity)]
    fn seed_000() -> Policy<(
        Named<InFlight, 1_000>,
        Named<Gcra<1_000>, 1_000>,
        Named<Gcra<1_000>, 1_000>,
    )> {
        Policy::new((
            Named::new(
                "concurrent",
                D::from_ticks(0),
                InFlight {
                    max: 5,
                    hint: 1_000,
                },
            ),
            Named::new(
                "minute",
                D::from_secs(60),
                gcra(Quota::per_minute(300).and_then(|q| q.with_burst(5))),
            ),
            Named::new(
                "quarter",
                D::from_secs(900),
                gcra(Quota::per_seconds(900, 900)),
            ),
        ))
    }

    #[test]
    fn a_policy_state_is_the_tuple_of_its_limits_states() {
        let p = seed_000();
        let s: (u32, GcraState, GcraState) = p.new_state();
        assert_eq!(core::mem::size_of_val(&s), 24);
        assert_eq!(p.capacity(), 5);
    }

    #[test]
    fn a_request_denied_by_one_limit_charges_none_of_them() {
        let p = seed_000();
        let mut s = p.new_state();
        for _ in 0..5 {
            assert!(p.check(&mut s, at(0), 1).unwrap().is_allowed());
            p.release(&mut s, 1).unwrap(); // each request finishes at once
        }
        let before = s;
        let d = p.check(&mut s, at(0), 1).unwrap();
        assert_eq!(s, before);
        assert_eq!(
            (d.limit_exceeded(), d.retry_after()),
            (Some("minute"), Some(D::from_millis(200)))
        );
        // "concurrent" and "quarter" would have admitted it, and were not charged.
        assert_eq!(
            (
                d.reports[0].decision.remaining,
                d.reports[2].decision.remaining
            ),
            (5, 895)
        );
        assert_eq!(s.0, 0);
    }

    #[test]
    fn the_denying_limit_with_the_longest_wait_is_named() {
        let p = Policy::new((
            Named::new(
                "concurrent",
                D::from_ticks(0),
                InFlight { max: 1, hint: 50 },
            ),
            Named::new(
                "second",
                D::from_secs(1),
                FixedWindow {
                    limit: 1,
                    window: 1_000,
                },
            ),
        ));
        let mut s = p.new_state();
        p.check(&mut s, at(100), 1).unwrap();
        let d = p.check(&mut s, at(100), 1).unwrap();
        assert_eq!(d.outcome, Verdict::Denied { limit: 1 });
        assert_eq!(
            (d.limit_exceeded(), d.retry_after()),
            (Some("second"), Some(D::from_millis(900)))
        );
        // Both denied, so both report their own wait.
        assert_eq!(d.reports[0].decision.retry_after, Some(D::from_millis(50)));
        let d = p.check(&mut s, at(999), 1).unwrap();
        assert_eq!(
            (d.limit_exceeded(), d.retry_after()),
            (Some("concurrent"), Some(D::from_millis(50)))
        );
    }

    #[test]
    fn equal_waits_name_the_first_declared_limit() {
        let p = Policy::new((
            Named::new(
                "a",
                D::from_secs(1),
                FixedWindow {
                    limit: 1,
                    window: 1_000,
                },
            ),
            Named::new(
                "b",
                D::from_secs(1),
                FixedWindow {
                    limit: 1,
                    window: 1_000,
                },
            ),
        ));
        let mut s = p.new_state();
        p.check(&mut s, at(0), 1).unwrap();
        assert_eq!(
            p.check(&mut s, at(0), 1).unwrap().limit_exceeded(),
            Some("a")
        );
    }

    #[test]
    fn limits_that_would_admit_a_denied_request_report_it_unrecorded() {
        let p = Policy::new((
            Named::new(
                "hour",
                D::from_secs(3_600),
                FixedWindow {
                    limit: 50,
                    window: 3_600_000,
                },
            ),
            Named::new(
                "second",
                D::from_secs(1),
                FixedWindow {
                    limit: 1,
                    window: 1_000,
                },
            ),
        ));
        let mut s = p.new_state();
        p.check(&mut s, at(0), 1).unwrap();
        let d = p.check(&mut s, at(0), 1).unwrap();
        assert_eq!(
            d.reports[0].decision,
            Decision {
                limit: 50,
                remaining: 49,
                reset: D::from_secs(3_600),
                retry_after: None
            }
        );
        assert_eq!(s.0.count, 1);
    }

    #[test]
    fn a_cost_above_a_capacity_is_an_error_naming_the_smallest_limit() {
        let p = seed_000();
        let mut s = p.new_state();
        let e = p.check(&mut s, at(0), 900).unwrap_err();
        assert_eq!(
            e,
            ExceedsLimit {
                limit: "concurrent",
                cost: 900,
                capacity: 5
            }
        );
        assert_eq!(s, p.new_state());
        assert_eq!(p.peek(&s, at(0), u32::MAX).unwrap_err().capacity, 5);
    }

    #[test]
    fn a_zero_cost_is_admitted_and_records_nothing_even_when_forced() {
        let p = seed_000();
        let mut s = p.new_state();
        for _ in 0..5 {
            p.check(&mut s, at(0), 1).unwrap();
        }
        let before = s;
        for ov in [
            Overrides::NONE,
            Overrides::deny(),
            Overrides::lowering(&[("minute", 0)]),
        ] {
            let d = p.check_with(&mut s, at(0), 0, &ov).unwrap();
            assert!(d.is_allowed(), "{ov:?}");
            assert_eq!(s, before);
        }
    }

    #[test]
    fn unlimited_limits_always_admit_and_report_u32_max() {
        let p = Policy::new((
            Named::new(
                "minute",
                D::from_secs(60),
                FixedWindow {
                    limit: 2,
                    window: 60_000,
                },
            ),
            Named::new("day", D::from_secs(86_400), Unlimited),
            Named::new("week", D::from_secs(604_800), None::<FixedWindow>),
        ));
        let mut s = p.new_state();
        let d = p.check(&mut s, at(0), 2).unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.reports[1].decision, unlimited_decision());
        assert_eq!(d.reports[2].decision.limit, UNLIMITED);
        assert_eq!(d.limited().map(|r| r.name).collect::<Vec<_>>(), ["minute"]);
        assert_eq!(d.applicable().map(|r| r.name), Some("minute"));
        assert_eq!(p.capacity(), 2);
        // Unlimited limits cannot be lowered.
        let d = p
            .check_with(
                &mut s,
                at(60_000),
                1,
                &Overrides::lowering(&[("day", 0), ("week", 0)]),
            )
            .unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.reports[1].decision.limit, UNLIMITED);
        let only_unlimited = Policy::new((Named::new("day", D::from_secs(86_400), Unlimited),));
        let d = only_unlimited.check(&mut ((),), at(0), u32::MAX).unwrap();
        assert_eq!((d.applicable(), d.decision().limit), (None, UNLIMITED));
    }

    #[test]
    fn an_override_lowers_a_limit_for_that_request_only() {
        let p = Policy::new((
            Named::new(
                "hour",
                D::from_secs(3_600),
                FixedWindow {
                    limit: 50,
                    window: 3_600_000,
                },
            ),
            Named::new(
                "day",
                D::from_secs(86_400),
                FixedWindow {
                    limit: 600,
                    window: 86_400_000,
                },
            ),
        ));
        let mut s = p.new_state();
        let five = [("HOUR", 5)];
        let ov = Overrides::lowering(&five);
        for i in 0..5 {
            let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
            assert!(d.is_allowed());
            assert_eq!(
                (d.reports[0].decision.limit, d.reports[0].decision.remaining),
                (5, 4 - i)
            );
            assert_eq!(d.reports[1].decision.remaining, 599 - i);
        }
        let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
        assert_eq!(
            (d.limit_exceeded(), d.retry_after()),
            (Some("hour"), Some(D::from_secs(3_600)))
        );
        assert_eq!(d.reports[0].decision.remaining, 0);
        assert_eq!(
            s,
            (Count { index: 0, count: 5 }, Count { index: 0, count: 5 })
        );
        // Without the override the real limit of 50 applies.
        assert_eq!(
            p.check(&mut s, at(0), 1).unwrap().reports[0]
                .decision
                .remaining,
            44
        );
    }

    #[test]
    fn an_override_never_raises_a_limit_and_unknown_names_are_ignored() {
        let p = Policy::new((Named::new(
            "hour",
            D::from_secs(3_600),
            FixedWindow {
                limit: 2,
                window: 3_600_000,
            },
        ),));
        let mut s = p.new_state();
        let ov = Overrides::lowering(&[("hour", 100), ("minute", 1), ("hour", 2)]);
        assert!(p.check_with(&mut s, at(0), 2, &ov).unwrap().is_allowed());
        let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
        assert_eq!((d.is_denied(), d.reports[0].decision.limit), (true, 2));
        assert_eq!(p.check_with(&mut s, at(0), 3, &ov).unwrap_err().capacity, 2);
    }

    #[test]
    fn the_lowest_repeated_override_wins_and_a_cost_above_it_is_an_error() {
        let p = Policy::new((Named::new(
            "hour",
            D::from_secs(3_600),
            FixedWindow {
                limit: 50,
                window: 3_600_000,
            },
        ),));
        let mut s = p.new_state();
        let ov = Overrides::lowering(&[("hour", 5), ("hour", 3)]);
        assert_eq!(
            p.check_with(&mut s, at(0), 4, &ov).unwrap_err(),
            ExceedsLimit {
                limit: "hour",
                cost: 4,
                capacity: 3
            }
        );
        assert_eq!(s, Count::default().into_tuple());
        assert_eq!(
            p.check_with(&mut s, at(0), 1, &Overrides::lowering(&[("hour", 0)]))
                .unwrap_err()
                .capacity,
            0
        );
    }

    impl Count {
        fn into_tuple(self) -> (Count,) {
            (self,)
        }
    }

    #[test]
    fn a_lowered_gcra_keeps_its_rate_and_lowers_its_burst() {
        let p = Policy::new((Named::new(
            "second",
            D::from_secs(1),
            gcra(Quota::per_second(10)),
        ),));
        let mut s = p.new_state();
        let ov = Overrides::lowering(&[("second", 2)]);
        assert!(p.check_with(&mut s, at(0), 2, &ov).unwrap().is_allowed());
        let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
        assert_eq!(
            (d.retry_after(), d.reports[0].decision.limit),
            (Some(D::from_millis(100)), 2)
        );
        assert!(p.check_with(&mut s, at(99), 1, &ov).unwrap().is_denied());
        assert!(p.check_with(&mut s, at(100), 1, &ov).unwrap().is_allowed());
        assert_eq!(s.0.to_raw(), 300);
    }

    #[test]
    fn a_forced_denial_records_nothing_and_waits_zero() {
        let p = seed_000();
        let mut s = p.new_state();
        let d = p.check_with(&mut s, at(0), 1, &Overrides::deny()).unwrap();
        assert_eq!(
            (d.outcome, d.retry_after(), d.limit_exceeded()),
            (Verdict::Forced, Some(D::from_ticks(0)), None)
        );
        assert_eq!(s, p.new_state());
        assert_eq!(d.reports[1].decision.remaining, 5); // unrecorded
        assert_eq!(d.applicable().map(|r| r.name), Some("concurrent"));
    }

    #[test]
    fn a_forced_denial_defers_to_a_real_one() {
        let p = seed_000();
        let mut s = p.new_state();
        p.check(&mut s, at(0), 5).unwrap();
        p.release(&mut s, 5).unwrap();
        let d = p.check_with(&mut s, at(0), 1, &Overrides::deny()).unwrap();
        assert_eq!(
            (d.limit_exceeded(), d.retry_after()),
            (Some("minute"), Some(D::from_millis(200)))
        );
    }

    #[test]
    fn release_reaches_every_limit_or_none() {
        let p = Policy::new((
            Named::new("a", D::from_ticks(0), InFlight { max: 5, hint: 1 }),
            Named::new(
                "m",
                D::from_secs(60),
                FixedWindow {
                    limit: 10,
                    window: 60_000,
                },
            ),
            Named::new("b", D::from_ticks(0), InFlight { max: 5, hint: 1 }),
        ));
        let mut s = p.new_state();
        p.check(&mut s, at(0), 3).unwrap();
        s.2 = 1; // b holds less than a
        assert_eq!(
            p.release(&mut s, 2),
            Err(ReleaseError {
                released: 2,
                in_flight: 1
            })
        );
        assert_eq!(s, (3, Count { index: 0, count: 3 }, 1));
        assert_eq!(p.release(&mut s, 1), Ok(()));
        assert_eq!(s, (2, Count { index: 0, count: 3 }, 0));
    }

    #[test]
    fn the_applicable_limit_is_the_denying_one_else_the_least_remaining() {
        let p = Policy::new((
            Named::new(
                "minute",
                D::from_secs(60),
                FixedWindow {
                    limit: 30,
                    window: 60_000,
                },
            ),
            Named::new(
                "hour",
                D::from_secs(3_600),
                FixedWindow {
                    limit: 31,
                    window: 3_600_000,
                },
            ),
        ));
        let mut s = p.new_state();
        let d = p.check(&mut s, at(0), 1).unwrap();
        assert_eq!(d.applicable().map(|r| r.name), Some("minute"));
        p.check(&mut s, at(59_999), 29).unwrap();
        let d = p.check(&mut s, at(60_000), 1).unwrap(); // minute: 29 left; hour: 0 left
        assert_eq!(
            d.applicable().map(|r| (r.name, r.decision.remaining)),
            Some(("hour", 0))
        );
        let d = p.check(&mut s, at(60_000), 1).unwrap();
        assert_eq!(d.applicable().map(|r| r.name), Some("hour"));
        assert_eq!(
            d.decision(),
            Decision {
                limit: 30,
                remaining: 0,
                reset: D::from_millis(3_540_000),
                retry_after: Some(D::from_millis(3_540_000))
            }
        );
    }

    #[test]
    fn a_policy_is_an_algorithm_whose_peek_equals_its_check() {
        fn as_algorithm<A: Algorithm<1_000>>(
            a: &A,
            s: &mut A::State,
        ) -> (Decision<1_000>, Decision<1_000>) {
            let peeked = a.peek(s, at(0), 2).unwrap();
            (peeked, a.check(s, at(0), 2).unwrap())
        }
        let p = seed_000();
        let mut s = Algorithm::new_state(&p);
        let (peeked, checked) = as_algorithm(&p, &mut s);
        assert_eq!(peeked, checked);
        // The tightest limit and remaining, and the time until the whole policy is at rest.
        assert_eq!(
            checked,
            Decision {
                limit: 5,
                remaining: 3,
                reset: D::from_millis(2_000),
                retry_after: None
            }
        );
        assert_eq!(
            Algorithm::<1_000>::check(&p, &mut s, at(0), 6),
            Err(InsufficientCapacity {
                cost: 6,
                capacity: 5
            })
        );
        assert!(!Algorithm::is_at_rest(&p, &s, at(10_000)));
        Algorithm::release(&p, &mut s, 2).unwrap();
        assert!(Algorithm::is_at_rest(&p, &s, at(10_000)));
    }

    #[test]
    fn seed_002_reports_one_value_per_bucket_in_declaration_order() {
        let p = Policy::new((
            Named::new(
                "15min",
                D::from_secs(900),
                gcra(Quota::per_seconds(2_300, 900)),
            ),
            Named::new(
                "30min",
                D::from_secs(1_800),
                gcra(Quota::per_seconds(4_500, 1_800)),
            ),
            Named::new("1hr", D::from_secs(3_600), gcra(Quota::per_hour(8_800))),
            Named::new("24hrs", D::from_secs(86_400), gcra(Quota::per_day(105_600))),
        ));
        let mut s = p.new_state();
        let d = p.check(&mut s, at(0), 10).unwrap();
        let remaining: Vec<String> = d
            .reports()
            .iter()
            .map(|r| r.decision.remaining.to_string())
            .collect();
        assert_eq!(remaining.join(","), "2290,4490,8790,105590");
    }

    #[test]
    fn seed_004_names_the_exceeded_window_and_all_limits() {
        let p = Policy::new((
            Named::new(
                "hour",
                D::from_secs(3_600),
                FixedWindow {
                    limit: 50,
                    window: 3_600_000,
                },
            ),
            Named::new(
                "day",
                D::from_secs(86_400),
                FixedWindow {
                    limit: 600,
                    window: 86_400_000,
                },
            ),
        ));
        let mut s = p.new_state();
        p.check(&mut s, at(0), 50).unwrap();
        let d = p.check(&mut s, at(1_000), 1).unwrap();
        let limits: Vec<(&str, u32)> = d
            .reports()
            .iter()
            .map(|r| (r.name, r.decision.limit))
            .collect();
        assert_eq!(
            (d.limit_exceeded(), limits),
            (Some("hour"), vec![("hour", 50), ("day", 600)])
        );
    }

    #[test]
    fn a_report_set_names_the_policys_denying_limit_and_none_when_forced() {
        let p = seed_000();
        let mut s = p.new_state();
        let d = p.check(&mut s, at(0), 5).unwrap();
        let set = d.report_set(at(0));
        assert_eq!(
            (set.now(), set.denied_index(), set.reports().len()),
            (at(0), None, 3)
        );
        // Concurrency (1 s hint) and the minute (200 ms) both deny; the hint is the longer wait.
        let d = p.check(&mut s, at(0), 1).unwrap();
        assert_eq!(
            d.report_set(at(0)).denied().map(|r| r.name),
            Some("concurrent")
        );
        p.release(&mut s, 5).unwrap();
        let forced = p
            .check_with(&mut s, at(1_000), 1, &Overrides::deny())
            .unwrap();
        let set = forced.report_set(at(1_000));
        assert_eq!((set.denied_index(), set.retry_after()), (None, None));
    }

    #[test]
    fn eight_limits_compose() {
        let w = |n| {
            Named::new(
                "w",
                D::from_secs(1),
                FixedWindow {
                    limit: n,
                    window: 1_000,
                },
            )
        };
        let p = Policy::new((w(8), w(7), w(6), w(5), w(4), w(3), w(2), w(1)));
        let mut s = p.new_state();
        let d = p.check(&mut s, at(0), 1).unwrap();
        assert_eq!((d.reports.len(), d.decision().remaining), (8, 0));
        assert!(p.check(&mut s, at(0), 1).unwrap().is_denied());
    }
}
