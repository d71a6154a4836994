//! The all-or-nothing engine: one step per limit, then reports, then records.
//!
//! The same three phases serve every list of limits a [`Policy`](crate::Policy) can hold: tuples
//! of 1 to 8 limits of any algorithms (a macro writes out each position, so every call is static),
//! arrays of one algorithm, and slices of a list built at run time.
//!
//! 1. **Look.** Each limit takes one [`step`](Algorithm::step) (two when a test override lowers
//!    it). A limit that denies writes its report at once, with its wait, and the tally keeps the
//!    longest wait. Nothing is written to any state.
//! 2. **Report.** Every limit that admitted writes its report, as recorded when the whole policy
//!    admits, else as its state stands without the request.
//! 3. **Record.** Only when the policy admits: every limit records its step.
//!
//! Steps live in a small buffer on the stack between the phases: a tuple or an array of them for
//! fixed lists, and for a slice, the first [`MAX_KEPT`] (a longer list takes its later limits'
//! steps again when reporting and recording: the same state and instant give the same step).

use crate::algorithm::{Algorithm, Allowance, Decision};
use crate::error::{InsufficientCapacity, ReleaseError};
use crate::policy::Overrides;
use crate::policy::decision::Verdict;
use crate::policy::named::Named;
use crate::policy::report::Report;
use crate::time::{Duration, Instant};

/// How many steps a policy over a slice keeps between its phases.
pub const MAX_KEPT: usize = 16;

mod sealed {
    pub trait Sealed {}
}

/// One limit's step, with what a test override did to it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Looked<S, const HZ: u64> {
    step: S,
    admitted: bool,
    lowered: Option<Lowered<HZ>>,
}

/// A limit lowered by an override to `low`, decided as if `k` more units were charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lowered<const HZ: u64> {
    low: u32,
    k: u32,
    /// The wait of the `cost + k` step, when it denies.
    retry: Option<Duration<HZ>>,
}

/// What the look phase found across all limits: the denial with the longest wait.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally<const HZ: u64> {
    worst: Option<(usize, Option<Duration<HZ>>)>,
}

impl<const HZ: u64> Tally<HZ> {
    #[inline]
    fn deny(&mut self, index: usize, wait: Option<Duration<HZ>>) {
        if self.worst.is_none_or(|(_, w)| wait > w) {
            self.worst = Some((index, wait));
        }
    }

    /// The policy's verdict.
    #[inline]
    fn verdict(&self, forced: bool, cost: u32) -> Verdict {
        match self.worst {
            Some((index, _)) => Verdict::Denied { index },
            None if forced && cost > 0 => Verdict::Forced,
            None => Verdict::Allowed,
        }
    }
}

/// A list of named limits that a [`Policy`](crate::Policy) decides all-or-nothing: a tuple of 1 to
/// 8 [`Named`] limits (each any algorithm), an array of them, or a slice `&[Named<A, N>]` built at
/// run time. Sealed; use it through [`Policy`](crate::Policy).
pub trait Limits<const HZ: u64>: sealed::Sealed {
    /// The limits' states: a tuple for a tuple, an array for an array, a slice for a slice.
    type State: ?Sized;
    #[doc(hidden)]
    type Steps: Copy;

    /// How many limits there are.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of the limit at `index`.
    fn name(&self, index: usize) -> Option<&str>;

    /// The smallest capacity among the limits.
    fn capacity(&self) -> u32;

    /// What the limit at `index` allows.
    fn allowance(&self, index: usize) -> Option<Allowance<HZ>>;

    /// Whether every limit is at rest.
    fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool;

    /// Whether [`release`](Limits::release) of `cost` would succeed, changing nothing.
    ///
    /// # Errors
    ///
    /// The first [`ReleaseError`] in declaration order.
    fn can_release(&self, state: &Self::State, cost: u32) -> Result<(), ReleaseError>;

    /// Releases `cost` from every limit, or from none if any refuses.
    ///
    /// # Errors
    ///
    /// The first [`ReleaseError`] in declaration order; the state is then unchanged.
    fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError>;

    /// How many limits `state` holds states for (a runtime list's state slice may be short).
    #[doc(hidden)]
    fn states(&self, state: &Self::State) -> usize;

    #[doc(hidden)]
    fn no_steps(&self) -> Self::Steps;

    /// Phase 1; `None` when some limit can never admit `cost`.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn look<'n>(
        &'n self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &mut Self::Steps,
        out: &mut [Report<'n, HZ>],
        tally: &mut Tally<HZ>,
    ) -> Option<()>;

    /// Phase 2: the reports of the limits that admitted (of all of them, with `every`).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn report<'n>(
        &'n self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &Self::Steps,
        recorded: bool,
        every: bool,
        out: &mut [Report<'n, HZ>],
    );

    /// Phase 3.
    #[doc(hidden)]
    fn record(
        &self,
        state: &mut Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &Self::Steps,
    );

    /// The error for a cost some limit can never admit: the smallest capacity (after
    /// overrides), the first declared among equals.
    #[doc(hidden)]
    fn smallest(&self, cost: u32, overrides: &Overrides<'_>) -> InsufficientCapacity;
}

/// A list of a number of limits fixed in its type (a tuple or an array), whose decisions hold
/// their reports inline.
pub trait FixedLimits<const HZ: u64>: Limits<HZ, State: Sized> {
    /// One report per limit: `[Report<'n, HZ>; N]`.
    type Reports<'n>: AsRef<[Report<'n, HZ>]> + AsMut<[Report<'n, HZ>]> + Copy
    where
        Self: 'n;

    /// Every limit's fresh state.
    fn new_state(&self) -> Self::State;

    /// A report buffer, every report [`EMPTY`](Report::EMPTY).
    fn no_reports<'n>(&'n self) -> Self::Reports<'n>;
}

/// Runs phases 1 and 2 on `limits`: the verdict, with every report written to `out`, and the
/// steps to record when it admits. `None` when some limit can never admit `cost`.
#[inline]
pub(crate) fn evaluate<'n, const HZ: u64, L: Limits<HZ> + ?Sized>(
    limits: &'n L,
    state: &L::State,
    now: Instant<HZ>,
    cost: u32,
    overrides: &Overrides<'_>,
    out: &mut [Report<'n, HZ>],
) -> Result<(Verdict, L::Steps), InsufficientCapacity> {
    let mut steps = limits.no_steps();
    let mut tally = Tally::default();
    if limits
        .look(state, now, cost, overrides, &mut steps, out, &mut tally)
        .is_none()
    {
        return Err(cold_smallest(limits, cost, overrides));
    }
    let verdict = tally.verdict(overrides.deny, cost);
    let recorded = matches!(verdict, Verdict::Allowed);
    limits.report(state, now, cost, overrides, &steps, recorded, false, out);
    Ok((verdict, steps))
}

#[cold]
#[inline(never)]
fn cold_smallest<const HZ: u64, L: Limits<HZ> + ?Sized>(
    limits: &L,
    cost: u32,
    overrides: &Overrides<'_>,
) -> InsufficientCapacity {
    limits.smallest(cost, overrides)
}

/// The capacity of `named` for this request: its own, or what an override lowers it to.
#[inline]
fn effective_capacity<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    named: &Named<A, N>,
    overrides: &Overrides<'_>,
) -> u32 {
    let a = named.algorithm();
    let capacity = a.capacity();
    overrides
        .lowered_to(named.name(), capacity, !a.allowance().is_unlimited())
        .unwrap_or(capacity)
}

/// Phase 1 for one limit: its step (and, lowered, the step at `cost + k`). A denying limit
/// writes its report to `out` and tells the tally its wait.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn look_one<'n, A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    index: usize,
    named: &'n Named<A, N>,
    state: &A::State,
    now: Instant<HZ>,
    cost: u32,
    overrides: &Overrides<'_>,
    out: Option<&mut Report<'n, HZ>>,
    tally: &mut Tally<HZ>,
) -> Option<Looked<A::Step, HZ>> {
    let a = named.algorithm();
    let step = a.step(state, now, cost).ok()?;
    let mut admitted = a.admits(&step);
    let mut lowered = None;
    if !overrides.lower.is_empty() {
        let capacity = a.capacity();
        if let Some(low) =
            overrides.lowered_to(named.name(), capacity, !a.allowance().is_unlimited())
        {
            if cost > low {
                return None;
            }
            // k = L − L' > 0 phantom units; cost + k ≤ L' + k = L, so the step fits.
            let k = capacity.saturating_sub(low);
            let virt = a.step(state, now, cost.saturating_add(k)).ok()?;
            let virt_admits = a.admits(&virt);
            admitted = cost == 0 || (admitted && virt_admits);
            lowered = Some(Lowered {
                low,
                k,
                retry: if virt_admits {
                    None
                } else {
                    a.decision(state, &virt, false).retry_after
                },
            });
        }
    }
    let looked = Looked {
        step,
        admitted,
        lowered,
    };
    if !admitted {
        let report = report_one(named, state, &looked, false);
        tally.deny(index, report.decision.retry_after);
        if let Some(out) = out {
            *out = report;
        }
    }
    Some(looked)
}

/// Phase 2 for one limit: its report, as recorded or not.
#[inline(always)]
fn report_one<'n, A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    named: &'n Named<A, N>,
    state: &A::State,
    looked: &Looked<A::Step, HZ>,
    recorded: bool,
) -> Report<'n, HZ> {
    let a = named.algorithm();
    let mut decision = a.decision(state, &looked.step, recorded && looked.admitted);
    if let Some(lowered) = looked.lowered {
        decision = lower(decision, &lowered, looked.admitted);
    }
    Report {
        name: named.name(),
        allowance: a.allowance(),
        decision,
    }
}

/// A decision as a limit lowered to `low` reports it: `k` fewer units remain, the limit is
/// `low`, and a denial waits for both the plain and the lowered step.
fn lower<const HZ: u64>(
    plain: Decision<HZ>,
    lowered: &Lowered<HZ>,
    admitted: bool,
) -> Decision<HZ> {
    Decision {
        limit: lowered.low,
        remaining: plain.remaining.saturating_sub(lowered.k).min(lowered.low),
        // What is really recorded drains on the real schedule.
        reset: plain.reset,
        retry_after: if admitted {
            None
        } else {
            plain.retry_after.max(lowered.retry)
        },
        delay: if admitted {
            plain.delay
        } else {
            Duration::<HZ>::from_ticks(0)
        },
    }
}

/// The report of an admitting limit in phase 2 (or of every limit, with `every`).
#[inline(always)]
fn report_admitted<'n, A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    named: &'n Named<A, N>,
    state: &A::State,
    looked: &Looked<A::Step, HZ>,
    recorded: bool,
    every: bool,
    out: Option<&mut Report<'n, HZ>>,
) {
    if (looked.admitted || every)
        && let Some(out) = out
    {
        *out = report_one(named, state, looked, recorded);
    }
}

/// The error for the limit at `index` if its capacity is below `worst`'s.
#[inline]
fn smaller<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    worst: &mut InsufficientCapacity,
    index: usize,
    named: &Named<A, N>,
    overrides: &Overrides<'_>,
) {
    let capacity = effective_capacity(named, overrides);
    if worst.index.is_none() || capacity < worst.capacity {
        *worst = InsufficientCapacity::new(worst.cost, capacity).at(index);
    }
}

macro_rules! tuple_limits {
    ($n:literal; $($idx:tt : $A:ident),+) => {
        impl<N, $($A),+> sealed::Sealed for ($(Named<$A, N>,)+) {}

        impl<const HZ: u64, N: AsRef<str>, $($A: Algorithm<HZ>),+> Limits<HZ>
            for ($(Named<$A, N>,)+)
        {
            type State = ($($A::State,)+);
            type Steps = ($(Option<Looked<$A::Step, HZ>>,)+);

            fn len(&self) -> usize {
                $n
            }

            fn name(&self, index: usize) -> Option<&str> {
                match index {
                    $($idx => Some(self.$idx.name()),)+
                    _ => None,
                }
            }

            fn allowance(&self, index: usize) -> Option<Allowance<HZ>> {
                match index {
                    $($idx => Some(self.$idx.algorithm().allowance()),)+
                    _ => None,
                }
            }

            fn capacity(&self) -> u32 {
                let mut capacity = u32::MAX;
                $(capacity = capacity.min(self.$idx.algorithm().capacity());)+
                capacity
            }

            fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool {
                true $(&& self.$idx.algorithm().is_at_rest(&state.$idx, now))+
            }

            fn can_release(&self, state: &Self::State, cost: u32) -> Result<(), ReleaseError> {
                $(self.$idx.algorithm().can_release(&state.$idx, cost)?;)+
                Ok(())
            }

            fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError> {
                self.can_release(state, cost)?;
                // Every limit can release: none fails now.
                $(let _ = self.$idx.algorithm().release(&mut state.$idx, cost);)+
                Ok(())
            }

            fn states(&self, _state: &Self::State) -> usize {
                $n
            }

            #[inline(always)]
            fn no_steps(&self) -> Self::Steps {
                ($(None::<Looked<$A::Step, HZ>>,)+)
            }

            #[inline]
            fn look<'n>(
                &'n self,
                state: &Self::State,
                now: Instant<HZ>,
                cost: u32,
                overrides: &Overrides<'_>,
                steps: &mut Self::Steps,
                out: &mut [Report<'n, HZ>],
                tally: &mut Tally<HZ>,
            ) -> Option<()> {
                $(
                    steps.$idx = Some(look_one(
                        $idx, &self.$idx, &state.$idx, now, cost, overrides, out.get_mut($idx), tally,
                    )?);
                )+
                Some(())
            }

            #[inline]
            fn report<'n>(
                &'n self,
                state: &Self::State,
                _now: Instant<HZ>,
                _cost: u32,
                _overrides: &Overrides<'_>,
                steps: &Self::Steps,
                recorded: bool,
                every: bool,
                out: &mut [Report<'n, HZ>],
            ) {
                $(
                    if let Some(looked) = &steps.$idx {
                        report_admitted(&self.$idx, &state.$idx, looked, recorded, every, out.get_mut($idx));
                    }
                )+
            }

            #[inline]
            fn record(
                &self,
                state: &mut Self::State,
                _now: Instant<HZ>,
                _cost: u32,
                _overrides: &Overrides<'_>,
                steps: &Self::Steps,
            ) {
                $(
                    if let Some(looked) = &steps.$idx {
                        self.$idx.algorithm().record(&mut state.$idx, &looked.step);
                    }
                )+
            }

            fn smallest(&self, cost: u32, overrides: &Overrides<'_>) -> InsufficientCapacity {
                let mut worst = InsufficientCapacity::new(cost, u32::MAX);
                $(smaller(&mut worst, $idx, &self.$idx, overrides);)+
                worst
            }
        }

        impl<const HZ: u64, N: AsRef<str>, $($A: Algorithm<HZ>),+> FixedLimits<HZ>
            for ($(Named<$A, N>,)+)
        {
            type Reports<'n> = [Report<'n, HZ>; $n] where Self: 'n;

            fn new_state(&self) -> Self::State {
                ($(self.$idx.algorithm().new_state(),)+)
            }

            #[inline(always)]
            fn no_reports<'n>(&'n self) -> Self::Reports<'n> {
                [Report::EMPTY; $n]
            }
        }
    };
}

tuple_limits!(1; 0: A0);
tuple_limits!(2; 0: A0, 1: A1);
tuple_limits!(3; 0: A0, 1: A1, 2: A2);
tuple_limits!(4; 0: A0, 1: A1, 2: A2, 3: A3);
tuple_limits!(5; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4);
tuple_limits!(6; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4, 5: A5);
tuple_limits!(7; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4, 5: A5, 6: A6);
tuple_limits!(8; 0: A0, 1: A1, 2: A2, 3: A3, 4: A4, 5: A5, 6: A6, 7: A7);

/// The parts of [`Limits`] that arrays and slices share: a loop over one algorithm.
macro_rules! list_common {
    () => {
        fn len(&self) -> usize {
            self.as_ref().len()
        }

        fn name(&self, index: usize) -> Option<&str> {
            self.as_ref().get(index).map(Named::name)
        }

        fn allowance(&self, index: usize) -> Option<Allowance<HZ>> {
            self.as_ref().get(index).map(|l| l.algorithm().allowance())
        }

        fn capacity(&self) -> u32 {
            self.as_ref()
                .iter()
                .map(|l| l.algorithm().capacity())
                .min()
                .unwrap_or(u32::MAX)
        }

        fn is_at_rest(&self, state: &Self::State, now: Instant<HZ>) -> bool {
            self.as_ref()
                .iter()
                .zip(state.iter())
                .all(|(l, s)| l.algorithm().is_at_rest(s, now))
        }

        fn can_release(&self, state: &Self::State, cost: u32) -> Result<(), ReleaseError> {
            for (i, l) in self.as_ref().iter().enumerate() {
                let a = l.algorithm();
                match state.get(i) {
                    Some(s) => a.can_release(s, cost)?,
                    // A limit with no state holds nothing.
                    None => a.can_release(&a.new_state(), cost)?,
                }
            }
            Ok(())
        }

        fn states(&self, state: &Self::State) -> usize {
            state.len()
        }

        fn release(&self, state: &mut Self::State, cost: u32) -> Result<(), ReleaseError> {
            self.can_release(state, cost)?;
            // Every limit can release: none fails now.
            for (l, s) in self.as_ref().iter().zip(state.iter_mut()) {
                let _ = l.algorithm().release(s, cost);
            }
            Ok(())
        }

        fn smallest(&self, cost: u32, overrides: &Overrides<'_>) -> InsufficientCapacity {
            let mut worst = InsufficientCapacity::new(cost, u32::MAX);
            for (i, l) in self.as_ref().iter().enumerate() {
                smaller(&mut worst, i, l, overrides);
            }
            worst
        }
    };
}

impl<A, N, const LEN: usize> sealed::Sealed for [Named<A, N>; LEN] {}

impl<const HZ: u64, A: Algorithm<HZ>, N: AsRef<str>, const LEN: usize> Limits<HZ>
    for [Named<A, N>; LEN]
{
    type State = [A::State; LEN];
    type Steps = [Option<Looked<A::Step, HZ>>; LEN];

    list_common!();

    #[inline(always)]
    fn no_steps(&self) -> Self::Steps {
        [None; LEN]
    }

    #[inline]
    fn look<'n>(
        &'n self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &mut Self::Steps,
        out: &mut [Report<'n, HZ>],
        tally: &mut Tally<HZ>,
    ) -> Option<()> {
        let mut out = out.iter_mut();
        for (i, ((l, s), step)) in self.iter().zip(state).zip(steps.iter_mut()).enumerate() {
            *step = Some(look_one(i, l, s, now, cost, overrides, out.next(), tally)?);
        }
        Some(())
    }

    #[inline]
    fn report<'n>(
        &'n self,
        state: &Self::State,
        _now: Instant<HZ>,
        _cost: u32,
        _overrides: &Overrides<'_>,
        steps: &Self::Steps,
        recorded: bool,
        every: bool,
        out: &mut [Report<'n, HZ>],
    ) {
        let mut out = out.iter_mut();
        for ((l, s), step) in self.iter().zip(state).zip(steps) {
            let slot = out.next();
            if let Some(looked) = step {
                report_admitted(l, s, looked, recorded, every, slot);
            }
        }
    }

    #[inline]
    fn record(
        &self,
        state: &mut Self::State,
        _now: Instant<HZ>,
        _cost: u32,
        _overrides: &Overrides<'_>,
        steps: &Self::Steps,
    ) {
        for ((l, s), step) in self.iter().zip(state.iter_mut()).zip(steps) {
            if let Some(looked) = step {
                l.algorithm().record(s, &looked.step);
            }
        }
    }
}

impl<const HZ: u64, A: Algorithm<HZ>, N: AsRef<str>, const LEN: usize> FixedLimits<HZ>
    for [Named<A, N>; LEN]
{
    type Reports<'n>
        = [Report<'n, HZ>; LEN]
    where
        Self: 'n;

    fn new_state(&self) -> Self::State {
        self.each_ref().map(|l| l.algorithm().new_state())
    }

    #[inline(always)]
    fn no_reports<'n>(&'n self) -> Self::Reports<'n> {
        [Report::EMPTY; LEN]
    }
}

impl<A, N> sealed::Sealed for &[Named<A, N>] {}

/// A list built at run time. Its state is a slice of the limits' states, one per limit, and its
/// reports go to a buffer the caller provides ([`Policy::check_into`](crate::Policy::check_into)).
impl<const HZ: u64, A: Algorithm<HZ>, N: AsRef<str>> Limits<HZ> for &[Named<A, N>] {
    type State = [A::State];
    type Steps = [Option<Looked<A::Step, HZ>>; MAX_KEPT];

    list_common!();

    #[inline(always)]
    fn no_steps(&self) -> Self::Steps {
        [None; MAX_KEPT]
    }

    fn look<'n>(
        &'n self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &mut Self::Steps,
        out: &mut [Report<'n, HZ>],
        tally: &mut Tally<HZ>,
    ) -> Option<()> {
        let mut out = out.iter_mut();
        let mut kept = steps.iter_mut();
        for (i, (l, s)) in self.iter().zip(state).enumerate() {
            let looked = look_one(i, l, s, now, cost, overrides, out.next(), tally)?;
            if let Some(slot) = kept.next() {
                *slot = Some(looked);
            }
        }
        Some(())
    }

    fn report<'n>(
        &'n self,
        state: &Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &Self::Steps,
        recorded: bool,
        every: bool,
        out: &mut [Report<'n, HZ>],
    ) {
        let mut out = out.iter_mut();
        for (i, (l, s)) in self.iter().zip(state).enumerate() {
            let slot = out.next();
            if let Some(looked) = kept(steps, i, l, s, now, cost, overrides) {
                report_admitted(l, s, &looked, recorded, every, slot);
            }
        }
    }

    fn record(
        &self,
        state: &mut Self::State,
        now: Instant<HZ>,
        cost: u32,
        overrides: &Overrides<'_>,
        steps: &Self::Steps,
    ) {
        for (i, (l, s)) in self.iter().zip(state.iter_mut()).enumerate() {
            if let Some(looked) = kept(steps, i, l, s, now, cost, overrides) {
                l.algorithm().record(s, &looked.step);
            }
        }
    }
}

/// The step of limit `i` of a slice: kept from phase 1, or taken again past [`MAX_KEPT`].
#[allow(clippy::too_many_arguments)]
fn kept<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    steps: &[Option<Looked<A::Step, HZ>>; MAX_KEPT],
    i: usize,
    named: &Named<A, N>,
    state: &A::State,
    now: Instant<HZ>,
    cost: u32,
    overrides: &Overrides<'_>,
) -> Option<Looked<A::Step, HZ>> {
    match steps.get(i) {
        Some(looked) => *looked,
        None => look_one(
            i,
            named,
            state,
            now,
            cost,
            overrides,
            None,
            &mut Tally::default(),
        ),
    }
}
