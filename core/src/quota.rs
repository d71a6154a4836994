//! Quotas: how much, over how long, and how much at once, validated once, at construction; and
//! the [`Allowance`] every limit reports, its promise as its user wrote it.

use crate::error::ConfigError;
use crate::time::Duration;

/// A rate: `limit` requests per `window`, of which up to `burst` may arrive at once.
///
/// The windowed algorithms count `limit` per `window` and ignore the burst: [`SlidingLog`](crate::SlidingLog) never
/// admits more than `limit` in any window of length `window` and admits exactly up to it;
/// [`SlidingWindow`](crate::SlidingWindow) never admits more either, but may admit less (see its
/// under-admission bound). The continuous ones ([`Gcra`](crate::Gcra), the leaky-bucket [`Meter`](crate::Meter)
/// and [`Shaper`](crate::Shaper)) admit one request per [`interval`](Quota::interval) with `burst` of slack.
///
/// The interval is `window / limit` rounded **up** to whole ticks, so rounding can only make a
/// limiter stricter than asked, never looser. A quota whose window holds fewer ticks than its
/// limit is rejected ([`ConfigError::RateTooFine`]) rather than silently rounded.
///
/// Every constructor is a `const fn`, so a quota (and a limiter built from it) can live in a
/// `static`:
///
/// ```
/// use tollgate_core::{Quota, Gcra};
///
/// const PER_NUMBER: Quota<1_000> = match Quota::per_second(1) {
///     Ok(q) => q,
///     Err(_) => panic!("invalid quota"), // a compile-time error, never a run-time panic
/// };
/// static LIMITER: Gcra<1_000> = Gcra::new(PER_NUMBER);
/// assert_eq!(LIMITER.quota().interval().as_ticks(), 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quota<const HZ: u64> {
    limit: u32,
    burst: u32,
    window: u64,
    interval: u64,
}

impl<const HZ: u64> Quota<HZ> {
    /// `limit` requests per `window`, with a burst of `limit`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroLimit`], [`ConfigError::ZeroWindow`], [`ConfigError::RateTooFine`]
    /// when `window` has fewer ticks than `limit`, or [`ConfigError::Overflow`] when `limit`
    /// intervals (the default burst) do not fit in a `u64` of ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Quota, Duration, ConfigError};
    ///
    /// let q = Quota::<1_000>::new(900, Duration::<1_000>::from_secs(15 * 60))?;
    /// assert_eq!((q.limit(), q.burst(), q.interval().as_ticks()), (900, 900, 1_000));
    /// // 3 per 10 ms at 1 kHz: the interval rounds up from 3.33 to 4 ticks, never down.
    /// assert_eq!(Quota::<1_000>::new(3, Duration::<1_000>::from_millis(10))?.interval().as_ticks(), 4);
    /// assert_eq!(Quota::<1_000>::new(20, Duration::<1_000>::from_millis(10)), Err(ConfigError::RateTooFine));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub const fn new(limit: u32, window: Duration<HZ>) -> Result<Self, ConfigError> {
        let window = window.as_ticks();
        if limit == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        if window == 0 {
            return Err(ConfigError::ZeroWindow);
        }
        if window < limit as u64 {
            return Err(ConfigError::RateTooFine);
        }
        let interval = window.div_ceil(limit as u64);
        Self {
            limit,
            burst: limit,
            window,
            interval,
        }
        .with_burst(limit)
    }

    /// `limit` requests per `secs` seconds of `HZ` ticks.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), plus [`ConfigError::Overflow`] when `secs * HZ` does not fit in a
    /// `u64`.
    pub const fn per_seconds(limit: u32, secs: u64) -> Result<Self, ConfigError> {
        match secs.checked_mul(HZ) {
            Some(ticks) => Self::new(limit, Duration::<HZ>::from_ticks(ticks)),
            None => Err(ConfigError::Overflow),
        }
    }

    /// `limit` requests per second.
    ///
    /// # Errors
    ///
    /// As [`per_seconds`](Self::per_seconds).
    pub const fn per_second(limit: u32) -> Result<Self, ConfigError> {
        Self::per_seconds(limit, 1)
    }

    /// `limit` requests per minute.
    ///
    /// # Errors
    ///
    /// As [`per_seconds`](Self::per_seconds).
    pub const fn per_minute(limit: u32) -> Result<Self, ConfigError> {
        Self::per_seconds(limit, 60)
    }

    /// `limit` requests per hour.
    ///
    /// # Errors
    ///
    /// As [`per_seconds`](Self::per_seconds).
    pub const fn per_hour(limit: u32) -> Result<Self, ConfigError> {
        Self::per_seconds(limit, 3_600)
    }

    /// `limit` requests per day (86,400 s).
    ///
    /// # Errors
    ///
    /// As [`per_seconds`](Self::per_seconds).
    pub const fn per_day(limit: u32) -> Result<Self, ConfigError> {
        Self::per_seconds(limit, 86_400)
    }

    /// The same rate with a different burst: how many requests may arrive at once from rest.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroBurst`], or [`ConfigError::Overflow`] when `burst` intervals do not fit
    /// in a `u64` of ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::Quota;
    ///
    /// let q = Quota::<1_000>::per_second(1)?.with_burst(10)?; // 1/s averaged over 10 s
    /// assert_eq!((q.burst(), q.interval().as_ticks()), (10, 1_000));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub const fn with_burst(self, burst: u32) -> Result<Self, ConfigError> {
        if burst == 0 {
            return Err(ConfigError::ZeroBurst);
        }
        if self.interval.checked_mul(burst as u64).is_none() {
            return Err(ConfigError::Overflow);
        }
        Ok(Self { burst, ..self })
    }

    /// Requests per window.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// Requests that may arrive at once from rest.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// The window the limit is counted over.
    pub const fn window(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.window)
    }

    /// The emission interval: `window / limit`, rounded up to whole ticks.
    pub const fn interval(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.interval)
    }

    /// `limit` per `window`, as written.
    pub const fn allowance(&self) -> Allowance<HZ> {
        Allowance::PerWindow {
            count: self.limit,
            window: self.window(),
        }
    }

    /// `burst * interval` in ticks; validated at construction not to overflow.
    pub(crate) const fn burst_ticks(&self) -> u64 {
        // Checked at construction by `with_burst`.
        self.interval.saturating_mul(self.burst as u64)
    }
}

/// What a limit allows, as its user wrote it: "900 per 15 minutes", "5 at once", or nothing.
///
/// A [`Decision`](crate::Decision)'s `limit` is what passes at once from rest (for GCRA, the burst); the
/// allowance is the promise behind it, which headers such as the IETF `RateLimit-Policy` quote.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Allowance, Concurrency, Duration, Gcra, Quota, Unlimited};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_seconds(900, 900)?.with_burst(5)?);
/// assert_eq!(gcra.allowance(), Allowance::PerWindow { count: 900, window: Duration::from_secs(900) });
/// assert_eq!(Algorithm::<1_000>::allowance(&Concurrency::<1_000>::new(5)?), Allowance::InFlight { count: 5 });
/// assert_eq!(Algorithm::<1_000>::allowance(&Unlimited), Allowance::Unlimited);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Allowance<const HZ: u64> {
    /// `count` per `window`: a rate, a sliding log or a sliding window.
    PerWindow {
        /// Requests per window.
        count: u32,
        /// The window.
        window: Duration<HZ>,
    },
    /// At most `count` in flight at once.
    InFlight {
        /// The most in flight.
        count: u32,
    },
    /// No limit at all: every request is admitted.
    Unlimited,
}

impl<const HZ: u64> Allowance<HZ> {
    /// The count (`None` when unlimited).
    pub const fn count(&self) -> Option<u32> {
        match *self {
            Self::PerWindow { count, .. } | Self::InFlight { count } => Some(count),
            Self::Unlimited => None,
        }
    }

    /// The window (`None` for a concurrency limit or no limit).
    pub const fn window(&self) -> Option<Duration<HZ>> {
        match *self {
            Self::PerWindow { window, .. } => Some(window),
            Self::InFlight { .. } | Self::Unlimited => None,
        }
    }

    /// Whether this is no limit at all.
    pub const fn is_unlimited(&self) -> bool {
        matches!(self, Self::Unlimited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_too_fine_quotas_are_typed_errors() {
        assert_eq!(Quota::<1_000>::per_second(0), Err(ConfigError::ZeroLimit));
        assert_eq!(
            Quota::<1_000>::new(1, Duration::<1_000>::from_ticks(0)),
            Err(ConfigError::ZeroWindow)
        );
        assert_eq!(
            Quota::<1_000>::per_second(1_001),
            Err(ConfigError::RateTooFine)
        );
        assert_eq!(
            Quota::<1_000>::per_second(1).unwrap().with_burst(0),
            Err(ConfigError::ZeroBurst)
        );
    }

    #[test]
    fn overflowing_quotas_are_typed_errors() {
        assert_eq!(
            Quota::<{ u64::MAX }>::per_minute(1),
            Err(ConfigError::Overflow)
        );
        let slow = Quota::<1>::new(1, Duration::<1>::from_ticks(u64::MAX)).unwrap();
        assert_eq!(slow.with_burst(2), Err(ConfigError::Overflow));
        assert_eq!(slow.with_burst(1).map(|q| q.burst_ticks()), Ok(u64::MAX));
    }

    #[test]
    fn the_interval_rounds_up_so_the_limit_is_never_exceeded() {
        for limit in 1..200u32 {
            let q = Quota::<1_000>::new(limit, Duration::<1_000>::from_ticks(997)).unwrap();
            assert!(q.interval().as_ticks() * u64::from(limit) >= 997);
            assert!((q.interval().as_ticks() - 1) * u64::from(limit) < 997);
        }
    }

    #[test]
    fn named_windows_have_the_right_length() {
        assert_eq!(
            Quota::<1_000>::per_minute(300)
                .unwrap()
                .interval()
                .as_ticks(),
            200
        );
        assert_eq!(Quota::<1>::per_hour(8_800), Err(ConfigError::RateTooFine));
        assert_eq!(
            Quota::<1_000>::per_hour(8_800).unwrap().window().as_ticks(),
            3_600_000
        );
        assert_eq!(
            Quota::<1_000_000>::per_day(105_600)
                .unwrap()
                .window()
                .as_ticks(),
            86_400_000_000
        );
    }
}
