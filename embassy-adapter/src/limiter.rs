//! One limit shared by every task: a [`Throttle`] with a single key.

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use tollgate_core::Algorithm;

use crate::throttle::{Denied, Error, Keys, Refused, Schedulable, Throttle, Turn};
use crate::{Duration, HZ, Instant};

/// One core limit (a GCRA, a sliding log) shared by tasks and interrupt handlers from a
/// `static`: [`try_acquire`](Limiter::try_acquire) now or never, [`acquire`](Limiter::acquire)
/// reserving a turn and sleeping until it, exactly as a [`Throttle`]'s key (see its docs for
/// the guarantee, the order of waiters and cancellation).
///
/// # Examples
///
/// A modem's AT command channel, 5 commands a second with bursts of 2:
///
/// ```
/// use tollgate_core::{Gcra, Quota, valid};
/// use tollgate_embassy::{Duration, HZ};
/// use tollgate_embassy::limiter::{Limiter, LimiterState};
/// use tollgate_embassy::throttle::Keys;
///
/// static STATE: LimiterState<Gcra<HZ>> = Keys::new();
/// static AT: Limiter<Gcra<HZ>> = Limiter::new(
///     Gcra::new(valid!(Quota::per_second(5), with_burst(2))),
///     Duration::from_secs(5),
///     &STATE,
/// );
/// # embassy_time::MockDriver::get().reset();
/// assert!(AT.try_acquire(1).is_ok() && AT.try_acquire(1).is_ok());
/// assert!(AT.try_acquire(1).is_err()); // the third waits 200 ms
/// # embassy_futures::block_on(async {
/// let turn = embassy_futures::select::select(AT.acquire(1), async {
///     loop {
///         embassy_time::MockDriver::get().advance(embassy_time::Duration::from_millis(1));
///         embassy_futures::yield_now().await;
///     }
/// }).await;
/// # if let embassy_futures::select::Either::First(turn) = turn {
/// assert_eq!(turn.unwrap().at.as_ticks(), Duration::from_millis(200).as_ticks());
/// # }
/// # });
/// ```
pub struct Limiter<'k, A, M = CriticalSectionRawMutex>
where
    A: Algorithm<HZ>,
    M: RawMutex,
{
    throttle: Throttle<'k, (), A, 1, M>,
}

/// The state of a [`Limiter`] deciding with `A`: one slot, all zeros until used.
pub type LimiterState<A, M = CriticalSectionRawMutex> = Keys<(), <A as Algorithm<HZ>>::State, 1, M>;

impl<A, M> core::fmt::Debug for Limiter<'_, A, M>
where
    A: Algorithm<HZ> + core::fmt::Debug,
    M: RawMutex,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Limiter")
            .field("throttle", &self.throttle)
            .finish()
    }
}

impl<'k, A, M> Limiter<'k, A, M>
where
    A: Algorithm<HZ>,
    A::State: Schedulable,
    M: RawMutex,
{
    /// A limiter deciding with `limit`, queueing requests at most `max_delay` ahead, keeping
    /// its state in `state`.
    pub const fn new(limit: A, max_delay: Duration, state: &'k LimiterState<A, M>) -> Self {
        Self {
            throttle: Throttle::new(limit, max_delay, state),
        }
    }

    /// The limit it decides with.
    pub const fn limit(&self) -> &A {
        self.throttle.limits()
    }

    /// Admits a request of `cost` if it may go now, and records it.
    ///
    /// # Errors
    ///
    /// [`Denied::Wait`] with the time until its turn; [`Denied::Error`] when the cost can never
    /// fit.
    pub fn try_acquire(&self, cost: u32) -> Result<Turn, Denied> {
        self.throttle.try_acquire((), cost)
    }

    /// Waits for the turn of a request of `cost`, then returns it (recorded).
    ///
    /// # Errors
    ///
    /// [`Refused::Busy`] when the turn is more than `max_delay` away;
    /// [`Error::InsufficientCapacity`] when the cost can never fit.
    pub async fn acquire(&self, cost: u32) -> Result<Turn, Refused> {
        self.throttle.acquire((), cost).await
    }

    /// When a request of `cost` would get its turn if asked now; records nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InsufficientCapacity`] when the cost can never fit.
    pub fn turn_of(&self, cost: u32) -> Result<Instant, Error> {
        self.throttle.turn_of(&[()], cost)
    }
}
