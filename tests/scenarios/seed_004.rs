//! Seed 004: rolling hourly and daily limits ("the number of requests made over the past hour as
//! of the time you send the request, rather than having the limit reset for each hour"); a JSON
//! 429 body naming the exceeded window and every limit; clients that fail fast or queue with
//! exponential backoff; and the test headers: `X-RateLimit` forces a 429, `X-RateLimit-Hour: 5`
//! lowers the hourly limit for that request and never raises it.

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_core::{
    Algorithm, GiveUpReason, Named, Next, Outcome, Overrides, Pacer, Policy, PolicyDecision, Quota,
    Report, SlidingLog, TestHeaders, TooManyRequests, Verdict,
};
use tollgate_tests::{D, HZ, I, ms};

type Endpoint = Policy<(Named<SlidingLog<HZ, 50>>, Named<SlidingLog<HZ, 600>>)>;

/// 50 per rolling hour and 600 per rolling day, as in the seed's sample body. Sliding logs:
/// a request stops counting exactly one hour (one day) after it was made.
fn endpoint() -> Endpoint {
    let (hour, day) = (Quota::per_hour(50).unwrap(), Quota::per_day(600).unwrap());
    Policy::new((
        Named::new("hour", SlidingLog::new(hour).unwrap()),
        Named::new("day", SlidingLog::new(day).unwrap()),
    ))
}

type State = <Endpoint as Algorithm<HZ>>::State;
type Answer<'a> = PolicyDecision<HZ, [Report<'a, HZ>; 2]>;

/// The scenario's clock reads 10:20 at its start: `at(11, 0)` is 11:00.
fn at(hour: u64, minute: u64) -> I {
    I::from_ticks(((hour * 60 + minute) - (10 * 60 + 20)) * 60_000)
}

/// The seed's 429 body.
fn body(d: &Answer<'_>, now: I) -> Value {
    let body = TooManyRequests::new(d.report_set(now), "Rate limit exceeded.")
        .with_more_info("https://www.prayerletters.com/dev/errors/429");
    serde_json::from_str(&body.to_string()).unwrap()
}

/// Decides a request carrying `request` headers: its test headers (`X-RateLimit`,
/// `X-RateLimit-<Interval>`) become the check's overrides.
fn request<'a>(api: &'a Endpoint, s: &mut State, now: I, request: &[(&str, &str)]) -> Answer<'a> {
    let test: TestHeaders<'_, 4> = TestHeaders::from_headers(request.iter().copied());
    api.check_with(s, now, 1, &test.overrides()).unwrap()
}

fn plain<'a>(api: &'a Endpoint, s: &mut State, now: I) -> Answer<'a> {
    request(api, s, now, &[])
}

#[test]
fn seed_004_a_request_is_freed_exactly_one_hour_after_it_was_made_not_at_the_top_of_the_hour() {
    let api = endpoint();
    let mut s = api.new_state();
    assert!(plain(&api, &mut s, at(10, 20)).is_allowed());
    for _ in 0..49 {
        assert!(plain(&api, &mut s, at(10, 50)).is_allowed());
    }
    // 11:00 resets nothing: the request of 10:20 counts until 11:20.
    let d = plain(&api, &mut s, at(11, 0));
    assert_eq!(d.limit_exceeded(), Some("hour"));
    assert_eq!(d.retry_after(), Some(D::from_secs(20 * 60)));
    assert_eq!(
        body(&d, at(11, 0)),
        json!({
            "status": 429,
            "error": "too_many_requests",
            "limit_exceeded": "hour",
            "limits": { "hour": 50, "day": 600 },
            "message": "Rate limit exceeded.",
            "more_info": "https://www.prayerletters.com/dev/errors/429",
        })
    );
    assert!(plain(&api, &mut s, at(11, 20) - D::from_millis(1)).is_denied());
    // 11:20: exactly the one request of 10:20 is free again.
    assert!(plain(&api, &mut s, at(11, 20)).is_allowed());
    let d = plain(&api, &mut s, at(11, 20));
    assert_eq!(d.retry_after(), Some(D::from_secs(30 * 60))); // the 10:50 ones, at 11:50
}

#[test]
fn seed_004_the_day_limit_is_named_when_the_hours_are_spread_out() {
    let api = endpoint();
    let mut s = api.new_state();
    for hour in 0..12 {
        let d = api.check(&mut s, at(10 + hour, 20), 50).unwrap();
        assert!(d.is_allowed(), "hour {hour}");
    }
    let d = plain(&api, &mut s, at(22, 20));
    assert_eq!(d.limit_exceeded(), Some("day"));
    assert_eq!(d.reports[0].decision.remaining, 50); // the hour has room
    assert_eq!(d.retry_after(), Some(D::from_secs(12 * 3_600))); // 10:20 tomorrow
    let body = body(&d, at(22, 20));
    assert_eq!(body["limit_exceeded"], "day");
    assert_eq!(body["limits"], json!({ "hour": 50, "day": 600 }));
}

#[test]
fn seed_004_x_ratelimit_forces_a_429_that_records_nothing() {
    let api = endpoint();
    let mut s = api.new_state();
    let now = at(10, 20);
    let d = request(&api, &mut s, now, &[("X-RateLimit", "1")]);
    assert_eq!(d.outcome, Verdict::Forced);
    assert_eq!(d.retry_after(), Some(D::from_ticks(0)));
    // No limit was exceeded; the body still lists them all.
    let body = body(&d, now);
    assert_eq!(body["status"], 429);
    assert_eq!(body["limit_exceeded"], Value::Null);
    assert_eq!(body["limits"], json!({ "hour": 50, "day": 600 }));
    assert_eq!(s, api.new_state());

    for value in ["0", "", "  ", "000"] {
        assert!(request(&api, &mut s, now, &[("X-RateLimit", value)]).is_allowed());
    }
    assert!(request(&api, &mut s, now, &[("x-ratelimit", "yes")]).is_denied());
    assert_eq!(plain(&api, &mut s, now).reports[0].decision.remaining, 45);
}

#[test]
fn seed_004_x_ratelimit_hour_5_lowers_the_hourly_limit_for_that_request_only() {
    let api = endpoint();
    let mut s = api.new_state();
    let now = at(10, 20);
    let five = [("X-RateLimit-Hour", "5")];
    for left in (0..5).rev() {
        let d = request(&api, &mut s, now, &five);
        assert!(d.is_allowed());
        assert_eq!(d.reports[0].decision.limit, 5);
        assert_eq!(d.reports[0].decision.remaining, left);
    }
    let d = request(&api, &mut s, at(10, 30), &five);
    assert_eq!(d.limit_exceeded(), Some("hour"));
    assert_eq!(d.retry_after(), Some(D::from_secs(50 * 60))); // the five of 10:20, at 11:20
    assert_eq!(
        body(&d, at(10, 30))["limits"],
        json!({ "hour": 5, "day": 600 })
    );
    // Without the header the endpoint's own limit applies, and only real requests counted.
    let d = plain(&api, &mut s, at(10, 30));
    assert!(d.is_allowed());
    assert_eq!(d.reports[0].decision.remaining, 44);
}

#[test]
fn seed_004_a_higher_value_never_raises_a_limit_and_an_unknown_interval_is_ignored() {
    let api = endpoint();
    let mut s = api.new_state();
    let now = at(10, 20);
    let ignored = [
        ("X-RateLimit-Minute", "1"),
        ("X-RateLimit-Week", "0"),
        ("X-RateLimit-Hour", "lots"),
        ("X-RateLimit-Day", "100000"),
    ];
    for _ in 0..50 {
        let d = request(&api, &mut s, now, &ignored);
        assert!(d.is_allowed());
        assert_eq!(d.reports.map(|r| r.decision.limit), [50, 600]);
    }
    let d = request(&api, &mut s, now, &[("X-RateLimit-Hour", "500")]);
    assert_eq!(d.limit_exceeded(), Some("hour"));
    assert_eq!(d.reports[0].decision.limit, 50);
}

#[test]
fn seed_004_a_client_fails_fast_or_queues_with_exponential_backoff() {
    let api = endpoint();
    let mut s = api.new_state();
    api.check(&mut s, at(10, 20), 50).unwrap();
    let hints = tollgate_core::ServerHints::NONE; // the seed's 429 carries a body only

    // Fail fast: no retries; the user is told to try again later.
    let fail_fast = Pacer::new(D::from_secs(60), D::from_secs(3_600))
        .unwrap()
        .with_max_retries(0);
    let mut client = fail_fast.new_state();
    let d = plain(&api, &mut s, at(11, 0));
    let next = fail_fast.on_response(&mut client, at(11, 0), Outcome::RateLimited, hints, 0);
    assert!(d.is_denied());
    assert_eq!(
        next,
        Next::GiveUp {
            attempts: 1,
            reason: GiveUpReason::RetriesExhausted,
            ready_at: at(11, 0)
        }
    );

    // Queue: retry after 1, 2, 4, 8, 16 minutes (the top of each jitter range) until admitted.
    let queue = Pacer::new(D::from_secs(60), D::from_secs(3_600))
        .unwrap()
        .with_max_retries(10);
    let mut client = queue.new_state();
    let mut now = at(11, 0);
    let mut sent = vec![];
    loop {
        sent.push(now);
        let d = plain(&api, &mut s, now);
        let outcome = if d.is_allowed() {
            Outcome::Success
        } else {
            Outcome::RateLimited
        };
        let next = queue.on_response(&mut client, now, outcome, hints, u64::MAX);
        if d.is_allowed() {
            break;
        }
        now = next.at();
    }
    let minutes = [(11, 0), (11, 1), (11, 3), (11, 7), (11, 15), (11, 31)];
    assert_eq!(sent, minutes.map(|(h, m)| at(h, m)));
    assert_eq!(client.failures(), 0);
}

/// What a test header asks for, in the property below.
#[derive(Debug, Clone)]
enum Ask {
    Nothing,
    Force,
    Lower(&'static str, u32),
}

fn ask() -> impl Strategy<Value = Ask> {
    prop_oneof![
        Just(Ask::Nothing),
        Just(Ask::Force),
        (0..60u32).prop_map(|n| Ask::Lower("Hour", n)),
        (0..700u32).prop_map(|n| Ask::Lower("day", n)),
        (0..5u32).prop_map(|n| Ask::Lower("Minute", n)),
    ]
}

/// Mostly seconds to two minutes apart, so the hour fills; sometimes up to two hours.
fn step() -> impl Strategy<Value = u64> {
    prop_oneof![9 => 0..120_000u64, 1 => 0..7_200_000u64]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the test headers ask, a request records exactly what the same request without
    /// them would record if it is admitted, and nothing otherwise; and it is admitted only if
    /// the plain request would be.
    #[test]
    fn seed_004_overrides_never_corrupt_state(
        steps in prop::collection::vec((step(), 0..4u32, ask()), 1..150),
    ) {
        let api = endpoint();
        let mut s = api.new_state();
        let mut now = ms(0);
        for (step, cost, ask) in steps {
            now += D::from_millis(step);
            let lower;
            let overrides = match ask {
                Ask::Nothing => Overrides::NONE,
                Ask::Force => Overrides::deny(),
                Ask::Lower(name, n) => {
                    lower = [(name, n)];
                    Overrides::lowering(&lower)
                }
            };
            let before = s;
            let mut shadow = s;
            let bare = api.check(&mut shadow, now, cost);
            match api.check_with(&mut s, now, cost, &overrides) {
                Ok(d) if d.is_allowed() => {
                    prop_assert!(bare.unwrap().is_allowed());
                    prop_assert!(s == shadow, "an admitted request recorded what the plain one would not");
                }
                _ => prop_assert!(s == before, "a refused request changed the state"),
            }
        }
    }
}
