//! The naive model of the figures a client must read back from the headers tollgate writes,
//! shared by `props_headers.rs` and the `render` fuzz target: whole seconds rounded up, in wide
//! integers, and which limits each header form shows.
//!
//! Use it as `use tollgate_testkit::models::headers;`.

use tollgate_core::http::BucketInfo;
use tollgate_core::{Duration, QuotaUnit};

/// One limit as written, in ticks.
#[derive(Debug, Clone)]
pub struct Lim {
    pub name: String,
    pub limit: u32,
    pub remaining: u32,
    pub window: u64,
    pub reset: u64,
    pub retry: Option<u64>,
}

/// Whole seconds, rounded up.
pub fn ceil_secs(ticks: u64, hz: u64) -> u64 {
    u64::try_from(u128::from(ticks).div_ceil(u128::from(hz))).unwrap()
}

/// The limits `X-RateLimit-*` shows: every limit in order, or the applicable one (the denier,
/// else the least remaining, first on ties).
pub fn shown(limits: &[Lim], denied: Option<usize>, per_limit: bool) -> Vec<&Lim> {
    if per_limit {
        return limits.iter().collect();
    }
    let least = limits
        .iter()
        .enumerate()
        .min_by_key(|(i, l)| (l.remaining, *i))
        .map(|(i, _)| i);
    vec![&limits[denied.or(least).unwrap()]]
}

/// Whether an `X-RateLimit-Reset` read back as `got_ms` milliseconds fits a reset of `reset`
/// ticks written as delta seconds (`kind` 0, exact whole seconds rounded up), epoch seconds (1:
/// never early, less than a second and a millisecond late) or epoch milliseconds (2: never
/// early, less than two milliseconds late).
pub fn legacy_reset_matches(kind: u8, got_ms: u64, reset: u64, hz: u64) -> bool {
    let got = u128::from(got_ms);
    let exact = u128::from(reset) * 1_000; // ms × HZ
    let hz = u128::from(hz);
    match kind {
        0 => got == u128::from(ceil_secs(reset, hz as u64)) * 1_000,
        1 => got * hz >= exact && got * hz < exact + 1_001 * hz,
        _ => got * hz >= exact && got * hz < exact + 2 * hz,
    }
}

/// The IETF buckets a client reads: every limit, by name, with its window and reset in whole
/// seconds rounded up (a zero window is a concurrency limit).
pub fn ietf(limits: &[Lim], hz: u64) -> Vec<BucketInfo> {
    limits
        .iter()
        .map(|l| {
            let w = ceil_secs(l.window, hz);
            BucketInfo {
                name: Some(l.name.as_str().try_into().unwrap()),
                limit: Some(u64::from(l.limit)),
                window_secs: (w > 0).then_some(w),
                unit: (w == 0).then_some(QuotaUnit::ConcurrentRequests),
                remaining: Some(u64::from(l.remaining)),
                reset: Some(Duration::<1_000>::from_secs(ceil_secs(l.reset, hz))),
            }
        })
        .collect()
}

/// The longest `retry_after` of any limit, in ticks, if `Retry-After` is written at all.
pub fn longest_retry(limits: &[Lim], written: bool) -> Option<u64> {
    limits
        .iter()
        .filter_map(|l| l.retry)
        .max()
        .filter(|_| written)
}

/// `Retry-After` as read back: the longest wait, rounded up to whole seconds.
pub fn retry_after(limits: &[Lim], written: bool, hz: u64) -> Option<Duration<1_000>> {
    longest_retry(limits, written).map(|t| Duration::<1_000>::from_secs(ceil_secs(t, hz)))
}
