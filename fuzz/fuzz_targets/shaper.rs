//! The leaky-bucket `Shaper` against the naive list of scheduled slots of
//! `tollgate_testkit::models::leaky_bucket`, and against `Gcra` through the `Algorithm` trait.
//!
//! Shapers built with `Shaper::new` (up to 16 intervals of queue, not always whole) and
//! `Shaper::nginx_limit_req`; arbitrary operation sequences (reserve, peek_reserve) with zero,
//! fractional, whole-interval, huge, backwards and absolute clock steps and costs from zero to far
//! above the burst. Every operation asserts: the reservation equals the slot list's (proceed
//! instant, delay, limit, remaining, reset, retry_after, and the decision's delay); peek_reserve
//! == reserve; the `Algorithm` trait (peek, check, transition) answers the reservation's decision,
//! whose `delay` is the reservation's delay when accepted and zero when denied, and moves the
//! state exactly like reserve; an error, a denial or a zero cost changes nothing; no accepted
//! request waits longer than the maximum delay; a backwards clock never accepts what the latest
//! instant denies and charges what it would have then; a denied request is accepted after exactly
//! `retry_after`, at the reported proceed instant; at-rest states schedule like fresh ones;
//! requests proceed in arrival order while the clock never goes back; and the proceeding cost in
//! every closed interval of length `d` is at most `b + ⌊d/T⌋`, for any sequence of `now`.
//!
//! With a maximum delay of whole intervals, `M = k·T`, a shaper accepts exactly what a `Gcra` of
//! burst `b + k` admits (the queue is that much more burst, served later): through the trait,
//! every decision equals that GCRA's field by field but for `delay`, and both states drain at the
//! same instant. With no queue at all (`k = 0`) even the delay agrees: it is always zero.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{Algorithm, Duration, Gcra, GcraState, Instant, Quota, Shaper, ShaperState};
use tollgate_fuzz::{Cost, Ops, Step, at_rate};
use tollgate_testkit::models::leaky_bucket::{SlotList, count_limit};

#[derive(Debug, Arbitrary)]
enum Build {
    /// `k` intervals of queue plus `r` modulo an interval.
    New { k: u8, r: u64 },
    /// nginx's `burst` and `delay` parameters.
    Nginx { burst: u8, delay: u8 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    limit: u32,
    window: u64,
    burst: u8,
    build: Build,
    start: Step,
    ops: Ops<(Step, Cost, bool)>,
}

fn run<const HZ: u64>(input: &Input) {
    let limit = input.limit.max(1);
    let window = input.window.max(u64::from(limit));
    let Ok(q) = Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window)) else {
        return;
    };
    let Ok(q) = q.with_burst(1 + u32::from(input.burst % 12)) else {
        return;
    };
    let t = q.interval().as_ticks();
    let sh = match input.build {
        Build::New { k, r } => {
            let m = (u64::from(k % 16).saturating_mul(t)).saturating_add(r % t);
            Shaper::new(q, Duration::<HZ>::from_ticks(m))
        }
        Build::Nginx { burst, delay } => {
            Shaper::nginx_limit_req(q, u32::from(burst % 16), u32::from(delay % 16))
        }
    };
    let Ok(sh) = sh else { return };
    let q = sh.quota();
    let (t, b) = (q.interval().as_ticks(), u64::from(q.burst()));
    let bt = t * b;
    let m = sh.max_delay().as_ticks();
    assert_eq!(sh.capacity(), q.burst());
    assert_eq!(sh.limit(), count_limit(&sh));

    let at = Instant::<HZ>::from_ticks;
    // A queue of whole intervals is that much more GCRA burst: b + k fits, as b·T + M does.
    let gcra = (m % t == 0)
        .then(|| q.with_burst(q.burst() + u32::try_from(m / t).unwrap()).ok())
        .flatten()
        .map(Gcra::new);
    if m % t == 0 {
        assert!(
            gcra.is_some(),
            "b + k intervals of burst do not make a quota"
        );
    }
    let mut g = GcraState::new();
    // The same requests through the Algorithm trait.
    let mut by_trait = sh.new_state();
    let mut model = SlotList::new(&sh);
    let mut s = sh.new_state();
    let mut now = input.start.apply(0, t, bt);
    let (mut latest, mut last_proceed, mut monotone) = (None::<u64>, 0u64, true);
    let mut proceeded: Vec<(u64, u64)> = Vec::new();

    for (i, &(step, cost, reserve)) in input.ops.0.iter().enumerate() {
        if i > 0 {
            let next = step.apply(now, t, bt);
            monotone &= next >= now;
            now = next;
        }
        let cost = cost.of(q.burst());
        let before = s;

        // At rest schedules like fresh, a busy state reports a backlog.
        let fresh = ShaperState::new();
        if sh.is_at_rest(&s, at(now)) {
            for (dt, c) in [(0, 0), (0, 1), (t, 1), (0, q.burst())] {
                let x = at(now.saturating_add(dt));
                assert_eq!(sh.peek_reserve(&s, x, c), sh.peek_reserve(&fresh, x, c));
            }
        } else {
            assert_ne!(
                sh.peek_reserve(&s, at(now), 0),
                sh.peek_reserve(&fresh, at(now), 0)
            );
        }

        let at_latest = latest.map(|l| (l, sh.peek_reserve(&s, at(l), cost)));
        let peeked = sh.peek_reserve(&s, at(now), cost);
        assert_eq!(
            peeked,
            model.reserve::<HZ>(now, cost, false),
            "at {now} cost {cost}"
        );
        // The decision's delay is the reservation's, for an accepted request only.
        if let Ok(p) = peeked {
            let delay = if p.is_accepted() {
                p.delay.as_ticks()
            } else {
                0
            };
            assert_eq!(p.decision.delay.as_ticks(), delay);
        }
        // Through the trait: the reservation's decision, nothing recorded by a peek.
        assert_eq!(by_trait, s);
        assert_eq!(
            Algorithm::peek(&sh, &s, at(now), cost),
            peeked.map(|r| r.decision)
        );
        let moved = sh.transition(&s, at(now), cost);
        assert_eq!(moved.map(|(d, _)| d), peeked.map(|r| r.decision));
        if !reserve {
            continue;
        }
        let r = sh.reserve(&mut s, at(now), cost);
        assert_eq!(r, peeked, "peek_reserve differs from reserve");
        assert_eq!(r, model.reserve::<HZ>(now, cost, true));
        let d = Algorithm::check(&sh, &mut by_trait, at(now), cost);
        assert_eq!(d, r.map(|r| r.decision), "the trait decides unlike reserve");
        assert_eq!(by_trait, s, "the trait records unlike reserve");
        assert_eq!(
            moved,
            d.map(|d| (d, s)),
            "the transition moves unlike reserve"
        );

        // A queue of k whole intervals is GCRA with k more burst, decision for decision but for
        // the delay (a request that can never fit before the end of time waits until it, in
        // both). A cost above the shaper's burst is its error, never shown to the GCRA.
        if let Some(gcra) = &gcra
            && cost <= sh.capacity()
        {
            let gd = gcra.check(&mut g, at(now), cost).unwrap();
            let d = d.unwrap();
            assert_eq!(
                d,
                tollgate_core::Decision {
                    delay: d.delay,
                    ..gd
                },
                "unlike gcra of burst {}",
                gcra.quota().burst()
            );
            assert_eq!(gd.delay.as_ticks(), 0);
            if m == 0 {
                assert_eq!(d.delay.as_ticks(), 0, "delayed without a queue");
            }
            assert_eq!(s.to_raw(), g.to_raw());
        }

        let Ok(r) = r else {
            assert!(cost > sh.capacity());
            assert_eq!(
                d,
                Err(tollgate_core::InsufficientCapacity::new(cost, q.burst()))
            );
            assert_eq!(s, before);
            continue;
        };
        assert!(cost <= sh.capacity());
        assert_eq!(
            r.proceed_at.as_ticks(),
            now.saturating_add(r.delay.as_ticks())
        );
        if r.is_denied() || cost == 0 {
            assert_eq!(s, before);
        }
        if cost == 0 {
            assert!(r.is_accepted() && r.delay.as_ticks() == 0);
        }
        if r.is_accepted() {
            assert!(
                r.delay.as_ticks() <= m,
                "delay {} > {m}",
                r.delay.as_ticks()
            );
            if cost > 0 {
                proceeded.push((r.proceed_at.as_ticks(), u64::from(cost)));
                if monotone {
                    assert!(
                        r.proceed_at.as_ticks() >= last_proceed,
                        "out of arrival order"
                    );
                    last_proceed = r.proceed_at.as_ticks();
                }
            }
        }
        if let Some((l, Ok(lr))) = at_latest
            && now < l
        {
            if lr.is_denied() && lr.delay.as_ticks() > m {
                assert!(r.is_denied(), "accepted at {now} what {l} denies");
            }
            if r.is_accepted() && cost > 0 && before.to_raw() > l {
                assert_eq!(s.to_raw(), before.to_raw() + u64::from(cost) * t);
            }
        }
        latest = latest.max(Some(now));

        // A denial: accepted after exactly retry_after, delayed by exactly M, at the reported
        // proceed instant; one tick sooner still denied.
        if let Some(wait) = r.decision.retry_after.map(|w| w.as_ticks()) {
            if r.delay.as_ticks() > m && s.to_raw().checked_add(u64::from(cost) * t).is_some() {
                let again = sh.peek_reserve(&s, at(now + wait), cost).unwrap();
                assert!(again.is_accepted());
                assert_eq!(
                    (again.delay.as_ticks(), again.proceed_at),
                    (m, r.proceed_at)
                );
            }
            if wait > 0 {
                let early = sh
                    .peek_reserve(&s, at(now.saturating_add(wait) - 1), cost)
                    .unwrap();
                assert!(early.is_denied());
            }
        }
    }

    // The interval bound over the proceed instants, for any sequence of `now`.
    proceeded.sort_unstable();
    for i in 0..proceeded.len() {
        let start = proceeded[i].0;
        if i > 0 && proceeded[i - 1].0 == start {
            continue;
        }
        let mut sum = 0u64;
        for &(end, c) in &proceeded[i..] {
            sum += c;
            let bound = u128::from(b) + u128::from((end - start) / t);
            assert!(
                u128::from(sum) <= bound,
                "{sum} proceeding in [{start}, {end}]"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
