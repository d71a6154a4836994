//! Phone numbers in E.164 form, validated, as eight-byte keys.
//!
//! ITU-T E.164 numbers are written `+` then the country code and subscriber number: at most 15
//! digits, the first never `0`. Such a digit string is exactly a positive integer below 10^15
//! (no leading zero to lose), so an [`E164`] is that integer: a `u64` key, hashed and compared
//! as one, and printed back as the same string.
//!
//! Accepted: `+` followed by 7 to 15 ASCII digits, the first `1`-`9` (7 is the shortest in use:
//! a 3-digit country code and a 4-digit subscriber number). No spaces, dashes or brackets: a
//! carrier's API takes the bare form, so anything else is refused rather than guessed at.

use core::fmt;
use core::num::NonZeroU64;

/// An E.164 phone number: see the [module docs](self).
///
/// # Examples
///
/// ```
/// use tollgate_embassy::number::{E164, NumberError};
///
/// let n = E164::parse("+15551234567")?;
/// assert_eq!((n.digits(), n.get()), (11, 15_551_234_567));
/// let mut s = heapless::String::<16>::new();
/// core::fmt::write(&mut s, format_args!("{n}")).unwrap();
/// assert_eq!(s, "+15551234567");
/// assert_eq!(E164::parse("15551234567"), Err(NumberError::MissingPlus));
/// assert_eq!(E164::parse("+1 555 123"), Err(NumberError::NotADigit { at: 2 }));
/// assert_eq!(E164::parse("+0551234567"), Err(NumberError::LeadingZero));
/// # Ok::<(), NumberError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct E164(NonZeroU64);

/// Why a string is not an E.164 number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NumberError {
    /// Nothing was given.
    Empty,
    /// It does not start with `+`.
    MissingPlus,
    /// The byte at this position is not an ASCII digit.
    NotADigit {
        /// Its position in the string.
        at: usize,
    },
    /// The country code starts with `0`.
    LeadingZero,
    /// Fewer than [`E164::MIN_DIGITS`] digits.
    TooShort,
    /// More than [`E164::MAX_DIGITS`] digits.
    TooLong,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no phone number given"),
            Self::MissingPlus => f.write_str("an E.164 number starts with '+'"),
            Self::NotADigit { at } => write!(f, "byte {at} of the number is not a digit"),
            Self::LeadingZero => f.write_str("a country code never starts with 0"),
            Self::TooShort => write!(f, "fewer than {} digits", E164::MIN_DIGITS),
            Self::TooLong => write!(f, "more than {} digits", E164::MAX_DIGITS),
        }
    }
}

impl core::error::Error for NumberError {}

impl E164 {
    /// The fewest digits accepted.
    pub const MIN_DIGITS: u32 = 7;
    /// The most digits E.164 allows.
    pub const MAX_DIGITS: u32 = 15;

    /// Reads `+` and 7 to 15 digits.
    ///
    /// # Errors
    ///
    /// A [`NumberError`] saying what is wrong.
    pub const fn parse(s: &str) -> Result<Self, NumberError> {
        let mut rest = match s.as_bytes() {
            [] => return Err(NumberError::Empty),
            [b'+', rest @ ..] => rest,
            _ => return Err(NumberError::MissingPlus),
        };
        if let [b'0', ..] = rest {
            return Err(NumberError::LeadingZero);
        }
        let mut value: u64 = 0;
        let mut digits: u32 = 0;
        while let [c, tail @ ..] = rest {
            if !c.is_ascii_digit() {
                // `digits` bytes after the `+`.
                return Err(NumberError::NotADigit {
                    at: (digits as usize).saturating_add(1),
                });
            }
            if digits == Self::MAX_DIGITS {
                return Err(NumberError::TooLong);
            }
            // At most 15 digits: below 10^15, far from overflowing.
            value = value
                .wrapping_mul(10)
                .wrapping_add(c.wrapping_sub(b'0') as u64);
            digits = digits.saturating_add(1);
            rest = tail;
        }
        if digits < Self::MIN_DIGITS {
            return Err(NumberError::TooShort);
        }
        match NonZeroU64::new(value) {
            Some(v) => Ok(Self(v)),
            None => Err(NumberError::LeadingZero),
        }
    }

    /// The number from its digits as an integer (`15_551_234_567` for `+15551234567`).
    ///
    /// # Errors
    ///
    /// [`NumberError::TooShort`] or [`NumberError::TooLong`] for fewer than 7 or more than 15
    /// digits (zero has none).
    pub const fn from_u64(digits: u64) -> Result<Self, NumberError> {
        let n = count_digits(digits);
        if n < Self::MIN_DIGITS {
            return Err(NumberError::TooShort);
        }
        if n > Self::MAX_DIGITS {
            return Err(NumberError::TooLong);
        }
        match NonZeroU64::new(digits) {
            Some(v) => Ok(Self(v)),
            None => Err(NumberError::TooShort),
        }
    }

    /// The digits as an integer.
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// How many digits it has (7 to 15).
    pub const fn digits(self) -> u32 {
        count_digits(self.0.get())
    }
}

/// Decimal digits of `n` (0 for 0).
const fn count_digits(n: u64) -> u32 {
    match n.checked_ilog10() {
        Some(log) => log.saturating_add(1),
        None => 0,
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl core::str::FromStr for E164 {
    type Err = NumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert_eq!(E164::parse("+"), Err(NumberError::TooShort));
        assert_eq!(E164::parse("+123456"), Err(NumberError::TooShort));
        assert_eq!(E164::parse("+1234567").map(E164::get), Ok(1_234_567));
        assert_eq!(E164::parse("+999999999999999").map(E164::digits), Ok(15));
        assert_eq!(E164::parse("+9999999999999999"), Err(NumberError::TooLong));
        assert_eq!(
            E164::parse("+99999999999999999999999"),
            Err(NumberError::TooLong)
        );
        assert_eq!(E164::parse(""), Err(NumberError::Empty));
        assert_eq!(
            E164::parse("+1555x234567"),
            Err(NumberError::NotADigit { at: 5 })
        );
        assert_eq!(
            E164::parse("+١٢٣٤٥٦٧٨"),
            Err(NumberError::NotADigit { at: 1 })
        );
        assert_eq!(E164::from_u64(0), Err(NumberError::TooShort));
        assert_eq!(
            E164::from_u64(1_000_000_000_000_000),
            Err(NumberError::TooLong)
        );
    }

    proptest! {
        /// Every valid number prints back as the string it was read from, and every string
        /// either parses to a number that prints back as itself or is refused; never a panic.
        #[test]
        fn round_trips(digits in "[1-9][0-9]{6,14}") {
            let s = String::from("+") + &digits;
            let n = E164::parse(&s).unwrap();
            prop_assert_eq!(n.to_string(), s);
            prop_assert_eq!(E164::from_u64(n.get()), Ok(n));
        }

        #[test]
        fn anything_parses_or_is_refused(s in ".{0,24}") {
            if let Ok(n) = E164::parse(&s) {
                prop_assert_eq!(n.to_string(), s);
            }
        }
    }
}
