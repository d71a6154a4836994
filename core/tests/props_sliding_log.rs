//! Property tests for the sliding log against a naive log: a plain list of every admission (in
//! `tollgate_testkit::models::sliding_log`, shared with the `sliding_log` fuzz target).
//!
//! Over arbitrary sequences of (clock step, cost), with zero, tiny, window-sized, huge and
//! backwards steps, zero costs and costs above the limit, rings from one entry up to the limit
//! and `u16`, `u32` and `u64` offsets, every check proves:
//!
//! - the decision equals the naive log's, field by field (`remaining` by replaying unit requests,
//!   `retry_after` by trying each expiry in turn);
//! - `peek` returns what `check` then returns, and the `Algorithm` trait agrees;
//! - a denied check, an error and a zero cost leave the state unchanged;
//! - liveness: a denied request is admitted after exactly `retry_after`, not one tick sooner;
//! - the guarantee, over the admissions themselves: no window of length `W` holds more than `N`;
//! - a backwards clock never admits what the latest instant seen would deny;
//! - `is_at_rest` holds exactly when the state decides like a fresh one.

use proptest::prelude::*;
use tollgate_core::{
    Algorithm, ConfigError, Duration, Instant, LogState, Offset, Quota, SlidingLog,
};

use tollgate_testkit::models::sliding_log::Naive;

const HZ: u64 = 1_000;

/// How the clock moves before a request.
#[derive(Debug, Clone, Copy)]
enum Step {
    Stay,
    /// Forward by a few ticks, so that many entries share a window.
    Ticks(u8),
    /// Forward by up to a quarter window.
    Short(u64),
    /// Forward by up to about two windows.
    Long(u64),
    /// Forward by the window plus −2..=2 ticks.
    AboutAWindow(i8),
    /// Forward by anything, saturating at the end of time.
    Huge(u64),
    /// Back by up to about two windows.
    Back(u64),
    /// Back by anything.
    BackFar(u64),
}

impl Step {
    fn apply(self, t: u64, window: u64) -> u64 {
        let near = window.saturating_mul(2).saturating_add(2);
        match self {
            Step::Stay => t,
            Step::Ticks(d) => t.saturating_add(u64::from(d)),
            Step::Short(d) => t.saturating_add(d % (window / 4 + 1)),
            Step::Long(d) => t.saturating_add(d % near),
            Step::AboutAWindow(k) => t.saturating_add(window).saturating_add_signed(i64::from(k)),
            Step::Huge(d) => t.saturating_add(d),
            Step::Back(d) => t.saturating_sub(d % near),
            Step::BackFar(d) => t.saturating_sub(d),
        }
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Stay),
        8 => (1u8..=3).prop_map(Step::Ticks),
        5 => any::<u64>().prop_map(Step::Short),
        1 => any::<u64>().prop_map(Step::Long),
        1 => (-2i8..=2).prop_map(Step::AboutAWindow),
        1 => any::<u64>().prop_map(Step::Huge),
        2 => any::<u64>().prop_map(Step::Back),
        1 => any::<u64>().prop_map(Step::BackFar),
    ]
}

/// A request's cost, drawn relative to the limit.
#[derive(Debug, Clone, Copy)]
enum Cost {
    Unit,
    Zero,
    /// Anything from zero to one above the limit.
    UpTo(u32),
    /// Anything at all, mostly far above the limit.
    Any(u32),
}

impl Cost {
    fn of(self, limit: u32) -> u32 {
        match self {
            Cost::Unit => 1,
            Cost::Zero => 0,
            Cost::UpTo(x) => x % (limit + 2),
            Cost::Any(x) => x,
        }
    }
}

fn cost() -> impl Strategy<Value = Cost> {
    prop_oneof![
        6 => Just(Cost::Unit),
        1 => Just(Cost::Zero),
        4 => any::<u32>().prop_map(Cost::UpTo),
        1 => any::<u32>().prop_map(Cost::Any),
    ]
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        any::<u64>(),
        (u64::MAX - 300)..=u64::MAX,
        ((1u64 << 32) - 200)..=((1u64 << 32) + 200),
    ]
}

/// A limit and a window (at least the limit, as `Quota` requires): small windows, and windows
/// close to the largest a `u16` or a `u32` offset holds.
fn limit_and_window() -> impl Strategy<Value = (u32, u64)> {
    (1u32..=20).prop_flat_map(|limit| {
        let small = u64::from(limit)..=60u64;
        (
            Just(limit),
            prop_oneof![
                6 => small,
                1 => 65_000u64..=65_537,
                1 => ((1u64 << 32) - 100)..=((1u64 << 32) + 1),
            ],
        )
    })
}

fn ops() -> impl Strategy<Value = Vec<(Step, Cost)>> {
    proptest::collection::vec((step(), cost()), 1..64)
}

/// Traffic that keeps the window full of many small entries, so that large requests must wait
/// for several of them to expire.
fn dense_ops() -> impl Strategy<Value = Vec<(Step, Cost)>> {
    let step = prop_oneof![
        1 => Just(Step::Stay),
        4 => (1u8..=2).prop_map(Step::Ticks),
        1 => any::<u64>().prop_map(Step::Back),
    ];
    let cost = prop_oneof![
        6 => Just(Cost::Unit),
        1 => any::<u32>().prop_map(Cost::UpTo),
    ];
    proptest::collection::vec((step, cost), 1..72)
}

/// The admitted cost in every window ending at an admission never exceeds the limit.
fn window_sums_hold(admitted: &[(u64, u32)], limit: u32, window: u64) -> bool {
    admitted.iter().all(|&(end, _)| {
        let sum: u64 = admitted
            .iter()
            .filter(|&&(x, _)| x <= end && u128::from(x) + u128::from(window) > u128::from(end))
            .map(|&(_, c)| u64::from(c))
            .sum();
        sum <= u64::from(limit)
    })
}

fn run<const CAP: usize, O: Offset>(
    limit: u32,
    window: u64,
    start: u64,
    ops: &[(Step, Cost)],
) -> Result<(), TestCaseError> {
    let quota = Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window)).unwrap();
    let Ok(log) = SlidingLog::<HZ, CAP, O>::new_undersized(quota) else {
        // A ring of one entry only takes a limit of one.
        prop_assert!(window > O::MAX_WINDOW || (CAP == 1 && limit > 1));
        return Ok(());
    };
    let strict = SlidingLog::<HZ, CAP, O>::new(quota);
    prop_assert_eq!(
        strict.err(),
        (CAP < limit as usize).then_some(ConfigError::CapacityTooSmall)
    );

    let at = Instant::<HZ>::from_ticks;
    let mut state = log.new_state();
    let mut naive = Naive::new(limit, window, CAP);
    // Every admission as (recorded instant, cost), built here from the decisions alone.
    let mut admitted: Vec<(u64, u32)> = Vec::new();
    let mut latest_seen: Option<u64> = None;
    let mut rest_checked = false;
    let mut now = start;

    for (i, &(step, cost)) in ops.iter().enumerate() {
        now = step.apply(now, window);
        let cost = cost.of(limit);
        let before = state;

        // At rest means: decides like a fresh state, now and at every later instant. Replay the
        // rest of the ops (kept at or after `now`) on both, the first time a used state rests.
        let at_rest = log.is_at_rest(&state, at(now));
        let fresh = log.new_state();
        if at_rest {
            for c in [1, limit] {
                prop_assert_eq!(log.peek(&state, at(now), c), log.peek(&fresh, at(now), c));
            }
            if !rest_checked && state != fresh {
                rest_checked = true;
                let (mut a, mut b) = (state, fresh);
                let mut t = now;
                for &(s, c) in &ops[i..] {
                    t = s.apply(t, window).max(now);
                    let c = c.of(limit);
                    prop_assert_eq!(log.check(&mut a, at(t), c), log.check(&mut b, at(t), c));
                }
            }
        } else {
            // Something is still in the window: a fresh state would admit the whole limit here.
            prop_assert!(log.peek(&state, at(now), limit).unwrap().is_denied());
        }

        let expected = naive.decide::<HZ>(now, cost);
        let peeked = log.peek(&state, at(now), cost);
        let checked = log.check(&mut state, at(now), cost);
        prop_assert_eq!(peeked, checked, "peek == check");
        prop_assert_eq!(
            checked,
            expected,
            "op {}: {:?} at {} cost {}",
            i,
            step,
            now,
            cost
        );
        prop_assert_eq!(Algorithm::peek(&log, &before, at(now), cost), checked);
        prop_assert_eq!(Algorithm::capacity(&log), limit);

        let Ok(d) = checked else {
            prop_assert_eq!(state, before);
            continue;
        };
        prop_assert_eq!(d.limit, limit);
        if d.is_allowed() {
            naive.record(u128::from(now), cost);
            if cost > 0 {
                let recorded = admitted.last().map_or(now, |&(t, _)| t.max(now));
                admitted.push((recorded, cost));
                prop_assert!(window_sums_hold(&admitted, limit, window));
            } else {
                prop_assert_eq!(state, before, "a zero cost records nothing");
            }
            // A backwards clock never admits what the latest instant seen would deny.
            if let Some(latest) = latest_seen.filter(|&l| l > now) {
                prop_assert!(log.peek(&before, at(latest), cost).unwrap().is_allowed());
            }
        } else {
            prop_assert_eq!(state, before, "a denied check changes nothing");
            let wait = d.retry_after.unwrap().as_ticks();
            prop_assert!(wait > 0);
            // Exact: admitted after exactly the wait, not one tick before (unless the wait
            // saturated or reaches past the end of time).
            if let Some(retry) = now.checked_add(wait).filter(|_| wait < u64::MAX) {
                prop_assert!(log.peek(&state, at(retry - 1), cost).unwrap().is_denied());
                let mut s = state;
                prop_assert!(log.check(&mut s, at(retry), cost).unwrap().is_allowed());
            }
        }
        latest_seen = Some(latest_seen.map_or(now, |l| l.max(now)));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn one_entry_ring_matches_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<1, u32>(limit, window, t0, &ops)?;
    }

    #[test]
    fn two_entry_ring_matches_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<2, u32>(limit, window, t0, &ops)?;
    }

    #[test]
    fn three_entry_ring_matches_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<3, u32>(limit, window, t0, &ops)?;
    }

    #[test]
    fn six_entry_ring_matches_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<6, u32>(limit, window, t0, &ops)?;
    }

    #[test]
    fn exact_ring_matches_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<20, u32>(limit, window, t0, &ops)?;
    }

    #[test]
    fn u16_offsets_match_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<20, u16>(limit, window, t0, &ops)?;
    }

    #[test]
    fn small_u16_ring_matches_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<4, u16>(limit, window, t0, &ops)?;
    }

    #[test]
    fn u64_offsets_match_the_naive_log((limit, window) in limit_and_window(), t0 in start(), ops in ops()) {
        run::<20, u64>(limit, window, t0, &ops)?;
    }

    #[test]
    fn dense_traffic_matches_the_naive_log(limit in 8u32..=20, extra in 0u64..=40, t0 in start(), ops in dense_ops()) {
        run::<20, u32>(limit, u64::from(limit) + extra, t0, &ops)?;
    }

    /// Fully random instants and costs, through the `Algorithm` trait: never a panic, and the
    /// fields stay in range.
    #[test]
    fn arbitrary_input_never_panics(
        (limit, window) in limit_and_window(),
        reqs in proptest::collection::vec((any::<u64>(), any::<u32>()), 1..64),
    ) {
        let log = SlidingLog::<HZ, 20, u64>::new(Quota::new(limit, Duration::from_ticks(window)).unwrap()).unwrap();
        let mut s: LogState<20, u64> = Algorithm::new_state(&log);
        for (t, cost) in reqs {
            let now = Instant::from_ticks(t);
            match Algorithm::check(&log, &mut s, now, cost % (limit + 2)) {
                Ok(d) => {
                    prop_assert!(d.remaining <= limit);
                    prop_assert!(d.reset.as_ticks() > 0 || Algorithm::is_at_rest(&log, &s, now));
                }
                Err(e) => prop_assert_eq!(e.capacity, limit),
            }
        }
    }
}

/// Takes `cost` back from the naive log's admissions at `t`, newest first.
fn naive_withdraw(naive: &mut Naive, t: u64, mut cost: u32) {
    for entry in naive.log.iter_mut().rev().filter(|e| e.0 == u128::from(t)) {
        let take = entry.1.min(cost);
        entry.1 -= take;
        cost -= take;
    }
    naive.log.retain(|e| e.1 > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Taking back part of an admission (a reserved turn not sent) leaves a log that decides
    /// exactly as the naive log with that cost taken from its entry, field by field, from then
    /// on, whatever the clock does; asking more back than an entry holds (or all of the newest entry), or an instant
    /// with no entry, is an error that changes nothing; and what remains never exceeds the
    /// limit in any window.
    #[test]
    fn withdrawing_matches_the_naive_log_without_it(
        limit in 1u32..=8,
        window in 1u64..5_000,
        t0 in start(),
        ops in proptest::collection::vec((step(), cost(), proptest::option::of((any::<prop::sample::Index>(), 1u32..=4))), 1..64),
    ) {
        let log = SlidingLog::<HZ, 8>::per_window(limit, Duration::<HZ>::from_ticks(window)).unwrap();
        let at = Instant::<HZ>::from_ticks;
        let mut state = LogState::<8>::new();
        let mut naive = Naive::new(limit, window, 8);
        let mut now = t0;
        // The latest instant anything was recorded at: entries within a window of it are in the
        // ring for sure (older ones may have been dropped as they expired, as the docs say).
        let mut high: Option<u64> = None;
        for (step, cost, withdraw) in ops {
            now = step.apply(now, window);
            let cost = cost.of(limit);
            let expected = naive.decide::<HZ>(now, cost);
            let checked = log.check(&mut state, at(now), cost);
            prop_assert_eq!(checked, expected);
            if checked.is_ok_and(|d| d.is_allowed()) {
                naive.record(u128::from(now), cost);
                if cost > 0 {
                    high = Some(high.map_or(now, |h: u64| h.max(now)));
                }
            }
            let Some((pick, amount)) = withdraw else { continue };
            let newest = naive.log.last().map(|e| e.0);
            let live: Vec<(u64, u32)> = {
                let mut per_instant: Vec<(u64, u32)> = Vec::new();
                for &(t, c) in &naive.log {
                    if high.is_some_and(|h| t + naive.window > u128::from(h)) {
                        match per_instant.last_mut() {
                            Some(last) if u128::from(last.0) == t => last.1 += c,
                            _ => per_instant.push((u64::try_from(t).unwrap(), c)),
                        }
                    }
                }
                per_instant
            };
            if live.is_empty() {
                continue;
            }
            let (t, held) = live[pick.index(live.len())];
            let before = state;
            // The newest entry keeps at least one unit.
            let most = if newest == Some(u128::from(t)) { held - 1 } else { held };
            match state.withdraw(t, amount) {
                Ok(()) => {
                    prop_assert!(amount <= most);
                    naive_withdraw(&mut naive, t, amount);
                }
                Err(e) => {
                    prop_assert!(amount > most, "refused {} of {} at {}: {:?}", amount, most, t, e);
                    prop_assert_eq!(e.in_flight, most);
                    prop_assert_eq!(state, before);
                }
            }
            // No entry at an instant with no admission.
            if newest != Some(u128::from(u64::MAX)) {
                let mut probe = state;
                prop_assert!(probe.withdraw(u64::MAX, 1).is_err());
                prop_assert_eq!(probe, state);
            }
            let remaining: Vec<(u64, u32)> = naive.log.iter().map(|&(t, c)| (u64::try_from(t).unwrap(), c)).collect();
            prop_assert!(window_sums_hold(&remaining, limit, window));
        }
    }
}
