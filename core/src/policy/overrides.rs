//! Test overrides: a request that asks to be denied, or to see a limit lower than it is.

#[cfg(doc)]
use crate::{error::InsufficientCapacity, policy::decision::Verdict};

/// Per-request test overrides, as an API's test headers ask for them: force a denial, or lower
/// named limits.
///
/// Rules, all enforced by the policy:
///
/// - **Only lower.** A value at or above the limit's capacity is ignored, and so is any value for
///   an [unlimited](crate::Allowance::Unlimited) limit (no count to lower).
/// - **Unknown names are ignored.** Names match ASCII case-insensitively (`"Hour"` lowers
///   `"hour"`); when a name repeats, the lowest value wins.
/// - **Never corrupt state.** A lowered limit of `L'` out of capacity `L` is decided by peeking at
///   `cost + (L − L')` (and at `cost`), but only `cost` is ever recorded. So an overridden check
///   admits only what the plain check would admit, and then records exactly what it would.
/// - A cost above a lowered limit can never fit it: an [`InsufficientCapacity`] error naming the limit,
///   with the lowered value as its capacity (`X-RateLimit-Hour: 0` rejects every request).
/// - **A forced denial records nothing.** If some limit denies the request anyway, the denial is
///   that limit's ([`Verdict::Denied`]). Otherwise it is [`Verdict::Forced`], no limit is named,
///   and `retry_after` is **zero**: the exact wait after which the same request *without* the
///   override would be admitted. A forced denial tests the client's 429 path; it is not a shortage.
/// - A cost of zero asks for metadata only and is admitted even when forced.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Gcra, Quota, Instant, Duration, Named, Policy, Overrides, Verdict};
///
/// let policy = Policy::new((Named::new("hour", Gcra::new(Quota::<1_000>::per_hour(50)?)),));
/// let mut s = policy.new_state();
/// let now = Instant::<1_000>::from_ticks(0);
/// let five = Overrides::lowering(&[("Hour", 5)]);
/// for _ in 0..5 {
///     assert!(policy.check_with(&mut s, now, 1, &five)?.is_allowed());
/// }
/// let d = policy.check_with(&mut s, now, 1, &five)?;
/// assert_eq!((d.limit_exceeded(), d.reports[0].decision.limit), (Some("hour"), 5));
/// // Only the five real requests were recorded: the plain limit has 45 left.
/// assert_eq!(policy.peek(&s, now, 0)?.reports[0].decision.remaining, 45);
///
/// let forced = policy.check_with(&mut s, now, 1, &Overrides::deny())?;
/// assert_eq!((forced.outcome, forced.retry_after()), (Verdict::Forced, Some(Duration::<1_000>::from_ticks(0))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Overrides<'a> {
    /// Deny regardless of the limits (`X-RateLimit: 1`); records nothing.
    pub deny: bool,
    /// Lower named limits for this request only: `("hour", 5)` for `X-RateLimit-Hour: 5`.
    pub lower: &'a [(&'a str, u32)],
}

impl<'a> Overrides<'a> {
    /// No overrides: the plain check.
    pub const NONE: Overrides<'static> = Overrides {
        deny: false,
        lower: &[],
    };

    /// Force a denial.
    pub const fn deny() -> Self {
        Self {
            deny: true,
            lower: &[],
        }
    }

    /// Lower the named limits to the given values (never raises).
    pub const fn lowering(lower: &'a [(&'a str, u32)]) -> Self {
        Self { deny: false, lower }
    }

    /// The value these overrides lower the limit `name` of `capacity` to, if they lower it at
    /// all: the lowest value given for the name (ASCII case-insensitive) when it is below the
    /// capacity. A limit with no count (`counts: false`) is never lowered. (A store that decides
    /// elsewhere, such as a Redis script, asks this to pass each limit's value along.)
    ///
    /// ```
    /// use tollgate_core::Overrides;
    ///
    /// let o = Overrides::lowering(&[("minute", 5), ("MINUTE", 3), ("hour", 900)]);
    /// assert_eq!(o.lowered_to("minute", 300, true), Some(3));
    /// assert_eq!(o.lowered_to("hour", 500, true), None); // never raised
    /// assert_eq!(o.lowered_to("minute", 300, false), None);
    /// ```
    #[inline]
    pub fn lowered_to(&self, name: &str, capacity: u32, counts: bool) -> Option<u32> {
        if !counts || self.lower.is_empty() {
            return None;
        }
        self.lower
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, l)| l)
            .min()
            .filter(|&l| l < capacity)
    }

    /// Whether these overrides change nothing.
    pub const fn is_none(&self) -> bool {
        !self.deny && self.lower.is_empty()
    }
}
