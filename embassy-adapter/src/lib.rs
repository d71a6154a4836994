#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
// No panics on any input: library code may not index, slice, unwrap or panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]
//! tollgate for embassy firmware: outbound throttles that tasks share from a `static` and
//! `await` their turn on, with no allocator.
//!
//! The math is the core's ([`tollgate_core`]); this crate adds embassy's clock, a blocking mutex
//! so a limiter can sit in a `static` and be used from any task or interrupt handler, and
//! `async` waits that sleep with `embassy_time::Timer` until a request's turn.
//!
//! - [`Limiter`](limiter::Limiter): one core limit (GCRA, sliding log) shared by every task.
//! - [`Throttle`](throttle::Throttle): one core state per key (a phone number, an account) in a
//!   fixed table; `try_acquire` now or never, `acquire(...).await` reserves a turn and sleeps
//!   until it, waiters in arrival order, each woken once.
//! - [`Outbound`](outbound::Outbound): a carrier's outbound limits per number, by default
//!   Bandwidth's (messages 1 per second per number averaged over 10 seconds; calls the same per
//!   number **and** per account, decided together; recipients per multi-message capped), with
//!   validated [`E164`](number::E164) numbers and the pause a carrier's 403 or 429 imposes.
//! - [`carrier`]: reading a carrier's denial (status, rate-limit headers, its JSON error code)
//!   into the core's [`Pacer`](tollgate_core::Pacer).
//!
//! # Time
//!
//! Instants are embassy's own ticks at [`HZ`] (`embassy_time::TICK_HZ`, chosen by the firmware
//! with a `tick-hz-*` feature of embassy-time), taken over without conversion or loss; the
//! aliases [`Instant`], [`Duration`] and [`Quota`] spell the rate so firmware never does.
//!
//! # Examples
//!
//! ```
//! use tollgate_embassy::number::E164;
//! use tollgate_embassy::outbound::{Outbound, OutboundKeys};
//!
//! // The carrier's limits for 56 numbers (55 placing calls: the account takes a call slot),
//! // at most 10 recipients per multi-message: the numbers' states (all zeros until used, so
//! // in .bss), and the configuration over them.
//! static NUMBERS: OutboundKeys<64> = OutboundKeys::new();
//! static OUTBOUND: Outbound<64> = Outbound::carrier(&NUMBERS, 10);
//!
//! # embassy_time::MockDriver::get().reset();
//! let from = E164::parse("+15551234567")?;
//! # embassy_futures::block_on(async {
//! let turn = OUTBOUND.message(from, 1).await?; // waits for the number's turn
//! // ... send the message, then tell the throttle what the carrier answered:
//! OUTBOUND.backoff().on_response(202, [("content-type", "application/json")], b"{}", None, 0);
//! # assert_eq!(turn.waited.as_ticks(), 0);
//! # Ok::<(), tollgate_embassy::outbound::OutboundError>(())
//! # })?;
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Features
//!
//! `defmt`: `defmt::Format` on every public data type, and denials and cancellations logged
//! with `defmt::debug!` (filtered out unless `DEFMT_LOG` lets `debug` through). It also turns on
//! embassy-time's and embassy-sync's `defmt`, whose errors and panics go through defmt, so a
//! firmware with it needs what every defmt firmware has: a `#[defmt::global_logger]`, a
//! `defmt::timestamp!`, a `#[defmt::panic_handler]`, and `-Tdefmt.x` among its link arguments
//! (`embassy-adapter/firmware` shows them).
//!
//! # Memory
//!
//! Configuration and state are separate `static`s: the states ([`OutboundKeys`](outbound::OutboundKeys),
//! [`Keys`](throttle::Keys)) are all zeros until used, so they land in `.bss` and cost RAM only;
//! the limits over them ([`Outbound`](outbound::Outbound), [`Throttle`](throttle::Throttle)) are
//! a few dozen bytes. With the carrier's limits a number's slot is 120 bytes (its key, a hash and
//! a sliding log of 10 entries), so 64 slots for messages (56 numbers) and 64 for calls (55
//! numbers and the account) take
//! 15,408 bytes (`.ci/embedded.sh` measures the firmware).

pub mod carrier;
pub mod limiter;
pub mod number;
pub mod outbound;
pub mod throttle;

/// The core, for its algorithms, quotas and [`valid!`] in a firmware's `static`s.
pub use ::tollgate_core;
use ::tollgate_core::Clock;
pub use ::tollgate_core::valid;

/// Ticks per second: embassy's `TICK_HZ`, as the firmware configured it.
pub const HZ: u64 = embassy_time::TICK_HZ;

/// An instant in embassy's ticks.
pub type Instant = tollgate_core::Instant<HZ>;
/// A duration in embassy's ticks.
pub type Duration = tollgate_core::Duration<HZ>;
/// A rate in embassy's ticks.
pub type Quota = tollgate_core::Quota<HZ>;

/// embassy's clock, as the core reads clocks: `embassy_time::Instant::now()`, tick for tick.
///
/// # Examples
///
/// ```
/// use tollgate_core::Clock;
/// use tollgate_embassy::EmbassyClock;
///
/// # embassy_time::MockDriver::get().reset();
/// embassy_time::MockDriver::get().advance(embassy_time::Duration::from_millis(1_500));
/// assert_eq!(EmbassyClock.now().as_ticks(), embassy_time::Instant::now().as_ticks());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EmbassyClock;

impl Clock<HZ> for EmbassyClock {
    fn now(&self) -> Instant {
        now()
    }
}

/// The current instant, from embassy's time driver.
pub fn now() -> Instant {
    Instant::from_ticks(embassy_time::Instant::now().as_ticks())
}

/// The same instant as embassy's.
pub const fn to_embassy(at: Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_ticks(at.as_ticks())
}

/// Sleeps until `at`; returns at once, without yielding, if it has come.
async fn sleep_until(at: Instant) {
    // embassy's `Timer` yields once even for an instant that has passed.
    if now() < at {
        embassy_time::Timer::at(to_embassy(at)).await;
    }
}
