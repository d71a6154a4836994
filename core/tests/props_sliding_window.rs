//! Property tests for the sliding window counter against a naive reference model: a plain list
//! of admitted `(bucket, cost, instant)` entries, re-summed from scratch for every question (in
//! `tollgate_testkit::models::sliding_window`, shared with the `sliding_window` fuzz target).

use proptest::prelude::*;
use tollgate_core::{Algorithm, Duration, Instant, Quota, SlidingWindow, WindowState};

use tollgate_testkit::models::sliding_window::Model;

const HZ: u64 = 1_000;
type I = Instant<HZ>;
type D = Duration<HZ>;

/// One operation: how the clock moves, and what the request costs.
#[derive(Debug, Clone, Copy)]
struct Op {
    step: u8,
    amount: u64,
    cost: u8,
    raw_cost: u32,
}

fn ops(len: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (0u8..32, any::<u64>(), 0u8..10, any::<u32>()).prop_map(
            |(step, amount, cost, raw_cost)| Op {
                step,
                amount,
                cost,
                raw_cost,
            },
        ),
        0..len,
    )
}

/// The next instant: mostly small steps relative to the bucket and the span, plus zero steps,
/// backwards steps, and now and then a huge jump, a jump back to anywhere, or the end of time.
fn next_now(now: u64, op: Op, g: u64, span: u64, monotone: bool) -> u64 {
    let a = op.amount;
    let step = if monotone && matches!(op.step, 22..=26 | 28) {
        op.step - 18
    } else {
        op.step
    };
    match step {
        0..=3 => now,
        4..=13 | 30.. => now.saturating_add(a % (2 * g + 1)),
        14..=18 => now.saturating_add(a % (2 * span + 1)),
        19..=21 => now.saturating_add(a % (g + 1) + g * (a % 3)),
        22..=24 => now.saturating_sub(a % (span + 1)),
        25 | 26 => now.saturating_sub(a % (g + 1)),
        27 if a.is_multiple_of(4) => now.saturating_add(a % (u64::MAX / 4)),
        28 => a % now.max(1),
        29 if a.is_multiple_of(8) => now.max(u64::MAX - a % (3 * span)),
        _ => now.saturating_add(a % (g + 1)),
    }
}

fn cost_of(op: Op, n: u32) -> u32 {
    match op.cost {
        0 => 0,
        1..=3 => 1,
        4 => n,
        5 => n.saturating_add(1),
        6 => u32::MAX,
        _ => op.raw_cost % (n.saturating_add(1)).max(1),
    }
}

fn limiter<const B: usize>(n: u32, w: u64) -> Option<SlidingWindow<HZ, B>> {
    SlidingWindow::new(Quota::new(n, D::from_ticks(w)).ok()?).ok()
}

/// Runs `ops` on the limiter and the model side by side, checking every per-step property.
/// Returns the admissions as (recorded instant, cost, now).
fn run<const B: usize>(
    n: u32,
    w: u64,
    ops: &[Op],
    monotone: bool,
) -> Result<Vec<(u64, u32)>, TestCaseError> {
    let Some(sw) = limiter::<B>(n, w) else {
        return Ok(Vec::new());
    };
    let (g, span) = (sw.granularity().as_ticks(), sw.span().as_ticks());
    let mut model = Model::new(n, w, B);
    prop_assert_eq!(model.g, u128::from(g));
    let mut s: WindowState<B> = sw.new_state();
    let mut now = 0u64;
    for &op in ops {
        now = next_now(now, op, g, span, monotone);
        let cost = cost_of(op, n);
        let t = I::from_ticks(now);
        let before = s;

        prop_assert_eq!(sw.is_at_rest(&s, t), model.is_at_rest(now));
        prop_assert_eq!(sw.measure(&s, t).cost, model.counted(model.bucket(now)));

        let peeked = sw.peek(&s, t, cost);
        let got = sw.check(&mut s, t, cost);
        prop_assert_eq!(peeked, got, "peek == check at {} for {}", now, cost);
        let want = model.check::<HZ>(now, cost);
        prop_assert_eq!(got, want.map(|a| a.decision), "at {} cost {}", now, cost);

        let Ok(answer) = want else {
            prop_assert_eq!(s, before, "an error changes nothing");
            continue;
        };
        let d = answer.decision;
        if d.is_denied() || cost == 0 {
            prop_assert_eq!(s, before, "denied or free: state unchanged");
        }
        if let (Some(wait), true) = (d.retry_after, answer.retry_exact) {
            // Liveness: admitted after exactly the wait, and not one tick earlier.
            let retry = now + wait.as_ticks();
            prop_assert!(wait.as_ticks() > 0);
            prop_assert!(
                sw.check(&mut s.clone(), I::from_ticks(retry), cost)?
                    .is_allowed()
            );
            prop_assert!(
                sw.check(&mut s.clone(), I::from_ticks(retry - 1), cost)?
                    .is_denied()
            );
        }
        if answer.reset_exact {
            // Reset: at rest exactly `reset` after now.
            let rest = now + d.reset.as_ticks();
            prop_assert!(sw.is_at_rest(&s, I::from_ticks(rest)));
            if d.reset.as_ticks() > 0 {
                prop_assert!(!sw.is_at_rest(&s, I::from_ticks(rest - 1)));
            }
        }
    }
    Ok(model.log.iter().map(|&(_, c, at)| (at, c)).collect())
}

/// The guarantee, checked directly: in every window `(t − W, t]`, at most `N`. The heaviest
/// window ends at an admission, so those are the windows to check.
fn assert_window(admitted: &[(u64, u32)], n: u32, w: u64) -> Result<(), TestCaseError> {
    for &(end, _) in admitted {
        let inside: u64 = admitted
            .iter()
            .filter(|(at, _)| *at <= end && end - *at < w)
            .map(|(_, c)| u64::from(*c))
            .sum();
        prop_assert!(
            inside <= u64::from(n),
            "{} in the window ending at {}",
            inside,
            end
        );
    }
    Ok(())
}

fn window_ticks() -> impl Strategy<Value = u64> {
    prop_oneof![2u64..=40, 2u64..=5_000, 1_000u64..=1_000_000]
}

fn small_limit() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..=4, 1u32..=40]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decisions_equal_the_reference_model(
        w in window_ticks(), n in small_limit(), ops in ops(120),
    ) {
        let n = n.min(w as u32);
        run::<2>(n, w, &ops, false)?;
        run::<3>(n, w, &ops, false)?;
        run::<5>(n, w, &ops, false)?;
        run::<11>(n, w, &ops, false)?;
    }

    #[test]
    fn decisions_equal_the_reference_model_at_huge_limits(
        w in (u64::from(u32::MAX))..=(u64::from(u32::MAX) * 8),
        n in (u32::MAX - 40)..=u32::MAX,
        ops in ops(60),
    ) {
        run::<2>(n, w, &ops, false)?;
        run::<7>(n, w, &ops, false)?;
    }

    #[test]
    fn never_more_than_n_in_any_window_on_a_monotone_clock(
        w in window_ticks(), n in small_limit(), ops in ops(150),
    ) {
        let n = n.min(w as u32);
        fn one<const B: usize>(n: u32, w: u64, ops: &[Op]) -> Result<(), TestCaseError> {
            let Some(sw) = limiter::<B>(n, w) else { return Ok(()) };
            let (g, span) = (sw.granularity().as_ticks(), sw.span().as_ticks());
            let mut s = sw.new_state();
            let (mut now, mut admitted) = (0u64, Vec::new());
            for &op in ops {
                now = next_now(now, op, g, span, true);
                let cost = cost_of(op, n).min(n);
                let d = sw.check(&mut s, I::from_ticks(now), cost)?;
                if d.is_allowed() {
                    if cost > 0 {
                        admitted.push((now, cost));
                    }
                } else {
                    // The exact under-admission bound: denied only if the last S ticks hold
                    // more than N − cost.
                    let recent: u64 = admitted
                        .iter()
                        .filter(|(at, _)| now - at < span)
                        .map(|(_, c)| u64::from(*c))
                        .sum();
                    prop_assert!(recent + u64::from(cost) > u64::from(n));
                }
            }
            assert_window(&admitted, n, w)
        }
        one::<2>(n, w, &ops)?;
        one::<3>(n, w, &ops)?;
        one::<4>(n, w, &ops)?;
        one::<11>(n, w, &ops)?;
    }

    #[test]
    fn never_more_than_n_in_any_window_of_recorded_instants(
        w in window_ticks(), n in small_limit(), ops in ops(150),
    ) {
        let n = n.min(w as u32);
        assert_window(&run::<2>(n, w, &ops, false)?, n, w)?;
        assert_window(&run::<3>(n, w, &ops, false)?, n, w)?;
        assert_window(&run::<6>(n, w, &ops, false)?, n, w)?;
    }

    #[test]
    fn at_rest_states_decide_like_fresh_ones(
        w in window_ticks(), n in small_limit(), ops in ops(60), gap in any::<u64>(),
        probe in ops(40),
    ) {
        let n = n.min(w as u32);
        fn one<const B: usize>(n: u32, w: u64, ops: &[Op], gap: u64, probe: &[Op])
            -> Result<(), TestCaseError> {
            let Some(sw) = limiter::<B>(n, w) else { return Ok(()) };
            let (g, span) = (sw.granularity().as_ticks(), sw.span().as_ticks());
            let mut s = sw.new_state();
            let mut now = 0u64;
            for &op in ops {
                now = next_now(now, op, g, span, false);
                let _ = sw.check(&mut s, I::from_ticks(now), cost_of(op, n));
            }
            now = now.saturating_add(gap % (3 * span + 1));
            let t = I::from_ticks(now);
            let mut fresh = sw.new_state();
            if !sw.is_at_rest(&s, t) {
                // Something is counted, so a full-limit request tells them apart.
                prop_assert!(sw.peek(&s, t, n)?.is_denied());
                prop_assert!(sw.peek(&fresh, t, n)?.is_allowed());
                return Ok(());
            }
            prop_assert!(Algorithm::is_at_rest(&sw, &fresh, t));
            for &op in probe {
                now = next_now(now, op, g, span, true);
                let t = I::from_ticks(now);
                let cost = cost_of(op, n);
                prop_assert_eq!(sw.check(&mut s, t, cost), sw.check(&mut fresh, t, cost));
            }
            Ok(())
        }
        one::<2>(n, w, &ops, gap, &probe)?;
        one::<4>(n, w, &ops, gap, &probe)?;
        one::<11>(n, w, &ops, gap, &probe)?;
    }

    #[test]
    fn costs_scale_with_the_limit_and_nothing_else_changes(
        w in (u64::from(u32::MAX))..=(u64::from(u32::MAX) * 4),
        n in small_limit(), k_raw in any::<u32>(), ops in ops(100),
    ) {
        let k = 1 + k_raw % (u32::MAX / n);
        fn one<const B: usize>(n: u32, k: u32, w: u64, ops: &[Op]) -> Result<(), TestCaseError> {
            let small = limiter::<B>(n, w).unwrap();
            let big = limiter::<B>(n * k, w).unwrap();
            prop_assert_eq!(small.span(), big.span());
            let (g, span) = (small.granularity().as_ticks(), small.span().as_ticks());
            let (mut a, mut b) = (small.new_state(), big.new_state());
            let mut now = 0u64;
            for &op in ops {
                now = next_now(now, op, g, span, false);
                let t = I::from_ticks(now);
                let cost = cost_of(op, n).min(n);
                let x = small.check(&mut a, t, cost)?;
                let y = big.check(&mut b, t, cost * k)?;
                prop_assert_eq!(
                    (x.retry_after, x.reset, x.remaining * k, x.limit * k),
                    (y.retry_after, y.reset, y.remaining, y.limit)
                );
                prop_assert_eq!(small.measure(&a, t).cost * u64::from(k), big.measure(&b, t).cost);
            }
            Ok(())
        }
        one::<2>(n, k, w, &ops)?;
        one::<5>(n, k, w, &ops)?;
    }
}
