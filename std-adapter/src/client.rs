//! The client side: when may the next request to a rate-limited API go?
//!
//! A [`Pacer`] wraps the core's [`tollgate_core::Pacer`] for std programs: give it each
//! response's status and headers ([`on_response`](Pacer::on_response)), and wait before each
//! request ([`wait`](Pacer::wait), or [`ready`](Pacer::ready) with tokio). It reads every
//! rate-limit header the core reads (`Retry-After` as seconds or an HTTP-date, `X-RateLimit-*`
//! in epoch seconds, epoch milliseconds or delta seconds, one value or one per bucket, the IETF
//! `RateLimit` and `RateLimit-Policy` fields), honours `Retry-After`, waits for the reset when
//! nothing remains, and backs off exponentially with full jitter after repeated failures, up to
//! a retry budget. Shared by threads: every clone paces the same client.
//!
//! # Examples
//!
//! ```
//! use http::HeaderMap;
//! use tollgate_std::client::Pacer;
//!
//! let pacer = Pacer::new(std::time::Duration::from_millis(100), std::time::Duration::from_secs(30))?;
//! pacer.wait(); // at rest: returns at once
//! let mut headers = HeaderMap::new();
//! headers.insert("retry-after", "2".parse()?);
//! let next = pacer.on_response(429, &headers);
//! assert!(!next.is_give_up());
//! // The next request may go two seconds later, not before.
//! let wait = pacer.until_ready();
//! assert!(wait > std::time::Duration::from_secs(1) && wait <= std::time::Duration::from_secs(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderMap;
use tollgate_core::{BackoffError, Clock, Outcome, PacerState, RateLimitSummary};

use crate::clock::{StdClock, unix_millis_now};
use crate::{Duration, HZ};

/// What the pacer says after a response: when the next send may go, or that it gave up.
pub type Next = tollgate_core::Next<HZ>;

/// A client's pacing, shared by threads: see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Pacer<C = StdClock> {
    pacer: tollgate_core::Pacer<HZ>,
    state: Arc<Mutex<PacerState>>,
    clock: C,
}

impl Pacer<StdClock> {
    /// Backoff from `base`, doubling up to `cap`, retrying at most 5 times in a row, on the
    /// default clock.
    ///
    /// # Errors
    ///
    /// [`BackoffError`] for a zero `base`, a `cap` below it, or durations beyond what nanosecond
    /// ticks hold.
    pub fn new(base: std::time::Duration, cap: std::time::Duration) -> Result<Self, BackoffError> {
        let ticks = |d: std::time::Duration| {
            Duration::from_ticks(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        };
        Ok(Self::with_pacer(
            tollgate_core::Pacer::new(ticks(base), ticks(cap))?.with_max_retries(5),
            StdClock::new(),
        ))
    }
}

impl<C: Clock<HZ>> Pacer<C> {
    /// Paces with the core's `pacer` (its backoff, retry budget, spreading, longest wait) on
    /// `clock`.
    pub fn with_pacer(pacer: tollgate_core::Pacer<HZ>, clock: C) -> Self {
        Self {
            state: Arc::new(Mutex::new(pacer.new_state())),
            pacer,
            clock,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PacerState> {
        // The state is two integers updated whole by the core: a poisoned lock holds a valid one.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long until the next request may go (zero when it may go now).
    pub fn until_ready(&self) -> std::time::Duration {
        let at = self.pacer.ready_at(&self.state());
        let now = self.clock.now();
        std::time::Duration::from_nanos(at.as_ticks().saturating_sub(now.as_ticks()))
    }

    /// Blocks the thread until the next request may go.
    pub fn wait(&self) {
        loop {
            let wait = self.until_ready();
            if wait.is_zero() {
                return;
            }
            std::thread::sleep(wait);
        }
    }

    /// Waits (on tokio's timer) until the next request may go.
    #[cfg(feature = "tokio")]
    pub async fn ready(&self) {
        loop {
            let wait = self.until_ready();
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Reads a response's status and rate-limit headers (every dialect the core reads), and
    /// says when the next request may go: after a success, when the server's figures allow;
    /// after a 429 (or a 403 or 503 that the headers show to be a rate limit, as GitHub sends;
    /// or a 408, 5xx), after its `Retry-After` or reset, or a jittered backoff, whichever is
    /// later; never, for this request, once the retry budget is spent or the status is not
    /// retryable ([`Next::GiveUp`], whose `ready_at` still says when the next request may go).
    pub fn on_response(&self, status: u16, headers: &HeaderMap) -> Next {
        let summary = summary(headers);
        self.paced(summary.outcome(status), &summary)
    }

    /// [`on_response`](Self::on_response) for an outcome classified by the caller (a 403 whose
    /// body says it is a rate limit, a transport error as [`Outcome::Retryable`]).
    pub fn on_outcome(&self, outcome: Outcome, headers: &HeaderMap) -> Next {
        self.paced(outcome, &summary(headers))
    }

    fn paced(&self, outcome: Outcome, summary: &RateLimitSummary) -> Next {
        let now = self.clock.now();
        let random = crate::wait::next_random();
        self.pacer.on_response(
            &mut self.state(),
            now,
            outcome,
            summary.hints_for::<HZ>(outcome),
            random,
        )
    }
}

/// What `headers` say, read at the wall clock's now.
fn summary(headers: &HeaderMap) -> RateLimitSummary {
    RateLimitSummary::from_headers(
        headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        Some(unix_millis_now()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;
    use crate::clock::FakeClock;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().unwrap()))
            .collect()
    }

    fn pacer(clock: &FakeClock) -> Pacer<FakeClock> {
        let core = tollgate_core::Pacer::new(Duration::from_millis(100), Duration::from_secs(10))
            .unwrap()
            .with_max_retries(3);
        Pacer::with_pacer(core, clock.clone())
    }

    #[test]
    fn retry_after_and_exhausted_windows_are_honoured() {
        let clock = FakeClock::new();
        let p = pacer(&clock);
        assert_eq!(p.until_ready(), std::time::Duration::ZERO);
        // A 429 saying 3 seconds: not before.
        let next = p.on_response(429, &headers(&[("retry-after", "3")]));
        assert!(next.at() >= Instant::from_ticks(3_000_000_000), "{next:?}");
        assert!(p.until_ready() >= std::time::Duration::from_secs(3));
        clock.set(next.at());
        assert_eq!(p.until_ready(), std::time::Duration::ZERO);
        // A success with nothing remaining until a reset 20 s away (delta seconds).
        let next = p.on_response(
            200,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "20")]),
        );
        assert_eq!(next.at().as_ticks() - clock_now(&clock), 20_000_000_000);
    }

    #[test]
    fn a_403_that_the_headers_show_to_be_a_rate_limit_is_retried_after_the_reset() {
        let clock = FakeClock::new();
        let p = pacer(&clock);
        // GitHub's primary limit: a 403 with nothing left, a reset 30 s away (delta form here),
        // and OpenAI's durations: the pacer waits, it does not give up.
        let github = headers(&[
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-used", "60"),
            ("x-ratelimit-reset", "30"),
        ]);
        let next = p.on_response(403, &github);
        assert!(!next.is_give_up(), "{next:?}");
        assert_eq!(next.at().as_ticks() - clock_now(&clock), 30_000_000_000);
        // A plain 403 is final.
        assert!(p.on_response(403, &headers(&[])).is_give_up());
    }

    fn clock_now(clock: &FakeClock) -> u64 {
        clock.now().as_ticks()
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn ready_waits_on_tokios_clock() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let core =
                tollgate_core::Pacer::new(Duration::from_millis(100), Duration::from_secs(10))
                    .unwrap();
            let p = Pacer::with_pacer(core, crate::clock::TokioClock::new());
            p.on_response(429, &headers(&[("retry-after", "2")]));
            let start = tokio::time::Instant::now();
            p.ready().await; // no real wait: time is paused
            let waited = start.elapsed();
            assert!(
                waited >= std::time::Duration::from_secs(2)
                    && waited < std::time::Duration::from_millis(2_100),
                "{waited:?}"
            );
        });
    }

    #[test]
    fn repeated_failures_back_off_then_give_up() {
        let clock = FakeClock::new();
        let p = pacer(&clock);
        let mut waits = Vec::new();
        for _ in 0..3 {
            let next = p.on_response(503, &HeaderMap::new());
            assert!(!next.is_give_up());
            waits.push(next.at().as_ticks() - clock_now(&clock));
            clock.set(next.at());
        }
        // Full jitter under a doubling ceiling: 100, 200, 400 ms at most.
        assert!(
            waits[0] <= 100_000_000 && waits[1] <= 200_000_000 && waits[2] <= 400_000_000,
            "{waits:?}"
        );
        assert!(p.on_response(503, &HeaderMap::new()).is_give_up());
        // A client error is not retried.
        assert!(p.on_response(404, &HeaderMap::new()).is_give_up());
    }
}
