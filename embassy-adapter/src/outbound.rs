//! A carrier's outbound limits per phone number: messages, calls, recipients.
//!
//! The seed carrier (Bandwidth) publishes, per number, **1 outbound message per second
//! calculated as the average over 10 seconds**, the same for **calls per number and per
//! account**, no limit on messages per account, and a cap on recipients per multi-message
//! request. "1 per second as the average over 10 seconds" is a count: at most 10 in the 10
//! seconds before any instant. So each limit here is the core's
//! [`SlidingLog`] of 10 per 10 seconds, exact, which allows 10 at
//! once from rest and then one as each leaves the window, and provably never an 11th inside any
//! 10-second window. (A GCRA with a burst of 10 would let 19 through in the first 10 s.)
//!
//! - Messages: one log per number; a request to `k` recipients counts `k` messages.
//! - Calls: one log per number and one for the account, decided together: a call the account
//!   refuses charges no number, and one a number refuses charges the account nothing.
//! - Multi-messages: more than [`max_recipients`](Outbound::max_recipients) in one request is
//!   refused before anything is charged; [`plan`](Outbound::plan) splits a recipient list into
//!   chunks that each fit, and says when each may go.
//! - The carrier's own denials ([`backoff`](Outbound::backoff)) pause every later
//!   request as the core's pacer decides ([`carrier`](crate::carrier)).
//!
//! Every wait is a reserved turn ([`throttle`](crate::throttle)): tasks sending from one number
//! go in the order they asked, each woken once.

use core::fmt;

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use tollgate_core::{Algorithm, InsufficientCapacity, KeyLimits, LogState, Pacer, SlidingLog};

use crate::carrier::Backoff;
use crate::number::E164;
use crate::throttle::{Denied, Error, KeysFor, Refused, Throttle, Turn};
use crate::{Duration, HZ, Instant};

/// Entries in each log: the most admissions a 10-second window holds.
pub const PER_WINDOW: usize = 10;

/// One carrier limit: `PER_WINDOW` per window, exact, 104 bytes of state per key.
pub type Log = SlidingLog<HZ, PER_WINDOW>;

/// What a call is charged to: its number, and the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Caller {
    /// The calling number.
    Number(E164),
    /// The whole account.
    Account,
}

/// The call limits: one per number, one for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallLimits {
    /// Each number's calls.
    pub per_number: Log,
    /// The account's calls, from all numbers together.
    pub per_account: Log,
}

impl KeyLimits<Caller, HZ> for CallLimits {
    type Limit = Log;

    fn limit_for(&self, key: &Caller) -> Option<&Log> {
        Some(match key {
            Caller::Number(_) => &self.per_number,
            Caller::Account => &self.per_account,
        })
    }
}

/// Why a message or call could not be scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OutboundError {
    /// More recipients than one multi-message request may have: split it ([`Outbound::plan`]).
    TooManyRecipients {
        /// Recipients asked for.
        recipients: u32,
        /// The most allowed.
        max: u32,
    },
    /// No recipients.
    NoRecipients,
    /// The number's queue (or the account's, for calls) is full: its turn is more than the
    /// longest delay away. Nothing was recorded; after `retry_after` it would be within reach.
    Busy {
        /// Time until the turn would be within reach.
        retry_after: Duration,
    },
    /// The throttle's answer: a cost that never fits, or a full number table.
    Throttle(Error),
}

impl From<Error> for OutboundError {
    fn from(e: Error) -> Self {
        Self::Throttle(e)
    }
}

impl From<Refused> for OutboundError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Busy { retry_after } => Self::Busy { retry_after },
            Refused::Error(e) => Self::Throttle(e),
        }
    }
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyRecipients { recipients, max } => write!(
                f,
                "the number of messages [{recipients}] in the multi message request is greater than the limit [{max}]"
            ),
            Self::NoRecipients => f.write_str("a message needs at least one recipient"),
            Self::Busy { retry_after } => write!(
                f,
                "the queue is full for {} more ticks",
                retry_after.as_ticks()
            ),
            Self::Throttle(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for OutboundError {}

/// A carrier's outbound limits for `N − N/8` numbers sending messages and one fewer placing
/// calls (the account takes a slot of the call table), `N` a power of two: see the
/// [module docs](self).
///
/// State: a [`LogState`] per active number and per table (messages, calls), plus the account's;
/// a number that has sent nothing for 10 seconds costs nothing.
///
/// # Examples
///
/// ```
/// use tollgate_embassy::number::E164;
/// use tollgate_embassy::outbound::{Outbound, OutboundKeys};
///
/// static NUMBERS: OutboundKeys<64> = OutboundKeys::new(); // all zeros: in .bss
/// static OUTBOUND: Outbound<64> = Outbound::carrier(&NUMBERS, 10);
/// # embassy_time::MockDriver::get().reset();
/// let a = E164::parse("+15551230001")?;
/// let b = E164::parse("+15551230002")?;
/// for _ in 0..10 {
///     assert!(OUTBOUND.try_call(a).is_ok()); // the account's 10 per 10 s
/// }
/// assert!(OUTBOUND.try_call(b).is_err()); // the account is spent: b is not charged
/// assert!(OUTBOUND.try_message(b, 10).is_ok()); // messages are limited per number only
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub struct Outbound<'k, const N: usize, M: RawMutex = CriticalSectionRawMutex> {
    messages: Throttle<'k, E164, Log, N, M>,
    calls: Throttle<'k, Caller, CallLimits, N, M>,
    carrier: Backoff<M>,
    max_recipients: u32,
}

/// The numbers' states of an [`Outbound`]: its message table and its call table (numbers and
/// the account), `N` slots each, all zeros until used so that a `static` of it lands in `.bss`.
pub struct OutboundKeys<const N: usize, M: RawMutex = CriticalSectionRawMutex> {
    messages: KeysFor<E164, Log, N, M>,
    calls: KeysFor<Caller, CallLimits, N, M>,
}

impl<const N: usize, M: RawMutex> OutboundKeys<N, M> {
    /// Empty tables.
    pub const fn new() -> Self {
        Self {
            messages: KeysFor::<E164, Log, N, M>::new(),
            calls: KeysFor::<Caller, CallLimits, N, M>::new(),
        }
    }
}

impl<const N: usize, M: RawMutex> Default for OutboundKeys<N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, M: RawMutex> fmt::Debug for OutboundKeys<N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundKeys")
            .field("messages", &self.messages)
            .field("calls", &self.calls)
            .finish()
    }
}

impl<const N: usize, M: RawMutex> fmt::Debug for Outbound<'_, N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("messages", &self.messages)
            .field("calls", &self.calls)
            .field("carrier", &self.carrier)
            .field("max_recipients", &self.max_recipients)
            .finish()
    }
}

/// The carrier's published limit: 1 per second as the average over 10 seconds.
const CARRIER_LOG: Log =
    tollgate_core::valid!(Log::per_window(PER_WINDOW as u32, Duration::from_secs(10)));

/// How far ahead a request is queued by default: a minute.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);

/// Backoff after a carrier denial without Retry-After or reset: from 1 s, doubling to the
/// 10-second averaging period. One pacer serves every task and number, so it never gives up
/// (a retry budget is per request, and giving up would drop the pause).
const CARRIER_PACER: Pacer<HZ> =
    tollgate_core::valid!(Pacer::new(Duration::from_secs(1), Duration::from_secs(10)))
        .with_max_retries(u32::MAX);

impl<'k, const N: usize, M: RawMutex> Outbound<'k, N, M> {
    /// The seed carrier's limits (10 per 10 s per number for messages and calls, 10 per 10 s
    /// per account for calls), requests queued up to [`DEFAULT_MAX_DELAY`], at most
    /// `max_recipients` per multi-message (the carrier's figure for the account).
    pub const fn carrier(keys: &'k OutboundKeys<N, M>, max_recipients: u32) -> Self {
        Self::new(
            keys,
            CARRIER_LOG,
            CallLimits {
                per_number: CARRIER_LOG,
                per_account: CARRIER_LOG,
            },
            max_recipients,
            DEFAULT_MAX_DELAY,
            CARRIER_PACER,
        )
    }

    /// Other limits: `messages` per number, `calls` per number and account, the recipients
    /// cap, the longest queueing, and the pacer for the carrier's own denials; the numbers'
    /// states in `keys`.
    pub const fn new(
        keys: &'k OutboundKeys<N, M>,
        messages: Log,
        calls: CallLimits,
        max_recipients: u32,
        max_delay: Duration,
        pacer: Pacer<HZ>,
    ) -> Self {
        Self {
            messages: Throttle::new(messages, max_delay, &keys.messages),
            calls: Throttle::new(calls, max_delay, &keys.calls),
            carrier: Backoff::new(pacer),
            max_recipients,
        }
    }

    /// The most recipients one multi-message request may have.
    pub const fn max_recipients(&self) -> u32 {
        self.max_recipients
    }

    /// The per-number message throttle.
    pub const fn messages(&self) -> &Throttle<'k, E164, Log, N, M> {
        &self.messages
    }

    /// The call throttle (numbers and the account).
    pub const fn calls(&self) -> &Throttle<'k, Caller, CallLimits, N, M> {
        &self.calls
    }

    /// The carrier's pause: give it the carrier's answer to every message and call
    /// ([`Backoff::on_response`]); a rate-limit denial pauses every later `message` and `call`
    /// until the core's pacer says.
    pub const fn backoff(&self) -> &Backoff<M> {
        &self.carrier
    }

    fn recipients(&self, recipients: u32) -> Result<(), OutboundError> {
        if recipients == 0 {
            return Err(OutboundError::NoRecipients);
        }
        if recipients > self.max_recipients {
            return Err(OutboundError::TooManyRecipients {
                recipients,
                max: self.max_recipients,
            });
        }
        Ok(())
    }

    /// Waits for the carrier's pause and then `from`'s turn to send one message to
    /// `recipients` recipients (counted as that many messages).
    ///
    /// A carrier denial that arrives while the request waits for its turn pauses it too: the
    /// turn is given back (as a cancelled one is) and the request waits out the pause and
    /// queues again, rather than going with others that the pause held back.
    ///
    /// # Errors
    ///
    /// [`OutboundError::TooManyRecipients`], [`OutboundError::NoRecipients`],
    /// [`OutboundError::Busy`], and the throttle's errors (more recipients than a window holds,
    /// a full number table).
    pub async fn message(&self, from: E164, recipients: u32) -> Result<Turn, OutboundError> {
        self.recipients(recipients)?;
        let start = crate::now();
        loop {
            self.carrier.ready().await;
            let held = || self.carrier.ready_at() > crate::now();
            if let Some(turn) = self
                .messages
                .acquire_all_unless([from], recipients, held)
                .await?
            {
                return Ok(since(turn, start));
            }
        }
    }

    /// Sends now if the carrier's pause is over and `from` may send to `recipients` now.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message), and [`Denied::Wait`] (inside
    /// [`TryError::Wait`]) when not now.
    pub fn try_message(&self, from: E164, recipients: u32) -> Result<Turn, TryError> {
        self.recipients(recipients)?;
        self.paused()?;
        Ok(self.messages.try_acquire(from, recipients)?)
    }

    /// Waits for the carrier's pause and then the turn of one call from `from`, charged to the
    /// number and the account together (a carrier pause that comes meanwhile is waited out as
    /// for [`message`](Self::message)).
    ///
    /// # Errors
    ///
    /// [`OutboundError::Busy`] and the throttle's errors (a full number table).
    pub async fn call(&self, from: E164) -> Result<Turn, OutboundError> {
        let start = crate::now();
        loop {
            self.carrier.ready().await;
            let held = || self.carrier.ready_at() > crate::now();
            if let Some(turn) = self
                .calls
                .acquire_all_unless([Caller::Number(from), Caller::Account], 1, held)
                .await?
            {
                return Ok(since(turn, start));
            }
        }
    }

    /// Places a call now if the pause is over and both the number and the account allow it.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and [`TryError::Wait`] when not now (`key` 0 is the number, 1
    /// the account).
    pub fn try_call(&self, from: E164) -> Result<Turn, TryError> {
        self.paused()?;
        Ok(self
            .calls
            .try_acquire_all([Caller::Number(from), Caller::Account], 1)?)
    }

    fn paused(&self) -> Result<(), TryError> {
        let (now, ready) = (crate::now(), self.carrier.ready_at());
        match ready.checked_duration_since(now) {
            Some(wait) if wait.as_ticks() > 0 => Err(TryError::Paused { retry_after: wait }),
            _ => Ok(()),
        }
    }

    /// Splits `recipients` into chunks that each fit one multi-message request, and says when
    /// each may go if sent in order from now, after everything already scheduled for `from`:
    /// each chunk goes at the earliest turn of one more recipient, with as many recipients as
    /// the window has room for then (at most [`max_recipients`](Self::max_recipients)). Records
    /// nothing: send each chunk with [`message`](Self::message). The carrier's pause and the
    /// longest delay are not planned for: `message` still waits out the one and refuses beyond
    /// the other.
    ///
    /// # Errors
    ///
    /// [`OutboundError::NoRecipients`] when the cap is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_embassy::number::E164;
    /// use tollgate_embassy::outbound::{Outbound, OutboundKeys};
    ///
    /// static NUMBERS: OutboundKeys<64> = OutboundKeys::new();
    /// static OUTBOUND: Outbound<64> = Outbound::carrier(&NUMBERS, 4);
    /// # embassy_time::MockDriver::get().reset();
    /// let from = E164::parse("+15551230001")?;
    /// let to = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    /// let plan: Vec<(usize, u64)> = OUTBOUND.plan(from, &to)?
    ///     .map(|(chunk, at)| (chunk.len(), at.as_ticks() / 1_000_000))
    ///     .collect();
    /// // 4 + 4 + 2 at once (the window's 10), the last 3 when the window has moved on.
    /// assert_eq!(plan, [(4, 0), (4, 0), (2, 0), (3, 10)]);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn plan<'r, T>(
        &self,
        from: E164,
        recipients: &'r [T],
    ) -> Result<Plan<'r, T>, OutboundError> {
        let limit = self.messages.limits();
        let chunk = (self.max_recipients.min(limit.limit())) as usize;
        if chunk == 0 {
            return Err(OutboundError::NoRecipients);
        }
        let state = self
            .messages
            .state_of(&from)
            .unwrap_or_else(|| limit.new_state());
        Ok(Plan {
            limit: *limit,
            state,
            now: crate::now(),
            rest: recipients,
            chunk,
        })
    }
}

/// Why [`Outbound::try_message`] or [`Outbound::try_call`] did not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TryError {
    /// The carrier's pause (after its denial) lasts `retry_after` more.
    Paused {
        /// Time until the pause ends.
        retry_after: Duration,
    },
    /// The throttle's turn is later: `retry_after` more (the position `key` sets it).
    Wait {
        /// Time until the turn.
        retry_after: Duration,
        /// The key that sets it: 0 the number, 1 the account (calls).
        key: usize,
    },
    /// Never as asked, or no room: see [`OutboundError`].
    Error(OutboundError),
}

impl From<OutboundError> for TryError {
    fn from(e: OutboundError) -> Self {
        Self::Error(e)
    }
}

impl From<Denied> for TryError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Wait { retry_after, key } => Self::Wait { retry_after, key },
            Denied::Error(e) => Self::Error(OutboundError::Throttle(e)),
        }
    }
}

impl fmt::Display for TryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Paused { retry_after } => write!(
                f,
                "paused by the carrier for {} more ticks",
                retry_after.as_ticks()
            ),
            Self::Wait { retry_after, key } => write!(
                f,
                "not yet: the turn is {} ticks away (key {key})",
                retry_after.as_ticks()
            ),
            Self::Error(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for TryError {}

/// `turn` with its wait counted from `start`, when the request first asked.
fn since(turn: Turn, start: Instant) -> Turn {
    Turn {
        at: turn.at,
        waited: turn
            .at
            .checked_duration_since(start)
            .unwrap_or(Duration::from_ticks(0)),
    }
}

/// Chunks of a recipient list and when each may go: see [`Outbound::plan`].
#[derive(Debug, Clone)]
pub struct Plan<'r, T> {
    limit: Log,
    state: LogState<PER_WINDOW>,
    now: Instant,
    rest: &'r [T],
    chunk: usize,
}

impl<'r, T> Iterator for Plan<'r, T> {
    type Item = (&'r [T], Instant);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        // The earliest turn of one more recipient, then as many as that instant's window has
        // room for, up to the cap.
        let at = crate::throttle::turn_for(&self.limit, &self.state, self.now, 1).ok()?;
        let room = self.limit.peek(&self.state, at, 0).ok()?.remaining;
        let size = self
            .chunk
            .min(self.rest.len())
            .min(usize::try_from(room).unwrap_or(usize::MAX))
            .max(1);
        let (head, rest) = self.rest.split_at(size);
        let cost = u32::try_from(head.len()).unwrap_or(u32::MAX);
        let recorded: Result<_, InsufficientCapacity> = self.limit.check(&mut self.state, at, cost);
        if !recorded.ok()?.is_allowed() {
            return None;
        }
        self.rest = rest;
        Some((head, at))
    }
}
