//! What both bench targets share: the quotas, given to tollgate and to governor alike, and the
//! keys.

use std::fmt::Write as _;
use std::num::NonZeroU32;

use governor::Quota as GQuota;
use tollgate_std::Quota;

/// The per-key quota of the keyed cases: 1 per hour with a burst of 4,000,000, so every key stays
/// held (a tollgate key at rest would be dropped by the sweep; governor keeps every key anyway)
/// and no check is ever denied: a key is checked far fewer than 4,000,000 times in a run.
pub const KEYED_BURST: u32 = 4_000_000;

/// [`KEYED_BURST`] per hour, tollgate's.
pub fn keyed_quota() -> Quota {
    Quota::per_hour(1)
        .and_then(|q| q.with_burst(KEYED_BURST))
        .expect("a valid quota")
}

/// [`KEYED_BURST`] per hour, governor's.
pub fn keyed_governor_quota() -> GQuota {
    GQuota::per_hour(NonZeroU32::MIN).allow_burst(nonzero(KEYED_BURST))
}

pub fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("not zero")
}

/// A bijection on `u64` (splitmix64's finaliser): distinct `i` give distinct keys that look like
/// ids, not a run of small integers.
pub const fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `i`-th `u64` key.
pub const fn u64_key(i: u64) -> u64 {
    mix(i)
}

/// Writes the `i`-th phone number (E.164, 12 bytes: `+14155000000` onwards) into `buf`.
pub fn write_phone(buf: &mut String, i: u64) {
    assert!(i < 1_000_000, "six digits of numbers");
    buf.clear();
    write!(buf, "+1{}", 4_155_000_000 + i).expect("a String takes any write");
}
