//! The test kit: naive reference models of every tollgate algorithm, the checker of the
//! [`Algorithm`](tollgate_core::Algorithm) contract, small test-only algorithms, and a real Redis
//! server that a test starts for itself ([`redis::RedisServer`]).
//!
//! Unpublished. The core's property tests, the fuzz targets and every adapter prove with it that
//! they decide exactly like the core: a model is a plain list of what was admitted and the rule
//! the algorithm's documentation states, never the algorithm's own arithmetic.
#![allow(
    missing_docs,
    clippy::missing_panics_doc,
    reason = "test support: its items are documented where they help a reader of a failing test"
)]

pub mod contract;
pub mod fakes;
pub mod models;
pub mod redis;
