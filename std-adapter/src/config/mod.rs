//! Policy files: limits written in TOML, read into the core's limits, every mistake reported
//! with its file, line and field.
//!
//! One format serves the library, the `tollgate` command and every example:
//!
//! ```toml
//! # An API's documented limits: 5 at once, 300 per minute, 900 per 15 minutes.
//! [[limit]]
//! name = "concurrent"        # reported in headers and bodies
//! algorithm = "concurrency"
//! limit = 5
//!
//! [[limit]]
//! name = "minute"
//! algorithm = "sliding-log"
//! limit = 300
//! window = "1m"
//!
//! [[limit]]
//! name = "15min"
//! algorithm = "sliding-log"
//! limit = 900
//! window = "15m"
//! ```
//!
//! A file holds a list of top-level `[[limit]]` tables, or tiers (plans) each with its own list,
//! or both, but not neither:
//!
//! ```toml
//! [[tiers.free.limit]]
//! name = "day"
//! algorithm = "sliding-window"
//! limit = 2000
//! window = "24h"
//!
//! [[tiers.agency.limit]]
//! name = "day"
//! algorithm = "unlimited"
//! ```
//!
//! Tiers keep the file's order. Names are unique within one list, and printable ASCII, since
//! they are sent in HTTP headers. Any field the format does not have is an error, at every level.
//!
//! # Fields
//!
//! | field | type | taken by | default |
//! |---|---|---|---|
//! | `name` | string | all | required |
//! | `algorithm` | string | all | required |
//! | `limit` | whole number, 1 to 2^32 − 1 | all but `unlimited` | required |
//! | `window` | duration | all but `concurrency` and `unlimited` | required |
//! | `burst` | whole number, 1 to 2^32 − 1 | `gcra`, `leaky-bucket`, `shaper` | `limit` |
//! | `max_delay` | duration | `shaper` | `"0s"` |
//! | `slots` | whole number, 1 to [`MAX_SLOTS`] (100,000) | `sliding-window` | [`DEFAULT_SLOTS`] (60) |
//!
//! Durations are whole numbers with units, largest first: `"500ms"`, `"15m"`, `"24h"`, `"2d"`,
//! `"1h30m"` (units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`; see [`parse_duration`]). Time is counted
//! in nanoseconds, so a rate of more than one request per nanosecond is refused for every
//! algorithm, as is any number or duration that does not fit (never truncated or wrapped).
//!
//! # Algorithms
//!
//! | `algorithm` | the core's limit | promise |
//! |---|---|---|
//! | `gcra` | [`Gcra`](tollgate_core::Gcra) of `limit` per `window`, `burst` at once | `burst + ⌊d / T⌋` in any `d`, `T = window / limit`; the cheapest |
//! | `leaky-bucket` | [`Meter`](tollgate_core::Meter), the same quota | decides exactly like `gcra` |
//! | `shaper` | [`Shaper`](tollgate_core::Shaper), the same quota, `max_delay` | delays instead of refusing, none longer than `max_delay` |
//! | `sliding-log` | a sliding log of `limit` entries | exactly `limit` in every rolling `window`; 12 bytes per unit of `limit` |
//! | `sliding-window` | a sliding window of `slots + 1` buckets | never more than `limit` per rolling `window`; 4 bytes per slot |
//! | `concurrency` | [`Concurrency`](tollgate_core::Concurrency) | at most `limit` in flight |
//! | `unlimited` | [`AnyLimit::Unlimited`](tollgate_core::AnyLimit::Unlimited) | none (a plan without, say, a daily limit) |
//!
//! A sliding window cuts its window into `slots` slots (the core keeps one bucket more, for the
//! slot the window's end falls in): an admission counts for between one window and one window
//! plus one slot, so it never admits more than `limit` in any window, and at worst `limit` per
//! `window · (1 + 1/slots)`. More slots cost 4 bytes each and lose less. `slots = 10` with
//! `window = "10s"` is "1 per second, calculated as the average over 10 seconds" in one-second
//! slots.
//!
//! nginx's `limit_req zone=… rate=10r/s burst=5 delay=2` is a shaper of `limit = 10`,
//! `window = "1s"`, `burst = 3` (its `delay` plus its first request, which never waits) and
//! `max_delay = "300ms"` (its `burst` minus its `delay`, one interval each), which is what
//! [`Shaper::nginx_limit_req`](tollgate_core::Shaper::nginx_limit_req) builds.
//!
//! # Reading a file
//!
//! ```
//! use tollgate_core::{Algorithm, Instant, Overrides, Policy, Report};
//! use tollgate_std::config::PolicyFile;
//!
//! let file = PolicyFile::parse(r#"
//! [[limit]]
//! name = "concurrent"
//! algorithm = "concurrency"
//! limit = 5
//!
//! [[limit]]
//! name = "minute"
//! algorithm = "sliding-log"
//! limit = 300
//! window = "1m"
//! "#, "api.toml")?;
//!
//! let policy = Policy::new(&file.limits[..]);
//! let mut state: Vec<_> = file.limits.iter().map(|l| l.algorithm().new_state()).collect();
//! let mut reports = [Report::EMPTY; 2];
//! let d = policy.check_into(&mut state, Instant::from_ticks(0), 1, &Overrides::NONE, &mut reports)?;
//! assert!(d.is_allowed());
//! assert_eq!(d.reports()[1].decision.remaining, 299);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors say where:
//!
//! ```
//! use tollgate_std::config::{ConfigFileErrorKind, PolicyFile};
//!
//! let err = PolicyFile::parse("[[limit]]\nname = \"day\"\nalgorithm = \"sliding-log\"\nlimit = 600\nwindow = \"1 day\"\n", "api.toml")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "api.toml:5: field `limit[0].window`: \"1 day\" is not a duration: \
//!     unexpected ' ' (a duration is whole numbers with units, e.g. \"1h30m\")");
//! assert!(matches!(err.kind(), ConfigFileErrorKind::BadDuration(_)));
//! ```
// Nothing a file says may panic this module: no indexing, unwrapping or panicking outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod duration;
mod error;
mod raw;
mod spec;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use tollgate_core::Named;
use toml::Spanned;
use toml::de::DeTable;

pub use duration::{DurationError, format_duration, parse_duration};
pub use error::{ConfigFileError, ConfigFileErrorKind};
pub use spec::{
    AlgorithmKind, DEFAULT_SLOTS, LimitSpec, MAX_LOG_ENTRIES, MAX_SLOTS, UnknownAlgorithmError,
};

use crate::Limit;
use raw::{RawFile, RawLimit};

/// The name a keyed policy gives a file's top-level limits when it makes them a tier
/// ([`KeyedPolicy::from_file`](crate::KeyedPolicy::from_file)); no tier of a file that has
/// top-level limits may take it.
pub const DEFAULT_TIER: &str = "default";

/// A policy file, read: its top-level limits and its tiers, in the file's order.
///
/// [`specs`](Self::specs) keeps what the file wrote for each top-level limit (and
/// [`Tier::specs`] for each tier's), position for position.
///
/// # Examples
///
/// ```
/// use tollgate_core::Algorithm;
/// use tollgate_std::config::PolicyFile;
///
/// let file: PolicyFile = r#"
/// [[tiers.free.limit]]
/// name = "minute"
/// algorithm = "gcra"
/// limit = 30
/// window = "1m"
///
/// [[tiers.agency.limit]]
/// name = "minute"
/// algorithm = "unlimited"
/// "#.parse()?;
/// assert!(file.limits.is_empty());
/// let names: Vec<_> = file.tiers.iter().map(|t| t.name.as_str()).collect();
/// assert_eq!(names, ["free", "agency"]); // as in the file
/// let free = file.tier("free").unwrap();
/// assert_eq!(free.limits[0].algorithm().capacity(), 30);
/// assert!(file.tier("pro").is_none());
/// # Ok::<(), tollgate_std::config::ConfigFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// The top-level `[[limit]]` tables, in order.
    pub limits: Vec<Named<Limit, String>>,
    /// The `[tiers.<name>]` tables, in order.
    pub tiers: Vec<Tier>,
    specs: Vec<LimitSpec>,
}

/// One tier (plan) of a policy file: its name and its limits.
///
/// # Examples
///
/// ```
/// use tollgate_std::config::{AlgorithmKind, PolicyFile};
///
/// let file = PolicyFile::parse("[[tiers.pro.limit]]\nname = \"day\"\nalgorithm = \"unlimited\"\n", "plans.toml")?;
/// let pro = &file.tiers[0];
/// assert_eq!((pro.name.as_str(), pro.limits[0].name()), ("pro", "day"));
/// assert_eq!(pro.specs()[0].algorithm, AlgorithmKind::Unlimited);
/// # Ok::<(), tollgate_std::config::ConfigFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// The tier's name (`free` in `[tiers.free]`).
    pub name: String,
    /// Its `[[tiers.<name>.limit]]` tables, in order.
    pub limits: Vec<Named<Limit, String>>,
    specs: Vec<LimitSpec>,
}

impl Tier {
    /// What the file wrote for each of [`limits`](Self::limits), position for position.
    pub fn specs(&self) -> &[LimitSpec] {
        &self.specs
    }
}

impl PolicyFile {
    /// Reads and parses the policy file at `path`; errors name it as the path was given.
    ///
    /// # Errors
    ///
    /// [`ConfigFileErrorKind::Io`] when the file cannot be read (or is not UTF-8), otherwise as
    /// [`parse`](Self::parse).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_std::config::{ConfigFileErrorKind, PolicyFile};
    ///
    /// let err = PolicyFile::load("no/such/policy.toml").unwrap_err();
    /// assert_eq!(err.kind(), ConfigFileErrorKind::Io(std::io::ErrorKind::NotFound));
    /// assert!(err.to_string().starts_with("no/such/policy.toml: cannot read the file: "));
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigFileError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError::io(&origin, e))?;
        Self::parse(&text, &origin)
    }

    /// Parses a policy file's text; `origin` is what errors call the file.
    ///
    /// # Errors
    ///
    /// A [`ConfigFileError`] for the first problem found, with its line and field.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Allowance};
    /// use tollgate_std::{Duration, config::PolicyFile};
    ///
    /// let file = PolicyFile::parse("[[limit]]\nname = \"hour\"\nalgorithm = \"sliding-log\"\nlimit = 50\nwindow = \"1h\"\n", "api.toml")?;
    /// assert_eq!(file.limits[0].name(), "hour");
    /// assert_eq!(
    ///     file.limits[0].algorithm().allowance(),
    ///     Allowance::PerWindow { count: 50, window: Duration::from_secs(3_600) }
    /// );
    /// # Ok::<(), tollgate_std::config::ConfigFileError>(())
    /// ```
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigFileError> {
        let src = Source { origin, text };
        let document = DeTable::parse(text).map_err(|e| src.toml_error(&e, None))?;
        let raw = RawFile::deserialize(toml::de::Deserializer::from(document.clone()))
            .map_err(|e| src.toml_error(&e, Some(document.get_ref())))?;

        let top = raw.limit.unwrap_or_default();
        let (limits, specs) = build_list(&src, "limit", &top)?;

        let mut raw_tiers: Vec<_> = raw.tiers.into_iter().flatten().collect();
        // A map sorts its keys; each key's span is its first mention in the file.
        raw_tiers.sort_by_key(|(name, _)| name.span().start);
        let mut tiers = Vec::with_capacity(raw_tiers.len());
        for (name, tier) in raw_tiers {
            let prefix = format!("tiers.{}", raw::key_text(name.get_ref()));
            if name.get_ref().is_empty() {
                return Err(src.error(
                    Some(&name.span()),
                    Some(prefix),
                    ConfigFileErrorKind::BadName,
                    String::from("an empty tier name"),
                ));
            }
            if name.get_ref() == DEFAULT_TIER && !limits.is_empty() {
                return Err(src.error(
                    Some(&name.span()),
                    Some(prefix),
                    ConfigFileErrorKind::DuplicateName,
                    format!(
                        "the top-level [[limit]] tables are the tier {DEFAULT_TIER:?} of a keyed \
                         policy: name this tier otherwise"
                    ),
                ));
            }
            let list = tier.into_inner().limit.unwrap_or_default();
            if list.is_empty() {
                return Err(src.error(
                    Some(&name.span()),
                    Some(format!("{prefix}.limit")),
                    ConfigFileErrorKind::Empty,
                    format!(
                        "tier {:?} has no limits; give it [[{prefix}.limit]] tables \
                         (algorithm = \"unlimited\" for none)",
                        name.get_ref()
                    ),
                ));
            }
            let (limits, specs) = build_list(&src, &format!("{prefix}.limit"), &list)?;
            tiers.push(Tier {
                name: name.into_inner(),
                limits,
                specs,
            });
        }

        if limits.is_empty() && tiers.is_empty() {
            return Err(src.error(
                None,
                None,
                ConfigFileErrorKind::Empty,
                String::from("no limits: the file has no [[limit]] table and no tier"),
            ));
        }
        Ok(Self {
            limits,
            tiers,
            specs,
        })
    }

    /// The tier called `name`.
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    /// What the file wrote for each of the top-level [`limits`](Self::limits), position for
    /// position.
    pub fn specs(&self) -> &[LimitSpec] {
        &self.specs
    }
}

/// Parses a policy file's text, which errors call `<string>`.
impl FromStr for PolicyFile {
    type Err = ConfigFileError;

    fn from_str(text: &str) -> Result<Self, ConfigFileError> {
        Self::parse(text, "<string>")
    }
}

/// One list's limits and what the file wrote for each.
type List = (Vec<Named<Limit, String>>, Vec<LimitSpec>);

/// The limits of one list (`limit`, or `tiers.pro.limit`), names unique.
fn build_list(
    src: &Source<'_>,
    prefix: &str,
    items: &[Spanned<RawLimit>],
) -> Result<List, ConfigFileError> {
    let mut limits = Vec::with_capacity(items.len());
    let mut specs: Vec<LimitSpec> = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        let (limit, spec) = spec::build(src, &path, item)?;
        if let Some(&(first, line)) = seen.get(&spec.name) {
            let span = item
                .get_ref()
                .name
                .as_ref()
                .map_or_else(|| item.span(), Spanned::span);
            return Err(src.error(
                Some(&span),
                Some(format!("{path}.name")),
                ConfigFileErrorKind::DuplicateName,
                format!(
                    "the name {:?} is already used by {prefix}[{first}] (line {line})",
                    spec.name
                ),
            ));
        }
        seen.insert(spec.name.clone(), (i, spec.line));
        limits.push(limit);
        specs.push(spec);
    }
    Ok((limits, specs))
}

/// The text being read and what errors call it.
struct Source<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Source<'_> {
    /// The line (1-based) a span starts on.
    fn line(&self, span: &Range<usize>) -> usize {
        let before = self.text.as_bytes().iter().take(span.start);
        before.filter(|&&b| b == b'\n').count().saturating_add(1)
    }

    fn error(
        &self,
        span: Option<&Range<usize>>,
        field: Option<String>,
        kind: ConfigFileErrorKind,
        message: String,
    ) -> ConfigFileError {
        ConfigFileError::new(self.origin, kind, message)
            .at_line(span.map(|s| self.line(s)))
            .in_field(field)
    }

    /// An error toml gave: a syntax error while parsing (no `document` yet), or a field of an
    /// unknown name or the wrong type while reading the parsed `document`.
    fn toml_error(&self, e: &toml::de::Error, document: Option<&DeTable<'_>>) -> ConfigFileError {
        let span = e.span();
        let message = e.message().trim_end();
        let kind = match document {
            // toml 0.9's words for an integer beyond i128 (a field or a value that merely says
            // "overflow" is not one).
            _ if message.starts_with("integer number overflowed") => ConfigFileErrorKind::Overflow,
            None => ConfigFileErrorKind::Syntax,
            Some(_) if message.starts_with("unknown field") => ConfigFileErrorKind::UnknownField,
            Some(_) => ConfigFileErrorKind::WrongType,
        };
        let field = document
            .zip(span.as_ref())
            .and_then(|(doc, span)| raw::locate(doc, span));
        let message = match kind {
            ConfigFileErrorKind::Syntax => format!("not valid TOML: {message}"),
            ConfigFileErrorKind::Overflow => format!(
                "{message}: `limit`, `burst` and `slots` are whole numbers from 1 to {}",
                u32::MAX
            ),
            // Numbers are read wide so that out-of-range ones get their own error.
            _ => message
                .replace("expected i128", "expected a whole number")
                .replace("expected struct RawLimit", "expected a limit table")
                .replace("expected struct RawTier", "expected a tier table"),
        };
        let message = match &field {
            Some(f) if f.ends_with("limit") && message.ends_with("expected a sequence") => {
                format!("{message}: write [[{f}]], with double brackets, for each limit")
            }
            Some(f)
                if (f.ends_with("window") || f.ends_with("max_delay"))
                    && message.ends_with("expected a string") =>
            {
                format!("{message}: a duration is written in quotes, such as \"1m\" or \"500ms\"")
            }
            _ => message,
        };
        self.error(span.as_ref(), field, kind, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Duration, Quota};
    use ConfigFileErrorKind as K;
    use tollgate_core::{ConfigError, Shaper};

    /// `[[limit]]` with `name = "a"` and the given lines.
    fn one(body: &str) -> String {
        format!("[[limit]]\nname = \"a\"\n{body}")
    }

    #[test]
    fn bad_inputs_name_their_line_field_and_kind() {
        let log = "algorithm = \"sliding-log\"\nlimit = 10\nwindow = \"1s\"\n";
        #[rustfmt::skip]
        let cases: Vec<(String, Option<usize>, Option<&str>, K)> = vec![
            // The text itself.
            ("[[limit]\nname = \"a\"\n".into(), Some(1), None, K::Syntax),
            ("[[limit]]\nname = \"a\"\nname = \"b\"\n".into(), Some(3), None, K::Syntax),
            (String::new(), None, None, K::Empty),
            ("# nothing but a comment\n".into(), None, None, K::Empty),
            ("limit = []\n".into(), None, None, K::Empty),
            ("[tiers]\n".into(), None, None, K::Empty),
            ("[tiers.pro]\n".into(), Some(1), Some("tiers.pro.limit"), K::Empty),
            // Fields and values of the wrong kind.
            ("bogus = 1\n".into(), Some(1), Some("bogus"), K::UnknownField),
            (one(&format!("{log}colour = \"red\"\n")), Some(6), Some("limit[0].colour"), K::UnknownField),
            ("[tiers.pro]\nbogus = 1\n".into(), Some(2), Some("tiers.pro.bogus"), K::UnknownField),
            (format!("{}[[tiers.default.limit]]\nname = \"a\"\nalgorithm = \"unlimited\"\n", one("algorithm = \"unlimited\"\n")), Some(4), Some("tiers.default"), K::DuplicateName),
            ("[[tiers.pro.limit]]\nname = \"a\"\nrate = 1\n".into(), Some(3), Some("tiers.pro.limit[0].rate"), K::UnknownField),
            ("[limit]\nname = \"a\"\n".into(), Some(1), Some("limit"), K::WrongType),
            ("limit = [1]\n".into(), Some(1), Some("limit[0]"), K::WrongType),
            ("[tiers]\npro = 3\n".into(), Some(2), Some("tiers.pro"), K::WrongType),
            (one("algorithm = \"gcra\"\nlimit = \"ten\"\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::WrongType),
            (one("algorithm = \"gcra\"\nlimit = 10\nwindow = 60\n"), Some(5), Some("limit[0].window"), K::WrongType),
            (one("algorithm = \"gcra\"\nlimit = 1.5\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::WrongType),
            // Algorithms and the fields they take.
            (one("algorithm = \"token-bucket\"\nlimit = 1\n"), Some(3), Some("limit[0].algorithm"), K::UnknownAlgorithm),
            (one(&format!("{log}burst = 5\n")), Some(6), Some("limit[0].burst"), K::NotApplicable),
            (one("algorithm = \"concurrency\"\nlimit = 5\nburst = 5\n"), Some(5), Some("limit[0].burst"), K::NotApplicable),
            (one("algorithm = \"unlimited\"\nburst = 5\n"), Some(4), Some("limit[0].burst"), K::NotApplicable),
            (one("algorithm = \"unlimited\"\nlimit = 5\n"), Some(4), Some("limit[0].limit"), K::NotApplicable),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"1s\"\nmax_delay = \"1s\"\n"), Some(6), Some("limit[0].max_delay"), K::NotApplicable),
            (one("algorithm = \"concurrency\"\nlimit = 5\nwindow = \"1s\"\n"), Some(5), Some("limit[0].window"), K::NotApplicable),
            (one(&format!("{log}slots = 5\n")), Some(6), Some("limit[0].slots"), K::NotApplicable),
            // Missing fields: the line of the table.
            ("\n[[limit]]\nalgorithm = \"gcra\"\n".into(), Some(2), Some("limit[0].name"), K::Missing("name")),
            ("[[limit]]\nname = \"a\"\n".into(), Some(1), Some("limit[0].algorithm"), K::Missing("algorithm")),
            (one("algorithm = \"gcra\"\nwindow = \"1s\"\n"), Some(1), Some("limit[0].limit"), K::Missing("limit")),
            (one("algorithm = \"sliding-log\"\nlimit = 5\n"), Some(1), Some("limit[0].window"), K::Missing("window")),
            (one("algorithm = \"concurrency\"\n"), Some(1), Some("limit[0].limit"), K::Missing("limit")),
            // Zeros.
            (one("algorithm = \"gcra\"\nlimit = 0\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::Zero),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"0ms\"\n"), Some(5), Some("limit[0].window"), K::Zero),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"1s\"\nburst = 0\n"), Some(6), Some("limit[0].burst"), K::Zero),
            (one("algorithm = \"sliding-window\"\nlimit = 5\nwindow = \"1s\"\nslots = 0\n"), Some(6), Some("limit[0].slots"), K::Zero),
            (one("algorithm = \"concurrency\"\nlimit = 0\n"), Some(4), Some("limit[0].limit"), K::Zero),
            // Numbers and durations that do not fit.
            (one("algorithm = \"gcra\"\nlimit = 5000000000\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::Overflow),
            (one("algorithm = \"gcra\"\nlimit = -1\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::Overflow),
            (one("algorithm = \"gcra\"\nlimit = 18446744073709551616\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::Overflow),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"999999999999d\"\n"), Some(5), Some("limit[0].window"), K::Overflow),
            (one("algorithm = \"gcra\"\nlimit = 999999999999999999999999999999999999999999\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::Overflow),
            // Fields or values that merely say "overflow" are what they are.
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"1s\"\noverflow = 1\n"), Some(6), Some("limit[0].overflow"), K::UnknownField),
            (one("algorithm = \"gcra\"\nlimit = \"overflow\"\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::WrongType),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"1s\"\nburst = 4294967296\n"), Some(6), Some("limit[0].burst"), K::Overflow),
            (one("algorithm = \"sliding-window\"\nlimit = 5\nwindow = \"1s\"\nslots = 4294967295\n"), Some(6), Some("limit[0].slots"), K::TooLarge),
            // b·T must fit in 64 bits of nanoseconds: a burst of 3 intervals of 100 000 days does not.
            (one("algorithm = \"gcra\"\nlimit = 1\nwindow = \"100000d\"\nburst = 3\n"), Some(6), Some("limit[0].burst"), K::Overflow),
            (one("algorithm = \"shaper\"\nlimit = 1\nwindow = \"100000d\"\nmax_delay = \"200000d\"\n"), Some(6), Some("limit[0].max_delay"), K::Overflow),
            // Rates finer than the nanosecond tick.
            (one("algorithm = \"gcra\"\nlimit = 4000000000\nwindow = \"1s\"\n"), Some(4), Some("limit[0].limit"), K::FinerThanTick),
            // States too large to keep per key.
            (one("algorithm = \"sliding-log\"\nlimit = 4000000000\nwindow = \"1d\"\n"), Some(4), Some("limit[0].limit"), K::TooLarge),
            (one("algorithm = \"sliding-window\"\nlimit = 10\nwindow = \"1d\"\nslots = 200000\n"), Some(6), Some("limit[0].slots"), K::TooLarge),
            (one("algorithm = \"sliding-log\"\nlimit = 11\nwindow = \"10ns\"\n"), Some(4), Some("limit[0].limit"), K::FinerThanTick),
            (one("algorithm = \"sliding-window\"\nlimit = 5\nwindow = \"10ns\"\nslots = 10\n"), Some(6), Some("limit[0].slots"), K::FinerThanTick),
            // Bad durations.
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"15\"\n"), Some(5), Some("limit[0].window"), K::BadDuration(DurationError::MissingUnit)),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"1 minute\"\n"), Some(5), Some("limit[0].window"), K::BadDuration(DurationError::Unexpected(' '))),
            (one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"5x\"\n"), Some(5), Some("limit[0].window"), K::BadDuration(DurationError::UnknownUnit)),
            (one("algorithm = \"shaper\"\nlimit = 5\nwindow = \"1s\"\nmax_delay = \"\"\n"), Some(6), Some("limit[0].max_delay"), K::BadDuration(DurationError::Empty)),
            // Names.
            (format!("{}[[limit]]\nname = \"a\"\n{log}", one(log)), Some(7), Some("limit[1].name"), K::DuplicateName),
            (format!("[[tiers.pro.limit]]\nname = \"x\"\n{log}[[tiers.pro.limit]]\nname = \"x\"\n{log}"), Some(7), Some("tiers.pro.limit[1].name"), K::DuplicateName),
            (format!("[[limit]]\nname = \"\"\n{log}"), Some(2), Some("limit[0].name"), K::BadName),
            (format!("[[limit]]\nname = \"café\"\n{log}"), Some(2), Some("limit[0].name"), K::BadName),
            (format!("[[tiers.\"\".limit]]\nname = \"a\"\n{log}"), Some(1), Some("tiers.\"\""), K::BadName),
            // A later tier's error still names its tier, and the file's order is kept.
            (format!("[[tiers.zeta.limit]]\nname = \"a\"\n{log}[[tiers.alpha.limit]]\nname = \"a\"\nalgorithm = \"nope\"\n"), Some(8), Some("tiers.alpha.limit[0].algorithm"), K::UnknownAlgorithm),
        ];
        for (text, line, field, kind) in &cases {
            let err = match PolicyFile::parse(text, "t.toml") {
                Ok(file) => panic!("accepted {text:?} as {file:?}"),
                Err(err) => err,
            };
            assert_eq!(
                (err.line(), err.field(), err.kind()),
                (*line, *field, *kind),
                "{text}\n→ {err}"
            );
            assert_eq!(err.file(), "t.toml");
            assert!(err.to_string().starts_with("t.toml"), "{err}");
        }
    }

    #[test]
    fn errors_display_as_file_line_field_message() {
        let err = PolicyFile::parse(
            &one("algorithm = \"gcra\"\nlimit = 5\nwindow = \"0s\"\n"),
            "policies/api.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policies/api.toml:5: field `limit[0].window`: a window of zero"
        );
        let err =
            PolicyFile::parse(&one("algorithm = \"token-bucket\"\n"), "api.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "api.toml:3: field `limit[0].algorithm`: unknown algorithm \"token-bucket\"; known: \
             gcra, leaky-bucket, shaper, sliding-log, sliding-window, concurrency, unlimited"
        );
        let err = PolicyFile::parse("", "empty.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "empty.toml: no limits: the file has no [[limit]] table and no tier"
        );
        let err = PolicyFile::parse("[[limit]\n", "x.toml").unwrap_err();
        assert!(
            err.to_string().starts_with("x.toml:1: not valid TOML: "),
            "{err}"
        );
    }

    #[test]
    fn the_nginx_translation_is_the_cores() {
        let file = PolicyFile::parse(
            "[[limit]]\nname = \"req\"\nalgorithm = \"shaper\"\nlimit = 10\nwindow = \"1s\"\nburst = 3\nmax_delay = \"300ms\"\n",
            "nginx.toml",
        )
        .unwrap();
        let nginx = Shaper::nginx_limit_req(Quota::per_second(10).unwrap(), 5, 2).unwrap();
        assert_eq!(*file.limits[0].algorithm(), Limit::Shaper(nginx));
    }

    #[test]
    fn every_algorithm_maps_to_the_core_as_documented() {
        let file = PolicyFile::parse(
            r#"
            [[limit]]
            name = "g"
            algorithm = "gcra"
            limit = 300
            window = "1m"
            burst = 5
            [[limit]]
            name = "g-default"
            algorithm = "gcra"
            limit = 300
            window = "1m"
            [[limit]]
            name = "m"
            algorithm = "leaky-bucket"
            limit = 300
            window = "1m"
            burst = 5
            [[limit]]
            name = "s"
            algorithm = "shaper"
            limit = 300
            window = "1m"
            [[limit]]
            name = "l"
            algorithm = "sliding-log"
            limit = 300
            window = "1m"
            [[limit]]
            name = "w"
            algorithm = "sliding-window"
            limit = 10
            window = "10s"
            slots = 10
            [[limit]]
            name = "w-default"
            algorithm = "sliding-window"
            limit = 10
            window = "1m"
            [[limit]]
            name = "c"
            algorithm = "concurrency"
            limit = 5
            [[limit]]
            name = "u"
            algorithm = "unlimited"
            "#,
            "all.toml",
        )
        .unwrap();
        let q = Quota::per_minute(300).unwrap();
        let expected = [
            Limit::Gcra(tollgate_core::Gcra::new(q.with_burst(5).unwrap())),
            Limit::Gcra(tollgate_core::Gcra::new(q)),
            Limit::Meter(tollgate_core::Meter::new(q.with_burst(5).unwrap())),
            Limit::Shaper(Shaper::new(q, Duration::from_ticks(0)).unwrap()),
            Limit::sliding_log(300, Duration::from_secs(60), 300).unwrap(),
            Limit::sliding_window(10, Duration::from_secs(10), 11).unwrap(),
            Limit::sliding_window(10, Duration::from_secs(60), 61).unwrap(),
            Limit::Concurrency(tollgate_core::Concurrency::new(5).unwrap()),
            Limit::Unlimited,
        ];
        let got: Vec<Limit> = file.limits.iter().map(|l| *l.algorithm()).collect();
        assert_eq!(got, expected);
        // Ten slots of ten seconds are one-second slots.
        match file.limits[5].algorithm() {
            Limit::SlidingWindow(w) => assert_eq!(w.granularity(), Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        let kinds: Vec<AlgorithmKind> = file.specs().iter().map(|s| s.algorithm).collect();
        let of: Vec<AlgorithmKind> = got.iter().map(AlgorithmKind::of).collect();
        assert_eq!(kinds, of);
        assert_eq!(file.specs()[1].burst, None);
        assert_eq!(file.specs()[0].line, 2);
    }

    #[test]
    fn inline_tables_and_combined_durations_read_too() {
        let file = PolicyFile::parse(
            "limit = [{ name = \"a\", algorithm = \"sliding-log\", limit = 3, window = \"1h30m\" }]\n",
            "inline.toml",
        )
        .unwrap();
        assert_eq!(file.specs()[0].window, Some(Duration::from_secs(5_400)));
        assert_eq!(file.specs()[0].line, 1);
    }

    #[test]
    fn the_core_refusals_map_to_kinds() {
        // Every core error this module can meet has a kind of its own; the rest stay Core.
        let at = Source {
            origin: "x",
            text: "",
        };
        let place = spec_place_error(&at, ConfigError::WindowTooLong);
        assert_eq!(place.kind(), K::Core(ConfigError::WindowTooLong));
        assert_eq!(
            spec_place_error(&at, ConfigError::RateTooFine).kind(),
            K::FinerThanTick
        );
        assert_eq!(
            spec_place_error(&at, ConfigError::ZeroBurst).kind(),
            K::Zero
        );
        assert!(std::error::Error::source(&place).is_some());
    }

    fn spec_place_error(src: &Source<'_>, e: ConfigError) -> ConfigFileError {
        spec::core_error_for_tests(src, e)
    }

    proptest::proptest! {
        #[test]
        fn no_text_panics(text in "(\\PC|\n){0,300}") {
            let _ = PolicyFile::parse(&text, "any.toml");
        }

        #[test]
        fn no_field_values_panic_and_accepted_ones_are_kept_as_written(
            algorithm in proptest::sample::select(vec![
                "gcra", "leaky-bucket", "shaper", "sliding-log", "sliding-window", "concurrency",
                "unlimited", "Gcra", "",
            ]),
            limit in proptest::option::of(proptest::prop_oneof![0i128..20, proptest::num::i128::ANY]),
            window in proptest::option::of("[0-9]{0,22}(ns|us|ms|s|m|h|d|x|)([0-9]{1,3}(ms|s))?"),
            burst in proptest::option::of(proptest::prop_oneof![0i128..20, proptest::num::i128::ANY]),
            max_delay in proptest::option::of("[0-9]{0,22}(ns|ms|s|d)"),
            slots in proptest::option::of(proptest::prop_oneof![0i128..100, proptest::num::i128::ANY]),
        ) {
            let mut text = format!("[[limit]]\nname = \"x\"\nalgorithm = \"{algorithm}\"\n");
            let numbers = [("limit", limit), ("burst", burst), ("slots", slots)];
            for (field, value) in numbers {
                if let Some(v) = value {
                    text.push_str(&format!("{field} = {v}\n"));
                }
            }
            for (field, value) in [("window", &window), ("max_delay", &max_delay)] {
                if let Some(v) = value {
                    text.push_str(&format!("{field} = \"{v}\"\n"));
                }
            }
            match PolicyFile::parse(&text, "gen.toml") {
                Ok(file) => {
                    let spec = &file.specs()[0];
                    proptest::prop_assert_eq!(spec.algorithm.as_str(), algorithm);
                    proptest::prop_assert_eq!(spec.limit.map(i128::from), limit);
                    proptest::prop_assert_eq!(spec.burst.map(i128::from), burst);
                    proptest::prop_assert_eq!(spec.slots.map(i128::from), slots);
                    proptest::prop_assert_eq!(
                        spec.window.map(|w| parse_duration(&format_duration(w))),
                        window.as_deref().map(parse_duration)
                    );
                    proptest::prop_assert_eq!(AlgorithmKind::of(file.limits[0].algorithm()), spec.algorithm);
                }
                Err(err) => {
                    // Every refusal of a field names it, on the line it is on.
                    if let Some(field) = err.field() {
                        let name = field.rsplit('.').next().unwrap();
                        let line = text.lines().position(|l| l.starts_with(&format!("{name} ="))).map_or(1, |i| i + 1);
                        proptest::prop_assert_eq!(err.line(), Some(line), "{}", err);
                    }
                }
            }
        }
    }

    #[test]
    fn loading_reads_the_file_and_names_it() {
        let dir = std::env::temp_dir().join(format!("tollgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.toml");
        std::fs::write(&path, one("algorithm = \"concurrency\"\nlimit = 0\n")).unwrap();
        let err = PolicyFile::load(&path).unwrap_err();
        assert_eq!(err.file(), path.display().to_string());
        assert_eq!((err.line(), err.kind()), (Some(4), K::Zero));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = PolicyFile::load(&path).unwrap_err();
        assert_eq!(err.kind(), K::Io(std::io::ErrorKind::InvalidData));
        assert!(std::error::Error::source(&err).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
