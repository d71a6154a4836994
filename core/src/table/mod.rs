//! Key tables: one limiter state per key (phone number, API key, IP address) in fixed memory.
//!
//! A [`KeyTable<K, V, N>`](KeyTable) maps keys to states `V` in an inline array of `N` slots; it
//! never allocates. It stores **states only**: the configuration (one [`Algorithm`] or
//! [`Policy`] for every key, or [`Tiers`] that pick a plan's policy from the key) is passed to each
//! call, as it is to the algorithms themselves. Always pass the same configuration to a table.
//!
//! # Guarantee
//!
//! **A table decides every request exactly as an unbounded map of states would, or refuses it with
//! [`TableError::Full`]** (under [`Overflow::Deny`], the default). Entries at rest are dropped
//! freely because, by the [`Algorithm`] contract, a state at rest decides every request at that
//! instant and later exactly like a fresh one, which is what an absent key gets. A key is inserted
//! only when a request records something (a denial, a zero cost or a peek never takes a slot), and
//! `Full` is returned only when every one of the [`capacity`](KeyTable::capacity) entries is
//! still active; nothing is recorded then. With a clock that goes backwards a dropped entry
//! decides like a fresh one at the latest instant seen, which the contract also allows.
//!
//! Some entries never come to rest by waiting: those holding requests in flight (a
//! [`Concurrency`](crate::Concurrency) limit, alone or in a policy, with anything not yet
//! released), which only a release brings to rest, and, at the very end of time, those holding
//! an admission so late that it never leaves its window. In the terms of the [`Algorithm`]
//! contract: a state that is not at rest even at `u64::MAX`. Such an entry is **never evicted**,
//! whatever the [`Overflow`] policy: that would forget requests already admitted (a key could
//! then hold twice its concurrency limit, and for good). When every entry is of this kind,
//! [`TableError::Full`] says to wait until the end of time.
//!
//! [`Overflow::EvictLeastLoss`] trades exactness for availability: when every entry is active it
//! evicts, among the entries that waiting alone brings to rest, the one closest to rest (the
//! smallest `reset`), and answers `Full` only when there is none. The evicted key's next requests
//! are decided from a fresh state, so **each eviction can over-admit that one key by up to one
//! fresh allowance of each of its limits** (what a fresh state admits minus what its evicted
//! state would have), during at most the evicted entry's remaining `reset` (by then the evicted
//! state would have come to rest anyway). A concurrency limit loses nothing: an evicted entry has
//! nothing in flight, so its fresh state is the same.
//!
//! # Memory
//!
//! One slot is `Option<(hash: NonZeroU32, K, V)>`: the key, the state and a 32-bit hash that
//! usually fits in padding and doubles as the occupancy niche, so the `Option` costs nothing more.
//! For a `u64` key and a [`GcraState`](crate::GcraState) that is **24 bytes per slot** (16 of
//! payload); a three-limit GCRA policy state makes it 40. Tables hold at most
//! [`capacity`](KeyTable::capacity)` = N − N/8` entries (all `N` when `N < 8`), so per entry that
//! is `8/7` of a slot (27.4 bytes for `u64` + GCRA), plus four words for the whole table.
//!
//! # Costs
//!
//! Robin Hood open addressing with backward-shift deletion (no tombstones) at a load of at most
//! 7/8; `N` must be a power of two.
//!
//! - A request for a key in the table: O(1) expected probes, no scan.
//! - A request that inserts a key: O(1) plus an amortised sweep of two slots, dropping entries at
//!   rest, so stale entries are reclaimed steadily without a scan.
//! - Inserting into a full table: one O(N) scan that drops every entry at rest (paying for as
//!   many later inserts). If none is at rest, a second O(N) pass asks every entry when it comes
//!   to rest ([`is_at_rest`](Algorithm::is_at_rest) at the end of time and a zero-cost peek
//!   each). Under `EvictLeastLoss` it evicts the closest, so each eviction costs O(N).
//!   Otherwise, under `Deny` or when no entry can be evicted, it records when the first entry
//!   will come to rest (never, if waiting brings none to rest), and until then, or until a
//!   release or removal makes room, further new keys are refused in O(1) without rescanning.
//!
//! The default hasher is FNV-1a ([`Fnv1a`]), fast but unkeyed: keys chosen by an attacker can
//! collide and lengthen probes. For keys from the internet pass a keyed [`BuildHasher`] with
//! [`KeyTable::with_hasher`].
//!
//! # Examples
//!
//! An SMS carrier's one message per second per phone number, averaged over 10 s:
//!
//! ```
//! use tollgate_core::{Algorithm, Gcra, Quota, Instant, KeyTable, Overflow, TableError};
//!
//! let per_number = Gcra::new(Quota::<1_000>::per_second(1)?.with_burst(10)?);
//! let mut table = KeyTable::<u64, _, 1024>::new();
//! let now = Instant::<1_000>::from_ticks(0);
//! for _ in 0..10 {
//!     assert!(table.check(&per_number, 15_551_234_567, now, 1)?.is_allowed());
//! }
//! assert!(table.check(&per_number, 15_551_234_567, now, 1)?.is_denied());
//! assert!(table.check(&per_number, 15_559_876_543, now, 1)?.is_allowed());
//! assert_eq!((table.len(), table.capacity()), (2, 896));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;
use core::hash::{BuildHasher, Hash, Hasher};
use core::marker::PhantomData;
use core::num::NonZeroU32;

use crate::algorithm::{Algorithm, Decision};
use crate::error::{InsufficientCapacity, ReleaseError};
use crate::policy::decision::{PolicyDecision, Verdict};
use crate::policy::engine::FixedLimits;
use crate::policy::{Overrides, Policy};
use crate::time::{Duration, Instant};

/// Slots examined (besides any removed) each time a key is inserted.
const SWEEP: usize = 2;

/// What to do when a new key must be recorded and every entry is still active: the value of a
/// table's [`OverflowPolicy`].
///
/// The policy is part of the table's type ([`Deny`] or [`EvictLeastLoss`]), not a field, so that
/// a table in a `static` is all zeros until used whatever its policy, and lands in `.bss` rather
/// than in an initialised image copied from flash.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, KeyTable, Overflow, TableError};
/// use tollgate_core::table::EvictLeastLoss;
///
/// let limit = Gcra::new(Quota::<1_000>::per_second(1)?.with_burst(3)?);
/// let t0 = Instant::<1_000>::from_ticks(0);
/// let mut denying = KeyTable::<u8, _, 2>::new();
/// let mut evicting = KeyTable::<u8, _, 2, EvictLeastLoss>::evicting();
/// assert_eq!((denying.overflow(), evicting.overflow()), (Overflow::Deny, Overflow::EvictLeastLoss));
/// denying.check(&limit, 1, t0, 3)?; // at rest in 3 s
/// denying.check(&limit, 2, t0, 1)?; // at rest in 1 s: the least to lose
/// assert!(matches!(denying.check(&limit, 3, t0, 1), Err(TableError::Full { .. })));
/// evicting.check(&limit, 1, t0, 3)?;
/// evicting.check(&limit, 2, t0, 1)?;
/// assert!(evicting.check(&limit, 3, t0, 1)?.is_allowed());
/// assert!(evicting.get(&2).is_none() && evicting.get(&1).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Overflow {
    /// Refuse the new key with [`TableError::Full`]; nothing is recorded. Never changes a decision
    /// an unbounded map would make for keys already in the table.
    #[default]
    Deny,
    /// Evict the entry closest to rest (smallest `reset`) to make room. Can over-admit the evicted
    /// key (see the [module docs](self)). Never evicts an entry holding requests in flight (one
    /// that waiting alone never brings to rest): when every entry does, refuses the new key with
    /// [`TableError::Full`] as `Deny` does.
    EvictLeastLoss,
}

mod sealed {
    pub trait Sealed {}
}

/// A table's overflow policy, as a type: [`Deny`] (the default) or [`EvictLeastLoss`]. Sealed.
pub trait OverflowPolicy: sealed::Sealed {
    /// The policy as a value.
    const MODE: Overflow;
}

/// Refuse a new key when every entry is active: [`Overflow::Deny`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deny;

/// Evict the entry closest to rest to make room: [`Overflow::EvictLeastLoss`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EvictLeastLoss;

impl sealed::Sealed for Deny {}
impl sealed::Sealed for EvictLeastLoss {}

impl OverflowPolicy for Deny {
    const MODE: Overflow = Overflow::Deny;
}

impl OverflowPolicy for EvictLeastLoss {
    const MODE: Overflow = Overflow::EvictLeastLoss;
}

/// Why a key table could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TableError<const HZ: u64> {
    /// The request would record a new key, but every entry is active and the overflow policy is
    /// [`Overflow::Deny`], or every entry holds requests in flight, which no policy evicts.
    /// Nothing was recorded.
    Full {
        /// How long until the first entry comes to rest and frees a slot if nothing else arrives:
        /// to the end of time (`u64::MAX` minus now) when waiting alone brings no entry to rest
        /// (every entry holds in-flight requests, which only a release frees). Never longer than
        /// that; shorter only when entries were used after the table last worked it out, which
        /// it does again once this wait has passed.
        retry_after: Duration<HZ>,
    },
    /// The configuration has no limit for this key (for [`Tiers`]: an unknown plan).
    NoLimit,
    /// The cost can never fit the key's limit (for a policy: the limit it names).
    InsufficientCapacity(InsufficientCapacity),
    /// The same key was given twice in one all-or-nothing check over several keys.
    DuplicateKey {
        /// The position of its second occurrence.
        index: usize,
    },
    /// More was released than the key has in flight; nothing changed.
    Release(ReleaseError),
}

impl<const HZ: u64> fmt::Display for TableError<HZ> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { retry_after } => write!(
                f,
                "the key table is full of active entries for {} more ticks",
                retry_after.as_ticks()
            ),
            Self::NoLimit => f.write_str("no limit is configured for this key"),
            Self::InsufficientCapacity(e) => e.fmt(f),
            Self::DuplicateKey { index } => write!(f, "key {index} was given twice"),
            Self::Release(e) => e.fmt(f),
        }
    }
}

impl<const HZ: u64> core::error::Error for TableError<HZ> {}

impl<const HZ: u64> From<InsufficientCapacity> for TableError<HZ> {
    fn from(e: InsufficientCapacity) -> Self {
        Self::InsufficientCapacity(e)
    }
}

impl<const HZ: u64> From<ReleaseError> for TableError<HZ> {
    fn from(e: ReleaseError) -> Self {
        Self::Release(e)
    }
}

/// Which limit applies to a key: one [`Algorithm`] (or [`Policy`]) for every key, or [`Tiers`].
///
/// Implement it to pick limits by any property of the key, as long as every limit has the same
/// type (so every entry has the same state type).
///
/// # Examples
///
/// Calls limited per phone number and per account, in one table:
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, KeyLimits, KeyTable, Overflow};
///
/// #[derive(PartialEq, Eq, Hash)]
/// enum Caller { Number(u64), Account(u32) }
///
/// struct Calls { per_number: Gcra<1_000>, per_account: Gcra<1_000> }
///
/// impl KeyLimits<Caller, 1_000> for Calls {
///     type Limit = Gcra<1_000>;
///     fn limit_for(&self, key: &Caller) -> Option<&Gcra<1_000>> {
///         Some(match key {
///             Caller::Number(_) => &self.per_number,
///             Caller::Account(_) => &self.per_account,
///         })
///     }
/// }
///
/// let one_per_second = Quota::<1_000>::per_second(1)?;
/// let calls = Calls {
///     per_number: Gcra::new(one_per_second.with_burst(10)?), // averaged over 10 s
///     per_account: Gcra::new(one_per_second),
/// };
/// let mut table = KeyTable::<Caller, _, 256>::new();
/// let now = Instant::<1_000>::from_ticks(0);
/// assert_eq!(table.check(&calls, Caller::Number(15_551_234_567), now, 1)?.remaining, 9);
/// assert_eq!(table.check(&calls, Caller::Account(42), now, 1)?.remaining, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait KeyLimits<K, const HZ: u64> {
    /// The limit every key's state belongs to.
    type Limit: Algorithm<HZ>;

    /// The limit for `key`, or `None` when none is configured.
    fn limit_for(&self, key: &K) -> Option<&Self::Limit>;
}

impl<K, const HZ: u64, A: Algorithm<HZ>> KeyLimits<K, HZ> for A {
    type Limit = A;

    #[inline]
    fn limit_for(&self, _key: &K) -> Option<&A> {
        Some(self)
    }
}

/// Plans and their limits (Free, Pro, Business, Agency): configuration, not per-key state.
///
/// Keys are `(plan, id)` pairs, so one table serves every plan and an entry costs no more than its
/// state. Every plan's limit must have the same type (and state type): give every plan the same
/// tuple of limits, with `None` of an `Option<A>` where a plan has no such limit. A plan that is not
/// listed has no limit ([`TableError::NoLimit`]). Lookup is a linear scan of `N` plans.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, KeyTable, Named, Overflow, Overrides, Policy, Tiers};
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// enum Plan { Free, Agency }
///
/// type Limit = Option<Gcra<1_000>>;
/// fn plan(minute: u32, day: Option<u32>) -> Policy<(Named<Limit>, Named<Limit>)> {
///     let m = Quota::per_minute(minute).unwrap();
///     let d = Quota::<1_000>::per_day(2_000).unwrap();
///     Policy::new((
///         Named::new("minute", Some(Gcra::new(m))),
///         Named::new("day", day.map(|n| Gcra::new(Quota::per_day(n).unwrap()))),
///     ))
/// }
/// let tiers = Tiers::new([(Plan::Free, plan(30, Some(2_000))), (Plan::Agency, plan(2_000, None))]);
/// let mut table = KeyTable::<(Plan, u64), _, 64>::new();
/// let now = Instant::<1_000>::from_ticks(0);
/// let free = table.check_policy(&tiers, (Plan::Free, 7), now, 1, &Overrides::NONE)?;
/// let agency = table.check_policy(&tiers, (Plan::Agency, 7), now, 1, &Overrides::NONE)?;
/// assert_eq!(free.reports[1].decision.remaining, 1_999);
/// assert_eq!(agency.limited().count(), 1); // no daily limit
/// # Ok::<(), tollgate_core::TableError<1_000>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tiers<P, A, const N: usize> {
    tiers: [(P, A); N],
}

impl<P, A, const N: usize> Tiers<P, A, N> {
    /// Plans and their limits.
    pub const fn new(tiers: [(P, A); N]) -> Self {
        Self { tiers }
    }

    /// Every plan and its limit.
    pub const fn tiers(&self) -> &[(P, A); N] {
        &self.tiers
    }

    /// The limit of `plan`, if it is listed (the first entry when it is listed twice).
    pub fn get(&self, plan: &P) -> Option<&A>
    where
        P: PartialEq,
    {
        self.tiers.iter().find(|(p, _)| p == plan).map(|(_, a)| a)
    }
}

impl<P: PartialEq, K, const HZ: u64, A: Algorithm<HZ>, const N: usize> KeyLimits<(P, K), HZ>
    for Tiers<P, A, N>
{
    type Limit = A;

    #[inline]
    fn limit_for(&self, key: &(P, K)) -> Option<&A> {
        self.get(&key.0)
    }
}

/// FNV-1a, 64-bit: the default, unkeyed hasher of a [`KeyTable`].
///
/// # Examples
///
/// ```
/// use core::hash::BuildHasher;
/// use tollgate_core::table::Fnv1a;
///
/// assert_eq!(Fnv1a.hash_one(7u64), Fnv1a.hash_one(7u64));
/// assert_ne!(Fnv1a.hash_one(7u64), Fnv1a.hash_one(8u64));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fnv1a;

/// The running state of [`Fnv1a`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fnv1aHasher(u64);

impl Default for Fnv1aHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1aHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl BuildHasher for Fnv1a {
    type Hasher = Fnv1aHasher;

    fn build_hasher(&self) -> Fnv1aHasher {
        Fnv1aHasher::default()
    }
}

/// One occupied slot. The hash is never zero, so `Option<Slot>` needs no separate tag.
#[derive(Debug, Clone)]
struct Slot<K, V> {
    hash: NonZeroU32,
    key: K,
    value: V,
}

/// A fixed-capacity map from keys to limiter states (see the [module docs](self)).
///
/// `N` slots (a power of two) hold at most `N − N/8` entries. The table lives inline: a large one
/// belongs in a `static` (behind the adapter's lock) or a long-lived owner, not on a small stack.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, KeyTable, Overflow, TableError};
///
/// let limit = Gcra::new(Quota::<1_000>::per_second(1)?);
/// let mut table = KeyTable::<u32, _, 4>::new(); // 4 slots, 4 entries
/// let t0 = Instant::<1_000>::from_ticks(0);
/// for key in 0..4 {
///     table.check(&limit, key, t0, 1)?;
/// }
/// // Every entry is active for another second: a fifth key is refused, nothing recorded.
/// let full = table.check(&limit, 4, t0, 1).unwrap_err();
/// assert_eq!(full, TableError::Full { retry_after: tollgate_core::Duration::<1_000>::from_secs(1) });
/// // Known keys are still decided, and peeks never need a slot.
/// assert!(table.check(&limit, 0, t0, 1)?.is_denied());
/// assert!(table.peek(&limit, &4, t0, 1)?.is_allowed());
/// // A second later the entries are at rest and make room.
/// assert!(table.check(&limit, 4, Instant::<1_000>::from_ticks(1_000), 1)?.is_allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct KeyTable<K, V, const N: usize, O = Deny, S = Fnv1a> {
    slots: [Option<Slot<K, V>>; N],
    len: usize,
    /// Where the amortised sweep resumes.
    cursor: usize,
    /// Nonzero only while the table is full and no room can be made before this tick: no entry
    /// comes to rest before it (or, under `EvictLeastLoss`, none can be evicted before it).
    quiet_until: u64,
    overflow: PhantomData<O>,
    hasher: S,
}

impl<K, V, const N: usize, O: OverflowPolicy, S> fmt::Debug for KeyTable<K, V, N, O, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.len)
            .field("capacity", &Self::CAPACITY)
            .field("overflow", &O::MODE)
            .finish_non_exhaustive()
    }
}

impl<K, V, const N: usize> KeyTable<K, V, N, Deny, Fnv1a> {
    /// An empty table that refuses new keys when full ([`Deny`]), with the FNV-1a hasher. `N`
    /// must be a power of two (checked at compile time).
    pub const fn new() -> Self {
        Self::with_hasher(Fnv1a)
    }
}

impl<K, V, const N: usize> KeyTable<K, V, N, EvictLeastLoss, Fnv1a> {
    /// An empty table that evicts the entry closest to rest when full ([`EvictLeastLoss`]), with
    /// the FNV-1a hasher.
    pub const fn evicting() -> Self {
        Self::with_hasher(Fnv1a)
    }
}

impl<K, V, const N: usize> Default for KeyTable<K, V, N, Deny, Fnv1a> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, const N: usize, O: OverflowPolicy, S> KeyTable<K, V, N, O, S> {
    /// The most entries the table holds: `N − N/8`, a load of at most 7/8.
    pub const CAPACITY: usize = N.saturating_sub(N / 8);

    const MASK: usize = N.wrapping_sub(1);

    /// An empty table hashing keys with `hasher`. `N` must be a power of two (checked at compile
    /// time).
    pub const fn with_hasher(hasher: S) -> Self {
        const {
            assert!(
                N.is_power_of_two(),
                "a KeyTable needs a power-of-two number of slots"
            );
        }
        Self {
            slots: [const { None }; N],
            len: 0,
            cursor: 0,
            quiet_until: 0,
            overflow: PhantomData,
            hasher,
        }
    }

    /// The most entries the table holds.
    pub const fn capacity(&self) -> usize {
        Self::CAPACITY
    }

    /// The number of entries.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no entries.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What the table does when full of active entries.
    pub const fn overflow(&self) -> Overflow {
        O::MODE
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.len = 0;
        self.quiet_until = 0;
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter_map(|s| s.as_ref().map(|s| (&s.key, &s.value)))
    }

    #[inline(always)]
    const fn home(hash: NonZeroU32) -> usize {
        (hash.get() as usize) & Self::MASK
    }

    #[inline(always)]
    const fn distance(slot: usize, hash: NonZeroU32) -> usize {
        slot.wrapping_sub(Self::home(hash)) & Self::MASK
    }

    #[inline(always)]
    const fn next(slot: usize) -> usize {
        slot.wrapping_add(1) & Self::MASK
    }

    /// Empties slot `i` and shifts the rest of its cluster back one slot.
    fn remove_at(&mut self, i: usize) -> Option<V> {
        let removed = self.slots.get_mut(i)?.take()?;
        self.len = self.len.saturating_sub(1);
        self.quiet_until = 0;
        let mut hole = i;
        for _ in 0..N {
            let next = Self::next(hole);
            let shift =
                matches!(self.slots.get(next), Some(Some(s)) if Self::distance(next, s.hash) > 0);
            if !shift {
                break;
            }
            let moved = self.slots.get_mut(next).and_then(Option::take);
            if let Some(h) = self.slots.get_mut(hole) {
                *h = moved;
            }
            hole = next;
        }
        Some(removed.value)
    }

    /// Robin Hood insertion of a key known to be absent, into a table known not to be full.
    fn insert_new(&mut self, mut carry: Slot<K, V>) {
        let mut i = Self::home(carry.hash);
        let mut dist = 0usize;
        for _ in 0..N {
            let Some(cell) = self.slots.get_mut(i) else {
                return;
            };
            match cell {
                None => {
                    *cell = Some(carry);
                    self.len = self.len.saturating_add(1);
                    return;
                }
                Some(resident) => {
                    let theirs = Self::distance(i, resident.hash);
                    if theirs < dist {
                        core::mem::swap(resident, &mut carry);
                        dist = theirs;
                    }
                }
            }
            i = Self::next(i);
            dist = dist.saturating_add(1);
        }
    }
}

impl<K: Eq + Hash, V, const N: usize, O: OverflowPolicy, S: BuildHasher> KeyTable<K, V, N, O, S> {
    fn hash(&self, key: &K) -> NonZeroU32 {
        let h = self.hasher.hash_one(key);
        NonZeroU32::new((h ^ h.rotate_left(32)) as u32).unwrap_or(NonZeroU32::MIN)
    }

    fn find(&self, key: &K, hash: NonZeroU32) -> Option<usize> {
        let mut i = Self::home(hash);
        for dist in 0..N {
            let s = self.slots.get(i)?.as_ref()?;
            if Self::distance(i, s.hash) < dist {
                return None;
            }
            if s.hash == hash && s.key == *key {
                return Some(i);
            }
            i = Self::next(i);
        }
        None
    }

    /// The state stored for `key`, if any (an absent key's state is a fresh one).
    pub fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key, self.hash(key))?;
        self.slots.get(i)?.as_ref().map(|s| &s.value)
    }

    /// Removes `key`'s entry, returning its state. Removing an active entry forgets what it
    /// recorded: the key starts afresh.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key, self.hash(key))?;
        self.remove_at(i)
    }

    /// Runs `f` on `key`'s state (a fresh one if absent), keeping the result only if it must be.
    ///
    /// This is the primitive behind [`check`](Self::check): `f` decides with the key's limit
    /// and state (for a policy with overrides, `|p, s| p.check_with(s, now, cost, &overrides)`).
    /// Afterwards a state at rest at `now` is dropped; a new key's state that is not at rest is
    /// inserted, making room as the [`Overflow`] policy says. `f` should act at `now` and have no
    /// effect besides the state: when the table is full, its result is discarded and the fresh
    /// state it changed is dropped, so nothing is recorded.
    ///
    /// # Errors
    ///
    /// [`TableError::NoLimit`] (before `f` runs) and [`TableError::Full`].
    pub fn update<'c, C, R, F, const HZ: u64>(
        &mut self,
        limits: &'c C,
        key: K,
        now: Instant<HZ>,
        f: F,
    ) -> Result<R, TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V> + 'c,
        F: FnOnce(&'c C::Limit, &mut V) -> R,
    {
        let limit = limits.limit_for(&key).ok_or(TableError::NoLimit)?;
        let hash = self.hash(&key);
        if let Some(i) = self.find(&key, hash)
            && let Some(Some(slot)) = self.slots.get_mut(i)
        {
            let r = f(limit, &mut slot.value);
            if limit.is_at_rest(&slot.value, now) {
                self.remove_at(i);
            } else if self.quiet_until != 0 {
                // The state may have moved closer to rest (a release): keep the bound a bound.
                // Under `EvictLeastLoss` an entry that waiting will bring to rest can be evicted
                // at once.
                let rest = match (rest_tick(limit, &slot.value, now), O::MODE) {
                    (None, _) => u64::MAX,
                    (Some(rest), Overflow::Deny) => rest,
                    (Some(_), Overflow::EvictLeastLoss) => 0,
                };
                self.quiet_until = self.quiet_until.min(rest);
            }
            return Ok(r);
        }
        let mut fresh = limit.new_state();
        let r = f(limit, &mut fresh);
        if limit.is_at_rest(&fresh, now) {
            return Ok(r);
        }
        self.make_room(limits, now, 1, |_| false)?;
        self.insert_new(Slot {
            hash,
            key,
            value: fresh,
        });
        Ok(r)
    }

    /// Decides a request of `cost` at `now` for `key` and records it if admitted.
    ///
    /// # Errors
    ///
    /// [`TableError::Full`] when the request would record a new key in a table full of active
    /// entries (under [`Overflow::Deny`], or under either policy when every entry holds requests
    /// in flight); [`TableError::InsufficientCapacity`];
    /// [`TableError::NoLimit`]. Nothing is recorded on an error.
    pub fn check<C, const HZ: u64>(
        &mut self,
        limits: &C,
        key: K,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        Ok(self.update(limits, key, now, |a, s| a.check(s, now, cost))??)
    }

    /// Decides a request for `key` against its [`Policy`], with test [`Overrides`], and records it
    /// in every limit if all admit it: the policy's whole decision, one report per limit.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check), with [`TableError::InsufficientCapacity`] naming the limit.
    #[allow(clippy::type_complexity)]
    pub fn check_policy<'c, C, L, const HZ: u64>(
        &mut self,
        limits: &'c C,
        key: K,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<PolicyDecision<HZ, L::Reports<'c>>, TableError<HZ>>
    where
        C: KeyLimits<K, HZ, Limit = Policy<L>>,
        L: FixedLimits<HZ, State = V> + 'c,
    {
        Ok(self.update(limits, key, now, |p, s| {
            p.check_with(s, now, cost, overrides)
        })??)
    }

    /// Decides a request for `key` without recording it or changing the table.
    ///
    /// # Errors
    ///
    /// [`TableError::InsufficientCapacity`] and [`TableError::NoLimit`].
    pub fn peek<C, const HZ: u64>(
        &self,
        limits: &C,
        key: &K,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Decision<HZ>, TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        let limit = limits.limit_for(key).ok_or(TableError::NoLimit)?;
        Ok(match self.get(key) {
            Some(state) => limit.peek(state, now, cost),
            None => limit.peek(&limit.new_state(), now, cost),
        }?)
    }

    /// Gives back `cost` that `key` had in flight; an entry that comes to rest is dropped.
    ///
    /// # Errors
    ///
    /// [`TableError::Release`] when more is released than the key holds (an absent key holds
    /// nothing); nothing changes. [`TableError::NoLimit`].
    pub fn release<C, const HZ: u64>(
        &mut self,
        limits: &C,
        key: K,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<(), TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        Ok(self.update(limits, key, now, |a, s| a.release(s, cost))??)
    }

    /// Drops every entry at rest at `now` (and any whose key has no limit); returns how many.
    /// O(N). Never needed for correctness: inserts reclaim such entries on their own.
    pub fn purge<C, const HZ: u64>(&mut self, limits: &C, now: Instant<HZ>) -> usize
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        let before = self.len;
        self.sweep(limits, now, N, &|_| false);
        before.saturating_sub(self.len)
    }

    /// Visits `visits` slots from the cursor, dropping entries at rest (or without a limit),
    /// except those `pinned` says to keep.
    fn sweep<C, P, const HZ: u64>(
        &mut self,
        limits: &C,
        now: Instant<HZ>,
        visits: usize,
        pinned: &P,
    ) where
        P: Fn(&K) -> bool,
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        let mut visits = visits;
        // Each step either removes an entry or visits a slot.
        let mut steps = visits.saturating_add(self.len);
        while visits > 0 && steps > 0 {
            steps = steps.saturating_sub(1);
            let i = self.cursor;
            let idle = match self.slots.get(i) {
                Some(Some(s)) => {
                    !pinned(&s.key)
                        && limits
                            .limit_for(&s.key)
                            .is_none_or(|a| a.is_at_rest(&s.value, now))
                }
                _ => false,
            };
            if idle {
                // The cluster shifts back into slot i: look at it again.
                self.remove_at(i);
            } else {
                self.cursor = Self::next(i);
                visits = visits.saturating_sub(1);
            }
        }
    }

    /// Makes room for `need` new entries, or says why not. Entries that `pinned` names are
    /// neither dropped nor evicted (their states are in use).
    fn make_room<C, P, const HZ: u64>(
        &mut self,
        limits: &C,
        now: Instant<HZ>,
        need: usize,
        pinned: P,
    ) -> Result<(), TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
        P: Fn(&K) -> bool,
    {
        let room = |t: &Self| t.len.saturating_add(need) <= Self::CAPACITY;
        self.sweep(limits, now, SWEEP, &pinned);
        if room(self) {
            return Ok(());
        }
        let t = now.as_ticks();
        if t < self.quiet_until {
            return Err(TableError::Full {
                retry_after: Duration::<HZ>::from_ticks(self.quiet_until.saturating_sub(t)),
            });
        }
        self.sweep(limits, now, N, &pinned);
        while !room(self) {
            // Every entry is active: find the first to come to rest, among those that waiting
            // alone brings to rest (the others hold admitted requests that evicting would
            // forget), and the one to evict, which must not be pinned.
            let mut first: Option<u64> = None;
            let mut evict: Option<(usize, u64)> = None;
            // Whether a pinned entry (the request's own) could have been evicted, and how many
            // entries are pinned: their coming to rest frees no slot for this request.
            let mut spared = false;
            let mut pinned_entries = 0usize;
            for (i, slot) in self.slots.iter().enumerate() {
                let Some(s) = slot else { continue };
                let is_pinned = pinned(&s.key);
                pinned_entries = pinned_entries.saturating_add(usize::from(is_pinned));
                if let Some(limit) = limits.limit_for(&s.key)
                    && let Some(rest) = rest_tick(limit, &s.value, now)
                {
                    first = Some(first.map_or(rest, |r| r.min(rest)));
                    if is_pinned {
                        spared = true;
                    } else if evict.is_none_or(|(_, r)| rest < r) {
                        evict = Some((i, rest));
                    }
                }
            }
            match (O::MODE, evict) {
                (Overflow::EvictLeastLoss, Some((i, _))) => {
                    self.remove_at(i);
                }
                _ => {
                    // No entry rests before `rest` (the end of time if none ever does by
                    // waiting): until then, or until a release or removal, new keys are refused
                    // in O(1). That bound holds for a later single new key only when the table
                    // is full (a later insert needs a removal, which clears it) and no entry was
                    // spared for being one of this request's keys (`check_keys` may need more
                    // room than one key, and never evicts its own keys).
                    let rest = first.unwrap_or(u64::MAX);
                    let evicting = matches!(O::MODE, Overflow::EvictLeastLoss);
                    if self.len >= Self::CAPACITY && !(evicting && spared) {
                        self.quiet_until = rest;
                    }
                    // For this request, only the other entries can make room: the first of
                    // them to rest bounds the wait from below, and when even all of them
                    // together leave too little room, waiting never helps.
                    let others = evict.map(|(_, r)| r);
                    let hopeless = pinned_entries.saturating_add(need) > Self::CAPACITY;
                    let wait_until = if hopeless {
                        u64::MAX
                    } else {
                        others.unwrap_or(u64::MAX)
                    };
                    return Err(TableError::Full {
                        retry_after: Duration::<HZ>::from_ticks(wait_until.saturating_sub(t)),
                    });
                }
            }
        }
        Ok(())
    }

    /// Decides a request of `cost` at `now` for several keys at once, all or nothing: it is
    /// admitted only when every key's limit admits it, and then recorded for every key; when
    /// any key's limit denies it, nothing is recorded for any key.
    ///
    /// This is "1 call per second per number **and** per account": the number and the account
    /// are two keys (of one key type, such as an enum), each with its own limit through
    /// [`KeyLimits`]. A denial names the key with the longest wait, as a
    /// [`Policy`] names its limit. Room for the keys that are new is made before anything is
    /// recorded, without dropping or evicting any of the request's own keys.
    ///
    /// # Errors
    ///
    /// [`TableError::DuplicateKey`] when a key is given twice, [`TableError::NoLimit`],
    /// [`TableError::InsufficientCapacity`] (its `index` is the key's position),
    /// [`TableError::Full`] when the new keys do not fit. Nothing is recorded on an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Instant, KeyLimits, KeyTable, Quota};
    ///
    /// #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    /// enum Caller { Number(u64), Account(u32) }
    /// struct Calls { per_number: Gcra<1_000>, per_account: Gcra<1_000> }
    /// impl KeyLimits<Caller, 1_000> for Calls {
    ///     type Limit = Gcra<1_000>;
    ///     fn limit_for(&self, key: &Caller) -> Option<&Gcra<1_000>> {
    ///         Some(match key { Caller::Number(_) => &self.per_number, Caller::Account(_) => &self.per_account })
    ///     }
    /// }
    /// let q = Quota::<1_000>::per_second(1)?.with_burst(10)?; // 1/s averaged over 10 s
    /// let calls = Calls { per_number: Gcra::new(q), per_account: Gcra::new(q) };
    /// let mut table = KeyTable::<Caller, _, 64>::new();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// for n in 0..10 {
    ///     assert!(table.check_keys(&calls, [Caller::Number(n), Caller::Account(7)], now, 1)?.is_allowed());
    /// }
    /// // The account is spent: a call from a fresh number is denied, and that number is not charged.
    /// let d = table.check_keys(&calls, [Caller::Number(99), Caller::Account(7)], now, 1)?;
    /// assert_eq!(d.denied_index(), Some(1));
    /// assert!(table.get(&Caller::Number(99)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_keys<C, const M: usize, const HZ: u64>(
        &mut self,
        limits: &C,
        keys: [K; M],
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<KeysDecision<HZ, M>, TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        self.check_keys_at(limits, keys, now, now, cost)
    }

    /// [`check_keys`](Self::check_keys) for a request that proceeds at `at`, normally later than
    /// `now`: a turn reserved ahead of time. The request is decided, and recorded if admitted,
    /// at `at`, while the table's own housekeeping (which entries are at rest and may be dropped
    /// or evicted to make room, and a [`TableError::Full`]'s wait) is done at `now`, so that an
    /// entry still active now is never dropped because it will be at rest by `at`. With
    /// `at == now` it is exactly `check_keys`.
    ///
    /// # Errors
    ///
    /// As [`check_keys`](Self::check_keys).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Gcra, Instant, KeyTable, Quota, TableError};
    ///
    /// let limit = Gcra::new(Quota::<1_000>::per_second(1)?.with_burst(1)?);
    /// let mut table = KeyTable::<u8, _, 2>::new();
    /// let t0 = Instant::<1_000>::from_ticks(0);
    /// table.check_keys(&limit, [1, 2], t0, 1)?; // both active until 1 s
    /// // A turn for key 3 at 5 s, asked now: keys 1 and 2 are still active now, so there is no
    /// // room, although both would be at rest at 5 s.
    /// let later = Instant::<1_000>::from_ticks(5_000);
    /// assert!(matches!(table.check_keys_at(&limit, [3], t0, later, 1), Err(TableError::Full { .. })));
    /// assert_eq!(table.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_keys_at<C, const M: usize, const HZ: u64>(
        &mut self,
        limits: &C,
        keys: [K; M],
        now: Instant<HZ>,
        at: Instant<HZ>,
        cost: u32,
    ) -> Result<KeysDecision<HZ, M>, TableError<HZ>>
    where
        C: KeyLimits<K, HZ>,
        C::Limit: Algorithm<HZ, State = V>,
    {
        // Each key's limit, hash and slot (none for a new key, which gets a fresh state), then
        // its step: nothing is written until every key has been decided.
        let limit_of = keys.each_ref().map(|k| limits.limit_for(k));
        for (i, (key, limit)) in keys.iter().zip(&limit_of).enumerate() {
            if keys.iter().take(i).any(|k| k == key) {
                return Err(TableError::DuplicateKey { index: i });
            }
            if limit.is_none() {
                return Err(TableError::NoLimit);
            }
        }
        let hashes = keys.each_ref().map(|k| self.hash(k));
        let found: [Option<usize>; M] =
            core::array::from_fn(|i| match (keys.get(i), hashes.get(i)) {
                (Some(k), Some(&h)) => self.find(k, h),
                _ => None,
            });
        let mut fresh: [Option<V>; M] =
            core::array::from_fn(|i| match (found.get(i), limit_of.get(i)) {
                (Some(None), Some(Some(limit))) => Some(limit.new_state()),
                _ => None,
            });
        fn state_of<'t, K, V, const N: usize>(
            slots: &'t [Option<Slot<K, V>>; N],
            found: Option<usize>,
            fresh: Option<&'t Option<V>>,
        ) -> Option<&'t V> {
            match found {
                Some(slot) => slots.get(slot)?.as_ref().map(|s| &s.value),
                None => fresh?.as_ref(),
            }
        }
        let mut steps: [Option<<C::Limit as Algorithm<HZ>>::Step>; M] = [None; M];
        let mut decisions = [Decision::allowed(0, 0, Duration::<HZ>::from_ticks(0)); M];
        let mut worst: Option<(usize, Option<Duration<HZ>>)> = None;
        for (i, (limit, slot)) in limit_of.iter().zip(&found).enumerate() {
            let (Some(limit), Some(state)) = (limit, state_of(&self.slots, *slot, fresh.get(i)))
            else {
                return Err(TableError::NoLimit);
            };
            let step = limit
                .step(state, at, cost)
                .map_err(|e| TableError::InsufficientCapacity(e.at(i)))?;
            if !limit.admits(&step) {
                let d = limit.decision(state, &step, false);
                if worst.is_none_or(|(_, w)| d.retry_after > w) {
                    worst = Some((i, d.retry_after));
                }
                if let Some(slot) = decisions.get_mut(i) {
                    *slot = d;
                }
            }
            if let Some(slot) = steps.get_mut(i) {
                *slot = Some(step);
            }
        }
        let outcome = match worst {
            Some((index, _)) => Verdict::Denied { index },
            None => Verdict::Allowed,
        };
        let admitted = worst.is_none();
        for (i, ((limit, slot), step)) in limit_of.iter().zip(&found).zip(&steps).enumerate() {
            if let (Some(limit), Some(state), Some(step)) =
                (limit, state_of(&self.slots, *slot, fresh.get(i)), step)
                && limit.admits(step)
                && let Some(d) = decisions.get_mut(i)
            {
                *d = limit.decision(state, step, admitted);
            }
        }
        if !admitted || cost == 0 {
            return Ok(KeysDecision { outcome, decisions });
        }
        // Room for the new keys first, keeping the request's own entries where they are.
        let new = fresh.iter().filter(|f| f.is_some()).count();
        if new > 0 {
            // The request's own entries stay, so if its keys exceed the table, no wait and no
            // eviction can ever make room: say so before evicting anything.
            if M > Self::CAPACITY {
                return Err(TableError::Full {
                    retry_after: Duration::<HZ>::from_ticks(
                        u64::MAX.saturating_sub(now.as_ticks()),
                    ),
                });
            }
            self.make_room(limits, now, new, |k| keys.contains(k))?;
        }
        for (i, ((key, hash), (limit, step))) in keys
            .into_iter()
            .zip(hashes)
            .zip(limit_of.iter().zip(&steps))
            .enumerate()
        {
            let (Some(limit), Some(step)) = (limit, step) else {
                continue;
            };
            match fresh.get_mut(i).and_then(Option::take) {
                Some(mut state) => {
                    limit.record(&mut state, step);
                    if !limit.is_at_rest(&state, now) {
                        self.insert_new(Slot {
                            hash,
                            key,
                            value: state,
                        });
                    }
                }
                None => {
                    // Pinned while room was made, so still in the table (maybe moved).
                    if let Some(slot) = self.find(&key, hash)
                        && let Some(Some(entry)) = self.slots.get_mut(slot)
                    {
                        limit.record(&mut entry.value, step);
                        if limit.is_at_rest(&entry.value, now) {
                            self.remove_at(slot);
                        }
                    }
                }
            }
        }
        Ok(KeysDecision { outcome, decisions })
    }
}

/// The answer to a check over several keys: the verdict (a denial names the key's position)
/// and each key's decision, in the order the keys were given. Keys that would have admitted a
/// denied request report their state without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeysDecision<const HZ: u64, const M: usize> {
    /// Admitted, or denied by the key at `index`.
    pub outcome: Verdict,
    /// Each key's decision.
    pub decisions: [Decision<HZ>; M],
}

impl<const HZ: u64, const M: usize> KeysDecision<HZ, M> {
    /// Whether every key admitted the request (and it was recorded for all).
    pub const fn is_allowed(&self) -> bool {
        matches!(self.outcome, Verdict::Allowed)
    }

    /// Whether some key denied it (and nothing was recorded).
    pub const fn is_denied(&self) -> bool {
        !self.is_allowed()
    }

    /// The position of the key that denied, the one with the longest wait.
    pub const fn denied_index(&self) -> Option<usize> {
        match self.outcome {
            Verdict::Denied { index } => Some(index),
            Verdict::Allowed | Verdict::Forced => None,
        }
    }

    /// `None` if admitted, else the longest wait of the keys that denied: after it, with nothing
    /// else arriving, every key admits the request.
    pub fn retry_after(&self) -> Option<Duration<HZ>> {
        self.decisions.get(self.denied_index()?)?.retry_after
    }

    /// How long the admitted request waits before it proceeds: the longest delay (a key limited
    /// by a [`Shaper`](crate::Shaper)).
    pub fn delay(&self) -> Duration<HZ> {
        self.decisions
            .iter()
            .map(|d| d.delay)
            .max()
            .unwrap_or(Duration::<HZ>::from_ticks(0))
    }
}

/// The instant at which `state` comes to rest if nothing else arrives (`now` if it already is),
/// or `None` when waiting alone never brings it to rest (requests in flight, which only a
/// release frees). Stores that drop idle keys or evict the entry closest to rest, as the key
/// table does, ask this.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Concurrency, Gcra, Instant, Quota};
/// use tollgate_core::table::comes_to_rest;
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(1)?.with_burst(2)?);
/// let mut s = gcra.new_state();
/// let t0 = Instant::<1_000>::from_ticks(0);
/// assert_eq!(comes_to_rest(&gcra, &s, t0), Some(t0));
/// gcra.check(&mut s, t0, 2)?;
/// assert_eq!(comes_to_rest(&gcra, &s, t0), Some(Instant::from_ticks(2_000)));
/// let c = Concurrency::<1_000>::new(5)?;
/// let mut held = c.new_state();
/// c.check(&mut held, t0, 1)?;
/// assert_eq!(comes_to_rest(&c, &held, t0), None); // only a release frees it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn comes_to_rest<A: Algorithm<HZ>, const HZ: u64>(
    limit: &A,
    state: &A::State,
    now: Instant<HZ>,
) -> Option<Instant<HZ>> {
    if limit.is_at_rest(state, now) {
        return Some(now);
    }
    rest_tick(limit, state, now).map(Instant::<HZ>::from_ticks)
}

/// The tick at which `state` comes to rest if nothing else arrives, or `None` when waiting alone
/// never brings it to rest.
///
/// `state` must not be at rest at `now` (callers drop those first). A state that is not at rest
/// even at the end of time holds something only an event frees: requests in flight, which a
/// release frees (a [`Concurrency`](crate::Concurrency) limit reports its retry hint as `reset`
/// then, not a time to rest), or an admission so close to the end of time that it never leaves
/// its window. Otherwise, by the [`Algorithm`] contract, it comes to rest at some instant and
/// stays there; its `reset` says when.
fn rest_tick<A: Algorithm<HZ>, const HZ: u64>(
    limit: &A,
    state: &A::State,
    now: Instant<HZ>,
) -> Option<u64> {
    if !limit.is_at_rest(state, Instant::<HZ>::from_ticks(u64::MAX)) {
        return None;
    }
    let reset = limit.peek(state, now, 0).map_or(0, |d| d.reset.as_ticks());
    // Not at rest at `now`, so not before the next tick, whatever `reset` says.
    Some(now.as_ticks().saturating_add(reset.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Concurrency, ConcurrencyState, Gcra, GcraState, Named, Quota};
    use core::mem::size_of;

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    fn per_second(n: u32) -> Gcra<1_000> {
        Gcra::new(Quota::per_second(n).unwrap())
    }

    fn concurrency(max: u32) -> Concurrency<1_000> {
        Concurrency::new(max).unwrap()
    }

    /// Every key hashes alike: one long cluster, the worst case for probing and deletion.
    #[derive(Debug, Clone, Copy, Default)]
    struct Collide;

    impl BuildHasher for Collide {
        type Hasher = Fnv1aHasher;
        fn build_hasher(&self) -> Fnv1aHasher {
            Fnv1aHasher(5)
        }
    }

    impl Hasher for Collide {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn an_entry_costs_its_key_its_state_and_a_hash_in_the_padding() {
        assert_eq!(size_of::<GcraState>(), 8);
        assert_eq!(size_of::<Option<Slot<u64, GcraState>>>(), 24);
        assert_eq!(size_of::<Option<Slot<u32, GcraState>>>(), 16);
        assert_eq!(
            size_of::<Option<Slot<u64, (GcraState, GcraState, GcraState)>>>(),
            40
        );
        // The whole table: its slots plus three words (len, cursor, quiet_until); the overflow
        // policy is in the type.
        assert_eq!(
            size_of::<KeyTable<u64, GcraState, 1024>>(),
            1024 * 24 + 3 * 8
        );
        assert_eq!(
            size_of::<KeyTable<u64, GcraState, 1024, EvictLeastLoss>>(),
            1024 * 24 + 3 * 8
        );
        assert_eq!(KeyTable::<u64, GcraState, 1024>::CAPACITY, 896);
        assert_eq!(KeyTable::<u64, GcraState, 1>::CAPACITY, 1);
    }

    #[test]
    fn denials_zero_costs_and_peeks_never_take_a_slot() {
        let g = per_second(1);
        let mut t = KeyTable::<u64, GcraState, 8>::new();
        assert!(t.check(&g, 1, at(0), 0).unwrap().is_allowed());
        assert!(t.peek(&g, &2, at(0), 1).unwrap().is_allowed());
        assert_eq!(
            t.check(&g, 3, at(0), 2),
            Err(TableError::InsufficientCapacity(InsufficientCapacity::new(
                2, 1
            )))
        );
        assert!(t.is_empty());
        let mut t = KeyTable::<u64, (GcraState,), 8>::new();
        let p = Policy::new((Named::new("s", g),));
        let forced = t.check_policy(&p, 4, at(0), 1, &Overrides::deny());
        assert!(forced.unwrap().is_denied());
        assert!(t.is_empty());
    }

    #[test]
    fn an_entry_that_comes_to_rest_is_dropped_when_next_touched() {
        let g = per_second(1);
        let mut t = KeyTable::<u64, GcraState, 8>::new();
        t.check(&g, 1, at(0), 1).unwrap();
        assert_eq!(t.get(&1), Some(&GcraState::from_raw(1_000)));
        t.check(&g, 1, at(5_000), 0).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_drops_entries_at_rest_before_refusing() {
        let g = per_second(1);
        let mut t = KeyTable::<u64, GcraState, 8>::new();
        for k in 0..7 {
            t.check(&g, k, at(k * 100), 1).unwrap();
        }
        assert_eq!(t.len(), 7);
        // At 1 050 ms keys 0 (rest at 1 000) has come to rest; the others have not.
        assert!(t.check(&g, 100, at(1_050), 1).unwrap().is_allowed());
        assert_eq!(t.get(&0), None);
        assert_eq!(t.len(), 7);
        // Now every entry is active; key 1 rests first, at 1 100 ms.
        assert_eq!(
            t.check(&g, 101, at(1_050), 1),
            Err(TableError::Full {
                retry_after: D::from_millis(50)
            })
        );
        // Refused in O(1) until then, and known keys are still served.
        assert_eq!(
            t.check(&g, 102, at(1_099), 1),
            Err(TableError::Full {
                retry_after: D::from_millis(1)
            })
        );
        assert!(t.check(&g, 6, at(1_099), 1).unwrap().is_denied());
        assert!(t.check(&g, 101, at(1_100), 1).unwrap().is_allowed());
        assert_eq!(t.get(&1), None);
    }

    #[test]
    fn removing_an_entry_forgets_the_cached_wait_of_a_full_table() {
        // One request per 100 ms, bursts of 10.
        let g = Gcra::new(Quota::per_second(10).unwrap());
        let mut t = KeyTable::<u64, GcraState, 2>::new();
        t.check(&g, 1, at(0), 10).unwrap();
        t.check(&g, 2, at(0), 10).unwrap();
        let full = Err(TableError::Full {
            retry_after: D::from_secs(1),
        });
        assert_eq!(t.check(&g, 3, at(0), 1), full);
        t.remove(&2);
        t.check(&g, 4, at(0), 1).unwrap(); // full again; key 4 rests at 100 ms, before the old wait
        assert!(t.check(&g, 5, at(100), 1).unwrap().is_allowed());
        assert_eq!(t.get(&4), None);
    }

    #[test]
    fn evict_least_loss_evicts_the_entry_closest_to_rest() {
        let g = Gcra::new(Quota::per_second(1).unwrap().with_burst(5).unwrap());
        let mut t = KeyTable::<u64, GcraState, 4, EvictLeastLoss>::evicting();
        for (k, cost) in [(0, 5), (1, 2), (2, 4), (3, 3)] {
            t.check(&g, k, at(0), cost).unwrap();
        }
        assert!(t.check(&g, 9, at(0), 1).unwrap().is_allowed());
        assert_eq!(t.get(&1), None);
        let mut keys: Vec<u64> = t.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, [0, 2, 3, 9]);
        // The evicted key starts afresh: the documented over-admission.
        assert_eq!(t.check(&g, 1, at(0), 5).unwrap().remaining, 0);
        assert_eq!(t.get(&9), None); // 9 had one second to go, the least
    }

    #[test]
    fn colliding_keys_survive_any_order_of_removals() {
        let g = per_second(1);
        let mut t = KeyTable::<u64, GcraState, 16, Deny, Collide>::with_hasher(Collide);
        for k in 0..14 {
            t.check(&g, k, at(k), 1).unwrap();
        }
        assert_eq!(
            t.check(&g, 99, at(14), 1),
            Err(TableError::Full {
                retry_after: D::from_millis(986)
            })
        );
        for k in [3, 0, 13, 7, 8] {
            assert_eq!(t.remove(&k), Some(GcraState::from_raw(k + 1_000)));
        }
        for k in 0..14 {
            assert_eq!(
                t.get(&k).is_some(),
                ![3, 0, 13, 7, 8].contains(&k),
                "key {k}"
            );
        }
        // Keys at rest are swept wherever they sit in the cluster.
        assert_eq!(t.purge(&g, at(1_005)), 4); // keys 1, 2, 4, 5 rest by 1 005 ms (tat = k + 1 000)
        assert_eq!(t.len(), 5);
        assert!(t.check(&g, 12, at(1_005), 1).unwrap().is_denied());
    }

    #[test]
    fn a_release_that_brings_an_entry_to_rest_drops_it_and_reopens_a_full_table() {
        let c = concurrency(2).with_retry_hint(D::from_ticks(10));
        let mut t = KeyTable::<u8, ConcurrencyState, 2>::new();
        t.check(&c, 1, at(0), 1).unwrap();
        t.check(&c, 2, at(0), 2).unwrap();
        // Both entries hold in-flight requests: waiting alone frees nothing.
        let never = |now: u64| {
            Err(TableError::Full {
                retry_after: D::from_ticks(u64::MAX - now),
            })
        };
        assert_eq!(t.check(&c, 3, at(5), 1), never(5));
        assert_eq!(t.check(&c, 3, at(0), 1), never(0)); // answered from the cached bound
        assert_eq!(
            t.release(&c, 2, at(0), 3),
            Err(TableError::Release(ReleaseError {
                released: 3,
                in_flight: 2
            }))
        );
        assert_eq!(
            t.release(&c, 9, at(0), 1),
            Err(TableError::Release(ReleaseError {
                released: 1,
                in_flight: 0
            }))
        );
        t.release(&c, 2, at(0), 2).unwrap();
        assert_eq!(t.get(&2), None);
        assert!(t.check(&c, 3, at(0), 1).unwrap().is_allowed());
    }

    #[test]
    fn with_deny_entries_holding_real_in_flight_requests_are_full_until_the_end_of_time() {
        // The real limit reports its one-second hint as `reset` while anything is in flight,
        // but waiting never frees a slot: only a release does.
        let c = concurrency(2);
        let mut t = KeyTable::<u8, ConcurrencyState, 2>::new();
        t.check(&c, 1, at(0), 2).unwrap();
        t.check(&c, 2, at(0), 1).unwrap();
        let never = |now: u64| {
            Err(TableError::Full {
                retry_after: D::from_ticks(u64::MAX - now),
            })
        };
        assert_eq!(t.check(&c, 3, at(0), 1), never(0));
        assert_eq!(t.check(&c, 3, at(1_000), 1), never(1_000)); // the hint has passed
        assert_eq!(t.check(&c, 3, at(u64::MAX - 1), 1), never(u64::MAX - 1));
        assert_eq!(t.get(&1).map(|s| s.in_flight()), Some(2));
        // A release that leaves something in flight frees nothing; one that empties an entry does.
        t.release(&c, 1, at(5_000), 1).unwrap();
        assert_eq!(t.check(&c, 3, at(5_000), 1), never(5_000));
        t.release(&c, 2, at(5_000), 1).unwrap();
        assert_eq!(t.get(&2), None);
        assert!(t.check(&c, 3, at(5_000), 1).unwrap().is_allowed());
    }

    #[test]
    fn evict_least_loss_never_evicts_real_in_flight_requests() {
        let c = concurrency(2);
        let mut t = KeyTable::<u8, ConcurrencyState, 2, EvictLeastLoss>::evicting();
        t.check(&c, 1, at(0), 2).unwrap();
        t.check(&c, 2, at(0), 1).unwrap();
        // Evicting key 1 would forget two admitted requests: the key could then hold four.
        assert_eq!(
            t.check(&c, 3, at(2_000), 1),
            Err(TableError::Full {
                retry_after: D::from_ticks(u64::MAX - 2_000)
            })
        );
        assert!(t.check(&c, 1, at(2_000), 1).unwrap().is_denied());
        assert_eq!(t.get(&1).map(|s| s.in_flight()), Some(2));
        assert_eq!(t.get(&2).map(|s| s.in_flight()), Some(1));
        // Once one entry is released to rest, the new key gets its slot.
        t.release(&c, 2, at(2_000), 1).unwrap();
        assert!(t.check(&c, 3, at(2_000), 1).unwrap().is_allowed());
        assert!(t.check(&c, 1, at(2_000), 1).unwrap().is_denied());
    }

    #[test]
    fn in_a_policy_only_the_in_flight_part_pins_an_entry() {
        // A rate limit and a concurrency limit per key: an entry whose requests have all been
        // released can be evicted (it only loses rate history), one with requests in flight not.
        let p = Policy::new((
            Named::new("rate", per_second(1)),
            Named::new("concurrent", concurrency(1)),
        ));
        let mut t = KeyTable::<u8, (GcraState, ConcurrencyState), 2, EvictLeastLoss>::evicting();
        t.check(&p, 1, at(0), 1).unwrap(); // in flight, rate at rest at 1 000 ms
        t.check(&p, 2, at(500), 1).unwrap(); // in flight, rate at rest at 1 500 ms
        let full = t.check(&p, 3, at(600), 1);
        assert_eq!(
            full,
            Err(TableError::Full {
                retry_after: D::from_ticks(u64::MAX - 600)
            })
        );
        // Key 2 finishes: still active (rate), but no longer pinned, so it is evicted although
        // key 1 would rest sooner by its rate alone.
        t.release(&p, 2, at(600), 1).unwrap();
        assert!(t.get(&2).is_some());
        assert!(t.check(&p, 3, at(600), 1).unwrap().is_allowed());
        assert_eq!(t.get(&2), None);
        assert!(t.get(&1).is_some_and(|s| s.1.in_flight() == 1));
        // Under Deny, the same table waits for key 2's rate to rest, since key 1 never will.
        let mut t = KeyTable::<u8, (GcraState, ConcurrencyState), 2>::new();
        t.check(&p, 1, at(0), 1).unwrap();
        t.check(&p, 2, at(500), 1).unwrap();
        t.release(&p, 2, at(600), 1).unwrap();
        assert_eq!(
            t.check(&p, 3, at(600), 1),
            Err(TableError::Full {
                retry_after: D::from_millis(900)
            })
        );
        assert!(t.check(&p, 3, at(1_500), 1).unwrap().is_allowed());
        assert_eq!(t.get(&2), None);
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Plan {
        Free,
        Pro,
    }

    #[test]
    fn entries_whose_key_lost_its_limit_are_swept() {
        let tiers = Tiers::new([(Plan::Free, per_second(1)), (Plan::Pro, per_second(1))]);
        let mut t = KeyTable::<(Plan, u8), GcraState, 2>::new();
        t.check(&tiers, (Plan::Free, 1), at(0), 1).unwrap();
        t.check(&tiers, (Plan::Pro, 1), at(0), 1).unwrap();
        let fewer = Tiers::new([(Plan::Free, per_second(1))]);
        assert!(t.check(&fewer, (Plan::Free, 2), at(0), 1).is_ok());
        assert_eq!(t.get(&(Plan::Pro, 1)), None);
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let h = |b: &[u8]| {
            let mut s = Fnv1a.build_hasher();
            s.write(b);
            s.finish()
        };
        assert_eq!(h(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(h(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(h(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn errors_display_their_reason() {
        let e: TableError<1_000> = TableError::Full {
            retry_after: D::from_ticks(5),
        };
        assert_eq!(
            e.to_string(),
            "the key table is full of active entries for 5 more ticks"
        );
        assert_eq!(
            TableError::<1_000>::NoLimit.to_string(),
            "no limit is configured for this key"
        );
    }

    #[test]
    fn a_table_holds_a_shaper_per_key_and_answers_its_delay() {
        use crate::{Shaper, ShaperState};
        // One message per second per number, queued up to 3 s instead of refused.
        let per_number =
            Shaper::new(Quota::<1_000>::per_second(1).unwrap(), D::from_secs(3)).unwrap();
        let mut t = KeyTable::<u64, ShaperState, 8>::new();
        let delays: Vec<u64> = (0..4)
            .map(|_| t.check(&per_number, 7, at(0), 1).unwrap().delay.as_millis())
            .collect();
        assert_eq!(delays, [0, 1_000, 2_000, 3_000]);
        assert!(t.check(&per_number, 7, at(0), 1).unwrap().is_denied());
        // Another number is not queued behind it.
        assert_eq!(
            t.check(&per_number, 8, at(0), 1).unwrap().delay,
            D::from_ticks(0)
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_several_key_request_that_cannot_fit_leaves_no_bound_on_single_keys() {
        // Regression (fuzz target `table`): three new keys can never fit one slot; that Full
        // used to set the "no room until" bound to the end of time, and every later new key was
        // refused instead of evicting (or, under Deny, of dropping an entry at rest).
        let limit = Gcra::new(
            Quota::<1_000>::per_second(1)
                .unwrap()
                .with_burst(5)
                .unwrap(),
        );
        let mut t = KeyTable::<u8, GcraState, 1, EvictLeastLoss>::evicting();
        // They can never fit: the wait is to the end of time, not a tick.
        assert_eq!(
            t.check_keys(&limit, [1, 2, 3], at(0), 1).unwrap_err(),
            TableError::Full {
                retry_after: D::from_ticks(u64::MAX)
            }
        );
        assert!(t.check(&limit, 4, at(0), 1).unwrap().is_allowed());
        // A request of more keys than the table holds evicts nothing on its way to failing.
        assert!(t.check_keys(&limit, [8, 9], at(0), 1).is_err());
        assert!(t.get(&4).is_some());
        assert!(t.check(&limit, 5, at(10), 1).unwrap().is_allowed()); // evicts 4
        assert!(t.get(&4).is_none() && t.get(&5).is_some());

        // Deny: two new keys do not fit the one free slot; a single key then takes it and comes
        // to rest first (at 1 s, the others at 5 s), and a new key at 2 s gets its slot.
        let mut d = KeyTable::<u8, GcraState, 8>::new();
        for k in 0..6 {
            d.check(&limit, k, at(0), 5).unwrap();
        }
        // The request's own keys (none here but the two new ones) free nothing for it; the others
        // rest in 5 s.
        assert_eq!(
            d.check_keys(&limit, [20, 21], at(0), 1).unwrap_err(),
            TableError::Full {
                retry_after: D::from_secs(5)
            }
        );
        d.check(&limit, 7, at(0), 1).unwrap();
        assert_eq!(d.len(), d.capacity());
        assert!(d.check(&limit, 30, at(2_000), 1).unwrap().is_allowed());
    }
}
