//! Clocks for std programs: a fast monotonic one for decisions, anchored to wall time for the
//! epoch figures in headers.
//!
//! Decisions need a clock that never goes backwards and costs little, since it is read on every
//! request. [`StdClock`] reads the processor's time-stamp counter through `quanta`, calibrated
//! against the OS monotonic clock (and falls back to that clock where the counter is not
//! invariant), and counts nanoseconds from its creation. On this project's x86_64 machine a read
//! costs 9 to 10 ns against 17 to 18 ns for `std::time::Instant::now()` (BENCHMARKS.md, "Clock"),
//! which matters when the rest of a GCRA decision is 15 instructions.
//!
//! Ticks are nanoseconds ([`HZ`]): every rate a server meets is exact in them (the
//! finest, a million per second, is 1,000 ticks apart), a `u64` of them lasts 584 years, and
//! they match what the counter is scaled to, so nothing is rounded on the way in.
//!
//! A [`Limiter`](crate::Limiter) goes one step further: it keeps its schedule in the clock's own
//! counts ([`Counter`]), so its fast path reads the counter and never scales the reading to
//! nanoseconds; only a denial's wait is scaled, once.
//!
//! Headers that carry epoch seconds need the wall time of an instant: each clock takes a
//! [`WallClock`] anchor when it is created (both clocks read once, back to back) and converts with
//! it from then on, so a wall clock stepped by NTP later never makes a reset go backwards.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tollgate_core::{Clock, WallClock};

use crate::{Duration, HZ, Instant};

/// The default clock: monotonic nanoseconds since its creation, with a wall-time anchor.
///
/// Cheap to clone (clones share the start and the anchor).
///
/// # Examples
///
/// ```
/// use tollgate_core::Clock;
/// use tollgate_std::clock::StdClock;
///
/// let clock = StdClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// let unix_ms = clock.wall().unix_millis_at(b).unwrap();
/// assert!(unix_ms > 1_700_000_000_000); // after November 2023
/// ```
#[derive(Debug, Clone)]
pub struct StdClock {
    counter: quanta::Clock,
    /// From the counter's raw readings to nanoseconds since the start.
    scale: Scale,
    wall: WallClock<HZ>,
}

impl StdClock {
    /// A clock starting at zero now.
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        // quanta's calibration, read as nanoseconds per 2³² counts (exactly 2³² where quanta
        // falls back to the OS clock, whose readings are nanoseconds already).
        let per_2_32 = counter.delta_as_nanos(0, 1 << 32);
        let scale = Scale::new(counter.raw(), per_2_32).unwrap_or(Scale::NANOS);
        Self {
            counter,
            scale,
            wall: WallClock::new(Instant::from_ticks(0), unix_millis_now()),
        }
    }

    /// The wall-time anchor for epoch-valued headers.
    pub const fn wall(&self) -> WallClock<HZ> {
        self.wall
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock<HZ> for StdClock {
    #[inline]
    fn now(&self) -> Instant {
        // A raw read scaled by one multiply and shift (zero if the counter reads behind the
        // start, as a core migrated to a lagging counter could): no `Duration` on the way.
        Instant::from_ticks(self.scale.ticks(self.counter.raw()))
    }
}

impl Counter for StdClock {
    #[inline]
    fn count(&self) -> u64 {
        self.counter.raw()
    }

    fn scale(&self) -> Scale {
        self.scale
    }
}

/// How a clock's raw counts become its nanosecond ticks: `ticks = (count − origin) · mul / 2³²`
/// (rounded down; zero for counts before the origin), `mul` being nanoseconds per 2³² counts.
///
/// # Examples
///
/// A counter at 2 GHz that started at count 1,000:
///
/// ```
/// use tollgate_std::clock::Scale;
///
/// let s = Scale::new(1_000, 1 << 31).unwrap(); // 2³² counts in 2³¹ ns: 0.5 ns per count
/// assert_eq!(s.ticks(1_000 + 2_000), 1_000);   // 1 µs after the origin
/// assert_eq!(s.ticks(1_000 + 2_001), 1_000);   // rounded down
/// assert_eq!(s.ticks_up(1_000 + 2_001), 1_001); // or up
/// assert_eq!(s.count_at(1_000), 1_000 + 2_001); // the last count at or before 1 µs
/// assert_eq!(s.counts_in(400), 800);
/// assert_eq!(s.ticks_in(801), 401);             // spans round up
/// assert_eq!(Scale::NANOS.ticks(77), 77);       // counts that are nanoseconds convert exactly
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    origin: u64,
    mul: NonZeroU64,
}

impl Scale {
    /// Counts that are nanoseconds from zero: every conversion is the identity.
    pub const NANOS: Self = Self {
        origin: 0,
        mul: NonZeroU64::new(1 << 32).expect("2³² is not zero"),
    };

    /// A scale from `origin` with `mul` nanoseconds per 2³² counts; `None` for zero.
    pub const fn new(origin: u64, mul: u64) -> Option<Self> {
        match NonZeroU64::new(mul) {
            Some(mul) => Some(Self { origin, mul }),
            None => None,
        }
    }

    /// Nanoseconds per 2³² counts.
    pub const fn mul(self) -> NonZeroU64 {
        self.mul
    }

    /// The instant, in nanosecond ticks, of the reading `count` (rounded down, saturating).
    #[inline]
    pub const fn ticks(self, count: u64) -> u64 {
        let counts = count.saturating_sub(self.origin) as u128;
        let ticks = (counts * self.mul.get() as u128) >> 32;
        if ticks > u64::MAX as u128 {
            u64::MAX
        } else {
            ticks as u64
        }
    }

    /// The instant, in nanosecond ticks, of the reading `count`, rounded up (saturating).
    pub const fn ticks_up(self, count: u64) -> u64 {
        self.ticks_in(count.saturating_sub(self.origin))
    }

    /// The last count whose instant is at or before `ticks` (saturating).
    pub const fn count_at(self, ticks: u64) -> u64 {
        // ticks(c) ≤ t ⇔ (c − origin)·mul < (t + 1)·2³².
        let bound = ((ticks as u128 + 1) << 32).div_ceil(self.mul.get() as u128) - 1;
        let count = self.origin as u128 + bound;
        if count > u64::MAX as u128 {
            u64::MAX
        } else {
            count as u64
        }
    }

    /// The counts in a span of `ticks`, rounded up (saturating).
    pub const fn counts_in(self, ticks: u64) -> u64 {
        let counts = ((ticks as u128) << 32).div_ceil(self.mul.get() as u128);
        if counts > u64::MAX as u128 {
            u64::MAX
        } else {
            counts as u64
        }
    }

    /// The ticks in a span of `counts`, rounded up (saturating).
    pub const fn ticks_in(self, counts: u64) -> u64 {
        span_ticks(counts, self.mul)
    }
}

/// `counts` at `mul` nanoseconds per 2³² counts, in nanoseconds, rounded up (saturating).
#[inline]
pub(crate) const fn span_ticks(counts: u64, mul: NonZeroU64) -> u64 {
    let ticks = (counts as u128 * mul.get() as u128).div_ceil(1 << 32);
    if ticks > u64::MAX as u128 {
        u64::MAX
    } else {
        ticks as u64
    }
}

/// A clock that can be read in its own raw counts, without scaling them to nanoseconds.
///
/// [`Limiter`](crate::Limiter) keeps its schedule in counts, so its fast path costs one raw
/// read. The defaults say the counts are the nanosecond ticks themselves, which is right for
/// any clock without a faster raw reading: a clock of your own needs only
/// `impl Counter for MyClock {}`.
pub trait Counter: Clock<HZ> {
    /// A raw reading: `self.scale().ticks(self.count())` is `self.now()`.
    #[inline]
    fn count(&self) -> u64 {
        self.now().as_ticks()
    }

    /// How counts convert to nanoseconds.
    fn scale(&self) -> Scale {
        Scale::NANOS
    }
}

/// A clock that moves only when told to, shareable between threads: for tests and for replaying
/// traces with their own times.
///
/// # Examples
///
/// ```
/// use tollgate_core::Clock;
/// use tollgate_std::clock::FakeClock;
/// use tollgate_std::Duration;
///
/// let clock = FakeClock::new();
/// let other = clock.clone(); // the same time
/// clock.advance(Duration::from_millis(1_500));
/// assert_eq!(other.now().as_ticks(), 1_500_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    nanos: Arc<AtomicU64>,
}

impl FakeClock {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_ticks(), Ordering::SeqCst);
    }

    /// Sets the clock to `to` (earlier is allowed: it is test input).
    pub fn set(&self, to: Instant) {
        self.nanos.store(to.as_ticks(), Ordering::SeqCst);
    }
}

impl Clock<HZ> for FakeClock {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.nanos.load(Ordering::SeqCst))
    }
}

impl Counter for FakeClock {}

/// A clock over tokio's `Instant`: in a runtime with paused time (`tokio::time::pause`, tests
/// with `start_paused`) it moves only as tokio's timer does, so waiting code can be tested
/// without sleeping.
///
/// # Examples
///
/// ```
/// use tollgate_core::Clock;
/// use tollgate_std::clock::TokioClock;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let clock = TokioClock::new();
/// tokio::time::sleep(std::time::Duration::from_secs(90)).await; // no real wait: time is paused
/// assert_eq!(clock.now().as_ticks(), 90_000_000_000);
/// # });
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
    wall: WallClock<HZ>,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock starting at zero now.
    pub fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            wall: WallClock::new(Instant::from_ticks(0), unix_millis_now()),
        }
    }

    /// The wall-time anchor for epoch-valued headers.
    pub const fn wall(&self) -> WallClock<HZ> {
        self.wall
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock<HZ> for TokioClock {
    fn now(&self) -> Instant {
        let elapsed = self.start.elapsed();
        Instant::from_ticks(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(feature = "tokio")]
impl Counter for TokioClock {}

/// Milliseconds since 1970 by the system's wall clock (0 before 1970, which no system sets).
pub(crate) fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_clock_counts_nanoseconds_like_the_os_clock() {
        let clock = StdClock::new();
        let os = std::time::Instant::now();
        let a = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = clock.now();
        let os_elapsed = u64::try_from(os.elapsed().as_nanos()).unwrap();
        let elapsed = b.as_ticks() - a.as_ticks();
        assert!(elapsed >= 20_000_000, "{elapsed} ns for a 20 ms sleep");
        // The counter is calibrated against the OS clock: within 5% over 20 ms.
        assert!(
            elapsed <= os_elapsed + os_elapsed / 20,
            "{elapsed} vs {os_elapsed}"
        );
    }

    #[test]
    fn wall_anchor_is_now() {
        let clock = StdClock::new();
        let ms = clock.wall().unix_millis_at(clock.now()).unwrap();
        assert!(ms.abs_diff(unix_millis_now()) < 1_000);
    }
}
