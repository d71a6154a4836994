//! The policy engine: random policies of up to six limits (a GCRA always, then an optional
//! sliding window, sliding log, leaky-bucket meter and concurrency limit, and an unlimited
//! entry), with random, sometimes colliding, names; the reference is each limit decided alone.
//!
//! Arbitrary sequences of plain checks, checks with test overrides (a forced denial, limits
//! lowered by name in any letter case, also to zero, to more than the limit, or for names that do
//! not exist), releases and checks through the `Algorithm` trait, with clock steps of every kind.
//! Every operation asserts: peek == check; a request is admitted exactly when every limit alone
//! admits it, and then every limit records it as it would alone, while **a denied check (or an
//! error, or a forced denial) changes no state at all**; the denial names the limit with the
//! longest wait (the first declared among equals) and its wait is exact when every limit's is;
//! reports are each limit's own decision (without the request when it was denied); an error
//! names the first smallest capacity; **overrides never raise a limit**, never admit what the
//! plain check denies, never record more, and a lowered counting limit is exactly a limit of
//! the lowered value; a release reaches every limit or none; the rendered reports leave out the
//! unlimited limits; an at-rest state decides like a fresh one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{
    Algorithm, Concurrency, Decision, Duration, ExceedsLimit, Gcra, Instant, InsufficientCapacity,
    Meter, Named, Overrides, Policy, PolicyDecision, Quota, SlidingLog, SlidingWindow, UNLIMITED,
    Unlimited, Verdict,
};
use tollgate_fuzz::{Cost, Ops, Step, at_rate};

/// Names the limits may take (several limits may share one).
const NAMES: [&str; 6] = ["minute", "hour", "burst", "day", "concurrent", "forever"];
/// Names overrides may use: every name, shouted or capitalised, and names no limit has.
const OVERRIDE_NAMES: [&str; 9] = [
    "minute",
    "HOUR",
    "Burst",
    "day",
    "CONCURRENT",
    "forever",
    "Minute",
    "nope",
    "",
];

type Limits<const HZ: u64> = (
    Named<Gcra<HZ>, HZ>,
    Named<Option<SlidingWindow<HZ, 4>>, HZ>,
    Named<Option<SlidingLog<HZ, 8>>, HZ>,
    Named<Option<Meter<HZ>>, HZ>,
    Named<Option<Concurrency<HZ>>, HZ>,
    Named<Unlimited, HZ>,
);
type State<const HZ: u64> = <Policy<Limits<HZ>> as Algorithm<HZ>>::State;

/// A rate limit's parameters: a limit, a window (at least the limit) and a burst.
#[derive(Debug, Clone, Copy, Arbitrary)]
struct Rate {
    limit: u8,
    window: u16,
    burst: u8,
    name: u8,
}

impl Rate {
    fn quota<const HZ: u64>(&self, most: u32) -> Option<Quota<HZ>> {
        let limit = 1 + u32::from(self.limit) % most;
        let window = u64::from(limit) + u64::from(self.window);
        Quota::new(limit, Duration::<HZ>::from_ticks(window))
            .ok()?
            .with_burst(1 + u32::from(self.burst) % most)
            .ok()
    }
}

#[derive(Debug, Arbitrary)]
struct Config {
    gcra: Rate,
    window: Option<Rate>,
    log: Option<Rate>,
    meter: Option<Rate>,
    concurrency: Option<(u8, u16, u8)>,
    unlimited_name: u8,
}

#[derive(Debug, Clone, Arbitrary)]
struct Ov {
    deny: bool,
    lower: Vec<(u8, u32)>,
}

#[derive(Debug, Clone, Arbitrary)]
enum Op {
    Check(Step, Cost),
    Override(Step, Cost, Ov),
    Release(Cost),
    Trait(Step, Cost),
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    config: Config,
    start: Step,
    ops: Ops<Op>,
}

/// The policy and its parts, so each limit can also be asked alone.
struct Under<const HZ: u64> {
    g: Gcra<HZ>,
    sw: Option<SlidingWindow<HZ, 4>>,
    log: Option<SlidingLog<HZ, 8>>,
    meter: Option<Meter<HZ>>,
    conc: Option<Concurrency<HZ>>,
    names: [&'static str; 6],
    p: Policy<Limits<HZ>>,
}

type Alone<const HZ: u64> = [Result<Decision<HZ>, InsufficientCapacity>; 6];

impl<const HZ: u64> Under<HZ> {
    fn build(c: &Config) -> Option<Self> {
        let name = |x: u8| NAMES[usize::from(x) % NAMES.len()];
        let gq = c.gcra.quota::<HZ>(24)?;
        let g = Gcra::new(gq);
        // An optional part that cannot be built is simply left out.
        let sw = c
            .window
            .and_then(|r| SlidingWindow::<HZ, 4>::new(r.quota::<HZ>(24)?).ok());
        let log = c
            .log
            .and_then(|r| SlidingLog::<HZ, 8>::new(r.quota::<HZ>(8)?).ok());
        let meter = c.meter.and_then(|r| Some(Meter::new(r.quota::<HZ>(24)?)));
        let conc = c.concurrency.and_then(|(max, hint, _)| {
            Some(
                Concurrency::new(1 + u32::from(max % 8))
                    .ok()?
                    .with_retry_hint(Duration::<HZ>::from_ticks(u64::from(hint))),
            )
        });
        let names = [
            name(c.gcra.name),
            name(c.window.map_or(1, |r| r.name)),
            name(c.log.map_or(2, |r| r.name)),
            name(c.meter.map_or(3, |r| r.name)),
            name(c.concurrency.map_or(4, |(_, _, n)| n)),
            name(c.unlimited_name),
        ];
        let window = |q: Option<Quota<HZ>>| q.map_or(Duration::<HZ>::from_ticks(0), |q| q.window());
        let p = Policy::new((
            Named::new(names[0], gq.window(), g),
            Named::new(names[1], window(sw.map(|s| s.quota())), sw),
            Named::new(names[2], window(log.map(|l| l.quota())), log),
            Named::new(names[3], window(meter.map(|m| m.quota())), meter),
            Named::new(names[4], Duration::<HZ>::from_ticks(0), conc),
            Named::new(names[5], Duration::<HZ>::from_ticks(0), Unlimited),
        ));
        Some(Self {
            g,
            sw,
            log,
            meter,
            conc,
            names,
            p,
        })
    }

    /// Each limit alone: its peek at `cost`.
    fn alone(&self, s: &State<HZ>, t: Instant<HZ>, cost: u32) -> Alone<HZ> {
        [
            self.g.peek(&s.0, t, cost),
            Algorithm::peek(&self.sw, &s.1, t, cost),
            Algorithm::peek(&self.log, &s.2, t, cost),
            Algorithm::peek(&self.meter, &s.3, t, cost),
            Algorithm::peek(&self.conc, &s.4, t, cost),
            Algorithm::<HZ>::peek(&Unlimited, &s.5, t, cost),
        ]
    }

    /// Each limit alone: the state after its own check.
    fn checked_alone(&self, s: &State<HZ>, t: Instant<HZ>, cost: u32) -> State<HZ> {
        let mut n = *s;
        self.g.check(&mut n.0, t, cost).unwrap();
        Algorithm::check(&self.sw, &mut n.1, t, cost).unwrap();
        Algorithm::check(&self.log, &mut n.2, t, cost).unwrap();
        Algorithm::check(&self.meter, &mut n.3, t, cost).unwrap();
        Algorithm::check(&self.conc, &mut n.4, t, cost).unwrap();
        n
    }

    fn capacities(&self) -> [u32; 6] {
        [
            self.g.capacity(),
            Algorithm::<HZ>::capacity(&self.sw),
            Algorithm::<HZ>::capacity(&self.log),
            Algorithm::<HZ>::capacity(&self.meter),
            Algorithm::<HZ>::capacity(&self.conc),
            UNLIMITED,
        ]
    }

    /// Whether limit `i` counts (so a lowered limit is exactly a smaller limit).
    fn counts(&self, i: usize) -> bool {
        (i == 1 && self.sw.is_some()) || (i == 2 && self.log.is_some())
    }
}

fn plain_check<const HZ: u64>(u: &Under<HZ>, s: &mut State<HZ>, t: Instant<HZ>, cost: u32) {
    let s0 = *s;
    let alone = u.alone(&s0, t, cost);
    let peeked = u.p.peek(&s0, t, cost);
    let got = u.p.check(s, t, cost);
    assert_eq!(peeked, got, "peek == check");
    let caps = u.capacities();
    match got {
        Err(e) => {
            assert_eq!(*s, s0, "an error records nothing");
            let min = *caps.iter().min().unwrap();
            let first = caps.iter().position(|c| *c == min).unwrap();
            assert!(cost > min);
            assert_eq!(
                e,
                ExceedsLimit {
                    limit: u.names[first],
                    cost,
                    capacity: min
                }
            );
            assert!(alone.iter().any(Result::is_err));
        }
        Ok(d) => {
            let alone: Vec<Decision<HZ>> = alone.iter().map(|d| d.unwrap()).collect();
            let denying: Vec<usize> = (0..6).filter(|&i| alone[i].is_denied()).collect();
            if denying.is_empty() {
                assert!(d.is_allowed());
                assert_eq!(d.retry_after(), None);
                for (r, a) in d.reports.iter().zip(&alone) {
                    assert_eq!(&r.decision, a);
                }
                assert_eq!(*s, u.checked_alone(&s0, t, cost), "every limit records");
            } else {
                assert_eq!(*s, s0, "a denial records nothing anywhere");
                let wait = denying.iter().map(|&i| alone[i].retry_after).max().unwrap();
                let named = *denying
                    .iter()
                    .find(|&&i| alone[i].retry_after == wait)
                    .unwrap();
                assert_eq!(d.outcome, Verdict::Denied { limit: named });
                assert_eq!(d.limit_exceeded(), Some(u.names[named]));
                assert_eq!(d.retry_after(), wait);
                let bare = u.alone(&s0, t, 0);
                for i in 0..6 {
                    let want = if denying.contains(&i) {
                        alone[i]
                    } else {
                        bare[i].unwrap()
                    };
                    assert_eq!(d.reports[i].decision, want, "report {i}");
                }
                // Liveness, where every limit's wait is exact: not the concurrency limit (a
                // hint), and away from the end of time (where waits saturate).
                let w = wait.unwrap().as_ticks();
                if !denying.contains(&4) && t.as_ticks().saturating_add(w) < u64::MAX / 2 {
                    let later = Instant::<HZ>::from_ticks(t.as_ticks() + w);
                    assert!(
                        u.p.peek(&s0, later, cost).unwrap().is_allowed(),
                        "denied after retry_after"
                    );
                    if w > 0 {
                        let early = Instant::<HZ>::from_ticks(t.as_ticks() + w - 1);
                        assert!(
                            u.p.peek(&s0, early, cost).unwrap().is_denied(),
                            "admitted early"
                        );
                    }
                }
            }
            rendered(&d, t);
        }
    }
    if u.p.is_at_rest(&s0, t) {
        assert_eq!(u.p.peek(&s0, t, cost), u.p.peek(&u.p.new_state(), t, cost));
    }
}

/// The rendered reports are the limited ones, in order.
fn rendered<const HZ: u64>(d: &PolicyDecision<HZ, 6>, t: Instant<HZ>) {
    let r = d.rendered();
    let limited: Vec<_> = d
        .reports
        .iter()
        .filter(|r| r.decision.limit != UNLIMITED)
        .copied()
        .collect();
    assert_eq!(r.reports(), &limited[..]);
    assert_eq!(d.limited().count(), limited.len());
    let _ = r.set(t);
}

fn override_check<const HZ: u64>(
    u: &Under<HZ>,
    s: &mut State<HZ>,
    t: Instant<HZ>,
    cost: u32,
    ov: &Ov,
) {
    let s0 = *s;
    let pairs: Vec<(&str, u32)> = ov
        .lower
        .iter()
        .take(6)
        .map(|&(i, v)| (OVERRIDE_NAMES[usize::from(i) % OVERRIDE_NAMES.len()], v))
        .collect();
    let o = Overrides {
        deny: ov.deny,
        lower: &pairs,
    };
    let mut s_plain = s0;
    let plain = u.p.check(&mut s_plain, t, cost);
    let peeked = u.p.peek_with(&s0, t, cost, &o);
    let got = u.p.check_with(s, t, cost, &o);
    assert_eq!(peeked, got, "peek_with == check_with");
    match got {
        Err(e) => {
            assert_eq!(*s, s0, "an error records nothing");
            assert!(cost > e.capacity);
        }
        Ok(d) if d.is_allowed() => {
            assert!(
                plain.is_ok_and(|p| p.is_allowed()),
                "admits what the plain check denies"
            );
            assert_eq!(*s, s_plain, "records other than the plain check");
            assert!(!ov.deny || cost == 0);
        }
        Ok(d) => {
            assert_eq!(*s, s0, "a denial records nothing anywhere");
            if d.outcome == Verdict::Forced {
                assert!(ov.deny && cost > 0);
                assert_eq!(d.retry_after(), Some(Duration::<HZ>::from_ticks(0)));
            }
        }
    }
    if plain.is_err() {
        assert!(got.is_err(), "an override made a cost fit");
    }
    let Ok(d) = got else { return };
    let caps = u.capacities();
    let bare = u.alone(&s0, t, 0);
    for (i, r) in d.reports.iter().enumerate() {
        // Never raises a limit.
        assert!(r.decision.limit <= caps[i], "override raised limit {i}");
        let low = pairs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(u.names[i]))
            .map(|&(_, v)| v)
            .min()
            .filter(|&v| v < caps[i] && caps[i] != UNLIMITED);
        let Some(low) = low else {
            assert_eq!(r.decision.limit, caps[i]);
            continue;
        };
        assert_eq!(r.decision.limit, low);
        if u.counts(i) {
            // A lowered counting limit is exactly a limit of the lowered value.
            let used = caps[i] - bare[i].unwrap().remaining;
            assert_eq!(
                r.decision.is_allowed(),
                cost == 0 || used + cost <= low,
                "lowered {i}"
            );
            let remaining = if d.is_allowed() && cost > 0 {
                low - used - cost
            } else {
                low.saturating_sub(used)
            };
            assert_eq!(r.decision.remaining, remaining, "lowered {i} remaining");
        }
    }
    rendered(&d, t);
}

fn release<const HZ: u64>(u: &Under<HZ>, s: &mut State<HZ>, cost: u32) {
    let s0 = *s;
    let mut each = s0;
    let want =
        u.g.release(&mut each.0, cost)
            .and_then(|()| Algorithm::<HZ>::release(&u.sw, &mut each.1, cost))
            .and_then(|()| Algorithm::<HZ>::release(&u.log, &mut each.2, cost))
            .and_then(|()| Algorithm::<HZ>::release(&u.meter, &mut each.3, cost))
            .and_then(|()| Algorithm::<HZ>::release(&u.conc, &mut each.4, cost));
    let got = u.p.release(s, cost);
    assert_eq!(got, want);
    assert_eq!(
        *s,
        if got.is_ok() { each } else { s0 },
        "a release reached some limits only"
    );
}

fn through_trait<const HZ: u64>(u: &Under<HZ>, s: &mut State<HZ>, t: Instant<HZ>, cost: u32) {
    let s0 = *s;
    let peeked = Algorithm::peek(&u.p, &s0, t, cost);
    let got = Algorithm::check(&u.p, s, t, cost);
    assert_eq!(peeked, got);
    let capacity = Algorithm::capacity(&u.p);
    assert_eq!(capacity, *u.capacities().iter().min().unwrap());
    match got {
        Err(e) => {
            assert_eq!(e, InsufficientCapacity { cost, capacity });
            assert_eq!(*s, s0);
        }
        Ok(d) => {
            if d.is_denied() || cost == 0 {
                assert_eq!(*s, s0);
            }
            if cost == 0 {
                assert!(d.is_allowed());
            }
            let alone = u.alone(&s0, t, cost);
            let limit = alone.iter().map(|a| a.unwrap().limit).min().unwrap();
            assert_eq!(d.limit, limit);
            assert_eq!(d.reset, u.p.peek(s, t, 0).unwrap().reset());
        }
    }
}

fn run<const HZ: u64>(input: &Input) {
    let Some(u) = Under::<HZ>::build(&input.config) else {
        return;
    };
    let unit = u.g.quota().interval().as_ticks();
    let span = u.g.quota().window().as_ticks();
    let cap = *u.capacities().iter().min().unwrap();
    let mut s = u.p.new_state();
    let mut now = input.start.apply(0, unit, span);
    for op in &input.ops.0 {
        match op {
            Op::Check(step, cost) => {
                now = step.apply(now, unit, span);
                plain_check(&u, &mut s, Instant::<HZ>::from_ticks(now), cost.of(cap));
            }
            Op::Override(step, cost, ov) => {
                now = step.apply(now, unit, span);
                override_check(&u, &mut s, Instant::<HZ>::from_ticks(now), cost.of(cap), ov);
            }
            Op::Release(cost) => release(&u, &mut s, cost.of(cap)),
            Op::Trait(step, cost) => {
                now = step.apply(now, unit, span);
                through_trait(&u, &mut s, Instant::<HZ>::from_ticks(now), cost.of(cap));
            }
        }
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
