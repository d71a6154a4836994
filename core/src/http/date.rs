//! HTTP-date (RFC 9110 §5.6.7): parsing all three formats, writing the preferred IMF-fixdate.
//!
//! Civil-date arithmetic is the proleptic Gregorian calendar (days from 1970-01-01), written out
//! here so the core needs no date crate. Every field is validated: the day must exist in its month
//! (leap years included), hours 0–23, minutes 0–59, seconds 0–60 (60 is the leap second RFC 9110
//! allows; unix time has none, so it reads as the next day's first second), and the day name must
//! be the true weekday of the date.

use core::fmt;

use super::HeaderError;
use super::ascii::decimal;

const DAY_NAMES: [&[u8]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const DAY_NAMES_LONG: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The first second of 0000-01-01, the earliest a four-digit year can name.
const MIN_SECS: i64 = -62_167_219_200;
/// The last second of 9999-12-31, the latest a four-digit year can name.
const MAX_SECS: i64 = 253_402_300_799;

/// A point in time with one-second resolution, as HTTP writes it.
///
/// [`parse`](HttpDate::parse) reads all three formats a recipient must accept (IMF-fixdate, the
/// obsolete RFC 850 and asctime forms); `Display` writes IMF-fixdate. Years 0000 to 9999 are
/// representable; times before 1970 have negative [`unix_secs`](HttpDate::unix_secs).
///
/// # Examples
///
/// ```
/// use tollgate_core::HttpDate;
///
/// let d = HttpDate::parse_imf_fixdate(b"Sun, 06 Nov 1994 08:49:37 GMT")?;
/// assert_eq!(d.unix_secs(), 784_111_777);
/// let mut s = heapless::String::<32>::new();
/// core::fmt::write(&mut s, format_args!("{d}")).unwrap();
/// assert_eq!(s, "Sun, 06 Nov 1994 08:49:37 GMT");
/// // A wrong weekday is rejected, not guessed around.
/// assert!(HttpDate::parse_imf_fixdate(b"Mon, 06 Nov 1994 08:49:37 GMT").is_err());
/// # Ok::<(), tollgate_core::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HttpDate {
    secs: i64,
}

impl HttpDate {
    /// The date `secs` seconds after 1970-01-01T00:00:00Z, if its year has four digits.
    pub const fn from_unix_secs(secs: u64) -> Option<Self> {
        if secs > MAX_SECS as u64 {
            None
        } else {
            Some(Self { secs: secs as i64 })
        }
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative before it).
    pub const fn unix_secs(&self) -> i64 {
        self.secs
    }

    /// Parses an HTTP-date in any of its three formats (RFC 9110 §5.6.7).
    ///
    /// `now_unix_secs` resolves the RFC 850 form's two-digit year as RFC 9110 requires: a year
    /// that would be more than 50 years in the future means the century before. The other two
    /// forms ignore it. The value must already be trimmed of surrounding whitespace.
    ///
    /// # Errors
    ///
    /// [`HeaderError::Syntax`] when the layout matches no format, [`HeaderError::InvalidDate`]
    /// when a field is out of range or the day name is not the date's weekday.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::HttpDate;
    ///
    /// let now = 1_700_000_000; // November 2023
    /// let a = HttpDate::parse(b"Sun, 06 Nov 1994 08:49:37 GMT", now)?;
    /// let b = HttpDate::parse(b"Sunday, 06-Nov-94 08:49:37 GMT", now)?;
    /// let c = HttpDate::parse(b"Sun Nov  6 08:49:37 1994", now)?;
    /// assert!(a == b && b == c);
    /// # Ok::<(), tollgate_core::HeaderError>(())
    /// ```
    pub fn parse(value: &[u8], now_unix_secs: u64) -> Result<Self, HeaderError> {
        match value.get(3) {
            Some(b',') => Self::parse_imf_fixdate(value),
            Some(b' ') => parse_asctime(value),
            Some(_) => parse_rfc850(value, now_unix_secs),
            None => Err(HeaderError::Syntax),
        }
    }

    /// Parses the preferred format only: `Sun, 06 Nov 1994 08:49:37 GMT` (case-sensitive).
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn parse_imf_fixdate(value: &[u8]) -> Result<Self, HeaderError> {
        let mut c = Fixed::new(value);
        let wday = c.name(&DAY_NAMES)?;
        c.lit(b", ")?;
        let day = c.digits(2)?;
        c.lit(b" ")?;
        let month = c.name(&MONTHS)?;
        c.lit(b" ")?;
        let year = c.digits(4)?;
        c.lit(b" ")?;
        let (h, m, s) = c.time()?;
        c.lit(b" GMT")?;
        c.end()?;
        build(year, month, day, h, m, s, wday)
    }
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`.
fn parse_rfc850(value: &[u8], now_unix_secs: u64) -> Result<HttpDate, HeaderError> {
    let mut c = Fixed::new(value);
    let wday = c.name(&DAY_NAMES_LONG)?;
    c.lit(b", ")?;
    let day = c.digits(2)?;
    c.lit(b"-")?;
    let month = c.name(&MONTHS)?;
    c.lit(b"-")?;
    let yy = c.digits(2)?;
    c.lit(b" ")?;
    let (h, m, s) = c.time()?;
    c.lit(b" GMT")?;
    c.end()?;
    let now_year = i64::try_from(now_unix_secs)
        .ok()
        .and_then(|s| s.checked_div(86_400))
        .map_or(9_999, |days| civil_from_days(days).0);
    let century = now_year.div_euclid(100).saturating_mul(100);
    let mut year = century.saturating_add(i64::from(yy));
    if year > now_year.saturating_add(50) {
        year = year.saturating_sub(100);
    }
    let year = u32::try_from(year).map_err(|_| HeaderError::InvalidDate)?;
    build(year, month, day, h, m, s, wday)
}

/// `Sun Nov  6 08:49:37 1994` (the day is space-padded).
fn parse_asctime(value: &[u8]) -> Result<HttpDate, HeaderError> {
    let mut c = Fixed::new(value);
    let wday = c.name(&DAY_NAMES)?;
    c.lit(b" ")?;
    let month = c.name(&MONTHS)?;
    c.lit(b" ")?;
    let day = if c.peek() == Some(b' ') {
        c.lit(b" ")?;
        c.digits(1)?
    } else {
        c.digits(2)?
    };
    c.lit(b" ")?;
    let (h, m, s) = c.time()?;
    c.lit(b" ")?;
    let year = c.digits(4)?;
    c.end()?;
    build(year, month, day, h, m, s, wday)
}

/// Validates the fields and converts them to unix seconds.
fn build(
    year: u32,
    month: usize,
    day: u32,
    h: u32,
    m: u32,
    s: u32,
    wday: usize,
) -> Result<HttpDate, HeaderError> {
    let month = u32::try_from(month)
        .ok()
        .and_then(|m| m.checked_add(1))
        .ok_or(HeaderError::InvalidDate)?;
    if day == 0 || day > days_in_month(year, month) || h > 23 || m > 59 || s > 60 {
        return Err(HeaderError::InvalidDate);
    }
    let days = days_from_civil(i64::from(year), month, day).ok_or(HeaderError::InvalidDate)?;
    if weekday(days) != Some(wday) {
        return Err(HeaderError::InvalidDate);
    }
    let secs = (|| {
        days.checked_mul(86_400)?
            .checked_add(i64::from(h).checked_mul(3_600)?)?
            .checked_add(i64::from(m).checked_mul(60)?)?
            .checked_add(i64::from(s))
    })()
    .ok_or(HeaderError::InvalidDate)?;
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return Err(HeaderError::InvalidDate);
    }
    Ok(HttpDate { secs })
}

const fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

pub(crate) const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a valid proleptic Gregorian date (month 1–12, day 1–31).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from(if month > 2 {
        month.checked_sub(3)?
    } else {
        month.checked_add(9)?
    });
    let doy = mp
        .checked_mul(153)?
        .checked_add(2)?
        .checked_div(5)?
        .checked_add(i64::from(day))?
        .checked_sub(1)?; // [0, 365]
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe.checked_div(4)?)?
        .checked_sub(yoe.checked_div(100)?)?
        .checked_add(doy)?; // [0, 146096]
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// The (year, month 1–12, day 1–31) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    // All of the following stay within small positive ranges; saturating keeps the lint honest.
    let yoe = doe
        .saturating_sub(doe / 1_460)
        .saturating_add(doe / 36_524)
        .saturating_sub(doe / 146_096)
        / 365; // [0, 399]
    let doy = doe.saturating_sub(
        yoe.saturating_mul(365)
            .saturating_add(yoe / 4)
            .saturating_sub(yoe / 100),
    ); // [0, 365]
    let mp = doy.saturating_mul(5).saturating_add(2) / 153; // [0, 11]
    let day = doy
        .saturating_sub(mp.saturating_mul(153).saturating_add(2) / 5)
        .saturating_add(1);
    let month = if mp < 10 {
        mp.saturating_add(3)
    } else {
        mp.saturating_sub(9)
    };
    let year = era
        .saturating_mul(400)
        .saturating_add(yoe)
        .saturating_add(i64::from(month <= 2));
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// 0 = Sunday. 1970-01-01 was a Thursday.
fn weekday(days: i64) -> Option<usize> {
    usize::try_from(days.checked_add(4)?.rem_euclid(7)).ok()
}

fn ascii(b: &[u8]) -> Result<&str, fmt::Error> {
    core::str::from_utf8(b).map_err(|_| fmt::Error)
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let wday = weekday(days)
            .and_then(|w| DAY_NAMES.get(w))
            .ok_or(fmt::Error)?;
        let mon = usize::try_from(month)
            .ok()
            .and_then(|m| m.checked_sub(1))
            .and_then(|m| MONTHS.get(m))
            .ok_or(fmt::Error)?;
        write!(
            f,
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            ascii(wday)?,
            day,
            ascii(mon)?,
            year,
            sod / 3_600,
            sod % 3_600 / 60,
            sod % 60
        )
    }
}

/// A cursor over a fixed-layout date.
struct Fixed<'a> {
    rest: &'a [u8],
}

impl<'a> Fixed<'a> {
    fn new(value: &'a [u8]) -> Self {
        Self { rest: value }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn lit(&mut self, lit: &[u8]) -> Result<(), HeaderError> {
        match self.rest.strip_prefix(lit) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(HeaderError::Syntax),
        }
    }

    /// One of `names`, by index: the first one the input starts with. No name in a list here is
    /// a prefix of another in the same list (the long day names are a list of their own, chosen
    /// by the format), so the first match is the only one.
    fn name(&mut self, names: &[&[u8]]) -> Result<usize, HeaderError> {
        for (i, n) in names.iter().enumerate() {
            if let Some(rest) = self.rest.strip_prefix(*n) {
                self.rest = rest;
                return Ok(i);
            }
        }
        Err(HeaderError::Syntax)
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Result<u32, HeaderError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(HeaderError::Syntax)?;
        let v = decimal(head)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(HeaderError::Syntax)?;
        self.rest = rest;
        Ok(v)
    }

    /// `hh:mm:ss`.
    fn time(&mut self) -> Result<(u32, u32, u32), HeaderError> {
        let h = self.digits(2)?;
        self.lit(b":")?;
        let m = self.digits(2)?;
        self.lit(b":")?;
        let s = self.digits(2)?;
        Ok((h, m, s))
    }

    fn end(&self) -> Result<(), HeaderError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(HeaderError::Syntax)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn the_rfc_example_parses_in_all_three_formats() {
        let now = 1_700_000_000;
        for v in [
            &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(HttpDate::parse(v, now).unwrap().unix_secs(), 784_111_777);
        }
    }

    #[test]
    fn the_epoch_and_the_last_four_digit_second_round_trip() {
        for secs in [0, 1, 86_399, 86_400, 951_782_400, MAX_SECS as u64] {
            let d = HttpDate::from_unix_secs(secs).unwrap();
            let s = d.to_string();
            assert_eq!(HttpDate::parse_imf_fixdate(s.as_bytes()), Ok(d), "{s}");
        }
        assert_eq!(
            HttpDate::from_unix_secs(0).unwrap().to_string(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(HttpDate::from_unix_secs(MAX_SECS as u64 + 1), None);
    }

    #[test]
    fn impossible_fields_are_invalid_dates() {
        for v in [
            &b"Fri, 30 Feb 2024 00:00:00 GMT"[..],
            b"Sat, 29 Feb 2025 00:00:00 GMT",
            b"Thu, 00 Jan 1970 00:00:00 GMT",
            b"Thu, 01 Jan 1970 24:00:00 GMT",
            b"Thu, 01 Jan 1970 00:60:00 GMT",
            b"Thu, 01 Jan 1970 00:00:61 GMT",
            b"Fri, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert_eq!(
                HttpDate::parse_imf_fixdate(v),
                Err(HeaderError::InvalidDate),
                "{}",
                std::string::String::from_utf8_lossy(v)
            );
        }
        assert!(HttpDate::parse_imf_fixdate(b"Thu, 29 Feb 2024 00:00:00 GMT").is_ok());
        assert!(HttpDate::parse_imf_fixdate(b"Tue, 29 Feb 2000 00:00:00 GMT").is_ok());
    }

    #[test]
    fn a_leap_second_reads_as_the_next_days_first_second() {
        let a = HttpDate::parse_imf_fixdate(b"Sat, 31 Dec 2016 23:59:60 GMT").unwrap();
        let b = HttpDate::parse_imf_fixdate(b"Sun, 01 Jan 2017 00:00:00 GMT").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn malformed_layouts_are_syntax_errors() {
        for v in [
            &b""[..],
            b"Sun",
            b"sun, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 06 Nov 1994 08:49:37 GMT ",
            b"Sun, 06 Nov 94 08:49:37 GMT",
            b"Sun, 06 Nov 1994 8:49:37 GMT",
            b"Sun, 0x Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(HttpDate::parse(v, 0), Err(HeaderError::Syntax));
        }
    }

    #[test]
    fn a_two_digit_year_more_than_fifty_years_ahead_means_the_century_before() {
        let now_2023 = 1_700_000_000;
        let d = HttpDate::parse(b"Tuesday, 01-Jan-80 00:00:00 GMT", now_2023).unwrap();
        assert_eq!(d.unix_secs(), 315_532_800); // 2080 would be 57 years ahead: 1980
        let d = HttpDate::parse(b"Thursday, 01-Jan-60 00:00:00 GMT", now_2023).unwrap();
        assert_eq!(d.unix_secs(), 2_840_140_800); // 2060
        let d = HttpDate::parse(b"Monday, 01-Jan-90 00:00:00 GMT", 0).unwrap();
        assert_eq!(d.unix_secs(), 631_152_000); // 1990, seen from 1970
    }

    #[test]
    fn dates_before_1970_have_negative_seconds() {
        let d = HttpDate::parse_imf_fixdate(b"Sat, 01 Jan 0000 00:00:00 GMT").unwrap();
        assert_eq!(d.unix_secs(), MIN_SECS);
        assert_eq!(d.to_string(), "Sat, 01 Jan 0000 00:00:00 GMT");
    }
}
