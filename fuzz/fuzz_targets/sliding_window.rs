//! The sliding window counter against the naive bucket log of
//! `tollgate_testkit::models::sliding_window`, at 2, 3, 4, 5 and 11 buckets, built for a fixed
//! number of buckets (`new`) and, in a larger inline storage, for a number chosen at run time
//! (`with_buckets`).
//!
//! Arbitrary operation sequences (check, peek, try_acquire) with zero, sub-bucket, window-sized,
//! huge, backwards and absolute clock steps and costs from zero to far above the limit. Every
//! operation asserts: the decision equals the model's field by field; peek == check, and the
//! window of the same buckets chosen at run time decides alike and holds the same counts; an error,
//! a denial or a zero cost changes nothing; try_acquire agrees with a unit check; `measure` and
//! `is_at_rest` agree with the model; `retry_after` and `reset` are exact (short of the end of
//! time); an at-rest state decides like a fresh one and a busy one does not; no window of `W`
//! ticks ever holds more than `N` recorded cost; and, while the clock has never gone back, a
//! denial means the last `S` ticks really hold more than `N` minus the cost.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{Algorithm, Duration, Instant, Quota, SlidingWindow, WindowState};
use tollgate_fuzz::{Cost, Ops, Step, at_rate};
use tollgate_testkit::models::sliding_window::Model;

/// The same buckets, chosen at run time, in an inline storage with room to spare.
type Sized<const HZ: u64> = SlidingWindowIn<HZ, Inline<16>>;

#[derive(Debug, Arbitrary)]
enum Limit {
    Small(u8),
    /// Near `u32::MAX`.
    Huge(u8),
    Any(u32),
}

#[derive(Debug, Arbitrary)]
enum Window {
    Small(u8),
    Medium(u16),
    Any(u64),
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
    buckets: u8,
    limit: Limit,
    window: Window,
    start: Step,
    ops: Ops<(Step, Cost, Kind)>,
}

fn run<const HZ: u64>(input: &Input) {
    match input.buckets % 5 {
        0 => run_with::<HZ, 2>(input),
        1 => run_with::<HZ, 3>(input),
        2 => run_with::<HZ, 4>(input),
        3 => run_with::<HZ, 5>(input),
        _ => run_with::<HZ, 11>(input),
    }
}

fn run_with<const HZ: u64, const B: usize>(input: &Input) {
    let n = match input.limit {
        Limit::Small(x) => 1 + u32::from(x % 40),
        Limit::Huge(x) => u32::MAX - u32::from(x % 41),
        Limit::Any(x) => x.max(1),
    };
    let w = match input.window {
        Window::Small(x) => 2 + u64::from(x),
        Window::Medium(x) => 2 + u64::from(x),
        Window::Any(x) => x,
    }
    .max(u64::from(n));
    let Ok(q) = Quota::<HZ>::new(n, Duration::<HZ>::from_ticks(w)) else {
        return;
    };
    let Ok(sw) = SlidingWindow::<HZ, B>::new(q) else {
        return;
    };
    let (g, span) = (sw.granularity().as_ticks(), sw.span().as_ticks());
    assert_eq!(
        (sw.limit(), sw.window().as_ticks(), sw.buckets()),
        (n, w, B as u32)
    );
    let sized = Sized::<HZ>::with_buckets(n, Duration::<HZ>::from_ticks(w), B)
        .expect("buckets the fixed window takes");
    assert_eq!(
        (sized.granularity(), sized.span()),
        (sw.granularity(), sw.span())
    );
    let mut twin = Algorithm::new_state(&sized);
    let at = Instant::<HZ>::from_ticks;
    let mut model = Model::new(n, w, B);
    assert_eq!(model.g, u128::from(g));
    let mut s: WindowState<B> = sw.new_state();
    let fresh: WindowState<B> = sw.new_state();
    let mut now = input.start.apply(0, g, span);
    let mut monotone = true;
    // Admissions as (now, cost) while the clock has never gone back.
    let mut admitted: Vec<(u64, u32)> = Vec::new();

    for (i, &(step, cost, kind)) in input.ops.0.iter().enumerate() {
        if i > 0 {
            let next = step.apply(now, g, span);
            monotone &= next >= now;
            now = next;
        }
        let cost = match kind {
            Kind::TryAcquire => 1,
            _ => cost.of(n),
        };
        let t = at(now);
        let before = s;

        assert_eq!(sw.is_at_rest(&s, t), model.is_at_rest(now));
        assert_eq!(sized.is_at_rest(&twin, t), model.is_at_rest(now));
        assert_eq!(sw.measure(&s, t).cost, model.counted(model.bucket(now)));

        // An at-rest state decides like a fresh one, now and later; a busy one does not.
        if sw.is_at_rest(&s, t) {
            for later in [now, now.saturating_add(g), now.saturating_add(span)] {
                for c in [0, 1, n] {
                    assert_eq!(sw.peek(&s, at(later), c), sw.peek(&fresh, at(later), c));
                }
            }
        } else {
            assert!(sw.peek(&s, t, n).unwrap().is_denied());
            assert!(sw.peek(&fresh, t, n).unwrap().is_allowed());
        }

        // try_acquire agrees with check(cost 1), in answer and in effect.
        {
            let (mut by_try, mut by_check) = (before, before);
            let tried = sw.try_acquire(&mut by_try, t);
            let checked = sw.check(&mut by_check, t, 1).unwrap();
            assert_eq!(tried.is_ok(), checked.is_allowed());
            assert_eq!(tried.err().map(|w| w.retry_after()), checked.retry_after);
            assert_eq!(by_try, by_check);
        }

        let peeked = sw.peek(&s, t, cost);
        assert_eq!(
            sized.peek(&twin, t, cost),
            peeked,
            "the sized window differs"
        );
        assert_eq!(sized.measure(&twin, t), sw.measure(&s, t));
        if let Kind::Peek = kind {
            let want = model.clone().check::<HZ>(now, cost);
            assert_eq!(
                peeked,
                want.map(|a| a.decision),
                "peek at {now} cost {cost}"
            );
            continue;
        }
        let got = match kind {
            Kind::TryAcquire => {
                let r = sw.try_acquire(&mut s, t);
                let d = peeked.unwrap();
                assert_eq!(r.err().map(|w| w.retry_after()), d.retry_after);
                Ok(d)
            }
            _ => sw.check(&mut s, t, cost),
        };
        assert_eq!(peeked, got, "peek == check at {now} for {cost}");
        let _ = sized.check(&mut twin, t, cost);
        let want = model.check::<HZ>(now, cost);
        assert_eq!(got, want.map(|a| a.decision), "at {now} cost {cost}");

        let Ok(answer) = want else {
            assert_eq!(s, before, "an error changes nothing");
            continue;
        };
        let d = answer.decision;
        if d.is_denied() || cost == 0 {
            assert_eq!(s, before, "denied or free: state unchanged");
        }
        if let (Some(wait), true) = (d.retry_after, answer.retry_exact) {
            // Liveness: admitted after exactly the wait, and not one tick earlier.
            let retry = now + wait.as_ticks();
            assert!(wait.as_ticks() > 0);
            assert!(
                sw.check(&mut s.clone(), at(retry), cost)
                    .unwrap()
                    .is_allowed()
            );
            assert!(
                sw.check(&mut s.clone(), at(retry - 1), cost)
                    .unwrap()
                    .is_denied()
            );
        }
        if answer.reset_exact {
            let rest = now + d.reset.as_ticks();
            assert!(sw.is_at_rest(&s, at(rest)));
            if d.reset.as_ticks() > 0 {
                assert!(!sw.is_at_rest(&s, at(rest - 1)));
            }
        }

        if d.is_allowed() && cost > 0 {
            // The guarantee over the recorded instants (non-decreasing): the window ending at
            // the newest admission holds at most N.
            let &(_, _, end) = model.log.last().unwrap();
            let inside: u64 = model
                .log
                .iter()
                .filter(|&&(_, _, x)| x <= end && end - x < w)
                .map(|&(_, c, _)| u64::from(c))
                .sum();
            assert!(
                inside <= u64::from(n),
                "{inside} in the window ending at {end}"
            );
            if monotone {
                admitted.push((now, cost));
            }
        } else if d.is_denied() && monotone {
            // The exact under-admission bound: denied only if the last S ticks hold more than
            // N − cost.
            let recent: u64 = admitted
                .iter()
                .filter(|&&(x, _)| now - x < span)
                .map(|&(_, c)| u64::from(c))
                .sum();
            assert!(
                recent + u64::from(cost) > u64::from(n),
                "denied with {recent} in the span"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
