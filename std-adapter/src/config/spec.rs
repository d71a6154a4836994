//! One `[[limit]]` table: what its user wrote ([`LimitSpec`]) and the [`Limit`] it makes.

use core::fmt;
use core::str::FromStr;
use std::ops::Range;

use tollgate_core::{Concurrency, ConfigError, Gcra, Meter, Named, Shaper};
use toml::Spanned;

use super::Source;
use super::duration::{DurationError, format_duration, parse_duration};
use super::error::{ConfigFileError, ConfigFileErrorKind as Kind};
use super::raw::RawLimit;
use crate::{Duration, Limit, Quota};

/// A sliding window's `slots` when the file gives none: the window is counted in sixtieths
/// (one-second slots for a minute, one-minute slots for an hour), 4 bytes each.
///
/// An admission keeps counting for between one window and one window plus one slot, so the
/// limit is never exceeded in any window, and a client is always admitted its limit per
/// window plus one slot (1/60 longer than the window).
pub const DEFAULT_SLOTS: u32 = 60;

/// The most entries a sliding log may keep per key (12 bytes each: 12 MB). A file asking for
/// more gets [`TooLarge`](super::ConfigFileErrorKind::TooLarge) rather than a state the program
/// could not allocate.
pub const MAX_LOG_ENTRIES: u32 = 1_000_000;

/// The most slots a sliding window may have per key (4 bytes each).
pub const MAX_SLOTS: u32 = 100_000;

/// The algorithm a `[[limit]]` names, as its `algorithm` field spells it.
///
/// # Examples
///
/// ```
/// use tollgate_std::config::AlgorithmKind;
///
/// let kind: AlgorithmKind = "sliding-window".parse()?;
/// assert_eq!(kind, AlgorithmKind::SlidingWindow);
/// assert_eq!(kind.to_string(), "sliding-window");
/// assert_eq!(kind.fields(), ["limit", "window", "slots"]);
/// assert!("token-bucket".parse::<AlgorithmKind>().is_err());
/// # Ok::<(), tollgate_std::config::UnknownAlgorithmError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlgorithmKind {
    /// `gcra`: a rate with a burst ([`Gcra`]).
    Gcra,
    /// `leaky-bucket`: the same decisions as a water level ([`Meter`]).
    LeakyBucket,
    /// `shaper`: a rate that queues and delays instead of refusing ([`Shaper`]), like nginx's
    /// `limit_req`.
    Shaper,
    /// `sliding-log`: exactly `limit` in every rolling `window`, one entry per admission.
    SlidingLog,
    /// `sliding-window`: at most `limit` per rolling `window`, counted in `slots`, memory
    /// independent of the limit.
    SlidingWindow,
    /// `concurrency`: at most `limit` in flight.
    Concurrency,
    /// `unlimited`: no limit (a plan without a daily limit).
    Unlimited,
}

impl AlgorithmKind {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Self; 7] = [
        Self::Gcra,
        Self::LeakyBucket,
        Self::Shaper,
        Self::SlidingLog,
        Self::SlidingWindow,
        Self::Concurrency,
        Self::Unlimited,
    ];

    /// The name a file gives it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gcra => "gcra",
            Self::LeakyBucket => "leaky-bucket",
            Self::Shaper => "shaper",
            Self::SlidingLog => "sliding-log",
            Self::SlidingWindow => "sliding-window",
            Self::Concurrency => "concurrency",
            Self::Unlimited => "unlimited",
        }
    }

    /// The fields it takes besides `name` and `algorithm`; any other is an error.
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Gcra | Self::LeakyBucket => &["limit", "window", "burst"],
            Self::Shaper => &["limit", "window", "burst", "max_delay"],
            Self::SlidingLog => &["limit", "window"],
            Self::SlidingWindow => &["limit", "window", "slots"],
            Self::Concurrency => &["limit"],
            Self::Unlimited => &[],
        }
    }

    /// The fields it needs besides `name` and `algorithm`; the others have defaults.
    pub const fn required_fields(self) -> &'static [&'static str] {
        match self {
            Self::Gcra
            | Self::LeakyBucket
            | Self::Shaper
            | Self::SlidingLog
            | Self::SlidingWindow => &["limit", "window"],
            Self::Concurrency => &["limit"],
            Self::Unlimited => &[],
        }
    }

    /// The kind of a limit (a [`Meter`] is a `leaky-bucket`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_std::Limit;
    /// use tollgate_std::config::AlgorithmKind;
    ///
    /// assert_eq!(AlgorithmKind::of(&Limit::Unlimited), AlgorithmKind::Unlimited);
    /// ```
    pub const fn of(limit: &Limit) -> Self {
        match limit {
            Limit::Gcra(_) => Self::Gcra,
            Limit::Meter(_) => Self::LeakyBucket,
            Limit::Shaper(_) => Self::Shaper,
            Limit::SlidingLog(_) => Self::SlidingLog,
            Limit::SlidingWindow(_) => Self::SlidingWindow,
            Limit::Concurrency(_) => Self::Concurrency,
            Limit::Unlimited => Self::Unlimited,
        }
    }
}

impl fmt::Display for AlgorithmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlgorithmKind {
    type Err = UnknownAlgorithmError;

    fn from_str(s: &str) -> Result<Self, UnknownAlgorithmError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or(UnknownAlgorithmError)
    }
}

/// A name that is not one of the [`AlgorithmKind`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownAlgorithmError;

impl fmt::Display for UnknownAlgorithmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown algorithm; known: {}", known_algorithms())
    }
}

impl std::error::Error for UnknownAlgorithmError {}

fn known_algorithms() -> String {
    let names: Vec<&str> = AlgorithmKind::ALL.iter().map(|k| k.as_str()).collect();
    names.join(", ")
}

/// One limit as its file wrote it, for tools that print a policy back (`tollgate check`).
///
/// Fields the file left out are `None` (the [`Limit`] then has the default: a burst of `limit`,
/// a `max_delay` of zero, [`DEFAULT_SLOTS`] slots). Durations are parsed; [`format_duration`]
/// writes them back.
///
/// # Examples
///
/// ```
/// use tollgate_std::Duration;
/// use tollgate_std::config::{AlgorithmKind, PolicyFile};
///
/// let file: PolicyFile = "\
/// [[limit]]
/// name = \"minute\"
/// algorithm = \"gcra\"
/// limit = 300
/// window = \"1m\"
/// burst = 5
/// ".parse()?;
/// let spec = &file.specs()[0];
/// assert_eq!((spec.name.as_str(), spec.algorithm, spec.line), ("minute", AlgorithmKind::Gcra, 1));
/// assert_eq!((spec.limit, spec.window, spec.burst), (Some(300), Some(Duration::from_secs(60)), Some(5)));
/// assert_eq!((spec.max_delay, spec.slots), (None, None));
/// # Ok::<(), tollgate_std::config::ConfigFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    /// The name clients see.
    pub name: String,
    /// The algorithm.
    pub algorithm: AlgorithmKind,
    /// Requests per window, or in flight for `concurrency`.
    pub limit: Option<u32>,
    /// The window.
    pub window: Option<Duration>,
    /// Requests that pass at once from rest.
    pub burst: Option<u32>,
    /// The longest a shaper delays a request.
    pub max_delay: Option<Duration>,
    /// The slots a sliding window's window is counted in.
    pub slots: Option<u32>,
    /// The line (1-based) of the `[[limit]]` header, or of the inline table.
    pub line: usize,
}

/// The limit `item` describes, and what it said; `path` names it in errors (`limit[0]`).
pub(super) fn build(
    src: &Source<'_>,
    path: &str,
    item: &Spanned<RawLimit>,
) -> Result<(Named<Limit, String>, LimitSpec), ConfigFileError> {
    let raw = item.get_ref();
    let header = item.span();
    let at = Place { src, path };
    let missing = |field: &'static str, message: String| {
        at.error(&header, field, Kind::Missing(field), message)
    };

    let name = raw
        .name
        .as_ref()
        .ok_or_else(|| missing("name", String::from("missing: every limit needs a name")))?;
    check_name(&at, name)?;
    let algorithm = raw.algorithm.as_ref().ok_or_else(|| {
        missing(
            "algorithm",
            format!(
                "missing: every limit needs an algorithm ({})",
                known_algorithms()
            ),
        )
    })?;
    let kind: AlgorithmKind = algorithm.get_ref().parse().map_err(|_| {
        at.error(
            &algorithm.span(),
            "algorithm",
            Kind::UnknownAlgorithm,
            format!(
                "unknown algorithm {:?}; known: {}",
                algorithm.get_ref(),
                known_algorithms()
            ),
        )
    })?;

    let given = [
        ("limit", raw.limit.as_ref().map(Spanned::span)),
        ("window", raw.window.as_ref().map(Spanned::span)),
        ("burst", raw.burst.as_ref().map(Spanned::span)),
        ("max_delay", raw.max_delay.as_ref().map(Spanned::span)),
        ("slots", raw.slots.as_ref().map(Spanned::span)),
    ];
    for (field, span) in given {
        if let Some(span) = span
            && !kind.fields().contains(&field)
        {
            return Err(at.error(
                &span,
                field,
                Kind::NotApplicable,
                not_applicable(kind, field),
            ));
        }
    }
    for &field in kind.required_fields() {
        let absent = match field {
            "limit" => raw.limit.is_none(),
            "window" => raw.window.is_none(),
            _ => false,
        };
        if absent {
            return Err(missing(field, format!("missing: {kind} needs a {field}")));
        }
    }

    let limit = raw
        .limit
        .as_ref()
        .map(|v| at.count(v, "limit"))
        .transpose()?;
    let window = raw
        .window
        .as_ref()
        .map(|v| at.duration(v, "window", false))
        .transpose()?;
    let burst = raw
        .burst
        .as_ref()
        .map(|v| at.count(v, "burst"))
        .transpose()?;
    let max_delay = raw
        .max_delay
        .as_ref()
        .map(|v| at.duration(v, "max_delay", true))
        .transpose()?;
    let slots = raw
        .slots
        .as_ref()
        .map(|v| at.count(v, "slots"))
        .transpose()?;

    if let (Some(l), Some(w)) = (&limit, &window)
        && w.get_ref().as_ticks() < u64::from(*l.get_ref())
    {
        return Err(at.error(
            &l.span(),
            "limit",
            Kind::FinerThanTick,
            format!(
                "{} per {} is more than one request per nanosecond, the clock's tick",
                l.get_ref(),
                format_duration(*w.get_ref())
            ),
        ));
    }

    // Present when required: checked above.
    let need_limit = || {
        limit
            .as_ref()
            .ok_or_else(|| missing("limit", format!("missing: {kind} needs a limit")))
    };
    let built = match kind {
        AlgorithmKind::Unlimited => Limit::Unlimited,
        AlgorithmKind::Concurrency => {
            let l = need_limit()?;
            Limit::Concurrency(
                Concurrency::new(*l.get_ref()).map_err(|e| at.core(e, &l.span(), "limit"))?,
            )
        }
        _ => {
            let l = need_limit()?;
            let w = window
                .as_ref()
                .ok_or_else(|| missing("window", format!("missing: {kind} needs a window")))?;
            let given = Given {
                burst: burst.as_ref(),
                max_delay: max_delay.as_ref(),
                slots: slots.as_ref(),
            };
            windowed(&at, kind, l, w, &given)?
        }
    };

    let spec = LimitSpec {
        name: name.get_ref().clone(),
        algorithm: kind,
        limit: limit.map(Spanned::into_inner),
        window: window.map(Spanned::into_inner),
        burst: burst.map(Spanned::into_inner),
        max_delay: max_delay.map(Spanned::into_inner),
        slots: slots.map(Spanned::into_inner),
        line: src.line(&header),
    };
    Ok((Named::new(name.get_ref().clone(), built), spec))
}

/// The optional fields of a windowed limit, as given.
struct Given<'a> {
    burst: Option<&'a Spanned<u32>>,
    max_delay: Option<&'a Spanned<Duration>>,
    slots: Option<&'a Spanned<u32>>,
}

/// A limit of `l` per `w` of a `kind` that has a window.
fn windowed(
    at: &Place<'_>,
    kind: AlgorithmKind,
    l: &Spanned<u32>,
    w: &Spanned<Duration>,
    given: &Given<'_>,
) -> Result<Limit, ConfigFileError> {
    let Given {
        burst,
        max_delay,
        slots,
    } = *given;
    let (limit, window) = (*l.get_ref(), *w.get_ref());
    let quota = || -> Result<Quota, ConfigFileError> {
        let q = Quota::new(limit, window).map_err(|e| at.core(e, &w.span(), "window"))?;
        match burst {
            Some(b) => q.with_burst(*b.get_ref()).map_err(|e| {
                at.core(e, &b.span(), "burst")
                    .explained_if(e == ConfigError::Overflow, || {
                        format!(
                            "a burst of {} intervals of {} is longer than 2^64 nanoseconds",
                            b.get_ref(),
                            format_duration(q.interval())
                        )
                    })
            }),
            None => Ok(q),
        }
    };
    Ok(match kind {
        AlgorithmKind::Gcra => Limit::Gcra(Gcra::new(quota()?)),
        AlgorithmKind::LeakyBucket => Limit::Meter(Meter::new(quota()?)),
        AlgorithmKind::Shaper => {
            let delay = max_delay.map_or(Duration::from_ticks(0), |d| *d.get_ref());
            let quota = quota()?;
            let too_long = || {
                format!(
                    "a burst of {} intervals of {} plus a max_delay of {} is longer than 2^64 \
                     nanoseconds, or queues more than 2^32 requests",
                    quota.burst(),
                    format_duration(quota.interval()),
                    format_duration(delay)
                )
            };
            let (span, field) = match (max_delay, burst) {
                (Some(d), _) => (d.span(), "max_delay"),
                (None, Some(b)) => (b.span(), "burst"),
                (None, None) => (w.span(), "window"),
            };
            let shaper = Shaper::new(quota, delay).map_err(|e| {
                at.core(e, &span, field)
                    .explained_if(e == ConfigError::Overflow, too_long)
            })?;
            Limit::Shaper(shaper)
        }
        AlgorithmKind::SlidingLog => {
            if limit > MAX_LOG_ENTRIES {
                return Err(at.error(
                    &l.span(),
                    "limit",
                    Kind::TooLarge,
                    format!(
                        "a sliding log keeps one entry per admission: {limit} entries is more than \
                         {MAX_LOG_ENTRIES} per key; use a sliding-window, whose memory does not \
                         depend on the limit"
                    ),
                ));
            }
            let entries = usize::try_from(limit)
                .map_err(|_| at.core(ConfigError::Overflow, &l.span(), "limit"))?;
            Limit::sliding_log(limit, window, entries)
                .map_err(|e| at.core(e, &w.span(), "window"))?
        }
        AlgorithmKind::SlidingWindow => {
            let (count, span, field) = match slots {
                Some(s) => (*s.get_ref(), s.span(), "slots"),
                None => (DEFAULT_SLOTS, w.span(), "window"),
            };
            if count > MAX_SLOTS {
                return Err(at.error(
                    &span,
                    field,
                    Kind::TooLarge,
                    format!("{count} slots is more than {MAX_SLOTS} per key"),
                ));
            }
            // `slots` slots of the window, plus the one the window's end is in.
            let buckets = count
                .checked_add(1)
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| {
                    at.core(ConfigError::Overflow, &span, field)
                        .explained_if(true, || {
                            format!("{count} slots is too many: at most {}", u32::MAX - 1)
                        })
                })?;
            Limit::sliding_window(limit, window, buckets).map_err(|e| match e {
                ConfigError::GranularityTooFine => at.error(
                    &span,
                    field,
                    Kind::FinerThanTick,
                    format!(
                        "{count} slots of {} would each be shorter than one nanosecond, \
                         the clock's tick",
                        format_duration(window)
                    ),
                ),
                e => at.core(e, &span, field),
            })?
        }
        // Not reached: `build` makes these, which take no window.
        AlgorithmKind::Concurrency => {
            Limit::Concurrency(Concurrency::new(limit).map_err(|e| at.core(e, &l.span(), "limit"))?)
        }
        AlgorithmKind::Unlimited => Limit::Unlimited,
    })
}

/// Where in the file one limit is: errors about its fields.
struct Place<'a> {
    src: &'a Source<'a>,
    path: &'a str,
}

impl Place<'_> {
    fn error(
        &self,
        span: &Range<usize>,
        field: &str,
        kind: Kind,
        message: String,
    ) -> ConfigFileError {
        self.src.error(
            Some(span),
            Some(format!("{}.{field}", self.path)),
            kind,
            message,
        )
    }

    /// An error the core gave for this field.
    fn core(&self, e: ConfigError, span: &Range<usize>, field: &str) -> ConfigFileError {
        let kind = match e {
            ConfigError::ZeroLimit | ConfigError::ZeroWindow | ConfigError::ZeroBurst => Kind::Zero,
            ConfigError::RateTooFine | ConfigError::GranularityTooFine => Kind::FinerThanTick,
            ConfigError::Overflow => Kind::Overflow,
            e => Kind::Core(e),
        };
        self.error(span, field, kind, e.to_string())
    }

    /// A whole number from 1 to `u32::MAX`.
    fn count(&self, value: &Spanned<i128>, field: &str) -> Result<Spanned<u32>, ConfigFileError> {
        let n = *value.get_ref();
        let fail = |kind, message| Err(self.error(&value.span(), field, kind, message));
        match u32::try_from(n) {
            Ok(0) if field == "limit" => fail(
                Kind::Zero,
                String::from("a limit of zero (for no limit, write algorithm = \"unlimited\")"),
            ),
            Ok(0) if field == "slots" => fail(Kind::Zero, String::from("zero slots")),
            Ok(0) => fail(Kind::Zero, format!("a {field} of zero")),
            Ok(n) => Ok(Spanned::new(value.span(), n)),
            Err(_) => fail(
                Kind::Overflow,
                format!(
                    "{n} does not fit: `{field}` is a whole number from 1 to {}",
                    u32::MAX
                ),
            ),
        }
    }

    /// A duration, zero only if `zero_ok`.
    fn duration(
        &self,
        value: &Spanned<String>,
        field: &str,
        zero_ok: bool,
    ) -> Result<Spanned<Duration>, ConfigFileError> {
        let text = value.get_ref();
        let fail = |kind, message| Err(self.error(&value.span(), field, kind, message));
        match parse_duration(text) {
            Ok(d) if d.as_ticks() == 0 && !zero_ok => {
                fail(Kind::Zero, format!("a {field} of zero"))
            }
            Ok(d) => Ok(Spanned::new(value.span(), d)),
            Err(DurationError::Overflow) => fail(
                Kind::Overflow,
                format!("{text:?} is {}", DurationError::Overflow),
            ),
            Err(e) => fail(
                Kind::BadDuration(e),
                format!("{text:?} is not a duration: {e}"),
            ),
        }
    }
}

/// Names are sent in HTTP headers and bodies: printable ASCII, not empty.
fn check_name(at: &Place<'_>, name: &Spanned<String>) -> Result<(), ConfigFileError> {
    let text = name.get_ref();
    let message = if text.is_empty() {
        String::from("an empty name")
    } else if !text.chars().all(|c| matches!(c, ' '..='~')) {
        format!("{text:?}: a name is sent in HTTP headers, so it must be printable ASCII")
    } else {
        return Ok(());
    };
    Err(at.error(&name.span(), "name", Kind::BadName, message))
}

fn not_applicable(kind: AlgorithmKind, field: &str) -> String {
    let takes = match kind.fields() {
        [] => String::from("nothing but a name"),
        [only] => format!("only `{only}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|f| format!("`{f}`")).collect();
            format!("{} and `{last}`", init.join(", "))
        }
    };
    let why = match (kind, field) {
        (AlgorithmKind::SlidingLog | AlgorithmKind::SlidingWindow, "burst") => {
            " (a window counter admits its whole limit at once when the window has room; add a gcra limit to space requests out)"
        }
        (_, "max_delay") => " (only a shaper delays requests)",
        (_, "slots") => " (only a sliding window counts in slots)",
        (AlgorithmKind::Concurrency, "window") => " (it counts requests in flight, over no window)",
        _ => "",
    };
    format!("{kind} does not take `{field}`: it takes {takes}{why}")
}

/// The error a core refusal of `limit[0].window` becomes.
#[cfg(test)]
pub(super) fn core_error_for_tests(src: &Source<'_>, e: ConfigError) -> ConfigFileError {
    Place {
        src,
        path: "limit[0]",
    }
    .core(e, &(0..0), "window")
}
