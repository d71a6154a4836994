//! tollgate-core on a Cortex-M3: every algorithm decides a table of requests on the target, and
//! each decision is compared with the one worked out by hand.
//!
//! Run under QEMU with `cargo run --release` from this folder (see `.cargo/config.toml`). Every
//! check is printed through semihosting; the firmware exits with `EXIT_SUCCESS` when all of them
//! hold and with `EXIT_FAILURE` when any does not, on a panic and on a hard fault, so `cargo run`
//! fails with it. No global allocator is defined, so the build itself proves that nothing in the
//! core allocates.
//!
//! To cover a new algorithm, add a module with a `pub fn run(t: &mut Tally)` and one line to
//! [`SUITES`].

#![no_std]
#![no_main]

mod concurrency;
mod gcra;
mod harness;
mod meter;
mod pacer;
mod quota;
mod shaper;
mod sliding_log;
mod sliding_window;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use harness::Tally;

/// The tick rate of the checks: a 32.768 kHz RTC, the usual low-power timebase. Odd-sized
/// intervals (a third of a second is 10,922.67 ticks) exercise the core's rounding.
pub const HZ: u64 = 32_768;

/// A named function that records its checks in the tally.
type Suite = (&'static str, fn(&mut Tally));

/// One suite per algorithm (plus the shared quota validation), run in this order.
const SUITES: &[Suite] = &[
    ("quota", quota::run),
    ("gcra", gcra::run),
    ("meter", meter::run),
    ("shaper", shaper::run),
    ("sliding window", sliding_window::run),
    ("sliding log", sliding_log::run),
    ("concurrency", concurrency::run),
    ("pacer", pacer::run),
];

#[entry]
fn main() -> ! {
    let mut tally = Tally::new();
    for (name, suite) in SUITES {
        hprintln!("[{}]", name);
        suite(&mut tally);
    }
    hprintln!("firmware: {} passed, {} failed", tally.passed, tally.failed);
    exit(tally.failed == 0)
}

/// Ends the QEMU run with the given verdict.
fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(
        clippy::empty_loop,
        reason = "only reached on hardware without a debugger"
    )]
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HARD FAULT: {:?}", frame);
    exit(false)
}
