//! Shared by the host tests: embassy-time's mock driver as a virtual clock.
//!
//! The mock driver is one global clock, and test threads run in parallel: every test holds
//! [`clock`]'s guard, which also resets the clock to zero.

#![allow(dead_code, reason = "each test binary uses part of it")]

use core::future::Future;
use core::pin::pin;
use core::task::Poll;
use std::sync::{Mutex, MutexGuard};

use embassy_futures::poll_once;
use embassy_time::MockDriver;
use tollgate_embassy::number::E164;
use tollgate_embassy::outbound::Outbound;

static CLOCK: Mutex<()> = Mutex::new(());

/// The virtual clock for one test, at zero.
pub fn clock() -> MutexGuard<'static, ()> {
    let guard = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    MockDriver::get().reset();
    guard
}

/// One step of virtual time: every wake happens within one step after its instant.
pub const STEP_MS: u64 = 1;

/// Runs `fut` to completion, advancing virtual time by a step whenever it is pending.
pub fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = poll_once(fut.as_mut()) {
            return v;
        }
        MockDriver::get().advance(embassy_time::Duration::from_millis(STEP_MS));
    }
}

/// Milliseconds to ticks.
pub fn ms(ms: u64) -> u64 {
    embassy_time::Duration::from_millis(ms).as_ticks()
}

/// The most cost admitted in any window `(x − window, x]`, over admissions `(instant, cost)`.
pub fn most_in_any_window(admitted: &[(u64, u32)], window: u64) -> u64 {
    admitted
        .iter()
        .map(|&(x, _)| {
            admitted
                .iter()
                .filter(|&&(t, _)| t <= x && t + window > x)
                .map(|&(_, c)| u64::from(c))
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0)
}

/// Runs every future to completion together (one task each, as on one executor), advancing
/// virtual time by a step whenever all that are left are pending.
pub fn run_all<'a>(mut futs: Vec<core::pin::Pin<Box<dyn Future<Output = ()> + 'a>>>) {
    while !futs.is_empty() {
        futs.retain_mut(|f| poll_once(f.as_mut()).is_pending());
        if !futs.is_empty() {
            MockDriver::get().advance(embassy_time::Duration::from_millis(STEP_MS));
        }
    }
}

/// The `i`-th test number, +1 555 123 0000 + i.
pub fn number(i: u64) -> E164 {
    E164::from_u64(15_551_230_000 + i).unwrap()
}

/// Fills `from`'s window of ten messages at once.
pub fn fill(outbound: &Outbound<'_, 64>, from: E164) {
    for _ in 0..10 {
        outbound.try_message(from, 1).unwrap();
    }
}
