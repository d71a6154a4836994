//! Property tests for GCRA against a naive reference model.
//!
//! The model, in `tollgate_testkit::models::gcra` (shared with the `gcra` fuzz target), keeps a
//! plain list of admitted `(time, cost)` pairs, in admission order, and admits a request of cost
//! `c` at `t` iff `c ≤ b` and, for every admitted entry `j`,
//!
//! ```text
//! S_j + c ≤ b + ⌊(t − t_j) / T⌋        (S_j: the cost admitted from j on, j included)
//! ```
//!
//! computed in `i128` with floor division, so a backwards `t` is decided as at that earlier
//! instant. Near the end of time it also denies what GCRA's schedule could not hold: `t + c·T` or
//! some `t_j + (S_j + c)·T` beyond `u64::MAX`. Everything else the tests know (waits, remaining,
//! reset, being at rest) is derived from that rule alone, by search or by the same sums, never from
//! GCRA's theoretical arrival time.
//!
//! Sequences mix zero steps, steps of a fraction of an interval, steps of whole intervals ± one
//! tick, huge steps, backwards steps and starts near the end of time, with zero costs and costs
//! above the burst, at 1 Hz, 1 kHz, 32.768 kHz and 1 GHz, over quotas whose interval divides the
//! window exactly and quotas where it rounds up.

use proptest::prelude::*;
use tollgate_core::{Algorithm, Duration, Gcra, GcraState, Instant, InsufficientCapacity, Quota};

use tollgate_testkit::models::gcra::Model;

/// One step of the clock, decoded against the quota so its sizes are meaningful at every rate.
#[derive(Debug, Clone, Copy)]
enum Step {
    Zero,
    /// Less than two intervals.
    Fraction(u64),
    /// `k` whole intervals, then −1, 0 or +1 tick.
    Intervals(u8, i8),
    /// Up to several bursts' worth of time.
    Long(u64),
    /// Any size at all, log-uniformly up to `2⁶⁴ − 1` ticks (saturating at the end of time).
    Huge(u32, u64),
    /// Backwards by up to two bursts' worth of time.
    Back(u64),
    /// Backwards by up to one interval.
    BackLittle(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Zero),
        4 => any::<u64>().prop_map(Step::Fraction),
        4 => (0u8..12, -1i8..=1).prop_map(|(k, d)| Step::Intervals(k, d)),
        2 => any::<u64>().prop_map(Step::Long),
        1 => (0u32..64, any::<u64>()).prop_map(|(bits, x)| Step::Huge(bits, x)),
        2 => any::<u64>().prop_map(Step::Back),
        2 => any::<u64>().prop_map(Step::BackLittle),
    ]
}

fn cost() -> impl Strategy<Value = u32> {
    prop_oneof![
        10 => 0u32..=12,
        1 => any::<u32>(),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Start {
    Zero,
    Anywhere(u64),
    /// Within a few bursts of the end of time.
    NearTheEnd(u64),
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        2 => Just(Start::Zero),
        3 => any::<u64>().prop_map(Start::Anywhere),
        1 => any::<u64>().prop_map(Start::NearTheEnd),
    ]
}

/// A quota as (limit, window in ticks, burst); the window is either exactly one second (when
/// the rate allows), an exact multiple of the limit, or anything at least the limit (usually
/// rounding the interval up).
fn quota_parts() -> impl Strategy<Value = (u32, u64, u32, u8)> {
    (1u32..=12, 1u64..5_000, 1u32..=10, 0u8..3)
}

fn make_quota<const HZ: u64>(limit: u32, raw: u64, burst: u32, shape: u8) -> Quota<HZ> {
    let window = match shape {
        0 if HZ >= u64::from(limit) => HZ,
        0 | 1 => u64::from(limit) * raw,
        _ => u64::from(limit) + raw,
    };
    Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window))
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

fn advance(now: u64, step: Step, t: u64, bt: u64, forward_only: bool) -> u64 {
    let (by, back) = match step {
        Step::Zero => (0, false),
        Step::Fraction(x) => (x % (2 * t), false),
        Step::Intervals(k, d) => (
            (u64::from(k) * t).saturating_add_signed(i64::from(d)),
            false,
        ),
        Step::Long(x) => (x % (4 * bt + 1), false),
        Step::Huge(bits, x) => (x >> bits, false),
        Step::Back(x) => (x % (2 * bt + 1), true),
        Step::BackLittle(x) => (x % (t + 1), true),
    };
    if back && !forward_only {
        now.saturating_sub(by)
    } else {
        now.saturating_add(by)
    }
}

/// Runs `steps` through GCRA and the model side by side, checking at every step everything the
/// module documents. Returns the admitted `(time, cost)` list.
fn run<const HZ: u64>(
    quota: Quota<HZ>,
    start: Start,
    steps: &[(Step, u32)],
    forward_only: bool,
) -> Result<Vec<(u64, u64)>, TestCaseError> {
    let gcra = Gcra::new(quota);
    let b = quota.burst();
    let t = quota.interval().as_ticks();
    let bt = t * u64::from(b);
    let at = Instant::<HZ>::from_ticks;
    let mut model = Model::new(b, t);
    let mut state = gcra.new_state();
    let fresh = GcraState::new();
    let mut now = match start {
        Start::Zero => 0,
        Start::Anywhere(x) => x,
        Start::NearTheEnd(x) => u64::MAX - x % (3 * bt + 1),
    };
    // The latest instant seen by any check, and the latest of a non-zero check the schedule
    // could hold (admitted, or denied before the end of time).
    let mut latest: Option<u64> = None;
    let mut latest_charged: Option<u64> = None;

    for (i, &(step, cost)) in steps.iter().enumerate() {
        if i > 0 {
            now = advance(now, step, t, bt, forward_only);
        }
        let before = state;

        if cost > b {
            let err = Err(InsufficientCapacity::new(cost, b));
            prop_assert_eq!(gcra.peek(&state, at(now), cost), err);
            prop_assert_eq!(gcra.check(&mut state, at(now), cost), err);
            prop_assert_eq!(state, before);
            continue;
        }
        let c = u64::from(cost);

        // The decision itself, and peek == check.
        let peeked = gcra.peek(&state, at(now), cost).unwrap();
        let d = gcra.check(&mut state, at(now), cost).unwrap();
        prop_assert_eq!(peeked, d, "peek differs from check");
        prop_assert_eq!(d.limit, b);
        let admitted = model.admits(now, c);
        prop_assert_eq!(
            d.is_allowed(),
            admitted,
            "cost {} at {}: gcra {:?}, model {:?}",
            cost,
            now,
            d,
            model.admitted
        );
        if !admitted || c == 0 {
            prop_assert_eq!(
                state,
                before,
                "a denied or zero-cost check changed the state"
            );
        }

        // try_acquire agrees with check(cost 1), in answer and in effect.
        {
            let mut by_try = before;
            let mut by_check = before;
            let tried = gcra.try_acquire(&mut by_try, at(now));
            let checked = gcra.check(&mut by_check, at(now), 1).unwrap();
            prop_assert_eq!(tried.is_ok(), checked.is_allowed());
            prop_assert_eq!(tried.err().map(|w| w.retry_after()), checked.retry_after);
            prop_assert_eq!(by_try, by_check);
        }

        // A backwards step never admits what the latest instant seen would deny (unless that
        // instant is so near the end of time that the schedule cannot hold the request there),
        // and charges as the latest instant that admitted, or denied for want of slack, would
        // have. A zero-cost check records nothing, so it does not count for the second part.
        if let Some(l) = latest.filter(|&l| l > now)
            && admitted
            && c > 0
            && l.checked_add(c * t).is_some()
        {
            prop_assert!(
                gcra.peek(&before, at(l), cost).unwrap().is_allowed(),
                "admitted at {} what {} denies",
                now,
                l
            );
        }
        if let Some(l) = latest_charged.filter(|&l| l > now)
            && admitted
            && c > 0
        {
            let mut then = before;
            prop_assert!(gcra.check(&mut then, at(l), cost).unwrap().is_allowed());
            prop_assert_eq!(then, state, "charged differently than at {}", l);
        }
        latest = latest.max(Some(now));

        // retry_after: exact, or the end of time when the schedule cannot hold the request.
        if let Some(wait) = d.retry_after {
            let w = model.retry_after(now, c);
            prop_assert_eq!(wait.as_ticks(), w, "retry_after at {}", now);
            let then = now + w;
            let mut s = state;
            let retried = gcra.check(&mut s, at(then), cost).unwrap();
            if w == u64::MAX - now && !model.admits(then, c) {
                prop_assert!(retried.is_denied());
            } else {
                prop_assert!(retried.is_allowed(), "denied after exactly retry_after");
                if w > 0 {
                    let mut s = state;
                    let early = gcra.check(&mut s, at(then - 1), cost).unwrap();
                    prop_assert!(early.is_denied(), "admitted one tick before retry_after");
                }
            }
        }

        if admitted {
            model.record(now, c);
            if c > 0 {
                latest_charged = latest_charged.max(Some(now));
            }
        } else if c > 0 && model.retry_after(now, c) != u64::MAX - now {
            // Denied with a finite wait: the schedule is ahead of `now`, so it records `now`.
            latest_charged = latest_charged.max(Some(now));
        }

        // remaining: that many unit requests now, and not one more.
        prop_assert_eq!(u64::from(d.remaining), model.remaining(now), "remaining");
        {
            let mut s = state;
            for k in 0..d.remaining {
                prop_assert!(
                    gcra.try_acquire(&mut s, at(now)).is_ok(),
                    "unit {} of {} remaining denied",
                    k,
                    d.remaining
                );
            }
            prop_assert!(
                gcra.try_acquire(&mut s, at(now)).is_err(),
                "one past remaining admitted"
            );
        }

        // reset: at rest after exactly reset, not one tick sooner; at rest decides like fresh.
        let reset = d.reset.as_ticks();
        prop_assert_eq!(reset, model.reset(now), "reset");
        let rest_at = now.saturating_add(reset);
        prop_assert!(gcra.is_at_rest(&state, at(rest_at)));
        if reset > 0 {
            prop_assert!(!gcra.is_at_rest(&state, at(rest_at - 1)));
        }
        prop_assert_eq!(gcra.is_at_rest(&state, at(now)), model.is_at_rest(now));
        let probes = [0, 1, b];
        for probe_at in [now, rest_at, rest_at.saturating_add(t)] {
            let at_rest = gcra.is_at_rest(&state, at(probe_at));
            prop_assert_eq!(at_rest, model.is_at_rest(probe_at));
            for p in probes {
                let ours = gcra.peek(&state, at(probe_at), p).unwrap();
                let theirs = gcra.peek(&fresh, at(probe_at), p).unwrap();
                if at_rest {
                    prop_assert_eq!(ours, theirs, "at rest but decides unlike a fresh state");
                } else if p == 0 {
                    prop_assert_ne!(ours, theirs, "busy but reports like a fresh state");
                }
            }
        }
    }
    Ok(model.admitted)
}

/// The documented guarantee, checked directly: for non-decreasing instants, the cost admitted in
/// every closed interval `[t_i, t_j]` (enough: any interval shrinks to its first and last
/// admissions) is at most `b + ⌊(t_j − t_i) / T⌋`.
fn guarantee_holds(admitted: &[(u64, u64)], b: u32, t: u64) -> Result<(), TestCaseError> {
    for i in 0..admitted.len() {
        let mut sum = 0u64;
        for j in i..admitted.len() {
            sum += admitted[j].1;
            let d = admitted[j].0 - admitted[i].0;
            prop_assert!(
                sum <= u64::from(b) + d / t,
                "{} admitted in [{}, {}]",
                sum,
                admitted[i].0,
                admitted[j].0
            );
        }
    }
    Ok(())
}

macro_rules! at_rate {
    ($decisions:ident, $guarantee:ident, $hz:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(160))]

            #[test]
            fn $decisions(
                (limit, raw, burst, shape) in quota_parts(),
                start in start(),
                steps in prop::collection::vec((step(), cost()), 1..60),
            ) {
                run::<{ $hz }>(make_quota(limit, raw, burst, shape), start, &steps, false)?;
            }

            #[test]
            fn $guarantee(
                (limit, raw, burst, shape) in quota_parts(),
                start in start(),
                steps in prop::collection::vec((step(), cost()), 1..60),
            ) {
                let quota = make_quota::<{ $hz }>(limit, raw, burst, shape);
                let admitted = run(quota, start, &steps, true)?;
                guarantee_holds(&admitted, quota.burst(), quota.interval().as_ticks())?;
            }
        }
    };
}

at_rate!(
    decisions_match_the_model_at_1_hz,
    the_guarantee_holds_at_1_hz,
    1
);
at_rate!(
    decisions_match_the_model_at_1_khz,
    the_guarantee_holds_at_1_khz,
    1_000
);
at_rate!(
    decisions_match_the_model_at_32_khz,
    the_guarantee_holds_at_32_khz,
    32_768
);
at_rate!(
    decisions_match_the_model_at_1_ghz,
    the_guarantee_holds_at_1_ghz,
    1_000_000_000
);

#[test]
fn the_sampled_quotas_include_intervals_that_round_up() {
    // 5 per second at 32.768 kHz: 6553.6 ticks, rounded up to 6554.
    let q = make_quota::<32_768>(5, 0, 5, 0);
    assert_eq!(q.interval().as_ticks(), 6_554);
    // 7 per 7 + 3 ticks: 1.43 ticks, rounded up to 2.
    assert_eq!(make_quota::<1>(7, 3, 1, 2).interval().as_ticks(), 2);
    // 3 per second at 1 GHz: 333,333,333.3 ns, rounded up.
    assert_eq!(
        make_quota::<1_000_000_000>(3, 0, 1, 0)
            .interval()
            .as_ticks(),
        333_333_334
    );
}

#[test]
fn a_rounded_up_interval_is_exact_at_32_khz() {
    let gcra = Gcra::new(make_quota::<32_768>(5, 0, 5, 0));
    let mut s = gcra.new_state();
    let at = Instant::<32_768>::from_ticks;
    for _ in 0..5 {
        assert!(gcra.try_acquire(&mut s, at(100)).is_ok());
    }
    let wait = gcra.try_acquire(&mut s, at(100)).unwrap_err();
    assert_eq!(wait.retry_after().as_ticks(), 6_554);
    assert!(gcra.try_acquire(&mut s, at(100 + 6_553)).is_err());
    assert!(gcra.try_acquire(&mut s, at(100 + 6_554)).is_ok());
}
