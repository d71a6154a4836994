//! Server side: writing rate-limit headers from a [`ReportSet`].

use core::fmt;

use super::sf::{SfString, is_sf_string};
use super::{
    RATELIMIT, RATELIMIT_POLICY, RETRY_AFTER, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING,
    X_RATELIMIT_RESET,
};
use crate::algorithm::Allowance;
use crate::policy::report::{Report, ReportSet};
use crate::time::{Duration, Instant};

/// The largest integer a structured field may carry (RFC 9651 §3.3.1): 15 digits.
pub(crate) const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// Where rendered headers go: one call per header field.
///
/// Implement it for your HTTP library's header map, or use [`HeaderLines`] to write
/// `Name: value\r\n` lines into any [`fmt::Write`]. The value is formatted lazily, so nothing is
/// allocated unless the sink itself allocates.
///
/// # Examples
///
/// ```
/// use core::fmt;
/// use tollgate_core::HeaderSink;
///
/// /// Counts headers and their value bytes, storing nothing.
/// struct Tally { headers: usize, bytes: usize }
/// struct Len<'a>(&'a mut usize);
/// impl fmt::Write for Len<'_> {
///     fn write_str(&mut self, s: &str) -> fmt::Result { *self.0 += s.len(); Ok(()) }
/// }
/// impl HeaderSink for Tally {
///     fn header(&mut self, _name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
///         self.headers += 1;
///         fmt::write(&mut Len(&mut self.bytes), value)
///     }
/// }
/// let mut t = Tally { headers: 0, bytes: 0 };
/// t.header("Retry-After", format_args!("{}", 45))?;
/// assert_eq!((t.headers, t.bytes), (1, 2));
/// # Ok::<(), fmt::Error>(())
/// ```
pub trait HeaderSink {
    /// Receives one header field.
    ///
    /// # Errors
    ///
    /// Whatever the sink reports (typically: out of space); rendering stops there.
    fn header(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result;
}

impl<S: HeaderSink + ?Sized> HeaderSink for &mut S {
    fn header(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        (**self).header(name, value)
    }
}

/// A [`HeaderSink`] that writes `Name: value\r\n` lines into any [`fmt::Write`], such as a
/// `heapless::String` or a response buffer.
///
/// # Examples
///
/// ```
/// use tollgate_core::{HeaderLines, HeaderSink};
///
/// let mut out = HeaderLines(heapless::String::<64>::new());
/// out.header("Retry-After", format_args!("{}", 45))?;
/// assert_eq!(out.0, "Retry-After: 45\r\n");
/// # Ok::<(), core::fmt::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderLines<W>(pub W);

impl<W: fmt::Write> HeaderSink for HeaderLines<W> {
    fn header(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        self.0.write_str(name)?;
        self.0.write_str(": ")?;
        self.0.write_fmt(value)?;
        self.0.write_str("\r\n")
    }
}

/// A wall-clock anchor: "instant [`at`](WallClock::at) is unix time
/// [`unix_millis`](WallClock::unix_millis)".
///
/// Epoch-valued headers need one; firmware without a real-time clock has none and can only use
/// [`ResetFormat::DeltaSeconds`], which needs no anchor. Take the anchor once (the std adapter
/// reads both clocks at start-up) and keep it: conversions assume the tick clock runs at exactly
/// `HZ`.
///
/// # Examples
///
/// ```
/// use tollgate_core::{WallClock, Instant};
///
/// let clock = WallClock::new(Instant::<1_000>::from_ticks(5_000), 1_742_377_000_000);
/// assert_eq!(clock.unix_millis_at(Instant::<1_000>::from_ticks(7_500)), Some(1_742_377_002_500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WallClock<const HZ: u64> {
    /// An instant of the tick clock.
    pub at: Instant<HZ>,
    /// The unix time, in milliseconds, at that instant.
    pub unix_millis: u64,
}

impl<const HZ: u64> WallClock<HZ> {
    /// "`at` is `unix_millis` milliseconds after 1970-01-01T00:00:00Z."
    pub const fn new(at: Instant<HZ>, unix_millis: u64) -> Self {
        Self { at, unix_millis }
    }

    /// The unix time at `t` in whole milliseconds, rounded **down** (the time that has surely
    /// passed), or `None` before 1970 or beyond `u64`.
    ///
    /// A client can feed this to [`RateLimitSummary::feed`](crate::RateLimitSummary::feed) as
    /// its current time.
    pub fn unix_millis_at(&self, t: Instant<HZ>) -> Option<u64> {
        self.unix_millis_of(t, Duration::<HZ>::from_ticks(0), false)
    }

    /// The unix time at `now + after` in whole milliseconds, rounded down or up.
    pub(crate) fn unix_millis_of(
        &self,
        now: Instant<HZ>,
        after: Duration<HZ>,
        round_up: bool,
    ) -> Option<u64> {
        let t = i128::from(now.as_ticks()).checked_add(i128::from(after.as_ticks()))?;
        let offset = t.checked_sub(i128::from(self.at.as_ticks()))?;
        let scaled = offset.checked_mul(1_000)?;
        let hz = i128::from(HZ);
        let mut ms = scaled.checked_div_euclid(hz)?;
        if round_up && scaled.checked_rem_euclid(hz)? != 0 {
            ms = ms.checked_add(1)?;
        }
        u64::try_from(i128::from(self.unix_millis).checked_add(ms)?).ok()
    }
}

/// How `X-RateLimit-Reset` is written. The epoch forms carry the [`WallClock`] they need, so a
/// build without one cannot ask for them.
///
/// Every form rounds **up**: a client that waits until the written time finds the limit at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResetFormat<const HZ: u64> {
    /// Seconds from now until the limit is at rest (`X-RateLimit-Reset: 30`).
    DeltaSeconds,
    /// The unix time, in seconds, at which the limit is at rest (as an API with
    /// `X-RateLimit-Reset: 1742377200`).
    EpochSeconds(WallClock<HZ>),
    /// The unix time, in milliseconds, at which the limit is at rest (as an SMS carrier
    /// `X-RateLimit-Reset: 1479308598680`).
    EpochMillis(WallClock<HZ>),
}

/// One value for the applicable limit, or one per limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LimitValues {
    /// The applicable limit only: the one that denied, else the one with the least remaining
    /// (the first in policy order on a tie), as most APIs do.
    Single,
    /// One comma-separated value per limit, in policy order, as an API with several sliding
    /// buckets does
    /// (`X-RateLimit-Limit: 2300, 4500, 8800, 105600`).
    PerLimit,
}

/// The de-facto `X-RateLimit-Limit` / `-Remaining` / `-Reset` headers.
///
/// # Examples
///
/// ```
/// use tollgate_core::{XRateLimit, ResetFormat, LimitValues};
///
/// const FIRMWARE: XRateLimit<1_000> = XRateLimit::new(ResetFormat::DeltaSeconds, LimitValues::Single);
/// assert_eq!(FIRMWARE.values, LimitValues::Single);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct XRateLimit<const HZ: u64> {
    /// How the reset is written.
    pub reset: ResetFormat<HZ>,
    /// One value or one per limit.
    pub values: LimitValues,
}

impl<const HZ: u64> XRateLimit<HZ> {
    /// The `X-RateLimit-*` headers in this format.
    pub const fn new(reset: ResetFormat<HZ>, values: LimitValues) -> Self {
        Self { reset, values }
    }
}

/// Which headers [`ReportSet::write_headers`] writes.
///
/// # Examples
///
/// ```
/// use tollgate_core::{HeaderConfig, XRateLimit, ResetFormat, LimitValues};
///
/// const BOTH: HeaderConfig<1_000> = HeaderConfig::none()
///     .with_x_ratelimit(XRateLimit::new(ResetFormat::DeltaSeconds, LimitValues::PerLimit))
///     .with_ietf()
///     .with_retry_after();
/// assert!(BOTH.ietf && BOTH.retry_after);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HeaderConfig<const HZ: u64> {
    /// The `X-RateLimit-*` headers, if wanted, and their format.
    pub x_ratelimit: Option<XRateLimit<HZ>>,
    /// The IETF `RateLimit-Policy` and `RateLimit` fields.
    pub ietf: bool,
    /// `Retry-After` on denials.
    pub retry_after: bool,
}

impl<const HZ: u64> HeaderConfig<HZ> {
    /// No headers at all; add some with the `with_` methods.
    pub const fn none() -> Self {
        Self {
            x_ratelimit: None,
            ietf: false,
            retry_after: false,
        }
    }

    /// Also the `X-RateLimit-*` headers, in `style`.
    pub const fn with_x_ratelimit(self, style: XRateLimit<HZ>) -> Self {
        Self {
            x_ratelimit: Some(style),
            ..self
        }
    }

    /// Also `RateLimit-Policy` and `RateLimit`.
    pub const fn with_ietf(self) -> Self {
        Self { ietf: true, ..self }
    }

    /// Also `Retry-After` on denials.
    pub const fn with_retry_after(self) -> Self {
        Self {
            retry_after: true,
            ..self
        }
    }
}

/// Why headers could not be rendered. Everything except [`Sink`](RenderError::Sink) is detected
/// before the first header is written, so the sink never receives a partial set.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Allowance, Decision, Duration, HeaderConfig, HeaderLines, Instant, RenderError, Report, ReportSet};
/// type D = Duration<1_000>;
///
/// let now = Instant::<1_000>::from_ticks(0);
/// let decision = Decision { limit: 10, remaining: 9, reset: D::from_secs(6), retry_after: None, delay: D::from_ticks(0)  };
/// let reports = [Report { name: "per minute", allowance: Allowance::PerWindow { count: 10, window: D::from_secs(60) }, decision }];
///
/// let set = ReportSet::first_denied(now, &reports);
/// let ietf = HeaderConfig::none().with_ietf();
/// let mut small = HeaderLines(heapless::String::<16>::new()); // too small for one line
/// assert_eq!(set.write_headers(&ietf, &mut small), Err(RenderError::Sink));
///
/// let bad = [Report { name: "café", ..reports[0] }]; // not printable ASCII
/// let mut out = HeaderLines(heapless::String::<256>::new());
/// let err = ReportSet::first_denied(now, &bad).write_headers(&ietf, &mut out);
/// assert_eq!(err, Err(RenderError::NameNotSfString { index: 0 }));
/// assert!(out.0.is_empty()); // detected before anything was written
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RenderError {
    /// The sink refused a write (typically: its buffer is full). Earlier headers were written.
    Sink,
    /// The report's name cannot be an sf-string: only printable ASCII can (RFC 9651 §3.3.3).
    NameNotSfString {
        /// The report's index.
        index: usize,
    },
    /// The report's reset falls before 1970 or beyond `u64` milliseconds on the wall clock.
    EpochOutOfRange {
        /// The report's index.
        index: usize,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sink => f.write_str("the header sink refused a write"),
            Self::NameNotSfString { index } => write!(
                f,
                "report {index}'s name is not printable ASCII, so it cannot be an sf-string"
            ),
            Self::EpochOutOfRange { index } => write!(
                f,
                "report {index}'s reset is outside the unix millisecond range"
            ),
        }
    }
}

impl core::error::Error for RenderError {}

impl From<fmt::Error> for RenderError {
    fn from(_: fmt::Error) -> Self {
        Self::Sink
    }
}

impl<'a, const HZ: u64> ReportSet<'a, HZ> {
    /// [`retry_after`](Self::retry_after) in whole seconds, rounded **up**.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after().map(ceil_secs)
    }

    /// Writes the headers `config` selects, in this order: `X-RateLimit-Limit`,
    /// `X-RateLimit-Remaining`, `X-RateLimit-Reset`, `RateLimit-Policy`, `RateLimit`,
    /// `Retry-After` (only on a denial). A field with no values (no reports) is left out.
    ///
    /// # Errors
    ///
    /// [`RenderError::NameNotSfString`] and [`RenderError::EpochOutOfRange`] before anything is
    /// written; [`RenderError::Sink`] when the sink fails part-way.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Allowance, Decision, Duration, HeaderConfig, HeaderLines, Instant, LimitValues, Report,
    ///                     ReportSet, ResetFormat, XRateLimit};
    /// type D = Duration<1_000>;
    ///
    /// let reports = [Report { name: "minute", allowance: Allowance::PerWindow { count: 60, window: D::from_secs(60) }, decision: Decision {
    ///     limit: 60, remaining: 0, reset: D::from_millis(59_001), retry_after: Some(D::from_millis(1_001)), delay: D::from_ticks(0)  } }];
    /// let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports);
    /// let config = HeaderConfig::none()
    ///     .with_x_ratelimit(XRateLimit::new(ResetFormat::DeltaSeconds, LimitValues::Single))
    ///     .with_ietf()
    ///     .with_retry_after();
    /// let mut out = HeaderLines(heapless::String::<256>::new());
    /// set.write_headers(&config, &mut out)?;
    /// assert_eq!(out.0, "X-RateLimit-Limit: 60\r\nX-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 60\r\n\
    ///                    RateLimit-Policy: \"minute\";q=60;w=60\r\nRateLimit: \"minute\";r=0;t=60\r\n\
    ///                    Retry-After: 2\r\n"); // every time rounded up
    /// # Ok::<(), tollgate_core::RenderError>(())
    /// ```
    pub fn write_headers<S: HeaderSink + ?Sized>(
        &self,
        config: &HeaderConfig<HZ>,
        sink: &mut S,
    ) -> Result<(), RenderError> {
        if let Some(style) = &config.x_ratelimit {
            self.check_x_ratelimit(style)?;
        }
        if config.ietf {
            self.check_names()?;
        }
        if let Some(style) = &config.x_ratelimit {
            self.write_x_ratelimit(style, sink)?;
        }
        if config.ietf {
            self.write_ietf(sink)?;
        }
        if config.retry_after {
            self.write_retry_after(sink)?;
        }
        Ok(())
    }

    /// Writes `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
    ///
    /// # Errors
    ///
    /// As [`write_headers`](Self::write_headers).
    ///
    /// # Examples
    ///
    /// An SMS carrier's epoch-millisecond reset, one value per limit:
    ///
    /// ```
    /// use tollgate_core::{Allowance, Decision, Duration, HeaderLines, Instant, LimitValues, Report, ReportSet,
    ///                     ResetFormat, WallClock, XRateLimit};
    /// type D = Duration<1_000>;
    ///
    /// let now = Instant::<1_000>::from_ticks(10_000);
    /// let clock = WallClock::new(now, 1_479_308_590_000);
    /// let limit = |name, secs, limit, remaining, reset| Report { name, allowance: Allowance::PerWindow { count: limit, window: D::from_secs(secs) },
    ///     decision: Decision { limit, remaining, reset: D::from_millis(reset), retry_after: None, delay: D::from_ticks(0)  } };
    /// let reports = [limit("second", 1, 1, 0, 1_000), limit("ten", 10, 10, 6, 8_680)];
    /// let style = XRateLimit::new(ResetFormat::EpochMillis(clock), LimitValues::PerLimit);
    /// let mut out = HeaderLines(heapless::String::<256>::new());
    /// ReportSet::first_denied(now, &reports).write_x_ratelimit(&style, &mut out)?;
    /// assert_eq!(out.0, "X-RateLimit-Limit: 1, 10\r\nX-RateLimit-Remaining: 0, 6\r\n\
    ///                    X-RateLimit-Reset: 1479308591000, 1479308598680\r\n");
    /// # Ok::<(), tollgate_core::RenderError>(())
    /// ```
    pub fn write_x_ratelimit<S: HeaderSink + ?Sized>(
        &self,
        style: &XRateLimit<HZ>,
        sink: &mut S,
    ) -> Result<(), RenderError> {
        self.check_x_ratelimit(style)?;
        let (_, shown) = self.shown(style.values);
        if !shown.iter().any(Report::counts) {
            return Ok(());
        }
        let reset = |r: &Report<'_, HZ>| self.reset_value(&style.reset, r.decision.reset);
        sink.header(
            X_RATELIMIT_LIMIT,
            format_args!(
                "{}",
                Joined(shown, |r: &Report<'_, HZ>| Some(u64::from(
                    r.decision.limit
                )))
            ),
        )?;
        sink.header(
            X_RATELIMIT_REMAINING,
            format_args!(
                "{}",
                Joined(shown, |r: &Report<'_, HZ>| Some(u64::from(
                    r.decision.remaining
                )))
            ),
        )?;
        sink.header(X_RATELIMIT_RESET, format_args!("{}", Joined(shown, reset)))?;
        Ok(())
    }

    /// Writes the IETF fields, one item per report in policy order (draft-ietf-httpapi-ratelimit-
    /// headers): `RateLimit-Policy: "minute";q=300;w=60, …` and `RateLimit: "minute";r=12;t=30, …`.
    ///
    /// `q` is the count of the limit's [`Allowance`] as its user wrote it (900 for "900 per 15
    /// minutes", whatever its burst), `w` the window in seconds rounded up (a concurrency limit
    /// gets `qu="concurrent-requests"` instead), `r` the remaining and `t` the reset in seconds
    /// rounded up. Unlimited limits are left out. Names are sf-strings with `"` and `\` escaped.
    /// Integers beyond the structured-field range saturate at 999,999,999,999,999.
    ///
    /// # Errors
    ///
    /// As [`write_headers`](Self::write_headers).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Allowance, Decision, Duration, HeaderLines, Instant, Report, ReportSet};
    /// type D = Duration<1_000>;
    ///
    /// let reports = [
    ///     Report { name: "in flight", allowance: Allowance::InFlight { count: 5 }, decision: Decision {
    ///         limit: 5, remaining: 4, reset: D::from_ticks(0), retry_after: None, delay: D::from_ticks(0)  } },
    ///     Report { name: "per \"minute\"", allowance: Allowance::PerWindow { count: 300, window: D::from_secs(60) }, decision: Decision {
    ///         limit: 300, remaining: 299, reset: D::from_millis(200), retry_after: None, delay: D::from_ticks(0)  } },
    /// ];
    /// let mut out = HeaderLines(heapless::String::<256>::new());
    /// ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports).write_ietf(&mut out)?;
    /// assert_eq!(out.0, "RateLimit-Policy: \"in flight\";q=5;qu=\"concurrent-requests\", \
    ///                    \"per \\\"minute\\\"\";q=300;w=60\r\n\
    ///                    RateLimit: \"in flight\";r=4;t=0, \"per \\\"minute\\\"\";r=299;t=1\r\n");
    /// # Ok::<(), tollgate_core::RenderError>(())
    /// ```
    pub fn write_ietf<S: HeaderSink + ?Sized>(&self, sink: &mut S) -> Result<(), RenderError> {
        self.check_names()?;
        if !self.reports().iter().any(Report::counts) {
            return Ok(());
        }
        sink.header(
            RATELIMIT_POLICY,
            format_args!("{}", PolicyList(self.reports())),
        )?;
        sink.header(RATELIMIT, format_args!("{}", LimitList(self.reports())))?;
        Ok(())
    }

    /// Writes `Retry-After` in whole seconds, rounded up, if a report denied.
    ///
    /// # Errors
    ///
    /// [`RenderError::Sink`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Allowance, Decision, Duration, HeaderLines, Instant, Report, ReportSet};
    /// type D = Duration<1_000>;
    ///
    /// let denied = Decision { limit: 1, remaining: 0, reset: D::from_millis(400), retry_after: Some(D::from_millis(400)), delay: D::from_ticks(0)  };
    /// let reports = [Report { name: "second", allowance: Allowance::PerWindow { count: 1, window: D::from_secs(1) }, decision: denied }];
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let mut out = HeaderLines(heapless::String::<64>::new());
    /// ReportSet::first_denied(now, &reports).write_retry_after(&mut out)?;
    /// assert_eq!(out.0, "Retry-After: 1\r\n"); // 400 ms, rounded up
    ///
    /// let admitted = [Report { decision: Decision { retry_after: None, ..denied }, ..reports[0] }];
    /// let mut out = HeaderLines(heapless::String::<64>::new());
    /// ReportSet::first_denied(now, &admitted).write_retry_after(&mut out)?;
    /// assert!(out.0.is_empty());
    /// # Ok::<(), tollgate_core::RenderError>(())
    /// ```
    pub fn write_retry_after<S: HeaderSink + ?Sized>(
        &self,
        sink: &mut S,
    ) -> Result<(), RenderError> {
        if let Some(secs) = self.retry_after_secs() {
            sink.header(RETRY_AFTER, format_args!("{secs}"))?;
        }
        Ok(())
    }

    /// The reports an `X-RateLimit-*` header shows (those of them that count: unlimited ones
    /// are never rendered), and the index of the first.
    fn shown(&self, values: LimitValues) -> (usize, &'a [Report<'a, HZ>]) {
        match values {
            LimitValues::PerLimit => (0, self.reports()),
            LimitValues::Single => match self.applicable_index() {
                Some(i) => (i, self.reports().get(i..=i).unwrap_or(&[])),
                None => (0, &[]),
            },
        }
    }

    fn check_x_ratelimit(&self, style: &XRateLimit<HZ>) -> Result<(), RenderError> {
        let (first, shown) = self.shown(style.values);
        for (i, r) in shown.iter().enumerate().filter(|(_, r)| r.counts()) {
            if self.reset_value(&style.reset, r.decision.reset).is_none() {
                return Err(RenderError::EpochOutOfRange {
                    index: first.saturating_add(i),
                });
            }
        }
        Ok(())
    }

    fn check_names(&self) -> Result<(), RenderError> {
        match self
            .reports()
            .iter()
            .position(|r| r.counts() && !is_sf_string(r.name))
        {
            Some(index) => Err(RenderError::NameNotSfString { index }),
            None => Ok(()),
        }
    }

    fn reset_value(&self, format: &ResetFormat<HZ>, reset: Duration<HZ>) -> Option<u64> {
        match format {
            ResetFormat::DeltaSeconds => Some(ceil_secs(reset)),
            ResetFormat::EpochMillis(clock) => clock.unix_millis_of(self.now(), reset, true),
            ResetFormat::EpochSeconds(clock) => clock
                .unix_millis_of(self.now(), reset, true)
                .map(|ms| ms.div_ceil(1_000)),
        }
    }
}

/// Whole seconds in `d`, rounded up.
pub(crate) fn ceil_secs<const HZ: u64>(d: Duration<HZ>) -> u64 {
    let t = d.as_ticks();
    match (t.checked_div(HZ), t.checked_rem(HZ)) {
        (Some(q), Some(r)) if r != 0 => q.saturating_add(1),
        (Some(q), _) => q,
        _ => t,
    }
}

/// Comma-separated values, one per report; `None` from `value` fails the write (the caller
/// checked beforehand that it cannot happen).
struct Joined<'a, const HZ: u64, F>(&'a [Report<'a, HZ>], F);

impl<const HZ: u64, F: Fn(&Report<'_, HZ>) -> Option<u64>> fmt::Display for Joined<'_, HZ, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().filter(|r| r.counts()).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", (self.1)(r).ok_or(fmt::Error)?)?;
        }
        Ok(())
    }
}

struct PolicyList<'a, const HZ: u64>(&'a [Report<'a, HZ>]);

impl<const HZ: u64> fmt::Display for PolicyList<'_, HZ> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().filter(|r| r.counts()).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // The quota as the user wrote it ("900 per 15 minutes"), not a GCRA burst.
            match r.allowance {
                Allowance::PerWindow { count, window } => write!(
                    f,
                    "{};q={count};w={}",
                    SfString(r.name),
                    ceil_secs(window).min(SF_INTEGER_MAX)
                )?,
                Allowance::InFlight { count } => write!(
                    f,
                    "{};q={count};qu=\"concurrent-requests\"",
                    SfString(r.name)
                )?,
                Allowance::Unlimited => {}
            }
        }
        Ok(())
    }
}

struct LimitList<'a, const HZ: u64>(&'a [Report<'a, HZ>]);

impl<const HZ: u64> fmt::Display for LimitList<'_, HZ> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().filter(|r| r.counts()).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{};r={};t={}",
                SfString(r.name),
                r.decision.remaining,
                ceil_secs(r.decision.reset).min(SF_INTEGER_MAX)
            )?;
        }
        Ok(())
    }
}
