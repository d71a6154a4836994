#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
//! Allocation-free rate limiting for firmware and servers alike.

pub mod body;
pub mod concurrency;
pub mod decision;
pub mod error;
pub mod gcra;
pub mod headers;
pub mod leaky_bucket;
pub mod pacer;
pub mod policy;
pub mod quota;
pub mod report;
pub mod sliding_log;
pub mod sliding_window;
pub mod table;
pub mod time;

pub use body::{
    CodedError, Detail, JsonStr, MultiMessageLimit, ProblemDetails, RateSentence, TooManyRequests,
};
pub use concurrency::{Concurrency, ConcurrencyState, Permit};
pub use decision::{Algorithm, Decision, NotUntil};
pub use error::{ConfigError, InsufficientCapacity, ReleaseError};
pub use gcra::{Gcra, GcraState};
pub use headers::{
    BucketInfo, HeaderConfig, HeaderError, HeaderField, HeaderLines, HeaderSink, HttpDate,
    LimitValues, QuotaUnit, RateLimitSummary, RenderError, ReportSet, ResetFormat, ResetKind,
    TestHeaders, WallClock, XRateLimit,
};
pub use leaky_bucket::{Meter, MeterState, Reservation, Shaper, ShaperState};
pub use pacer::{GiveUpReason, Next, Outcome, Pacer, PacerState, ServerHints};
pub use policy::{
    ExceedsLimit, Limits, Named, Overrides, Policy, PolicyDecision, Rendered, UNLIMITED, Unlimited,
    Verdict,
};
pub use quota::Quota;
pub use report::Report;
pub use sliding_log::{LogState, Offset, SlidingLog};
pub use sliding_window::{Measurement, SlidingWindow, WindowState};
pub use table::{KeyLimits, KeyTable, Overflow, TableError, Tiers};
pub use time::{Clock, Duration, Instant, ManualClock};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
