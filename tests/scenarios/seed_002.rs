//! Seed 002: four buckets at once (2,300 per 15 minutes, 4,500 per 30 minutes, 8,800 per hour,
//! 105,600 per 24 hours) whose allowance slides ("if you do 10 calls, you need to wait just 15
//! minutes to liberate those 10 calls"); headers with one comma-separated value per bucket; a
//! JSON 429 body; and a client that reads the four buckets back.

use serde_json::Value;
use tollgate_core::{
    Algorithm, HeaderConfig, HttpDate, JsonStr, LimitValues, Named, Next, Outcome, Pacer, Policy,
    PolicyDecision, Quota, Report, ResetFormat, SlidingLog, SlidingWindow, WallClock, XRateLimit,
};
use tollgate_tests::{D, HZ, I, ms, respond, secs};

type Buckets = Policy<(
    Named<SlidingLog<HZ, 2_300>>,
    Named<SlidingLog<HZ, 4_500>>,
    Named<SlidingLog<HZ, 8_800>>,
    Named<SlidingWindow<HZ, 1_441>>,
)>;

/// The seed's buckets, in its order. The three shorter ones are sliding logs: a call is freed
/// exactly one window after it was made. A log keeps 8 bytes per call of its limit, so the day
/// (845 kB as a log) is a window counter in 1,441 one-minute buckets instead (5.8 kB): a call is
/// freed between 24 h and 24 h 1 min after it was made, and the day never admits more than
/// 105,600 in any 24 hours.
fn buckets() -> Buckets {
    let q = |limit, secs| Quota::per_seconds(limit, secs).unwrap();
    let (min15, min30, hour, day) = (
        q(2_300, 900),
        q(4_500, 1_800),
        q(8_800, 3_600),
        q(105_600, 86_400),
    );
    Policy::new((
        Named::new("15mins", SlidingLog::new(min15).unwrap()),
        Named::new("30mins", SlidingLog::new(min30).unwrap()),
        Named::new("1hr", SlidingLog::new(hour).unwrap()),
        Named::new("24hrs", SlidingWindow::new(day).unwrap()),
    ))
}

type State = <Buckets as Algorithm<HZ>>::State;
type Answer<'a> = PolicyDecision<HZ, [Report<'a, HZ>; 4]>;

/// The scenario starts at 2024-06-03T12:07:00Z.
const START_UNIX_MS: u64 = 1_717_416_420_000;
const WALL: WallClock<HZ> = WallClock::new(I::from_ticks(0), START_UNIX_MS);

/// One value per bucket, resets as unix timestamps, and `Retry-After` on a 429.
const HEADERS: HeaderConfig<HZ> = HeaderConfig::none()
    .with_x_ratelimit(XRateLimit::new(
        ResetFormat::EpochSeconds(WALL),
        LimitValues::PerLimit,
    ))
    .with_retry_after();

/// The instant `m` minutes into the scenario.
fn minutes(m: u64) -> I {
    secs(60 * m)
}

/// A fresh state on the heap (130 kB: the logs hold every call of their windows).
fn fresh(api: &Buckets) -> Box<State> {
    Box::new(api.new_state())
}

/// `calls` calls at `t`, which must all be admitted.
fn calls<'a>(api: &'a Buckets, s: &mut State, t: I, calls: u32) -> Answer<'a> {
    let d = api.check(s, t, calls).unwrap();
    assert!(d.is_allowed(), "{calls} calls at {t}");
    d
}

/// The seed's 429 body. Its shape is the API's own, so it is written here with tollgate's JSON
/// string escaping and HTTP-date.
fn body_429(request_id: &str, now: I) -> String {
    let date = HttpDate::from_unix_secs(WALL.unix_millis_at(now).unwrap() / 1_000).unwrap();
    format!(
        r#"{{"Message":{},"Type":"rate_limit","Id":{},"Date":"{date}","errors":null}}"#,
        JsonStr("Rate limit exceeded. Please contact support for more assistance"),
        JsonStr(request_id),
    )
}

#[test]
fn seed_002_every_response_carries_one_value_per_bucket_in_order() {
    let api = buckets();
    let mut s = fresh(&api);
    let d = calls(&api, &mut s, secs(0), 10);
    let h = respond(&d, secs(0), &HEADERS);
    assert_eq!(h.get("X-RateLimit-Limit"), Some("2300, 4500, 8800, 105600"));
    assert_eq!(
        h.get("X-RateLimit-Remaining"),
        Some("2290, 4490, 8790, 105590")
    );
    // 15 min, 30 min and 1 h after the calls; the day's first minute bucket ends 24 h 1 min on.
    assert_eq!(
        h.get("X-RateLimit-Reset"),
        Some("1717417320, 1717418220, 1717420020, 1717502880")
    );
    assert_eq!(h.get("Retry-After"), None);

    // The client splits the lists back into four buckets, in the same order.
    let seen = h.read(WALL.unix_millis_at(secs(0)));
    let legacy = seen.legacy();
    assert_eq!(legacy.len(), 4);
    let limits: Vec<_> = legacy.iter().map(|b| b.limit.unwrap()).collect();
    let remaining: Vec<_> = legacy.iter().map(|b| b.remaining.unwrap()).collect();
    let resets: Vec<_> = legacy.iter().map(|b| b.reset.unwrap().as_secs()).collect();
    assert_eq!(limits, [2_300, 4_500, 8_800, 105_600]);
    assert_eq!(remaining, [2_290, 4_490, 8_790, 105_590]);
    assert_eq!(resets, [900, 1_800, 3_600, 86_460]);
    // The seed's `X-RateLimit` (calls made) is not a header tollgate writes; it is limit minus
    // remaining.
    let made: Vec<_> = limits.iter().zip(&remaining).map(|(l, r)| l - r).collect();
    assert_eq!(made, [10, 10, 10, 10]);
}

#[test]
fn seed_002_ten_calls_are_freed_exactly_15_minutes_after_they_were_made_not_at_a_quarter_past() {
    let api = buckets();
    let mut s = fresh(&api);
    calls(&api, &mut s, minutes(0), 10); // 12:07
    calls(&api, &mut s, minutes(3), 2_290); // 12:10: the 15-minute bucket is full

    // 12:15, where a fixed quarter-hour would reset: still full until 12:22.
    let d = api.check(&mut s, minutes(8), 1).unwrap();
    assert_eq!(d.limit_exceeded(), Some("15mins"));
    assert_eq!(d.retry_after(), Some(D::from_secs(7 * 60)));
    let h = respond(&d, minutes(8), &HEADERS);
    assert_eq!(
        h.get("X-RateLimit-Remaining"),
        Some("0, 2200, 6500, 103300")
    );
    assert_eq!(h.get("Retry-After"), Some("420"));

    assert_eq!(
        api.check(&mut s, minutes(15) - D::from_millis(1), 1)
            .unwrap()
            .retry_after(),
        Some(D::from_millis(1))
    );
    // 12:22: the ten calls of 12:07 are free again, and only those.
    let d = calls(&api, &mut s, minutes(15), 10);
    assert_eq!(d.reports[0].decision.remaining, 0);
    let d = api.check(&mut s, minutes(15), 1).unwrap();
    assert_eq!(d.retry_after(), Some(D::from_secs(3 * 60))); // the 12:10 calls, at 12:25
}

/// Calls that fill the hour exactly without overrunning the shorter buckets: 2,300 on the hour,
/// 2,200 at a quarter past, 2,300 at half past and 2,000 at a quarter to (8,800).
fn a_full_hour(api: &Buckets, s: &mut State, hour: u64) {
    for (minute, n) in [(0, 2_300), (15, 2_200), (30, 2_300), (45, 2_000)] {
        calls(api, s, minutes(60 * hour + minute), n);
    }
}

#[test]
fn seed_002_the_tightest_bucket_denies_and_the_others_keep_their_figures() {
    let api = buckets();
    let mut s = fresh(&api);
    a_full_hour(&api, &mut s, 0);
    let now = minutes(45) + D::from_millis(1);
    let d = api.check(&mut s, now, 1).unwrap();
    assert_eq!(d.limit_exceeded(), Some("1hr"));
    // The calls made on the hour are freed an hour later.
    assert_eq!(d.retry_after(), Some(D::from_millis(15 * 60_000 - 1)));
    let h = respond(&d, now, &HEADERS);
    assert_eq!(h.get("X-RateLimit-Remaining"), Some("300, 200, 0, 96800"));
    assert_eq!(h.get("Retry-After"), Some("900")); // 899.999 s, rounded up

    // The client finds the exhausted bucket. `Retry-After` says when one call is freed; the
    // bucket's reset says when all of it is, the seed's "stop and start again after the
    // X-RateLimit-Reset time".
    let seen = h.read(WALL.unix_millis_at(now));
    assert_eq!(seen.legacy()[2].remaining, Some(0));
    assert_eq!(seen.legacy()[2].reset, Some(D::from_millis(3_599_999)));
    assert_eq!(seen.suggested_wait(), Some(D::from_secs(900)));
    let hints = seen.server_hints::<HZ>();
    assert_eq!(
        (hints.retry_after, hints.remaining),
        (Some(D::from_secs(900)), Some(0))
    );
    let pacer = Pacer::new(D::from_secs(1), D::from_secs(60)).unwrap();
    let mut client = pacer.new_state();
    let next = pacer.on_response(&mut client, now, Outcome::RateLimited, hints, u64::MAX);
    // Retry-After is the server's own answer and supersedes the reset: the pacer waits the
    // 900 s until a call is freed, not the 1 h until the whole hour bucket is at rest.
    assert_eq!(next, Next::SendAt(now + D::from_secs(900)));
    assert!(
        api.check(&mut s, now + D::from_secs(900), 2_300)
            .unwrap()
            .is_allowed()
    );
}

#[test]
fn seed_002_the_day_bucket_denies_after_twelve_full_hours_with_the_seeds_json_body() {
    let api = buckets();
    let mut s = fresh(&api);
    for hour in 0..12 {
        a_full_hour(&api, &mut s, hour);
    }
    // 12 × 8,800 = 105,600: the hour has room again (2,300), the day has none.
    let now = minutes(12 * 60);
    let d = api.check(&mut s, now, 1).unwrap();
    assert_eq!(d.limit_exceeded(), Some("24hrs"));
    assert_eq!(d.reports[2].decision.remaining, 2_300);
    // The first minute's calls stop counting at 24 h 1 min.
    assert_eq!(d.retry_after(), Some(D::from_secs(12 * 3_600 + 60)));

    let body: Value = serde_json::from_str(&body_429("7b1f", now)).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "Message": "Rate limit exceeded. Please contact support for more assistance",
            "Type": "rate_limit",
            "Id": "7b1f",
            "Date": "Tue, 04 Jun 2024 00:07:00 GMT",
            "errors": null,
        })
    );
    let freed = minutes(24 * 60 + 1);
    assert!(
        api.check(&mut s, freed - D::from_millis(1), 1)
            .unwrap()
            .is_denied()
    );
    assert!(api.check(&mut s, freed, 2_300).unwrap().is_allowed());
}

#[test]
fn seed_002_a_client_adds_pauses_to_spread_what_is_left_until_the_reset() {
    let api = buckets();
    let mut s = fresh(&api);
    let d = calls(&api, &mut s, secs(0), 10);
    let seen = respond(&d, secs(0), &HEADERS).read(WALL.unix_millis_at(secs(0)));
    let hints = seen.server_hints::<HZ>();
    // The most binding bucket is the day's: 105,590 calls over 86,460 s, one per 819 ms.
    assert_eq!(
        (hints.remaining, hints.reset),
        (Some(105_590), Some(D::from_secs(86_460)))
    );
    let pacer = Pacer::new(D::from_secs(1), D::from_secs(60))
        .unwrap()
        .with_spread(true);
    let mut client = pacer.new_state();
    let next = pacer.on_response(&mut client, secs(0), Outcome::Success, hints, 0);
    assert_eq!(next, Next::SendAt(ms(819)));
}
