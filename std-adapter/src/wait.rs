//! Waiting for admission: blocking, and (with the `tokio` feature) async.
//!
//! Both loop over the same attempt: decide now; when denied, sleep for the wait the core said
//! and decide again. Nothing is taken while sleeping, so an abandoned wait (a thread that gives
//! up, a dropped future) leaks no capacity: cancellation is safe by construction. A wait the core
//! cannot name (a concurrency limit, freed only by a release) sleeps until a release wakes it,
//! or [`IDLE_POLL`] at most.

use crate::Duration;

/// The longest a waiter sleeps between attempts when the core names no wait (a concurrency
/// limit, which a release frees): releases also wake waiters directly, so this only bounds a
/// missed wake-up.
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
pub(crate) fn block_on<T, E>(mut attempt: impl FnMut() -> Result<Attempt<T>, E>) -> Result<T, E> {
    loop {
        match attempt()? {
            Attempt::Admitted(t) => return Ok(t),
            Attempt::Denied(wait) => std::thread::sleep(pause(wait)),
        }
    }
}

/// Awaits until `attempt` admits, sleeping with tokio's timer between attempts.
#[cfg(feature = "tokio")]
pub(crate) async fn until<T, E>(
    mut attempt: impl FnMut() -> Result<Attempt<T>, E>,
) -> Result<T, E> {
    loop {
        match attempt()? {
            Attempt::Admitted(t) => return Ok(t),
            Attempt::Denied(wait) => tokio::time::sleep(pause(wait)).await,
        }
    }
}
