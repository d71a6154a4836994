//! JSON error bodies, written without allocation into any [`core::fmt::Write`].
//!
//! Every body is a `Display` value: `write!(buf, "{}", body)` renders it into a
//! `heapless::String`, a response buffer or a socket writer. Four shapes:
//!
//! - [`TooManyRequests`]: a rolling-window API's 429 body, naming the exceeded limit and every
//!   limit;
//! - [`ProblemDetails`]: an RFC 9457 problem-details object (`application/problem+json`) with
//!   the IETF rate-limit draft's `quota-exceeded` type and extension members;
//! - [`CodedError`]: an SMS carrier's `category` / `code` / `message` / `details` shape, with the
//!   "You can send 1 messages per 1 seconds…" sentence built by [`RateSentence`];
//! - [`MultiMessageLimit`]: the same shape for the carrier's `multi-message-limit`, from the
//!   [`InsufficientCapacity`] a limiter returns for a request that can never fit.
//!
//! # Guarantee
//!
//! The output is always well-formed JSON (RFC 8259), whatever the strings: every string
//! (names, messages, details) is escaped by [`JsonStr`]: `"` and `\` get a backslash, control
//! characters U+0000–U+001F become `\u00XX`, and everything else is written as UTF-8. Numbers
//! are integers. Nothing is allocated; the only error is the writer's own.

use core::fmt;

use crate::error::InsufficientCapacity;
use crate::http::ceil_secs;
use crate::policy::report::ReportSet;
use crate::quota::Quota;
use crate::time::Duration;

/// The IETF draft's problem type for an exceeded quota (draft-ietf-httpapi-ratelimit-headers
/// §5.1), recommended with status 429.
pub const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// A string written as a JSON string literal: quoted and escaped per RFC 8259.
///
/// # Examples
///
/// ```
/// use tollgate_core::JsonStr;
///
/// let mut s = heapless::String::<32>::new();
/// core::fmt::write(&mut s, format_args!("{}", JsonStr("a\"b\\c\n\u{1}é"))).unwrap();
/// assert_eq!(s, r#""a\"b\\c\u000a\u0001é""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JsonStr<'a>(pub &'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        write_escaped(f, self.0)?;
        f.write_str("\"")
    }
}

/// Writes `s` escaped for the inside of a JSON string, in runs of unescaped text.
fn write_escaped<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            0x00..=0x1f => None,
            _ => continue,
        };
        w.write_str(s.get(run_start..i).ok_or(fmt::Error)?)?;
        match escape {
            Some(e) => w.write_str(e)?,
            None => {
                let hi = HEX.get(usize::from(b >> 4)).copied().ok_or(fmt::Error)?;
                let lo = HEX.get(usize::from(b & 0xf)).copied().ok_or(fmt::Error)?;
                w.write_str("\\u00")?;
                w.write_char(char::from(hi))?;
                w.write_char(char::from(lo))?;
            }
        }
        run_start = i.saturating_add(1);
    }
    w.write_str(s.get(run_start..).ok_or(fmt::Error)?)
}

/// A writer that escapes everything written through it, for text built with `write!`.
struct Escaping<'w, W: ?Sized>(&'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s)
    }
}

/// A 429 body naming the limit that was exceeded: the status, the exceeded limit's name, every
/// limit by name, a message (the shape of an API with rolling hourly and daily limits).
///
/// `limit_exceeded` is the denying report's name, or `null` if none denied. `more_info` is
/// written only when set. Duplicate report names would give duplicate keys in `limits`; give
/// limits distinct names.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Allowance, Decision, Duration, Instant, Report, ReportSet, TooManyRequests};
/// type D = Duration<1_000>;
///
/// let denied = Decision { limit: 50, remaining: 0, reset: D::from_secs(60),
///                         retry_after: Some(D::from_secs(72)), delay: D::from_ticks(0)  };
/// let open = Decision { limit: 600, remaining: 550, reset: D::from_secs(600), retry_after: None, delay: D::from_ticks(0)  };
/// let reports = [
///     Report { name: "hour", allowance: Allowance::PerWindow { count: 50, window: D::from_secs(3_600) }, decision: denied },
///     Report { name: "day", allowance: Allowance::PerWindow { count: 600, window: D::from_secs(86_400) }, decision: open },
/// ];
/// let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports);
/// let body = TooManyRequests::new(set, "Too many requests for this hour.");
/// let mut s = heapless::String::<256>::new();
/// core::fmt::write(&mut s, format_args!("{body}")).unwrap();
/// assert_eq!(s, r#"{"status":429,"error":"too_many_requests","limit_exceeded":"hour","limits":{"hour":50,"day":600},"message":"Too many requests for this hour."}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooManyRequests<'a, const HZ: u64> {
    /// The policy's answer.
    pub reports: ReportSet<'a, HZ>,
    /// The human-readable `message`.
    pub message: &'a str,
    /// An optional `more_info` URL.
    pub more_info: Option<&'a str>,
}

impl<'a, const HZ: u64> TooManyRequests<'a, HZ> {
    /// A body for `reports` with `message` and no `more_info`.
    pub const fn new(reports: ReportSet<'a, HZ>, message: &'a str) -> Self {
        Self {
            reports,
            message,
            more_info: None,
        }
    }

    /// The same body with a `more_info` URL.
    pub const fn with_more_info(self, url: &'a str) -> Self {
        Self {
            more_info: Some(url),
            ..self
        }
    }
}

impl<const HZ: u64> fmt::Display for TooManyRequests<'_, HZ> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"{"status":429,"error":"too_many_requests","limit_exceeded":"#)?;
        match self.reports.denied() {
            Some(r) => write!(f, "{}", JsonStr(r.name))?,
            None => f.write_str("null")?,
        }
        f.write_str(r#","limits":{"#)?;
        for (i, r) in self.reports.reports().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", JsonStr(r.name), r.decision.limit)?;
        }
        write!(f, r#"}},"message":{}"#, JsonStr(self.message))?;
        if let Some(url) = self.more_info {
            write!(f, r#","more_info":{}"#, JsonStr(url))?;
        }
        f.write_str("}")
    }
}

/// An RFC 9457 problem-details object for a rate-limit denial.
///
/// Members, in order: `type`, `title`, `status`, `detail` and `instance` (when set), then the
/// extension members `limit_exceeded` (the denying report's name, when one denied),
/// `retry_after` (whole seconds, rounded up, when a report denied) and `violated-policies`
/// (the names of the denying report and of every report whose decision is a denial, in policy
/// order, as the IETF rate-limit draft defines it; omitted when empty).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Allowance, Decision, Duration, Instant, ProblemDetails, Report, ReportSet};
/// type D = Duration<1_000>;
///
/// let decision = Decision { limit: 50, remaining: 0, reset: D::from_secs(60),
///                           retry_after: Some(D::from_millis(44_001)), delay: D::from_ticks(0)  };
/// let reports = [Report { name: "hour", allowance: Allowance::PerWindow { count: 50, window: D::from_secs(3_600) }, decision }];
/// let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports);
/// let body = ProblemDetails::quota_exceeded(set).with_detail("50 requests per hour");
/// let mut s = heapless::String::<320>::new();
/// core::fmt::write(&mut s, format_args!("{body}")).unwrap();
/// assert_eq!(s, concat!(
///     r#"{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","#,
///     r#""title":"Quota Exceeded","status":429,"detail":"50 requests per hour","#,
///     r#""limit_exceeded":"hour","retry_after":45,"violated-policies":["hour"]}"#));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProblemDetails<'a, const HZ: u64> {
    /// The policy's answer.
    pub reports: ReportSet<'a, HZ>,
    /// The problem type URI.
    pub type_uri: &'a str,
    /// A short summary of the problem type.
    pub title: &'a str,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation of this occurrence.
    pub detail: Option<&'a str>,
    /// A URI identifying this occurrence.
    pub instance: Option<&'a str>,
}

impl<'a, const HZ: u64> ProblemDetails<'a, HZ> {
    /// The draft's `quota-exceeded` problem ([`QUOTA_EXCEEDED`], "Quota Exceeded", 429).
    pub const fn quota_exceeded(reports: ReportSet<'a, HZ>) -> Self {
        Self {
            reports,
            type_uri: QUOTA_EXCEEDED,
            title: "Quota Exceeded",
            status: 429,
            detail: None,
            instance: None,
        }
    }

    /// The same problem with a `detail`.
    pub const fn with_detail(self, detail: &'a str) -> Self {
        Self {
            detail: Some(detail),
            ..self
        }
    }

    /// The same problem with an `instance`.
    pub const fn with_instance(self, instance: &'a str) -> Self {
        Self {
            instance: Some(instance),
            ..self
        }
    }
}

impl<const HZ: u64> fmt::Display for ProblemDetails<'_, HZ> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"type":{},"title":{},"status":{}"#,
            JsonStr(self.type_uri),
            JsonStr(self.title),
            self.status
        )?;
        if let Some(d) = self.detail {
            write!(f, r#","detail":{}"#, JsonStr(d))?;
        }
        if let Some(i) = self.instance {
            write!(f, r#","instance":{}"#, JsonStr(i))?;
        }
        if let Some(r) = self.reports.denied() {
            write!(f, r#","limit_exceeded":{}"#, JsonStr(r.name))?;
        }
        if let Some(secs) = self.reports.retry_after_secs() {
            write!(f, r#","retry_after":{secs}"#)?;
        }
        let denied = self.reports.denied_index();
        let mut violated = self
            .reports
            .reports()
            .iter()
            .enumerate()
            .filter(|(i, r)| Some(*i) == denied || r.decision.is_denied())
            .peekable();
        if violated.peek().is_some() {
            f.write_str(r#","violated-policies":["#)?;
            for (n, (_, r)) in violated.enumerate() {
                if n > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}", JsonStr(r.name))?;
            }
            f.write_str("]")?;
        }
        f.write_str("}")
    }
}

/// An SMS carrier's sentence: "You can send 1 messages per 1 seconds, calculated as the average over
/// 10 seconds. Your rate is: 1.1".
///
/// The measured rate is given in integer thousandths and written with at most three decimals,
/// trailing zeros dropped (`1100` → `1.1`, `1000` → `1`, `1005` → `1.005`).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Quota, RateSentence};
///
/// // 1 per 1 s, averaged over 10 s, is a quota of 1/s with a burst of 10.
/// let quota = Quota::<1_000>::per_second(1)?.with_burst(10)?;
/// let s = RateSentence::for_quota("send", "messages", &quota, 1_100);
/// let mut out = heapless::String::<128>::new();
/// core::fmt::write(&mut out, format_args!("{s}")).unwrap();
/// assert_eq!(out, "You can send 1 messages per 1 seconds, calculated as the average over 10 seconds. Your rate is: 1.1");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateSentence<'a> {
    /// What the client does (`"send"`, `"create"`).
    pub verb: &'a str,
    /// How many per period.
    pub count: u32,
    /// What is counted (`"messages"`, `"calls"`).
    pub noun: &'a str,
    /// The period, in seconds.
    pub per_secs: u64,
    /// The sample period the rate is averaged over, in seconds.
    pub average_over_secs: u64,
    /// The client's measured rate, in thousandths of `noun` per period.
    pub rate_milli: u64,
}

impl<'a> RateSentence<'a> {
    /// The sentence for `quota`: its limit per window, averaged over its burst (burst ×
    /// interval), both in seconds rounded up.
    pub fn for_quota<const HZ: u64>(
        verb: &'a str,
        noun: &'a str,
        quota: &Quota<HZ>,
        rate_milli: u64,
    ) -> Self {
        Self {
            verb,
            count: quota.limit(),
            noun,
            per_secs: ceil_secs(quota.window()),
            average_over_secs: ceil_secs(Duration::<HZ>::from_ticks(quota.burst_ticks())),
            rate_milli,
        }
    }
}

impl fmt::Display for RateSentence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "You can {} {} {} per {} seconds, calculated as the average over {} seconds. Your rate is: {}",
            self.verb,
            self.count,
            self.noun,
            self.per_secs,
            self.average_over_secs,
            self.rate_milli / 1_000
        )?;
        let mut frac = self.rate_milli % 1_000;
        if frac == 0 {
            return Ok(());
        }
        let mut digits: usize = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits = digits.saturating_sub(1);
        }
        write!(f, ".{frac:0digits$}")
    }
}

/// One `{"name": …, "value": …}` entry of a [`CodedError`]'s `details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Detail<'a> {
    /// The entry's name (`"requestMethod"`).
    pub name: &'a str,
    /// The entry's value (`"POST"`).
    pub value: &'a str,
}

/// An SMS carrier's error shape: `{"category":…,"code":…,"message":…,"details":[{"name":…,"value":…}]}`.
///
/// `message` is left out when `None` (the carrier's 429 body has none); `details` is always an
/// array.
///
/// # Examples
///
/// ```
/// use tollgate_core::{CodedError, Detail, RateSentence};
///
/// let details = [Detail { name: "requestMethod", value: "POST" }];
/// let sentence = RateSentence { verb: "send", count: 1, noun: "messages", per_secs: 1,
///                               average_over_secs: 10, rate_milli: 1_100 };
/// let body = CodedError::message_rate_limit(sentence, &details);
/// let mut s = heapless::String::<256>::new();
/// core::fmt::write(&mut s, format_args!("{body}")).unwrap();
/// assert_eq!(s, concat!(r#"{"category":"limit","code":"message-rate-limit","#,
///     r#""message":"You can send 1 messages per 1 seconds, calculated as the average over 10 seconds. Your rate is: 1.1","#,
///     r#""details":[{"name":"requestMethod","value":"POST"}]}"#));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CodedError<'a> {
    /// The error category (`"limit"`, `"too-many-requests"`).
    pub category: &'a str,
    /// The error code (`"message-rate-limit"`).
    pub code: &'a str,
    /// The sentence, if any.
    pub message: Option<RateSentence<'a>>,
    /// Name/value details about the request.
    pub details: &'a [Detail<'a>],
}

impl<'a> CodedError<'a> {
    /// The carrier's 403 for messages: category `limit`, code `message-rate-limit`.
    pub const fn message_rate_limit(message: RateSentence<'a>, details: &'a [Detail<'a>]) -> Self {
        Self {
            category: "limit",
            code: "message-rate-limit",
            message: Some(message),
            details,
        }
    }

    /// The carrier's 403 for calls: category `limit`, code `call-rate-limit`.
    pub const fn call_rate_limit(message: RateSentence<'a>, details: &'a [Detail<'a>]) -> Self {
        Self {
            category: "limit",
            code: "call-rate-limit",
            message: Some(message),
            details,
        }
    }
}

impl fmt::Display for CodedError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"category":{},"code":{}"#,
            JsonStr(self.category),
            JsonStr(self.code)
        )?;
        if let Some(m) = &self.message {
            f.write_str(r#","message":""#)?;
            fmt::write(&mut Escaping(f), format_args!("{m}"))?;
            f.write_str("\"")?;
        }
        write_details(f, self.details)?;
        f.write_str("}")
    }
}

/// Writes `,"details":[{"name":…,"value":…},…]`.
fn write_details(f: &mut fmt::Formatter<'_>, details: &[Detail<'_>]) -> fmt::Result {
    f.write_str(r#","details":["#)?;
    for (i, d) in details.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(
            f,
            r#"{{"name":{},"value":{}}}"#,
            JsonStr(d.name),
            JsonStr(d.value)
        )?;
    }
    f.write_str("]")
}

/// An SMS carrier's 403 for a multi-message request with more recipients than can ever be sent
/// at once:
/// the [`CodedError`] shape with category `limit`, code `multi-message-limit` and the message
/// "The number of messages \[12\] in the multi message request is greater than the limit \[10\]."
///
/// Built from the [`InsufficientCapacity`] the limiter returned for the request's cost (one per
/// message), from a single limit or from a policy.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Detail, InsufficientCapacity, MultiMessageLimit};
///
/// let details = [Detail { name: "requestMethod", value: "POST" }];
/// let body = MultiMessageLimit::new(InsufficientCapacity::new(12, 10), &details);
/// let mut s = heapless::String::<256>::new();
/// core::fmt::write(&mut s, format_args!("{body}")).unwrap();
/// assert_eq!(s, concat!(r#"{"category":"limit","code":"multi-message-limit","#,
///     r#""message":"The number of messages [12] in the multi message request is greater than the limit [10].","#,
///     r#""details":[{"name":"requestMethod","value":"POST"}]}"#));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MultiMessageLimit<'a> {
    /// The request's messages (`cost`) and the most that can ever be sent at once (`capacity`).
    pub exceeded: InsufficientCapacity,
    /// Name/value details about the request.
    pub details: &'a [Detail<'a>],
}

impl<'a> MultiMessageLimit<'a> {
    /// The body for a request whose message count `exceeded` the limit, with `details`.
    pub const fn new(exceeded: InsufficientCapacity, details: &'a [Detail<'a>]) -> Self {
        Self { exceeded, details }
    }
}

impl fmt::Display for MultiMessageLimit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            concat!(
                r#"{{"category":"limit","code":"multi-message-limit","message":"#,
                r#""The number of messages [{}] in the multi message request is greater than "#,
                r#"the limit [{}].""#
            ),
            self.exceeded.cost, self.exceeded.capacity
        )?;
        write_details(f, self.details)?;
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{Allowance, Decision};
    use crate::policy::report::Report;
    use crate::time::Instant;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// A strict RFC 8259 parser, for tests only: enough to prove the output is JSON and to
    /// read strings back.
    #[derive(Debug, Clone, PartialEq)]
    enum J {
        Null,
        Bool(bool),
        Num(String),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    fn parse_json(s: &str) -> Result<J, String> {
        let b = s.as_bytes();
        let mut i = 0;
        let v = value(b, &mut i)?;
        ws(b, &mut i);
        if i != b.len() {
            return Err(format!("trailing input at {i}"));
        }
        Ok(v)
    }

    fn ws(b: &[u8], i: &mut usize) {
        while matches!(b.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *i += 1;
        }
    }

    fn value(b: &[u8], i: &mut usize) -> Result<J, String> {
        ws(b, i);
        let lit = |i: &mut usize, word: &str, v: J| {
            if b[*i..].starts_with(word.as_bytes()) {
                *i += word.len();
                Ok(v)
            } else {
                Err(format!("bad literal at {i}"))
            }
        };
        match b.get(*i) {
            Some(b'n') => lit(i, "null", J::Null),
            Some(b't') => lit(i, "true", J::Bool(true)),
            Some(b'f') => lit(i, "false", J::Bool(false)),
            Some(b'"') => string(b, i).map(J::Str),
            Some(b'[') => {
                *i += 1;
                let mut items = Vec::new();
                ws(b, i);
                if b.get(*i) == Some(&b']') {
                    *i += 1;
                    return Ok(J::Arr(items));
                }
                loop {
                    items.push(value(b, i)?);
                    ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b']') => {
                            *i += 1;
                            return Ok(J::Arr(items));
                        }
                        _ => return Err(format!("bad array at {i}")),
                    }
                }
            }
            Some(b'{') => {
                *i += 1;
                let mut members = Vec::new();
                ws(b, i);
                if b.get(*i) == Some(&b'}') {
                    *i += 1;
                    return Ok(J::Obj(members));
                }
                loop {
                    ws(b, i);
                    let k = string(b, i)?;
                    ws(b, i);
                    if b.get(*i) != Some(&b':') {
                        return Err(format!("missing colon at {i}"));
                    }
                    *i += 1;
                    members.push((k, value(b, i)?));
                    ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return Ok(J::Obj(members));
                        }
                        _ => return Err(format!("bad object at {i}")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = *i;
                if b.get(*i) == Some(&b'-') {
                    *i += 1;
                }
                match b.get(*i) {
                    Some(b'0') => *i += 1,
                    Some(b'1'..=b'9') => {
                        while matches!(b.get(*i), Some(b'0'..=b'9')) {
                            *i += 1;
                        }
                    }
                    _ => return Err(format!("bad number at {i}")),
                }
                Ok(J::Num(String::from_utf8(b[start..*i].to_vec()).unwrap()))
            }
            _ => Err(format!("unexpected input at {i}")),
        }
    }

    fn string(b: &[u8], i: &mut usize) -> Result<String, String> {
        if b.get(*i) != Some(&b'"') {
            return Err(format!("expected a string at {i}"));
        }
        *i += 1;
        let mut out = Vec::new();
        loop {
            match b.get(*i) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    *i += 1;
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                Some(b'\\') => {
                    let e = b.get(*i + 1).ok_or("dangling escape")?;
                    *i += 2;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(*e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(b.get(*i..*i + 4).ok_or("short \\u")?)
                                .map_err(|e| e.to_string())?;
                            let c = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            let c = char::from_u32(c).ok_or("surrogate")?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            *i += 4;
                        }
                        _ => return Err(format!("bad escape at {i}")),
                    }
                }
                Some(0x00..=0x1f) => return Err(format!("raw control character at {i}")),
                Some(&c) => {
                    out.push(c);
                    *i += 1;
                }
            }
        }
    }

    type D = Duration<1_000>;

    fn report(name: &str, limit: u32, retry_ms: Option<u64>) -> Report<'_, 1_000> {
        Report {
            name,
            allowance: Allowance::PerWindow {
                count: limit,
                window: D::from_secs(3_600),
            },
            decision: Decision {
                limit,
                remaining: 0,
                reset: D::from_secs(60),
                retry_after: retry_ms.map(D::from_millis),
                delay: D::from_ticks(0),
            },
        }
    }

    fn json(v: impl fmt::Display) -> String {
        let s = v.to_string();
        parse_json(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
        s
    }

    #[test]
    fn seed_004_body_names_the_exceeded_window_and_all_limits() {
        let reports = [report("hour", 50, Some(1)), report("day", 600, None)];
        let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports);
        let body = TooManyRequests::new(set, "...")
            .with_more_info("https://www.prayerletters.com/dev/errors/429");
        assert_eq!(
            json(body),
            r#"{"status":429,"error":"too_many_requests","limit_exceeded":"hour","limits":{"hour":50,"day":600},"message":"...","more_info":"https://www.prayerletters.com/dev/errors/429"}"#
        );
        let admitted = [report("hour", 50, None)];
        let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &admitted);
        assert!(json(TooManyRequests::new(set, "")).contains(r#""limit_exceeded":null,"#));
    }

    #[test]
    fn problem_details_carry_every_violated_policy_and_the_longest_wait() {
        let reports = [
            report("minute", 300, Some(2_500)),
            report("hour", 50, None),
            report("day", 600, Some(7_000)),
        ];
        let set = ReportSet::new(Instant::<1_000>::from_ticks(0), &reports, Some(1)).unwrap();
        let body = ProblemDetails::quota_exceeded(set).with_instance("/items/123");
        assert_eq!(
            json(body),
            concat!(
                r#"{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","#,
                r#""title":"Quota Exceeded","status":429,"instance":"/items/123","#,
                r#""limit_exceeded":"hour","retry_after":7,"#,
                r#""violated-policies":["minute","hour","day"]}"#
            )
        );
        let none = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &[]);
        assert_eq!(
            json(ProblemDetails {
                status: 503,
                ..ProblemDetails::quota_exceeded(none)
            }),
            r#"{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Quota Exceeded","status":503}"#
        );
    }

    #[test]
    fn seed_003_bodies_match_the_documented_samples() {
        let details = [
            Detail {
                name: "requestMethod",
                value: "POST",
            },
            Detail {
                name: "remoteAddress",
                value: "216.82.234.65",
            },
            Detail {
                name: "requestPath",
                value: "users/u-asdf/calls",
            },
        ];
        let sentence = RateSentence {
            verb: "create",
            count: 1,
            noun: "calls",
            per_secs: 1,
            average_over_secs: 10,
            rate_milli: 1_100,
        };
        assert_eq!(
            json(CodedError::call_rate_limit(sentence, &details)),
            concat!(
                r#"{"category":"limit","code":"call-rate-limit","#,
                r#""message":"You can create 1 calls per 1 seconds, calculated as the average over 10 seconds. Your rate is: 1.1","#,
                r#""details":[{"name":"requestMethod","value":"POST"},"#,
                r#"{"name":"remoteAddress","value":"216.82.234.65"},"#,
                r#"{"name":"requestPath","value":"users/u-asdf/calls"}]}"#
            )
        );
        let reset = [Detail {
            name: "rateLimitResetTime",
            value: "1479308598680",
        }];
        let body = CodedError {
            category: "too-many-requests",
            code: "rate-limit-reached",
            message: None,
            details: &reset,
        };
        assert_eq!(
            json(body),
            r#"{"category":"too-many-requests","code":"rate-limit-reached","details":[{"name":"rateLimitResetTime","value":"1479308598680"}]}"#
        );
    }

    #[test]
    fn seed_003_multi_message_limit_names_both_counts() {
        let details = [Detail {
            name: "requestPath",
            value: "users/u-asdf/messages",
        }];
        let body = MultiMessageLimit::new(InsufficientCapacity::new(u32::MAX, 0), &details);
        assert_eq!(
            json(body),
            concat!(
                r#"{"category":"limit","code":"multi-message-limit","#,
                r#""message":"The number of messages [4294967295] in the multi message request is greater than the limit [0].","#,
                r#""details":[{"name":"requestPath","value":"users/u-asdf/messages"}]}"#
            )
        );
        let none = MultiMessageLimit::new(InsufficientCapacity::new(2, 1), &[]);
        assert!(json(none).ends_with(r#""details":[]}"#));
    }

    #[test]
    fn measured_rates_print_with_at_most_three_decimals() {
        let at = |rate_milli| {
            let s = RateSentence {
                verb: "v",
                count: 1,
                noun: "n",
                per_secs: 1,
                average_over_secs: 1,
                rate_milli,
            };
            let s = s.to_string();
            s.rsplit(": ").next().unwrap().to_string()
        };
        assert_eq!(at(1_100), "1.1");
        assert_eq!(at(1_000), "1");
        assert_eq!(at(0), "0");
        assert_eq!(at(1_005), "1.005");
        assert_eq!(at(1_050), "1.05");
        assert_eq!(at(999), "0.999");
        assert_eq!(at(u64::MAX), "18446744073709551.615");
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_escaped() {
        assert_eq!(JsonStr("\"\\/").to_string(), r#""\"\\/""#);
        assert_eq!(
            JsonStr("\u{0}\u{1f}\n\t").to_string(),
            r#""\u0000\u001f\u000a\u0009""#
        );
        assert_eq!(
            JsonStr("\u{7f}é😀\u{2028}").to_string(),
            "\"\u{7f}é😀\u{2028}\""
        );
        let details = [Detail {
            name: "a\"b",
            value: "line\nbreak",
        }];
        let sentence = RateSentence {
            verb: "say \"hi\"",
            count: 2,
            noun: "back\\slashes",
            per_secs: 1,
            average_over_secs: 1,
            rate_milli: 1,
        };
        let s = json(CodedError::message_rate_limit(sentence, &details));
        let J::Obj(members) = parse_json(&s).unwrap() else {
            panic!()
        };
        assert_eq!(
            members[2].1,
            J::Str(r#"You can say "hi" 2 back\slashes per 1 seconds, calculated as the average over 1 seconds. Your rate is: 0.001"#.into())
        );
    }

    #[test]
    fn the_sentence_follows_the_quota() {
        let q = Quota::<32_768>::per_minute(300)
            .unwrap()
            .with_burst(5)
            .unwrap();
        let s = RateSentence::for_quota("send", "messages", &q, 0);
        assert_eq!((s.count, s.per_secs, s.average_over_secs), (300, 60, 2));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_strings_give_valid_json_that_reads_back(
            names in prop::collection::vec(any::<String>(), 1..4),
            message in any::<String>(),
            value in "[\\x00-\\x7f]{0,12}",
        ) {
            let reports: Vec<_> = names.iter().map(|n| report(n, 7, Some(1))).collect();
            let set = ReportSet::first_denied(Instant::<1_000>::from_ticks(0), &reports);
            let J::Obj(m) = parse_json(&json(TooManyRequests::new(set, &message))).unwrap() else {
                panic!()
            };
            prop_assert_eq!(&m[2].1, &J::Str(names[0].clone()));
            prop_assert_eq!(&m[4].1, &J::Str(message.clone()));
            let J::Obj(limits) = &m[3].1 else { panic!() };
            let keys: Vec<_> = limits.iter().map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(keys, names.clone());

            let pd = ProblemDetails::quota_exceeded(set).with_detail(&message).with_instance(&value);
            let J::Obj(m) = parse_json(&json(pd)).unwrap() else { panic!() };
            prop_assert_eq!(&m[3].1, &J::Str(message.clone()));
            prop_assert_eq!(&m[4].1, &J::Str(value.clone()));

            let details = [Detail { name: &message, value: &value }];
            let body = CodedError { category: &names[0], code: &value, message: None, details: &details };
            parse_json(&json(body)).unwrap();
        }
    }
}
