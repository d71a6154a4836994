//! The `Algorithm` contract of `core/src/algorithm/mod.rs`, through the one checker of
//! `tollgate_testkit::contract` (the one `props_contract.rs` uses), for every implementation:
//! GCRA, the leaky-bucket meter, the shaper (`Shaper::new` and `Shaper::nginx_limit_req`), sliding
//! logs (rings of 1, 2, 3 and 24 entries; `u16`, `u32` and `u64` stamps), sliding windows of 2, 3
//! and 5 buckets, the concurrency limit, `Unlimited`, an absent `Option` limit, every kind of
//! `AnyLimit` (sliding logs and windows sized at run time), a two-limit tuple policy and a
//! two-limit array policy of `AnyLimit`s (a shaper among them), at four tick rates.
//!
//! Arbitrary configurations and arbitrary sequences of checks, peeks and releases with every kind
//! of clock step and cost; any violation of the contract (peek == check; denied, erroneous and
//! zero-cost checks change nothing; an error names the policy limit it is about; exact
//! `remaining`, `retry_after`, `reset` and `delay`; a backwards clock never more permissive; at
//! rest decides like fresh), short of each implementation's documented exceptions, panics with
//! the checker's message.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{
    Algorithm, AnyLimit, Concurrency, ConfigError, Duration, Gcra, Meter, Named, Policy, Quota,
    Shaper, SlidingLog, SlidingWindow, Unlimited,
};
use tollgate_fuzz::{Ops, at_rate};
use tollgate_testkit::contract::{self, Rules};

/// Any limit, its sliding logs and windows sized at run time in room for 24.
type Any<const HZ: u64> = AnyLimit<HZ, Inline<24>>;

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Step {
    Zero,
    Ticks(u8),
    Quarters(u8, i8),
    Huge(u8, u64),
    BackTicks(u8),
    BackQuarters(u8, i8),
    BackHuge(u8, u64),
    ToEnd(u64),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Op {
    Check,
    Peek,
    Release,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Cost {
    Zero,
    One,
    Small(u8),
    Capacity,
    Over,
    Max,
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    which: u8,
    limit: u8,
    burst: u8,
    window: u64,
    limit2: u8,
    window2: u16,
    hint: Option<u16>,
    start: u64,
    ops: Ops<(Step, Op, Cost)>,
}

fn ops(input: &Input) -> Vec<(contract::Step, contract::Op, contract::Cost)> {
    input
        .ops
        .0
        .iter()
        .map(|&(s, o, c)| {
            let s = match s {
                Step::Zero => contract::Step::Zero,
                Step::Ticks(k) => contract::Step::Ticks(k),
                Step::Quarters(k, d) => contract::Step::Quarters(k, d),
                Step::Huge(bits, x) => contract::Step::Huge(x >> (bits % 64)),
                Step::BackTicks(k) => contract::Step::BackTicks(k),
                Step::BackQuarters(k, d) => contract::Step::BackQuarters(k, d),
                Step::BackHuge(bits, x) => contract::Step::BackHuge(x >> (bits % 64)),
                Step::ToEnd(x) => contract::Step::ToEnd(x),
            };
            let o = match o {
                Op::Check => contract::Op::Check,
                Op::Peek => contract::Op::Peek,
                Op::Release => contract::Op::Release,
            };
            let c = match c {
                Cost::Zero => contract::Cost::Zero,
                Cost::One => contract::Cost::One,
                Cost::Small(k) => contract::Cost::Small(k),
                Cost::Capacity => contract::Cost::Capacity,
                Cost::Over => contract::Cost::Over,
                Cost::Max => contract::Cost::Max,
            };
            (s, o, c)
        })
        .collect()
}

fn verify<A, const HZ: u64>(alg: &A, rules: Rules<A, HZ>, input: &Input)
where
    A: Algorithm<HZ>,
    A::State: Clone + PartialEq + core::fmt::Debug,
{
    if let Err(v) = contract::run(alg, rules, input.start, &ops(input)) {
        panic!("contract violated: {v}");
    }
}

fn run<const HZ: u64>(input: &Input) {
    let limit = 1 + u32::from(input.limit % 24);
    let window = input.window.max(u64::from(limit));
    let Ok(q) = Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window)) else {
        return;
    };
    let Ok(q) = q.with_burst(1 + u32::from(input.burst % 24)) else {
        return;
    };
    let w = |b: u64| Quota::<HZ>::new(limit, Duration::<HZ>::from_ticks(window.max(b))).ok();
    match input.which % 20 {
        0 => {
            let g = Gcra::new(q);
            verify(&g, contract::gcra(&g), input);
        }
        1 => {
            let m = Meter::new(q);
            verify(&m, contract::meter(&m), input);
        }
        2 => {
            let Ok(l) = SlidingLog::<HZ, 24>::new(q) else {
                return;
            };
            verify(&l, contract::sliding_log(&l), input);
        }
        3 => {
            let Ok(l) = SlidingLog::<HZ, 2>::new_undersized(q) else {
                return;
            };
            verify(&l, contract::sliding_log(&l), input);
        }
        4 => {
            let Ok(l) = SlidingLog::<HZ, 3>::new_undersized(q) else {
                return;
            };
            verify(&l, contract::sliding_log(&l), input);
        }
        5 => {
            // A ring of one entry only takes a limit of one, and then keeps the whole contract.
            let l = match SlidingLog::<HZ, 1>::new_undersized(q) {
                Ok(l) => l,
                Err(ConfigError::CapacityTooSmall) => {
                    assert!(limit > 1);
                    return;
                }
                // A window longer than u32 stamps hold, as for the other logs.
                Err(_) => return,
            };
            verify(&l, contract::sliding_log(&l), input);
        }
        6 => {
            let Ok(l) = SlidingLog::<HZ, 24, u16>::new(q) else {
                return;
            };
            verify(&l, contract::sliding_log(&l), input);
        }
        7 => {
            let Ok(l) = SlidingLog::<HZ, 24, u64>::new(q) else {
                return;
            };
            verify(&l, contract::sliding_log(&l), input);
        }
        8 => {
            let Some(Ok(sw)) = w(2).map(SlidingWindow::<HZ, 2>::new) else {
                return;
            };
            verify(&sw, contract::sliding_window(&sw), input);
        }
        9 => {
            let Some(Ok(sw)) = w(3).map(SlidingWindow::<HZ, 3>::new) else {
                return;
            };
            verify(&sw, contract::sliding_window(&sw), input);
        }
        10 => {
            let Some(Ok(sw)) = w(5).map(SlidingWindow::<HZ, 5>::new) else {
                return;
            };
            verify(&sw, contract::sliding_window(&sw), input);
        }
        11 => {
            let c = Concurrency::<HZ>::new(limit).unwrap();
            let c = match input.hint {
                Some(h) => c.with_retry_hint(Duration::<HZ>::from_ticks(u64::from(h))),
                None => c,
            };
            verify(&c, contract::concurrency(&c), input);
        }
        12 => verify(&Unlimited, contract::unlimited_itself::<HZ>(), input),
        13 => {
            let none: Option<Gcra<HZ>> = None;
            verify(&none, contract::unlimited(window), input);
        }
        14 => {
            // A present `Option` limit is the limit itself: GCRA's rules.
            let r = contract::gcra(&Gcra::new(q));
            verify(
                &Some(Gcra::new(q)),
                Rules::strict(r.scale, r.end_margin),
                input,
            );
        }
        15 => {
            // Two rate limits enforced together: the strict contract, with the larger scale and
            // end-of-time margin of the two; an error names the smaller capacity.
            let limit2 = 1 + u32::from(input.limit2 % 8);
            let window2 = u64::from(input.window2).max(u64::from(limit2));
            let Ok(q2) = Quota::<HZ>::new(limit2, Duration::<HZ>::from_ticks(window2)) else {
                return;
            };
            let (g, l) = (Gcra::new(q), SlidingLog::<HZ, 8>::new(q2));
            let Ok(l) = l else { return };
            let (rg, rl) = (contract::gcra(&g), contract::sliding_log(&l));
            let smallest = usize::from(l.limit() < g.quota().burst());
            let p = Policy::new((Named::new("rate", g), Named::new("log", l)));
            let rules = Rules::strict(rg.scale.max(rl.scale), rg.end_margin.max(rl.end_margin));
            verify(&p, rules.at(smallest), input);
        }
        16 => {
            // Up to 15 intervals of queue, not always whole.
            let t = q.interval().as_ticks();
            let m = u64::from(input.limit2 % 16)
                .saturating_mul(t)
                .saturating_add(u64::from(input.window2) % t);
            let Ok(sh) = Shaper::new(q, Duration::<HZ>::from_ticks(m)) else {
                return;
            };
            verify(&sh, contract::shaper(&sh), input);
        }
        17 => {
            let (burst, delay) = (u32::from(input.limit2 % 16), u32::from(input.window2 % 16));
            let Ok(sh) = Shaper::nginx_limit_req(q, burst, delay) else {
                return;
            };
            verify(&sh, contract::shaper(&sh), input);
        }
        18 => {
            // Any limit decides exactly like the limit it holds, under the same rules.
            let Some((a, rules)) = any_limit::<HZ>(q, input) else {
                return;
            };
            verify(&a, rules, input);
        }
        _ => {
            // An array policy of two AnyLimits: a GCRA, and a sliding log, a sliding window or a
            // shaper (whose queue delays the whole policy's admissions).
            let Some((second, r2)) = any_limit::<HZ>(q, input) else {
                return;
            };
            let first = Any::<HZ>::Gcra(Gcra::new(q));
            let r1 = contract::gcra(&Gcra::new(q));
            if matches!(second, Any::<HZ>::Concurrency(_) | Any::<HZ>::Unlimited) {
                // A hint or no limit: their rules are not the strict ones (see `props_policy`).
                return;
            }
            let smallest = usize::from(second.capacity() < first.capacity());
            let p = Policy::new([Named::new("rate", first), Named::new("other", second)]);
            let rules = Rules {
                max_delay: r2.max_delay,
                ..Rules::strict(r1.scale.max(r2.scale), r1.end_margin.max(r2.end_margin))
            };
            verify(&p, rules.at(smallest), input);
        }
    }
}

/// An `AnyLimit` of the kind `input.hint` picks, built as a configuration file would, and the
/// rules of the limit it holds.
fn any_limit<const HZ: u64>(q: Quota<HZ>, input: &Input) -> Option<(Any<HZ>, Rules<Any<HZ>, HZ>)> {
    let (limit, window) = (q.limit(), q.window());
    let pick = input.hint.unwrap_or(0);
    let size = usize::from(input.limit2 % 25);
    Some(match pick % 7 {
        0 => {
            let g = Gcra::new(q);
            (Any::<HZ>::Gcra(g), contract::gcra(&g).carried())
        }
        1 => {
            let m = Meter::new(q);
            (Any::<HZ>::Meter(m), contract::meter(&m).carried())
        }
        2 => {
            let t = q.interval().as_ticks();
            let m = u64::from(input.window2 % 8).saturating_mul(t);
            let sh = Shaper::new(q, Duration::<HZ>::from_ticks(m)).ok()?;
            (Any::<HZ>::Shaper(sh), contract::shaper(&sh).carried())
        }
        3 => {
            // Entries chosen at run time: undersized, exact, or more than the limit.
            let a = Any::<HZ>::sliding_log(limit, window, size).ok()?;
            let Any::<HZ>::SlidingLog(l) = a else {
                unreachable!()
            };
            (a, contract::sliding_log(&l).carried())
        }
        4 => {
            let a = Any::<HZ>::sliding_window(limit, window, size).ok()?;
            let Any::<HZ>::SlidingWindow(w) = a else {
                unreachable!()
            };
            (a, contract::sliding_window(&w).carried())
        }
        5 => {
            let c = Concurrency::<HZ>::new(limit)
                .ok()?
                .with_retry_hint(Duration::<HZ>::from_ticks(u64::from(input.window2)));
            (
                Any::<HZ>::Concurrency(c),
                contract::concurrency(&c).carried(),
            )
        }
        _ => (Any::<HZ>::Unlimited, contract::unlimited(window.as_ticks())),
    })
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
