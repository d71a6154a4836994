//! Limits per key (phone numbers, API keys, client IPs) for millions of keys, shared by threads.
//!
//! Keys live in a concurrent map from key to the core's state: [`SHARDS`] shards, each a mutex
//! around a table of `(key, state)` pairs, the shard chosen from the key's hash (foldhash seeded
//! per map by default; any `BuildHasher` with `with_hasher`). The table is hashbrown's
//! `HashTable`, except for small plain keys of a [`KeyedLimiter`] (a `u64`, a `u32`): their
//! 16-byte entries go four to a cache line in a table of open addressing that finds a key with
//! one cache miss where hashbrown takes two (control bytes, then the entry). A decision locks
//! one shard, finds or inserts the key, runs the core's decision on its state in place and
//! unlocks: so for every key, **the map decides exactly as the core does on that key's requests
//! in the order they took the lock**, and never admits more than the key's limit allows, however
//! many threads share it. A key dropped as at rest is
//! decided afresh no earlier than the instant it was dropped at (a thread that read the clock
//! before that and then waited for the lock is decided at that instant), so dropping it changes
//! no decision while time goes forward. (A reading that goes backwards past a removal in its
//! shard is decided at the removal's instant: the map never decides a fresh state earlier than
//! the state it replaced.)
//!
//! # Keys
//!
//! Any `Hash + Eq` key works. The key is most of an entry and a pointer to follow is a cache miss
//! per decision, so keep keys inline: [`ShortKey`](crate::ShortKey) for phone numbers and IP
//! addresses (24-byte entries), [`CompactString`](compact_str::CompactString) for string keys up
//! to 24 bytes; a `String` key costs a second allocation and a second miss (BENCHMARKS.md:
//! `ShortKey` takes 0.56× governor's time and 0.59–0.65× its bytes per key at a million phone
//! numbers, `String` 0.90× and 1.00×).
//!
//! # Idle keys
//!
//! A key whose state is at rest decides like a fresh one, so it is dropped: every insertion of a
//! new key first visits the next [`SWEEP`] slots of its shard (a cursor that goes round; in the
//! flat table of `u64` keys that is one bucket) and removes the entries at rest there. Stale keys are reclaimed steadily, never in a
//! stop-the-world pass over a million keys. [`drop_idle`](KeyedLimiter::drop_idle) visits more
//! from a janitor thread, a shard at a time.
//!
//! # A bound on keys
//!
//! [`with_max_keys`](KeyedLimiter::with_max_keys) bounds the keys each shard holds (`max / SHARDS`,
//! at least one), so a flood of new keys cannot exhaust memory. A shard that is full first drops
//! every idle entry, then, as the core's [`KeyTable`](tollgate_core::KeyTable) does, either
//! refuses the new key ([`Overflow::Deny`]: [`KeyedError::Full`] with when room frees up) or
//! evicts the entry closest to rest ([`Overflow::EvictLeastLoss`], which can over-admit the
//! evicted key by one fresh allowance, within its remaining reset). Keys with requests in flight
//! are never evicted.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use tollgate_core::table::comes_to_rest;
use tollgate_core::{
    Algorithm, Clock, Gcra, GcraState, InsufficientCapacity, Named, Overflow, Overrides,
    ReleaseError,
};

use crate::clock::StdClock;
pub use crate::key::ToKey;
use crate::policy::{Decided, Rules};
use crate::wait::{self, Attempt, Jitter};
use crate::{Decision, Duration, HZ, Instant, Limit, LimitState, NotUntil, Quota};

mod flat;
use flat::Flat;

/// Shards per map: enough that threads rarely meet on one lock, few enough that a small map
/// costs little (one cache line each).
pub const SHARDS: usize = 64;

/// Slots (held or empty) visited for idle entries at each insertion of a new key: the cursor
/// goes round a shard of `n` slots in `n / 4` insertions.
pub const SWEEP: usize = 4;

/// Why a keyed decision could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedError {
    /// The key is new and its shard is full of active keys: retry after `retry_after` (when some
    /// entry comes to rest), or after a release when `None`.
    Full {
        /// When an entry of the shard comes to rest.
        retry_after: Option<Duration>,
    },
    /// The cost exceeds a limit's capacity: no wait would admit it.
    Capacity(InsufficientCapacity),
    /// No tier of that name.
    UnknownTier,
    /// More released than the key holds in flight.
    Release(ReleaseError),
}

impl core::fmt::Display for KeyedError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full {
                retry_after: Some(w),
            } => {
                write!(f, "key table full: room in {} ms", w.as_millis())
            }
            Self::Full { retry_after: None } => write!(f, "key table full until a release"),
            Self::Capacity(e) => write!(f, "{e}"),
            Self::UnknownTier => write!(f, "no such tier"),
            Self::Release(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for KeyedError {}

impl From<InsufficientCapacity> for KeyedError {
    fn from(e: InsufficientCapacity) -> Self {
        Self::Capacity(e)
    }
}

/// A denial from [`KeyedLimiter::check`]: limited, or no room for a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The key's limit: retry after the exact wait.
    Limited(NotUntil),
    /// No room for the key: as [`KeyedError::Full`].
    Full(Option<Duration>),
}

impl Denied {
    /// When to retry, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Limited(n) => Some(n.retry_after()),
            Self::Full(w) => *w,
        }
    }
}

/// How a map's entries come to rest: the limits the front type applies.
trait Rest<SK, V> {
    /// Whether the entry decides like a fresh one at `now`.
    fn at_rest(&self, key: &SK, value: &V, now: Instant) -> bool;
    /// When it comes to rest, or `None` if only a release can bring it there.
    fn rest_at(&self, key: &SK, value: &V, now: Instant) -> Option<Instant>;
}

/// How a value is kept in the [flat table](flat): in a form that leaves a niche for an empty
/// slot, so that `Option<(key, packed)>` is no larger than the pair.
trait Pack: Sized {
    type Packed: core::fmt::Debug;
    fn pack(self) -> Self::Packed;
    fn read<R>(packed: &Self::Packed, f: impl FnOnce(&Self) -> R) -> R;
    fn update<R>(packed: &mut Self::Packed, f: impl FnOnce(&mut Self) -> R) -> R;
}

/// A held GCRA state is never fresh (`tat` 0), so its `tat` is a `NonZeroU64`: a new key is
/// kept only when its decision leaves it not at rest (`tat > now ≥ 0`), and no decision moves
/// `tat` back (an admission sets it to `max(tat, now) + cost·T`, cost and `T` at least 1).
impl Pack for GcraState {
    type Packed = NonZeroU64;

    #[inline]
    fn pack(self) -> NonZeroU64 {
        debug_assert_ne!(self.to_raw(), 0, "a held GCRA state is never fresh");
        NonZeroU64::new(self.to_raw()).unwrap_or(NonZeroU64::MIN)
    }

    #[inline]
    fn read<R>(packed: &NonZeroU64, f: impl FnOnce(&Self) -> R) -> R {
        f(&Self::from_raw(packed.get()))
    }

    #[inline]
    fn update<R>(packed: &mut NonZeroU64, f: impl FnOnce(&mut Self) -> R) -> R {
        let mut state = Self::from_raw(packed.get());
        let r = f(&mut state);
        *packed = state.pack();
        r
    }
}

/// A policy's states are a boxed slice: never in the flat table (see [`Table::new`]), kept as
/// they are.
impl Pack for Box<[LimitState]> {
    type Packed = Self;

    fn pack(self) -> Self {
        self
    }

    fn read<R>(packed: &Self, f: impl FnOnce(&Self) -> R) -> R {
        f(packed)
    }

    fn update<R>(packed: &mut Self, f: impl FnOnce(&mut Self) -> R) -> R {
        f(packed)
    }
}

/// A shard's entries: the [flat table](flat) for small plain entries (a `u64` key and a GCRA
/// state: one cache miss per lookup), hashbrown's for the rest (its tags spare a key that owns
/// heap memory, a `String`, a pointer chase per slot probed). Slots are numbered for the sweep
/// and for eviction; removing from the flat table can move another entry into the slot.
#[derive(Debug)]
enum Table<K, V: Pack> {
    Hashed(HashTable<(K, V)>),
    Flat(Flat<(K, V::Packed)>),
}

impl<K, V: Pack> Table<K, V> {
    /// The flat table when a packed entry takes at most a quarter of a cache line and its key
    /// owns no heap memory (comparing it reads only the slot); hashbrown's otherwise.
    fn new() -> Self {
        if !std::mem::needs_drop::<K>() && size_of::<Option<(K, V::Packed)>>() * flat::SLOTS <= 64 {
            Self::Flat(Flat::default())
        } else {
            Self::Hashed(HashTable::new())
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Hashed(t) => t.len(),
            Self::Flat(t) => t.len(),
        }
    }

    /// Slots, held or empty.
    fn slots(&self) -> usize {
        match self {
            Self::Hashed(t) => t.num_buckets(),
            Self::Flat(t) => t.slots(),
        }
    }

    /// Runs `f` at `now` on the value of the entry `is` finds, or gives `f` back.
    #[inline]
    fn update<R, F: FnOnce(&mut V, Instant) -> R>(
        &mut self,
        hash: u64,
        is: impl Fn(&K) -> bool,
        now: Instant,
        f: F,
    ) -> Result<R, F> {
        match self {
            Self::Hashed(t) => match t.find_mut(hash, |(k, _)| is(k)) {
                Some((_, v)) => Ok(f(v, now)),
                None => Err(f),
            },
            Self::Flat(t) => match t.find(hash, |(k, _)| is(k)).and_then(|i| t.get_mut(i)) {
                Some((_, p)) => Ok(V::update(p, |v| f(v, now))),
                None => Err(f),
            },
        }
    }

    /// Runs `f` on the entry `is` finds, if any, and removes the entry if `f` says so; whether
    /// it did goes with `f`'s result.
    fn update_or_remove<R>(
        &mut self,
        hash: u64,
        is: impl Fn(&K) -> bool,
        f: impl FnOnce(&K, &mut V) -> (R, bool),
        rehash: impl Fn(&K) -> u64,
    ) -> Option<(R, bool)> {
        match self {
            Self::Hashed(t) => {
                let mut entry = t.find_entry(hash, |(k, _)| is(k)).ok()?;
                let (k, v) = entry.get_mut();
                let (r, remove) = f(k, v);
                if remove {
                    entry.remove();
                }
                Some((r, remove))
            }
            Self::Flat(t) => {
                let i = t.find(hash, |(k, _)| is(k))?;
                let (k, p) = t.get_mut(i)?;
                let (r, remove) = V::update(p, |v| f(k, v));
                if remove {
                    t.remove(i, |(k, _)| rehash(k));
                }
                Some((r, remove))
            }
        }
    }

    /// Runs `f` on the value of the entry `is` finds, if any.
    fn get<R>(&self, hash: u64, is: impl Fn(&K) -> bool, f: impl FnOnce(&V) -> R) -> Option<R> {
        match self {
            Self::Hashed(t) => t.find(hash, |(k, _)| is(k)).map(|(_, v)| f(v)),
            Self::Flat(t) => {
                let (_, p) = t.get(t.find(hash, |(k, _)| is(k))?)?;
                Some(V::read(p, f))
            }
        }
    }

    /// Removes the entry `is` finds; whether there was one.
    fn remove(&mut self, hash: u64, is: impl Fn(&K) -> bool, rehash: impl Fn(&K) -> u64) -> bool {
        self.update_or_remove(hash, is, |_, _| ((), true), rehash)
            .is_some()
    }

    /// Inserts an entry whose key is not in the table.
    fn insert(&mut self, hash: u64, key: K, value: V, rehash: impl Fn(&K) -> u64) {
        match self {
            Self::Hashed(t) => {
                t.insert_unique(hash, (key, value), |(k, _)| rehash(k));
            }
            Self::Flat(t) => {
                t.insert(hash, (key, value.pack()), |(k, _)| rehash(k));
            }
        }
    }

    /// Runs `f` on the entry in slot `i`, if any.
    fn at<R>(&self, i: usize, f: impl FnOnce(&K, &V) -> R) -> Option<R> {
        match self {
            Self::Hashed(t) => t.get_bucket(i).map(|(k, v)| f(k, v)),
            Self::Flat(t) => t.get(i).map(|(k, p)| V::read(p, |v| f(k, v))),
        }
    }

    /// Removes the entry in slot `i`; whether there was one.
    fn remove_at(&mut self, i: usize, rehash: impl Fn(&K) -> u64) -> bool {
        match self {
            Self::Hashed(t) => t.get_bucket_entry(i).map(|e| e.remove()).is_ok(),
            Self::Flat(t) => t.remove(i, |(k, _)| rehash(k)).is_some(),
        }
    }

    /// Removes every entry `keep` refuses.
    fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool, rehash: impl Fn(&K) -> u64) {
        match self {
            Self::Hashed(t) => t.retain(|(k, v)| keep(k, v)),
            Self::Flat(t) => {
                t.retain(|(k, p)| V::read(p, |v| keep(k, v)), |(k, _)| rehash(k));
            }
        }
    }
}

/// A shard on a cache line of its own, so that threads on different shards never share one.
#[repr(align(64))]
#[derive(Debug)]
struct Padded<T>(T);

type Locked<SK, V> = Padded<Mutex<Shard<SK, V>>>;

#[derive(Debug)]
struct Shard<SK, V: Pack> {
    table: Table<SK, V>,
    /// The next slot the sweep visits.
    cursor: usize,
    /// Under [`Overflow::Deny`], a full shard refuses new keys without rescanning until then.
    quiet_until: Instant,
    /// The latest instant at which entries at rest were removed (see [`Shard::fresh`]).
    latest: Instant,
}

/// The sharded map under both keyed types.
#[derive(Debug)]
struct Map<SK, V: Pack, S> {
    shards: Box<[Locked<SK, V>]>,
    hasher: S,
    /// The most keys a shard holds (`usize::MAX`: unbounded).
    per_shard: AtomicUsize,
    /// Whether a full shard evicts ([`Overflow::EvictLeastLoss`]) rather than refuses.
    evicts: AtomicBool,
}

impl<SK: Hash, V: Pack, S: BuildHasher> Map<SK, V, S> {
    fn new(hasher: S) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        table: Table::new(),
                        cursor: 0,
                        quiet_until: Instant::from_ticks(0),
                        latest: Instant::from_ticks(0),
                    }))
                })
                .collect(),
            hasher,
            per_shard: AtomicUsize::new(usize::MAX),
            evicts: AtomicBool::new(false),
        }
    }

    fn bound(&self, max_keys: usize, overflow: Overflow) {
        self.per_shard
            .store((max_keys / SHARDS).max(1), Ordering::Relaxed);
        self.evicts.store(
            matches!(overflow, Overflow::EvictLeastLoss),
            Ordering::Relaxed,
        );
    }

    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of `hash`, from bits 40 to 45: bits hashbrown uses for neither the bucket (low
    /// bits) nor the tag (top seven), and that only turn the flat table round (see
    /// `Flat::home_bucket`).
    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<SK, V>> {
        let i = usize::try_from(hash >> 40).unwrap_or(0) % SHARDS;
        let shard = &self.shards[i].0;
        // The critical sections below only run the core's decisions, which do not panic, and
        // the tables' operations, which leave them whole: a poisoned shard is intact. (The flat
        // table hashes keys again when it removes and grows, so a key type whose `Hash` panics
        // could leave it cut; its keys are plain values, `u64` and the like, whose hashes
        // do not panic under any std or foldhash hasher.)
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides with `f` at the shard's time on the entry `is` finds, or on a new entry from
    /// `make`, which is kept (making room for it first) only when it is not at rest afterwards:
    /// a new key that is denied, or asks for nothing, takes no place and evicts nothing.
    #[inline]
    fn with<R>(
        &self,
        hash: u64,
        now: Instant,
        rest: &impl Rest<SK, V>,
        is: impl Fn(&SK) -> bool,
        make: impl FnOnce() -> (SK, V),
        f: impl FnOnce(&mut V, Instant) -> R,
    ) -> Result<R, KeyedError> {
        let mut shard = self.shard(hash);
        let f = match shard.table.update(hash, is, now, f) {
            Ok(r) => return Ok(r),
            Err(f) => f,
        };
        let now = shard.fresh(now);
        let (key, mut value) = make();
        let r = f(&mut value, now);
        if rest.at_rest(&key, &value, now) {
            return Ok(r);
        }
        let rehash = |k: &SK| self.hasher.hash_one(k);
        shard.sweep(SWEEP, rest, now, &rehash);
        let max = self.per_shard.load(Ordering::Relaxed);
        if shard.table.len() >= max {
            // The new entry was never published: refusing it now charges nothing.
            let overflow = if self.evicts.load(Ordering::Relaxed) {
                Overflow::EvictLeastLoss
            } else {
                Overflow::Deny
            };
            shard.make_room(max, overflow, rest, now, &rehash)?;
        }
        shard.table.insert(hash, key, value, rehash);
        Ok(r)
    }

    /// Runs `f` on the entry `is` finds, if any; drops it if `f` leaves it at rest.
    fn existing<R>(
        &self,
        hash: u64,
        now: Instant,
        rest: &impl Rest<SK, V>,
        is: impl Fn(&SK) -> bool,
        f: impl FnOnce(&mut V) -> R,
    ) -> Option<R> {
        let mut shard = self.shard(hash);
        // A full shard refusing new keys until `quiet_until` (when its first entry comes to
        // rest, under `Overflow::Deny`) must hear of an entry that `f` brought closer to rest
        // (a release), as the core's table keeps its bound a bound.
        let quiet = shard.quiet_until > now;
        let ((r, rest_at), removed) = shard.table.update_or_remove(
            hash,
            is,
            |key, value| {
                let r = f(value);
                let at_rest = rest.at_rest(key, value, now);
                let rest_at = (quiet && !at_rest)
                    .then(|| rest.rest_at(key, value, now))
                    .flatten();
                ((r, rest_at), at_rest)
            },
            |k| self.hasher.hash_one(k),
        )?;
        if removed {
            shard.removed(now);
            // A place freed sooner than the shard expected.
            shard.quiet_until = Instant::from_ticks(0);
        } else if let Some(at) = rest_at {
            shard.quiet_until = shard.quiet_until.min(at);
        }
        Some(r)
    }

    /// Runs `f` on the entry `is` finds, if any, changing nothing.
    fn get<R>(&self, hash: u64, is: impl Fn(&SK) -> bool, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.shard(hash).table.get(hash, is, f)
    }

    /// Removes the entry `is` finds; whether there was one.
    fn remove(&self, hash: u64, is: impl Fn(&SK) -> bool) -> bool {
        let mut shard = self.shard(hash);
        let removed = shard.table.remove(hash, is, |k| self.hasher.hash_one(k));
        if removed {
            shard.quiet_until = Instant::from_ticks(0);
        }
        removed
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.0.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .table
                    .len()
            })
            .sum()
    }

    fn drop_idle(&self, visits: usize, rest: &impl Rest<SK, V>, now: Instant) -> usize {
        let rehash = |k: &SK| self.hasher.hash_one(k);
        self.shards
            .iter()
            .map(|s| {
                let mut shard = s.0.lock().unwrap_or_else(PoisonError::into_inner);
                let before = shard.table.len();
                shard.sweep(visits, rest, now, &rehash);
                before - shard.table.len()
            })
            .sum()
    }
}

impl<SK, V: Pack> Shard<SK, V> {
    /// The instant to decide a new key at, for a caller that read `now`: never before the
    /// latest removal in this shard. A thread delayed between reading the clock and taking the
    /// lock could otherwise decide on a fresh state at an instant before another thread dropped
    /// the key as at rest: a state at rest then is not fresh before then, and the two admissions
    /// could be more than the core would make. At the removal's instant or later, the dropped
    /// state and a fresh one decide alike.
    fn fresh(&self, now: Instant) -> Instant {
        now.max(self.latest)
    }

    /// Notes that entries at rest at `now` were removed.
    fn removed(&mut self, now: Instant) {
        self.latest = self.latest.max(now);
    }

    /// Visits the next `visits` slots and removes the entries at rest there.
    fn sweep(
        &mut self,
        visits: usize,
        rest: &impl Rest<SK, V>,
        now: Instant,
        rehash: &impl Fn(&SK) -> u64,
    ) {
        let slots = self.table.slots();
        if slots == 0 || self.table.len() == 0 {
            return;
        }
        for _ in 0..visits.min(slots) {
            let i = self.cursor % slots;
            self.cursor = i + 1;
            // Removing from the flat table can move a later entry into `i`: look again.
            while self.table.at(i, |k, v| rest.at_rest(k, v, now)) == Some(true) {
                self.table.remove_at(i, rehash);
                self.removed(now);
            }
        }
    }

    /// Makes room for one new entry in a shard holding `max`, or says when there will be some.
    fn make_room(
        &mut self,
        max: usize,
        overflow: Overflow,
        rest: &impl Rest<SK, V>,
        now: Instant,
        rehash: &impl Fn(&SK) -> u64,
    ) -> Result<(), KeyedError> {
        if now < self.quiet_until {
            return Err(KeyedError::Full {
                retry_after: Some(self.quiet_until - now),
            });
        }
        self.table.retain(|k, v| !rest.at_rest(k, v, now), rehash);
        self.removed(now);
        while self.table.len() >= max {
            // Every entry is active: the first to come to rest, and where it is.
            let mut first: Option<(usize, Instant)> = None;
            for i in 0..self.table.slots() {
                if let Some(Some(at)) = self.table.at(i, |k, v| rest.rest_at(k, v, now))
                    && first.is_none_or(|(_, f)| at < f)
                {
                    first = Some((i, at));
                }
            }
            match (overflow, first) {
                (Overflow::EvictLeastLoss, Some((i, at))) => {
                    // The scan just found it: a miss is unreachable, but never loop on it.
                    if !self.table.remove_at(i, rehash) {
                        return Err(KeyedError::Full {
                            retry_after: Some(at - now),
                        });
                    }
                }
                (_, first) => {
                    let at = first.map(|(_, at)| at);
                    if let Some(at) = at {
                        self.quiet_until = at;
                    }
                    return Err(KeyedError::Full {
                        retry_after: at.map(|at| at - now),
                    });
                }
            }
        }
        Ok(())
    }
}

/// One GCRA limit per key, a `u64` of state per key: see the [module docs](self).
///
/// # Examples
///
/// One message per second per phone number, with a burst of 2:
///
/// ```
/// use compact_str::CompactString;
/// use tollgate_std::keyed::KeyedLimiter;
/// use tollgate_std::Quota;
///
/// let per_number = KeyedLimiter::<CompactString>::new(Quota::per_second(1)?.with_burst(2)?);
/// assert!(per_number.check("+14155550100").is_ok());
/// assert!(per_number.check("+14155550100").is_ok());
/// assert!(per_number.check("+14155550100").is_err()); // this number waits
/// assert!(per_number.check("+442071838750").is_ok()); // another does not
/// assert_eq!(per_number.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KeyedLimiter<K, C = StdClock, S = RandomState> {
    gcra: Gcra<HZ>,
    map: Map<K, GcraState, S>,
    clock: C,
}

impl<K> Rest<K, GcraState> for Gcra<HZ> {
    #[inline]
    fn at_rest(&self, _: &K, state: &GcraState, now: Instant) -> bool {
        self.is_at_rest(state, now)
    }

    fn rest_at(&self, _: &K, state: &GcraState, now: Instant) -> Option<Instant> {
        comes_to_rest(self, state, now)
    }
}

impl<K: Hash + Eq> KeyedLimiter<K, StdClock> {
    /// A limit of `quota` per key, on the default clock, keys unbounded.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, StdClock::new())
    }
}

impl<K: Hash + Eq, C: Clock<HZ>> KeyedLimiter<K, C> {
    /// A limit of `quota` per key on `clock`, keys unbounded.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self::with_hasher(quota, clock, RandomState::default())
    }
}

impl<K: Hash + Eq, C: Clock<HZ>, S: BuildHasher> KeyedLimiter<K, C, S> {
    /// A limit of `quota` per key on `clock`, keys hashed by `hasher`.
    ///
    /// The default, foldhash seeded per map, is fast and resists casual collisions; for keys an
    /// attacker chooses freely where that is not enough, std's SipHash
    /// (`std::collections::hash_map::RandomState`, governor's default) costs about 10 ns more per
    /// decision.
    pub fn with_hasher(quota: Quota, clock: C, hasher: S) -> Self {
        Self {
            gcra: Gcra::new(quota),
            map: Map::new(hasher),
            clock,
        }
    }

    /// Bounds the keys held to about `max_keys` (each shard holds `max_keys / SHARDS`, at least
    /// one); a new key beyond it is refused or evicts, as `overflow` says. The bound is per
    /// shard, so it binds a little before `max_keys` when keys spread unevenly, and coarsely for
    /// small bounds (below a few hundred keys prefer the core's `KeyTable`). Making room scans
    /// the full shard under its lock: about `max_keys / 64` entries.
    #[must_use]
    pub fn with_max_keys(self, max_keys: usize, overflow: Overflow) -> Self {
        self.map.bound(max_keys, overflow);
        self
    }

    /// The per-key limit.
    pub const fn gcra(&self) -> &Gcra<HZ> {
        &self.gcra
    }

    /// The clock.
    pub const fn clock(&self) -> &C {
        &self.clock
    }

    /// How many keys are held (idle ones not yet swept included). Locks every shard in turn.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits one request for `key` now, or says how long to wait: the fastest path, as
    /// `governor`'s `check_key`.
    ///
    /// # Errors
    ///
    /// [`Denied`] with the exact wait, or when the key is new and there is no room for it.
    #[inline]
    pub fn check<Q>(&self, key: &Q) -> Result<(), Denied>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        self.check_at(key, self.clock.now())
    }

    /// [`check`](Self::check) at `now`.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    #[inline]
    pub fn check_at<Q>(&self, key: &Q, now: Instant) -> Result<(), Denied>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        let hash = self.map.hash(key);
        match self.map.with(
            hash,
            now,
            &self.gcra,
            |k| k.borrow() == key,
            || (key.to_key(), GcraState::new()),
            |state, now| self.gcra.try_acquire(state, now),
        ) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(wait)) => Err(Denied::Limited(wait.into())),
            Err(KeyedError::Full { retry_after }) => Err(Denied::Full(retry_after)),
            // The fast path asks for one unit, which every GCRA holds.
            Err(_) => Err(Denied::Full(None)),
        }
    }

    /// Decides a request of `cost` for `key` at `now`, with the full [`Decision`].
    ///
    /// # Errors
    ///
    /// [`KeyedError::Capacity`] when `cost` exceeds the burst, [`KeyedError::Full`] when the key
    /// is new and there is no room for it.
    pub fn decide_at<Q>(&self, key: &Q, now: Instant, cost: u32) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        let hash = self.map.hash(key);
        self.map
            .with(
                hash,
                now,
                &self.gcra,
                |k| k.borrow() == key,
                || (key.to_key(), GcraState::new()),
                |state, now| self.gcra.check(state, now, cost),
            )?
            .map_err(KeyedError::from)
    }

    /// [`decide_at`](Self::decide_at) now.
    ///
    /// # Errors
    ///
    /// As [`decide_at`](Self::decide_at).
    pub fn decide<Q>(&self, key: &Q, cost: u32) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        self.decide_at(key, self.clock.now(), cost)
    }

    /// What [`decide`](Self::decide) would say now for `key`, recording nothing and holding no
    /// new key.
    ///
    /// # Errors
    ///
    /// [`KeyedError::Capacity`] when `cost` exceeds the burst.
    pub fn peek<Q>(&self, key: &Q, cost: u32) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let hash = self.map.hash(key);
        self.map
            .get(
                hash,
                |k| k.borrow() == key,
                |s| self.gcra.peek(s, now, cost),
            )
            .unwrap_or_else(|| self.gcra.peek(&GcraState::new(), now, cost))
            .map_err(KeyedError::from)
    }

    /// Forgets `key`: its next request is decided from a fresh state, which can admit a whole
    /// burst at once (an operator's reset, or a key known not to come back). Whether it was held.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.map.hash(key);
        self.map.remove(hash, |k| k.borrow() == key)
    }

    /// Drops idle keys: visits `visits` slots (held or empty) in each shard, from where the
    /// last visit stopped, a shard locked at a time, and returns how many keys it dropped. For a janitor thread; insertions sweep a little anyway.
    pub fn drop_idle(&self, visits: usize) -> usize {
        self.map.drop_idle(visits, &self.gcra, self.clock.now())
    }

    /// Blocks the thread until a request of `cost` for `key` is admitted (a full map counts as
    /// a wait until room frees up).
    ///
    /// # Errors
    ///
    /// [`KeyedError::Capacity`] at once when `cost` exceeds the burst.
    pub fn wait<Q>(&self, key: &Q, cost: u32) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        self.wait_with_jitter(key, cost, Jitter::NONE)
    }

    /// [`wait`](Self::wait) with each pause lengthened by up to `jitter`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_with_jitter<Q>(
        &self,
        key: &Q,
        cost: u32,
        jitter: Jitter,
    ) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        wait::block_on(jitter, || self.attempt(key, cost))
    }

    /// Waits on tokio's timer until a request of `cost` for `key` is admitted. Cancellation
    /// safe: nothing is taken until then.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub async fn until_ready<Q>(&self, key: &Q, cost: u32) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        self.until_ready_with_jitter(key, cost, Jitter::NONE).await
    }

    /// [`until_ready`](Self::until_ready) with each pause lengthened by up to `jitter`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub async fn until_ready_with_jitter<Q>(
        &self,
        key: &Q,
        cost: u32,
        jitter: Jitter,
    ) -> Result<Decision, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        wait::until(jitter, || self.attempt(key, cost)).await
    }

    fn attempt<Q>(&self, key: &Q, cost: u32) -> Result<Attempt<Decision>, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        match self.decide(key, cost) {
            Ok(d) if d.is_allowed() => Ok(Attempt::Admitted(d)),
            Ok(d) => Ok(Attempt::Denied(d.retry_after)),
            Err(KeyedError::Full { retry_after }) => Ok(Attempt::Denied(retry_after)),
            Err(e) => Err(e),
        }
    }
}

/// A tier's index in a [`KeyedPolicy`].
pub type TierId = usize;

/// A policy of several limits per key, chosen per key from tiers (plans): see the
/// [module docs](self).
///
/// A key is held per tier: when a key's tier changes (a plan upgrade), its requests are counted
/// from then on by the new tier's limits, from rest, and its old entry comes to rest and is
/// dropped.
///
/// Cheap to clone: clones share the limits and the keys.
///
/// # Examples
///
/// ```
/// use tollgate_core::Named;
/// use tollgate_std::keyed::KeyedPolicy;
/// use tollgate_std::{Duration, Limit, Quota};
///
/// let gcra = |n, secs| Limit::Gcra(tollgate_core::Gcra::new(Quota::new(n, Duration::from_secs(secs)).unwrap()));
/// let policy = KeyedPolicy::<String>::with_tiers(vec![
///     ("free".into(), vec![Named::new("minute".into(), gcra(30, 60)), Named::new("day".into(), gcra(2_000, 86_400))]),
///     ("agency".into(), vec![Named::new("minute".into(), gcra(2_000, 60)), Named::new("day".into(), Limit::Unlimited)]),
/// ]);
/// let free = policy.tier("free").unwrap();
/// let (d, _permit) = policy.check(free, "acct-1", 30)?;
/// assert!(d.is_allowed());
/// let (d, _permit) = policy.check(free, "acct-1", 1)?;
/// assert_eq!(d.limit_exceeded(), Some("minute"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KeyedPolicy<K, C = StdClock, S = RandomState> {
    shared: Arc<KeyedShared<K, C, S>>,
}

impl<K, C, S> Clone for KeyedPolicy<K, C, S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct KeyedShared<K, C, S> {
    tiers: Tiers,
    map: Map<(TierId, K), Box<[LimitState]>, S>,
    clock: C,
}

#[derive(Debug)]
struct Tiers {
    names: Box<[String]>,
    rules: Box<[Rules]>,
}

impl Tiers {
    fn rules(&self, tier: TierId) -> Option<&Rules> {
        self.rules.get(tier)
    }
}

impl<K> Rest<(TierId, K), Box<[LimitState]>> for Tiers {
    fn at_rest(&self, key: &(TierId, K), state: &Box<[LimitState]>, now: Instant) -> bool {
        self.rules(key.0).is_none_or(|r| r.is_at_rest(state, now))
    }

    fn rest_at(
        &self,
        key: &(TierId, K),
        state: &Box<[LimitState]>,
        now: Instant,
    ) -> Option<Instant> {
        let rules = self.rules(key.0)?;
        rules
            .limits()
            .iter()
            .zip(state.iter())
            .try_fold(now, |latest, (l, s)| {
                comes_to_rest(l.algorithm(), s, now).map(|at| at.max(latest))
            })
    }
}

impl<K: Hash + Eq> KeyedPolicy<K, StdClock> {
    /// One policy for every key (a single tier, [`TierId`] 0, named `"default"`).
    pub fn new(limits: Vec<Named<Limit, String>>) -> Self {
        Self::with_tiers(vec![("default".to_owned(), limits)])
    }

    /// The policies of a policy file: its top-level limits as the tier
    /// [`DEFAULT_TIER`](crate::config::DEFAULT_TIER) (when it has any), then its tiers in file
    /// order.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_std::config::PolicyFile;
    /// use tollgate_std::keyed::KeyedPolicy;
    ///
    /// let file = PolicyFile::load(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policies/001-plan-tiers.toml"))?;
    /// let plans = KeyedPolicy::<String>::from_file(&file);
    /// let free = plans.tier("free").unwrap();
    /// for _ in 0..30 {
    ///     assert!(plans.check(free, "acct-1", 1)?.0.is_allowed());
    /// }
    /// assert_eq!(plans.check(free, "acct-1", 1)?.0.limit_exceeded(), Some("minute"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_file(file: &crate::config::PolicyFile) -> Self {
        let default =
            (!file.limits.is_empty()).then(|| ("default".to_owned(), file.limits.clone()));
        let tiers = file
            .tiers
            .iter()
            .map(|t| (t.name.clone(), t.limits.clone()));
        Self::with_tiers(default.into_iter().chain(tiers).collect())
    }

    /// A policy per tier, on the default clock.
    pub fn with_tiers(tiers: Vec<(String, Vec<Named<Limit, String>>)>) -> Self {
        Self::with_clock(tiers, StdClock::new())
    }
}

impl<K: Hash + Eq, C: Clock<HZ>> KeyedPolicy<K, C> {
    /// A policy per tier on `clock`, keys unbounded.
    pub fn with_clock(tiers: Vec<(String, Vec<Named<Limit, String>>)>, clock: C) -> Self {
        Self::with_hasher(tiers, clock, RandomState::default())
    }
}

impl<K: Hash + Eq, C: Clock<HZ>, S: BuildHasher> KeyedPolicy<K, C, S> {
    /// A policy per tier on `clock`, keys hashed by `hasher` (see
    /// [`KeyedLimiter::with_hasher`]).
    pub fn with_hasher(
        tiers: Vec<(String, Vec<Named<Limit, String>>)>,
        clock: C,
        hasher: S,
    ) -> Self {
        let (names, rules): (Vec<_>, Vec<_>) =
            tiers.into_iter().map(|(n, l)| (n, Rules::new(l))).unzip();
        Self {
            shared: Arc::new(KeyedShared {
                tiers: Tiers {
                    names: names.into_boxed_slice(),
                    rules: rules.into_boxed_slice(),
                },
                map: Map::new(hasher),
                clock,
            }),
        }
    }

    /// Bounds the keys held, as [`KeyedLimiter::with_max_keys`] (for every clone: they share
    /// the keys).
    #[must_use]
    pub fn with_max_keys(self, max_keys: usize, overflow: Overflow) -> Self {
        self.shared.map.bound(max_keys, overflow);
        self
    }

    /// Every tier's name, in [`TierId`] order (the file's top-level limits first, as
    /// [`config::DEFAULT_TIER`](crate::config::DEFAULT_TIER), when it has some).
    pub fn tier_names(&self) -> Vec<&str> {
        self.shared.tiers.names.iter().map(String::as_str).collect()
    }

    /// The tier named `name`.
    pub fn tier(&self, name: &str) -> Option<TierId> {
        self.shared.tiers.names.iter().position(|n| n == name)
    }

    /// A tier's limits.
    pub fn limits(&self, tier: TierId) -> Option<&[Named<Limit, String>]> {
        self.shared.tiers.rules(tier).map(Rules::limits)
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.shared.clock
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.shared.map.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides a request of `cost` for `key` in `tier` now. When admitted, the permit holds its
    /// place in the key's concurrency limits until dropped.
    ///
    /// # Errors
    ///
    /// [`KeyedError::UnknownTier`], [`KeyedError::Capacity`] when `cost` exceeds a limit's
    /// capacity, [`KeyedError::Full`] when the key is new and there is no room for it.
    pub fn check<Q>(
        &self,
        tier: TierId,
        key: &Q,
        cost: u32,
    ) -> Result<(Decided<'_>, KeyPermit<K, C, S>), KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        self.check_at(tier, key, self.shared.clock.now(), cost, &Overrides::NONE)
    }

    /// [`check`](Self::check) at `now` with test-header overrides.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn check_at<Q>(
        &self,
        tier: TierId,
        key: &Q,
        now: Instant,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<(Decided<'_>, KeyPermit<K, C, S>), KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        let shared = &*self.shared;
        let rules = shared.tiers.rules(tier).ok_or(KeyedError::UnknownTier)?;
        let hash = shared.map.hash(&(tier, key));
        let decided = shared.map.with(
            hash,
            now,
            &shared.tiers,
            |(t, k)| *t == tier && k.borrow() == key,
            || ((tier, key.to_key()), rules.new_state()),
            |state, now| rules.decide(state, now, cost, overrides, true),
        )??;
        let permit = KeyPermit {
            held: (decided.is_allowed() && cost > 0 && rules.holds())
                .then(|| (self.clone(), tier, key.to_key())),
            cost,
        };
        Ok((decided, permit))
    }

    /// What [`check_at`](Self::check_at) would say for `key` in `tier` at `now`, taking nothing
    /// (a key not held is looked at as a fresh one).
    ///
    /// # Errors
    ///
    /// [`KeyedError::UnknownTier`], [`KeyedError::Capacity`] when `cost` exceeds a limit's
    /// capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::Overrides;
    /// use tollgate_std::config::PolicyFile;
    /// use tollgate_std::{Instant, KeyedPolicy};
    ///
    /// let file: PolicyFile = "[[limit]]\nname = \"second\"\nalgorithm = \"gcra\"\nlimit = 2\nwindow = \"1s\"\n".parse()?;
    /// let policy = KeyedPolicy::<String>::from_file(&file);
    /// let tier = policy.tier("default").unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let (_, _) = policy.check_at(tier, "acct-1", t0, 1, &Overrides::NONE)?;
    /// let seen = policy.peek_at(tier, "acct-1", t0, 1)?;
    /// assert_eq!(seen.decision().remaining, 0); // the second request would take the last
    /// assert_eq!(policy.peek_at(tier, "acct-2", t0, 1)?.decision().remaining, 1);
    /// assert!(policy.peek_at(tier, "acct-1", t0, 3).is_err()); // never fits
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peek_at<Q>(
        &self,
        tier: TierId,
        key: &Q,
        now: Instant,
        cost: u32,
    ) -> Result<Decided<'_>, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shared = &*self.shared;
        let rules = shared.tiers.rules(tier).ok_or(KeyedError::UnknownTier)?;
        let hash = shared.map.hash(&(tier, key));
        let seen = shared.map.get(
            hash,
            |(t, k)| *t == tier && k.borrow() == key,
            |state| rules.peek(state, now, cost, &Overrides::NONE),
        );
        Ok(match seen {
            Some(d) => d?,
            None => rules.peek(&rules.new_state(), now, cost, &Overrides::NONE)?,
        })
    }

    /// Ends `cost` requests in flight for `key` in `tier` (after [`KeyPermit::forget`]).
    ///
    /// # Errors
    ///
    /// [`KeyedError::Release`] when the key holds fewer (or is not held, or its tier has no
    /// concurrency limit, so nothing is ever in flight); nothing changes then.
    pub fn release<Q>(&self, tier: TierId, key: &Q, cost: u32) -> Result<(), KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shared = &*self.shared;
        let rules = shared.tiers.rules(tier).ok_or(KeyedError::UnknownTier)?;
        let none_in_flight = ReleaseError {
            released: cost,
            in_flight: 0,
        };
        // Whether the key is held or not, as the answer must not depend on that.
        if !rules.holds() {
            return Err(KeyedError::Release(none_in_flight));
        }
        let hash = shared.map.hash(&(tier, key));
        let now = shared.clock.now();
        shared
            .map
            .existing(
                hash,
                now,
                &shared.tiers,
                |(t, k)| *t == tier && k.borrow() == key,
                |state| rules.release(state, cost),
            )
            .unwrap_or(Err(none_in_flight))
            .map_err(KeyedError::Release)
    }

    /// Blocks the thread until a request of `cost` for `key` in `tier` is admitted. A denial by a
    /// concurrency limit is retried every [`IDLE_POLL`](crate::IDLE_POLL) (a keyed release wakes
    /// no one); a full map counts as a wait until room frees up.
    ///
    /// A shaper admits with a delay ([`Decided::delay`]): the request's turn is that long after
    /// this returns, and the caller sleeps it before going on (the async waiter leaves it to the
    /// caller too).
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check), except [`KeyedError::Full`].
    pub fn wait<Q>(
        &self,
        tier: TierId,
        key: &Q,
        cost: u32,
    ) -> Result<(Decided<'_>, KeyPermit<K, C, S>), KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        wait::block_on(Jitter::NONE, || self.attempt(tier, key, cost))
    }

    /// Waits on tokio's timer until a request of `cost` for `key` in `tier` is admitted, as
    /// [`wait`](Self::wait). Cancellation safe: nothing is taken until then.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub async fn until_ready<Q>(
        &self,
        tier: TierId,
        key: &Q,
        cost: u32,
    ) -> Result<(Decided<'_>, KeyPermit<K, C, S>), KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        wait::until(Jitter::NONE, || self.attempt(tier, key, cost)).await
    }

    #[allow(
        clippy::type_complexity,
        reason = "the decision and its permit, as check gives them"
    )]
    fn attempt<Q>(
        &self,
        tier: TierId,
        key: &Q,
        cost: u32,
    ) -> Result<Attempt<(Decided<'_>, KeyPermit<K, C, S>)>, KeyedError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToKey<K> + ?Sized,
    {
        match self.check(tier, key, cost) {
            Ok((d, permit)) if d.is_allowed() => Ok(Attempt::Admitted((d, permit))),
            Ok((d, _)) => Ok(Attempt::Denied(crate::policy::wait_after(&d))),
            Err(KeyedError::Full { retry_after }) => Ok(Attempt::Denied(retry_after)),
            Err(e) => Err(e),
        }
    }

    /// Drops idle keys, as [`KeyedLimiter::drop_idle`].
    pub fn drop_idle(&self, visits: usize) -> usize {
        let shared = &*self.shared;
        shared
            .map
            .drop_idle(visits, &shared.tiers, shared.clock.now())
    }
}

/// An admitted request's place in its key's concurrency limits, released when dropped.
#[derive(Debug)]
#[must_use = "dropping the permit ends the request at once"]
pub struct KeyPermit<K: Hash + Eq, C: Clock<HZ> = StdClock, S: BuildHasher = RandomState> {
    held: Option<(KeyedPolicy<K, C, S>, TierId, K)>,
    cost: u32,
}

impl<K: Hash + Eq, C: Clock<HZ>, S: BuildHasher> KeyPermit<K, C, S> {
    /// Whether the permit holds requests in flight.
    pub const fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// Keeps the requests in flight past the permit; returns how many it held.
    pub fn forget(mut self) -> u32 {
        if self.held.take().is_some() {
            self.cost
        } else {
            0
        }
    }
}

impl<K: Hash + Eq, C: Clock<HZ>, S: BuildHasher> Drop for KeyPermit<K, C, S> {
    fn drop(&mut self) {
        if let Some((policy, tier, key)) = self.held.take() {
            // Admitted and not released since, unless the program released it by hand as well (a
            // bug of its own, caught in debug builds).
            let released = policy.release(tier, &key, self.cost);
            debug_assert!(released.is_ok(), "a permit released twice: {released:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShortKey;
    use crate::clock::FakeClock;
    use tollgate_core::Concurrency;

    fn at(ms: u64) -> Instant {
        Instant::from_ticks(ms * 1_000_000)
    }

    /// One per second, burst 1: a key comes to rest one second after its request.
    fn per_second(clock: &FakeClock) -> KeyedLimiter<u64, FakeClock> {
        KeyedLimiter::with_clock(Quota::per_second(1).unwrap(), clock.clone())
    }

    #[test]
    fn small_plain_keys_take_the_flat_table_and_the_rest_hashbrown() {
        assert!(matches!(Table::<u64, GcraState>::new(), Table::Flat(_)));
        assert!(matches!(Table::<u32, GcraState>::new(), Table::Flat(_)));
        // Too large for four to a line, or owning heap memory, or a policy's boxed states.
        assert!(matches!(
            Table::<ShortKey, GcraState>::new(),
            Table::Hashed(_)
        ));
        assert!(matches!(
            Table::<String, GcraState>::new(),
            Table::Hashed(_)
        ));
        assert!(matches!(
            Table::<(TierId, u64), Box<[LimitState]>>::new(),
            Table::Hashed(_)
        ));
    }

    #[test]
    fn idle_keys_are_swept_as_new_keys_arrive() {
        let clock = FakeClock::new();
        let keyed = per_second(&clock);
        for k in 0..10_000 {
            keyed.check_at(&k, at(0)).unwrap();
        }
        assert_eq!(keyed.len(), 10_000);
        // Two seconds later every key is at rest; new keys sweep the old ones away as they come.
        for k in 10_000..20_000 {
            keyed.check_at(&k, at(2_000)).unwrap();
        }
        assert!(keyed.len() < 15_000, "{} held", keyed.len());
        // A janitor pass drops the rest of the idle ones without touching the active.
        clock.set(at(2_500));
        keyed.drop_idle(usize::MAX);
        assert_eq!(keyed.len(), 10_000);
    }

    #[test]
    fn a_stale_reading_never_decides_a_dropped_key_before_it_was_dropped() {
        let clock = FakeClock::new();
        let keyed = per_second(&clock);
        keyed.check_at(&1, at(0)).unwrap();
        // Another thread drops the key as at rest at 1,001 ms...
        clock.set(at(1_001));
        assert_eq!(keyed.drop_idle(usize::MAX), 1);
        // ... while this one read 999 ms and waited for the lock: it is decided at 1,001 ms, as
        // the dropped state would have been, not at 999 ms on a fresh one.
        assert_eq!(keyed.check_at(&1, at(999)), Ok(()));
        let Err(Denied::Limited(wait)) = keyed.check_at(&1, at(1_500)) else {
            panic!("one per second");
        };
        assert_eq!(wait.retry_after().as_millis(), 501);
    }

    #[test]
    fn a_denied_new_key_is_not_kept() {
        let clock = FakeClock::new();
        let keyed = per_second(&clock);
        assert_eq!(
            keyed.decide_at(&1, at(0), 2),
            Err(KeyedError::Capacity(InsufficientCapacity::new(2, 1)))
        );
        assert!(keyed.is_empty());
    }

    #[test]
    fn a_full_map_refuses_new_keys_and_says_when_room_frees_up() {
        let clock = FakeClock::new();
        // One key per shard.
        let keyed = per_second(&clock).with_max_keys(SHARDS, Overflow::Deny);
        let mut refused = None;
        for k in 0..1_000u64 {
            match keyed.check_at(&k, at(k)) {
                Ok(()) => {}
                Err(Denied::Full(w)) => {
                    refused = Some((k, w));
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        let (k, wait) = refused.expect("some shard fills up");
        assert!(keyed.len() <= SHARDS);
        // The shard's key came to rest 1 s after its request, at most k ms ago.
        let wait = wait.unwrap();
        assert!(
            wait.as_ticks() <= 1_000_000_000 && wait.as_ticks() > 0,
            "{wait}"
        );
        // Once that entry is at rest, the new key gets its place.
        assert_eq!(keyed.check_at(&k, at(k) + wait), Ok(()));
    }

    #[test]
    fn a_full_map_evicts_the_entry_closest_to_rest() {
        let clock = FakeClock::new();
        let keyed = KeyedLimiter::<u64, _>::with_clock(
            Quota::per_second(1).unwrap().with_burst(5).unwrap(),
            clock.clone(),
        )
        .with_max_keys(2 * SHARDS, Overflow::EvictLeastLoss);
        // Find three keys of one shard: the first spends its whole burst (rest in 5 s), the
        // second one request (rest in 1 s); the third evicts the second.
        let shard_of = |k: &u64| (keyed.map.hash(k) >> 40) % SHARDS as u64;
        let mut same = (0u64..).filter(|k| shard_of(k) == shard_of(&0));
        let (a, b, c) = (
            same.next().unwrap(),
            same.next().unwrap(),
            same.next().unwrap(),
        );
        assert!(keyed.decide_at(&a, at(0), 5).unwrap().is_allowed());
        assert!(keyed.decide_at(&b, at(0), 1).unwrap().is_allowed());
        assert!(keyed.decide_at(&c, at(10), 1).unwrap().is_allowed());
        // b was evicted (it starts afresh: a full burst), a was kept (still denied).
        assert_eq!(
            keyed.decide_at(&b, at(20), 5).map(|d| d.is_allowed()),
            Ok(true)
        );
        assert!(!keyed.decide_at(&a, at(20), 1).unwrap().is_allowed());
    }

    #[test]
    fn requests_in_flight_are_never_evicted() {
        let clock = FakeClock::new();
        let policy = KeyedPolicy::<u64, _>::with_clock(
            vec![(
                "default".into(),
                vec![Named::new(
                    "concurrent".into(),
                    Limit::Concurrency(Concurrency::new(1).unwrap()),
                )],
            )],
            clock,
        )
        .with_max_keys(SHARDS, Overflow::EvictLeastLoss);
        let shard_of = |k: &u64| (policy.shared.map.hash(&(0usize, k)) >> 40) % SHARDS as u64;
        let mut same = (0u64..).filter(|k| shard_of(k) == shard_of(&0));
        let (a, b) = (same.next().unwrap(), same.next().unwrap());
        let (d, held) = policy.check(0, &a, 1).unwrap();
        assert!(d.is_allowed());
        // The shard holds one key, busy: nothing can be evicted, and only a release frees it.
        assert_eq!(
            policy.check(0, &b, 1).map(|_| ()),
            Err(KeyedError::Full { retry_after: None })
        );
        drop(held);
        assert!(policy.check(0, &b, 1).unwrap().0.is_allowed());
    }

    #[test]
    fn a_keyed_wait_sleeps_until_the_key_may_go() {
        let keyed =
            KeyedLimiter::<u64>::new(Quota::per_second(100).unwrap().with_burst(1).unwrap());
        keyed.check(&7).unwrap();
        let start = std::time::Instant::now();
        assert!(keyed.wait(&7, 1).unwrap().is_allowed());
        assert!(start.elapsed() >= std::time::Duration::from_millis(9));
        assert_eq!(
            keyed.wait(&7, 2),
            Err(KeyedError::Capacity(InsufficientCapacity::new(2, 1)))
        );
    }

    /// A `u64` that owns a `Drop`, so that its map keeps it in hashbrown's table: the same
    /// keys, hashes and shards as a plain `u64` in the flat table.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Boxed(u64);

    impl Hash for Boxed {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    impl Drop for Boxed {
        fn drop(&mut self) {}
    }

    #[derive(Debug, Clone)]
    enum Step {
        Decide(u64, u32),
        Remove(u64),
        Sweep(usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = (u64, Step)> {
        use proptest::prelude::*;
        let step = prop_oneof![
            20 => (0u64..300, 0u32..3).prop_map(|(k, c)| Step::Decide(k, c)),
            1 => (0u64..300).prop_map(Step::Remove),
            1 => (0usize..40).prop_map(Step::Sweep),
        ];
        (0u64..30, step)
    }

    proptest::proptest! {
        /// The flat table decides exactly as hashbrown's does: many keys, swept, removed and
        /// refused when a shard is full (the same hasher, so the same shards).
        #[test]
        fn the_flat_table_decides_as_hashbrown(
            steps in proptest::collection::vec(step(), 1..600),
            max_keys in proptest::option::of(64usize..1_000),
        ) {
            let clock = FakeClock::new();
            let hasher = foldhash::fast::FixedState::with_seed(7);
            let quota = Quota::per_second(5).unwrap().with_burst(2).unwrap();
            let mut flat = KeyedLimiter::<u64, _, _>::with_hasher(quota, clock.clone(), hasher.clone());
            let mut hashed = KeyedLimiter::<Boxed, _, _>::with_hasher(quota, clock.clone(), hasher);
            assert!(matches!(flat.map.shards[0].0.lock().unwrap().table, Table::Flat(_)));
            assert!(matches!(hashed.map.shards[0].0.lock().unwrap().table, Table::Hashed(_)));
            if let Some(max) = max_keys {
                flat = flat.with_max_keys(max, Overflow::Deny);
                hashed = hashed.with_max_keys(max, Overflow::Deny);
            }
            let mut now = at(0);
            for (ms, step) in steps {
                now += Duration::from_millis(ms);
                clock.set(now);
                match step {
                    Step::Decide(k, cost) => proptest::prop_assert_eq!(
                        flat.decide_at(&k, now, cost),
                        hashed.decide_at(&Boxed(k), now, cost)
                    ),
                    Step::Remove(k) => {
                        // Whether an idle key is still held depends on where the sweeps went;
                        // a key not at rest (a request now would not leave one of its two) is held by both.
                        let active = flat.peek(&k, 1).unwrap().remaining == 0;
                        let (a, b) = (flat.remove(&k), hashed.remove(&Boxed(k)));
                        proptest::prop_assert!(!active || (a && b), "{} {} {}", active, a, b);
                    }
                    Step::Sweep(visits) => {
                        flat.drop_idle(visits);
                        hashed.drop_idle(visits);
                    }
                }
            }
            // A full pass leaves exactly the keys not at rest in both.
            flat.drop_idle(usize::MAX);
            hashed.drop_idle(usize::MAX);
            proptest::prop_assert_eq!(flat.len(), hashed.len());
            for k in 0..300 {
                proptest::prop_assert_eq!(flat.peek(&k, 1), hashed.peek(&Boxed(k), 1));
            }
        }
    }

    #[test]
    fn any_hasher_decides_alike() {
        let clock = FakeClock::new();
        let sip = KeyedLimiter::<u64, _, _>::with_hasher(
            Quota::per_second(1).unwrap(),
            clock.clone(),
            std::collections::hash_map::RandomState::new(),
        );
        let fold = per_second(&clock);
        for k in 0..1_000u64 {
            let t = at(k * 37); // keys come to rest and are swept as time goes on
            assert_eq!(sip.check_at(&(k % 50), t), fold.check_at(&(k % 50), t));
        }
    }

    /// A full shard under `Overflow::Deny` refuses new keys until its first entry comes to
    /// rest; a release that brings an entry's rest nearer (one it leaves in the table) brings
    /// that time nearer too, as the core's table does.
    #[test]
    fn a_release_brings_a_full_shards_wait_nearer() {
        let clock = FakeClock::new();
        let policy = KeyedPolicy::<u64, _>::with_clock(
            vec![(
                "default".into(),
                vec![
                    Named::new(
                        "concurrent".into(),
                        Limit::Concurrency(Concurrency::new(5).unwrap()),
                    ),
                    Named::new(
                        "rate".into(),
                        Limit::Gcra(Gcra::new(
                            Quota::per_second(1).unwrap().with_burst(5).unwrap(),
                        )),
                    ),
                ],
            )],
            clock.clone(),
        )
        .with_max_keys(16 * SHARDS, Overflow::Deny);
        let shard_of = |k: &u64| (policy.shared.map.hash(&(0usize, k)) >> 40) % SHARDS as u64;
        let keys: Vec<u64> = (0u64..)
            .filter(|k| shard_of(k) == shard_of(&0))
            .take(17)
            .collect();
        let (a, others, b) = (keys[0], &keys[1..16], keys[16]);
        // A: one request in flight, its rate at rest at 1 s once that ends.
        let (d, held) = policy.check_at(0, &a, at(0), 1, &Overrides::NONE).unwrap();
        assert!(d.is_allowed() && held.holds());
        // Fifteen others: nothing in flight, at rest at 5 s.
        for k in others {
            let (d, p) = policy.check_at(0, k, at(0), 5, &Overrides::NONE).unwrap();
            assert!(d.is_allowed());
            drop(p);
        }
        // Full: refused until 5 s (A, busy, comes to rest only by a release).
        clock.set(at(500));
        let r = policy
            .check_at(0, &b, at(500), 1, &Overrides::NONE)
            .map(|_| ());
        assert_eq!(
            r,
            Err(KeyedError::Full {
                retry_after: Some(Duration::from_millis(4_500))
            })
        );
        // A's request ends at 600 ms: A, still held, now comes to rest at 1 s.
        clock.set(at(600));
        drop(held);
        assert_eq!(policy.len(), 16);
        assert_eq!(
            policy
                .check_at(0, &b, at(600), 1, &Overrides::NONE)
                .map(|_| ()),
            Err(KeyedError::Full {
                retry_after: Some(Duration::from_millis(400))
            })
        );
        // At 2 s A is at rest. The sweep is pointed past A's slot, so that only the full
        // shard's own scan can find it.
        let hash = policy.shared.map.hash(&(0usize, &a));
        {
            let mut shard = policy.shared.map.shard(hash);
            let a_at = (0..shard.table.slots())
                .find(|&i| shard.table.at(i, |k, _| k.1 == a) == Some(true))
                .unwrap();
            shard.cursor = a_at + 1;
        }
        clock.set(at(2_000));
        let (d, _) = policy
            .check_at(0, &b, at(2_000), 1, &Overrides::NONE)
            .unwrap();
        assert!(d.is_allowed());
        assert_eq!(policy.len(), 16, "A dropped, B in");
    }

    /// `drop_idle(visits)` visits `visits` slots of each shard, from where the last visit
    /// stopped: as many as the largest shard has drop every idle key; none drop none.
    #[test]
    fn drop_idle_visits_slots() {
        let clock = FakeClock::new();
        let keyed = per_second(&clock);
        for k in 0..(SHARDS as u64 * 40) {
            keyed.check_at(&k, at(0)).unwrap();
        }
        let most = keyed
            .map
            .shards
            .iter()
            .map(|s| s.0.lock().unwrap().table.slots())
            .max()
            .unwrap();
        clock.set(at(2_000));
        let held = keyed.len();
        assert_eq!(keyed.drop_idle(0), 0);
        assert_eq!(keyed.drop_idle(most), held);
        assert_eq!(keyed.len(), 0);
    }

    /// Releasing in a tier without a concurrency limit is a mistake whether the key is held or
    /// not: nothing is ever in flight there.
    #[test]
    fn a_release_where_nothing_is_in_flight_is_refused() {
        let clock = FakeClock::new();
        let gcra = Limit::Gcra(Gcra::new(Quota::per_second(1).unwrap()));
        let policy = KeyedPolicy::<u64, _>::with_clock(
            vec![("default".into(), vec![Named::new("rate".into(), gcra)])],
            clock,
        );
        let refused = Err(KeyedError::Release(ReleaseError {
            released: 5,
            in_flight: 0,
        }));
        assert_eq!(policy.release(0, &1, 5), refused, "not held");
        let (d, p) = policy.check(0, &1, 1).unwrap();
        assert!(d.is_allowed() && !p.holds());
        assert_eq!(policy.release(0, &1, 5), refused, "held, nothing in flight");
    }

    #[test]
    fn peek_and_remove() {
        let clock = FakeClock::new();
        let keyed = per_second(&clock);
        assert!(keyed.peek(&1, 1).unwrap().is_allowed());
        assert!(keyed.is_empty(), "a peek holds no key");
        keyed.check(&1).unwrap();
        assert!(!keyed.peek(&1, 1).unwrap().is_allowed());
        assert!(keyed.remove(&1));
        assert!(!keyed.remove(&1));
        assert!(keyed.check(&1).is_ok(), "forgotten: decided afresh");
    }

    #[test]
    fn a_keyed_policy_wait_ends_when_the_key_may_go() {
        let gcra = Limit::Gcra(Gcra::new(
            Quota::per_second(100).unwrap().with_burst(1).unwrap(),
        ));
        let policy = KeyedPolicy::<String>::new(vec![Named::new("rate".into(), gcra)]);
        assert!(policy.check(0, "k", 1).unwrap().0.is_allowed());
        let start = std::time::Instant::now();
        let (d, _) = policy.wait(0, "k", 1).unwrap();
        assert!(d.is_allowed());
        assert!(start.elapsed() >= std::time::Duration::from_millis(9));
    }

    #[test]
    fn a_plan_change_counts_from_the_new_plan() {
        let clock = FakeClock::new();
        let gcra = |n| Limit::Gcra(Gcra::new(Quota::per_minute(n).unwrap()));
        let policy = KeyedPolicy::<String, _>::with_clock(
            vec![
                ("free".into(), vec![Named::new("minute".into(), gcra(2))]),
                ("pro".into(), vec![Named::new("minute".into(), gcra(5))]),
            ],
            clock,
        );
        let (free, pro) = (policy.tier("free").unwrap(), policy.tier("pro").unwrap());
        assert!(policy.check(free, "acct", 2).unwrap().0.is_allowed());
        assert!(!policy.check(free, "acct", 1).unwrap().0.is_allowed());
        let (d, _) = policy.check(pro, "acct", 1).unwrap();
        assert_eq!((d.is_allowed(), d.reports[0].decision.remaining), (true, 4));
        assert_eq!(
            policy.check(7, "acct", 1).map(|_| ()),
            Err(KeyedError::UnknownTier)
        );
    }
}
