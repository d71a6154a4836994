//! GCRA against the naive admitted-list model of `tollgate_testkit::models::gcra`, and against the
//! leaky-bucket `Meter`, which must decide every request identically.
//!
//! Arbitrary operation sequences (check, peek, try_acquire) with zero, fractional, whole-interval,
//! huge, backwards and absolute clock steps and costs from zero to far above the burst. Every
//! operation asserts: the decision equals the model's field by field; peek == check, and the
//! pure `transition` answers and moves exactly like check; a denied or zero-cost check changes
//! nothing; try_acquire agrees with a unit check; `retry_after` is exact;
//! `remaining` unit requests pass and not one more; `reset` is exact and `is_at_rest` agrees with
//! the model and decides like a fresh state; a backwards clock never admits what the latest
//! instant denies; and, while the clock has never gone back, the documented guarantee holds over
//! the admissions. The `Meter` fed the same operations answers the same, and drains exactly at
//! GCRA's theoretical arrival time.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{
    Algorithm, Decision, Duration, Gcra, GcraState, Instant, InsufficientCapacity, Meter,
    MeterState, Quota,
};
use tollgate_fuzz::{Cost, Ops, Step, at_rate};
use tollgate_testkit::models::gcra::Model;

#[derive(Debug, Arbitrary)]
enum Window {
    /// `limit · k` ticks: the interval is exactly `k`.
    Exact(u16),
    /// `limit + x` ticks: the interval usually rounds up.
    Plus(u64),
    /// Any window at least the limit.
    Any(u64),
    /// One second at the chosen rate.
    Second,
    /// The longest window: with a limit dividing `u64::MAX`, `b·T` can be exactly `u64::MAX`.
    Max,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Kind {
    Check,
    Peek,
    TryAcquire,
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

fn quota<const HZ: u64>(input: &Input) -> Option<Quota<HZ>> {
    let limit = input.limit.max(1);
    let l = u64::from(limit);
    let q = match input.window {
        Window::Exact(k) => Quota::new(limit, Duration::<HZ>::from_ticks(l * u64::from(k.max(1)))),
        Window::Plus(x) => Quota::new(limit, Duration::<HZ>::from_ticks(l.saturating_add(x))),
        Window::Any(x) => Quota::new(limit, Duration::<HZ>::from_ticks(x.max(l))),
        Window::Second => Quota::per_second(limit),
        Window::Max => Quota::new(limit, Duration::<HZ>::from_ticks(u64::MAX)),
    };
    q.ok()?.with_burst(1 + u32::from(input.burst % 24)).ok()
}

/// What the model says a check of `cost` at `now` answers.
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

fn run<const HZ: u64>(input: &Input) {
    let Some(q) = quota::<HZ>(input) else { return };
    let gcra = Gcra::new(q);
    let meter = Meter::new(q);
    let b = q.burst();
    let t = q.interval().as_ticks();
    let bt = t * u64::from(b);
    let at = Instant::<HZ>::from_ticks;
    let fresh = GcraState::new();
    let mut model = Model::new(b, t);
    let mut state = gcra.new_state();
    let mut m = MeterState::new();
    let mut now = input.start.apply(0, t, bt);
    // The latest instant seen by any check, and the latest of a non-zero check the schedule
    // could hold (admitted, or denied short of the end of time).
    let mut latest: Option<u64> = None;
    let mut latest_charged: Option<u64> = None;
    // Admissions while the clock has never gone back, for the guarantee.
    let mut monotone = true;
    let mut admitted: Vec<(u64, u64)> = Vec::new();

    for (i, &(step, cost, kind)) in input.ops.0.iter().enumerate() {
        if i > 0 {
            let next = step.apply(now, t, bt);
            monotone &= next >= now;
            now = next;
        }
        let cost = match kind {
            Kind::TryAcquire => 1,
            _ => cost.of(b),
        };
        let before = state;
        let before_m = m;

        // The meter agrees on every probe before anything is recorded.
        for probe in [0, 1, cost, b, b + 1] {
            assert_eq!(
                meter.peek(&m, at(now), probe),
                gcra.peek(&state, at(now), probe)
            );
        }

        if cost > b {
            let err = Err(InsufficientCapacity::new(cost, b));
            assert_eq!(gcra.peek(&state, at(now), cost), err);
            assert_eq!(
                gcra.transition(&state, at(now), cost),
                err.map(|d| (d, state))
            );
            assert_eq!(gcra.check(&mut state, at(now), cost), err);
            assert_eq!(meter.check(&mut m, at(now), cost), err);
            assert_eq!((state, m), (before, before_m));
            continue;
        }
        let c = u64::from(cost);
        let want = expected::<HZ>(&model, now, cost);
        let peeked = gcra.peek(&state, at(now), cost).unwrap();
        assert_eq!(
            peeked, want,
            "cost {cost} at {now}: model {:?}",
            model.admitted
        );

        // The pure transition answers and moves exactly like check, leaving its input alone.
        {
            let mut by_check = before;
            let checked = gcra.check(&mut by_check, at(now), cost);
            assert_eq!(
                gcra.transition(&before, at(now), cost),
                checked.map(|d| (d, by_check))
            );
        }

        // try_acquire agrees with check(cost 1), in answer and in effect.
        {
            let (mut by_try, mut by_check) = (before, before);
            let tried = gcra.try_acquire(&mut by_try, at(now));
            let checked = gcra.check(&mut by_check, at(now), 1).unwrap();
            assert_eq!(tried.is_ok(), checked.is_allowed());
            assert_eq!(tried.err().map(|w| w.retry_after()), checked.retry_after);
            assert_eq!(by_try, by_check);
        }

        if let Kind::Peek = kind {
            assert_eq!(state, before);
            continue;
        }
        let d = match kind {
            Kind::TryAcquire => {
                let r = gcra.try_acquire(&mut state, at(now));
                assert_eq!(r.err().map(|w| w.retry_after()), peeked.retry_after);
                peeked
            }
            _ => gcra.check(&mut state, at(now), cost).unwrap(),
        };
        assert_eq!(d, peeked, "peek differs from check");
        assert_eq!(
            meter.check(&mut m, at(now), cost),
            Ok(d),
            "the meter differs"
        );
        let (level, last) = m.to_raw();
        assert_eq!(
            last.checked_add(level),
            Some(state.to_raw()),
            "meter drains off schedule"
        );
        let ok = d.is_allowed();
        if !ok || c == 0 {
            assert_eq!(
                state, before,
                "a denied or zero-cost check changed the state"
            );
            assert_eq!(m, before_m, "a denied or zero-cost check changed the meter");
        }

        // A backwards step never admits what the latest instant seen would deny (unless the
        // schedule cannot hold the request there), and charges as the latest charged instant.
        if let Some(l) = latest.filter(|&l| l > now)
            && ok
            && c > 0
            && l.checked_add(c * t).is_some()
        {
            assert!(
                gcra.peek(&before, at(l), cost).unwrap().is_allowed(),
                "admitted at {now} what {l} denies"
            );
        }
        if let Some(l) = latest_charged.filter(|&l| l > now)
            && ok
            && c > 0
        {
            let mut then = before;
            assert!(gcra.check(&mut then, at(l), cost).unwrap().is_allowed());
            assert_eq!(then, state, "charged differently than at {l}");
        }
        latest = latest.max(Some(now));

        // retry_after: exact, or the end of time when the schedule cannot hold the request.
        if let Some(wait) = d.retry_after {
            let w = wait.as_ticks();
            let then = now + w;
            let mut s = state;
            let retried = gcra.check(&mut s, at(then), cost).unwrap();
            if w == u64::MAX - now && !model.admits(then, c) {
                assert!(retried.is_denied());
            } else {
                assert!(retried.is_allowed(), "denied after exactly retry_after");
                if w > 0 {
                    let mut s = state;
                    assert!(
                        gcra.check(&mut s, at(then - 1), cost).unwrap().is_denied(),
                        "admitted one tick early"
                    );
                }
            }
        }

        if ok {
            model.record(now, c);
            if c > 0 {
                latest_charged = latest_charged.max(Some(now));
                if monotone {
                    admitted.push((now, c));
                    // The guarantee over every interval ending at this admission.
                    let mut sum = 0u64;
                    for &(tj, cj) in admitted.iter().rev() {
                        sum += cj;
                        assert!(
                            u128::from(sum) <= u128::from(b) + u128::from((now - tj) / t),
                            "{sum} admitted in [{tj}, {now}]"
                        );
                    }
                }
            }
        } else if c > 0 && model.retry_after(now, c) != u64::MAX - now {
            latest_charged = latest_charged.max(Some(now));
        }

        // remaining: that many unit requests now, and not one more.
        {
            let mut s = state;
            for _ in 0..d.remaining {
                assert!(
                    gcra.try_acquire(&mut s, at(now)).is_ok(),
                    "a remaining unit denied"
                );
            }
            assert!(
                gcra.try_acquire(&mut s, at(now)).is_err(),
                "one past remaining admitted"
            );
        }

        // reset: at rest after exactly reset, not one tick sooner; at rest decides like fresh.
        let reset = d.reset.as_ticks();
        let rest_at = now.saturating_add(reset);
        assert!(gcra.is_at_rest(&state, at(rest_at)));
        if reset > 0 {
            assert!(!gcra.is_at_rest(&state, at(rest_at - 1)));
        }
        for probe_at in [
            now,
            rest_at,
            rest_at.saturating_add(t),
            now.saturating_sub(1),
        ] {
            let at_rest = gcra.is_at_rest(&state, at(probe_at));
            assert_eq!(at_rest, model.is_at_rest(probe_at));
            assert_eq!(at_rest, meter.is_at_rest(&m, at(probe_at)));
            for p in [0, 1, b] {
                let ours = gcra.peek(&state, at(probe_at), p).unwrap();
                let theirs = gcra.peek(&fresh, at(probe_at), p).unwrap();
                if at_rest {
                    assert_eq!(ours, theirs, "at rest but decides unlike a fresh state");
                } else if p == 0 {
                    assert_ne!(ours, theirs, "busy but reports like a fresh state");
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
