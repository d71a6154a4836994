//! Property tests for the leaky bucket: the meter against `Gcra` and a naive list of admissions,
//! the shaper against a naive list of scheduled slots (both models in
//! `tollgate_testkit::models::leaky_bucket`, shared with the `meter` and `shaper` fuzz targets),
//! and the documented guarantees of both.

use proptest::prelude::*;
use std::fmt::Debug;
use tollgate_core::{
    Algorithm, Decision, Duration, Gcra, GcraState, Instant, InsufficientCapacity, Meter,
    MeterState, Quota, Shaper, ShaperState,
};

use tollgate_testkit::models::leaky_bucket::{AdmittedList, SlotList, count_limit};

const HZ: u64 = 1_000;
type I = Instant<HZ>;
type D = Duration<HZ>;

fn at(t: u64) -> I {
    I::from_ticks(t)
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// How `now` moves between two requests.
#[derive(Debug, Clone, Copy)]
enum Step {
    Stay,
    Forward(u64),
    Back(u64),
    /// To an absolute instant (used to reach the end of time).
    To(u64),
}

impl Step {
    fn apply(self, now: u64) -> u64 {
        match self {
            Step::Stay => now,
            Step::Forward(d) => now.saturating_add(d),
            Step::Back(d) => now.saturating_sub(d),
            Step::To(t) => t,
        }
    }
}

/// Every kind of step: zero, small, huge, backwards, and jumps to the end of time.
fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Stay),
        8 => (1u64..400).prop_map(Step::Forward),
        1 => any::<u64>().prop_map(Step::Forward),
        3 => (1u64..400).prop_map(Step::Back),
        1 => any::<u64>().prop_map(Step::Back),
        1 => (0u64..3_000).prop_map(|x| Step::To(u64::MAX - x)),
        1 => (0u64..3_000).prop_map(Step::To),
    ]
}

/// Steps that never go backwards and stay far from the end of time.
fn forward_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Stay),
        8 => (1u64..400).prop_map(Step::Forward),
        1 => (0u64..1 << 40).prop_map(Step::Forward),
    ]
}

/// Costs from zero to above every burst used here, and now and then `u32::MAX`.
fn cost() -> impl Strategy<Value = u32> {
    prop_oneof![10 => 0u32..10, 1 => Just(u32::MAX)]
}

/// A quota with an interval of 1 to 60 ticks (rounded up from `window / limit`) and a burst of
/// 1 to 8.
fn quota() -> impl Strategy<Value = Quota<HZ>> {
    (1u32..5, 1u64..=60, 0u64..60, 1u32..=8).prop_map(|(limit, per, extra, burst)| {
        let window = u64::from(limit) * per + extra % per;
        Quota::new(limit, D::from_ticks(window))
            .unwrap()
            .with_burst(burst)
            .unwrap()
    })
}

/// A shaper with up to 12 intervals of queue, not always a whole number of them.
fn shaper() -> impl Strategy<Value = Shaper<HZ>> {
    (quota(), 0u64..12, any::<u64>()).prop_map(|(q, k, r)| {
        let t = q.interval().as_ticks();
        Shaper::new(q, D::from_ticks(k * t + r % t)).unwrap()
    })
}

fn ops(step: impl Strategy<Value = Step>) -> impl Strategy<Value = Vec<(Step, u32)>> {
    prop::collection::vec((step, cost()), 0..100)
}

fn ticks(q: &Quota<HZ>) -> (u64, u64) {
    (q.interval().as_ticks(), u64::from(q.burst()))
}

// ---------------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------------

/// The GCRA guarantee on a list of (instant, cost): in every closed interval of length `d` the
/// cost is at most `b + ⌊d / T⌋`. The instants may come in any order.
fn check_interval_bound(list: &[(u64, u64)], t: u64, b: u64) -> Result<(), TestCaseError> {
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    for i in 0..sorted.len() {
        let start = sorted[i].0;
        let mut sum = 0u64;
        // Start at the first entry of `start`, so every entry in [start, end] is counted.
        if i > 0 && sorted[i - 1].0 == start {
            continue;
        }
        for &(end, c) in &sorted[i..] {
            sum = sum.saturating_add(c);
            // Saturating: with T = 1 tick an interval near the end of time bounds nothing.
            let bound = b.saturating_add((end - start) / t);
            prop_assert!(
                sum <= bound,
                "cost {} in [{}, {}] exceeds {} (T = {}, b = {})",
                sum,
                start,
                end,
                bound,
                t,
                b
            );
        }
    }
    Ok(())
}

/// The `Algorithm` contract at one request: peek == check, a denial or a zero cost changes
/// nothing, a cost above capacity is an error. Returns the decision and whether it was admitted.
fn contract<A: Algorithm<HZ>>(
    alg: &A,
    state: &mut A::State,
    now: u64,
    cost: u32,
) -> Result<Result<Decision<HZ>, InsufficientCapacity>, TestCaseError>
where
    A::State: Copy + PartialEq + Debug,
{
    let before = *state;
    let peeked = alg.peek(state, at(now), cost);
    let checked = alg.check(state, at(now), cost);
    prop_assert_eq!(peeked, checked);
    match checked {
        Err(e) => {
            prop_assert!(cost > alg.capacity());
            prop_assert_eq!(e, InsufficientCapacity::new(cost, alg.capacity()));
            prop_assert_eq!(*state, before);
        }
        Ok(d) => {
            prop_assert!(cost <= alg.capacity());
            if d.is_denied() || cost == 0 {
                prop_assert_eq!(*state, before);
            }
            if cost == 0 {
                prop_assert!(d.is_allowed());
            }
        }
    }
    Ok(checked)
}

// ---------------------------------------------------------------------------------------------
// Meter
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every decision, every error and every at-rest answer equals Gcra's, and the states agree:
    /// the bucket empties exactly at Gcra's theoretical arrival time.
    #[test]
    fn the_meter_decides_every_request_exactly_like_gcra(q in quota(), ops in ops(any_step())) {
        let (meter, gcra) = (Meter::new(q), Gcra::new(q));
        let (mut m, mut g) = (MeterState::new(), GcraState::new());
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            for probe in [0, 1, q.burst(), q.burst() + 1] {
                prop_assert_eq!(meter.peek(&m, at(now), probe), gcra.peek(&g, at(now), probe));
            }
            let d = contract(&meter, &mut m, now, cost)?;
            prop_assert_eq!(d, gcra.check(&mut g, at(now), cost));
            let (level, last) = m.to_raw();
            prop_assert_eq!(last.checked_add(level), Some(g.to_raw()));
            for probe in [now.saturating_sub(1), now, now.saturating_add(1), g.to_raw()] {
                prop_assert_eq!(meter.is_at_rest(&m, at(probe)), gcra.is_at_rest(&g, at(probe)));
            }
        }
    }

    /// With time never going backwards, the meter admits exactly what the plain list of
    /// admissions allows, with the same limit, remaining, reset and retry_after.
    #[test]
    fn the_meter_matches_a_naive_list_of_admissions(q in quota(), ops in ops(forward_step())) {
        let meter = Meter::new(q);
        let (t, b) = ticks(&q);
        let mut model = AdmittedList { t, b, list: Vec::new() };
        let mut m = MeterState::new();
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let expected = model.decide(now, cost, true);
            prop_assert_eq!(meter.check(&mut m, at(now), cost), expected);
        }
    }

    /// The GCRA guarantee, checked on the admitted list itself: in every closed interval of
    /// length d the admitted cost is at most b + ⌊d/T⌋. It holds for any sequence of `now`,
    /// backwards steps and the end of time included.
    #[test]
    fn meter_admissions_never_exceed_the_burst_plus_the_elapsed_allowance(
        q in quota(),
        ops in ops(any_step()),
        forward in ops(forward_step()),
    ) {
        let meter = Meter::new(q);
        let (t, b) = ticks(&q);
        for ops in [ops, forward] {
            let mut m = MeterState::new();
            let (mut now, mut admitted) = (0u64, Vec::new());
            for (step, cost) in ops {
                now = step.apply(now);
                if let Ok(d) = meter.check(&mut m, at(now), cost)
                    && d.is_allowed()
                    && cost > 0
                {
                    admitted.push((now, u64::from(cost)));
                }
            }
            check_interval_bound(&admitted, t, b)?;
        }
    }

    /// A denied request is admitted after exactly `retry_after`, not one tick sooner (away from
    /// the end of time, where the bucket could not drain in time).
    #[test]
    fn a_denied_meter_request_is_admitted_after_exactly_retry_after(q in quota(), ops in ops(any_step())) {
        let meter = Meter::new(q);
        let (t, b) = ticks(&q);
        let mut m = MeterState::new();
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let Ok(d) = meter.check(&mut m, at(now), cost) else { continue };
            let Some(wait) = d.retry_after.map(|w| w.as_ticks()) else { continue };
            let retry = now.saturating_add(wait);
            // Exact unless the bucket, once this is poured in, would drain past the end of time.
            let (level, last) = m.to_raw();
            let drain = u128::from(last) + u128::from(level);
            if drain + u128::from(u64::from(cost) * t) <= u128::from(u64::MAX)
                && u128::from(now) + u128::from(wait) + u128::from(b * t) <= u128::from(u64::MAX)
            {
                prop_assert!(meter.peek(&m, at(retry), cost).unwrap().is_allowed());
            }
            if wait > 0 {
                prop_assert!(meter.peek(&m, at(retry - 1), cost).unwrap().is_denied());
            }
        }
    }

    /// A state at rest decides every later request like a fresh one.
    #[test]
    fn an_at_rest_meter_state_decides_like_a_fresh_one(
        q in quota(),
        ops in ops(any_step()),
        later in prop::collection::vec((0u64..500, 0u32..10), 1..5),
    ) {
        let meter = Meter::new(q);
        let mut m = MeterState::new();
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let _ = meter.check(&mut m, at(now), cost);
            if meter.is_at_rest(&m, at(now)) {
                for &(dt, c) in &later {
                    let t = at(now.saturating_add(dt));
                    prop_assert_eq!(meter.peek(&m, t, c), meter.peek(&MeterState::new(), t, c));
                }
            } else {
                prop_assert_ne!(meter.peek(&m, at(now), 0), meter.peek(&MeterState::new(), at(now), 0));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shaper
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every reservation (peeked and made) equals the slot list's: proceed instant, delay,
    /// limit, remaining, reset and retry_after; and the limit is what a fresh list accepts. As an
    /// `Algorithm`, the shaper answers the reservation's decision (whose `delay` is the queueing
    /// delay of an accepted request) and records exactly what the reservation does.
    #[test]
    fn the_shaper_schedules_exactly_like_a_naive_list_of_slots(sh in shaper(), ops in ops(any_step())) {
        let mut model = SlotList::new(&sh);
        prop_assert_eq!(sh.limit(), count_limit(&sh));
        let mut s = ShaperState::new();
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let expected = model.reserve(now, cost, false);
            prop_assert_eq!(sh.peek_reserve(&s, at(now), cost), expected);
            let decided = expected.map(|r| r.decision);
            prop_assert_eq!(Algorithm::peek(&sh, &s, at(now), cost), decided);
            let mut by_check = s;
            prop_assert_eq!(Algorithm::check(&sh, &mut by_check, at(now), cost), decided);
            prop_assert_eq!(sh.reserve(&mut s, at(now), cost), model.reserve(now, cost, true));
            prop_assert_eq!(by_check, s, "check records what reserve records");
        }
    }

    /// The documented guarantees, for any sequence of `now`: no accepted request waits longer
    /// than the maximum delay; the accepted cost proceeding in any closed interval of length d is
    /// at most b + ⌊d/T⌋; a denial, a zero cost or an error changes nothing; a backwards `now`
    /// never accepts what the latest instant would deny, and charges what it would have then.
    #[test]
    fn the_shaper_keeps_its_guarantees(sh in shaper(), ops in ops(any_step())) {
        let (t, b) = ticks(&sh.quota());
        let m = sh.max_delay().as_ticks();
        let mut s = ShaperState::new();
        let (mut now, mut latest, mut proceeded) = (0u64, 0u64, Vec::new());
        for (step, cost) in ops {
            now = step.apply(now);
            let before = s;
            let at_latest = sh.peek_reserve(&s, at(latest), cost);
            let r = sh.reserve(&mut s, at(now), cost);
            prop_assert_eq!(r, sh.peek_reserve(&before, at(now), cost));
            let Ok(r) = r else {
                prop_assert!(cost > sh.capacity());
                prop_assert_eq!(s, before);
                continue;
            };
            prop_assert!(cost <= sh.capacity());
            prop_assert_eq!(r.proceed_at.as_ticks(), now.saturating_add(r.delay.as_ticks()));
            if r.is_denied() || cost == 0 {
                prop_assert_eq!(s, before);
            }
            if cost == 0 {
                prop_assert!(r.is_accepted() && r.delay.as_ticks() == 0);
            }
            if r.is_accepted() {
                prop_assert!(r.delay.as_ticks() <= m, "delay {} > {}", r.delay.as_ticks(), m);
                if cost > 0 {
                    proceeded.push((r.proceed_at.as_ticks(), u64::from(cost)));
                }
            }
            if now < latest && let Ok(l) = at_latest {
                if l.is_denied() && l.delay.as_ticks() > m {
                    prop_assert!(r.is_denied(), "accepted at {} what {} denies", now, latest);
                }
                if r.is_accepted() && cost > 0 && before.to_raw() > latest {
                    prop_assert_eq!(s.to_raw(), before.to_raw() + u64::from(cost) * t);
                }
            }
            latest = latest.max(now);
        }
        check_interval_bound(&proceeded, t, b)?;
    }

    /// With time never going backwards, accepted requests proceed in the order they arrived.
    #[test]
    fn accepted_requests_proceed_in_arrival_order(sh in shaper(), ops in ops(forward_step())) {
        let mut s = ShaperState::new();
        let (mut now, mut last_proceed) = (0u64, 0u64);
        for (step, cost) in ops {
            now = step.apply(now);
            if let Ok(r) = sh.reserve(&mut s, at(now), cost)
                && r.is_accepted()
                && cost > 0
            {
                prop_assert!(r.proceed_at.as_ticks() >= last_proceed);
                last_proceed = r.proceed_at.as_ticks();
            }
        }
    }

    /// A denied request is accepted after exactly `retry_after`, delayed by exactly the maximum
    /// delay, at the proceed instant the denial reported; one tick sooner it is still denied. One
    /// whose queue would drain past the end of time is never accepted and waits until the end.
    #[test]
    fn a_denied_reservation_is_accepted_after_exactly_retry_after(sh in shaper(), ops in ops(any_step())) {
        let m = sh.max_delay();
        let mut s = ShaperState::new();
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let Ok(r) = sh.reserve(&mut s, at(now), cost) else { continue };
            let Some(wait) = r.decision.retry_after.map(|w| w.as_ticks()) else { continue };
            let charge = u64::from(cost) * sh.quota().interval().as_ticks();
            if s.to_raw().max(now).checked_add(charge).is_none() {
                prop_assert_eq!(wait, u64::MAX - now);
                prop_assert!(sh.peek_reserve(&s, at(u64::MAX), cost).unwrap().is_denied());
            } else {
                prop_assert!(r.delay > m);
                let again = sh.peek_reserve(&s, at(now + wait), cost).unwrap();
                prop_assert!(again.is_accepted());
                prop_assert_eq!((again.delay, again.proceed_at), (m, r.proceed_at));
            }
            if wait > 0 {
                prop_assert!(sh.peek_reserve(&s, at(now.saturating_add(wait) - 1), cost).unwrap().is_denied());
            }
        }
    }

    /// A state at rest schedules every later request like a fresh one, and only such a state.
    #[test]
    fn an_at_rest_shaper_state_schedules_like_a_fresh_one(
        sh in shaper(),
        ops in ops(any_step()),
        later in prop::collection::vec((0u64..500, 0u32..10), 1..5),
    ) {
        let mut s = ShaperState::new();
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let _ = sh.reserve(&mut s, at(now), cost);
            if sh.is_at_rest(&s, at(now)) {
                for &(dt, c) in &later {
                    let t = at(now.saturating_add(dt));
                    prop_assert_eq!(sh.peek_reserve(&s, t, c), sh.peek_reserve(&ShaperState::new(), t, c));
                }
            } else {
                prop_assert_ne!(sh.peek_reserve(&s, at(now), 0), sh.peek_reserve(&ShaperState::new(), at(now), 0));
            }
        }
    }

    /// Without a queue the shaper accepts exactly what Gcra admits, never delaying.
    #[test]
    fn a_shaper_without_a_queue_is_gcra(q in quota(), ops in ops(any_step())) {
        let sh = Shaper::new(q, D::from_ticks(0)).unwrap();
        let gcra = Gcra::new(q);
        let (mut s, mut g) = (ShaperState::new(), GcraState::new());
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let r = sh.reserve(&mut s, at(now), cost);
            prop_assert_eq!(r.map(|r| r.decision), gcra.check(&mut g, at(now), cost));
            if let Ok(r) = r && r.is_accepted() {
                prop_assert_eq!(r.delay.as_ticks(), 0);
            }
            prop_assert_eq!(s.to_raw(), g.to_raw());
        }
    }
}
