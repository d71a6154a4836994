//! A policy's answer: the verdict and one report per limit.

use crate::algorithm::Decision;
use crate::policy::report::{Report, ReportSet, least_remaining};
use crate::time::{Duration, Instant};

/// Whether a policy admitted a request and, if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Every limit admitted the request (and, from a check, recorded it).
    Allowed,
    /// The limit at this position (declaration order) denied it, with the longest wait of all
    /// the limits that denied it.
    Denied {
        /// Index into [`PolicyDecision::reports`].
        index: usize,
    },
    /// An override forced a denial that no limit would have made.
    Forced,
}

/// A policy's answer: the verdict, and one [`Report`] per limit in declaration order.
///
/// `R` holds the reports: an array `[Report<'n, HZ>; N]` for a policy of a fixed number of
/// limits (the decision is then `Copy` and allocation-free), or a slice of the caller's buffer
/// for a list of limits chosen at run time ([`Policy::check_into`](crate::Policy::check_into)).
/// Every method is the same for both, so code generic over policies (a middleware layer, a
/// firmware task) reads any policy's answer the same way.
///
/// Multi-bucket headers render [`reports`](Self::reports) through
/// [`report_set`](Self::report_set); a JSON body names [`limit_exceeded`](Self::limit_exceeded).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, Named, Policy};
///
/// let policy = Policy::new((
///     Named::new("minute", Gcra::new(Quota::<1_000>::per_minute(30)?)),
///     Named::new("hour", Gcra::new(Quota::<1_000>::per_hour(500)?)),
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
pub struct PolicyDecision<const HZ: u64, R> {
    /// Admitted, denied by a limit, or forced.
    pub outcome: Verdict,
    /// Every limit's report, in declaration order (unlimited ones included).
    pub reports: R,
}

impl<'n, const HZ: u64, R: AsRef<[Report<'n, HZ>]>> PolicyDecision<HZ, R> {
    /// Whether the request was (or, from a peek, would be) admitted.
    pub const fn is_allowed(&self) -> bool {
        matches!(self.outcome, Verdict::Allowed)
    }

    /// Whether the request was (or would be) denied.
    pub const fn is_denied(&self) -> bool {
        !self.is_allowed()
    }

    /// Every limit's report, in declaration order.
    pub fn reports(&self) -> &[Report<'n, HZ>] {
        self.reports.as_ref()
    }

    /// The reports of the limits that count something (unlimited ones left out).
    pub fn limited<'s>(&'s self) -> impl Iterator<Item = &'s Report<'n, HZ>>
    where
        'n: 's,
    {
        self.reports().iter().filter(|r| r.counts())
    }

    /// The index of the limit that denied the request, if one did (a forced denial names none).
    pub const fn denied_index(&self) -> Option<usize> {
        match self.outcome {
            Verdict::Denied { index } => Some(index),
            Verdict::Allowed | Verdict::Forced => None,
        }
    }

    /// The report of the limit that denied the request (the longest wait), if one did.
    pub fn denied_by(&self) -> Option<&Report<'n, HZ>> {
        self.reports().get(self.denied_index()?)
    }

    /// The name of the limit that denied the request (the `limit_exceeded` of a JSON 429 body),
    /// if one did.
    pub fn limit_exceeded(&self) -> Option<&'n str> {
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

    /// How long an admitted request waits before it proceeds: the longest delay of its limits
    /// (only a [`Shaper`](crate::Shaper) delays), zero when denied.
    pub fn delay(&self) -> Duration<HZ> {
        if !self.is_allowed() {
            return Duration::<HZ>::from_ticks(0);
        }
        self.reports()
            .iter()
            .map(|r| r.decision.delay)
            .max()
            .unwrap_or(Duration::<HZ>::from_ticks(0))
    }

    /// The one limit to show in single-value headers: the denying limit if there is one, else the
    /// limit with the least `remaining` (the first declared among equals). `None` only when every
    /// limit is unlimited.
    pub fn applicable(&self) -> Option<&Report<'n, HZ>> {
        self.denied_by()
            .or_else(|| self.reports().get(least_remaining(self.reports())?))
    }

    /// The time until every limit is at rest again: the longest `reset`.
    pub fn reset(&self) -> Duration<HZ> {
        self.reports()
            .iter()
            .map(|r| r.decision.reset)
            .max()
            .unwrap_or(Duration::<HZ>::from_ticks(0))
    }

    /// The policy as one [`Decision`]: the smallest `limit`, the smallest `remaining`, the longest
    /// `reset`, the policy's `retry_after` and `delay`. This is what a [`Policy`](crate::Policy)
    /// answers as an [`Algorithm`](crate::Algorithm); for headers, prefer
    /// [`applicable`](Self::applicable), whose fields all belong to one limit.
    pub fn decision(&self) -> Decision<HZ> {
        let mut d = Decision::allowed(u32::MAX, u32::MAX, self.reset());
        for r in self.reports() {
            d.limit = d.limit.min(r.decision.limit);
            d.remaining = d.remaining.min(r.decision.remaining);
        }
        d.retry_after = self.retry_after();
        d.delay = self.delay();
        d
    }

    /// The decision made at `now` as a [`ReportSet`], the input of the header and body
    /// renderers: every report, with the denying one being the limit the policy named
    /// ([`denied_by`](Self::denied_by)). Unlimited limits are in the set but never rendered.
    ///
    /// Use this rather than [`ReportSet::first_denied`]: when several limits deny, the policy
    /// names the one with the longest wait, which need not be the first. A
    /// [forced](Verdict::Forced) denial names no limit, so the set has no denying report (and no
    /// `Retry-After`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Gcra, Quota, Instant, Duration, Named, Policy};
    ///
    /// let policy = Policy::new((
    ///     Named::new("second", Gcra::new(Quota::<1_000>::per_second(1)?)),
    ///     Named::new("minute", Gcra::new(Quota::<1_000>::per_minute(1)?)),
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
    pub fn report_set<'s>(&'s self, now: Instant<HZ>) -> ReportSet<'s, HZ>
    where
        'n: 's,
    {
        // The index comes from this decision's own reports, so it is always in range.
        ReportSet::trusting(now, self.reports(), self.denied_index())
    }
}
