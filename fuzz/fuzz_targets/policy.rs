//! The policy engine: random policies of up to six limits (a GCRA always, then an optional
//! sliding window, sliding log, leaky-bucket meter and concurrency limit, and an unlimited
//! entry), with random, sometimes colliding, names; the reference is each limit decided alone.
//! The same limits are also decided as an array `[Named<AnyLimit>; 6]` (an absent limit is
//! `AnyLimit::Unlimited`) and as a runtime slice of it through `Policy::check_into`, each with its
//! own state.
//!
//! Arbitrary sequences of plain checks, checks with test overrides (a forced denial, limits
//! lowered by name in any letter case, also to zero, to more than the limit, or for names that do
//! not exist), releases, checks through the `Algorithm` trait, and slice checks with states or
//! report buffers cut short, with clock steps of every kind.
//! Every operation asserts: peek == check; a request is admitted exactly when every limit alone
//! admits it, and then every limit records it as it would alone, while **a denied check (or an
//! error, or a forced denial) changes no state at all**; the denial names the limit with the
//! longest wait (the first declared among equals) and its wait is exact when every limit's is;
//! reports are each limit's own decision (without the request when it was denied); an error
//! names the first smallest capacity by its index; **overrides never raise a limit**, never admit
//! what the plain check denies, never record more, and a lowered counting limit is exactly a
//! limit of the lowered value; a release reaches every limit or none; the unlimited limits stay in
//! the reports but out of `limited()` and of every rendered header; an at-rest state decides like
//! a fresh one. **The array and the slice decide, report, err and release exactly like the
//! tuple, and their states stay the tuple's**; a slice of states or reports cut short is an error
//! naming the first missing position, and changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{
    Algorithm, AnyLimit, AnyState, Concurrency, Decision, Duration, Gcra, HeaderConfig,
    HeaderLines, Instant, InsufficientCapacity, LimitValues, Meter, Named, Overrides, Policy,
    PolicyDecision, Quota, Report, ResetFormat, SlidingLog, Unlimited, Verdict, XRateLimit,
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

/// A sliding window of 2 to 8 buckets, chosen at run time.
type Window<const HZ: u64> = SlidingWindowIn<HZ, Inline<8>>;
/// A sliding log of eight entries (`u32` stamps).
type Log<const HZ: u64> = SlidingLog<HZ, 8>;
/// Any of them, with the same storage and stamps, so its states are the tuple's own.
type Any<const HZ: u64> = AnyLimit<HZ, Inline<8>, u32>;
type AnyStates = [AnyState<Inline<8>, u32>; 6];

type Limits<const HZ: u64> = (
    Named<Gcra<HZ>>,
    Named<Option<Window<HZ>>>,
    Named<Option<Log<HZ>>>,
    Named<Option<Meter<HZ>>>,
    Named<Option<Concurrency<HZ>>>,
    Named<Unlimited>,
);
type State<const HZ: u64> = <Policy<Limits<HZ>> as Algorithm<HZ>>::State;
type Array<const HZ: u64> = [Named<Any<HZ>>; 6];
type Reports<'n, const HZ: u64> = [Report<'n, HZ>; 6];

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
    /// A slice check whose states (`true`) or report buffer is cut to `len % 6` entries.
    Short(Step, Cost, u8, bool),
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    config: Config,
    start: Step,
    ops: Ops<Op>,
}

/// The policy and its parts, so each limit can also be asked alone, and the same limits as an
/// array of `AnyLimit`s (whose slice is the runtime list).
struct Under<const HZ: u64> {
    g: Gcra<HZ>,
    sw: Option<Window<HZ>>,
    log: Option<Log<HZ>>,
    meter: Option<Meter<HZ>>,
    conc: Option<Concurrency<HZ>>,
    names: [&'static str; 6],
    p: Policy<Limits<HZ>>,
    arr: Policy<Array<HZ>>,
}

/// The state of every form: the tuple's, the array's, and the runtime slice's.
struct States<const HZ: u64> {
    tuple: State<HZ>,
    array: AnyStates,
    slice: Vec<AnyState<Inline<8>, u32>>,
}

type Alone<const HZ: u64> = [Result<Decision<HZ>, InsufficientCapacity>; 6];

impl<const HZ: u64> Under<HZ> {
    fn build(c: &Config) -> Option<Self> {
        let name = |x: u8| NAMES[usize::from(x) % NAMES.len()];
        let gq = c.gcra.quota::<HZ>(24)?;
        let g = Gcra::new(gq);
        // An optional part that cannot be built is simply left out. The window's buckets (2 to
        // 8) are chosen at run time, from its otherwise unused burst.
        let sw = c.window.and_then(|r| {
            let q = r.quota::<HZ>(24)?;
            Window::<HZ>::with_buckets(q.limit(), q.window(), 2 + usize::from(r.burst % 7)).ok()
        });
        let log = c.log.and_then(|r| Log::<HZ>::new(r.quota::<HZ>(8)?).ok());
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
        let p = Policy::new((
            Named::new(names[0], g),
            Named::new(names[1], sw),
            Named::new(names[2], log),
            Named::new(names[3], meter),
            Named::new(names[4], conc),
            Named::new(names[5], Unlimited),
        ));
        let arr = Policy::new([
            Named::new(names[0], Any::<HZ>::Gcra(g)),
            Named::new(
                names[1],
                sw.map_or(Any::<HZ>::Unlimited, Any::<HZ>::SlidingWindow),
            ),
            Named::new(
                names[2],
                log.map_or(Any::<HZ>::Unlimited, Any::<HZ>::SlidingLog),
            ),
            Named::new(
                names[3],
                meter.map_or(Any::<HZ>::Unlimited, Any::<HZ>::Meter),
            ),
            Named::new(
                names[4],
                conc.map_or(Any::<HZ>::Unlimited, Any::<HZ>::Concurrency),
            ),
            Named::new(names[5], Any::<HZ>::Unlimited),
        ]);
        Some(Self {
            g,
            sw,
            log,
            meter,
            conc,
            names,
            p,
            arr,
        })
    }

    /// The tuple's state as the array's: an absent limit's state is `AnyState::Unlimited`.
    fn any_states(&self, s: &State<HZ>) -> AnyStates {
        let or = |present: bool, state: AnyState<Inline<8>, u32>| {
            if present { state } else { AnyState::Unlimited }
        };
        [
            AnyState::Gcra(s.0),
            or(self.sw.is_some(), AnyState::SlidingWindow(s.1)),
            or(self.log.is_some(), AnyState::SlidingLog(s.2)),
            or(self.meter.is_some(), AnyState::Meter(s.3)),
            or(self.conc.is_some(), AnyState::Concurrency(s.4)),
            AnyState::Unlimited,
        ]
    }

    fn new_states(&self) -> States<HZ> {
        let tuple = self.p.new_state();
        let array = self.arr.new_state();
        assert_eq!(array, self.any_states(&tuple), "fresh states differ");
        States {
            tuple,
            slice: array.to_vec(),
            array,
        }
    }

    /// Every form still holds the same states.
    fn same(&self, st: &States<HZ>) {
        assert_eq!(
            st.array,
            self.any_states(&st.tuple),
            "the array's states left the tuple's"
        );
        assert_eq!(
            &st.slice[..],
            &st.array[..],
            "the slice's states left the array's"
        );
    }

    /// Each limit alone: its peek at `cost`.
    fn alone(&self, s: &State<HZ>, t: Instant<HZ>, cost: u32) -> Alone<HZ> {
        [
            self.g.peek(&s.0, t, cost),
            self.sw.peek(&s.1, t, cost),
            self.log.peek(&s.2, t, cost),
            self.meter.peek(&s.3, t, cost),
            self.conc.peek(&s.4, t, cost),
            Algorithm::<HZ>::peek(&Unlimited, &s.5, t, cost),
        ]
    }

    /// Each limit alone: the state after its own check.
    fn checked_alone(&self, s: &State<HZ>, t: Instant<HZ>, cost: u32) -> State<HZ> {
        let mut n = *s;
        self.g.check(&mut n.0, t, cost).unwrap();
        self.sw.check(&mut n.1, t, cost).unwrap();
        self.log.check(&mut n.2, t, cost).unwrap();
        self.meter.check(&mut n.3, t, cost).unwrap();
        self.conc.check(&mut n.4, t, cost).unwrap();
        n
    }

    fn capacities(&self) -> [u32; 6] {
        [
            self.g.capacity(),
            Algorithm::<HZ>::capacity(&self.sw),
            Algorithm::<HZ>::capacity(&self.log),
            Algorithm::<HZ>::capacity(&self.meter),
            Algorithm::<HZ>::capacity(&self.conc),
            Algorithm::<HZ>::capacity(&Unlimited),
        ]
    }

    /// The first limit with the smallest capacity: the one an error names.
    fn smallest(&self) -> (usize, u32) {
        let caps = self.capacities();
        let min = *caps.iter().min().unwrap();
        (caps.iter().position(|c| *c == min).unwrap(), min)
    }

    /// Whether limit `i` limits anything at all (an absent one and `Unlimited` do not).
    fn limits_anything(&self, i: usize) -> bool {
        match i {
            0 => true,
            1 => self.sw.is_some(),
            2 => self.log.is_some(),
            3 => self.meter.is_some(),
            4 => self.conc.is_some(),
            _ => false,
        }
    }

    /// Whether limit `i` counts (so a lowered limit is exactly a smaller limit).
    fn counts(&self, i: usize) -> bool {
        (i == 1 && self.sw.is_some()) || (i == 2 && self.log.is_some())
    }
}

/// The array's and the runtime slice's answer to the request the tuple answered `got` (with the
/// same overrides, or none through the plain `check`), from states that must be the tuple's
/// before it: the same verdict and reports (or error), and `peek_into` answers what
/// `check_into` does.
fn other_forms<'n, const HZ: u64>(
    u: &Under<HZ>,
    st: &mut States<HZ>,
    t: Instant<HZ>,
    cost: u32,
    o: Option<&Overrides<'_>>,
    got: &Result<PolicyDecision<HZ, Reports<'n, HZ>>, InsufficientCapacity>,
) {
    let array = match o {
        Some(o) => {
            assert_eq!(
                u.arr.peek_with(&st.array, t, cost, o),
                *got,
                "array peek_with"
            );
            u.arr.check_with(&mut st.array, t, cost, o)
        }
        None => {
            assert_eq!(u.arr.peek(&st.array, t, cost), *got, "array peek");
            u.arr.check(&mut st.array, t, cost)
        }
    };
    assert_eq!(array, *got, "the array decides unlike the tuple");

    let slice = Policy::new(&u.arr.limits()[..]);
    let o = o.copied().unwrap_or(Overrides::NONE);
    // A longer report buffer than the list is fine: the decision holds the list's reports.
    let mut peeked = [Report::EMPTY; 8];
    let mut reports = [Report::EMPTY; 8];
    let p = slice
        .peek_into(&st.slice, t, cost, &o, &mut peeked)
        .map(|d| (d.outcome, d.reports.to_vec(), d.decision()));
    let c = slice
        .check_into(&mut st.slice, t, cost, &o, &mut reports)
        .map(|d| (d.outcome, d.reports.to_vec(), d.decision()));
    assert_eq!(p, c, "peek_into == check_into");
    let want = got.map(|d| (d.outcome, d.reports.to_vec(), d.decision()));
    assert_eq!(c, want, "the slice decides unlike the tuple");
}

fn plain_check<const HZ: u64>(u: &Under<HZ>, st: &mut States<HZ>, t: Instant<HZ>, cost: u32) {
    let s0 = st.tuple;
    let s = &mut st.tuple;
    let alone = u.alone(&s0, t, cost);
    let peeked = u.p.peek(&s0, t, cost);
    let got = u.p.check(s, t, cost);
    assert_eq!(peeked, got, "peek == check");
    match got {
        Err(e) => {
            assert_eq!(*s, s0, "an error records nothing");
            let (first, min) = u.smallest();
            assert!(cost > min);
            assert_eq!(e, InsufficientCapacity::new(cost, min).at(first));
            assert!(u.names[e.index.unwrap()] == u.names[first]);
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
                assert_eq!(d.outcome, Verdict::Denied { index: named });
                assert_eq!(d.denied_index(), Some(named));
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
            rendered(u, &d, t);
        }
    }
    if u.p.is_at_rest(&s0, t) {
        assert_eq!(u.p.peek(&s0, t, cost), u.p.peek(&u.p.new_state(), t, cost));
    }
    other_forms(u, st, t, cost, None, &got);
}

/// The reports of every limit, in order, the unlimited ones too; `limited()` and every rendered
/// header leave those out.
fn rendered<'n, const HZ: u64, R: AsRef<[Report<'n, HZ>]>>(
    u: &Under<HZ>,
    d: &PolicyDecision<HZ, R>,
    t: Instant<HZ>,
) {
    let reports = d.reports();
    assert_eq!(reports.len(), 6);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.name, u.names[i]);
        assert_eq!(r.counts(), u.limits_anything(i), "report {i} counts");
        assert_eq!(r.allowance.is_unlimited(), !u.limits_anything(i));
        if !r.counts() {
            assert_eq!(
                (
                    r.decision.limit,
                    r.decision.remaining,
                    r.decision.reset.as_ticks()
                ),
                (u32::MAX, u32::MAX, 0)
            );
        }
    }
    let limited: Vec<Report<'_, HZ>> = reports.iter().filter(|r| r.counts()).copied().collect();
    assert_eq!(d.limited().copied().collect::<Vec<_>>(), limited);
    let set = d.report_set(t);
    assert_eq!(set.reports(), reports);
    assert_eq!(set.denied_index(), d.denied_index());
    // One value per limit that counts, in order, and none for the others.
    let config = HeaderConfig::none().with_x_ratelimit(XRateLimit::new(
        ResetFormat::DeltaSeconds,
        LimitValues::PerLimit,
    ));
    let mut out = HeaderLines(String::new());
    set.write_headers(&config, &mut out).unwrap();
    let values: Vec<String> = limited
        .iter()
        .map(|r| r.decision.limit.to_string())
        .collect();
    let line = format!("X-RateLimit-Limit: {}\r\n", values.join(", "));
    assert!(out.0.starts_with(&line), "{line:?} in {:?}", out.0);
}

fn override_check<const HZ: u64>(
    u: &Under<HZ>,
    st: &mut States<HZ>,
    t: Instant<HZ>,
    cost: u32,
    ov: &Ov,
) {
    let s0 = st.tuple;
    let s = &mut st.tuple;
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
            assert!(e.index.is_some_and(|i| i < 6));
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
                assert_eq!(d.denied_index(), None);
            }
        }
    }
    if plain.is_err() {
        assert!(got.is_err(), "an override made a cost fit");
    }
    other_forms(u, st, t, cost, Some(&o), &got);
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
            .filter(|&v| v < caps[i] && u.limits_anything(i));
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
    rendered(u, &d, t);
}

fn release<const HZ: u64>(u: &Under<HZ>, st: &mut States<HZ>, cost: u32) {
    let s0 = st.tuple;
    let mut each = s0;
    let want =
        u.g.release(&mut each.0, cost)
            .and_then(|()| u.sw.release(&mut each.1, cost))
            .and_then(|()| u.log.release(&mut each.2, cost))
            .and_then(|()| u.meter.release(&mut each.3, cost))
            .and_then(|()| u.conc.release(&mut each.4, cost));
    assert_eq!(Algorithm::can_release(&u.p, &s0, cost), want);
    let got = u.p.release(&mut st.tuple, cost);
    assert_eq!(got, want);
    assert_eq!(
        st.tuple,
        if got.is_ok() { each } else { s0 },
        "a release reached some limits only"
    );
    assert_eq!(
        u.arr.release(&mut st.array, cost),
        got,
        "the array releases otherwise"
    );
    let slice = Policy::new(&u.arr.limits()[..]);
    assert_eq!(
        slice.release(&mut st.slice, cost),
        got,
        "the slice releases otherwise"
    );
}

fn through_trait<const HZ: u64>(u: &Under<HZ>, st: &mut States<HZ>, t: Instant<HZ>, cost: u32) {
    let s0 = st.tuple;
    let s = &mut st.tuple;
    let peeked = Algorithm::peek(&u.p, &s0, t, cost);
    let moved = u.p.transition(&s0, t, cost);
    let got = Algorithm::check(&u.p, s, t, cost);
    assert_eq!(peeked, got);
    assert_eq!(
        moved,
        got.map(|d| (d, *s)),
        "the transition moves unlike check"
    );
    let capacity = Algorithm::capacity(&u.p);
    let (first, min) = u.smallest();
    assert_eq!(capacity, min);
    match got {
        Err(e) => {
            assert_eq!(e, InsufficientCapacity::new(cost, capacity).at(first));
            assert_eq!(*s, s0);
        }
        Ok(d) => {
            if d.is_denied() || cost == 0 {
                assert_eq!(*s, s0);
            }
            if cost == 0 {
                assert!(d.is_allowed());
            }
            assert_eq!(d.delay.as_ticks(), 0, "no limit here queues");
            let alone = u.alone(&s0, t, cost);
            let limit = alone.iter().map(|a| a.unwrap().limit).min().unwrap();
            assert_eq!(d.limit, limit);
            assert_eq!(d.reset, u.p.peek(s, t, 0).unwrap().reset());
        }
    }
    // The array is an Algorithm too; the slice decides the same through check_into.
    assert_eq!(
        Algorithm::check(&u.arr, &mut st.array, t, cost),
        got,
        "array trait"
    );
    let slice = Policy::new(&u.arr.limits()[..]);
    let mut reports = [Report::EMPTY; 6];
    let c = slice
        .check_into(&mut st.slice, t, cost, &Overrides::NONE, &mut reports)
        .map(|d| d.decision());
    assert_eq!(c, got, "the slice decides unlike the trait");
}

/// A slice check with too few states or report slots: an error naming the first position
/// missing, whatever the cost, and nothing changes.
fn short_check<const HZ: u64>(
    u: &Under<HZ>,
    st: &mut States<HZ>,
    t: Instant<HZ>,
    cost: u32,
    len: u8,
    cut_states: bool,
) {
    let slice = Policy::new(&u.arr.limits()[..]);
    let k = usize::from(len) % 6;
    let before = st.slice.clone();
    let want = Err(InsufficientCapacity::new(cost, 0).at(k));
    let mut reports = [Report::EMPTY; 6];
    let (peeked, got) = if cut_states {
        (
            slice
                .peek_into(&st.slice[..k], t, cost, &Overrides::NONE, &mut reports)
                .map(|d| d.outcome),
            slice
                .check_into(&mut st.slice[..k], t, cost, &Overrides::NONE, &mut reports)
                .map(|d| d.outcome),
        )
    } else {
        (
            slice
                .peek_into(&st.slice, t, cost, &Overrides::NONE, &mut reports[..k])
                .map(|d| d.outcome),
            slice
                .check_into(&mut st.slice, t, cost, &Overrides::NONE, &mut reports[..k])
                .map(|d| d.outcome),
        )
    };
    assert_eq!((peeked, got), (want, want), "cut to {k}");
    assert_eq!(st.slice, before, "a cut slice changed the states");
}

fn run<const HZ: u64>(input: &Input) {
    let Some(u) = Under::<HZ>::build(&input.config) else {
        return;
    };
    let unit = u.g.quota().interval().as_ticks();
    let span = u.g.quota().window().as_ticks();
    let (_, cap) = u.smallest();
    let mut st = u.new_states();
    let mut now = input.start.apply(0, unit, span);
    for op in &input.ops.0 {
        match op {
            Op::Check(step, cost) => {
                now = step.apply(now, unit, span);
                plain_check(&u, &mut st, Instant::<HZ>::from_ticks(now), cost.of(cap));
            }
            Op::Override(step, cost, ov) => {
                now = step.apply(now, unit, span);
                override_check(
                    &u,
                    &mut st,
                    Instant::<HZ>::from_ticks(now),
                    cost.of(cap),
                    ov,
                );
            }
            Op::Release(cost) => release(&u, &mut st, cost.of(cap)),
            Op::Trait(step, cost) => {
                now = step.apply(now, unit, span);
                through_trait(&u, &mut st, Instant::<HZ>::from_ticks(now), cost.of(cap));
            }
            Op::Short(step, cost, len, cut_states) => {
                now = step.apply(now, unit, span);
                let t = Instant::<HZ>::from_ticks(now);
                short_check(&u, &mut st, t, cost.of(cap), *len, *cut_states);
            }
        }
        u.same(&st);
    }
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
