//! Keys for the keyed limiters: how a borrowed key becomes a stored one, and a compact key for
//! phone numbers and IP addresses.
//!
//! A keyed map's memory is its entries: the key and an 8-byte GCRA state, at a load of one half
//! to seven eighths. A `String` key is 24 bytes in the entry plus its own allocation, and every
//! lookup follows its pointer: another cache miss. [`ShortKey`] keeps up to 16 bytes inline
//! (an E.164 phone number is at most 16 characters with its `+`; an IPv6 address is 16
//! bytes), so an entry is 24 bytes with nothing beside it.
//! [`CompactString`](compact_str::CompactString) keeps up to 24 bytes inline for longer keys
//! (API keys), in a 32-byte entry.

use std::fmt;
use std::net::IpAddr;

/// Makes a stored key from a borrowed one: `K` from `&K` by cloning, and `String` or
/// [`CompactString`](compact_str::CompactString) from `&str`, so string-keyed maps are asked with
/// a `&str` and allocate only for a new key.
pub trait ToKey<K> {
    /// The key to store.
    fn to_key(&self) -> K;
}

impl<K: Clone> ToKey<K> for K {
    fn to_key(&self) -> K {
        self.clone()
    }
}

impl ToKey<String> for str {
    fn to_key(&self) -> String {
        self.to_owned()
    }
}

impl ToKey<compact_str::CompactString> for str {
    fn to_key(&self) -> compact_str::CompactString {
        compact_str::CompactString::new(self)
    }
}

/// A key of at most 16 bytes, inline: a phone number, an IP address, a short account id.
///
/// Strings are stored as their bytes padded with zeros, so a string key may not contain a NUL
/// byte; IP addresses as their 16 IPv6 octets (IPv4 mapped into IPv6). Keep one kind of key per
/// map: a string and an address may share bytes.
///
/// # Examples
///
/// ```
/// use tollgate_std::key::{KeyError, ShortKey};
/// use tollgate_std::{KeyedLimiter, Quota};
///
/// let per_number = KeyedLimiter::<ShortKey>::new(Quota::per_second(1)?);
/// let number = ShortKey::new("+14155550100")?;
/// assert!(per_number.check(&number).is_ok());
/// assert!(per_number.check(&number).is_err());
/// assert_eq!(number.to_string(), "+14155550100");
/// assert_eq!(ShortKey::new("an-api-key-longer-than-16"), Err(KeyError::TooLong(25)));
/// let ip: std::net::IpAddr = "192.0.2.7".parse()?;
/// assert!(per_number.check(&ShortKey::from(ip)).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShortKey([u8; 16]);

/// Why bytes cannot be a [`ShortKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Longer than 16 bytes (the length is given).
    TooLong(usize),
    /// A NUL byte, which the padding would hide.
    Nul,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "a key of {n} bytes is longer than 16"),
            Self::Nul => write!(f, "a key may not contain a NUL byte"),
        }
    }
}

impl std::error::Error for KeyError {}

impl ShortKey {
    /// The most bytes a key holds.
    pub const MAX_LEN: usize = 16;

    /// The key of a string of at most 16 bytes without NUL.
    ///
    /// # Errors
    ///
    /// [`KeyError`] for a longer string or one with a NUL byte.
    pub fn new(key: &str) -> Result<Self, KeyError> {
        Self::from_bytes(key.as_bytes())
    }

    /// The key of at most 16 bytes without NUL.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_bytes(key: &[u8]) -> Result<Self, KeyError> {
        let word = Self::word(key).ok_or(KeyError::TooLong(key.len()))?;
        // The first NUL of the 16 bytes, found in one word rather than a byte at a time: the
        // lowest byte that the "has a zero byte" test marks is the first zero byte (marks above
        // it may be false). One before the key's end is the key's own; the padding is all NUL.
        let ones = u128::MAX / 255;
        let marks = word.wrapping_sub(ones) & !word & (ones << 7);
        if (marks.trailing_zeros() / 8) < key.len() as u32 {
            return Err(KeyError::Nul);
        }
        Ok(Self(word.to_le_bytes()))
    }

    /// The key's bytes, NUL-padded to 16, as one little-endian word (`None` past 16 bytes),
    /// read with two overlapping loads rather than copied through memory: a copy of a key's
    /// length into a zeroed array, read back as a word, stalls on the store (the word spans
    /// the copy's last store and the zeros): a check of a cached phone-number key took 41 ns
    /// with the copy, 25 ns with the loads (bench `keyed/tollgate-ShortKey/phone/1000`).
    fn word(key: &[u8]) -> Option<u128> {
        let n = key.len();
        // Both ends of the key as two words of `W` bytes, the second shifted to end at byte
        // `n`; where they overlap they hold the same bytes, so or-ing them is exact.
        fn ends<const W: usize>(key: &[u8], read: fn([u8; W]) -> u128) -> Option<u128> {
            let (first, last) = (key.first_chunk::<W>()?, key.last_chunk::<W>()?);
            Some(read(*first) | read(*last) << (8 * (key.len() - W)))
        }
        match n {
            0..4 => Some(key.iter().rev().fold(0, |w, &b| w << 8 | u128::from(b))),
            4..8 => ends::<4>(key, |b| u128::from(u32::from_le_bytes(b))),
            8..=16 => ends::<8>(key, |b| u128::from(u64::from_le_bytes(b))),
            _ => None,
        }
    }

    /// The bytes a string key was made of (for an address key: its octets up to the first zero).
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        self.0.get(..len).unwrap_or(&self.0)
    }
}

impl std::hash::Hash for ShortKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One 128-bit word: two multiplies in foldhash, no length prefix.
        state.write_u128(u128::from_ne_bytes(self.0));
    }
}

impl From<IpAddr> for ShortKey {
    fn from(ip: IpAddr) -> Self {
        let v6 = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        Self(v6.octets())
    }
}

impl TryFrom<&str> for ShortKey {
    type Error = KeyError;

    fn try_from(key: &str) -> Result<Self, KeyError> {
        Self::new(key)
    }
}

impl ShortKey {
    /// Whether the bytes read as a string key's: printable UTF-8, then zeros only.
    fn is_text(&self) -> bool {
        let text = self.as_bytes();
        self.0.iter().skip(text.len()).all(|&b| b == 0)
            && std::str::from_utf8(text).is_ok_and(|t| !t.chars().any(char::is_control))
    }
}

impl fmt::Display for ShortKey {
    /// A key that reads as printable text as that text; any other as the IP address of its
    /// octets (`192.0.2.7`, `2001:db8::1`). The empty string and the address `::` are the same
    /// key and show as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_text() {
            return f.write_str(&String::from_utf8_lossy(self.as_bytes()));
        }
        let v6 = std::net::Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => write!(f, "{v4}"),
            None => write!(f, "{v6}"),
        }
    }
}

impl fmt::Debug for ShortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortKey({:?})", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time conversion agrees with the plain rule on any bytes: too long,
        /// a NUL anywhere in the key (zeros are drawn often), or the key padded with NULs.
        #[test]
        fn from_bytes_is_the_plain_rule(
            key in prop::collection::vec(prop_oneof![Just(0u8), Just(0x80), Just(1), any::<u8>()], 0..20)
        ) {
            let expected = if key.len() > ShortKey::MAX_LEN {
                Err(KeyError::TooLong(key.len()))
            } else if key.contains(&0) {
                Err(KeyError::Nul)
            } else {
                let mut bytes = [0; 16];
                bytes[..key.len()].copy_from_slice(&key);
                Ok(ShortKey(bytes))
            };
            prop_assert_eq!(ShortKey::from_bytes(&key), expected);
        }
    }

    #[test]
    fn short_keys_are_inline_and_exact() {
        assert_eq!(std::mem::size_of::<ShortKey>(), 16);
        assert_eq!(std::mem::size_of::<(ShortKey, u64)>(), 24);
        let a = ShortKey::new("+14155550100").unwrap();
        assert_eq!(a.as_bytes(), b"+14155550100");
        assert_ne!(a, ShortKey::new("+1415555010").unwrap());
        assert_eq!(
            ShortKey::new("+123456789012345").unwrap().as_bytes().len(),
            16
        );
        assert_eq!(
            ShortKey::new("+1234567890123456"),
            Err(KeyError::TooLong(17))
        );
        assert_eq!(ShortKey::from_bytes(b"a\0b"), Err(KeyError::Nul));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ShortKey::from(v4), ShortKey::from(v6)); // the same host
        assert_ne!(
            ShortKey::from(v4),
            ShortKey::from("192.0.2.8".parse::<IpAddr>().unwrap())
        );
    }
}
