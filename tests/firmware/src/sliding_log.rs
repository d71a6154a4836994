//! Sliding log: seed 004's rolling hour ("the requests made over the past hour as of the time you
//! send the request") at a one-second tick, 5 per hour in a ring of five `u16` time stamps, on a
//! `static` limiter and state. Then an undersized ring and the configuration errors.
//!
//! Worked from the module's rule: admitted iff the cost recorded in `(t − 3600, t]` plus this
//! one is at most 5 (and the ring has a free entry); admissions in one tick share an entry;
//! `reset` runs until the newest entry is an hour old, `retry_after` until enough of the oldest
//! entries are; a `now` before the newest entry is decided and recorded at that entry's instant,
//! with the durations counted from the `now` given.

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use tollgate_core::{Algorithm, ConfigError, Instant, LogState, Quota, SlidingLog};

use crate::harness::{Step, Tally, allow, at, deny, run_steps, too_big};

/// A coarse clock: one tick per second.
const HZ: u64 = 1;
const HOUR: u64 = 3_600;

const FIVE_PER_HOUR: Quota<HZ> = match Quota::per_hour(5) {
    Ok(q) => q,
    Err(_) => panic!("5 per hour is a valid quota"),
};

/// Built at compile time; `u16` stamps hold windows up to 65,536 s.
static HOURLY: SlidingLog<HZ, 5, u16> = match SlidingLog::new(FIVE_PER_HOUR) {
    Ok(log) => log,
    Err(_) => panic!("5 entries hold 5 per hour"),
};

/// One key's log, shared with interrupt handlers: 56 bytes of RAM.
static LOG: Mutex<RefCell<LogState<5, u16>>> = Mutex::new(RefCell::new(LogState::new()));

const ROLLING: &[Step] = &[
    at(100, 2, allow(5, 3, HOUR)),
    at(100, 1, allow(5, 2, HOUR)), // same second: joins the entry at 100
    at(1_000, 1, allow(5, 1, HOUR)),
    // 4 + 2 > 5: the 3 at 100 must leave, at 3,700. Newest entry (1,000) leaves at 4,600.
    at(2_000, 2, deny(5, 1, 4_600 - 2_000, 3_700 - 2_000)),
    at(2_000, 6, too_big(6, 5)),
    at(2_000, 1, allow(5, 0, HOUR)),
    // A second before the first entry is an hour old: all 5 still count.
    at(3_699, 1, deny(5, 0, 5_600 - 3_699, 1)),
    // Window (100, 3,700]: 1 + 1 left, room for 2 more.
    at(3_700, 2, allow(5, 1, HOUR)),
    // 4 + 2 > 5: the entry at 1,000 (1) leaves at 4,600.
    at(3_700, 2, deny(5, 1, HOUR, 900)),
    // The clock went back to 1,000: decided and recorded at 3,700, durations from 1,000.
    at(1_000, 1, allow(5, 0, 7_300 - 1_000)),
    at(1_000, 1, deny(5, 0, 7_300 - 1_000, 4_600 - 1_000)),
    // Window (1,000, 4,600]: 1 at 2,000 and 3 at 3,700.
    at(4_600, 1, allow(5, 0, HOUR)),
];

/// An hour after the newest entry: the whole limit at once.
const REST: &[Step] = &[at(4_600 + HOUR, 5, allow(5, 0, HOUR))];

/// 5 per hour in a ring of 2: at most 2 distinct seconds per hour.
const UNDERSIZED: &[Step] = &[
    at(0, 3, allow(5, 2, HOUR)),
    at(10, 1, allow(5, 0, HOUR)), // the second entry fills the ring
    at(10, 1, deny(5, 0, HOUR, HOUR - 10)), // 4 of 5 used, but no free entry: under-admission
    at(HOUR, 1, allow(5, 0, HOUR)), // the entry at 0 left
];

fn now(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

pub fn run(t: &mut Tally) {
    interrupt::free(|cs| {
        let mut s = LOG.borrow(cs).borrow_mut();
        run_steps(t, "5/hour", &HOURLY, &mut s, ROLLING);
        t.expect(
            format_args!("5/hour at rest exactly an hour after the newest entry"),
            (
                HOURLY.is_at_rest(&s, now(4_600 + HOUR - 1)),
                HOURLY.is_at_rest(&s, now(4_600 + HOUR)),
            ),
            (false, true),
        );
        t.expect(
            format_args!("5/hour at rest decides like a fresh state"),
            HOURLY.peek(&s, now(4_600 + HOUR), 5),
            HOURLY.peek(&LogState::new(), now(4_600 + HOUR), 5),
        );
        run_steps(t, "5/hour at rest", &HOURLY, &mut s, REST);
    });

    match SlidingLog::<HZ, 2, u16>::new_undersized(FIVE_PER_HOUR) {
        Ok(log) => run_steps(t, "5/hour in 2", &log, &mut log.new_state(), UNDERSIZED),
        Err(e) => t.expect(
            format_args!("an undersized ring is allowed"),
            Err(e),
            Ok(()),
        ),
    }

    t.expect(
        format_args!("4 entries for 5 per hour; a day in u16 stamps"),
        (
            SlidingLog::<HZ, 4, u16>::new(FIVE_PER_HOUR).err(),
            Quota::<HZ>::per_day(5)
                .and_then(SlidingLog::<HZ, 5, u16>::new)
                .err(),
        ),
        (
            Some(ConfigError::CapacityTooSmall),
            Some(ConfigError::WindowTooLong),
        ),
    );
    t.expect(
        format_args!("the state is 24 + 5 × (2 + 4) bytes, 8-aligned"),
        core::mem::size_of::<LogState<5, u16>>(),
        56,
    );
}
