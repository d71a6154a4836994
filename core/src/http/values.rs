//! The value grammars of the rate-limit dialects in the wild: decimal numbers with a fraction,
//! Go-style durations (`6m0s`), RFC 3339 timestamps, and the reset reader that tells them apart.
//!
//! Rounding is always towards the cautious side: a count of what is left rounds **down**, a
//! count of what was used and every time round **up**, to whole milliseconds. No input panics or
//! overflows; a value out of range is [`HeaderError::Overflow`].

use super::HeaderError;
use super::ascii::trim_ows;
use super::date::{days_from_civil, days_in_month};
use crate::time::Duration;

/// Parsed durations are in milliseconds, the finest resolution any header form carries.
pub type Millis = Duration<1_000>;

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

pub(crate) fn secs_to_millis(secs: u64) -> Result<u64, HeaderError> {
    secs.checked_mul(1_000).ok_or(HeaderError::Overflow)
}

/// `1*DIGIT [ "." 1*DIGIT ]`, read exactly enough for every rounding the dialects need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    /// The whole part.
    pub whole: u64,
    /// The fraction in thousandths, rounded up: 0 to 1000.
    pub milli_ceil: u64,
    /// Whether the fraction is non-zero.
    pub frac_nonzero: bool,
}

impl Decimal {
    /// Reads `1*DIGIT [ "." 1*DIGIT ]` (no sign, no exponent, no whitespace).
    pub(crate) fn parse(v: &[u8]) -> Result<Self, HeaderError> {
        let (whole, frac) = match v.iter().position(|&b| b == b'.') {
            Some(i) => (
                v.get(..i).unwrap_or(&[]),
                Some(v.get(i.saturating_add(1)..).unwrap_or(&[])),
            ),
            None => (v, None),
        };
        if whole.is_empty() || !whole.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::Syntax);
        }
        let mut n: u64 = 0;
        for &d in whole {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d.wrapping_sub(b'0'))))
                .ok_or(HeaderError::Overflow)?;
        }
        let (milli_ceil, frac_nonzero) = match frac {
            None => (0, false),
            Some(f) => thousandths_ceil(f)?,
        };
        Ok(Self {
            whole: n,
            milli_ceil,
            frac_nonzero,
        })
    }

    /// The number rounded down: a count of what remains, or a limit.
    pub(crate) const fn down(self) -> u64 {
        self.whole
    }

    /// The number rounded up: a count of what was used.
    pub(crate) fn up(self) -> Result<u64, HeaderError> {
        self.whole
            .checked_add(u64::from(self.frac_nonzero))
            .ok_or(HeaderError::Overflow)
    }

    /// The number as seconds, in milliseconds rounded up.
    pub(crate) fn secs_to_millis_ceil(self) -> Result<u64, HeaderError> {
        self.whole
            .checked_mul(1_000)
            .and_then(|ms| ms.checked_add(self.milli_ceil))
            .ok_or(HeaderError::Overflow)
    }

    /// The wait a reset number stands for, classified by its whole part with
    /// [`ResetKind::classify`]; every fraction rounds the wait up.
    pub(crate) fn reset_wait(self, now_unix_millis: Option<u64>) -> Result<Millis, HeaderError> {
        let now = now_unix_millis.unwrap_or(0);
        let ms = match ResetKind::classify(self.whole, now_unix_millis)? {
            ResetKind::DeltaSeconds => self.secs_to_millis_ceil()?,
            ResetKind::EpochSeconds => self.secs_to_millis_ceil()?.saturating_sub(now),
            ResetKind::EpochMillis => self.up()?.saturating_sub(now),
        };
        Ok(Millis::from_ticks(ms))
    }
}

/// A fraction's digits (`1*DIGIT`, after the point) in thousandths rounded up (0 to 1000), and
/// whether it is non-zero.
fn thousandths_ceil(f: &[u8]) -> Result<(u64, bool), HeaderError> {
    if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::Syntax);
    }
    let mut milli: u64 = 0;
    for k in 0..3 {
        let d = f.get(k).map_or(0, |b| u64::from(b.wrapping_sub(b'0')));
        milli = milli.saturating_mul(10).saturating_add(d);
    }
    let rest = f.get(3..).unwrap_or(&[]).iter().any(|&b| b != b'0');
    Ok((milli.saturating_add(u64::from(rest)), milli > 0 || rest))
}

/// Nanoseconds per unit of a duration.
fn unit_nanos(unit: &[u8]) -> Option<u128> {
    Some(match unit {
        b"h" => 3_600_000_000_000,
        b"m" => 60_000_000_000,
        b"s" => 1_000_000_000,
        b"ms" => 1_000_000,
        b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000, // us, µs (micro sign), μs (mu)
        b"ns" => 1,
        _ => return None,
    })
}

/// A Go-style duration (`6m0s`, `1h2m3.5s`, `20ms`, `0.5s`, `1µs`): one or more
/// `1*DIGIT [ "." 1*DIGIT ] unit` with units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`, summed, in
/// milliseconds rounded up. No sign, no spaces inside.
pub(crate) fn duration(v: &[u8]) -> Result<Millis, HeaderError> {
    if v.is_empty() {
        return Err(HeaderError::Syntax);
    }
    let mut total: u128 = 0;
    let mut rest = v;
    while !rest.is_empty() {
        let num_len = rest
            .iter()
            .position(|&b| !(b.is_ascii_digit() || b == b'.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at_checked(num_len).ok_or(HeaderError::Syntax)?;
        let unit_len = tail
            .iter()
            .position(|&b| b.is_ascii_digit() || b == b'.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at_checked(unit_len).ok_or(HeaderError::Syntax)?;
        let per = unit_nanos(unit).ok_or(HeaderError::Syntax)?;
        total = total
            .checked_add(nanos(num, per)?)
            .ok_or(HeaderError::Overflow)?;
        rest = tail;
    }
    let ms = total.div_ceil(1_000_000);
    Ok(Millis::from_ticks(
        u64::try_from(ms).map_err(|_| HeaderError::Overflow)?,
    ))
}

/// `1*DIGIT [ "." 1*DIGIT ]` units of `per` nanoseconds, rounded up to whole nanoseconds.
fn nanos(num: &[u8], per: u128) -> Result<u128, HeaderError> {
    let (whole, frac) = match num.iter().position(|&b| b == b'.') {
        Some(i) => (
            num.get(..i).unwrap_or(&[]),
            Some(num.get(i.saturating_add(1)..).unwrap_or(&[])),
        ),
        None => (num, None),
    };
    if whole.is_empty() || !whole.iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::Syntax);
    }
    let mut n: u128 = 0;
    for &d in whole {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(d.wrapping_sub(b'0'))))
            .ok_or(HeaderError::Overflow)?;
    }
    let mut out = n.checked_mul(per).ok_or(HeaderError::Overflow)?;
    if let Some(f) = frac {
        if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::Syntax);
        }
        // Eighteen digits are finer than a nanosecond of an hour; any beyond only round up.
        let (kept, beyond) = f.split_at(f.len().min(18));
        let mut num: u128 = 0;
        let mut den: u128 = 1;
        for &d in kept {
            num = num
                .saturating_mul(10)
                .saturating_add(u128::from(d.wrapping_sub(b'0')));
            den = den.saturating_mul(10);
        }
        let exact = num.saturating_mul(per);
        let mut part = exact.div_ceil(den);
        if beyond.iter().any(|&b| b != b'0') && exact.is_multiple_of(den) {
            part = part.saturating_add(1);
        }
        out = out.checked_add(part).ok_or(HeaderError::Overflow)?;
    }
    Ok(out)
}

fn digits(v: &[u8], from: usize, n: usize) -> Result<u32, HeaderError> {
    let end = from.checked_add(n).ok_or(HeaderError::Syntax)?;
    let d = v.get(from..end).ok_or(HeaderError::Syntax)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::Syntax);
    }
    Ok(d.iter().fold(0u32, |n, &b| {
        n.saturating_mul(10)
            .saturating_add(u32::from(b.wrapping_sub(b'0')))
    }))
}

fn expect(v: &[u8], at: usize, allowed: &[u8]) -> Result<(), HeaderError> {
    match v.get(at) {
        Some(b) if allowed.contains(b) => Ok(()),
        _ => Err(HeaderError::Syntax),
    }
}

/// An RFC 3339 `date-time` (`2024-01-01T00:00:30Z`, `2024-01-01t00:00:30.25+02:00`, or with a
/// space for the `T`), as unix milliseconds, the fraction rounded up. Fields are validated like
/// an HTTP-date's (a leap second 60 reads as the next minute's first second).
pub(crate) fn rfc3339_unix_millis(v: &[u8]) -> Result<i64, HeaderError> {
    let year = digits(v, 0, 4)?;
    expect(v, 4, b"-")?;
    let month = digits(v, 5, 2)?;
    expect(v, 7, b"-")?;
    let day = digits(v, 8, 2)?;
    expect(v, 10, b"Tt ")?;
    let h = digits(v, 11, 2)?;
    expect(v, 13, b":")?;
    let m = digits(v, 14, 2)?;
    expect(v, 16, b":")?;
    let s = digits(v, 17, 2)?;
    let mut at = 19;
    let mut milli_ceil: i64 = 0;
    if v.get(at) == Some(&b'.') {
        let len = v
            .get(at.saturating_add(1)..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let frac = v
            .get(at.saturating_add(1)..at.saturating_add(1).saturating_add(len))
            .ok_or(HeaderError::Syntax)?;
        let (thousandths, _) = thousandths_ceil(frac)?;
        milli_ceil = i64::try_from(thousandths).map_err(|_| HeaderError::Overflow)?;
        at = at.saturating_add(1).saturating_add(len);
    }
    let offset_secs: i64 = match v.get(at) {
        Some(b'Z' | b'z') => {
            at = at.saturating_add(1);
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(v, at.saturating_add(1), 2)?;
            expect(v, at.saturating_add(3), b":")?;
            let om = digits(v, at.saturating_add(4), 2)?;
            if oh > 23 || om > 59 {
                return Err(HeaderError::InvalidDate);
            }
            at = at.saturating_add(6);
            let off = i64::from(
                oh.saturating_mul(3_600)
                    .saturating_add(om.saturating_mul(60)),
            );
            if sign == b'-' {
                off.saturating_neg()
            } else {
                off
            }
        }
        _ => return Err(HeaderError::Syntax),
    };
    if at != v.len() {
        return Err(HeaderError::Syntax);
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || h > 23
        || m > 59
        || s > 60
    {
        return Err(HeaderError::InvalidDate);
    }
    let days = days_from_civil(i64::from(year), month, day).ok_or(HeaderError::InvalidDate)?;
    let secs = days
        .checked_mul(86_400)
        .and_then(|d| {
            d.checked_add(i64::from(
                h.saturating_mul(3_600)
                    .saturating_add(m.saturating_mul(60))
                    .saturating_add(s),
            ))
        })
        .and_then(|t| t.checked_sub(offset_secs))
        .ok_or(HeaderError::InvalidDate)?;
    secs.checked_mul(1_000)
        .and_then(|ms| ms.checked_add(milli_ceil))
        .ok_or(HeaderError::Overflow)
}

/// A reset in any form the dialects write, as a wait from now:
///
/// - an RFC 3339 date-time (`2024-01-01T00:00:30Z`): needs `now`;
/// - a duration with units (`6m0s`, `20ms`, `0.5s`);
/// - a bare number, possibly fractional (`30`, `1470173023.123`): classified by magnitude
///   ([`ResetKind::classify`]).
///
/// Every form rounds the wait up; a time already past is a zero wait.
pub(crate) fn reset(v: &[u8], now_unix_millis: Option<u64>) -> Result<Millis, HeaderError> {
    let v = trim_ows(v);
    if v.get(4) == Some(&b'-') {
        let at = rfc3339_unix_millis(v)?;
        let now = now_unix_millis.ok_or(HeaderError::NeedsWallClock)?;
        let at = u64::try_from(at).unwrap_or(0); // before 1970: long past
        return Ok(Millis::from_ticks(at.saturating_sub(now)));
    }
    if v.last().is_some_and(u8::is_ascii_alphabetic) {
        return duration(v);
    }
    Decimal::parse(v)?.reset_wait(now_unix_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Result<Millis, HeaderError> {
        Ok(Millis::from_ticks(n))
    }

    #[test]
    fn decimals_round_down_for_counts_and_up_for_times() {
        let d = Decimal::parse(b"598.0").unwrap();
        assert_eq!(
            (d.down(), d.up(), d.secs_to_millis_ceil()),
            (598, Ok(598), Ok(598_000))
        );
        let d = Decimal::parse(b"2.0001").unwrap();
        assert_eq!(
            (d.down(), d.up(), d.secs_to_millis_ceil()),
            (2, Ok(3), Ok(2_001))
        );
        let d = Decimal::parse(b"1.9999").unwrap();
        assert_eq!(d.secs_to_millis_ceil(), Ok(2_000));
        for bad in [
            &b""[..],
            b".5",
            b"5.",
            b"1.2.3",
            b"-1",
            b"+1",
            b"1e3",
            b" 1",
        ] {
            assert_eq!(Decimal::parse(bad), Err(HeaderError::Syntax), "{bad:?}");
        }
        assert_eq!(
            Decimal::parse(b"18446744073709551616.5"),
            Err(HeaderError::Overflow)
        );
        assert_eq!(
            Decimal::parse(b"18446744073709551615.5").unwrap().up(),
            Err(HeaderError::Overflow)
        );
    }

    #[test]
    fn durations_sum_their_parts_and_round_up() {
        assert_eq!(duration(b"6m0s"), ms(360_000));
        assert_eq!(duration(b"1h2m3.5s"), ms(3_723_500));
        assert_eq!(duration(b"20ms"), ms(20));
        assert_eq!(duration(b"0.5s"), ms(500));
        assert_eq!(duration(b"59.881s"), ms(59_881));
        assert_eq!(duration(b"1.0001ms"), ms(2));
        assert_eq!(duration(b"1ns"), ms(1));
        assert_eq!(duration("3µs".as_bytes()), ms(1));
        assert_eq!(duration(b"0s"), ms(0));
        assert_eq!(duration(b"0.0000000000000000001s"), ms(1));
        for bad in [
            &b""[..],
            b"s",
            b"6m0",
            b"6x",
            b"-1s",
            b"1.s",
            b"1 s",
            b"1d",
            b"1.2.3s",
        ] {
            assert_eq!(duration(bad), Err(HeaderError::Syntax), "{bad:?}");
        }
        assert_eq!(
            duration(b"99999999999999999999999999999h"),
            Err(HeaderError::Overflow)
        );
        assert_eq!(duration(b"9999999999999h"), Err(HeaderError::Overflow));
    }

    #[test]
    fn rfc3339_times_read_offsets_and_fractions() {
        assert_eq!(rfc3339_unix_millis(b"1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            rfc3339_unix_millis(b"2024-01-01T00:00:30Z"),
            Ok(1_704_067_230_000)
        );
        assert_eq!(
            rfc3339_unix_millis(b"2024-01-01t02:00:30.0001+02:00"),
            Ok(1_704_067_230_001)
        );
        assert_eq!(
            rfc3339_unix_millis(b"2023-12-31 23:00:30.5-01:00"),
            Ok(1_704_067_230_500)
        );
        assert_eq!(rfc3339_unix_millis(b"1969-12-31T23:59:59Z"), Ok(-1_000));
        for bad in [
            &b"2024-01-01T00:00:30"[..],
            b"2024-01-01T00:00Z",
            b"2024-1-01T00:00:30Z",
            b"2024-01-01T00:00:30.Z",
            b"2024-01-01T00:00:30Zx",
            b"2024-01-01T00:00:30+0200",
        ] {
            assert_eq!(
                rfc3339_unix_millis(bad),
                Err(HeaderError::Syntax),
                "{bad:?}"
            );
        }
        for bad in [
            &b"2023-02-29T00:00:00Z"[..],
            b"2024-13-01T00:00:00Z",
            b"2024-01-01T24:00:00Z",
            b"2024-01-01T00:00:00+24:00",
        ] {
            assert_eq!(
                rfc3339_unix_millis(bad),
                Err(HeaderError::InvalidDate),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn resets_are_told_apart_by_form() {
        let now = Some(1_704_067_200_000); // 2024-01-01T00:00:00Z
        assert_eq!(reset(b"2024-01-01T00:00:30Z", now), ms(30_000));
        assert_eq!(reset(b"2023-12-31T00:00:30Z", now), ms(0));
        assert_eq!(
            reset(b"2024-01-01T00:00:30Z", None),
            Err(HeaderError::NeedsWallClock)
        );
        assert_eq!(reset(b"6m0s", None), ms(360_000));
        assert_eq!(reset(b"30", None), ms(30_000));
        assert_eq!(reset(b"1704067201.123", now), ms(1_123));
        assert_eq!(reset(b"1704067201123.5", now), ms(1_124));
        assert_eq!(reset(b"1.5", now), ms(1_500));
    }
}
