//! Sliding log: remembers every admission inside the window, so the limit is exact.
//!
//! The state is a fixed-capacity ring of the instants at which requests were admitted, with the
//! cost admitted at each. A request of cost `c` at instant `t` is admitted iff
//!
//! ```text
//! used(t) + c ≤ N   and   live(t) < CAP
//! ```
//!
//! where `used(t)` is the cost recorded at instants in the half-open window `(t − W, t]`, `live(t)`
//! is the number of ring entries in that window, `N` is the quota's [`limit`](Quota::limit) and `W`
//! its [`window`](Quota::window). An admitted request is recorded at `t`. Nothing is ever reset
//! at a boundary: each admission leaves the window exactly `W` ticks after it was made, which is
//! the "rolling hour" of APIs that document it ("the number of requests made over the past hour as of the time
//! you send the request, rather than having the limit reset for each hour").
//!
//! The quota's [`burst`](Quota::burst) plays no part: a sliding log admits the whole limit at once
//! whenever the window has room for it. To also space requests out, combine it with a
//! [`Gcra`](crate::Gcra).
//!
//! # Guarantee
//!
//! **For every instant `x`, the cost admitted at instants in `(x − W, x]` is at most `N`.**
//!
//! Proof. Admissions are recorded at non-decreasing instants (see *A clock that goes backwards*).
//! When a request is admitted at `t`, the cost recorded in `(t − W, t]`, this request included, is
//! at most `N`: that is the admission test, and the ring keeps every entry of that window (an
//! entry only leaves once it is outside every later window). Now take any `x`, and let `t` be the
//! latest admission instant `≤ x` (with none, the window is empty). Every admission in
//! `(x − W, x]` was made at or before `t` and after `x − W ≥ t − W`, so it lies in `(t − W, t]`,
//! whose cost was at most `N` when the last of them was admitted. ∎
//!
//! The decisions are exactly those of a naive log, a list of every `(instant, cost)` ever
//! admitted, under the rule above: the property tests compare them field by field.
//!
//! A denied request gets the **exact** `retry_after`: it is admitted after waiting exactly that
//! long, and not one tick sooner, if nothing else arrives. Every condition above only gets easier
//! as entries leave the window, so the wait is the moment the `j`-th oldest live entry expires,
//! for the smallest `j` that frees enough cost (and, on a full ring, at least one entry).
//!
//! # Decisions
//!
//! - `limit` is `N`: from rest the whole limit is admitted at once (in one entry).
//! - `remaining` is `N − used`, counting this request if it was admitted, and bounded by the
//!   ring: exactly the number of unit requests that would still be admitted one after another at
//!   this instant. It is 0 on a full ring, and at most 1 when one free entry is left and this
//!   instant has no entry yet (the first unit takes it; the rest could join it, but a full ring
//!   denies). With `CAP ≥ N` the ring never binds and it is plain `N − used`.
//! - `reset` is the time until every entry in the window has expired, that is until the newest
//!   one is `W` old; then the state is at rest.
//! - `retry_after` is exact, as above.
//!
//! # Capacity
//!
//! Admissions in the same tick share one ring entry (with their summed cost), and every entry
//! holds a cost of at least one, so the window never holds more than `N` entries. With
//! `CAP ≥ N`, which [`SlidingLog::new`] insists on, the ring never decides anything and the limit
//! is exactly `N` per `W`.
//!
//! [`SlidingLog::new_undersized`] accepts a smaller ring. A ring full of live entries then
//! denies, even a request that could share the newest entry's tick: this is **under-admission,
//! never over-admission**, and such a configuration enforces "at most `N` cost and at most `CAP`
//! distinct admission ticks per window". The `retry_after` stays exact (until the oldest entry
//! expires, or later if cost must also be freed). Letting a same-tick request in despite a full
//! ring would make a decision at an earlier instant more permissive than one at a later instant
//! (where that request needs a new entry), which the [`Algorithm`] contract forbids.
//!
//! # Storage
//!
//! Each entry stores its instant as an offset of type `O` ([`u32`] by default, or [`u16`] or
//! [`u64`]) and the running total of admitted cost through it as a `u32`, in two plain integer
//! arrays: no `MaybeUninit`, no `unsafe`. The offset is the instant modulo `2^bits`, read back as
//! the wrapping distance behind the newest entry, whose full `u64` instant the state keeps: the
//! offsets are counted from a base that moves by whole multiples of `2^bits`, implicitly, so
//! rebasing costs nothing at all (no pass over the ring) and can never overflow. The distance is
//! exact because every stored entry was inside the window when the newest one was recorded, so
//! it is less than `W ≤ 2^bits` ticks behind it. A window longer than `2^bits` ticks
//! ([`Offset::MAX_WINDOW`]) is [`ConfigError::WindowTooLong`]; `u64` offsets take any window.
//!
//! `size_of::<LogState<CAP, O>>()` is exactly `24 + CAP × (size_of::<O>() + 4)` bytes rounded up
//! to a multiple of `align_of::<u64>()` (8 on 64-bit, Arm and RISC-V targets): 8 for the newest
//! instant, 4 each for the ring's size, the total before the oldest entry, the ring's head and its
//! length, and then the two arrays. For example `LogState<50>` (50 per hour, `u32` offsets) takes
//! 424 bytes, `LogState<50, u16>` 328 and `LogState<50, u64>` 624; a plain `(u64, u32)` log would
//! need 800. The same state with a ring whose size is chosen at run time keeps the two arrays
//! wherever its [`Storage`] puts them.
//! A `u32` offset holds windows up to 2^32 ticks: 49.7 days at 1 kHz, 71.6 minutes at 1 MHz.
//!
//! # Cost
//!
//! [`check`](SlidingLog::check) is O(1) amortised: a running total gives the cost in the window
//! without adding anything up, and expired entries are found by a galloping search from the head
//! (O(log k) for k of them) and dropped lazily, at the next admission. A denied check looks at
//! fewer than `cost` expired entries (all stored entries together hold at most `N`) and finds the
//! retry instant among at most `cost` live ones. [`peek`](SlidingLog::peek) and a cost of zero
//! record nothing, so they never drop entries: O(log CAP) at worst.
//!
//! # A clock that goes backwards
//!
//! A `now` earlier than the newest recorded admission is treated as if no time had passed: the
//! request is decided, and recorded if admitted, at the newest recorded instant. This never
//! panics, keeps the log sorted, and is never more permissive than deciding at any later instant
//! (the window then holds at least as much, and at least as many entries). The durations in the
//! [`Decision`] are still counted from the `now` that was passed, so `retry_after` stays exact
//! for the caller. Without recorded admissions there is nothing to clamp to, and the state decides
//! like a fresh one at any `now`.
//!
//! # The end of time
//!
//! An entry recorded within `W` ticks of `u64::MAX` never leaves the window. Durations saturate at
//! `u64::MAX` ticks, and a `retry_after` that would reach past the end of time is not exact.
//!
//! # A state belongs to one configuration
//!
//! Deciding a state with a different limit or window than it was built under never panics, but
//! its decisions are then unspecified.

use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;

use crate::algorithm::storage::{Inline, Storage};
use crate::algorithm::{Algorithm, Allowance, Decision, NotUntil, fits};
use crate::error::{ConfigError, InsufficientCapacity};
use crate::quota::Quota;
use crate::time::{Duration, Instant};

mod sealed {
    /// The private half of [`Offset`](super::Offset): how an offset is made and read.
    pub trait Sealed: Copy {
        /// Zero, for the zeroed arrays of a fresh state.
        const ZERO: Self;
        /// The low bits of an instant.
        fn truncate(ticks: u64) -> Self;
        /// How many ticks `older` lies behind `self`, modulo `2^bits`.
        fn since(self, older: Self) -> u64;
        /// The width in bytes, as records store it.
        const WIDTH: u8;
        /// The stamp as a `u64`.
        fn widen(self) -> u64;
    }
}

/// The integer type a [`LogState`] stores its time stamps in: [`u16`], [`u32`] or [`u64`].
///
/// A narrower type halves (or quarters) the time stamps' memory, and limits the window to
/// [`MAX_WINDOW`](Offset::MAX_WINDOW) ticks. This trait is sealed.
///
/// # Examples
///
/// ```
/// use tollgate_core::{SlidingLog, Quota, ConfigError, Offset};
///
/// assert_eq!(<u32 as Offset>::MAX_WINDOW, 1 << 32);
/// // An hour of microseconds is 3.6e9 ticks: it fits a u32 (4.29e9), a day does not.
/// assert!(SlidingLog::<1_000_000, 50>::new(Quota::per_hour(50)?).is_ok());
/// assert_eq!(SlidingLog::<1_000_000, 50>::new(Quota::per_day(50)?).err(), Some(ConfigError::WindowTooLong));
/// assert!(SlidingLog::<1_000_000, 50, u64>::new(Quota::per_day(50)?).is_ok());
/// # Ok::<(), ConfigError>(())
/// ```
pub trait Offset: sealed::Sealed + Copy + Default + Eq + Hash + fmt::Debug {
    /// The longest window, in ticks, whose time stamps this type can hold: `2^bits` (for `u64`,
    /// `u64::MAX`, which every window fits).
    const MAX_WINDOW: u64;
}

macro_rules! offset {
    ($t:ty, $max:expr) => {
        impl sealed::Sealed for $t {
            const ZERO: Self = 0;

            #[inline(always)]
            fn truncate(ticks: u64) -> Self {
                // Keeping only the low bits is the point: the newest instant supplies the rest.
                ticks as $t
            }

            #[inline(always)]
            fn since(self, older: Self) -> u64 {
                u64::from(self.wrapping_sub(older))
            }

            const WIDTH: u8 = core::mem::size_of::<$t>() as u8;

            #[inline(always)]
            fn widen(self) -> u64 {
                u64::from(self)
            }
        }

        impl Offset for $t {
            const MAX_WINDOW: u64 = $max;
        }
    };
}

offset!(u16, 1 << 16);
offset!(u32, 1 << 32);
offset!(u64, u64::MAX);

/// Sliding-log configuration: at most `limit` per `window`, exactly, over a ring of entries
/// whose time stamps are of type `O` and which live in storage `S`. Shared, immutable.
///
/// Most code names the fixed-capacity form, [`SlidingLog<HZ, CAP, O>`](SlidingLog), whose
/// constructors are `const`. A capacity chosen at run time uses the same type with another
/// [`Storage`] (see [`with_capacity`](Self::with_capacity)); both run the same decision code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlidingLogIn<const HZ: u64, O: Offset, S: Storage> {
    limit: u32,
    window: u64,
    entries: u32,
    marker: PhantomData<fn() -> (O, S)>,
}

/// A sliding log whose state holds `CAP` entries inline (time stamps of type `O`, `u32` unless
/// given).
///
/// # Examples
///
/// A rolling hour of 50 requests ("the number of requests made over the past hour as of the
/// time you send the request", not reset on the hour):
///
/// ```
/// use tollgate_core::{Algorithm, SlidingLog, Quota, Instant, Duration, valid};
///
/// static HOURLY: SlidingLog<1_000, 50> = valid!(SlidingLog::new(valid!(Quota::per_hour(50))));
/// let mut s = HOURLY.new_state();
/// let minute = Duration::<1_000>::from_secs(60);
/// let t0 = Instant::<1_000>::from_ticks(0);
/// for i in 0..50 {
///     assert!(HOURLY.check(&mut s, t0 + minute * i, 1)?.is_allowed());
/// }
/// // At minute 50 the hour is used up until the request of minute 0 is an hour old.
/// let d = HOURLY.check(&mut s, t0 + minute * 50, 1)?;
/// assert_eq!(d.retry_after, Some(minute * 10));
/// assert!(HOURLY.check(&mut s, t0 + minute * 60, 1)?.is_allowed());
/// # Ok::<(), tollgate_core::InsufficientCapacity>(())
/// ```
pub type SlidingLog<const HZ: u64, const CAP: usize, O = u32> = SlidingLogIn<HZ, O, Inline<CAP>>;

#[cfg(feature = "defmt")]
impl<const HZ: u64, O: Offset, S: Storage> defmt::Format for SlidingLogIn<HZ, O, S> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "SlidingLog {{ limit: {=u32}, window: {=u64}, entries: {=u32} }}",
            self.limit,
            self.window,
            self.entries
        );
    }
}

/// Sliding-log state: a ring of admission instants (as offsets of type `O`) with their costs,
/// kept in storage `S`. Plain integers, all zero when fresh.
///
/// Most code names the inline form, [`LogState<CAP, O>`](LogState).
#[derive(Debug, Clone)]
pub struct LogStateIn<O: Offset, S: Storage> {
    /// The instant of the newest entry, in ticks: the base the offsets are read against.
    newest: u64,
    /// The number of ring entries in use when fewer than the storage holds; zero for all of
    /// them, so that a fresh inline state is all zeros and a `static` of it lands in `.bss`.
    cap: u32,
    /// The running total of admitted cost just before the oldest entry, modulo 2^32.
    before: u32,
    /// The ring index of the oldest entry.
    head: u32,
    /// The number of entries.
    len: u32,
    /// Each entry's instant, modulo `2^bits` of `O`.
    stamps: S::Buf<O>,
    /// The running total of admitted cost through each entry, modulo 2^32.
    totals: S::Buf<u32>,
}

/// A sliding-log state of `CAP` entries kept inline: `Copy`, all zero when fresh, fit for a
/// `static`.
///
/// It takes `24 + CAP × (size_of::<O>() + 4)` bytes, rounded up to a multiple of
/// `align_of::<u64>()` (see [the module docs](self#storage)).
///
/// # Examples
///
/// ```
/// use tollgate_core::LogState;
///
/// static FRESH: LogState<8> = LogState::new(); // const: a state can live in a static
/// assert_eq!(core::mem::size_of::<LogState<8>>(), 88);
/// assert_eq!(core::mem::size_of::<LogState<8, u16>>(), 72);
/// assert_eq!(FRESH, LogState::default());
/// ```
///
/// A ring with no room is rejected when the program is built:
///
/// ```compile_fail
/// let _ = tollgate_core::LogState::<0>::new();
/// ```
pub type LogState<const CAP: usize, O = u32> = LogStateIn<O, Inline<CAP>>;

impl<O: Offset, const CAP: usize> Copy for LogStateIn<O, Inline<CAP>> {}

#[cfg(feature = "defmt")]
impl<O: Offset + defmt::Format, S: Storage> defmt::Format for LogStateIn<O, S> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "LogState {{ newest: {=u64}, before: {=u32}, head: {=u32}, len: {=u32}, stamps: {}, totals: {} }}",
            self.newest,
            self.before,
            self.head,
            self.len,
            self.stamps.as_ref(),
            self.totals.as_ref()
        );
    }
}

impl<O: Offset, const CAP: usize> LogStateIn<O, Inline<CAP>> {
    /// A fresh state, with no entries. Fails to compile if `CAP` is zero (or above `u32::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, LogState, SlidingLog, Quota, Instant};
    ///
    /// let log = SlidingLog::<1_000, 4>::new(Quota::per_second(4)?)?;
    /// let s = LogState::<4>::new();
    /// assert!(log.is_at_rest(&s, Instant::<1_000>::from_ticks(0)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new() -> Self {
        const {
            assert!(CAP > 0, "a LogState needs a capacity of at least one entry");
            assert!(
                CAP as u64 <= u32::MAX as u64,
                "a LogState holds at most u32::MAX entries"
            );
        }
        Self {
            newest: 0,
            cap: 0,
            before: 0,
            head: 0,
            len: 0,
            stamps: [O::ZERO; CAP],
            totals: [0; CAP],
        }
    }
}

impl<O: Offset, const CAP: usize> Default for LogStateIn<O, Inline<CAP>> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O: Offset, S: Storage> LogStateIn<O, S> {
    /// A fresh state for a ring of `entries`.
    fn fresh(entries: u32) -> Self {
        let n = entries as usize;
        let stamps: S::Buf<O> = S::buffer(n);
        let whole = stamps.as_ref().len() == n;
        Self {
            newest: 0,
            cap: if whole { 0 } else { entries },
            before: 0,
            head: 0,
            len: 0,
            stamps,
            totals: S::buffer(n),
        }
    }

    /// The number of entries in the ring (whatever the window).
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// Whether the ring holds no entry.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The instant of the newest entry, in ticks, or `None` for an empty ring.
    ///
    /// A request at an earlier `now` is decided, and recorded if admitted, at this instant (see
    /// *A clock that goes backwards* in the [module docs](self)): schedulers that hand out turns
    /// in the future ask it to learn when an admission would really be recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, LogState, SlidingLog, Quota, Instant};
    ///
    /// let log = SlidingLog::<1_000, 4>::new(Quota::per_second(4)?)?;
    /// let mut s = LogState::<4>::new();
    /// assert_eq!(s.newest_ticks(), None);
    /// log.check(&mut s, Instant::from_ticks(700), 1)?;
    /// log.check(&mut s, Instant::from_ticks(200), 1)?; // earlier: recorded at 700
    /// assert_eq!(s.newest_ticks(), Some(700));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn newest_ticks(&self) -> Option<u64> {
        if self.len == 0 {
            None
        } else {
            Some(self.newest)
        }
    }

    /// Takes back `cost` of what was admitted at instant `at` (ticks): a request recorded
    /// ahead of time (a reserved turn) that will not be sent after all. Its entry loses `cost`,
    /// and goes when nothing is left of it; every other entry stays as it was.
    ///
    /// **The newest entry always keeps at least one unit**: it is the instant the log decides
    /// at, and entries that had expired by then may already have been dropped, so taking it
    /// away entirely would let a later request be decided at an earlier instant without them.
    /// (A caller that kept the state from before the newest admission can put that back
    /// instead.)
    ///
    /// Taking back an admission only lowers the cost in any window, so **the guarantee holds
    /// for the admissions that remain**, and turns recorded after it remain admissible. The
    /// decisions afterwards are exactly those of the naive log with that cost taken from its
    /// entry (the property tests check it, with clocks that go backwards too). With a clock that
    /// goes backwards that is not always a log that never admitted the request: a request asked
    /// earlier than its instant was recorded at it, and stays there.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`](crate::ReleaseError) when no entry lies at `at` (or it has expired and been dropped), or it
    /// holds less than `cost`, or `cost` would empty the newest entry; `in_flight` is the most
    /// that could be taken back. Nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Instant, LogState, ReleaseError, SlidingLog};
    ///
    /// let log = SlidingLog::<1_000, 3>::per_window(3, tollgate_core::Duration::from_secs(10))?;
    /// let mut s = LogState::<3>::new();
    /// for t in [0, 4_000, 9_000] {
    ///     log.check(&mut s, Instant::from_ticks(t), 1)?;
    /// }
    /// assert!(log.check(&mut s, Instant::from_ticks(9_500), 1)?.is_denied());
    /// s.withdraw(4_000, 1)?; // the one at 4 s will not go
    /// assert!(log.check(&mut s, Instant::from_ticks(9_500), 1)?.is_allowed());
    /// assert_eq!(s.withdraw(9_500, 1), Err(ReleaseError { released: 1, in_flight: 0 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn withdraw(&mut self, at: u64, cost: u32) -> Result<(), crate::error::ReleaseError> {
        let ring = self.ring();
        let missing = crate::error::ReleaseError {
            released: cost,
            in_flight: 0,
        };
        let Some(back) = self.newest.checked_sub(at) else {
            return Err(missing);
        };
        // The entry at `at`, if any: entries lie at strictly increasing instants.
        let Some(i) = (0..ring.len).rev().find(|&i| ring.age(i) == back) else {
            return Err(missing);
        };
        let held = ring.total(i).wrapping_sub(ring.total_before(i));
        let (len, head, cap) = (ring.len, ring.head, ring.cap);
        let newest = i.checked_add(1) == Some(len);
        let most = if newest { held.saturating_sub(1) } else { held };
        if cost > most {
            return Err(crate::error::ReleaseError {
                released: cost,
                in_flight: most,
            });
        }
        // The entry goes when nothing is left of it: what follows it moves back one place.
        let gone = held == cost;
        let (stamps, totals) = (self.stamps.as_mut(), self.totals.as_mut());
        for k in i..len {
            let from = slot(head, k, cap);
            let stamp = stamps.get(from).copied().unwrap_or(O::ZERO);
            let total = totals.get(from).copied().unwrap_or(0).wrapping_sub(cost);
            let to = if gone {
                if k == i {
                    continue;
                }
                slot(head, k.saturating_sub(1), cap)
            } else {
                from
            };
            if let (Some(s), Some(t)) = (stamps.get_mut(to), totals.get_mut(to)) {
                *s = stamp;
                *t = total;
            }
        }
        if gone {
            self.len = len.saturating_sub(1);
        }
        Ok(())
    }

    /// The ring of this state.
    #[inline(always)]
    fn ring(&self) -> Ring<'_, O> {
        let (stamps, totals) = (self.stamps.as_ref(), self.totals.as_ref());
        let held = u32::try_from(stamps.len().min(totals.len())).unwrap_or(u32::MAX);
        Ring {
            newest: self.newest,
            before: self.before,
            head: self.head,
            len: self.len,
            cap: if self.cap == 0 {
                held
            } else {
                self.cap.min(held)
            },
            stamps,
            totals,
        }
    }

    /// Every entry in the window's order, oldest first: `(stamp, running total)`.
    fn entries(&self) -> impl Iterator<Item = (O, u32)> + '_ {
        let ring = self.ring();
        (0..ring.len).map(move |i| {
            let at = ring.slot(i);
            (
                ring.stamps.get(at).copied().unwrap_or(O::ZERO),
                ring.totals.get(at).copied().unwrap_or(0),
            )
        })
    }
}

/// Two logs are equal when they hold the same entries in the same order with the same totals
/// (where in the ring they sit, and what unused slots hold, does not matter); two empty logs of
/// one capacity are equal.
impl<O: Offset, S: Storage> PartialEq for LogStateIn<O, S> {
    fn eq(&self, other: &Self) -> bool {
        self.ring().cap == other.ring().cap
            && self.len == other.len
            && (self.len == 0
                || (self.newest == other.newest
                    && self.before == other.before
                    && self.entries().eq(other.entries())))
    }
}

impl<O: Offset, S: Storage> Eq for LogStateIn<O, S> {}

impl<O: Offset, S: Storage> core::hash::Hash for LogStateIn<O, S> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (self.ring().cap, self.len).hash(h);
        if self.len > 0 {
            (self.newest, self.before).hash(h);
            self.entries().for_each(|e| e.hash(h));
        }
    }
}

/// The ring of a state, as a ring of `cap` entries (the state's, never more than the
/// storage holds): every read goes through here.
#[derive(Clone, Copy)]
struct Ring<'s, O> {
    newest: u64,
    before: u32,
    head: u32,
    len: u32,
    cap: u32,
    stamps: &'s [O],
    totals: &'s [u32],
}

impl<O: Offset> Ring<'_, O> {
    /// The ring index of logical entry `i` (0 is the oldest).
    #[inline(always)]
    fn slot(&self, i: u32) -> usize {
        slot(self.head, i, self.cap)
    }

    /// How many ticks entry `i` lies behind the newest one.
    #[inline(always)]
    fn age(&self, i: u32) -> u64 {
        let stamp = self.stamps.get(self.slot(i)).copied().unwrap_or(O::ZERO);
        O::truncate(self.newest).since(stamp)
    }

    /// The running total through entry `i`.
    #[inline(always)]
    fn total(&self, i: u32) -> u32 {
        self.totals.get(self.slot(i)).copied().unwrap_or(0)
    }

    /// The running total just before entry `i` (`i` may equal the length).
    #[inline(always)]
    fn total_before(&self, i: u32) -> u32 {
        match i.checked_sub(1) {
            Some(prev) => self.total(prev),
            None => self.before,
        }
    }
}

/// The ring index of logical entry `i` of a ring of `cap` starting at `head`.
#[inline(always)]
fn slot(head: u32, i: u32, cap: u32) -> usize {
    // head < cap and i ≤ cap, so the sum is below 2·cap and one subtraction wraps it.
    let p = (head as usize).wrapping_add(i as usize);
    let cap = cap as usize;
    if p >= cap { p.wrapping_sub(cap) } else { p }
}

/// The state as seen from one request's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct View {
    /// The instant the request is decided (and recorded) at: `now`, or the newest entry's instant
    /// if `now` is earlier.
    t: u64,
    /// `t − now`: how far `now` lay behind the newest entry.
    back: u64,
    /// `t` minus the newest entry's instant.
    gap: u64,
    /// Entries at the head that have left the window at `t`.
    expired: u32,
    /// Entries still in the window at `t`.
    live: u32,
    /// The cost recorded in the window at `t`.
    used: u32,
    /// Whether the newest entry is at `t`, so an admission would add to it.
    merge: bool,
}

/// What one look at a sliding log found: the window as seen from the request's instant, the
/// cost, and whether it fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogStep {
    view: View,
    cost: u32,
    admitted: bool,
}

impl<const HZ: u64, O: Offset, const CAP: usize> SlidingLogIn<HZ, O, Inline<CAP>> {
    /// A sliding log of `CAP` entries enforcing `quota`'s limit per window, exactly. Its burst
    /// and interval play no part: see [`per_window`](Self::per_window).
    ///
    /// # Errors
    ///
    /// As [`per_window`](Self::per_window).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{SlidingLog, Quota, ConfigError};
    ///
    /// let q = Quota::<1_000>::per_minute(300)?;
    /// assert!(SlidingLog::<1_000, 300>::new(q).is_ok());
    /// assert_eq!(SlidingLog::<1_000, 299>::new(q).err(), Some(ConfigError::CapacityTooSmall));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub const fn new(quota: Quota<HZ>) -> Result<Self, ConfigError> {
        Self::per_window(quota.limit(), quota.window())
    }

    /// A sliding log of `CAP` entries admitting at most `limit` in every window of `window`,
    /// exactly. Only the count and the window matter, so "100 per 10 ms" is fine on a 1 kHz
    /// clock although it is no rate of whole ticks.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroLimit`], [`ConfigError::ZeroWindow`],
    /// [`ConfigError::CapacityTooSmall`] when `CAP` is below the limit (see
    /// [`new_undersized`](Self::new_undersized)), [`ConfigError::WindowTooLong`] when the window
    /// exceeds [`O::MAX_WINDOW`](Offset::MAX_WINDOW) ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, ConfigError, Duration, Instant, Quota, SlidingLog};
    ///
    /// let ten_ms = Duration::<1_000>::from_millis(10);
    /// assert_eq!(Quota::new(100, ten_ms), Err(ConfigError::RateTooFine)); // no whole-tick rate
    /// let log = SlidingLog::<1_000, 100>::per_window(100, ten_ms)?;
    /// let mut s = log.new_state();
    /// assert!(log.check(&mut s, Instant::from_ticks(0), 100)?.is_allowed());
    /// assert!(log.check(&mut s, Instant::from_ticks(9), 1)?.is_denied());
    /// assert!(log.check(&mut s, Instant::from_ticks(10), 100)?.is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn per_window(limit: u32, window: Duration<HZ>) -> Result<Self, ConfigError> {
        if (CAP as u64) < limit as u64 {
            return Err(ConfigError::CapacityTooSmall);
        }
        Self::undersized_per_window(limit, window)
    }

    /// A sliding log whose ring may hold fewer entries than the limit.
    ///
    /// It still never admits more than the limit per window, but a ring full of live entries
    /// denies until its oldest entry expires, so it also admits at most `CAP` distinct ticks per
    /// window (see [Capacity](self#capacity)).
    ///
    /// # Errors
    ///
    /// As [`with_capacity`](Self::with_capacity) with `CAP` entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, SlidingLog, Quota, Instant, Duration};
    ///
    /// // 100 per second, but at most 2 distinct milliseconds per second.
    /// let log = SlidingLog::<1_000, 2>::new_undersized(Quota::per_second(100)?)?;
    /// let mut s = log.new_state();
    /// let at = Instant::<1_000>::from_ticks;
    /// assert!(log.check(&mut s, at(0), 60)?.is_allowed());
    /// assert!(log.check(&mut s, at(5), 30)?.is_allowed());
    /// let d = log.check(&mut s, at(5), 1)?; // 90 used, but no free entry
    /// assert_eq!((d.remaining, d.retry_after), (0, Some(Duration::<1_000>::from_millis(995))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn new_undersized(quota: Quota<HZ>) -> Result<Self, ConfigError> {
        Self::undersized_per_window(quota.limit(), quota.window())
    }

    const fn undersized_per_window(limit: u32, window: Duration<HZ>) -> Result<Self, ConfigError> {
        if CAP as u64 > u32::MAX as u64 {
            return Err(ConfigError::Overflow);
        }
        validate::<HZ, O, Inline<CAP>>(limit, window.as_ticks(), CAP as u32)
    }

    /// A fresh state.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{SlidingLog, LogState, Quota};
    ///
    /// let log = SlidingLog::<1, 10>::new(Quota::per_minute(10)?)?;
    /// assert_eq!(log.new_state(), LogState::<10>::new());
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new_state(&self) -> LogState<CAP, O> {
        LogState::new()
    }
}

/// Checks a configuration of `limit` per `window` ticks over `entries` ring entries.
const fn validate<const HZ: u64, O: Offset, S: Storage>(
    limit: u32,
    window: u64,
    entries: u32,
) -> Result<SlidingLogIn<HZ, O, S>, ConfigError> {
    if limit == 0 {
        return Err(ConfigError::ZeroLimit);
    }
    if window == 0 {
        return Err(ConfigError::ZeroWindow);
    }
    if entries == 0 || (entries == 1 && limit > 1) {
        return Err(ConfigError::CapacityTooSmall);
    }
    if window > O::MAX_WINDOW {
        return Err(ConfigError::WindowTooLong);
    }
    Ok(SlidingLogIn {
        limit,
        window,
        entries,
        marker: PhantomData,
    })
}

impl<const HZ: u64, O: Offset, S: Storage> SlidingLogIn<HZ, O, S> {
    /// A sliding log of `limit` per `window` over a ring of `entries` chosen at run time, in
    /// storage `S` (which must hold that many). With `entries ≥ limit` the limit is exact; fewer
    /// entries make it [undersized](self#capacity).
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroLimit`], [`ConfigError::ZeroWindow`], [`ConfigError::WindowTooLong`]
    /// when the window exceeds [`O::MAX_WINDOW`](Offset::MAX_WINDOW) ticks;
    /// [`ConfigError::CapacityTooSmall`] when `S` cannot hold `entries`, when `entries` is zero,
    /// or one while the limit is above one (a full ring of one entry denies even a request at its
    /// own tick, so only one unit request could pass at once from rest, not the `limit` every
    /// decision reports).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::algorithm::{sliding_log::SlidingLogIn, storage::Inline};
    /// use tollgate_core::{ConfigError, Duration};
    ///
    /// type Log = SlidingLogIn<1_000, u32, Inline<16>>;
    /// assert_eq!(Log::with_capacity(10, Duration::from_secs(1), 10)?.entries(), 10);
    /// assert_eq!(Log::with_capacity(10, Duration::from_secs(1), 17).err(), Some(ConfigError::CapacityTooSmall));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn with_capacity(
        limit: u32,
        window: Duration<HZ>,
        entries: usize,
    ) -> Result<Self, ConfigError> {
        if !S::holds(entries) {
            return Err(ConfigError::CapacityTooSmall);
        }
        let entries = u32::try_from(entries).map_err(|_| ConfigError::Overflow)?;
        validate::<HZ, O, S>(limit, window.as_ticks(), entries)
    }

    /// The most admitted in any window.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The window.
    pub const fn window(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.window)
    }

    /// The number of ring entries a state of this log uses.
    pub const fn entries(&self) -> u32 {
        self.entries
    }

    /// The fast path: admit one unit-cost request at `now` or say how long to wait.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] with the exact wait when denied; the state is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{SlidingLog, Quota, Instant, Duration};
    ///
    /// let log = SlidingLog::<1_000, 2>::new(Quota::per_second(2)?)?;
    /// let mut s = log.new_state();
    /// let at = Instant::<1_000>::from_ticks;
    /// assert_eq!(log.try_acquire(&mut s, at(100)), Ok(()));
    /// assert_eq!(log.try_acquire(&mut s, at(400)), Ok(()));
    /// let wait = log.try_acquire(&mut s, at(700)).unwrap_err();
    /// assert_eq!(wait.earliest(at(700)), at(1_100)); // when the request of 100 ms expires
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(
        &self,
        state: &mut LogStateIn<O, S>,
        now: Instant<HZ>,
    ) -> Result<(), NotUntil<HZ>> {
        let v = self.view(&self.ring(state), now.as_ticks());
        if self.admits(&v, 1) {
            self.record_view(state, &v, 1);
            Ok(())
        } else {
            Err(NotUntil {
                wait: self.wait(&self.ring(state), &v, 1),
            })
        }
    }

    /// The state's ring.
    #[inline(always)]
    fn ring<'s>(&self, s: &'s LogStateIn<O, S>) -> Ring<'s, O> {
        s.ring()
    }

    #[inline(always)]
    fn view(&self, s: &Ring<'_, O>, now: u64) -> View {
        if s.len == 0 {
            return View {
                t: now,
                back: 0,
                gap: 0,
                expired: 0,
                live: 0,
                used: 0,
                merge: false,
            };
        }
        let t = if now < s.newest { s.newest } else { now };
        let gap = t.saturating_sub(s.newest);
        // Entry i has expired at t iff its age behind the newest entry plus `gap` reaches W.
        let expired = match self.window.checked_sub(gap) {
            Some(left) if left > 0 => leading(s.len, |i| s.age(i) >= left),
            _ => s.len,
        };
        let last = s.len.saturating_sub(1);
        let used = s.total(last).wrapping_sub(s.total_before(expired));
        let live = s.len.saturating_sub(expired);
        View {
            t,
            back: s.newest.saturating_sub(now),
            gap,
            expired,
            live,
            used,
            merge: live > 0 && gap == 0,
        }
    }

    #[inline(always)]
    fn has_room(&self, v: &View) -> bool {
        v.live < self.entries
    }

    #[inline(always)]
    fn admits(&self, v: &View, cost: u32) -> bool {
        self.has_room(v)
            && u64::from(v.used).saturating_add(u64::from(cost)) <= u64::from(self.limit)
    }

    /// The figures for a request of `cost` seen as `v`, as recorded when `recorded` (and it
    /// fits), else as the state stands without it.
    fn figures(
        &self,
        s: &Ring<'_, O>,
        v: &View,
        cost: u32,
        admitted: bool,
        recorded: bool,
    ) -> Decision<HZ> {
        // Until the newest entry expires, counted from the caller's `now`.
        let reset = if v.live == 0 {
            0
        } else {
            self.window.saturating_sub(v.gap).saturating_add(v.back)
        };
        if cost == 0 || (admitted && !recorded) {
            return self.answer(v.used, v.live, v.merge, reset, None);
        }
        if admitted {
            let live = if v.merge {
                v.live
            } else {
                v.live.saturating_add(1)
            };
            // The newest entry is now at t, so the reset is a whole window from t.
            let reset = self.window.saturating_add(v.back);
            return self.answer(v.used.saturating_add(cost), live, true, reset, None);
        }
        let wait = self.wait(s, v, cost);
        self.answer(v.used, v.live, v.merge, reset, Some(wait))
    }

    /// The decision for `used` cost in `live` entries (`merge`: one of them is at this instant).
    fn answer(
        &self,
        used: u32,
        live: u32,
        merge: bool,
        reset: u64,
        retry: Option<u64>,
    ) -> Decision<HZ> {
        let left = self.limit.saturating_sub(used);
        let remaining = if live >= self.entries {
            0
        } else if merge || live.saturating_add(1) < self.entries {
            // Every further unit joins one entry at this instant.
            left
        } else {
            // The first takes the last free entry; after it the ring is full.
            left.min(1)
        };
        Decision {
            limit: self.limit,
            remaining,
            reset: Duration::<HZ>::from_ticks(reset),
            retry_after: retry.map(Duration::<HZ>::from_ticks),
            delay: Duration::<HZ>::from_ticks(0),
        }
    }

    /// The exact wait before a request of `cost`, denied as seen in `v`, is admitted.
    fn wait(&self, s: &Ring<'_, O>, v: &View, cost: u32) -> u64 {
        let excess = u64::from(v.used)
            .saturating_add(u64::from(cost))
            .saturating_sub(u64::from(self.limit));
        // The live entry whose expiry frees enough: the oldest one when only room is missing,
        // else the first whose running total (from the oldest live one) reaches the excess.
        let j = if excess == 0 {
            v.expired
        } else {
            let base = s.total_before(v.expired);
            let freeing = leading(v.live, |k| {
                u64::from(s.total(v.expired.saturating_add(k)).wrapping_sub(base)) < excess
            });
            v.expired.saturating_add(freeing)
        };
        let j = j.min(s.len.saturating_sub(1));
        // Entry j leaves the window W ticks after its instant, newest − age(j).
        self.window
            .saturating_sub(v.gap.saturating_add(s.age(j)))
            .saturating_add(v.back)
    }

    /// Records an admission of `cost` seen as `v`: drops the expired entries, then adds the cost
    /// to the newest entry (same tick) or appends one. Everything it needs is read from the ring
    /// first: dropping entries from the head moves neither the newest entry nor the first free
    /// slot, and running totals do not change.
    #[inline(always)]
    fn record_view(&self, s: &mut LogStateIn<O, S>, v: &View, cost: u32) {
        let (cap, last, free, newest, before, head) = {
            let ring = s.ring();
            (
                ring.cap,
                // The running total through the newest entry, and the slot after it.
                ring.total_before(ring.len),
                ring.slot(ring.len),
                ring.slot(ring.len.saturating_sub(1)),
                ring.total_before(v.expired),
                ring.slot(v.expired),
            )
        };
        if v.expired > 0 {
            s.before = before;
            s.head = head as u32;
            s.len = s.len.saturating_sub(v.expired);
        }
        if v.merge {
            if let Some(total) = s.totals.as_mut().get_mut(newest) {
                *total = total.wrapping_add(cost);
            }
        } else if s.len < cap
            && let (Some(stamp), Some(slot_total)) = (
                s.stamps.as_mut().get_mut(free),
                s.totals.as_mut().get_mut(free),
            )
        {
            *stamp = O::truncate(v.t);
            *slot_total = last.wrapping_add(cost);
            s.len = s.len.saturating_add(1);
            s.newest = v.t;
        }
    }
}

/// The number of leading indices in `0..n` for which `pred` holds, assuming it holds on a
/// prefix: a galloping search (1, 2, 4, … from the start), then a binary search in the last
/// step. O(log k) for a prefix of length k, so cheap when few entries have expired.
#[inline]
fn leading(n: u32, mut pred: impl FnMut(u32) -> bool) -> u32 {
    // Invariant: pred holds below `lo`; it fails at `hi`, or `hi == n`.
    let mut lo = 0u32;
    let mut step = 1u32;
    let mut hi = n;
    loop {
        let probe = lo.saturating_add(step).saturating_sub(1);
        if probe >= n {
            break;
        }
        if pred(probe) {
            lo = probe.saturating_add(1);
            step = step.saturating_mul(2);
        } else {
            hi = probe;
            break;
        }
    }
    while lo < hi {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        if pred(mid) {
            lo = mid.saturating_add(1);
        } else {
            hi = mid;
        }
    }
    lo
}

impl<const HZ: u64, O: Offset, S: Storage> Algorithm<HZ> for SlidingLogIn<HZ, O, S> {
    type State = LogStateIn<O, S>;
    type Step = LogStep;

    fn new_state(&self) -> LogStateIn<O, S> {
        LogStateIn::fresh(self.entries)
    }

    fn capacity(&self) -> u32 {
        self.limit
    }

    fn allowance(&self) -> Allowance<HZ> {
        Allowance::PerWindow {
            count: self.limit,
            window: self.window(),
        }
    }

    #[inline]
    fn step(
        &self,
        state: &LogStateIn<O, S>,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<LogStep, InsufficientCapacity> {
        fits(cost, self.limit)?;
        let view = self.view(&self.ring(state), now.as_ticks());
        Ok(LogStep {
            view,
            cost,
            admitted: cost == 0 || self.admits(&view, cost),
        })
    }

    #[inline]
    fn admits(&self, step: &LogStep) -> bool {
        step.admitted
    }

    #[inline]
    fn decision(&self, state: &LogStateIn<O, S>, step: &LogStep, recorded: bool) -> Decision<HZ> {
        self.figures(
            &self.ring(state),
            &step.view,
            step.cost,
            step.admitted,
            recorded,
        )
    }

    #[inline]
    fn record(&self, state: &mut LogStateIn<O, S>, step: &LogStep) {
        if step.admitted && step.cost > 0 {
            self.record_view(state, &step.view, step.cost);
        }
    }

    /// Whether every entry has left the window at `now` (and so at every later instant).
    fn is_at_rest(&self, state: &LogStateIn<O, S>, now: Instant<HZ>) -> bool {
        // The newest entry is the last to leave; past the end of time it never does.
        state.len == 0
            || match state.newest.checked_add(self.window) {
                Some(expiry) => expiry <= now.as_ticks(),
                None => false,
            }
    }
}

/// Bytes of a log record's payload before its entries.
const LOG_FIXED: usize = 1 + 8 + 4 + 4;

impl<O: Offset, S: Storage> crate::codec::Codec for LogStateIn<O, S> {
    fn encoded_len(&self) -> usize {
        let entry = usize::from(O::WIDTH).saturating_add(4);
        crate::codec::OVERHEAD
            .saturating_add(LOG_FIXED)
            .saturating_add(entry.saturating_mul(self.len as usize))
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, crate::codec::CodecError> {
        let payload = self.encoded_len().saturating_sub(crate::codec::OVERHEAD);
        crate::codec::write_record(out, crate::codec::kind::SLIDING_LOG, payload, |w| {
            w.u8(O::WIDTH);
            w.u64(self.newest);
            w.u32(self.before);
            w.u32(self.len);
            for (stamp, through) in self.entries() {
                w.uint(stamp.widen(), O::WIDTH);
                w.u32(through);
            }
        })
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        read_log::<O>(bytes, self.ring().cap as usize, |_, _, _| {}).map(|(_, n)| n)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        let cap = self.ring().cap as usize;
        read_log::<O>(bytes, cap, |_, _, _| {})?;
        let (stamps, totals) = (self.stamps.as_mut(), self.totals.as_mut());
        let (header, n) = read_log::<O>(bytes, cap, |i, stamp, through| {
            if let (Some(s), Some(t)) = (stamps.get_mut(i), totals.get_mut(i)) {
                *s = stamp;
                *t = through;
            }
        })?;
        (self.newest, self.before, self.len) = header;
        self.head = 0;
        Ok(n)
    }
}

/// Reads a log record for a state of `cap` entries and checks its invariants, handing every
/// entry, oldest first, to `entry`: its position, stamp and running total. Returns the newest
/// instant, the total before the oldest entry and the entry count, and the record's length.
#[allow(clippy::type_complexity)]
fn read_log<O: Offset>(
    bytes: &[u8],
    cap: usize,
    mut entry: impl FnMut(usize, O, u32),
) -> Result<((u64, u32, u32), usize), crate::codec::CodecError> {
    use crate::codec::CodecError;
    let (mut r, n) = crate::codec::read_record(bytes, crate::codec::kind::SLIDING_LOG)?;
    if r.u8()? != O::WIDTH {
        return Err(CodecError::Invalid);
    }
    let (newest, before, len) = (r.u64()?, r.u32()?, r.u32()?);
    if len as usize > cap {
        return Err(CodecError::CapacityMismatch);
    }
    let width = usize::from(O::WIDTH).saturating_add(4);
    if r.remaining() != width.saturating_mul(len as usize) {
        return Err(CodecError::Invalid);
    }
    // Oldest first: ages behind the newest never grow, the newest is at `newest`, and every
    // entry holds a cost of at least one.
    let top = O::truncate(newest);
    let (mut age, mut total) = (u64::MAX, before);
    for i in 0..len {
        let stamp = O::truncate(r.uint(O::WIDTH)?);
        let through = r.u32()?;
        let this_age = top.since(stamp);
        let last = i.saturating_add(1) == len;
        if this_age > age || through.wrapping_sub(total) == 0 || (last && this_age != 0) {
            return Err(CodecError::Invalid);
        }
        entry(i as usize, stamp, through);
        (age, total) = (this_age, through);
    }
    r.finish()?;
    Ok(((newest, before, len), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    fn log<const CAP: usize>(limit: u32, window_ms: u64) -> SlidingLog<1_000, CAP> {
        SlidingLog::new_undersized(Quota::new(limit, D::from_ticks(window_ms)).unwrap()).unwrap()
    }

    #[test]
    fn an_undersized_log_with_no_ring_at_all_is_a_config_error() {
        let q = Quota::<1_000>::per_second(10).unwrap();
        assert_eq!(
            SlidingLog::<1_000, 0>::new_undersized(q),
            Err(ConfigError::CapacityTooSmall)
        );
        assert_eq!(
            SlidingLog::<1_000, 0>::new(q),
            Err(ConfigError::CapacityTooSmall)
        );
        // A ring of one could only ever pass one unit request at once, not the limit of 10.
        assert_eq!(
            SlidingLog::<1_000, 1>::new_undersized(q),
            Err(ConfigError::CapacityTooSmall)
        );
        let one = Quota::<1_000>::per_second(1).unwrap();
        assert!(SlidingLog::<1_000, 1>::new_undersized(one).is_ok());
    }

    #[test]
    fn seed_004_rolling_hour_frees_each_request_an_hour_after_it_was_made() {
        // "we will base the throttling on the number of requests made over the past hour as of
        // the time you send the request, rather than having the limit reset for each hour."
        let hourly = SlidingLog::<1_000, 50>::new(Quota::per_hour(50).unwrap()).unwrap();
        let mut s = hourly.new_state();
        let ten_oclock = 10 * 3_600_000;
        let second = 1_000;
        // 50 requests spread over the hour, one every 72 s: 10:00:00, 10:01:12, ..., 10:58:48.
        for i in 0..50 {
            let d = hourly
                .check(&mut s, at(ten_oclock + i * 72 * second), 1)
                .unwrap();
            assert!(d.is_allowed(), "request {i}");
            assert_eq!(d.remaining, 49 - i as u32);
        }
        // The 51st, at 10:59:59, must wait until the 10:00:00 request is an hour old.
        let d = hourly
            .check(&mut s, at(ten_oclock + 3_599 * second), 1)
            .unwrap();
        assert_eq!(
            d,
            Decision {
                limit: 50,
                remaining: 0,
                reset: D::from_secs(3_528 + 3_600 - 3_599),
                retry_after: Some(D::from_secs(1)),
                delay: D::from_ticks(0),
            }
        );
        // 11:00:00 is not a reset: exactly one request has left the window, so one is admitted.
        let eleven = ten_oclock + 3_600 * second;
        assert!(hourly.check(&mut s, at(eleven), 1).unwrap().is_allowed());
        let d = hourly.check(&mut s, at(eleven), 1).unwrap();
        assert_eq!(d.retry_after, Some(D::from_secs(72)));
        assert_eq!(
            hourly.peek(&s, at(eleven), 2).unwrap().retry_after,
            Some(D::from_secs(144))
        );
        // Then one more each time a request of the previous hour turns an hour old.
        for i in 1..50 {
            let freed = eleven + i * 72 * second;
            assert!(hourly.check(&mut s, at(freed - 1), 1).unwrap().is_denied());
            let d = hourly.check(&mut s, at(freed), 1).unwrap();
            assert!(d.is_allowed(), "request {i} of the second hour");
            assert_eq!(d.remaining, 0);
        }
    }

    #[test]
    fn a_cost_above_the_limit_is_an_error_not_a_denial() {
        let l = log::<4>(4, 1_000);
        let mut s = l.new_state();
        assert_eq!(
            l.check(&mut s, at(0), 5),
            Err(InsufficientCapacity::new(5, 4))
        );
        assert_eq!(
            l.peek(&s, at(0), u32::MAX),
            Err(InsufficientCapacity::new(u32::MAX, 4))
        );
        assert_eq!(s, LogState::new());
        // The ring's size does not matter: one entry holds any cost up to the limit.
        let small = log::<2>(4, 1_000);
        assert!(
            small
                .check(&mut small.new_state(), at(0), 4)
                .unwrap()
                .is_allowed()
        );
        assert_eq!(Algorithm::capacity(&small), 4);
    }

    #[test]
    fn a_zero_cost_is_admitted_and_records_nothing() {
        let l = log::<4>(2, 1_000);
        let mut s = l.new_state();
        l.check(&mut s, at(500), 2).unwrap();
        let before = s;
        let d = l.check(&mut s, at(100), 0).unwrap(); // even with a backwards clock
        assert!(d.is_allowed());
        assert_eq!(
            (d.remaining, d.reset, s),
            (0, D::from_millis(1_400), before)
        );
        // Even a zero cost long after everything expired drops nothing.
        let d = l.check(&mut s, at(50_000), 0).unwrap();
        assert_eq!((d.remaining, d.reset, s), (2, D::from_ticks(0), before));
    }

    #[test]
    fn same_tick_admissions_share_one_entry() {
        let l = log::<2>(10, 1_000);
        let mut s = l.new_state();
        for _ in 0..5 {
            assert!(l.check(&mut s, at(7), 1).unwrap().is_allowed());
        }
        assert_eq!((s.len, s.totals[s.head as usize]), (1, 5));
        assert!(l.check(&mut s, at(8), 5).unwrap().is_allowed());
        assert_eq!(s.len, 2);
        assert_eq!(
            l.peek(&s, at(8), 1).unwrap().retry_after,
            Some(D::from_millis(999))
        );
    }

    #[test]
    fn a_full_ring_under_admits_with_an_exact_retry() {
        let l = log::<2>(10, 1_000);
        let mut s = l.new_state();
        l.check(&mut s, at(0), 1).unwrap();
        let d = l.check(&mut s, at(10), 1).unwrap();
        // The first unit takes the last free entry, later ones at 10 ms join it.
        assert_eq!(d.remaining, 0);
        // 2 of 10 used, but both entries are live: wait for the oldest.
        let d = l.check(&mut s, at(20), 1).unwrap();
        assert_eq!((d.remaining, d.retry_after), (0, Some(D::from_millis(980))));
        assert!(l.check(&mut s, at(999), 1).unwrap().is_denied());
        assert!(l.check(&mut s, at(1_000), 1).unwrap().is_allowed());
    }

    #[test]
    fn a_full_ring_denies_even_a_request_that_could_share_the_newest_tick() {
        // Otherwise a backwards `now` at the newest tick would admit what a later instant denies.
        let l = log::<2>(10, 1_000);
        let mut s = l.new_state();
        l.check(&mut s, at(0), 1).unwrap();
        l.check(&mut s, at(10), 1).unwrap();
        assert!(l.peek(&s, at(500), 1).unwrap().is_denied());
        assert!(l.peek(&s, at(10), 1).unwrap().is_denied());
        assert!(l.peek(&s, at(3), 1).unwrap().is_denied());
    }

    #[test]
    fn remaining_counts_the_last_free_entry_once() {
        let l = log::<3>(10, 1_000);
        let mut s = l.new_state();
        l.check(&mut s, at(0), 1).unwrap();
        l.check(&mut s, at(1), 1).unwrap();
        // At 2 ms one unit takes the last entry and the ring is full: only one more.
        assert_eq!(l.peek(&s, at(2), 0).unwrap().remaining, 1);
        // At 1 ms units join the newest entry: all eight.
        assert_eq!(l.peek(&s, at(1), 0).unwrap().remaining, 8);
    }

    #[test]
    fn a_backwards_clock_is_decided_at_the_newest_entry() {
        let l = log::<4>(2, 1_000);
        let mut s = l.new_state();
        l.check(&mut s, at(5_000), 1).unwrap();
        // At 100 ms the entry of 5 s would long have expired were it in the past; it is not.
        let d = l.check(&mut s, at(100), 1).unwrap();
        assert!(d.is_allowed());
        assert_eq!(s.newest, 5_000); // recorded at the newest instant, so the log stays sorted
        assert_eq!(d.reset, D::from_millis(5_900)); // counted from the `now` given
        let d = l.check(&mut s, at(100), 1).unwrap();
        // Denied until 6 s: 5.9 s from the `now` given, exact from there.
        assert_eq!(d.retry_after, Some(D::from_millis(5_900)));
        assert!(l.peek(&s, at(5_999), 1).unwrap().is_denied());
        assert!(l.peek(&s, at(6_000), 1).unwrap().is_allowed());
    }

    #[test]
    fn a_long_pause_expires_everything_at_once() {
        let l = log::<8>(8, 1_000);
        let mut s = l.new_state();
        for ms in 0..8 {
            l.check(&mut s, at(ms), 1).unwrap();
        }
        assert!(l.is_at_rest(&s, at(u64::MAX)));
        let d = l.check(&mut s, at(u64::MAX / 2), 8).unwrap();
        assert_eq!(
            (d.remaining, s.len, s.before, s.totals[s.head as usize]),
            (0, 1, 8, 16)
        );
    }

    #[test]
    fn offsets_wrap_without_rebasing() {
        // u16 offsets with a window of exactly 2^16 ticks, walked across many wraps.
        type D1 = Duration<1>;
        let l =
            SlidingLog::<1, 4, u16>::new(Quota::new(4, D1::from_ticks(1 << 16)).unwrap()).unwrap();
        let mut s = l.new_state();
        let mut t = 1u64 << 40;
        for round in 0..20u64 {
            for k in 0..4 {
                let now = Instant::<1>::from_ticks(t + k * 16_000);
                assert!(
                    l.check(&mut s, now, 1).unwrap().is_allowed(),
                    "round {round}"
                );
            }
            let last = t + 3 * 16_000;
            let d = l
                .check(&mut s, Instant::<1>::from_ticks(last + 1), 1)
                .unwrap();
            // The oldest of the four (at t) expires at t + 2^16.
            assert_eq!(
                d.retry_after,
                Some(D1::from_ticks((1 << 16) - 3 * 16_000 - 1))
            );
            assert_eq!(d.reset, D1::from_ticks((1 << 16) - 1));
            t += (1 << 16) + 12_345 * round;
        }
    }

    #[test]
    fn windows_longer_than_the_offset_are_rejected() {
        let q = |w: u64| Quota::<1>::new(1, Duration::<1>::from_ticks(w)).unwrap();
        assert!(SlidingLog::<1, 1, u16>::new(q(1 << 16)).is_ok());
        assert_eq!(
            SlidingLog::<1, 1, u16>::new(q((1 << 16) + 1)),
            Err(ConfigError::WindowTooLong)
        );
        assert!(SlidingLog::<1, 1>::new(q(1 << 32)).is_ok());
        assert_eq!(
            SlidingLog::<1, 1>::new(q((1 << 32) + 1)),
            Err(ConfigError::WindowTooLong)
        );
        assert!(SlidingLog::<1, 1, u64>::new(q(u64::MAX)).is_ok());
        assert_eq!(
            SlidingLog::<1, 1>::new(Quota::new(2, Duration::<1>::from_ticks(2)).unwrap()),
            Err(ConfigError::CapacityTooSmall)
        );
    }

    #[test]
    fn a_u32_window_of_2_pow_32_ticks_is_exact() {
        let l = SlidingLog::<1, 2>::new(Quota::new(2, Duration::<1>::from_ticks(1 << 32)).unwrap())
            .unwrap();
        let mut s = l.new_state();
        let t0 = 3u64 << 40;
        l.check(&mut s, Instant::from_ticks(t0), 1).unwrap();
        l.check(&mut s, Instant::from_ticks(t0 + (1 << 32) - 1), 1)
            .unwrap();
        let d = l
            .check(&mut s, Instant::from_ticks(t0 + (1 << 32) - 1), 1)
            .unwrap();
        assert_eq!(d.retry_after, Some(Duration::<1>::from_ticks(1)));
        assert!(
            l.check(&mut s, Instant::from_ticks(t0 + (1 << 32)), 1)
                .unwrap()
                .is_allowed()
        );
        let d = l.peek(&s, Instant::from_ticks(t0 + (1 << 32)), 1).unwrap();
        assert_eq!(
            d.retry_after,
            Some(Duration::<1>::from_ticks((1 << 32) - 1))
        );
    }

    #[test]
    fn a_fresh_inline_state_is_all_zeros_so_a_static_of_it_lands_in_bss() {
        let s = LogState::<8, u16>::new();
        assert_eq!((s.newest, s.cap, s.before, s.head, s.len), (0, 0, 0, 0, 0));
        assert!(s.stamps.iter().all(|&t| t == 0) && s.totals.iter().all(|&t| t == 0));
        // A ring of all the storage, and equal to the state its configuration makes.
        assert_eq!(s.ring().cap, 8);
        let log = SlidingLog::<1_000, 8, u16>::new(Quota::per_second(8).unwrap()).unwrap();
        assert_eq!(Algorithm::new_state(&log), s);
    }

    #[test]
    fn a_state_takes_twenty_four_bytes_plus_its_arrays() {
        fn expected<const CAP: usize, O: Offset>() -> usize {
            let raw = 24 + CAP * (core::mem::size_of::<O>() + 4);
            raw.next_multiple_of(core::mem::align_of::<u64>())
        }
        assert_eq!(core::mem::size_of::<LogState<1>>(), expected::<1, u32>());
        assert_eq!(core::mem::size_of::<LogState<50>>(), expected::<50, u32>());
        assert_eq!(
            core::mem::size_of::<LogState<7, u16>>(),
            expected::<7, u16>()
        );
        assert_eq!(
            core::mem::size_of::<LogState<50, u16>>(),
            expected::<50, u16>()
        );
        assert_eq!(
            core::mem::size_of::<LogState<3, u64>>(),
            expected::<3, u64>()
        );
        assert_eq!(
            core::mem::size_of::<LogState<50, u64>>(),
            expected::<50, u64>()
        );
        if core::mem::align_of::<u64>() == 8 {
            assert_eq!(core::mem::size_of::<LogState<50>>(), 424);
            assert_eq!(core::mem::size_of::<LogState<50, u16>>(), 328);
            assert_eq!(core::mem::size_of::<LogState<50, u64>>(), 624);
        }
        // The configuration: the limit, the window and the number of entries.
        assert_eq!(core::mem::size_of::<SlidingLog<1_000, 50>>(), 16);
    }

    #[test]
    fn the_end_of_time_stays_closed() {
        let l = log::<4>(1, 1_000);
        let mut s = l.new_state();
        let end = u64::MAX - 100;
        assert!(l.check(&mut s, at(end), 1).unwrap().is_allowed());
        assert!(!l.is_at_rest(&s, at(u64::MAX)));
        let d = l.check(&mut s, at(u64::MAX), 1).unwrap();
        assert!(d.is_denied());
        assert_eq!(d.retry_after, Some(D::from_ticks(900)));
        assert_eq!(d.reset, D::from_ticks(900));
        // Durations counted from far back saturate rather than wrap.
        let d = l.peek(&s, at(0), 1).unwrap();
        assert_eq!(d.reset, D::from_ticks(u64::MAX));
        assert_eq!(d.retry_after, Some(D::from_ticks(u64::MAX)));
    }

    #[test]
    fn at_rest_exactly_when_the_newest_entry_has_expired() {
        let l = log::<4>(3, 1_000);
        let mut s = l.new_state();
        assert!(l.is_at_rest(&s, at(0)));
        l.check(&mut s, at(0), 1).unwrap();
        l.check(&mut s, at(200), 1).unwrap();
        assert!(!l.is_at_rest(&s, at(1_199)));
        assert!(!l.is_at_rest(&s, at(100))); // backwards: decided at 200 ms
        assert!(l.is_at_rest(&s, at(1_200)));
        let fresh = l.new_state();
        for cost in 0..=3 {
            assert_eq!(
                l.peek(&s, at(1_200), cost).unwrap(),
                l.peek(&fresh, at(1_200), cost).unwrap()
            );
        }
    }

    #[test]
    fn try_acquire_agrees_with_check() {
        let l = log::<3>(3, 100);
        let (mut a, mut b) = (l.new_state(), l.new_state());
        for ms in [0, 0, 5, 7, 50, 99, 100, 101, 104, 3, 250, 250, 250, 250] {
            let d = l.check(&mut a, at(ms), 1).unwrap();
            let r = l.try_acquire(&mut b, at(ms));
            assert_eq!(r.err().map(|w| w.retry_after()), d.retry_after, "at {ms}");
            assert_eq!(a, b);
        }
    }

    #[test]
    fn leading_counts_the_prefix_where_the_predicate_holds() {
        for n in 0..40u32 {
            for k in 0..=n {
                let mut calls = 0;
                assert_eq!(
                    leading(n, |i| {
                        calls += 1;
                        assert!(i < n);
                        i < k
                    }),
                    k
                );
                assert!(calls <= 2 * (32 - k.leading_zeros()) + 2, "n {n} k {k}");
            }
        }
        assert_eq!(leading(u32::MAX, |i| i < 3_000_000_000), 3_000_000_000);
    }
}
