//! Property tests for policies: several limits enforced together, all or nothing.
//!
//! Two policies are under test. One combines every real kind of limit: a GCRA, a sliding window,
//! a concurrency limit, an optional sliding log (present or not) and an unlimited limit. The
//! other combines a GCRA with the test-only fixed-window and in-flight counters (whose in-flight
//! `reset` is zero, unlike the real one's) and an unlimited limit. The reference model is each
//! limit on its own: the policy must admit exactly when every limit alone would, record in all of
//! them or none, name the limit with the longest wait, and let test overrides only ever make a
//! decision stricter.
//!
//! Being at rest is judged from decisions alone (`tollgate_testkit::fakes::like_fresh_at`), not
//! from the library: `is_at_rest` holds exactly when the policy answers like a fresh one, and a
//! policy holding requests in flight (counted here from its own answers) is not at rest even at the
//! end of time, so no table drops or evicts it.

use core::fmt::Debug;

use proptest::prelude::*;
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, Decision, FixedLimits, Gcra, GcraState,
    InsufficientCapacity, Limits, LogState, Named, Overrides, Policy, Quota, ReleaseError, Report,
    SlidingLog, SlidingWindow, Unlimited, Verdict, WindowState,
};
use tollgate_testkit::fakes::strategy::{any_step, cost};
use tollgate_testkit::fakes::{
    Count, D, FixedWindow, HZ, I, InFlight, Step, like_fresh_at, like_fresh_from,
};

/// What an unlimited limit reports as its `limit`, `remaining` and capacity.
const UNLIMITED: u32 = u32::MAX;

type Alone<const N: usize> = [Result<Decision<HZ>, InsufficientCapacity>; N];

/// A policy of `N` limits under test, and each of its limits on its own.
trait Setup<const N: usize> {
    type L: for<'n> FixedLimits<HZ, State = Self::S, Reports<'n> = [Report<'n, HZ>; N]>;
    type S: Copy + PartialEq + Debug;

    /// The limits' names, then one that no limit has.
    fn names(&self) -> &'static [&'static str];
    /// The same names in other letter cases.
    fn shouted(&self) -> &'static [&'static str];
    fn p(&self) -> &Policy<Self::L>;
    /// Each limit alone: its peek at `cost`.
    fn alone(&self, s: &Self::S, t: I, cost: u32) -> Alone<N>;
    /// Each limit alone: the state after its own check (of a cost every limit admits).
    fn checked_alone(&self, s: &Self::S, t: I, cost: u32) -> Self::S;
    /// Each limit alone: the state after its own release, or the first refusal.
    fn released_alone(&self, s: &Self::S, cost: u32) -> Result<Self::S, ReleaseError>;
    fn capacities(&self) -> [u32; N];
    /// The most each limit may report as its `limit`.
    fn own_limits(&self) -> [u32; N];
    /// Limits counting requests in flight: their `retry_after` is a hint, not an exact wait.
    fn in_flight(&self) -> [bool; N];
    /// A counting limit to lower: its index, capacity, and the cost it counts at `t`.
    fn counting(&self, s: &Self::S, t: I) -> (usize, u32, u32);
}

// ---------------------------------------------------------------------------------------------
// Every real kind of limit
// ---------------------------------------------------------------------------------------------

type Window = SlidingWindow<HZ, 3>;
type Log = SlidingLog<HZ, 4>;

type RealLimits = (
    Named<Gcra<HZ>>,
    Named<Window>,
    Named<Concurrency<HZ>>,
    Named<Option<Log>>,
    Named<Unlimited>,
);
type RealState = (GcraState, WindowState<3>, ConcurrencyState, LogState<4>, ());

struct Real {
    g: Gcra<HZ>,
    w: Window,
    c: Concurrency<HZ>,
    l: Option<Log>,
    p: Policy<RealLimits>,
}

#[derive(Debug, Clone, Copy)]
struct RealParams {
    rate: u32,
    burst: u32,
    window_limit: u32,
    window: u64,
    max: u32,
    hint: u64,
    log: Option<(u32, u64)>,
}

fn real_params() -> impl Strategy<Value = RealParams> {
    let hint = prop_oneof![0u64..=2_000, Just(u64::MAX)];
    (
        (1u32..=5, 1u32..=6),
        (1u32..=8, 1u64..=3_000),
        (1u32..=6, hint),
        prop::option::of((1u32..=4, 1u64..=3_000)),
    )
        .prop_map(
            |((rate, burst), (window_limit, window), (max, hint), log)| RealParams {
                rate,
                burst,
                window_limit,
                window,
                max,
                hint,
                log,
            },
        )
}

fn quota(n: u32, w: u64) -> Quota<HZ> {
    Quota::new(n, D::from_ticks(w.max(u64::from(n)))).unwrap()
}

fn build_real(x: RealParams) -> Real {
    let g = Gcra::new(
        Quota::per_second(x.rate)
            .unwrap()
            .with_burst(x.burst)
            .unwrap(),
    );
    let w = Window::new(quota(x.window_limit, x.window.max(3))).unwrap(); // three buckets
    let c = Concurrency::new(x.max)
        .unwrap()
        .with_retry_hint(D::from_ticks(x.hint));
    let l = x.log.map(|(n, w)| Log::new(quota(n, w)).unwrap());
    let p = Policy::new((
        Named::new("rate", g),
        Named::new("window", w),
        Named::new("concurrent", c),
        Named::new("log", l),
        Named::new("forever", Unlimited),
    ));
    Real { g, w, c, l, p }
}

impl Setup<5> for Real {
    type L = RealLimits;
    type S = RealState;

    fn names(&self) -> &'static [&'static str] {
        &["rate", "window", "concurrent", "log", "forever", "nope"]
    }
    fn shouted(&self) -> &'static [&'static str] {
        &["RATE", "Window", "CONCURRENT", "Log", "Forever", "NOPE"]
    }
    fn p(&self) -> &Policy<RealLimits> {
        &self.p
    }
    fn alone(&self, s: &RealState, t: I, cost: u32) -> Alone<5> {
        [
            self.g.peek(&s.0, t, cost),
            self.w.peek(&s.1, t, cost),
            Algorithm::peek(&self.c, &s.2, t, cost),
            self.l.peek(&s.3, t, cost),
            Algorithm::<HZ>::peek(&Unlimited, &s.4, t, cost),
        ]
    }
    fn checked_alone(&self, s: &RealState, t: I, cost: u32) -> RealState {
        let mut n = *s;
        self.g.check(&mut n.0, t, cost).unwrap();
        self.w.check(&mut n.1, t, cost).unwrap();
        Algorithm::check(&self.c, &mut n.2, t, cost).unwrap();
        self.l.check(&mut n.3, t, cost).unwrap();
        n
    }
    fn released_alone(&self, s: &RealState, cost: u32) -> Result<RealState, ReleaseError> {
        let mut n = *s;
        Algorithm::<HZ>::release(&self.g, &mut n.0, cost)?;
        Algorithm::<HZ>::release(&self.w, &mut n.1, cost)?;
        self.c.release(&mut n.2, cost)?;
        Algorithm::<HZ>::release(&self.l, &mut n.3, cost)?;
        Ok(n)
    }
    fn capacities(&self) -> [u32; 5] {
        [
            self.g.capacity(),
            Algorithm::<HZ>::capacity(&self.w),
            self.c.max(),
            self.l.capacity(),
            UNLIMITED,
        ]
    }
    fn own_limits(&self) -> [u32; 5] {
        let log = self.l.map_or(UNLIMITED, |l| l.limit());
        [
            self.g.quota().burst(),
            self.w.limit(),
            self.c.max(),
            log,
            UNLIMITED,
        ]
    }
    fn in_flight(&self) -> [bool; 5] {
        [false, false, true, false, false]
    }
    fn counting(&self, s: &RealState, t: I) -> (usize, u32, u32) {
        // The window's own count: what its plain peek says is used.
        let limit = self.w.limit();
        let used = limit - self.w.peek(&s.1, t, 0).unwrap().remaining;
        (1, limit, used)
    }
}

// ---------------------------------------------------------------------------------------------
// A GCRA beside the test-only limits
// ---------------------------------------------------------------------------------------------

type FakeLimits = (
    Named<Gcra<HZ>>,
    Named<FixedWindow>,
    Named<InFlight>,
    Named<Unlimited>,
);
type FakeState = (GcraState, Count, u32, ());

#[derive(Debug, Clone, Copy)]
struct Params {
    rate: u32,
    burst: u32,
    window_limit: u32,
    window: u64,
    max: u32,
    hint: u64,
}

fn params() -> impl Strategy<Value = Params> {
    (
        1u32..=5,
        1u32..=6,
        1u32..=8,
        1u64..=3_000,
        1u32..=6,
        0u64..=2_000,
    )
        .prop_map(|(rate, burst, window_limit, window, max, hint)| Params {
            rate,
            burst,
            window_limit,
            window,
            max,
            hint,
        })
}

struct Fake {
    g: Gcra<HZ>,
    fw: FixedWindow,
    inf: InFlight,
    p: Policy<FakeLimits>,
}

fn build(x: Params) -> Fake {
    let g = Gcra::new(
        Quota::per_second(x.rate)
            .unwrap()
            .with_burst(x.burst)
            .unwrap(),
    );
    let fw = FixedWindow {
        limit: x.window_limit,
        window: x.window,
    };
    let inf = InFlight {
        max: x.max,
        hint: x.hint,
    };
    let p = Policy::new((
        Named::new("gcra", g),
        Named::new("window", fw),
        Named::new("inflight", inf),
        Named::new("forever", Unlimited),
    ));
    Fake { g, fw, inf, p }
}

impl Setup<4> for Fake {
    type L = FakeLimits;
    type S = FakeState;

    fn names(&self) -> &'static [&'static str] {
        &["gcra", "window", "inflight", "forever", "nope"]
    }
    fn shouted(&self) -> &'static [&'static str] {
        &["GCRA", "Window", "INFLIGHT", "Forever", "NOPE"]
    }
    fn p(&self) -> &Policy<FakeLimits> {
        &self.p
    }
    fn alone(&self, s: &FakeState, t: I, cost: u32) -> Alone<4> {
        [
            self.g.peek(&s.0, t, cost),
            self.fw.peek(&s.1, t, cost),
            self.inf.peek(&s.2, t, cost),
            Algorithm::<HZ>::peek(&Unlimited, &s.3, t, cost),
        ]
    }
    fn checked_alone(&self, s: &FakeState, t: I, cost: u32) -> FakeState {
        let mut n = *s;
        self.g.check(&mut n.0, t, cost).unwrap();
        self.fw.check(&mut n.1, t, cost).unwrap();
        self.inf.check(&mut n.2, t, cost).unwrap();
        n
    }
    fn released_alone(&self, s: &FakeState, cost: u32) -> Result<FakeState, ReleaseError> {
        let mut n = *s;
        Algorithm::<HZ>::release(&self.g, &mut n.0, cost)?;
        self.fw.release(&mut n.1, cost)?;
        self.inf.release(&mut n.2, cost)?;
        Ok(n)
    }
    fn capacities(&self) -> [u32; 4] {
        [
            self.g.capacity(),
            self.fw.capacity(),
            self.inf.capacity(),
            UNLIMITED,
        ]
    }
    fn own_limits(&self) -> [u32; 4] {
        [
            self.g.quota().burst(),
            self.fw.limit,
            self.inf.max,
            UNLIMITED,
        ]
    }
    fn in_flight(&self) -> [bool; 4] {
        [false, false, true, false]
    }
    fn counting(&self, s: &FakeState, t: I) -> (usize, u32, u32) {
        (1, self.fw.limit, self.fw.current(&s.1, t.as_ticks()).1)
    }
}

// ---------------------------------------------------------------------------------------------
// Operations and checks, for either setup
// ---------------------------------------------------------------------------------------------

/// Overrides as generated: a forced denial, and (name index, shout it, value) lowerings.
#[derive(Debug, Clone)]
struct Ov {
    deny: bool,
    lower: Vec<(usize, bool, u32)>,
}

/// Lowerings name one of `names` names (the last being no limit's).
fn overrides(names: usize) -> impl Strategy<Value = Ov> {
    let value = prop_oneof![6 => 0u32..=10, 1 => Just(u32::MAX), 1 => any::<u32>()];
    (
        prop::bool::weighted(0.2),
        prop::collection::vec((0usize..names, any::<bool>(), value), 0..4),
    )
        .prop_map(|(deny, lower)| Ov { deny, lower })
}

impl Ov {
    fn pairs<const N: usize>(&self, u: &impl Setup<N>) -> Vec<(&'static str, u32)> {
        self.lower
            .iter()
            .map(|&(i, shout, v)| (if shout { u.shouted()[i] } else { u.names()[i] }, v))
            .collect()
    }

    /// The value limit `index` (of capacity `limit`) is lowered to, if it is lowered at all.
    fn lowered(&self, index: usize, limit: u32) -> Option<u32> {
        self.lower
            .iter()
            .filter(|(i, _, _)| *i == index)
            .map(|(_, _, v)| *v)
            .min()
            .filter(|v| *v < limit)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Check { step: Step, cost: u32 },
    Override { step: Step, cost: u32, ov: Ov },
    Release { cost: u32 },
}

fn op(names: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any_step(), cost()).prop_map(|(step, cost)| Op::Check { step, cost }),
        3 => (any_step(), cost(), overrides(names)).prop_map(|(step, cost, ov)| Op::Override { step, cost, ov }),
        2 => prop_oneof![2 => Just(1u32), 1 => cost()].prop_map(|cost| Op::Release { cost }),
    ]
}

/// A plain check agrees with every limit decided alone, and records all or nothing.
fn plain_check<const N: usize, U: Setup<N>>(
    u: &U,
    s: &mut U::S,
    t: I,
    cost: u32,
) -> Result<(), TestCaseError> {
    let s0 = *s;
    let alone = u.alone(&s0, t, cost);
    let peeked = u.p().peek(&s0, t, cost);
    let got = u.p().check(s, t, cost);
    prop_assert_eq!(peeked, got, "peek == check");
    let caps = u.capacities();
    match got {
        Err(e) => {
            prop_assert_eq!(*s, s0, "an error records nothing");
            let min = *caps.iter().min().unwrap();
            let first = caps.iter().position(|c| *c == min).unwrap();
            prop_assert!(cost > min);
            // The limit with the smallest capacity, the first among equals.
            prop_assert_eq!(e, InsufficientCapacity::new(cost, min).at(first));
            prop_assert_eq!(
                Limits::<HZ>::name(u.p().limits(), first),
                Some(u.names()[first]),
                "the error names the limit"
            );
            prop_assert!(alone.iter().any(|d| d.is_err()));
        }
        Ok(d) => {
            let alone: Vec<Decision<HZ>> = alone.iter().map(|d| d.unwrap()).collect();
            let denying: Vec<usize> = (0..N).filter(|&i| alone[i].is_denied()).collect();
            if denying.is_empty() {
                prop_assert!(d.is_allowed());
                prop_assert_eq!(d.retry_after(), None);
                for (r, a) in d.reports.iter().zip(&alone) {
                    prop_assert_eq!(&r.decision, a);
                }
                prop_assert_eq!(*s, u.checked_alone(&s0, t, cost), "every limit records");
            } else {
                prop_assert_eq!(*s, s0, "a denial records nothing anywhere");
                let wait = denying.iter().map(|&i| alone[i].retry_after).max().unwrap();
                let named = *denying
                    .iter()
                    .find(|&&i| alone[i].retry_after == wait)
                    .unwrap();
                prop_assert_eq!(d.outcome, Verdict::Denied { index: named });
                prop_assert_eq!(d.retry_after(), wait);
                let bare = u.alone(&s0, t, 0);
                for i in 0..N {
                    let want = if denying.contains(&i) {
                        alone[i]
                    } else {
                        bare[i].unwrap()
                    };
                    prop_assert_eq!(d.reports[i].decision, want, "report {}", i);
                }
                // Liveness: exact unless an in-flight limit denies (its wait is a hint).
                let w = wait.unwrap().as_ticks();
                let hinted = denying.iter().any(|&i| u.in_flight()[i]);
                // (Away from the end of time, where waits saturate rather than reopen.)
                if !hinted && t.as_ticks().saturating_add(w) < u64::MAX / 2 {
                    let later = I::from_ticks(t.as_ticks() + w);
                    prop_assert!(
                        u.p().peek(&s0, later, cost).unwrap().is_allowed(),
                        "admitted after retry_after"
                    );
                    if w > 0 {
                        let early = I::from_ticks(t.as_ticks() + w - 1);
                        prop_assert!(
                            u.p().peek(&s0, early, cost).unwrap().is_denied(),
                            "not one tick earlier"
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// Overrides only ever make a decision stricter and never record more than the plain check.
fn override_check<const N: usize, U: Setup<N>>(
    u: &U,
    s: &mut U::S,
    t: I,
    cost: u32,
    ov: &Ov,
) -> Result<(), TestCaseError> {
    let s0 = *s;
    let pairs = ov.pairs(u);
    let o = Overrides {
        deny: ov.deny,
        lower: &pairs,
    };
    let mut s_plain = s0;
    let plain = u.p().check(&mut s_plain, t, cost);
    let peeked = u.p().peek_with(&s0, t, cost, &o);
    let got = u.p().check_with(s, t, cost, &o);
    prop_assert_eq!(peeked, got, "peek_with == check_with");
    match got {
        Err(e) => {
            prop_assert_eq!(*s, s0, "an error records nothing");
            prop_assert!(cost > e.capacity);
        }
        Ok(d) if d.is_allowed() => {
            prop_assert!(
                plain.is_ok_and(|p| p.is_allowed()),
                "never admits what the plain check denies"
            );
            prop_assert_eq!(*s, s_plain, "records exactly what the plain check records");
            prop_assert!(!ov.deny || cost == 0);
        }
        Ok(d) => {
            prop_assert_eq!(*s, s0, "a denial records nothing anywhere");
            if d.outcome == Verdict::Forced {
                prop_assert!(ov.deny && cost > 0);
                prop_assert_eq!(d.retry_after(), Some(D::from_ticks(0)));
            }
        }
    }
    if plain.is_err() {
        prop_assert!(got.is_err(), "an override never makes a cost fit");
    }
    if let Ok(d) = got {
        // Never raises a limit.
        for (r, own) in d.reports.iter().zip(u.own_limits()) {
            prop_assert!(r.decision.limit <= own);
        }
        // A lowered counting limit is exactly a limit of the lowered value.
        let (i, limit, used) = u.counting(&s0, t);
        if let Some(low) = ov.lowered(i, limit) {
            let r = d.reports[i].decision;
            prop_assert_eq!(r.limit, low);
            prop_assert_eq!(r.is_allowed(), cost == 0 || used + cost <= low);
            let remaining = if d.is_allowed() && cost > 0 {
                low - used - cost
            } else {
                low.saturating_sub(used)
            };
            prop_assert_eq!(r.remaining, remaining);
        }
    }
    Ok(())
}

/// A release reaches every limit or none.
fn release<const N: usize, U: Setup<N>>(
    u: &U,
    s: &mut U::S,
    cost: u32,
) -> Result<(), TestCaseError> {
    let s0 = *s;
    let want = u.released_alone(&s0, cost);
    let got = u.p().release(s, cost);
    prop_assert_eq!(got, want.map(|_| ()));
    prop_assert_eq!(*s, want.unwrap_or(s0));
    Ok(())
}

/// `is_at_rest` holds exactly when the policy answers like a fresh one, now and later; and one
/// holding requests in flight (`held`, counted from its own answers) never rests by waiting.
fn at_rest<const N: usize, U: Setup<N>>(
    u: &U,
    s: &U::S,
    t: I,
    held: u64,
) -> Result<(), TestCaseError> {
    let p = u.p();
    if p.is_at_rest(s, t) {
        prop_assert!(
            like_fresh_from(p, s, t.as_ticks()),
            "at rest, yet answers unlike a fresh policy"
        );
    } else {
        prop_assert!(
            !like_fresh_at(p, s, t.as_ticks()),
            "answers like a fresh policy, yet not at rest"
        );
    }
    let end = I::from_ticks(u64::MAX);
    prop_assert_eq!(
        p.is_at_rest(s, end),
        like_fresh_at(p, s, u64::MAX),
        "at rest at the end of time"
    );
    if held > 0 {
        prop_assert!(
            !p.is_at_rest(s, end),
            "{} in flight, yet at rest at the end of time",
            held
        );
    }
    Ok(())
}

/// Runs `ops` from `start`, checking every operation, and counting what is in flight.
fn run<const N: usize, U: Setup<N>>(u: &U, start: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut s = u.p().new_state();
    let mut now = start;
    let mut held = 0u64;
    for op in ops {
        let before = s;
        match op {
            Op::Check { step, cost } => {
                now = step.apply(now);
                plain_check(u, &mut s, I::from_ticks(now), cost)?;
                if s != before {
                    held += u64::from(cost); // recorded in every limit, in-flight ones included
                }
            }
            Op::Override { step, cost, ov } => {
                now = step.apply(now);
                override_check(u, &mut s, I::from_ticks(now), cost, &ov)?;
                if s != before {
                    held += u64::from(cost);
                }
            }
            Op::Release { cost } => {
                release(u, &mut s, cost)?;
                if s != before {
                    held -= u64::from(cost);
                }
            }
        }
        at_rest(u, &s, I::from_ticks(now), held)?;
    }
    Ok(())
}

/// A policy as an [`Algorithm`] keeps the trait contract.
fn as_an_algorithm<const N: usize, U: Setup<N>>(
    u: &U,
    ops: Vec<(Step, u32)>,
) -> Result<(), TestCaseError>
where
    U::S: Clone,
{
    let p = u.p();
    let mut s = Algorithm::new_state(p);
    let mut now = 0u64;
    for (step, cost) in ops {
        now = step.apply(now);
        let t = I::from_ticks(now);
        let s0 = s;
        let peeked = Algorithm::peek(p, &s0, t, cost);
        let got = Algorithm::check(p, &mut s, t, cost);
        prop_assert_eq!(peeked, got);
        match got {
            Err(e) => {
                let capacity = Algorithm::capacity(p);
                let caps = u.capacities();
                let first = caps.iter().position(|c| *c == capacity).unwrap();
                prop_assert_eq!(e, InsufficientCapacity::new(cost, capacity).at(first));
                prop_assert_eq!(s, s0);
            }
            Ok(d) => {
                if d.is_denied() {
                    prop_assert_eq!(s, s0);
                }
                if cost == 0 {
                    prop_assert!(d.is_allowed());
                    prop_assert_eq!(s, s0);
                }
                let alone: Vec<Decision<HZ>> =
                    u.alone(&s0, t, cost).iter().map(|d| d.unwrap()).collect();
                prop_assert_eq!(d.limit, alone.iter().map(|a| a.limit).min().unwrap());
                prop_assert_eq!(d.reset, p.peek(&s, t, 0).unwrap().reset());
            }
        }
        prop_assert_eq!(
            Algorithm::is_at_rest(p, &s, t),
            like_fresh_at(p, &s, now),
            "is_at_rest"
        );
    }
    Ok(())
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 0u64..10_000_000, u64::MAX - 10_000..=u64::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_policy_of_real_limits_admits_exactly_what_every_limit_admits_and_records_all_or_nothing(
        x in real_params(),
        start in start(),
        ops in prop::collection::vec(op(6), 0..60),
    ) {
        run(&build_real(x), start, ops)?;
    }

    #[test]
    fn a_policy_of_test_only_limits_admits_exactly_what_every_limit_admits_and_records_all_or_nothing(
        x in params(),
        start in start(),
        ops in prop::collection::vec(op(5), 0..60),
    ) {
        run(&build(x), start, ops)?;
    }

    #[test]
    fn a_policy_of_real_limits_as_an_algorithm_keeps_the_trait_contract(
        x in real_params(),
        ops in prop::collection::vec((any_step(), cost()), 0..40),
    ) {
        as_an_algorithm(&build_real(x), ops)?;
    }

    #[test]
    fn a_policy_of_test_only_limits_as_an_algorithm_keeps_the_trait_contract(
        x in params(),
        ops in prop::collection::vec((any_step(), cost()), 0..40),
    ) {
        as_an_algorithm(&build(x), ops)?;
    }
}
