//! Seed 000: at most 5 concurrent requests, 300 per minute and 900 per 15 minutes, all enforced
//! at once; a 429 carries `Retry-After` and `X-RateLimit-Limit/-Remaining/-Reset` (epoch
//! seconds); and the seed's advice (1 request per second for ever, or periodic bursts at 5 per
//! second) replayed against those limits.

use tollgate_core::{
    Concurrency, HeaderConfig, LimitValues, Named, Policy, PolicyDecision, Quota, Report,
    ResetFormat, SlidingLog, WallClock, XRateLimit,
};
use tollgate_tests::{D, HZ, I, ms, respond, secs};

type Api = Policy<(
    Named<Concurrency<HZ>>,
    Named<SlidingLog<HZ, 300>>,
    Named<SlidingLog<HZ, 900>>,
)>;

/// The seed's limits. Sliding logs count exactly: never more than 300 requests in any 60 s or
/// 900 in any 15 minutes, and each request stops counting exactly 60 s (or 15 min) after it was
/// made. The state is one `u32` plus two rings (2.4 kB and 7.2 kB).
fn api() -> Api {
    let minute = Quota::per_minute(300).unwrap();
    let quarter = Quota::per_seconds(900, 15 * 60).unwrap();
    Policy::new((
        Named::new("concurrent", Concurrency::new(5).unwrap()),
        Named::new("minute", SlidingLog::new(minute).unwrap()),
        Named::new("15min", SlidingLog::new(quarter).unwrap()),
    ))
}

/// The scenario starts at 2023-07-17T00:00:00Z, the seed's "last updated".
const START_UNIX_MS: u64 = 1_689_552_000_000;
const WALL: WallClock<HZ> = WallClock::new(I::from_ticks(0), START_UNIX_MS);

/// The seed's 429 headers: the applicable limit's figures, the reset in epoch seconds.
const HEADERS: HeaderConfig<HZ> = HeaderConfig::none()
    .with_x_ratelimit(XRateLimit::new(
        ResetFormat::EpochSeconds(WALL),
        LimitValues::Single,
    ))
    .with_retry_after();

type Answer<'a> = PolicyDecision<HZ, [Report<'a, HZ>; 3]>;
type State = <Api as tollgate_core::Algorithm<HZ>>::State;

/// One request at `t` that completes at once: admitted, it holds a concurrency slot only until
/// it is answered.
fn request<'a>(api: &'a Api, state: &mut State, t: I) -> Answer<'a> {
    let d = api.check(state, t, 1).unwrap();
    if d.is_allowed() {
        api.release(state, 1).unwrap();
    }
    d
}

/// Sends a request at every instant of `schedule`, each of which must be admitted; how many.
fn admit_all(api: &Api, state: &mut State, schedule: impl IntoIterator<Item = I>) -> usize {
    let mut admitted = 0;
    for t in schedule {
        assert!(request(api, state, t).is_allowed(), "request at {t}");
        admitted += 1;
    }
    admitted
}

/// Sends a request at every instant of `schedule` until one is denied: how many were admitted
/// before it, its instant and the denial.
fn first_denial<'a>(
    api: &'a Api,
    state: &mut State,
    schedule: impl IntoIterator<Item = I>,
) -> (usize, I, Answer<'a>) {
    for (admitted, t) in schedule.into_iter().enumerate() {
        let d = request(api, state, t);
        if d.is_denied() {
            return (admitted, t, d);
        }
    }
    panic!("every request was admitted")
}

/// `count` requests at 5 per second (one every 200 ms) from `start`.
fn burst(start: I, count: u64) -> impl Iterator<Item = I> {
    (0..count).map(move |i| start + D::from_millis(200 * i))
}

/// `cycles` bursts of `count` requests at 5 per second, one starting every `every`.
fn bursts(count: u64, every: D, cycles: u64) -> impl Iterator<Item = I> {
    (0..cycles).flat_map(move |c| burst(I::from_ticks(0) + every * c as u32, count))
}

#[test]
fn seed_000_a_steady_request_per_second_is_admitted_for_two_hours() {
    let api = api();
    let mut s = api.new_state();
    assert_eq!(admit_all(&api, &mut s, (0..7_200).map(secs)), 7_200);
    // The advice sits exactly at the 15-minute limit: once 15 minutes have passed, every
    // request leaves it full, so a single extra request is denied until the next second.
    let d = request(&api, &mut s, ms(7_199_500));
    assert_eq!(d.limit_exceeded(), Some("15min"));
    assert_eq!(d.retry_after(), Some(D::from_millis(500)));
    assert!(request(&api, &mut s, secs(7_200)).is_allowed());
}

#[test]
fn seed_000_one_burst_of_900_over_3_minutes_every_15_minutes_is_admitted_for_four_cycles() {
    let api = api();
    let mut s = api.new_state();
    let schedule = bursts(900, D::from_secs(15 * 60), 4);
    assert_eq!(admit_all(&api, &mut s, schedule), 3_600);
}

#[test]
fn seed_000_one_burst_of_300_over_1_minute_every_5_minutes_is_admitted_for_six_cycles() {
    let api = api();
    let mut s = api.new_state();
    let schedule = bursts(300, D::from_secs(5 * 60), 6);
    assert_eq!(admit_all(&api, &mut s, schedule), 1_800);
}

/// The seed's middle example does not fit its own limits: two bursts of 600 that start 10
/// minutes apart both lie inside one 15-minute window (1,200 > 900). The second burst is cut
/// off after 300 requests, and the client must wait until the first burst ages out.
#[test]
fn seed_000_bursts_of_600_over_2_minutes_every_10_minutes_overrun_the_15_minute_limit() {
    let api = api();
    let mut s = api.new_state();
    let schedule = bursts(600, D::from_secs(10 * 60), 3);
    let (admitted, t, d) = first_denial(&api, &mut s, schedule);
    assert_eq!((admitted, t), (900, secs(660)));
    assert_eq!(d.limit_exceeded(), Some("15min"));
    // The first burst's first request, made at 0 s, stops counting at 900 s.
    assert_eq!(d.retry_after(), Some(D::from_secs(240)));
    assert!(request(&api, &mut s, ms(899_999)).is_denied());
    assert!(request(&api, &mut s, secs(900)).is_allowed());
}

#[test]
fn seed_000_a_request_after_a_burst_of_900_gets_a_429_with_exact_headers() {
    let api = api();
    let mut s = api.new_state();
    assert_eq!(admit_all(&api, &mut s, burst(I::from_ticks(0), 900)), 900);
    let now = secs(180);
    let d = request(&api, &mut s, now);
    // The minute has room for one more (299 in (120 s, 180 s]); the 15 minutes have none.
    assert_eq!(d.limit_exceeded(), Some("15min"));
    assert_eq!(d.reports[1].decision.remaining, 1);
    let h = respond(&d, now, &HEADERS);
    assert_eq!(h.get("X-RateLimit-Limit"), Some("900"));
    assert_eq!(h.get("X-RateLimit-Remaining"), Some("0"));
    // At rest once the last request (179.8 s) is 15 minutes old: 1079.8 s, rounded up.
    assert_eq!(h.get("X-RateLimit-Reset"), Some("1689553080"));
    // The first request (0 s) stops counting at 900 s: 720 s from now, exactly.
    assert_eq!(h.get("Retry-After"), Some("720"));

    // The client reads the same figures back, and waiting what it was told is enough.
    let seen = h.read(Some(START_UNIX_MS + 180_000));
    let bucket = &seen.buckets()[0];
    assert_eq!((bucket.limit, bucket.remaining), (Some(900), Some(0)));
    assert_eq!(bucket.reset, Some(D::from_secs(900)));
    assert_eq!(seen.retry_after(), Some(D::from_secs(720)));
    assert!(request(&api, &mut s, ms(899_999)).is_denied());
    assert!(request(&api, &mut s, secs(900)).is_allowed());
}

#[test]
fn seed_000_the_301st_request_of_a_minute_gets_retry_after_rounded_up_to_whole_seconds() {
    let api = api();
    let mut s = api.new_state();
    assert_eq!(admit_all(&api, &mut s, burst(I::from_ticks(0), 300)), 300);
    let now = ms(59_900);
    let d = request(&api, &mut s, now);
    assert_eq!(d.limit_exceeded(), Some("minute"));
    assert_eq!(d.retry_after(), Some(D::from_millis(100)));
    let h = respond(&d, now, &HEADERS);
    assert_eq!(
        h.names(),
        [
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset"
        ]
    );
    assert_eq!(h.get("Retry-After"), Some("1")); // 100 ms, rounded up
    assert_eq!(h.get("X-RateLimit-Limit"), Some("300"));
    assert_eq!(h.get("X-RateLimit-Remaining"), Some("0"));
    // The last request (59.8 s) stops counting at 119.8 s: epoch 1689552119.8, rounded up.
    assert_eq!(h.get("X-RateLimit-Reset"), Some("1689552120"));
    assert!(request(&api, &mut s, ms(59_999)).is_denied());
    assert!(request(&api, &mut s, secs(60)).is_allowed());
}

#[test]
fn seed_000_a_sixth_concurrent_request_is_denied_until_one_of_the_five_is_released() {
    let api = api();
    let mut s = api.new_state();
    let now = secs(10);
    for _ in 0..5 {
        assert!(api.check(&mut s, now, 1).unwrap().is_allowed()); // still in flight
    }
    let d = api.check(&mut s, now, 1).unwrap();
    assert_eq!(d.limit_exceeded(), Some("concurrent"));
    // The denial recorded nothing: the minute counts the five in flight only.
    assert_eq!(d.reports[1].decision.remaining, 295);
    let h = respond(&d, now, &HEADERS);
    assert_eq!(h.get("X-RateLimit-Limit"), Some("5"));
    assert_eq!(h.get("X-RateLimit-Remaining"), Some("0"));
    // Nobody knows when a holder finishes: the concurrency limit's hint, one second, is given.
    assert_eq!(h.get("Retry-After"), Some("1"));
    assert_eq!(h.get("X-RateLimit-Reset"), Some("1689552011"));

    api.release(&mut s, 1).unwrap(); // one request completes
    let d = api.check(&mut s, now, 1).unwrap();
    assert!(d.is_allowed());
    assert_eq!(d.reports[0].decision.remaining, 0);
    assert_eq!(d.reports[1].decision.remaining, 294);
    assert!(api.check(&mut s, now, 1).unwrap().is_denied());
    api.release(&mut s, 5).unwrap();
    assert_eq!(
        api.peek(&s, now, 0).unwrap().reports[0].decision.remaining,
        5
    );
}
