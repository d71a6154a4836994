//! The sliding log against the naive list of every admission of
//! `tollgate_testkit::models::sliding_log`, for rings from one entry to more than the limit and
//! `u16`, `u32` and `u64` offsets, built for a fixed ring (`new`, `new_undersized`) and, in a
//! larger inline storage, for a ring sized at run time (`with_capacity`).
//!
//! Arbitrary operation sequences (check, peek, try_acquire) with zero, tiny, window-sized, huge,
//! backwards and absolute clock steps (also across the `u16` and `u32` offset ranges and to the
//! end of time) and costs from zero to far above the limit. Every operation asserts: the decision
//! equals the naive log's field by field; peek == check and the log of the same ring sized at run
//! time decides and records alike;
//! try_acquire agrees with a unit check; an error, a denial or a zero cost changes nothing;
//! `retry_after` is exact (short of the end of time); no window of `W` ticks holds more than `N`
//! admitted cost; a backwards clock never admits what the latest instant seen would deny;
//! `is_at_rest` holds exactly when the state decides like a fresh one, now and later.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::algorithm::sliding_log::SlidingLogIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{
    Algorithm, Codec, ConfigError, Duration, Instant, LogState, Offset, Quota, SlidingLog,
};
use tollgate_fuzz::{Cost, Ops, Step, at_rate};
use tollgate_testkit::models::sliding_log::Naive;

/// The same ring, sized at run time in an inline storage with room to spare.
type Sized<const HZ: u64, O> = SlidingLogIn<HZ, O, Inline<24>>;

/// A state's raw record (see `tollgate_core::codec`).
fn record<S: Codec>(s: &S) -> Vec<u8> {
    let mut out = vec![0; s.encoded_len()];
    let n = s.encode(&mut out).unwrap();
    out.truncate(n);
    out
}

#[derive(Debug, Arbitrary)]
enum Window {
    /// The limit plus up to 255 ticks.
    Small(u8),
    /// Around the largest window a `u16` offset holds.
    NearU16(u8),
    /// Around the largest window a `u32` offset holds.
    NearU32(u8),
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
    ring: u8,
    limit: u8,
    window: Window,
    start: Step,
    ops: Ops<(Step, Cost, Kind)>,
}

fn run<const HZ: u64>(input: &Input) {
    match input.ring % 9 {
        0 => run_with::<HZ, 1, u32>(input),
        1 => run_with::<HZ, 2, u32>(input),
        2 => run_with::<HZ, 3, u32>(input),
        3 => run_with::<HZ, 6, u32>(input),
        4 => run_with::<HZ, 20, u32>(input),
        5 => run_with::<HZ, 4, u16>(input),
        6 => run_with::<HZ, 20, u16>(input),
        7 => run_with::<HZ, 3, u64>(input),
        _ => run_with::<HZ, 20, u64>(input),
    }
}

fn run_with<const HZ: u64, const CAP: usize, O: Offset>(input: &Input) {
    let limit = 1 + u32::from(input.limit % 24);
    let l = u64::from(limit);
    let window = match input.window {
        Window::Small(x) => l + u64::from(x),
        Window::NearU16(x) => (1 << 16) - 128 + u64::from(x),
        Window::NearU32(x) => (1 << 32) - 128 + u64::from(x),
        Window::Any(x) => x.max(l),
    };
    // A window near u64::MAX may not hold limit·interval: a typed error, covered by `config`.
    let Ok(quota) = Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window)) else {
        return;
    };
    let Ok(log) = SlidingLog::<HZ, CAP, O>::new_undersized(quota) else {
        // A ring of one entry only takes a limit of one.
        assert!(window > O::MAX_WINDOW || (CAP == 1 && limit > 1));
        return;
    };
    let strict = SlidingLog::<HZ, CAP, O>::new(quota);
    assert_eq!(
        strict.err(),
        (CAP < limit as usize).then_some(ConfigError::CapacityTooSmall)
    );
    assert_eq!(Algorithm::capacity(&log), limit);
    assert_eq!(
        (log.limit(), log.window().as_ticks(), log.entries()),
        (limit, window, CAP as u32)
    );
    // The same ring, sized at run time: it decides and records alike, in a larger storage.
    let sized = Sized::<HZ, O>::with_capacity(limit, Duration::<HZ>::from_ticks(window), CAP)
        .expect("a ring the fixed log takes");
    assert_eq!(sized.entries(), CAP as u32);
    let mut twin = Algorithm::new_state(&sized);

    let at = Instant::<HZ>::from_ticks;
    let fresh: LogState<CAP, O> = log.new_state();
    let mut state = log.new_state();
    let mut naive = Naive::new(limit, window, CAP);
    // Every admission as (recorded instant, cost), built from the decisions alone.
    let mut admitted: Vec<(u64, u32)> = Vec::new();
    let mut latest_seen: Option<u64> = None;
    let mut rest_checked = false;
    let ops = &input.ops.0;
    let mut now = input.start.apply(0, 1, window);

    for (i, &(step, cost, kind)) in ops.iter().enumerate() {
        if i > 0 {
            now = step.apply(now, 1, window);
        }
        let cost = match kind {
            Kind::TryAcquire => 1,
            _ => cost.of(limit),
        };
        let before = state;

        // At rest means: decides like a fresh state, now and at every later instant. Replay the
        // rest of the operations (kept at or after `now`) on both, the first time a used state
        // rests.
        if log.is_at_rest(&state, at(now)) {
            for c in [0, 1, limit] {
                assert_eq!(log.peek(&state, at(now), c), log.peek(&fresh, at(now), c));
            }
            if !rest_checked && state != fresh {
                rest_checked = true;
                let (mut a, mut b) = (state, fresh);
                let mut t = now;
                for &(s, c, _) in &ops[i..] {
                    t = s.apply(t, 1, window).max(now);
                    let c = c.of(limit);
                    assert_eq!(log.check(&mut a, at(t), c), log.check(&mut b, at(t), c));
                }
            }
        } else {
            // Something is still in the window: a fresh state would admit the whole limit.
            assert!(log.peek(&state, at(now), limit).unwrap().is_denied());
        }

        // try_acquire agrees with check(cost 1), in answer and in effect.
        {
            let (mut by_try, mut by_check) = (before, before);
            let tried = log.try_acquire(&mut by_try, at(now));
            let checked = log.check(&mut by_check, at(now), 1).unwrap();
            assert_eq!(tried.is_ok(), checked.is_allowed());
            assert_eq!(tried.err().map(|w| w.retry_after()), checked.retry_after);
            assert_eq!(by_try, by_check);
        }

        let expected = naive.decide::<HZ>(now, cost);
        let peeked = log.peek(&state, at(now), cost);
        assert_eq!(
            sized.peek(&twin, at(now), cost),
            peeked,
            "the sized ring differs"
        );
        assert_eq!(peeked, expected, "op {i}: {step:?} at {now} cost {cost}");
        let checked = match kind {
            Kind::Peek => {
                assert_eq!(state, before);
                continue;
            }
            Kind::TryAcquire => {
                let r = log.try_acquire(&mut state, at(now));
                let d = peeked.unwrap();
                assert_eq!(r.err().map(|w| w.retry_after()), d.retry_after);
                Ok(d)
            }
            Kind::Check => log.check(&mut state, at(now), cost),
        };
        assert_eq!(peeked, checked, "peek == check");
        let _ = sized.check(&mut twin, at(now), cost);
        // Their records hold no storage size: the same entries write the same bytes.
        assert_eq!(
            record(&twin),
            record(&state),
            "the sized ring records unlike the fixed one"
        );
        assert_eq!(
            sized.is_at_rest(&twin, at(now)),
            log.is_at_rest(&state, at(now))
        );

        let Ok(d) = checked else {
            assert_eq!(state, before);
            continue;
        };
        assert_eq!(d.limit, limit);
        if d.is_allowed() {
            naive.record(u128::from(now), cost);
            if cost > 0 {
                let recorded = admitted.last().map_or(now, |&(t, _)| t.max(now));
                admitted.push((recorded, cost));
                // The window ending at the newest admission (instants are non-decreasing).
                let sum: u64 = admitted
                    .iter()
                    .filter(|&&(x, _)| u128::from(x) + u128::from(window) > u128::from(recorded))
                    .map(|&(_, c)| u64::from(c))
                    .sum();
                assert!(
                    sum <= u64::from(limit),
                    "{sum} in the window ending at {recorded}"
                );
            } else {
                assert_eq!(state, before, "a zero cost records nothing");
            }
            // A backwards clock never admits what the latest instant seen would deny.
            if let Some(latest) = latest_seen.filter(|&l| l > now) {
                assert!(log.peek(&before, at(latest), cost).unwrap().is_allowed());
            }
        } else {
            assert_eq!(state, before, "a denied check changes nothing");
            let wait = d.retry_after.unwrap().as_ticks();
            assert!(wait > 0);
            if let Some(retry) = now.checked_add(wait).filter(|_| wait < u64::MAX) {
                assert!(log.peek(&state, at(retry - 1), cost).unwrap().is_denied());
                let mut s = state;
                assert!(log.check(&mut s, at(retry), cost).unwrap().is_allowed());
            }
        }
        latest_seen = Some(latest_seen.map_or(now, |l| l.max(now)));
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
