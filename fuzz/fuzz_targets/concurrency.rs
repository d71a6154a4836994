//! The concurrency limit against the naive counter of `tollgate_testkit::models::concurrency`.
//!
//! Arbitrary sequences of checks and peeks at arbitrary instants (through `check` and through
//! the pure `transition`), acquires and try_acquires that keep their permits, raw releases of any
//! cost (through `release`, or `can_release` first) and permit releases, with zero costs, costs
//! above the limit and over-releases. Every operation asserts: the decision equals the model's;
//! peek == check, whatever the instant; `can_release` answers what `release` does; an error, a
//! denial or a failed release changes nothing; the cost in flight is the model's, never above
//! `max` (from a valid start) and always the admitted cost minus the released cost; `is_at_rest`
//! holds exactly at zero, at any instant, and then decides like a fresh state.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, Duration, Instant, Permit, ReleaseError,
};
use tollgate_fuzz::{Cost, Ops, at_rate};
use tollgate_testkit::models::concurrency::model_decide;

#[derive(Debug, Arbitrary)]
enum Max {
    Small(u8),
    Any(u32),
    Top,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Op {
    /// `check` at an instant (ignored by the algorithm), or the pure `transition`.
    Check {
        cost: Cost,
        now: u64,
        by_trait: bool,
    },
    /// `peek` at an instant.
    Peek { cost: Cost, now: u64 },
    /// `acquire`; the permit is kept.
    Acquire { cost: Cost },
    /// `try_acquire`; the permit is kept.
    TryAcquire,
    /// A raw release of any cost, straight away or asking `can_release` first.
    Release { cost: Cost, by_trait: bool },
    /// Release one kept permit.
    ReleasePermit { pick: u16 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    max: Max,
    hint: Option<u64>,
    start: Option<u32>,
    ops: Ops<Op>,
}

fn run<const HZ: u64>(input: &Input) {
    let max = match input.max {
        Max::Small(x) => 1 + u32::from(x % 12),
        Max::Any(x) => x,
        Max::Top => u32::MAX,
    };
    let Ok(limit) = Concurrency::<HZ>::new(max) else {
        assert_eq!(max, 0);
        return;
    };
    let limit = match input.hint {
        Some(h) => limit.with_retry_hint(Duration::<HZ>::from_ticks(h)),
        None => limit,
    };
    let hint = input.hint.unwrap_or(HZ);
    assert_eq!(limit.retry_hint().as_ticks(), hint);
    let start = input.start.unwrap_or(0);
    let mut state = ConcurrencyState::from_raw(start);
    let mut model = u64::from(start);
    let mut held: Vec<Permit> = Vec::new();
    let (mut admitted, mut released) = (u128::from(start), 0u128);
    let fresh = limit.new_state();
    assert_eq!(Algorithm::capacity(&limit), max);

    for &op in &input.ops.0 {
        let before = state;
        match op {
            Op::Check {
                cost,
                now,
                by_trait,
            } => {
                let cost = cost.of(max);
                let now = Instant::<HZ>::from_ticks(now);
                let peeked = limit.peek(&state, now, cost);
                assert_eq!(
                    limit.peek(&state, Instant::<HZ>::from_ticks(0), cost),
                    peeked,
                    "the instant changed a peek"
                );
                let got = if by_trait {
                    limit.check(&mut state, now, cost)
                } else {
                    let moved = limit.transition(&state, now, cost);
                    assert_eq!(state, before, "a transition changed its input");
                    moved.map(|(d, next)| {
                        state = next;
                        d
                    })
                };
                let want = model_decide::<HZ>(max, hint, model, cost);
                assert_eq!(got, want.map(|(d, _)| d));
                assert_eq!(peeked, got, "peek differs from check");
                match want {
                    Ok((d, after)) => {
                        admitted += u128::from(after - model);
                        model = after;
                        if d.is_denied() || cost == 0 {
                            assert_eq!(state, before, "a denied or free check changed the state");
                        }
                    }
                    Err(_) => assert_eq!(state, before, "an error changed the state"),
                }
            }
            Op::Peek { cost, now } => {
                let cost = cost.of(max);
                let got = Algorithm::peek(&limit, &state, Instant::<HZ>::from_ticks(now), cost);
                assert_eq!(
                    got,
                    model_decide::<HZ>(max, hint, model, cost).map(|(d, _)| d)
                );
            }
            Op::Acquire { cost } => {
                let cost = cost.of(max);
                let want = model_decide::<HZ>(max, hint, model, cost);
                match limit.acquire(&mut state, cost) {
                    Err(e) => {
                        assert_eq!(Err(e), want.map(|_| ()));
                        assert_eq!(state, before);
                    }
                    Ok(Ok(permit)) => {
                        let (d, after) = want.unwrap();
                        assert!(d.is_allowed(), "acquire admitted what the model denies");
                        assert_eq!(permit.cost(), cost);
                        admitted += u128::from(cost);
                        model = after;
                        held.push(permit);
                    }
                    Ok(Err(busy)) => {
                        let (d, _) = want.unwrap();
                        assert!(d.is_denied(), "acquire denied what the model admits");
                        assert_eq!(Some(busy.retry_after()), d.retry_after);
                        assert_eq!(state, before);
                    }
                }
            }
            Op::TryAcquire => {
                let want = model_decide::<HZ>(max, hint, model, 1);
                match limit.try_acquire(&mut state) {
                    Ok(permit) => {
                        let (d, after) = want.unwrap();
                        assert!(d.is_allowed());
                        assert_eq!(permit.cost(), 1);
                        admitted += 1;
                        model = after;
                        held.push(permit);
                    }
                    Err(busy) => {
                        let (d, _) = want.unwrap();
                        assert_eq!(Some(busy.retry_after()), d.retry_after);
                        assert_eq!(state, before);
                    }
                }
            }
            Op::Release { cost, by_trait } => {
                let cost = cost.of(max);
                let can = limit.can_release(&state, cost);
                assert_eq!(state, before, "can_release changed the state");
                let got = if by_trait {
                    limit.release(&mut state, cost)
                } else {
                    can.and_then(|()| limit.release(&mut state, cost))
                };
                assert_eq!(can, got, "can_release answered unlike release");
                if u64::from(cost) <= model {
                    assert_eq!(got, Ok(()));
                    model -= u64::from(cost);
                    released += u128::from(cost);
                } else {
                    let err = ReleaseError {
                        released: cost,
                        in_flight: before.in_flight(),
                    };
                    assert_eq!(got, Err(err));
                    assert_eq!(state, before, "a failed release changed the state");
                }
            }
            Op::ReleasePermit { pick } => {
                if held.is_empty() {
                    continue;
                }
                let permit = held.swap_remove(usize::from(pick) % held.len());
                let cost = permit.cost();
                let got = limit.release_permit(&mut state, permit);
                if u64::from(cost) <= model {
                    assert_eq!(got, Ok(()));
                    model -= u64::from(cost);
                    released += u128::from(cost);
                } else {
                    assert!(got.is_err());
                    assert_eq!(state, before);
                }
            }
        }

        assert_eq!(u64::from(state.in_flight()), model);
        assert_eq!(state.to_raw(), state.in_flight());
        assert_eq!(
            u128::from(state.in_flight()),
            admitted - released,
            "lost or double counted"
        );
        if start <= max {
            assert!(state.in_flight() <= max, "more than max in flight");
        }
        let at_rest = limit.is_at_rest(&state, Instant::<HZ>::from_ticks(0));
        assert_eq!(
            at_rest,
            limit.is_at_rest(&state, Instant::<HZ>::from_ticks(u64::MAX)),
            "at rest at one instant only"
        );
        assert_eq!(at_rest, model == 0);
        let t0 = Instant::<HZ>::from_ticks(0);
        for probe in [0, 1, max / 2, max] {
            let same = limit.peek(&state, t0, probe) == limit.peek(&fresh, t0, probe);
            if at_rest {
                assert!(same, "an at-rest state decides unlike a fresh one");
            } else if probe == 0 {
                assert!(!same, "a busy state reports like a fresh one");
            }
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
