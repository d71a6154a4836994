//! Leaky-bucket shaper: nginx's `limit_req zone=ip burst=12 delay=8` at `rate=5r/s` (the
//! two-stage example of nginx's rate-limiting guide): 9 requests pass at once, the next 4 are
//! queued one interval apart, later ones are refused; the exact retry lands on the slot the
//! denial reported; a clock going backwards sees a longer backlog. Limiter and state in statics.
//!
//! Worked from the module's schedule: `T = ⌈32,768 / 5⌉ = 6,554` ticks, `b = delay + 1 = 9`,
//! `b·T = 58,986`, `M = (burst − delay)·T = 26,216`, `limit = b + ⌊M / T⌋ = 13`. A unit request
//! with backlog `tat − now` is delayed `max(0, backlog + T − b·T)` and accepted iff that is at
//! most `M`; then the backlog grows by `T`. `remaining = ⌊(b·T + M − backlog) / T⌋`,
//! `reset = backlog`, and a denial waits `delay − M`.

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use tollgate_core::{
    Algorithm, Duration, Instant, InsufficientCapacity, Quota, Reservation, Shaper, ShaperState,
};

use crate::HZ;
use crate::harness::{StepName, Tally};

/// The emission interval at 5 r/s.
const T: u64 = 6_554;

const FIVE_PER_SECOND: Quota<HZ> = match Quota::per_second(5) {
    Ok(q) => q,
    Err(_) => panic!("5/s is a valid quota"),
};

/// `limit_req zone=ip burst=12 delay=8;`, built at compile time.
static NGINX: Shaper<HZ> = match Shaper::nginx_limit_req(FIVE_PER_SECOND, 12, 8) {
    Ok(s) => s,
    Err(_) => panic!("burst=12 delay=8 is valid"),
};

/// One client's queue, shared with interrupt handlers: eight bytes of RAM.
static QUEUE: Mutex<RefCell<ShaperState>> = Mutex::new(RefCell::new(ShaperState::new()));

/// What a reservation should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Go {
        delay: u64,
        remaining: u32,
        reset: u64,
    },
    Wait {
        delay: u64,
        remaining: u32,
        reset: u64,
        retry_after: u64,
    },
    TooBig {
        cost: u32,
        capacity: u32,
    },
}

struct Row {
    at: u64,
    cost: u32,
    want: Want,
}

const fn go(at: u64, delay: u64, remaining: u32, reset: u64) -> Row {
    Row {
        at,
        cost: 1,
        want: Want::Go {
            delay,
            remaining,
            reset,
        },
    }
}

const fn wait(at: u64, delay: u64, remaining: u32, reset: u64, retry_after: u64) -> Row {
    Row {
        at,
        cost: 1,
        want: Want::Wait {
            delay,
            remaining,
            reset,
            retry_after,
        },
    }
}

/// Fourteen unit requests at once at t = 1 s, then the retry of the refused one.
const T0: u64 = HZ;
const NGINX_STEPS: &[Row] = &[
    go(T0, 0, 12, T), // delay=8: the first 9 pass at once
    go(T0, 0, 11, 2 * T),
    go(T0, 0, 10, 3 * T),
    go(T0, 0, 9, 4 * T),
    go(T0, 0, 8, 5 * T),
    go(T0, 0, 7, 6 * T),
    go(T0, 0, 6, 7 * T),
    go(T0, 0, 5, 8 * T),
    go(T0, 0, 4, 9 * T),
    go(T0, T, 3, 10 * T), // burst=12: 4 more, queued T apart
    go(T0, 2 * T, 2, 11 * T),
    go(T0, 3 * T, 1, 12 * T),
    go(T0, 4 * T, 0, 13 * T),
    wait(T0, 5 * T, 0, 13 * T, T), // would wait 5 T > M: refused, retry in T
    Row {
        at: T0,
        cost: 0, // metadata only
        want: Want::Go {
            delay: 0,
            remaining: 0,
            reset: 13 * T,
        },
    },
    Row {
        at: T0,
        cost: 10, // more than b = 9 can never leave at one instant
        want: Want::TooBig {
            cost: 10,
            capacity: 9,
        },
    },
    wait(T0 + T - 1, 4 * T + 1, 0, 12 * T + 1, 1), // a tick early
    go(T0 + T, 4 * T, 0, 13 * T), // on time: proceeds at T0 + 5 T, the slot the refusal named
    // The queue drains at T0 + T + 13 T = 124,524. Back at 0.5 s the backlog is 108,140:
    // delayed 108,140 + T − 9 T = 55,708, which is 29,492 more than M.
    wait(HZ / 2, 55_708, 0, 108_140, 29_492),
    // Four intervals before the queue drains: backlog 4 T, passes at once.
    go(T0 + 14 * T - 4 * T, 0, 8, 5 * T),
];

/// What a reservation answered, in raw ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Res {
        proceed_at: u64,
        delay: u64,
        /// The decision's own delay: the reservation's when accepted, zero when denied.
        decision_delay: u64,
        limit: u32,
        remaining: u32,
        reset: u64,
        retry_after: Option<u64>,
    },
    TooBig {
        cost: u32,
        capacity: u32,
        index: Option<usize>,
    },
}

impl Got {
    fn of(r: Result<Reservation<HZ>, InsufficientCapacity>) -> Self {
        match r {
            Ok(r) => Self::Res {
                proceed_at: r.proceed_at.as_ticks(),
                delay: r.delay.as_ticks(),
                decision_delay: r.decision.delay.as_ticks(),
                limit: r.decision.limit,
                remaining: r.decision.remaining,
                reset: r.decision.reset.as_ticks(),
                retry_after: r.decision.retry_after.map(|w| w.as_ticks()),
            },
            Err(InsufficientCapacity {
                cost,
                capacity,
                index,
            }) => Self::TooBig {
                cost,
                capacity,
                index,
            },
        }
    }

    /// The full answer a row asks for: `proceed_at = at + delay`, the shaper's limit.
    fn want(row: &Row, limit: u32) -> Self {
        let res = |delay: u64, remaining, reset, retry_after: Option<u64>| Self::Res {
            proceed_at: row.at.saturating_add(delay),
            delay,
            decision_delay: if retry_after.is_some() { 0 } else { delay },
            limit,
            remaining,
            reset,
            retry_after,
        };
        match row.want {
            Want::Go {
                delay,
                remaining,
                reset,
            } => res(delay, remaining, reset, None),
            Want::Wait {
                delay,
                remaining,
                reset,
                retry_after,
            } => res(delay, remaining, reset, Some(retry_after)),
            Want::TooBig { cost, capacity } => Self::TooBig {
                cost,
                capacity,
                index: None,
            },
        }
    }
}

/// Like `run_steps`: `peek_reserve` must answer what `reserve` then does, and a refusal or a cost
/// of zero must leave the queue as it was.
fn run_rows(t: &mut Tally, table: &str, shaper: &Shaper<HZ>, s: &mut ShaperState, rows: &[Row]) {
    for (i, row) in rows.iter().enumerate() {
        let now = Instant::<HZ>::from_ticks(row.at);
        let name = StepName {
            table,
            i,
            at: row.at,
            cost: row.cost,
        };
        let before = *s;
        let peeked = shaper.peek_reserve(s, now, row.cost);
        let reserved = shaper.reserve(s, now, row.cost);
        let got = Got::of(reserved);
        let recorded = matches!(reserved, Ok(r) if r.is_accepted()) && row.cost > 0;
        if peeked != reserved {
            t.fail(
                format_args!("{name}"),
                format_args!("peek {:?} but reserve {got:?}", Got::of(peeked)),
            );
        } else if !recorded && *s != before {
            t.fail(
                format_args!("{name}"),
                format_args!("{got:?} but the queue changed"),
            );
        } else {
            t.expect(format_args!("{name}"), got, Got::want(row, shaper.limit()));
        }
    }
}

fn shape(s: &Shaper<HZ>) -> (u32, u64, u32) {
    (s.capacity(), s.max_delay().as_ticks(), s.limit())
}

pub fn run(t: &mut Tally) {
    t.expect(
        format_args!("burst=12 delay=8 at 5r/s: b = 9, M = 4 T, limit 13"),
        shape(&NGINX),
        (9, 4 * T, 13),
    );
    let nodelay = Shaper::nginx_limit_req(FIVE_PER_SECOND, 12, 12);
    t.expect(
        format_args!("burst=12 nodelay: b = 13, M = 0"),
        nodelay.map(|s| shape(&s)),
        Ok((13, 0, 13)),
    );
    let over = Shaper::nginx_limit_req(FIVE_PER_SECOND, 12, 20);
    t.expect(
        format_args!("delay above burst counts as burst"),
        over,
        nodelay,
    );
    let strict = Quota::<HZ>::per_second(5)
        .and_then(|q| q.with_burst(1))
        .and_then(|q| Shaper::new(q, Duration::<HZ>::from_secs(2)));
    t.expect(
        format_args!("burst 1, 2 s of queue: 1 + ⌊65,536 / T⌋ = 10"),
        strict.map(|s| shape(&s)),
        Ok((1, 2 * HZ, 10)),
    );

    interrupt::free(|cs| {
        let mut s = QUEUE.borrow(cs).borrow_mut();
        run_rows(t, "nginx", &NGINX, &mut s, NGINX_STEPS);
        let drained = T0 + 14 * T - 4 * T + 5 * T;
        t.expect(
            format_args!("nginx queue drains at {drained}"),
            (
                s.to_raw(),
                NGINX.is_at_rest(&s, Instant::<HZ>::from_ticks(drained - 1)),
                NGINX.is_at_rest(&s, Instant::<HZ>::from_ticks(drained)),
            ),
            (drained, false, true),
        );
    });
}
