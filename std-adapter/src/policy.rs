//! Several named limits of any algorithms, decided all-or-nothing, shared by threads.
//!
//! A [`SharedPolicy`] is the core's [`Policy`] over a runtime list of [`Limit`]s (read from a
//! policy file, say) with its states behind one mutex: a decision locks, runs the core's three
//! phases (look at every limit, report, record only if all admit) and unlocks. So a policy
//! shared by any number of threads decides exactly as the core does on the same requests in the
//! order they took the lock, and **a request denied by one limit charges no limit**.
//!
//! A concurrency limit's requests stay in flight until their [`Permit`] is dropped.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;
use tollgate_core::{
    Algorithm, Allowance, Clock, InsufficientCapacity, Named, Overrides, Policy, PolicyDecision,
    ReleaseError, Report, Verdict,
};

use crate::clock::StdClock;
use crate::wait;
use crate::{HZ, Instant, Limit, LimitState};

/// Every limit's report, in declaration order, inline for up to eight limits.
pub type Reports<'p> = SmallVec<[Report<'p, HZ>; 8]>;

/// A policy's decision with its reports (names borrowed from the policy).
pub type Decided<'p> = PolicyDecision<HZ, Reports<'p>>;

/// A runtime list of named limits, decided all-or-nothing on a slice of states: the core's policy
/// engine with owned names. Shared by [`SharedPolicy`] and the keyed policies.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    limits: Box<[Named<Limit, String>]>,
    /// Whether some limit counts requests in flight, which a release frees.
    holds: bool,
}

impl Rules {
    pub(crate) fn new(limits: Vec<Named<Limit, String>>) -> Self {
        let holds = limits
            .iter()
            .any(|l| matches!(l.algorithm(), Limit::Concurrency(_)));
        Self {
            limits: limits.into_boxed_slice(),
            holds,
        }
    }

    pub(crate) fn limits(&self) -> &[Named<Limit, String>] {
        &self.limits
    }

    pub(crate) const fn holds(&self) -> bool {
        self.holds
    }

    pub(crate) fn new_state(&self) -> Box<[LimitState]> {
        self.limits
            .iter()
            .map(|l| l.algorithm().new_state())
            .collect()
    }

    /// Decides (`record`) or looks (`!record`) at `cost` on `state`.
    pub(crate) fn decide<'p>(
        &'p self,
        state: &mut [LimitState],
        now: Instant,
        cost: u32,
        overrides: &Overrides<'_>,
        record: bool,
    ) -> Result<Decided<'p>, InsufficientCapacity> {
        if !record {
            return self.peek(state, now, cost, overrides);
        }
        let policy = Policy::new(&self.limits[..]);
        let mut out: Reports<'_> = SmallVec::from_elem(Report::EMPTY, self.limits.len());
        let d = policy.check_into(state, now, cost, overrides, &mut out)?;
        Ok(self.named(d.outcome, d.reports))
    }

    /// What [`decide`](Self::decide) would say at `cost` on `state`, changing nothing.
    pub(crate) fn peek<'p>(
        &'p self,
        state: &[LimitState],
        now: Instant,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<Decided<'p>, InsufficientCapacity> {
        let policy = Policy::new(&self.limits[..]);
        let mut out: Reports<'_> = SmallVec::from_elem(Report::EMPTY, self.limits.len());
        let d = policy.peek_into(state, now, cost, overrides, &mut out)?;
        Ok(self.named(d.outcome, d.reports))
    }

    /// A decision whose reports borrow the names from a call's `Policy` value, its reports
    /// pointed at the limits themselves, which live as long as `self`.
    fn named<'p>(&'p self, outcome: Verdict, reports: &[Report<'_, HZ>]) -> Decided<'p> {
        let reports = reports
            .iter()
            .zip(self.limits.iter())
            .map(|(r, l)| Report {
                name: l.name(),
                allowance: r.allowance,
                decision: r.decision,
            })
            .collect();
        PolicyDecision { outcome, reports }
    }

    pub(crate) fn release(&self, state: &mut [LimitState], cost: u32) -> Result<(), ReleaseError> {
        Policy::new(&self.limits[..]).release(state, cost)
    }

    pub(crate) fn is_at_rest(&self, state: &[LimitState], now: Instant) -> bool {
        Policy::new(&self.limits[..]).is_at_rest(state, now)
    }
}

/// Named limits decided together and shared by threads: see the [module docs](self).
///
/// Cheap to clone: clones share the limits and their states.
///
/// # Examples
///
/// Seed 000's API: 5 in flight, 300 per minute and 900 per 15 minutes at once.
///
/// ```
/// use tollgate_core::{Concurrency, Named};
/// use tollgate_std::{Duration, Limit, SharedPolicy};
///
/// let policy = SharedPolicy::new(vec![
///     Named::new("concurrent".to_string(), Limit::Concurrency(Concurrency::new(5)?)),
///     Named::new("minute".to_string(), Limit::sliding_log(300, Duration::from_secs(60), 300)?),
///     Named::new("quarter".to_string(), Limit::sliding_log(900, Duration::from_secs(900), 900)?),
/// ]);
/// let mut running = Vec::new();
/// for _ in 0..5 {
///     let (decision, permit) = policy.check(1)?;
///     assert!(decision.is_allowed());
///     running.push(permit); // in flight until dropped
/// }
/// let (decision, _) = policy.check(1)?;
/// assert_eq!(decision.limit_exceeded(), Some("concurrent"));
/// assert_eq!(decision.reports[1].decision.remaining, 295); // the denial charged nothing
/// drop(running.pop());
/// assert!(policy.check(1)?.0.is_allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SharedPolicy<C = StdClock> {
    shared: Arc<Shared<C>>,
}

impl<C> Clone for SharedPolicy<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct Shared<C> {
    rules: Rules,
    states: Mutex<Box<[LimitState]>>,
    /// Woken by every release, for blocked waiters on a concurrency limit.
    released: Condvar,
    #[cfg(feature = "tokio")]
    released_async: tokio::sync::Notify,
    clock: C,
}

impl SharedPolicy<StdClock> {
    /// A policy of `limits` on the default clock, every limit at rest.
    pub fn new(limits: Vec<Named<Limit, String>>) -> Self {
        Self::with_clock(limits, StdClock::new())
    }
}

impl<C: Clock<HZ>> SharedPolicy<C> {
    /// A policy of `limits` on `clock`, every limit at rest.
    pub fn with_clock(limits: Vec<Named<Limit, String>>, clock: C) -> Self {
        let rules = Rules::new(limits);
        let states = Mutex::new(rules.new_state());
        Self {
            shared: Arc::new(Shared {
                rules,
                states,
                released: Condvar::new(),
                #[cfg(feature = "tokio")]
                released_async: tokio::sync::Notify::new(),
                clock,
            }),
        }
    }

    /// The limits, in declaration order.
    pub fn limits(&self) -> &[Named<Limit, String>] {
        self.shared.rules.limits()
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.shared.clock
    }

    /// Decides a request of `cost` now. When admitted, the permit holds its place in every
    /// concurrency limit until dropped (it holds nothing otherwise).
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds some limit's capacity: no wait would admit
    /// it. Nothing is recorded.
    pub fn check(&self, cost: u32) -> Result<(Decided<'_>, Permit<C>), InsufficientCapacity> {
        self.check_at(self.shared.clock.now(), cost, &Overrides::NONE)
    }

    /// [`check`](Self::check) at `now`, with test-header overrides.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check), and when an override lowers a limit below `cost`.
    pub fn check_at(
        &self,
        now: Instant,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<(Decided<'_>, Permit<C>), InsufficientCapacity> {
        let decided = {
            let mut states = self.lock();
            self.shared
                .rules
                .decide(&mut states, now, cost, overrides, true)?
        };
        let permit = self.permit(decided.is_allowed(), cost);
        Ok((decided, permit))
    }

    /// What [`check`](Self::check) would say now, recording nothing.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn peek(&self, cost: u32) -> Result<Decided<'_>, InsufficientCapacity> {
        let now = self.shared.clock.now();
        let mut states = self.lock();
        self.shared
            .rules
            .decide(&mut states, now, cost, &Overrides::NONE, false)
    }

    /// Ends `cost` requests in flight without a permit (one given up with [`Permit::forget`]).
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when some concurrency limit holds fewer, or when the policy has no
    /// concurrency limit (nothing is ever in flight to end, as
    /// [`KeyedPolicy::release`](crate::KeyedPolicy::release) says too); nothing changes then.
    pub fn release(&self, cost: u32) -> Result<(), ReleaseError> {
        if !self.shared.rules.holds() {
            return Err(ReleaseError {
                released: cost,
                in_flight: 0,
            });
        }
        self.shared.rules.release(&mut self.lock(), cost)?;
        self.wake();
        Ok(())
    }

    /// Blocks the thread until a request of `cost` is admitted.
    ///
    /// A shaper admits with a delay ([`Decided::delay`]): the request's turn is that long after
    /// this returns, and the caller sleeps it before going on (the async waiter leaves it to the
    /// caller too).
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] at once when no wait would admit the request.
    pub fn wait(&self, cost: u32) -> Result<(Decided<'_>, Permit<C>), InsufficientCapacity> {
        let mut states = self.lock();
        loop {
            let now = self.shared.clock.now();
            let decided =
                self.shared
                    .rules
                    .decide(&mut states, now, cost, &Overrides::NONE, true)?;
            if decided.is_allowed() {
                drop(states);
                let permit = self.permit(true, cost);
                return Ok((decided, permit));
            }
            let pause = pause_after(&decided);
            drop(decided);
            // Sleeps without the lock; a release wakes it early.
            states = self
                .shared
                .released
                .wait_timeout(states, pause)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits (asynchronously, on tokio's timer) until a request of `cost` is admitted.
    ///
    /// Cancellation safe: nothing is taken until the request is admitted, so a dropped future
    /// leaks no capacity.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub async fn until_ready(
        &self,
        cost: u32,
    ) -> Result<(Decided<'_>, Permit<C>), InsufficientCapacity> {
        loop {
            let woken = self.shared.released_async.notified();
            let pause = {
                let (decided, permit) = self.check(cost)?;
                if decided.is_allowed() {
                    return Ok((decided, permit));
                }
                pause_after(&decided)
            };
            // A release ends the pause early; the timeout bounds a missed wake-up.
            let _ = tokio::time::timeout(pause, woken).await;
        }
    }

    fn permit(&self, allowed: bool, cost: u32) -> Permit<C> {
        Permit {
            policy: (allowed && cost > 0 && self.shared.rules.holds()).then(|| self.clone()),
            cost,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<[LimitState]>> {
        // A panic while holding the lock cannot leave a state half-written: the core's record
        // phase does not panic, so a poisoned lock's state is whole.
        self.shared
            .states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        self.shared.released.notify_all();
        #[cfg(feature = "tokio")]
        self.shared.released_async.notify_waiters();
    }
}

/// How long a waiter denied by `decided` sleeps: the core's wait, but a concurrency limit's
/// denial (whose figure is only a hint, zero if so configured) waits for a release, which wakes
/// waiters, or [`IDLE_POLL`](crate::IDLE_POLL) at most.
fn pause_after(decided: &Decided<'_>) -> std::time::Duration {
    wait::pause(wait_after(decided))
}

/// The wait a denied policy's waiter sleeps: none named (so [`IDLE_POLL`](crate::IDLE_POLL), or
/// a release) when a concurrency limit denied, else the core's retry-after.
pub(crate) fn wait_after(decided: &Decided<'_>) -> Option<crate::Duration> {
    match decided.denied_by() {
        Some(r) if matches!(r.allowance, Allowance::InFlight { .. }) => None,
        _ => decided.retry_after(),
    }
}

/// An admitted request's place in its policy's concurrency limits, released when dropped.
///
/// Holds nothing when the request was denied or the policy has no concurrency limit.
#[derive(Debug)]
#[must_use = "dropping the permit ends the request at once"]
pub struct Permit<C: Clock<HZ> = StdClock> {
    policy: Option<SharedPolicy<C>>,
    cost: u32,
}

impl<C: Clock<HZ>> Permit<C> {
    /// Whether the permit holds requests in flight.
    pub const fn holds(&self) -> bool {
        self.policy.is_some()
    }

    /// Keeps the requests in flight past the permit: end them with
    /// [`SharedPolicy::release`]. Returns how many it held.
    pub fn forget(mut self) -> u32 {
        if self.policy.take().is_some() {
            self.cost
        } else {
            0
        }
    }
}

impl<C: Clock<HZ>> Drop for Permit<C> {
    fn drop(&mut self) {
        if let Some(policy) = self.policy.take() {
            // The permit's cost was admitted and not released since, unless the program released
            // it by hand as well (a bug of its own, caught in debug builds).
            let released = policy.release(self.cost);
            debug_assert!(released.is_ok(), "a permit released twice: {released:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use tollgate_core::{Concurrency, Gcra, Named};

    use super::*;
    use crate::Quota;

    /// A release is refused, whatever its cost, where no limit counts requests in flight, and
    /// where the concurrency limit holds fewer; a held request's release is taken once.
    #[test]
    fn a_release_where_nothing_is_in_flight_is_refused() {
        let rate = || {
            Named::new(
                "second".to_owned(),
                Limit::Gcra(Gcra::new(Quota::per_second(5).unwrap())),
            )
        };
        let none = SharedPolicy::new(vec![rate()]);
        let (d, permit) = none.check(1).unwrap();
        assert!(d.is_allowed() && !permit.holds());
        drop(d);
        for cost in [0, 1] {
            let refused = ReleaseError {
                released: cost,
                in_flight: 0,
            };
            assert_eq!(none.release(cost), Err(refused));
        }

        let concurrent = Named::new(
            "concurrent".to_owned(),
            Limit::Concurrency(Concurrency::new(2).unwrap()),
        );
        let held = SharedPolicy::new(vec![concurrent, rate()]);
        let (d, permit) = held.check(1).unwrap();
        assert!(d.is_allowed());
        drop(d);
        assert_eq!(permit.forget(), 1);
        assert_eq!(held.release(1), Ok(()));
        assert_eq!(
            held.release(1),
            Err(ReleaseError {
                released: 1,
                in_flight: 0
            })
        );
    }
}
