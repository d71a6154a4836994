//! Shared support for the seed scenarios (`scenarios/seed_*.rs`).
//!
//! Only the glue an application would write itself around `tollgate-core`: a header map that
//! collects what the server renders, and the round trip from a policy's decision to response
//! headers and back to what a client reads from them.

use std::collections::HashMap;
use std::fmt;

use tollgate_core::{
    Duration, HeaderConfig, HeaderSink, Instant, PolicyDecision, RateLimitSummary, Report,
};

/// The tick rate of every scenario: milliseconds.
pub const HZ: u64 = 1_000;

/// An instant of the scenarios' millisecond clock.
pub type I = Instant<HZ>;

/// A duration of the scenarios' millisecond clock.
pub type D = Duration<HZ>;

/// The instant `ms` milliseconds after the scenario's start.
pub const fn ms(ms: u64) -> I {
    I::from_ticks(ms)
}

/// The instant `s` seconds after the scenario's start.
pub const fn secs(s: u64) -> I {
    I::from_ticks(s * 1_000)
}

/// Response headers as a web framework holds them: one value per field name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub HashMap<String, String>);

impl HeaderSink for Headers {
    fn header(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        self.0.insert(name.to_owned(), value.to_string());
        Ok(())
    }
}

impl Headers {
    /// The value of the field `name` (exact spelling), if it was written.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The field names written, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// What a client reads from these headers when its clock says `now_unix_millis`.
    pub fn read(&self, now_unix_millis: Option<u64>) -> RateLimitSummary {
        RateLimitSummary::from_headers(&self.0, now_unix_millis)
    }
}

/// The headers a server sends with `decision`, made at `now`, in the fields `config` selects.
///
/// # Panics
///
/// If rendering fails, which a scenario treats as a test failure.
pub fn respond<'n, R: AsRef<[Report<'n, HZ>]>>(
    decision: &PolicyDecision<HZ, R>,
    now: I,
    config: &HeaderConfig<HZ>,
) -> Headers {
    let mut headers = Headers::default();
    decision
        .report_set(now)
        .write_headers(config, &mut headers)
        .expect("headers render");
    headers
}
