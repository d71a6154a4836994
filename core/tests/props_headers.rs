//! Property tests for rate-limit headers: every form tollgate writes parses back to the same
//! figures (checked against a naive model of the expected figures in wide integers, in
//! `tollgate_testkit::models::headers`, shared with the `render` fuzz target), and the parser
//! survives arbitrary bytes without panicking and without half-applied lines.

use proptest::prelude::*;
use tollgate_core::http::MAX_BUCKETS;
use tollgate_core::{
    Allowance, Decision, Duration, HeaderConfig, HeaderLines, HttpDate, Instant, LimitValues,
    RateLimitSummary, Report, ReportSet, ResetFormat, WallClock, XRateLimit,
};

use tollgate_testkit::models::headers::{self as model, Lim};

/// Ten years of seconds: the longest window, reset or wait generated.
const TEN_YEARS_S: u64 = 315_360_000;

/// Everything one round trip needs.
#[derive(Debug, Clone)]
struct Case {
    limits: Vec<Lim>,
    denied: Option<usize>,
    anchor_at: u64,
    unix_millis: u64,
    now: u64,
    reset_kind: u8,
    per_limit: bool,
    ietf: bool,
    retry_after: bool,
}

fn case(hz: u64) -> impl Strategy<Value = Case> {
    let max = TEN_YEARS_S.saturating_mul(hz);
    // The client's clock stays within 30 days of the anchor, so it reads 2001 or later: the
    // magnitude rule (`ResetKind::classify`) tells ten-year deltas from epochs only then.
    let offset = i64::try_from((1u64 << 30).min(30 * 86_400 * hz)).unwrap();
    let ticks = prop_oneof![0..=max, 0..=hz.saturating_mul(3), Just(0u64)];
    let lim = (
        "[ -~]{0,12}",
        any::<u32>(),
        any::<u32>(),
        ticks.clone(),
        ticks.clone(),
        prop::option::of(ticks),
    );
    (1usize..=MAX_BUCKETS)
        .prop_flat_map(move |n| {
            (
                prop::collection::vec(lim.clone(), n),
                prop::option::of(0..n),
                0u64..(1 << 40),
                1_000_000_000_000u64..4_000_000_000_000,
                -offset..offset,
                0u8..3,
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(
            |(
                raw,
                denied,
                anchor_at,
                unix_millis,
                offset,
                reset_kind,
                per_limit,
                ietf,
                retry_after,
            )| {
                let limits = raw
                    .into_iter()
                    .enumerate()
                    // A digit prefix keeps names distinct; IETF buckets are matched by name.
                    .map(|(i, (name, limit, remaining, window, reset, retry))| Lim {
                        name: format!("{i}{name}"),
                        limit,
                        remaining,
                        window,
                        reset,
                        retry,
                    })
                    .collect();
                Case {
                    limits,
                    denied,
                    anchor_at,
                    unix_millis,
                    now: anchor_at.saturating_add_signed(offset),
                    reset_kind,
                    per_limit,
                    ietf,
                    retry_after,
                }
            },
        )
}

fn round_trip<const HZ: u64>(c: &Case) -> Result<(), TestCaseError> {
    let reports: Vec<Report<'_, HZ>> = c
        .limits
        .iter()
        .map(|l| Report {
            name: &l.name,
            // A zero window is a concurrency limit.
            allowance: if l.window == 0 {
                Allowance::InFlight { count: l.limit }
            } else {
                Allowance::PerWindow {
                    count: l.limit,
                    window: Duration::<HZ>::from_ticks(l.window),
                }
            },
            decision: Decision {
                limit: l.limit,
                remaining: l.remaining,
                reset: Duration::<HZ>::from_ticks(l.reset),
                retry_after: l.retry.map(Duration::<HZ>::from_ticks),
                delay: Duration::<HZ>::from_ticks(0),
            },
        })
        .collect();
    let now = Instant::<HZ>::from_ticks(c.now);
    let set = ReportSet::new(now, &reports, c.denied).unwrap();
    let clock = WallClock::new(Instant::<HZ>::from_ticks(c.anchor_at), c.unix_millis);
    let reset = match c.reset_kind {
        0 => ResetFormat::DeltaSeconds,
        1 => ResetFormat::EpochSeconds(clock),
        _ => ResetFormat::EpochMillis(clock),
    };
    let values = if c.per_limit {
        LimitValues::PerLimit
    } else {
        LimitValues::Single
    };
    let mut config = HeaderConfig::none().with_x_ratelimit(XRateLimit::new(reset, values));
    if c.ietf {
        config = config.with_ietf();
    }
    if c.retry_after {
        config = config.with_retry_after();
    }
    let mut out = HeaderLines(String::new());
    set.write_headers(&config, &mut out).unwrap();

    // The client's clock reads the same wall time, in whole milliseconds.
    let client_now = clock.unix_millis_at(now).unwrap();
    let lines = out.0.split("\r\n").filter_map(|l| l.split_once(": "));
    let seen = RateLimitSummary::from_headers(lines, Some(client_now));
    prop_assert!(!seen.truncated());

    // X-RateLimit-*: the applicable limit (the denier, else the least remaining, first on
    // ties), or every limit in order.
    let shown = model::shown(&c.limits, c.denied, c.per_limit);
    prop_assert_eq!(seen.legacy().len(), shown.len(), "{}", out.0);
    for (b, l) in seen.legacy().iter().zip(&shown) {
        prop_assert_eq!(b.limit, Some(u64::from(l.limit)));
        prop_assert_eq!(b.remaining, Some(u64::from(l.remaining)));
        let got = b.reset.unwrap().as_ticks(); // ms
        prop_assert!(
            model::legacy_reset_matches(c.reset_kind, got, l.reset, HZ),
            "reset {} ms for {} ticks, {}",
            got,
            l.reset,
            out.0
        );
    }

    // RateLimit-Policy and RateLimit: every limit, by name.
    // Nothing tollgate writes is mistaken for another dialect.
    prop_assert!(seen.others().is_empty(), "{}", out.0);
    prop_assert_eq!(
        seen.all_buckets().count(),
        seen.legacy().len() + seen.ietf().len()
    );
    if c.ietf {
        let expected = model::ietf(&c.limits, HZ);
        prop_assert_eq!(seen.ietf(), &expected[..], "{}", out.0);
        prop_assert_eq!(seen.buckets(), seen.ietf());
    } else {
        prop_assert!(seen.ietf().is_empty());
        prop_assert_eq!(seen.buckets(), seen.legacy());
    }

    // Retry-After: the longest wait, rounded up to whole seconds.
    let expected = model::retry_after(&c.limits, c.retry_after, HZ);
    prop_assert_eq!(seen.retry_after(), expected);
    // Handed to the pacer at the server's own rate, the wait is never shorter than the server's.
    let hinted = seen.server_hints::<HZ>().retry_after.map(|d| d.as_ticks());
    prop_assert_eq!(hinted.is_some(), expected.is_some());
    prop_assert!(hinted >= model::longest_retry(&c.limits, c.retry_after));
    Ok(())
}

const NAMES: [&str; 19] = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "Content-Type",
    "X-RateLimit-Used",
    "X-RateLimit-Reset-After",
    "X-Rate-Limit-Remaining",
    "X-RateLimit-UserLimit",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-requests-remaining",
    "X-Shopify-Shop-Api-Call-Limit",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
];

/// A header name: usually one the parser reads, in a random case; sometimes arbitrary bytes.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0..NAMES.len(), any::<u64>()).prop_map(|(i, case)| {
            NAMES[i]
                .bytes()
                .enumerate()
                .map(|(k, b)| if (case >> (k % 64)) & 1 == 1 { b.to_ascii_lowercase() } else { b })
                .collect()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ]
}

/// A header value: arbitrary bytes, or text shaped like the grammars the parser reads.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[-0-9a-zA-Z\";=:,()?@%*/.\\\\ \t]{0,48}".prop_map(String::into_bytes),
        r#"("[a-z]{0,4}"|[a-z]{1,4}|[0-9]{1,16})(;[a-z]{1,2}(=(-?[0-9]{1,17}(\.[0-9]{1,4})?|"[ -~]{0,6}"|:[a-zA-Z0-9+/=]{0,8}:|\?[01]|@[0-9]{1,3}|[a-z]{1,3}))?){0,4}(, ?)?"#
            .prop_map(String::into_bytes),
        "(Sun|Mon|Sunday|Monday), [0-9]{2}[ -](Jan|Feb|Nov)[ -][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
            .prop_map(String::into_bytes),
        "([0-9]{1,20}(\\.[0-9]{0,20})?(h|m|s|ms|us|ns|d)?){1,4}".prop_map(String::into_bytes),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(String::into_bytes),
        "(limit|remaining|reset|w|q)=-?[0-9]{1,16}(, ?(limit|remaining|reset)=[0-9]{1,6}){0,3}|[0-9]{1,6}/[0-9]{1,6}"
            .prop_map(String::into_bytes),
    ]
}

/// The (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (era * 400 + yoe + i64::from(m <= 2), m, d)
}

/// `unix_ms` as an RFC 3339 date-time written at UTC offset `offset_min` minutes, with
/// `digits` fraction digits (the instant written is `unix_ms` truncated to them).
fn rfc3339(unix_ms: i64, offset_min: i64, digits: usize) -> String {
    let local = unix_ms + offset_min * 60_000;
    let (secs, ms) = (local.div_euclid(1_000), local.rem_euclid(1_000));
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let frac = match digits {
        0 => String::new(),
        n => format!(".{}", &format!("{ms:03}000000")[..n]),
    };
    let zone = if offset_min == 0 {
        "Z".to_string()
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        format!(
            "{sign}{:02}:{:02}",
            offset_min.abs() / 60,
            offset_min.abs() % 60
        )
    };
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{frac}{zone}",
        t / 3_600,
        t / 60 % 60,
        t % 60
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fractional_delay_seconds_round_up_to_the_millisecond(
        secs in 0u64..1_000_000_000,
        frac in "[0-9]{1,12}",
    ) {
        let value = format!("{secs}.{frac}");
        let seen = RateLimitSummary::from_headers([("Retry-After", value.as_str())], None);
        // ceil((secs + 0.frac) · 1000), in integers.
        let scale = 10u128.pow(frac.len() as u32);
        let exact = u128::from(secs) * scale + frac.parse::<u128>().unwrap();
        let ms = (exact * 1_000).div_ceil(scale);
        prop_assert_eq!(seen.retry_after().map(|d| u128::from(d.as_ticks())), Some(ms), "{}", value);
        // A count rounds down, a used count up: remaining = limit − ⌈used⌉.
        let seen = RateLimitSummary::from_headers(
            [("X-RateLimit-Limit", "2000000000"), ("X-RateLimit-Used", value.as_str())],
            None,
        );
        let used = if exact.is_multiple_of(scale) { secs } else { secs + 1 };
        prop_assert_eq!(seen.legacy()[0].remaining, Some(2_000_000_000 - used));
    }

    #[test]
    fn go_durations_sum_exactly_and_round_up(
        h in 0u64..100, m in 0u64..60, s in 0u64..60, ms in 0u64..1_000, ns in 0u64..1_000_000,
        show_zero in any::<bool>(),
    ) {
        // Go writes `1h2m3.5s`: each unit that is not zero (and `0s` for nothing).
        let mut text = String::new();
        if h > 0 { text += &format!("{h}h"); }
        if m > 0 || (show_zero && h > 0) { text += &format!("{m}m"); }
        let sub = ms * 1_000_000 + ns;
        if sub == 0 {
            text += &format!("{s}s");
        } else {
            text += &format!("{s}.{}s", format!("{sub:09}").trim_end_matches('0'));
        }
        let seen = RateLimitSummary::from_headers([("x-ratelimit-reset-tokens", text.as_str())], None);
        let total_ns = u128::from(((h * 60 + m) * 60 + s) * 1_000_000_000 + sub);
        prop_assert_eq!(
            seen.others()[0].reset.map(|d| u128::from(d.as_ticks())),
            Some(total_ns.div_ceil(1_000_000)),
            "{}", text
        );
    }

    #[test]
    fn rfc3339_resets_are_the_exact_wait_rounded_up(
        now in 946_684_800_000i64..4_102_444_800_000,
        ahead in -86_400_000i64..86_400_000,
        offset_min in -23i64 * 60..=23 * 60,
        digits in 0usize..=9,
    ) {
        let at = now + ahead;
        let text = rfc3339(at, offset_min, digits);
        let seen = RateLimitSummary::from_headers(
            [("anthropic-ratelimit-tokens-reset", text.as_str())],
            Some(now as u64),
        );
        // The instant written is `at` truncated to the digits written.
        let keep = 10i64.pow(3u32.saturating_sub(digits as u32));
        let written = at.div_euclid(keep) * keep;
        let wait = (written - now).max(0) as u64;
        prop_assert_eq!(seen.others()[0].reset.map(|d| d.as_ticks()), Some(wait), "{}", text);
    }

    #[test]
    fn every_form_round_trips_at_1_khz(c in case(1_000)) {
        round_trip::<1_000>(&c)?;
    }

    #[test]
    fn every_form_round_trips_at_32_768_hz(c in case(32_768)) {
        round_trip::<32_768>(&c)?;
    }

    #[test]
    fn every_form_round_trips_at_1_hz(c in case(1)) {
        round_trip::<1>(&c)?;
    }

    #[test]
    fn every_form_round_trips_at_1_ghz(c in case(1_000_000_000)) {
        round_trip::<1_000_000_000>(&c)?;
    }

    #[test]
    fn the_parser_never_panics_and_never_half_applies_a_line(
        headers in prop::collection::vec((name(), value()), 0..24),
        now in prop::option::of(any::<u64>()),
    ) {
        let mut s = RateLimitSummary::new();
        for (n, v) in &headers {
            let before = s.clone();
            if s.feed(n, v, now).is_err() {
                prop_assert_eq!(&s, &before);
            }
            prop_assert!(s.legacy().len() <= MAX_BUCKETS && s.ietf().len() <= MAX_BUCKETS);
        }
        let at_once = RateLimitSummary::from_headers(headers.iter().map(|(n, v)| (n, v)), now);
        prop_assert_eq!(at_once, s.clone());
        let _ = s.suggested_wait();
    }

    #[test]
    fn http_dates_round_trip_in_all_three_formats(secs in 0u64..=253_402_300_799) {
        let d = HttpDate::from_unix_secs(secs).unwrap();
        let imf = d.to_string();
        prop_assert_eq!(HttpDate::parse(imf.as_bytes(), secs), Ok(d));
        // "Sun, 06 Nov 1994 08:49:37 GMT"
        let (wday, day, mon, year, time) =
            (&imf[0..3], &imf[5..7], &imf[8..11], &imf[12..16], &imf[17..25]);
        let asctime = format!("{wday} {mon} {:>2} {time} {year}", day.trim_start_matches('0'));
        prop_assert_eq!(HttpDate::parse(asctime.as_bytes(), 0), Ok(d), "{}", asctime);
        let long = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
            .into_iter()
            .find(|l| l.starts_with(wday))
            .unwrap();
        // Seen from its own time, a two-digit year is never 50 years ahead.
        let rfc850 = format!("{long}, {day}-{mon}-{} {time} GMT", &year[2..]);
        prop_assert_eq!(HttpDate::parse(rfc850.as_bytes(), secs), Ok(d), "{}", rfc850);
    }
}
