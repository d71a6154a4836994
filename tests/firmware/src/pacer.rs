//! Client pacer: seed 001's retry loop with full-jitter backoff under a fixed random word,
//! Retry-After and an exhausted window honoured, a clock going backwards, the three ways of
//! giving up, spreading, and the jitter formula itself. The pacer lives in a `static`.
//!
//! Worked from the module's rules: the next send is the latest of `now`, `now + Retry-After`,
//! `now + reset` when nothing remains, `now + ⌈reset / remaining⌉` when spreading, the backoff
//! `⌊r · (ceiling + 1) / 2⁶⁴⌋` with `ceiling = min(cap, base · 2^(k−1))` for the `k`-th failure
//! in a row, and the earliest send already recorded. With `r = 3·2⁶²` the backoff is
//! `⌊3 (ceiling + 1) / 4⌋`: 24,576, 49,152, 98,304, then 196,608 at the 8 s cap.

use tollgate_core::{
    BackoffError, Duration, GiveUpReason, Instant, Next, Outcome, Pacer, PacerState, ServerHints,
};

use crate::HZ;
use crate::harness::Tally;

type D = Duration<HZ>;
type Hints = ServerHints<HZ>;

const SEC: u64 = HZ;

/// Three quarters of the way up every jitter range.
const R: u64 = 0xC000_0000_0000_0000;

/// Backoff from 1 s doubling to 8 s, four retries; built at compile time.
static PACER: Pacer<HZ> = match Pacer::new(D::from_ticks(SEC), D::from_ticks(8 * SEC)) {
    Ok(p) => p.with_max_retries(4),
    Err(_) => panic!("1 s to 8 s is a valid backoff"),
};

/// One response and what the pacer should answer, with the failures in a row after it.
struct Resp {
    at: u64,
    outcome: Outcome,
    hints: Hints,
    random: u64,
    want: Next<HZ>,
    failures: u32,
}

const fn resp(at: u64, outcome: Outcome, hints: Hints, want: Next<HZ>, failures: u32) -> Resp {
    Resp {
        at,
        outcome,
        hints,
        random: R,
        want,
        failures,
    }
}

const fn send_at(ticks: u64) -> Next<HZ> {
    Next::SendAt(Instant::<HZ>::from_ticks(ticks))
}

const fn give_up(attempts: u32, reason: GiveUpReason, ticks: u64) -> Next<HZ> {
    Next::GiveUp {
        attempts,
        reason,
        ready_at: Instant::<HZ>::from_ticks(ticks),
    }
}

const NONE: Hints = ServerHints::NONE;
const RATE_LIMITED: Outcome = Outcome::RateLimited;

/// Each retry sent the moment it is allowed and answered at once.
const BACKOFF: &[Resp] = &[
    resp(1_000, RATE_LIMITED, NONE, send_at(1_000 + 24_576), 1),
    resp(25_576, RATE_LIMITED, NONE, send_at(25_576 + 49_152), 2),
    resp(
        74_728,
        Outcome::Retryable,
        NONE,
        send_at(74_728 + 98_304),
        3,
    ),
    resp(173_032, RATE_LIMITED, NONE, send_at(173_032 + 196_608), 4), // at the cap
    // The 5th failure in a row: four retries were all there were.
    resp(
        369_640,
        RATE_LIMITED,
        NONE,
        give_up(5, GiveUpReason::RetriesExhausted, 369_640),
        0,
    ),
    // The next request succeeds; nothing holds it back.
    resp(400_000, Outcome::Success, NONE, send_at(400_000), 0),
];

/// What the server says wins over a shorter backoff, and stays imposed.
const SERVER: &[Resp] = &[
    // Retry-After: 45 s beats the first backoff (24,576).
    resp(
        400_000,
        RATE_LIMITED,
        NONE.with_retry_after(D::from_ticks(45 * SEC)),
        send_at(400_000 + 45 * SEC),
        1,
    ),
    // A Retry-After of 1,000 ticks is shorter than the second backoff (49,152).
    resp(
        1_874_560,
        Outcome::Retryable,
        NONE.with_retry_after(D::from_ticks(1_000)),
        send_at(1_874_560 + 49_152),
        2,
    ),
    // Success with the window exhausted: not before it resets, 10 s later.
    resp(
        1_923_712,
        Outcome::Success,
        NONE.with_remaining(0).with_reset(D::from_ticks(10 * SEC)),
        send_at(1_923_712 + 10 * SEC),
        0,
    ),
    // The clock went backwards: the reset already recorded still holds.
    resp(2_000_000, Outcome::Success, NONE, send_at(2_251_392), 0),
    // A 404 is not retried; the floor still holds for the next request.
    resp(
        2_251_392,
        Outcome::Failed,
        NONE,
        give_up(1, GiveUpReason::NotRetryable, 2_251_392),
        0,
    ),
    // A 429 with Retry-After: 2 s, then a 404: two failed sends.
    resp(
        2_300_000,
        RATE_LIMITED,
        NONE.with_retry_after(D::from_ticks(2 * SEC)),
        send_at(2_300_000 + 2 * SEC),
        1,
    ),
    resp(
        2_365_536,
        Outcome::Failed,
        NONE,
        give_up(2, GiveUpReason::NotRetryable, 2_365_536),
        0,
    ),
];

fn run_responses(
    t: &mut Tally,
    table: &str,
    p: &Pacer<HZ>,
    s: &mut PacerState,
    rows: &[Resp],
    first: usize,
) {
    for (i, r) in (first..).zip(rows) {
        let now = Instant::<HZ>::from_ticks(r.at);
        let next = p.on_response(s, now, r.outcome, r.hints, r.random);
        t.expect(
            format_args!("{table} #{i} t={} {:?}", r.at, r.outcome),
            (next, s.failures(), p.ready_at(s)),
            (r.want, r.failures, r.want.at()),
        );
    }
}

fn at(ticks: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(ticks)
}

pub fn run(t: &mut Tally) {
    let mut s = PACER.new_state();
    t.expect(
        format_args!("a fresh pacer may send at once"),
        PACER.may_send(&s, at(0)),
        Ok(()),
    );
    run_responses(t, "backoff", &PACER, &mut s, BACKOFF, 0);
    run_responses(t, "server", &PACER, &mut s, &SERVER[..1], 0);
    let wait = |s: &PacerState, ticks| {
        PACER
            .may_send(s, at(ticks))
            .map_err(|e| e.retry_after().as_ticks())
    };
    t.expect(
        format_args!("Retry-After 45 s: a tick early, on time"),
        (wait(&s, 1_874_559), wait(&s, 1_874_560)),
        (Err(1), Ok(())),
    );
    run_responses(t, "server", &PACER, &mut s, &SERVER[1..], 1);
    t.expect(
        format_args!("after giving up: at rest from the last floor on"),
        (
            PACER.is_at_rest(&s, at(2_365_535)),
            PACER.is_at_rest(&s, at(2_365_536)),
        ),
        (false, true),
    );

    other_pacers(t);
    jitter(t);
}

fn other_pacers(t: &mut Tally) {
    let fail_fast = PACER.with_max_retries(0);
    let mut s = fail_fast.new_state();
    t.expect(
        format_args!("max_retries 0 fails fast"),
        fail_fast.on_response(&mut s, at(5_000), RATE_LIMITED, NONE, 7),
        give_up(1, GiveUpReason::RetriesExhausted, 5_000),
    );

    let patient = PACER.with_max_wait(D::from_ticks(60 * SEC));
    let mut s = patient.new_state();
    let day = 86_400 * SEC;
    let next = patient.on_response(
        &mut s,
        at(1_000),
        RATE_LIMITED,
        NONE.with_retry_after(D::from_ticks(day)),
        R,
    );
    t.expect(
        format_args!("Retry-After a day, max wait 60 s: give up, the day still holds"),
        (
            next,
            patient
                .may_send(&s, at(1_000))
                .map_err(|e| e.retry_after().as_ticks()),
        ),
        (give_up(1, GiveUpReason::WaitTooLong, 1_000 + day), Err(day)),
    );

    let hints = NONE.with_remaining(3).with_reset(D::from_ticks(100_000));
    let spread = PACER.with_spread(true);
    t.expect(
        format_args!("3 left, reset in 100,000: spread ⌈100,000 / 3⌉ apart, or not"),
        (
            spread.on_response(&mut spread.new_state(), at(0), Outcome::Success, hints, 0),
            PACER.on_response(&mut PACER.new_state(), at(0), Outcome::Success, hints, 0),
        ),
        (send_at(33_334), send_at(0)),
    );

    t.expect(
        format_args!("zero base, cap below base"),
        (
            Pacer::<HZ>::new(D::from_ticks(0), D::from_ticks(SEC)),
            Pacer::<HZ>::new(D::from_ticks(2 * SEC), D::from_ticks(SEC)),
        ),
        (Err(BackoffError::ZeroBase), Err(BackoffError::CapBelowBase)),
    );
    t.expect(
        format_args!("1 ms at 32,768 Hz rounds up to 33 ticks"),
        Pacer::<HZ>::from_millis(1, 1_000).map(|p| (p.base().as_ticks(), p.cap().as_ticks())),
        Ok((33, 32_768)),
    );
}

/// The ceilings and the multiply-shift draw, including a word that is not a round fraction.
fn jitter(t: &mut Tally) {
    t.expect(
        format_args!("ceilings for k = 0, 1, 2, 3, 4, 5, u32::MAX"),
        [0, 1, 2, 3, 4, 5, u32::MAX].map(|k| PACER.backoff_ceiling(k).as_ticks()),
        [0, SEC, 2 * SEC, 4 * SEC, 8 * SEC, 8 * SEC, 8 * SEC],
    );
    // ⌊0x9e37_79b9_7f4a_7c15 · 32,769 / 2⁶⁴⌋ = 20,252 (0.618… of the range).
    t.expect(
        format_args!("first backoff for r = 0, golden ratio, 3/4, all ones"),
        [0, 0x9e37_79b9_7f4a_7c15, R, u64::MAX].map(|r| PACER.backoff(1, r).as_ticks()),
        [0, 20_252, 24_576, SEC],
    );
    t.expect(
        format_args!("no failure, no backoff"),
        PACER.backoff(0, u64::MAX).as_ticks(),
        0,
    );
}
