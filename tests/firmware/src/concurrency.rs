//! Concurrency limit: seed 000's "at most 5 concurrent requests" on a `static` limiter and
//! state, through the `Algorithm` trait (time plays no part), `release` and its `ReleaseError`,
//! and permits taken and given back by "interrupt handlers".
//!
//! Worked from the module's rule: admitted iff `in_flight + cost ≤ 5`; a denial carries the
//! retry hint (not an exact wait); `reset` is the hint while anything is in flight and zero at
//! rest; releasing more than is in flight changes nothing.

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, ConfigError, Duration, Instant, InsufficientCapacity,
    NotUntil, Permit, ReleaseError,
};

use crate::HZ;
use crate::harness::{Step, Tally, allow, at, deny, run_steps, too_big};

/// A quarter of a second.
const HINT: u64 = HZ / 4;

/// Any instant: time plays no part in a concurrency limit.
const ANY: Instant<HZ> = Instant::<HZ>::from_ticks(0);

/// Built at compile time: five slots, a quarter-second hint.
static CONCURRENT: Concurrency<HZ> = match Concurrency::new(5) {
    Ok(c) => c.with_retry_hint(Duration::<HZ>::from_ticks(HINT)),
    Err(_) => panic!("5 is a valid limit"),
};

/// The cost in flight, shared with interrupt handlers: four bytes of RAM.
static IN_FLIGHT: Mutex<RefCell<ConcurrencyState>> =
    Mutex::new(RefCell::new(ConcurrencyState::new()));

/// Filling the five slots; the instants are deliberately meaningless.
const FILL: &[Step] = &[
    at(0, 2, allow(5, 3, HINT)),
    at(0, 3, allow(5, 0, HINT)),
    at(0, 1, deny(5, 0, HINT, HINT)), // full: the hint, not a promise
    at(u64::MAX, 1, deny(5, 0, HINT, HINT)), // waiting frees nothing
    at(0, 0, allow(5, 0, HINT)),      // metadata only
    at(0, 6, too_big(6, 5)),
];

/// After releasing 3 of the 5.
const REFILL: &[Step] = &[
    at(1_000, 4, deny(5, 3, HINT, HINT)), // 2 + 4 > 5
    at(1_000, 3, allow(5, 0, HINT)),
    at(500, 1, deny(5, 0, HINT, HINT)), // a clock going backwards changes nothing either
];

/// After releasing everything: at rest, `reset` is zero.
const REST: &[Step] = &[at(7, 0, allow(5, 5, 0)), at(7, 5, allow(5, 0, HINT))];

pub fn run(t: &mut Tally) {
    shared_static(t);
    permits(t);
    config(t);
}

/// Runs `f` on the static state inside a critical section.
fn with_state<R>(f: impl FnOnce(&mut ConcurrencyState) -> R) -> R {
    interrupt::free(|cs| f(&mut IN_FLIGHT.borrow(cs).borrow_mut()))
}

fn shared_static(t: &mut Tally) {
    let c = &CONCURRENT;
    with_state(|s| run_steps(t, "5 in flight", c, s, FILL));
    let released = with_state(|s| {
        (
            Algorithm::<HZ>::release(c, s, 3),
            c.release(s, 3),
            s.in_flight(),
        )
    });
    t.expect(
        format_args!("5 in flight: release 3, then 3 more than the 2 left"),
        released,
        (
            Ok(()),
            Err(ReleaseError {
                released: 3,
                in_flight: 2,
            }),
            2,
        ),
    );
    with_state(|s| run_steps(t, "5 in flight, 2 left", c, s, REFILL));
    let released = with_state(|s| (c.release(s, 5), c.is_at_rest(s, ANY)));
    t.expect(
        format_args!("5 in flight: release all 5, at rest"),
        released,
        (Ok(()), true),
    );
    with_state(|s| run_steps(t, "5 in flight, none left", c, s, REST));
    t.expect(
        format_args!("5 in flight: release the 5 of the last step"),
        with_state(|s| c.release(s, 5)),
        Ok(()),
    );

    // Six "handlers" each take a permit; the sixth finds no slot.
    let held: [Result<Permit, NotUntil<HZ>>; 6] =
        core::array::from_fn(|_| with_state(|s| c.try_acquire(s)));
    let taken = held.iter().filter(|p| p.is_ok()).count();
    let refused = held
        .iter()
        .filter_map(|p| p.as_ref().err())
        .map(|e| e.retry_after().as_ticks())
        .next();
    t.expect(
        format_args!("static: 5 permits, the 6th told to retry in 250 ms"),
        (taken, refused, with_state(|s| s.in_flight())),
        (5, Some(HINT), 5),
    );
    let mut given_back = 0;
    for permit in held.into_iter().flatten() {
        if with_state(|s| c.release_permit(s, permit)).is_ok() {
            given_back += 1;
        }
    }
    t.expect(
        format_args!("static: every permit given back, nothing in flight"),
        (given_back, with_state(|s| s.to_raw())),
        (5, 0),
    );
}

/// What an `acquire` answered, without consuming the permit: its cost, or the wait.
fn shape(
    r: &Result<Result<Permit, NotUntil<HZ>>, InsufficientCapacity>,
) -> Result<Result<u32, u64>, InsufficientCapacity> {
    match r {
        Ok(Ok(p)) => Ok(Ok(p.cost())),
        Ok(Err(wait)) => Ok(Err(wait.retry_after().as_ticks())),
        Err(e) => Err(*e),
    }
}

/// Permits on a local limiter with the default hint of one second.
fn permits(t: &mut Tally) {
    let Ok(c) = Concurrency::<HZ>::new(5) else {
        t.assert(format_args!("5 is a valid limit"), false);
        return;
    };
    let mut s = c.new_state();
    let four = c.acquire(&mut s, 4);
    let two = c.acquire(&mut s, 2);
    let six = c.acquire(&mut s, 6);
    let zero = c.acquire(&mut s, 0);
    t.expect(
        format_args!("acquire 4, 2, 6, 0 of 5"),
        (
            shape(&four),
            shape(&two),
            shape(&six),
            shape(&zero),
            s.in_flight(),
        ),
        (
            Ok(Ok(4)),
            Ok(Err(HZ)), // 4 + 2 > 5: the default hint, one second
            Err(InsufficientCapacity {
                cost: 6,
                capacity: 5,
                index: None,
            }),
            Ok(Ok(0)), // admitted, records nothing
            4,
        ),
    );
    let one = c.try_acquire(&mut s);
    let none = c
        .try_acquire(&mut s)
        .map_err(|e| e.retry_after().as_ticks());
    t.expect(
        format_args!("try_acquire: the last slot, then none"),
        (
            one.as_ref().map(Permit::cost).ok(),
            none.err(),
            s.in_flight(),
        ),
        (Some(1), Some(HZ), 5),
    );
    let mut back = [Ok(()); 3];
    for (slot, permit) in back
        .iter_mut()
        .zip([four, zero].into_iter().flatten().flatten())
    {
        *slot = c.release_permit(&mut s, permit);
    }
    if let Ok(p) = one {
        back[2] = c.release_permit(&mut s, p);
    }
    t.expect(
        format_args!("release the permits of 4, 0 and 1"),
        (back, s.in_flight(), c.is_at_rest(&s, ANY)),
        ([Ok(()); 3], 0, true),
    );
    t.expect(
        format_args!("release 1 with nothing in flight"),
        (c.release(&mut s, 1), s.in_flight()),
        (
            Err(ReleaseError {
                released: 1,
                in_flight: 0,
            }),
            0,
        ),
    );

    // A state restored under a lowered limit admits nothing until releases bring it under.
    let mut s = ConcurrencyState::from_raw(7);
    let over = c
        .check(&mut s, ANY, 1)
        .map(|d| (d.remaining, d.retry_after.map(|w| w.as_ticks())));
    let _ = c.release(&mut s, 3);
    let under = c
        .check(&mut s, ANY, 1)
        .map(|d| (d.remaining, d.retry_after.map(|w| w.as_ticks())));
    t.expect(
        format_args!("7 restored in flight of 5: denied; after releasing 3, admitted"),
        (over, under, s.to_raw()),
        (Ok((0, Some(HZ))), Ok((0, None)), 5),
    );
}

fn config(t: &mut Tally) {
    t.expect(
        format_args!("a limit of zero"),
        Concurrency::<HZ>::new(0),
        Err(ConfigError::ZeroLimit),
    );
}
