//! The example policy files: every one loads, and each models its documented limits.

use std::path::{Path, PathBuf};

use tollgate_core::{Algorithm, Allowance, Concurrency, Shaper};
use tollgate_std::config::{AlgorithmKind, PolicyFile, Tier};
use tollgate_std::{Duration, Instant, Limit, Quota};

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies")
}

fn load(name: &str) -> PolicyFile {
    let path = policies().join(name);
    PolicyFile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// `(name, count, window in seconds)` of each limit; a window of 0 for a concurrency limit,
/// a count of 0 for no limit.
fn figures(limits: &[tollgate_core::Named<Limit, String>]) -> Vec<(&str, u32, u64)> {
    limits
        .iter()
        .map(|l| match l.algorithm().allowance() {
            Allowance::PerWindow { count, window } => {
                (l.name(), count, window.as_ticks() / 1_000_000_000)
            }
            Allowance::InFlight { count } => (l.name(), count, 0),
            Allowance::Unlimited => (l.name(), 0, 0),
        })
        .collect()
}

fn kinds(limits: &[tollgate_core::Named<Limit, String>]) -> Vec<AlgorithmKind> {
    limits
        .iter()
        .map(|l| AlgorithmKind::of(l.algorithm()))
        .collect()
}

fn granularity(limit: &Limit) -> Duration {
    match limit {
        Limit::SlidingWindow(w) => w.granularity(),
        other => panic!("not a sliding window: {other:?}"),
    }
}

#[test]
fn every_example_policy_file_loads() {
    let mut loaded = Vec::new();
    for entry in std::fs::read_dir(policies()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let file = PolicyFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!file.limits.is_empty() || !file.tiers.is_empty());
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with('#'),
                "{} starts with a comment",
                path.display()
            );
            loaded.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    loaded.sort();
    assert_eq!(
        loaded,
        [
            "000-concurrent-minute-quarter.toml",
            "001-plan-tiers.toml",
            "002-four-buckets.toml",
            "003-carrier-per-number.toml",
            "004-rolling-hour-day.toml",
            "nginx-limit-req.toml",
        ]
    );
}

#[test]
fn five_concurrent_300_a_minute_and_900_a_quarter_hour_are_enforced_together() {
    let file = load("000-concurrent-minute-quarter.toml");
    assert!(file.tiers.is_empty());
    assert_eq!(
        figures(&file.limits),
        [
            ("concurrent", 5, 0),
            ("minute", 300, 60),
            ("15min", 900, 900)
        ]
    );
    assert_eq!(
        file.limits
            .iter()
            .map(|l| *l.algorithm())
            .collect::<Vec<_>>(),
        [
            Limit::Concurrency(Concurrency::new(5).unwrap()),
            Limit::sliding_log(300, Duration::from_secs(60), 300).unwrap(),
            Limit::sliding_log(900, Duration::from_secs(900), 900).unwrap(),
        ]
    );
}

#[test]
fn four_plans_keep_their_order_and_agency_has_no_daily_limit() {
    let file = load("001-plan-tiers.toml");
    assert!(file.limits.is_empty());
    let names: Vec<&str> = file.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["free", "pro", "business", "agency"]);
    let plan = |name: &str| -> &Tier { file.tier(name).unwrap() };
    assert_eq!(
        figures(&plan("free").limits),
        [
            ("minute", 30, 60),
            ("hour", 500, 3_600),
            ("day", 2_000, 86_400)
        ]
    );
    assert_eq!(
        figures(&plan("pro").limits),
        [
            ("minute", 120, 60),
            ("hour", 5_000, 3_600),
            ("day", 50_000, 86_400)
        ]
    );
    assert_eq!(
        figures(&plan("business").limits),
        [
            ("minute", 600, 60),
            ("hour", 20_000, 3_600),
            ("day", 200_000, 86_400)
        ]
    );
    assert_eq!(
        figures(&plan("agency").limits),
        [
            ("minute", 2_000, 60),
            ("hour", 100_000, 3_600),
            ("day", 0, 0)
        ]
    );
    assert_eq!(*plan("agency").limits[2].algorithm(), Limit::Unlimited);
    // The default 60 slots: one-second slots for a minute, one-minute for an hour.
    let free = &plan("free").limits;
    assert_eq!(granularity(free[0].algorithm()), Duration::from_secs(1));
    assert_eq!(granularity(free[1].algorithm()), Duration::from_secs(60));
    assert_eq!(
        granularity(free[2].algorithm()),
        Duration::from_secs(24 * 60)
    );
    assert_eq!(plan("free").specs()[0].slots, None);
}

#[test]
fn four_sliding_buckets_are_reported_in_the_documented_order() {
    let file = load("002-four-buckets.toml");
    assert_eq!(
        figures(&file.limits),
        [
            ("15mins", 2_300, 900),
            ("30mins", 4_500, 1_800),
            ("1hr", 8_800, 3_600),
            ("24hrs", 105_600, 86_400)
        ]
    );
    assert_eq!(
        kinds(&file.limits),
        [
            AlgorithmKind::SlidingLog,
            AlgorithmKind::SlidingLog,
            AlgorithmKind::SlidingLog,
            AlgorithmKind::SlidingWindow
        ]
    );
    assert_eq!(
        granularity(file.limits[3].algorithm()),
        Duration::from_secs(60)
    );
}

#[test]
fn one_per_second_averaged_over_ten_is_ten_per_ten_seconds_in_one_second_slots() {
    let file = load("003-carrier-per-number.toml");
    let names: Vec<&str> = file.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message-per-number",
            "message-per-account",
            "call-per-number",
            "call-per-account"
        ]
    );
    let per_number = &file.tier("message-per-number").unwrap().limits;
    assert_eq!(figures(per_number), [("message-rate-limit", 10, 10)]);
    assert_eq!(
        granularity(per_number[0].algorithm()),
        Duration::from_secs(1)
    );
    assert_eq!(
        *file.tier("message-per-account").unwrap().limits[0].algorithm(),
        Limit::Unlimited
    );
    // Ten at once pass, the eleventh waits until the first one-second slot leaves the window.
    let limit = per_number[0].algorithm();
    let mut state = limit.new_state();
    let t0 = Instant::from_ticks(0);
    assert!(limit.check(&mut state, t0, 10).unwrap().is_allowed());
    let denied = limit.check(&mut state, t0, 1).unwrap();
    assert_eq!(denied.retry_after, Some(Duration::from_secs(11)));
}

#[test]
fn a_rolling_hour_and_day_are_sliding_logs() {
    let file = load("004-rolling-hour-day.toml");
    assert_eq!(
        figures(&file.limits),
        [("hour", 50, 3_600), ("day", 600, 86_400)]
    );
    assert_eq!(
        kinds(&file.limits),
        [AlgorithmKind::SlidingLog, AlgorithmKind::SlidingLog]
    );
}

#[test]
fn the_nginx_file_is_limit_req_with_burst_5_delay_2() {
    let file = load("nginx-limit-req.toml");
    let nginx = Shaper::nginx_limit_req(Quota::per_second(10).unwrap(), 5, 2).unwrap();
    assert_eq!(*file.limits[0].algorithm(), Limit::Shaper(nginx));
    // From rest: three pass at once, three are queued 100 ms apart, the seventh is refused.
    let limit = file.limits[0].algorithm();
    let mut state = limit.new_state();
    let now = Instant::from_ticks(0);
    let delays: Vec<Option<u64>> = (0..7)
        .map(|_| {
            let d = limit.check(&mut state, now, 1).unwrap();
            d.is_allowed().then(|| d.delay.as_ticks() / 1_000_000)
        })
        .collect();
    assert_eq!(
        delays,
        [
            Some(0),
            Some(0),
            Some(0),
            Some(100),
            Some(200),
            Some(300),
            None
        ]
    );
}
