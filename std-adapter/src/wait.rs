//! Waiting for admission: blocking, and (with the `tokio` feature) async.
//!
//! Both loop over the same attempt: decide now; when denied, sleep for the wait the core said
//! and decide again. Nothing is taken while sleeping, so an abandoned wait (a thread that gives
//! up, a dropped future) leaks no capacity: cancellation is safe by construction. A
//! [`SharedPolicy`](crate::SharedPolicy) denied by a concurrency limit (freed only by a release)
//! sleeps until a release wakes it, or [`IDLE_POLL`] at most.
//!
//! Many waiters told the same wait wake together and race for the same capacity. A [`Jitter`]
//! spreads them: each pause is lengthened by a random amount up to its bound (as governor's
//! `until_ready_with_jitter`), drawn from a per-thread generator seeded from the OS's randomness.

use std::cell::Cell;
use std::hash::BuildHasher;

use crate::Duration;

/// An upper bound on a random delay added to each pause of a wait, so that waiters told the
/// same wait do not wake together (as governor's `until_ready_with_jitter`). Drawn uniformly
/// from a per-thread generator seeded from the OS's randomness.
///
/// # Examples
///
/// ```
/// use tollgate_std::{Jitter, Limiter, Quota};
///
/// let limiter = Limiter::new(Quota::per_second(1_000)?.with_burst(1)?);
/// limiter.check().unwrap();
/// let d = limiter.wait_with_jitter(1, Jitter::up_to(std::time::Duration::from_millis(2)))?;
/// assert!(d.is_allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jitter {
    max: std::time::Duration,
}

impl Jitter {
    /// No jitter: pauses are exactly the core's waits.
    pub const NONE: Self = Self {
        max: std::time::Duration::ZERO,
    };

    /// Up to `max` added to each pause, uniformly.
    pub const fn up_to(max: std::time::Duration) -> Self {
        Self { max }
    }

    /// A random delay in `[0, max]`.
    fn draw(self) -> std::time::Duration {
        let max = u64::try_from(self.max.as_nanos()).unwrap_or(u64::MAX);
        if max == 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_nanos(next_random() % max.saturating_add(1))
    }
}

thread_local! {
    static RANDOM: Cell<u64> = Cell::new(foldhash::fast::RandomState::default().hash_one(0u8) | 1);
}

/// xorshift64*: plenty for spreading wake-ups, and no dependency.
pub(crate) fn next_random() -> u64 {
    RANDOM.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// The longest a policy's waiter sleeps between attempts when a concurrency limit denied it:
/// releases wake waiters directly, so this only bounds a missed wake-up.
pub const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// One attempt's answer: admitted with `T`, or denied with the wait the core said (none when
/// only a release can free capacity).
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    Admitted(T),
    Denied(Option<Duration>),
}

/// The pause before the next attempt.
pub(crate) fn pause(wait: Option<Duration>) -> std::time::Duration {
    match wait {
        // At least one nanosecond: a zero wait would spin.
        Some(w) => std::time::Duration::from_nanos(w.as_ticks().max(1)),
        None => IDLE_POLL,
    }
}

/// Blocks until `attempt` admits, sleeping the thread between attempts.
pub(crate) fn block_on<T, E>(
    jitter: Jitter,
    mut attempt: impl FnMut() -> Result<Attempt<T>, E>,
) -> Result<T, E> {
    loop {
        match attempt()? {
            Attempt::Admitted(t) => return Ok(t),
            Attempt::Denied(wait) => std::thread::sleep(pause(wait) + jitter.draw()),
        }
    }
}

/// Awaits until `attempt` admits, sleeping with tokio's timer between attempts.
#[cfg(feature = "tokio")]
pub(crate) async fn until<T, E>(
    jitter: Jitter,
    mut attempt: impl FnMut() -> Result<Attempt<T>, E>,
) -> Result<T, E> {
    loop {
        match attempt()? {
            Attempt::Admitted(t) => return Ok(t),
            Attempt::Denied(wait) => tokio::time::sleep(pause(wait) + jitter.draw()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bound_and_spreads() {
        let j = Jitter::up_to(std::time::Duration::from_micros(100));
        let draws: Vec<_> = (0..1_000).map(|_| j.draw()).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d <= std::time::Duration::from_micros(100))
        );
        let low = draws.iter().filter(|d| d.as_micros() < 50).count();
        assert!((300..700).contains(&low), "{low} of 1000 below the middle");
        assert_eq!(Jitter::NONE.draw(), std::time::Duration::ZERO);
    }
}
