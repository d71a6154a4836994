#![cfg_attr(not(test), no_std)]
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
//! Allocation-free rate limiting for firmware and servers alike.
//!
//! `tollgate-core` is `#![no_std]`, never allocates, has no `unsafe`, and does not panic on any
//! input: bad configuration and impossible requests are typed errors, arithmetic saturates at the
//! end of time instead of wrapping. Every algorithm is a pure state machine: configuration is an
//! immutable value built by `const fn` (so it can sit in a `static`), state is small plain data the
//! caller keeps wherever it likes (GCRA: one `u64`), and time comes in as an argument.
//!
//! ```
//! use tollgate_core::{Duration, Gcra, Instant, Quota, valid};
//!
//! // 300 per minute, 5 at once, on a 1 kHz tick; a bad quota here would not compile.
//! static LIMIT: Gcra<1_000> = Gcra::new(valid!(Quota::per_minute(300), with_burst(5)));
//! let mut state = LIMIT.new_state(); // 8 bytes
//! let now = Instant::<1_000>::from_ticks(0);
//! for _ in 0..5 {
//!     assert!(LIMIT.try_acquire(&mut state, now).is_ok());
//! }
//! let wait = LIMIT.try_acquire(&mut state, now).unwrap_err();
//! assert_eq!(wait.retry_after(), Duration::<1_000>::from_millis(200));
//! ```
//!
//! # A tour, from the ground up
//!
//! Every module depends only on those listed before it.
//!
//! - **Time** ([`time`]): [`Instant<HZ>`](Instant) and [`Duration<HZ>`](Duration) are fugit's
//!   `u64` tick types at a const-generic rate, so embassy's `TICK_HZ`, a 1 kHz systick and
//!   nanosecond host clocks all fit. A [`Clock`] lives at the edges; [`ManualClock`] drives tests.
//! - **Errors** ([`error`]): typed, `Copy`, no strings. [`valid!`] turns a bad configuration
//!   in a `const` or `static` into a compile error.
//! - **Records** ([`codec`]): every state written as a small versioned, checksummed record and
//!   read back, for flash, files and shared stores.
//! - **Quotas** ([`quota`]): a [`Quota`] is validated once; the interval rounds up, so rounding
//!   only ever makes a limiter stricter. An [`Allowance`] is a limit's promise as its user wrote it.
//! - **Algorithms** ([`algorithm`]): each implements [`Algorithm`] as a pure step (look at a state,
//!   then record) and answers a [`Decision`] (limit, remaining, reset, retry-after, delay) whose
//!   fields mean the same everywhere; a cost that can never fit is [`InsufficientCapacity`], not a
//!   denial. Each states its exact guarantee in its module docs, proven by property tests against
//!   naive reference models: [`Gcra`] (rate with burst, the cheapest), the leaky-bucket [`Meter`]
//!   (decides exactly like GCRA) and [`Shaper`] (delays instead of refusing, like nginx
//!   `limit_req`), [`SlidingLog`] (exactly N in every rolling window), [`SlidingWindow`] (never
//!   more than N per window, memory independent of N, measured rates), [`Concurrency`] (requests
//!   in flight), [`Unlimited`], and [`AnyLimit`], any of them chosen at run time. Sliding logs and
//!   windows keep their elements in a [`Storage`](algorithm::storage::Storage): inline, or sized at
//!   run time.
//! - **Policies** ([`policy`]): several [`Named`] limits decided all-or-nothing in one pass, as a
//!   tuple, an array or a runtime list, with test [`Overrides`]; the answer is a
//!   [`PolicyDecision`] of one [`Report`] per limit.
//! - **Key tables** ([`table`]): a [`KeyTable`] keeps one state per key in fixed memory, checks
//!   several keys all-or-nothing, and [`Tiers`] map plans to policies.
//! - **HTTP** ([`http`]): rate-limit headers and JSON bodies rendered from a [`ReportSet`] into any
//!   sink without allocating, and read from untrusted bytes in every rate-limit dialect in the
//!   wild (the classic `X-RateLimit-*` family and its variants, OpenAI's, Anthropic's,
//!   Shopify's, the IETF drafts), each bucket tagged with its [`Dialect`]
//!   ([`RateLimitSummary`]).
//! - **Clients** ([`pacer`]): a [`Pacer`] says when the next request may go.
//!
//! # Choosing an algorithm
//!
//! | need | algorithm | state |
//! |---|---|---|
//! | a rate with a burst, fastest | [`Gcra`] | 8 bytes |
//! | the same as a water level (a second implementation) | [`Meter`] | 16 bytes |
//! | queue and delay instead of refusing | [`Shaper`] | 8 bytes |
//! | "N per rolling W", exact, small N | [`SlidingLog`] | about 8 bytes per entry |
//! | "N per W" for large N, or a measured average rate | [`SlidingWindow`] | 4 bytes per bucket |
//! | at most N in flight | [`Concurrency`] | 4 bytes |
//!
//! GCRA admits `burst + ⌊d / T⌋` in any interval of length `d`, so over one window it can admit
//! nearly twice the limit when the burst equals it: use a sliding algorithm when the window count
//! itself is the promise.
//!
//! # Features
//!
//! `defmt` derives `defmt::Format` on every public data type. Nothing else; no default features.
//!
//! # MSRV
//!
//! Rust 1.88.

pub mod algorithm;
pub mod codec;
pub mod error;
pub mod http;
pub mod pacer;
pub mod policy;
pub mod quota;
pub mod table;
pub mod time;

pub use algorithm::any::{AnyLimit, AnyState, AnyStep};
pub use algorithm::concurrency::{Concurrency, ConcurrencyState, ConcurrencyStep, Permit};
pub use algorithm::gcra::{Gcra, GcraState, GcraStep};
pub use algorithm::leaky_bucket::{
    Meter, MeterState, MeterStep, Reservation, Shaper, ShaperState, ShaperStep,
};
pub use algorithm::sliding_log::{LogState, LogStep, Offset, SlidingLog};
pub use algorithm::sliding_window::{Measurement, SlidingWindow, WindowState, WindowStep};
pub use algorithm::unlimited::Unlimited;
pub use algorithm::{Algorithm, Allowance, Decision, NotUntil};
pub use codec::{Codec, CodecError};
pub use error::{ConfigError, IndexOutOfRange, InsufficientCapacity, ReleaseError};
pub use http::body::{
    CodedError, Detail, JsonStr, MultiMessageLimit, ProblemDetails, RateSentence, TooManyRequests,
};
pub use http::{
    Bucket, BucketInfo, Dialect, Figure, HeaderConfig, HeaderError, HeaderField, HeaderLines,
    HeaderSink, HttpDate, LimitValues, QuotaUnit, RateLimitSummary, RenderError, ResetFormat,
    ResetKind, TestHeaders, WallClock, XRateLimit,
};
pub use pacer::{BackoffError, GiveUpReason, Next, Outcome, Pacer, PacerState, ServerHints};
pub use policy::decision::{PolicyDecision, Verdict};
pub use policy::engine::{FixedLimits, Limits};
pub use policy::named::Named;
pub use policy::report::{Report, ReportSet};
pub use policy::{Overrides, Policy, PolicyStep};
pub use quota::Quota;
pub use table::{KeyLimits, KeyTable, Overflow, TableError, Tiers};
pub use time::{Clock, Duration, Instant, ManualClock};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
