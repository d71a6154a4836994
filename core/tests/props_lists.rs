//! One engine for every list of limits, and one decision path for every storage.
//!
//! - A policy over an array of [`AnyLimit`]s, and over a runtime slice decided with
//!   `check_into`, decides exactly like the tuple policy of the same limits: the same verdicts,
//!   the same reports, the same states, with and without test overrides.
//! - The pure step equals `check`: `transition` gives the state `check` leaves and the same
//!   decision, `step` + `record` does too, and `peek` is `step` + `decision`.
//! - A sliding log or window whose size is chosen at run time decides exactly like the
//!   fixed-size one.
//! - Several keys in one all-or-nothing check decide like a map of states checked together.

use std::collections::HashMap;

use proptest::prelude::*;
use tollgate_core::algorithm::sliding_log::SlidingLogIn;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{
    Algorithm, AnyLimit, AnyState, Concurrency, Duration, Gcra, Instant, KeyLimits, KeyTable,
    Meter, Named, Overrides, Policy, Quota, Report, Shaper, SlidingLog, SlidingWindow, Verdict,
};

const HZ: u64 = 1_000;
type I = Instant<HZ>;
type D = Duration<HZ>;
type Any = AnyLimit<HZ, Inline<16>, u32>;

/// One operation: wait, then check (or peek) `cost`, or release `cost`.
#[derive(Debug, Clone, Copy)]
enum Op {
    Check {
        dt: u64,
        cost: u32,
        lower: Option<u32>,
        deny: bool,
    },
    Peek {
        dt: u64,
        cost: u32,
    },
    Release {
        cost: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..1_500, 0u32..5, prop::option::of(0u32..6), prop::bool::weighted(0.05))
            .prop_map(|(dt, cost, lower, deny)| Op::Check { dt, cost, lower, deny }),
        1 => (0u64..1_500, 0u32..5).prop_map(|(dt, cost)| Op::Peek { dt, cost }),
        2 => (0u32..3).prop_map(|cost| Op::Release { cost }),
    ]
}

/// The limits of one policy, built from four random numbers, in every form under test.
#[derive(Debug, Clone, Copy)]
struct Shape {
    concurrent: u32,
    per_second: u32,
    burst: u32,
    log: u32,
    buckets: u32,
}

fn shape() -> impl Strategy<Value = Shape> {
    (1u32..6, 1u32..20, 1u32..6, 1u32..16, 2u32..16).prop_map(
        |(concurrent, per_second, burst, log, buckets)| Shape {
            concurrent,
            per_second,
            burst,
            log,
            buckets,
        },
    )
}

impl Shape {
    fn concurrency(&self) -> Concurrency<HZ> {
        Concurrency::new(self.concurrent).unwrap()
    }
    fn gcra(&self) -> Gcra<HZ> {
        Gcra::new(
            Quota::per_second(self.per_second)
                .unwrap()
                .with_burst(self.burst)
                .unwrap(),
        )
    }
    fn shaper(&self) -> Shaper<HZ> {
        let q = Quota::per_second(self.per_second)
            .unwrap()
            .with_burst(self.burst)
            .unwrap();
        Shaper::new(q, D::from_millis(400)).unwrap()
    }
    fn log(&self) -> SlidingLog<HZ, 16> {
        SlidingLog::per_window(self.log, D::from_secs(2)).unwrap()
    }
    fn window(&self) -> SlidingWindowIn<HZ, Inline<16>> {
        SlidingWindowIn::with_buckets(self.log, D::from_secs(3), self.buckets as usize).unwrap()
    }
    fn array(&self) -> [Named<Any>; 5] {
        [
            Named::new("concurrent", Any::Concurrency(self.concurrency())),
            Named::new("second", Any::Gcra(self.gcra())),
            Named::new("queue", Any::Shaper(self.shaper())),
            Named::new(
                "log",
                Any::sliding_log(self.log, D::from_secs(2), 16).unwrap(),
            ),
            Named::new("window", Any::SlidingWindow(self.window())),
        ]
    }
}

/// The reports with nothing but plain data, to compare across lists.
fn plain(reports: &[Report<'_, HZ>]) -> Vec<(String, String, String)> {
    reports
        .iter()
        .map(|r| {
            (
                r.name.to_string(),
                format!("{:?}", r.allowance),
                format!("{:?}", r.decision),
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn arrays_and_runtime_slices_decide_exactly_like_tuples(shape in shape(), ops in prop::collection::vec(op(), 1..60)) {
        let tuple = Policy::new((
            Named::new("concurrent", shape.concurrency()),
            Named::new("second", shape.gcra()),
            Named::new("queue", shape.shaper()),
            Named::new("log", shape.log()),
            Named::new("window", shape.window()),
        ));
        let limits = shape.array();
        let array = Policy::new(limits);
        let slice = Policy::new(&limits[..]);
        let mut ts = tuple.new_state();
        let mut a_s = array.new_state();
        let mut sl_s: Vec<AnyState<Inline<16>, u32>> =
            limits.iter().map(|l| l.algorithm().new_state()).collect();
        let mut reports = vec![Report::EMPTY; 5];
        let mut t = 0u64;
        for op in ops {
            match op {
                Op::Check { dt, cost, lower, deny } => {
                    t += dt;
                    let now = I::from_ticks(t);
                    let lowering = [("SECOND", lower.unwrap_or(u32::MAX)), ("log", lower.unwrap_or(u32::MAX))];
                    let ov = Overrides { deny, lower: if lower.is_some() { &lowering } else { &[] } };
                    let a = tuple.check_with(&mut ts, now, cost, &ov);
                    let b = array.check_with(&mut a_s, now, cost, &ov);
                    let c = slice.check_into(&mut sl_s, now, cost, &ov, &mut reports);
                    match (a, b, c) {
                        (Ok(a), Ok(b), Ok(c)) => {
                            prop_assert_eq!(a.outcome, b.outcome);
                            prop_assert_eq!(a.outcome, c.outcome);
                            prop_assert_eq!(plain(a.reports()), plain(b.reports()));
                            prop_assert_eq!(plain(a.reports()), plain(c.reports()));
                            prop_assert_eq!(a.delay(), c.delay());
                            prop_assert_eq!(a.retry_after(), c.retry_after());
                        }
                        (Err(a), Err(b), Err(c)) => {
                            prop_assert_eq!(a, b);
                            prop_assert_eq!(a, c);
                        }
                        (a, b, c) => prop_assert!(false, "{:?} / {:?} / {:?}", a.map(|d| d.outcome), b.map(|d| d.outcome), c.map(|d| d.outcome)),
                    }
                }
                Op::Peek { dt, cost } => {
                    let now = I::from_ticks(t + dt);
                    let a = tuple.peek(&ts, now, cost).map(|d| (d.outcome, plain(d.reports())));
                    let b = array.peek(&a_s, now, cost).map(|d| (d.outcome, plain(d.reports())));
                    let c = slice
                        .peek_into(&sl_s, now, cost, &Overrides::NONE, &mut reports)
                        .map(|d| (d.outcome, plain(d.reports())));
                    prop_assert_eq!(&a, &b);
                    prop_assert_eq!(&a, &c);
                }
                Op::Release { cost } => {
                    let a = tuple.release(&mut ts, cost);
                    prop_assert_eq!(a, array.release(&mut a_s, cost));
                    prop_assert_eq!(a, slice.release(&mut sl_s, cost));
                }
            }
            // The states hold the same thing: each AnyState is the tuple's state of its limit.
            prop_assert_eq!(&a_s[..], &sl_s[..]);
            prop_assert_eq!(&a_s[0], &AnyState::Concurrency(ts.0));
            prop_assert_eq!(&a_s[1], &AnyState::Gcra(ts.1));
            prop_assert_eq!(&a_s[2], &AnyState::Shaper(ts.2));
            prop_assert_eq!(&a_s[4], &AnyState::SlidingWindow(ts.4));
            let now = I::from_ticks(t);
            prop_assert_eq!(tuple.is_at_rest(&ts, now), slice.is_at_rest(&sl_s, now));
        }
    }

    #[test]
    fn the_pure_step_is_check(shape in shape(), ops in prop::collection::vec((0u64..2_000, 0u32..6), 1..40)) {
        fn same<A: Algorithm<HZ>>(a: &A, ops: &[(u64, u32)]) -> Result<(), TestCaseError>
        where
            A::State: Clone + PartialEq + core::fmt::Debug,
        {
            let (mut checked, mut stepped) = (a.new_state(), a.new_state());
            let mut t = 0u64;
            for &(dt, cost) in ops {
                t += dt;
                let now = I::from_ticks(t);
                let cost = cost.min(a.capacity());
                let (d, next) = a.transition(&checked, now, cost).unwrap();
                let peeked = a.peek(&checked, now, cost).unwrap();
                let step = a.step(&stepped, now, cost).unwrap();
                let stepped_d = a.decision(&stepped, &step, a.admits(&step));
                prop_assert_eq!(a.decision(&stepped, &step, false).retry_after, d.retry_after);
                if a.admits(&step) {
                    a.record(&mut stepped, &step);
                }
                prop_assert_eq!(a.check(&mut checked, now, cost).unwrap(), d);
                prop_assert_eq!(peeked, d);
                prop_assert_eq!(stepped_d, d);
                prop_assert_eq!(&checked, &next);
                prop_assert_eq!(&stepped, &next);
            }
            Ok(())
        }
        same(&shape.concurrency(), &ops)?;
        same(&shape.gcra(), &ops)?;
        same(&Meter::new(Quota::<HZ>::per_second(shape.per_second).unwrap().with_burst(shape.burst).unwrap()), &ops)?;
        same(&shape.shaper(), &ops)?;
        same(&shape.log(), &ops)?;
        same(&shape.window(), &ops)?;
        for limit in shape.array() {
            same(limit.algorithm(), &ops)?;
        }
    }

    #[test]
    fn runtime_sized_logs_and_windows_decide_like_fixed_ones(
        limit in 1u32..12,
        window_ms in 1u64..3_000,
        ops in prop::collection::vec((0u64..800, 0u32..12), 1..80),
    ) {
        let fixed = SlidingLog::<HZ, 12>::per_window(limit, D::from_millis(window_ms)).unwrap();
        let runtime = SlidingLogIn::<HZ, u32, Inline<32>>::with_capacity(limit, D::from_millis(window_ms), 12).unwrap();
        let (mut f, mut r) = (fixed.new_state(), runtime.new_state());
        let mut t = 0u64;
        for &(dt, cost) in &ops {
            t += dt;
            let now = I::from_ticks(t);
            let cost = cost.min(limit);
            prop_assert_eq!(fixed.check(&mut f, now, cost), runtime.check(&mut r, now, cost));
            prop_assert_eq!(fixed.is_at_rest(&f, now), runtime.is_at_rest(&r, now));
        }
        let w = D::from_millis(window_ms);
        if let (Ok(fixed), Ok(runtime)) = (
            SlidingWindow::<HZ, 4>::per_window(limit, w),
            SlidingWindowIn::<HZ, Inline<32>>::with_buckets(limit, w, 4),
        ) {
            let (mut f, mut r) = (fixed.new_state(), runtime.new_state());
            let mut t = 0u64;
            for &(dt, cost) in &ops {
                t += dt;
                let now = I::from_ticks(t);
                let cost = cost.min(limit);
                prop_assert_eq!(fixed.check(&mut f, now, cost), runtime.check(&mut r, now, cost));
                prop_assert_eq!(fixed.is_at_rest(&f, now), runtime.is_at_rest(&r, now));
            }
        } else {
            // Both refuse the same configurations (a window shorter than its 4 buckets).
            prop_assert_eq!(
                SlidingWindow::<HZ, 4>::per_window(limit, w).err(),
                SlidingWindowIn::<HZ, Inline<32>>::with_buckets(limit, w, 4).err()
            );
        }
    }
}

/// Numbers and accounts: one key type, each kind of key with its own limit (both `AnyLimit`s,
/// since a table holds one state type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    Number(u8),
    Account(u8),
}

struct AnyCalls {
    number: Any,
    account: Any,
}

impl KeyLimits<Caller, HZ> for AnyCalls {
    type Limit = Any;
    fn limit_for(&self, key: &Caller) -> Option<&Any> {
        Some(match key {
            Caller::Number(_) => &self.number,
            Caller::Account(_) => &self.account,
        })
    }
}

proptest! {
    #[test]
    fn several_keys_decide_like_a_map_checked_all_or_nothing(
        per_number in 1u32..4,
        per_account in 1u32..8,
        ops in prop::collection::vec((0u64..700, 0u8..4, 0u8..2, 0u32..3), 1..80),
    ) {
        let limits = AnyCalls {
            number: Any::Gcra(Gcra::new(Quota::per_second(per_number).unwrap())),
            account: Any::sliding_log(per_account, D::from_secs(1), 8).unwrap(),
        };
        let mut table = KeyTable::<Caller, AnyState<Inline<16>, u32>, 16>::new();
        let mut model: HashMap<Caller, AnyState<Inline<16>, u32>> = HashMap::new();
        let mut t = 0u64;
        for (dt, number, account, cost) in ops {
            t += dt;
            let now = I::from_ticks(t);
            let keys = [Caller::Number(number), Caller::Account(account)];
            let cost = cost.min(per_number).min(per_account);
            let d = table.check_keys(&limits, keys, now, cost).unwrap();
            // The model: each key's state (fresh if absent), all stepped, recorded only if all admit.
            let states: Vec<_> = keys
                .iter()
                .map(|k| model.get(k).cloned().unwrap_or_else(|| limits.limit_for(k).unwrap().new_state()))
                .collect();
            let decided: Vec<_> = keys
                .iter()
                .zip(&states)
                .map(|(k, s)| limits.limit_for(k).unwrap().peek(s, now, cost).unwrap())
                .collect();
            let all = decided.iter().all(|d| d.is_allowed());
            prop_assert_eq!(d.is_allowed(), all);
            if all {
                for (k, mut s) in keys.iter().zip(states) {
                    let limit = limits.limit_for(k).unwrap();
                    prop_assert_eq!(limit.check(&mut s, now, cost).unwrap(), d.decisions[keys.iter().position(|x| x == k).unwrap()]);
                    model.insert(*k, s);
                }
            } else {
                // The longest wait is named, and every key reports its state without the request.
                let longest = decided.iter().filter_map(|d| d.retry_after).max();
                prop_assert_eq!(d.retry_after(), longest);
                for (i, (k, s)) in keys.iter().zip(&states).enumerate() {
                    let bare = limits.limit_for(k).unwrap().peek(s, now, 0).unwrap();
                    if decided[i].is_allowed() {
                        prop_assert_eq!(d.decisions[i].remaining, bare.remaining);
                    } else {
                        prop_assert_eq!(d.decisions[i], decided[i]);
                    }
                }
                prop_assert_eq!(d.outcome, Verdict::Denied { index: d.denied_index().unwrap() });
            }
            // Every key the table holds decides like the model's state for it.
            for k in [Caller::Number(0), Caller::Number(1), Caller::Number(2), Caller::Number(3), Caller::Account(0), Caller::Account(1)] {
                let limit = limits.limit_for(&k).unwrap();
                let ours = table.peek(&limits, &k, now, 1).unwrap();
                let theirs = limit.peek(&model.get(&k).cloned().unwrap_or_else(|| limit.new_state()), now, 1).unwrap();
                prop_assert_eq!(ours, theirs);
            }
        }
        prop_assert_eq!(
            table.check_keys(&limits, [Caller::Number(1), Caller::Number(1)], I::from_ticks(t), 1).err(),
            Some(tollgate_core::TableError::DuplicateKey { index: 1 })
        );
    }
}

#[test]
fn a_runtime_list_longer_than_the_kept_steps_decides_like_an_array() {
    use tollgate_core::policy::engine::MAX_KEPT;
    // More limits than the engine keeps steps for: the later ones are stepped again when
    // reported and recorded, and must decide and record exactly as the array does.
    const LEN: usize = MAX_KEPT + 4;
    let limits: [Named<Gcra<HZ>>; LEN] = core::array::from_fn(|i| {
        Named::new(
            "limit",
            Gcra::new(
                Quota::per_second(2 + i as u32)
                    .unwrap()
                    .with_burst(2 + (i as u32 % 5))
                    .unwrap(),
            ),
        )
    });
    let array = Policy::new(limits);
    let slice = Policy::new(&limits[..]);
    let mut a_s = array.new_state();
    let mut s_s = array.new_state();
    let mut reports = [Report::EMPTY; LEN];
    for step in 0..200u64 {
        let now = I::from_ticks(step * 37);
        let cost = (step % 3) as u32;
        let a = array.check(&mut a_s, now, cost).unwrap();
        let s = slice
            .check_into(&mut s_s, now, cost, &Overrides::NONE, &mut reports)
            .unwrap();
        assert_eq!(
            (a.outcome, plain(a.reports())),
            (s.outcome, plain(s.reports()))
        );
        assert_eq!(a_s, s_s);
    }
    // A report buffer or state slice one short names the limit that has no room.
    let short = slice.check_into(
        &mut s_s[..LEN - 1],
        I::from_ticks(0),
        1,
        &Overrides::NONE,
        &mut reports,
    );
    assert_eq!(short.unwrap_err().index, Some(LEN - 1));
}
