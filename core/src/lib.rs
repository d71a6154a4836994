#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
//! Allocation-free rate limiting for firmware and servers alike.

pub mod decision;
pub mod error;
pub mod gcra;
pub mod policy;
pub mod quota;
pub mod report;
pub mod table;
pub mod time;

pub use decision::{Algorithm, Decision, NotUntil};
pub use error::{ConfigError, InsufficientCapacity, ReleaseError};
pub use gcra::{Gcra, GcraState};
pub use policy::{
    ExceedsLimit, Limits, Named, Outcome, Overrides, Policy, PolicyDecision, UNLIMITED, Unlimited,
};
pub use quota::Quota;
pub use report::Report;
pub use table::{KeyLimits, KeyTable, Overflow, TableError, Tiers};
pub use time::{Clock, Duration, Instant, ManualClock};
