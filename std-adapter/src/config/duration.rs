//! Readable durations: `"500ms"`, `"15m"`, `"24h"`, `"1h30m"`.

use core::fmt;

use crate::Duration;

/// The units a duration may be written in, largest first, with their length in nanoseconds.
const UNITS: [(&str, u64); 8] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

/// Why a string is not a duration.
///
/// # Examples
///
/// ```
/// use tollgate_std::config::{DurationError, parse_duration};
///
/// assert_eq!(parse_duration(""), Err(DurationError::Empty));
/// assert_eq!(parse_duration("15"), Err(DurationError::MissingUnit));
/// assert_eq!(parse_duration("15 min"), Err(DurationError::Unexpected(' ')));
/// assert_eq!(parse_duration("999999999999d"), Err(DurationError::Overflow));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was written.
    Empty,
    /// A unit without a number before it (`"ms"`, `"h30m"`).
    MissingNumber,
    /// A number without a unit after it (`"15"`, `"1h30"`).
    MissingUnit,
    /// Letters that are not a unit (`"15x"`, `"2sec"`).
    UnknownUnit,
    /// A character that is neither a digit nor a unit letter (`"1.5s"`, `"-1s"`, `"1 s"`).
    Unexpected(char),
    /// Units not written from the largest to the smallest, or one written twice (`"30m1h"`).
    UnitOrder,
    /// More nanoseconds than a `u64` holds (about 584 years).
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("an empty duration"),
            Self::MissingNumber => f.write_str("a unit without a number before it"),
            Self::MissingUnit => {
                f.write_str("a number without a unit (write e.g. \"500ms\", \"15m\" or \"24h\")")
            }
            Self::UnknownUnit => f.write_str("an unknown unit (use ns, us, ms, s, m, h or d)"),
            Self::Unexpected(c) => write!(
                f,
                "unexpected {c:?} (a duration is whole numbers with units, e.g. \"1h30m\")"
            ),
            Self::UnitOrder => {
                f.write_str("units must go from the largest to the smallest, each at most once")
            }
            Self::Overflow => f.write_str("longer than 2^64 nanoseconds (about 584 years)"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Reads a duration written as whole numbers with units: `"500ms"`, `"15m"`, `"24h"`, `"2d"`,
/// or several from the largest unit down, `"1h30m"`.
///
/// The units are `ns`, `us` (or `µs`), `ms`, `s`, `m` (minutes), `h` and `d` (86,400 s). No
/// spaces, signs or fractions. A duration of more nanoseconds than a `u64` holds is an error,
/// never wrapped.
///
/// # Errors
///
/// A [`DurationError`] saying what is wrong.
///
/// # Examples
///
/// ```
/// use tollgate_std::Duration;
/// use tollgate_std::config::parse_duration;
///
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
/// assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
/// assert!(parse_duration("1.5s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u64 = 0;
    // The length of the last unit used: each next one must be shorter.
    let mut previous = u64::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let letters = after
            .find(|c: char| !(c.is_ascii_alphabetic() || c == 'µ'))
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        if number.is_empty() {
            return Err(match (unit.is_empty(), after.chars().next()) {
                (true, Some(c)) => DurationError::Unexpected(c),
                _ => DurationError::MissingNumber,
            });
        }
        if unit.is_empty() {
            return Err(match after.chars().next() {
                Some(c) => DurationError::Unexpected(c),
                None => DurationError::MissingUnit,
            });
        }
        let nanos = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, nanos)| nanos)
            .ok_or(DurationError::UnknownUnit)?;
        if nanos >= previous {
            return Err(DurationError::UnitOrder);
        }
        previous = nanos;
        // Any run of digits too long for a u64 is an overflow, as is its product or the sum.
        let count: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        total = count
            .checked_mul(nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or(DurationError::Overflow)?;
        rest = after;
    }
    Ok(Duration::from_ticks(total))
}

/// Writes a duration the way [`parse_duration`] reads it, with the largest units first and
/// none repeated: `"1h30m"`, `"300ms"`, `"0s"`.
///
/// # Examples
///
/// ```
/// use tollgate_std::Duration;
/// use tollgate_std::config::{format_duration, parse_duration};
///
/// assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
/// assert_eq!(format_duration(Duration::from_ticks(0)), "0s");
/// let d = Duration::from_ticks(123_456_789_012_345);
/// assert_eq!(parse_duration(&format_duration(d)), Ok(d));
/// ```
pub fn format_duration(duration: Duration) -> String {
    let mut rest = duration.as_ticks();
    if rest == 0 {
        return String::from("0s");
    }
    let mut out = String::new();
    for &(name, nanos) in UNITS.iter().filter(|(name, _)| *name != "µs") {
        let count = rest.checked_div(nanos).unwrap_or(0);
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(name);
            rest = rest.checked_rem(nanos).unwrap_or(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_reads_as_its_length() {
        let cases = [
            ("7ns", 7),
            ("7us", 7_000),
            ("7µs", 7_000),
            ("7ms", 7_000_000),
            ("7s", 7_000_000_000),
            ("7m", 420_000_000_000),
            ("7h", 25_200_000_000_000),
            ("7d", 604_800_000_000_000),
            ("0s", 0),
            ("007s", 7_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_ticks(nanos)),
                "{text}"
            );
        }
    }

    #[test]
    fn units_combine_from_the_largest_down() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms6us7ns"),
            Ok(Duration::from_ticks(93_784_005_006_007))
        );
        assert_eq!(parse_duration("30m1h"), Err(DurationError::UnitOrder));
        assert_eq!(parse_duration("1s1s"), Err(DurationError::UnitOrder));
        assert_eq!(parse_duration("1us1µs"), Err(DurationError::UnitOrder));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        // u64::MAX ns is 213,503 days and a bit.
        assert_eq!(
            parse_duration("213503d"),
            Ok(Duration::from_ticks(213_503 * 86_400_000_000_000))
        );
        assert_eq!(parse_duration("213504d"), Err(DurationError::Overflow));
        assert_eq!(
            parse_duration("999999999999d"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("18446744073709551615ns"),
            Ok(Duration::from_ticks(u64::MAX))
        );
        assert_eq!(
            parse_duration("18446744073709551616ns"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("213503d23h59m59s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("99999999999999999999999999999999999s"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let cases = [
            ("", DurationError::Empty),
            ("15", DurationError::MissingUnit),
            ("1h30", DurationError::MissingUnit),
            ("ms", DurationError::MissingNumber),
            ("h30m", DurationError::MissingNumber),
            ("1hm", DurationError::UnknownUnit),
            ("15x", DurationError::UnknownUnit),
            ("2sec", DurationError::UnknownUnit),
            ("1M", DurationError::UnknownUnit),
            ("1.5s", DurationError::Unexpected('.')),
            ("-1s", DurationError::Unexpected('-')),
            ("1 s", DurationError::Unexpected(' ')),
            (" 1s", DurationError::Unexpected(' ')),
            ("1s ", DurationError::Unexpected(' ')),
            ("1s,", DurationError::Unexpected(',')),
            ("٣s", DurationError::Unexpected('٣')),
        ];
        for (text, error) in cases {
            assert_eq!(parse_duration(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for nanos in [
            0,
            1,
            999,
            1_000,
            60_000_000_000,
            86_400_000_000_001,
            u64::MAX,
        ] {
            let d = Duration::from_ticks(nanos);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{nanos}");
        }
        assert_eq!(format_duration(Duration::from_secs(86_400 + 60)), "1d1m");
    }
}
