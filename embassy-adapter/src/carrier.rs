//! When the carrier denies anyway: from its response to the pause before the next request.
//!
//! A throttle keeps the firmware inside the limits it knows, but the carrier decides: its clock,
//! its averaging and other senders on the same account can still deny a request. The seed
//! carrier answers a message or call over its rate with `403` and a JSON body whose `code` is
//! `message-rate-limit` or `call-rate-limit` (or `multi-message-limit` for too many
//! recipients), and any other endpoint over its limit with `429` and `X-RateLimit-Reset` in epoch
//! milliseconds. [`classify`] reads which it was; a [`Backoff`] feeds the response to the core's
//! [`Pacer`] (Retry-After honoured, an exhausted window waited out to its reset, exponential
//! backoff with full jitter otherwise), and the next request waits until it says so.
//!
//! The body is searched for the quoted code, without a JSON parser or any allocation: the codes
//! are fixed ASCII strings that cannot occur inside another JSON string unescaped.

use core::cell::Cell;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use tollgate_core::{Outcome, Pacer, PacerState, RateLimitSummary};

use crate::{Duration, HZ, Instant};

/// The longest pause a reset without a remaining count imposes: an hour.
const LONGEST_RESET_MS: u64 = 3_600_000;

/// What the pacer says after a response: send at an instant, or give the request up.
pub type Next = tollgate_core::Next<HZ>;

/// What a carrier's response says about its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Denial {
    /// Not a rate-limit denial (success, or another error).
    None,
    /// `403` with `message-rate-limit`: the number sent messages too fast.
    MessageRate,
    /// `403` with `call-rate-limit`: calls too fast, for the number or the account.
    CallRate,
    /// `403` with `multi-message-limit`: too many recipients in one request; retrying the same
    /// request cannot succeed.
    MultiMessage,
    /// `429 Too Many Requests` (any endpoint).
    TooManyRequests,
}

/// Reads a response's status and body into a [`Denial`] and the pacer's [`Outcome`].
///
/// A rate-limit `403` is [`Outcome::RateLimited`] (retry after a pause), although a `403` is
/// otherwise final; `multi-message-limit` is [`Outcome::Failed`] (the request itself is too big).
///
/// # Examples
///
/// ```
/// use tollgate_core::Outcome;
/// use tollgate_embassy::carrier::{Denial, classify};
///
/// let body = br#"{"category": "limit", "code": "message-rate-limit", "message": "..."}"#;
/// assert_eq!(classify(403, body), (Denial::MessageRate, Outcome::RateLimited));
/// assert_eq!(classify(403, b"{}"), (Denial::None, Outcome::Failed));
/// assert_eq!(classify(429, b""), (Denial::TooManyRequests, Outcome::RateLimited));
/// assert_eq!(classify(202, b""), (Denial::None, Outcome::Success));
/// ```
pub fn classify(status: u16, body: &[u8]) -> (Denial, Outcome) {
    if status == 429 {
        return (Denial::TooManyRequests, Outcome::RateLimited);
    }
    if status == 403 {
        if contains(body, b"\"message-rate-limit\"") {
            return (Denial::MessageRate, Outcome::RateLimited);
        }
        if contains(body, b"\"call-rate-limit\"") {
            return (Denial::CallRate, Outcome::RateLimited);
        }
        if contains(body, b"\"multi-message-limit\"") {
            return (Denial::MultiMessage, Outcome::Failed);
        }
    }
    (Denial::None, Outcome::from_status(status))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The core's pacer for one carrier account, shared by tasks from a `static`.
///
/// # Examples
///
/// A 429 whose `X-RateLimit-Reset` (epoch milliseconds) is 2.5 s away pauses every request
/// until then:
///
/// ```
/// use tollgate_core::Pacer;
/// use tollgate_embassy::{Duration, carrier::Backoff};
///
/// static CARRIER: Backoff = Backoff::new(tollgate_core::valid!(Pacer::new(
///     Duration::from_millis(500), Duration::from_secs(30))));
/// # embassy_time::MockDriver::get().reset();
/// let now_ms = 1_479_308_596_180;
/// let headers = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1479308598680")];
/// let (_, next) = CARRIER.on_response(429, headers, b"", Some(now_ms), u64::MAX);
/// assert_eq!(next.at().as_ticks(), Duration::from_millis(2_500).as_ticks());
/// assert_eq!(CARRIER.ready_at(), next.at());
/// ```
pub struct Backoff<M: RawMutex = CriticalSectionRawMutex> {
    pacer: Pacer<HZ>,
    state: Mutex<M, Cell<PacerState>>,
}

impl<M: RawMutex> core::fmt::Debug for Backoff<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Backoff")
            .field("pacer", &self.pacer)
            .field("state", &self.state.lock(Cell::get))
            .finish()
    }
}

impl<M: RawMutex> Backoff<M> {
    /// Paces with `pacer` (its backoff, retry budget and longest wait).
    pub const fn new(pacer: Pacer<HZ>) -> Self {
        Self {
            state: Mutex::new(Cell::new(pacer.new_state())),
            pacer,
        }
    }

    /// Reads a response: `status`, its header fields, its body, the current unix time in
    /// milliseconds if the firmware knows it (needed to read epoch resets and HTTP dates; without
    /// it a reset is read as a delta when it is small and ignored when it is an epoch), and a
    /// random word for the jitter (`u64::MAX` for plain exponential backoff; `0` waits not at
    /// all). Returns what the response was and when the next request may go.
    ///
    /// The pause applies to every request that waits on this backoff: for an
    /// [`Outbound`](crate::outbound::Outbound), the whole account, since a carrier's denial
    /// for one number usually means the account is sending faster than it knows.
    pub fn on_response<I, Name, Value>(
        &self,
        status: u16,
        headers: I,
        body: &[u8],
        now_unix_ms: Option<u64>,
        random: u64,
    ) -> (Denial, Next)
    where
        I: IntoIterator<Item = (Name, Value)>,
        Name: AsRef<[u8]>,
        Value: AsRef<[u8]>,
    {
        let summary = RateLimitSummary::from_headers(headers, now_unix_ms);
        // The carrier's coded bodies first; otherwise what the status and headers say (a 403 or
        // 503 whose headers show an exhausted limit is one too).
        let (denial, outcome) = match classify(status, body) {
            (Denial::None, _) => (Denial::None, summary.outcome(status)),
            coded => coded,
        };
        // A denial that names a reset but no remaining count (the carrier's 429 sends only
        // `X-RateLimit-Reset`) means that nothing remains until then; beyond an hour that is
        // read as a clock that is wrong (an RTC not yet set makes an epoch reset decades away),
        // not as a pause of the whole account for that long.
        let mut hints = summary.hints_for::<HZ>(outcome);
        if summary.server_hints::<HZ>().reset.is_none()
            && let Some(reset) = hints.reset
        {
            hints = hints.with_reset(reset.min(Duration::from_millis(LONGEST_RESET_MS)));
        }
        let now = crate::now();
        self.state.lock(|s| {
            let mut state = s.get();
            let next = self
                .pacer
                .on_response(&mut state, now, outcome, hints, random);
            s.set(state);
            #[cfg(feature = "defmt")]
            if denial != Denial::None {
                defmt::debug!("tollgate: carrier denial {}, next at {}", denial, next);
            }
            (denial, next)
        })
    }

    /// The earliest instant the next request may go.
    pub fn ready_at(&self) -> Instant {
        self.state.lock(|s| self.pacer.ready_at(&s.get()))
    }

    /// Waits until the next request may go, however often a response moves that later
    /// meanwhile.
    pub async fn ready(&self) {
        loop {
            let at = self.ready_at();
            if at <= crate::now() {
                return;
            }
            crate::sleep_until(at).await;
        }
    }
}
