//! A per-key throttle that tasks share from a `static` and `await` their turn on.
//!
//! A [`Throttle`] keeps one core state per key (a phone number, an account) in a
//! [`KeyTable`] of fixed capacity behind an `embassy_sync` blocking mutex, so it can sit in a
//! `static` with no allocator and be used from any task or interrupt handler. It decides with the
//! core's algorithms and adds only scheduling:
//!
//! - [`try_acquire`](Throttle::try_acquire) never waits: the request goes now, or is refused
//!   with the exact time until its turn ([`Denied::Wait`]).
//! - [`acquire`](Throttle::acquire) **reserves a turn** and sleeps until it with
//!   `embassy_time::Timer::at`. A turn is the earliest instant at which every key's limit admits
//!   the request after everything already reserved; it is recorded in the key's state at that
//!   instant as the request is queued, so the next caller is scheduled behind it. Waiters
//!   therefore go in arrival order, each wakes exactly once, at its own turn, and none re-checks
//!   the limit in a loop: a burst of waiting tasks is released one turn at a time.
//!
//! # Guarantee
//!
//! Every admission, immediate or reserved, is recorded in the key's state at the instant the
//! request proceeds, by the core's `check`, at non-decreasing instants per key. So the requests
//! that proceed for one key obey the core limit's own guarantee, stated over the instants they
//! proceed at: with a [`SlidingLog`](tollgate_core::SlidingLog) of `N` per `W`, **never more
//! than `N` in any window of length `W`**, however many tasks wait and whatever order they
//! arrive in. Several keys are decided all-or-nothing ([`acquire_all`](Throttle::acquire_all)): a
//! request one key refuses charges none of them.
//!
//! A sliding log asked at an instant earlier than its newest entry records the request at that
//! entry (see the core's sliding log, "A clock that goes backwards"), so a request that finds
//! turns already reserved for its key is itself given a turn no earlier than the last one:
//! arrival order holds for each key. Keys proceed independently of each other.
//!
//! # Cancellation
//!
//! A future that is dropped before its first poll reserves nothing. One dropped while it waits
//! for its turn gives the turn back to every key it was charged to: when nothing was recorded
//! for the key after it, the key's state is put back exactly as it was before (compared whole);
//! otherwise, for a sliding log, the cancelled admission alone is taken out of the log
//! ([`LogStateIn::withdraw`]), which only lowers what any window holds, so the turns reserved
//! after it stay valid and a later request can use the room. Two cases keep the turn spent,
//! admitting one less in that window, never more: a GCRA state, a single instant that cannot
//! lose an admission from the middle of its schedule, with waiters behind it; and the last unit
//! of a log's newest entry when the state changed otherwise since (the log decides at that
//! instant, so it must keep it). A turn that comes while its caller must hold back (a carrier's
//! pause, [`acquire_all_unless`](Throttle::acquire_all_unless)) is given back the same way.
//!
//! # Queue length
//!
//! A request whose turn would be more than `max_delay` away is not queued: `acquire` returns
//! [`Refused::Busy`] with the time until its turn would be within reach, and `try_acquire` is
//! refused. The queue of each key is thus bounded, and a waiter never has to wake to find it
//! still too long. Give `max_delay` the longest a caller may usefully wait.
//!
//! # One configuration per table
//!
//! A [`Keys`] table belongs to one throttle, as a core [`KeyTable`] belongs to one
//! configuration: two throttles with different limits over the same `Keys` would each drop the
//! other's states as at rest and over-admit.

use core::cell::RefCell;
use core::hash::Hash;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use tollgate_core::algorithm::sliding_log::LogStateIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{
    Algorithm, GcraState, InsufficientCapacity, KeyLimits, KeyTable, Offset, TableError,
};

use crate::{Duration, HZ, Instant};

/// Why a request was not admitted at once, or never can be.
pub type Error = TableError<HZ>;

mod sealed {
    pub trait Sealed {}
    impl<O: tollgate_core::Offset, const CAP: usize> Sealed
        for tollgate_core::algorithm::sliding_log::LogStateIn<
            O,
            tollgate_core::algorithm::storage::Inline<CAP>,
        >
    {
    }
    impl Sealed for tollgate_core::GcraState {}
}

/// A core state that a request can be scheduled into the future against. Sealed: a wrong
/// answer would let a throttle over-admit.
///
/// Implemented for the sliding log's state (which records an earlier request at its newest
/// entry) and for GCRA's (which records at any instant).
pub trait Schedulable: Copy + PartialEq + sealed::Sealed {
    /// The instant, in ticks, at which a request asked at any earlier instant is decided and
    /// recorded; `None` when it is recorded at the instant asked.
    fn records_from(&self) -> Option<u64>;

    /// Takes back `cost` recorded at instant `at` (ticks), if the state can take back one
    /// admission among others; `false` when it cannot (nothing changes then).
    fn withdraw(&mut self, at: u64, cost: u32) -> bool;
}

impl<O: Offset, const CAP: usize> Schedulable for LogStateIn<O, Inline<CAP>> {
    fn records_from(&self) -> Option<u64> {
        self.newest_ticks()
    }

    fn withdraw(&mut self, at: u64, cost: u32) -> bool {
        LogStateIn::withdraw(self, at, cost).is_ok()
    }
}

impl Schedulable for GcraState {
    fn records_from(&self) -> Option<u64> {
        None
    }

    /// A GCRA state is one instant (the end of its schedule): an admission in the middle of
    /// it cannot be taken back.
    fn withdraw(&mut self, _at: u64, _cost: u32) -> bool {
        false
    }
}

/// A request's turn: when it proceeds and how long it waited for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Turn {
    /// The instant the request proceeds at (recorded in every key's state).
    pub at: Instant,
    /// How long it waited: zero when it went at once.
    pub waited: Duration,
}

/// Why [`try_acquire`](Throttle::try_acquire) did not admit a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Denied {
    /// Not now: the request's turn is `retry_after` away, set by the key at `key` (its
    /// position in the keys given). Asking again then, with nothing else arriving, admits it.
    Wait {
        /// Time until the turn.
        retry_after: Duration,
        /// The position of the key that sets the turn.
        key: usize,
    },
    /// The request can never be admitted as asked, or the table has no room for a new key.
    Error(Error),
}

impl From<Error> for Denied {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

impl core::fmt::Display for Denied {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Wait { retry_after, key } => write!(
                f,
                "not yet: the turn is {} ticks away (key {key})",
                retry_after.as_ticks()
            ),
            Self::Error(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Denied {}

/// Why [`acquire`](Throttle::acquire) gave no turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refused {
    /// The queue is full: the request's turn is more than the throttle's `max_delay` away.
    /// Nothing was recorded; after `retry_after`, with nothing else arriving, its turn would be
    /// within `max_delay`.
    Busy {
        /// Time until the turn would be within reach.
        retry_after: Duration,
    },
    /// The request can never be admitted as asked, or the table has no room for a new key.
    Error(Error),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Busy { retry_after } => write!(
                f,
                "the queue is full: the turn is beyond the longest delay for {} more ticks",
                retry_after.as_ticks()
            ),
            Self::Error(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Refused {}

/// The state type of the limits `C` give keys of type `K`.
type StateOf<K, C> = <<C as KeyLimits<K, HZ>>::Limit as Algorithm<HZ>>::State;

/// The keys' states of a [`Throttle`]: a core [`KeyTable`] of `N` slots behind a blocking
/// mutex. State only, kept apart from the throttle's configuration so that a `static` of it is
/// all zeros until used and lands in `.bss` (RAM only), not in an initialised image copied from
/// flash.
///
/// Name it for a throttle's limits with [`KeysFor`].
pub struct Keys<K, V, const N: usize, M = CriticalSectionRawMutex>
where
    M: RawMutex,
{
    table: Mutex<M, RefCell<KeyTable<K, V, N>>>,
}

/// The [`Keys`] of a throttle whose limits `C` give keys of type `K`.
pub type KeysFor<K, C, const N: usize, M = CriticalSectionRawMutex> = Keys<K, StateOf<K, C>, N, M>;

impl<K, V, const N: usize, M: RawMutex> Keys<K, V, N, M> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            table: Mutex::new(RefCell::new(KeyTable::new())),
        }
    }
}

impl<K: Eq + Hash, V, const N: usize, M: RawMutex> Keys<K, V, N, M> {
    /// The keys holding a state (keys at rest are dropped as the table goes).
    pub fn len(&self) -> usize {
        self.table.lock(|t| t.borrow().len())
    }

    /// Whether no key holds a state: every key is at rest.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V, const N: usize, M: RawMutex> Default for Keys<K, V, N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, const N: usize, M: RawMutex> core::fmt::Debug for Keys<K, V, N, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keys")
            .field("slots", &N)
            .finish_non_exhaustive()
    }
}

/// One state per key, behind a blocking mutex: see the [module docs](self).
///
/// `K` is the key, `C` the limits (one core algorithm for every key, or a [`KeyLimits`] that
/// picks one by key), `N` the table's slots (a power of two; it holds `N − N/8` keys), `M` the
/// raw mutex (`CriticalSectionRawMutex` by default, usable from interrupts).
///
/// # Examples
///
/// Ten messages per ten seconds for each of up to 56 numbers, in a `static`:
///
/// ```
/// use tollgate_core::{SlidingLog, valid};
/// use tollgate_embassy::{Duration, HZ};
/// use tollgate_embassy::throttle::{Keys, KeysFor, Throttle};
///
/// type Log = SlidingLog<HZ, 10>;
/// // The states (all zeros: in .bss), then the configuration that uses them.
/// static NUMBERS: KeysFor<u64, Log, 64> = Keys::new();
/// static SMS: Throttle<u64, Log, 64> = Throttle::new(
///     valid!(Log::per_window(10, Duration::from_secs(10))),
///     Duration::from_secs(60),
///     &NUMBERS,
/// );
/// # embassy_time::MockDriver::get().reset();
/// for _ in 0..10 {
///     assert!(SMS.try_acquire(15_551_234_567, 1).is_ok());
/// }
/// assert!(SMS.try_acquire(15_551_234_567, 1).is_err()); // the eleventh waits ten seconds
/// assert!(SMS.try_acquire(15_559_876_543, 1).is_ok()); // another number is independent
/// ```
pub struct Throttle<'k, K, C, const N: usize, M = CriticalSectionRawMutex>
where
    C: KeyLimits<K, HZ>,
    M: RawMutex,
{
    limits: C,
    max_delay: Duration,
    keys: &'k KeysFor<K, C, N, M>,
}

impl<K, C, const N: usize, M> core::fmt::Debug for Throttle<'_, K, C, N, M>
where
    C: KeyLimits<K, HZ> + core::fmt::Debug,
    M: RawMutex,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .field("max_delay", &self.max_delay)
            .field("slots", &N)
            .finish_non_exhaustive()
    }
}

/// What scheduling a request found.
enum Slot<V, const J: usize> {
    /// It goes now; recorded.
    Now(Instant),
    /// It goes at `at`; recorded, with each key's state before and after, to give back.
    Later {
        at: Instant,
        before: [Option<V>; J],
        after: [Option<V>; J],
    },
    /// Its turn is more than the longest delay away: nothing recorded; within reach after
    /// `retry_after`.
    TooFar { retry_after: Duration },
}

impl<'k, K, C, const N: usize, M> Throttle<'k, K, C, N, M>
where
    K: Eq + Hash + Clone,
    C: KeyLimits<K, HZ>,
    StateOf<K, C>: Schedulable,
    M: RawMutex,
{
    /// A throttle with `limits` for every key, queueing requests at most `max_delay` ahead,
    /// keeping the keys' states in `keys`.
    pub const fn new(limits: C, max_delay: Duration, keys: &'k KeysFor<K, C, N, M>) -> Self {
        Self {
            limits,
            max_delay,
            keys,
        }
    }

    /// Where it keeps the keys' states.
    pub const fn keys(&self) -> &'k KeysFor<K, C, N, M> {
        self.keys
    }

    /// The limits it decides with.
    pub const fn limits(&self) -> &C {
        &self.limits
    }

    /// The longest a request is queued for.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Admits a request of `cost` for `key` if it may go now, and records it.
    ///
    /// # Errors
    ///
    /// [`Denied::Wait`] when its turn is later (nothing recorded), [`Denied::Error`] when the
    /// cost can never fit or the table is full of active keys.
    pub fn try_acquire(&self, key: K, cost: u32) -> Result<Turn, Denied> {
        self.try_acquire_all([key], cost)
    }

    /// Admits a request of `cost` charged to every one of `keys` if all admit it now, and
    /// records it for all of them; otherwise charges none.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire); [`Error::DuplicateKey`] for a key given twice.
    pub fn try_acquire_all<const J: usize>(&self, keys: [K; J], cost: u32) -> Result<Turn, Denied> {
        let now = crate::now();
        self.keys.table.lock(|t| {
            let mut table = t.borrow_mut();
            let (at, key) = self.turn(&table, &keys, now, cost)?;
            if at > now {
                let retry_after = at
                    .checked_duration_since(now)
                    .unwrap_or(Duration::from_ticks(0));
                #[cfg(feature = "defmt")]
                defmt::debug!(
                    "tollgate: denied, turn in {=u64} ticks",
                    retry_after.as_ticks()
                );
                return Err(Denied::Wait { retry_after, key });
            }
            self.record(&mut table, keys, now, now, cost)?;
            Ok(Turn {
                at: now,
                waited: Duration::from_ticks(0),
            })
        })
    }

    /// When a request of `cost` for all of `keys` would get its turn if asked now; records
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InsufficientCapacity`], [`Error::NoLimit`], [`Error::DuplicateKey`].
    pub fn turn_of<const J: usize>(&self, keys: &[K; J], cost: u32) -> Result<Instant, Error> {
        let now = crate::now();
        self.keys
            .table
            .lock(|t| self.turn(&t.borrow(), keys, now, cost).map(|(at, _)| at))
    }

    /// Waits for the turn of a request of `cost` for `key`, then returns it (recorded).
    ///
    /// # Errors
    ///
    /// [`Refused::Busy`] when the turn is more than `max_delay` away;
    /// [`Error::InsufficientCapacity`] when the cost can never fit; [`Error::Full`] when the
    /// table is full of active keys. Nothing waits then: the caller decides.
    pub async fn acquire(&self, key: K, cost: u32) -> Result<Turn, Refused> {
        self.acquire_all([key], cost).await
    }

    /// Waits for the turn of a request of `cost` charged to every one of `keys`, then returns
    /// it (recorded for all).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire); [`Error::DuplicateKey`] for a key given twice.
    pub async fn acquire_all<const J: usize>(
        &self,
        keys: [K; J],
        cost: u32,
    ) -> Result<Turn, Refused> {
        loop {
            if let Some(turn) = self
                .acquire_all_unless(keys.clone(), cost, || false)
                .await?
            {
                return Ok(turn);
            }
        }
    }

    /// [`acquire_all`](Self::acquire_all), but when its turn comes and `held()` says the
    /// request must not go after all (a carrier's pause that came meanwhile), the turn is
    /// given back as if cancelled and the answer is `Ok(None)`: ask again when free to go.
    ///
    /// # Errors
    ///
    /// As [`acquire_all`](Self::acquire_all).
    pub async fn acquire_all_unless<const J: usize>(
        &self,
        keys: [K; J],
        cost: u32,
        held: impl Fn() -> bool,
    ) -> Result<Option<Turn>, Refused> {
        let start = crate::now();
        loop {
            let now = crate::now();
            let slot = self
                .keys
                .table
                .lock(|t| self.schedule(&mut t.borrow_mut(), keys.clone(), now, cost));
            let waited = |at: Instant| {
                at.checked_duration_since(start)
                    .unwrap_or(Duration::from_ticks(0))
            };
            match slot {
                Err(Denied::Error(e)) => return Err(Refused::Error(e)),
                // Not reached (see `record`); waited out rather than admitted, at least a tick.
                Err(Denied::Wait { retry_after, .. }) => {
                    let again = now
                        .checked_add_duration(retry_after.max(Duration::from_ticks(1)))
                        .unwrap_or(Instant::from_ticks(u64::MAX));
                    crate::sleep_until(again).await;
                }
                // At once: `held` is asked only of a turn that was waited for (the caller knew
                // of any pause when it asked).
                Ok(Slot::Now(at)) => {
                    return Ok(Some(Turn {
                        at,
                        waited: waited(at),
                    }));
                }
                Ok(Slot::TooFar { retry_after }) => return Err(Refused::Busy { retry_after }),
                Ok(Slot::Later { at, before, after }) => {
                    let mut pending = Pending {
                        throttle: self,
                        keys: keys.clone(),
                        at,
                        cost,
                        before,
                        after,
                        armed: true,
                    };
                    crate::sleep_until(at).await;
                    if held() {
                        // Given back by `pending`'s drop: the request did not go.
                        return Ok(None);
                    }
                    pending.armed = false;
                    return Ok(Some(Turn {
                        at,
                        waited: waited(at),
                    }));
                }
            }
        }
    }

    /// The earliest instant at which every key's limit admits the request after everything
    /// recorded, and the position of the key that sets it.
    fn turn<const J: usize>(
        &self,
        table: &KeyTable<K, StateOf<K, C>, N>,
        keys: &[K; J],
        now: Instant,
        cost: u32,
    ) -> Result<(Instant, usize), Error> {
        let mut turn = (now, 0);
        for (i, key) in keys.iter().enumerate() {
            if keys.iter().take(i).any(|k| k == key) {
                return Err(Error::DuplicateKey { index: i });
            }
            let limit = self.limits.limit_for(key).ok_or(Error::NoLimit)?;
            let at = match table.get(key) {
                Some(state) => turn_for(limit, state, now, cost),
                None => turn_for(limit, &limit.new_state(), now, cost),
            }
            .map_err(|c| Error::InsufficientCapacity(c.at(i)))?;
            if at > turn.0 {
                turn = (at, i);
            }
        }
        Ok(turn)
    }

    /// The state kept for `key`, if it is not at rest (a copy).
    pub fn state_of(&self, key: &K) -> Option<StateOf<K, C>> {
        self.keys.table.lock(|t| t.borrow().get(key).copied())
    }

    /// Schedules the request's turn and records it, unless it is too far away.
    fn schedule<const J: usize>(
        &self,
        table: &mut KeyTable<K, StateOf<K, C>, N>,
        keys: [K; J],
        now: Instant,
        cost: u32,
    ) -> Result<Slot<StateOf<K, C>, J>, Denied> {
        let (at, _) = self.turn(table, &keys, now, cost)?;
        let wait = at
            .checked_duration_since(now)
            .unwrap_or(Duration::from_ticks(0));
        if wait > self.max_delay {
            let retry_after =
                Duration::from_ticks(wait.as_ticks().saturating_sub(self.max_delay.as_ticks()));
            return Ok(Slot::TooFar { retry_after });
        }
        let before = keys.each_ref().map(|k| table.get(k).copied());
        let kept = keys.clone();
        self.record(table, keys, now, at, cost)?;
        if at == now {
            return Ok(Slot::Now(at));
        }
        let after = kept.each_ref().map(|k| table.get(k).copied());
        Ok(Slot::Later { at, before, after })
    }

    /// Records the request at its turn `at` for every key, all or nothing.
    fn record<const J: usize>(
        &self,
        table: &mut KeyTable<K, StateOf<K, C>, N>,
        keys: [K; J],
        now: Instant,
        at: Instant,
        cost: u32,
    ) -> Result<(), Denied> {
        // Decided and recorded at the turn; the table's housekeeping at the present.
        let decision = table.check_keys_at(&self.limits, keys, now, at, cost)?;
        match decision.denied_index() {
            None => Ok(()),
            // Unreachable by the core's contract (a limit that admits at an instant admits at
            // every later one); answered as a wait, never as an admission.
            Some(key) => Err(Denied::Wait {
                retry_after: at
                    .checked_duration_since(now)
                    .unwrap_or(Duration::from_ticks(0))
                    .checked_add(decision.retry_after().unwrap_or(Duration::from_ticks(1)))
                    .unwrap_or(Duration::from_ticks(u64::MAX)),
                key,
            }),
        }
    }

    /// Gives a cancelled turn at `at` of `cost` back to every key: the state before it where
    /// nothing was recorded after it, else the admission itself taken out (sliding logs).
    fn give_back<const J: usize>(
        &self,
        keys: &[K; J],
        at: Instant,
        cost: u32,
        before: &[Option<StateOf<K, C>>; J],
        after: &[Option<StateOf<K, C>>; J],
    ) {
        let now = crate::now();
        self.keys.table.lock(|t| {
            let mut table = t.borrow_mut();
            for ((key, before), after) in keys.iter().zip(before).zip(after) {
                let Some(after) = after else { continue };
                // Only restoring (or dropping) a state, never inserting one: cannot be Full.
                let _ = table.update(&self.limits, key.clone(), now, |limit, state| {
                    if *state == *after {
                        *state = before.unwrap_or_else(|| limit.new_state());
                    } else {
                        let _taken_back_if_it_can = state.withdraw(at.as_ticks(), cost);
                    }
                });
            }
        });
    }
}

/// The earliest instant at which `limit` admits a request of `cost` on `state` asked at `now`
/// and records it at that instant: the exact wait the core gives (`retry_after`), but never
/// before the state's newest record (a sliding log records an earlier request there).
///
/// # Errors
///
/// [`InsufficientCapacity`] when the cost can never fit.
pub fn turn_for<A>(
    limit: &A,
    state: &A::State,
    now: Instant,
    cost: u32,
) -> Result<Instant, InsufficientCapacity>
where
    A: Algorithm<HZ>,
    A::State: Schedulable,
{
    let decision = limit.peek(state, now, cost)?;
    let at = now
        .checked_add_duration(decision.retry_after.unwrap_or(Duration::from_ticks(0)))
        .unwrap_or(Instant::from_ticks(u64::MAX));
    Ok(match state.records_from() {
        Some(from) => at.max(Instant::from_ticks(from)),
        None => at,
    })
}

/// A reserved turn being waited for: gives it back if dropped before it comes.
struct Pending<'t, 'k, K, C, const N: usize, M, const J: usize>
where
    K: Eq + Hash + Clone,
    C: KeyLimits<K, HZ>,
    StateOf<K, C>: Schedulable,
    M: RawMutex,
{
    throttle: &'t Throttle<'k, K, C, N, M>,
    keys: [K; J],
    at: Instant,
    cost: u32,
    before: [Option<StateOf<K, C>>; J],
    after: [Option<StateOf<K, C>>; J],
    armed: bool,
}

impl<K, C, const N: usize, M, const J: usize> Drop for Pending<'_, '_, K, C, N, M, J>
where
    K: Eq + Hash + Clone,
    C: KeyLimits<K, HZ>,
    StateOf<K, C>: Schedulable,
    M: RawMutex,
{
    fn drop(&mut self) {
        // Armed until its turn was handed over: whenever it is dropped before (even at the
        // turn's instant, before being polled), the request never went.
        if self.armed {
            #[cfg(feature = "defmt")]
            defmt::debug!("tollgate: a waiting request was cancelled before its turn");
            self.throttle
                .give_back(&self.keys, self.at, self.cost, &self.before, &self.after);
        }
    }
}
