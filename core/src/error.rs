//! Typed errors. A denial is not an error: it is a [`Decision`](crate::Decision) that says when to
//! retry. Errors are for input that can never succeed.

use core::fmt;

/// A limit description that cannot be enforced exactly.
///
/// Returned by every constructor that validates configuration, so a bad quota is caught once, at
/// construction, never while deciding.
///
/// # Examples
///
/// ```
/// use tollgate_core::{ConfigError, Duration, Quota};
///
/// assert_eq!(Quota::<1_000>::per_second(0), Err(ConfigError::ZeroLimit));
/// assert_eq!(Quota::<1_000>::new(5, Duration::<1_000>::from_ticks(0)), Err(ConfigError::ZeroWindow));
/// // 5 000 per second on a 1 kHz clock is finer than one tick.
/// assert_eq!(Quota::<1_000>::per_second(5_000), Err(ConfigError::RateTooFine));
/// assert_eq!(Quota::<1_000>::per_second(5)?.with_burst(0), Err(ConfigError::ZeroBurst));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The limit (requests per window) is zero. Use no limit at all, or an explicit "unlimited"
    /// policy entry, rather than a zero limit.
    ZeroLimit,
    /// The window is zero ticks long.
    ZeroWindow,
    /// The burst is zero, so not even one request could ever pass.
    ZeroBurst,
    /// The window holds fewer ticks than the limit has requests: one request per tick would already
    /// be slower than asked, so the clock is too coarse for this rate.
    RateTooFine,
    /// A product or sum of the configured values does not fit in 64 bits of ticks.
    Overflow,
    /// The window is longer than the state's time stamps can represent (see the algorithm's docs).
    WindowTooLong,
    /// A fixed-capacity state cannot hold what this configuration needs.
    CapacityTooSmall,
    /// The window is split into more sub-windows than it has ticks, so a sub-window would be
    /// shorter than one clock tick.
    GranularityTooFine,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroLimit => "the limit is zero",
            Self::ZeroWindow => "the window is zero ticks long",
            Self::ZeroBurst => "the burst is zero",
            Self::RateTooFine => "the rate is finer than one clock tick",
            Self::Overflow => "the configuration overflows 64-bit tick arithmetic",
            Self::WindowTooLong => "the window is longer than the state's time stamps can hold",
            Self::CapacityTooSmall => "the state's capacity is too small for this configuration",
            Self::GranularityTooFine => "the window's sub-windows would be shorter than one tick",
        })
    }
}

impl core::error::Error for ConfigError {}

impl ConfigError {
    /// Stops with this error's message: the failure branch of the `valid!` macro, for
    /// configurations built in a `const` or `static`, where it becomes a **compile-time error**.
    ///
    /// # Panics
    ///
    /// Always. At run time, handle the `Result` instead (the constructors that return it are
    /// the non-panicking twins).
    #[track_caller]
    #[allow(
        clippy::panic,
        reason = "compile-time validation of const configuration"
    )]
    pub const fn reject(self) -> ! {
        match self {
            Self::ZeroLimit => panic!("invalid tollgate configuration: the limit is zero"),
            Self::ZeroWindow => panic!("invalid tollgate configuration: the window is zero ticks"),
            Self::ZeroBurst => panic!("invalid tollgate configuration: the burst is zero"),
            Self::RateTooFine => {
                panic!("invalid tollgate configuration: the rate is finer than one clock tick")
            }
            Self::Overflow => {
                panic!("invalid tollgate configuration: it overflows 64-bit tick arithmetic")
            }
            Self::WindowTooLong => panic!(
                "invalid tollgate configuration: the window is longer than the time stamps hold"
            ),
            Self::CapacityTooSmall => {
                panic!("invalid tollgate configuration: the state's capacity is too small")
            }
            Self::GranularityTooFine => panic!(
                "invalid tollgate configuration: the sub-windows would be shorter than one tick"
            ),
        }
    }
}

/// A request whose cost exceeds what a limit can ever admit at once.
///
/// Distinct from a denial: waiting would never help, so no retry instant exists and nothing was
/// recorded. A single algorithm answers it with `index: None`; a [`Policy`](crate::Policy) names
/// the limit, by its position in declaration order, with the smallest capacity (after test
/// overrides; the first declared among equals).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, InsufficientCapacity};
///
/// let gcra = Gcra::new(Quota::<1_000>::per_second(5)?);
/// let mut state = gcra.new_state();
/// let err = gcra.check(&mut state, Instant::<1_000>::from_ticks(0), 6).unwrap_err();
/// assert_eq!(err, InsufficientCapacity::new(6, 5));
/// assert_eq!((err.cost, err.capacity, err.index), (6, 5, None));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InsufficientCapacity {
    /// The cost asked for.
    pub cost: u32,
    /// The most that can ever be admitted at once (a lowered value when a test override lowered
    /// it).
    pub capacity: u32,
    /// In a policy, the position of the limit that can never admit the cost.
    pub index: Option<usize>,
}

impl InsufficientCapacity {
    /// A cost that can never fit a single limit of `capacity`.
    pub const fn new(cost: u32, capacity: u32) -> Self {
        Self {
            cost,
            capacity,
            index: None,
        }
    }

    /// The same, naming the policy limit at `index`.
    #[must_use]
    pub const fn at(self, index: usize) -> Self {
        Self {
            index: Some(index),
            ..self
        }
    }
}

impl fmt::Display for InsufficientCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a cost of {} can never fit a capacity of {}",
            self.cost, self.capacity
        )?;
        match self.index {
            Some(i) => write!(f, " (limit {i})"),
            None => Ok(()),
        }
    }
}

impl core::error::Error for InsufficientCapacity {}

/// More was released from a concurrency limit than is in flight.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Concurrency, ReleaseError};
///
/// let limit = Concurrency::<1_000>::new(4)?;
/// let mut s = limit.new_state();
/// let _permit = limit.try_acquire(&mut s).unwrap();
/// assert_eq!(limit.release(&mut s, 2), Err(ReleaseError { released: 2, in_flight: 1 }));
/// assert_eq!(s.in_flight(), 1); // a failed release changes nothing
/// assert_eq!(limit.release(&mut s, 1), Ok(()));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReleaseError {
    /// The amount asked to release.
    pub released: u32,
    /// The amount that was in flight (and still is: a failed release changes nothing).
    pub in_flight: u32,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "released {} but only {} in flight",
            self.released, self.in_flight
        )
    }
}

impl core::error::Error for ReleaseError {}

/// An index that is not in range for the list it points into.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Decision, Duration, IndexOutOfRange, Instant, Report, ReportSet};
///
/// let reports: [Report<'_, 1_000>; 0] = [];
/// let now = Instant::<1_000>::from_ticks(0);
/// assert_eq!(ReportSet::new(now, &reports, Some(1)), Err(IndexOutOfRange { index: 1, len: 0 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IndexOutOfRange {
    /// The index given.
    pub index: usize,
    /// How many elements there are.
    pub len: usize,
}

impl fmt::Display for IndexOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "index {} is out of range for {} elements",
            self.index, self.len
        )
    }
}

impl core::error::Error for IndexOutOfRange {}

/// A configuration that must be valid, checked when the program is built: one readable line for
/// a limiter in a `static`.
///
/// `valid!(expr)` is the `Ok` value of a `Result<T, ConfigError>` (or of the pacer's
/// `BackoffError`). Further arguments are methods applied in turn, each also returning a
/// `Result`: `valid!(Quota::per_minute(300), with_burst(5))`. In a `const` or `static` an error is
/// a compile error with its message; at run time it panics, so there prefer `?`.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, valid};
///
/// static API: Gcra<1_000> = Gcra::new(valid!(Quota::per_minute(300), with_burst(5)));
/// assert_eq!(API.quota().burst(), 5);
/// ```
///
/// A bad quota does not build:
///
/// ```compile_fail
/// use tollgate_core::{Gcra, Quota, valid};
///
/// static NEVER: Gcra<1_000> = Gcra::new(valid!(Quota::per_minute(0))); // the limit is zero
/// ```
#[macro_export]
macro_rules! valid {
    ($first:expr $(, $method:ident ( $($arg:expr),* $(,)? ))* $(,)?) => {{
        let value = match $first {
            ::core::result::Result::Ok(value) => value,
            ::core::result::Result::Err(error) => error.reject(),
        };
        $(
            let value = match value.$method($($arg),*) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => error.reject(),
            };
        )*
        value
    }};
}
