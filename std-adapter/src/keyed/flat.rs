//! A table that finds a small entry with one cache miss: open addressing over 64-byte buckets.
//!
//! hashbrown keeps a group of control bytes apart from its entries, so a lookup in a table too
//! large for the cache misses twice: the control bytes, then the entry. Here the entries are
//! the table: slots of `Option<T>` in buckets of [`SLOTS`] on a cache line of their own, and a
//! lookup reads slots from the first of its home bucket (the hash scaled to the bucket count,
//! so any count works) onwards until it finds its entry or an empty slot. For a 16-byte entry
//! with a niche for `None` (a `u64` key and a `NonZeroU64` state) a bucket is one line, and at
//! the loads the table keeps (at most 7/8 full) most entries sit in their home bucket: one
//! miss. The table grows by half, not by doubling as hashbrown does, so past its first few
//! buckets it is 58% to 7/8 full, never half empty.
//!
//! Linear probing with no tombstones: removal shifts the entries after the hole back into it
//! while their home allows (Knuth's Algorithm R), so every entry stays reachable from its home
//! through occupied slots, and a lookup may stop at the first empty slot. The price is that the
//! table does not keep hashes, so removal and growth rehash the keys they move (a `u64` under
//! foldhash: a multiply or two).
//!
//! Slots are addressed by index (`0..slots()`), for the sweep and for eviction. A removal moves
//! later entries back, possibly into the removed slot: whoever walks the slots looks at a slot
//! again after removing from it (see [`Flat::retain`]).

/// Slots per bucket: four 16-byte entries fill a 64-byte cache line.
pub(crate) const SLOTS: usize = 4;

/// Entries held at most, as a fraction of slots (hashbrown's own bound: 7/8).
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

/// One cache line of slots (more than one if `T` is larger than 16 bytes).
#[derive(Debug)]
#[repr(align(64))]
struct Bucket<T>([Option<T>; SLOTS]);

impl<T> Bucket<T> {
    fn empty() -> Self {
        Self(std::array::from_fn(|_| None))
    }
}

/// Open addressing by linear probing over cache-line buckets: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Flat<T> {
    /// Any number of buckets, none before the first insertion.
    buckets: Box<[Bucket<T>]>,
    len: usize,
}

impl<T> Default for Flat<T> {
    fn default() -> Self {
        Self {
            buckets: Box::new([]),
            len: 0,
        }
    }
}

impl<T> Flat<T> {
    /// Entries held.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Slots, held or empty: indices run over `0..slots()`.
    pub(crate) const fn slots(&self) -> usize {
        self.buckets.len() * SLOTS
    }

    /// `hash`'s home bucket: the hash times the golden ratio (Fibonacci hashing, which carries
    /// every bit of the hash into the high ones), scaled to the bucket count by its high bits
    /// (Lemire's multiply and shift). Bits that every hash of a table shares (the map picks the
    /// shard from bits 40 to 45) add a constant there, which only turns the table round; and a
    /// weak hasher (the identity) still spreads keys over the buckets.
    #[inline]
    fn home_bucket(&self, hash: u64) -> usize {
        let mixed = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Below the bucket count, so it fits.
        ((u128::from(mixed) * self.buckets.len() as u128) >> 64) as usize
    }

    /// The slot after `i`, round to the first after the last.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots() { 0 } else { i + 1 }
    }

    /// How many slots forward from `from` to `to`, round the end if need be.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots() - from
        }
    }

    /// The first slot of `hash`'s home bucket (the table has buckets).
    fn home(&self, hash: u64) -> usize {
        self.home_bucket(hash) * SLOTS
    }

    /// The entry in slot `i`, if any.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.buckets.get(i / SLOTS)?.0[i % SLOTS].as_ref()
    }

    /// The entry in slot `i`, if any, to change in place (not its key: its home must not move).
    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.buckets.get_mut(i / SLOTS)?.0[i % SLOTS].as_mut()
    }

    fn slot(&mut self, i: usize) -> &mut Option<T> {
        &mut self.buckets[i / SLOTS].0[i % SLOTS]
    }

    /// The slot of the entry of `hash` that `is` accepts.
    #[inline]
    pub(crate) fn find(&self, hash: u64, is: impl Fn(&T) -> bool) -> Option<usize> {
        let mut b = self.home_bucket(hash);
        // An empty slot always ends the walk (the table is never full); the bound only makes
        // that visible, and stops at once when there are no buckets yet.
        for _ in 0..self.buckets.len() {
            for (j, slot) in self.buckets.get(b)?.0.iter().enumerate() {
                match slot {
                    None => return None,
                    Some(t) if is(t) => return Some(b * SLOTS + j),
                    Some(_) => {}
                }
            }
            b = if b + 1 == self.buckets.len() {
                0
            } else {
                b + 1
            };
        }
        None
    }

    /// Inserts `value`, whose hash is `hash` and which is not in the table yet; returns its
    /// slot. Grows the table first if it would be more than 7/8 full, rehashing every entry
    /// with `rehash`.
    pub(crate) fn insert(&mut self, hash: u64, value: T, rehash: impl Fn(&T) -> u64) -> usize {
        if (self.len + 1) * LOAD_DEN > self.slots() * LOAD_NUM {
            self.grow(&rehash);
        }
        self.len += 1;
        self.place(hash, value)
    }

    /// Puts `value` in the first empty slot from its home on (there is one).
    fn place(&mut self, hash: u64, value: T) -> usize {
        let mut i = self.home(hash);
        while self.get(i).is_some() {
            i = self.next(i);
        }
        *self.slot(i) = Some(value);
        i
    }

    /// Adds half as many buckets again (one to start with) and puts every entry back from
    /// its home.
    fn grow(&mut self, rehash: &impl Fn(&T) -> u64) {
        let buckets = (self.buckets.len() * 3 / 2).max(self.buckets.len() + 1);
        let old = std::mem::replace(
            &mut self.buckets,
            (0..buckets).map(|_| Bucket::empty()).collect(),
        );
        for value in old.into_vec().into_iter().flat_map(|b| b.0).flatten() {
            self.place(rehash(&value), value);
        }
    }

    /// Removes the entry in slot `i` and shifts the entries after it back while their homes
    /// allow, so that no entry is cut off from its home by an empty slot. The slot may hold
    /// another entry afterwards.
    pub(crate) fn remove(&mut self, i: usize, rehash: impl Fn(&T) -> u64) -> Option<T> {
        let removed = self.buckets.get_mut(i / SLOTS)?.0[i % SLOTS].take()?;
        self.len -= 1;
        let (mut hole, mut j) = (i, i);
        loop {
            j = self.next(j);
            let Some(t) = self.get(j) else { break };
            // The entry at `j` may fill the hole if the hole lies on its walk from its home:
            // at least as far from `j`, going back, as its home is.
            let home = self.home(rehash(t));
            if self.distance(home, j) >= self.distance(hole, j) {
                let moved = self.slot(j).take();
                *self.slot(hole) = moved;
                hole = j;
            }
        }
        Some(removed)
    }

    /// Removes every entry `keep` refuses; returns how many. `keep` may see an entry twice
    /// (one that a removal moved from the start of the table to its end).
    pub(crate) fn retain(
        &mut self,
        mut keep: impl FnMut(&T) -> bool,
        rehash: impl Fn(&T) -> u64,
    ) -> usize {
        let before = self.len;
        for i in 0..self.slots() {
            // A removal can move a later entry into `i`: look again.
            while self.get(i).is_some_and(|t| !keep(t)) {
                self.remove(i, &rehash);
            }
        }
        before - self.len
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Key and value; the hash is chosen by the test (colliding on purpose).
    type Entry = (u64, u32);

    /// A hash with few distinct values, so that chains meet and wrap around.
    fn colliding(k: u64) -> u64 {
        k % 7
    }

    fn rehash(e: &Entry) -> u64 {
        colliding(e.0)
    }

    fn find(t: &Flat<Entry>, k: u64) -> Option<u32> {
        let i = t.find(colliding(k), |e| e.0 == k)?;
        t.get(i).map(|e| e.1)
    }

    fn remove(t: &mut Flat<Entry>, k: u64) -> Option<u32> {
        let i = t.find(colliding(k), |e| e.0 == k)?;
        t.remove(i, rehash).map(|e| e.1)
    }

    /// Every entry is reachable: from its home to its slot, no slot is empty.
    fn assert_chains_intact(t: &Flat<Entry>, rehash: impl Fn(&Entry) -> u64) {
        let mut held = 0;
        for i in 0..t.slots() {
            if let Some(e) = t.get(i) {
                held += 1;
                let mut j = t.home(rehash(e));
                while j != i {
                    assert!(t.get(j).is_some(), "slot {j} empty between home and {i}");
                    j = t.next(j);
                }
            }
        }
        assert_eq!(held, t.len());
        assert!(t.len() * LOAD_DEN <= t.slots() * LOAD_NUM);
    }

    #[test]
    fn colliding_keys_are_found_inserted_and_removed() {
        let mut t = Flat::default();
        assert_eq!(find(&t, 3), None);
        for k in 0..100 {
            t.insert(colliding(k), (k, k as u32 * 10), rehash);
            assert_chains_intact(&t, rehash);
        }
        assert_eq!(t.len(), 100);
        assert!(t.slots() >= 100 * LOAD_DEN / LOAD_NUM);
        for k in 0..100 {
            assert_eq!(find(&t, k), Some(k as u32 * 10));
        }
        assert_eq!(find(&t, 100), None);
        // Removing from the middle of long chains keeps the rest reachable.
        for k in (0..100).step_by(3) {
            assert_eq!(remove(&mut t, k), Some(k as u32 * 10));
            assert_chains_intact(&t, rehash);
        }
        for k in 0..100 {
            let expect = (k % 3 != 0).then_some(k as u32 * 10);
            assert_eq!(find(&t, k), expect);
        }
        assert_eq!(remove(&mut t, 0), None);
    }

    #[test]
    fn a_chain_wrapping_past_the_last_slot_survives_removals() {
        let mut t = Flat::default();
        // One hash, the last bucket's: the chain runs from the last bucket round into the
        // first ones.
        // The hash that the golden ratio takes to u64::MAX: its inverse (Newton's iteration
        // doubles the bits right each time), negated.
        let golden = 0x9e37_79b9_7f4a_7c15_u64;
        let inverse = (0..6).fold(golden, |x: u64, _| {
            x.wrapping_mul(2u64.wrapping_sub(golden.wrapping_mul(x)))
        });
        let h = inverse.wrapping_neg();
        let last = |_: &Entry| h;
        for k in 0..20 {
            t.insert(h, (k, 0), last);
        }
        assert_eq!(t.home(h), t.slots() - SLOTS);
        assert!(t.get(0).is_some(), "the chain wraps round");
        let mut removed = Vec::new();
        for k in [5, 0, 19, 12] {
            let i = t.find(h, |e| e.0 == k).unwrap();
            assert_eq!(t.remove(i, last), Some((k, 0)));
            removed.push(k);
            assert_chains_intact(&t, last);
            for other in 0..20 {
                let held = t.find(h, |e| e.0 == other).is_some();
                assert_eq!(held, !removed.contains(&other), "key {other}");
            }
        }
        assert_eq!(t.len(), 16);
    }

    #[test]
    fn sequential_hashes_spread_over_the_buckets() {
        // An identity hasher over keys 0, 1, 2, ...: every entry stays near its home.
        let mut t = Flat::default();
        let identity = |e: &Entry| e.0;
        for k in 0..10_000 {
            t.insert(k, (k, 0), identity);
        }
        let longest = (0..t.slots())
            .filter_map(|i| t.get(i).map(|e| t.distance(t.home(e.0), i)))
            .max();
        assert!(longest < Some(4 * SLOTS), "{longest:?}");
    }

    #[test]
    fn retain_removes_exactly_the_refused() {
        let mut t = Flat::default();
        for k in 0..500 {
            t.insert(colliding(k), (k, (k % 5) as u32), rehash);
        }
        let removed = t.retain(|e| e.1 != 0, rehash);
        assert_eq!(removed, 100);
        assert_chains_intact(&t, rehash);
        for k in 0..500 {
            assert_eq!(find(&t, k).is_some(), k % 5 != 0);
        }
    }

    #[test]
    fn an_empty_table_holds_nothing_and_allocates_nothing() {
        let mut t = Flat::<Entry>::default();
        assert_eq!((t.len(), t.slots()), (0, 0));
        assert_eq!(t.get(0), None);
        assert_eq!(t.remove(0, rehash), None);
        assert_eq!(t.retain(|_| false, rehash), 0);
    }

    #[test]
    fn a_sixteen_byte_entry_fills_a_quarter_line() {
        use std::num::NonZeroU64;
        assert_eq!(size_of::<Option<(u64, NonZeroU64)>>(), 16);
        assert_eq!(size_of::<Bucket<(u64, NonZeroU64)>>(), 64);
        assert_eq!(align_of::<Bucket<(u64, NonZeroU64)>>(), 64);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        Update(u64, u32),
        Retain(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..64, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u64..64).prop_map(Op::Remove),
            2 => (0u64..64, any::<u32>()).prop_map(|(k, v)| Op::Update(k, v)),
            1 => (2u32..6).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// The table holds what a `HashMap` holds after the same operations, with hashes that
        /// collide (`modulus` distinct values) and chains that wrap around.
        #[test]
        fn behaves_as_a_hash_map(ops in prop::collection::vec(op(), 1..300), modulus in 1u64..40) {
            let h = |k: u64| k % modulus;
            let rh = |e: &Entry| h(e.0);
            let mut t = Flat::default();
            let mut model = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        if let Some(i) = t.find(h(k), |e: &Entry| e.0 == k) {
                            t.get_mut(i).unwrap().1 = v;
                        } else {
                            t.insert(h(k), (k, v), rh);
                        }
                        model.insert(k, v);
                    }
                    Op::Remove(k) => {
                        let got = t.find(h(k), |e| e.0 == k).and_then(|i| t.remove(i, rh));
                        prop_assert_eq!(got.map(|e| e.1), model.remove(&k));
                    }
                    Op::Update(k, v) => {
                        if let Some(i) = t.find(h(k), |e| e.0 == k) {
                            t.get_mut(i).unwrap().1 = v;
                        }
                        if let Some(m) = model.get_mut(&k) {
                            *m = v;
                        }
                    }
                    Op::Retain(m) => {
                        let before = model.len();
                        model.retain(|_, v| *v % m != 0);
                        prop_assert_eq!(t.retain(|e| e.1 % m != 0, rh), before - model.len());
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                assert_chains_intact(&t, rh);
                for k in 0..64 {
                    let got = t.find(h(k), |e| e.0 == k).and_then(|i| t.get(i)).map(|e| e.1);
                    prop_assert_eq!(got, model.get(&k).copied());
                }
            }
            let mut held: Vec<Entry> = (0..t.slots()).filter_map(|i| t.get(i).copied()).collect();
            held.sort_unstable();
            let mut expect: Vec<Entry> = model.into_iter().collect();
            expect.sort_unstable();
            prop_assert_eq!(held, expect);
        }
    }
}
