//! Why a policy file was refused, and where.

use core::fmt;

use super::duration::DurationError;

/// What is wrong with a policy file: the [`kind`](ConfigFileError::kind) of a
/// [`ConfigFileError`].
///
/// # Examples
///
/// ```
/// use tollgate_std::config::{ConfigFileErrorKind, PolicyFile};
///
/// let text = "[[limit]]\nname = \"minute\"\nalgorithm = \"sliding-log\"\nlimit = 0\nwindow = \"1m\"\n";
/// let err = PolicyFile::parse(text, "api.toml").unwrap_err();
/// assert_eq!(err.kind(), ConfigFileErrorKind::Zero);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigFileErrorKind {
    /// The file could not be read (also when it is not UTF-8).
    Io(std::io::ErrorKind),
    /// The text is not TOML.
    Syntax,
    /// A field the format does not have, at the top level, in a tier or in a limit.
    UnknownField,
    /// A value of the wrong type: a number where a string belongs, a table where a list of
    /// `[[limit]]` tables belongs.
    WrongType,
    /// An `algorithm` the format does not know; the message lists those it does.
    UnknownAlgorithm,
    /// A field this limit's algorithm needs was not given.
    Missing(&'static str),
    /// A limit, window, burst or slot count of zero.
    Zero,
    /// A number that does not fit its type (`limit`, `burst` and `slots` are `u32`, and a
    /// negative number fits none of them), a duration longer than 2^64 nanoseconds, or a
    /// combination of values whose arithmetic does not fit 64 bits of nanoseconds.
    Overflow,
    /// A rate finer than the clock's one-nanosecond tick (more than one request per
    /// nanosecond), or sliding-window slots shorter than one nanosecond.
    FinerThanTick,
    /// A field this limit's algorithm does not take (`burst` on a sliding log, `window` on a
    /// concurrency limit, `max_delay` on anything but a shaper, `slots` on anything but a
    /// sliding window).
    NotApplicable,
    /// A state too large to keep per key: a sliding log of more than
    /// [`MAX_LOG_ENTRIES`](super::MAX_LOG_ENTRIES) entries or a sliding window of more than
    /// [`MAX_SLOTS`](super::MAX_SLOTS) slots (a sliding window's memory does not depend on its
    /// limit: use one for large limits).
    TooLarge,
    /// A name used twice in one list of limits.
    DuplicateName,
    /// A limit's name that is empty or not printable ASCII (names are sent in HTTP headers), or
    /// an empty tier name.
    BadName,
    /// A duration that does not read (see [`parse_duration`](super::parse_duration)).
    BadDuration(DurationError),
    /// No limits at all: no `[[limit]]` and no tier, or a tier without limits.
    Empty,
    /// Anything else the core refuses, as the core says it.
    Core(tollgate_core::ConfigError),
}

/// A policy file that cannot be used: which file, which line, which field, and why.
///
/// It displays as `file:line: field `path`: message`, leaving out what is not known (an
/// unreadable file has no line):
///
/// ```
/// use tollgate_std::config::{ConfigFileErrorKind, PolicyFile};
///
/// let text = "\
/// [[limit]]
/// name = \"minute\"
/// algorithm = \"gcra\"
/// limit = 300
/// window = \"0s\"
/// ";
/// let err = PolicyFile::parse(text, "policies/api.toml").unwrap_err();
/// assert_eq!(err.file(), "policies/api.toml");
/// assert_eq!(err.line(), Some(5));
/// assert_eq!(err.field(), Some("limit[0].window"));
/// assert_eq!(err.kind(), ConfigFileErrorKind::Zero);
/// assert_eq!(err.to_string(), "policies/api.toml:5: field `limit[0].window`: a window of zero");
/// ```
#[derive(Debug)]
pub struct ConfigFileError {
    file: String,
    line: Option<usize>,
    field: Option<String>,
    kind: ConfigFileErrorKind,
    message: String,
    io: Option<std::io::Error>,
}

impl ConfigFileError {
    /// An error in `file`, without a line or field yet.
    pub(crate) fn new(file: &str, kind: ConfigFileErrorKind, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            field: None,
            kind,
            message: message.into(),
            io: None,
        }
    }

    /// The file could not be read.
    pub(crate) fn io(file: &str, error: std::io::Error) -> Self {
        let mut e = Self::new(
            file,
            ConfigFileErrorKind::Io(error.kind()),
            format!("cannot read the file: {error}"),
        );
        e.io = Some(error);
        e
    }

    /// The same error, explained by `message()` instead when `better` (the core's own words
    /// lack the values at fault).
    #[must_use]
    pub(crate) fn explained_if(mut self, better: bool, message: impl FnOnce() -> String) -> Self {
        if better {
            self.message = message();
        }
        self
    }

    /// The same error, at `line` (1-based).
    #[must_use]
    pub(crate) fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// The same error, about `field`.
    #[must_use]
    pub(crate) fn in_field(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }

    /// What the file was called: the path given to [`load`](super::PolicyFile::load), or the
    /// origin given to [`parse`](super::PolicyFile::parse).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line (1-based) of the offending value, or of the `[[limit]]` header when a field is
    /// missing; `None` when the file could not be read or is empty.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The offending field as a path from the top of the file: `limit[0].window`,
    /// `tiers.pro.limit[1].burst` (list positions count from 0), or `None` when no one field is
    /// at fault (a syntax error, an empty file).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ConfigFileErrorKind {
        self.kind
    }

    /// The explanation, without the file, line and field.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if let Some(io) = &self.io {
            return Some(io);
        }
        match &self.kind {
            ConfigFileErrorKind::BadDuration(e) => Some(e),
            ConfigFileErrorKind::Core(e) => Some(e),
            _ => None,
        }
    }
}
