//! Sliding window counter: seed 003's "1 per second averaged over 10 s" as 10 per 10 s in
//! `B = 11` one-second buckets, its measured rate ("Your rate is: 1.1"), a clock that goes
//! backwards, the fast path on a `static` limiter and state, and the configuration errors.
//!
//! Worked from the module's scheme: with `W` = 10 s and `B` = 11, `g = ⌈(W − 1) / (B − 1)⌉` is
//! exactly one second (32,768 ticks); bucket `k` is `[k s, (k + 1) s)`; an admission in bucket
//! `j` counts, whole, until `(j + 11) s`; a request is admitted iff everything counted plus its
//! cost is at most 10. `reset` runs to the expiry of the newest non-empty bucket, `retry_after`
//! to the expiry of enough of the oldest ones.

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use tollgate_core::{
    Algorithm, ConfigError, Duration, Instant, Measurement, Quota, SlidingWindow, WindowState,
};

use crate::HZ;
use crate::harness::{Step, Tally, allow, at, deny, run_steps, too_big};

/// One second: the bucket length `g`.
const SEC: u64 = HZ;

const TEN_PER_TEN_SECONDS: Quota<HZ> = match Quota::per_seconds(10, 10) {
    Ok(q) => q,
    Err(_) => panic!("10 per 10 s is a valid quota"),
};

/// Seed 003's limit, built at compile time.
static SEED_003: SlidingWindow<HZ, 11> = match SlidingWindow::new(TEN_PER_TEN_SECONDS) {
    Ok(w) => w,
    Err(_) => panic!("11 buckets fit a 10 s window"),
};

/// A per-number state shared with interrupt handlers: 11 counters, 64 bytes of RAM.
static NUMBER: Mutex<RefCell<WindowState<11>>> = Mutex::new(RefCell::new(WindowState::new()));

/// Up to the 11th message in ten seconds (a tick before 11 s), which is denied.
const FILL: &[Step] = &[
    // Bucket 0 counts until 11 s.
    at(SEC / 2, 1, allow(10, 9, 11 * SEC - SEC / 2)),
    // Bucket 1 counts until 12 s: 4 counted.
    at(SEC + SEC / 4, 3, allow(10, 6, 12 * SEC - SEC - SEC / 4)),
    // Bucket 2 counts until 13 s: 8 counted.
    at(
        2 * SEC + SEC / 2,
        4,
        allow(10, 2, 13 * SEC - 2 * SEC - SEC / 2),
    ),
    // 8 + 3 > 10: wait until bucket 0 (1) expires at 11 s, leaving 7.
    at(
        2 * SEC + SEC / 2,
        3,
        deny(10, 2, 10 * SEC + SEC / 2, 8 * SEC + SEC / 2),
    ),
    at(2 * SEC + SEC / 2, 11, too_big(11, 10)),
    at(2 * SEC + SEC / 2, 0, allow(10, 2, 10 * SEC + SEC / 2)),
    // Bucket 9 counts until 20 s: 10 counted, the window is full.
    at(
        9 * SEC + 3 * SEC / 4,
        2,
        allow(10, 0, 20 * SEC - 9 * SEC - 3 * SEC / 4),
    ),
    // A tick before 11 s, bucket 10: buckets 0..=10 hold 10. Only 9 of them were admitted in
    // (t − 10 s, t] (the one at 0.5 s is older): the documented under-admission, N per S = 11 s.
    at(11 * SEC - 1, 1, deny(10, 0, 20 * SEC - (11 * SEC - 1), 1)),
];

/// From 11 s on, after the measurement.
const SLIDE: &[Step] = &[
    // Bucket 0 has expired: buckets 1..=11 hold 3 + 4 + 2 = 9. Bucket 11 counts until 22 s.
    at(11 * SEC, 1, allow(10, 0, 11 * SEC)),
    // Full again; bucket 1 (3) expires at 12 s.
    at(11 * SEC, 1, deny(10, 0, 11 * SEC, SEC)),
    // The clock went back to 5 s: decided as at 11 s, the start of the current bucket, with the
    // durations counted from 5 s.
    at(5 * SEC, 1, deny(10, 0, 17 * SEC, 7 * SEC)),
    // Bucket 12: buckets 2..=12 hold 4 + 2 + 1 = 7, room for 3. Bucket 12 counts until 23 s.
    at(12 * SEC, 3, allow(10, 0, 11 * SEC)),
];

/// At rest from 23 s: the whole limit at once.
const REST: &[Step] = &[at(23 * SEC, 10, allow(10, 0, 11 * SEC))];

fn now(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

/// `(cost, span ticks, rate in thousandths per second, with one more attempt)`.
fn rate(m: Measurement<HZ>) -> (u64, u64, Option<u64>, Option<u64>) {
    (
        m.cost,
        m.span.as_ticks(),
        m.per_second_thousandths(),
        m.with_attempt(1).per_second_thousandths(),
    )
}

pub fn run(t: &mut Tally) {
    t.expect(
        format_args!("10/10 s, B = 11: g = 1 s, S = 11 s"),
        (
            SEED_003.granularity().as_ticks(),
            SEED_003.span().as_ticks(),
        ),
        (SEC, 11 * SEC),
    );

    let w = &SEED_003;
    let mut s = w.new_state();
    run_steps(t, "10/10s", w, &mut s, FILL);
    t.expect(
        format_args!("10/10s at the denial: 10 counted over 10 s, rate 1.0, 1.1 with it"),
        rate(w.measure(&s, now(11 * SEC - 1))),
        (10, 10 * SEC, Some(1_000), Some(1_100)),
    );
    run_steps(t, "10/10s from 11 s", w, &mut s, SLIDE);
    t.expect(
        format_args!("10/10s at 13 s: buckets 3..=13 hold 6, rate 0.6"),
        rate(w.measure(&s, now(13 * SEC))),
        (6, 10 * SEC, Some(600), Some(700)),
    );
    t.assert(
        format_args!("10/10s not at rest a tick before bucket 12 expires"),
        !w.is_at_rest(&s, now(23 * SEC - 1)),
    );
    t.assert(
        format_args!("10/10s at rest at 23 s"),
        w.is_at_rest(&s, now(23 * SEC)),
    );
    t.expect(
        format_args!("10/10s at rest decides like a fresh state"),
        w.peek(&s, now(23 * SEC), 10),
        w.peek(&WindowState::new(), now(23 * SEC), 10),
    );
    run_steps(t, "10/10s at rest", w, &mut s, REST);

    fast_path(t);
    config(t);
}

/// `try_acquire` on the `static` limiter and state, as an interrupt handler would call it.
fn fast_path(t: &mut Tally) {
    let acquire = |at: u64| {
        interrupt::free(|cs| {
            SEED_003
                .try_acquire(&mut NUMBER.borrow(cs).borrow_mut(), now(at))
                .map_err(|e| e.retry_after().as_ticks())
        })
    };
    let t0 = 2 * SEC + SEC / 2;
    let burst = (0..10).filter(|_| acquire(t0).is_ok()).count();
    t.expect(format_args!("static 10/10s: 10 at 2.5 s"), burst, 10);
    t.expect(
        format_args!("static 10/10s: the 11th waits for bucket 2 to expire at 13 s"),
        acquire(t0),
        Err(10 * SEC + SEC / 2),
    );
    t.expect(
        format_args!("static 10/10s: a tick early"),
        acquire(13 * SEC - 1),
        Err(1),
    );
    t.expect(
        format_args!("static 10/10s: on time"),
        acquire(13 * SEC),
        Ok(()),
    );
}

fn config(t: &mut Tally) {
    let tiny = Quota::<HZ>::new(1, Duration::<HZ>::from_ticks(3));
    t.expect(
        format_args!("B = 1 is too few buckets"),
        tiny.and_then(SlidingWindow::<HZ, 1>::new).err(),
        Some(ConfigError::CapacityTooSmall),
    );
    t.expect(
        format_args!("4 buckets in a 3-tick window"),
        tiny.and_then(SlidingWindow::<HZ, 4>::new).err(),
        Some(ConfigError::GranularityTooFine),
    );
    t.expect(
        format_args!("the state is 4·B + 16 bytes"),
        core::mem::size_of::<WindowState<11>>(),
        64,
    );
}
