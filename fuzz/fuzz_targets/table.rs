//! Key tables: churn of many keys through tables of 1 to 8 slots (with FNV-1a or with every key
//! hashing alike), under `Deny` and `EvictLeastLoss`, for a GCRA + sliding window + concurrency
//! policy per key or for `Tiers` of two plans, against an unbounded `std` `HashMap` of states.
//!
//! Operations: checks (plain and with overrides), all-or-nothing checks over two or three keys
//! (`check_keys`, against the map's states checked together: admitted only when every key's
//! policy admits, then recorded for every key, else for none; a denial names the key with the
//! longest wait; duplicate keys, keys without a plan and costs that cannot fit are errors naming
//! their position), peeks, releases, removes and purges, with clock steps of every kind. After every operation: the table never holds more than its
//! capacity, its length is its number of entries, and no operation panics (a full table
//! answers `Full`). While the clock never goes back (the `forward` flag), also: every decision
//! equals the unbounded map's (so dropping entries at rest never changes one); `Full` comes only
//! for a request that would record, when every other entry is active, with a wait no longer than
//! the first entry's rest; every entry decides like the map's state and every missing key answers
//! like a fresh one from then on; `Deny` never evicts, and `EvictLeastLoss` evicts at most one
//! entry per request, the one closest to rest, and never one with requests in flight (it answers
//! `Full` only when every entry has some). Whatever the clock does, `EvictLeastLoss` refuses
//! only then.
//!
//! Being at rest, and when an entry comes to rest, are read off decisions alone
//! ([`like_fresh_at`]), never from the library's `is_at_rest` or `reset`: the real concurrency
//! limit reports its retry hint as `reset` while requests are in flight, though waiting never
//! brings it to rest.
#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::table::{Deny, EvictLeastLoss, Fnv1a, KeysDecision, OverflowPolicy};
use tollgate_core::{
    Algorithm, Concurrency, Decision, Duration, Gcra, Instant, KeyLimits, KeyTable, Named,
    Overflow, Overrides, Policy, Quota, SlidingWindow, TableError, Tiers, Verdict,
};
use tollgate_fuzz::{Cost, Ops, Step};

const HZ: u64 = 1_000;
type I = Instant<HZ>;
type P = Policy<(
    Named<Gcra<HZ>>,
    Named<Option<SlidingWindow<HZ, 3>>>,
    Named<Option<Concurrency<HZ>>>,
)>;
type V = <P as Algorithm<HZ>>::State;

/// Every key hashes alike: one long cluster.
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

#[derive(Debug, Clone, Copy, Arbitrary)]
struct Plan {
    rate: u8,
    per: u8,
    burst: u8,
    window: Option<(u8, u16)>,
    concurrent: Option<u8>,
}

impl Plan {
    fn policy(&self) -> Option<P> {
        // Intervals are whole multiples of 250 ms, so steps often land on rest boundaries.
        let n = 1 + u32::from(self.rate % 4);
        let q = Quota::<HZ>::new(
            n,
            Duration::<HZ>::from_ticks(250 * u64::from(n) * u64::from(1 + self.per % 8)),
        )
        .ok()?
        .with_burst(1 + u32::from(self.burst % 4))
        .ok()?;
        let sw = self.window.and_then(|(limit, w)| {
            let limit = 1 + u32::from(limit % 6);
            let q = Quota::<HZ>::new(
                limit,
                Duration::<HZ>::from_ticks(u64::from(limit) + u64::from(w)),
            )
            .ok()?;
            SlidingWindow::<HZ, 3>::new(q).ok()
        });
        let conc = self
            .concurrent
            .and_then(|m| Concurrency::<HZ>::new(1 + u32::from(m % 3)).ok());
        Some(Policy::new((
            Named::new("rate", Gcra::new(q)),
            Named::new("window", sw),
            Named::new("concurrent", conc),
        )))
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Op {
    Check {
        key: u8,
        step: Step,
        cost: Cost,
    },
    Override {
        key: u8,
        step: Step,
        cost: Cost,
        deny: bool,
        lower: Option<u8>,
    },
    Peek {
        key: u8,
        cost: Cost,
    },
    Release {
        key: u8,
        cost: Cost,
    },
    Remove {
        key: u8,
    },
    Purge,
    /// All or nothing over the first two keys, or all three.
    CheckKeys {
        keys: [u8; 3],
        three: bool,
        step: Step,
        cost: Cost,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    slots: u8,
    collide: bool,
    evict: bool,
    forward: bool,
    tiers: Option<Plan>,
    plan: Plan,
    keys: u8,
    ops: Ops<Op>,
}

/// Whether `s` answers like a fresh state at the instant `t`: every probe cost on its own, and a
/// second request after a first one recorded at `t`, with every limit's report.
fn like_fresh_at(p: &P, s: &V, t: u64) -> bool {
    let fresh = Algorithm::new_state(p);
    let t = I::from_ticks(t);
    let costs = [0, 1, 2, 3, 4];
    if costs
        .iter()
        .any(|&c| p.peek(s, t, c) != p.peek(&fresh, t, c))
    {
        return false;
    }
    [1, 2].iter().all(|&first| {
        let (mut x, mut y) = (*s, fresh);
        p.check(&mut x, t, first) == p.check(&mut y, t, first)
            && costs.iter().all(|&c| p.peek(&x, t, c) == p.peek(&y, t, c))
    })
}

/// Whether `s` may be dropped at `u`: it answers like a fresh state at `u` and later.
fn like_fresh_from(p: &P, s: &V, u: u64) -> bool {
    [0, 1, 249, 1_000, 60_000, 86_400_000, 1 << 40, u64::MAX]
        .iter()
        .all(|&d| like_fresh_at(p, s, u.saturating_add(d)))
}

/// The first instant from `from` on at which `s` answers like a fresh state (nothing else
/// arriving), or `None` when it does not even at the end of time (requests in flight).
fn first_rest(p: &P, s: &V, from: u64) -> Option<u64> {
    if !like_fresh_at(p, s, u64::MAX) {
        return None;
    }
    if like_fresh_at(p, s, from) {
        return Some(from);
    }
    let (mut lo, mut hi) = (from, u64::MAX);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if like_fresh_at(p, s, mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// What an unbounded map of states answers to an all-or-nothing check of `keys`: the first
/// duplicate key or key without a plan, or the first cost that cannot fit (at its position), else
/// the verdict, every key's decision and, when admitted, every key's state after it.
#[allow(clippy::type_complexity)]
fn model_keys<K, C, const M: usize>(
    limits: &C,
    reference: &HashMap<K, V>,
    keys: [K; M],
    now: I,
    cost: u32,
) -> Result<(Verdict, [Decision<HZ>; M], Vec<(K, V)>), TableError<HZ>>
where
    K: Eq + Hash + Copy,
    C: KeyLimits<K, HZ, Limit = P>,
{
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].contains(k) {
            return Err(TableError::DuplicateKey { index: i });
        }
        if limits.limit_for(k).is_none() {
            return Err(TableError::NoLimit);
        }
    }
    let plan = |k: &K| limits.limit_for(k).unwrap();
    let states: Vec<V> = keys
        .iter()
        .map(|k| {
            reference
                .get(k)
                .copied()
                .unwrap_or_else(|| Algorithm::new_state(plan(k)))
        })
        .collect();
    let mut alone = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let d = Algorithm::peek(plan(k), &states[i], now, cost)
            .map_err(|e| TableError::InsufficientCapacity(e.at(i)))?;
        alone.push(d);
    }
    let mut decisions = [Decision::allowed(0, 0, Duration::<HZ>::from_ticks(0)); M];
    let wait = alone
        .iter()
        .filter(|d| d.is_denied())
        .map(|d| d.retry_after)
        .max();
    if let Some(wait) = wait {
        // The longest wait, the first among equals; the others report without the request.
        let index = alone
            .iter()
            .position(|d| d.is_denied() && d.retry_after == wait)
            .unwrap();
        for (i, k) in keys.iter().enumerate() {
            decisions[i] = if alone[i].is_denied() {
                alone[i]
            } else {
                Algorithm::peek(plan(k), &states[i], now, 0).unwrap()
            };
        }
        return Ok((Verdict::Denied { index }, decisions, Vec::new()));
    }
    let mut after = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let mut s = states[i];
        decisions[i] = Algorithm::check(plan(k), &mut s, now, cost).unwrap();
        assert_eq!(decisions[i], alone[i], "peek == check for one key");
        after.push((*k, s));
    }
    Ok((Verdict::Allowed, decisions, after))
}

/// The parts of a `check_keys` answer the map's can be compared with.
#[allow(clippy::type_complexity)]
fn keys_answer<const M: usize>(
    d: Result<KeysDecision<HZ, M>, TableError<HZ>>,
) -> Result<(Verdict, [Decision<HZ>; M]), TableError<HZ>> {
    d.map(|d| {
        // The helpers read the verdict and the named key's decision.
        assert_eq!(d.is_allowed(), d.outcome == Verdict::Allowed);
        assert_eq!(d.is_denied(), !d.is_allowed());
        match d.outcome {
            Verdict::Denied { index } => {
                assert_eq!(d.denied_index(), Some(index));
                assert_eq!(d.retry_after(), d.decisions[index].retry_after);
                assert!(d.decisions[index].is_denied());
            }
            _ => {
                assert_eq!((d.denied_index(), d.retry_after()), (None, None));
                assert!(d.decisions.iter().all(Decision::is_allowed));
            }
        }
        assert_eq!(d.delay().as_ticks(), 0, "nothing here queues");
        (d.outcome, d.decisions)
    })
}

fn run<K, C, const N: usize, O, S>(
    mut t: KeyTable<K, V, N, O, S>,
    limits: &C,
    input: &Input,
    key_of: impl Fn(u8) -> K,
) where
    K: Eq + Hash + Copy + Debug + Ord,
    C: KeyLimits<K, HZ, Limit = P>,
    O: OverflowPolicy,
    S: BuildHasher,
{
    let overflow = t.overflow();
    assert_eq!(overflow, O::MODE);
    let cap = t.capacity();
    let keys = 1 + input.keys % 24;
    let mut reference: HashMap<K, V> = HashMap::new();
    // With a clock that goes back, a dropped entry may decide like a fresh one at the latest
    // instant seen (the documented exception): then only the invariants are checked.
    let exact = input.forward;
    let mut now = 0u64;
    let cost_of = |c: Cost| c.of(4);

    for &op in &input.ops.0 {
        // The request's own keys: one, two or three (none for a purge).
        let request: Vec<K> = match op {
            Op::Check { key, .. }
            | Op::Override { key, .. }
            | Op::Peek { key, .. }
            | Op::Release { key, .. }
            | Op::Remove { key } => vec![key_of(key % keys)],
            Op::CheckKeys {
                keys: ks, three, ..
            } => ks[..if three { 3 } else { 2 }]
                .iter()
                .map(|&k| key_of(k % keys))
                .collect(),
            Op::Purge => Vec::new(),
        };
        let key = request.first().copied().unwrap_or_else(|| key_of(0));
        if let Op::Check { step, .. } | Op::Override { step, .. } | Op::CheckKeys { step, .. } = op
        {
            let next = step.apply(now, 250, 4_000);
            now = if input.forward { next.max(now) } else { next };
        }
        let t_now = I::from_ticks(now);
        let limit = limits.limit_for(&key);
        let before: BTreeSet<K> = t.iter().map(|(k, _)| *k).collect();
        let held: Vec<Option<V>> = request.iter().map(|k| t.get(k).copied()).collect();
        let len = t.len();
        let mut r = reference
            .get(&key)
            .copied()
            .or_else(|| limit.map(Algorithm::new_state));

        // What the table answered, and what the unbounded map would (None: not comparable).
        let outcome: Option<bool> = match op {
            Op::Check { cost, .. } | Op::Override { cost, .. } => {
                let cost = cost_of(cost);
                let lowered;
                let ov = match op {
                    Op::Override { deny, lower, .. } => {
                        lowered = lower
                            .map(|v| [("RATE", u32::from(v % 4)), ("window", u32::from(v / 64))]);
                        Overrides {
                            deny,
                            lower: lowered.as_ref().map_or(&[][..], |l| &l[..]),
                        }
                    }
                    _ => Overrides::NONE,
                };
                let got = t.check_policy(limits, key, t_now, cost, &ov);
                let want = match (limit, r.as_mut()) {
                    (Some(p), Some(r)) => {
                        p.check_with(r, t_now, cost, &ov).map_err(TableError::from)
                    }
                    _ => Err(TableError::NoLimit),
                };
                match got {
                    Err(TableError::Full { retry_after }) => {
                        let of = |k: &K| limits.limit_for(k).unwrap();
                        assert!(t.get(&key).is_none());
                        assert_eq!(t.len(), cap, "Full with free slots");
                        if overflow == Overflow::EvictLeastLoss {
                            for (k, v) in t.iter() {
                                assert!(
                                    !like_fresh_at(of(k), v, u64::MAX),
                                    "EvictLeastLoss refused while {k:?} could be evicted"
                                );
                            }
                        }
                        if exact {
                            assert!(
                                cost > 0 && want.is_ok_and(|d| d.is_allowed()),
                                "Full for a request that records nothing"
                            );
                            let active = reference
                                .iter()
                                .filter(|(k, v)| **k != key && !like_fresh_at(of(k), v, now))
                                .count();
                            assert!(active >= cap, "Full with only {active} active entries");
                            let w = retry_after.as_ticks();
                            let end = now.checked_add(w).expect("a wait past the end of time");
                            assert!(w >= 1 || end == u64::MAX, "a zero wait before the end");
                            for (k, v) in t.iter() {
                                assert!(
                                    w == 0 || !like_fresh_at(of(k), v, end - 1),
                                    "the wait {w} overshoots the rest of {k:?}"
                                );
                            }
                        }
                        None
                    }
                    got => {
                        if exact {
                            assert_eq!(got, want, "the table decides unlike the map");
                        }
                        Some(true)
                    }
                }
            }
            Op::CheckKeys { cost, .. } => {
                let cost = cost_of(cost);
                let (got, want) = match request[..] {
                    [a, b] => (
                        keys_answer(t.check_keys(limits, [a, b], t_now, cost))
                            .map(|(v, d)| (v, d.to_vec())),
                        model_keys(limits, &reference, [a, b], t_now, cost)
                            .map(|(v, d, after)| (v, d.to_vec(), after)),
                    ),
                    [a, b, c] => (
                        keys_answer(t.check_keys(limits, [a, b, c], t_now, cost))
                            .map(|(v, d)| (v, d.to_vec())),
                        model_keys(limits, &reference, [a, b, c], t_now, cost)
                            .map(|(v, d, after)| (v, d.to_vec(), after)),
                    ),
                    _ => unreachable!(),
                };
                let recorded = matches!(got, Ok((Verdict::Allowed, _))) && cost > 0;
                if !recorded {
                    // Nothing recorded for any of the request's keys.
                    for (k, h) in request.iter().zip(&held) {
                        assert_eq!(t.get(k).copied(), *h, "{k:?} changed without a record");
                    }
                }
                match got {
                    Err(TableError::Full { retry_after }) => {
                        let of = |k: &K| limits.limit_for(k).unwrap();
                        let new = request.iter().filter(|k| t.get(k).is_none()).count();
                        assert!(new > 0, "Full with every key in the table");
                        assert!(t.len() + new > cap, "Full with room for the new keys");
                        let others = || t.iter().filter(|(k, _)| !request.contains(k));
                        if request.len() > cap {
                            // More keys than the table holds: refused at once, for good, and
                            // nothing evicted on the way.
                            assert_eq!(
                                retry_after.as_ticks(),
                                u64::MAX - now,
                                "a request that can never fit must wait for the end of time"
                            );
                        } else if overflow == Overflow::EvictLeastLoss {
                            for (k, v) in others() {
                                assert!(
                                    !like_fresh_at(of(k), v, u64::MAX),
                                    "EvictLeastLoss refused while {k:?} could be evicted"
                                );
                            }
                        }
                        if exact && request.len() <= cap {
                            assert!(
                                cost > 0 && matches!(want, Ok((Verdict::Allowed, ..))),
                                "Full for a request that records nothing"
                            );
                            let active = reference
                                .iter()
                                .filter(|(k, v)| {
                                    !request.contains(k) && !like_fresh_at(of(k), v, now)
                                })
                                .count();
                            let present = request.len() - new;
                            assert!(
                                active + present + new > cap,
                                "Full with only {active} other active entries, {present} keys \
                                 in the table and {new} new"
                            );
                            let w = retry_after.as_ticks();
                            let end = now.checked_add(w).expect("a wait past the end of time");
                            assert!(w >= 1 || end == u64::MAX, "a zero wait before the end");
                            for (k, v) in others() {
                                assert!(
                                    w == 0 || !like_fresh_at(of(k), v, end - 1),
                                    "the wait {w} overshoots the rest of {k:?}"
                                );
                            }
                        }
                    }
                    got => {
                        if exact {
                            let want = want.clone().map(|(v, d, _)| (v, d));
                            assert_eq!(got, want, "check_keys decides unlike the map");
                        }
                        if let Ok((Verdict::Allowed, _, after)) = want
                            && got.is_ok()
                        {
                            reference.extend(after);
                        }
                    }
                }
                None
            }
            Op::Peek { cost, .. } => {
                let cost = cost_of(cost);
                let got = t.peek(limits, &key, t_now, cost);
                let want = match (limit, &r) {
                    (Some(p), Some(r)) => {
                        Algorithm::peek(p, r, t_now, cost).map_err(TableError::from)
                    }
                    _ => Err(TableError::NoLimit),
                };
                if exact {
                    assert_eq!(got, want);
                }
                assert_eq!(t.len(), len, "a peek took a slot");
                None
            }
            Op::Release { cost, .. } => {
                let cost = cost_of(cost);
                let got = t.release(limits, key, t_now, cost);
                let want = match (limit, r.as_mut()) {
                    (Some(p), Some(r)) => Algorithm::release(p, r, cost).map_err(TableError::from),
                    _ => Err(TableError::NoLimit),
                };
                if exact {
                    assert_eq!(got, want);
                }
                Some(true)
            }
            Op::Remove { .. } => {
                let had = t.get(&key).copied();
                assert_eq!(t.remove(&key), had);
                reference.remove(&key);
                r = None;
                None
            }
            Op::Purge => {
                let before = t.len();
                let purged = t.purge(limits, t_now);
                assert_eq!(before - purged, t.len());
                for (k, v) in t.iter() {
                    assert!(
                        !like_fresh_at(limits.limit_for(k).unwrap(), v, now),
                        "purge kept {k:?}, which answers like a fresh state"
                    );
                }
                None
            }
        };
        if outcome.is_some()
            && let Some(r) = r
            && limit.is_some()
        {
            reference.insert(key, r);
        }

        assert!(t.len() <= cap, "over capacity");
        assert_eq!(t.len(), t.iter().count());
        if !exact {
            continue;
        }
        // Evictions: none under Deny; under EvictLeastLoss at most one per new key of the
        // request, the closest to rest, never one of the request's own keys.
        let after: BTreeSet<K> = t.iter().map(|(k, _)| *k).collect();
        let new_keys = request.iter().filter(|k| !before.contains(k)).count();
        let mut evicted = 0;
        for gone in before.difference(&after) {
            if request.contains(gone) && matches!(op, Op::Remove { .. }) {
                continue;
            }
            let p = limits.limit_for(gone).unwrap();
            let state = reference[gone];
            if like_fresh_from(p, &state, now) {
                continue;
            }
            assert_eq!(
                overflow,
                Overflow::EvictLeastLoss,
                "Deny evicted an active entry"
            );
            assert!(
                !request.contains(gone),
                "evicted {gone:?}, a key of the request"
            );
            evicted += 1;
            let lost = first_rest(p, &state, now)
                .unwrap_or_else(|| panic!("evicted {gone:?}, whose requests are in flight"));
            for other in after.iter().filter(|k| !request.contains(k)) {
                let q = limits.limit_for(other).unwrap();
                assert!(
                    !like_fresh_at(q, &reference[other], lost.saturating_sub(1)),
                    "evicted {gone:?} (at rest at {lost}) before {other:?}"
                );
            }
            reference.remove(gone); // the evicted key starts afresh
        }
        assert!(
            evicted <= new_keys.max(1),
            "evicted {evicted} entries for {new_keys} new keys"
        );
        // Every entry decides like the map's state (a state re-created after resting may differ
        // in representation, a sliding window's ring position, but never in a decision).
        for (k, v) in t.iter() {
            let p = limits.limit_for(k).unwrap();
            let r = reference.get(k).expect("an entry the map does not have");
            for c in [0, 1, 2, 4] {
                let (ours, theirs) = (
                    Algorithm::peek(p, v, t_now, c),
                    Algorithm::peek(p, r, t_now, c),
                );
                assert_eq!(ours, theirs, "the table holds another state");
            }
        }
        // Keys that left the table were checked above; the ones just used may never have
        // entered it. Keys missing earlier answered like fresh ones from then on, so they still
        // do.
        for key in &request {
            if let Some(v) = reference.get(key)
                && t.get(key).is_none()
            {
                let p = limits.limit_for(key).unwrap();
                assert!(
                    like_fresh_from(p, v, now),
                    "an active entry went missing: {key:?}"
                );
            }
        }
    }
}

fn with_overflow<const N: usize, O: OverflowPolicy>(input: &Input) {
    let Some(p) = input.plan.policy() else { return };
    match (input.tiers.and_then(|t| t.policy()), input.collide) {
        (None, false) => run(
            KeyTable::<u8, V, N, O, Fnv1a>::with_hasher(Fnv1a),
            &p,
            input,
            |k| k,
        ),
        (None, true) => run(
            KeyTable::<u8, V, N, O, Collide>::with_hasher(Collide),
            &p,
            input,
            |k| k,
        ),
        (Some(q), collide) => {
            // Two plans; keys of a third plan have no limit.
            let tiers = Tiers::new([(0u8, p), (1u8, q)]);
            let key = |k: u8| (k % 3, k / 3);
            if collide {
                run(
                    KeyTable::<(u8, u8), V, N, O, Collide>::with_hasher(Collide),
                    &tiers,
                    input,
                    key,
                );
            } else {
                run(
                    KeyTable::<(u8, u8), V, N, O, Fnv1a>::with_hasher(Fnv1a),
                    &tiers,
                    input,
                    key,
                );
            }
        }
    }
}

fn with_slots<const N: usize>(input: &Input) {
    // The overflow policy is the table's type; the plain constructors pick FNV-1a.
    assert_eq!(KeyTable::<u8, V, N>::new().overflow(), Overflow::Deny);
    assert_eq!(
        KeyTable::<u8, V, N, EvictLeastLoss>::evicting().overflow(),
        Overflow::EvictLeastLoss
    );
    if input.evict {
        with_overflow::<N, EvictLeastLoss>(input);
    } else {
        with_overflow::<N, Deny>(input);
    }
}

fuzz_target!(|input: Input| {
    match input.slots % 4 {
        0 => with_slots::<1>(&input),
        1 => with_slots::<2>(&input),
        2 => with_slots::<4>(&input),
        _ => with_slots::<8>(&input),
    }
});
