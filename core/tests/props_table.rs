//! Property tests for key tables, over every real algorithm (alone, optional, and in policies,
//! including `Tiers` of plans) and over the test-only ones, under both overflow policies.
//!
//! Two references are kept beside the table: the **mirror**, what the table must hold (every
//! state it recorded, minus the entries it dropped or evicted), and the **unbounded map**, which
//! never drops anything. What the table may drop is judged by the tests alone, from decisions
//! (`tollgate_testkit::fakes::like_fresh_at`): never by the library's `is_at_rest` or `reset`. So:
//!
//! - every entry the table holds is the mirror's state, and every decision is the mirror's;
//! - with a clock that never goes back, every decision is also the unbounded map's;
//! - an entry disappears only when it answers like a fresh state from then on, or, under
//!   `EvictLeastLoss`, when one new key needs its slot: at most one entry, one that waiting
//!   alone brings to rest (never one with requests in flight), and none that rests later than
//!   any other;
//! - `Full` comes only for a request that would record a new key when every entry is active
//!   (under `EvictLeastLoss`: when every entry holds requests in flight), with a wait that never
//!   overshoots the first entry's rest, and is exact unless entries changed since it was
//!   computed;
//! - a key never holds more in flight than its concurrency limit.

use core::fmt::Debug;
use core::hash::{BuildHasher, Hash, Hasher};
use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use tollgate_core::table::{Deny, EvictLeastLoss, Fnv1a, OverflowPolicy};
use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, Gcra, GcraState, KeyLimits, KeyTable, Meter, Named,
    Overflow, Overrides, Policy, Quota, SlidingLog, SlidingWindow, TableError, Tiers, Unlimited,
};
use tollgate_testkit::fakes::strategy::{any_step, cost, forward};
use tollgate_testkit::fakes::{
    Count, D, FixedWindow, HZ, I, InFlight, Observe, Step, first_rest, like_fresh_at,
    like_fresh_from,
};

/// Every key hashes alike: one long cluster, the worst case for probing and deletion.
#[derive(Debug, Clone, Copy, Default)]
struct Collide;

#[derive(Debug, Clone, Copy, Default)]
struct Zero;

impl Hasher for Zero {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _: &[u8]) {}
}

impl BuildHasher for Collide {
    type Hasher = Zero;
    fn build_hasher(&self) -> Zero {
        Zero
    }
}

#[derive(Debug, Clone)]
enum Op {
    Check { key: u8, step: Step, cost: u32 },
    Peek { key: u8, cost: u32 },
    Release { key: u8, cost: u32 },
    Remove { key: u8 },
    Purge,
}

/// Forward steps, mostly short whole quarters of a second (zero included), sometimes anything:
/// tables fill up, and requests land exactly on rest boundaries.
fn quantum() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Forward(0)),
        6 => Just(Step::Forward(250)),
        4 => (0u64..=8).prop_map(|q| Step::Forward(q * 250)),
        1 => forward(),
    ]
}

/// Operations on `keys` keys; steps sometimes go back (ignored by runs that keep time forward).
fn ops(keys: u8, len: usize) -> impl Strategy<Value = Vec<Op>> {
    let step = prop_oneof![8 => quantum(), 1 => any_step()];
    let op = prop_oneof![
        12 => (0..keys, step, cost()).prop_map(|(key, step, cost)| Op::Check { key, step, cost }),
        2 => (0..keys, cost()).prop_map(|(key, cost)| Op::Peek { key, cost }),
        4 => (0..keys, prop_oneof![3 => Just(1u32), 1 => 0u32..=3]).prop_map(|(key, cost)| Op::Release { key, cost }),
        1 => (0..keys).prop_map(|key| Op::Remove { key }),
        1 => Just(Op::Purge),
    ];
    prop::collection::vec(op, 0..len)
}

fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![Just(Overflow::Deny), Just(Overflow::EvictLeastLoss)]
}

/// A limit's state as the tests need it.
trait St: Clone + PartialEq + Debug {}
impl<T: Clone + PartialEq + Debug> St for T {}

/// [`run`] on a table of `N` entries with `hasher`, under the `over` overflow policy.
fn run_with<K, C, V, const N: usize, S>(
    over: Overflow,
    hasher: S,
    limits: &C,
    ops: Vec<Op>,
    key_of: impl Fn(u8) -> K,
    forward: bool,
) -> Result<(), TestCaseError>
where
    K: Copy + Eq + Hash + Ord + Debug,
    C: KeyLimits<K, HZ>,
    C::Limit: Observe + Algorithm<HZ, State = V>,
    V: St,
    S: BuildHasher,
{
    match over {
        Overflow::Deny => {
            let t = KeyTable::<K, V, N, Deny, S>::with_hasher(hasher);
            run(t, limits, ops, key_of, forward)
        }
        Overflow::EvictLeastLoss => {
            let t = KeyTable::<K, V, N, EvictLeastLoss, S>::with_hasher(hasher);
            run(t, limits, ops, key_of, forward)
        }
    }
}

/// [`run`] on a table of `N` entries with the default hasher, made by `new` or `evicting`.
fn run_default<K, C, V, const N: usize>(
    over: Overflow,
    limits: &C,
    ops: Vec<Op>,
    key_of: impl Fn(u8) -> K,
    forward: bool,
) -> Result<(), TestCaseError>
where
    K: Copy + Eq + Hash + Ord + Debug,
    C: KeyLimits<K, HZ>,
    C::Limit: Observe + Algorithm<HZ, State = V>,
    V: St,
{
    match over {
        Overflow::Deny => run(KeyTable::<K, V, N>::new(), limits, ops, key_of, forward),
        Overflow::EvictLeastLoss => run(
            KeyTable::<K, V, N, EvictLeastLoss>::evicting(),
            limits,
            ops,
            key_of,
            forward,
        ),
    }
}

/// Runs `ops` on table `t` and checks it against the mirror and the unbounded map (see the
/// module docs). `forward`: the clock never goes back (backward steps stand still).
fn run<K, C, V, const N: usize, O, S>(
    mut t: KeyTable<K, V, N, O, S>,
    limits: &C,
    ops: Vec<Op>,
    key_of: impl Fn(u8) -> K,
    forward: bool,
) -> Result<(), TestCaseError>
where
    K: Copy + Eq + Hash + Ord + Debug,
    C: KeyLimits<K, HZ>,
    C::Limit: Observe + Algorithm<HZ, State = V>,
    V: St,
    O: OverflowPolicy,
    S: BuildHasher,
{
    let overflow = t.overflow();
    let cap = t.capacity();
    let limit = |k: &K| limits.limit_for(k).expect("a key with a limit");
    let mut mirror: HashMap<K, V> = HashMap::new();
    let mut unbounded: HashMap<K, V> = HashMap::new();
    let mut now = 0u64;
    // A `Full` was answered since the table last changed keys, and an entry changed after it:
    // a later `Full` may answer from a bound computed before the change.
    let (mut cached, mut stale) = (false, false);

    for op in ops {
        let before: BTreeMap<K, V> = t.iter().map(|(k, v)| (*k, v.clone())).collect();
        let mut inserted = None;
        match op {
            Op::Check { key, step, cost } => {
                let next = step.apply(now);
                now = if forward { next.max(now) } else { next };
                let (k, tn) = (key_of(key), I::from_ticks(now));
                let got = t.check(limits, k, tn, cost);
                let Some(a) = limits.limit_for(&k) else {
                    prop_assert_eq!(got, Err(TableError::NoLimit));
                    continue;
                };
                let mut m = mirror.get(&k).cloned().unwrap_or_else(|| a.new_state());
                let want = a.check(&mut m, tn, cost).map_err(TableError::from);
                let mut u = unbounded.get(&k).cloned().unwrap_or_else(|| a.new_state());
                let want_u = a.check(&mut u, tn, cost).map_err(TableError::from);
                if let Err(TableError::Full { retry_after }) = got {
                    let after: BTreeMap<K, V> = t.iter().map(|(k, v)| (*k, v.clone())).collect();
                    prop_assert!(after == before, "a refused request changed the table");
                    prop_assert!(!before.contains_key(&k), "a known key was refused");
                    prop_assert!(
                        cost > 0 && want.is_ok_and(|d| d.is_allowed()),
                        "Full for a request that records nothing"
                    );
                    prop_assert_eq!(t.len(), cap, "Full with free slots");
                    let w = retry_after.as_ticks();
                    prop_assert!(now.checked_add(w).is_some(), "wait {} past the end", w);
                    let end = now + w;
                    // Entries are active, so they rest one tick later at the soonest, unless
                    // time has run out.
                    prop_assert!(w >= 1 || end == u64::MAX, "wait 0 at {}", now);
                    for (o, v) in &after {
                        let b = limit(o);
                        prop_assert!(!like_fresh_at(b, v, now), "Full while {:?} rests", o);
                        prop_assert!(
                            w == 0 || !like_fresh_at(b, v, end - 1),
                            "the wait {} overshoots the rest of {:?}",
                            w,
                            o
                        );
                        if overflow == Overflow::EvictLeastLoss {
                            prop_assert!(
                                !like_fresh_at(b, v, u64::MAX),
                                "refused while {:?} could be evicted",
                                o
                            );
                        }
                    }
                    if !stale {
                        prop_assert!(
                            end == u64::MAX
                                || after.iter().any(|(o, v)| like_fresh_at(limit(o), v, end)),
                            "the wait {} is shorter than needed",
                            w
                        );
                    }
                    cached = true;
                    continue;
                }
                prop_assert_eq!(got, want, "decides unlike the state it holds");
                if forward {
                    prop_assert_eq!(got, want_u, "decides unlike an unbounded map");
                }
                if !before.contains_key(&k) {
                    inserted = Some(k);
                }
                mirror.insert(k, m);
                unbounded.insert(k, u);
            }
            Op::Peek { key, cost } => {
                let (k, tn) = (key_of(key), I::from_ticks(now));
                let got = t.peek(limits, &k, tn, cost);
                let Some(a) = limits.limit_for(&k) else {
                    prop_assert_eq!(got, Err(TableError::NoLimit));
                    continue;
                };
                let fresh = a.new_state();
                let m = mirror.get(&k).unwrap_or(&fresh);
                let want = a.peek(m, tn, cost).map_err(TableError::from);
                prop_assert_eq!(got, want, "peeks unlike the state it holds");
                if forward {
                    let u = unbounded.get(&k).unwrap_or(&fresh);
                    let want_u = a.peek(u, tn, cost).map_err(TableError::from);
                    prop_assert_eq!(got, want_u, "peeks unlike an unbounded map");
                }
            }
            Op::Release { key, cost } => {
                let (k, tn) = (key_of(key), I::from_ticks(now));
                let got = t.release(limits, k, tn, cost);
                let Some(a) = limits.limit_for(&k) else {
                    prop_assert_eq!(got, Err(TableError::NoLimit));
                    continue;
                };
                let mut m = mirror.get(&k).cloned().unwrap_or_else(|| a.new_state());
                let want = a.release(&mut m, cost).map_err(TableError::from);
                prop_assert_eq!(got, want, "releases unlike the state it holds");
                let mut u = unbounded.get(&k).cloned().unwrap_or_else(|| a.new_state());
                let want_u = a.release(&mut u, cost).map_err(TableError::from);
                if forward {
                    prop_assert_eq!(got, want_u, "releases unlike an unbounded map");
                }
                mirror.insert(k, m);
                unbounded.insert(k, u);
            }
            Op::Remove { key } => {
                let k = key_of(key);
                prop_assert_eq!(t.remove(&k), mirror.remove(&k));
                unbounded.remove(&k);
            }
            Op::Purge => {
                let purged = t.purge(limits, I::from_ticks(now));
                prop_assert_eq!(before.len() - purged, t.len());
                for (k, v) in t.iter() {
                    prop_assert!(
                        !like_fresh_at(limit(k), v, now),
                        "purge kept {:?}, which answers like a fresh state",
                        k
                    );
                }
            }
        }

        let after: BTreeMap<K, V> = t.iter().map(|(k, v)| (*k, v.clone())).collect();
        prop_assert!(t.len() <= cap, "over capacity");
        prop_assert_eq!(t.len(), after.len());
        for (k, v) in &after {
            prop_assert_eq!(mirror.get(k), Some(v), "the table holds another state");
        }
        let missing: Vec<K> = mirror
            .keys()
            .filter(|k| !after.contains_key(*k))
            .copied()
            .collect();
        let mut evicted = 0;
        for k in missing {
            let a = limit(&k);
            let s = mirror.remove(&k).expect("listed");
            if like_fresh_from(a, &s, now) {
                continue; // dropped at rest: absent and present decide alike from now on
            }
            prop_assert_eq!(overflow, Overflow::EvictLeastLoss, "Deny lost {:?}", k);
            prop_assert!(inserted.is_some(), "{:?} evicted for no new key", k);
            evicted += 1;
            let rest = first_rest(a, &s, now);
            prop_assert!(
                rest.is_some(),
                "evicted {:?}, whose requests are in flight",
                k
            );
            let rest = rest.unwrap_or(u64::MAX);
            for (o, v) in after.iter().filter(|(o, _)| Some(**o) != inserted) {
                prop_assert!(
                    !like_fresh_at(limit(o), v, rest.saturating_sub(1)),
                    "evicted {:?} (at rest at {}) before {:?}",
                    k,
                    rest,
                    o
                );
            }
            unbounded.remove(&k); // the evicted key starts afresh
        }
        prop_assert!(evicted <= 1, "evicted {} entries at once", evicted);
        if before.keys().ne(after.keys()) {
            (cached, stale) = (false, false);
        } else if cached && before != after {
            stale = true;
        }
    }
    Ok(())
}

/// Emission intervals are multiples of 250 ms, and so are most time steps (see [`quantum`]), so
/// requests often land exactly on the tick an entry comes to rest.
fn gcra() -> impl Strategy<Value = Gcra<HZ>> {
    (prop::sample::select(vec![1u32, 2, 4]), 1u32..=3, 1u64..=6).prop_map(|(n, burst, secs)| {
        Gcra::new(
            Quota::per_seconds(n, secs)
                .unwrap()
                .with_burst(burst)
                .unwrap(),
        )
    })
}

/// A window of whole quarter seconds, or of any length.
fn window() -> impl Strategy<Value = u64> {
    prop_oneof![3 => (1u64..=8).prop_map(|q| q * 250), 1 => 1u64..=3_000]
}

/// `n` per `w` ticks (at least one tick per unit).
fn quota(n: u32, w: u64) -> Quota<HZ> {
    Quota::new(n, D::from_ticks(w.max(u64::from(n)))).unwrap()
}

/// A ring of three entries, sometimes smaller than the limit (`new_undersized`).
type Log = SlidingLog<HZ, 3>;

fn log() -> impl Strategy<Value = Log> {
    (1u32..=4, window()).prop_map(|(n, w)| Log::new_undersized(quota(n, w)).unwrap())
}

type Window = SlidingWindow<HZ, 3>;

/// Three buckets need a window of at least three ticks.
fn sliding_window() -> impl Strategy<Value = Window> {
    (1u32..=4, window()).prop_map(|(n, w)| Window::new(quota(n, w.max(3))).unwrap())
}

fn concurrency() -> impl Strategy<Value = Concurrency<HZ>> {
    let hint = prop_oneof![Just(0u64), Just(1), Just(250), Just(1_000), Just(u64::MAX)];
    (1u32..=3, hint).prop_map(|(max, hint)| {
        Concurrency::new(max)
            .unwrap()
            .with_retry_hint(D::from_ticks(hint))
    })
}

fn meter() -> impl Strategy<Value = Meter<HZ>> {
    gcra().prop_map(|g| Meter::new(g.quota()))
}

type Pair = Policy<(Named<Gcra<HZ>>, Named<Concurrency<HZ>>)>;

fn pair() -> impl Strategy<Value = Pair> {
    (gcra(), concurrency())
        .prop_map(|(g, c)| Policy::new((Named::new("rate", g), Named::new("concurrent", c))))
}

/// Every real kind of limit in one plan, the optional ones present or not.
type Plan = Policy<(
    Named<Window>,
    Named<Option<Gcra<HZ>>>,
    Named<Option<Concurrency<HZ>>>,
    Named<Unlimited>,
    Named<Option<Log>>,
)>;
type PlanState = <Plan as Algorithm<HZ>>::State;

fn plan() -> impl Strategy<Value = Plan> {
    (
        sliding_window(),
        prop::option::of(gcra()),
        prop::option::of(concurrency()),
        prop::option::of(log()),
    )
        .prop_map(|(w, g, c, l)| {
            Policy::new((
                Named::new("window", w),
                Named::new("rate", g),
                Named::new("concurrent", c),
                Named::new("day", Unlimited),
                Named::new("log", l),
            ))
        })
}

type Fakes = Policy<(Named<Gcra<HZ>>, Named<FixedWindow>, Named<InFlight>)>;

fn fakes() -> impl Strategy<Value = Fakes> {
    (gcra(), 1u32..=3, window(), 1u32..=3, 0u64..=300).prop_map(|(g, limit, window, max, hint)| {
        Policy::new((
            Named::new("rate", g),
            Named::new("window", FixedWindow { limit, window }),
            Named::new("concurrent", InFlight { max, hint }),
        ))
    })
}

/// Acquires and releases on a table of two concurrency entries: a key never holds more in flight
/// than its limit, counted from the table's own answers.
fn in_flight_is_never_lost<O: OverflowPolicy>(
    mut t: KeyTable<u8, ConcurrencyState, 2, O>,
    c: &Concurrency<HZ>,
    ops: Vec<(u8, bool, u32)>,
) -> Result<(), TestCaseError> {
    let mut held: HashMap<u8, u32> = HashMap::new();
    let now = I::from_ticks(0);
    for (key, acquire, cost) in ops {
        let h = held.entry(key).or_default();
        if acquire {
            if let Ok(d) = t.check(c, key, now, cost)
                && d.is_allowed()
            {
                *h += cost;
            }
        } else if t.release(c, key, now, cost).is_ok() {
            *h -= cost; // a release of more than is held is refused
        }
        prop_assert!(*h <= c.max(), "key {} holds {} of {}", key, h, c.max());
        let stored = t.get(&key).map_or(0, |s| s.in_flight());
        prop_assert_eq!(stored, *h, "the table forgot requests in flight");
    }
    Ok(())
}

type Op2 = (u8, Step, u32, u8, Option<(u32, bool)>);

/// Any sequence of every operation on a small table of a policy with test-only limits: the table
/// never holds more than its capacity, and nothing panics.
fn never_over_capacity<O: OverflowPolicy>(
    mut t: KeyTable<u8, (GcraState, Count, u32), 4, O, Fnv1a>,
    g: Gcra<HZ>,
    window: u64,
    ops: Vec<Op2>,
) -> Result<(), TestCaseError> {
    let p = Policy::new((
        Named::new("rate", g),
        Named::new("window", FixedWindow { limit: 3, window }),
        Named::new("concurrent", InFlight { max: 2, hint: 7 }),
    ));
    let mut now = 0u64;
    for (key, step, cost, kind, lower) in ops {
        now = step.apply(now);
        let t_now = I::from_ticks(now);
        let len = t.len();
        match kind {
            0 | 1 => {
                let _ = t.check(&p, key, t_now, cost);
            }
            2 => {
                let lowered = lower.map(|(v, _)| [("window", v)]);
                let ov = Overrides {
                    deny: lower.is_some_and(|(_, d)| d),
                    lower: lowered.as_ref().map_or(&[][..], |l| &l[..]),
                };
                let r = t.check_policy(&p, key, t_now, cost, &ov);
                if let Ok(d) = r {
                    prop_assert_eq!(d.reports.len(), 3);
                }
            }
            3 => {
                let _ = t.release(&p, key, t_now, cost);
            }
            4 => {
                let _ = t.peek(&p, &key, t_now, cost);
                prop_assert_eq!(t.len(), len);
            }
            _ => {
                t.purge(&p, t_now);
            }
        }
        prop_assert!(t.len() <= t.capacity());
        prop_assert_eq!(t.len(), t.iter().count());
    }
    Ok(())
}

fn id(k: u8) -> u8 {
    k
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_gcra_table_keeps_to_the_references(
        g in gcra(), over in overflow(), fwd in any::<bool>(), ops in ops(21, 120),
    ) {
        run_default::<u8, _, GcraState, 8>(over, &g, ops, id, fwd)?;
    }

    #[test]
    fn with_colliding_hashes_a_table_still_keeps_to_the_references(
        g in gcra(), over in overflow(), fwd in any::<bool>(), ops in ops(21, 120),
    ) {
        run_with::<u8, _, GcraState, 8, _>(over, Collide, &g, ops, id, fwd)?;
    }

    #[test]
    fn a_sliding_log_table_keeps_to_the_references(
        l in log(), over in overflow(), fwd in any::<bool>(), ops in ops(10, 80),
    ) {
        run_default::<u8, _, _, 4>(over, &l, ops, id, fwd)?;
    }

    #[test]
    fn a_sliding_window_table_keeps_to_the_references(
        w in sliding_window(), over in overflow(), fwd in any::<bool>(), ops in ops(10, 80),
    ) {
        run_default::<u8, _, _, 4>(over, &w, ops, id, fwd)?;
    }

    #[test]
    fn a_meter_table_keeps_to_the_references(
        m in meter(), over in overflow(), fwd in any::<bool>(), ops in ops(10, 80),
    ) {
        run_default::<u8, _, _, 4>(over, &m, ops, id, fwd)?;
    }

    #[test]
    fn a_concurrency_table_keeps_to_the_references(
        c in concurrency(), over in overflow(), fwd in any::<bool>(), ops in ops(8, 80),
    ) {
        run_default::<u8, _, ConcurrencyState, 4>(over, &c, ops, id, fwd)?;
    }

    #[test]
    fn a_rate_and_concurrency_policy_table_keeps_to_the_references(
        p in pair(), over in overflow(), fwd in any::<bool>(), ops in ops(8, 80),
    ) {
        run_default::<u8, _, _, 4>(over, &p, ops, id, fwd)?;
    }

    #[test]
    fn a_table_of_tiers_of_every_real_limit_keeps_to_the_references(
        a in plan(), b in plan(), over in overflow(), fwd in any::<bool>(), ops in ops(15, 80),
    ) {
        // Two plans; keys of a third plan have no limit.
        let tiers = Tiers::new([(0u8, a), (1u8, b)]);
        run_default::<(u8, u8), _, PlanState, 8>(over, &tiers, ops, |k| (k % 3, k / 3), fwd)?;
    }

    #[test]
    fn a_table_of_test_only_limits_keeps_to_the_references(
        p in fakes(), over in overflow(), fwd in any::<bool>(), ops in ops(8, 80),
    ) {
        run_default::<u8, _, (GcraState, Count, u32), 4>(over, &p, ops, id, fwd)?;
    }

    /// The reviewer's finding: an eviction must never forget requests in flight, or a key could
    /// hold twice its limit, for good. The count here is the table's own answers, nothing else.
    #[test]
    fn a_key_never_holds_more_in_flight_than_its_limit(
        c in concurrency(),
        over in overflow(),
        ops in prop::collection::vec((0u8..6, any::<bool>(), 0u32..=3), 0..120),
    ) {
        match over {
            Overflow::Deny => in_flight_is_never_lost(KeyTable::new(), &c, ops)?,
            Overflow::EvictLeastLoss => in_flight_is_never_lost(KeyTable::evicting(), &c, ops)?,
        }
    }

    #[test]
    fn a_table_never_exceeds_its_capacity_nor_panics_on_any_sequence(
        g in gcra(),
        window in 1u64..=2_000,
        evict in any::<bool>(),
        ops in prop::collection::vec((0u8..12, any_step(), cost(), 0u8..6, prop::option::of((0u32..=4, any::<bool>()))), 0..120),
    ) {
        if evict {
            never_over_capacity(KeyTable::evicting(), g, window, ops)?;
        } else {
            never_over_capacity(KeyTable::new(), g, window, ops)?;
        }
    }
}
