//! The check table machinery: expected outcomes, a runner for any [`Algorithm`], and the tally.

use core::fmt;

use cortex_m_semihosting::hprintln;
use tollgate_core::{Algorithm, Decision, Instant, InsufficientCapacity};

/// Counts and prints checks.
pub struct Tally {
    pub passed: u32,
    pub failed: u32,
}

impl Tally {
    pub const fn new() -> Self {
        Self {
            passed: 0,
            failed: 0,
        }
    }

    /// Records one check that holds when `got == want`.
    pub fn expect<T: PartialEq + fmt::Debug>(&mut self, what: fmt::Arguments<'_>, got: T, want: T) {
        self.compare(what, got == want, &got, &want);
    }

    /// The non-generic half of [`expect`](Self::expect): one copy of the printing code, not one
    /// per compared type.
    #[inline(never)]
    fn compare(
        &mut self,
        what: fmt::Arguments<'_>,
        ok: bool,
        got: &dyn fmt::Debug,
        want: &dyn fmt::Debug,
    ) {
        if ok {
            self.pass(what, format_args!("{got:?}"));
        } else {
            self.fail(what, format_args!("got {got:?}, want {want:?}"));
        }
    }

    /// Records one check that holds when `ok`.
    pub fn assert(&mut self, what: fmt::Arguments<'_>, ok: bool) {
        if ok {
            self.pass(what, format_args!("true"));
        } else {
            self.fail(what, format_args!("false"));
        }
    }

    #[inline(never)]
    pub fn pass(&mut self, what: fmt::Arguments<'_>, detail: fmt::Arguments<'_>) {
        self.passed = self.passed.saturating_add(1);
        hprintln!("  ok   {}: {}", what, detail);
    }

    #[inline(never)]
    pub fn fail(&mut self, what: fmt::Arguments<'_>, detail: fmt::Arguments<'_>) {
        self.failed = self.failed.saturating_add(1);
        hprintln!("  FAIL {}: {}", what, detail);
    }
}

/// What a check answered, in raw ticks so a table can spell it out. `delay` is zero for every
/// algorithm but a shaper's admissions, and for every denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow {
        limit: u32,
        remaining: u32,
        reset: u64,
        delay: u64,
    },
    Deny {
        limit: u32,
        remaining: u32,
        reset: u64,
        retry_after: u64,
        delay: u64,
    },
    TooBig {
        cost: u32,
        capacity: u32,
        index: Option<usize>,
    },
}

impl Outcome {
    pub fn of<const HZ: u64>(r: Result<Decision<HZ>, InsufficientCapacity>) -> Self {
        match r {
            Ok(d) => match d.retry_after {
                None => Self::Allow {
                    limit: d.limit,
                    remaining: d.remaining,
                    reset: d.reset.as_ticks(),
                    delay: d.delay.as_ticks(),
                },
                Some(wait) => Self::Deny {
                    limit: d.limit,
                    remaining: d.remaining,
                    reset: d.reset.as_ticks(),
                    retry_after: wait.as_ticks(),
                    delay: d.delay.as_ticks(),
                },
            },
            Err(InsufficientCapacity {
                cost,
                capacity,
                index,
            }) => Self::TooBig {
                cost,
                capacity,
                index,
            },
        }
    }

    fn admitted(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

/// One request of a table: at tick `at`, of `cost`, expected to answer `want`.
pub struct Step {
    pub at: u64,
    pub cost: u32,
    pub want: Outcome,
}

pub const fn at(at: u64, cost: u32, want: Outcome) -> Step {
    Step { at, cost, want }
}

/// An admission that proceeds at once (no delay).
pub const fn allow(limit: u32, remaining: u32, reset: u64) -> Outcome {
    Outcome::Allow {
        limit,
        remaining,
        reset,
        delay: 0,
    }
}

/// A denial (whose delay is always zero).
pub const fn deny(limit: u32, remaining: u32, reset: u64, retry_after: u64) -> Outcome {
    Outcome::Deny {
        limit,
        remaining,
        reset,
        retry_after,
        delay: 0,
    }
}

/// A cost that can never fit a single algorithm (no policy index).
pub const fn too_big(cost: u32, capacity: u32) -> Outcome {
    Outcome::TooBig {
        cost,
        capacity,
        index: None,
    }
}

/// Feeds `steps` to `alg` through the [`Algorithm`] trait, one check per step. A step holds when
/// `check` answers `want`, `peek` answered the same just before, and a request that was not
/// admitted with a non-zero cost (a denial, an error, a cost of zero) left the state deciding
/// exactly as before.
pub fn run_steps<const HZ: u64, A: Algorithm<HZ>>(
    t: &mut Tally,
    table: &str,
    alg: &A,
    state: &mut A::State,
    steps: &[Step],
) {
    for (i, s) in steps.iter().enumerate() {
        let now = Instant::<HZ>::from_ticks(s.at);
        let name = StepName {
            table,
            i,
            at: s.at,
            cost: s.cost,
        };
        let probe_before = peek(alg, state, now, 1);
        let peeked = peek(alg, state, now, s.cost);
        let checked = alg.check(state, now, s.cost);
        let got = Outcome::of(checked);
        let recorded_nothing = peek(alg, state, now, 1) == probe_before;
        if peeked != checked {
            let peeked = Outcome::of(peeked);
            t.fail(
                format_args!("{name}"),
                format_args!("peek {peeked:?} but check {got:?}"),
            );
        } else if (!got.admitted() || s.cost == 0) && !recorded_nothing {
            t.fail(
                format_args!("{name}"),
                format_args!("{got:?} but the state changed"),
            );
        } else {
            t.expect(format_args!("{name}"), got, s.want);
        }
    }
}

/// One out-of-line copy of `peek` per algorithm, however often the runner calls it.
#[inline(never)]
fn peek<const HZ: u64, A: Algorithm<HZ>>(
    alg: &A,
    state: &A::State,
    now: Instant<HZ>,
    cost: u32,
) -> Result<Decision<HZ>, InsufficientCapacity> {
    alg.peek(state, now, cost)
}

/// How a step is named in the output: `table #index t=ticks cost=n`.
pub struct StepName<'a> {
    pub table: &'a str,
    pub i: usize,
    pub at: u64,
    pub cost: u32,
}

impl fmt::Display for StepName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} #{} t={} cost={}",
            self.table, self.i, self.at, self.cost
        )
    }
}
