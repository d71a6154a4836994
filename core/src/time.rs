//! Instants, durations and clocks.
//!
//! Time in tollgate is a count of ticks of a clock running at `HZ` ticks per second, held in a
//! `u64`: [`Instant<HZ>`] and [`Duration<HZ>`] are fugit's `u64` types. One crate therefore serves
//! embassy's `TICK_HZ`, a 1 kHz systick, a 32.768 kHz RTC and nanosecond host clocks alike.
//!
//! The algorithms never read a clock: every decision takes `now` as an argument. A [`Clock`] lives
//! at the edges (the adapters), and [`ManualClock`] drives tests and simulations.
//!
//! # Usable range
//!
//! A `u64` of ticks lasts 584 years at 1 GHz and 584,942 years at 1 MHz. Arithmetic near the end of
//! that range saturates at `u64::MAX` and is never allowed to wrap: a limiter whose state reaches the
//! end of time stays closed rather than opening.

use core::cell::Cell;

/// A point in time, in ticks of a clock running at `HZ` ticks per second since an arbitrary epoch.
pub type Instant<const HZ: u64> = fugit::MonotonicTimerInstantU64<HZ>;

/// A span of time, in ticks of a clock running at `HZ` ticks per second.
pub type Duration<const HZ: u64> = fugit::TimerDurationU64<HZ>;

/// A source of the current instant, for adapters and callers that want one.
///
/// Algorithms never call this; they take `now` as an argument.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Clock, ManualClock, Duration};
///
/// fn stamp<C: Clock<1_000>>(clock: &C) -> u64 {
///     clock.now().as_ticks()
/// }
/// let clock = ManualClock::<1_000>::new();
/// clock.advance(Duration::<1_000>::from_millis(250));
/// assert_eq!(stamp(&clock), 250);
/// ```
pub trait Clock<const HZ: u64> {
    /// The current instant.
    fn now(&self) -> Instant<HZ>;
}

impl<const HZ: u64, C: Clock<HZ> + ?Sized> Clock<HZ> for &C {
    fn now(&self) -> Instant<HZ> {
        (**self).now()
    }
}

/// A clock that only moves when told to: for tests, simulations and replaying traces.
///
/// It uses a `Cell`, so it is not `Sync`; give each thread its own or wrap it in the adapter's lock.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Clock, ManualClock, Duration, Instant};
///
/// let clock = ManualClock::<1_000_000>::starting_at(Instant::<1_000_000>::from_ticks(5));
/// clock.advance(Duration::<1_000_000>::from_micros(10));
/// assert_eq!(clock.now().as_ticks(), 15);
/// clock.set(Instant::<1_000_000>::from_ticks(3)); // going backwards is allowed: it is test input
/// assert_eq!(clock.now().as_ticks(), 3);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock<const HZ: u64> {
    ticks: Cell<u64>,
}

impl<const HZ: u64> ManualClock<HZ> {
    /// A clock at tick zero.
    pub const fn new() -> Self {
        Self {
            ticks: Cell::new(0),
        }
    }

    /// A clock at `start`.
    pub const fn starting_at(start: Instant<HZ>) -> Self {
        Self {
            ticks: Cell::new(start.as_ticks()),
        }
    }

    /// Moves the clock forward by `by`, saturating at the end of time.
    pub fn advance(&self, by: Duration<HZ>) {
        self.ticks
            .set(self.ticks.get().saturating_add(by.as_ticks()));
    }

    /// Puts the clock at `to`, which may be earlier than now.
    pub fn set(&self, to: Instant<HZ>) {
        self.ticks.set(to.as_ticks());
    }
}

impl<const HZ: u64> Clock<HZ> for ManualClock<HZ> {
    fn now(&self) -> Instant<HZ> {
        Instant::from_ticks(self.ticks.get())
    }
}

/// `ms` milliseconds as ticks of a clock running at `hz` ticks per second, rounded up (so a wait
/// converted this way is never shorter than asked), or `None` when that does not fit in a `u64`.
#[inline]
pub(crate) const fn ticks_from_millis_ceil(ms: u64, hz: u64) -> Option<u64> {
    let ticks = (ms as u128).saturating_mul(hz as u128).div_ceil(1_000);
    if ticks > u64::MAX as u128 {
        None
    } else {
        Some(ticks as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_become_ticks_rounded_up_or_none_when_they_do_not_fit() {
        assert_eq!(ticks_from_millis_ceil(1, 32_768), Some(33)); // 32.768, up
        assert_eq!(ticks_from_millis_ceil(1_500, 1_000), Some(1_500));
        assert_eq!(ticks_from_millis_ceil(1, 1), Some(1));
        assert_eq!(ticks_from_millis_ceil(0, 1_000_000_000), Some(0));
        assert_eq!(ticks_from_millis_ceil(u64::MAX, 1_000), Some(u64::MAX));
        assert_eq!(ticks_from_millis_ceil(u64::MAX, 1_001), None);
        assert_eq!(ticks_from_millis_ceil(u64::MAX, u64::MAX), None);
    }

    #[test]
    fn manual_clock_saturates_at_the_end_of_time() {
        let c = ManualClock::<1>::starting_at(Instant::<1>::from_ticks(u64::MAX - 1));
        c.advance(Duration::<1>::from_ticks(5));
        assert_eq!(c.now().as_ticks(), u64::MAX);
    }

    #[test]
    fn a_clock_reference_is_a_clock() {
        let c = ManualClock::<10>::new();
        c.advance(Duration::<10>::from_ticks(7));
        let r: &dyn Clock<10> = &c;
        assert_eq!((&r).now().as_ticks(), 7);
    }
}
