//! Client side: every rate-limit header form, read into a fixed-capacity [`RateLimitSummary`].

use core::fmt;

use super::HeaderError;
use super::ascii::trim_ows;
use super::date::HttpDate;
use super::sf::{self, Bare, Member, SfError};
use super::values::{self, Decimal, secs_to_millis};
pub use super::values::{Millis, ResetKind};

/// The most buckets a summary keeps per group (the classic `X-RateLimit-*` list positions, the
/// IETF draft-10/11 names, and every other dialect together); further ones set
/// [`truncated`](RateLimitSummary::truncated). Among the other dialects, a bucket that can
/// cause a wait (it has a remaining count, a used count or a reset) takes the place of one that
/// cannot (a bare quota policy, say) rather than be dropped.
pub const MAX_BUCKETS: usize = 8;

/// The longest policy name a summary keeps, in bytes; an item with a longer name is dropped and
/// sets [`truncated`](RateLimitSummary::truncated).
pub const MAX_NAME_LEN: usize = 32;

/// A policy name from an IETF field, unescaped.
pub type PolicyName = heapless::String<MAX_NAME_LEN>;

impl From<SfError> for HeaderError {
    fn from(_: SfError) -> Self {
        Self::Syntax
    }
}

/// Where a bucket was read from: the rate-limit dialect of its header fields.
///
/// Each dialect's figures are read as below; every time rounds **up** and every count of what
/// is left rounds **down**, so a client never waits less than the server said. A value that
/// cannot be read is a typed [`HeaderError`] for its field line only.
///
/// | dialect | fields | reset |
/// |---|---|---|
/// | [`XRateLimit`](Self::XRateLimit) | `X-RateLimit-Limit`, `-Remaining`, `-Used`, `-Reset`, `-Reset-After`: comma lists, one bucket per position | number (classified), duration or RFC 3339; `-Reset-After` delta seconds |
/// | [`XRateLimitDashed`](Self::XRateLimitDashed) | `X-Rate-Limit-Limit`, `-Remaining`, `-Used`, `-Reset` | as above |
/// | [`XRateLimitNamed`](Self::XRateLimitNamed) | `X-RateLimit-{Name}Limit`, `{Name}Remaining`, `{Name}Used`, `{Name}Reset`, one bucket per name | as above |
/// | [`OpenAi`](Self::OpenAi) | `x-ratelimit-limit-{name}`, `remaining-{name}`, `used-{name}`, `reset-{name}` | as above (OpenAI writes durations: `6m0s`, `20ms`) |
/// | [`Anthropic`](Self::Anthropic) | `anthropic-ratelimit-{name}-limit`, `-remaining`, `-reset` | as above (Anthropic writes RFC 3339) |
/// | [`Shopify`](Self::Shopify) | `X-Shopify-Shop-Api-Call-Limit: used/limit` | none |
/// | [`IetfDraft06`](Self::IetfDraft06) | `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` | number (classified) |
/// | [`IetfDraft07`](Self::IetfDraft07) | `RateLimit: limit=…, remaining=…, reset=…` (an sf-dictionary) | number (classified) |
/// | [`IetfQuotaPolicy`](Self::IetfQuotaPolicy) | `RateLimit-Policy: 100;w=60` items (drafts 06 to 09), one bucket each | none |
/// | [`Ietf`](Self::Ietf) | `RateLimit-Policy` and `RateLimit` items named by a string or token (drafts 10, 11) | `t`, delta seconds |
///
/// "Number (classified)" is [`ResetKind::classify`]'s magnitude rule: delta seconds, epoch
/// seconds or epoch milliseconds, a fraction rounding the wait up. A duration is one or more
/// `number unit` with units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns` (`1h2m3.5s`). An RFC 3339
/// date-time (`2024-01-01T00:00:30.5+02:00`) needs the current unix time, like an HTTP-date.
///
/// Draft-06 and draft-07 resets go through the same magnitude rule (GitLab, for one, sends
/// epoch seconds in `RateLimit-Reset`), so `now_unix_millis`, when given, must be a real clock:
/// a wrong one turns an epoch time into a wrong wait.
///
/// Counts may carry a fraction (`598.0`, or an sf-decimal in draft 07's dictionary): a limit and
/// a remaining count round down, a used count rounds up. Where a bucket has a limit and a used
/// count, remaining is `limit − used` (zero if more was used), or the smaller of that and a
/// stated remaining count. Where it has both a reset and a reset-after, the longer wait is kept.
/// A figure repeated for the same bucket on another field line keeps the more cautious value
/// (the smaller limit or remaining count, the larger used count, the longer reset); a key
/// repeated within one draft-07 `RateLimit` line follows RFC 9651 instead: the last one wins.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Dialect, RateLimitSummary};
///
/// let s = RateLimitSummary::from_headers([
///     ("x-ratelimit-limit-requests", "60"),
///     ("x-ratelimit-remaining-requests", "59"),
///     ("x-ratelimit-reset-requests", "1s"),
///     ("x-ratelimit-limit-tokens", "150000"),
///     ("x-ratelimit-remaining-tokens", "149984"),
///     ("x-ratelimit-reset-tokens", "6m0s"),
/// ], None);
/// let tokens = s.all_buckets().find(|b| b.info.name.as_deref() == Some("tokens")).unwrap();
/// assert_eq!(tokens.dialect, Dialect::OpenAi);
/// assert_eq!(tokens.info.reset.map(|d| d.as_secs()), Some(360));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Dialect {
    /// The classic `X-RateLimit-*` lists (tollgate's own, GitHub, Reddit, Discord, …).
    XRateLimit,
    /// `X-Rate-Limit-*`, with a dash between "Rate" and "Limit" (X/Twitter).
    XRateLimitDashed,
    /// `X-RateLimit-{Name}Limit` and its siblings, one bucket per name (`client`, `user`, …).
    XRateLimitNamed,
    /// `x-ratelimit-limit-{name}` and its siblings (OpenAI's `requests` and `tokens`).
    OpenAi,
    /// `anthropic-ratelimit-{name}-limit` and its siblings (`requests`, `tokens`,
    /// `input-tokens`, `output-tokens`).
    Anthropic,
    /// `X-Shopify-Shop-Api-Call-Limit: used/limit`.
    Shopify,
    /// The separate fields of draft-ietf-httpapi-ratelimit-headers up to draft 06:
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
    IetfDraft06,
    /// Draft 07's combined dictionary, `RateLimit: limit=100, remaining=25, reset=5`.
    IetfDraft07,
    /// A quota policy of drafts 06 to 09, `RateLimit-Policy: 100;w=60`: a limit and window.
    IetfQuotaPolicy,
    /// Drafts 10 and 11: `RateLimit-Policy` and `RateLimit` items named by a string or token.
    Ietf,
}

impl Dialect {
    /// A short name for the dialect, for logs and reports.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tollgate_core::Dialect::IetfDraft07.name(), "ietf-draft-07");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Self::XRateLimit => "x-ratelimit",
            Self::XRateLimitDashed => "x-rate-limit",
            Self::XRateLimitNamed => "x-ratelimit-named",
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Shopify => "shopify",
            Self::IetfDraft06 => "ietf-draft-06",
            Self::IetfDraft07 => "ietf-draft-07",
            Self::IetfQuotaPolicy => "ietf-quota-policy",
            Self::Ietf => "ietf",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which figure of a bucket a field carries, in the dialects that name the bucket in the field
/// name ([`HeaderField::Family`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Figure {
    /// The limit.
    Limit,
    /// What remains.
    Remaining,
    /// What was used: remaining is `limit − used` when no remaining count is given, and the
    /// smaller of the two when one is.
    Used,
    /// When the bucket resets.
    Reset,
}

impl Figure {
    const ALL: [Self; 4] = [Self::Limit, Self::Remaining, Self::Used, Self::Reset];

    const fn word(self) -> &'static [u8] {
        match self {
            Self::Limit => b"limit",
            Self::Remaining => b"remaining",
            Self::Used => b"used",
            Self::Reset => b"reset",
        }
    }
}

/// The header fields the parser reads. Names match ASCII case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HeaderField {
    /// `X-RateLimit-Limit`: a comma-separated list of limits.
    XRateLimitLimit,
    /// `X-RateLimit-Remaining`: a comma-separated list of remaining counts.
    XRateLimitRemaining,
    /// `X-RateLimit-Reset`: a comma-separated list of resets, each classified by
    /// [`ResetKind::classify`] (or a duration, or an RFC 3339 date-time).
    XRateLimitReset,
    /// `Retry-After`: delay-seconds (a fraction rounds up) or an HTTP-date.
    RetryAfter,
    /// `RateLimit`: the IETF service-limit list (`"name";r=…;t=…`), or draft 07's dictionary
    /// (`limit=…, remaining=…, reset=…`).
    RateLimit,
    /// `RateLimit-Policy`: the IETF quota-policy list (`"name";q=…;w=…`, or `100;w=60`).
    RateLimitPolicy,
    /// `X-RateLimit-Used`: a comma-separated list of used counts (GitHub, Reddit).
    XRateLimitUsed,
    /// `X-RateLimit-Reset-After`: a comma-separated list of delta seconds (Discord).
    XRateLimitResetAfter,
    /// `RateLimit-Limit` (IETF draft 06 and earlier).
    RateLimitLimit,
    /// `RateLimit-Remaining` (IETF draft 06 and earlier).
    RateLimitRemaining,
    /// `RateLimit-Reset` (IETF draft 06 and earlier).
    RateLimitReset,
    /// `X-Shopify-Shop-Api-Call-Limit`: `used/limit`.
    ShopifyCallLimit,
    /// One figure of a bucket whose dialect writes one field per figure, naming the bucket in
    /// the field name: [`Dialect::XRateLimitDashed`], [`Dialect::XRateLimitNamed`],
    /// [`Dialect::OpenAi`] or [`Dialect::Anthropic`].
    Family(Dialect, Figure),
}

/// Where a field line goes: its field and the bucket name its field name carries (or empty).
type Route<'n> = (HeaderField, &'n [u8]);

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = s.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(tail)
}

fn strip_suffix_ci<'a>(s: &'a [u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = s.split_at_checked(s.len().checked_sub(suffix.len())?)?;
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// A bucket name in a field name: letters, digits, `-` and `_`, not empty.
fn is_bucket_name(n: &[u8]) -> bool {
    !n.is_empty()
        && n.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl HeaderField {
    pub(crate) const ALL: [Self; 15] = [
        Self::XRateLimitLimit,
        Self::XRateLimitRemaining,
        Self::XRateLimitReset,
        Self::RetryAfter,
        Self::RateLimit,
        Self::RateLimitPolicy,
        Self::XRateLimitUsed,
        Self::XRateLimitResetAfter,
        Self::RateLimitLimit,
        Self::RateLimitRemaining,
        Self::RateLimitReset,
        Self::ShopifyCallLimit,
        Self::Family(Dialect::XRateLimitDashed, Figure::Limit),
        Self::Family(Dialect::XRateLimitDashed, Figure::Remaining),
        Self::Family(Dialect::XRateLimitDashed, Figure::Reset),
    ];

    /// The field named `name` (any ASCII case), if the parser reads it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Dialect, Figure, HeaderField};
    ///
    /// assert_eq!(HeaderField::from_name(b"x-ratelimit-RESET"), Some(HeaderField::XRateLimitReset));
    /// assert_eq!(HeaderField::from_name(b"X-RateLimit"), None);
    /// assert_eq!(HeaderField::from_name(b"x-ratelimit-remaining-tokens"),
    ///            Some(HeaderField::Family(Dialect::OpenAi, Figure::Remaining)));
    /// assert_eq!(HeaderField::from_name(b"X-RateLimit-UserLimit"),
    ///            Some(HeaderField::Family(Dialect::XRateLimitNamed, Figure::Limit)));
    /// ```
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::route(name).map(|(field, _)| field)
    }

    /// The field and the bucket name carried by the field name (empty when there is none).
    fn route(name: &[u8]) -> Option<Route<'_>> {
        if let Some(f) = Self::ALL
            .into_iter()
            .find(|f| f.name().as_bytes().eq_ignore_ascii_case(name))
        {
            return Some((f, &[]));
        }
        if let Some(rest) = strip_prefix_ci(name, b"x-rate-limit-") {
            let fig = Figure::ALL
                .into_iter()
                .find(|f| f.word().eq_ignore_ascii_case(rest))?;
            return Some((Self::Family(Dialect::XRateLimitDashed, fig), &[]));
        }
        if let Some(rest) = strip_prefix_ci(name, b"x-ratelimit-") {
            for fig in Figure::ALL {
                if let Some(n) = strip_prefix_ci(rest, fig.word())
                    .and_then(|r| r.strip_prefix(b"-"))
                    .filter(|n| is_bucket_name(n))
                {
                    return Some((Self::Family(Dialect::OpenAi, fig), n));
                }
                if let Some(n) = strip_suffix_ci(rest, fig.word())
                    .filter(|n| !n.is_empty() && n.iter().all(u8::is_ascii_alphabetic))
                {
                    return Some((Self::Family(Dialect::XRateLimitNamed, fig), n));
                }
            }
            return None;
        }
        if let Some(rest) = strip_prefix_ci(name, b"anthropic-ratelimit-") {
            for fig in [Figure::Limit, Figure::Remaining, Figure::Reset] {
                if let Some(n) = strip_suffix_ci(rest, fig.word())
                    .and_then(|r| r.strip_suffix(b"-"))
                    .filter(|n| is_bucket_name(n))
                {
                    return Some((Self::Family(Dialect::Anthropic, fig), n));
                }
            }
        }
        None
    }

    /// The field's canonical name, as tollgate writes it; for a [`Family`](Self::Family)
    /// field, the name pattern with the bucket name as `{name}`.
    pub const fn name(self) -> &'static str {
        use Figure::{Limit, Remaining, Reset, Used};
        match self {
            Self::XRateLimitLimit => super::X_RATELIMIT_LIMIT,
            Self::XRateLimitRemaining => super::X_RATELIMIT_REMAINING,
            Self::XRateLimitReset => super::X_RATELIMIT_RESET,
            Self::RetryAfter => super::RETRY_AFTER,
            Self::RateLimit => super::RATELIMIT,
            Self::RateLimitPolicy => super::RATELIMIT_POLICY,
            Self::XRateLimitUsed => "X-RateLimit-Used",
            Self::XRateLimitResetAfter => "X-RateLimit-Reset-After",
            Self::RateLimitLimit => "RateLimit-Limit",
            Self::RateLimitRemaining => "RateLimit-Remaining",
            Self::RateLimitReset => "RateLimit-Reset",
            Self::ShopifyCallLimit => "X-Shopify-Shop-Api-Call-Limit",
            Self::Family(Dialect::XRateLimitDashed, f) => match f {
                Limit => "X-Rate-Limit-Limit",
                Remaining => "X-Rate-Limit-Remaining",
                Used => "X-Rate-Limit-Used",
                Reset => "X-Rate-Limit-Reset",
            },
            Self::Family(Dialect::OpenAi, f) => match f {
                Limit => "x-ratelimit-limit-{name}",
                Remaining => "x-ratelimit-remaining-{name}",
                Used => "x-ratelimit-used-{name}",
                Reset => "x-ratelimit-reset-{name}",
            },
            Self::Family(Dialect::Anthropic, f) => match f {
                Limit => "anthropic-ratelimit-{name}-limit",
                Remaining => "anthropic-ratelimit-{name}-remaining",
                Used => "anthropic-ratelimit-{name}-used",
                Reset => "anthropic-ratelimit-{name}-reset",
            },
            Self::Family(_, f) => match f {
                Limit => "X-RateLimit-{Name}Limit",
                Remaining => "X-RateLimit-{Name}Remaining",
                Used => "X-RateLimit-{Name}Used",
                Reset => "X-RateLimit-{Name}Reset",
            },
        }
    }

    /// Position among the positional `X-RateLimit-*` lists.
    const fn legacy_slot(self) -> usize {
        match self {
            Self::XRateLimitLimit => 0,
            Self::XRateLimitRemaining => 1,
            Self::XRateLimitReset => 2,
            Self::XRateLimitUsed => 3,
            _ => 4,
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

/// One limit as a client sees it. Every field is optional: servers send what they send.
///
/// Which [`Dialect`] a bucket came from travels beside it, in a [`Bucket`] (see
/// [`RateLimitSummary::all_buckets`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BucketInfo {
    /// The policy name (IETF drafts 10 and 11), or the bucket name a dialect's field names carry
    /// (`"requests"`, `"tokens"`, `"input-tokens"`, `"client"`, `"user"`: lower case).
    pub name: Option<PolicyName>,
    /// `X-RateLimit-Limit` (or a dialect's limit), or the policy's `q`.
    pub limit: Option<u64>,
    /// The policy's window `w`, in seconds (IETF only).
    pub window_secs: Option<u64>,
    /// The policy's quota unit `qu` (IETF only).
    pub unit: Option<QuotaUnit>,
    /// `X-RateLimit-Remaining` (or a dialect's remaining count; with a used count, the smaller
    /// of it and `limit − used`), or the service limit's `r`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (normalised to a wait from now; or a dialect's reset, the longer of
    /// reset and reset-after), or the service limit's `t`.
    pub reset: Option<Millis>,
}

/// A bucket and the dialect it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bucket<'a> {
    /// Where the bucket came from.
    pub dialect: Dialect,
    /// What it says.
    pub info: &'a BucketInfo,
}

/// The counts of a bucket as read, before `remaining` is derived from them (a reset needs no
/// such record: reset and reset-after both keep the longer wait, so the bucket holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Read {
    remaining: Option<u64>,
    used: Option<u64>,
}

/// One figure destined for a bucket.
#[derive(Debug, Clone, Copy)]
enum Value {
    Limit(u64),
    Remaining(u64),
    Used(u64),
    Reset(Millis),
    Window(u64),
    Unit(QuotaUnit),
}

fn cautious<T: Ord>(old: Option<T>, new: T, keep_larger: bool) -> Option<T> {
    Some(match old {
        None => new,
        Some(o) if keep_larger => o.max(new),
        Some(o) => o.min(new),
    })
}

impl Value {
    /// Whether the figure can make a bucket ask for a wait: a count of what is left or was
    /// used, or a reset.
    const fn can_cause_wait(&self) -> bool {
        matches!(self, Self::Remaining(_) | Self::Used(_) | Self::Reset(_))
    }

    /// Records the figure, keeping the more cautious of two values for the same figure (a reset
    /// and a reset-after count as the same), then derives `remaining`.
    fn apply(self, b: &mut BucketInfo, r: &mut Read) {
        match self {
            Self::Limit(n) => b.limit = cautious(b.limit, n, false),
            Self::Remaining(n) => r.remaining = cautious(r.remaining, n, false),
            Self::Used(n) => r.used = cautious(r.used, n, true),
            Self::Reset(w) => b.reset = cautious(b.reset, w, true),
            Self::Window(w) => b.window_secs = Some(w),
            Self::Unit(u) => b.unit = Some(u),
        }
        let derived = b.limit.zip(r.used).map(|(l, u)| l.saturating_sub(u));
        b.remaining = match (r.remaining, derived) {
            (Some(stated), Some(derived)) => Some(stated.min(derived)),
            (stated, derived) => stated.or(derived),
        };
    }
}

/// Everything the rate-limit headers of one response said, normalised and bounded.
///
/// Feed it `(name, value)` pairs with [`feed`](Self::feed), or build it at once with
/// [`from_headers`](Self::from_headers). It is a pure function of the bytes it was fed and the
/// `now` given: no clock is read, nothing is allocated, and no input panics or overflows.
///
/// - `X-RateLimit-Limit` / `-Remaining` / `-Used` / `-Reset` / `-Reset-After` are
///   comma-separated lists; the *i*-th values of the lists form the *i*-th
///   [`legacy`](Self::legacy) bucket. Repeated field lines continue the list (as HTTP combines
///   them). Empty list elements are ignored (RFC 9110 §5.6.1).
/// - `RateLimit-Policy` and `RateLimit` items are matched by name into the
///   [`ietf`](Self::ietf) buckets, in order of first appearance. Items may be sf-strings (the
///   current draft) or tokens (earlier drafts); `pk` and unknown parameters are ignored.
/// - Every other [`Dialect`] goes to [`others`](Self::others), one bucket per dialect and
///   name, in order of first appearance (each draft 06–09 quota policy item is a bucket of its
///   own). See [`Dialect`] for each one's fields and rules.
/// - `Retry-After`: delay-seconds (a fraction rounds up) or any HTTP-date; if several appear,
///   the longest wait wins.
///
/// **Never a wait shorter than the server said**: every time is rounded up to whole
/// milliseconds, every remaining count down, every used count up, and an ambiguous reset number
/// follows [`ResetKind::classify`]'s documented magnitude rule.
///
/// **Errors are per field line and atomic**: a malformed line changes nothing and
/// [`feed`](Self::feed) returns the typed [`HeaderError`] (the IETF draft requires malformed
/// fields to be ignored); [`from_headers`](Self::from_headers) skips such lines. Unknown header
/// names are ignored. Beyond [`MAX_BUCKETS`] buckets per group, or names longer than
/// [`MAX_NAME_LEN`], the excess is dropped and [`truncated`](Self::truncated) is set.
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
    /// What each legacy bucket's lists said, beside it.
    legacy_read: heapless::Vec<Read, MAX_BUCKETS>,
    /// Values seen so far in each positional list (limit, remaining, reset, used, reset-after).
    legacy_seen: [usize; 5],
    ietf: heapless::Vec<BucketInfo, MAX_BUCKETS>,
    others: heapless::Vec<BucketInfo, MAX_BUCKETS>,
    /// Each other bucket's dialect and what its fields said, beside it.
    others_read: heapless::Vec<(Dialect, Read), MAX_BUCKETS>,
    retry_after: Option<Millis>,
    truncated: bool,
}

impl RateLimitSummary {
    /// A summary of no headers.
    pub const fn new() -> Self {
        Self {
            legacy: heapless::Vec::new(),
            legacy_read: heapless::Vec::new(),
            legacy_seen: [0; 5],
            ietf: heapless::Vec::new(),
            others: heapless::Vec::new(),
            others_read: heapless::Vec::new(),
            retry_after: None,
            truncated: false,
        }
    }

    /// Reads all `headers`, skipping malformed lines (see [`feed`](Self::feed) to see why one
    /// was skipped). `now_unix_millis` is the current unix time, if known; it decides how reset
    /// numbers are read ([`ResetKind::classify`]) and turns HTTP-dates and RFC 3339 times into
    /// waits.
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
        let Some((field, bucket_name)) = HeaderField::route(name.as_ref()) else {
            return Ok(None);
        };
        let value = trim_ows(value.as_ref());
        let now = now_unix_millis;
        match field {
            HeaderField::XRateLimitLimit => {
                self.legacy_list(field, value, |e| {
                    Ok(Value::Limit(Decimal::parse(e)?.down()))
                })?;
            }
            HeaderField::XRateLimitRemaining => {
                self.legacy_list(field, value, |e| {
                    Ok(Value::Remaining(Decimal::parse(e)?.down()))
                })?;
            }
            HeaderField::XRateLimitUsed => {
                self.legacy_list(field, value, |e| Ok(Value::Used(Decimal::parse(e)?.up()?)))?;
            }
            HeaderField::XRateLimitReset => {
                self.legacy_list(field, value, |e| Ok(Value::Reset(values::reset(e, now)?)))?;
            }
            HeaderField::XRateLimitResetAfter => {
                self.legacy_list(field, value, |e| {
                    let ms = Decimal::parse(e)?.secs_to_millis_ceil()?;
                    Ok(Value::Reset(Millis::from_ticks(ms)))
                })?;
            }
            HeaderField::RetryAfter => {
                let wait = retry_after(value, now)?;
                self.retry_after = Some(self.retry_after.map_or(wait, |w| w.max(wait)));
            }
            HeaderField::RateLimit if sf::starts_as_dict(value) => {
                let values = draft07(value, now)?;
                self.apply_other(Dialect::IetfDraft07, b"", &values);
            }
            HeaderField::RateLimit | HeaderField::RateLimitPolicy => {
                let (entries, truncated) =
                    ietf_entries(value, field == HeaderField::RateLimitPolicy)?;
                self.truncated |= truncated;
                for e in entries {
                    self.apply_ietf(field, e);
                }
            }
            HeaderField::RateLimitLimit => {
                // Drafts up to 05 follow the limit with quota policies: `10, 10;w=1, 50;w=60`.
                let first = value
                    .split(|&b| b == b',' || b == b';')
                    .next()
                    .unwrap_or(&[]);
                let n = Decimal::parse(trim_ows(first))?.down();
                self.apply_other(Dialect::IetfDraft06, b"", &[Value::Limit(n)]);
            }
            HeaderField::RateLimitRemaining => {
                let n = Decimal::parse(value)?.down();
                self.apply_other(Dialect::IetfDraft06, b"", &[Value::Remaining(n)]);
            }
            HeaderField::RateLimitReset => {
                let w = Decimal::parse(value)?.reset_wait(now)?;
                self.apply_other(Dialect::IetfDraft06, b"", &[Value::Reset(w)]);
            }
            HeaderField::ShopifyCallLimit => {
                let (used, limit) = value
                    .iter()
                    .position(|&b| b == b'/')
                    .and_then(|i| value.split_at_checked(i))
                    .ok_or(HeaderError::Syntax)?;
                let used = Decimal::parse(trim_ows(used))?.up()?;
                let limit = Decimal::parse(trim_ows(limit.get(1..).unwrap_or(&[])))?.down();
                self.apply_other(
                    Dialect::Shopify,
                    b"",
                    &[Value::Limit(limit), Value::Used(used)],
                );
            }
            HeaderField::Family(dialect, figure) => {
                let v = match figure {
                    Figure::Limit => Value::Limit(Decimal::parse(value)?.down()),
                    Figure::Remaining => Value::Remaining(Decimal::parse(value)?.down()),
                    Figure::Used => Value::Used(Decimal::parse(value)?.up()?),
                    Figure::Reset => Value::Reset(values::reset(value, now)?),
                };
                self.apply_other(dialect, bucket_name, &[v]);
            }
        }
        Ok(Some(field))
    }

    /// Buckets from the `X-RateLimit-*` lists ([`Dialect::XRateLimit`]), in list order.
    pub fn legacy(&self) -> &[BucketInfo] {
        &self.legacy
    }

    /// Buckets from the IETF draft-10/11 `RateLimit-Policy` and `RateLimit` fields
    /// ([`Dialect::Ietf`]), by name.
    pub fn ietf(&self) -> &[BucketInfo] {
        &self.ietf
    }

    /// Buckets of every other dialect, in order of first appearance; their dialects are in
    /// [`all_buckets`](Self::all_buckets).
    pub fn others(&self) -> &[BucketInfo] {
        &self.others
    }

    /// Every bucket with its dialect: the [`ietf`](Self::ietf) ones, then the
    /// [`legacy`](Self::legacy) ones, then the [`others`](Self::others).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Dialect, RateLimitSummary};
    ///
    /// let s = RateLimitSummary::from_headers([
    ///     ("X-RateLimit-Limit", "5000"),
    ///     ("X-RateLimit-Used", "4999"),
    ///     ("X-Shopify-Shop-Api-Call-Limit", "32/40"),
    /// ], None);
    /// let seen: Vec<_> = s.all_buckets().map(|b| (b.dialect, b.info.remaining)).collect();
    /// assert_eq!(seen, [(Dialect::XRateLimit, Some(1)), (Dialect::Shopify, Some(8))]);
    /// ```
    pub fn all_buckets(&self) -> impl Iterator<Item = Bucket<'_>> + Clone {
        let ietf = self.ietf.iter().map(|info| Bucket {
            dialect: Dialect::Ietf,
            info,
        });
        let legacy = self.legacy.iter().map(|info| Bucket {
            dialect: Dialect::XRateLimit,
            info,
        });
        let others = self
            .others
            .iter()
            .zip(self.others_read.iter())
            .map(|(info, (dialect, _))| Bucket {
                dialect: *dialect,
                info,
            });
        ietf.chain(legacy).chain(others)
    }

    /// The buckets to act on when one group is enough: the IETF ones if the response had any,
    /// else the `X-RateLimit-*` ones, else the [`others`](Self::others). See
    /// [`all_buckets`](Self::all_buckets) for all of them.
    pub fn buckets(&self) -> &[BucketInfo] {
        if !self.ietf.is_empty() {
            &self.ietf
        } else if !self.legacy.is_empty() {
            &self.legacy
        } else {
            &self.others
        }
    }

    /// The bucket a client must obey first, among [`all_buckets`](Self::all_buckets):
    ///
    /// 1. among buckets with both a remaining count and a reset, one with nothing remaining and
    ///    the longest reset (the last of equals);
    /// 2. else among those, the one with the largest `reset / remaining` (the least room per
    ///    unit of time; of equals, the one with less remaining, then the first);
    /// 3. else the bucket with the least remaining count (the first of equals);
    /// 4. else `None`.
    ///
    /// [`server_hints`](Self::server_hints) hands this bucket's figures to the pacer.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Dialect, RateLimitSummary};
    ///
    /// let s = RateLimitSummary::from_headers([
    ///     ("anthropic-ratelimit-requests-remaining", "40"),
    ///     ("anthropic-ratelimit-requests-reset", "2024-01-01T00:00:30Z"),
    ///     ("anthropic-ratelimit-tokens-remaining", "0"),
    ///     ("anthropic-ratelimit-tokens-reset", "2024-01-01T00:00:12Z"),
    /// ], Some(1_704_067_200_000)); // 2024-01-01T00:00:00Z
    /// let b = s.most_restrictive().unwrap();
    /// assert_eq!((b.dialect, b.info.name.as_deref()), (Dialect::Anthropic, Some("tokens")));
    /// assert_eq!(b.info.reset.map(|d| d.as_secs()), Some(12));
    /// ```
    pub fn most_restrictive(&self) -> Option<Bucket<'_>> {
        let complete = self
            .all_buckets()
            .filter(|b| b.info.remaining.is_some() && b.info.reset.is_some());
        let figures = |b: &Bucket<'_>| {
            (
                b.info.remaining.unwrap_or(0),
                b.info.reset.map_or(0, |r| r.as_ticks()),
            )
        };
        let exhausted = complete
            .clone()
            .filter(|b| b.info.remaining == Some(0))
            .max_by_key(|b| b.info.reset);
        // r₁ / n₁ < r₂ / n₂  ⇔  r₁·n₂ < r₂·n₁, in 128 bits (n > 0 here).
        exhausted
            .or_else(|| {
                complete.reduce(|a, b| {
                    let ((an, ar), (bn, br)) = (figures(&a), figures(&b));
                    let lhs = u128::from(ar).saturating_mul(u128::from(bn));
                    let rhs = u128::from(br).saturating_mul(u128::from(an));
                    if rhs > lhs || (rhs == lhs && bn < an) {
                        b
                    } else {
                        a
                    }
                })
            })
            .or_else(|| {
                self.all_buckets()
                    .filter(|b| b.info.remaining.is_some())
                    .min_by_key(|b| b.info.remaining)
            })
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
    /// [`all_buckets`](Self::all_buckets) with nothing remaining, else `None` (go ahead).
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
            self.all_buckets()
                .filter(|b| b.info.remaining == Some(0))
                .filter_map(|b| b.info.reset)
                .max()
        })
    }

    /// Reads a comma list of the positional `X-RateLimit-*` family with `each`, then applies
    /// it: all or nothing.
    fn legacy_list(
        &mut self,
        field: HeaderField,
        v: &[u8],
        each: impl Fn(&[u8]) -> Result<Value, HeaderError>,
    ) -> Result<(), HeaderError> {
        let mut values = heapless::Vec::<Value, MAX_BUCKETS>::new();
        let mut count: usize = 0;
        for element in v.split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() {
                continue;
            }
            let value = each(element)?;
            count = count.saturating_add(1);
            let _dropped_beyond_capacity = values.push(value);
        }
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
                if self.legacy.push(BucketInfo::default()).is_err()
                    || self.legacy_read.push(Read::default()).is_err()
                {
                    return Ok(());
                }
            }
            if let (Some(b), Some(r)) = (self.legacy.get_mut(pos), self.legacy_read.get_mut(pos)) {
                v.apply(b, r);
            }
        }
        Ok(())
    }

    /// Applies `values` to the bucket of `dialect` named `name` (lower-cased; empty for none),
    /// making it if it is new. Each quota policy is a bucket of its own.
    fn apply_other(&mut self, dialect: Dialect, name: &[u8], values: &[Value]) {
        let mut key = PolicyName::new();
        if !name
            .iter()
            .all(|b| key.push(char::from(b.to_ascii_lowercase())).is_ok())
        {
            self.truncated = true;
            return;
        }
        let key = (!name.is_empty()).then_some(key);
        let existing = if dialect == Dialect::IetfQuotaPolicy {
            None
        } else {
            self.others
                .iter()
                .zip(self.others_read.iter())
                .position(|(b, (d, _))| *d == dialect && b.name == key)
        };
        let index = match existing {
            Some(i) => i,
            None => {
                let fresh = BucketInfo {
                    name: key,
                    ..BucketInfo::default()
                };
                if self.others.is_full() {
                    self.truncated = true;
                    if !values.iter().any(Value::can_cause_wait) || !self.evict_idle_other() {
                        return;
                    }
                }
                let _room_checked = self.others.push(fresh);
                let _same_length = self.others_read.push((dialect, Read::default()));
                self.others.len().saturating_sub(1)
            }
        };
        if let (Some(b), Some((_, r))) =
            (self.others.get_mut(index), self.others_read.get_mut(index))
        {
            for v in values {
                v.apply(b, r);
            }
        }
    }

    /// Makes room among the [`others`](Self::others) by dropping the last bucket that cannot
    /// cause a wait (no remaining count, no used count, no reset: a bare quota policy, say), so
    /// that it never crowds out one that can. Returns whether there was one.
    fn evict_idle_other(&mut self) -> bool {
        let Some(idle) =
            self.others
                .iter()
                .zip(self.others_read.iter())
                .rposition(|(b, (_, r))| {
                    b.remaining.is_none()
                        && b.reset.is_none()
                        && r.remaining.is_none()
                        && r.used.is_none()
                })
        else {
            return false;
        };
        // Shift the later buckets down, keeping the order of first appearance.
        if let Some(tail) = self.others.get_mut(idle..)
            && !tail.is_empty()
        {
            tail.rotate_left(1);
        }
        if let Some(tail) = self.others_read.get_mut(idle..)
            && !tail.is_empty()
        {
            tail.rotate_left(1);
        }
        let _idle = self.others.pop();
        let _idle_read = self.others_read.pop();
        true
    }

    fn apply_ietf(&mut self, field: HeaderField, e: Entry) {
        if e.quota_only {
            let mut values = heapless::Vec::<Value, 3>::new();
            let _ = values.push(Value::Limit(e.first));
            if let Some(w) = e.second {
                let _ = values.push(Value::Window(w));
            }
            if let Some(u) = e.unit {
                let _ = values.push(Value::Unit(u));
            }
            self.apply_other(Dialect::IetfQuotaPolicy, b"", &values);
            return;
        }
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

/// `Retry-After = HTTP-date / delay-seconds`, as a wait from now. Delay-seconds may carry a
/// fraction, which rounds the wait up.
fn retry_after(v: &[u8], now_unix_millis: Option<u64>) -> Result<Millis, HeaderError> {
    if v.first().is_some_and(u8::is_ascii_digit) {
        return Ok(Millis::from_ticks(
            Decimal::parse(v)?.secs_to_millis_ceil()?,
        ));
    }
    let now_secs = now_unix_millis.map_or(0, |ms| ms / 1_000);
    let date = HttpDate::parse(v, now_secs)?;
    let now = now_unix_millis.ok_or(HeaderError::NeedsWallClock)?;
    let at = u64::try_from(date.unix_secs()).unwrap_or(0); // before 1970: long past
    Ok(Millis::from_ticks(secs_to_millis(at)?.saturating_sub(now)))
}

/// Draft 07's `RateLimit: limit=100, remaining=25, reset=5`, an sf-dictionary of non-negative
/// integers or decimals (counts round down, the reset rounds up); other keys are ignored, and at
/// least one of the three must be there.
fn draft07(v: &[u8], now: Option<u64>) -> Result<heapless::Vec<Value, 3>, HeaderError> {
    let mut out = heapless::Vec::<Value, 3>::new();
    let mut found = [false; 3];
    sf::parse_dict(v, |key, m: Member<'_>| {
        let slot = match key {
            b"limit" => 0,
            b"remaining" => 1,
            b"reset" => 2,
            _ => return Ok(()),
        };
        let n = m
            .value
            .map_or(Err(HeaderError::InvalidParameter), non_negative_decimal)?;
        let value = match slot {
            0 => Value::Limit(n.down()),
            1 => Value::Remaining(n.down()),
            _ => Value::Reset(n.reset_wait(now)?),
        };
        // A key repeated in a dictionary: the last one wins (RFC 9651 §4.2.2).
        if let Some(f) = found.get_mut(slot)
            && *f
        {
            out.retain(|o| {
                !matches!(
                    (slot, o),
                    (0, Value::Limit(_)) | (1, Value::Remaining(_)) | (2, Value::Reset(_))
                )
            });
        }
        if let Some(f) = found.get_mut(slot) {
            *f = true;
        }
        let _three_at_most = out.push(value);
        Ok::<(), HeaderError>(())
    })?;
    if out.is_empty() {
        return Err(HeaderError::MissingParameter);
    }
    Ok(out)
}

/// One IETF list item: the name and the two numbers that matter (`q`/`w` or `r`/`t`, the
/// second already in milliseconds for `t`). A draft 06–09 quota policy (`100;w=60`) has no
/// name and is `quota_only`.
struct Entry {
    name: PolicyName,
    first: u64,
    second: Option<u64>,
    unit: Option<QuotaUnit>,
    quota_only: bool,
}

fn quota_unit(b: Option<Bare<'_>>) -> Result<Option<QuotaUnit>, HeaderError> {
    Ok(match b {
        None => None,
        Some(Bare::String(raw)) => Some(match raw {
            b"requests" | b"request" => QuotaUnit::Requests,
            b"content-bytes" => QuotaUnit::ContentBytes,
            b"concurrent-requests" => QuotaUnit::ConcurrentRequests,
            _ => QuotaUnit::Other,
        }),
        Some(_) => return Err(HeaderError::InvalidParameter),
    })
}

/// Parses a whole `RateLimit-Policy` (`policy`) or `RateLimit` field line.
fn ietf_entries(
    v: &[u8],
    policy: bool,
) -> Result<(heapless::Vec<Entry, MAX_BUCKETS>, bool), HeaderError> {
    let mut out = heapless::Vec::new();
    let mut truncated = false;
    sf::parse_list(v, |m: Member<'_>| {
        if let (true, Some(Bare::Integer(q))) = (policy, m.value) {
            // Drafts 06 to 09: `100;w=60`, the quota as the item, a non-negative window; any
            // other parameter (even a `q`) is a comment.
            let first = u64::try_from(q).map_err(|_| HeaderError::InvalidItem)?;
            let second = m.params.get(b"w").map(non_negative).transpose()?;
            let entry = Entry {
                name: PolicyName::new(),
                first,
                second,
                unit: quota_unit(m.params.get(b"qu"))?,
                quota_only: true,
            };
            if out.push(entry).is_err() {
                truncated = true;
            }
            return Ok(());
        }
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
        let unit = if policy {
            quota_unit(m.params.get(b"qu"))?
        } else {
            None
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
            quota_only: false,
        };
        if out.push(entry).is_err() {
            truncated = true;
        }
        Ok(())
    })?;
    Ok((out, truncated))
}

/// A non-negative sf-integer or sf-decimal, exactly.
fn non_negative_decimal(b: Bare<'_>) -> Result<Decimal, HeaderError> {
    match b {
        Bare::Integer(n) => Ok(Decimal {
            whole: u64::try_from(n).map_err(|_| HeaderError::InvalidParameter)?,
            milli_ceil: 0,
            frac_nonzero: false,
        }),
        // The sf parser has checked the form; only a sign is left to refuse.
        Bare::Decimal(raw) if raw.first() != Some(&b'-') => {
            Decimal::parse(raw).map_err(|_| HeaderError::InvalidParameter)
        }
        _ => Err(HeaderError::InvalidParameter),
    }
}

fn non_negative(b: Bare<'_>) -> Result<u64, HeaderError> {
    match b {
        Bare::Integer(n) => u64::try_from(n).map_err(|_| HeaderError::InvalidParameter),
        _ => Err(HeaderError::InvalidParameter),
    }
}
