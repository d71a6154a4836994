//! The sliding window counter: a ring of `B` sub-window counters whose size does not depend on
//! the limit.
//!
//! A sliding log remembers every admission and so needs memory for the whole limit; this
//! algorithm counts admitted cost per *bucket* of `g` ticks instead, so 105,600 requests per day
//! cost as little state as 10 per second. The price is precision: the counter never admits too
//! much, but may admit a little less than an exact log would.
//!
//! # Scheme
//!
//! Time is cut into buckets of `g` ticks aligned to the epoch: bucket `k` holds the instants
//! `[k·g, (k + 1)·g)`. For a quota of `N` per `W` ticks and `B ≥ 2` buckets, the granularity is
//!
//! ```text
//! g = ⌈(W − 1) / (B − 1)⌉        so that (B − 1)·g ≥ W − 1
//! ```
//!
//! The state keeps the counts of the `B` most recent buckets (the current one and the `B − 1`
//! before it). A request of cost `c` at instant `t` (bucket `k = ⌊t/g⌋`) counts **everything**
//! in buckets `k − B + 1 ..= k` and is admitted iff
//!
//! ```text
//! counted + c ≤ N
//! ```
//!
//! There is no weighting of the oldest bucket (the usual estimate, which can admit more than `N`
//! per `W`): an admission in bucket `j` counts, whole, until the instant `(j + B)·g`. Its cost
//! therefore keeps counting for at least `(B − 1)·g + 1 ≥ W` ticks and at most `S = B·g` ticks
//! (the [`span`](SlidingWindow::span)).
//!
//! # Guarantee
//!
//! With `now` values that never go backwards: **for every instant `t`, the cost admitted in
//! `(t − W, t]` is at most `N`.** Proof: let `r` be the last admission (in order of checks) with
//! an instant in `(t − W, t]`, in bucket `k_r ≤ ⌊t/g⌋`. Every other admission in that interval
//! came earlier and lies at or after `t − W + 1 ≥ t − (B − 1)·g`, so in a bucket
//! `≥ ⌊t/g⌋ − (B − 1) ≥ k_r − B + 1`. When `r` was decided the ring held exactly the buckets
//! `k_r − B + 1 ..= k_r`, so all of them were counted, and `r` was admitted only because
//! everything counted plus its own cost was at most `N`. ∎
//!
//! Exactly how much less than an exact window it can admit: a request at `t` is denied only when
//! the cost admitted in `(t − S, t]` plus its own exceeds `N` (everything counted lies in buckets
//! starting after `t − S`). So the worst case is `N` per `S` ticks instead of `N` per `W`. Here
//! `S = (B − 1)·g + g`, where `(B − 1)·g` is `W − 1` rounded up to a multiple of `B − 1`, so
//! `W ≤ S ≤ W + g + B − 3`; for round numbers the rounding usually lands on `W` and `S = W + g`
//! (an SMS carrier's 1 per second averaged over 10 s: `W` = 10 s and `B` = 11 give `g` = 1 s
//! and `S` = 11 s). More buckets make `g`, and
//! so the loss, smaller.
//!
//! A denied request is admitted after exactly its `retry_after`, and not one tick sooner, if
//! nothing else arrives (short of the end of time, below): that is the instant enough of the
//! oldest counted buckets expire. `reset` is exact in the same way: it ends when the newest
//! non-empty bucket expires, and is zero when nothing is counted.
//!
//! A `now` earlier than the start of the state's current bucket is decided as at that start (as if
//! no time had passed), and an admission there is recorded in the current bucket. Because the
//! counted set only shrinks as time passes, that is never more permissive than deciding at the
//! latest instant seen, and the guarantee above holds for the instants at which requests are
//! recorded (`max(now, start of the current bucket)`). `retry_after` and `reset` are always
//! measured from the `now` given.
//!
//! Near the end of time, an expiry instant that does not fit a `u64` saturates at `u64::MAX`:
//! the gate stays closed rather than wrapping, and `retry_after`/`reset` are then not exact.
//!
//! # Cost
//!
//! The state is `4·B + 16` bytes padded to the alignment of a `u64` (on x86_64 and Cortex-M:
//! `B = 4` takes 32 bytes, `B = 25` 120), whatever `N`. A check on a clock that has not left the current or next bucket does
//! no division and touches one or two counters; after a gap of `m` buckets it clears
//! `min(m, B)` counters (a gap of `B` or more is one array reset), so every check is `O(B)` at
//! worst and `O(1)` in steady use. A denial, a zero-cost check and [`is_at_rest`] scan at most
//! `B` counters to find the exact retry and reset instants.
//!
//! [`is_at_rest`]: crate::Algorithm::is_at_rest

use core::marker::PhantomData;

use crate::algorithm::storage::{Inline, Storage};
use crate::algorithm::{Algorithm, Allowance, Decision, NotUntil, fits};
use crate::error::{ConfigError, InsufficientCapacity};
use crate::quota::Quota;
use crate::time::{Duration, Instant};

/// Sliding window counter configuration: `N` per `W` counted in buckets kept in storage `S`.
/// Shared, immutable.
///
/// Most code names the fixed form, [`SlidingWindow<HZ, B>`](SlidingWindow), whose constructor is
/// `const`. A bucket count chosen at run time uses the same type with another [`Storage`] (see
/// [`with_buckets`](Self::with_buckets)); both run the same decision code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlidingWindowIn<const HZ: u64, S: Storage> {
    /// `N`, the limit per window.
    limit: u32,
    /// `W`, the window in ticks.
    window: u64,
    /// `B`, the number of buckets (at least two).
    buckets: u32,
    /// `g`, the bucket length in ticks (at least one).
    g: u64,
    /// `S = B·g`, the longest time an admission keeps counting.
    span: u64,
    storage: PhantomData<fn() -> S>,
}

/// A sliding window counter of `B` buckets kept inline.
///
/// Only the quota's [`limit`](Quota::limit) and [`window`](Quota::window) matter; its burst is
/// irrelevant here, because a window counter admits up to the whole limit at once from rest.
///
/// # Examples
///
/// A daily bucket of 105,600 calls per 24 hours, counted in 25 one-hour buckets: 120 bytes
/// of state instead of 105,600 time stamps.
///
/// ```
/// use tollgate_core::{Algorithm, SlidingWindow, WindowState, Quota, Instant, Duration, valid};
///
/// static DAY: SlidingWindow<1_000, 25> = valid!(SlidingWindow::new(valid!(Quota::per_day(105_600))));
/// assert_eq!(DAY.granularity(), Duration::<1_000>::from_secs(3_600));
/// assert_eq!(DAY.span(), Duration::<1_000>::from_secs(25 * 3_600));
/// assert_eq!(core::mem::size_of::<WindowState<25>>(), 120);
///
/// let mut s = DAY.new_state();
/// let d = DAY.check(&mut s, Instant::<1_000>::from_ticks(0), 105_600)?;
/// assert_eq!((d.limit, d.remaining), (105_600, 0));
/// # Ok::<(), tollgate_core::InsufficientCapacity>(())
/// ```
pub type SlidingWindow<const HZ: u64, const B: usize> = SlidingWindowIn<HZ, Inline<B>>;

#[cfg(feature = "defmt")]
impl<const HZ: u64, S: Storage> defmt::Format for SlidingWindowIn<HZ, S> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "SlidingWindow {{ limit: {=u32}, window: {=u64}, buckets: {=u32}, g: {=u64} }}",
            self.limit,
            self.window,
            self.buckets,
            self.g
        );
    }
}

/// Sliding window counter state: bucket counters, the current bucket's start and ring position,
/// and their running total, kept in storage `S`. All zeros when fresh, and the same size whatever
/// the limit. Most code names the inline form, [`WindowState<B>`](WindowState).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowStateIn<S: Storage> {
    /// Admitted cost per bucket; `counts[head]` is the current bucket, `counts[head − i]` (mod
    /// `B`) the bucket `i` before it.
    counts: S::Buf<u32>,
    /// Start of the current bucket, in ticks (a multiple of `g`).
    start: u64,
    /// Ring position of the current bucket.
    head: u32,
    /// Sum of `counts`; never more than `N`.
    total: u32,
}

/// A sliding window counter state of `B` buckets kept inline: `Copy`, all zeros when fresh.
///
/// `B` must be at least 2 (and fit a `u32`); anything else fails to compile:
///
/// ```compile_fail
/// let s = tollgate_core::WindowState::<1>::new();
/// ```
///
/// # Examples
///
/// ```
/// use tollgate_core::WindowState;
///
/// static FRESH: WindowState<4> = WindowState::new(); // const, so it can live in a static
/// assert_eq!(FRESH, WindowState::default());
/// assert_eq!(core::mem::size_of::<WindowState<4>>(), 32); // 4·B + 16 bytes, 8-byte aligned
/// ```
pub type WindowState<const B: usize> = WindowStateIn<Inline<B>>;

impl<const B: usize> Copy for WindowStateIn<Inline<B>> {}

#[cfg(feature = "defmt")]
impl<S: Storage> defmt::Format for WindowStateIn<S> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "WindowState {{ counts: {}, start: {=u64}, head: {=u32}, total: {=u32} }}",
            self.counts.as_ref(),
            self.start,
            self.head,
            self.total
        );
    }
}

impl<const B: usize> WindowStateIn<Inline<B>> {
    const VALID: () = assert!(
        B >= 2 && B <= u32::MAX as usize,
        "a sliding window needs at least 2 buckets"
    );

    /// A fresh state, at rest at every instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, SlidingWindow, WindowState, Quota, Instant};
    ///
    /// let w = SlidingWindow::<1_000, 4>::new(Quota::per_minute(60)?)?;
    /// assert!(w.is_at_rest(&WindowState::new(), Instant::<1_000>::from_ticks(0)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new() -> Self {
        let () = Self::VALID;
        Self {
            counts: [0; B],
            start: 0,
            head: 0,
            total: 0,
        }
    }
}

impl<const B: usize> Default for WindowStateIn<Inline<B>> {
    fn default() -> Self {
        Self::new()
    }
}

/// The cost a window counted at some instant, and the span to average it over.
///
/// `span` is always the quota's window `W` (an SMS carrier's "sample period"). The counted buckets
/// cover at least the last `W` ticks and at most [`span`](SlidingWindow::span) ticks, and the
/// limiter treats what they hold as the cost of the last `W`; dividing by `W` therefore gives the
/// rate the limiter enforces: a request is admitted iff the rate with it stays within `N / W`.
///
/// Denied requests are never recorded, so the measured cost is the admitted cost; to report a
/// denied request's rate "as if admitted" (an SMS carrier's "Your rate is: 1.1" for the 11th of 10
/// per 10 s), add it with [`with_attempt`](Measurement::with_attempt).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Measurement, Duration};
///
/// let m = Measurement { cost: 10, span: Duration::<1_000>::from_secs(10) };
/// assert_eq!(m.per_second_thousandths(), Some(1_000)); // 1.0 per second
/// assert_eq!(m.with_attempt(1).per_second_thousandths(), Some(1_100)); // 1.1 per second
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Measurement<const HZ: u64> {
    /// The cost counted (plus any attempt added).
    pub cost: u64,
    /// The span the cost is averaged over.
    pub span: Duration<HZ>,
}

impl<const HZ: u64> Measurement<HZ> {
    /// The same measurement with an attempted request's cost added (saturating).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Measurement, Duration};
    ///
    /// let m = Measurement { cost: 3, span: Duration::<1_000>::from_secs(1) };
    /// assert_eq!(m.with_attempt(2).cost, 5);
    /// ```
    #[must_use]
    pub const fn with_attempt(self, cost: u32) -> Self {
        Self {
            cost: self.cost.saturating_add(cost as u64),
            span: self.span,
        }
    }

    /// The rate in thousandths of a unit per second, rounded down: `cost · 1000 · HZ / span`.
    ///
    /// `None` when the span is zero or the result does not fit a `u64`. Integer arithmetic only,
    /// so renderers can print `1100` as `1.1` without floats.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Measurement, Duration};
    ///
    /// let m = Measurement { cost: 2, span: Duration::<32_768>::from_ticks(3 * 32_768) };
    /// assert_eq!(m.per_second_thousandths(), Some(666)); // 0.666… per second, rounded down
    /// let r = Measurement { cost: 11, span: Duration::<1_000>::from_secs(10) }.per_second_thousandths();
    /// assert_eq!(r.map(|r| format!("{}.{}", r / 1_000, r % 1_000 / 100)), Some("1.1".into()));
    /// assert_eq!(Measurement { cost: 1, span: Duration::<1_000>::from_ticks(0) }.per_second_thousandths(), None);
    /// ```
    pub fn per_second_thousandths(&self) -> Option<u64> {
        let scaled = u128::from(self.cost)
            .checked_mul(1_000)?
            .checked_mul(u128::from(HZ))?;
        let rate = scaled.checked_div(u128::from(self.span.as_ticks()))?;
        u64::try_from(rate).ok()
    }
}

/// Where `now` falls relative to a state: the start of its bucket and how many buckets that is
/// past the state's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Position {
    /// Start of the bucket holding the effective instant `max(now, state.start)`.
    start: u64,
    /// Buckets between the state's current bucket and that one.
    moved: u64,
}

/// What one look at a window counter found: where the request falls, what is counted there,
/// and whether its cost fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WindowStep {
    t: u64,
    pos: Position,
    counted: u32,
    cost: u32,
    admitted: bool,
}

impl<const HZ: u64, const B: usize> SlidingWindowIn<HZ, Inline<B>> {
    /// A window counter enforcing `quota`'s limit per window with `B` buckets (the burst and the
    /// interval are ignored: see [`per_window`](Self::per_window)).
    ///
    /// # Errors
    ///
    /// As [`per_window`](Self::per_window).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{SlidingWindow, Quota, Duration, ConfigError};
    ///
    /// // 1 per second, averaged over 10 s, in one-second buckets.
    /// let w = SlidingWindow::<1_000, 11>::new(Quota::per_seconds(10, 10)?)?;
    /// assert_eq!(w.granularity(), Duration::<1_000>::from_secs(1));
    /// let tiny = Quota::<1_000>::new(1, Duration::<1_000>::from_ticks(3))?;
    /// assert_eq!(SlidingWindow::<1_000, 4>::new(tiny), Err(ConfigError::GranularityTooFine));
    /// assert_eq!(SlidingWindow::<1_000, 1>::new(tiny), Err(ConfigError::CapacityTooSmall));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub const fn new(quota: Quota<HZ>) -> Result<Self, ConfigError> {
        Self::per_window(quota.limit(), quota.window())
    }

    /// A window counter of `limit` per `window` with `B` buckets. Only the count and the window
    /// matter, so "100 per 10 ms" is fine on a 1 kHz clock.
    ///
    /// # Errors
    ///
    /// As [`with_buckets`](Self::with_buckets) with `B` buckets.
    pub const fn per_window(limit: u32, window: Duration<HZ>) -> Result<Self, ConfigError> {
        if B as u64 > u32::MAX as u64 {
            return Err(ConfigError::Overflow);
        }
        geometry::<HZ, Inline<B>>(limit, window.as_ticks(), B as u32)
    }

    /// A state at rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Algorithm, SlidingWindow, WindowState, Quota, Instant};
    ///
    /// let w = SlidingWindow::<1_000, 11>::new(Quota::per_seconds(10, 10)?)?;
    /// assert_eq!(w.new_state(), WindowState::<11>::new());
    /// assert!(w.is_at_rest(&w.new_state(), Instant::<1_000>::from_ticks(0)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn new_state(&self) -> WindowState<B> {
        WindowState::new()
    }
}

/// The bucket geometry of `limit` per `window` ticks in `buckets` buckets.
const fn geometry<const HZ: u64, S: Storage>(
    limit: u32,
    window: u64,
    buckets: u32,
) -> Result<SlidingWindowIn<HZ, S>, ConfigError> {
    if limit == 0 {
        return Err(ConfigError::ZeroLimit);
    }
    if window == 0 {
        return Err(ConfigError::ZeroWindow);
    }
    if buckets < 2 {
        return Err(ConfigError::CapacityTooSmall);
    }
    let b = buckets as u64;
    if b > window {
        return Err(ConfigError::GranularityTooFine);
    }
    // 2 ≤ B ≤ W, so W − 1 ≥ 1, B − 1 ≥ 1 and g ≥ 1.
    let g = window.saturating_sub(1).div_ceil(b.saturating_sub(1));
    let span = match b.checked_mul(g) {
        Some(span) => span,
        None => return Err(ConfigError::Overflow),
    };
    Ok(SlidingWindowIn {
        limit,
        window,
        buckets,
        g,
        span,
        storage: PhantomData,
    })
}

impl<const HZ: u64, S: Storage> SlidingWindowIn<HZ, S> {
    /// A window counter of `limit` per `window` with `buckets` chosen at run time, in storage
    /// `S` (which must hold that many).
    ///
    /// # Errors
    ///
    /// - [`ConfigError::ZeroLimit`], [`ConfigError::ZeroWindow`];
    /// - [`ConfigError::CapacityTooSmall`] when `buckets < 2` or `S` cannot hold them;
    /// - [`ConfigError::GranularityTooFine`] when `buckets` exceeds the window's ticks, so a
    ///   bucket would be shorter than one tick;
    /// - [`ConfigError::Overflow`] when `buckets` does not fit a `u32` or `B·g` a `u64`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::algorithm::{sliding_window::SlidingWindowIn, storage::Inline};
    /// use tollgate_core::{Algorithm, Duration, Instant};
    ///
    /// // Up to 32 buckets; this one uses 11, as a configuration file said.
    /// let w = SlidingWindowIn::<1_000, Inline<32>>::with_buckets(10, Duration::from_secs(10), 11)?;
    /// assert_eq!(w.granularity(), Duration::<1_000>::from_secs(1));
    /// let mut s = w.new_state();
    /// assert!(w.check(&mut s, Instant::from_ticks(0), 10)?.is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_buckets(
        limit: u32,
        window: Duration<HZ>,
        buckets: usize,
    ) -> Result<Self, ConfigError> {
        if !S::holds(buckets) {
            return Err(ConfigError::CapacityTooSmall);
        }
        let buckets = u32::try_from(buckets).map_err(|_| ConfigError::Overflow)?;
        geometry::<HZ, S>(limit, window.as_ticks(), buckets)
    }

    /// The most admitted per window.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The window `W`.
    pub const fn window(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.window)
    }

    /// The number of buckets `B`.
    pub const fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The bucket length `g = ⌈(W − 1) / (B − 1)⌉`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{SlidingWindow, Quota, Duration};
    ///
    /// // 2,300 per 15 minutes in 16 buckets of one minute.
    /// let w = SlidingWindow::<1_000, 16>::new(Quota::new(2_300, Duration::<1_000>::from_secs(900))?)?;
    /// assert_eq!(w.granularity(), Duration::<1_000>::from_secs(60));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn granularity(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.g)
    }

    /// `S = B·g`: the longest an admission keeps counting, so the worst case is `N` per `S`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{SlidingWindow, Quota, Duration};
    ///
    /// let w = SlidingWindow::<1_000, 4>::new(Quota::new(2_300, Duration::<1_000>::from_secs(900))?)?;
    /// assert_eq!(w.granularity(), Duration::<1_000>::from_secs(300));
    /// assert_eq!(w.span(), Duration::<1_000>::from_secs(1_200)); // 15 min + one 5-min bucket
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn span(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.span)
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
    /// use tollgate_core::{SlidingWindow, Quota, Instant, Duration};
    ///
    /// let w = SlidingWindow::<1_000, 11>::new(Quota::per_seconds(10, 10)?)?;
    /// let mut s = w.new_state();
    /// let t = Instant::<1_000>::from_ticks(2_500);
    /// for _ in 0..10 {
    ///     assert_eq!(w.try_acquire(&mut s, t), Ok(()));
    /// }
    /// // Bucket [2 s, 3 s) keeps counting until 13 s.
    /// assert_eq!(w.try_acquire(&mut s, t).unwrap_err().retry_after(), Duration::<1_000>::from_millis(10_500));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(
        &self,
        state: &mut WindowStateIn<S>,
        now: Instant<HZ>,
    ) -> Result<(), NotUntil<HZ>> {
        let t = now.as_ticks();
        let pos = self.position(state, t);
        let counted = self.counted(state, pos);
        if counted < self.limit {
            self.record_at(state, pos, 1);
            Ok(())
        } else {
            Err(NotUntil {
                wait: self.retry_instant(state, pos, counted, 1).saturating_sub(t),
            })
        }
    }

    /// The cost counted at `now` and the window `W` to average it over (see [`Measurement`]).
    ///
    /// # Examples
    ///
    /// An SMS carrier's 403 body, "Your rate is: 1.1", for the 11th message in 10 seconds:
    ///
    /// ```
    /// use tollgate_core::{Algorithm, SlidingWindow, Quota, Instant, Duration};
    ///
    /// let w = SlidingWindow::<1_000, 11>::new(Quota::per_seconds(10, 10)?)?;
    /// let mut s = w.new_state();
    /// for i in 0..10 {
    ///     w.check(&mut s, Instant::<1_000>::from_ticks(i * 900), 1)?;
    /// }
    /// let now = Instant::<1_000>::from_ticks(9_000);
    /// assert!(w.check(&mut s, now, 1)?.is_denied());
    /// let m = w.measure(&s, now);
    /// assert_eq!((m.cost, m.span), (10, Duration::<1_000>::from_secs(10)));
    /// assert_eq!(m.with_attempt(1).per_second_thousandths(), Some(1_100));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn measure(&self, state: &WindowStateIn<S>, now: Instant<HZ>) -> Measurement<HZ> {
        Measurement {
            cost: u64::from(self.counted(state, self.position(state, now.as_ticks()))),
            span: self.window(),
        }
    }

    /// Where `t` falls: `max(t, state.start)` is the effective instant. Divides only when `t`
    /// is two or more buckets past the state's current one.
    #[inline(always)]
    fn position(&self, state: &WindowStateIn<S>, t: u64) -> Position {
        let d = t.saturating_sub(state.start);
        if d < self.g {
            return Position {
                start: state.start,
                moved: 0,
            };
        }
        if d.saturating_sub(self.g) < self.g {
            return Position {
                start: state.start.saturating_add(self.g),
                moved: 1,
            };
        }
        let moved = d.checked_div(self.g).unwrap_or(0);
        Position {
            // moved·g ≤ d, so this is at most t.
            start: state.start.saturating_add(moved.saturating_mul(self.g)),
            moved,
        }
    }

    fn figures(&self, counted: u32, reset: u64, t: u64, retry: Option<u64>) -> Decision<HZ> {
        Decision {
            limit: self.limit,
            remaining: self.limit.saturating_sub(counted),
            reset: Duration::<HZ>::from_ticks(reset.saturating_sub(t)),
            retry_after: retry.map(|at| Duration::<HZ>::from_ticks(at.saturating_sub(t))),
            delay: Duration::<HZ>::from_ticks(0),
        }
    }

    /// The instant `j` buckets after `pos`'s (saturating at the end of time).
    #[inline(always)]
    fn after_buckets(&self, pos: Position, j: u32) -> u64 {
        pos.start
            .saturating_add(u64::from(j).saturating_mul(self.g))
    }

    /// The first instant at which enough of the oldest counted buckets have expired for `cost`
    /// to fit. Scans at most `B` buckets.
    fn retry_instant(
        &self,
        state: &WindowStateIn<S>,
        pos: Position,
        counted: u32,
        cost: u32,
    ) -> u64 {
        let b = self.buckets;
        let mut left = counted;
        for j in 1..=b {
            // j buckets later, the bucket of age B − j (relative to pos) has expired.
            left = left.saturating_sub(self.count_at(state, pos, b.saturating_sub(j)));
            // In u64: left + cost may exceed u32::MAX when N is near it.
            if u64::from(left).saturating_add(u64::from(cost)) <= u64::from(self.limit) {
                return self.after_buckets(pos, j);
            }
        }
        // Unreachable when cost ≤ N: after B buckets nothing is counted.
        u64::MAX
    }

    /// The instant the newest non-empty counted bucket expires (instant 0, long past, if none).
    /// Scans at most `B` buckets.
    fn reset_instant(&self, state: &WindowStateIn<S>, pos: Position, counted: u32) -> u64 {
        if counted == 0 {
            return 0;
        }
        for age in 0..self.buckets {
            if self.count_at(state, pos, age) > 0 {
                return self.after_buckets(pos, self.buckets.saturating_sub(age));
            }
        }
        0
    }

    /// Moves the state to `pos` (clearing the buckets that expired) and records `cost` in the
    /// current bucket.
    #[inline]
    fn record_at(&self, state: &mut WindowStateIn<S>, pos: Position, cost: u32) {
        let b = self.buckets;
        let counts = state.counts.as_mut();
        if pos.moved >= u64::from(b) {
            // A gap of the whole ring or more: everything expired, no loop needed.
            counts.iter_mut().for_each(|c| *c = 0);
            state.total = 0;
            state.start = pos.start;
        } else if pos.moved > 0 {
            let mut slot = state.head;
            for _ in 0..pos.moved {
                slot = next_slot(slot, b);
                if let Some(c) = counts.get_mut(slot as usize) {
                    state.total = state.total.saturating_sub(*c);
                    *c = 0;
                }
            }
            state.head = slot;
            state.start = pos.start;
        }
        if let Some(c) = counts.get_mut(state.head as usize) {
            // counted + cost ≤ N was checked, so neither sum can overflow.
            *c = c.saturating_add(cost);
            state.total = state.total.saturating_add(cost);
        }
    }

    /// The count of the bucket `age` buckets before `pos`'s (`age < B`). Buckets newer than the
    /// state's current one are empty.
    #[inline(always)]
    fn count_at(&self, state: &WindowStateIn<S>, pos: Position, age: u32) -> u32 {
        let age = u64::from(age);
        if age < pos.moved {
            return 0;
        }
        // back < B, because age < B.
        let back = u32::try_from(age.saturating_sub(pos.moved)).unwrap_or(self.buckets);
        let head = state.head;
        let slot = if back <= head {
            head.saturating_sub(back)
        } else {
            head.saturating_add(self.buckets).saturating_sub(back)
        };
        state
            .counts
            .as_ref()
            .get(slot as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The cost counted at `pos`: everything except the `moved` oldest buckets.
    #[inline(always)]
    fn counted(&self, state: &WindowStateIn<S>, pos: Position) -> u32 {
        if pos.moved == 0 {
            return state.total;
        }
        let b = self.buckets;
        if pos.moved >= u64::from(b) {
            return 0;
        }
        let counts = state.counts.as_ref();
        let mut expired = 0u32;
        let mut slot = state.head;
        for _ in 0..pos.moved {
            slot = next_slot(slot, b);
            expired = expired.saturating_add(counts.get(slot as usize).copied().unwrap_or(0));
        }
        state.total.saturating_sub(expired)
    }
}

/// The slot after `slot` in a ring of `b`.
#[inline(always)]
fn next_slot(slot: u32, b: u32) -> u32 {
    let next = slot.saturating_add(1);
    if next >= b { 0 } else { next }
}

impl<const HZ: u64, S: Storage> Algorithm<HZ> for SlidingWindowIn<HZ, S> {
    type State = WindowStateIn<S>;
    type Step = WindowStep;

    fn new_state(&self) -> WindowStateIn<S> {
        WindowStateIn {
            counts: S::buffer(self.buckets as usize),
            start: 0,
            head: 0,
            total: 0,
        }
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
        state: &WindowStateIn<S>,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<WindowStep, InsufficientCapacity> {
        fits(cost, self.limit)?;
        let t = now.as_ticks();
        let pos = self.position(state, t);
        let counted = self.counted(state, pos);
        let admitted = cost == 0 || counted.checked_add(cost).is_some_and(|a| a <= self.limit);
        Ok(WindowStep {
            t,
            pos,
            counted,
            cost,
            admitted,
        })
    }

    #[inline]
    fn admits(&self, step: &WindowStep) -> bool {
        step.admitted
    }

    fn decision(
        &self,
        state: &WindowStateIn<S>,
        step: &WindowStep,
        recorded: bool,
    ) -> Decision<HZ> {
        let WindowStep {
            t, pos, counted, ..
        } = *step;
        if step.admitted && recorded && step.cost > 0 {
            // The current bucket is about to be non-empty: it expires last.
            let reset = pos.start.saturating_add(self.span);
            return self.figures(counted.saturating_add(step.cost), reset, t, None);
        }
        let reset = self.reset_instant(state, pos, counted);
        let retry = (!step.admitted).then(|| self.retry_instant(state, pos, counted, step.cost));
        self.figures(counted, reset, t, retry)
    }

    #[inline]
    fn record(&self, state: &mut WindowStateIn<S>, step: &WindowStep) {
        if step.admitted && step.cost > 0 {
            self.record_at(state, step.pos, step.cost);
        }
    }

    /// Whether `state` is at rest at `now` (and so at every later instant): every bucket counted
    /// at `now` is empty.
    fn is_at_rest(&self, state: &WindowStateIn<S>, now: Instant<HZ>) -> bool {
        state.total == 0 || self.counted(state, self.position(state, now.as_ticks())) == 0
    }
}

impl<S: Storage> crate::codec::Codec for WindowStateIn<S> {
    fn encoded_len(&self) -> usize {
        crate::codec::OVERHEAD
            .saturating_add(20)
            .saturating_add(self.counts.as_ref().len().saturating_mul(4))
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, crate::codec::CodecError> {
        let counts = self.counts.as_ref();
        let payload = self.encoded_len().saturating_sub(crate::codec::OVERHEAD);
        crate::codec::write_record(out, crate::codec::kind::SLIDING_WINDOW, payload, |w| {
            w.u32(u32::try_from(counts.len()).unwrap_or(u32::MAX));
            w.u64(self.start);
            w.u32(self.head);
            w.u32(self.total);
            counts.iter().for_each(|&c| w.u32(c));
        })
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        read_window(bytes, self.counts.as_ref().len(), |_, _| {}).map(|(_, n)| n)
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        let buckets = self.counts.as_ref().len();
        read_window(bytes, buckets, |_, _| {})?;
        let counts = self.counts.as_mut();
        let (header, n) = read_window(bytes, buckets, |i, c| {
            if let Some(slot) = counts.get_mut(i) {
                *slot = c;
            }
        })?;
        (self.start, self.head, self.total) = header;
        Ok(n)
    }
}

/// Reads a window record for a state of `buckets` buckets and checks it: that many buckets, a
/// current bucket among them, counts that add up to the total. Hands every count to `count`;
/// returns the start, current bucket and total, and the record's length.
#[allow(clippy::type_complexity)]
fn read_window(
    bytes: &[u8],
    buckets: usize,
    mut count: impl FnMut(usize, u32),
) -> Result<((u64, u32, u32), usize), crate::codec::CodecError> {
    use crate::codec::CodecError;
    let (mut r, n) = crate::codec::read_record(bytes, crate::codec::kind::SLIDING_WINDOW)?;
    if r.u32()? as usize != buckets {
        return Err(CodecError::CapacityMismatch);
    }
    let (start, head, total) = (r.u64()?, r.u32()?, r.u32()?);
    if head as usize >= buckets || r.remaining() != buckets.saturating_mul(4) {
        return Err(CodecError::Invalid);
    }
    let mut sum = 0u64;
    for i in 0..buckets {
        let c = r.u32()?;
        sum = sum.saturating_add(u64::from(c));
        count(i, c);
    }
    r.finish()?;
    if sum != u64::from(total) {
        return Err(CodecError::Invalid);
    }
    Ok(((start, head, total), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    /// An SMS carrier's 1 per second averaged over 10 s, as 10 per 10 s in one-second buckets.
    fn seed_003() -> SlidingWindow<1_000, 11> {
        SlidingWindow::new(Quota::per_seconds(10, 10).unwrap()).unwrap()
    }

    #[test]
    fn the_state_size_depends_on_the_bucket_count_only() {
        assert_eq!(size_of::<WindowState<2>>(), 24);
        assert_eq!(size_of::<WindowState<4>>(), 32);
        assert_eq!(size_of::<WindowState<11>>(), 64);
        assert_eq!(size_of::<WindowState<16>>(), 80);
        assert_eq!(size_of::<WindowState<25>>(), 120);
        // The limit lives in the configuration, never in the state.
        let small = SlidingWindow::<1_000_000, 4>::new(Quota::per_day(1).unwrap()).unwrap();
        let huge = SlidingWindow::<1_000_000, 4>::new(Quota::per_day(u32::MAX).unwrap()).unwrap();
        assert_eq!(small.new_state(), huge.new_state());
    }

    #[test]
    fn configuration_errors_are_typed() {
        let q = Quota::<1_000>::new(1, D::from_ticks(10)).unwrap();
        assert_eq!(
            SlidingWindow::<1_000, 0>::new(q),
            Err(ConfigError::CapacityTooSmall)
        );
        assert_eq!(
            SlidingWindow::<1_000, 1>::new(q),
            Err(ConfigError::CapacityTooSmall)
        );
        assert_eq!(
            SlidingWindow::<1_000, 11>::new(q),
            Err(ConfigError::GranularityTooFine)
        );
        // B = W: one-tick buckets, an exact sliding window.
        let exact = SlidingWindow::<1_000, 10>::new(q).unwrap();
        assert_eq!(
            (exact.granularity(), exact.span()),
            (D::from_ticks(1), D::from_ticks(10))
        );
        let long = Quota::<1>::new(1, Duration::<1>::from_ticks(u64::MAX)).unwrap();
        assert_eq!(SlidingWindow::<1, 2>::new(long), Err(ConfigError::Overflow));
    }

    #[test]
    fn the_granularity_is_the_coarsest_that_still_covers_the_window() {
        for w in 2..60u64 {
            let q = Quota::<1_000>::new(1, D::from_ticks(w)).unwrap();
            let sw = SlidingWindow::<1_000, 4>::new(q);
            if w < 4 {
                assert_eq!(sw, Err(ConfigError::GranularityTooFine));
                continue;
            }
            let g = sw.unwrap().granularity().as_ticks();
            assert!(3 * g >= w - 1, "w = {w}");
            assert!(3 * (g - 1) < w - 1 || g == 1, "w = {w}");
            assert_eq!(sw.unwrap().span().as_ticks(), 4 * g);
        }
    }

    #[test]
    fn seed_003_admits_a_burst_of_ten_and_denies_the_eleventh_until_its_bucket_expires() {
        let w = seed_003();
        let mut s = w.new_state();
        for i in 0..10u32 {
            let d = w.check(&mut s, at(10_000 + u64::from(i) * 10), 1).unwrap();
            assert!(d.is_allowed());
            assert_eq!(d.remaining, 9 - i);
        }
        // All ten sit in bucket [10 s, 11 s), which counts until 21 s.
        let d = w.check(&mut s, at(10_400), 1).unwrap();
        assert_eq!(
            d,
            Decision {
                limit: 10,
                remaining: 0,
                reset: D::from_millis(10_600),
                retry_after: Some(D::from_millis(10_600)),
                delay: D::from_ticks(0),
            }
        );
        assert!(w.check(&mut s, at(20_999), 1).unwrap().is_denied());
        assert!(w.check(&mut s, at(21_000), 1).unwrap().is_allowed());
    }

    #[test]
    fn seed_003_reports_a_rate_of_1_1_for_the_eleventh_message_in_ten_seconds() {
        // One message a second for ten seconds, then one more 100 ms early.
        let w = seed_003();
        let mut s = w.new_state();
        for i in 0..10u64 {
            assert!(w.check(&mut s, at(i * 1_000), 1).unwrap().is_allowed());
        }
        let now = at(9_900);
        let d = w.check(&mut s, now, 1).unwrap();
        assert_eq!(d.retry_after, Some(D::from_millis(1_100))); // bucket 0 expires at 11 s
        let m = w.measure(&s, now);
        assert_eq!(
            m,
            Measurement {
                cost: 10,
                span: D::from_secs(10)
            }
        );
        // What counts: the admitted cost in the counted buckets plus this attempt, over W.
        assert_eq!(m.with_attempt(1).per_second_thousandths(), Some(1_100));
        // Steady 1/s use keeps getting through once the first bucket expires.
        assert!(w.check(&mut s, at(11_000), 1).unwrap().is_allowed());
        assert_eq!(w.measure(&s, at(11_000)).cost, 10);
    }

    #[test]
    fn seed_002_admits_2300_per_15_minutes_and_frees_them_a_window_later() {
        let w =
            SlidingWindow::<1_000, 16>::new(Quota::new(2_300, D::from_secs(900)).unwrap()).unwrap();
        let mut s = w.new_state();
        // "if you do 10 calls, you need to wait just 15 minutes to liberate those 10 calls":
        // 2,300 calls spread over the first 2.3 s of minute 0.
        for i in 0..2_300u64 {
            assert!(w.check(&mut s, at(i), 1).unwrap().is_allowed(), "call {i}");
        }
        let d = w.check(&mut s, at(60_000 * 7), 1).unwrap();
        // Minute 0's bucket counts until the end of minute 15: 16 minutes after it began.
        assert_eq!(d.retry_after, Some(D::from_secs(9 * 60)));
        assert_eq!(d.reset, D::from_secs(9 * 60));
        assert!(w.check(&mut s, at(16 * 60_000 - 1), 1).unwrap().is_denied());
        let d = w.check(&mut s, at(16 * 60_000), 10).unwrap();
        assert_eq!((d.is_allowed(), d.remaining), (true, 2_290));
    }

    #[test]
    fn seed_002_daily_limit_costs_the_same_state_as_a_small_one() {
        let w = SlidingWindow::<1_000, 25>::new(Quota::per_day(105_600).unwrap()).unwrap();
        let mut s = w.new_state();
        let hour = 3_600_000u64;
        for h in 0..24u64 {
            assert!(w.check(&mut s, at(h * hour), 4_400).unwrap().is_allowed());
        }
        let d = w.check(&mut s, at(24 * hour), 1).unwrap();
        assert_eq!((d.remaining, d.retry_after), (0, Some(D::from_ticks(hour))));
        assert_eq!(w.check(&mut s, at(25 * hour), 4_400).unwrap().remaining, 0);
        assert_eq!(size_of::<WindowState<25>>(), 120);
    }

    #[test]
    fn a_cost_above_the_limit_is_an_error_not_a_denial() {
        let w = seed_003();
        let mut s = w.new_state();
        assert_eq!(
            w.check(&mut s, at(0), 11),
            Err(InsufficientCapacity::new(11, 10))
        );
        assert_eq!(Algorithm::capacity(&w), 10);
        assert_eq!(s, WindowState::new());
    }

    #[test]
    fn a_zero_cost_is_admitted_and_records_nothing() {
        let w = seed_003();
        let mut s = w.new_state();
        w.check(&mut s, at(5_000), 10).unwrap();
        let before = s;
        let d = w.check(&mut s, at(12_000), 0).unwrap();
        assert_eq!(
            d,
            Decision {
                limit: 10,
                remaining: 0,
                reset: D::from_secs(4),
                retry_after: None,
                delay: D::from_ticks(0),
            }
        );
        assert_eq!(s, before);
        let d = w.check(&mut s, at(0), 0).unwrap(); // backwards too
        assert_eq!((d.remaining, d.reset, s), (0, D::from_secs(16), before));
    }

    #[test]
    fn a_backwards_clock_is_decided_as_at_the_current_bucket() {
        let w = seed_003();
        let mut s = w.new_state();
        w.check(&mut s, at(50_500), 9).unwrap();
        // 20 s earlier: decided as at 50 s, so only one unit is left, and its retry is measured
        // from the given instant.
        let d = w.check(&mut s, at(30_500), 2).unwrap();
        assert_eq!(d.retry_after, Some(D::from_millis(30_500))); // 61 s − 30.5 s
        assert!(w.check(&mut s, at(30_500), 1).unwrap().is_allowed());
        assert_eq!(w.measure(&s, at(0)).cost, 10);
        assert!(w.check(&mut s, at(60_999), 1).unwrap().is_denied());
        assert!(w.check(&mut s, at(61_000), 10).unwrap().is_allowed());
    }

    #[test]
    fn a_long_idle_gap_clears_the_whole_ring_at_once() {
        let w = seed_003();
        let mut s = w.new_state();
        w.check(&mut s, at(0), 4).unwrap();
        w.check(&mut s, at(3_000), 4).unwrap();
        let d = w.check(&mut s, at(1_000_000_000_000), 10).unwrap();
        assert_eq!((d.remaining, d.reset), (0, D::from_secs(11)));
        assert_eq!(s.total, 10);
        assert_eq!(s.start, 1_000_000_000_000);
    }

    #[test]
    fn crossing_a_few_buckets_expires_exactly_the_oldest_ones() {
        let w = SlidingWindow::<1_000, 4>::new(Quota::per_seconds(10, 3).unwrap()).unwrap();
        let mut s = w.new_state();
        for (t, c) in [(0, 1), (1_000, 2), (2_000, 3), (3_000, 4)] {
            assert!(w.check(&mut s, at(t), c).unwrap().is_allowed());
        }
        assert_eq!(w.measure(&s, at(3_999)).cost, 10);
        assert_eq!(w.measure(&s, at(4_000)).cost, 9);
        assert_eq!(w.measure(&s, at(5_500)).cost, 7);
        assert_eq!(w.measure(&s, at(6_000)).cost, 4);
        assert_eq!(w.measure(&s, at(7_000)).cost, 0);
        // A cost of 3 at 3.5 s waits for buckets 0 and 1 (3 units) to expire: at 5 s. A cost of
        // 5 needs bucket 2 gone as well: at 6 s.
        assert_eq!(
            w.peek(&s, at(3_500), 3).unwrap().retry_after,
            Some(D::from_millis(1_500))
        );
        assert_eq!(
            w.peek(&s, at(3_500), 5).unwrap().retry_after,
            Some(D::from_millis(2_500))
        );
        assert!(w.check(&mut s, at(4_999), 3).unwrap().is_denied());
        let d = w.check(&mut s, at(5_000), 3).unwrap();
        assert_eq!(
            (d.is_allowed(), d.remaining, d.reset),
            (true, 0, D::from_secs(4))
        );
        assert_eq!(s.total, 10);
    }

    #[test]
    fn at_rest_exactly_when_every_counted_bucket_is_empty() {
        let w = seed_003();
        let mut s = w.new_state();
        assert!(w.is_at_rest(&s, at(0)));
        let d = w.check(&mut s, at(2_000), 1).unwrap();
        assert_eq!(d.reset, D::from_secs(11));
        assert!(!w.is_at_rest(&s, at(0)));
        assert!(!w.is_at_rest(&s, at(12_999)));
        assert!(w.is_at_rest(&s, at(13_000)));
        let fresh = w.peek(&w.new_state(), at(13_000), 10).unwrap();
        assert_eq!(w.peek(&s, at(13_000), 10).unwrap(), fresh);
    }

    #[test]
    fn the_end_of_time_saturates_instead_of_wrapping() {
        let w = seed_003();
        let mut s = w.new_state();
        let end = at(u64::MAX - 100);
        let d = w.check(&mut s, end, 10).unwrap();
        assert_eq!(d.reset, D::from_ticks(100));
        let d = w.check(&mut s, at(u64::MAX), 1).unwrap();
        assert_eq!(
            (d.retry_after, d.reset),
            (Some(D::from_ticks(0)), D::from_ticks(0))
        );
        assert!(!w.is_at_rest(&s, at(u64::MAX)));
    }

    #[test]
    fn a_limit_near_u32_max_still_waits_for_room() {
        // Regression: counted + cost used to saturate at u32::MAX = N and look like a fit.
        let q = Quota::<1>::new(u32::MAX, Duration::<1>::from_ticks(u64::from(u32::MAX))).unwrap();
        let w = SlidingWindow::<1, 2>::new(q).unwrap();
        let mut s = w.new_state();
        assert!(
            w.check(&mut s, Instant::<1>::from_ticks(0), 1)
                .unwrap()
                .is_allowed()
        );
        let d = w
            .check(&mut s, Instant::<1>::from_ticks(0), u32::MAX)
            .unwrap();
        assert_eq!(d.retry_after, Some(w.span()));
    }

    #[test]
    fn reset_is_zero_exactly_when_nothing_is_counted() {
        let w = seed_003();
        let mut s = w.new_state();
        w.check(&mut s, at(100_000), 1).unwrap();
        let d = w.check(&mut s, at(200_000), 0).unwrap();
        assert_eq!((d.remaining, d.reset), (10, D::from_ticks(0)));
        // Back before the current bucket: the unit at 100 s counts again, until 111 s.
        let d = w.check(&mut s, at(50_000), 0).unwrap();
        assert_eq!((d.remaining, d.reset), (9, D::from_secs(61)));
        let d = w.peek(&w.new_state(), at(5), 0).unwrap();
        assert_eq!((d.remaining, d.reset), (10, D::from_ticks(0)));
    }

    #[test]
    fn try_acquire_agrees_with_check() {
        let w = SlidingWindow::<1_000, 3>::new(Quota::per_seconds(2, 2).unwrap()).unwrap();
        let (mut a, mut b) = (w.new_state(), w.new_state());
        for t in [
            0, 10, 20, 999, 1_000, 2_000, 2_500, 3_000, 3_000, 3_001, 100,
        ] {
            let fast = w.try_acquire(&mut a, at(t));
            let full = w.check(&mut b, at(t), 1).unwrap();
            assert_eq!(fast.err().map(|e| e.retry_after()), full.retry_after);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn measured_rates_never_overflow() {
        let m = Measurement::<{ u64::MAX }> {
            cost: u64::MAX,
            span: Duration::<{ u64::MAX }>::from_ticks(1),
        };
        assert_eq!(m.per_second_thousandths(), None);
        assert_eq!(m.with_attempt(u32::MAX).cost, u64::MAX);
    }
}
