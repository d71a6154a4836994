//! The all-or-nothing engine: one step per limit, then reports, then records.
//!
//! The same three phases serve every list of limits a [`Policy`](crate::Policy) can hold: tuples
//! of 1 to 8 limits of any algorithms (a macro writes out each position, so every call is static),
//! arrays of one algorithm, and slices of a list built at run time.
//!
//! 1. **Look.** Each limit takes one [`step`](Algorithm::step) (two when a test override lowers
//!    it) and says whether it admits; the tally keeps the longest [`wait`](Algorithm::wait) of
//!    those that deny. Nothing is written to any state.
//! 2. **Report.** Every limit reports once: as recorded when the whole policy admits, else as its
//!    state stands without the request (a denying limit with its wait). A tuple builds its array
//!    of reports in one expression, straight into the answer; an array fills one; a runtime list
//!    writes the caller's buffer.
//! 3. **Record.** Only when the policy admits: every limit records its step.
//!
//! Steps live on the stack between the phases: a tuple or an array of them for fixed lists, and
//! for a slice, the first [`MAX_KEPT`] (a longer list takes its later limits' steps again when
//! reporting and recording: the same state and instant give the same step).

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

/// One request as a policy decides it: when, at what cost, with which test overrides.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Ask<'o, const HZ: u64> {
    pub(crate) now: Instant<HZ>,
    pub(crate) cost: u32,
    pub(crate) overrides: &'o Overrides<'o>,
}

/// One limit's step and whether it admits (a test override may deny what the step admits).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Looked<S> {
    step: S,
    admitted: bool,
}

/// What the look phase found across all limits: the denial with the longest wait.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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

    /// What the limit at `index` allows.
    fn allowance(&self, index: usize) -> Option<Allowance<HZ>>;

    /// The smallest capacity among the limits.
    fn capacity(&self) -> u32;

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

    /// Phase 1; `None` when some limit can never admit `cost`.
    #[doc(hidden)]
    fn look(
        &self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        tally: &mut Tally<HZ>,
    ) -> Option<Self::Steps>;

    /// Phase 2 into a buffer: one report per limit.
    #[doc(hidden)]
    fn report_into<'n>(
        &'n self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        steps: &Self::Steps,
        recorded: bool,
        out: &mut [Report<'n, HZ>],
    );

    /// Phase 3.
    #[doc(hidden)]
    fn record(&self, state: &mut Self::State, ask: &Ask<'_, HZ>, steps: &Self::Steps);

    /// The error for a cost some limit can never admit: the smallest capacity (after
    /// overrides), the first declared among equals.
    #[doc(hidden)]
    fn smallest(&self, cost: u32, overrides: &Overrides<'_>) -> InsufficientCapacity;
}

/// A list of a number of limits fixed in its type (a tuple or an array), whose decisions hold
/// their reports inline.
///
/// Code that serves any policy (a middleware layer, a firmware task) is generic over it and
/// reads every answer through [`PolicyDecision`](crate::PolicyDecision)'s methods:
///
/// ```
/// use tollgate_core::{FixedLimits, Gcra, HeaderConfig, HeaderLines, Instant, Named, Policy, Quota};
///
/// /// The status and headers of a response, for any policy.
/// fn respond<L: FixedLimits<1_000>>(
///     policy: &Policy<L>,
///     state: &mut L::State,
///     now: Instant<1_000>,
/// ) -> (u16, String) {
///     let mut headers = HeaderLines(String::new());
///     let status = match policy.check(state, now, 1) {
///         Ok(d) => {
///             d.report_set(now).write_headers(&HeaderConfig::none().with_ietf(), &mut headers).ok();
///             if d.is_allowed() { 200 } else { 429 }
///         }
///         Err(_) => 413, // a cost no limit can ever admit
///     };
///     (status, headers.0)
/// }
///
/// let policy = Policy::new((Named::new("second", Gcra::new(Quota::<1_000>::per_second(1)?)),));
/// let mut state = policy.new_state();
/// let now = Instant::from_ticks(0);
/// assert_eq!(respond(&policy, &mut state, now).0, 200);
/// let (status, headers) = respond(&policy, &mut state, now);
/// assert_eq!(status, 429);
/// assert!(headers.starts_with("RateLimit-Policy: \"second\";q=1;w=1\r\n"));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub trait FixedLimits<const HZ: u64>: Limits<HZ, State: Sized> {
    /// One report per limit: `[Report<'n, HZ>; N]`.
    type Reports<'n>: AsRef<[Report<'n, HZ>]> + AsMut<[Report<'n, HZ>]> + Copy
    where
        Self: 'n;

    /// Every limit's fresh state.
    fn new_state(&self) -> Self::State;

    /// Phase 2 for a fixed list: its reports, as an array.
    #[doc(hidden)]
    fn reports<'n>(
        &'n self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        steps: &Self::Steps,
        recorded: bool,
    ) -> Self::Reports<'n>;
}

/// Phase 1 on `limits`: the verdict and the steps to report and record. An error when some
/// limit can never admit `cost`.
#[inline(always)]
pub(crate) fn look<const HZ: u64, L: Limits<HZ> + ?Sized>(
    limits: &L,
    state: &L::State,
    ask: &Ask<'_, HZ>,
) -> Result<(Verdict, L::Steps), InsufficientCapacity> {
    let mut tally = Tally::default();
    match limits.look(state, ask, &mut tally) {
        Some(steps) => Ok((tally.verdict(ask.overrides.deny, ask.cost), steps)),
        None => Err(cold_smallest(limits, ask.cost, ask.overrides)),
    }
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

/// The value a test override lowers `named` to, if it lowers it.
#[inline(always)]
fn lowering<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    named: &Named<A, N>,
    overrides: &Overrides<'_>,
) -> Option<u32> {
    if overrides.lower.is_empty() {
        return None;
    }
    let a = named.algorithm();
    overrides.lowered_to(named.name(), a.capacity(), !a.allowance().is_unlimited())
}

/// The capacity of `named` for this request: its own, or what an override lowers it to.
#[inline]
fn effective_capacity<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    named: &Named<A, N>,
    overrides: &Overrides<'_>,
) -> u32 {
    lowering(named, overrides).unwrap_or_else(|| named.algorithm().capacity())
}

/// The step a limit lowered to `low` takes besides its own: as if `k = L − L'` more units were
/// charged (`cost + k ≤ L' + k = L`, so it fits). `None` when the cost exceeds the lowered value.
#[inline]
fn lowered_step<A: Algorithm<HZ>, const HZ: u64>(
    a: &A,
    state: &A::State,
    ask: &Ask<'_, HZ>,
    low: u32,
) -> Option<(u32, A::Step)> {
    if ask.cost > low {
        return None;
    }
    let k = a.capacity().saturating_sub(low);
    let step = a.step(state, ask.now, ask.cost.saturating_add(k)).ok()?;
    Some((k, step))
}

/// Phase 1 for one limit: its step (and, lowered, the step at `cost + k`), whether it admits,
/// and, if it denies, its wait to the tally.
#[inline(always)]
fn look_one<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    index: usize,
    named: &Named<A, N>,
    state: &A::State,
    ask: &Ask<'_, HZ>,
    tally: &mut Tally<HZ>,
) -> Option<Looked<A::Step>> {
    let a = named.algorithm();
    let step = match a.step(state, ask.now, ask.cost) {
        Ok(step) => step,
        Err(_) => return None,
    };
    let admitted = a.admits(&step);
    if let Some(low) = lowering(named, ask.overrides) {
        let (_, virt) = lowered_step(a, state, ask, low)?;
        let virt_denies = ask.cost > 0 && !a.admits(&virt);
        if !admitted || virt_denies {
            let wait = if admitted { None } else { a.wait(state, &step) };
            let virt_wait = if virt_denies {
                a.wait(state, &virt)
            } else {
                None
            };
            tally.deny(index, wait.max(virt_wait));
        }
        return Some(Looked {
            step,
            admitted: admitted && !virt_denies,
        });
    }
    if !admitted {
        tally.deny(index, a.wait(state, &step));
    }
    Some(Looked { step, admitted })
}

/// Phase 2 for one limit: its report, as recorded or not.
#[inline(always)]
fn report_one<'n, A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    named: &'n Named<A, N>,
    state: &A::State,
    ask: &Ask<'_, HZ>,
    looked: &Looked<A::Step>,
    recorded: bool,
) -> Report<'n, HZ> {
    let a = named.algorithm();
    let mut decision = a.decision(state, &looked.step, recorded && looked.admitted);
    if let Some(low) = lowering(named, ask.overrides)
        && let Some((k, virt)) = lowered_step(a, state, ask, low)
    {
        let virt_wait = if looked.admitted {
            None
        } else {
            a.wait(state, &virt)
        };
        decision = lower(decision, low, k, virt_wait, looked.admitted);
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
    low: u32,
    k: u32,
    virt_wait: Option<Duration<HZ>>,
    admitted: bool,
) -> Decision<HZ> {
    Decision {
        limit: low,
        remaining: plain.remaining.saturating_sub(k).min(low),
        // What is really recorded drains on the real schedule.
        reset: plain.reset,
        retry_after: if admitted {
            None
        } else {
            plain.retry_after.max(virt_wait)
        },
        delay: if admitted {
            plain.delay
        } else {
            Duration::<HZ>::from_ticks(0)
        },
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
            type Steps = ($(Looked<$A::Step>,)+);

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
            fn look(
                &self,
                state: &Self::State,
                ask: &Ask<'_, HZ>,
                tally: &mut Tally<HZ>,
            ) -> Option<Self::Steps> {
                Some(($(look_one($idx, &self.$idx, &state.$idx, ask, tally)?,)+))
            }

            #[inline]
            fn report_into<'n>(
                &'n self,
                state: &Self::State,
                ask: &Ask<'_, HZ>,
                steps: &Self::Steps,
                recorded: bool,
                out: &mut [Report<'n, HZ>],
            ) {
                $(
                    if let Some(slot) = out.get_mut($idx) {
                        *slot = report_one(&self.$idx, &state.$idx, ask, &steps.$idx, recorded);
                    }
                )+
            }

            #[inline(always)]
            fn record(
                &self,
                state: &mut Self::State,
                _ask: &Ask<'_, HZ>,
                steps: &Self::Steps,
            ) {
                $(self.$idx.algorithm().record(&mut state.$idx, &steps.$idx.step);)+
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
            fn reports<'n>(
                &'n self,
                state: &Self::State,
                ask: &Ask<'_, HZ>,
                steps: &Self::Steps,
                recorded: bool,
            ) -> Self::Reports<'n> {
                [$(report_one(&self.$idx, &state.$idx, ask, &steps.$idx, recorded),)+]
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
    type Steps = [Option<Looked<A::Step>>; LEN];

    list_common!();

    #[inline]
    fn look(
        &self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        tally: &mut Tally<HZ>,
    ) -> Option<Self::Steps> {
        let mut steps = [None; LEN];
        for (i, ((l, s), step)) in self.iter().zip(state).zip(steps.iter_mut()).enumerate() {
            *step = Some(look_one(i, l, s, ask, tally)?);
        }
        Some(steps)
    }

    #[inline]
    fn report_into<'n>(
        &'n self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        steps: &Self::Steps,
        recorded: bool,
        out: &mut [Report<'n, HZ>],
    ) {
        for (((l, s), step), slot) in self.iter().zip(state).zip(steps).zip(out) {
            if let Some(looked) = step {
                *slot = report_one(l, s, ask, looked, recorded);
            }
        }
    }

    #[inline]
    fn record(&self, state: &mut Self::State, _ask: &Ask<'_, HZ>, steps: &Self::Steps) {
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

    #[inline]
    fn reports<'n>(
        &'n self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        steps: &Self::Steps,
        recorded: bool,
    ) -> Self::Reports<'n> {
        let mut out = [Report::EMPTY; LEN];
        self.report_into(state, ask, steps, recorded, &mut out);
        out
    }
}

impl<A, N> sealed::Sealed for &[Named<A, N>] {}

/// A list built at run time. Its state is a slice of the limits' states, one per limit, and its
/// reports go to a buffer the caller provides ([`Policy::check_into`](crate::Policy::check_into)).
impl<const HZ: u64, A: Algorithm<HZ>, N: AsRef<str>> Limits<HZ> for &[Named<A, N>] {
    type State = [A::State];
    type Steps = [Option<Looked<A::Step>>; MAX_KEPT];

    list_common!();

    fn look(
        &self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        tally: &mut Tally<HZ>,
    ) -> Option<Self::Steps> {
        let mut steps = [None; MAX_KEPT];
        let mut kept = steps.iter_mut();
        for (i, (l, s)) in self.iter().zip(state).enumerate() {
            let looked = look_one(i, l, s, ask, tally)?;
            if let Some(slot) = kept.next() {
                *slot = Some(looked);
            }
        }
        Some(steps)
    }

    fn report_into<'n>(
        &'n self,
        state: &Self::State,
        ask: &Ask<'_, HZ>,
        steps: &Self::Steps,
        recorded: bool,
        out: &mut [Report<'n, HZ>],
    ) {
        for (i, ((l, s), slot)) in self.iter().zip(state).zip(out).enumerate() {
            if let Some(looked) = kept(steps, i, l, s, ask) {
                *slot = report_one(l, s, ask, &looked, recorded);
            }
        }
    }

    fn record(&self, state: &mut Self::State, ask: &Ask<'_, HZ>, steps: &Self::Steps) {
        for (i, (l, s)) in self.iter().zip(state.iter_mut()).enumerate() {
            if let Some(looked) = kept(steps, i, l, s, ask) {
                l.algorithm().record(s, &looked.step);
            }
        }
    }
}

/// The step of limit `i` of a slice: kept from phase 1, or taken again past [`MAX_KEPT`].
fn kept<A: Algorithm<HZ>, N: AsRef<str>, const HZ: u64>(
    steps: &[Option<Looked<A::Step>>; MAX_KEPT],
    i: usize,
    named: &Named<A, N>,
    state: &A::State,
    ask: &Ask<'_, HZ>,
) -> Option<Looked<A::Step>> {
    match steps.get(i) {
        Some(looked) => *looked,
        None => look_one(i, named, state, ask, &mut Tally::default()),
    }
}
