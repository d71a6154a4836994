//! Raw encodings of states: bytes out and back in, versioned, checked, for any store.
//!
//! Every state an algorithm keeps can be written as a **record** and read back into a state of
//! the same kind: to flash on a device that must remember its limits across a reset, to a file,
//! to a shared store. A record is a small frame around the state's fields, all little-endian:
//!
//! ```text
//! offset  size  field
//! 0       1     magic, 0x54 ('T')
//! 1       1     format version, 1 (VERSION)
//! 2       1     kind: 1 GCRA, 2 leaky-bucket meter, 3 shaper, 4 concurrency,
//!               5 sliding log, 6 sliding window, 7 unlimited (no fields)
//! 3       2     payload length n, u16
//! 5       n     payload: the kind's fields (below)
//! 5 + n   4     CRC-32 (IEEE 802.3, as zlib's crc32) of bytes 0 .. 5 + n
//! ```
//!
//! | kind | payload |
//! |---|---|
//! | GCRA, shaper | theoretical arrival time (the instant the schedule drains), `u64` ticks |
//! | meter | water level `u64`, then the instant it was measured, `u64` ticks |
//! | concurrency | cost in flight, `u32` |
//! | sliding log | stamp width in bytes (2, 4 or 8), newest instant `u64`, running total before the oldest entry `u32`, entry count `u32`, then per entry oldest first: its stamp (the instant modulo 2^(8·width), of that width) and the running total through it, `u32` |
//! | sliding window | bucket count `u32`, current bucket start `u64`, current bucket index `u32`, total `u32`, then every bucket's count `u32` in storage order |
//! | unlimited | nothing |
//!
//! A policy's state (a tuple or an array of states) is its limits' records one after another.
//!
//! # Guarantee
//!
//! **Decoding never panics and never yields a state that admits what the encoded one would not.**
//! A record that is cut short, has another magic, version or kind, fails its checksum, or whose
//! fields break the state's invariants (a level that drains past the end of time, log stamps out
//! of order, window counts that do not add up to their total, more entries or buckets than the
//! target state holds) is a typed [`CodecError`] and leaves the target state untouched. Random
//! corruption is caught by the CRC-32 (all burst errors up to 32 bits, and all but one in 2^32 of
//! the rest); a record deliberately forged with a valid checksum is, like any state, only as
//! trustworthy as its store.
//!
//! # Examples
//!
//! ```
//! use tollgate_core::{Algorithm, Codec, CodecError, Gcra, Instant, Quota};
//!
//! let gcra = Gcra::new(Quota::<1_000>::per_second(1)?);
//! let mut state = gcra.new_state();
//! gcra.check(&mut state, Instant::from_ticks(5_000), 1)?;
//!
//! let mut record = [0u8; 32];
//! let n = state.encode(&mut record)?; // 17 bytes: 5 of header, 8 of state, 4 of checksum
//! let mut restored = gcra.new_state();
//! assert_eq!(restored.decode_into(&record[..n])?, n);
//! assert_eq!(restored, state);
//!
//! record[7] ^= 0x40; // one flipped bit
//! assert_eq!(restored.decode_into(&record[..n]), Err(CodecError::Checksum));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;

/// The first byte of every record.
pub const MAGIC: u8 = 0x54;

/// Bytes a record takes besides its payload: the header and the checksum.
pub const OVERHEAD: usize = 9;

/// Why a record could not be written or read. A failed read leaves the target state unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CodecError {
    /// The output buffer holds fewer bytes than the record needs.
    BufferTooSmall {
        /// The bytes the record needs.
        needed: usize,
    },
    /// The input ends before the record does.
    Truncated,
    /// The input does not start with a record's magic byte.
    NotARecord,
    /// The record was written by a format version this crate does not read.
    UnsupportedVersion(u8),
    /// The record holds another kind of state than the target.
    WrongKind {
        /// The target's kind.
        expected: u8,
        /// The record's kind.
        found: u8,
    },
    /// The checksum does not match: the record was corrupted.
    Checksum,
    /// The fields break the state's invariants.
    Invalid,
    /// The record holds more entries or buckets than the target state can, or (a sliding
    /// window) a different number of buckets.
    CapacityMismatch,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => write!(f, "the record needs {needed} bytes"),
            Self::Truncated => f.write_str("the record is cut short"),
            Self::NotARecord => f.write_str("not a tollgate state record"),
            Self::UnsupportedVersion(v) => write!(f, "record format version {v} is not supported"),
            Self::WrongKind { expected, found } => {
                write!(
                    f,
                    "a record of kind {found} where kind {expected} was expected"
                )
            }
            Self::Checksum => f.write_str("the record's checksum does not match"),
            Self::Invalid => f.write_str("the record's fields are not a valid state"),
            Self::CapacityMismatch => f.write_str("the record does not fit the target state"),
        }
    }
}

impl core::error::Error for CodecError {}

/// A state that can be written as a record and read back: see the [module docs](self).
pub trait Codec {
    /// The bytes this state's record takes.
    fn encoded_len(&self) -> usize;

    /// Writes the record at the start of `out`, returning its length.
    ///
    /// # Errors
    ///
    /// [`CodecError::BufferTooSmall`]; nothing useful is written then.
    fn encode(&self, out: &mut [u8]) -> Result<usize, CodecError>;

    /// Whether [`decode_into`](Codec::decode_into) of `bytes` would succeed, changing nothing;
    /// the record's length.
    ///
    /// # Errors
    ///
    /// As [`decode_into`](Codec::decode_into).
    fn check(&self, bytes: &[u8]) -> Result<usize, CodecError>;

    /// Reads the record at the start of `bytes` into `self`, returning its length. `self` must
    /// be a state of the same kind and (for sliding logs and windows) of the same configuration,
    /// as [`Algorithm::new_state`](crate::Algorithm::new_state) makes it.
    ///
    /// # Errors
    ///
    /// Every [`CodecError`] but `BufferTooSmall`; `self` is unchanged then.
    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, CodecError>;
}

/// The kinds of record.
pub(crate) mod kind {
    pub const GCRA: u8 = 1;
    pub const METER: u8 = 2;
    pub const SHAPER: u8 = 3;
    pub const CONCURRENCY: u8 = 4;
    pub const SLIDING_LOG: u8 = 5;
    pub const SLIDING_WINDOW: u8 = 6;
    pub const UNLIMITED: u8 = 7;
}

/// Header bytes before the payload.
const HEADER: usize = 5;

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), bitwise: no table, so no flash for one.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Writes a record of `kind` whose payload `write` fills (exactly `payload` bytes) into `out`.
pub(crate) fn write_record(
    out: &mut [u8],
    kind: u8,
    payload: usize,
    write: impl FnOnce(&mut Writer<'_>),
) -> Result<usize, CodecError> {
    let needed = payload.saturating_add(OVERHEAD);
    let len = u16::try_from(payload).map_err(|_| CodecError::BufferTooSmall { needed })?;
    let record = out
        .get_mut(..needed)
        .ok_or(CodecError::BufferTooSmall { needed })?;
    let mut w = Writer { buf: record, at: 0 };
    w.u8(MAGIC);
    w.u8(VERSION);
    w.u8(kind);
    w.bytes(&len.to_le_bytes());
    write(&mut w);
    let end = HEADER.saturating_add(payload);
    let crc = crc32(w.buf.get(..end).unwrap_or(&[]));
    w.at = end;
    w.u32(crc);
    Ok(needed)
}

/// Checks the frame of a record of `kind` at the start of `bytes`: its payload and its length.
pub(crate) fn read_record(bytes: &[u8], kind: u8) -> Result<(Reader<'_>, usize), CodecError> {
    let header = bytes.get(..HEADER).ok_or(CodecError::Truncated)?;
    let [magic, version, found, lo, hi] =
        [0, 1, 2, 3, 4].map(|i| header.get(i).copied().unwrap_or(0));
    if magic != MAGIC {
        return Err(CodecError::NotARecord);
    }
    if version != VERSION {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let payload = usize::from(u16::from_le_bytes([lo, hi]));
    let end = HEADER.saturating_add(payload);
    let total = end.saturating_add(4);
    let record = bytes.get(..total).ok_or(CodecError::Truncated)?;
    let body = record.get(..end).ok_or(CodecError::Truncated)?;
    let crc = record
        .get(end..total)
        .and_then(|c| c.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(CodecError::Truncated)?;
    if crc32(body) != crc {
        return Err(CodecError::Checksum);
    }
    if found != kind {
        return Err(CodecError::WrongKind {
            expected: kind,
            found,
        });
    }
    Ok((
        Reader {
            buf: body.get(HEADER..).unwrap_or(&[]),
            at: 0,
        },
        total,
    ))
}

/// Fills a record's payload; the length was checked, so writes past the end are ignored.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let end = self.at.saturating_add(b.len());
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(b);
        }
        self.at = end;
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// The low `width` bytes of `v` (at most 8), little-endian.
    pub(crate) fn uint(&mut self, v: u64, width: u8) {
        let bytes = v.to_le_bytes();
        self.bytes(bytes.get(..usize::from(width)).unwrap_or(&bytes));
    }
}

/// Reads a record's payload; reading past its end is [`CodecError::Invalid`] (the length field
/// disagrees with the kind).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let end = self.at.saturating_add(N);
        let b = self
            .buf
            .get(self.at..end)
            .and_then(|b| b.try_into().ok())
            .ok_or(CodecError::Invalid)?;
        self.at = end;
        Ok(b)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        self.bytes::<1>().map(|[b]| b)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        self.bytes().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        self.bytes().map(u64::from_le_bytes)
    }

    /// A little-endian integer of `width` bytes (at most 8).
    pub(crate) fn uint(&mut self, width: u8) -> Result<u64, CodecError> {
        let width = usize::from(width);
        let end = self.at.saturating_add(width);
        let src = self.buf.get(self.at..end).ok_or(CodecError::Invalid)?;
        let mut bytes = [0u8; 8];
        bytes
            .get_mut(..width)
            .ok_or(CodecError::Invalid)?
            .copy_from_slice(src);
        self.at = end;
        Ok(u64::from_le_bytes(bytes))
    }

    /// The payload left unread.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }

    /// Ends the read: the whole payload must have been used.
    pub(crate) fn finish(self) -> Result<(), CodecError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(CodecError::Invalid)
        }
    }
}

/// A state of one `u64` field: GCRA's and the shaper's theoretical arrival time.
macro_rules! u64_codec {
    ($state:ty, $kind:expr, $field:ident) => {
        impl $crate::codec::Codec for $state {
            fn encoded_len(&self) -> usize {
                $crate::codec::OVERHEAD.saturating_add(8)
            }

            fn encode(&self, out: &mut [u8]) -> Result<usize, $crate::codec::CodecError> {
                $crate::codec::write_record(out, $kind, 8, |w| w.u64(self.$field))
            }

            fn check(&self, bytes: &[u8]) -> Result<usize, $crate::codec::CodecError> {
                let (mut r, n) = $crate::codec::read_record(bytes, $kind)?;
                r.u64()?;
                r.finish()?;
                Ok(n)
            }

            fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, $crate::codec::CodecError> {
                let (mut r, n) = $crate::codec::read_record(bytes, $kind)?;
                let v = r.u64()?;
                r.finish()?;
                self.$field = v;
                Ok(n)
            }
        }
    };
}
pub(crate) use u64_codec;

impl Codec for () {
    fn encoded_len(&self) -> usize {
        OVERHEAD
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        write_record(out, kind::UNLIMITED, 0, |_| {})
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, CodecError> {
        let (r, n) = read_record(bytes, kind::UNLIMITED)?;
        r.finish()?;
        Ok(n)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, CodecError> {
        self.check(bytes)
    }
}

/// A policy's state: its limits' records one after another. Decoding is all or nothing: every
/// record is checked before any is read into place.
macro_rules! tuple_codec {
    ($($idx:tt : $S:ident),+) => {
        impl<$($S: Codec),+> Codec for ($($S,)+) {
            fn encoded_len(&self) -> usize {
                0usize $(.saturating_add(self.$idx.encoded_len()))+
            }

            fn encode(&self, out: &mut [u8]) -> Result<usize, CodecError> {
                let needed = self.encoded_len();
                if out.len() < needed {
                    return Err(CodecError::BufferTooSmall { needed });
                }
                let mut at = 0usize;
                $(
                    at = at.saturating_add(
                        self.$idx.encode(out.get_mut(at..).unwrap_or(&mut []))?,
                    );
                )+
                Ok(at)
            }

            fn check(&self, bytes: &[u8]) -> Result<usize, CodecError> {
                let mut at = 0usize;
                $(at = at.saturating_add(self.$idx.check(bytes.get(at..).unwrap_or(&[]))?);)+
                Ok(at)
            }

            fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, CodecError> {
                self.check(bytes)?;
                let mut at = 0usize;
                $(
                    at = at.saturating_add(
                        self.$idx.decode_into(bytes.get(at..).unwrap_or(&[]))?,
                    );
                )+
                Ok(at)
            }
        }
    };
}

tuple_codec!(0: S0);
tuple_codec!(0: S0, 1: S1);
tuple_codec!(0: S0, 1: S1, 2: S2);
tuple_codec!(0: S0, 1: S1, 2: S2, 3: S3);
tuple_codec!(0: S0, 1: S1, 2: S2, 3: S3, 4: S4);
tuple_codec!(0: S0, 1: S1, 2: S2, 3: S3, 4: S4, 5: S5);
tuple_codec!(0: S0, 1: S1, 2: S2, 3: S3, 4: S4, 5: S5, 6: S6);
tuple_codec!(0: S0, 1: S1, 2: S2, 3: S3, 4: S4, 5: S5, 6: S6, 7: S7);

/// An array or a slice of states (a policy over an array or a runtime list): the records one
/// after another, all or nothing as for a tuple.
impl<S: Codec> Codec for [S] {
    fn encoded_len(&self) -> usize {
        self.iter()
            .map(Codec::encoded_len)
            .fold(0usize, usize::saturating_add)
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        let needed = self.encoded_len();
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall { needed });
        }
        let mut at = 0usize;
        for s in self {
            at = at.saturating_add(s.encode(out.get_mut(at..).unwrap_or(&mut []))?);
        }
        Ok(at)
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, CodecError> {
        let mut at = 0usize;
        for s in self {
            at = at.saturating_add(s.check(bytes.get(at..).unwrap_or(&[]))?);
        }
        Ok(at)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, CodecError> {
        self.check(bytes)?;
        let mut at = 0usize;
        for s in self.iter_mut() {
            at = at.saturating_add(s.decode_into(bytes.get(at..).unwrap_or(&[]))?);
        }
        Ok(at)
    }
}

impl<S: Codec, const N: usize> Codec for [S; N] {
    fn encoded_len(&self) -> usize {
        self.as_slice().encoded_len()
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        self.as_slice().encode(out)
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, CodecError> {
        self.as_slice().check(bytes)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, CodecError> {
        self.as_mut_slice().decode_into(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_reference_check_value() {
        // The standard check value of CRC-32/ISO-HDLC over "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn an_empty_state_round_trips_and_rejects_garbage() {
        let mut out = [0u8; 16];
        let n = ().encode(&mut out).unwrap();
        assert_eq!(n, OVERHEAD);
        assert_eq!(().decode_into(&out[..n]), Ok(n));
        assert_eq!(().decode_into(&out[..n - 1]), Err(CodecError::Truncated));
        assert_eq!(().decode_into(&[0; 16]), Err(CodecError::NotARecord));
        let mut bad = out;
        bad[1] = 2;
        assert_eq!(().decode_into(&bad), Err(CodecError::UnsupportedVersion(2)));
        assert_eq!(
            ().encode(&mut [0; 4]),
            Err(CodecError::BufferTooSmall { needed: 9 })
        );
    }
}
