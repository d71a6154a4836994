//! One type over every algorithm, for limits chosen at run time.
//!
//! A policy read from a configuration file ("300 per minute as a sliding log, 5 at once, 2,000
//! per day as GCRA") cannot name its algorithms in its type. [`AnyLimit`] is an enum over all
//! of them that is itself an [`Algorithm`], so a runtime list of `AnyLimit`s is a policy like any
//! other, decided all-or-nothing by the same code, with no allocation in the core: the sliding
//! log and window keep their elements in the storage `S` the caller picks
//! ([`Inline<N>`](crate::algorithm::storage::Inline) on firmware, a boxed storage on a server).
//!
//! # Examples
//!
//! ```
//! use tollgate_core::algorithm::storage::Inline;
//! use tollgate_core::{AnyLimit, Concurrency, Duration, Gcra, Instant, Named, Policy, Quota, valid};
//!
//! type Limit = AnyLimit<1_000, Inline<300>>;
//! let minute = Limit::sliding_log(300, Duration::from_secs(60), 300)?; // as a file might say
//! let limits = [
//!     Named::new("concurrent", Limit::Concurrency(Concurrency::new(5)?)),
//!     Named::new("minute", minute),
//!     Named::new("day", Limit::Gcra(Gcra::new(valid!(Quota::per_day(2_000))))),
//! ];
//! let policy = Policy::new(&limits[..]);
//! let mut state = [limits[0].algorithm().new_state(), minute.new_state(), limits[2].algorithm().new_state()];
//! let mut reports = [tollgate_core::Report::EMPTY; 3];
//! let d = policy.check_into(&mut state, Instant::from_ticks(0), 1, &tollgate_core::Overrides::NONE, &mut reports)?;
//! assert!(d.is_allowed());
//! assert_eq!(d.reports()[1].decision.remaining, 299);
//! # use tollgate_core::Algorithm;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::algorithm::concurrency::{Concurrency, ConcurrencyState, ConcurrencyStep};
use crate::algorithm::gcra::{Gcra, GcraState, GcraStep};
use crate::algorithm::leaky_bucket::{
    Meter, MeterState, MeterStep, Shaper, ShaperState, ShaperStep,
};
use crate::algorithm::sliding_log::{LogStateIn, LogStep, Offset, SlidingLogIn};
use crate::algorithm::sliding_window::{SlidingWindowIn, WindowStateIn, WindowStep};
use crate::algorithm::storage::Storage;
use crate::algorithm::unlimited::Unlimited;
use crate::algorithm::{Algorithm, Allowance, Decision};
use crate::error::{ConfigError, InsufficientCapacity, ReleaseError};
use crate::time::{Duration, Instant};

/// Any of tollgate's algorithms, chosen at run time: see the [module docs](self).
///
/// `S` is where sliding logs and windows keep their elements, and `O` the sliding log's time
/// stamp type (`u64` unless given, which holds any window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnyLimit<const HZ: u64, S: Storage, O: Offset = u64> {
    /// A rate with a burst.
    Gcra(Gcra<HZ>),
    /// A rate with a burst, as a leaky bucket.
    Meter(Meter<HZ>),
    /// A rate that queues and delays instead of refusing.
    Shaper(Shaper<HZ>),
    /// Exactly N in every rolling window.
    SlidingLog(SlidingLogIn<HZ, O, S>),
    /// At most N per window, memory independent of N.
    SlidingWindow(SlidingWindowIn<HZ, S>),
    /// At most N in flight.
    Concurrency(Concurrency<HZ>),
    /// No limit.
    Unlimited,
}

/// The state of an [`AnyLimit`]: the state of whichever algorithm it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnyState<S: Storage, O: Offset = u64> {
    /// A [`Gcra`] state.
    Gcra(GcraState),
    /// A [`Meter`] state.
    Meter(MeterState),
    /// A [`Shaper`] state.
    Shaper(ShaperState),
    /// A sliding log state.
    SlidingLog(LogStateIn<O, S>),
    /// A sliding window state.
    SlidingWindow(WindowStateIn<S>),
    /// A [`Concurrency`] state.
    Concurrency(ConcurrencyState),
    /// No state.
    Unlimited,
}

/// What one look at an [`AnyLimit`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnyStep {
    /// A [`Gcra`] step.
    Gcra(GcraStep),
    /// A [`Meter`] step.
    Meter(MeterStep),
    /// A [`Shaper`] step.
    Shaper(ShaperStep),
    /// A sliding log step.
    SlidingLog(LogStep),
    /// A sliding window step.
    SlidingWindow(WindowStep),
    /// A [`Concurrency`] step.
    Concurrency(ConcurrencyStep),
    /// Nothing to look at.
    Unlimited,
}

impl<const HZ: u64, S: Storage, O: Offset> AnyLimit<HZ, S, O> {
    /// A sliding log of `limit` per `window` over `entries` ring entries (see
    /// [`SlidingLogIn::with_capacity`]).
    ///
    /// # Errors
    ///
    /// As [`SlidingLogIn::with_capacity`].
    pub fn sliding_log(
        limit: u32,
        window: Duration<HZ>,
        entries: usize,
    ) -> Result<Self, ConfigError> {
        SlidingLogIn::with_capacity(limit, window, entries).map(Self::SlidingLog)
    }

    /// A sliding window of `limit` per `window` in `buckets` buckets (see
    /// [`SlidingWindowIn::with_buckets`]).
    ///
    /// # Errors
    ///
    /// As [`SlidingWindowIn::with_buckets`].
    pub fn sliding_window(
        limit: u32,
        window: Duration<HZ>,
        buckets: usize,
    ) -> Result<Self, ConfigError> {
        SlidingWindowIn::with_buckets(limit, window, buckets).map(Self::SlidingWindow)
    }
}

impl<const HZ: u64, S: Storage, O: Offset> Algorithm<HZ> for AnyLimit<HZ, S, O> {
    type State = AnyState<S, O>;
    type Step = AnyStep;

    fn new_state(&self) -> AnyState<S, O> {
        match self {
            Self::Gcra(a) => AnyState::Gcra(a.new_state()),
            Self::Meter(a) => AnyState::Meter(a.new_state()),
            Self::Shaper(a) => AnyState::Shaper(a.new_state()),
            Self::SlidingLog(a) => AnyState::SlidingLog(Algorithm::<HZ>::new_state(a)),
            Self::SlidingWindow(a) => AnyState::SlidingWindow(Algorithm::<HZ>::new_state(a)),
            Self::Concurrency(a) => AnyState::Concurrency(a.new_state()),
            Self::Unlimited => AnyState::Unlimited,
        }
    }

    fn capacity(&self) -> u32 {
        match self {
            Self::Gcra(a) => Algorithm::<HZ>::capacity(a),
            Self::Meter(a) => Algorithm::<HZ>::capacity(a),
            Self::Shaper(a) => Algorithm::<HZ>::capacity(a),
            Self::SlidingLog(a) => Algorithm::<HZ>::capacity(a),
            Self::SlidingWindow(a) => Algorithm::<HZ>::capacity(a),
            Self::Concurrency(a) => Algorithm::<HZ>::capacity(a),
            Self::Unlimited => Algorithm::<HZ>::capacity(&Unlimited),
        }
    }

    fn allowance(&self) -> Allowance<HZ> {
        match self {
            Self::Gcra(a) => a.allowance(),
            Self::Meter(a) => a.allowance(),
            Self::Shaper(a) => a.allowance(),
            Self::SlidingLog(a) => a.allowance(),
            Self::SlidingWindow(a) => a.allowance(),
            Self::Concurrency(a) => a.allowance(),
            Self::Unlimited => Allowance::Unlimited,
        }
    }

    #[inline]
    fn step(
        &self,
        state: &AnyState<S, O>,
        now: Instant<HZ>,
        cost: u32,
    ) -> Result<AnyStep, InsufficientCapacity> {
        Ok(match (self, state) {
            (Self::Unlimited, _) => AnyStep::Unlimited,
            (Self::Gcra(a), AnyState::Gcra(s)) => AnyStep::Gcra(a.step(s, now, cost)?),
            (Self::Gcra(a), _) => AnyStep::Gcra(a.step(&a.new_state(), now, cost)?),
            (Self::Meter(a), AnyState::Meter(s)) => AnyStep::Meter(a.step(s, now, cost)?),
            (Self::Meter(a), _) => AnyStep::Meter(a.step(&a.new_state(), now, cost)?),
            (Self::Shaper(a), AnyState::Shaper(s)) => AnyStep::Shaper(a.step(s, now, cost)?),
            (Self::Shaper(a), _) => AnyStep::Shaper(a.step(&a.new_state(), now, cost)?),
            (Self::SlidingLog(a), AnyState::SlidingLog(s)) => {
                AnyStep::SlidingLog(a.step(s, now, cost)?)
            }
            (Self::SlidingLog(a), _) => {
                AnyStep::SlidingLog(a.step(&Algorithm::<HZ>::new_state(a), now, cost)?)
            }
            (Self::SlidingWindow(a), AnyState::SlidingWindow(s)) => {
                AnyStep::SlidingWindow(a.step(s, now, cost)?)
            }
            (Self::SlidingWindow(a), _) => {
                AnyStep::SlidingWindow(a.step(&Algorithm::<HZ>::new_state(a), now, cost)?)
            }
            (Self::Concurrency(a), AnyState::Concurrency(s)) => {
                AnyStep::Concurrency(a.step(s, now, cost)?)
            }
            (Self::Concurrency(a), _) => AnyStep::Concurrency(a.step(&a.new_state(), now, cost)?),
        })
    }

    #[inline]
    fn admits(&self, step: &AnyStep) -> bool {
        match (self, step) {
            (Self::Gcra(a), AnyStep::Gcra(s)) => a.admits(s),
            (Self::Meter(a), AnyStep::Meter(s)) => a.admits(s),
            (Self::Shaper(a), AnyStep::Shaper(s)) => a.admits(s),
            (Self::SlidingLog(a), AnyStep::SlidingLog(s)) => a.admits(s),
            (Self::SlidingWindow(a), AnyStep::SlidingWindow(s)) => a.admits(s),
            (Self::Concurrency(a), AnyStep::Concurrency(s)) => a.admits(s),
            (Self::Unlimited, _) => true,
            // A step taken by another configuration: it admits nothing here.
            _ => false,
        }
    }

    fn decision(&self, state: &AnyState<S, O>, step: &AnyStep, recorded: bool) -> Decision<HZ> {
        // A state of another kind decides as a fresh one (see `step`).
        macro_rules! decide {
            ($a:expr, $variant:ident, $st:expr) => {
                match state {
                    AnyState::$variant(s) => $a.decision(s, $st, recorded),
                    _ => $a.decision(&Algorithm::<HZ>::new_state($a), $st, recorded),
                }
            };
        }
        match (self, step) {
            (Self::Gcra(a), AnyStep::Gcra(st)) => decide!(a, Gcra, st),
            (Self::Meter(a), AnyStep::Meter(st)) => decide!(a, Meter, st),
            (Self::Shaper(a), AnyStep::Shaper(st)) => decide!(a, Shaper, st),
            (Self::SlidingLog(a), AnyStep::SlidingLog(st)) => decide!(a, SlidingLog, st),
            (Self::SlidingWindow(a), AnyStep::SlidingWindow(st)) => decide!(a, SlidingWindow, st),
            (Self::Concurrency(a), AnyStep::Concurrency(st)) => decide!(a, Concurrency, st),
            _ => Algorithm::<HZ>::decision(&Unlimited, &(), &(), recorded),
        }
    }

    fn record(&self, state: &mut AnyState<S, O>, step: &AnyStep) {
        if !self.admits(step) {
            return;
        }
        if !self.owns(state) {
            // A state of another configuration: it starts afresh here.
            *state = self.new_state();
        }
        match (self, state, step) {
            (Self::Gcra(a), AnyState::Gcra(s), AnyStep::Gcra(st)) => a.record(s, st),
            (Self::Meter(a), AnyState::Meter(s), AnyStep::Meter(st)) => a.record(s, st),
            (Self::Shaper(a), AnyState::Shaper(s), AnyStep::Shaper(st)) => a.record(s, st),
            (Self::SlidingLog(a), AnyState::SlidingLog(s), AnyStep::SlidingLog(st)) => {
                a.record(s, st);
            }
            (Self::SlidingWindow(a), AnyState::SlidingWindow(s), AnyStep::SlidingWindow(st)) => {
                a.record(s, st);
            }
            (Self::Concurrency(a), AnyState::Concurrency(s), AnyStep::Concurrency(st)) => {
                a.record(s, st);
            }
            _ => {}
        }
    }

    fn is_at_rest(&self, state: &AnyState<S, O>, now: Instant<HZ>) -> bool {
        match (self, state) {
            (Self::Gcra(a), AnyState::Gcra(s)) => a.is_at_rest(s, now),
            (Self::Meter(a), AnyState::Meter(s)) => a.is_at_rest(s, now),
            (Self::Shaper(a), AnyState::Shaper(s)) => a.is_at_rest(s, now),
            (Self::SlidingLog(a), AnyState::SlidingLog(s)) => a.is_at_rest(s, now),
            (Self::SlidingWindow(a), AnyState::SlidingWindow(s)) => a.is_at_rest(s, now),
            (Self::Concurrency(a), AnyState::Concurrency(s)) => a.is_at_rest(s, now),
            // No limit, or a state of another configuration, which decides like a fresh one.
            _ => true,
        }
    }

    fn can_release(&self, state: &AnyState<S, O>, cost: u32) -> Result<(), ReleaseError> {
        match (self, state) {
            (Self::Concurrency(a), AnyState::Concurrency(s)) => a.can_release(s, cost),
            (Self::Concurrency(a), _) => a.can_release(&a.new_state(), cost),
            _ => Ok(()),
        }
    }

    fn release(&self, state: &mut AnyState<S, O>, cost: u32) -> Result<(), ReleaseError> {
        match (self, state) {
            (Self::Concurrency(a), AnyState::Concurrency(s)) => {
                Algorithm::<HZ>::release(a, s, cost)
            }
            (Self::Concurrency(a), _) => a.can_release(&a.new_state(), cost),
            _ => Ok(()),
        }
    }
}

impl<const HZ: u64, S: Storage, O: Offset> AnyLimit<HZ, S, O> {
    /// Whether `state` is of this limit's kind.
    fn owns(&self, state: &AnyState<S, O>) -> bool {
        matches!(
            (self, state),
            (Self::Gcra(_), AnyState::Gcra(_))
                | (Self::Meter(_), AnyState::Meter(_))
                | (Self::Shaper(_), AnyState::Shaper(_))
                | (Self::SlidingLog(_), AnyState::SlidingLog(_))
                | (Self::SlidingWindow(_), AnyState::SlidingWindow(_))
                | (Self::Concurrency(_), AnyState::Concurrency(_))
                | (Self::Unlimited, AnyState::Unlimited)
        )
    }
}

/// An `AnyState` is written as the record of the state it holds, and read back only into a state
/// of the same kind (make it with the limit's `new_state`).
impl<S: Storage, O: Offset> crate::codec::Codec for AnyState<S, O> {
    fn encoded_len(&self) -> usize {
        match self {
            Self::Gcra(s) => s.encoded_len(),
            Self::Meter(s) => s.encoded_len(),
            Self::Shaper(s) => s.encoded_len(),
            Self::SlidingLog(s) => s.encoded_len(),
            Self::SlidingWindow(s) => s.encoded_len(),
            Self::Concurrency(s) => s.encoded_len(),
            Self::Unlimited => ().encoded_len(),
        }
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, crate::codec::CodecError> {
        match self {
            Self::Gcra(s) => s.encode(out),
            Self::Meter(s) => s.encode(out),
            Self::Shaper(s) => s.encode(out),
            Self::SlidingLog(s) => s.encode(out),
            Self::SlidingWindow(s) => s.encode(out),
            Self::Concurrency(s) => s.encode(out),
            Self::Unlimited => ().encode(out),
        }
    }

    fn check(&self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        match self {
            Self::Gcra(s) => s.check(bytes),
            Self::Meter(s) => s.check(bytes),
            Self::Shaper(s) => s.check(bytes),
            Self::SlidingLog(s) => s.check(bytes),
            Self::SlidingWindow(s) => s.check(bytes),
            Self::Concurrency(s) => s.check(bytes),
            Self::Unlimited => ().check(bytes),
        }
    }

    fn decode_into(&mut self, bytes: &[u8]) -> Result<usize, crate::codec::CodecError> {
        match self {
            Self::Gcra(s) => s.decode_into(bytes),
            Self::Meter(s) => s.decode_into(bytes),
            Self::Shaper(s) => s.decode_into(bytes),
            Self::SlidingLog(s) => s.decode_into(bytes),
            Self::SlidingWindow(s) => s.decode_into(bytes),
            Self::Concurrency(s) => s.decode_into(bytes),
            Self::Unlimited => ().decode_into(bytes),
        }
    }
}
