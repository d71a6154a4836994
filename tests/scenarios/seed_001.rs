//! Seed 001: four plans with per-minute, per-hour and per-day limits (Agency: no daily limit),
//! served by one key table; rate-limit headers on every response; and the client's retry loop,
//! exponential backoff that honours `Retry-After`.

use std::sync::LazyLock;
use tollgate_core::{
    Algorithm, ConfigError, GiveUpReason, HeaderConfig, KeyTable, LimitValues, Named, Next,
    Outcome, Overrides, Pacer, Policy, PolicyDecision, Quota, RateLimitSummary, Report,
    ResetFormat, SlidingWindow, Tiers, WallClock, XRateLimit,
};
use tollgate_tests::{D, HZ, I, respond, secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Plan {
    Free,
    Pro,
    Business,
    Agency,
}

/// Every window is counted in 61 buckets of a sixtieth of it (1 s, 1 min, 24 min): never more
/// than the limit in any window, and a request stops counting between one window and one window
/// plus a bucket after it was made. 260 bytes per window, whatever the limit.
type Window = SlidingWindow<HZ, 61>;
type PlanLimits = Policy<(Named<Window>, Named<Window>, Named<Option<Window>>)>;

/// One plan's limits; a day of `None` is unlimited (and keeps the state type of the others).
fn plan(minute: u32, hour: u32, day: Option<u32>) -> PlanLimits {
    let window = |q: Result<Quota<HZ>, ConfigError>| Window::new(q.unwrap()).unwrap();
    let m = window(Quota::per_minute(minute));
    let h = window(Quota::per_hour(hour));
    let d = day.map(|n| window(Quota::per_day(n)));
    Policy::new((
        Named::new("minute", m),
        Named::new("hour", h),
        Named::new("day", d),
    ))
}

/// The seed's table: requests per minute, per hour and per day.
const PLANS: [(Plan, u32, u32, Option<u32>); 4] = [
    (Plan::Free, 30, 500, Some(2_000)),
    (Plan::Pro, 120, 5_000, Some(50_000)),
    (Plan::Business, 600, 20_000, Some(200_000)),
    (Plan::Agency, 2_000, 100_000, None),
];

/// Every plan's limits, built once: decisions borrow the limits' names from them.
static TIERS: LazyLock<Tiers<Plan, PlanLimits, 4>> =
    LazyLock::new(|| Tiers::new(PLANS.map(|(p, minute, hour, day)| (p, plan(minute, hour, day)))));

/// One table for every plan's API keys: keys are `(plan, key id)`.
type Table = KeyTable<(Plan, u64), <PlanLimits as Algorithm<HZ>>::State, 16>;
type Answer = PolicyDecision<HZ, [Report<'static, HZ>; 3]>;

/// The scenario starts at 2025-03-19T09:38:59Z: the seed's sample reset (1742377200) is then
/// 61 s in, when a minute's one-second bucket at 0 s stops counting.
const START_UNIX_MS: u64 = 1_742_377_139_000;
const WALL: WallClock<HZ> = WallClock::new(I::from_ticks(0), START_UNIX_MS);

const HEADERS: HeaderConfig<HZ> = HeaderConfig::none()
    .with_x_ratelimit(XRateLimit::new(
        ResetFormat::EpochSeconds(WALL),
        LimitValues::Single,
    ))
    .with_retry_after();

fn check(table: &mut Table, plan: Plan, t: I, cost: u32) -> Answer {
    table
        .check_policy(&*TIERS, (plan, 1), t, cost, &Overrides::NONE)
        .unwrap()
}

/// How a greedy client fared: what it got admitted and where it stopped.
struct Run {
    admitted: u64,
    at: I,
    stopped_by: Option<Answer>,
}

/// A greedy client: sends at once as many requests as the last response said were left (at
/// least one), and waits out every denial's exact `retry_after`, until the limit `until` denies
/// or `horizon` passes.
fn greedy(plan: Plan, until: &str, horizon: I) -> Run {
    let mut table = Table::new();
    let (mut t, mut cost, mut admitted) = (secs(0), 1, 0);
    while t < horizon {
        let d = check(&mut table, plan, t, cost);
        if d.is_allowed() {
            admitted += u64::from(cost);
            cost = d.applicable().map_or(1, |r| r.decision.remaining.max(1));
        } else if d.limit_exceeded() == Some(until) {
            return Run {
                admitted,
                at: t,
                stopped_by: Some(d),
            };
        } else {
            t += d.retry_after().unwrap();
        }
    }
    Run {
        admitted,
        at: t,
        stopped_by: None,
    }
}

#[test]
fn seed_001_one_table_serves_every_plan_and_enforces_each_minute_limit() {
    let mut table = Table::new();
    let t = secs(0);
    for (plan, minute, hour, day) in PLANS {
        let d = check(&mut table, plan, t, minute);
        assert!(d.is_allowed(), "{plan:?}");
        let remaining = d.reports.map(|r| r.decision.remaining);
        let day_left = day.map_or(u32::MAX, |day| day - minute);
        assert_eq!(remaining, [0, hour - minute, day_left], "{plan:?}");
        let d = check(&mut table, plan, t, 1);
        assert_eq!(d.limit_exceeded(), Some("minute"), "{plan:?}");
        // The bucket [0 s, 1 s) stops counting at 61 s.
        assert_eq!(d.retry_after(), Some(D::from_secs(61)), "{plan:?}");
    }
    assert_eq!(table.len(), 4); // one entry per (plan, key)
    assert!(check(&mut table, Plan::Free, secs(61), 30).is_allowed());
}

#[test]
fn seed_001_every_plan_enforces_its_hour_limit() {
    for (plan, minute, hour, _) in PLANS {
        let run = greedy(plan, "hour", secs(3_600));
        let d = run
            .stopped_by
            .expect("the hour limit denies within the hour");
        assert_eq!(run.admitted, u64::from(hour), "{plan:?}");
        // It took one minute's worth per 61 s: the minute limit paced the client.
        let minutes = u64::from(hour.div_ceil(minute)) - 1;
        assert_eq!(run.at, secs(61 * minutes), "{plan:?}");
        let h = respond(&d, run.at, &HEADERS);
        assert_eq!(h.get("X-RateLimit-Limit"), Some(hour.to_string().as_str()));
        assert_eq!(h.get("X-RateLimit-Remaining"), Some("0"));
        assert!(h.get("Retry-After").is_some());
    }
}

#[test]
fn seed_001_every_plan_but_agency_enforces_its_day_limit() {
    for (plan, minute, hour, day) in PLANS {
        let Some(day) = day else { continue };
        let run = greedy(plan, "day", secs(86_400));
        let d = run.stopped_by.expect("the day limit denies within the day");
        assert_eq!(run.admitted, u64::from(day), "{plan:?}");
        // A full hour at a time, each hour freed 61 minutes (a window and a one-minute bucket)
        // after it filled: the day fills in the (day / hour)-th hourly window.
        let hours = u64::from(day / hour);
        let fill_an_hour = 61 * u64::from(hour.div_ceil(minute) - 1);
        assert_eq!(run.at, secs(3_660 * (hours - 1) + fill_an_hour), "{plan:?}");
        assert_eq!(d.reports[2].decision.limit, day);
    }
}

#[test]
fn seed_001_agency_has_no_daily_limit() {
    let run = greedy(Plan::Agency, "day", secs(25 * 3_600));
    assert!(run.stopped_by.is_none());
    // Only the hour paces it: 100,000 per 61 minutes (24 full hours, then 36 minutes' worth of
    // the 25th), far beyond any other plan's day.
    assert_eq!(run.admitted, 24 * 100_000 + 36 * 2_000);
    let mut table = Table::new();
    let d = check(&mut table, Plan::Agency, secs(0), 1);
    assert!(d.reports[2].allowance.is_unlimited());
    assert_eq!(d.reports[2].decision.limit, u32::MAX);
    assert_eq!(
        d.limited().map(|r| r.name).collect::<Vec<_>>(),
        ["minute", "hour"]
    );
}

#[test]
fn seed_001_every_response_carries_the_seeds_headers() {
    let mut table = Table::new();
    let d = check(&mut table, Plan::Pro, secs(0), 25);
    let h = respond(&d, secs(0), &HEADERS);
    assert_eq!(
        h.names(),
        [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset"
        ]
    );
    assert_eq!(h.get("X-RateLimit-Limit"), Some("120"));
    assert_eq!(h.get("X-RateLimit-Remaining"), Some("95"));
    assert_eq!(h.get("X-RateLimit-Reset"), Some("1742377200"));

    check(&mut table, Plan::Pro, secs(0), 95);
    let d = check(&mut table, Plan::Pro, secs(16), 1);
    let h = respond(&d, secs(16), &HEADERS);
    assert_eq!(h.get("X-RateLimit-Limit"), Some("120"));
    assert_eq!(h.get("X-RateLimit-Remaining"), Some("0"));
    assert_eq!(h.get("X-RateLimit-Reset"), Some("1742377200"));
    assert_eq!(h.get("Retry-After"), Some("45"));
}

/// The seed's loop, `for (i = 0; i < maxRetries; i++) { fetch; if not 429 return; wait
/// Retry-After or 2^i s }` with `maxRetries = 3`, sends at most three times: two retries. (It
/// also passes `Retry-After`, which is in seconds, to `setTimeout`, which takes milliseconds;
/// the pacer waits the 45 seconds the server meant.)
fn seed_pacer() -> Pacer<HZ> {
    Pacer::new(D::from_secs(1), D::from_secs(60))
        .unwrap()
        .with_max_retries(2)
}

/// The random word for the backoff's full jitter; `u64::MAX` takes the top of each range,
/// which is the seed's plain `2^i` seconds.
const NO_JITTER: u64 = u64::MAX;

#[test]
fn seed_001_the_client_waits_the_45_seconds_of_retry_after_and_then_succeeds() {
    let mut table = Table::new();
    check(&mut table, Plan::Pro, secs(0), 120);
    let pacer = seed_pacer();
    let mut client = pacer.new_state();

    let now = secs(16);
    let d = check(&mut table, Plan::Pro, now, 1);
    let seen = respond(&d, now, &HEADERS).read(WALL.unix_millis_at(now));
    assert_eq!(seen.retry_after(), Some(D::from_secs(45)));
    let bucket = &seen.buckets()[0];
    assert_eq!((bucket.limit, bucket.remaining), (Some(120), Some(0)));
    assert_eq!(bucket.reset, Some(D::from_secs(45)));

    let next = pacer.on_response(
        &mut client,
        now,
        Outcome::from_status(429),
        seen.server_hints(),
        NO_JITTER,
    );
    // Retry-After outweighs the first backoff (1 s).
    assert_eq!(next, Next::SendAt(secs(61)));
    assert!(pacer.may_send(&client, secs(60)).is_err());

    let d = check(&mut table, Plan::Pro, next.at(), 1);
    assert!(d.is_allowed());
    let seen = respond(&d, next.at(), &HEADERS).read(WALL.unix_millis_at(next.at()));
    let next = pacer.on_response(
        &mut client,
        secs(61),
        Outcome::Success,
        seen.server_hints(),
        NO_JITTER,
    );
    assert_eq!((next, client.failures()), (Next::SendAt(secs(61)), 0));
}

#[test]
fn seed_001_without_retry_after_the_client_backs_off_1_then_2_seconds_and_gives_up_on_the_third_429()
 {
    let pacer = seed_pacer();
    let mut client = pacer.new_state();
    // A bare 429, say from a proxy: no rate-limit headers at all.
    let hints = RateLimitSummary::new().server_hints::<HZ>();
    let mut now = secs(100);
    for wait in [1, 2] {
        let next = pacer.on_response(&mut client, now, Outcome::RateLimited, hints, NO_JITTER);
        assert_eq!(next, Next::SendAt(now + D::from_secs(wait)));
        now = next.at();
    }
    let next = pacer.on_response(&mut client, now, Outcome::RateLimited, hints, NO_JITTER);
    assert_eq!(
        next,
        Next::GiveUp {
            attempts: 3,
            reason: GiveUpReason::RetriesExhausted,
            ready_at: now
        }
    );
    // With jitter, each wait is drawn from [0, 2^(k-1) s]: half the range for a middle word.
    assert_eq!(pacer.backoff(2, 1 << 63), D::from_secs(1));
}
