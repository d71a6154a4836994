//! Decision kernels shared by the criterion benches and the callgrind counter.
//!
//! Each `decide_*` function is one decision, `#[inline(never)]` so that callgrind's
//! `--toggle-collect` counts exactly its instructions and nothing of the driving loop. Each
//! [`Case`] drives one kernel in a loop that keeps it on the intended path (allowed or denied).
//!
//! What a kernel returns is what a caller would use, so the compiler cannot drop work the caller
//! needs: fast paths return the wait (`NotUntil`), `check` kernels the whole `Decision`, governor's
//! kernels the earliest instant to retry. The two original tollgate GCRA cases return a `bool`,
//! as they always did (the CI budget is set on `tollgate-gcra-allowed`); `tollgate-gcra-wait-denied`
//! gives the denial with its wait.
//!
//! The loops put every decision in a steady state, not on a fresh limiter:
//!
//! - **allowed** cases arrive exactly at the rate the limiter admits, after a warm-up (outside
//!   the kernels) that fills the window, so every decision also expires old admissions (a
//!   sliding log drops one entry per decision; a window counter rotates its buckets);
//! - **denied** cases of the windowed algorithms hammer a full window at 1,000 times the rate
//!   it admits, so time advances, admissions keep expiring, and about 999 of 1,000 decisions are
//!   denials (the rest re-admit what expired). GCRA, the meter, the shaper, the policy and the
//!   keyed cases are denied at a fixed instant after the burst; the concurrency limit when full.
//!
//! The windowed algorithms run at limits of 10 and 10,000 per second, the same drive loop at
//! each, to show that the cost of a decision does not grow with the limit. The keyed cases
//! (tollgate's `KeyTable`, governor's `DashMap` store) cycle through 1,000 keys.

use core::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration as StdDuration;

use governor::clock::FakeRelativeClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota as GQuota, RateLimiter};
use tollgate_core::algorithm::sliding_log::{LogStateIn, SlidingLogIn};
use tollgate_core::algorithm::storage::{Element, Storage};
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, Decision, Duration, Gcra, GcraState, Instant,
    InsufficientCapacity, KeyTable, Meter, MeterState, Named, NotUntil, Permit, Policy,
    PolicyDecision, Quota,
    Report, Reservation, Shaper, ShaperState, SlidingLog, SlidingWindow, TableError, WindowState,
};

/// Ticks per second for every tollgate case: nanoseconds, like governor.
pub const HZ: u64 = 1_000_000_000;

/// Buckets of every sliding window case: seed 003's eleven (W = 1 s, so g = 100 ms).
pub const BUCKETS: usize = 11;

/// Warm-up and hammer ratio: a denied case attempts this many times per admission the
/// window allows.
const HAMMER: u64 = 1_000;

/// What one run of a case did.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Decisions admitted, of the `n` asked for.
    pub admitted: u64,
    /// Wall-clock time of the decision loop alone (warm-up excluded), for criterion.
    pub elapsed: StdDuration,
}

/// One benchmark case: a name and a loop of `n` decisions.
pub struct Case {
    /// `library-algorithm[-limit][-variant]-path`, e.g. `tollgate-gcra-allowed`.
    pub name: &'static str,
    /// Runs `n` decisions (after any warm-up) and says how many were admitted.
    pub run: fn(u64) -> Run,
}

macro_rules! cases {
    ($($name:literal => $run:expr,)*) => {
        /// Every case, tollgate's and governor's side by side.
        pub const CASES: &[Case] = &[$(Case { name: $name, run: $run },)*];
    };
}

cases! {
    "tollgate-gcra-allowed" => gcra_allowed,
    "tollgate-gcra-denied" => gcra_denied,
    "tollgate-gcra-wait-denied" => gcra_wait_denied,
    "tollgate-gcra-check-allowed" => gcra_check_allowed,
    "tollgate-gcra-check-denied" => gcra_check_denied,
    "governor-gcra-allowed" => governor_allowed,
    "governor-gcra-denied" => governor_denied,
    "tollgate-meter-check-allowed" => meter_check_allowed,
    "tollgate-meter-check-denied" => meter_check_denied,
    "tollgate-shaper-reserve-allowed" => shaper_allowed,
    "tollgate-shaper-reserve-queued-allowed" => shaper_queued,
    "tollgate-shaper-reserve-denied" => shaper_denied,
    "tollgate-concurrency-allowed" => concurrency_allowed,
    "tollgate-concurrency-denied" => concurrency_denied,
    "tollgate-concurrency-check-allowed" => concurrency_check_allowed,
    "tollgate-concurrency-check-denied" => concurrency_check_denied,
    "tollgate-window-10-allowed" => window_allowed::<10>,
    "tollgate-window-10-denied" => window_denied::<10>,
    "tollgate-window-10-check-allowed" => window_check_allowed::<10>,
    "tollgate-window-10-check-denied" => window_check_denied::<10>,
    "tollgate-window-10000-allowed" => window_allowed::<10_000>,
    "tollgate-window-10000-denied" => window_denied::<10_000>,
    "tollgate-window-10000-check-allowed" => window_check_allowed::<10_000>,
    "tollgate-window-10000-check-denied" => window_check_denied::<10_000>,
    "tollgate-window-10000-sparse-allowed" => window_sparse_allowed,
    "tollgate-log-10-allowed" => log_allowed::<10>,
    "tollgate-log-10-denied" => log_denied::<10>,
    "tollgate-log-10-check-allowed" => log_check_allowed::<10>,
    "tollgate-log-10-check-denied" => log_check_denied::<10>,
    "tollgate-log-10000-allowed" => log_allowed::<10_000>,
    "tollgate-log-10000-denied" => log_denied::<10_000>,
    "tollgate-log-10000-check-allowed" => log_check_allowed::<10_000>,
    "tollgate-log-10000-check-denied" => log_check_denied::<10_000>,
    "tollgate-log-runtime-10000-allowed" => runtime_log_allowed,
    "tollgate-log-runtime-10000-denied" => runtime_log_denied,
    "tollgate-log-runtime-10000-check-allowed" => runtime_log_check_allowed,
    "tollgate-log-runtime-10000-check-denied" => runtime_log_check_denied,
    "tollgate-policy-check-allowed" => policy_check_allowed,
    "tollgate-policy-check-denied" => policy_check_denied,
    "tollgate-table-gcra-allowed" => table_allowed,
    "tollgate-table-gcra-denied" => table_denied,
    "tollgate-table-gcra-check-allowed" => table_check_allowed,
    "tollgate-table-gcra-check-denied" => table_check_denied,
    "tollgate-table-siphash-gcra-allowed" => table_siphash_allowed,
    "governor-keyed-allowed" => governor_keyed_allowed,
    "governor-keyed-denied" => governor_keyed_denied,
}

/// Times the decision loop `f` and wraps its admitted count.
fn timed(f: impl FnOnce() -> usize) -> Run {
    let start = std::time::Instant::now();
    let admitted = f() as u64;
    Run {
        admitted,
        elapsed: start.elapsed(),
    }
}

const fn at(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

/// The quota every GCRA, meter and shaper case uses: 1,000 per second, burst 10.
fn quota() -> Quota<HZ> {
    Quota::<HZ>::per_second(1_000)
        .and_then(|q| q.with_burst(10))
        .expect("valid quota")
}

fn governor_quota() -> GQuota {
    GQuota::per_second(NonZeroU32::new(1_000).expect("non-zero"))
        .allow_burst(NonZeroU32::new(10).expect("non-zero"))
}

// ---------------------------------------------------------------------------------------------
// Kernels: one decision each, never inlined.

/// One GCRA fast-path decision with `now` given, as a `bool` (the CI-gated kernel: a caller
/// that only asks "admitted?" lets the compiler drop the wait).
#[inline(never)]
pub fn decide_gcra(g: &Gcra<HZ>, s: &mut GcraState, now: Instant<HZ>) -> bool {
    g.try_acquire(s, now).is_ok()
}

/// One GCRA fast-path decision with `now` given: admitted, or the exact wait.
#[inline(never)]
pub fn decide_gcra_wait(
    g: &Gcra<HZ>,
    s: &mut GcraState,
    now: Instant<HZ>,
) -> Result<(), NotUntil<HZ>> {
    g.try_acquire(s, now)
}

/// One GCRA decision with the full `Decision` (remaining, reset, retry-after), all of it used.
#[inline(never)]
pub fn decide_gcra_check(
    g: &Gcra<HZ>,
    s: &mut GcraState,
    now: Instant<HZ>,
) -> Option<Decision<HZ>> {
    g.check(s, now, 1).ok()
}

/// One leaky-bucket meter decision (it has no separate fast path).
#[inline(never)]
pub fn decide_meter_check(
    m: &Meter<HZ>,
    s: &mut MeterState,
    now: Instant<HZ>,
) -> Option<Decision<HZ>> {
    m.check(s, now, 1).ok()
}

/// One shaper reservation: the instant to proceed at and the full `Decision`.
#[inline(never)]
pub fn decide_shaper(
    sh: &Shaper<HZ>,
    s: &mut ShaperState,
    now: Instant<HZ>,
) -> Option<Reservation<HZ>> {
    sh.reserve(s, now, 1).ok()
}

/// One concurrency fast-path acquisition: a permit, or the configured retry hint.
#[inline(never)]
pub fn decide_concurrency(
    c: &Concurrency<HZ>,
    s: &mut ConcurrencyState,
) -> Result<Permit, NotUntil<HZ>> {
    c.try_acquire(s)
}

/// One concurrency decision with the full `Decision` (the trait's `now`, which a concurrency
/// limit ignores, is a constant).
#[inline(never)]
pub fn decide_concurrency_check(
    c: &Concurrency<HZ>,
    s: &mut ConcurrencyState,
) -> Option<Decision<HZ>> {
    c.check(s, at(0), 1).ok()
}

/// One sliding-window-counter fast-path decision: admitted, or the exact wait.
#[inline(never)]
pub fn decide_window(
    w: &SlidingWindow<HZ, BUCKETS>,
    s: &mut WindowState<BUCKETS>,
    now: Instant<HZ>,
) -> Result<(), NotUntil<HZ>> {
    w.try_acquire(s, now)
}

/// One sliding-window-counter decision with the full `Decision`.
#[inline(never)]
pub fn decide_window_check(
    w: &SlidingWindow<HZ, BUCKETS>,
    s: &mut WindowState<BUCKETS>,
    now: Instant<HZ>,
) -> Option<Decision<HZ>> {
    w.check(s, now, 1).ok()
}

/// One sliding-log fast-path decision: admitted, or the exact wait. `S` is where the ring lives:
/// inline (`SlidingLog<HZ, N>`) or in a boxed slice sized at run time ([`Boxed`]).
#[inline(never)]
pub fn decide_log<S: Storage>(
    l: &SlidingLogIn<HZ, u32, S>,
    s: &mut LogStateIn<u32, S>,
    now: Instant<HZ>,
) -> Result<(), NotUntil<HZ>> {
    l.try_acquire(s, now)
}

/// One sliding-log decision with the full `Decision`.
#[inline(never)]
pub fn decide_log_check<S: Storage>(
    l: &SlidingLogIn<HZ, u32, S>,
    s: &mut LogStateIn<u32, S>,
    now: Instant<HZ>,
) -> Option<Decision<HZ>> {
    l.check(s, now, 1).ok()
}

/// Elements in a boxed slice of exactly the length a configuration asks for: the storage of a
/// sliding log whose size is read at run time, as an adapter with an allocator provides it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Boxed;

impl Storage for Boxed {
    type Buf<T: Element> = Box<[T]>;

    fn holds(_len: usize) -> bool {
        true
    }

    fn buffer<T: Element>(len: usize) -> Box<[T]> {
        vec![T::default(); len].into_boxed_slice()
    }
}

/// Seed 000 as one policy: 5 in flight, 300 per minute (burst 5) and 900 per 15 minutes.
pub type Seed000 = Policy<(Named<Concurrency<HZ>>, Named<Gcra<HZ>>, Named<Gcra<HZ>>)>;

/// Its state: `(ConcurrencyState, GcraState, GcraState)`.
pub type Seed000State = (ConcurrencyState, GcraState, GcraState);

/// One policy decision (`Policy::check`): one step per limit, then, when all admit, one record
/// per limit; three reports.
#[inline(never)]
pub fn decide_policy<'p>(
    p: &'p Seed000,
    s: &mut Seed000State,
    now: Instant<HZ>,
) -> Result<PolicyDecision<HZ, [Report<'p, HZ>; 3]>, InsufficientCapacity> {
    // The `Result` itself, as a caller would match on it: turning it into an `Option` would copy
    // the three reports once more, which no caller needs.
    p.check(s, now, 1)
}

/// Key-table slots in the keyed cases: room for [`KEYS`] at a load under one half.
pub const SLOTS: usize = 2_048;

/// tollgate's key table of GCRA states, refusing new keys when full, with its default hasher
/// (FNV-1a, unkeyed) or any other.
pub type Table<S = tollgate_core::table::Fnv1a> =
    KeyTable<u64, GcraState, SLOTS, tollgate_core::table::Deny, S>;

/// One keyed fast-path decision: find or insert the key, `try_acquire`, drop the entry if at
/// rest.
#[inline(never)]
pub fn decide_table<S: std::hash::BuildHasher>(
    t: &mut Table<S>,
    g: &Gcra<HZ>,
    key: u64,
    now: Instant<HZ>,
) -> Result<Result<(), NotUntil<HZ>>, TableError<HZ>> {
    t.update(g, key, now, |g, s| g.try_acquire(s, now))
}

/// One keyed decision with the full `Decision`.
#[inline(never)]
pub fn decide_table_check(
    t: &mut Table,
    g: &Gcra<HZ>,
    key: u64,
    now: Instant<HZ>,
) -> Result<Decision<HZ>, TableError<HZ>> {
    t.check(g, key, now, 1)
}

type Governor = RateLimiter<NotKeyed, InMemoryState, FakeRelativeClock, NoOpMiddleware<Nanos>>;

/// governor's keyed limiter with its default store (a `DashMap` with std's SipHash).
pub type GovernorKeyed =
    RateLimiter<u64, DashMapStateStore<u64>, FakeRelativeClock, NoOpMiddleware<Nanos>>;

/// One governor decision (it reads its own clock: here a fake one, one atomic load): admitted,
/// or the earliest instant it would be (`NotUntil::earliest_possible`, the counterpart of
/// tollgate's wait). One kernel for both paths: with two callers LLVM stops inlining governor's
/// `measure_and_replace` and the count more than doubles, which no application would see.
#[inline(never)]
pub fn decide_governor(l: &Governor) -> Result<(), Nanos> {
    l.check().map_err(|not| not.earliest_possible())
}

/// One governor keyed decision (hash, shard lock, look-up, GCRA): admitted, or the earliest
/// instant it would be.
#[inline(never)]
pub fn decide_governor_keyed(l: &GovernorKeyed, key: &u64) -> Result<(), Nanos> {
    l.check_key(key).map_err(|not| not.earliest_possible())
}

// ---------------------------------------------------------------------------------------------
// GCRA, governor and the leaky bucket: one request per interval (allowed) or a fixed instant
// after the burst (denied).

fn gcra_allowed(n: u64) -> Run {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let step = g.quota().interval().as_ticks();
    timed(|| {
        (0..n)
            .filter(|i| decide_gcra(&g, &mut s, at(black_box(i * step))))
            .count()
    })
}

fn gcra_denied(n: u64) -> Run {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let now = at(0);
    timed(|| {
        (0..n)
            .filter(|_| decide_gcra(&g, &mut s, black_box(now)))
            .count()
    })
}

fn gcra_wait_denied(n: u64) -> Run {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let now = at(0);
    timed(|| {
        (0..n)
            .filter(|_| decide_gcra_wait(&g, &mut s, black_box(now)).is_ok())
            .count()
    })
}

fn gcra_check_allowed(n: u64) -> Run {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let step = g.quota().interval().as_ticks();
    timed(|| {
        (0..n)
            .filter(|i| {
                black_box(decide_gcra_check(&g, &mut s, at(black_box(i * step))))
                    .is_some_and(|d| d.is_allowed())
            })
            .count()
    })
}

fn gcra_check_denied(n: u64) -> Run {
    let g = black_box(Gcra::new(quota()));
    let mut s = GcraState::new();
    let now = at(0);
    timed(|| {
        (0..n)
            .filter(|_| {
                black_box(decide_gcra_check(&g, &mut s, black_box(now)))
                    .is_some_and(|d| d.is_allowed())
            })
            .count()
    })
}

fn governor_allowed(n: u64) -> Run {
    let clock = FakeRelativeClock::default();
    let l = RateLimiter::direct_with_clock(governor_quota(), clock.clone());
    let step = StdDuration::from_millis(1);
    timed(|| {
        (0..n)
            .filter(|_| {
                clock.advance(step);
                decide_governor(&l).is_ok()
            })
            .count()
    })
}

fn governor_denied(n: u64) -> Run {
    let l = RateLimiter::direct_with_clock(governor_quota(), FakeRelativeClock::default());
    timed(|| (0..n).filter(|_| decide_governor(&l).is_ok()).count())
}

fn meter_check_allowed(n: u64) -> Run {
    let m = black_box(Meter::new(quota()));
    let mut s = MeterState::new();
    let step = m.quota().interval().as_ticks();
    timed(|| {
        (0..n)
            .filter(|i| {
                black_box(decide_meter_check(&m, &mut s, at(black_box(i * step))))
                    .is_some_and(|d| d.is_allowed())
            })
            .count()
    })
}

fn meter_check_denied(n: u64) -> Run {
    let m = black_box(Meter::new(quota()));
    let mut s = MeterState::new();
    let now = at(0);
    timed(|| {
        (0..n)
            .filter(|_| {
                black_box(decide_meter_check(&m, &mut s, black_box(now)))
                    .is_some_and(|d| d.is_allowed())
            })
            .count()
    })
}

/// GCRA's quota, with up to 10 ms (ten requests) of queueing.
fn shaper() -> Shaper<HZ> {
    Shaper::new(quota(), Duration::<HZ>::from_millis(10)).expect("valid shaper")
}

fn shaper_allowed(n: u64) -> Run {
    let sh = black_box(shaper());
    let mut s = ShaperState::new();
    let step = sh.quota().interval().as_ticks();
    timed(|| {
        (0..n)
            .filter(|i| {
                black_box(decide_shaper(&sh, &mut s, at(black_box(i * step))))
                    .is_some_and(|r| r.is_accepted())
            })
            .count()
    })
}

/// The burst and the queue filled at instant 0, then one arrival per interval: every request
/// is accepted with the same 10 ms delay.
fn shaper_queued(n: u64) -> Run {
    let sh = black_box(shaper());
    let mut s = ShaperState::new();
    let step = sh.quota().interval().as_ticks();
    while sh.reserve(&mut s, at(0), 1).is_ok_and(|r| r.is_accepted()) {}
    timed(|| {
        (0..n)
            .filter(|i| {
                black_box(decide_shaper(&sh, &mut s, at(black_box((i + 1) * step))))
                    .is_some_and(|r| r.is_accepted() && r.delay.as_ticks() > 0)
            })
            .count()
    })
}

fn shaper_denied(n: u64) -> Run {
    let sh = black_box(shaper());
    let mut s = ShaperState::new();
    let now = at(0);
    timed(|| {
        (0..n)
            .filter(|_| {
                black_box(decide_shaper(&sh, &mut s, black_box(now)))
                    .is_some_and(|r| r.is_accepted())
            })
            .count()
    })
}

// ---------------------------------------------------------------------------------------------
// Concurrency: acquire then release (allowed), or acquire on a full limit (denied).

/// Seed 000: five requests in flight.
fn concurrency() -> Concurrency<HZ> {
    Concurrency::new(5).expect("valid limit")
}

/// Gives a permit back, outside the counted kernel.
#[inline(never)]
fn release(c: &Concurrency<HZ>, s: &mut ConcurrencyState, p: Permit) {
    c.release_permit(s, p).expect("held");
}

fn concurrency_allowed(n: u64) -> Run {
    let c = black_box(concurrency());
    let mut s = ConcurrencyState::new();
    // Four in flight already: the fifth slot is taken and given back each time.
    let held: Vec<Permit> = (0..4).filter_map(|_| c.try_acquire(&mut s).ok()).collect();
    let run = timed(|| {
        (0..n)
            .filter(|_| match decide_concurrency(&c, &mut s) {
                Ok(p) => {
                    release(&c, &mut s, p);
                    true
                }
                Err(_) => false,
            })
            .count()
    });
    held.into_iter().for_each(|p| release(&c, &mut s, p));
    run
}

fn concurrency_denied(n: u64) -> Run {
    let c = black_box(concurrency());
    let mut s = ConcurrencyState::new();
    let held: Vec<Permit> = (0..5).filter_map(|_| c.try_acquire(&mut s).ok()).collect();
    let run = timed(|| {
        (0..n)
            .filter(|_| match decide_concurrency(&c, &mut s) {
                Ok(p) => {
                    release(&c, &mut s, p);
                    true
                }
                Err(_) => false,
            })
            .count()
    });
    held.into_iter().for_each(|p| release(&c, &mut s, p));
    run
}

#[inline(never)]
fn release_one(c: &Concurrency<HZ>, s: &mut ConcurrencyState) {
    c.release(s, 1).expect("held");
}

fn concurrency_check_allowed(n: u64) -> Run {
    let c = black_box(concurrency());
    let mut s = ConcurrencyState::new();
    for _ in 0..4 {
        c.check(&mut s, at(0), 1).expect("fits");
    }
    timed(|| {
        (0..n)
            .filter(|_| {
                let allowed =
                    black_box(decide_concurrency_check(&c, &mut s)).is_some_and(|d| d.is_allowed());
                if allowed {
                    release_one(&c, &mut s);
                }
                allowed
            })
            .count()
    })
}

fn concurrency_check_denied(n: u64) -> Run {
    let c = black_box(concurrency());
    let mut s = ConcurrencyState::new();
    for _ in 0..5 {
        c.check(&mut s, at(0), 1).expect("fits");
    }
    timed(|| {
        (0..n)
            .filter(|_| {
                black_box(decide_concurrency_check(&c, &mut s)).is_some_and(|d| d.is_allowed())
            })
            .count()
    })
}

// ---------------------------------------------------------------------------------------------
// Sliding window counter: N per second in 11 buckets of 100 ms (so S = 1.1 s), N = 10 and
// 10,000.

fn window<const N: u32>() -> SlidingWindow<HZ, BUCKETS> {
    let q = Quota::<HZ>::per_second(N).expect("valid quota");
    SlidingWindow::new(q).expect("valid window")
}

/// Drives a window: warm-up at the admitted rate for one span `S`, then `n` decisions `step`
/// apart, each one `decide`d.
fn window_loop<const N: u32>(
    n: u64,
    hammer: bool,
    decide: impl Fn(&SlidingWindow<HZ, BUCKETS>, &mut WindowState<BUCKETS>, Instant<HZ>) -> bool,
) -> Run {
    let w = black_box(window::<N>());
    let mut s = WindowState::new();
    // At most N per S is always admitted: one request every S/N.
    let rate = w.span().as_ticks().div_ceil(u64::from(N));
    let mut t = 0;
    for _ in 0..N {
        assert!(w.try_acquire(&mut s, at(t)).is_ok(), "warm-up is admitted");
        t += rate;
    }
    let step = if hammer { rate / HAMMER } else { rate };
    timed(|| {
        (0..n)
            .filter(|_| {
                let ok = decide(&w, &mut s, at(black_box(t)));
                t += step;
                ok
            })
            .count()
    })
}

fn window_allowed<const N: u32>(n: u64) -> Run {
    window_loop::<N>(n, false, |w, s, t| decide_window(w, s, t).is_ok())
}

/// The 10,000 limit driven at the 10 limit's pace (one request per 110 ms): the bucket rotations
/// per decision of `tollgate-window-10-allowed`, with N a thousand times larger.
fn window_sparse_allowed(n: u64) -> Run {
    let w = black_box(window::<10_000>());
    let mut s = WindowState::new();
    let step = w.span().as_ticks().div_ceil(10);
    timed(|| {
        (0..n)
            .filter(|i| decide_window(&w, &mut s, at(black_box(i * step))).is_ok())
            .count()
    })
}

fn window_denied<const N: u32>(n: u64) -> Run {
    window_loop::<N>(n, true, |w, s, t| decide_window(w, s, t).is_ok())
}

fn window_check(
    w: &SlidingWindow<HZ, BUCKETS>,
    s: &mut WindowState<BUCKETS>,
    now: Instant<HZ>,
) -> bool {
    black_box(decide_window_check(w, s, now)).is_some_and(|d| d.is_allowed())
}

fn window_check_allowed<const N: u32>(n: u64) -> Run {
    window_loop::<N>(n, false, window_check)
}

fn window_check_denied<const N: u32>(n: u64) -> Run {
    window_loop::<N>(n, true, window_check)
}

// ---------------------------------------------------------------------------------------------
// Sliding log: N per second with a ring of exactly N entries (u32 stamps), N = 10 and 10,000.

fn log<const N: usize>() -> SlidingLog<HZ, N> {
    let q = Quota::<HZ>::per_second(u32::try_from(N).expect("fits")).expect("valid quota");
    SlidingLog::new(q).expect("valid log")
}

/// The same log with its ring sized at run time, in a boxed slice.
fn runtime_log(n: u32) -> SlidingLogIn<HZ, u32, Boxed> {
    SlidingLogIn::with_capacity(n, Duration::<HZ>::from_secs(1), n as usize).expect("valid log")
}

/// Drives a log: warm-up at the admitted rate for one window (the ring is then full of live
/// entries), then `n` decisions `step` apart, each one `decide`d. At the rate, every decision
/// drops the entry that has just expired and appends one.
fn log_loop<S: Storage>(
    l: SlidingLogIn<HZ, u32, S>,
    n: u64,
    hammer: bool,
    decide: impl Fn(&SlidingLogIn<HZ, u32, S>, &mut LogStateIn<u32, S>, Instant<HZ>) -> bool,
) -> Run {
    let l = black_box(l);
    // Boxed: the 10,000-entry ring is 80 KB.
    let mut s = Box::new(l.new_state());
    // One admission every W/N, rounded up as a quota's interval is.
    let rate = l.window().as_ticks().div_ceil(u64::from(l.limit()));
    let mut t = 0;
    for _ in 0..l.limit() {
        assert!(l.try_acquire(&mut s, at(t)).is_ok(), "warm-up is admitted");
        t += rate;
    }
    let step = if hammer { rate / HAMMER } else { rate };
    timed(|| {
        (0..n)
            .filter(|_| {
                let ok = decide(&l, &mut s, at(black_box(t)));
                t += step;
                ok
            })
            .count()
    })
}

fn log_fast<S: Storage>(l: &SlidingLogIn<HZ, u32, S>, s: &mut LogStateIn<u32, S>, t: Instant<HZ>) -> bool {
    decide_log(l, s, t).is_ok()
}

fn log_check<S: Storage>(l: &SlidingLogIn<HZ, u32, S>, s: &mut LogStateIn<u32, S>, now: Instant<HZ>) -> bool {
    black_box(decide_log_check(l, s, now)).is_some_and(|d| d.is_allowed())
}

fn log_allowed<const N: usize>(n: u64) -> Run {
    log_loop(log::<N>(), n, false, log_fast)
}

fn log_denied<const N: usize>(n: u64) -> Run {
    log_loop(log::<N>(), n, true, log_fast)
}

fn log_check_allowed<const N: usize>(n: u64) -> Run {
    log_loop(log::<N>(), n, false, log_check)
}

fn log_check_denied<const N: usize>(n: u64) -> Run {
    log_loop(log::<N>(), n, true, log_check)
}

fn runtime_log_allowed(n: u64) -> Run {
    log_loop(runtime_log(10_000), n, false, log_fast)
}

fn runtime_log_denied(n: u64) -> Run {
    log_loop(runtime_log(10_000), n, true, log_fast)
}

fn runtime_log_check_allowed(n: u64) -> Run {
    log_loop(runtime_log(10_000), n, false, log_check)
}

fn runtime_log_check_denied(n: u64) -> Run {
    log_loop(runtime_log(10_000), n, true, log_check)
}

// ---------------------------------------------------------------------------------------------
// A policy: seed 000's three limits checked as one.

fn seed_000() -> Seed000 {
    let minute = Quota::<HZ>::per_minute(300).expect("valid quota");
    let quarter = Quota::<HZ>::new(900, Duration::<HZ>::from_secs(15 * 60)).expect("valid quota");
    Policy::new((
        Named::new("concurrent", concurrency()),
        Named::new(
            "minute",
            Gcra::new(minute.with_burst(5).expect("valid burst")),
        ),
        Named::new("quarter", Gcra::new(quarter)),
    ))
}

/// Gives a policy's in-flight slot back, outside the counted kernel.
#[inline(never)]
fn release_policy(p: &Seed000, s: &mut Seed000State) {
    p.release(s, 1).expect("held");
}

/// Seed 000's advice for continuous use, one request per second: every limit admits, every
/// request is released before the next.
fn policy_check_allowed(n: u64) -> Run {
    let p = black_box(seed_000());
    let mut s = p.new_state();
    let step = Duration::<HZ>::from_secs(1).as_ticks();
    timed(|| {
        (0..n)
            .filter(|i| {
                let allowed = black_box(decide_policy(&p, &mut s, at(black_box(i * step))))
                    .is_ok_and(|d| d.is_allowed());
                if allowed {
                    release_policy(&p, &mut s);
                }
                allowed
            })
            .count()
    })
}

/// The minute's burst of 5 spent at one instant: every further request there is denied by it.
fn policy_check_denied(n: u64) -> Run {
    let p = black_box(seed_000());
    let mut s = p.new_state();
    let now = at(0);
    timed(|| {
        (0..n)
            .filter(|_| {
                let allowed = black_box(decide_policy(&p, &mut s, black_box(now)))
                    .is_ok_and(|d| d.is_allowed());
                if allowed {
                    release_policy(&p, &mut s);
                }
                allowed
            })
            .count()
    })
}

// ---------------------------------------------------------------------------------------------
// Keyed: tollgate's KeyTable and governor's DashMap store, GCRA per key, 1,000 keys in turn, each
// visited once per millisecond (its exact rate: allowed) or at one instant after its burst
// (denied).

/// Keys in the keyed cases, each visited once per round.
pub const KEYS: u64 = 1_000;

/// Ticks between two keyed decisions: a round of all keys takes one interval.
const KEY_TICK: u64 = 1_000_000 / KEYS;

fn table_loop<S: std::hash::BuildHasher>(
    n: u64,
    mut t: Box<Table<S>>,
    allowed: bool,
    decide: impl Fn(&mut Table<S>, &Gcra<HZ>, u64, Instant<HZ>) -> bool,
) -> Run {
    let g = black_box(Gcra::new(quota()));
    for key in 0..KEYS {
        if allowed {
            assert!(
                t.update(&g, key, at(0), |g, s| g.try_acquire(s, at(0)).is_ok())
                    .expect("room")
            );
        } else {
            while t
                .update(&g, key, at(0), |g, s| g.try_acquire(s, at(0)).is_ok())
                .expect("room")
            {}
        }
    }
    assert_eq!(t.len() as u64, KEYS);
    timed(|| {
        (0..n)
            .filter(|i| {
                let now = if allowed {
                    at((i + 1) * KEY_TICK)
                } else {
                    at(0)
                };
                decide(&mut t, &g, black_box(i % KEYS), black_box(now))
            })
            .count()
    })
}

fn fast(t: &mut Table, g: &Gcra<HZ>, key: u64, now: Instant<HZ>) -> bool {
    decide_table(t, g, key, now).is_ok_and(|r| r.is_ok())
}

fn full(t: &mut Table, g: &Gcra<HZ>, key: u64, now: Instant<HZ>) -> bool {
    black_box(decide_table_check(t, g, key, now)).is_ok_and(|d| d.is_allowed())
}

fn table_allowed(n: u64) -> Run {
    table_loop(n, Box::new(Table::new()), true, fast)
}

fn table_denied(n: u64) -> Run {
    table_loop(n, Box::new(Table::new()), false, fast)
}

fn table_check_allowed(n: u64) -> Run {
    table_loop(n, Box::new(Table::new()), true, full)
}

fn table_check_denied(n: u64) -> Run {
    table_loop(n, Box::new(Table::new()), false, full)
}

/// The table with std's keyed SipHash-1-3, governor's default hasher.
fn table_siphash_allowed(n: u64) -> Run {
    let t = Box::new(Table::with_hasher(std::hash::RandomState::new()));
    table_loop(n, t, true, |t, g, key, now| {
        decide_table(t, g, key, now).is_ok_and(|r| r.is_ok())
    })
}

fn governor_keyed_allowed(n: u64) -> Run {
    let clock = FakeRelativeClock::default();
    let l: GovernorKeyed = RateLimiter::dashmap_with_clock(governor_quota(), clock.clone());
    // Every key once, then each key once per millisecond: its exact rate.
    let tick = StdDuration::from_nanos(KEY_TICK);
    for key in 0..KEYS {
        assert!(l.check_key(&key).is_ok(), "warm-up is admitted");
    }
    timed(|| {
        (0..n)
            .filter(|i| {
                clock.advance(tick);
                decide_governor_keyed(&l, &black_box(i % KEYS)).is_ok()
            })
            .count()
    })
}

fn governor_keyed_denied(n: u64) -> Run {
    let l: GovernorKeyed =
        RateLimiter::dashmap_with_clock(governor_quota(), FakeRelativeClock::default());
    for key in 0..KEYS {
        while l.check_key(&key).is_ok() {}
    }
    timed(|| {
        (0..n)
            .filter(|i| decide_governor_keyed(&l, &black_box(i % KEYS)).is_ok())
            .count()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As many decisions as `.ci/bench.sh` counts by default.
    const N: u64 = 1_000_000;

    #[test]
    fn every_case_stays_on_its_path() {
        for c in CASES {
            let admitted = (c.run)(N).admitted;
            if c.name.ends_with("allowed") {
                assert_eq!(admitted, N, "{}", c.name);
            } else {
                // Denied at a fixed instant: at most the burst. Hammering a window: one in 1,000
                // on average, but a window counter re-admits a whole bucket's worth at once when
                // it expires (about 900 at a time at the 10,000 limit).
                assert!(admitted <= N / 100, "{}: {admitted}", c.name);
            }
        }
    }

    #[test]
    fn case_names_are_unique_and_shell_safe() {
        let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
    }
}
