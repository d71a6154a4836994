//! Property tests for the client pacer against a naive reference model.
//!
//! The model (in `tollgate_testkit::models::pacer`, shared with the `pacer` fuzz target) keeps
//! every lower bound any response ever imposed as an exact `u128` instant, in a plain list, and
//! computes the backoff ceiling by repeated doubling; the pacer keeps one saturating `u64` and
//! shifts. They must agree on every answer.

use proptest::prelude::*;
use tollgate_core::{
    Duration, GiveUpReason, Instant, Next, Outcome, Pacer, PacerState, ServerHints,
};

use tollgate_testkit::models::pacer::{Config, Model, model_ceiling, model_jitter};

const HZ: u64 = 1_000;
type I = Instant<HZ>;
type D = Duration<HZ>;

/// One response: how the clock moved, what happened, what the server said, the random word.
#[derive(Debug, Clone, Copy)]
struct Response {
    step: Step,
    outcome: Outcome,
    retry_after: Option<u64>,
    remaining: Option<u32>,
    reset: Option<u64>,
    random: u64,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Forward(u64),
    Back(u64),
    To(u64),
}

impl Step {
    fn apply(self, t: u64) -> u64 {
        match self {
            Step::Forward(d) => t.saturating_add(d),
            Step::Back(d) => t.saturating_sub(d),
            Step::To(x) => x,
        }
    }
}

impl Response {
    fn hints(&self) -> ServerHints<HZ> {
        ServerHints {
            retry_after: self.retry_after.map(D::from_ticks),
            remaining: self.remaining,
            reset: self.reset.map(D::from_ticks),
        }
    }
}

fn ticks() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..100_000u64,
        1 => Just(0u64),
        1 => any::<u64>(),
        1 => Just(u64::MAX),
        1 => (0..1_000u64).prop_map(|d| u64::MAX - d),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => ticks().prop_map(Step::Forward),
        2 => (0..100_000u64).prop_map(Step::Back),
        1 => ticks().prop_map(Step::To),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        3 => Just(Outcome::RateLimited),
        2 => Just(Outcome::Retryable),
        1 => Just(Outcome::Failed),
    ]
}

fn remaining() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        Just(None),
        Just(Some(0u32)),
        (1..100u32).prop_map(Some),
        any::<u32>().prop_map(Some),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    (
        step(),
        outcome(),
        proptest::option::of(ticks()),
        remaining(),
        proptest::option::of(ticks()),
        prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
    )
        .prop_map(
            |(step, outcome, retry_after, remaining, reset, random)| Response {
                step,
                outcome,
                retry_after,
                remaining,
                reset,
                random,
            },
        )
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![4 => 1..5_000u64, 1 => 1..=u64::MAX],
        prop_oneof![4 => 0..200_000u64, 1 => any::<u64>()],
        prop_oneof![4 => 0..6u32, 1 => Just(u32::MAX)],
        any::<bool>(),
        proptest::option::of(ticks()),
    )
        .prop_map(|(base, extra, max_retries, spread, max_wait)| Config {
            base,
            cap: base.saturating_add(extra),
            max_retries,
            spread,
            max_wait,
        })
}

fn responses() -> impl Strategy<Value = Vec<Response>> {
    prop::collection::vec(response(), 0..40)
}

proptest! {
    #[test]
    fn answers_equal_the_reference_model(c in config(), start in ticks(), rs in responses()) {
        let p = c.pacer();
        let mut s = p.new_state();
        let mut m = Model::default();
        let mut now = start;
        for r in &rs {
            now = r.step.apply(now);
            let got = p.on_response(&mut s, I::from_ticks(now), r.outcome, r.hints(), r.random);
            let want = m.step(&c, now, r.outcome, r.hints(), r.random);
            prop_assert_eq!(got, want, "at {} after {:?}", now, r);
            prop_assert_eq!(s.failures(), m.failures);
            prop_assert_eq!(p.ready_at(&s), I::from_ticks(m.ready_at()));
            prop_assert_eq!(got.at(), p.ready_at(&s));
        }
    }

    #[test]
    fn the_next_send_never_precedes_retry_after_or_an_exhausted_reset(
        c in config(), start in ticks(), rs in responses()
    ) {
        let p = c.pacer();
        let mut s = p.new_state();
        let mut now = start;
        // The strongest bound imposed so far; every later answer must respect it.
        let mut bound = 0u64;
        for r in &rs {
            now = r.step.apply(now);
            if let Some(ra) = r.retry_after {
                bound = bound.max(now.saturating_add(ra));
            } else if let (Some(0), Some(reset)) = (r.remaining, r.reset) {
                bound = bound.max(now.saturating_add(reset));
            } else if let (true, Some(n @ 1..), Some(reset)) = (c.spread, r.remaining, r.reset) {
                bound = bound.max(now.saturating_add(reset.div_ceil(u64::from(n))));
            }
            let next = p.on_response(&mut s, I::from_ticks(now), r.outcome, r.hints(), r.random);
            prop_assert!(next.at().as_ticks() >= bound.max(now));
            prop_assert!(p.ready_at(&s).as_ticks() >= bound);
            if bound > now {
                prop_assert!(p.may_send(&s, I::from_ticks(bound - 1)).is_err());
            }
        }
    }

    #[test]
    fn a_retry_waits_exactly_the_jittered_backoff_within_cap_and_range(
        c in config(), now in ticks(), failures in 0..200u32, random in any::<u64>()
    ) {
        let c = Config { max_wait: None, ..c };
        let p = c.pacer().with_max_retries(u32::MAX);
        let k = failures + 1;
        let ceiling = p.backoff_ceiling(k).as_ticks();
        let wait = p.backoff(k, random).as_ticks();
        prop_assert!(wait <= ceiling && ceiling <= c.cap);
        if k - 1 < 64 {
            prop_assert!(u128::from(ceiling) <= u128::from(c.base) << (k - 1));
        }
        prop_assert_eq!(u128::from(ceiling), model_ceiling(&c, k));
        prop_assert_eq!(u128::from(wait), model_jitter(u128::from(ceiling), random));
        prop_assert_eq!(p.backoff(k, 0).as_ticks(), 0);
        prop_assert_eq!(p.backoff(k, u64::MAX).as_ticks(), ceiling);
        prop_assert!(p.backoff(k, random.saturating_add(1)).as_ticks() >= wait);
        // With nothing else in the way, the retry goes exactly `wait` after the failure.
        let mut s = PacerState::new();
        for _ in 0..failures.min(8) {
            p.on_response(&mut s, I::from_ticks(0), Outcome::Retryable, ServerHints::NONE, 0);
        }
        if failures <= 8 {
            let next = p.on_response(&mut s, I::from_ticks(now), Outcome::Retryable, ServerHints::NONE, random);
            prop_assert_eq!(next, Next::SendAt(I::from_ticks(now.saturating_add(wait))));
            prop_assert_eq!(s.failures(), k);
        }
    }

    #[test]
    fn give_up_comes_exactly_after_max_retries_and_success_resets_the_count(
        base in 1..10_000u64, max_retries in 0..12u32, failures_before_success in 0..12u32,
        randoms in prop::collection::vec(any::<u64>(), 13)
    ) {
        let p = Pacer::new(D::from_ticks(base), D::from_ticks(base * 64)).unwrap()
            .with_max_retries(max_retries);
        let mut s = p.new_state();
        let mut now = 0u64;
        // Some failures (within budget), then a success: the count goes back to zero.
        for (i, r) in randoms.iter().take(failures_before_success.min(max_retries) as usize).enumerate() {
            let next = p.on_response(&mut s, I::from_ticks(now), Outcome::RateLimited, ServerHints::NONE, *r);
            prop_assert!(!next.is_give_up());
            prop_assert_eq!(s.failures() as usize, i + 1);
            now = next.at().as_ticks();
        }
        p.on_response(&mut s, I::from_ticks(now), Outcome::Success, ServerHints::NONE, 0);
        prop_assert_eq!(s.failures(), 0);
        // A full run of failures: max_retries retries, then a give-up on the next failure.
        for (i, r) in randoms.iter().enumerate() {
            let next = p.on_response(&mut s, I::from_ticks(now), Outcome::Retryable, ServerHints::NONE, *r);
            let failures = u32::try_from(i).unwrap() + 1;
            if failures <= max_retries {
                prop_assert!(matches!(next, Next::SendAt(_)));
                prop_assert_eq!(s.failures(), failures);
                now = next.at().as_ticks();
            } else {
                prop_assert_eq!(next, Next::GiveUp {
                    attempts: max_retries + 1,
                    reason: GiveUpReason::RetriesExhausted,
                    ready_at: I::from_ticks(now),
                });
                prop_assert_eq!(s.failures(), 0);
                break;
            }
        }
    }

    #[test]
    fn may_send_is_exact_and_at_rest_states_answer_like_fresh_ones(
        c in config(), start in ticks(), rs in responses(), probe in step(), last in response()
    ) {
        let p = c.pacer();
        let mut s = p.new_state();
        let mut now = start;
        for r in &rs {
            now = r.step.apply(now);
            p.on_response(&mut s, I::from_ticks(now), r.outcome, r.hints(), r.random);
        }
        let ready = p.ready_at(&s).as_ticks();
        let t = probe.apply(now);
        match p.may_send(&s, I::from_ticks(t)) {
            Ok(()) => prop_assert!(t >= ready),
            Err(wait) => {
                prop_assert!(t < ready);
                prop_assert_eq!(wait.earliest(I::from_ticks(t)).as_ticks(), ready);
            }
        }
        prop_assert_eq!(p.may_send(&s, I::from_ticks(ready)), Ok(()));
        if ready > 0 {
            prop_assert!(p.may_send(&s, I::from_ticks(ready - 1)).is_err());
        }
        if p.is_at_rest(&s, I::from_ticks(t)) {
            let later = last.step.apply(t).max(t);
            let mut fresh = PacerState::new();
            let a = p.on_response(&mut s, I::from_ticks(later), last.outcome, last.hints(), last.random);
            let b = p.on_response(&mut fresh, I::from_ticks(later), last.outcome, last.hints(), last.random);
            prop_assert_eq!(a, b);
            prop_assert_eq!(s, fresh);
        }
    }
}
