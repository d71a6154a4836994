//! Test-only algorithms and a definition of "at rest" that the tests own.
//!
//! Two small algorithms, a fixed-window counter ([`FixedWindow`]) and an in-flight counter
//! ([`InFlight`]), let policies and tables be tested against limits whose every figure is
//! obvious. "At rest" is read off decisions alone ([`like_fresh_at`], [`first_rest`]), so that
//! what a table may drop or evict is never judged by the library's own `is_at_rest` or `reset`.
//!
//! ```
//! use tollgate_core::{Algorithm, Instant};
//! use tollgate_testkit::fakes::FixedWindow;
//!
//! let fw = FixedWindow { limit: 2, window: 1_000 };
//! let mut s = fw.new_state();
//! let at = Instant::<1_000>::from_ticks;
//! assert!(fw.check(&mut s, at(10), 2)?.is_allowed());
//! assert_eq!(fw.check(&mut s, at(20), 1)?.retry_after.map(|d| d.as_ticks()), Some(980));
//! assert!(fw.check(&mut s, at(1_000), 1)?.is_allowed());
//! # Ok::<(), tollgate_core::InsufficientCapacity>(())
//! ```

use core::fmt::Debug;

use tollgate_core::algorithm::sliding_log::SlidingLogIn;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Storage;
use tollgate_core::{
    Algorithm, Allowance, AnyLimit, Concurrency, Decision, Duration, FixedLimits, Gcra, Instant,
    InsufficientCapacity, Meter, Offset, Policy, ReleaseError, Shaper, Unlimited, Verdict,
};

pub const HZ: u64 = 1_000;
pub type I = Instant<HZ>;
pub type D = Duration<HZ>;

/// `limit` per fixed window of `window` ticks (windows start at multiples of `window`).
#[derive(Debug, Clone, Copy)]
pub struct FixedWindow {
    pub limit: u32,
    pub window: u64,
}

/// The window index of the last recording and what it recorded there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Count {
    pub index: u64,
    pub count: u32,
}

/// What one look at a [`Count`] found: the window a request falls in, its count there before the
/// request, and whether the request fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLook {
    pub now: u64,
    pub index: u64,
    pub count: u32,
    pub cost: u32,
    pub admitted: bool,
}

impl FixedWindow {
    /// The window index and count a request at `now` is decided against. A backwards clock is
    /// decided as in the latest window seen.
    pub fn current(&self, s: &Count, now: u64) -> (u64, u32) {
        let index = now / self.window;
        if s.count == 0 || s.index < index {
            (index, 0)
        } else {
            (s.index, s.count)
        }
    }
}

impl Algorithm<HZ> for FixedWindow {
    type State = Count;
    type Step = WindowLook;

    fn new_state(&self) -> Count {
        Count::default()
    }

    fn capacity(&self) -> u32 {
        self.limit
    }

    fn allowance(&self) -> Allowance<HZ> {
        Allowance::PerWindow {
            count: self.limit,
            window: D::from_ticks(self.window),
        }
    }

    fn step(&self, s: &Count, now: I, cost: u32) -> Result<WindowLook, InsufficientCapacity> {
        if cost > self.limit {
            return Err(InsufficientCapacity::new(cost, self.limit));
        }
        let now = now.as_ticks();
        let (index, count) = self.current(s, now);
        Ok(WindowLook {
            now,
            index,
            count,
            cost,
            admitted: cost == 0 || u64::from(count) + u64::from(cost) <= u64::from(self.limit),
        })
    }

    fn admits(&self, step: &WindowLook) -> bool {
        step.admitted
    }

    fn decision(&self, _s: &Count, step: &WindowLook, recorded: bool) -> Decision<HZ> {
        let end = step.index.saturating_add(1).saturating_mul(self.window);
        let used = if recorded && step.admitted {
            step.count + step.cost
        } else {
            step.count
        };
        Decision {
            limit: self.limit,
            remaining: self.limit - used,
            reset: D::from_ticks(if used == 0 {
                0
            } else {
                end.saturating_sub(step.now)
            }),
            retry_after: (!step.admitted).then(|| D::from_ticks(end.saturating_sub(step.now))),
            delay: D::from_ticks(0),
        }
    }

    fn record(&self, s: &mut Count, step: &WindowLook) {
        if step.admitted && step.cost > 0 {
            *s = Count {
                index: step.index,
                count: step.count + step.cost,
            };
        }
    }

    fn is_at_rest(&self, s: &Count, now: I) -> bool {
        s.count == 0 || s.index < now.as_ticks() / self.window
    }
}

/// At most `max` in flight; denials suggest retrying after `hint` ticks (a hint, not exact).
///
/// Unlike the real [`Concurrency`], its `reset` is zero even while requests are in flight: the
/// tests run both, so a table cannot lean on either reading of `reset`.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub max: u32,
    pub hint: u64,
}

/// What one look at an in-flight count found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLook {
    pub held: u32,
    pub cost: u32,
    pub admitted: bool,
}

impl Algorithm<HZ> for InFlight {
    type State = u32;
    type Step = HeldLook;

    fn new_state(&self) -> u32 {
        0
    }

    fn capacity(&self) -> u32 {
        self.max
    }

    fn allowance(&self) -> Allowance<HZ> {
        Allowance::InFlight { count: self.max }
    }

    fn step(&self, s: &u32, _now: I, cost: u32) -> Result<HeldLook, InsufficientCapacity> {
        if cost > self.max {
            return Err(InsufficientCapacity::new(cost, self.max));
        }
        Ok(HeldLook {
            held: *s,
            cost,
            admitted: cost == 0 || u64::from(*s) + u64::from(cost) <= u64::from(self.max),
        })
    }

    fn admits(&self, step: &HeldLook) -> bool {
        step.admitted
    }

    fn decision(&self, _s: &u32, step: &HeldLook, recorded: bool) -> Decision<HZ> {
        let used = if recorded && step.admitted {
            step.held + step.cost
        } else {
            step.held
        };
        Decision {
            limit: self.max,
            remaining: self.max - used,
            reset: D::from_ticks(0),
            retry_after: (!step.admitted).then(|| D::from_ticks(self.hint)),
            delay: D::from_ticks(0),
        }
    }

    fn record(&self, s: &mut u32, step: &HeldLook) {
        if step.admitted {
            *s = step.held + step.cost;
        }
    }

    fn is_at_rest(&self, s: &u32, _now: I) -> bool {
        *s == 0
    }

    fn can_release(&self, s: &u32, cost: u32) -> Result<(), ReleaseError> {
        if cost > *s {
            Err(ReleaseError {
                released: cost,
                in_flight: *s,
            })
        } else {
            Ok(())
        }
    }

    fn release(&self, s: &mut u32, cost: u32) -> Result<(), ReleaseError> {
        self.can_release(s, cost)?;
        *s -= cost;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// "At rest", defined by the tests: from decisions alone
// ---------------------------------------------------------------------------------------------

/// Everything a caller can see of a state at an instant: the answer to a request of `cost`, with
/// every limit's report for a policy (a policy's one-line summary can hide a limit).
pub trait Observe: Algorithm<1_000> {
    type Seen: PartialEq + Debug;
    fn observe(&self, s: &Self::State, t: I, cost: u32) -> Self::Seen;
}

macro_rules! observe_plain {
    ($({$($g:tt)*} $ty:ty),+ $(,)?) => {$(
        impl<$($g)*> Observe for $ty {
            type Seen = Result<Decision<HZ>, InsufficientCapacity>;
            fn observe(&self, s: &Self::State, t: I, cost: u32) -> Self::Seen {
                Algorithm::peek(self, s, t, cost)
            }
        }
    )+};
}

observe_plain!(
    {} Gcra<HZ>,
    {} Concurrency<HZ>,
    {} Meter<HZ>,
    {} Shaper<HZ>,
    {} Unlimited,
    {} FixedWindow,
    {} InFlight,
    {O: Offset, S: Storage} SlidingLogIn<HZ, O, S>,
    {S: Storage} SlidingWindowIn<HZ, S>,
    {S: Storage, O: Offset} AnyLimit<HZ, S, O>,
);

impl<A: Observe> Observe for Option<A>
where
    A::State: Default,
{
    type Seen = Result<Decision<HZ>, InsufficientCapacity>;
    fn observe(&self, s: &A::State, t: I, cost: u32) -> Self::Seen {
        self.peek(s, t, cost)
    }
}

/// One limit's report as a policy gives it, owned: its name, allowance and decision.
pub type SeenReport = (String, Allowance<HZ>, Decision<HZ>);

impl<L: FixedLimits<HZ>> Observe for Policy<L> {
    /// The verdict and every limit's report (a policy's one-line decision can hide a limit).
    type Seen = Result<(Verdict, Vec<SeenReport>), InsufficientCapacity>;
    fn observe(&self, s: &L::State, t: I, cost: u32) -> Self::Seen {
        Policy::peek(self, s, t, cost).map(|d| {
            let reports = d
                .reports()
                .iter()
                .map(|r| (r.name.to_owned(), r.allowance, r.decision))
                .collect();
            (d.outcome, reports)
        })
    }
}

/// Whether `s` answers like a fresh state at the instant `t`: every probe cost on its own, and
/// a second request after a first one recorded at `t`.
pub fn like_fresh_at<A: Observe>(a: &A, s: &A::State, t: u64) -> bool
where
    A::State: Clone,
{
    let fresh = a.new_state();
    let t = I::from_ticks(t);
    let cap = a.capacity();
    let costs = [0, 1, 2, 3, cap];
    if costs
        .iter()
        .any(|&c| a.observe(s, t, c) != a.observe(&fresh, t, c))
    {
        return false;
    }
    [1, 2, cap].iter().all(|&first| {
        let (mut x, mut y) = (s.clone(), fresh.clone());
        a.check(&mut x, t, first) == a.check(&mut y, t, first)
            && costs
                .iter()
                .all(|&c| a.observe(&x, t, c) == a.observe(&y, t, c))
    })
}

/// Instants from `u` on at which [`like_fresh_from`] looks: the next ticks, whole seconds and
/// days later, and the end of time.
pub fn later(u: u64) -> [u64; 8] {
    [0, 1, 249, 1_000, 60_000, 86_400_000, 1 << 40, u64::MAX].map(|d| u.saturating_add(d))
}

/// Whether `s` may be dropped at `u`: it answers like a fresh state at `u` and later.
pub fn like_fresh_from<A: Observe>(a: &A, s: &A::State, u: u64) -> bool
where
    A::State: Clone,
{
    later(u).iter().all(|&t| like_fresh_at(a, s, t))
}

/// The first instant at or after `from` from which `s` answers like a fresh state (nothing else
/// arriving), or `None` when it does not even at the end of time (requests in flight).
pub fn first_rest<A: Observe>(a: &A, s: &A::State, from: u64) -> Option<u64>
where
    A::State: Clone,
{
    if !like_fresh_at(a, s, u64::MAX) {
        return None;
    }
    // Waiting only ever brings a state closer to rest: search for the boundary.
    let (mut lo, mut hi) = (from, u64::MAX);
    if like_fresh_at(a, s, lo) {
        return Some(lo);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if like_fresh_at(a, s, mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// How the clock moves between operations: forward, not at all, a huge jump, or backwards.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Forward(u64),
    Back(u64),
}

impl Step {
    pub fn apply(self, now: u64) -> u64 {
        match self {
            Step::Forward(d) => now.saturating_add(d),
            Step::Back(d) => now.saturating_sub(d),
        }
    }
}

pub mod strategy {
    use super::Step;
    use proptest::prelude::*;

    /// Steps that only move forward (zero, small, up to a day, huge).
    pub fn forward() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => Just(Step::Forward(0)),
            6 => (0u64..3_000).prop_map(Step::Forward),
            1 => (0u64..86_400_000).prop_map(Step::Forward),
            1 => (u64::MAX / 4..=u64::MAX).prop_map(Step::Forward),
        ]
    }

    /// Any step, including backwards ones.
    pub fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => forward(),
            2 => (0u64..5_000).prop_map(Step::Back),
            1 => (0u64..=u64::MAX).prop_map(Step::Back),
        ]
    }

    /// Costs: mostly small, sometimes zero, sometimes far above any capacity.
    pub fn cost() -> impl Strategy<Value = u32> {
        prop_oneof![
            8 => 0u32..=4,
            3 => 0u32..=12,
            1 => Just(u32::MAX),
            1 => any::<u32>(),
        ]
    }
}
