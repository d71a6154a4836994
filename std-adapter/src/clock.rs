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
//! Headers that carry epoch seconds need the wall time of an instant: each clock takes a
//! [`WallClock`] anchor when it is created (both clocks read once, back to back) and converts with
//! it from then on, so a wall clock stepped by NTP later never makes a reset go backwards.

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
    /// The counter's raw reading at the start.
    start: u64,
    wall: WallClock<HZ>,
}

impl StdClock {
    /// A clock starting at zero now.
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        let start = counter.raw();
        Self {
            counter,
            start,
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
        Instant::from_ticks(self.counter.delta_as_nanos(self.start, self.counter.raw()))
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
