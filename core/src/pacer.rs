//! A client-side pacer: when the next request may go, from what the last responses said.
//!
//! A [`Pacer`] is configuration (backoff base and cap, retry budget, options); a [`PacerState`]
//! is the small state of one client (the failures in a row of the request in progress, and the
//! earliest instant the next request may go). After every response the client calls
//! [`Pacer::on_response`] with the response's `now`, its [`Outcome`], what the server said
//! ([`ServerHints`], durations relative to `now`) and one random word; the answer is a [`Next`]:
//! send at an instant, or give up. Before sending, [`Pacer::ready_at`] or [`Pacer::may_send`]
//! say whether it is time. Like the algorithms, the pacer reads no clock and draws no random
//! numbers: both come in as arguments, so an embassy task and a blocking std loop drive the same
//! state machine, and tests replay it exactly.
//!
//! # Rules
//!
//! For a response at `now` (all sums of ticks saturate at the end of time, `u64::MAX`):
//!
//! 1. **Retry-After.** With `retry_after = Some(d)`, on any outcome: not before `now + d`.
//! 2. **Exhausted window.** With no `retry_after`, `remaining = Some(0)` and `reset = Some(r)`:
//!    not before `now + r`.
//! 3. **Spread** (only with [`Pacer::with_spread`]). With no `retry_after`, `remaining = Some(n)`,
//!    `n > 0`, and `reset = Some(r)`: not before `now + ⌈r / n⌉`, so the `n` requests left are
//!    spread evenly over the time to the reset and the window is never exhausted early.
//!
//! A `Retry-After` is the server's own answer for the next request, so it supersedes what the
//! reset implies: a sliding limit frees its first slot (the `Retry-After`) long before it is
//! entirely at rest (the reset), and waiting for the reset would idle for nothing.
//! 4. **Backoff.** On the `k`-th [`RateLimited`](Outcome::RateLimited) or
//!    [`Retryable`](Outcome::Retryable) failure in a row, `k ≤ max_retries`: not before
//!    `now + backoff(k, random)` (full jitter, below).
//! 5. **Floor.** Never before `now`, nor before the earliest next send already recorded in the
//!    state: what earlier responses imposed stays imposed, even if the clock goes backwards.
//!
//! The next send is the **latest** of the rules that apply, and not one tick later.
//!
//! # Full jitter
//!
//! The backoff ceiling for the `k`-th failure in a row is `min(cap, base · 2^(k−1))`, where a
//! product that does not fit in 64 bits counts as above the cap. The wait is drawn from
//! `[0, ceiling]` by multiply-shift range reduction of the caller's random word `r`:
//!
//! ```text
//! wait = ⌊r · (ceiling + 1) / 2⁶⁴⌋
//! ```
//!
//! If `r` is uniform over all `u64`, every wait in `[0, ceiling]` has probability
//! `⌊2⁶⁴ / (ceiling + 1)⌋ / 2⁶⁴` or `⌈2⁶⁴ / (ceiling + 1)⌉ / 2⁶⁴`: off from uniform by less than
//! `(ceiling + 1) / 2⁶⁴` relatively, below 2⁻³² for any ceiling under 2³² ticks (71 minutes at
//! 1 MHz). The wait grows with `r`: `r = 0` gives zero and `r = u64::MAX` gives exactly the
//! ceiling, so a caller without a random source can pass `u64::MAX` for plain (unjittered)
//! exponential backoff.
//!
//! # Giving up
//!
//! The pacer answers [`Next::GiveUp`] (and the request should be abandoned) when:
//!
//! - the outcome is [`Failed`](Outcome::Failed), which retrying would not fix;
//! - the failure is the `(max_retries + 1)`-th in a row: at most `max_retries` retries follow
//!   the first send (`0` is "fail fast"; `u32::MAX` retries for ever);
//! - the retry would have to wait longer than [`with_max_wait`](Pacer::with_max_wait) allows.
//!
//! Giving up ends the request: the failure count goes back to zero and the next request starts a
//! fresh backoff schedule, but what the server said (rules 1 to 3 and the floor) still holds for
//! it: [`GiveUp::ready_at`](Next::GiveUp) is the latest of those, without the backoff.
//!
//! # Guarantee
//!
//! For every response fed to the pacer at `now` with hints `h`, the instant it answers and every
//! later [`ready_at`](Pacer::ready_at), until [`PacerState::new`] replaces the state, are
//!
//! - never earlier than `now + h.retry_after`;
//! - when `h.retry_after` is `None`: never earlier than `now + h.reset` when
//!   `h.remaining == Some(0)`, and, with spread on, never earlier than
//!   `now + ⌈h.reset / h.remaining⌉` when `h.remaining > 0`;
//!
//! and a retry's backoff wait is at most `cap` and within `[0, base · 2^(k−1)]` for the `k`-th
//! failure in a row. The failure count is zero after every success and every give-up, so each
//! request gets exactly `max_retries` retries. No input panics: instants and durations up to
//! `u64::MAX` and any failure count saturate.
//!
//! One state tracks one request at a time; requests in flight together would share a failure
//! count (harmlessly: every rule above still holds).
//!
//! # Examples
//!
//! Exponential backoff from one second, three retries, with Retry-After honoured when the
//! server sends it (as API documentation advises):
//!
//! ```
//! use tollgate_core::{Duration, Instant, Next, Outcome, Pacer, ServerHints};
//!
//! type D = Duration<1_000>;
//! let pacer = Pacer::new(D::from_secs(1), D::from_secs(60))?.with_max_retries(3);
//! let mut state = pacer.new_state();
//! let t0 = Instant::<1_000>::from_ticks(0);
//! assert_eq!(pacer.may_send(&state, t0), Ok(()));
//!
//! // A 429 with `Retry-After: 45`: wait 45 s, even though the backoff alone would be ≤ 1 s.
//! let hints = ServerHints::NONE.with_retry_after(D::from_secs(45));
//! let next = pacer.on_response(&mut state, t0, Outcome::RateLimited, hints, 0x9e37_79b9_7f4a_7c15);
//! assert_eq!(next, Next::SendAt(t0 + D::from_secs(45)));
//! assert_eq!(pacer.may_send(&state, t0 + D::from_secs(44)).unwrap_err().retry_after(), D::from_secs(1));
//!
//! // The retry succeeds: the failure count goes back to zero.
//! let t1 = t0 + D::from_secs(45);
//! let next = pacer.on_response(&mut state, t1, Outcome::Success, ServerHints::NONE, 0);
//! assert_eq!((next, state.failures()), (Next::SendAt(t1), 0));
//! # Ok::<(), tollgate_core::BackoffError>(())
//! ```

use core::fmt;

use crate::algorithm::NotUntil;
use crate::http::RateLimitSummary;
use crate::time::{Duration, Instant, ticks_from_millis_ceil};

/// What became of one request, as far as pacing is concerned.
///
/// [`RateLimited`](Outcome::RateLimited) and [`Retryable`](Outcome::Retryable) are paced alike
/// (backoff, then retry); they are kept apart so callers and logs can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The server answered and the request is done (a 1xx–3xx status).
    Success,
    /// The server refused for rate: a 429, or a 403 whose body says it is a rate limit (an SMS
    /// carrier's `message-rate-limit`).
    RateLimited,
    /// A failure that may pass on retry: 408, 500, 502, 503, 504, a timeout or a transport error.
    Retryable,
    /// A failure that retrying would not fix: any other 4xx or 5xx.
    Failed,
}

impl Outcome {
    /// Classifies an HTTP status code.
    ///
    /// 100–399 are [`Success`](Outcome::Success); 429 is [`RateLimited`](Outcome::RateLimited);
    /// 408, 500, 502, 503 and 504 are [`Retryable`](Outcome::Retryable); everything else,
    /// including 403 and codes outside 100–599, is [`Failed`](Outcome::Failed). A 403 that
    /// means "rate limited" can only be recognised from its body; classify it yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::Outcome;
    ///
    /// assert_eq!(Outcome::from_status(200), Outcome::Success);
    /// assert_eq!(Outcome::from_status(429), Outcome::RateLimited);
    /// assert_eq!(Outcome::from_status(503), Outcome::Retryable);
    /// assert_eq!(Outcome::from_status(404), Outcome::Failed);
    /// ```
    pub const fn from_status(status: u16) -> Self {
        match status {
            100..=399 => Self::Success,
            429 => Self::RateLimited,
            408 | 500 | 502 | 503 | 504 => Self::Retryable,
            _ => Self::Failed,
        }
    }

    /// Whether the pacer would retry after this outcome (if the retry budget allows).
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Retryable)
    }
}

/// What the server said about its limits in one response, relative to that response's `now`.
///
/// A minimal, normalised summary: absent headers are `None`. An absolute reset (in epoch
/// seconds or epoch milliseconds) must be turned into a duration from `now` first.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Duration, ServerHints};
///
/// // X-RateLimit-Remaining: 95, reset in 10 minutes.
/// let h = ServerHints::<1_000>::NONE.with_remaining(95).with_reset(Duration::<1_000>::from_secs(600));
/// assert_eq!((h.retry_after, h.remaining), (None, Some(95)));
/// assert_eq!(ServerHints::<1_000>::default(), ServerHints::NONE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerHints<const HZ: u64> {
    /// `Retry-After`: how long to wait before the next request.
    pub retry_after: Option<Duration<HZ>>,
    /// `X-RateLimit-Remaining`: requests left in the current window after this one.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset`, as the time from `now` until the window resets.
    pub reset: Option<Duration<HZ>>,
}

impl<const HZ: u64> ServerHints<HZ> {
    /// The server said nothing.
    pub const NONE: Self = Self {
        retry_after: None,
        remaining: None,
        reset: None,
    };

    /// The same hints with `Retry-After`.
    pub const fn with_retry_after(self, retry_after: Duration<HZ>) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..self
        }
    }

    /// The same hints with the remaining count.
    pub const fn with_remaining(self, remaining: u32) -> Self {
        Self {
            remaining: Some(remaining),
            ..self
        }
    }

    /// The same hints with the time until the window resets.
    pub const fn with_reset(self, reset: Duration<HZ>) -> Self {
        Self {
            reset: Some(reset),
            ..self
        }
    }
}

/// Why the pacer gave up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The outcome was [`Outcome::Failed`]: retrying would not help.
    NotRetryable,
    /// The request failed `max_retries + 1` times in a row.
    RetriesExhausted,
    /// The retry would have had to wait longer than the configured maximum wait.
    WaitTooLong,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotRetryable => "the failure is not retryable",
            Self::RetriesExhausted => "the retries are exhausted",
            Self::WaitTooLong => "the retry would wait too long",
        })
    }
}

/// What to do after a response.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Duration, GiveUpReason, Instant, Next, Outcome, Pacer, ServerHints};
///
/// // "Fail fast": no retries at all.
/// let pacer = Pacer::new(Duration::<1_000>::from_secs(1), Duration::<1_000>::from_secs(8))?
///     .with_max_retries(0);
/// let mut s = pacer.new_state();
/// let now = Instant::<1_000>::from_ticks(5_000);
/// let next = pacer.on_response(&mut s, now, Outcome::RateLimited, ServerHints::NONE, 7);
/// assert_eq!(next, Next::GiveUp { attempts: 1, reason: GiveUpReason::RetriesExhausted, ready_at: now });
/// assert_eq!(next.at(), now);
/// # Ok::<(), tollgate_core::BackoffError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Next<const HZ: u64> {
    /// Send at this instant or later: the retry after a failure, the next request after a
    /// success.
    SendAt(Instant<HZ>),
    /// Abandon this request.
    GiveUp {
        /// How many times the request was sent, all of them failed.
        attempts: u32,
        /// Why the pacer stopped.
        reason: GiveUpReason,
        /// The earliest instant the next (different) request may go: what the server said still
        /// holds.
        ready_at: Instant<HZ>,
    },
}

impl<const HZ: u64> Next<HZ> {
    /// The earliest instant the next send may go, retry or new request.
    pub const fn at(&self) -> Instant<HZ> {
        match *self {
            Self::SendAt(at) | Self::GiveUp { ready_at: at, .. } => at,
        }
    }

    /// Whether the pacer gave up.
    pub const fn is_give_up(&self) -> bool {
        matches!(self, Self::GiveUp { .. })
    }
}

/// The pacer's state for one client: a `u64` instant and a `u32` count, `Copy`, fresh when
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PacerState {
    /// The earliest instant the next send may go, in ticks.
    not_before: u64,
    /// Rate-limited or retryable failures in a row of the request in progress.
    failures: u32,
}

impl PacerState {
    /// A fresh state: no failures, free to send at once.
    pub const fn new() -> Self {
        Self {
            not_before: 0,
            failures: 0,
        }
    }

    /// Failures in a row of the request in progress (zero after a success or a give-up).
    pub const fn failures(&self) -> u32 {
        self.failures
    }

    /// The earliest instant the next send may go, in ticks.
    pub const fn not_before_ticks(&self) -> u64 {
        self.not_before
    }
}

/// Client pacing configuration: exponential backoff with full jitter, a retry budget, and
/// optional spreading of the remaining requests over the time to the reset.
///
/// Defaults: three retries after the first send, no spreading, no maximum wait. (A plan-tier API's loop
/// with `maxRetries = 3` makes three attempts in all, i.e. `with_max_retries(2)`.) The builders
/// are `const fn`, so a pacer can live in a `static`.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Duration, Pacer};
///
/// static PACER: Pacer<1_000_000> = match Pacer::new(
///     Duration::<1_000_000>::from_millis(500),
///     Duration::<1_000_000>::from_secs(30),
/// ) {
///     Ok(p) => p.with_max_retries(5).with_spread(true),
///     Err(_) => panic!("invalid pacer"), // a compile-time error, never a run-time panic
/// };
/// assert_eq!(PACER.backoff_ceiling(3), Duration::<1_000_000>::from_secs(2));
/// assert_eq!(PACER.backoff_ceiling(40), Duration::<1_000_000>::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pacer<const HZ: u64> {
    /// Backoff ceiling of the first failure, in ticks; never zero.
    base: u64,
    /// Largest backoff ceiling, in ticks; at least `base`.
    cap: u64,
    max_retries: u32,
    /// Longest wait before a retry, in ticks; `u64::MAX` for no limit.
    max_wait: u64,
    spread: bool,
}

impl<const HZ: u64> Pacer<HZ> {
    /// Exponential backoff from `base` doubling up to `cap`, three retries, no spreading.
    ///
    /// # Errors
    ///
    /// [`BackoffError::ZeroBase`] when `base` is zero ticks, [`BackoffError::CapBelowBase`]
    /// when `cap < base`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{BackoffError, Duration, Pacer};
    ///
    /// type D = Duration<1_000>;
    /// assert_eq!(Pacer::new(D::from_ticks(0), D::from_secs(1)), Err(BackoffError::ZeroBase));
    /// assert_eq!(Pacer::new(D::from_secs(2), D::from_secs(1)), Err(BackoffError::CapBelowBase));
    /// assert_eq!(Pacer::new(D::from_secs(1), D::from_secs(1))?.cap(), D::from_secs(1));
    /// # Ok::<(), BackoffError>(())
    /// ```
    pub const fn new(base: Duration<HZ>, cap: Duration<HZ>) -> Result<Self, BackoffError> {
        let (base, cap) = (base.as_ticks(), cap.as_ticks());
        if base == 0 {
            return Err(BackoffError::ZeroBase);
        }
        if cap < base {
            return Err(BackoffError::CapBelowBase);
        }
        Ok(Self {
            base,
            cap,
            max_retries: 3,
            max_wait: u64::MAX,
            spread: false,
        })
    }

    /// As [`new`](Self::new), with `base` and `cap` in milliseconds, rounded up to whole ticks.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), plus [`BackoffError::Overflow`] when a value does not fit in a
    /// `u64` of ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{BackoffError, Pacer};
    ///
    /// assert_eq!(Pacer::<32_768>::from_millis(1, 1_000)?.base().as_ticks(), 33); // 32.768, up
    /// assert_eq!(Pacer::<1_000_000_000>::from_millis(1, u64::MAX), Err(BackoffError::Overflow));
    /// # Ok::<(), BackoffError>(())
    /// ```
    pub const fn from_millis(base_ms: u64, cap_ms: u64) -> Result<Self, BackoffError> {
        match (
            ticks_from_millis_ceil(base_ms, HZ),
            ticks_from_millis_ceil(cap_ms, HZ),
        ) {
            (Some(base), Some(cap)) => Self::new(
                Duration::<HZ>::from_ticks(base),
                Duration::<HZ>::from_ticks(cap),
            ),
            _ => Err(BackoffError::Overflow),
        }
    }

    /// The same pacer allowing at most `max_retries` retries after the first send: `0` fails
    /// fast, `u32::MAX` retries for ever.
    pub const fn with_max_retries(self, max_retries: u32) -> Self {
        Self {
            max_retries,
            ..self
        }
    }

    /// The same pacer, spreading the remaining requests evenly over the time to the reset when
    /// `spread` is true (rule 3 of the [module docs](self)).
    ///
    /// # Examples
    ///
    /// "Send at most 1 request per second", from the server's own numbers:
    ///
    /// ```
    /// use tollgate_core::{Duration, Instant, Next, Outcome, Pacer, ServerHints};
    ///
    /// type D = Duration<1_000>;
    /// let pacer = Pacer::new(D::from_secs(1), D::from_secs(60))?.with_spread(true);
    /// let mut s = pacer.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let hints = ServerHints::NONE.with_remaining(899).with_reset(D::from_secs(899));
    /// assert_eq!(pacer.on_response(&mut s, now, Outcome::Success, hints, 0), Next::SendAt(now + D::from_secs(1)));
    /// # Ok::<(), tollgate_core::BackoffError>(())
    /// ```
    pub const fn with_spread(self, spread: bool) -> Self {
        Self { spread, ..self }
    }

    /// The same pacer, giving up rather than waiting longer than `max_wait` before a retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Duration, GiveUpReason, Instant, Next, Outcome, Pacer, ServerHints};
    ///
    /// type D = Duration<1_000>;
    /// let pacer = Pacer::new(D::from_secs(1), D::from_secs(8))?.with_max_wait(D::from_secs(60));
    /// let mut s = pacer.new_state();
    /// let now = Instant::<1_000>::from_ticks(0);
    /// let day = ServerHints::NONE.with_retry_after(D::from_secs(86_400));
    /// let next = pacer.on_response(&mut s, now, Outcome::RateLimited, day, 0);
    /// assert!(matches!(next, Next::GiveUp { reason: GiveUpReason::WaitTooLong, .. }));
    /// assert_eq!(next.at(), now + D::from_secs(86_400)); // still honoured for the next request
    /// # Ok::<(), tollgate_core::BackoffError>(())
    /// ```
    pub const fn with_max_wait(self, max_wait: Duration<HZ>) -> Self {
        Self {
            max_wait: max_wait.as_ticks(),
            ..self
        }
    }

    /// The backoff ceiling of the first failure.
    pub const fn base(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.base)
    }

    /// The largest backoff ceiling.
    pub const fn cap(&self) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.cap)
    }

    /// Retries allowed after the first send.
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The longest wait before a retry, if limited.
    pub const fn max_wait(&self) -> Option<Duration<HZ>> {
        if self.max_wait == u64::MAX {
            None
        } else {
            Some(Duration::<HZ>::from_ticks(self.max_wait))
        }
    }

    /// Whether the remaining requests are spread over the time to the reset.
    pub const fn spreads(&self) -> bool {
        self.spread
    }

    /// A fresh state.
    pub const fn new_state(&self) -> PacerState {
        PacerState::new()
    }

    /// The backoff ceiling for the `k`-th failure in a row: `min(cap, base · 2^(k−1))`, and zero
    /// for `k = 0`. Saturates: a huge `k` gives the cap.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Duration, Pacer};
    ///
    /// type D = Duration<1_000>;
    /// let p = Pacer::new(D::from_secs(1), D::from_secs(5))?;
    /// let ceilings = [0, 1, 2, 3, 4, u32::MAX].map(|k| p.backoff_ceiling(k).as_secs());
    /// assert_eq!(ceilings, [0, 1, 2, 4, 5, 5]);
    /// # Ok::<(), tollgate_core::BackoffError>(())
    /// ```
    pub const fn backoff_ceiling(&self, k: u32) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(self.ceiling_ticks(k))
    }

    /// The full-jitter backoff wait for the `k`-th failure in a row:
    /// `⌊random · (ceiling + 1) / 2⁶⁴⌋`, uniform over `[0, backoff_ceiling(k)]` for a uniform
    /// `random` (see the [module docs](self) for the exact distribution).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Duration, Pacer};
    ///
    /// type D = Duration<1_000>;
    /// let p = Pacer::new(D::from_secs(1), D::from_secs(60))?;
    /// assert_eq!(p.backoff(3, 0), D::from_ticks(0));
    /// assert_eq!(p.backoff(3, u64::MAX), D::from_secs(4)); // the ceiling: no jitter
    /// assert_eq!(p.backoff(3, 1 << 63), D::from_ticks(2_000)); // the middle of [0, 4000]
    /// # Ok::<(), tollgate_core::BackoffError>(())
    /// ```
    pub const fn backoff(&self, k: u32, random: u64) -> Duration<HZ> {
        Duration::<HZ>::from_ticks(full_jitter(self.ceiling_ticks(k), random))
    }

    /// The earliest instant the next send may go.
    pub const fn ready_at(&self, state: &PacerState) -> Instant<HZ> {
        Instant::<HZ>::from_ticks(state.not_before)
    }

    /// Whether a request may go at `now`.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] with the exact wait until [`ready_at`](Self::ready_at) when it is too early.
    pub const fn may_send(&self, state: &PacerState, now: Instant<HZ>) -> Result<(), NotUntil<HZ>> {
        let wait = state.not_before.saturating_sub(now.as_ticks());
        if wait == 0 {
            Ok(())
        } else {
            Err(NotUntil { wait })
        }
    }

    /// Whether `state` behaves like a fresh one at `now` and at every later instant.
    pub const fn is_at_rest(&self, state: &PacerState, now: Instant<HZ>) -> bool {
        state.failures == 0 && state.not_before <= now.as_ticks()
    }

    /// Records the response received at `now` and says when to send next, or to give up.
    ///
    /// `random` is a random word used only for the backoff jitter; see the [module docs](self)
    /// for the rules and the guarantee.
    ///
    /// # Examples
    ///
    /// A documented backoff schedule without Retry-After, waits of 1 s, 2 s and 4 s, as three
    /// retries after the first send, then give up (with `u64::MAX` as the random word, which
    /// takes the top of each jitter range).
    ///
    /// ```
    /// use tollgate_core::{Duration, GiveUpReason, Instant, Next, Outcome, Pacer, ServerHints};
    ///
    /// type D = Duration<1_000>;
    /// let pacer = Pacer::new(D::from_secs(1), D::from_secs(60))?.with_max_retries(3);
    /// let mut s = pacer.new_state();
    /// let mut now = Instant::<1_000>::from_ticks(0);
    /// for wait in [1, 2, 4] {
    ///     let next = pacer.on_response(&mut s, now, Outcome::RateLimited, ServerHints::NONE, u64::MAX);
    ///     assert_eq!(next, Next::SendAt(now + D::from_secs(wait)));
    ///     now = next.at();
    /// }
    /// let next = pacer.on_response(&mut s, now, Outcome::RateLimited, ServerHints::NONE, u64::MAX);
    /// assert_eq!(next, Next::GiveUp { attempts: 4, reason: GiveUpReason::RetriesExhausted, ready_at: now });
    /// # Ok::<(), tollgate_core::BackoffError>(())
    /// ```
    pub fn on_response(
        &self,
        state: &mut PacerState,
        now: Instant<HZ>,
        outcome: Outcome,
        hints: ServerHints<HZ>,
        random: u64,
    ) -> Next<HZ> {
        let t = now.as_ticks();
        let server = state.not_before.max(self.server_floor(t, &hints));
        let attempts = state.failures.saturating_add(1);
        let give_up = |state: &mut PacerState, reason| {
            *state = PacerState {
                not_before: server,
                failures: 0,
            };
            Next::GiveUp {
                attempts,
                reason,
                ready_at: Instant::<HZ>::from_ticks(server),
            }
        };
        match outcome {
            Outcome::Success => {
                *state = PacerState {
                    not_before: server,
                    failures: 0,
                };
                Next::SendAt(Instant::<HZ>::from_ticks(server))
            }
            Outcome::Failed => give_up(state, GiveUpReason::NotRetryable),
            Outcome::RateLimited | Outcome::Retryable => {
                if attempts > self.max_retries {
                    return give_up(state, GiveUpReason::RetriesExhausted);
                }
                let backoff = full_jitter(self.ceiling_ticks(attempts), random);
                let at = server.max(t.saturating_add(backoff));
                if at.saturating_sub(t) > self.max_wait {
                    return give_up(state, GiveUpReason::WaitTooLong);
                }
                *state = PacerState {
                    not_before: at,
                    failures: attempts,
                };
                Next::SendAt(Instant::<HZ>::from_ticks(at))
            }
        }
    }

    /// The latest of `t` and rules 1 to 3 for one response, in ticks.
    const fn server_floor(&self, t: u64, hints: &ServerHints<HZ>) -> u64 {
        let mut floor = t;
        if let Some(retry_after) = hints.retry_after {
            // The server's own answer supersedes what the reset implies (rules 2 and 3).
            return max(floor, t.saturating_add(retry_after.as_ticks()));
        }
        if let (Some(remaining), Some(reset)) = (hints.remaining, hints.reset) {
            let reset = reset.as_ticks();
            let wait = if remaining == 0 {
                reset
            } else if self.spread {
                reset.div_ceil(remaining as u64)
            } else {
                0
            };
            floor = max(floor, t.saturating_add(wait));
        }
        floor
    }

    /// `min(cap, base · 2^(k−1))` in ticks, zero for `k = 0`.
    const fn ceiling_ticks(&self, k: u32) -> u64 {
        if k == 0 {
            return 0;
        }
        let doubled = match 1u64.checked_shl(k.saturating_sub(1)) {
            Some(factor) => match self.base.checked_mul(factor) {
                Some(ticks) => ticks,
                None => u64::MAX,
            },
            None => u64::MAX,
        };
        if doubled < self.cap {
            doubled
        } else {
            self.cap
        }
    }
}

/// `⌊random · (ceiling + 1) / 2⁶⁴⌋`: multiply-shift reduction of `random` onto `[0, ceiling]`.
const fn full_jitter(ceiling: u64, random: u64) -> u64 {
    // (2⁶⁴ − 1)·2⁶⁴ < 2¹²⁸: the product never saturates, and the quotient is at most `ceiling`.
    let product = (random as u128).saturating_mul((ceiling as u128).saturating_add(1));
    (product >> 64) as u64
}

const fn max(a: u64, b: u64) -> u64 {
    if a > b { a } else { b }
}

impl RateLimitSummary {
    /// The [`Outcome`] of a response with HTTP status `status` and these headers.
    ///
    /// A 429 is [`RateLimited`](Outcome::RateLimited). So is a 403 that carries a
    /// `Retry-After` or an exhausted bucket (GitHub's primary and secondary limits), and a 503
    /// with an exhausted bucket; without those signs a 403 is [`Failed`](Outcome::Failed) and a
    /// 503 [`Retryable`](Outcome::Retryable). Every other status is
    /// [`Outcome::from_status`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Outcome, RateLimitSummary};
    ///
    /// let github = RateLimitSummary::from_headers([
    ///     ("x-ratelimit-limit", "60"), ("x-ratelimit-used", "60"), ("x-ratelimit-reset", "30"),
    /// ], None);
    /// assert_eq!(github.outcome(403), Outcome::RateLimited);
    /// assert_eq!(RateLimitSummary::new().outcome(403), Outcome::Failed);
    /// assert_eq!(RateLimitSummary::new().outcome(429), Outcome::RateLimited);
    /// ```
    pub fn outcome(&self, status: u16) -> Outcome {
        let exhausted = self.all_buckets().any(|b| b.info.remaining == Some(0));
        match status {
            403 if exhausted || self.retry_after().is_some() => Outcome::RateLimited,
            503 if exhausted => Outcome::RateLimited,
            _ => Outcome::from_status(status),
        }
    }

    /// What the [`Pacer`] needs from this response, at its tick rate, with every
    /// time rounded **up** to whole ticks.
    ///
    /// `retry_after` is [`retry_after`](Self::retry_after). `remaining` and `reset` come from
    /// the [`most_restrictive`](Self::most_restrictive) bucket of every dialect the response
    /// used, when it has both: among those with nothing remaining, the one with the longest
    /// reset (the pacer's "exhausted window" rule); if none is exhausted, the one with the
    /// largest `reset / remaining` (its "spread" rule). Without such a bucket, `remaining` is the
    /// least one known and `reset` is `None`. Counts above `u32::MAX` saturate.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Duration, RateLimitSummary};
    ///
    /// let s = RateLimitSummary::from_headers([
    ///     ("X-RateLimit-Remaining", "10, 0, 3"),
    ///     ("X-RateLimit-Reset", "600, 20, 900"),
    /// ], Some(1_700_000_000_000));
    /// let hints = s.server_hints::<32_768>();
    /// assert_eq!((hints.remaining, hints.reset), (Some(0), Some(Duration::<32_768>::from_secs(20))));
    /// ```
    pub fn server_hints<const HZ: u64>(&self) -> ServerHints<HZ> {
        let binding = self
            .most_restrictive()
            .and_then(|b| Some((b.info.remaining?, b.info.reset?.as_ticks())));
        let (remaining, reset) = match binding {
            Some((n, r)) => (Some(n), Some(r)),
            None => (
                self.all_buckets().filter_map(|b| b.info.remaining).min(),
                None,
            ),
        };
        ServerHints {
            retry_after: self
                .retry_after()
                .map(|d| millis_to_ticks::<HZ>(d.as_ticks())),
            remaining: remaining.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            reset: reset.map(millis_to_ticks::<HZ>),
        }
    }
}

impl RateLimitSummary {
    /// [`server_hints`](Self::server_hints) for a response whose outcome is `outcome`: a
    /// rate-limited response that names a reset but no remaining count (the seed carrier's 429
    /// sends only `X-RateLimit-Reset`) means that nothing remains until the longest such reset.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_core::{Duration, Outcome, RateLimitSummary};
    ///
    /// let s = RateLimitSummary::from_headers([("X-RateLimit-Reset", "20")], None);
    /// assert_eq!(s.server_hints::<1_000>().reset, None);
    /// let hints = s.hints_for::<1_000>(Outcome::RateLimited);
    /// assert_eq!((hints.remaining, hints.reset), (Some(0), Some(Duration::from_secs(20))));
    /// assert_eq!(s.hints_for::<1_000>(Outcome::Success).reset, None);
    /// ```
    pub fn hints_for<const HZ: u64>(&self, outcome: Outcome) -> ServerHints<HZ> {
        let hints = self.server_hints::<HZ>();
        if outcome != Outcome::RateLimited || hints.retry_after.is_some() || hints.reset.is_some() {
            return hints;
        }
        match self.all_buckets().filter_map(|b| b.info.reset).max() {
            Some(ms) => hints
                .with_remaining(0)
                .with_reset(millis_to_ticks::<HZ>(ms.as_ticks())),
            None => hints,
        }
    }
}

/// Milliseconds as ticks at `HZ`, rounded up, saturating at the end of time.
fn millis_to_ticks<const HZ: u64>(ms: u64) -> Duration<HZ> {
    Duration::<HZ>::from_ticks(ticks_from_millis_ceil(ms, HZ).unwrap_or(u64::MAX))
}

/// A backoff that cannot be configured.
///
/// # Examples
///
/// ```
/// use tollgate_core::{BackoffError, Duration, Pacer};
///
/// assert_eq!(Pacer::<1_000>::new(Duration::from_ticks(0), Duration::from_secs(1)), Err(BackoffError::ZeroBase));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BackoffError {
    /// The base wait is zero ticks, so it would never back off.
    ZeroBase,
    /// The cap is shorter than the base wait.
    CapBelowBase,
    /// A value does not fit in a `u64` of ticks.
    Overflow,
}

impl fmt::Display for BackoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroBase => "the backoff base is zero ticks",
            Self::CapBelowBase => "the backoff cap is shorter than its base",
            Self::Overflow => "the backoff does not fit 64-bit tick arithmetic",
        })
    }
}

impl core::error::Error for BackoffError {}

impl BackoffError {
    /// Stops with this error's message: the failure branch of the `valid!` macro for a
    /// pacer built in a `const` or `static`, where it becomes a compile-time error.
    ///
    /// # Panics
    ///
    /// Always; at run time handle the `Result` instead.
    #[track_caller]
    #[allow(
        clippy::panic,
        reason = "compile-time validation of const configuration"
    )]
    pub const fn reject(self) -> ! {
        match self {
            Self::ZeroBase => panic!("invalid tollgate backoff: the base is zero ticks"),
            Self::CapBelowBase => panic!("invalid tollgate backoff: the cap is below the base"),
            Self::Overflow => panic!("invalid tollgate backoff: it overflows 64-bit ticks"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type I = Instant<1_000>;
    type D = Duration<1_000>;

    fn at(ms: u64) -> I {
        I::from_ticks(ms)
    }

    fn secs(s: u64) -> D {
        D::from_secs(s)
    }

    fn pacer() -> Pacer<1_000> {
        Pacer::new(secs(1), secs(60)).unwrap()
    }

    const NONE: ServerHints<1_000> = ServerHints::NONE;
    const TOP: u64 = u64::MAX;

    #[test]
    fn a_retry_after_supersedes_a_later_reset() {
        // A sliding window frees its first slot (Retry-After: 740 s) long before it is at rest
        // (reset: 920 s); the client waits for the slot, not for the whole window.
        let p = pacer().with_spread(true);
        let mut s = p.new_state();
        let hints = NONE
            .with_retry_after(secs(740))
            .with_remaining(0)
            .with_reset(secs(920));
        let next = p.on_response(&mut s, at(0), Outcome::RateLimited, hints, 0);
        assert_eq!(next, Next::SendAt(at(740_000)));
        // Without a Retry-After the exhausted window's reset still holds.
        let hints = NONE.with_remaining(0).with_reset(secs(920));
        let next = p.on_response(&mut p.new_state(), at(0), Outcome::Success, hints, 0);
        assert_eq!(next, Next::SendAt(at(920_000)));
    }

    #[test]
    fn seed_001_backs_off_one_two_four_seconds_then_gives_up() {
        let p = pacer().with_max_retries(3);
        let mut s = p.new_state();
        let mut now = at(10_000);
        for wait in [1, 2, 4] {
            let next = p.on_response(&mut s, now, Outcome::RateLimited, NONE, TOP);
            assert_eq!(next, Next::SendAt(now + secs(wait)));
            assert_eq!(p.may_send(&s, now), Err(NotUntil { wait: wait * 1_000 }));
            now = next.at();
            assert_eq!(p.may_send(&s, now), Ok(()));
        }
        assert_eq!(
            p.on_response(&mut s, now, Outcome::RateLimited, NONE, TOP),
            Next::GiveUp {
                attempts: 4,
                reason: GiveUpReason::RetriesExhausted,
                ready_at: now
            }
        );
        assert_eq!(s.failures(), 0);
    }

    #[test]
    fn seed_001_retry_after_45_is_honoured_over_a_shorter_backoff() {
        let p = pacer();
        let mut s = p.new_state();
        let hints = NONE.with_retry_after(secs(45));
        for random in [0, 1 << 63, TOP] {
            let mut s2 = s;
            let next = p.on_response(&mut s2, at(0), Outcome::RateLimited, hints, random);
            assert_eq!(next, Next::SendAt(at(45_000)));
        }
        p.on_response(&mut s, at(0), Outcome::RateLimited, hints, 0);
        assert_eq!(
            p.may_send(&s, at(44_999)).unwrap_err().retry_after(),
            D::from_ticks(1)
        );
        assert_eq!(p.may_send(&s, at(45_000)), Ok(()));
    }

    #[test]
    fn the_later_of_retry_after_and_backoff_wins() {
        let p = Pacer::new(secs(10), secs(60)).unwrap();
        let mut s = p.new_state();
        let hints = NONE.with_retry_after(secs(3));
        let next = p.on_response(&mut s, at(0), Outcome::Retryable, hints, TOP);
        assert_eq!(next, Next::SendAt(at(10_000)));
    }

    #[test]
    fn retry_after_on_a_success_is_honoured_too() {
        let p = pacer();
        let mut s = p.new_state();
        let hints = NONE.with_retry_after(secs(2));
        assert_eq!(
            p.on_response(&mut s, at(0), Outcome::Success, hints, 0),
            Next::SendAt(at(2_000))
        );
    }

    #[test]
    fn an_exhausted_window_waits_for_the_reset() {
        let p = pacer();
        let mut s = p.new_state();
        let hints = NONE.with_remaining(0).with_reset(secs(30));
        assert_eq!(
            p.on_response(&mut s, at(1_000), Outcome::Success, hints, 0),
            Next::SendAt(at(31_000))
        );
        // Remaining 0 without a reset says nothing about when.
        let mut s = p.new_state();
        let hints = NONE.with_remaining(0);
        assert_eq!(
            p.on_response(&mut s, at(1_000), Outcome::Success, hints, 0),
            Next::SendAt(at(1_000))
        );
    }

    #[test]
    fn without_spread_remaining_requests_go_at_once() {
        let p = pacer();
        let mut s = p.new_state();
        let hints = NONE.with_remaining(5).with_reset(secs(60));
        assert_eq!(
            p.on_response(&mut s, at(0), Outcome::Success, hints, 0),
            Next::SendAt(at(0))
        );
    }

    #[test]
    fn seed_000_spread_gives_one_request_per_second() {
        let p = pacer().with_spread(true);
        let mut s = p.new_state();
        let hints = NONE.with_remaining(60).with_reset(secs(60));
        assert_eq!(
            p.on_response(&mut s, at(0), Outcome::Success, hints, 0),
            Next::SendAt(at(1_000))
        );
        // 7 left for 10 s: ⌈10000 / 7⌉ = 1429 ms, rounded up so the window is never exhausted.
        let hints = NONE.with_remaining(7).with_reset(secs(10));
        assert_eq!(
            p.on_response(&mut s, at(1_000), Outcome::Success, hints, 0),
            Next::SendAt(at(2_429))
        );
    }

    #[test]
    fn seed_000_spread_never_hits_the_limit_of_900_per_15_minutes() {
        // A fixed 15-minute window of 900, and a client that sends as soon as the pacer allows.
        let p = pacer().with_spread(true);
        let mut s = p.new_state();
        let window = 900_000u64;
        let (mut used, mut window_start, mut sent, mut min_gap) = (0u32, 0u64, 0u32, u64::MAX);
        let mut now = 0u64;
        while now < 3 * window {
            if now >= window_start + window {
                window_start = now - now % window;
                used = 0;
            }
            assert!(used < 900, "the server would answer 429 at {now}");
            used += 1;
            sent += 1;
            let hints = NONE
                .with_remaining(900 - used)
                .with_reset(D::from_ticks(window_start + window - now));
            let next = p.on_response(&mut s, at(now), Outcome::Success, hints, 0);
            if used < 900 {
                min_gap = min_gap.min(next.at().as_ticks() - now);
            }
            now = next.at().as_ticks();
        }
        // 899 per window (the last one of each lands on the reset), never faster than 1/s.
        assert_eq!(sent, 3 * 899);
        assert!(min_gap >= 1_000, "{min_gap}");
    }

    #[test]
    fn success_resets_the_failure_count() {
        let p = pacer();
        let mut s = p.new_state();
        p.on_response(&mut s, at(0), Outcome::Retryable, NONE, TOP);
        p.on_response(&mut s, at(1_000), Outcome::Retryable, NONE, TOP);
        assert_eq!(s.failures(), 2);
        assert_eq!(
            p.on_response(&mut s, at(3_000), Outcome::Success, NONE, TOP),
            Next::SendAt(at(3_000))
        );
        assert_eq!(s.failures(), 0);
        assert!(p.is_at_rest(&s, at(3_000)));
        // The next failure starts from the base again.
        assert_eq!(
            p.on_response(&mut s, at(3_000), Outcome::Retryable, NONE, TOP),
            Next::SendAt(at(4_000))
        );
    }

    #[test]
    fn a_non_retryable_failure_gives_up_at_once_but_keeps_what_the_server_said() {
        let p = pacer();
        let mut s = p.new_state();
        p.on_response(&mut s, at(0), Outcome::Retryable, NONE, TOP);
        let hints = NONE.with_retry_after(secs(5));
        assert_eq!(
            p.on_response(&mut s, at(1_000), Outcome::Failed, hints, TOP),
            Next::GiveUp {
                attempts: 2,
                reason: GiveUpReason::NotRetryable,
                ready_at: at(6_000)
            }
        );
        assert_eq!((s.failures(), p.ready_at(&s)), (0, at(6_000)));
    }

    #[test]
    fn seed_004_fail_fast_is_zero_retries() {
        let p = pacer().with_max_retries(0);
        let mut s = p.new_state();
        let next = p.on_response(&mut s, at(0), Outcome::Retryable, NONE, TOP);
        assert_eq!(
            next,
            Next::GiveUp {
                attempts: 1,
                reason: GiveUpReason::RetriesExhausted,
                ready_at: at(0)
            }
        );
        assert!(next.is_give_up());
        assert!(p.is_at_rest(&s, at(0)));
    }

    #[test]
    fn unlimited_retries_never_give_up_and_stay_at_the_cap() {
        let p = pacer().with_max_retries(u32::MAX);
        let mut s = PacerState {
            not_before: 0,
            failures: u32::MAX - 1,
        };
        for _ in 0..3 {
            let next = p.on_response(&mut s, at(0), Outcome::RateLimited, NONE, TOP);
            assert_eq!(next, Next::SendAt(at(60_000)));
            assert_eq!(s.failures(), u32::MAX);
        }
    }

    #[test]
    fn a_long_wait_gives_up_when_a_maximum_is_set() {
        let p = pacer().with_max_wait(secs(10));
        assert_eq!(p.max_wait(), Some(secs(10)));
        assert_eq!(pacer().max_wait(), None);
        let mut s = p.new_state();
        let hints = NONE.with_retry_after(secs(10));
        assert_eq!(
            p.on_response(&mut s, at(0), Outcome::RateLimited, hints, 0),
            Next::SendAt(at(10_000))
        );
        let hints = NONE.with_retry_after(D::from_ticks(10_001));
        assert_eq!(
            p.on_response(&mut s, at(10_000), Outcome::RateLimited, hints, 0),
            Next::GiveUp {
                attempts: 2,
                reason: GiveUpReason::WaitTooLong,
                ready_at: at(20_001)
            }
        );
    }

    #[test]
    fn the_jitter_covers_zero_to_the_ceiling() {
        let p = pacer();
        assert_eq!(p.backoff(1, 0), D::from_ticks(0));
        assert_eq!(p.backoff(1, TOP), secs(1));
        assert_eq!(p.backoff(0, TOP), D::from_ticks(0));
        // 1001 values over 2⁶⁴ words: value w starts at word ⌈w·2⁶⁴ / 1001⌉, so every value
        // gets ⌊2⁶⁴ / 1001⌋ or ⌈2⁶⁴ / 1001⌉ words.
        let first = |w: u64| u64::try_from((u128::from(w) << 64).div_ceil(1_001)).unwrap();
        let share = (1u128 << 64) / 1_001;
        for w in (1..=1_000).step_by(37).chain([1_000]) {
            assert_eq!(p.backoff(1, first(w)), D::from_ticks(w));
            assert_eq!(p.backoff(1, first(w) - 1), D::from_ticks(w - 1));
            let words = u128::from(first(w)) - u128::from(first(w - 1));
            assert!(words == share || words == share + 1);
        }
    }

    #[test]
    fn huge_failure_counts_and_durations_saturate() {
        let p = Pacer::<1>::new(
            Duration::<1>::from_ticks(u64::MAX / 3),
            Duration::<1>::from_ticks(u64::MAX),
        )
        .unwrap();
        assert_eq!(p.backoff_ceiling(1).as_ticks(), u64::MAX / 3);
        assert_eq!(p.backoff_ceiling(2).as_ticks(), u64::MAX / 3 * 2);
        assert_eq!(p.backoff_ceiling(3).as_ticks(), u64::MAX);
        assert_eq!(p.backoff_ceiling(65).as_ticks(), u64::MAX);
        assert_eq!(p.backoff_ceiling(u32::MAX).as_ticks(), u64::MAX);
        assert_eq!(p.backoff(u32::MAX, TOP).as_ticks(), u64::MAX);
    }

    #[test]
    fn the_end_of_time_saturates_instead_of_wrapping() {
        let p = Pacer::<1_000>::new(secs(1), D::from_ticks(u64::MAX)).unwrap();
        let mut s = p.new_state();
        let end = at(u64::MAX - 5);
        let hints = ServerHints {
            retry_after: Some(D::from_ticks(u64::MAX)),
            remaining: Some(0),
            reset: Some(D::from_ticks(u64::MAX)),
        };
        let next = p.on_response(&mut s, end, Outcome::RateLimited, hints, TOP);
        assert_eq!(next, Next::SendAt(at(u64::MAX)));
        let next = p.on_response(&mut s, at(u64::MAX), Outcome::Success, NONE, TOP);
        assert_eq!(next, Next::SendAt(at(u64::MAX)));
        assert_eq!(p.may_send(&s, at(u64::MAX)), Ok(()));
    }

    #[test]
    fn a_backwards_clock_never_sends_earlier() {
        let p = pacer();
        let mut s = p.new_state();
        let hints = NONE.with_retry_after(secs(30));
        p.on_response(&mut s, at(100_000), Outcome::RateLimited, hints, 0);
        let next = p.on_response(&mut s, at(0), Outcome::Success, NONE, 0);
        assert_eq!(next, Next::SendAt(at(130_000)));
        assert!(!p.is_at_rest(&s, at(129_999)));
        assert!(p.is_at_rest(&s, at(130_000)));
    }

    #[test]
    fn bad_configurations_are_typed_errors() {
        assert_eq!(
            Pacer::<1_000>::new(D::from_ticks(0), secs(1)),
            Err(BackoffError::ZeroBase)
        );
        assert_eq!(
            Pacer::<1_000>::new(secs(2), D::from_ticks(1_999)),
            Err(BackoffError::CapBelowBase)
        );
        assert_eq!(
            Pacer::<1_000>::from_millis(0, 5),
            Err(BackoffError::ZeroBase)
        );
        assert_eq!(
            Pacer::<1_000>::from_millis(1, u64::MAX),
            Pacer::<1_000>::new(D::from_ticks(1), D::from_ticks(u64::MAX))
        );
        assert_eq!(
            Pacer::<1_001>::from_millis(1, u64::MAX),
            Err(BackoffError::Overflow)
        );
        assert_eq!(
            Pacer::<1>::from_millis(1, 1).map(|p| p.base().as_ticks()),
            Ok(1)
        );
    }

    #[test]
    fn statuses_map_to_outcomes() {
        for (status, outcome) in [
            (100, Outcome::Success),
            (204, Outcome::Success),
            (304, Outcome::Success),
            (400, Outcome::Failed),
            (403, Outcome::Failed),
            (408, Outcome::Retryable),
            (429, Outcome::RateLimited),
            (500, Outcome::Retryable),
            (501, Outcome::Failed),
            (503, Outcome::Retryable),
            (504, Outcome::Retryable),
            (0, Outcome::Failed),
            (u16::MAX, Outcome::Failed),
        ] {
            assert_eq!(Outcome::from_status(status), outcome, "{status}");
        }
        assert!(Outcome::RateLimited.is_retryable() && !Outcome::Failed.is_retryable());
    }

    #[test]
    fn the_state_is_small_and_plain() {
        assert!(core::mem::size_of::<PacerState>() <= 16);
        assert_eq!(PacerState::default(), PacerState::new());
        assert_eq!(PacerState::new().not_before_ticks(), 0);
    }
}
