//! The [`Algorithm`] contract of `core/src/algorithm/mod.rs`, as one checker for any
//! implementation.
//!
//! [`Checker`] holds an algorithm and a state and replays operations on it (check, peek,
//! release at some instant with some cost). At every step it checks what the trait and
//! [`Decision`] promise for every implementation:
//!
//! - `peek` answers exactly what `check` then answers;
//! - a cost above [`capacity`](Algorithm::capacity) is exactly that [`InsufficientCapacity`]
//!   error, from both, and changes nothing (a policy's error also names its limit of the
//!   smallest capacity: [`Rules::error_index`]);
//! - a denied check, an error and a cost of zero leave the state unchanged (`State: PartialEq`),
//!   and a cost of zero is admitted;
//! - `limit` is the same in every decision and is what a fresh state reports as `remaining`;
//! - `remaining` is exact: that many unit checks at the same instant are admitted, one more is
//!   denied;
//! - `retry_after` is exact: the same request is admitted after waiting exactly it and denied one
//!   tick sooner;
//! - `reset` is exact: the state is at rest after it and not one tick sooner, decides like a
//!   fresh state from then on, and a cost-0 answer has a zero `reset` exactly when the state is at
//!   rest;
//! - a `now` earlier than an instant already seen never admits what that instant would deny;
//! - a release that fails changes nothing, and a limit that holds nothing in flight accepts
//!   every release and changes nothing;
//! - a state at rest decides a sequence of probe requests exactly like a fresh one;
//! - `delay` is zero for a denial and a cost of zero, and for every decision of a limit that
//!   never queues; a limit that queues (a shaper) delays by at most its maximum delay, and
//!   exactly: the same request would proceed at once after waiting `delay`, not one tick sooner;
//! - the pure step agrees with `check` and `peek`: [`step`](Algorithm::step) fails exactly
//!   when they do, its [`decision`](Algorithm::decision) is what they answer, recording it is
//!   what `check` records (and recording a denying step changes nothing),
//!   [`transition`](Algorithm::transition) is `check` on a copy, and an admitting step's
//!   decision *not* recorded reports the state as it stands (what a cost of zero reports).
//!
//! Implementations that document something weaker say so in their [`Rules`]: a hint instead of an
//! exact `retry_after` or `reset`, an end of time within which exactness is not promised, or an
//! unbounded `remaining`. A limit that queues says how long it may delay. The rules for every
//! implementation in `tollgate-core` are built by the functions at the bottom, each citing the
//! documentation it relies on.
//!
//! Use it as `use tollgate_testkit::contract;`, then `contract::run(&alg, contract::gcra(&alg),
//! start, &ops)`.

use std::fmt::Debug;

use tollgate_core::algorithm::sliding_log::SlidingLogIn;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Storage;
use tollgate_core::{
    Algorithm, Concurrency, Decision, Gcra, Instant, InsufficientCapacity, Meter, Offset, Shaper,
    Unlimited,
};

/// A broken promise, described for a human: what was expected, what came back.
pub type Violation = String;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The most unit checks `remaining` is verified with; a larger `remaining` must be unbounded.
const MOST_UNITS: u32 = 512;

/// What an implementation's `retry_after` promises.
pub enum Retry<A: Algorithm<HZ>, const HZ: u64> {
    /// The contract: admitted after exactly this wait, denied one tick sooner.
    Exact,
    /// Always this many ticks, whatever the state (a concurrency limit's configured hint).
    Hint(u64),
    /// Exact when the predicate holds for `(algorithm, state, now, cost)` of the denied request,
    /// unchecked otherwise (a policy with a concurrency limit: exact unless that limit denied).
    ExactWhen(fn(&A, &A::State, Instant<HZ>, u32) -> bool),
}

/// What an implementation's `reset` promises.
pub enum Reset<A: Algorithm<HZ>, const HZ: u64> {
    /// The contract: at rest after exactly `reset`, not one tick sooner.
    Exact,
    /// Zero at rest, else always this many ticks (a concurrency limit's configured hint).
    Hint(u64),
    /// Exact when the predicate holds for the state the decision describes, unchecked
    /// otherwise (a policy with a concurrency limit: exact while nothing is in flight).
    ExactWhen(fn(&A, &A::State) -> bool),
}

/// Everything that differs between implementations: the documented exceptions, and the time
/// scale that makes probes meaningful.
pub struct Rules<A: Algorithm<HZ>, const HZ: u64> {
    /// Instants within this many ticks of `u64::MAX` are the documented end of time, where exact
    /// waits, exact resets and the backwards-clock promise are not required. Zero: none.
    pub end_margin: u64,
    pub retry: Retry<A, HZ>,
    pub reset: Reset<A, HZ>,
    /// `remaining` (and `limit`) is documented as `u32::MAX`, unbounded: verified only as far as
    /// a capped number of unit checks.
    pub unbounded: bool,
    /// A fresh state's `remaining` is its `limit` ("the most unit-cost requests that can be
    /// admitted at once from rest"). Cleared only for a known, reported violation.
    pub limit_from_rest: bool,
    /// `release` gives back cost held in flight; otherwise it must be the trait's default (always
    /// `Ok`, changes nothing).
    pub holds: bool,
    /// The implementation's characteristic time, in ticks (its window, or `b·T`), to size probes.
    pub scale: u64,
    /// `None`: every decision's `delay` is zero (the contract for a limit that never queues).
    /// `Some(m)`: an admission may be delayed, by at most `m` ticks, and the delay is exact.
    pub max_delay: Option<u64>,
    /// A denied request retried after exactly its (exact) `retry_after` is accepted with a
    /// delay of exactly `max_delay` (a shaper alone: it denies only what would wait longer).
    pub retry_waits_fully: bool,
    /// The `index` of every [`InsufficientCapacity`] error: `None` for a single limit; for a
    /// policy, its limit with the smallest capacity (the first among equals).
    pub error_index: Option<usize>,
}

impl<A: Algorithm<HZ>, const HZ: u64> Rules<A, HZ> {
    /// The contract with no exception at all, short of an end of time `end_margin` ticks long.
    pub fn strict(scale: u64, end_margin: u64) -> Self {
        Self {
            end_margin,
            retry: Retry::Exact,
            reset: Reset::Exact,
            unbounded: false,
            limit_from_rest: true,
            holds: false,
            scale,
            max_delay: None,
            retry_waits_fully: false,
            error_index: None,
        }
    }

    /// These rules for a policy whose limit at `index` has the smallest capacity.
    pub fn at(self, index: usize) -> Self {
        Self {
            error_index: Some(index),
            ..self
        }
    }

    /// The same rules for a wrapper that decides exactly like `A` (`Some(a)`, an `AnyLimit`, a
    /// policy of one limit).
    ///
    /// # Panics
    ///
    /// On an [`ExactWhen`](Retry::ExactWhen) predicate, which takes `A` and its state.
    pub fn carried<B: Algorithm<HZ>>(&self) -> Rules<B, HZ> {
        Rules {
            end_margin: self.end_margin,
            retry: match self.retry {
                Retry::Exact => Retry::Exact,
                Retry::Hint(h) => Retry::Hint(h),
                Retry::ExactWhen(_) => panic!("a retry predicate cannot be carried over"),
            },
            reset: match self.reset {
                Reset::Exact => Reset::Exact,
                Reset::Hint(h) => Reset::Hint(h),
                Reset::ExactWhen(_) => panic!("a reset predicate cannot be carried over"),
            },
            unbounded: self.unbounded,
            limit_from_rest: self.limit_from_rest,
            holds: self.holds,
            scale: self.scale,
            max_delay: self.max_delay,
            retry_waits_fully: self.retry_waits_fully,
            error_index: self.error_index,
        }
    }
}

impl<A: Algorithm<HZ>, const HZ: u64> Debug for Retry<A, HZ> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retry::Exact => write!(f, "exact"),
            Retry::Hint(h) => write!(f, "hint {h}"),
            Retry::ExactWhen(_) => write!(f, "exact when"),
        }
    }
}

impl<A: Algorithm<HZ>, const HZ: u64> Debug for Reset<A, HZ> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reset::Exact => write!(f, "exact"),
            Reset::Hint(h) => write!(f, "hint {h}"),
            Reset::ExactWhen(_) => write!(f, "exact when"),
        }
    }
}

impl<A: Algorithm<HZ>, const HZ: u64> Debug for Rules<A, HZ> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Rules {{ end_margin: {}, retry: {:?}, reset: {:?}, unbounded: {}, limit_from_rest: {}, holds: {}, scale: {}, max_delay: {:?}, retry_waits_fully: {}, error_index: {:?} }}",
            self.end_margin,
            self.retry,
            self.reset,
            self.unbounded,
            self.limit_from_rest,
            self.holds,
            self.scale,
            self.max_delay,
            self.retry_waits_fully,
            self.error_index
        )
    }
}

/// One operation on the state under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `check`, recording what it admits.
    Check,
    /// `peek`: the state stays as it was.
    Peek,
    /// `release` of the cost.
    Release,
}

/// A step of the clock, sized against the implementation's [`Rules::scale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The same instant again.
    Zero,
    /// Forward by 1 to 4 ticks.
    Ticks(u8),
    /// Forward by `k` quarters of the scale (1 ≤ k ≤ 8), then −1, 0 or +1 tick.
    Quarters(u8, i8),
    /// Forward by any amount (saturating at the end of time).
    Huge(u64),
    /// Backwards by 1 to 4 ticks.
    BackTicks(u8),
    /// Backwards by `k` quarters of the scale, then −1, 0 or +1 tick.
    BackQuarters(u8, i8),
    /// Backwards by any amount (saturating at zero).
    BackHuge(u64),
    /// To within about two scales of the end of time.
    ToEnd(u64),
}

impl Step {
    /// The instant after this step from `now`.
    pub fn apply(self, now: u64, scale: u64) -> u64 {
        let quarters = |k: u8, d: i8| {
            let k = u64::from(k.clamp(1, 8));
            let q = scale.saturating_mul(k) / 4;
            q.saturating_add_signed(i64::from(d.clamp(-1, 1)))
        };
        match self {
            Step::Zero => now,
            Step::Ticks(k) => now.saturating_add(1 + u64::from(k % 4)),
            Step::Quarters(k, d) => now.saturating_add(quarters(k, d)),
            Step::Huge(x) => now.saturating_add(x),
            Step::BackTicks(k) => now.saturating_sub(1 + u64::from(k % 4)),
            Step::BackQuarters(k, d) => now.saturating_sub(quarters(k, d)),
            Step::BackHuge(x) => now.saturating_sub(x),
            Step::ToEnd(x) => u64::MAX - x % scale.saturating_mul(2).saturating_add(2),
        }
    }
}

/// A cost, sized against the implementation's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Zero,
    One,
    /// 2 to 4.
    Small(u8),
    Capacity,
    /// One above the capacity (saturating).
    Over,
    Max,
}

impl Cost {
    pub fn resolve(self, capacity: u32) -> u32 {
        match self {
            Cost::Zero => 0,
            Cost::One => 1,
            Cost::Small(k) => 2 + u32::from(k % 3),
            Cost::Capacity => capacity,
            Cost::Over => capacity.saturating_add(1),
            Cost::Max => u32::MAX,
        }
    }
}

/// How often each promise was actually put to the test (the rest were exempt or did not arise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tested {
    pub decisions: u64,
    pub errors: u64,
    pub denials: u64,
    pub exact_retries: u64,
    pub exact_resets: u64,
    pub backwards: u64,
    pub like_fresh: u64,
    /// Admissions with a non-zero delay whose exactness was checked.
    pub exact_delays: u64,
}

/// An algorithm, a state, and everything seen so far, checked step by step.
pub struct Checker<'a, A: Algorithm<HZ>, const HZ: u64> {
    pub alg: &'a A,
    pub rules: Rules<A, HZ>,
    pub state: A::State,
    pub tested: std::cell::Cell<Tested>,
    /// Every instant passed so far, distinct, in order of first appearance.
    seen: Vec<u64>,
    /// The `limit` every decision must report.
    limit: u32,
    steps: usize,
}

impl<A: Algorithm<HZ>, const HZ: u64> Debug for Checker<'_, A, HZ>
where
    A::State: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("rules", &self.rules)
            .field("state", &self.state)
            .field("tested", &self.tested.get())
            .field("limit", &self.limit)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

fn at<const HZ: u64>(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

impl<'a, A, const HZ: u64> Checker<'a, A, HZ>
where
    A: Algorithm<HZ>,
    A::State: Clone + PartialEq + Debug,
{
    /// A checker for a fresh state, after checking what a fresh state promises at `start`.
    pub fn new(alg: &'a A, rules: Rules<A, HZ>, start: u64) -> Result<Self, Violation> {
        let fresh = alg.new_state();
        let t = at::<HZ>(start);
        ensure!(
            alg.is_at_rest(&fresh, t),
            "a fresh state is not at rest at {start}"
        );
        let d = alg
            .peek(&fresh, t, 0)
            .map_err(|e| format!("a cost of 0 is an error: {e:?}"))?;
        ensure!(d.is_allowed(), "a cost of 0 is denied from rest: {d:?}");
        ensure!(
            d.reset.as_ticks() == 0,
            "a fresh state's reset is not zero: {d:?}"
        );
        ensure!(
            d.delay.as_ticks() == 0,
            "a cost of 0 is delayed from rest: {d:?}"
        );
        let checker = Self {
            alg,
            rules,
            state: fresh,
            tested: Default::default(),
            seen: Vec::new(),
            limit: d.limit,
            steps: 0,
        };
        if checker.rules.limit_from_rest && !checker.near_end(start) {
            // `limit`: "the most unit-cost requests that can be admitted at once from rest".
            ensure!(
                d.remaining == d.limit,
                "from rest at {start}, remaining {} is not the limit {}",
                d.remaining,
                d.limit
            );
        }
        if checker.rules.unbounded {
            ensure!(
                d.limit == u32::MAX,
                "an unbounded limit reports {}",
                d.limit
            );
        }
        Ok(checker)
    }

    /// Replays one operation and checks everything the contract says about it.
    pub fn step(&mut self, op: Op, now: u64, cost: u32) -> Result<(), Violation> {
        self.steps += 1;
        let before = self.state.clone();
        let result = match op {
            Op::Release => self.release(now, cost),
            Op::Check | Op::Peek => self.decide(op, now, cost),
        };
        // A release takes no instant, so only decisions make an instant "seen".
        if op != Op::Release && !self.seen.contains(&now) {
            self.seen.push(now);
        }
        result.map_err(|why| {
            format!(
                "step {} ({op:?} of cost {cost} at {now}): {why}\n  state before: {before:?}\n  rules: {:?}",
                self.steps, self.rules
            )
        })
    }

    fn count(&self, f: impl FnOnce(&mut Tested)) {
        let mut t = self.tested.get();
        f(&mut t);
        self.tested.set(t);
    }

    fn near_end(&self, ticks: u64) -> bool {
        self.rules.end_margin > 0 && ticks.saturating_add(self.rules.end_margin) == u64::MAX
    }

    /// `now + by`, unless that reaches the end of time (where exactness is not promised).
    fn later(&self, now: u64, by: u64) -> Option<u64> {
        now.checked_add(by)
            .filter(|&x| !self.near_end(x) && !self.near_end(now))
    }

    fn peek(&self, s: &A::State, t: u64, cost: u32) -> Result<Decision<HZ>, InsufficientCapacity> {
        self.alg.peek(s, at::<HZ>(t), cost)
    }

    fn release(&mut self, now: u64, cost: u32) -> Result<(), Violation> {
        let before = self.state.clone();
        let mut s = before.clone();
        let r = self.alg.release(&mut s, cost);
        if r.is_err() {
            ensure!(
                s == before,
                "a failed release {r:?} changed the state to {s:?}"
            );
        }
        if !self.rules.holds {
            ensure!(
                r.is_ok(),
                "a limit that holds nothing refused a release: {r:?}"
            );
            ensure!(
                s == before,
                "a release changed a limit that holds nothing: {s:?}"
            );
        }
        self.state = s;
        // Releasing is not a decision, but the state must still be consistent at `now`.
        self.at_rest_consistent(&self.state.clone(), now)
    }

    fn decide(&mut self, op: Op, now: u64, cost: u32) -> Result<(), Violation> {
        let t = at::<HZ>(now);
        let before = self.state.clone();
        let capacity = self.alg.capacity();

        self.at_rest_consistent(&before, now)?;

        let peeked = self.alg.peek(&before, t, cost);
        let mut after = before.clone();
        let checked = self.alg.check(&mut after, t, cost);
        ensure!(
            peeked == checked,
            "peek answered {peeked:?} but check answered {checked:?}"
        );

        if cost > capacity {
            let mut expected = InsufficientCapacity::new(cost, capacity);
            expected.index = self.rules.error_index;
            let expected = Err(expected);
            ensure!(
                checked == expected,
                "a cost above the capacity {capacity} answered {checked:?}, not {expected:?}"
            );
            ensure!(after == before, "an error changed the state to {after:?}");
            self.count(|t| t.errors += 1);
            return Ok(());
        }
        let d = checked
            .map_err(|e| format!("a cost within the capacity {capacity} is an error: {e:?}"))?;
        if cost == 0 || d.is_denied() {
            ensure!(
                after == before,
                "a denied or zero-cost check changed the state to {after:?} ({d:?})"
            );
        }
        ensure!(cost > 0 || d.is_allowed(), "a cost of 0 was denied: {d:?}");
        ensure!(
            d.limit == self.limit,
            "limit {} differs from the {} reported from rest",
            d.limit,
            self.limit
        );

        self.count(|t| {
            t.decisions += 1;
            t.denials += u64::from(d.is_denied());
        });
        self.remaining_is_exact(&after, now, &d)?;
        if d.is_denied() {
            self.retry_is_exact(&before, now, cost, &d)?;
        }
        self.reset_is_exact(&after, now, &d)?;
        self.never_kinder_backwards(&before, now, cost, &d)?;
        self.delay_is_exact(&before, now, cost, &d)?;
        self.steps_agree(&before, &after, now, cost, &d)?;

        if op == Op::Check {
            self.state = after;
        }
        Ok(())
    }

    /// A cost-0 answer's `reset` is zero exactly when the state is at rest, and a state at rest
    /// decides like a fresh one from `now` on.
    fn at_rest_consistent(&self, s: &A::State, now: u64) -> Result<(), Violation> {
        let rest = self.alg.is_at_rest(s, at::<HZ>(now));
        let z = self
            .peek(s, now, 0)
            .map_err(|e| format!("a cost of 0 is an error: {e:?}"))?;
        ensure!(z.is_allowed(), "a cost of 0 was denied: {z:?}");
        match self.rules.reset {
            Reset::Hint(h) => {
                let expected = if rest { 0 } else { h };
                ensure!(
                    z.reset.as_ticks() == expected,
                    "reset {} is not the hint {expected} (at rest: {rest})",
                    z.reset.as_ticks()
                );
            }
            Reset::ExactWhen(exact) if !exact(self.alg, s) => {}
            Reset::Exact | Reset::ExactWhen(_) => {
                if !self.near_end(now) {
                    ensure!(
                        rest == (z.reset.as_ticks() == 0),
                        "is_at_rest is {rest} but a cost-0 peek reports reset {}",
                        z.reset.as_ticks()
                    );
                }
            }
        }
        if rest {
            self.like_fresh(s, now)
                .map_err(|why| format!("at rest at {now} but unlike a fresh state: {why}"))?;
        }
        Ok(())
    }

    /// `remaining` unit checks at `now` are admitted, and then one more is denied.
    fn remaining_is_exact(
        &self,
        after: &A::State,
        now: u64,
        d: &Decision<HZ>,
    ) -> Result<(), Violation> {
        let t = at::<HZ>(now);
        let mut s = after.clone();
        if self.rules.unbounded {
            ensure!(
                d.remaining == u32::MAX,
                "an unbounded limit reports remaining {}",
                d.remaining
            );
        } else {
            ensure!(
                d.remaining <= MOST_UNITS,
                "remaining {} is more than a bounded limit can hold",
                d.remaining
            );
        }
        for i in 0..d.remaining.min(MOST_UNITS) {
            let u = self.alg.check(&mut s, t, 1);
            ensure!(
                matches!(u, Ok(u) if u.is_allowed()),
                "remaining was {} but unit check {} of them answered {u:?}",
                d.remaining,
                i + 1
            );
        }
        if !self.rules.unbounded {
            let u = self.alg.check(&mut s, t, 1);
            ensure!(
                matches!(u, Ok(u) if u.is_denied()),
                "remaining was {} but one more unit check answered {u:?}",
                d.remaining
            );
        }
        Ok(())
    }

    /// The same request is admitted after exactly `retry_after` and denied one tick sooner.
    fn retry_is_exact(
        &self,
        before: &A::State,
        now: u64,
        cost: u32,
        d: &Decision<HZ>,
    ) -> Result<(), Violation> {
        let Some(wait) = d.retry_after else {
            return Ok(());
        };
        let wait = wait.as_ticks();
        match self.rules.retry {
            Retry::Hint(h) => {
                ensure!(wait == h, "retry_after {wait} is not the hint {h}");
                return Ok(());
            }
            Retry::ExactWhen(exact) if !exact(self.alg, before, at::<HZ>(now), cost) => {
                return Ok(());
            }
            Retry::Exact | Retry::ExactWhen(_) => {}
        }
        let Some(then) = self.later(now, wait) else {
            return Ok(());
        };
        self.count(|t| t.exact_retries += 1);
        let a = self.peek(before, then, cost);
        ensure!(
            matches!(a, Ok(a) if a.is_allowed()),
            "denied with retry_after {wait}, but at {then} the same request answered {a:?}"
        );
        if let (true, Some(most), Ok(a)) = (self.rules.retry_waits_fully, self.rules.max_delay, a) {
            ensure!(
                a.delay.as_ticks() == most,
                "denied with retry_after {wait}, but at {then} the same request is delayed by {}, not the maximum delay {most}",
                a.delay.as_ticks()
            );
        }
        if wait > 0 {
            let b = self.peek(before, then - 1, cost);
            ensure!(
                matches!(b, Ok(b) if b.is_denied()),
                "denied with retry_after {wait}, but one tick sooner ({}) it answered {b:?}",
                then - 1
            );
        }
        Ok(())
    }

    /// The state is at rest after exactly `reset`, not one tick sooner, and then decides like a
    /// fresh one.
    fn reset_is_exact(
        &self,
        after: &A::State,
        now: u64,
        d: &Decision<HZ>,
    ) -> Result<(), Violation> {
        let reset = d.reset.as_ticks();
        match self.rules.reset {
            Reset::Hint(h) => {
                let rest = self.alg.is_at_rest(after, at::<HZ>(now));
                let expected = if rest { 0 } else { h };
                ensure!(
                    reset == expected,
                    "reset {reset} is not the hint {expected} (at rest: {rest})"
                );
                return Ok(());
            }
            Reset::ExactWhen(exact) if !exact(self.alg, after) => return Ok(()),
            Reset::Exact | Reset::ExactWhen(_) => {}
        }
        let Some(then) = self.later(now, reset) else {
            return Ok(());
        };
        self.count(|t| t.exact_resets += 1);
        ensure!(
            self.alg.is_at_rest(after, at::<HZ>(then)),
            "reset {reset}, but not at rest at {then}"
        );
        if reset > 0 {
            ensure!(
                !self.alg.is_at_rest(after, at::<HZ>(then - 1)),
                "reset {reset}, but already at rest one tick sooner ({})",
                then - 1
            );
        }
        self.like_fresh(after, then)
            .map_err(|why| format!("reset {reset}, but at {then} unlike a fresh state: {why}"))
    }

    /// A `now` earlier than an instant already seen never admits what that instant denies.
    fn never_kinder_backwards(
        &self,
        before: &A::State,
        now: u64,
        cost: u32,
        d: &Decision<HZ>,
    ) -> Result<(), Violation> {
        if d.is_denied() {
            return Ok(());
        }
        for &later in self.seen.iter().filter(|&&x| x > now && !self.near_end(x)) {
            self.count(|t| t.backwards += 1);
            let l = self.peek(before, later, cost);
            ensure!(
                !matches!(l, Ok(l) if l.is_denied()),
                "admitted at {now}, but the later instant {later} already seen denies it: {l:?}"
            );
        }
        Ok(())
    }

    /// `delay` is zero for a denial, a cost of zero and a limit that never queues; otherwise at
    /// most the maximum delay, and exact: the same request, not recorded, would proceed at once
    /// after waiting exactly `delay`, and not one tick sooner.
    fn delay_is_exact(
        &self,
        before: &A::State,
        now: u64,
        cost: u32,
        d: &Decision<HZ>,
    ) -> Result<(), Violation> {
        let delay = d.delay.as_ticks();
        ensure!(
            delay == 0 || d.is_allowed(),
            "a denial is delayed by {delay}"
        );
        ensure!(delay == 0 || cost > 0, "a cost of 0 is delayed by {delay}");
        let Some(most) = self.rules.max_delay else {
            ensure!(delay == 0, "a limit that never queues delays by {delay}");
            return Ok(());
        };
        ensure!(
            delay <= most,
            "delayed by {delay}, more than the maximum delay {most}"
        );
        if delay == 0 {
            return Ok(());
        }
        let Some(then) = self.later(now, delay) else {
            return Ok(());
        };
        self.count(|t| t.exact_delays += 1);
        let a = self.peek(before, then, cost);
        ensure!(
            matches!(a, Ok(a) if a.is_allowed() && a.delay.as_ticks() == 0),
            "delayed by {delay}, but at {then} the same request answered {a:?}"
        );
        let b = self.peek(before, then - 1, cost);
        ensure!(
            matches!(b, Ok(b) if b.is_denied() || b.delay.as_ticks() > 0),
            "delayed by {delay}, but one tick sooner ({}) the same request answered {b:?}",
            then - 1
        );
        Ok(())
    }

    /// The pure step is what `check` and `peek` are made of: it fails when they do, its decision
    /// is theirs, recording it is what `check` recorded, and `transition` is `check` on a copy.
    /// An admitting step's decision left unrecorded reports the state as it stands (what a cost
    /// of zero reports), and its recorded decision is the same asked before or after recording;
    /// for a denying step, recording makes no difference.
    fn steps_agree(
        &self,
        before: &A::State,
        after: &A::State,
        now: u64,
        cost: u32,
        d: &Decision<HZ>,
    ) -> Result<(), Violation> {
        let t = at::<HZ>(now);
        let step = self
            .alg
            .step(before, t, cost)
            .map_err(|e| format!("check answered {d:?} but step failed: {e:?}"))?;
        let admits = self.alg.admits(&step);
        ensure!(
            admits == d.is_allowed(),
            "check answered {d:?} but the step admits: {admits}"
        );
        let decided = self.alg.decision(before, &step, admits);
        ensure!(
            decided == *d,
            "check answered {d:?} but the step's decision is {decided:?}"
        );
        let mut recorded = before.clone();
        self.alg.record(&mut recorded, &step);
        if admits {
            ensure!(
                recorded == *after,
                "check left {after:?} but recording its step left {recorded:?}"
            );
            // Recorded figures come from the step alone: asked after recording, the same.
            let late = self.alg.decision(&recorded, &step, true);
            ensure!(
                late == *d,
                "the recorded decision is {d:?} before recording but {late:?} after"
            );
        } else {
            ensure!(
                recorded == *before,
                "recording a denying step changed the state to {recorded:?}"
            );
        }
        let moved = self.alg.transition(before, t, cost);
        ensure!(
            matches!(&moved, Ok((m, next)) if m == d && next == after),
            "check answered {d:?} leaving {after:?}, but transition answered {moved:?}"
        );
        let unrecorded = self.alg.decision(before, &step, false);
        if admits {
            let bare = self
                .peek(before, now, 0)
                .map_err(|e| format!("a cost of 0 is an error: {e:?}"))?;
            ensure!(
                unrecorded == bare,
                "an admitting step's decision not recorded is {unrecorded:?}, but the state as it stands (a cost of 0) is {bare:?}"
            );
        } else {
            ensure!(
                unrecorded == *d,
                "a denying step's decision is {d:?} recorded but {unrecorded:?} not"
            );
        }
        Ok(())
    }

    /// A short sequence of checks from `from` on decides the same for `s` and a fresh state.
    fn like_fresh(&self, s: &A::State, from: u64) -> Result<(), Violation> {
        let cap = self.alg.capacity();
        let sc = self.rules.scale.max(1);
        let probes = [
            (0, 0),
            (0, 1),
            (0, cap),
            (0, 1),
            (1, 1),
            (sc / 2, cap.min(2)),
            (sc, 1),
            (sc, cap),
            (sc.saturating_mul(2).saturating_add(1), 1),
        ];
        self.count(|t| t.like_fresh += 1);
        let mut a = s.clone();
        let mut f = self.alg.new_state();
        for (dt, cost) in probes {
            let t = at::<HZ>(from.saturating_add(dt));
            let x = self.alg.check(&mut a, t, cost);
            let y = self.alg.check(&mut f, t, cost);
            ensure!(
                x == y,
                "a check of {cost} at {} answered {x:?}, a fresh state {y:?}",
                t.as_ticks()
            );
            let (ra, rf) = (self.alg.is_at_rest(&a, t), self.alg.is_at_rest(&f, t));
            ensure!(
                ra == rf,
                "after a check of {cost} at {}, at rest: {ra}, a fresh state: {rf}",
                t.as_ticks()
            );
        }
        Ok(())
    }
}

/// Replays `ops` from `start` on a fresh state, checking the contract at every step, and tells
/// how often each promise was put to the test.
pub fn run<A, const HZ: u64>(
    alg: &A,
    rules: Rules<A, HZ>,
    start: u64,
    ops: &[(Step, Op, Cost)],
) -> Result<Tested, Violation>
where
    A: Algorithm<HZ>,
    A::State: Clone + PartialEq + Debug,
{
    let scale = rules.scale;
    let capacity = alg.capacity();
    let mut checker = Checker::new(alg, rules, start)?;
    let mut now = start;
    for &(step, op, cost) in ops {
        now = step.apply(now, scale);
        checker.step(op, now, cost.resolve(capacity))?;
    }
    Ok(checker.tested.get())
}

// The rules of every implementation in tollgate-core, each exception cited from its docs.

/// `b·T` of a quota, in ticks.
fn burst_ticks<const HZ: u64>(q: tollgate_core::Quota<HZ>) -> u64 {
    q.interval().as_ticks().saturating_mul(u64::from(q.burst()))
}

/// GCRA is held to the whole contract. gcra.rs: "Near the end of time (within `b·T` ticks of
/// `u64::MAX`) requests whose schedule would overflow are denied ... its `retry_after` is the
/// wait until the end of time", and a backwards `now` is never more permissive "short of the end
/// of time".
pub fn gcra<const HZ: u64>(g: &Gcra<HZ>) -> Rules<Gcra<HZ>, HZ> {
    let bt = burst_ticks(g.quota());
    Rules::strict(bt, bt)
}

/// The meter "decides exactly like Gcra", end of time included (leaky_bucket.rs, "The end of
/// time": a pour that would drain past `u64::MAX` is denied), so it has GCRA's margin.
pub fn meter<const HZ: u64>(m: &Meter<HZ>) -> Rules<Meter<HZ>, HZ> {
    let bt = burst_ticks(m.quota());
    Rules::strict(bt, bt)
}

/// leaky_bucket.rs, "The shaper": "Exact retry: a denied request is accepted after exactly its
/// `retry_after`"; `reset` is "the time until the queue has drained and the state is at rest";
/// `limit` is `b + ⌊M / T⌋`, "the most unit requests accepted at once from rest"; `remaining`
/// counts the unit requests "that would still be accepted at this instant ... (some of them
/// delayed)"; a backwards `now` is "never accepted when the later instant would deny it". Its
/// `delay` is how long an accepted request waits, at most `M` ("No accepted request waits longer
/// than `M`"), scheduled at "the earliest instant, not before it arrives, at which `Gcra` with the
/// same quota would admit it": exactly the wait after which the same request would go at once. "A
/// denied request is accepted after exactly its `retry_after` ...; it is then delayed by exactly
/// `M`". "Near the end of time a request whose queue would drain after `u64::MAX` is denied": the
/// queue drains at most `b·T + M` after an instant, so that is its end-of-time margin (and its
/// scale: from a full queue, at rest after `b·T + M`).
pub fn shaper<const HZ: u64>(s: &Shaper<HZ>) -> Rules<Shaper<HZ>, HZ> {
    let m = s.max_delay().as_ticks();
    let horizon = burst_ticks(s.quota()).saturating_add(m);
    Rules {
        max_delay: Some(m),
        retry_waits_fully: true,
        ..Rules::strict(horizon, horizon)
    }
}

/// sliding_log.rs, "The end of time": "An entry recorded within `W` ticks of `u64::MAX` never
/// leaves the window. Durations saturate ..., and a `retry_after` that would reach past the end
/// of time is not exact." The undersized ring changes nothing here: its `retry_after` "stays
/// exact" and `remaining` is "bounded by the ring".
pub fn sliding_log<const HZ: u64, O: Offset, S: Storage>(
    l: &SlidingLogIn<HZ, O, S>,
) -> Rules<SlidingLogIn<HZ, O, S>, HZ> {
    let w = l.window().as_ticks();
    Rules::strict(w, w)
}

/// sliding_window.rs: "Near the end of time, an expiry instant that does not fit a `u64`
/// saturates at `u64::MAX`: ... `retry_after`/`reset` are then not exact." Expiries lie at most
/// the span `S = B·g` after an instant.
pub fn sliding_window<const HZ: u64, S: Storage>(
    w: &SlidingWindowIn<HZ, S>,
) -> Rules<SlidingWindowIn<HZ, S>, HZ> {
    let s = w.span().as_ticks();
    Rules::strict(s, s)
}

/// concurrency.rs, "Time and hints": "A denial carries the configured `retry_hint` as its
/// `retry_after`. ... **the hint is not exact** ... Likewise a Decision's `reset` is the hint
/// whenever anything is in flight, and zero at rest." Time plays no part, so no end of time; it
/// holds cost in flight, so `release` acts.
pub fn concurrency<const HZ: u64>(c: &Concurrency<HZ>) -> Rules<Concurrency<HZ>, HZ> {
    let h = c.retry_hint().as_ticks();
    Rules {
        end_margin: 0,
        retry: Retry::Hint(h),
        reset: Reset::Hint(h),
        unbounded: false,
        limit_from_rest: true,
        holds: true,
        scale: h.max(1),
        max_delay: None,
        retry_waits_fully: false,
        error_index: None,
    }
}

/// policy.rs, "Unlimited limits": `Unlimited` and `None` "always admit. They report `limit` and
/// `remaining` as UNLIMITED (`u32::MAX`) and a zero `reset`."
pub fn unlimited<A: Algorithm<HZ>, const HZ: u64>(scale: u64) -> Rules<A, HZ> {
    Rules {
        unbounded: true,
        ..Rules::strict(scale, 0)
    }
}

/// [`unlimited`] for [`Unlimited`] itself.
pub fn unlimited_itself<const HZ: u64>() -> Rules<Unlimited, HZ> {
    unlimited(1_000)
}
