//! GCRA: the `Algorithm` trait path (`check`/`peek`) on decision tables, the `try_acquire` fast
//! path, a `static` limiter shared through a critical section, and a second tick rate.
//!
//! The tables are public: the leaky-bucket meter must decide them identically (see `meter.rs`).

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use tollgate_core::{Algorithm, Gcra, GcraState, Instant, Quota};

use crate::HZ;
use crate::harness::{Step, Tally, allow, at, deny, run_steps, too_big};

pub const FOUR_PER_SECOND: Quota<HZ> = match Quota::per_second(4) {
    Ok(q) => q,
    Err(_) => panic!("4/s is a valid quota"),
};

/// Built at compile time: the configuration lives in flash, the 8-byte state in RAM.
static LIMITER: Gcra<HZ> = Gcra::new(FOUR_PER_SECOND);
static STATE: Mutex<RefCell<GcraState>> = Mutex::new(RefCell::new(GcraState::new()));

/// 4/s at 32,768 Hz: T = 8192 ticks, burst 4, so b·T = 32,768 ticks.
pub const BURST: &[Step] = &[
    at(1_000, 1, allow(4, 3, 8_192)),
    at(1_000, 2, allow(4, 1, 24_576)),
    at(1_000, 2, deny(4, 1, 24_576, 8_192)), // needs 16,384 of slack, has 8,192
    at(1_000, 0, allow(4, 1, 24_576)),       // metadata only
    at(1_000, 5, too_big(5, 4)),             // can never fit: an error, not a denial
    at(1_000, 1, allow(4, 0, 32_768)),
    at(1_000, 1, deny(4, 0, 32_768, 8_192)),
    at(9_191, 1, deny(4, 0, 24_577, 1)),  // one tick early
    at(9_192, 1, allow(4, 0, 32_768)),    // exactly on time
    at(0, 1, deny(4, 0, 41_960, 17_384)), // the clock went backwards: still closed
    at(0, 0, allow(4, 0, 41_960)),
    at(41_960, 4, allow(4, 0, 32_768)), // at rest again: the whole burst at once
];

/// 3/s at 32,768 Hz: T rounds up to 10,923 ticks, so b·T = 32,769 (stricter than asked).
pub const THIRDS: &[Step] = &[
    at(0, 1, allow(3, 2, 10_923)),
    at(0, 1, allow(3, 1, 21_846)),
    at(0, 1, allow(3, 0, 32_769)),
    at(0, 1, deny(3, 0, 32_769, 10_923)),
    at(10_922, 1, deny(3, 0, 21_847, 1)),
    at(10_923, 1, allow(3, 0, 32_769)),
];

/// 4/s at 1 kHz: the same core, another tick rate.
pub const MILLIS: &[Step] = &[
    at(0, 4, allow(4, 0, 1_000)),
    at(0, 1, deny(4, 0, 1_000, 250)),
    at(249, 1, deny(4, 0, 751, 1)),
    at(250, 1, allow(4, 0, 1_000)),
];

fn now(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

pub fn run(t: &mut Tally) {
    tables(t);
    fast_path(t);
    shared_static(t);
}

fn tables(t: &mut Tally) {
    let g = Gcra::new(FOUR_PER_SECOND);
    let mut s = g.new_state();
    run_steps(t, "4/s", &g, &mut s, BURST);
    t.assert(
        format_args!("4/s not at rest a tick early"),
        !g.is_at_rest(&s, now(74_727)),
    );
    t.assert(
        format_args!("4/s at rest when tat passes"),
        g.is_at_rest(&s, now(74_728)),
    );
    t.expect(
        format_args!("4/s at rest decides like a fresh state"),
        g.peek(&s, now(74_728), 1),
        g.peek(&GcraState::new(), now(74_728), 1),
    );

    if let Ok(q) = Quota::<HZ>::per_second(3) {
        let g = Gcra::new(q);
        run_steps(t, "3/s", &g, &mut g.new_state(), THIRDS);
    }

    if let Ok(q) = Quota::<1_000>::per_second(4) {
        let g = Gcra::new(q);
        run_steps(t, "4/s@1kHz", &g, &mut g.new_state(), MILLIS);
    }
}

/// `try_acquire` answers `Ok(())` or the exact wait, in ticks.
fn fast_path(t: &mut Tally) {
    let Ok(q) = Quota::<HZ>::per_minute(300).and_then(|q| q.with_burst(5)) else {
        t.assert(format_args!("300/min with burst 5 is valid"), false);
        return;
    };
    let g = Gcra::new(q); // T = 6,554 ticks, b·T = 32,770
    let mut s = g.new_state();
    let mut acquire = |at: u64| {
        g.try_acquire(&mut s, now(at))
            .map_err(|e| (e.retry_after().as_ticks(), e.earliest(now(at)).as_ticks()))
    };
    let burst = (0..5).filter(|_| acquire(0).is_ok()).count();
    t.expect(format_args!("300/min: a burst of 5 at t=0"), burst, 5);
    t.expect(
        format_args!("300/min: the 6th waits T"),
        acquire(0),
        Err((6_554, 6_554)),
    );
    t.expect(
        format_args!("300/min: a tick early"),
        acquire(6_553),
        Err((1, 6_554)),
    );
    t.expect(format_args!("300/min: on time"), acquire(6_554), Ok(()));
    let paced = (1..300u64)
        .filter(|k| acquire(6_554 * (k + 1)).is_ok())
        .count();
    t.expect(format_args!("300/min: 299 more paced T apart"), paced, 299);
    t.expect(
        format_args!("300/min: no extra at the last instant"),
        acquire(6_554 * 300),
        Err((6_554, 6_554 * 301)),
    );

    if let Ok(q) = Quota::<HZ>::per_second(2) {
        let g = Gcra::new(q);
        let mut s = g.new_state();
        let end = now(u64::MAX - 100);
        t.expect(
            format_args!("end of time: closed, wait saturates"),
            g.try_acquire(&mut s, end)
                .map_err(|e| e.retry_after().as_ticks()),
            Err(100),
        );
        t.expect(
            format_args!("end of time: state untouched"),
            s,
            GcraState::new(),
        );
    }
}

/// A `static` limiter and state, shared the way interrupt handlers would share them.
fn shared_static(t: &mut Tally) {
    let acquire = |at: u64| {
        interrupt::free(|cs| {
            let mut state = STATE.borrow(cs).borrow_mut();
            LIMITER
                .try_acquire(&mut state, now(at))
                .map_err(|e| e.retry_after().as_ticks())
        })
    };
    let burst = (0..4).filter(|_| acquire(5).is_ok()).count();
    t.expect(format_args!("static 4/s: a burst of 4"), burst, 4);
    t.expect(
        format_args!("static 4/s: the 5th waits T"),
        acquire(5),
        Err(8_192),
    );
    let raw = interrupt::free(|cs| STATE.borrow(cs).borrow().to_raw());
    t.expect(format_args!("static 4/s: tat = 5 + b·T"), raw, 5 + 32_768);
}
