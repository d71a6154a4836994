//! The leaky bucket, in its two classic roles: a [`Meter`] that admits or denies, and a
//! [`Shaper`] that queues requests and lets them leave at the configured rate.
//!
//! Both take the rate from a [`Quota`]: the emission interval `T` (ticks per unit of cost) and
//! the burst `b`.
//!
//! # The meter
//!
//! A bucket of capacity `b·T` ticks of water leaks one tick of water per tick of time. A request
//! of cost `c` pours `c·T` into it and is admitted when that fits:
//!
//! ```text
//! level(t) + c·T ≤ b·T,   then level ← level(t) + c·T
//! ```
//!
//! The state is the level and the instant it was measured at ([`MeterState`]); `level(t)` is
//! that level drained by the ticks since. This is the "continuous-state leaky bucket" of the
//! ATM traffic-management literature, which is known to decide exactly like the virtual
//! scheduling form of GCRA; here it is a second, independent implementation, and the property
//! tests check it against [`Gcra`](crate::Gcra) decision by decision.
//!
//! ## Guarantee
//!
//! Exactly that of [`Gcra`](crate::Gcra) with the same quota, because every [`Decision`]
//! (limit, remaining, reset, retry_after) is identical for every sequence of requests, including
//! zero, huge and backwards time steps, zero costs, costs above the burst and instants near the
//! end of time: with `now` values that never go backwards, **in every closed interval of length
//! `d`, the admitted cost is at most `b + ⌊d / T⌋`**, and a denied request is admitted after
//! exactly its `retry_after`, not one tick sooner, if nothing else arrives. The interval bound in
//! fact holds for any sequence of `now`, backwards steps included: every admission moves the
//! bucket's drain instant `last + level` later by exactly its pour, and the property tests check
//! the bound on both kinds of sequence.
//!
//! ## A `now` earlier than the last measurement
//!
//! The level is extrapolated backwards: a bucket that held `L` at `last` and leaks one tick per
//! tick held `L + (last − now)` at an earlier `now`, and the request is decided as at that
//! earlier instant. Clamping the level to `L` instead would be safe too, but it would decide as
//! at `last` while answering in durations from `now`: its `reset` and `retry_after` would be
//! short by `last − now`, so a client that waited exactly `retry_after` would be denied again.
//! Extrapolating keeps every answer exact on the caller's own clock, charges an admitted request
//! exactly what it would have been charged at `last` (the level's drain instant `last + level`
//! moves by exactly `c·T`), and is never more permissive than deciding at `last`, since the
//! extrapolated level is higher. It is also what `Gcra` does, so the two stay interchangeable.
//!
//! ## The end of time
//!
//! The instant the bucket would be empty, `last + level`, must fit in a `u64` of ticks: a pour
//! that would leave the bucket draining past `u64::MAX` is denied (as `Gcra` denies a schedule
//! that would overflow), never wrapped, and the state stays valid for backward extrapolation.
//!
//! # The shaper
//!
//! The same bucket used as a queue, in the manner of nginx's `limit_req`: a request is not
//! refused because it arrives early, it is given a later instant to proceed at, so requests leave
//! at the rate `1/T`. State is one `u64`, the instant the queue drains ([`ShaperState`]).
//!
//! A request of cost `c` arriving at `t` with the queue draining at `tat` is scheduled at
//!
//! ```text
//! proceed_at = max(t, tat + c·T − b·T),   delay = proceed_at − t
//! ```
//!
//! the earliest instant, not before it arrives, at which [`Gcra`](crate::Gcra) with the same
//! quota would admit it after everything scheduled before it. It is accepted when
//! `delay ≤ max_delay`, and then `tat ← max(tat, t) + c·T`. So the first `b` unit requests from
//! rest pass at once (nginx's `delay=` is `b − 1`), the next `⌊max_delay / T⌋` are queued one `T`
//! apart, and later ones are denied until the queue has drained enough. With a `max_delay` of zero
//! the shaper accepts exactly what `Gcra` admits. [`Shaper::nginx_limit_req`] translates nginx's
//! `rate`, `burst` and `delay` parameters.
//!
//! ## Guarantee
//!
//! For interval `T`, burst `b` and maximum delay `M`:
//!
//! - **No accepted request waits longer than `M`**: `proceed_at − now ≤ M`.
//! - **In every closed interval of length `d`, the cost of the accepted requests whose
//!   `proceed_at` falls in it is at most `b + ⌊d / T⌋`** (for unit requests and nginx's
//!   `delay = n`: `(n + 1) + ⌊d / T⌋`). This holds for every sequence of `now`, even one that goes
//!   backwards, because every schedule is taken against the queue's drain instant, which only
//!   grows.
//! - **First in, first out**: with `now` values that never go backwards, accepted requests of
//!   non-zero cost proceed in the order they arrived (their `proceed_at` never decreases).
//! - **Exact retry**: a denied request is accepted after exactly its `retry_after`, not one tick
//!   sooner, if nothing else arrives; it is then delayed by exactly `M` and proceeds at the same
//!   `proceed_at` the denial reported.
//! - A `now` earlier than one already seen is decided as at that earlier instant, with a backlog
//!   longer by the difference: never accepted when the later instant would deny it, and charged
//!   exactly as it would have been then.
//!
//! Near the end of time a request whose queue would drain after `u64::MAX` is denied, never
//! wrapped. Such a request can never be accepted, since the drain instant only grows: its
//! `retry_after` is the wait until the end of time, as with `Gcra`.
//!
//! ## What the shaper's [`Decision`] says
//!
//! "Admitted" means accepted, with or without a delay:
//!
//! - `limit`: `b + ⌊M / T⌋`, the most unit requests accepted at once from rest (`b` proceed at
//!   once, the rest are queued).
//! - `remaining`: unit requests that would still be accepted at this instant, after this one if it
//!   was accepted (some of them delayed), counting only what still drains by the end of time (as `Gcra` does).
//! - `reset`: the time until the queue has drained and the state is at rest.
//! - `retry_after`: `None` if accepted, else the exact wait after which this request is accepted.
//!
//! - `delay`: how long an accepted request waits before it proceeds; zero for a denial.
//!
//! The shaper is an [`Algorithm`], so it fits wherever one limit does (a key table, a policy),
//! and the [`Decision`]'s `delay` carries its queueing: a caller that took "allowed" to mean
//! "go now" would break the rate, so every caller of a limit that may be a shaper must wait
//! `delay` before proceeding. [`Shaper::reserve`] answers the same with the instant to proceed
//! at, and for a denial the slot it would have needed.

use crate::algorithm::gcra::units_that_fit;
use crate::algorithm::{Algorithm, Allowance, Decision, Go, fits};
use crate::error::{ConfigError, InsufficientCapacity};
use crate::quota::Quota;
use crate::time::{Duration, Instant};

/// Leaky-bucket meter configuration: capacity `b·T` ticks of water, `T` poured per unit of cost.
///
/// Decides exactly like [`Gcra`](crate::Gcra) with the same quota; see the
/// [module documentation](crate::algorithm::leaky_bucket) for the model and its guarantee.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Meter, Quota, Instant, Duration};
///
/// let meter = Meter::new(Quota::<1_000>::per_second(2)?); // T = 500 ms, capacity 1 000 ms of water
/// let mut s = meter.new_state();
/// let t0 = Instant::<1_000>::from_ticks(10_000);
/// assert!(meter.check(&mut s, t0, 2)?.is_allowed()); // fills the bucket
/// assert_eq!(meter.level(&s, t0 + Duration::<1_000>::from_millis(100)), Duration::<1_000>::from_millis(900));
/// let d = meter.check(&mut s, t0 + Duration::<1_000>::from_millis(100), 1)?;
/// assert_eq!(d.retry_after, Some(Duration::<1_000>::from_millis(400))); // until 500 ms of room
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Meter<const HZ: u64> {
    quota: Quota<HZ>,
    /// Water poured per unit of cost: the emission interval `T`, in ticks.
    t: u64,
    /// The bucket's capacity, `b·T` ticks of water.
    capacity: u64,
}

/// Leaky-bucket meter state: the water level, in ticks, and the instant it was measured at.
///
/// Sixteen bytes, `Copy`, empty when fresh. A level of `L` ticks at `last` drains at one tick
/// per tick, so the bucket is empty from `last + L` on.
///
/// # Examples
///
/// ```
/// use tollgate_core::MeterState;
///
/// let s = MeterState::from_raw(300, 1_000);
/// assert_eq!(s.to_raw(), (300, 1_000));
/// // A level that would drain after the end of time is cut to drain exactly there.
/// assert_eq!(MeterState::from_raw(500, u64::MAX - 100).to_raw(), (100, u64::MAX - 100));
/// assert_eq!(MeterState::new(), MeterState::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MeterState {
    /// Ticks of water in the bucket at `last`.
    level: u64,
    /// The instant, in ticks, the level was measured at.
    last: u64,
}

impl MeterState {
    /// An empty bucket, at rest at every instant.
    pub const fn new() -> Self {
        Self { level: 0, last: 0 }
    }

    /// A state from its stored level and measurement instant, both in ticks.
    ///
    /// A level that would drain after `u64::MAX` is cut to drain at `u64::MAX`, the most any
    /// admission can leave.
    pub const fn from_raw(level: u64, last: u64) -> Self {
        let most = u64::MAX.saturating_sub(last);
        Self {
            level: if level < most { level } else { most },
            last,
        }
    }

    /// The level and its measurement instant, in ticks, for storage.
    pub const fn to_raw(self) -> (u64, u64) {
        (self.level, self.last)
    }

    /// The level at `now`: drained by the ticks since `last`, or, for a `now` before `last`,
    /// extrapolated backwards to what it must have been then (see the module documentation).
    #[inline(always)]
    const fn level_at(&self, now: u64) -> u64 {
        match now.checked_sub(self.last) {
            Some(drained) => self.level.saturating_sub(drained),
            // `last + level` fits in a u64, so this never saturates for a valid state.
            None => self.level.saturating_add(self.last.abs_diff(now)),
        }
    }
}

impl<const HZ: u64> Meter<HZ> {
    /// A leaky-bucket meter enforcing `quota`: capacity `burst · interval` ticks of water.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Meter, Quota, Instant, Duration};
    ///
    /// // 300 per minute in bursts of 5, a bucket of 5 × 200 ms of water.
    /// const Q: Quota<1_000> = match Quota::per_minute(300) {
    ///     Ok(q) => match q.with_burst(5) { Ok(q) => q, Err(_) => panic!("invalid burst") },
    ///     Err(_) => panic!("invalid quota"), // a compile-time error, never a run-time panic
    /// };
    /// static METER: Meter<1_000> = Meter::new(Q);
    /// let mut s = METER.new_state();
    /// METER.check(&mut s, Instant::<1_000>::from_ticks(0), 5)?;
    /// assert_eq!(METER.level(&s, Instant::<1_000>::from_ticks(0)), Duration::<1_000>::from_secs(1));
    /// # Ok::<(), tollgate_core::InsufficientCapacity>(())
    /// ```
    pub const fn new(quota: Quota<HZ>) -> Self {
        Self {
            quota,
            t: quota.interval().as_ticks(),
            capacity: quota.burst_ticks(),
        }
    }

    /// The quota this meter enforces.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Meter, Quota, Duration};
    ///
    /// let meter = Meter::new(Quota::<1_000>::per_second(4)?.with_burst(2)?);
    /// assert_eq!((meter.quota().interval(), meter.quota().burst()), (Duration::<1_000>::from_millis(250), 2));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn quota(&self) -> Quota<HZ> {
        self.quota
    }

    /// An empty bucket.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Meter, MeterState, Quota, Instant};
    ///
    /// let meter = Meter::new(Quota::<1_000>::per_second(1)?);
    /// assert_eq!(meter.new_state(), MeterState::new());
    /// assert!(meter.is_at_rest(&meter.new_state(), Instant::<1_000>::from_ticks(0)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new_state(&self) -> MeterState {
        MeterState::new()
    }

    /// The water in the bucket at `now`, which is also the time until it is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Meter, Quota, Instant, Duration};
    ///
    /// let meter = Meter::new(Quota::<1_000>::per_second(4)?); // 250 ms of water per request
    /// let mut s = meter.new_state();
    /// meter.check(&mut s, Instant::<1_000>::from_ticks(1_000), 3)?;
    /// assert_eq!(meter.level(&s, Instant::<1_000>::from_ticks(1_500)), Duration::<1_000>::from_millis(250));
    /// assert_eq!(meter.level(&s, Instant::<1_000>::from_ticks(900)), Duration::<1_000>::from_millis(850));
    /// assert_eq!(meter.level(&s, Instant::<1_000>::from_ticks(9_000)), Duration::<1_000>::from_ticks(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn level(&self, state: &MeterState, now: Instant<HZ>) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(state.level_at(now.as_ticks()))
    }

    /// Looks at the bucket for a request of `cost` at `now`.
    #[inline]
    fn look(
        &self,
        state: &MeterState,
        now: u64,
        cost: u32,
    ) -> Result<MeterStep, InsufficientCapacity> {
        fits(cost, self.quota.burst())?;
        let level = state.level_at(now);
        if cost == 0 {
            return Ok(MeterStep {
                now,
                level,
                go: Go::Free,
            });
        }
        // cost ≤ b, so cost·T ≤ b·T, which the quota checked not to overflow.
        let pour = self.t.saturating_mul(u64::from(cost));
        let room = self.capacity.saturating_sub(level);
        if pour <= room {
            let filled = level.saturating_add(pour);
            // The bucket must be empty again by the end of time, or `last + level` would not
            // fit and backward extrapolation could not be exact.
            if now.checked_add(filled).is_some() {
                return Ok(MeterStep {
                    now,
                    level,
                    go: Go::Admit(filled),
                });
            }
        }
        // A pour that would drain past the end of time can never be admitted: wait for the end.
        let wait = match level.checked_add(pour).and_then(|f| now.checked_add(f)) {
            Some(_) => level.saturating_add(pour).saturating_sub(self.capacity),
            None => u64::MAX.saturating_sub(now),
        };
        Ok(MeterStep {
            now,
            level,
            go: Go::Deny(wait),
        })
    }

    fn figures(&self, level: u64, now: u64, retry: Option<u64>) -> Decision<HZ> {
        Decision {
            limit: self.quota.burst(),
            // Unit pours fit while the bucket has room and still drains by the end of time.
            remaining: units_that_fit(self.capacity, level, now, self.t),
            reset: Duration::<HZ>::from_ticks(level),
            retry_after: retry.map(Duration::<HZ>::from_ticks),
            delay: Duration::<HZ>::from_ticks(0),
        }
    }
}

/// What one look at a leaky bucket found: the level at `now` and the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MeterStep {
    now: u64,
    level: u64,
    go: Go,
}

impl<const HZ: u64> Algorithm<HZ> for Meter<HZ> {
    type State = MeterState;
    type Step = MeterStep;

    fn new_state(&self) -> MeterState {
        MeterState::new()
    }

    fn capacity(&self) -> u32 {
        self.quota.burst()
    }

    fn allowance(&self) -> Allowance<HZ> {
        self.quota.allowance()
    }

    #[inline]
    fn step(
        &self,
        state: &MeterState,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<MeterStep, InsufficientCapacity> {
        self.look(state, now.as_ticks(), cost)
    }

    #[inline]
    fn admits(&self, step: &MeterStep) -> bool {
        step.go.admits()
    }

    #[inline]
    fn wait(&self, _state: &MeterState, step: &MeterStep) -> Option<Duration<HZ>> {
        step.go.wait()
    }

    #[inline]
    fn decision(&self, _state: &MeterState, step: &MeterStep, recorded: bool) -> Decision<HZ> {
        match step.go {
            Go::Admit(filled) if recorded => self.figures(filled, step.now, None),
            Go::Deny(wait) => self.figures(step.level, step.now, Some(wait)),
            Go::Free | Go::Admit(_) => self.figures(step.level, step.now, None),
        }
    }

    #[inline]
    fn record(&self, state: &mut MeterState, step: &MeterStep) {
        if let Go::Admit(filled) = step.go {
            *state = MeterState {
                level: filled,
                last: step.now,
            };
        }
    }

    /// Whether the bucket is empty at `now` (and so at every later instant).
    fn is_at_rest(&self, state: &MeterState, now: Instant<HZ>) -> bool {
        state.level_at(now.as_ticks()) == 0
    }
}

/// Leaky-bucket shaper configuration: requests leave one `T` apart, `b` may pass at once, and
/// none waits longer than a maximum delay. nginx's `limit_req`, as a pure state machine.
///
/// See the [module documentation](crate::algorithm::leaky_bucket) for the schedule and its guarantees.
///
/// # Examples
///
/// nginx's `limit_req zone=one burst=5 delay=2` with `rate=1r/s`: of eight requests at once,
/// three pass, three are queued a second apart, two are refused.
///
/// ```
/// use tollgate_core::{Shaper, Quota, Instant, Duration};
///
/// let shaper = Shaper::nginx_limit_req(Quota::<1_000>::per_second(1)?, 5, 2)?;
/// let mut s = shaper.new_state();
/// let t0 = Instant::<1_000>::from_ticks(0);
/// let delays: Vec<_> = (0..8)
///     .map(|_| shaper.reserve(&mut s, t0, 1).unwrap())
///     .map(|r| r.is_accepted().then(|| r.delay.as_millis()))
///     .collect();
/// assert_eq!(delays, [Some(0), Some(0), Some(0), Some(1_000), Some(2_000), Some(3_000), None, None]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shaper<const HZ: u64> {
    quota: Quota<HZ>,
    /// Emission interval `T`, in ticks.
    t: u64,
    /// `b·T`, in ticks.
    bt: u64,
    /// The longest an accepted request may wait, in ticks.
    max_delay: u64,
    /// `b·T + max_delay`: the most backlog an accepted request may leave, in ticks.
    horizon: u64,
    /// `b + ⌊max_delay / T⌋`.
    limit: u32,
}

/// Shaper state: the instant, in ticks, at which everything accepted so far has left the queue
/// (the theoretical arrival time of the next request). Eight bytes, `Copy`, zero when fresh.
///
/// # Examples
///
/// ```
/// use tollgate_core::ShaperState;
///
/// assert_eq!(ShaperState::from_raw(42).to_raw(), 42);
/// assert_eq!(ShaperState::new(), ShaperState::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShaperState {
    tat: u64,
}

impl ShaperState {
    /// An empty queue, at rest at every instant.
    pub const fn new() -> Self {
        Self { tat: 0 }
    }

    /// A state from its stored drain instant.
    pub const fn from_raw(tat: u64) -> Self {
        Self { tat }
    }

    /// The drain instant, in ticks, for storage.
    pub const fn to_raw(self) -> u64 {
        self.tat
    }
}

/// The answer to a [`Shaper::reserve`]: when to proceed, and the decision behind it.
///
/// When accepted, the request has its slot: proceed at `proceed_at`, `delay` after `now`. When
/// denied (`decision.retry_after` is `Some`), nothing was recorded, and `proceed_at` and `delay`
/// describe the slot it would have needed, longer than the maximum delay (except near the end of
/// time): a request that comes back after exactly `retry_after` is accepted with that same
/// `proceed_at`.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Shaper, Quota, Instant, Duration};
///
/// // One per second, none at once beyond the first, at most 2 s of queueing.
/// let shaper = Shaper::new(Quota::<1_000>::per_second(1)?, Duration::<1_000>::from_secs(2))?;
/// let mut s = shaper.new_state();
/// let t0 = Instant::<1_000>::from_ticks(0);
/// for wait in [0, 1_000, 2_000] {
///     let r = shaper.reserve(&mut s, t0, 1)?;
///     assert!(r.is_accepted());
///     assert_eq!((r.delay.as_millis(), r.proceed_at.as_ticks()), (wait, wait));
/// }
/// let r = shaper.reserve(&mut s, t0, 1)?;
/// assert!(r.is_denied());
/// assert_eq!((r.delay.as_millis(), r.decision.retry_after), (3_000, Some(Duration::<1_000>::from_secs(1))));
/// let again = shaper.reserve(&mut s, t0 + Duration::<1_000>::from_secs(1), 1)?;
/// assert_eq!((again.is_accepted(), again.proceed_at), (true, r.proceed_at));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reservation<const HZ: u64> {
    /// The instant to proceed at (`now + delay`, saturating at the end of time).
    pub proceed_at: Instant<HZ>,
    /// How long after `now` to proceed.
    pub delay: Duration<HZ>,
    /// Accepted or denied, with limit, remaining, reset and retry_after as the
    /// [module documentation](crate::algorithm::leaky_bucket) defines them for the shaper.
    pub decision: Decision<HZ>,
}

impl<const HZ: u64> Reservation<HZ> {
    /// Whether the request was (or, from a peek, would be) accepted: proceed at `proceed_at`.
    #[inline]
    pub const fn is_accepted(&self) -> bool {
        self.decision.is_allowed()
    }

    /// Whether the request was (or would be) denied: nothing was recorded.
    #[inline]
    pub const fn is_denied(&self) -> bool {
        self.decision.is_denied()
    }
}

impl<const HZ: u64> Shaper<HZ> {
    /// A shaper at `quota`'s rate: `quota.burst()` requests pass at once from rest, later ones are
    /// queued one interval apart, and none waits longer than `max_delay`.
    ///
    /// For strict pacing, give the quota a burst of 1.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Overflow`] when `b·T + max_delay` does not fit in a `u64` of ticks or
    /// `b + ⌊max_delay / T⌋` does not fit in a `u32`.
    ///
    /// # Examples
    ///
    /// "At most 5 requests per second", enforced by queueing instead of refusing:
    ///
    /// ```
    /// use tollgate_core::{Shaper, Quota, Instant, Duration};
    ///
    /// let q = Quota::<1_000>::per_minute(300)?.with_burst(1)?; // one every 200 ms
    /// let shaper = Shaper::new(q, Duration::<1_000>::from_secs(60))?;
    /// assert_eq!(shaper.limit(), 301); // one now, 300 queued over the next minute
    /// let mut s = shaper.new_state();
    /// let at = shaper.reserve(&mut s, Instant::<1_000>::from_ticks(0), 1)?.proceed_at;
    /// let next = shaper.reserve(&mut s, Instant::<1_000>::from_ticks(50), 1)?.proceed_at;
    /// assert_eq!((at.as_ticks(), next.as_ticks()), (0, 200));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn new(quota: Quota<HZ>, max_delay: Duration<HZ>) -> Result<Self, ConfigError> {
        let t = quota.interval().as_ticks();
        let bt = quota.burst_ticks();
        let max_delay = max_delay.as_ticks();
        let Some(horizon) = bt.checked_add(max_delay) else {
            return Err(ConfigError::Overflow);
        };
        let Some(queued) = max_delay.checked_div(t) else {
            return Err(ConfigError::Overflow);
        };
        if queued > u32::MAX as u64 {
            return Err(ConfigError::Overflow);
        }
        let Some(limit) = quota.burst().checked_add(queued as u32) else {
            return Err(ConfigError::Overflow);
        };
        Ok(Self {
            quota,
            t,
            bt,
            max_delay,
            horizon,
            limit,
        })
    }

    /// nginx's `limit_req` with `rate`'s interval, `burst=` and `delay=`: up to `burst` requests
    /// beyond the rate are accepted, the first `delay` of them without waiting (`nodelay` is
    /// `delay = burst`).
    ///
    /// That is a burst `b = delay + 1` and a maximum delay of `(burst − delay)·T`; a `delay`
    /// above `burst` counts as `burst`. `rate`'s own burst is ignored.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Overflow`] when `delay + 1` does not fit a `u32` or the burst does not fit
    /// in a `u64` of ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Shaper, Quota, Duration};
    ///
    /// let rate = Quota::<1_000>::per_second(10)?; // 10r/s
    /// let s = Shaper::nginx_limit_req(rate, 20, 0)?; // burst=20
    /// assert_eq!((s.capacity(), s.max_delay(), s.limit()), (1, Duration::<1_000>::from_secs(2), 21));
    /// let s = Shaper::nginx_limit_req(rate, 20, 20)?; // burst=20 nodelay
    /// assert_eq!((s.capacity(), s.max_delay(), s.limit()), (21, Duration::<1_000>::from_ticks(0), 21));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn nginx_limit_req(
        rate: Quota<HZ>,
        burst: u32,
        delay: u32,
    ) -> Result<Self, ConfigError> {
        let nodelay = if delay < burst { delay } else { burst };
        let Some(b) = nodelay.checked_add(1) else {
            return Err(ConfigError::Overflow);
        };
        let quota = match rate.with_burst(b) {
            Ok(q) => q,
            Err(e) => return Err(e),
        };
        let queued = burst.saturating_sub(nodelay) as u64;
        let Some(max_delay) = quota.interval().as_ticks().checked_mul(queued) else {
            return Err(ConfigError::Overflow);
        };
        Self::new(quota, Duration::<HZ>::from_ticks(max_delay))
    }

    /// The quota whose rate and burst this shaper keeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Shaper, Quota, Duration};
    ///
    /// // nginx's `burst` and `delay` become the quota's burst (delay + 1) and a maximum delay.
    /// let shaper = Shaper::nginx_limit_req(Quota::<1_000>::per_second(1)?, 5, 2)?;
    /// assert_eq!(shaper.quota().burst(), 3);
    /// assert_eq!(shaper.quota().interval(), Duration::<1_000>::from_secs(1));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn quota(&self) -> Quota<HZ> {
        self.quota
    }

    /// The longest an accepted request waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Shaper, Quota, Instant, Duration};
    ///
    /// let shaper = Shaper::new(Quota::<1_000>::per_second(1)?, Duration::<1_000>::from_millis(2_500))?;
    /// assert_eq!(shaper.max_delay(), Duration::<1_000>::from_millis(2_500));
    /// let mut s = shaper.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let delays: Vec<_> = (0..4)
    ///     .map(|_| shaper.reserve(&mut s, now, 1).unwrap())
    ///     .map(|r| r.is_accepted().then(|| r.delay.as_millis()))
    ///     .collect();
    /// assert_eq!(delays, [Some(0), Some(1_000), Some(2_000), None]); // 3 s would be too long
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn max_delay(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.max_delay)
    }

    /// The most unit requests accepted at once from rest, `b + ⌊max_delay / T⌋`: every
    /// [`Decision::limit`] it gives.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Shaper, Quota, Instant, Duration};
    ///
    /// // Burst 2, and 1.5 s of queue at one per 500 ms: 2 at once, 3 queued.
    /// let shaper = Shaper::new(Quota::<1_000>::per_second(2)?, Duration::<1_000>::from_millis(1_500))?;
    /// assert_eq!(shaper.limit(), 5);
    /// let mut s = shaper.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let accepted = (0..10).filter(|_| shaper.reserve(&mut s, now, 1).unwrap().is_accepted()).count();
    /// assert_eq!(accepted, 5);
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, Shaper, ShaperState, Quota, Instant, Duration};
    ///
    /// let shaper = Shaper::new(Quota::<1_000>::per_second(1)?, Duration::<1_000>::from_secs(1))?;
    /// assert_eq!(shaper.new_state(), ShaperState::new());
    /// assert!(shaper.is_at_rest(&shaper.new_state(), Instant::<1_000>::from_ticks(0)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new_state(&self) -> ShaperState {
        ShaperState::new()
    }

    /// Schedules a request of `cost` arriving at `now` and records it if accepted.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds the burst: such a request could never
    /// proceed at one instant within the rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Shaper, Quota, Instant, Duration, InsufficientCapacity};
    ///
    /// let shaper = Shaper::new(Quota::<1_000>::per_second(2)?, Duration::<1_000>::from_secs(1))?;
    /// let mut s = shaper.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let r = shaper.reserve(&mut s, now, 2)?; // the burst: at once
    /// assert_eq!((r.delay.as_millis(), r.decision.remaining, r.decision.reset.as_millis()), (0, 2, 1_000));
    /// let r = shaper.reserve(&mut s, now, 2)?; // queued behind it
    /// assert_eq!((r.delay.as_millis(), r.decision.remaining), (1_000, 0));
    /// assert_eq!(shaper.reserve(&mut s, now, 3), Err(InsufficientCapacity::new(3, 2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn reserve(
        &self,
        state: &mut ShaperState,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Reservation<HZ>, InsufficientCapacity> {
        let step = self.look(state.tat, now.as_ticks(), cost)?;
        let reservation = self.reservation(&step, true);
        Algorithm::record(self, state, &step);
        Ok(reservation)
    }

    /// Schedules a request of `cost` arriving at `now` without recording it.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] when `cost` exceeds the burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Shaper, Quota, Instant, Duration};
    ///
    /// let shaper = Shaper::new(Quota::<1_000>::per_second(1)?, Duration::<1_000>::from_secs(5))?;
    /// let mut s = shaper.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// shaper.reserve(&mut s, now, 1)?;
    /// let peeked = shaper.peek_reserve(&s, now, 1)?;
    /// assert_eq!(peeked.delay, Duration::<1_000>::from_secs(1));
    /// assert_eq!(peeked, shaper.reserve(&mut s, now, 1)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn peek_reserve(
        &self,
        state: &ShaperState,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<Reservation<HZ>, InsufficientCapacity> {
        let step = self.look(state.tat, now.as_ticks(), cost)?;
        Ok(self.reservation(&step, true))
    }

    /// Looks at the queue for a request of `cost` arriving at `t`.
    #[inline]
    fn look(&self, tat: u64, t: u64, cost: u32) -> Result<ShaperStep, InsufficientCapacity> {
        fits(cost, self.quota.burst())?;
        let backlog = tat.saturating_sub(t);
        if cost == 0 {
            return Ok(ShaperStep {
                t,
                backlog,
                delay: 0,
                go: Go::Free,
            });
        }
        // cost ≤ b, so cost·T ≤ b·T, which the quota checked not to overflow.
        let charge = self.t.saturating_mul(u64::from(cost));
        // proceed_at − t = max(tat + c·T − b·T − t, 0), exact since c·T ≤ b·T.
        let delay = backlog.saturating_sub(self.bt.saturating_sub(charge));
        // The queue's drain instant, max(tat, t), moves by c·T; it must not pass the end of time.
        let go = match t.saturating_add(backlog).checked_add(charge) {
            // t + backlog + c·T fits, hence so do the backlog after it and t + delay.
            Some(_) if delay <= self.max_delay => Go::Admit(backlog.saturating_add(charge)),
            Some(_) => Go::Deny(delay.saturating_sub(self.max_delay)),
            // As `Gcra::wait`: a request whose queue would drain past the end of time can never
            // be accepted, however long it waits (the drain instant only grows): wait for the end.
            None => Go::Deny(u64::MAX.saturating_sub(t)),
        };
        Ok(ShaperStep {
            t,
            backlog,
            delay,
            go,
        })
    }

    /// The reservation `step` makes, as recorded (when `recorded` and it is accepted) or as the
    /// queue stands without it.
    fn reservation(&self, step: &ShaperStep, recorded: bool) -> Reservation<HZ> {
        let (delay, backlog, retry) = match step.go {
            Go::Admit(after) if recorded => (step.delay, after, None),
            Go::Deny(wait) => (step.delay, step.backlog, Some(wait)),
            Go::Free | Go::Admit(_) => (0, step.backlog, None),
        };
        let t = step.t;
        Reservation {
            proceed_at: Instant::<HZ>::from_ticks(t.saturating_add(delay)),
            delay: Duration::<HZ>::from_ticks(delay),
            decision: Decision {
                limit: self.limit,
                // Unit requests fit while the queue has room and drains by the end of time.
                remaining: units_that_fit(self.horizon, backlog, t, self.t),
                reset: Duration::<HZ>::from_ticks(backlog),
                retry_after: retry.map(Duration::<HZ>::from_ticks),
                // A denial proceeds nowhere; its reservation says what it would have needed.
                delay: Duration::<HZ>::from_ticks(if retry.is_some() { 0 } else { delay }),
            },
        }
    }
}

/// What one look at a shaper's queue found: its backlog at `now`, the delay the request would
/// get, and the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShaperStep {
    t: u64,
    backlog: u64,
    delay: u64,
    go: Go,
}

/// A shaper is an [`Algorithm`] whose admissions may be delayed: "admitted" means accepted, and
/// the [`Decision`]'s `delay` says how long the request waits before it proceeds. A caller must
/// honour the delay, or the rate is not kept.
impl<const HZ: u64> Algorithm<HZ> for Shaper<HZ> {
    type State = ShaperState;
    type Step = ShaperStep;

    fn new_state(&self) -> ShaperState {
        ShaperState::new()
    }

    fn capacity(&self) -> u32 {
        self.quota.burst()
    }

    fn allowance(&self) -> Allowance<HZ> {
        self.quota.allowance()
    }

    #[inline]
    fn step(
        &self,
        state: &ShaperState,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<ShaperStep, InsufficientCapacity> {
        self.look(state.tat, now.as_ticks(), cost)
    }

    #[inline]
    fn admits(&self, step: &ShaperStep) -> bool {
        step.go.admits()
    }

    #[inline]
    fn wait(&self, _state: &ShaperState, step: &ShaperStep) -> Option<Duration<HZ>> {
        step.go.wait()
    }

    #[inline]
    fn decision(&self, _state: &ShaperState, step: &ShaperStep, recorded: bool) -> Decision<HZ> {
        self.reservation(step, recorded).decision
    }

    #[inline]
    fn record(&self, state: &mut ShaperState, step: &ShaperStep) {
        if let Go::Admit(after) = step.go {
            // `t + after` was checked to fit when the step was taken.
            state.tat = step.t.saturating_add(after);
        }
    }

    /// Whether the queue is empty at `now` (and so at every later instant): the state then
    /// schedules every request like a fresh one.
    fn is_at_rest(&self, state: &ShaperState, now: Instant<HZ>) -> bool {
        state.tat <= now.as_ticks()
    }
}

crate::codec::u64_codec!(ShaperState, crate::codec::kind::SHAPER, tat);

impl crate::codec::Codec for MeterState {
    fn encoded_len(&self) -> usize {
        crate::codec::OVERHEAD.saturating_add(16)
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, crate::codec::CodecError> {
        crate::codec::write_record(out, crate::codec::kind::METER, 16, |w| {
            w.u64(self.level);
            w.u64(self.last);
        })
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        read_meter(bytes).map(|(_, n)| n)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        let (state, n) = read_meter(bytes)?;
        *self = state;
        Ok(n)
    }
}

/// A meter record: its level must drain by the end of time (`last + level` fits a `u64`), as
/// every state the meter makes does.
fn read_meter(bytes: &[u8]) -> Result<(MeterState, usize), crate::codec::CodecError> {
    let (mut r, n) = crate::codec::read_record(bytes, crate::codec::kind::METER)?;
    let (level, last) = (r.u64()?, r.u64()?);
    r.finish()?;
    if last.checked_add(level).is_none() {
        return Err(crate::codec::CodecError::Invalid);
    }
    Ok((MeterState { level, last }, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::gcra::{Gcra, GcraState};

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    fn ms(ms: u64) -> D {
        D::from_millis(ms)
    }

    fn q(per_second: u32, burst: u32) -> Quota<1_000> {
        Quota::per_second(per_second)
            .unwrap()
            .with_burst(burst)
            .unwrap()
    }

    // ---- Meter ----

    #[test]
    fn the_meter_fills_by_one_interval_per_unit_and_drains_one_tick_per_tick() {
        let m = Meter::new(q(4, 4)); // T = 250, capacity 1000
        let mut s = m.new_state();
        let d = m.check(&mut s, at(1_000), 3).unwrap();
        assert_eq!(s.to_raw(), (750, 1_000));
        assert_eq!((d.remaining, d.reset), (1, ms(750)));
        assert_eq!(m.level(&s, at(1_600)), ms(150));
        m.check(&mut s, at(1_600), 1).unwrap();
        assert_eq!(s.to_raw(), (400, 1_600));
    }

    #[test]
    fn the_meter_answers_like_gcra_in_the_gcra_worked_example() {
        let quota = q(4, 4);
        let (m, g) = (Meter::new(quota), Gcra::new(quota));
        let (mut ms_, mut gs) = (m.new_state(), GcraState::new());
        for (t, cost) in [
            (1_000, 3),
            (1_100, 2),
            (1_249, 2),
            (1_250, 2),
            (0, 1),
            (5_000, 0),
        ] {
            assert_eq!(
                m.check(&mut ms_, at(t), cost),
                g.check(&mut gs, at(t), cost),
                "at {t} cost {cost}"
            );
        }
    }

    #[test]
    fn a_backwards_meter_extrapolates_the_level_so_retry_after_is_exact_on_the_callers_clock() {
        let m = Meter::new(q(1, 1)); // T = 1000, capacity 1000
        let mut s = m.new_state();
        m.check(&mut s, at(10_000), 1).unwrap();
        // At 9 000 the bucket must have held 2 000: full, with 1 000 to spill.
        assert_eq!(m.level(&s, at(9_000)), ms(2_000));
        let d = m.check(&mut s, at(9_000), 1).unwrap();
        assert_eq!((d.reset, d.retry_after), (ms(2_000), Some(ms(2_000))));
        assert!(m.check(&mut s, at(10_999), 1).unwrap().is_denied());
        assert!(m.check(&mut s, at(11_000), 1).unwrap().is_allowed());
    }

    #[test]
    fn a_backwards_admission_charges_the_same_drain_instant() {
        let m = Meter::new(q(1, 3)); // T = 1000, capacity 3000
        let mut s = m.new_state();
        m.check(&mut s, at(10_000), 1).unwrap(); // empty at 11 000
        assert!(m.check(&mut s, at(9_500), 1).unwrap().is_allowed());
        let (level, last) = s.to_raw();
        assert_eq!((level, last, level + last), (2_500, 9_500, 12_000));
    }

    #[test]
    fn the_meter_refuses_costs_above_the_burst_and_records_nothing_for_zero() {
        let m = Meter::new(q(4, 4));
        let mut s = m.new_state();
        assert_eq!(
            m.check(&mut s, at(0), 5),
            Err(InsufficientCapacity::new(5, 4))
        );
        m.check(&mut s, at(0), 2).unwrap();
        let before = s;
        let d = m.check(&mut s, at(0), 0).unwrap();
        assert_eq!((d.is_allowed(), d.remaining, s), (true, 2, before));
    }

    #[test]
    fn the_meter_stays_closed_at_the_end_of_time_like_gcra() {
        let quota = q(2, 2);
        let (m, g) = (Meter::new(quota), Gcra::new(quota));
        let (mut s, mut gs) = (m.new_state(), GcraState::new());
        for t in [u64::MAX - 1_000, u64::MAX - 100, u64::MAX - 1, u64::MAX] {
            for cost in 0..=2 {
                assert_eq!(m.peek(&s, at(t), cost), g.peek(&gs, at(t), cost));
            }
            assert_eq!(m.check(&mut s, at(t), 1), g.check(&mut gs, at(t), 1));
        }
        let d = m.check(&mut s, at(u64::MAX - 100), 1).unwrap();
        assert_eq!(d.retry_after, Some(ms(100)));
        // One admission at MAX − 1000 drains at MAX − 500: the state never wraps.
        assert_eq!(s.to_raw(), (500, u64::MAX - 1_000));
    }

    #[test]
    fn a_meter_state_cut_at_the_end_of_time_still_extrapolates_without_overflow() {
        let m = Meter::new(q(1, 1));
        let s = MeterState::from_raw(u64::MAX, u64::MAX - 10);
        assert_eq!(s.to_raw(), (10, u64::MAX - 10));
        assert_eq!(m.level(&s, at(0)), D::from_ticks(u64::MAX));
        assert!(m.peek(&s, at(0), 1).unwrap().is_denied());
    }

    #[test]
    fn seed_000_burst_patterns_at_5_per_second_pass_both_meters_indefinitely() {
        // 300/min with bursts of 5, and 900/15 min (burst 900), enforced together.
        let minute = Meter::new(
            Quota::<1_000>::per_minute(300)
                .unwrap()
                .with_burst(5)
                .unwrap(),
        );
        let quarter = Meter::new(Quota::<1_000>::per_seconds(900, 900).unwrap());
        // (requests per burst, burst length in s, period in s)
        for (n, period) in [(900u64, 900u64), (600, 600), (300, 300)] {
            let (mut a, mut b) = (minute.new_state(), quarter.new_state());
            for round in 0..4u64 {
                let start = round * period * 1_000;
                assert!(minute.is_at_rest(&a, at(start)) && quarter.is_at_rest(&b, at(start)));
                for i in 0..n {
                    let now = at(start + i * 200); // 5 per second
                    assert!(
                        minute.check(&mut a, now, 1).unwrap().is_allowed(),
                        "{n}: {i}"
                    );
                    assert!(
                        quarter.check(&mut b, now, 1).unwrap().is_allowed(),
                        "{n}: {i}"
                    );
                }
                // The 900/15 min bucket empties exactly when the next burst starts.
                let last = at(start + (n - 1) * 200);
                let next = start + period * 1_000;
                assert_eq!(
                    quarter.level(&b, last),
                    D::from_ticks(next - last.as_ticks())
                );
            }
        }
    }

    #[test]
    fn seed_000_six_at_once_against_five_per_second_is_one_too_many() {
        let m = Meter::new(
            Quota::<1_000>::per_minute(300)
                .unwrap()
                .with_burst(5)
                .unwrap(),
        );
        let mut s = m.new_state();
        for left in (0..5).rev() {
            assert_eq!(m.check(&mut s, at(0), 1).unwrap().remaining, left);
        }
        assert_eq!(
            m.check(&mut s, at(0), 1).unwrap().retry_after,
            Some(ms(200))
        );
    }

    // ---- Shaper ----

    fn nginx() -> Shaper<1_000> {
        // limit_req_zone rate=1r/s; limit_req burst=5 delay=2
        Shaper::nginx_limit_req(Quota::per_second(1).unwrap(), 5, 2).unwrap()
    }

    #[test]
    fn nginx_burst_5_delay_2_passes_3_queues_3_and_refuses_the_rest() {
        let sh = nginx();
        assert_eq!(
            (sh.capacity(), sh.max_delay(), sh.limit()),
            (3, ms(3_000), 6)
        );
        let mut s = sh.new_state();
        let mut got = Vec::new();
        for _ in 0..8 {
            let r = sh.reserve(&mut s, at(0), 1).unwrap();
            got.push((
                r.is_accepted(),
                r.delay.as_millis(),
                r.decision.remaining,
                r.decision.reset.as_millis(),
                r.decision.retry_after.map(|w| w.as_millis()),
            ));
        }
        assert_eq!(
            got,
            [
                (true, 0, 5, 1_000, None),
                (true, 0, 4, 2_000, None),
                (true, 0, 3, 3_000, None),
                (true, 1_000, 2, 4_000, None),
                (true, 2_000, 1, 5_000, None),
                (true, 3_000, 0, 6_000, None),
                (false, 4_000, 0, 6_000, Some(1_000)),
                (false, 4_000, 0, 6_000, Some(1_000)),
            ]
        );
        // After the refused one's retry_after, it is accepted with the slot it was shown.
        assert!(sh.peek_reserve(&s, at(999), 1).unwrap().is_denied());
        let r = sh.reserve(&mut s, at(1_000), 1).unwrap();
        assert_eq!(
            (r.is_accepted(), r.proceed_at, r.delay),
            (true, at(4_000), ms(3_000))
        );
        // The queue drains at 7 s; from then on it is fresh again.
        assert!(!sh.is_at_rest(&s, at(6_999)));
        assert!(sh.is_at_rest(&s, at(7_000)));
    }

    #[test]
    fn nginx_nodelay_passes_the_whole_burst_at_once() {
        let sh = Shaper::nginx_limit_req(Quota::<1_000>::per_second(1).unwrap(), 5, 5).unwrap();
        let mut s = sh.new_state();
        for _ in 0..6 {
            assert_eq!(sh.reserve(&mut s, at(0), 1).unwrap().delay, ms(0));
        }
        assert_eq!(
            sh.reserve(&mut s, at(0), 1).unwrap().decision.retry_after,
            Some(ms(1_000))
        );
        // A delay above the burst is nodelay too.
        assert_eq!(
            Shaper::nginx_limit_req(Quota::<1_000>::per_second(1).unwrap(), 5, 9),
            Ok(sh)
        );
    }

    #[test]
    fn nginx_steady_one_per_second_is_never_delayed() {
        let sh = nginx();
        let mut s = sh.new_state();
        for i in 0..100 {
            let r = sh.reserve(&mut s, at(i * 1_000), 1).unwrap();
            assert_eq!((r.is_accepted(), r.delay), (true, ms(0)));
        }
    }

    #[test]
    fn seed_000_a_burst_of_900_at_once_is_paced_to_5_per_second() {
        // A client that fires its 900 requests at once is queued out at 5/s: the burst of 5
        // passes, the rest leave 200 ms apart, the last after 179 s.
        let q = Quota::<1_000>::per_minute(300)
            .unwrap()
            .with_burst(5)
            .unwrap();
        let sh = Shaper::new(q, D::from_secs(180)).unwrap();
        let mut s = sh.new_state();
        for i in 0..900u64 {
            let r = sh.reserve(&mut s, at(0), 1).unwrap();
            assert_eq!(r.proceed_at, at(i.saturating_sub(4) * 200), "request {i}");
        }
        assert_eq!(sh.limit(), 905);
        let r = sh.reserve(&mut s, at(0), 1).unwrap();
        assert!(r.is_accepted()); // the 901st proceeds at 179.2 s
        // Every second burst pattern from the documentation goes through without a single delay.
        let mut s = sh.new_state();
        for round in 0..3u64 {
            for i in 0..900u64 {
                let now = at(round * 900_000 + i * 200);
                assert_eq!(sh.reserve(&mut s, now, 1).unwrap().delay, ms(0));
            }
        }
    }

    #[test]
    fn a_shaper_with_no_queue_accepts_exactly_what_gcra_admits() {
        let quota = q(4, 3);
        let (sh, g) = (
            Shaper::new(quota, D::from_ticks(0)).unwrap(),
            Gcra::new(quota),
        );
        let (mut s, mut gs) = (sh.new_state(), GcraState::new());
        for (t, cost) in [
            (0, 2),
            (0, 2),
            (10, 1),
            (260, 2),
            (0, 1),
            (800, 3),
            (u64::MAX, 1),
        ] {
            let r = sh.reserve(&mut s, at(t), cost).unwrap();
            assert_eq!(r.decision, g.check(&mut gs, at(t), cost).unwrap());
            if r.is_accepted() {
                assert_eq!(r.delay, ms(0));
            }
            assert_eq!(s.to_raw(), gs.to_raw());
        }
    }

    #[test]
    fn a_shaper_cost_is_scheduled_as_a_whole_and_above_the_burst_is_an_error() {
        let sh = Shaper::new(q(1, 2), D::from_secs(10)).unwrap();
        let mut s = sh.new_state();
        assert_eq!(sh.reserve(&mut s, at(0), 2).unwrap().delay, ms(0));
        assert_eq!(sh.reserve(&mut s, at(0), 2).unwrap().delay, ms(2_000));
        assert_eq!(sh.reserve(&mut s, at(0), 1).unwrap().delay, ms(3_000));
        assert_eq!(
            sh.peek_reserve(&s, at(0), 3),
            Err(InsufficientCapacity::new(3, 2))
        );
        let before = s;
        let r = sh.reserve(&mut s, at(0), 0).unwrap();
        assert_eq!((r.is_accepted(), r.proceed_at, s), (true, at(0), before));
    }

    #[test]
    fn a_backwards_shaper_clock_is_never_more_permissive() {
        let sh = Shaper::new(q(1, 1), D::from_secs(2)).unwrap();
        let mut s = sh.new_state();
        sh.reserve(&mut s, at(10_000), 1).unwrap(); // proceeds at 10 s, drains at 11 s
        let back = sh.reserve(&mut s, at(9_000), 1).unwrap();
        // Seen from 9 s the backlog is 2 s: it proceeds at 11 s, 2 s after its own now.
        assert_eq!((back.proceed_at, back.delay), (at(11_000), ms(2_000)));
        let r = sh.reserve(&mut s, at(0), 1).unwrap();
        assert_eq!(r.decision.retry_after, Some(ms(10_000)));
        assert_eq!(s.to_raw(), 12_000);
    }

    #[test]
    fn the_shaper_stays_closed_at_the_end_of_time() {
        let sh = Shaper::new(q(2, 1), D::from_secs(1)).unwrap();
        let mut s = sh.new_state();
        let r = sh.reserve(&mut s, at(u64::MAX - 400), 1).unwrap();
        assert_eq!(r.decision.retry_after, Some(D::from_ticks(400)));
        let r = sh.reserve(&mut s, at(u64::MAX), 1).unwrap();
        assert!(r.is_denied() && r.proceed_at == at(u64::MAX));
        assert!(
            sh.reserve(&mut s, at(u64::MAX - 500), 1)
                .unwrap()
                .is_accepted()
        );
        assert_eq!(s.to_raw(), u64::MAX);
        let r = sh.reserve(&mut s, at(u64::MAX - 500), 1).unwrap();
        assert_eq!(
            (r.is_denied(), r.delay, r.proceed_at),
            (true, ms(500), at(u64::MAX))
        );
    }

    #[test]
    fn a_request_far_behind_a_queue_at_the_end_of_time_reports_its_exact_delay() {
        // Found by the slot-list property test: backlog + c·T overflows a u64 here, and a
        // saturating sum would have understated the delay by b·T.
        let sh = Shaper::new(q(1, 1), D::from_ticks(0)).unwrap();
        let mut s = sh.new_state();
        assert!(
            sh.reserve(&mut s, at(u64::MAX - 1_000), 1)
                .unwrap()
                .is_accepted()
        );
        let r = sh.reserve(&mut s, at(0), 1).unwrap();
        assert_eq!(
            (r.delay, r.proceed_at),
            (D::from_ticks(u64::MAX), at(u64::MAX))
        );
        assert_eq!(r.decision.retry_after, Some(D::from_ticks(u64::MAX)));
    }

    #[test]
    fn a_reservation_the_queue_can_never_hold_waits_until_the_end_of_time() {
        // Regression: the wait was the delay over the maximum (500 ms), after which the request
        // was denied again because the queue would drain past the end of time; like Gcra, it now
        // says "never" as the wait until the end.
        let quota = q(2, 2);
        let (sh, g) = (
            Shaper::new(quota, D::from_ticks(0)).unwrap(),
            Gcra::new(quota),
        );
        let (mut s, mut gs) = (sh.new_state(), GcraState::new());
        let t = at(u64::MAX - 1_200);
        assert!(sh.reserve(&mut s, t, 2).unwrap().is_accepted()); // drains at end − 200
        assert!(g.check(&mut gs, t, 2).unwrap().is_allowed());
        let r = sh.peek_reserve(&s, t, 2).unwrap();
        assert_eq!(r.decision.retry_after, Some(D::from_ticks(1_200)));
        assert_eq!(r.decision, g.peek(&gs, t, 2).unwrap());
        assert!(
            sh.peek_reserve(&s, at(u64::MAX - 700), 2)
                .unwrap()
                .is_denied()
        );
        assert!(sh.peek_reserve(&s, at(u64::MAX), 2).unwrap().is_denied());
        // With a queue, the same: the 500 ms over the maximum delay would not help either.
        let sh = Shaper::new(quota, D::from_millis(500)).unwrap();
        let mut s = sh.new_state();
        assert!(sh.reserve(&mut s, t, 2).unwrap().is_accepted());
        let r = sh.peek_reserve(&s, t, 2).unwrap();
        assert_eq!(r.decision.retry_after, Some(D::from_ticks(1_200)));
    }

    #[test]
    fn shaper_configurations_that_overflow_are_typed_errors() {
        let slow = Quota::<1>::new(1, Duration::<1>::from_ticks(u64::MAX)).unwrap();
        assert_eq!(
            Shaper::new(slow, Duration::<1>::from_ticks(1)),
            Err(ConfigError::Overflow)
        );
        let fast = Quota::<1>::per_second(1).unwrap();
        assert_eq!(
            Shaper::new(fast, Duration::<1>::from_ticks(u64::from(u32::MAX))),
            Err(ConfigError::Overflow)
        );
        assert_eq!(
            Shaper::nginx_limit_req(fast, u32::MAX, u32::MAX),
            Err(ConfigError::Overflow)
        );
        assert!(Shaper::new(fast, Duration::<1>::from_ticks(u64::from(u32::MAX) - 1)).is_ok());
    }
}
