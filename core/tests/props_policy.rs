//! Property tests for policies: several limits enforced together, all or nothing.
//!
//! The policy under test combines a GCRA, a fixed-window counter, an in-flight counter and an
//! unlimited limit. The reference model is each limit on its own: the policy must admit exactly
//! when every limit alone would, record in all of them or none, name the limit with the longest
//! wait, and let test overrides only ever make a decision stricter.

mod policy_support;

use policy_support::strategy::{any_step, cost};
use policy_support::{Count, D, FixedWindow, HZ, I, InFlight, Step};
use proptest::prelude::*;
use tollgate_core::{
    Algorithm, Decision, ExceedsLimit, Gcra, GcraState, InsufficientCapacity, Named, Overrides,
    Policy, Quota, Unlimited, Verdict,
};

const NAMES: [&str; 5] = ["gcra", "window", "inflight", "forever", "nope"];
const SHOUTED: [&str; 5] = ["GCRA", "Window", "INFLIGHT", "Forever", "NOPE"];

type Limits = (
    Named<Gcra<HZ>, HZ>,
    Named<FixedWindow, HZ>,
    Named<InFlight, HZ>,
    Named<Unlimited, HZ>,
);
type State = (GcraState, Count, u32, ());

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

struct Under {
    g: Gcra<HZ>,
    fw: FixedWindow,
    inf: InFlight,
    p: Policy<Limits>,
}

fn build(x: Params) -> Under {
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
        Named::new(NAMES[0], D::from_secs(1), g),
        Named::new(NAMES[1], D::from_ticks(x.window), fw),
        Named::new(NAMES[2], D::from_ticks(0), inf),
        Named::new(NAMES[3], D::from_secs(1), Unlimited),
    ));
    Under { g, fw, inf, p }
}

impl Under {
    /// Each limit alone: its peek at `cost`.
    fn alone(&self, s: &State, t: I, cost: u32) -> [Result<Decision<HZ>, InsufficientCapacity>; 4] {
        [
            self.g.peek(&s.0, t, cost),
            self.fw.peek(&s.1, t, cost),
            self.inf.peek(&s.2, t, cost),
            Algorithm::<HZ>::peek(&Unlimited, &s.3, t, cost),
        ]
    }

    /// Each limit alone: the state after its own check.
    fn checked_alone(&self, s: &State, t: I, cost: u32) -> State {
        let mut n = *s;
        self.g.check(&mut n.0, t, cost).unwrap();
        self.fw.check(&mut n.1, t, cost).unwrap();
        self.inf.check(&mut n.2, t, cost).unwrap();
        n
    }

    fn capacities(&self) -> [u32; 4] {
        [
            self.g.capacity(),
            self.fw.capacity(),
            self.inf.capacity(),
            u32::MAX,
        ]
    }
}

/// Overrides as generated: a forced denial, and (name index, shout it, value) lowerings.
#[derive(Debug, Clone)]
struct Ov {
    deny: bool,
    lower: Vec<(usize, bool, u32)>,
}

fn overrides() -> impl Strategy<Value = Ov> {
    let value = prop_oneof![6 => 0u32..=10, 1 => Just(u32::MAX), 1 => any::<u32>()];
    (
        prop::bool::weighted(0.2),
        prop::collection::vec((0usize..5, any::<bool>(), value), 0..4),
    )
        .prop_map(|(deny, lower)| Ov { deny, lower })
}

impl Ov {
    fn pairs(&self) -> Vec<(&'static str, u32)> {
        self.lower
            .iter()
            .map(|&(i, shout, v)| (if shout { SHOUTED[i] } else { NAMES[i] }, v))
            .collect()
    }

    /// The value the window limit is lowered to, if it is lowered at all.
    fn window(&self, limit: u32) -> Option<u32> {
        self.lower
            .iter()
            .filter(|(i, _, _)| *i == 1)
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

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any_step(), cost()).prop_map(|(step, cost)| Op::Check { step, cost }),
        3 => (any_step(), cost(), overrides()).prop_map(|(step, cost, ov)| Op::Override { step, cost, ov }),
        2 => cost().prop_map(|cost| Op::Release { cost }),
    ]
}

/// A plain check agrees with every limit decided alone, and records all or nothing.
fn plain_check(u: &Under, s: &mut State, t: I, cost: u32) -> Result<(), TestCaseError> {
    let s0 = *s;
    let alone = u.alone(&s0, t, cost);
    let peeked = u.p.peek(&s0, t, cost);
    let got = u.p.check(s, t, cost);
    prop_assert_eq!(peeked, got, "peek == check");
    let caps = u.capacities();
    match got {
        Err(e) => {
            prop_assert_eq!(*s, s0, "an error records nothing");
            let min = *caps.iter().min().unwrap();
            let first = caps.iter().position(|c| *c == min).unwrap();
            prop_assert!(cost > min);
            prop_assert_eq!(
                e,
                ExceedsLimit {
                    limit: NAMES[first],
                    cost,
                    capacity: min
                }
            );
            prop_assert!(alone.iter().any(|d| d.is_err()));
        }
        Ok(d) => {
            let alone: Vec<Decision<HZ>> = alone.iter().map(|d| d.unwrap()).collect();
            let denying: Vec<usize> = (0..4).filter(|&i| alone[i].is_denied()).collect();
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
                prop_assert_eq!(d.outcome, Verdict::Denied { limit: named });
                prop_assert_eq!(d.retry_after(), wait);
                let bare = u.alone(&s0, t, 0);
                for i in 0..4 {
                    let want = if denying.contains(&i) {
                        alone[i]
                    } else {
                        bare[i].unwrap()
                    };
                    prop_assert_eq!(d.reports[i].decision, want, "report {}", i);
                }
                // Liveness: exact for GCRA and the fixed window (the in-flight wait is a hint).
                let w = wait.unwrap().as_ticks();
                // (Away from the end of time, where both saturate rather than reopen.)
                if !denying.contains(&2) && t.as_ticks().saturating_add(w) < u64::MAX / 2 {
                    let later = I::from_ticks(t.as_ticks() + w);
                    prop_assert!(
                        u.p.peek(&s0, later, cost).unwrap().is_allowed(),
                        "admitted after retry_after"
                    );
                    if w > 0 {
                        let early = I::from_ticks(t.as_ticks() + w - 1);
                        prop_assert!(
                            u.p.peek(&s0, early, cost).unwrap().is_denied(),
                            "not one tick earlier"
                        );
                    }
                }
            }
        }
    }
    // A state at rest decides like a fresh one.
    if u.p.is_at_rest(&s0, t) {
        prop_assert_eq!(u.p.peek(&s0, t, cost), u.p.peek(&u.p.new_state(), t, cost));
    }
    Ok(())
}

/// Overrides only ever make a decision stricter and never record more than the plain check.
fn override_check(u: &Under, s: &mut State, t: I, cost: u32, ov: &Ov) -> Result<(), TestCaseError> {
    let s0 = *s;
    let pairs = ov.pairs();
    let o = Overrides {
        deny: ov.deny,
        lower: &pairs,
    };
    let mut s_plain = s0;
    let plain = u.p.check(&mut s_plain, t, cost);
    let peeked = u.p.peek_with(&s0, t, cost, &o);
    let got = u.p.check_with(s, t, cost, &o);
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
        let own = [u.g.quota().burst(), u.fw.limit, u.inf.max, u32::MAX];
        for (r, own) in d.reports.iter().zip(own) {
            prop_assert!(r.decision.limit <= own);
        }
        // A lowered counting limit is exactly a limit of the lowered value.
        if let Some(low) = ov.window(u.fw.limit) {
            let (_, used) = u.fw.current(&s0.1, t.as_ticks());
            let r = d.reports[1].decision;
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
fn release(u: &Under, s: &mut State, cost: u32) -> Result<(), TestCaseError> {
    let s0 = *s;
    let mut each = s0;
    let want =
        u.g.release(&mut each.0, cost)
            .and_then(|()| u.fw.release(&mut each.1, cost))
            .and_then(|()| u.inf.release(&mut each.2, cost));
    let got = u.p.release(s, cost);
    prop_assert_eq!(got, want);
    prop_assert_eq!(*s, if got.is_ok() { each } else { s0 });
    Ok(())
}

proptest! {
    #[test]
    fn a_policy_admits_exactly_what_every_limit_admits_and_records_all_or_nothing(
        x in params(),
        start in prop_oneof![Just(0u64), 0u64..10_000_000, u64::MAX - 10_000..=u64::MAX],
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let u = build(x);
        let mut s = u.p.new_state();
        let mut now = start;
        for op in ops {
            match op {
                Op::Check { step, cost } => {
                    now = step.apply(now);
                    plain_check(&u, &mut s, I::from_ticks(now), cost)?;
                }
                Op::Override { step, cost, ov } => {
                    now = step.apply(now);
                    override_check(&u, &mut s, I::from_ticks(now), cost, &ov)?;
                }
                Op::Release { cost } => release(&u, &mut s, cost)?,
            }
        }
    }

    #[test]
    fn a_policy_as_an_algorithm_keeps_the_trait_contract(
        x in params(),
        ops in prop::collection::vec((any_step(), cost()), 0..40),
    ) {
        let u = build(x);
        let mut s = Algorithm::new_state(&u.p);
        let mut now = 0u64;
        for (step, cost) in ops {
            now = step.apply(now);
            let t = I::from_ticks(now);
            let s0 = s;
            let peeked = Algorithm::peek(&u.p, &s0, t, cost);
            let got = Algorithm::check(&u.p, &mut s, t, cost);
            prop_assert_eq!(peeked, got);
            match got {
                Err(e) => {
                    prop_assert_eq!(e, InsufficientCapacity { cost, capacity: Algorithm::capacity(&u.p) });
                    prop_assert_eq!(s, s0);
                }
                Ok(d) => {
                    if d.is_denied() { prop_assert_eq!(s, s0); }
                    if cost == 0 { prop_assert!(d.is_allowed()); prop_assert_eq!(s, s0); }
                    let alone: Vec<Decision<HZ>> = u.alone(&s0, t, cost).iter().map(|d| d.unwrap()).collect();
                    prop_assert_eq!(d.limit, alone.iter().map(|a| a.limit).min().unwrap());
                    prop_assert_eq!(d.reset, u.p.peek(&s, t, 0).unwrap().reset());
                }
            }
        }
    }
}
