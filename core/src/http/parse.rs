//! Client side: every rate-limit header form, read into a fixed-capacity [`RateLimitSummary`].

use core::fmt;

use super::HeaderError;
use super::ascii::{NotDecimal, decimal, trim_ows};
use super::date::HttpDate;
use super::sf::{self, Bare, Member, SfError};
use crate::time::Duration;

/// The most buckets a summary keeps per form; further ones set
/// [`truncated`](RateLimitSummary::truncated).
pub const MAX_BUCKETS: usize = 8;

/// The longest policy name a summary keeps, in bytes; an item with a longer name is dropped and
/// sets [`truncated`](RateLimitSummary::truncated).
pub const MAX_NAME_LEN: usize = 32;

/// A policy name from an IETF field, unescaped.
pub type PolicyName = heapless::String<MAX_NAME_LEN>;

/// Parsed durations are in milliseconds, the finest resolution any header form carries.
pub type Millis = Duration<1_000>;

impl From<SfError> for HeaderError {
    fn from(_: SfError) -> Self {
        Self::Syntax
    }
}

/// The header fields the parser reads. Names match ASCII case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeaderField {
    /// `X-RateLimit-Limit`: a comma-separated list of limits.
    XRateLimitLimit,
    /// `X-RateLimit-Remaining`: a comma-separated list of remaining counts.
    XRateLimitRemaining,
    /// `X-RateLimit-Reset`: a comma-separated list of resets, each classified by
    /// [`ResetKind::classify`].
    XRateLimitReset,
    /// `Retry-After`: delay-seconds or an HTTP-date.
    RetryAfter,
    /// `RateLimit`: the IETF service-limit list (`"name";r=…;t=…`).
    RateLimit,
    /// `RateLimit-Policy`: the IETF quota-policy list (`"name";q=…;w=…`).
    RateLimitPolicy,
}

impl HeaderField {
    pub(crate) const ALL: [Self; 6] = [
        Self::XRateLimitLimit,
        Self::XRateLimitRemaining,
        Self::XRateLimitReset,
        Self::RetryAfter,
        Self::RateLimit,
        Self::RateLimitPolicy,
    ];

    /// The field named `name` (any ASCII case), if the parser reads it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::HeaderField;
    ///
    /// assert_eq!(HeaderField::from_name(b"x-ratelimit-RESET"), Some(HeaderField::XRateLimitReset));
    /// assert_eq!(HeaderField::from_name(b"X-RateLimit"), None);
    /// ```
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The field's canonical name, as tollgate writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::XRateLimitLimit => super::X_RATELIMIT_LIMIT,
            Self::XRateLimitRemaining => super::X_RATELIMIT_REMAINING,
            Self::XRateLimitReset => super::X_RATELIMIT_RESET,
            Self::RetryAfter => super::RETRY_AFTER,
            Self::RateLimit => super::RATELIMIT,
            Self::RateLimitPolicy => super::RATELIMIT_POLICY,
        }
    }

    /// Position among the three positional `X-RateLimit-*` lists.
    const fn legacy_slot(self) -> usize {
        match self {
            Self::XRateLimitLimit => 0,
            Self::XRateLimitRemaining => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an IETF policy's quota counts (its `qu` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QuotaUnit {
    /// `"requests"` (also the draft registry's spelling `"request"`), the default.
    Requests,
    /// `"content-bytes"`.
    ContentBytes,
    /// `"concurrent-requests"`: a limit on requests in flight.
    ConcurrentRequests,
    /// A unit this parser does not know.
    Other,
}

/// How an `X-RateLimit-Reset` number is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResetKind {
    /// Seconds from now.
    DeltaSeconds,
    /// A unix time in seconds.
    EpochSeconds,
    /// A unix time in milliseconds.
    EpochMillis,
}

impl ResetKind {
    /// Decides what a reset number `value` means, by its magnitude.
    ///
    /// With the current unix time (`now` ms, so `s = now / 1000` seconds):
    ///
    /// | value `v`          | read as                |
    /// |--------------------|------------------------|
    /// | `v < s / 2`        | delta seconds          |
    /// | `s / 2 ≤ v < 32·s` | epoch seconds          |
    /// | `v ≥ 32·s`         | epoch milliseconds     |
    ///
    /// The thresholds sit between the three populations: a delta that long would be decades
    /// (`s / 2` seconds is over 27 years after 2024), epoch seconds cluster around `s` and epoch
    /// milliseconds around `1000·s`, and 32 ≈ √1000 splits those two evenly. `now` must be a real
    /// current time: the rule is only as good as the clock.
    ///
    /// Without a clock (`None`), values below 10⁹ (31 years) are delta seconds.
    ///
    /// # Errors
    ///
    /// [`HeaderError::NeedsWallClock`] without a clock for a value of 10⁹ or more, which can only
    /// be an absolute time.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::ResetKind;
    ///
    /// let now = Some(1_742_377_155_000); // 2025-03-19T09:39:15Z
    /// assert_eq!(ResetKind::classify(45, now), Ok(ResetKind::DeltaSeconds));
    /// assert_eq!(ResetKind::classify(1_742_377_200, now), Ok(ResetKind::EpochSeconds));
    /// assert_eq!(ResetKind::classify(1_742_377_200_000, now), Ok(ResetKind::EpochMillis));
    /// assert!(ResetKind::classify(1_742_377_200, None).is_err());
    /// ```
    pub fn classify(value: u64, now_unix_millis: Option<u64>) -> Result<Self, HeaderError> {
        match now_unix_millis {
            None if value < 1_000_000_000 => Ok(Self::DeltaSeconds),
            None => Err(HeaderError::NeedsWallClock),
            Some(now) => {
                let s = now / 1_000;
                Ok(if value < s / 2 {
                    Self::DeltaSeconds
                } else if value < s.saturating_mul(32) {
                    Self::EpochSeconds
                } else {
                    Self::EpochMillis
                })
            }
        }
    }

    /// The wait a reset number stands for, from `now`: classified by
    /// [`classify`](Self::classify), and zero for a time already past.
    ///
    /// # Errors
    ///
    /// As [`classify`](Self::classify), and [`HeaderError::Overflow`] when the milliseconds do
    /// not fit a `u64`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::ResetKind;
    ///
    /// let now = Some(1_479_308_590_000);
    /// assert_eq!(ResetKind::wait(1_479_308_598_680, now)?.as_millis(), 8_680); // epoch milliseconds
    /// assert_eq!(ResetKind::wait(30, now)?.as_millis(), 30_000);
    /// assert_eq!(ResetKind::wait(1_479_308_000, now)?.as_millis(), 0); // already past
    /// # Ok::<(), tollgate_core::HeaderError>(())
    /// ```
    pub fn wait(value: u64, now_unix_millis: Option<u64>) -> Result<Millis, HeaderError> {
        let now = now_unix_millis.unwrap_or(0);
        let ms = match Self::classify(value, now_unix_millis)? {
            Self::DeltaSeconds => secs_to_millis(value)?,
            Self::EpochSeconds => secs_to_millis(value)?.saturating_sub(now),
            Self::EpochMillis => value.saturating_sub(now),
        };
        Ok(Millis::from_ticks(ms))
    }
}

fn secs_to_millis(secs: u64) -> Result<u64, HeaderError> {
    secs.checked_mul(1_000).ok_or(HeaderError::Overflow)
}

/// One limit as a client sees it. Every field is optional: servers send what they send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BucketInfo {
    /// The policy name (IETF fields only).
    pub name: Option<PolicyName>,
    /// `X-RateLimit-Limit`, or the policy's `q`.
    pub limit: Option<u64>,
    /// The policy's window `w`, in seconds (IETF only).
    pub window_secs: Option<u64>,
    /// The policy's quota unit `qu` (IETF only).
    pub unit: Option<QuotaUnit>,
    /// `X-RateLimit-Remaining`, or the service limit's `r`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (normalised to a wait from now), or the service limit's `t`.
    pub reset: Option<Millis>,
}

/// Everything the rate-limit headers of one response said, normalised and bounded.
///
/// Feed it `(name, value)` pairs with [`feed`](Self::feed), or build it at once with
/// [`from_headers`](Self::from_headers). It is a pure function of the bytes it was fed and the
/// `now` given: no clock is read, nothing is allocated, and no input panics or overflows.
///
/// - `X-RateLimit-Limit` / `-Remaining` / `-Reset` are comma-separated lists; the *i*-th values
///   of the three form the *i*-th [`legacy`](Self::legacy) bucket. Repeated field lines continue
///   the list (as HTTP combines them). Empty list elements are ignored (RFC 9110 §5.6.1).
/// - `RateLimit-Policy` and `RateLimit` items are matched by name into the
///   [`ietf`](Self::ietf) buckets, in order of first appearance. Items may be sf-strings (the
///   current draft) or tokens (earlier drafts); `pk` and unknown parameters are ignored.
/// - `Retry-After`: delay-seconds or any HTTP-date; if several appear, the longest wait wins.
///
/// **Errors are per field line and atomic**: a malformed line changes nothing and
/// [`feed`](Self::feed) returns the typed [`HeaderError`] (the IETF draft requires malformed
/// fields to be ignored); [`from_headers`](Self::from_headers) skips such lines. Unknown header
/// names are ignored. Beyond [`MAX_BUCKETS`] buckets, or names longer than [`MAX_NAME_LEN`],
/// the excess is dropped and [`truncated`](Self::truncated) is set.
///
/// # Examples
///
/// A plan-tier API's headers:
///
/// ```
/// use tollgate_core::RateLimitSummary;
///
/// let now = Some(1_742_377_155_000); // 45 s before the reset
/// let s = RateLimitSummary::from_headers([
///     ("X-RateLimit-Limit", "120"),
///     ("X-RateLimit-Remaining", "95"),
///     ("X-RateLimit-Reset", "1742377200"),
///     ("Retry-After", "45"),
/// ], now);
/// let b = &s.buckets()[0];
/// assert_eq!((b.limit, b.remaining), (Some(120), Some(95)));
/// assert_eq!(b.reset.map(|d| d.as_secs()), Some(45));
/// assert_eq!(s.retry_after().map(|d| d.as_secs()), Some(45));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateLimitSummary {
    legacy: heapless::Vec<BucketInfo, MAX_BUCKETS>,
    /// Values seen so far in each positional list (limit, remaining, reset).
    legacy_seen: [usize; 3],
    ietf: heapless::Vec<BucketInfo, MAX_BUCKETS>,
    retry_after: Option<Millis>,
    truncated: bool,
}

impl RateLimitSummary {
    /// A summary of no headers.
    pub const fn new() -> Self {
        Self {
            legacy: heapless::Vec::new(),
            legacy_seen: [0; 3],
            ietf: heapless::Vec::new(),
            retry_after: None,
            truncated: false,
        }
    }

    /// Reads all `headers`, skipping malformed lines (see [`feed`](Self::feed) to see why one
    /// was skipped). `now_unix_millis` is the current unix time, if known; it decides how reset
    /// numbers are read ([`ResetKind::classify`]) and turns HTTP-dates into waits.
    pub fn from_headers<I, N, V>(headers: I, now_unix_millis: Option<u64>) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut s = Self::new();
        for (name, value) in headers {
            let _skipped_if_malformed = s.feed(name, value, now_unix_millis);
        }
        s
    }

    /// Reads one header field line.
    ///
    /// Returns the field it was, or `None` for a name the parser does not read (ignored).
    ///
    /// # Errors
    ///
    /// A [`HeaderError`] when the value is malformed for its field; the summary is then
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{HeaderField, HeaderError, RateLimitSummary};
    ///
    /// let mut s = RateLimitSummary::new();
    /// assert_eq!(s.feed("ratelimit-policy", r#""minute";q=300;w=60, "quarter";q=900;w=900"#, None),
    ///            Ok(Some(HeaderField::RateLimitPolicy)));
    /// assert_eq!(s.feed("RateLimit", r#""minute";r=12;t=30"#, None), Ok(Some(HeaderField::RateLimit)));
    /// assert_eq!(s.feed("RateLimit", r#""minute";t=30"#, None), Err(HeaderError::MissingParameter));
    /// assert_eq!(s.feed("Content-Type", "text/plain", None), Ok(None));
    /// let minute = &s.ietf()[0];
    /// assert_eq!((minute.limit, minute.window_secs, minute.remaining), (Some(300), Some(60), Some(12)));
    /// assert_eq!(minute.reset.map(|d| d.as_secs()), Some(30));
    /// assert_eq!(s.ietf()[1].remaining, None);
    /// ```
    pub fn feed(
        &mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        now_unix_millis: Option<u64>,
    ) -> Result<Option<HeaderField>, HeaderError> {
        let Some(field) = HeaderField::from_name(name.as_ref()) else {
            return Ok(None);
        };
        let value = trim_ows(value.as_ref());
        match field {
            HeaderField::XRateLimitLimit | HeaderField::XRateLimitRemaining => {
                let (values, count) = numbers(value)?;
                self.apply_legacy(field, count, values.into_iter().map(LegacyValue::Count));
            }
            HeaderField::XRateLimitReset => {
                let (values, count) = numbers(value)?;
                let mut waits = heapless::Vec::<Millis, MAX_BUCKETS>::new();
                for v in values {
                    // Cannot fail: `waits` has the capacity `values` had.
                    let _ = waits.push(ResetKind::wait(v, now_unix_millis)?);
                }
                self.apply_legacy(field, count, waits.into_iter().map(LegacyValue::Wait));
            }
            HeaderField::RetryAfter => {
                let wait = retry_after(value, now_unix_millis)?;
                self.retry_after = Some(self.retry_after.map_or(wait, |w| w.max(wait)));
            }
            HeaderField::RateLimit | HeaderField::RateLimitPolicy => {
                let (entries, truncated) =
                    ietf_entries(value, field == HeaderField::RateLimitPolicy)?;
                self.truncated |= truncated;
                for e in entries {
                    self.apply_ietf(field, e);
                }
            }
        }
        Ok(Some(field))
    }

    /// Buckets from the `X-RateLimit-*` headers, in list order.
    pub fn legacy(&self) -> &[BucketInfo] {
        &self.legacy
    }

    /// Buckets from the IETF `RateLimit-Policy` and `RateLimit` fields, by name.
    pub fn ietf(&self) -> &[BucketInfo] {
        &self.ietf
    }

    /// The buckets to act on: the IETF ones if the response had any, else the `X-RateLimit-*`
    /// ones.
    pub fn buckets(&self) -> &[BucketInfo] {
        if self.ietf.is_empty() {
            &self.legacy
        } else {
            &self.ietf
        }
    }

    /// The `Retry-After` wait, if the response had one.
    pub fn retry_after(&self) -> Option<Millis> {
        self.retry_after
    }

    /// Whether anything was dropped for lack of room ([`MAX_BUCKETS`], [`MAX_NAME_LEN`]).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// How long to hold off before the next request: `Retry-After` if present (it takes
    /// precedence, as the IETF draft requires), else the longest reset among
    /// [`buckets`](Self::buckets) with nothing remaining, else `None` (go ahead).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::RateLimitSummary;
    ///
    /// let s = RateLimitSummary::from_headers([
    ///     ("X-RateLimit-Remaining", "0, 7"),
    ///     ("X-RateLimit-Reset", "12, 3600"),
    /// ], Some(1_700_000_000_000));
    /// assert_eq!(s.suggested_wait().map(|d| d.as_secs()), Some(12));
    /// ```
    pub fn suggested_wait(&self) -> Option<Millis> {
        self.retry_after.or_else(|| {
            self.buckets()
                .iter()
                .filter(|b| b.remaining == Some(0))
                .filter_map(|b| b.reset)
                .max()
        })
    }

    fn apply_legacy(
        &mut self,
        field: HeaderField,
        count: usize,
        values: impl Iterator<Item = LegacyValue>,
    ) {
        let slot = field.legacy_slot();
        let start = self.legacy_seen.get(slot).copied().unwrap_or(0);
        if let Some(seen) = self.legacy_seen.get_mut(slot) {
            *seen = start.saturating_add(count);
        }
        if start.saturating_add(count) > MAX_BUCKETS {
            self.truncated = true;
        }
        for (pos, v) in (start..MAX_BUCKETS).zip(values) {
            while self.legacy.len() <= pos {
                if self.legacy.push(BucketInfo::default()).is_err() {
                    return;
                }
            }
            if let Some(b) = self.legacy.get_mut(pos) {
                match (field, v) {
                    (HeaderField::XRateLimitLimit, LegacyValue::Count(n)) => b.limit = Some(n),
                    (_, LegacyValue::Count(n)) => b.remaining = Some(n),
                    (_, LegacyValue::Wait(w)) => b.reset = Some(w),
                }
            }
        }
    }

    fn apply_ietf(&mut self, field: HeaderField, e: Entry) {
        let existing = self
            .ietf
            .iter()
            .position(|b| b.name.as_ref() == Some(&e.name));
        let index = match existing {
            Some(i) => i,
            None => {
                let fresh = BucketInfo {
                    name: Some(e.name),
                    ..BucketInfo::default()
                };
                if self.ietf.push(fresh).is_err() {
                    self.truncated = true;
                    return;
                }
                self.ietf.len().saturating_sub(1)
            }
        };
        let Some(b) = self.ietf.get_mut(index) else {
            return;
        };
        if field == HeaderField::RateLimitPolicy {
            b.limit = Some(e.first);
            b.window_secs = e.second;
            b.unit = e.unit;
        } else {
            b.remaining = Some(e.first);
            b.reset = e.second.map(Millis::from_ticks);
        }
    }
}

/// A value destined for one of the positional lists.
enum LegacyValue {
    Count(u64),
    Wait(Millis),
}

/// A non-negative decimal integer (`1*DIGIT`).
fn number(v: &[u8]) -> Result<u64, HeaderError> {
    decimal(v).map_err(|e| match e {
        NotDecimal::Syntax => HeaderError::Syntax,
        NotDecimal::Overflow => HeaderError::Overflow,
    })
}

/// `#( 1*DIGIT )`: the first [`MAX_BUCKETS`] numbers and how many there were in all.
fn numbers(v: &[u8]) -> Result<(heapless::Vec<u64, MAX_BUCKETS>, usize), HeaderError> {
    let mut out = heapless::Vec::new();
    let mut count: usize = 0;
    for element in v.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        let n = number(element)?;
        count = count.saturating_add(1);
        let _dropped_beyond_capacity = out.push(n);
    }
    Ok((out, count))
}

/// `Retry-After = HTTP-date / delay-seconds`, as a wait from now.
fn retry_after(v: &[u8], now_unix_millis: Option<u64>) -> Result<Millis, HeaderError> {
    if v.first().is_some_and(u8::is_ascii_digit) {
        return Ok(Millis::from_ticks(secs_to_millis(number(v)?)?));
    }
    let now_secs = now_unix_millis.map_or(0, |ms| ms / 1_000);
    let date = HttpDate::parse(v, now_secs)?;
    let now = now_unix_millis.ok_or(HeaderError::NeedsWallClock)?;
    let at = u64::try_from(date.unix_secs()).unwrap_or(0); // before 1970: long past
    Ok(Millis::from_ticks(secs_to_millis(at)?.saturating_sub(now)))
}

/// One IETF list item: the name and the two numbers that matter (`q`/`w` or `r`/`t`, the
/// second already in milliseconds for `t`).
struct Entry {
    name: PolicyName,
    first: u64,
    second: Option<u64>,
    unit: Option<QuotaUnit>,
}

/// Parses a whole `RateLimit-Policy` (`policy`) or `RateLimit` field line.
fn ietf_entries(
    v: &[u8],
    policy: bool,
) -> Result<(heapless::Vec<Entry, MAX_BUCKETS>, bool), HeaderError> {
    let mut out = heapless::Vec::new();
    let mut truncated = false;
    sf::parse_list(v, |m: Member<'_>| {
        let mut name = PolicyName::new();
        let fits = match m.value {
            Some(Bare::String(raw)) => sf::unescape_into(raw, &mut name),
            Some(Bare::Token(raw)) => core::str::from_utf8(raw)
                .map_err(|_| HeaderError::InvalidItem)?
                .chars()
                .all(|c| name.push(c).is_ok()),
            _ => return Err(HeaderError::InvalidItem),
        };
        let (first_key, second_key) = if policy { (b"q", b"w") } else { (b"r", b"t") };
        let first = match m.params.get(first_key) {
            None => return Err(HeaderError::MissingParameter),
            Some(b) => non_negative(b)?,
        };
        let second = match m.params.get(second_key) {
            None => None,
            Some(b) => {
                let n = non_negative(b)?;
                if policy {
                    if n == 0 {
                        return Err(HeaderError::InvalidParameter); // w must be non-zero
                    }
                    Some(n)
                } else {
                    Some(secs_to_millis(n)?)
                }
            }
        };
        let unit = match (policy, m.params.get(b"qu")) {
            (true, Some(Bare::String(raw))) => Some(match raw {
                b"requests" | b"request" => QuotaUnit::Requests,
                b"content-bytes" => QuotaUnit::ContentBytes,
                b"concurrent-requests" => QuotaUnit::ConcurrentRequests,
                _ => QuotaUnit::Other,
            }),
            (true, Some(_)) => return Err(HeaderError::InvalidParameter),
            _ => None,
        };
        if !fits {
            truncated = true;
            return Ok(());
        }
        let entry = Entry {
            name,
            first,
            second,
            unit,
        };
        if out.push(entry).is_err() {
            truncated = true;
        }
        Ok(())
    })?;
    Ok((out, truncated))
}

fn non_negative(b: Bare<'_>) -> Result<u64, HeaderError> {
    match b {
        Bare::Integer(n) => u64::try_from(n).map_err(|_| HeaderError::InvalidParameter),
        _ => Err(HeaderError::InvalidParameter),
    }
}
