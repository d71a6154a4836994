//! Property tests in virtual time: the throttle schedules exactly as the shared reference model
//! of the core's sliding log says, and tasks hammering one number never exceed its limit.

mod mock;

use std::cell::{Cell, RefCell};

use embassy_futures::select::{Either, select};
use embassy_time::Timer;
use mock::{clock, most_in_any_window, ms, run, run_all};
use proptest::prelude::*;
use tollgate_embassy::number::E164;
use tollgate_embassy::outbound::{Outbound, OutboundKeys, TryError};
use tollgate_embassy::{HZ, now};
use tollgate_testkit::models::sliding_log::Naive;

const LIMIT: u32 = 10;
const WINDOW_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// `try_message`: now or never.
    Try,
    /// `message(...).await` to completion.
    Wait,
    /// `message(...).await`, given up after this many milliseconds.
    GiveUpAfter(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Try),
        Just(Op::Wait),
        (0u64..12_000).prop_map(Op::GiveUpAfter)
    ]
}

/// The turn the reference model gives a request of `cost` at `now`: when its `decide` says it
/// is admitted, at the instant it records it; otherwise after its exact `retry_after`.
fn reference_turn(model: &Naive, now: u64, cost: u32) -> u64 {
    let decision = model.decide::<HZ>(now, cost).unwrap();
    match decision.retry_after {
        None => u64::try_from(model.effective(u128::from(now))).unwrap(),
        Some(wait) => now + wait.as_ticks(),
    }
}

proptest! {
    /// One number, one request at a time: every turn the throttle gives (or refuses) is the
    /// reference model's, a cancelled wait leaves the number's state as it was, and the
    /// admissions never exceed 10 in any 10 s.
    #[test]
    fn one_number_is_scheduled_as_the_reference_model_says(
        steps in prop::collection::vec((0u64..4_000, 1u32..=LIMIT, op()), 1..60),
    ) {
        let _clock = clock();
        let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, LIMIT);
        let from = E164::parse("+15551230001").unwrap();
        let mut model = Naive::new(LIMIT, ms(WINDOW_MS), LIMIT as usize);
        let mut admitted = Vec::new();
        for (gap_ms, cost, op) in steps {
            embassy_time::MockDriver::get().advance(embassy_time::Duration::from_millis(gap_ms));
            let t = now().as_ticks();
            let turn = reference_turn(&model, t, cost);
            match op {
                Op::Try => match outbound.try_message(from, cost) {
                    Ok(got) => {
                        prop_assert_eq!(turn, t, "admitted now, the model says at {}", turn);
                        prop_assert_eq!(got.at.as_ticks(), t);
                        model.record(u128::from(t), cost);
                        admitted.push((t, cost));
                    }
                    Err(TryError::Wait { retry_after, .. }) => {
                        prop_assert_eq!(t + retry_after.as_ticks(), turn);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                },
                Op::Wait => {
                    let got = run(outbound.message(from, cost)).unwrap();
                    prop_assert_eq!(got.at.as_ticks(), turn);
                    model.record(u128::from(turn), cost);
                    admitted.push((turn, cost));
                }
                Op::GiveUpAfter(give_up_ms) => {
                    let before = outbound.messages().state_of(&from);
                    let raced = run(select(outbound.message(from, cost), Timer::after_millis(give_up_ms)));
                    match raced {
                        Either::First(got) => {
                            let got = got.unwrap();
                            prop_assert_eq!(got.at.as_ticks(), turn);
                            model.record(u128::from(turn), cost);
                            admitted.push((turn, cost));
                        }
                        Either::Second(()) => {
                            prop_assert!(turn > t, "an immediate turn cannot be given up");
                            prop_assert_eq!(outbound.messages().state_of(&from), before, "the turn was not given back");
                        }
                    }
                }
            }
        }
        prop_assert!(most_in_any_window(&admitted, ms(WINDOW_MS)) <= u64::from(LIMIT));
    }

    /// Several tasks on one executor hammer one number (and some give up while waiting): the
    /// admissions never exceed 10 in any 10 s, turns are handed out in the order the tasks
    /// asked, and each task wakes at its turn, not before.
    #[test]
    fn tasks_hammering_one_number_never_exceed_the_limit(
        tasks in prop::collection::vec(
            prop::collection::vec((0u64..1_500, 1u32..=3, prop::option::of(0u64..8_000)), 1..12),
            2..6,
        ),
    ) {
        let _clock = clock();
        let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, LIMIT);
        let from = E164::parse("+15551230001").unwrap();
        let asked = Cell::new(0u64);
        let turns = RefCell::new(Vec::new()); // (order asked, turn, cost)
        let futs = tasks
            .iter()
            .map(|requests| {
                let (outbound, asked, turns) = (&outbound, &asked, &turns);
                Box::pin(async move {
                    for &(gap_ms, cost, give_up) in requests {
                        Timer::after_millis(gap_ms).await;
                        let seq = asked.replace(asked.get() + 1);
                        let wait = outbound.message(from, cost);
                        let got = match give_up {
                            None => Some(wait.await),
                            Some(after) => match select(wait, Timer::after_millis(after)).await {
                                Either::First(got) => Some(got),
                                Either::Second(()) => None,
                            },
                        };
                        if let Some(got) = got {
                            let turn = got.unwrap();
                            assert!(now() >= turn.at, "woke before its turn");
                            turns.borrow_mut().push((seq, turn.at.as_ticks(), cost));
                        }
                    }
                }) as core::pin::Pin<Box<dyn core::future::Future<Output = ()>>>
            })
            .collect();
        run_all(futs);
        let mut turns = turns.into_inner();
        let admitted: Vec<(u64, u32)> = turns.iter().map(|&(_, at, c)| (at, c)).collect();
        prop_assert!(most_in_any_window(&admitted, ms(WINDOW_MS)) <= u64::from(LIMIT));
        turns.sort();
        prop_assert!(turns.windows(2).all(|w| w[0].1 <= w[1].1), "turns out of order: {:?}", turns);
    }
}
