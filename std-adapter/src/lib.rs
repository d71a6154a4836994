//! tollgate for std programs: the core's decisions, shared by threads, per key for millions of
//! keys, and read from policy files.
//!
//! The math is `tollgate-core`'s, unchanged; this crate gives it a clock, places to keep states
//! that threads share, waiting, and a file format:
//!
//! | type | what | state |
//! | --- | --- | --- |
//! | [`Limiter`] | one GCRA limit, lock-free (one `AtomicU64`, compare-and-swap on the core's step) | 8 bytes |
//! | [`SharedPolicy`] | several named limits of any algorithms, all-or-nothing, behind one mutex | the limits' states |
//! | [`KeyedLimiter`] | one GCRA limit per key, sharded map, idle keys dropped as it goes | 8 bytes + key per key |
//! | [`KeyedPolicy`] | a policy per key, chosen from tiers (plans) | the tier's states + key per key |
//! | [`config::PolicyFile`] | the TOML policy format of the library, the `tollgate` command and the examples | |
//! | `middleware::RateLimitLayer` (feature `tower`) | a tower layer for axum and hyper: keys, plans, headers, 429s | a [`KeyedPolicy`]'s |
//! | `client::Pacer` (feature `tower`) | the client side: waits as a server's rate-limit headers say | 12 bytes |
//! | `simulate::Simulation` (feature `simulate`) | a trace replayed against a policy file, as `tollgate simulate` does | per key |
//! | `redis::RedisPolicy`, `redis::RedisLimiter` (feature `redis`) | a policy per key kept in Redis for a fleet of hosts: one script call per decision, exactly the in-memory decisions; a failure policy when Redis is away | in Redis |
//!
//! Each decides exactly as the core does on the same requests in the order they were decided
//! (the differential tests in `tests/differential.rs` check it against the core and the test
//! kit's reference models), so each keeps the core algorithm's guarantee under any contention
//! (`tests/contention.rs`, 2 to 16 threads).
//!
//! Time is in nanoseconds ([`HZ`]) from a [`StdClock`](clock::StdClock); the aliases below
//! ([`Instant`], [`Duration`], [`Quota`], [`Decision`], [`Limit`]) fix the core's `HZ` so that
//! std code never spells it.
//!
//! # Examples
//!
//! governor's everyday use, and the same with the full decision for headers:
//!
//! ```
//! use tollgate_std::{Limiter, Quota};
//!
//! let limiter = Limiter::new(Quota::per_second(50)?);
//! assert!(limiter.check().is_ok());
//! let d = limiter.decide(1)?;
//! assert_eq!((d.limit, d.remaining), (50, 48));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "cli")]
pub mod check;
#[cfg(feature = "tower")]
pub mod client;
pub mod clock;
pub mod config;
pub mod key;
pub mod keyed;
pub mod limiter;
#[cfg(feature = "tower")]
pub mod middleware;
pub mod policy;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "simulate")]
pub mod simulate;
pub mod storage;
mod wait;

pub use config::{ConfigFileError, PolicyFile};
pub use key::ShortKey;
pub use keyed::{KeyedLimiter, KeyedPolicy};
pub use limiter::{Limiter, NotUntil};
pub use policy::{Permit, SharedPolicy};
pub use storage::Heap;
pub use wait::{IDLE_POLL, Jitter};

/// Ticks per second of every instant and duration in this crate: nanoseconds.
pub const HZ: u64 = 1_000_000_000;

/// A point in time, in nanoseconds since the clock's start.
pub type Instant = tollgate_core::Instant<HZ>;
/// A span of time in nanoseconds.
pub type Duration = tollgate_core::Duration<HZ>;
/// A rate: N per window, with a burst.
pub type Quota = tollgate_core::Quota<HZ>;
/// What a limit says about one request.
pub type Decision = tollgate_core::Decision<HZ>;
/// Any of the core's algorithms, chosen at run time, its logs and windows on the heap.
pub type Limit = tollgate_core::AnyLimit<HZ, Heap>;
/// The state of a [`Limit`].
pub type LimitState = tollgate_core::AnyState<Heap>;
/// One named limit's figures in a policy's decision.
pub type Report<'a> = tollgate_core::Report<'a, HZ>;
