//! The leaky-bucket `Meter` against two naive models: GCRA's admitted-list rule of
//! `tollgate_testkit::models::gcra` (which it must match exactly, on every clock), and the plain
//! list of admissions of `tollgate_testkit::models::leaky_bucket` (while the clock never goes back
//! and stays far from the end of time).
//!
//! Arbitrary operation sequences (check, peek, and a state stored and restored through
//! `to_raw`/`from_raw`) with zero, fractional, whole-interval, huge, backwards and absolute clock
//! steps and costs from zero to far above the burst. Every operation asserts: the decision
//! equals both models'; peek == check and the pure `transition` answers the same and moves like
//! check; an error, a denial or a zero cost changes nothing; `level` is the reset, drains one tick
//! per tick and is zero exactly at rest; `retry_after`
//! is exact; `is_at_rest` agrees with the model and decides like a fresh state; and the
//! documented interval bound holds over the admissions for any sequence of `now`, backwards
//! steps included.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{
    Algorithm, Decision, Duration, Instant, InsufficientCapacity, Meter, MeterState, Quota,
};
use tollgate_fuzz::{Cost, Ops, Step, at_rate};
use tollgate_testkit::models::gcra::Model;
use tollgate_testkit::models::leaky_bucket::AdmittedList;

#[derive(Debug, Arbitrary)]
enum Window {
    Exact(u16),
    Plus(u64),
    Any(u64),
    /// The longest window: with a limit dividing `u64::MAX`, `b·T` can be exactly `u64::MAX`.
    Max,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Kind {
    Check,
    Peek,
    /// Store the state as raw integers and restore it before checking.
    Restored,
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    limit: u32,
    window: Window,
    burst: u8,
    start: Step,
    ops: Ops<(Step, Cost, Kind)>,
}

/// What GCRA's rule says a check of `cost` at `now` answers.
fn expected<const HZ: u64>(m: &Model, now: u64, cost: u32) -> Decision<HZ> {
    let c = u64::from(cost);
    let admitted = m.admits(now, c);
    let mut after = m.clone();
    if admitted {
        after.record(now, c);
    }
    Decision {
        limit: u32::try_from(m.b).unwrap(),
        remaining: u32::try_from(after.remaining(now)).unwrap(),
        reset: Duration::<HZ>::from_ticks(after.reset(now)),
        retry_after: (!admitted).then(|| Duration::<HZ>::from_ticks(m.retry_after(now, c))),
        delay: Duration::<HZ>::from_ticks(0),
    }
}

/// Far enough from the end of time for the plain list, which ignores it.
const FAR: u64 = 1 << 62;

fn run<const HZ: u64>(input: &Input) {
    let limit = input.limit.max(1);
    let l = u64::from(limit);
    let window = match input.window {
        Window::Exact(k) => l * u64::from(k.max(1)),
        Window::Plus(x) => l.saturating_add(x),
        Window::Any(x) => x.max(l),
        Window::Max => u64::MAX,
    };
    let Ok(q) = Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window)) else {
        return;
    };
    let Ok(q) = q.with_burst(1 + u32::from(input.burst % 24)) else {
        return;
    };
    let meter = Meter::new(q);
    let b = q.burst();
    let t = q.interval().as_ticks();
    let bt = t * u64::from(b);
    let at = Instant::<HZ>::from_ticks;
    let fresh = MeterState::new();
    let mut model = Model::new(b, t);
    let mut list = (bt < FAR).then(|| AdmittedList {
        t,
        b: u64::from(b),
        list: Vec::new(),
    });
    let mut m = meter.new_state();
    let mut now = input.start.apply(0, t, bt);
    let mut admitted: Vec<(u64, u64)> = Vec::new();
    assert_eq!(Algorithm::capacity(&meter), b);

    for (i, &(step, cost, kind)) in input.ops.0.iter().enumerate() {
        if i > 0 {
            let next = step.apply(now, t, bt);
            if next < now {
                list = None;
            }
            now = next;
        }
        if now >= FAR {
            list = None;
        }
        let cost = cost.of(b);
        if let Kind::Restored = kind {
            let (level, last) = m.to_raw();
            m = MeterState::from_raw(level, last);
        }
        let before = m;

        // The level is the reset, and drains one tick per tick.
        let level = meter.level(&m, at(now)).as_ticks();
        assert_eq!(meter.peek(&m, at(now), 0).unwrap().reset.as_ticks(), level);
        assert_eq!(
            meter.level(&m, at(now.saturating_add(1))).as_ticks(),
            level.saturating_sub(u64::from(now < u64::MAX))
        );

        let peeked = meter.peek(&m, at(now), cost);
        let moved = meter.transition(&m, at(now), cost);
        assert_eq!(moved.map(|(d, _)| d), peeked);
        assert_eq!(m, before, "a transition changed its input");
        if cost > b {
            let err = Err(InsufficientCapacity::new(cost, b));
            assert_eq!(peeked, err);
            assert_eq!(meter.check(&mut m, at(now), cost), err);
            assert_eq!(m, before);
            continue;
        }
        let c = u64::from(cost);
        let want = expected::<HZ>(&model, now, cost);
        assert_eq!(
            peeked,
            Ok(want),
            "cost {cost} at {now}: model {:?}",
            model.admitted
        );
        if let Some(list) = &mut list {
            assert_eq!(
                peeked,
                list.decide::<HZ>(now, cost, false),
                "the plain list differs"
            );
        }
        if let Kind::Peek = kind {
            assert_eq!(m, before);
            continue;
        }
        let d = meter.check(&mut m, at(now), cost).unwrap();
        assert_eq!(Ok(d), peeked, "peek differs from check");
        assert_eq!(moved, Ok((d, m)), "the transition moves unlike check");
        if let Some(list) = &mut list {
            list.decide::<HZ>(now, cost, true).unwrap();
        }
        if d.is_denied() || c == 0 {
            assert_eq!(m, before, "a denied or zero-cost check changed the state");
        }

        if let Some(wait) = d.retry_after {
            let w = wait.as_ticks();
            let then = now + w;
            let retried = meter.peek(&m, at(then), cost).unwrap();
            if w == u64::MAX - now && !model.admits(then, c) {
                assert!(retried.is_denied());
            } else {
                assert!(retried.is_allowed(), "denied after exactly retry_after");
                if w > 0 {
                    assert!(meter.peek(&m, at(then - 1), cost).unwrap().is_denied());
                }
            }
        }

        if d.is_allowed() {
            model.record(now, c);
            if c > 0 {
                admitted.push((now, c));
            }
        }

        for probe_at in [
            now,
            now.saturating_add(d.reset.as_ticks()),
            now.saturating_sub(1),
        ] {
            let at_rest = meter.is_at_rest(&m, at(probe_at));
            assert_eq!(at_rest, model.is_at_rest(probe_at));
            assert_eq!(at_rest, meter.level(&m, at(probe_at)).as_ticks() == 0);
            for p in [0, 1, b] {
                let ours = meter.peek(&m, at(probe_at), p).unwrap();
                let theirs = meter.peek(&fresh, at(probe_at), p).unwrap();
                if at_rest {
                    assert_eq!(ours, theirs, "at rest but decides unlike a fresh state");
                } else if p == 0 {
                    assert_ne!(ours, theirs, "busy but reports like a fresh state");
                }
            }
        }
    }

    // The interval bound, for any sequence of `now`: in every closed interval of length d the
    // admitted cost is at most b + ⌊d/T⌋.
    admitted.sort_unstable();
    for i in 0..admitted.len() {
        let start = admitted[i].0;
        if i > 0 && admitted[i - 1].0 == start {
            continue;
        }
        let mut sum = 0u64;
        for &(end, c) in &admitted[i..] {
            sum += c;
            let bound = u128::from(b) + u128::from((end - start) / t);
            assert!(u128::from(sum) <= bound, "{sum} in [{start}, {end}]");
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
