//! Counts and prints checks, one line each.

use core::fmt;

use cortex_m_semihosting::hprintln;

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

    /// The non-generic half of [`expect`](Self::expect): one copy of the printing code.
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

    /// Records one check that holds when `ok`, with what was seen.
    pub fn assert(&mut self, what: fmt::Arguments<'_>, ok: bool, seen: fmt::Arguments<'_>) {
        if ok {
            self.pass(what, seen);
        } else {
            self.fail(what, seen);
        }
    }

    #[inline(never)]
    fn pass(&mut self, what: fmt::Arguments<'_>, detail: fmt::Arguments<'_>) {
        self.passed = self.passed.saturating_add(1);
        hprintln!("  ok   {}: {}", what, detail);
    }

    #[inline(never)]
    fn fail(&mut self, what: fmt::Arguments<'_>, detail: fmt::Arguments<'_>) {
        self.failed = self.failed.saturating_add(1);
        hprintln!("  FAIL {}: {}", what, detail);
    }
}
