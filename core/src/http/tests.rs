//! Unit tests: the published examples of real APIs' headers, each header form, and every error
//! path.

use super::*;
use crate::algorithm::{Allowance, Decision};
use crate::policy::report::{Report, ReportSet};
use crate::time::{Duration, Instant};
use std::string::String;
use std::vec::Vec;

type D = Duration<1_000>;
type I = Instant<1_000>;

fn report(
    name: &str,
    window_s: u64,
    limit: u32,
    remaining: u32,
    reset_ms: u64,
) -> Report<'_, 1_000> {
    Report {
        name,
        allowance: Allowance::PerWindow {
            count: limit,
            window: D::from_secs(window_s),
        },
        decision: Decision {
            limit,
            remaining,
            reset: D::from_millis(reset_ms),
            retry_after: None,
            delay: D::from_ticks(0),
        },
    }
}

fn denied(mut r: Report<'_, 1_000>, retry_ms: u64) -> Report<'_, 1_000> {
    r.decision.retry_after = Some(D::from_millis(retry_ms));
    r
}

fn render<const HZ: u64>(
    set: &ReportSet<'_, HZ>,
    config: &HeaderConfig<HZ>,
) -> Result<String, RenderError> {
    let mut out = HeaderLines(String::new());
    set.write_headers(config, &mut out)?;
    Ok(out.0)
}

fn lines(s: &str) -> Vec<(&str, &str)> {
    s.split("\r\n").filter_map(|l| l.split_once(": ")).collect()
}

fn x(reset: ResetFormat<1_000>, values: LimitValues) -> HeaderConfig<1_000> {
    HeaderConfig::none()
        .with_x_ratelimit(XRateLimit::new(reset, values))
        .with_retry_after()
}

/// Instant 0 is 2025-03-19T09:39:15Z, 45 s before the plan-tier API's reset.
const SEED_001_CLOCK: WallClock<1_000> = WallClock::new(I::from_ticks(0), 1_742_377_155_000);

#[test]
fn seed_000_limits_render_in_epoch_seconds_with_retry_after_rounded_up() {
    let reports = [
        denied(report("minute", 60, 300, 0, 59_800), 200),
        report("quarter", 900, 900, 599, 300_000),
    ];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(
        &set,
        &x(
            ResetFormat::EpochSeconds(SEED_001_CLOCK),
            LimitValues::Single,
        ),
    )
    .unwrap();
    assert_eq!(
        out,
        "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 0\r\n\
         X-RateLimit-Reset: 1742377215\r\nRetry-After: 1\r\n"
    );
}

#[test]
fn seed_001_headers_render_from_one_limit() {
    let reports = [denied(report("minute", 60, 120, 95, 44_001), 44_001)];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(
        &set,
        &x(
            ResetFormat::EpochSeconds(SEED_001_CLOCK),
            LimitValues::Single,
        ),
    )
    .unwrap();
    assert_eq!(
        out,
        "X-RateLimit-Limit: 120\r\nX-RateLimit-Remaining: 95\r\n\
         X-RateLimit-Reset: 1742377200\r\nRetry-After: 45\r\n"
    );
}

#[test]
fn seed_002_renders_one_comma_separated_value_per_bucket() {
    let reports = [
        report("15mins", 900, 2300, 2299, 900_000),
        report("30mins", 1_800, 4500, 4499, 1_800_000),
        report("1hr", 3_600, 8800, 8799, 3_600_000),
        report("24hrs", 86_400, 105_600, 105_599, 86_400_000),
    ];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(&set, &x(ResetFormat::DeltaSeconds, LimitValues::PerLimit)).unwrap();
    assert_eq!(
        out,
        "X-RateLimit-Limit: 2300, 4500, 8800, 105600\r\n\
         X-RateLimit-Remaining: 2299, 4499, 8799, 105599\r\n\
         X-RateLimit-Reset: 900, 1800, 3600, 86400\r\n"
    );
}

#[test]
fn seed_003_reset_renders_in_epoch_milliseconds_rounded_up() {
    // 32.768 kHz: one tick is about 30.5 µs, so a reset of one tick is 1 ms once rounded up.
    let clock = WallClock::new(Instant::<32_768>::from_ticks(0), 1_479_308_598_679);
    let reports = [Report {
        name: "account",
        allowance: Allowance::PerWindow {
            count: 1,
            window: Duration::<32_768>::from_secs(1),
        },
        decision: Decision {
            limit: 1,
            remaining: 0,
            reset: Duration::<32_768>::from_ticks(1),
            retry_after: Some(Duration::<32_768>::from_ticks(1)),
            delay: Duration::<32_768>::from_ticks(0),
        },
    }];
    let set = ReportSet::first_denied(Instant::<32_768>::from_ticks(0), &reports);
    let config = HeaderConfig::none()
        .with_x_ratelimit(XRateLimit::new(
            ResetFormat::EpochMillis(clock),
            LimitValues::Single,
        ))
        .with_retry_after();
    let out = render(&set, &config).unwrap();
    assert!(
        out.contains("X-RateLimit-Reset: 1479308598680\r\n"),
        "{out}"
    );
    assert!(out.ends_with("Retry-After: 1\r\n"), "{out}");
}

#[test]
fn ietf_fields_name_every_limit_as_an_sf_string() {
    let reports = [
        report("minute", 60, 300, 12, 30_000),
        report("quarter", 900, 900, 612, 899_001),
    ];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(&set, &HeaderConfig::none().with_ietf()).unwrap();
    assert_eq!(
        out,
        "RateLimit-Policy: \"minute\";q=300;w=60, \"quarter\";q=900;w=900\r\n\
         RateLimit: \"minute\";r=12;t=30, \"quarter\";r=612;t=900\r\n"
    );
}

#[test]
fn names_with_quotes_and_backslashes_are_escaped_and_parse_back() {
    let reports = [report(r#"a"b\c"#, 1, 5, 4, 200)];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(&set, &HeaderConfig::none().with_ietf()).unwrap();
    assert!(
        out.starts_with(r#"RateLimit-Policy: "a\"b\\c";q=5;w=1"#),
        "{out}"
    );
    let s = RateLimitSummary::from_headers(lines(&out), None);
    assert_eq!(s.ietf()[0].name.as_deref(), Some(r#"a"b\c"#));
    assert_eq!(s.ietf()[0].reset, Some(D::from_secs(1)));
}

#[test]
fn a_name_that_cannot_be_an_sf_string_is_an_error_before_anything_is_written() {
    for bad in ["naïve", "tab\there", "nl\n"] {
        let reports = [report("ok", 1, 1, 1, 0), report(bad, 1, 1, 1, 0)];
        let set = ReportSet::first_denied(I::from_ticks(0), &reports);
        let config = x(ResetFormat::DeltaSeconds, LimitValues::PerLimit).with_ietf();
        let mut out = HeaderLines(String::new());
        assert_eq!(
            set.write_headers(&config, &mut out),
            Err(RenderError::NameNotSfString { index: 1 })
        );
        assert_eq!(out.0, "");
    }
}

#[test]
fn a_concurrency_limit_has_no_window_but_a_quota_unit() {
    let reports = [Report {
        name: "concurrent",
        allowance: Allowance::InFlight { count: 5 },
        decision: Decision {
            limit: 5,
            remaining: 2,
            reset: D::from_ticks(0),
            retry_after: None,
            delay: D::from_ticks(0),
        },
    }];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(&set, &HeaderConfig::none().with_ietf()).unwrap();
    assert_eq!(
        out,
        "RateLimit-Policy: \"concurrent\";q=5;qu=\"concurrent-requests\"\r\n\
         RateLimit: \"concurrent\";r=2;t=0\r\n"
    );
    let s = RateLimitSummary::from_headers(lines(&out), None);
    assert_eq!(s.ietf()[0].unit, Some(QuotaUnit::ConcurrentRequests));
    assert_eq!(s.ietf()[0].window_secs, None);
}

#[test]
fn the_single_value_is_the_denier_else_the_least_remaining_first_on_ties() {
    let reports = [
        report("a", 1, 10, 3, 0),
        report("b", 1, 20, 1, 0),
        report("c", 1, 30, 1, 0),
    ];
    let now = I::from_ticks(0);
    assert_eq!(
        ReportSet::first_denied(now, &reports).applicable_index(),
        Some(1)
    );
    assert_eq!(
        ReportSet::new(now, &reports, Some(2))
            .unwrap()
            .applicable_index(),
        Some(2)
    );
    assert_eq!(ReportSet::first_denied(now, &[]).applicable_index(), None);
    let with_denial = [
        report("a", 1, 10, 0, 0),
        denied(report("b", 1, 20, 5, 0), 10),
    ];
    let set = ReportSet::first_denied(now, &with_denial);
    assert_eq!(set.applicable().map(|r| r.name), Some("b"));
}

#[test]
fn retry_after_is_the_longest_wait_of_any_denying_limit() {
    let reports = [
        denied(report("a", 1, 1, 0, 0), 1_500),
        denied(report("b", 1, 1, 0, 0), 3_001),
    ];
    let set = ReportSet::new(I::from_ticks(0), &reports, Some(0)).unwrap();
    assert_eq!(set.retry_after_secs(), Some(4));
    let admitted = [report("a", 1, 1, 0, 0)];
    assert_eq!(
        ReportSet::first_denied(I::from_ticks(0), &admitted).retry_after(),
        None
    );
}

#[test]
fn a_denying_index_out_of_range_is_an_error() {
    let reports = [report("a", 1, 1, 0, 0)];
    assert_eq!(
        ReportSet::new(I::from_ticks(0), &reports, Some(1)),
        Err(crate::error::IndexOutOfRange { index: 1, len: 1 })
    );
}

#[test]
fn an_epoch_before_1970_is_an_error_before_anything_is_written() {
    let clock = WallClock::new(I::from_ticks(10_000), 5_000); // instant 0 is before the epoch
    let reports = [report("a", 1, 1, 0, 100), report("b", 1, 1, 0, 9_000)];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let config = x(ResetFormat::EpochMillis(clock), LimitValues::PerLimit);
    assert_eq!(
        render(&set, &config),
        Err(RenderError::EpochOutOfRange { index: 0 })
    );
    // The single form only needs the applicable limit's reset (here "a", first on a tie).
    let config = x(ResetFormat::EpochSeconds(clock), LimitValues::Single);
    assert_eq!(
        render(&set, &config),
        Err(RenderError::EpochOutOfRange { index: 0 })
    );
    let set = ReportSet::new(I::from_ticks(0), &reports, Some(1)).unwrap();
    assert!(
        render(&set, &config)
            .unwrap()
            .contains("X-RateLimit-Reset: 4\r\n")
    );
}

#[test]
fn a_full_sink_is_a_sink_error() {
    let reports = [report("minute", 60, 300, 12, 30_000)];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let mut small = HeaderLines(heapless::String::<24>::new());
    assert_eq!(
        set.write_headers(
            &x(ResetFormat::DeltaSeconds, LimitValues::Single),
            &mut small
        ),
        Err(RenderError::Sink)
    );
}

#[test]
fn no_reports_render_no_headers() {
    let set = ReportSet::first_denied(I::from_ticks(0), &[]);
    let config = x(ResetFormat::DeltaSeconds, LimitValues::Single).with_ietf();
    assert_eq!(render(&set, &config).unwrap(), "");
}

#[test]
fn integers_beyond_the_structured_field_range_saturate() {
    let reports = [Report {
        name: "eon",
        allowance: Allowance::PerWindow {
            count: 1,
            window: Duration::<1>::from_ticks(u64::MAX),
        },
        decision: Decision {
            limit: 1,
            remaining: 0,
            reset: Duration::<1>::from_ticks(u64::MAX),
            retry_after: None,
            delay: Duration::<1>::from_ticks(0),
        },
    }];
    let set = ReportSet::first_denied(Instant::<1>::from_ticks(0), &reports);
    let out = render(&set, &HeaderConfig::none().with_ietf()).unwrap();
    assert!(out.contains(";w=999999999999999\r\n"), "{out}");
    assert!(out.contains(";t=999999999999999\r\n"), "{out}");
    assert!(
        RateLimitSummary::from_headers(lines(&out), None)
            .ietf()
            .len()
            == 1
    );
}

#[test]
fn the_wall_clock_rounds_down_for_now_and_up_for_resets() {
    let clock = WallClock::new(Instant::<3>::from_ticks(3), 1_000);
    assert_eq!(
        clock.unix_millis_at(Instant::<3>::from_ticks(4)),
        Some(1_333)
    );
    assert_eq!(
        clock.unix_millis_of(
            Instant::<3>::from_ticks(4),
            Duration::<3>::from_ticks(0),
            true
        ),
        Some(1_334)
    );
    assert_eq!(clock.unix_millis_at(Instant::<3>::from_ticks(0)), Some(0));
    assert_eq!(
        clock.unix_millis_at(Instant::<3>::from_ticks(u64::MAX)),
        None
    );
}

// ---- parsing ----

#[test]
fn seed_001_headers_parse_to_one_bucket() {
    let now = Some(1_742_377_155_000);
    let s = RateLimitSummary::from_headers(
        [
            ("X-RateLimit-Limit", "120"),
            ("X-RateLimit-Remaining", "95"),
            ("X-RateLimit-Reset", "1742377200"),
            ("Retry-After", "45"),
        ],
        now,
    );
    assert_eq!(
        s.legacy(),
        [BucketInfo {
            limit: Some(120),
            remaining: Some(95),
            reset: Some(D::from_secs(45)),
            ..BucketInfo::default()
        }]
    );
    assert_eq!(s.retry_after(), Some(D::from_secs(45)));
    assert_eq!(s.suggested_wait(), Some(D::from_secs(45)));
    assert!(!s.truncated());
}

#[test]
fn seed_003_reset_parses_as_epoch_milliseconds() {
    let mut s = RateLimitSummary::new();
    let now = Some(1_479_308_590_000);
    assert_eq!(
        s.feed(b"x-ratelimit-reset", b"1479308598680", now),
        Ok(Some(HeaderField::XRateLimitReset))
    );
    assert_eq!(s.legacy()[0].reset, Some(D::from_millis(8_680)));
}

#[test]
fn seed_002_lists_parse_positionally_across_lines_and_whitespace() {
    let now = Some(1_700_000_000_000);
    let s = RateLimitSummary::from_headers(
        [
            ("X-RATELIMIT-LIMIT", " 2300,4500 ,\t8800 "),
            ("x-ratelimit-limit", "105600"),
            ("X-RateLimit-Remaining", "10, , 20,30,40,"),
            ("X-RateLimit-Reset", "1700000900, 1800"),
        ],
        now,
    );
    let limits: Vec<_> = s.legacy().iter().map(|b| b.limit).collect();
    assert_eq!(limits, [Some(2300), Some(4500), Some(8800), Some(105_600)]);
    let remaining: Vec<_> = s.legacy().iter().map(|b| b.remaining).collect();
    assert_eq!(remaining, [Some(10), Some(20), Some(30), Some(40)]);
    let resets: Vec<_> = s
        .legacy()
        .iter()
        .map(|b| b.reset.map(|d| d.as_secs()))
        .collect();
    assert_eq!(resets, [Some(900), Some(1_800), None, None]);
}

#[test]
fn the_ietf_drafts_examples_parse() {
    let s = RateLimitSummary::from_headers(
        [
            (
                "RateLimit-Policy",
                r#""burst";q=100;w=60,"daily";q=1000;w=86400"#,
            ),
            (
                "RateLimit-Policy",
                r#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#,
            ),
            ("RateLimit", r#""default";r=999;pk=:dHJpYWwxMjEzMjM=:"#),
            ("RateLimit", r#""daily";r=1;t=86400"#),
            (
                "RateLimit-Policy",
                "tokenname;q=5;acme-burst=?1;comment=\"x\";w=1",
            ),
        ],
        None,
    );
    let names: Vec<_> = s
        .ietf()
        .iter()
        .map(|b| b.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["burst", "daily", "peruser", "default", "tokenname"]);
    let daily = &s.ietf()[1];
    assert_eq!(
        (daily.limit, daily.window_secs, daily.remaining, daily.reset),
        (
            Some(1_000),
            Some(86_400),
            Some(1),
            Some(D::from_secs(86_400))
        )
    );
    assert_eq!(s.ietf()[2].unit, Some(QuotaUnit::ContentBytes));
    assert_eq!(
        (s.ietf()[3].remaining, s.ietf()[3].reset),
        (Some(999), None)
    );
    assert_eq!(
        (s.ietf()[4].limit, s.ietf()[4].window_secs),
        (Some(5), Some(1))
    );
    assert_eq!(s.buckets(), s.ietf());
}

#[test]
fn retry_after_reads_delay_seconds_and_http_dates() {
    // The draft's example: Date 09:27:00, Retry-After 09:27:05.
    let now = Some(1_564_997_220_000);
    let mut s = RateLimitSummary::new();
    s.feed("Retry-After", "Mon, 05 Aug 2019 09:27:05 GMT", now)
        .unwrap();
    assert_eq!(s.retry_after(), Some(D::from_secs(5)));
    s.feed("Retry-After", "2", now).unwrap();
    assert_eq!(
        s.retry_after(),
        Some(D::from_secs(5)),
        "the longest wait wins"
    );
    s.feed("Retry-After", "Monday, 05-Aug-19 09:27:10 GMT", now)
        .unwrap();
    s.feed("Retry-After", "Mon Aug  5 09:26:00 2019", now)
        .unwrap(); // past: no wait
    assert_eq!(s.retry_after(), Some(D::from_secs(10)));
    let mut fresh = RateLimitSummary::new();
    assert_eq!(
        fresh.feed("Retry-After", "Mon, 05 Aug 2019 09:27:05 GMT", None),
        Err(HeaderError::NeedsWallClock)
    );
    assert_eq!(
        fresh.feed("Retry-After", "Mon, 05 Aug 2019", None),
        Err(HeaderError::Syntax)
    );
    // Fractional delay-seconds are read, rounded up; a malformed fraction is not.
    assert_eq!(
        fresh.feed("Retry-After", "4.5.1", now),
        Err(HeaderError::Syntax)
    );
    assert_eq!(
        fresh.feed("Retry-After", "-1", now),
        Err(HeaderError::Syntax)
    );
    assert_eq!(fresh.feed("Retry-After", "", now), Err(HeaderError::Syntax));
    assert_eq!(
        fresh.feed("Retry-After", "Tue, 05 Aug 2019 09:27:05 GMT", now),
        Err(HeaderError::InvalidDate)
    );
    assert_eq!(fresh, RateLimitSummary::new());
}

#[test]
fn reset_numbers_are_classified_by_magnitude() {
    let now = Some(1_700_000_000_000); // s = 1.7e9
    assert_eq!(ResetKind::classify(0, now), Ok(ResetKind::DeltaSeconds));
    assert_eq!(
        ResetKind::classify(849_999_999, now),
        Ok(ResetKind::DeltaSeconds)
    );
    assert_eq!(
        ResetKind::classify(850_000_000, now),
        Ok(ResetKind::EpochSeconds)
    );
    assert_eq!(
        ResetKind::classify(54_399_999_999, now),
        Ok(ResetKind::EpochSeconds)
    );
    assert_eq!(
        ResetKind::classify(54_400_000_000, now),
        Ok(ResetKind::EpochMillis)
    );
    assert_eq!(
        ResetKind::classify(u64::MAX, now),
        Ok(ResetKind::EpochMillis)
    );
    assert_eq!(
        ResetKind::classify(999_999_999, None),
        Ok(ResetKind::DeltaSeconds)
    );
    assert_eq!(
        ResetKind::classify(1_000_000_000, None),
        Err(HeaderError::NeedsWallClock)
    );
    assert_eq!(
        ResetKind::wait(u64::MAX / 100, Some(0)),
        Ok(D::from_millis(u64::MAX / 100))
    );
    assert_eq!(
        ResetKind::wait(u64::MAX / 100, None),
        Err(HeaderError::NeedsWallClock)
    );
    assert_eq!(
        ResetKind::wait(u64::MAX / 100, Some(u64::MAX)),
        Err(HeaderError::Overflow)
    );
}

#[test]
fn malformed_lines_are_typed_errors_and_change_nothing() {
    let now = Some(1_700_000_000_000);
    let cases: &[(&str, &str, HeaderError)] = &[
        ("X-RateLimit-Limit", "12a", HeaderError::Syntax),
        ("X-RateLimit-Limit", "+5", HeaderError::Syntax),
        ("X-RateLimit-Limit", "1 2", HeaderError::Syntax),
        // A fraction is read (`598.0`, rounded down for a limit), but it needs digits on both sides.
        ("X-RateLimit-Limit", "1.", HeaderError::Syntax),
        ("X-RateLimit-Limit", ".5", HeaderError::Syntax),
        (
            "X-RateLimit-Remaining",
            "18446744073709551616",
            HeaderError::Overflow,
        ),
        (
            "X-RateLimit-Reset",
            "10, 1700000000000, x",
            HeaderError::Syntax,
        ),
        ("RateLimit", r#""a";r=1,"#, HeaderError::Syntax),
        ("RateLimit", r#""a";t=1"#, HeaderError::MissingParameter),
        ("RateLimit", r#""a";r=-1"#, HeaderError::InvalidParameter),
        ("RateLimit", r#""a";r=1.5"#, HeaderError::InvalidParameter),
        ("RateLimit", r#""a";r="1""#, HeaderError::InvalidParameter),
        ("RateLimit", r#"5;r=1"#, HeaderError::InvalidItem),
        ("RateLimit", r#"("a" "b");r=1"#, HeaderError::InvalidItem),
        (
            "RateLimit-Policy",
            r#""a";q=1;w=0"#,
            HeaderError::InvalidParameter,
        ),
        (
            "RateLimit-Policy",
            r#""a";q=1;qu=requests"#,
            HeaderError::InvalidParameter,
        ),
        (
            "RateLimit-Policy",
            r#""ok";q=1, "a";w=1"#,
            HeaderError::MissingParameter,
        ),
        ("RateLimit-Policy", "\"a\";q=1;pk=:!!:", HeaderError::Syntax),
    ];
    for &(name, value, err) in cases {
        let mut s = RateLimitSummary::new();
        assert_eq!(s.feed(name, value, now), Err(err), "{name}: {value}");
        assert_eq!(s, RateLimitSummary::new(), "{name}: {value}");
    }
}

#[test]
fn unknown_names_are_ignored() {
    let mut s = RateLimitSummary::new();
    for name in [
        "X-RateLimit",
        "X-RateLimit-Hour",
        "RateLimit-Limits",
        "",
        "Retry-After:",
    ] {
        assert_eq!(s.feed(name, "garbage \u{7f}", None), Ok(None));
    }
    assert_eq!(s, RateLimitSummary::new());
}

#[test]
fn more_than_eight_buckets_are_dropped_and_flagged() {
    let s = RateLimitSummary::from_headers(
        [
            ("X-RateLimit-Limit", "1,2,3,4,5,6,7,8,9,10"),
            ("X-RateLimit-Remaining", "0"),
        ],
        None,
    );
    assert_eq!(s.legacy().len(), MAX_BUCKETS);
    assert_eq!(s.legacy()[7].limit, Some(8));
    assert!(s.truncated());

    let policy: String = (0..10).map(|i| format!("\"p{i}\";q={i}, ")).collect();
    let s =
        RateLimitSummary::from_headers([("RateLimit-Policy", policy.trim_end_matches(", "))], None);
    assert_eq!(s.ietf().len(), MAX_BUCKETS);
    assert!(s.truncated());

    let long = format!("\"{}\";r=1, \"short\";r=2", "n".repeat(MAX_NAME_LEN + 1));
    let s = RateLimitSummary::from_headers([("RateLimit", long.as_str())], None);
    assert_eq!(s.ietf().len(), 1);
    assert_eq!(s.ietf()[0].remaining, Some(2));
    assert!(s.truncated());
}

#[test]
fn the_suggested_wait_is_retry_after_else_the_longest_exhausted_reset() {
    let s = RateLimitSummary::from_headers(
        [("RateLimit", r#""a";r=0;t=5, "b";r=0;t=50, "c";r=3;t=500"#)],
        None,
    );
    assert_eq!(s.suggested_wait(), Some(D::from_secs(50)));
    let s = RateLimitSummary::from_headers([("RateLimit", r#""a";r=1;t=5"#)], None);
    assert_eq!(s.suggested_wait(), None);
}

#[test]
fn header_field_names_round_trip() {
    for f in HeaderField::ALL {
        assert_eq!(HeaderField::from_name(f.name().as_bytes()), Some(f));
        assert_eq!(
            HeaderField::from_name(f.name().to_ascii_lowercase().as_bytes()),
            Some(f)
        );
    }
}

#[test]
fn server_hints_pick_the_binding_bucket_and_round_up_to_ticks() {
    let s = RateLimitSummary::from_headers(
        [
            ("RateLimit", r#""a";r=10;t=60, "b";r=2;t=30, "c";r=5"#),
            ("Retry-After", "2"),
        ],
        None,
    );
    let h = s.server_hints::<3>();
    // b: 30 s for 2 requests is tighter than a: 60 s for 10.
    assert_eq!(
        (h.remaining, h.reset),
        (Some(2), Some(Duration::<3>::from_secs(30)))
    );
    assert_eq!(h.retry_after, Some(Duration::<3>::from_ticks(6)));

    let s = RateLimitSummary::from_headers([("X-RateLimit-Reset", "1")], Some(0));
    let h = s.server_hints::<1>();
    assert_eq!((h.remaining, h.reset, h.retry_after), (None, None, None));

    let s = RateLimitSummary::from_headers([("X-RateLimit-Remaining", "99999999999, 7")], None);
    assert_eq!(s.server_hints::<1>().remaining, Some(7));
    let s = RateLimitSummary::from_headers([("X-RateLimit-Remaining", "99999999999")], None);
    assert_eq!(s.server_hints::<1>().remaining, Some(u32::MAX));

    // A millisecond at 3 Hz is a third of a tick: one tick, rounded up.
    let s = RateLimitSummary::from_headers(
        [
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1700000000001"),
        ],
        Some(1_700_000_000_000),
    );
    assert_eq!(
        s.server_hints::<3>().reset,
        Some(Duration::<3>::from_ticks(1))
    );
    assert_eq!(
        RateLimitSummary::from_headers([("Retry-After", "18446744073709551")], None)
            .server_hints::<1_000_000_000>()
            .retry_after,
        Some(Duration::<1_000_000_000>::from_ticks(u64::MAX))
    );
}

#[test]
fn ietf_policy_quotes_the_limit_as_written_not_the_gcra_burst() {
    use crate::{Algorithm, Gcra, Quota};
    // 900 per 15 minutes, at most 5 at once: `q=900;w=900`, while X-RateLimit counts the burst.
    let gcra = Gcra::new(
        Quota::<1_000>::per_seconds(900, 900)
            .unwrap()
            .with_burst(5)
            .unwrap(),
    );
    let mut s = gcra.new_state();
    let decision = gcra.check(&mut s, I::from_ticks(0), 1).unwrap();
    let reports = [Report {
        name: "quarter",
        allowance: gcra.allowance(),
        decision,
    }];
    let out = render(
        &ReportSet::first_denied(I::from_ticks(0), &reports),
        &HeaderConfig::none().with_ietf(),
    )
    .unwrap();
    assert_eq!(
        out,
        "RateLimit-Policy: \"quarter\";q=900;w=900\r\nRateLimit: \"quarter\";r=4;t=1\r\n"
    );
}

#[test]
fn a_concurrency_limit_of_u32_max_is_rendered_and_only_unlimited_ones_are_left_out() {
    use crate::{Algorithm, Concurrency, Unlimited};
    // Regression: `u32::MAX` used to be the "unlimited" sentinel, hiding such a limit.
    let huge = Concurrency::<1_000>::new(u32::MAX).unwrap();
    let mut s = huge.new_state();
    let decision = huge.check(&mut s, I::from_ticks(0), 1).unwrap();
    let none = Algorithm::<1_000>::check(&Unlimited, &mut (), I::from_ticks(0), 1).unwrap();
    let reports = [
        Report {
            name: "in flight",
            allowance: huge.allowance(),
            decision,
        },
        Report {
            name: "day",
            allowance: Algorithm::<1_000>::allowance(&Unlimited),
            decision: none,
        },
    ];
    let set = ReportSet::first_denied(I::from_ticks(0), &reports);
    let out = render(
        &set,
        &x(ResetFormat::DeltaSeconds, LimitValues::PerLimit).with_ietf(),
    )
    .unwrap();
    assert_eq!(
        out,
        "X-RateLimit-Limit: 4294967295\r\nX-RateLimit-Remaining: 4294967294\r\nX-RateLimit-Reset: 1\r\n\
         RateLimit-Policy: \"in flight\";q=4294967295;qu=\"concurrent-requests\"\r\n\
         RateLimit: \"in flight\";r=4294967294;t=1\r\n"
    );
    assert_eq!(set.applicable().map(|r| r.name), Some("in flight"));
}
