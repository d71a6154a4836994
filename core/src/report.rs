//! One named limit's part in an answer, the common input of header and body rendering.

use crate::decision::Decision;
use crate::time::Duration;

/// What one named limit decided, with what a client needs to interpret it.
///
/// A policy answers with one `Report` per limit, in declaration order; the header and body
/// renderers take a slice of them, so single limits and multi-bucket policies render the same way.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Gcra, Quota, Instant, Report};
///
/// let q = Quota::<1_000>::per_minute(300)?;
/// let gcra = Gcra::new(q);
/// let mut s = gcra.new_state();
/// let r = Report { name: "minute", window: q.window(), decision: gcra.check(&mut s, Instant::<1_000>::from_ticks(0), 1)? };
/// assert_eq!((r.name, r.decision.remaining), ("minute", 299));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report<'a, const HZ: u64> {
    /// The limit's name as clients see it (`"minute"`, `"hour"`, `"concurrent"`).
    pub name: &'a str,
    /// The window the limit is counted over (a concurrency limit: zero).
    pub window: Duration<HZ>,
    /// What the limit decided.
    pub decision: Decision<HZ>,
}
