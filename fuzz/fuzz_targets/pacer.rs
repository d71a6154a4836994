//! The client `Pacer` against the naive list of bounds of `tollgate_testkit::models::pacer`.
//!
//! Arbitrary pacer configurations (any base and cap, retry budgets up to `u32::MAX`, spread on or
//! off, any maximum wait) and arbitrary responses: clock steps forwards, backwards and to the end
//! of time, every outcome, server hints of any size (or none) and any random word. Every response
//! asserts: the answer equals the model's; the failure count and `ready_at` are the model's; the
//! answer never precedes `retry_after`, or without one an exhausted window's reset or (with
//! spread) the even share of the reset; `may_send` is exact around `ready_at`; the backoff ceiling and the jittered
//! wait equal the model's, stay within the cap and grow with the random word; an at-rest state
//! answers like a fresh one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{Duration, Instant, Outcome, PacerState, ServerHints};
use tollgate_fuzz::{Ops, Step, at_rate};
use tollgate_testkit::models::pacer::{Config, Model, model_ceiling, model_jitter};

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Kind {
    Success,
    RateLimited,
    Retryable,
    Failed,
    /// An HTTP status, mapped with `Outcome::from_status`.
    Status(u16),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct Response {
    step: Step,
    kind: Kind,
    retry_after: Option<u64>,
    remaining: Option<u32>,
    reset: Option<u64>,
    random: u64,
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    base: u64,
    extra: u64,
    max_retries: Option<u8>,
    spread: bool,
    max_wait: Option<u64>,
    start: Step,
    responses: Ops<Response>,
}

fn run<const HZ: u64>(input: &Input) {
    let base = input.base.max(1);
    let c = Config {
        base,
        cap: base.saturating_add(input.extra),
        max_retries: input.max_retries.map_or(u32::MAX, u32::from),
        spread: input.spread,
        max_wait: input.max_wait,
    };
    let p = c.pacer::<HZ>();
    let at = Instant::<HZ>::from_ticks;
    let mut s = p.new_state();
    let mut m = Model::default();
    let mut now = input.start.apply(0, base, c.cap);
    // The strongest bound the server imposed so far; every later answer respects it.
    let mut bound = 0u64;

    for r in &input.responses.0 {
        now = r.step.apply(now, base, c.cap);
        let outcome = match r.kind {
            Kind::Success => Outcome::Success,
            Kind::RateLimited => Outcome::RateLimited,
            Kind::Retryable => Outcome::Retryable,
            Kind::Failed => Outcome::Failed,
            Kind::Status(code) => Outcome::from_status(code),
        };
        let hints = ServerHints::<HZ> {
            retry_after: r.retry_after.map(Duration::<HZ>::from_ticks),
            remaining: r.remaining,
            reset: r.reset.map(Duration::<HZ>::from_ticks),
        };
        // A Retry-After supersedes what the reset implies.
        if let Some(ra) = r.retry_after {
            bound = bound.max(now.saturating_add(ra));
        } else if let (Some(0), Some(reset)) = (r.remaining, r.reset) {
            bound = bound.max(now.saturating_add(reset));
        } else if let (true, Some(n @ 1..), Some(reset)) = (c.spread, r.remaining, r.reset) {
            bound = bound.max(now.saturating_add(reset.div_ceil(u64::from(n))));
        }

        // The backoff this response would draw, if it is a retry.
        let k = s.failures().saturating_add(1);
        let ceiling = p.backoff_ceiling(k).as_ticks();
        let wait = p.backoff(k, r.random).as_ticks();
        assert_eq!(u128::from(ceiling), model_ceiling(&c, k));
        assert_eq!(
            u128::from(wait),
            model_jitter(u128::from(ceiling), r.random)
        );
        assert!(wait <= ceiling && ceiling <= c.cap);
        assert_eq!(p.backoff(k, 0).as_ticks(), 0);
        assert_eq!(p.backoff(k, u64::MAX).as_ticks(), ceiling);
        assert!(p.backoff(k, r.random.saturating_add(1)).as_ticks() >= wait);

        let got = p.on_response(&mut s, at(now), outcome, hints, r.random);
        let want = m.step(&c, now, outcome, hints, r.random);
        assert_eq!(got, want, "at {now} after {r:?}");
        assert_eq!(s.failures(), m.failures);
        assert_eq!(p.ready_at(&s), at(m.ready_at()));
        assert_eq!(got.at(), p.ready_at(&s));
        assert!(got.at().as_ticks() >= bound.max(now));
        assert!(p.ready_at(&s).as_ticks() >= bound);
        if bound > now {
            assert!(p.may_send(&s, at(bound - 1)).is_err());
        }

        // may_send is exact around ready_at, from any instant.
        let ready = p.ready_at(&s).as_ticks();
        for probe in [now, ready, ready.saturating_sub(1), now.saturating_sub(1)] {
            match p.may_send(&s, at(probe)) {
                Ok(()) => assert!(probe >= ready),
                Err(w) => {
                    assert!(probe < ready);
                    assert_eq!(w.earliest(at(probe)).as_ticks(), ready);
                }
            }
        }

        // At rest answers like fresh.
        if p.is_at_rest(&s, at(now)) {
            let (mut a, mut b) = (s, PacerState::new());
            let x = p.on_response(&mut a, at(now), outcome, hints, r.random);
            let y = p.on_response(&mut b, at(now), outcome, hints, r.random);
            assert_eq!(
                (x, a),
                (y, b),
                "an at-rest state answers unlike a fresh one"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
