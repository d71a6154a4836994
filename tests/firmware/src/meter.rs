//! Leaky-bucket meter: documented to decide exactly like GCRA with the same quota, so it must
//! pass GCRA's own hand-worked tables unchanged, then agree with `Gcra` step by step on a long
//! mixed sequence. Plus its water level (forwards and extrapolated backwards) and the end of
//! time.
//!
//! Worked from the module's model: capacity `b·T` ticks of water, one tick drained per tick, a
//! request pours `cost·T` and is admitted iff it fits; `reset` is the level, `retry_after` the
//! excess over the capacity.

use tollgate_core::{Algorithm, Gcra, Instant, Meter, MeterState, Quota};

use crate::HZ;
use crate::gcra::{BURST, FOUR_PER_SECOND, MILLIS, THIRDS};
use crate::harness::{Outcome, Step, Tally, at, deny, run_steps};

/// A pour of `T` = 8,192 at 100 ticks before the end of time would drain after it: denied, and
/// the wait runs to the end (GCRA answers the same).
const END_OF_TIME: &[Step] = &[at(u64::MAX - 100, 1, deny(4, 0, 0, 100))];

fn now(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

pub fn run(t: &mut Tally) {
    let m = Meter::new(FOUR_PER_SECOND);
    let mut s = m.new_state();
    run_steps(t, "meter 4/s", &m, &mut s, BURST);
    // GCRA's table ends with 4 admitted at 41,960: 32,768 ticks of water measured there.
    t.expect(
        format_args!("meter 4/s level: after, before, at empty"),
        [50_000, 40_000, 74_727, 74_728].map(|at| m.level(&s, now(at)).as_ticks()),
        [32_768 - 8_040, 32_768 + 1_960, 1, 0],
    );
    t.expect(
        format_args!("meter 4/s at rest exactly when empty"),
        (m.is_at_rest(&s, now(74_727)), m.is_at_rest(&s, now(74_728))),
        (false, true),
    );

    if let Ok(q) = Quota::<HZ>::per_second(3) {
        let m = Meter::new(q);
        run_steps(t, "meter 3/s", &m, &mut m.new_state(), THIRDS);
    }
    if let Ok(q) = Quota::<1_000>::per_second(4) {
        let m = Meter::new(q);
        run_steps(t, "meter 4/s@1kHz", &m, &mut m.new_state(), MILLIS);
    }
    let g = Gcra::new(FOUR_PER_SECOND);
    run_steps(t, "gcra end", &g, &mut g.new_state(), END_OF_TIME);
    run_steps(t, "meter end", &m, &mut m.new_state(), END_OF_TIME);
    t.expect(
        format_args!("a stored level draining past the end of time is cut"),
        MeterState::from_raw(500, u64::MAX - 100).to_raw(),
        (100, u64::MAX - 100),
    );

    lockstep(t);
}

/// Meter and Gcra on the same 300 requests: forward, zero, backward and huge steps, costs 0 to
/// 5 (5 can never fit a burst of 4). Every decision and every `is_at_rest` must match.
fn lockstep(t: &mut Tally) {
    let Ok(q) = Quota::<HZ>::per_minute(300).and_then(|q| q.with_burst(4)) else {
        t.assert(format_args!("300/min with burst 4 is valid"), false);
        return;
    };
    let (g, m) = (Gcra::new(q), Meter::new(q));
    let (mut gs, mut ms) = (g.new_state(), m.new_state());
    let mut x: u32 = 0x2545_f491; // xorshift32: a fixed, repeatable sequence
    let mut clock: u64 = 1_000_000;
    let (mut differ, mut admitted, mut denied) = (0u32, 0u32, 0u32);
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let step = u64::from((x >> 8) & 0x3fff);
        clock = match x & 7 {
            0 => clock.saturating_sub(step),    // backwards
            1 => clock,                         // same instant
            2 => clock.saturating_add(1 << 20), // a long pause
            _ => clock.saturating_add(step),
        };
        let cost = (x >> 3) % 6;
        let got = Outcome::of(g.check(&mut gs, now(clock), cost));
        let want = Outcome::of(m.check(&mut ms, now(clock), cost));
        match got {
            Outcome::Allow { .. } => admitted += 1,
            Outcome::Deny { .. } => denied += 1,
            Outcome::TooBig { .. } => {}
        }
        if got != want || g.is_at_rest(&gs, now(clock)) != m.is_at_rest(&ms, now(clock)) {
            differ += 1;
        }
    }
    t.expect(
        format_args!(
            "meter == gcra on 300 mixed steps ({admitted} admitted, {denied} denied): \
             both > 50, none differing"
        ),
        (admitted > 50, denied > 50, differ),
        (true, true, 0),
    );
}
