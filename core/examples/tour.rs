//! A tour of tollgate-core: seed 000's policy replayed, answered and read back.
//!
//! The server enforces "5 concurrent requests, 300 per minute and 900 per 15 minutes" at once
//! and follows the seed's own burst advice (900 requests in 3 minutes at 5 per second); one
//! request more is denied with a 429, its headers and a JSON body. The client then parses those
//! headers and its pacer says when to try again.
//!
//! Run with `cargo run -p tollgate-core --example tour`.

use tollgate_core::{
    Concurrency, Duration, HeaderConfig, HeaderLines, Instant, LimitValues, Named, Next, Outcome,
    Pacer, Policy, ProblemDetails, Quota, RateLimitSummary, ResetFormat, SlidingLog, SlidingWindow,
    WallClock, XRateLimit,
};

/// Milliseconds: a 1 kHz tick, like a systick.
const HZ: u64 = 1_000;
type D = Duration<HZ>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The policy, in declaration order: what headers list and what a 429 names.
    let minute = Quota::<HZ>::per_minute(300)?;
    let quarter = Quota::<HZ>::new(900, D::from_secs(15 * 60))?;
    let policy = Policy::new((
        Named::new("concurrent", Concurrency::<HZ>::new(5)?),
        // Exact rolling minute: a log of up to 300 admissions (2,424 bytes of state).
        Named::new("minute", SlidingLog::<HZ, 300>::new(minute)?),
        // 900 per 15 minutes in 16 one-minute buckets (80 bytes of state, whatever the limit).
        Named::new("quarter", SlidingWindow::<HZ, 16>::new(quarter)?),
    ));
    let mut state = policy.new_state();
    println!("policy state: {} bytes", core::mem::size_of_val(&state));

    // Seed 000's advice: one burst of 900 requests lasting 3 minutes, at 5 per second.
    let start = Instant::<HZ>::from_ticks(1_000_000);
    let mut now = start;
    for i in 0..900u64 {
        now = start + D::from_millis(i * 200);
        let d = policy.check(&mut state, now, 1)?;
        assert!(d.is_allowed(), "request {i} was denied: {d:?}");
        policy.release(&mut state, 1)?; // the request finished: its concurrency slot comes back
    }
    println!("900 requests in 3 minutes at 5/s: all admitted");

    // One more, 200 ms later: the quarter-hour allowance is spent.
    now += D::from_millis(200);
    let denied = policy.check(&mut state, now, 1)?;
    println!(
        "request 901: denied by {:?}, retry after {} s",
        denied.limit_exceeded(),
        denied.retry_after().map_or(0, |d| d.as_secs())
    );

    // The 429: headers with epoch-second resets (the server knows the wall clock) and a body.
    let wall = WallClock::new(start, 1_742_377_200_000); // `start` is 2025-03-19T09:40:00Z
    let set = denied.report_set(now);
    let config = HeaderConfig::none()
        .with_x_ratelimit(XRateLimit::new(
            ResetFormat::EpochSeconds(wall),
            LimitValues::Single,
        ))
        .with_ietf()
        .with_retry_after();
    let mut headers = HeaderLines(String::new());
    set.write_headers(&config, &mut headers)?;
    println!(
        "\nHTTP/1.1 429 Too Many Requests\n{}",
        headers.0.replace("\r\n", "\n")
    );
    let body = ProblemDetails::quota_exceeded(set).with_detail("900 requests per 15 minutes");
    println!("{body}\n");

    // The client reads the headers back and asks its pacer when to try again.
    let lines = headers.0.split("\r\n").filter_map(|l| l.split_once(": "));
    let client_now_ms = wall.unix_millis_at(now);
    let seen = RateLimitSummary::from_headers(lines, client_now_ms);
    let pacer = Pacer::<HZ>::new(D::from_secs(1), D::from_secs(60))?;
    let mut pacing = pacer.new_state();
    let next = pacer.on_response(
        &mut pacing,
        now,
        Outcome::RateLimited,
        seen.server_hints::<HZ>(),
        0x9E37_79B9_7F4A_7C15, // the caller's random word, for the jitter
    );
    match next {
        Next::SendAt(at) => println!(
            "client: Retry-After {:?} s read back; next request in {} s",
            seen.retry_after().map(|r| r.as_secs()),
            (at - now).as_secs()
        ),
        Next::GiveUp { reason, .. } => println!("client: gives up ({reason})"),
    }

    // After the wait the same request is admitted.
    let later = now + denied.retry_after().unwrap_or(D::from_ticks(0));
    let d = policy.check(&mut state, later, 1)?;
    println!(
        "after the wait: {}",
        if d.is_allowed() { "admitted" } else { "denied" }
    );
    Ok(())
}
