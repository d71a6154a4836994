//! One limit of a policy: an algorithm and the name clients see.

/// One limit of a policy: an algorithm with the name clients see in headers and bodies.
///
/// The name may be any string type: a `&'static str` on firmware, a `String` read from a
/// configuration file on a server. Reports borrow it for as long as the policy lives. What the
/// limit allows ("300 per minute") comes from the algorithm itself
/// ([`Algorithm::allowance`](crate::Algorithm::allowance)).
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Allowance, Duration, Gcra, Named, Quota};
///
/// let hour = Named::new("hour", Gcra::new(Quota::<1_000>::per_hour(50)?));
/// assert_eq!(hour.name(), "hour");
/// assert_eq!(hour.algorithm().allowance(), Allowance::PerWindow { count: 50, window: Duration::from_secs(3_600) });
/// let from_a_file: Named<_, String> = Named::new(String::from("hour"), *hour.algorithm());
/// assert_eq!(from_a_file.name(), "hour");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Named<A, N = &'static str> {
    name: N,
    algorithm: A,
}

impl<A, N> Named<A, N> {
    /// `algorithm`, reported as `name`.
    pub const fn new(name: N, algorithm: A) -> Self {
        Self { name, algorithm }
    }

    /// The algorithm.
    pub const fn algorithm(&self) -> &A {
        &self.algorithm
    }
}

impl<A, N: AsRef<str>> Named<A, N> {
    /// The name clients see (`"minute"`, `"hour"`, `"concurrent"`).
    pub fn name(&self) -> &str {
        self.name.as_ref()
    }
}
