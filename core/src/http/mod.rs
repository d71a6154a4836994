//! Rate-limit HTTP headers: written by servers, read by clients. No allocation, no panics.
//!
//! # Server side
//!
//! A policy's answer is a [`ReportSet`]: one [`Report`](crate::Report) per limit in policy
//! order, which one denied, and when. From it, [`ReportSet::write_headers`] writes through any
//! [`HeaderSink`] (or, with [`HeaderLines`], as `Name: value\r\n` lines into any
//! [`core::fmt::Write`]):
//!
//! | field | value |
//! |---|---|
//! | `X-RateLimit-Limit` | the limit: of the [applicable](ReportSet::applicable) report, or one per report, comma-separated ([`LimitValues`]) |
//! | `X-RateLimit-Remaining` | the remaining count, likewise |
//! | `X-RateLimit-Reset` | the reset as delta seconds, epoch seconds or epoch milliseconds ([`ResetFormat`]) |
//! | `RateLimit-Policy` | `"name";q=limit;w=window-seconds`, one item per report |
//! | `RateLimit` | `"name";r=remaining;t=reset-seconds`, one item per report |
//! | `Retry-After` | whole seconds, on denials |
//!
//! The IETF fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026): lists of items
//! whose value is the policy name as an sf-string, with integer parameters.
//!
//! ## Guarantee
//!
//! **Every time written is rounded up**: a client that waits the written `Retry-After` finds
//! the request admitted (if nothing else arrives), and one that waits until the written reset
//! (`X-RateLimit-Reset` in any form, or `t`) finds the limit at rest. Windows (`w`) round up
//! too, which only ever advertises a slower rate. Epoch forms exist only with a [`WallClock`]
//! anchor, carried inside the [`ResetFormat`] variant, so a build without a wall clock cannot
//! ask for one. Names that cannot be sf-strings and epochs outside `u64` milliseconds are typed
//! [`RenderError`]s reported before anything is written.
//!
//! # Client side
//!
//! [`RateLimitSummary`] reads every rate-limit dialect in the wild from untrusted
//! `(name, value)` byte pairs, as a pure function of the bytes and the current unix time
//! supplied, into buckets of fixed capacity ([`MAX_BUCKETS`] per group), each tagged with the
//! [`Dialect`] it came from:
//!
//! - every form above (tollgate's own), and every `Retry-After` form (delay-seconds, fractional
//!   too, or an HTTP-date);
//! - the classic `X-RateLimit-*` family with `-Used` (GitHub, Reddit) and `-Reset-After`
//!   (Discord), fractional numbers (`598.0`, `1470173023.123`), `X-Rate-Limit-*` (X/Twitter),
//!   named families (`X-RateLimit-UserLimit`, `-ClientRemaining`, …);
//! - OpenAI's `x-ratelimit-remaining-requests` / `-tokens` with durations (`6m0s`, `20ms`),
//!   Anthropic's `anthropic-ratelimit-*` with RFC 3339 resets, Shopify's
//!   `X-Shopify-Shop-Api-Call-Limit: 32/40`;
//! - the IETF drafts: 06's separate `RateLimit-Limit` / `-Remaining` / `-Reset`, 07's
//!   `RateLimit: limit=100, remaining=25, reset=5`, the `RateLimit-Policy: 100;w=60` quota
//!   policies of drafts 06 to 09, and the structured fields of drafts 10 and 11.
//!
//! [`Dialect`] states each one's rules. Bare reset numbers are told apart by magnitude
//! ([`ResetKind::classify`]). [`RateLimitSummary::most_restrictive`] names the bucket to obey
//! first and its dialect, and [`RateLimitSummary::server_hints`] hands it to the
//! [`Pacer`](crate::Pacer).
//!
//! ## Guarantee
//!
//! **Never a wait shorter than the server said**: every time read (a reset in any form, a
//! `Retry-After`) rounds up to whole milliseconds, and then up to whole ticks in
//! [`server_hints`](RateLimitSummary::server_hints); a count of what remains rounds down and a
//! count of what was used rounds up. A malformed field line is a typed [`HeaderError`] and
//! changes nothing; no input panics or overflows. Every header form tollgate writes parses back
//! to the same figures, up to the rounding above (the property tests in
//! `tests/props_headers.rs` check this), and is never mistaken for another dialect.
//!
//! # Examples
//!
//! A server answering with four sliding buckets (2,300 per 15 minutes, 4,500 per 30 minutes,
//! 8,800 per hour, 105,600 per day), and a client reading the answer:
//!
//! ```
//! use tollgate_core::{Allowance, Decision, Duration, HeaderConfig, HeaderLines, Instant, RateLimitSummary,
//!                     Report, ReportSet, ResetFormat, LimitValues, XRateLimit};
//! type D = Duration<1_000>;
//!
//! let limit = |name, mins: u64, limit, remaining| Report {
//!     name, allowance: Allowance::PerWindow { count: limit, window: D::from_secs(mins * 60) },
//!     decision: Decision { limit, remaining, reset: D::from_secs(mins * 30), retry_after: None, delay: D::from_ticks(0)  },
//! };
//! let reports = [limit("15min", 15, 2300, 2290), limit("30min", 30, 4500, 4490),
//!                limit("1hr", 60, 8800, 8790), limit("24hrs", 1440, 105_600, 105_590)];
//! let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports);
//! let config = HeaderConfig::none()
//!     .with_x_ratelimit(XRateLimit::new(ResetFormat::DeltaSeconds, LimitValues::PerLimit))
//!     .with_ietf();
//! let mut out = HeaderLines(heapless::String::<512>::new());
//! set.write_headers(&config, &mut out)?;
//! assert!(out.0.starts_with("X-RateLimit-Limit: 2300, 4500, 8800, 105600\r\n"));
//! assert!(out.0.contains("RateLimit: \"15min\";r=2290;t=450, \"30min\";r=4490;t=900, "));
//!
//! let lines = out.0.split("\r\n").filter_map(|l| l.split_once(": "));
//! let seen = RateLimitSummary::from_headers(lines, None);
//! assert_eq!(seen.legacy().len(), 4);
//! assert_eq!(seen.ietf()[3].name.as_deref(), Some("24hrs"));
//! assert_eq!(seen.ietf()[3].window_secs, Some(86_400));
//! # Ok::<(), tollgate_core::RenderError>(())
//! ```

use core::fmt;

#[cfg(doc)]
use crate::policy::report::ReportSet;

mod ascii;
pub mod body;
mod date;
mod parse;
mod render;
pub(crate) mod sf;
mod test_headers;
mod values;

pub use date::HttpDate;
pub use parse::{
    Bucket, BucketInfo, Dialect, Figure, HeaderField, MAX_BUCKETS, MAX_NAME_LEN, Millis,
    PolicyName, QuotaUnit, RateLimitSummary, ResetKind,
};
pub(crate) use render::ceil_secs;
pub use render::{
    HeaderConfig, HeaderLines, HeaderSink, LimitValues, RenderError, ResetFormat, WallClock,
    XRateLimit,
};
pub use test_headers::TestHeaders;

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: &str = "X-RateLimit-Limit";
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: &str = "X-RateLimit-Remaining";
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: &str = "X-RateLimit-Reset";
/// `Retry-After` (RFC 9110 §10.2.3).
pub const RETRY_AFTER: &str = "Retry-After";
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT: &str = "RateLimit";
/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: &str = "RateLimit-Policy";

/// A header value that could not be read. The field line it came from is ignored.
///
/// # Examples
///
/// ```
/// use tollgate_core::{HeaderError, RateLimitSummary};
///
/// let mut s = RateLimitSummary::new();
/// assert_eq!(s.feed("X-RateLimit-Remaining", "12 apples", None), Err(HeaderError::Syntax));
/// assert_eq!(s.feed("X-RateLimit-Limit", "99999999999999999999", None), Err(HeaderError::Overflow));
/// assert_eq!(s.feed("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT", None), Err(HeaderError::NeedsWallClock));
/// assert_eq!(s.feed("RateLimit", r#""minute";t=30"#, None), Err(HeaderError::MissingParameter));
/// assert_eq!(s, RateLimitSummary::new()); // every malformed line changed nothing
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HeaderError {
    /// The value does not follow the field's grammar: a bad number or list, a malformed
    /// structured field, or an HTTP-date in no known layout.
    Syntax,
    /// A number, or its conversion to milliseconds, does not fit a `u64`.
    Overflow,
    /// An HTTP-date whose fields are out of range or whose day name is not its weekday.
    InvalidDate,
    /// An absolute time (an epoch reset or an HTTP-date) arrived, but no current unix time was
    /// supplied to measure it from.
    NeedsWallClock,
    /// An IETF list member is not an item named by a string or token.
    InvalidItem,
    /// An IETF item lacks its required parameter (`q` in `RateLimit-Policy`, `r` in
    /// `RateLimit`).
    MissingParameter,
    /// A known IETF parameter has the wrong type or range (a negative `q`, `w=0`, a token
    /// `qu`, …).
    InvalidParameter,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "the value does not follow the field's grammar",
            Self::Overflow => "a number does not fit 64 bits",
            Self::InvalidDate => "the HTTP-date names an impossible or inconsistent time",
            Self::NeedsWallClock => "an absolute time needs the current unix time to be read",
            Self::InvalidItem => "a list member is not an item named by a string or token",
            Self::MissingParameter => "an item lacks its required parameter",
            Self::InvalidParameter => "a parameter has the wrong type or range",
        })
    }
}

impl core::error::Error for HeaderError {}

#[cfg(test)]
mod tests;
