//! An API's test headers (force a 429, or lower one window's limit), read from a request into
//! [`Overrides`].

use super::ascii::{NotDecimal, decimal, trim_ows};
use crate::policy::Overrides;

/// The test headers of a request (`X-RateLimit: 1` forces a 429, `X-RateLimit-Hour: 5` lowers
/// the hourly limit), ready to pass to a policy as [`Overrides`].
///
/// - `X-RateLimit` with a non-blank value that is not a zero number (`1`, `yes`) forces a 429.
/// - `X-RateLimit-<Interval>: N` lowers the limit named `<Interval>` (matched case-insensitively
///   by the policy) to `N` for this request only. A policy never lets an override raise a limit,
///   and ignores names it does not have, so these are safe to read from untrusted requests.
///
/// Values are trimmed of spaces and tabs only (RFC 9110 `OWS`, as the
/// [`RateLimitSummary`](crate::RateLimitSummary) reader does): a CR, LF or form feed is kept as
/// part of the value. A lowering value that is not a decimal integer is skipped; one above
/// `u32::MAX` saturates (and so lowers nothing). At most `N` lowering headers are kept; further
/// ones are dropped and set [`truncated`](Self::truncated). Names that are not UTF-8 are skipped.
/// Nothing here allocates or panics.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Duration, Instant, Named, Policy, Quota, SlidingLog, TestHeaders};
///
/// let hour = Quota::<1_000>::per_hour(50)?;
/// let policy = Policy::new((Named::new("hour", SlidingLog::<1_000, 50>::new(hour)?),));
/// let mut state = policy.new_state();
/// let now = Instant::<1_000>::from_ticks(0);
///
/// let request = [("Accept", "application/json"), ("X-RateLimit-Hour", " 5 ")];
/// let test: TestHeaders<'_, 4> = TestHeaders::from_headers(request);
/// for _ in 0..5 {
///     assert!(policy.check_with(&mut state, now, 1, &test.overrides())?.is_allowed());
/// }
/// let d = policy.check_with(&mut state, now, 1, &test.overrides())?;
/// assert_eq!((d.limit_exceeded(), d.reports[0].decision.limit), (Some("hour"), 5));
/// // Without the header the hourly limit is 50 again: with the 5 admitted above and this one,
/// // 44 remain.
/// assert_eq!(policy.check(&mut state, now, 1)?.reports[0].decision.remaining, 44);
///
/// let forced: TestHeaders<'_, 4> = TestHeaders::from_headers([("x-ratelimit", "1")]);
/// assert!(policy.check_with(&mut state, now, 1, &forced.overrides())?.is_denied());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestHeaders<'a, const N: usize> {
    deny: bool,
    lower: heapless::Vec<(&'a str, u32), N>,
    truncated: bool,
}

/// `X-RateLimit`, the header that forces a denial.
const FORCE: &[u8] = b"x-ratelimit";

/// `X-RateLimit-`, the prefix of the lowering headers.
const PREFIX: &[u8] = b"x-ratelimit-";

impl<'a, const N: usize> TestHeaders<'a, N> {
    /// No test headers.
    pub const fn new() -> Self {
        Self {
            deny: false,
            lower: heapless::Vec::new(),
            truncated: false,
        }
    }

    /// Reads every `(name, value)` field of a request, skipping the ones that are not test
    /// headers.
    pub fn from_headers<I, K, V>(headers: I) -> Self
    where
        I: IntoIterator<Item = (&'a K, V)>,
        K: AsRef<[u8]> + ?Sized + 'a,
        V: AsRef<[u8]>,
    {
        let mut parsed = Self::new();
        for (name, value) in headers {
            parsed.feed(name.as_ref(), value.as_ref());
        }
        parsed
    }

    /// Reads one field; returns whether it was a test header that took effect.
    pub fn feed(&mut self, name: &'a [u8], value: &[u8]) -> bool {
        let value = trim_ows(value);
        if name.eq_ignore_ascii_case(FORCE) {
            let zero = !value.is_empty() && value.iter().all(|&b| b == b'0');
            let forces = !value.is_empty() && !zero;
            self.deny |= forces;
            return forces;
        }
        let Some((prefix, interval)) = name.split_at_checked(PREFIX.len()) else {
            return false;
        };
        if !prefix.eq_ignore_ascii_case(PREFIX) || interval.is_empty() {
            return false;
        }
        let (Ok(interval), Some(limit)) = (core::str::from_utf8(interval), limit(value)) else {
            return false;
        };
        if self.lower.push((interval, limit)).is_err() {
            self.truncated = true;
            return false;
        }
        true
    }

    /// The overrides to decide this request with.
    pub fn overrides(&self) -> Overrides<'_> {
        Overrides {
            deny: self.deny,
            lower: &self.lower,
        }
    }

    /// Whether `X-RateLimit` forces a denial.
    pub const fn forces_denial(&self) -> bool {
        self.deny
    }

    /// The lowering headers kept, as `(interval, limit)`.
    pub fn lowered(&self) -> &[(&'a str, u32)] {
        &self.lower
    }

    /// Whether lowering headers were dropped for lack of room.
    pub const fn truncated(&self) -> bool {
        self.truncated
    }
}

/// A non-empty run of ASCII digits, saturating at `u32::MAX`.
fn limit(digits: &[u8]) -> Option<u32> {
    match decimal(digits) {
        Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        Err(NotDecimal::Overflow) => Some(u32::MAX),
        Err(NotDecimal::Syntax) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(fields: &[(&'static str, &'static str)]) -> TestHeaders<'static, 2> {
        TestHeaders::from_headers(fields.iter().copied())
    }

    #[test]
    fn a_non_blank_non_zero_x_ratelimit_forces_a_denial() {
        for v in ["1", "yes", " 2 ", "0x0", "-0"] {
            assert!(read(&[("X-RateLimit", v)]).forces_denial(), "{v:?}");
        }
        for v in ["", "  ", "0", "000", "\t0 "] {
            assert!(!read(&[("X-RateLimit", v)]).forces_denial(), "{v:?}");
        }
    }

    #[test]
    fn lowering_headers_keep_the_interval_name_and_an_integer_value() {
        let t = read(&[
            ("X-RateLimit-Hour", " 5"),
            ("x-ratelimit-DAY", "0"),
            ("X-RateLimit-Week", "lots"),
        ]);
        assert_eq!(t.lowered(), &[("Hour", 5), ("DAY", 0)]);
        assert!(!t.truncated() && !t.forces_denial());
        assert_eq!(t.overrides().lower, &[("Hour", 5), ("DAY", 0)]);
    }

    #[test]
    fn huge_values_saturate_and_other_headers_are_skipped() {
        let t = read(&[
            ("X-RateLimit-Hour", "99999999999999999999"),
            ("X-RateLimit-", "5"),
            ("Accept", "1"),
            ("X-RateLimitHour", "5"),
        ]);
        assert_eq!(t.lowered(), &[("Hour", u32::MAX)]);
    }

    #[test]
    fn only_spaces_and_tabs_are_trimmed_from_values() {
        let t = read(&[
            ("X-RateLimit-Hour", "\t5 "),
            ("X-RateLimit-Day", "7\r\n"),
            ("X-RateLimit", "\r"),
        ]);
        assert_eq!(t.lowered(), &[("Hour", 5)]);
        assert!(t.forces_denial());
    }

    #[test]
    fn lowering_headers_beyond_capacity_are_dropped_and_flagged() {
        let t = read(&[
            ("X-RateLimit-A", "1"),
            ("X-RateLimit-B", "2"),
            ("X-RateLimit-C", "3"),
        ]);
        assert_eq!(t.lowered(), &[("A", 1), ("B", 2)]);
        assert!(t.truncated());
    }

    #[test]
    fn names_that_are_not_utf8_are_skipped() {
        let mut t = TestHeaders::<'_, 2>::new();
        assert!(!t.feed(b"X-RateLimit-\xff", b"1"));
        assert!(t.feed(b"X-RateLimit-Hour", b"1"));
        assert_eq!(t.lowered(), &[("Hour", 1)]);
    }
}
