//! One named limit's part in an answer, the common input of header and body rendering.

use crate::algorithm::Decision;
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
/// use tollgate_core::{Gcra, Quota, Instant, Report};
///
/// let q = Quota::<1_000>::per_minute(300)?;
/// let gcra = Gcra::new(q);
/// let mut s = gcra.new_state();
/// let r = Report { name: "minute", window: q.window(), decision: gcra.check(&mut s, Instant::<1_000>::from_ticks(0), 1)? };
/// assert_eq!((r.name, r.decision.remaining), ("minute", 299));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report<'a, const HZ: u64> {
    /// The limit's name as clients see it (`"minute"`, `"hour"`, `"concurrent"`).
    pub name: &'a str,
    /// The window the limit is counted over (a concurrency limit: zero).
    pub window: Duration<HZ>,
    /// What the limit decided.
    pub decision: Decision<HZ>,
}

/// The index of the report with the least `remaining` among `(index, report)` pairs, the first
/// on a tie; `None` when there are none. What a single-valued header shows when nothing denied.
pub(crate) fn least_remaining<'r, 'n: 'r, const HZ: u64>(
    reports: impl Iterator<Item = (usize, &'r Report<'n, HZ>)>,
) -> Option<usize> {
    // `min_by_key` returns the first of several equal minima.
    reports
        .min_by_key(|(_, r)| r.decision.remaining)
        .map(|(i, _)| i)
}

/// What a policy decided at `now`: one [`Report`] per limit in policy order, and which one
/// denied. The input of every header and body renderer.
///
/// # Examples
///
/// Seed 000's two limits, the per-minute one exhausted:
///
/// ```
/// use tollgate_core::{Decision, Duration, HeaderConfig, HeaderLines, Instant, Report, ReportSet,
///                     ResetFormat, LimitValues, WallClock, XRateLimit};
/// type D = Duration<1_000>;
///
/// let now = Instant::<1_000>::from_ticks(60_000);
/// let reports = [
///     Report { name: "minute", window: D::from_secs(60), decision: Decision {
///         limit: 300, remaining: 0, reset: D::from_millis(59_500),
///         retry_after: Some(D::from_millis(200)) } },
///     Report { name: "quarter", window: D::from_secs(900), decision: Decision {
///         limit: 900, remaining: 600, reset: D::from_secs(300), retry_after: None } },
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
/// # Ok::<(), tollgate_core::RenderError>(())
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
        self.denied
            .or_else(|| least_remaining(self.reports.iter().enumerate()))
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
