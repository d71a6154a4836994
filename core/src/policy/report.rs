//! One named limit's part in an answer, the common input of header and body rendering.

use crate::algorithm::{Allowance, Decision};
use crate::error::IndexOutOfRange;
use crate::time::{Duration, Instant};

/// What one named limit decided, with what a client needs to interpret it.
///
/// A policy answers with one `Report` per limit, in declaration order; the header and body
/// renderers take a slice of them, so single limits and multi-bucket policies render the same way.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, Report};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_minute(300)?);
/// let mut s = gcra.new_state();
/// let decision = gcra.check(&mut s, Instant::<1_000>::from_ticks(0), 1)?;
/// let r = Report { name: "minute", allowance: gcra.allowance(), decision };
/// assert_eq!((r.name, r.decision.remaining, r.allowance.count()), ("minute", 299, Some(300)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report<'a, const HZ: u64> {
    /// The limit's name as clients see it (`"minute"`, `"hour"`, `"concurrent"`).
    pub name: &'a str,
    /// What the limit allows, as its user wrote it ("300 per minute", "5 at once", unlimited).
    pub allowance: Allowance<HZ>,
    /// What the limit decided.
    pub decision: Decision<HZ>,
}

impl<const HZ: u64> Report<'_, HZ> {
    /// A report of nothing, to fill a buffer before a policy writes into it.
    pub const EMPTY: Report<'static, HZ> = Report {
        name: "",
        allowance: Allowance::Unlimited,
        decision: Decision::allowed(0, 0, Duration::<HZ>::from_ticks(0)),
    };

    /// Whether this limit counts anything (it is not [unlimited](Allowance::Unlimited)): only
    /// such reports are rendered as headers.
    pub const fn counts(&self) -> bool {
        !self.allowance.is_unlimited()
    }
}

/// The index of the report with the least `remaining` among those that count something, the
/// first on a tie; `None` when there are none. What a single-valued header shows when nothing
/// denied.
pub(crate) fn least_remaining<const HZ: u64>(reports: &[Report<'_, HZ>]) -> Option<usize> {
    // `min_by_key` returns the first of several equal minima.
    reports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.counts())
        .min_by_key(|(_, r)| r.decision.remaining)
        .map(|(i, _)| i)
}

/// What a policy decided at `now`: one [`Report`] per limit in policy order, and which one
/// denied. The input of every header and body renderer.
///
/// # Examples
///
/// An API's per-minute and per-15-minutes limits, the per-minute one exhausted:
///
/// ```
/// use tollgate_core::{Allowance, Decision, Duration, HeaderConfig, HeaderLines, Instant, Report, ReportSet,
///                     ResetFormat, LimitValues, WallClock, XRateLimit};
/// type D = Duration<1_000>;
///
/// let now = Instant::<1_000>::from_ticks(60_000);
/// let reports = [
///     Report { name: "minute", allowance: Allowance::PerWindow { count: 300, window: D::from_secs(60) }, decision: Decision {
///         limit: 300, remaining: 0, reset: D::from_millis(59_500),
///         retry_after: Some(D::from_millis(200)), delay: D::from_ticks(0)  } },
///     Report { name: "quarter", allowance: Allowance::PerWindow { count: 900, window: D::from_secs(900) }, decision: Decision {
///         limit: 900, remaining: 600, reset: D::from_secs(300), retry_after: None, delay: D::from_ticks(0)  } },
/// ];
/// let set = ReportSet::new(now, &reports, Some(0))?;
/// let clock = WallClock::new(Instant::<1_000>::from_ticks(0), 1_742_377_140_000);
/// let config = HeaderConfig::none()
///     .with_x_ratelimit(XRateLimit::new(ResetFormat::EpochSeconds(clock), LimitValues::Single))
///     .with_retry_after();
/// let mut out = HeaderLines(heapless::String::<256>::new());
/// set.write_headers(&config, &mut out)?;
/// assert_eq!(out.0, "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 0\r\n\
///                    X-RateLimit-Reset: 1742377260\r\nRetry-After: 1\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReportSet<'a, const HZ: u64> {
    now: Instant<HZ>,
    reports: &'a [Report<'a, HZ>],
    denied: Option<usize>,
}

impl<'a, const HZ: u64> ReportSet<'a, HZ> {
    /// The reports made at `now`, with `denied` the index of the report that denied, if any.
    ///
    /// # Errors
    ///
    /// [`IndexOutOfRange`] when `denied` is not an index into `reports`.
    pub const fn new(
        now: Instant<HZ>,
        reports: &'a [Report<'a, HZ>],
        denied: Option<usize>,
    ) -> Result<Self, IndexOutOfRange> {
        if let Some(index) = denied
            && index >= reports.len()
        {
            return Err(IndexOutOfRange {
                index,
                len: reports.len(),
            });
        }
        Ok(Self {
            now,
            reports,
            denied,
        })
    }

    /// The reports made at `now` with `denied` an index that is in range by construction (a
    /// policy's own): should it not be, the first denying report is taken instead, so this never
    /// fails.
    pub(crate) fn trusting(
        now: Instant<HZ>,
        reports: &'a [Report<'a, HZ>],
        denied: Option<usize>,
    ) -> Self {
        Self::new(now, reports, denied).unwrap_or_else(|_| Self::first_denied(now, reports))
    }

    /// The reports made at `now`, the denying one being the first whose decision is a denial.
    pub fn first_denied(now: Instant<HZ>, reports: &'a [Report<'a, HZ>]) -> Self {
        Self {
            now,
            reports,
            denied: reports.iter().position(|r| r.decision.is_denied()),
        }
    }

    /// When the reports were made.
    pub const fn now(&self) -> Instant<HZ> {
        self.now
    }

    /// All reports, in policy order.
    pub const fn reports(&self) -> &'a [Report<'a, HZ>] {
        self.reports
    }

    /// The index of the report that denied, if any.
    pub const fn denied_index(&self) -> Option<usize> {
        self.denied
    }

    /// The report that denied, if any.
    pub fn denied(&self) -> Option<&'a Report<'a, HZ>> {
        self.reports.get(self.denied?)
    }

    /// The report a single-valued header describes: the one that denied, else the one with the
    /// least remaining (the first in policy order on a tie); `None` only without reports.
    pub fn applicable(&self) -> Option<&'a Report<'a, HZ>> {
        self.reports.get(self.applicable_index()?)
    }

    /// The index of [`applicable`](Self::applicable).
    pub fn applicable_index(&self) -> Option<usize> {
        self.denied.or_else(|| least_remaining(self.reports))
    }

    /// How long a denied client must wait: the longest `retry_after` among the reports (all of a
    /// policy's limits must admit), or `None` when no report denied.
    pub fn retry_after(&self) -> Option<Duration<HZ>> {
        self.reports
            .iter()
            .filter_map(|r| r.decision.retry_after)
            .max()
    }
}
