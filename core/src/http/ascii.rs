//! The byte-level pieces every header reader shares: optional whitespace and decimal digits.

/// Trims `OWS` (RFC 9110 §5.6.3: spaces and horizontal tabs) from both ends. Nothing else is
/// whitespace in a field value: a CR, LF or form feed stays and makes the value malformed.
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i.saturating_add(1));
    v.get(start..end).unwrap_or(&[])
}

/// Why [`decimal`] read no number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotDecimal {
    /// Empty, or a byte that is not an ASCII digit.
    Syntax,
    /// Only digits, but too many for a `u64`.
    Overflow,
}

/// `1*DIGIT` as a `u64`: a non-empty run of ASCII digits and nothing else (no sign, no
/// whitespace). Callers map the two failures to their own errors or saturate.
pub(crate) fn decimal(digits: &[u8]) -> Result<u64, NotDecimal> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(NotDecimal::Syntax);
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d.wrapping_sub(b'0'))))
            .ok_or(NotDecimal::Overflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spaces_and_tabs_are_trimmed() {
        assert_eq!(trim_ows(b" \t 12 \t"), b"12");
        assert_eq!(trim_ows(b"  \t "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"1 2"), b"1 2");
        assert_eq!(trim_ows(b"\r12\n"), b"\r12\n");
        assert_eq!(trim_ows(b" 12\r\n"), b"12\r\n");
    }

    #[test]
    fn a_decimal_is_a_non_empty_run_of_digits_that_fits_a_u64() {
        assert_eq!(decimal(b"0"), Ok(0));
        assert_eq!(decimal(b"007"), Ok(7));
        assert_eq!(decimal(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(decimal(b"18446744073709551616"), Err(NotDecimal::Overflow));
        assert_eq!(decimal(b"99999999999999999999x"), Err(NotDecimal::Syntax));
        for bad in [&b""[..], b" 1", b"1 ", b"+1", b"-1", b"1.0", b"\xd9\xa1"] {
            assert_eq!(decimal(bad), Err(NotDecimal::Syntax), "{bad:?}");
        }
    }
}
