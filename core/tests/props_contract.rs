//! The `Algorithm<HZ>` contract, checked against every implementation in tollgate-core.
//!
//! One checker, `models/contract.rs` (shared with the fuzz crate), replays arbitrary sequences
//! of checks, peeks and releases on each algorithm and checks at every step what the trait and
//! `Decision` promise: peek equals check; denied, erroneous and zero-cost checks change nothing;
//! a cost above the capacity is `InsufficientCapacity`; `remaining`, `retry_after` and `reset`
//! are exact; a backwards clock never admits what a later instant seen denies; a state at rest
//! decides like a fresh one. Each implementation's documented exceptions (a concurrency limit's
//! hints, the end of time, unbounded limits) are spelled out in its `Rules`, with the doc they
//! come from, so the checker is strict everywhere else.
//!
//! Sequences mix zero steps, steps of a few ticks, steps of quarters of the window ± one tick,
//! huge steps, backwards steps of each size and jumps to the end of time, with costs of 0, 1, a
//! few, the capacity, one above it and `u32::MAX`. Every algorithm runs at 1 kHz (windows of a
//! few ticks to two seconds, intervals that divide the window and ones that round up) and at
//! 32.768 kHz (windows of one or two seconds, intervals that rarely divide).
//!
//! The checker is itself tested: `the_checker_catches` plants one flaw at a time (a retry one
//! tick off, a denied check that records, a kinder backwards clock, ...) in real limits and
//! requires each to be found, and `the_sequences_exercise` requires the generated sequences to
//! reach every promise, not only the ones that are never exempt.
//!
//! One exception is not documented by its implementation: a sliding log with a ring of one entry
//! reports `limit` N but admits only one unit request at once from rest. It is reported, and
//! marked where it is skipped.

use proptest::prelude::*;
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, Duration, Gcra, GcraState, Meter, Named, Policy,
    Quota, SlidingLog, SlidingWindow, Unlimited,
};

#[path = "models/contract.rs"]
mod contract;
use contract::{Cost, Op, Reset, Retry, Rules, Step};

/// The configuration every implementation is built from.
#[derive(Debug, Clone, Copy)]
struct Params {
    limit: u32,
    burst: u32,
    window: u64,
    /// A second quota, for the other limits of a policy.
    limit2: u32,
    window2: u64,
    /// A concurrency limit's retry hint; `None` keeps the default of one second.
    hint: Option<u64>,
}

impl Params {
    fn quota<const HZ: u64>(&self) -> Quota<HZ> {
        Quota::new(self.limit, Duration::<HZ>::from_ticks(self.window))
            .and_then(|q| q.with_burst(self.burst))
            .unwrap()
    }

    fn quota2<const HZ: u64>(&self) -> Quota<HZ> {
        Quota::new(self.limit2, Duration::<HZ>::from_ticks(self.window2)).unwrap()
    }

    /// The first quota with a window of at least `b` ticks, for a window counter of `b` buckets.
    fn quota_for_buckets<const HZ: u64>(&self, b: u64) -> Quota<HZ> {
        Quota::new(self.limit, Duration::<HZ>::from_ticks(self.window.max(b))).unwrap()
    }

    fn concurrency<const HZ: u64>(&self) -> Concurrency<HZ> {
        let c = Concurrency::new(self.limit).unwrap();
        match self.hint {
            Some(h) => c.with_retry_hint(Duration::<HZ>::from_ticks(h)),
            None => c,
        }
    }
}

/// Windows in ticks: `unit == 1` gives 1 kHz-style windows (tight ones of `limit..limit+3`
/// ticks, so the interval is one tick, and ones up to two seconds); otherwise one or two `unit`s
/// less up to three ticks, which keeps within `u16` time stamps at 32.768 kHz.
fn params(unit: u64) -> impl Strategy<Value = Params> {
    (
        1u32..=6,
        1u32..=7,
        0u64..=3,
        8u64..=2_000,
        any::<bool>(),
        1u32..=8,
        1u64..=3,
        0u64..=5,
        prop_oneof![Just(None), (0u64..=3_000).prop_map(Some)],
    )
        .prop_map(
            move |(limit, burst, extra, long, tight, limit2, k2, extra2, hint)| {
                let window = if unit == 1 {
                    if tight {
                        u64::from(limit) + extra
                    } else {
                        long
                    }
                } else {
                    (1 + u64::from(tight)) * unit - extra
                };
                Params {
                    limit,
                    burst,
                    window,
                    limit2,
                    window2: (window * k2 + extra2).max(u64::from(limit2)),
                    hint,
                }
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Zero),
        4 => any::<u8>().prop_map(Step::Ticks),
        6 => (1u8..=8, -1i8..=1).prop_map(|(k, d)| Step::Quarters(k, d)),
        1 => (2u32..44, any::<u64>()).prop_map(|(bits, x)| Step::Huge(x >> bits)),
        2 => any::<u8>().prop_map(Step::BackTicks),
        2 => (1u8..=8, -1i8..=1).prop_map(|(k, d)| Step::BackQuarters(k, d)),
        1 => (2u32..44, any::<u64>()).prop_map(|(bits, x)| Step::BackHuge(x >> bits)),
        1 => any::<u64>().prop_map(Step::ToEnd),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![6 => Just(Op::Check), 2 => Just(Op::Peek), 1 => Just(Op::Release)]
}

fn cost() -> impl Strategy<Value = Cost> {
    prop_oneof![
        2 => Just(Cost::Zero),
        5 => Just(Cost::One),
        3 => any::<u8>().prop_map(Cost::Small),
        3 => Just(Cost::Capacity),
        1 => Just(Cost::Over),
        1 => Just(Cost::Max),
    ]
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        3 => 0u64..(1 << 40),
        1 => (0u64..=4_096).prop_map(|x| u64::MAX - x),
    ]
}

fn ops() -> impl Strategy<Value = Vec<(Step, Op, Cost)>> {
    proptest::collection::vec((step(), op(), cost()), 1..40)
}

fn verify<A, const HZ: u64>(
    alg: &A,
    rules: Rules<A, HZ>,
    start: u64,
    ops: &[(Step, Op, Cost)],
) -> Result<(), TestCaseError>
where
    A: Algorithm<HZ>,
    A::State: Clone + PartialEq + core::fmt::Debug,
{
    contract::run(alg, rules, start, ops).map_err(TestCaseError::fail)?;
    Ok(())
}

/// The generated sequences really put every promise to the test (most checks are skipped near
/// the end of time or when a decision does not call for them), for one limit of each kind.
mod the_sequences_exercise {
    use super::*;
    use contract::Tested;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    const HZ: u64 = 1_000;

    fn tally<A, F>(build: F, rules: fn(&A) -> Rules<A, HZ>) -> Tested
    where
        A: Algorithm<HZ>,
        A::State: Clone + PartialEq + core::fmt::Debug,
        F: Fn(&Params) -> A,
    {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::deterministic_rng(RngAlgorithm::XorShift),
        );
        let mut sum = Tested::default();
        for _ in 0..64 {
            let (p, start, ops) = (params(1), start(), ops())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let alg = build(&p);
            let t = contract::run(&alg, rules(&alg), start, &ops).unwrap();
            sum.decisions += t.decisions;
            sum.errors += t.errors;
            sum.denials += t.denials;
            sum.exact_retries += t.exact_retries;
            sum.exact_resets += t.exact_resets;
            sum.backwards += t.backwards;
            sum.like_fresh += t.like_fresh;
        }
        sum
    }

    fn every_promise(t: Tested) {
        let counts = [
            t.decisions,
            t.errors,
            t.denials,
            t.exact_retries,
            t.exact_resets,
            t.backwards,
            t.like_fresh,
        ];
        assert!(counts.iter().all(|&n| n >= 20), "{t:?}");
    }

    #[test]
    fn every_promise_of_gcra() {
        every_promise(tally(|p| Gcra::new(p.quota::<HZ>()), contract::gcra));
    }

    #[test]
    fn every_promise_of_a_sliding_log() {
        every_promise(tally(
            |p| SlidingLog::<HZ, 3>::new_undersized(p.quota()).unwrap(),
            contract::sliding_log,
        ));
    }

    #[test]
    fn every_promise_of_a_sliding_window() {
        every_promise(tally(
            |p| SlidingWindow::<HZ, 3>::new(p.quota_for_buckets(3)).unwrap(),
            contract::sliding_window,
        ));
    }
}

macro_rules! contract_tests {
    ($module:ident, $hz:expr, $unit:expr) => {
        mod $module {
            use super::*;

            const HZ: u64 = $hz;

            type WithConcurrency = Policy<(Named<Concurrency<HZ>, HZ>, Named<Gcra<HZ>, HZ>)>;
            type WithConcurrencyState = (ConcurrencyState, GcraState);

            /// The strict contract with the largest scale and end-of-time margin of some limits.
            fn policy_rules<A: Algorithm<HZ>>(parts: &[(u64, u64)]) -> Rules<A, HZ> {
                let scale = parts.iter().map(|p| p.0).max().unwrap_or(1);
                let margin = parts.iter().map(|p| p.1).max().unwrap_or(0);
                Rules::strict(scale, margin)
            }

            fn parts<A: Algorithm<HZ>>(r: &Rules<A, HZ>) -> (u64, u64) {
                (r.scale, r.end_margin)
            }

            proptest! {
                // ChaCha in a debug build costs more than the checks themselves.
                #![proptest_config(ProptestConfig {
                    rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
                    ..ProptestConfig::default()
                })]

                #[test]
                fn gcra_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let g = Gcra::new(p.quota::<HZ>());
                    verify(&g, contract::gcra(&g), start, &ops)?;
                }

                #[test]
                fn the_leaky_bucket_meter_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let m = Meter::new(p.quota::<HZ>());
                    verify(&m, contract::meter(&m), start, &ops)?;
                }

                #[test]
                fn a_sliding_log_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let l = SlidingLog::<HZ, 8>::new(p.quota()).unwrap();
                    verify(&l, contract::sliding_log(&l), start, &ops)?;
                }

                #[test]
                fn an_undersized_sliding_log_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let l = SlidingLog::<HZ, 2>::new_undersized(p.quota()).unwrap();
                    verify(&l, contract::sliding_log(&l), start, &ops)?;
                    let l = SlidingLog::<HZ, 3>::new_undersized(p.quota()).unwrap();
                    verify(&l, contract::sliding_log(&l), start, &ops)?;
                }

                #[test]
                fn a_sliding_log_with_a_ring_of_one_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let l = SlidingLog::<HZ, 1>::new_undersized(p.quota()).unwrap();
                    let rules = Rules {
                        // KNOWN VIOLATION, reported to the lead: with one entry, a second unit
                        // request at the same tick is denied ("a ring full of live entries then
                        // denies"), so at most one unit request is admitted at once from rest, yet
                        // `limit` is N. Restore the check once `limit` or the docs agree.
                        limit_from_rest: false,
                        ..contract::sliding_log(&l)
                    };
                    verify(&l, rules, start, &ops)?;
                }

                #[test]
                fn a_sliding_log_with_u16_stamps_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let q = Quota::<HZ>::new(p.limit, Duration::<HZ>::from_ticks(p.window.min(1 << 16))).unwrap();
                    let l = SlidingLog::<HZ, 8, u16>::new(q).unwrap();
                    verify(&l, contract::sliding_log(&l), start, &ops)?;
                }

                #[test]
                fn a_sliding_log_with_u64_stamps_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let l = SlidingLog::<HZ, 8, u64>::new(p.quota()).unwrap();
                    verify(&l, contract::sliding_log(&l), start, &ops)?;
                }

                #[test]
                fn a_sliding_window_of_2_buckets_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let w = SlidingWindow::<HZ, 2>::new(p.quota_for_buckets(2)).unwrap();
                    verify(&w, contract::sliding_window(&w), start, &ops)?;
                }

                #[test]
                fn a_sliding_window_of_3_buckets_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let w = SlidingWindow::<HZ, 3>::new(p.quota_for_buckets(3)).unwrap();
                    verify(&w, contract::sliding_window(&w), start, &ops)?;
                }

                #[test]
                fn a_sliding_window_of_5_buckets_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let w = SlidingWindow::<HZ, 5>::new(p.quota_for_buckets(5)).unwrap();
                    verify(&w, contract::sliding_window(&w), start, &ops)?;
                }

                #[test]
                fn a_concurrency_limit_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let c = p.concurrency::<HZ>();
                    verify(&c, contract::concurrency(&c), start, &ops)?;
                }

                #[test]
                fn unlimited_keeps_the_contract(start in start(), ops in ops()) {
                    verify(&Unlimited, contract::unlimited_itself::<HZ>(), start, &ops)?;
                }

                #[test]
                fn an_optional_limit_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let g = Gcra::new(p.quota::<HZ>());
                    let (scale, margin) = parts(&contract::gcra(&g));
                    // `Some(a)` is `a` (policy.rs: "`Some(a)` is `a`").
                    verify(&Some(g), Rules::strict(scale, margin), start, &ops)?;
                    // `None` is `Unlimited` with `a`'s state type.
                    verify(&None::<Gcra<HZ>>, contract::unlimited(scale), start, &ops)?;
                    let c = p.concurrency::<HZ>();
                    let r = contract::concurrency(&c);
                    let (Retry::Hint(h), Reset::Hint(_)) = (&r.retry, &r.reset) else { unreachable!() };
                    let rules = Rules { retry: Retry::Hint(*h), reset: Reset::Hint(*h), holds: true, ..Rules::strict(r.scale, 0) };
                    verify(&Some(c), rules, start, &ops)?;
                    verify(&None::<Concurrency<HZ>>, contract::unlimited(r.scale), start, &ops)?;
                }

                #[test]
                fn a_policy_of_rate_limits_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let g = Gcra::new(p.quota::<HZ>());
                    let l = SlidingLog::<HZ, 8>::new(p.quota2()).unwrap();
                    let rules = policy_rules(&[parts(&contract::gcra(&g)), parts(&contract::sliding_log(&l))]);
                    let policy = Policy::new((
                        Named::new("gcra", p.quota::<HZ>().window(), g),
                        Named::new("log", p.quota2::<HZ>().window(), l),
                        Named::new("forever", p.quota2::<HZ>().window(), Unlimited),
                    ));
                    verify(&policy, rules, start, &ops)?;
                }

                #[test]
                fn a_policy_of_windows_meters_and_unset_limits_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let w = SlidingWindow::<HZ, 3>::new(p.quota_for_buckets(3)).unwrap();
                    let m = Meter::new(p.quota2::<HZ>());
                    let q16 = Quota::<HZ>::new(p.limit2, Duration::<HZ>::from_ticks(p.window.clamp(u64::from(p.limit2), 1 << 16))).unwrap();
                    let l = SlidingLog::<HZ, 2, u16>::new_undersized(q16).unwrap();
                    let rules = policy_rules(&[
                        parts(&contract::sliding_window(&w)),
                        parts(&contract::meter(&m)),
                        parts(&contract::sliding_log(&l)),
                    ]);
                    let policy = Policy::new((
                        Named::new("window", p.quota::<HZ>().window(), w),
                        Named::new("meter", p.quota2::<HZ>().window(), m),
                        Named::new("unset", p.quota::<HZ>().window(), None::<Gcra<HZ>>),
                        Named::new("log", q16.window(), l),
                    ));
                    verify(&policy, rules, start, &ops)?;
                }

                #[test]
                fn a_policy_with_a_concurrency_limit_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let c = p.concurrency::<HZ>();
                    let g = Gcra::new(p.quota2::<HZ>());
                    let (scale, margin) = parts(&contract::gcra(&g));
                    let policy = Policy::new((
                        Named::new("concurrent", Duration::<HZ>::from_ticks(0), c),
                        Named::new("gcra", p.quota2::<HZ>().window(), g),
                    ));
                    let rules = Rules {
                        // concurrency.rs, "Time and hints": a concurrency limit's retry_after is
                        // a hint, and policy.rs says the policy's wait "is exact whenever each
                        // limit's is". So exact when the concurrency limit admits the request.
                        retry: Retry::ExactWhen(|p: &WithConcurrency, s: &WithConcurrencyState, now, cost| {
                            matches!(Algorithm::<HZ>::peek(p.limits().0.limit(), &s.0, now, cost), Ok(d) if d.is_allowed())
                        }),
                        // Its reset is the hint while anything is in flight, and the policy's
                        // reset is the longest: exact while nothing is in flight.
                        reset: Reset::ExactWhen(|_, s: &WithConcurrencyState| s.0.in_flight() == 0),
                        holds: true,
                        ..Rules::strict(scale, margin)
                    };
                    verify(&policy, rules, start, &ops)?;
                }

                #[test]
                fn a_policy_inside_a_policy_keeps_the_contract(p in params($unit), start in start(), ops in ops()) {
                    let g = Gcra::new(p.quota::<HZ>());
                    let w = SlidingWindow::<HZ, 2>::new(p.quota_for_buckets(2)).unwrap();
                    let rules = policy_rules(&[parts(&contract::gcra(&g)), parts(&contract::sliding_window(&w))]);
                    let inner = Policy::new((Named::new("gcra", p.quota::<HZ>().window(), g),));
                    let policy = Policy::new((
                        Named::new("inner", p.quota::<HZ>().window(), inner),
                        Named::new("window", p.quota::<HZ>().window(), Some(w)),
                    ));
                    verify(&policy, rules, start, &ops)?;
                }
            }
        }
    };
}

contract_tests!(at_1_khz, 1_000, 1);
contract_tests!(at_32_khz, 32_768, 32_768);

/// The checker itself is put to the test: a limit with one planted flaw must fail it.
mod the_checker_catches {
    use super::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use tollgate_core::{Decision, Instant, InsufficientCapacity};

    const HZ: u64 = 1_000;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Flaw {
        /// No flaw: the control, which must pass.
        None,
        PeekDiffersFromCheck,
        RetryOneTickShort,
        RetryOneTickLong,
        RemainingOneHigh,
        RemainingOneLow,
        ResetOneTickShort,
        ResetOneTickLong,
        DeniedCheckRecords,
        ZeroCostRecords,
        CapacityErrorMisreported,
        AtRestOneTickEarly,
        KinderBackwards,
        LimitOneHigh,
    }

    /// `inner` with one flaw. The state also keeps the latest instant admitted at, for the
    /// flaw that forgets it.
    #[derive(Debug)]
    struct Mutant<A> {
        inner: A,
        flaw: Flaw,
    }

    impl<A: Algorithm<HZ>> Mutant<A>
    where
        A::State: Clone,
    {
        /// Decides like `inner`, then plants the flaw. Most flaws show only while the state is not
        /// at rest, so that they are caught by the promise they break rather than by a state at
        /// rest that differs from a fresh one.
        fn decide(
            &self,
            s: &mut (A::State, Option<u64>),
            now: Instant<HZ>,
            cost: u32,
            record: bool,
        ) -> Result<Decision<HZ>, InsufficientCapacity> {
            let capacity = self.inner.capacity();
            if cost > capacity && self.flaw == Flaw::CapacityErrorMisreported {
                return Err(InsufficientCapacity {
                    cost,
                    capacity: capacity + 1,
                });
            }
            let latest = s.1;
            let armed = !self.inner.is_at_rest(&s.0, now);
            if self.flaw == Flaw::KinderBackwards
                && cost > 1
                && latest.is_some_and(|l| now.as_ticks() < l)
            {
                // Admits (without recording) what it denies before an instant already seen.
                let d = self.inner.peek(&s.0, now, cost)?;
                return Ok(Decision {
                    retry_after: None,
                    ..d
                });
            }
            let mut d = if record {
                self.inner.check(&mut s.0, now, cost)?
            } else {
                self.inner.peek(&s.0, now, cost)?
            };
            if record && d.is_allowed() && cost > 0 {
                s.1 = Some(latest.unwrap_or(0).max(now.as_ticks()));
            }
            let one = Duration::<HZ>::from_ticks(1);
            match self.flaw {
                Flaw::PeekDiffersFromCheck if armed && !record => {
                    d.remaining = d.remaining.wrapping_add(1)
                }
                Flaw::RetryOneTickShort if armed => {
                    d.retry_after = d.retry_after.map(|r| r.checked_sub(one).unwrap_or(r))
                }
                Flaw::RetryOneTickLong if armed => d.retry_after = d.retry_after.map(|r| r + one),
                Flaw::RemainingOneHigh if armed => d.remaining = d.remaining.saturating_add(1),
                Flaw::RemainingOneLow if armed => d.remaining = d.remaining.saturating_sub(1),
                Flaw::ResetOneTickShort if armed => {
                    d.reset = d.reset.checked_sub(one).unwrap_or(d.reset)
                }
                Flaw::ResetOneTickLong if armed && d.reset.as_ticks() > 0 => d.reset += one,
                Flaw::DeniedCheckRecords if record && d.is_denied() => {
                    let later = Instant::<HZ>::from_ticks(now.as_ticks().saturating_add(1 << 30));
                    let _ = self.inner.check(&mut s.0, later, 1);
                }
                Flaw::ZeroCostRecords if record && cost == 0 => {
                    let _ = self.inner.check(&mut s.0, now, 1);
                }
                Flaw::LimitOneHigh if armed => d.limit += 1,
                _ => {}
            }
            Ok(d)
        }
    }

    impl<A: Algorithm<HZ>> Algorithm<HZ> for Mutant<A>
    where
        A::State: Clone,
    {
        type State = (A::State, Option<u64>);

        fn new_state(&self) -> Self::State {
            (self.inner.new_state(), None)
        }

        fn capacity(&self) -> u32 {
            self.inner.capacity()
        }

        fn check(
            &self,
            state: &mut Self::State,
            now: Instant<HZ>,
            cost: u32,
        ) -> Result<Decision<HZ>, InsufficientCapacity> {
            self.decide(state, now, cost, true)
        }

        fn peek(
            &self,
            state: &Self::State,
            now: Instant<HZ>,
            cost: u32,
        ) -> Result<Decision<HZ>, InsufficientCapacity> {
            self.decide(&mut state.clone(), now, cost, false)
        }

        fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool {
            let now = match self.flaw {
                Flaw::AtRestOneTickEarly => now + Duration::<HZ>::from_ticks(1),
                _ => now,
            };
            self.inner.is_at_rest(&state.0, now)
        }
    }

    const FLAWS: [Flaw; 13] = [
        Flaw::PeekDiffersFromCheck,
        Flaw::RetryOneTickShort,
        Flaw::RetryOneTickLong,
        Flaw::RemainingOneHigh,
        Flaw::RemainingOneLow,
        Flaw::ResetOneTickShort,
        Flaw::ResetOneTickLong,
        Flaw::DeniedCheckRecords,
        Flaw::ZeroCostRecords,
        Flaw::CapacityErrorMisreported,
        Flaw::AtRestOneTickEarly,
        Flaw::KinderBackwards,
        Flaw::LimitOneHigh,
    ];

    /// Whether the contract tests find `flaw` in a mutant of what `build` makes.
    fn caught<A, F>(flaw: Flaw, build: F, rules: fn(&A) -> Rules<A, HZ>) -> Result<(), String>
    where
        A: Algorithm<HZ> + core::fmt::Debug,
        A::State: Clone + PartialEq + core::fmt::Debug,
        F: Fn(&Params) -> A,
    {
        let config = Config {
            max_shrink_iters: 0,
            failure_persistence: None,
            rng_algorithm: RngAlgorithm::XorShift,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::XorShift));
        let found = runner.run(&(params(1), start(), ops()), |(p, start, ops)| {
            let inner = build(&p);
            let r = rules(&inner);
            let rules = Rules::<Mutant<A>, HZ> {
                retry: Retry::Exact,
                reset: Reset::Exact,
                ..Rules::strict(r.scale, r.end_margin)
            };
            verify(&Mutant { inner, flaw }, rules, start, &ops)
        });
        match found {
            Err(e) => {
                if std::env::var_os("CONTRACT_SHOW").is_some() {
                    eprintln!("{flaw:?}: {}", e.to_string().lines().next().unwrap_or(""));
                }
                Ok(())
            }
            Ok(()) => Err(format!("{flaw:?} went unnoticed")),
        }
    }

    #[test]
    fn no_flaw_where_there_is_none() {
        let build = |p: &Params| Gcra::new(p.quota::<HZ>());
        assert!(caught(Flaw::None, build, contract::gcra).is_err());
        let build = |p: &Params| SlidingLog::<HZ, 3>::new_undersized(p.quota()).unwrap();
        assert!(caught(Flaw::None, build, contract::sliding_log).is_err());
        let build = |p: &Params| SlidingWindow::<HZ, 3>::new(p.quota_for_buckets(3)).unwrap();
        assert!(caught(Flaw::None, build, contract::sliding_window).is_err());
    }

    #[test]
    fn every_planted_flaw_in_gcra() {
        let missed: Vec<String> = FLAWS
            .iter()
            .filter_map(|&f| caught(f, |p| Gcra::new(p.quota::<HZ>()), contract::gcra).err())
            .collect();
        assert!(missed.is_empty(), "{missed:?}");
    }

    #[test]
    fn every_planted_flaw_in_a_sliding_log() {
        let missed: Vec<String> = FLAWS
            .iter()
            .filter_map(|&f| {
                caught(
                    f,
                    |p| SlidingLog::<HZ, 3>::new_undersized(p.quota()).unwrap(),
                    contract::sliding_log,
                )
                .err()
            })
            .collect();
        assert!(missed.is_empty(), "{missed:?}");
    }

    #[test]
    fn every_planted_flaw_in_a_sliding_window() {
        let missed: Vec<String> = FLAWS
            .iter()
            .filter_map(|&f| {
                caught(
                    f,
                    |p| SlidingWindow::<HZ, 3>::new(p.quota_for_buckets(3)).unwrap(),
                    contract::sliding_window,
                )
                .err()
            })
            .collect();
        assert!(missed.is_empty(), "{missed:?}");
    }
}
