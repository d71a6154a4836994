//! Bytes per key, tollgate beside governor: `memory [keys]` (default 100,000).
//!
//! tollgate's states and key table live inline, so their cost is `size_of`; the table is sized
//! for the keys (the smallest power-of-two slot count that holds them, as an application would
//! choose). governor's keyed limiters keep one state per key in a heap-allocated map; a counting
//! global allocator measures the heap bytes the map holds after `keys` distinct `u64` keys have
//! each been checked once (live), and the most it held at any moment while they were inserted
//! (peak, which includes the old and new tables side by side during a resize). Requested sizes
//! are counted, not the allocator's own per-block overhead, which is negligible for a few large
//! tables. A std `HashMap<u64, GcraState>` is measured the same way, for reference.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::mem::size_of;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use governor::state::InMemoryState;
use governor::{Quota as GQuota, RateLimiter};
use tollgate_bench::Seed000State;
use tollgate_core::{
    ConcurrencyState, Gcra, GcraState, Instant, KeyTable, LogState, MeterState, Quota, ShaperState,
    WindowState,
};

/// The system allocator, counting the bytes it currently lends out and the most it ever did.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

fn shrink(by: usize) {
    LIVE.fetch_sub(by, Relaxed);
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters are only arithmetic on the sizes and never touch memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout as we were given, per the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout, per the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`, and `new_size` is valid per the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grow(new_size);
            shrink(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes per key: (live after inserting, peak while inserting), measured from the state
/// after `build` (so an empty map's own allocation is not charged to the keys).
fn per_key<T>(keys: u64, build: impl FnOnce() -> T, insert: impl Fn(&mut T, u64)) -> (f64, f64) {
    let mut store = build();
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    for key in 0..keys {
        insert(&mut store, key);
    }
    let live = LIVE.load(Relaxed) - base;
    let peak = PEAK.load(Relaxed) - base;
    drop(store);
    (live as f64 / keys as f64, peak as f64 / keys as f64)
}

fn governor_quota() -> GQuota {
    GQuota::per_second(NonZeroU32::new(1_000).expect("non-zero"))
        .allow_burst(NonZeroU32::new(10).expect("non-zero"))
}

/// One row per store: name, (live, peak) per key.
fn heap_rows(keys: u64) -> Vec<(&'static str, (f64, f64))> {
    // Let governor's default clock (quanta) initialise its globals before anything is counted.
    let warm = RateLimiter::<u64, _, _>::keyed(governor_quota());
    let _ = warm.check_key(&0);
    drop(warm);

    let gcra = Gcra::new(Quota::<1_000_000_000>::per_second(1_000).expect("valid"));
    let now = Instant::<1_000_000_000>::from_ticks(0);
    vec![
        (
            "governor RateLimiter::keyed (DashMap)",
            per_key(
                keys,
                || RateLimiter::<u64, _, _>::keyed(governor_quota()),
                |l, k| assert!(l.check_key(&k).is_ok()),
            ),
        ),
        (
            "governor RateLimiter::hashmap",
            per_key(
                keys,
                || RateLimiter::<u64, _, _>::hashmap(governor_quota()),
                |l, k| assert!(l.check_key(&k).is_ok()),
            ),
        ),
        (
            "std HashMap<u64, GcraState> (reference)",
            per_key(keys, HashMap::<u64, GcraState>::new, |m, k| {
                let s = m.entry(k).or_default();
                assert!(gcra.try_acquire(s, now).is_ok());
            }),
        ),
    ]
}

fn main() {
    let keys = std::env::args()
        .nth(1)
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(100_000);

    println!(
        "{:<48} {:>8}  seed configuration",
        "tollgate state (inline, no heap)", "bytes"
    );
    let states: &[(&str, usize, &str)] = &[
        ("GcraState", size_of::<GcraState>(), "any quota"),
        ("MeterState", size_of::<MeterState>(), "any quota"),
        ("ShaperState", size_of::<ShaperState>(), "any quota"),
        (
            "ConcurrencyState",
            size_of::<ConcurrencyState>(),
            "000: 5 in flight",
        ),
        (
            "WindowState<11>",
            size_of::<WindowState<11>>(),
            "003: 10 per 10 s, 1 s buckets",
        ),
        (
            "WindowState<16>",
            size_of::<WindowState<16>>(),
            "002: 2,300 per 15 min, 1 min buckets",
        ),
        (
            "WindowState<25>",
            size_of::<WindowState<25>>(),
            "002: 105,600 per day, 1 h buckets",
        ),
        (
            "LogState<10>",
            size_of::<LogState<10>>(),
            "003: 10 per 10 s, exact",
        ),
        (
            "LogState<50>",
            size_of::<LogState<50>>(),
            "004: 50 per hour",
        ),
        (
            "LogState<300>",
            size_of::<LogState<300>>(),
            "000: 300 per minute",
        ),
        (
            "LogState<600>",
            size_of::<LogState<600>>(),
            "004: 600 per day",
        ),
        (
            "LogState<900>",
            size_of::<LogState<900>>(),
            "000: 900 per 15 min",
        ),
        (
            "LogState<2300>",
            size_of::<LogState<2_300>>(),
            "002: 2,300 per 15 min, exact",
        ),
        (
            "(ConcurrencyState, GcraState, GcraState)",
            size_of::<Seed000State>(),
            "000: its three limits as one policy",
        ),
        (
            "governor InMemoryState (for scale)",
            size_of::<InMemoryState>(),
            "any quota",
        ),
    ];
    for (name, bytes, seed) in states {
        println!("{name:<48} {bytes:>8}  {seed}");
    }

    println!();
    println!(
        "{:<48} {:>8} {:>10} {:>10}",
        "keyed store (u64 keys; GCRA state unless named)", "keys", "bytes/key", "peak/key"
    );
    for (name, (live, peak)) in heap_rows(keys) {
        println!("{name:<48} {keys:>8} {live:>10.1} {peak:>10.1}");
    }
    // tollgate's tables are inline arrays: their size is fixed by the slot count `N`, whatever
    // the keys. Sized for the keys: the smallest power of two `N` with `N − N/8 ≥ keys`.
    let slots = table_slots(keys);
    let capacity = slots - slots / 8;
    let tables = [
        ("GcraState", table_bytes::<GcraState>(slots)),
        ("seed-000 state", table_bytes::<Seed000State>(slots)),
    ];
    for (state, bytes) in tables {
        let name = format!("tollgate KeyTable<u64, {state}, {slots}>");
        let per_key = bytes as f64 / keys as f64;
        println!("{name:<48} {keys:>8} {per_key:>10.1} {per_key:>10.1}");
    }
    println!();
    println!(
        "{:<48} {:>8} {:>10} {:>10}",
        "tollgate table sizes", "slots", "bytes/slot", "bytes/full"
    );
    for (state, bytes) in tables {
        let name = format!("tollgate KeyTable<u64, {state}, {slots}>");
        let slot = bytes as f64 / slots as f64;
        let full = bytes as f64 / capacity as f64;
        println!("{name:<48} {slots:>8} {slot:>10.1} {full:>10.1}");
    }
}

/// The smallest power-of-two slot count whose capacity (`N − N/8`) holds `keys`.
fn table_slots(keys: u64) -> usize {
    let mut slots = 8usize;
    while ((slots - slots / 8) as u64) < keys {
        slots *= 2;
    }
    slots
}

/// `size_of::<KeyTable<u64, V, slots>>()` for a slot count known only at run time: the table is
/// an array of slots plus a fixed header, so its size is linear in `N`, and two `size_of`s give
/// the slot and the header exactly.
fn table_bytes<V>(slots: usize) -> usize {
    let small = size_of::<KeyTable<u64, V, 1_024>>();
    let large = size_of::<KeyTable<u64, V, 2_048>>();
    let slot = (large - small) / 1_024;
    let header = small - 1_024 * slot;
    assert_eq!(
        size_of::<KeyTable<u64, V, 131_072>>(),
        header + 131_072 * slot
    );
    header + slots * slot
}
