//! Naive reference models, one per algorithm family.

pub mod concurrency;
pub mod gcra;
pub mod headers;
pub mod leaky_bucket;
pub mod pacer;
pub mod sliding_log;
pub mod sliding_window;
