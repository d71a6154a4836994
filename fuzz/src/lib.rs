//! Input pieces shared by the fuzz targets: clock steps and costs decoded with `arbitrary`,
//! sized against the limit under test so that every kind of step is meaningful at every rate,
//! and the framing of raw state records for the `codec` target.
//!
//! The reference models themselves are not here: each target uses its model from the test kit
//! (`tollgate_testkit::models`, and `tollgate_testkit::contract`), the same code the property
//! tests use.

use arbitrary::{Arbitrary, Result, Unstructured};

/// The most operations one input may run: the naive models are quadratic or worse.
pub const MAX_OPS: usize = 96;

/// A sequence of operations that takes every remaining byte, up to [`MAX_OPS`] of them.
///
/// `Vec`'s own `arbitrary` spends a byte per element on "one more?", so random bytes decode to
/// one or two operations; this reads operations back to back until the input runs out.
#[derive(Debug, Clone)]
pub struct Ops<T>(pub Vec<T>);

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Ops<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(T::arbitrary(u)?);
        }
        Ok(Ops(ops))
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

/// How the clock moves before an operation, relative to the limit's unit (an interval, a
/// bucket) and span (a burst's worth of time, a window).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Step {
    /// No time passes.
    Zero,
    /// Less than two units.
    Fraction(u64),
    /// `k` whole units, then −1, 0 or +1 tick.
    Units(u8, i8),
    /// Up to four spans.
    Long(u64),
    /// Any size at all, log-uniformly (saturating at the end of time).
    Huge(u8, u64),
    /// Back by up to two spans.
    Back(u64),
    /// Back by up to one unit.
    BackLittle(u64),
    /// Back by anything.
    BackFar(u64),
    /// To an absolute instant.
    To(u64),
    /// To within three spans of the end of time.
    ToEnd(u64),
}

impl Step {
    /// The next instant after `now`, for a limit of `unit` and `span` ticks (both at least one).
    pub fn apply(self, now: u64, unit: u64, span: u64) -> u64 {
        let unit = unit.max(1);
        let span = span.max(1);
        match self {
            Step::Zero => now,
            Step::Fraction(x) => now.saturating_add(x % unit.saturating_mul(2)),
            Step::Units(k, d) => now
                .saturating_add(u64::from(k % 16).saturating_mul(unit))
                .saturating_add_signed(i64::from(d % 2)),
            Step::Long(x) => now.saturating_add(x % span.saturating_mul(4).saturating_add(1)),
            Step::Huge(bits, x) => now.saturating_add(x >> (bits % 64)),
            Step::Back(x) => now.saturating_sub(x % span.saturating_mul(2).saturating_add(1)),
            Step::BackLittle(x) => now.saturating_sub(x % unit.saturating_add(1)),
            Step::BackFar(x) => now.saturating_sub(x),
            Step::To(x) => x,
            Step::ToEnd(x) => u64::MAX - x % span.saturating_mul(3).saturating_add(1),
        }
    }
}

/// A request's cost, relative to the limit's capacity.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Cost {
    Unit,
    Zero,
    /// Anything from zero to one above the capacity.
    Small(u8),
    /// Exactly the capacity.
    Full,
    /// One above the capacity.
    Over,
    /// Anything at all.
    Any(u32),
}

impl Cost {
    /// The cost for a limit of `capacity`.
    pub fn of(self, capacity: u32) -> u32 {
        match self {
            Cost::Unit => 1,
            Cost::Zero => 0,
            Cost::Small(x) => (u64::from(x) % (u64::from(capacity) + 2))
                .try_into()
                .unwrap_or(u32::MAX),
            Cost::Full => capacity,
            Cost::Over => capacity.saturating_add(1),
            Cost::Any(x) => x,
        }
    }
}

/// Calls `$run::<HZ>($($arg),*)` at one of four tick rates picked by `$sel`.
#[macro_export]
macro_rules! at_rate {
    ($sel:expr, $run:ident($($arg:expr),*)) => {
        match $sel % 4 {
            0 => $run::<1>($($arg),*),
            1 => $run::<1_000>($($arg),*),
            2 => $run::<32_768>($($arg),*),
            _ => $run::<1_000_000_000>($($arg),*),
        }
    };
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), bitwise, written out here so the `codec`
/// target does not trust the library's own.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Bytes a state record takes besides its payload: a five-byte header (magic, version, kind,
/// payload length) and a four-byte checksum.
pub const RECORD_OVERHEAD: usize = 9;

/// Writes a valid checksum into every record of `bytes`, one after another, as their length
/// fields lay them out, so that arbitrary fields reach the decoders' own checks (a forged record;
/// random bytes almost never pass a CRC-32). Stops at the first record that is cut short.
pub fn forge_checksums(bytes: &mut [u8]) {
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + 5) {
        let payload = usize::from(u16::from_le_bytes([header[3], header[4]]));
        let end = at + 5 + payload;
        if end + 4 > bytes.len() {
            return;
        }
        let crc = crc32(&bytes[at..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        at = end + 4;
    }
}
