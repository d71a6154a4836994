//! Property tests for key tables against an unbounded reference map (`std::collections::HashMap`).
//!
//! With `Overflow::Deny` a table must decide exactly like the unbounded map, refusing only when
//! every one of its entries is active; with `EvictLeastLoss` it may evict only the entry closest to
//! rest. Either way it never exceeds its capacity and never panics.

mod policy_support;

use core::hash::{BuildHasher, Hasher};
use std::collections::{BTreeSet, HashMap};

use policy_support::strategy::{any_step, cost, forward};
use policy_support::{Count, D, FixedWindow, HZ, I, InFlight, Step};
use proptest::prelude::*;
use tollgate_core::table::Fnv1a;
use tollgate_core::{
    Algorithm, Gcra, GcraState, KeyTable, Named, Overflow, Overrides, Policy, Quota, TableError,
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

/// Keys spread over three times the capacity of an eight-slot table.
const KEYS: u8 = 21;

#[derive(Debug, Clone)]
enum Op {
    Check { key: u8, step: Step, cost: u32 },
    Peek { key: u8, cost: u32 },
    Remove { key: u8 },
    Purge,
}

fn op(step: impl Strategy<Value = Step>) -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..KEYS, step, cost()).prop_map(|(key, step, cost)| Op::Check { key, step, cost }),
        2 => (0..KEYS, cost()).prop_map(|(key, cost)| Op::Peek { key, cost }),
        2 => (0..KEYS).prop_map(|key| Op::Remove { key }),
        1 => Just(Op::Purge),
    ]
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

/// Runs `ops` on a `Deny` table and on the reference map, checking they agree at every step.
fn decides_like_an_unbounded_map<S: BuildHasher>(
    mut t: KeyTable<u8, GcraState, 8, S>,
    g: Gcra<HZ>,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let cap = t.capacity();
    let mut reference: HashMap<u8, GcraState> = HashMap::new();
    let mut now = 0u64;
    for op in ops {
        match op {
            Op::Check { key, step, cost } => {
                now = step.apply(now);
                let t_now = I::from_ticks(now);
                let mut r = reference.get(&key).copied().unwrap_or_default();
                let want = g.check(&mut r, t_now, cost);
                match t.check(&g, key, t_now, cost) {
                    Err(TableError::Full { retry_after }) => {
                        prop_assert!(
                            cost > 0 && want.is_ok_and(|d| d.is_allowed()),
                            "only a recording request needs a slot"
                        );
                        prop_assert!(t.get(&key).is_none());
                        let active = reference
                            .iter()
                            .filter(|(k, v)| **k != key && !g.is_at_rest(v, t_now))
                            .count();
                        prop_assert!(active >= cap, "Full with only {} active entries", active);
                        let first = t
                            .iter()
                            .map(|(_, v)| g.peek(v, t_now, 0).unwrap().reset)
                            .min()
                            .unwrap();
                        prop_assert!(
                            retry_after <= first,
                            "the wait never overshoots the first rest"
                        );
                    }
                    got => {
                        prop_assert_eq!(got, want.map_err(TableError::from));
                        reference.insert(key, r);
                    }
                }
            }
            Op::Peek { key, cost } => {
                let t_now = I::from_ticks(now);
                let r = reference.get(&key).copied().unwrap_or_default();
                prop_assert_eq!(
                    t.peek(&g, &key, t_now, cost),
                    g.peek(&r, t_now, cost).map_err(TableError::from)
                );
            }
            Op::Remove { key } => {
                let had = t.get(&key).copied();
                prop_assert_eq!(t.remove(&key), had);
                reference.remove(&key);
            }
            Op::Purge => {
                let before = t.len();
                let purged = t.purge(&g, I::from_ticks(now));
                prop_assert_eq!(before - purged, t.len());
                prop_assert!(t.iter().all(|(_, v)| !g.is_at_rest(v, I::from_ticks(now))));
            }
        }
        let t_now = I::from_ticks(now);
        prop_assert!(t.len() <= cap);
        prop_assert_eq!(t.len(), t.iter().count());
        for (k, v) in t.iter() {
            prop_assert_eq!(
                reference.get(k),
                Some(v),
                "the table holds the reference state"
            );
        }
        for (k, v) in &reference {
            if t.get(k).is_none() {
                prop_assert!(g.is_at_rest(v, t_now), "only entries at rest are missing");
            }
        }
    }
    Ok(())
}

type Pair = Policy<(Named<Gcra<HZ>, HZ>, Named<InFlight, HZ>)>;
type PairState = (GcraState, u32);

fn pair() -> impl Strategy<Value = Pair> {
    (gcra(), 1u32..=3).prop_map(|(g, max)| {
        Policy::new((
            Named::new("rate", D::from_secs(1), g),
            Named::new("concurrent", D::from_ticks(0), InFlight { max, hint: 100 }),
        ))
    })
}

/// When this state comes to rest if nothing else arrives (the table's own rule).
fn rest_tick(p: &Pair, s: &PairState, now: I) -> u64 {
    let reset = Algorithm::peek(p, s, now, 0).unwrap().reset.as_ticks();
    if reset == 0 && !Algorithm::is_at_rest(p, s, now) {
        return u64::MAX;
    }
    now.as_ticks().saturating_add(reset)
}

#[derive(Debug, Clone)]
enum PairOp {
    Check { key: u8, step: Step, cost: u32 },
    Release { key: u8, cost: u32 },
}

fn pair_op() -> impl Strategy<Value = PairOp> {
    prop_oneof![
        3 => (0u8..7, quantum(), cost()).prop_map(|(key, step, cost)| PairOp::Check { key, step, cost }),
        1 => (0u8..7, 0u32..=3).prop_map(|(key, cost)| PairOp::Release { key, cost }),
    ]
}

/// Checks and releases on a policy with an in-flight limit, against the reference map: decisions
/// agree; `Deny` refuses only when every other entry is active and never evicts; `EvictLeastLoss`
/// evicts at most one entry per request, the one closest to rest.
fn in_flight_table(overflow: Overflow, p: Pair, ops: Vec<PairOp>) -> Result<(), TestCaseError> {
    let mut t = KeyTable::<u8, PairState, 4>::new(overflow);
    let mut reference: HashMap<u8, PairState> = HashMap::new();
    let fresh = Algorithm::new_state(&p);
    let mut now = 0u64;
    for op in ops {
        let before: BTreeSet<u8> = t.iter().map(|(k, _)| *k).collect();
        let key = match op {
            PairOp::Check { key, step, cost } => {
                now = step.apply(now);
                let t_now = I::from_ticks(now);
                let mut r = reference.get(&key).copied().unwrap_or(fresh);
                let want = Algorithm::check(&p, &mut r, t_now, cost);
                match t.check(&p, key, t_now, cost) {
                    Err(TableError::Full { retry_after }) => {
                        prop_assert_eq!(overflow, Overflow::Deny);
                        prop_assert!(cost > 0 && want.is_ok_and(|d| d.is_allowed()));
                        let active = reference
                            .iter()
                            .filter(|(k, v)| **k != key && !Algorithm::is_at_rest(&p, *v, t_now))
                            .count();
                        prop_assert!(
                            active >= t.capacity(),
                            "Full with only {} active entries",
                            active
                        );
                        let first = t
                            .iter()
                            .map(|(_, v)| rest_tick(&p, v, t_now))
                            .min()
                            .unwrap();
                        prop_assert!(retry_after.as_ticks() <= first - now);
                        continue;
                    }
                    got => prop_assert_eq!(got, want.map_err(TableError::from)),
                }
                reference.insert(key, r);
                key
            }
            PairOp::Release { key, cost } => {
                let mut r = reference.get(&key).copied().unwrap_or(fresh);
                let want = Algorithm::release(&p, &mut r, cost);
                prop_assert_eq!(
                    t.release(&p, key, I::from_ticks(now), cost),
                    want.map_err(TableError::from)
                );
                reference.insert(key, r);
                key
            }
        };
        let t_now = I::from_ticks(now);
        let after: BTreeSet<u8> = t.iter().map(|(k, _)| *k).collect();
        let mut evicted = 0;
        for gone in before.difference(&after) {
            let state = reference[gone];
            if Algorithm::is_at_rest(&p, &state, t_now) {
                continue;
            }
            prop_assert_eq!(overflow, Overflow::EvictLeastLoss, "Deny never evicts");
            evicted += 1;
            let lost = rest_tick(&p, &state, t_now);
            for other in after.iter().filter(|k| **k != key) {
                prop_assert!(
                    lost <= rest_tick(&p, &reference[other], t_now),
                    "evicted {} before {}",
                    gone,
                    other
                );
            }
            reference.remove(gone); // the evicted key starts afresh
        }
        prop_assert!(evicted <= 1);
        prop_assert!(t.len() <= t.capacity());
        for (k, v) in t.iter() {
            prop_assert_eq!(reference.get(k), Some(v));
        }
        for (k, v) in &reference {
            if t.get(k).is_none() {
                prop_assert!(Algorithm::is_at_rest(&p, v, t_now));
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn with_deny_a_table_decides_like_an_unbounded_map(
        g in gcra(),
        ops in prop::collection::vec(op(quantum()), 0..120),
    ) {
        decides_like_an_unbounded_map(KeyTable::<u8, GcraState, 8>::new(Overflow::Deny), g, ops)?;
    }

    #[test]
    fn with_colliding_hashes_a_table_still_decides_like_an_unbounded_map(
        g in gcra(),
        ops in prop::collection::vec(op(quantum()), 0..120),
    ) {
        decides_like_an_unbounded_map(KeyTable::<u8, GcraState, 8, Collide>::with_hasher(Overflow::Deny, Collide), g, ops)?;
    }

    #[test]
    fn evict_least_loss_evicts_only_the_entry_closest_to_rest(
        p in pair(),
        ops in prop::collection::vec(pair_op(), 0..100),
    ) {
        in_flight_table(Overflow::EvictLeastLoss, p, ops)?;
    }

    #[test]
    fn with_deny_and_releases_a_table_decides_like_an_unbounded_map(
        p in pair(),
        ops in prop::collection::vec(pair_op(), 0..100),
    ) {
        in_flight_table(Overflow::Deny, p, ops)?;
    }

    #[test]
    fn a_table_never_exceeds_its_capacity_nor_panics_on_any_sequence(
        g in gcra(),
        window in 1u64..=2_000,
        evict in any::<bool>(),
        ops in prop::collection::vec((0u8..12, any_step(), cost(), 0u8..6, prop::option::of((0u32..=4, any::<bool>()))), 0..120),
    ) {
        let p = Policy::new((
            Named::new("rate", D::from_secs(1), g),
            Named::new("window", D::from_ticks(window), FixedWindow { limit: 3, window }),
            Named::new("concurrent", D::from_ticks(0), InFlight { max: 2, hint: 7 }),
        ));
        let overflow = if evict { Overflow::EvictLeastLoss } else { Overflow::Deny };
        let mut t = KeyTable::<u8, (GcraState, Count, u32), 4, Fnv1a>::new(overflow);
        let mut now = 0u64;
        for (key, step, cost, kind, lower) in ops {
            now = step.apply(now);
            let t_now = I::from_ticks(now);
            let len = t.len();
            match kind {
                0 | 1 => { let _ = t.check(&p, key, t_now, cost); }
                2 => {
                    let lowered = lower.map(|(v, _)| [("window", v)]);
                    let ov = Overrides { deny: lower.is_some_and(|(_, d)| d), lower: lowered.as_ref().map_or(&[][..], |l| &l[..]) };
                    let r = t.check_policy(&p, key, t_now, cost, &ov);
                    if let Ok(d) = r { prop_assert_eq!(d.reports.len(), 3); }
                }
                3 => { let _ = t.release(&p, key, t_now, cost); }
                4 => { let _ = t.peek(&p, &key, t_now, cost); prop_assert_eq!(t.len(), len); }
                _ => { t.purge(&p, t_now); }
            }
            prop_assert!(t.len() <= t.capacity());
            prop_assert_eq!(t.len(), t.iter().count());
        }
    }
}
