//! Property tests for the concurrency limit against a naive counter model.
//!
//! The model is a plain `u64` of cost in flight, decided by `tollgate_testkit::models::concurrency`
//! (shared with the `concurrency` fuzz target), plus, for the permit property, a plain list of what
//! each holder took: admit `c` iff `c == 0` or `in_flight + c ≤ max`, release `c` iff `c ≤
//! in_flight`. Sequences mix acquires, checks, peeks and releases at arbitrary (also backwards)
//! instants, with zero costs, costs above the limit, and over-releases.

use proptest::prelude::*;
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, Duration, Instant, Permit, ReleaseError,
};

use tollgate_testkit::models::concurrency::model_decide;

#[derive(Debug, Clone)]
enum Op {
    /// `Algorithm::check` at an instant (ignored by the algorithm).
    Check { cost: u32, now: u64 },
    /// `acquire` with a cost; the permit is kept.
    Acquire { cost: u32 },
    /// `try_acquire`; the permit is kept.
    TryAcquire,
    /// A raw release of any cost, possibly more than is in flight.
    Release { cost: u32 },
    /// Release one kept permit (chosen by index modulo the number held).
    ReleasePermit { pick: usize },
}

fn cost() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..=10,
        1 => any::<u32>(),
        1 => Just(u32::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (cost(), any::<u64>()).prop_map(|(cost, now)| Op::Check { cost, now }),
        3 => cost().prop_map(|cost| Op::Acquire { cost }),
        2 => Just(Op::TryAcquire),
        2 => cost().prop_map(|cost| Op::Release { cost }),
        3 => any::<usize>().prop_map(|pick| Op::ReleasePermit { pick }),
    ]
}

fn max() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 1u32..=8,
        1 => any::<u32>().prop_map(|m| m.max(1)),
        1 => Just(u32::MAX),
    ]
}

/// Every check the algorithm answers, compared with the model, plus the contract around it.
fn run_against_counter<const HZ: u64>(
    max: u32,
    hint: u64,
    start: u32,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let limit = Concurrency::<HZ>::new(max)
        .unwrap()
        .with_retry_hint(Duration::<HZ>::from_ticks(hint));
    let mut state = ConcurrencyState::from_raw(start);
    let mut model = u64::from(start);
    let mut held: Vec<Permit> = Vec::new();
    let fresh = limit.new_state();
    let probes = [0, 1, max / 2, max];

    for op in ops {
        let before = state;
        match *op {
            Op::Check { cost, now } => {
                let now = Instant::<HZ>::from_ticks(now);
                let peeked = limit.peek(&state, now, cost);
                // Time is irrelevant: any other instant, earlier or later, answers the same.
                let peeked_elsewhere =
                    Algorithm::peek(&limit, &state, Instant::<HZ>::from_ticks(0), cost);
                let got = Algorithm::check(&limit, &mut state, now, cost);
                let want = model_decide::<HZ>(max, hint, model, cost);
                prop_assert_eq!(got, want.map(|(d, _)| d));
                prop_assert_eq!(peeked, got, "peek differs from check");
                prop_assert_eq!(peeked_elsewhere, got, "the instant changed the answer");
                match want {
                    Ok((d, after)) => {
                        model = after;
                        if d.is_denied() {
                            prop_assert_eq!(state, before, "a denied check changed the state");
                        }
                    }
                    Err(_) => prop_assert_eq!(state, before, "an error changed the state"),
                }
            }
            Op::Acquire { cost } => {
                let want = model_decide::<HZ>(max, hint, model, cost);
                match limit.acquire(&mut state, cost) {
                    Err(e) => prop_assert_eq!(Err(e), want.map(|_| ())),
                    Ok(Ok(permit)) => {
                        let (d, after) = want.unwrap();
                        prop_assert!(d.is_allowed(), "acquire admitted what the model denies");
                        prop_assert_eq!(permit.cost(), cost);
                        model = after;
                        held.push(permit);
                    }
                    Ok(Err(busy)) => {
                        let (d, _) = want.unwrap();
                        prop_assert!(d.is_denied(), "acquire denied what the model admits");
                        prop_assert_eq!(Some(busy.retry_after()), d.retry_after);
                        prop_assert_eq!(state, before);
                    }
                }
            }
            Op::TryAcquire => {
                let (d, after) = model_decide::<HZ>(max, hint, model, 1).unwrap();
                match limit.try_acquire(&mut state) {
                    Ok(permit) => {
                        prop_assert!(d.is_allowed());
                        prop_assert_eq!(permit.cost(), 1);
                        model = after;
                        held.push(permit);
                    }
                    Err(busy) => {
                        prop_assert_eq!(Some(busy.retry_after()), d.retry_after);
                        prop_assert_eq!(state, before);
                    }
                }
            }
            Op::Release { cost } => {
                let got = limit.release(&mut state, cost);
                if u64::from(cost) <= model {
                    prop_assert_eq!(got, Ok(()));
                    model -= u64::from(cost);
                } else {
                    prop_assert_eq!(
                        got,
                        Err(ReleaseError {
                            released: cost,
                            in_flight: before.in_flight()
                        })
                    );
                    prop_assert_eq!(state, before, "a failed release changed the state");
                }
            }
            Op::ReleasePermit { pick } => {
                if held.is_empty() {
                    continue;
                }
                let permit = held.swap_remove(pick % held.len());
                let cost = permit.cost();
                let got = limit.release_permit(&mut state, permit);
                if u64::from(cost) <= model {
                    prop_assert_eq!(got, Ok(()));
                    model -= u64::from(cost);
                } else {
                    prop_assert!(got.is_err());
                    prop_assert_eq!(state, before);
                }
            }
        }

        prop_assert_eq!(u64::from(state.in_flight()), model);
        if start <= max {
            prop_assert!(state.in_flight() <= max, "more than max in flight");
        }
        let now = Instant::<HZ>::from_ticks(0);
        let at_rest = Algorithm::is_at_rest(&limit, &state, now);
        prop_assert_eq!(at_rest, model == 0);
        for probe in probes {
            let same = limit.peek(&state, now, probe) == limit.peek(&fresh, now, probe);
            if at_rest {
                prop_assert!(same, "an at-rest state decides unlike a fresh one");
            } else if probe == 0 {
                prop_assert!(!same, "a busy state reports like a fresh one");
            }
        }
    }
    Ok(())
}

/// With releases only of what was taken: in flight is always the sum of what holders took, every
/// release succeeds, and releasing everything returns the state to fresh.
fn holders_account_for_everything<const HZ: u64>(
    max: u32,
    ops: &[(bool, u32, usize)],
) -> Result<(), TestCaseError> {
    let limit = Concurrency::<HZ>::new(max).unwrap();
    let mut state = limit.new_state();
    // What each holder took: a permit, or a plain cost admitted through `check`.
    let mut permits: Vec<Permit> = Vec::new();
    let mut costs: Vec<u32> = Vec::new();
    let mut admitted = 0u64;
    let mut released = 0u64;
    // Time plays no part in a concurrency limit: every check is at one instant.
    let now = Instant::<HZ>::from_ticks(0);

    for &(take, cost, pick) in ops {
        if take {
            if pick % 2 == 0 {
                if let Ok(Ok(p)) = limit.acquire(&mut state, cost) {
                    admitted += u64::from(p.cost());
                    permits.push(p);
                }
            } else if limit
                .check(&mut state, now, cost)
                .is_ok_and(|d| d.is_allowed())
            {
                admitted += u64::from(cost);
                costs.push(cost);
            }
        } else if pick % 2 == 0 && !permits.is_empty() {
            let p = permits.swap_remove(pick % permits.len());
            released += u64::from(p.cost());
            prop_assert_eq!(limit.release_permit(&mut state, p), Ok(()));
        } else if !costs.is_empty() {
            let c = costs.swap_remove(pick % costs.len());
            released += u64::from(c);
            prop_assert_eq!(limit.release(&mut state, c), Ok(()));
        }
        let held: u64 = permits.iter().map(|p| u64::from(p.cost())).sum::<u64>()
            + costs.iter().map(|&c| u64::from(c)).sum::<u64>();
        prop_assert_eq!(u64::from(state.in_flight()), held);
        prop_assert_eq!(held, admitted - released);
        prop_assert!(state.in_flight() <= max);
    }
    for p in permits {
        prop_assert_eq!(limit.release_permit(&mut state, p), Ok(()));
    }
    for c in costs {
        prop_assert_eq!(limit.release(&mut state, c), Ok(()));
    }
    prop_assert_eq!(state, limit.new_state());
    prop_assert!(limit.is_at_rest(&state, now));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decisions_equal_a_naive_counter_at_1_khz(
        max in max(),
        hint in prop_oneof![Just(0u64), 1u64..5_000, any::<u64>()],
        start in prop_oneof![4 => Just(0u32), 1 => any::<u32>()],
        ops in prop::collection::vec(op(), 0..120),
    ) {
        run_against_counter::<1_000>(max, hint, start, &ops)?;
    }

    #[test]
    fn decisions_equal_a_naive_counter_at_1_ghz(
        max in max(),
        hint in any::<u64>(),
        ops in prop::collection::vec(op(), 0..120),
    ) {
        run_against_counter::<1_000_000_000>(max, hint, 0, &ops)?;
    }

    #[test]
    fn nothing_admitted_is_lost_or_double_counted(
        max in max(),
        ops in prop::collection::vec((any::<bool>(), cost(), any::<usize>()), 0..120),
    ) {
        holders_account_for_everything::<1_000>(max, &ops)?;
    }
}
