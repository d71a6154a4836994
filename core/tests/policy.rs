//! Policies over the test kit's small algorithms (a fixed-window counter and an in-flight
//! counter), whose every figure is obvious: the worked examples of the policy module that need
//! limits other than the library's own.

use tollgate_core::{
    Algorithm, Decision, Duration, Gcra, GcraState, Instant, InsufficientCapacity, Named,
    Overrides, Policy, Quota, ReleaseError, Unlimited, Verdict,
};
use tollgate_testkit::fakes::{Count, FixedWindow, InFlight};

type I = Instant<1_000>;
type D = Duration<1_000>;

fn at(ms: u64) -> I {
    I::from_ticks(ms)
}

fn gcra(q: Result<Quota<1_000>, tollgate_core::ConfigError>) -> Gcra<1_000> {
    Gcra::new(q.unwrap())
}

/// What an unlimited limit reports: `limit` and `remaining` of `u32::MAX`, a zero `reset`.
fn unlimited_decision() -> Decision<1_000> {
    Decision::allowed(u32::MAX, u32::MAX, D::from_ticks(0))
}

/// Seed 000: 5 concurrent, 300 per minute (burst 5), 900 per 15 minutes.
type Seed000 = Policy<(Named<InFlight>, Named<Gcra<1_000>>, Named<Gcra<1_000>>)>;

fn seed_000() -> Seed000 {
    Policy::new((
        Named::new(
            "concurrent",
            InFlight {
                max: 5,
                hint: 1_000,
            },
        ),
        Named::new(
            "minute",
            gcra(Quota::per_minute(300).and_then(|q| q.with_burst(5))),
        ),
        Named::new("quarter", gcra(Quota::per_seconds(900, 900))),
    ))
}

#[test]
fn a_policy_state_is_the_tuple_of_its_limits_states() {
    let p = seed_000();
    let s: (u32, GcraState, GcraState) = p.new_state();
    assert_eq!(core::mem::size_of_val(&s), 24);
    assert_eq!(p.capacity(), 5);
}

#[test]
fn a_request_denied_by_one_limit_charges_none_of_them() {
    let p = seed_000();
    let mut s = p.new_state();
    for _ in 0..5 {
        assert!(p.check(&mut s, at(0), 1).unwrap().is_allowed());
        p.release(&mut s, 1).unwrap(); // each request finishes at once
    }
    let before = s;
    let d = p.check(&mut s, at(0), 1).unwrap();
    assert_eq!(s, before);
    assert_eq!(
        (d.limit_exceeded(), d.retry_after()),
        (Some("minute"), Some(D::from_millis(200)))
    );
    // "concurrent" and "quarter" would have admitted it, and were not charged.
    assert_eq!(
        (
            d.reports[0].decision.remaining,
            d.reports[2].decision.remaining
        ),
        (5, 895)
    );
    assert_eq!(s.0, 0);
}

#[test]
fn the_denying_limit_with_the_longest_wait_is_named() {
    let p = Policy::new((
        Named::new("concurrent", InFlight { max: 1, hint: 50 }),
        Named::new(
            "second",
            FixedWindow {
                limit: 1,
                window: 1_000,
            },
        ),
    ));
    let mut s = p.new_state();
    p.check(&mut s, at(100), 1).unwrap();
    let d = p.check(&mut s, at(100), 1).unwrap();
    assert_eq!(d.outcome, Verdict::Denied { index: 1 });
    assert_eq!(
        (d.limit_exceeded(), d.retry_after()),
        (Some("second"), Some(D::from_millis(900)))
    );
    // Both denied, so both report their own wait.
    assert_eq!(d.reports[0].decision.retry_after, Some(D::from_millis(50)));
    let d = p.check(&mut s, at(999), 1).unwrap();
    assert_eq!(
        (d.limit_exceeded(), d.retry_after()),
        (Some("concurrent"), Some(D::from_millis(50)))
    );
}

#[test]
fn equal_waits_name_the_first_declared_limit() {
    let p = Policy::new((
        Named::new(
            "a",
            FixedWindow {
                limit: 1,
                window: 1_000,
            },
        ),
        Named::new(
            "b",
            FixedWindow {
                limit: 1,
                window: 1_000,
            },
        ),
    ));
    let mut s = p.new_state();
    p.check(&mut s, at(0), 1).unwrap();
    assert_eq!(
        p.check(&mut s, at(0), 1).unwrap().limit_exceeded(),
        Some("a")
    );
}

#[test]
fn limits_that_would_admit_a_denied_request_report_it_unrecorded() {
    let p = Policy::new((
        Named::new(
            "hour",
            FixedWindow {
                limit: 50,
                window: 3_600_000,
            },
        ),
        Named::new(
            "second",
            FixedWindow {
                limit: 1,
                window: 1_000,
            },
        ),
    ));
    let mut s = p.new_state();
    p.check(&mut s, at(0), 1).unwrap();
    let d = p.check(&mut s, at(0), 1).unwrap();
    assert_eq!(
        d.reports[0].decision,
        Decision {
            limit: 50,
            remaining: 49,
            reset: D::from_secs(3_600),
            retry_after: None,
            delay: D::from_ticks(0),
        }
    );
    assert_eq!(s.0.count, 1);
}

#[test]
fn a_cost_above_a_capacity_is_an_error_naming_the_smallest_limit() {
    let p = seed_000();
    let mut s = p.new_state();
    let e = p.check(&mut s, at(0), 900).unwrap_err();
    assert_eq!(e, InsufficientCapacity::new(900, 5).at(0));
    assert_eq!(p.limits().0.name(), "concurrent");
    assert_eq!(s, p.new_state());
    assert_eq!(p.peek(&s, at(0), u32::MAX).unwrap_err().capacity, 5);
}

#[test]
fn a_zero_cost_is_admitted_and_records_nothing_even_when_forced() {
    let p = seed_000();
    let mut s = p.new_state();
    for _ in 0..5 {
        p.check(&mut s, at(0), 1).unwrap();
    }
    let before = s;
    for ov in [
        Overrides::NONE,
        Overrides::deny(),
        Overrides::lowering(&[("minute", 0)]),
    ] {
        let d = p.check_with(&mut s, at(0), 0, &ov).unwrap();
        assert!(d.is_allowed(), "{ov:?}");
        assert_eq!(s, before);
    }
}

#[test]
fn unlimited_limits_always_admit_and_report_u32_max() {
    let p = Policy::new((
        Named::new(
            "minute",
            FixedWindow {
                limit: 2,
                window: 60_000,
            },
        ),
        Named::new("day", Unlimited),
        Named::new("week", None::<FixedWindow>),
    ));
    let mut s = p.new_state();
    let d = p.check(&mut s, at(0), 2).unwrap();
    assert!(d.is_allowed());
    assert_eq!(d.reports[1].decision, unlimited_decision());
    assert_eq!(d.reports[2].decision.limit, u32::MAX);
    // Unlimited limits are told by their allowance.
    let unlimited: Vec<bool> = d
        .reports
        .iter()
        .map(|r| r.allowance.is_unlimited())
        .collect();
    assert_eq!(unlimited, [false, true, true]);
    assert_eq!(d.limited().map(|r| r.name).collect::<Vec<_>>(), ["minute"]);
    assert_eq!(d.applicable().map(|r| r.name), Some("minute"));
    assert_eq!(p.capacity(), 2);
    // Unlimited limits cannot be lowered.
    let d = p
        .check_with(
            &mut s,
            at(60_000),
            1,
            &Overrides::lowering(&[("day", 0), ("week", 0)]),
        )
        .unwrap();
    assert!(d.is_allowed());
    assert_eq!(d.reports[1].decision.limit, u32::MAX);
    let only_unlimited = Policy::new((Named::new("day", Unlimited),));
    let d = only_unlimited.check(&mut ((),), at(0), u32::MAX).unwrap();
    assert_eq!((d.applicable(), d.decision().limit), (None, u32::MAX));
    assert!(d.reports[0].allowance.is_unlimited());
}

#[test]
fn an_override_lowers_a_limit_for_that_request_only() {
    let p = Policy::new((
        Named::new(
            "hour",
            FixedWindow {
                limit: 50,
                window: 3_600_000,
            },
        ),
        Named::new(
            "day",
            FixedWindow {
                limit: 600,
                window: 86_400_000,
            },
        ),
    ));
    let mut s = p.new_state();
    let five = [("HOUR", 5)];
    let ov = Overrides::lowering(&five);
    for i in 0..5 {
        let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
        assert!(d.is_allowed());
        assert_eq!(
            (d.reports[0].decision.limit, d.reports[0].decision.remaining),
            (5, 4 - i)
        );
        assert_eq!(d.reports[1].decision.remaining, 599 - i);
    }
    let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
    assert_eq!(
        (d.limit_exceeded(), d.retry_after()),
        (Some("hour"), Some(D::from_secs(3_600)))
    );
    assert_eq!(d.reports[0].decision.remaining, 0);
    assert_eq!(
        s,
        (Count { index: 0, count: 5 }, Count { index: 0, count: 5 })
    );
    // Without the override the real limit of 50 applies.
    assert_eq!(
        p.check(&mut s, at(0), 1).unwrap().reports[0]
            .decision
            .remaining,
        44
    );
}

#[test]
fn an_override_never_raises_a_limit_and_unknown_names_are_ignored() {
    let p = Policy::new((Named::new(
        "hour",
        FixedWindow {
            limit: 2,
            window: 3_600_000,
        },
    ),));
    let mut s = p.new_state();
    let ov = Overrides::lowering(&[("hour", 100), ("minute", 1), ("hour", 2)]);
    assert!(p.check_with(&mut s, at(0), 2, &ov).unwrap().is_allowed());
    let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
    assert_eq!((d.is_denied(), d.reports[0].decision.limit), (true, 2));
    assert_eq!(p.check_with(&mut s, at(0), 3, &ov).unwrap_err().capacity, 2);
}

#[test]
fn the_lowest_repeated_override_wins_and_a_cost_above_it_is_an_error() {
    let p = Policy::new((Named::new(
        "hour",
        FixedWindow {
            limit: 50,
            window: 3_600_000,
        },
    ),));
    let mut s = p.new_state();
    let ov = Overrides::lowering(&[("hour", 5), ("hour", 3)]);
    // The error names "hour", the limit at index 0, with its lowered capacity.
    assert_eq!(
        p.check_with(&mut s, at(0), 4, &ov).unwrap_err(),
        InsufficientCapacity::new(4, 3).at(0)
    );
    assert_eq!(p.limits().0.name(), "hour");
    assert_eq!(s, (Count::default(),));
    assert_eq!(
        p.check_with(&mut s, at(0), 1, &Overrides::lowering(&[("hour", 0)]))
            .unwrap_err()
            .capacity,
        0
    );
}

#[test]
fn a_lowered_gcra_keeps_its_rate_and_lowers_its_burst() {
    let p = Policy::new((Named::new("second", gcra(Quota::per_second(10))),));
    let mut s = p.new_state();
    let ov = Overrides::lowering(&[("second", 2)]);
    assert!(p.check_with(&mut s, at(0), 2, &ov).unwrap().is_allowed());
    let d = p.check_with(&mut s, at(0), 1, &ov).unwrap();
    assert_eq!(
        (d.retry_after(), d.reports[0].decision.limit),
        (Some(D::from_millis(100)), 2)
    );
    assert!(p.check_with(&mut s, at(99), 1, &ov).unwrap().is_denied());
    assert!(p.check_with(&mut s, at(100), 1, &ov).unwrap().is_allowed());
    assert_eq!(s.0.to_raw(), 300);
}

#[test]
fn a_forced_denial_records_nothing_and_waits_zero() {
    let p = seed_000();
    let mut s = p.new_state();
    let d = p.check_with(&mut s, at(0), 1, &Overrides::deny()).unwrap();
    assert_eq!(
        (d.outcome, d.retry_after(), d.limit_exceeded()),
        (Verdict::Forced, Some(D::from_ticks(0)), None)
    );
    assert_eq!(s, p.new_state());
    assert_eq!(d.reports[1].decision.remaining, 5); // unrecorded
    assert_eq!(d.applicable().map(|r| r.name), Some("concurrent"));
}

#[test]
fn a_forced_denial_defers_to_a_real_one() {
    let p = seed_000();
    let mut s = p.new_state();
    p.check(&mut s, at(0), 5).unwrap();
    p.release(&mut s, 5).unwrap();
    let d = p.check_with(&mut s, at(0), 1, &Overrides::deny()).unwrap();
    assert_eq!(
        (d.limit_exceeded(), d.retry_after()),
        (Some("minute"), Some(D::from_millis(200)))
    );
}

#[test]
fn release_reaches_every_limit_or_none() {
    let p = Policy::new((
        Named::new("a", InFlight { max: 5, hint: 1 }),
        Named::new(
            "m",
            FixedWindow {
                limit: 10,
                window: 60_000,
            },
        ),
        Named::new("b", InFlight { max: 5, hint: 1 }),
    ));
    let mut s = p.new_state();
    p.check(&mut s, at(0), 3).unwrap();
    s.2 = 1; // b holds less than a
    assert_eq!(
        p.release(&mut s, 2),
        Err(ReleaseError {
            released: 2,
            in_flight: 1
        })
    );
    assert_eq!(s, (3, Count { index: 0, count: 3 }, 1));
    assert_eq!(p.release(&mut s, 1), Ok(()));
    assert_eq!(s, (2, Count { index: 0, count: 3 }, 0));
}

#[test]
fn the_applicable_limit_is_the_denying_one_else_the_least_remaining() {
    let p = Policy::new((
        Named::new(
            "minute",
            FixedWindow {
                limit: 30,
                window: 60_000,
            },
        ),
        Named::new(
            "hour",
            FixedWindow {
                limit: 31,
                window: 3_600_000,
            },
        ),
    ));
    let mut s = p.new_state();
    let d = p.check(&mut s, at(0), 1).unwrap();
    assert_eq!(d.applicable().map(|r| r.name), Some("minute"));
    p.check(&mut s, at(59_999), 29).unwrap();
    let d = p.check(&mut s, at(60_000), 1).unwrap(); // minute: 29 left; hour: 0 left
    assert_eq!(
        d.applicable().map(|r| (r.name, r.decision.remaining)),
        Some(("hour", 0))
    );
    let d = p.check(&mut s, at(60_000), 1).unwrap();
    assert_eq!(d.applicable().map(|r| r.name), Some("hour"));
    assert_eq!(
        d.decision(),
        Decision {
            limit: 30,
            remaining: 0,
            reset: D::from_millis(3_540_000),
            retry_after: Some(D::from_millis(3_540_000)),
            delay: D::from_ticks(0),
        }
    );
}

#[test]
fn a_policy_is_an_algorithm_whose_peek_equals_its_check() {
    fn as_algorithm<A: Algorithm<1_000>>(
        a: &A,
        s: &mut A::State,
    ) -> (Decision<1_000>, Decision<1_000>) {
        let peeked = a.peek(s, at(0), 2).unwrap();
        (peeked, a.check(s, at(0), 2).unwrap())
    }
    let p = seed_000();
    let mut s = Algorithm::new_state(&p);
    let (peeked, checked) = as_algorithm(&p, &mut s);
    assert_eq!(peeked, checked);
    // The tightest limit and remaining, and the time until the whole policy is at rest.
    assert_eq!(
        checked,
        Decision {
            limit: 5,
            remaining: 3,
            reset: D::from_millis(2_000),
            retry_after: None,
            delay: D::from_ticks(0),
        }
    );
    // As an algorithm, too, the error names the limit of the smallest capacity.
    assert_eq!(
        Algorithm::<1_000>::check(&p, &mut s, at(0), 6),
        Err(InsufficientCapacity::new(6, 5).at(0))
    );
    assert!(!Algorithm::is_at_rest(&p, &s, at(10_000)));
    Algorithm::release(&p, &mut s, 2).unwrap();
    assert!(Algorithm::is_at_rest(&p, &s, at(10_000)));
}

#[test]
fn seed_002_reports_one_value_per_bucket_in_declaration_order() {
    let p = Policy::new((
        Named::new("15min", gcra(Quota::per_seconds(2_300, 900))),
        Named::new("30min", gcra(Quota::per_seconds(4_500, 1_800))),
        Named::new("1hr", gcra(Quota::per_hour(8_800))),
        Named::new("24hrs", gcra(Quota::per_day(105_600))),
    ));
    let mut s = p.new_state();
    let d = p.check(&mut s, at(0), 10).unwrap();
    let remaining: Vec<String> = d
        .reports()
        .iter()
        .map(|r| r.decision.remaining.to_string())
        .collect();
    assert_eq!(remaining.join(","), "2290,4490,8790,105590");
}

#[test]
fn seed_004_names_the_exceeded_window_and_all_limits() {
    let p = Policy::new((
        Named::new(
            "hour",
            FixedWindow {
                limit: 50,
                window: 3_600_000,
            },
        ),
        Named::new(
            "day",
            FixedWindow {
                limit: 600,
                window: 86_400_000,
            },
        ),
    ));
    let mut s = p.new_state();
    p.check(&mut s, at(0), 50).unwrap();
    let d = p.check(&mut s, at(1_000), 1).unwrap();
    let limits: Vec<(&str, u32)> = d
        .reports()
        .iter()
        .map(|r| (r.name, r.decision.limit))
        .collect();
    assert_eq!(
        (d.limit_exceeded(), limits),
        (Some("hour"), vec![("hour", 50), ("day", 600)])
    );
}

#[test]
fn a_report_set_names_the_policys_denying_limit_and_none_when_forced() {
    let p = seed_000();
    let mut s = p.new_state();
    let d = p.check(&mut s, at(0), 5).unwrap();
    let set = d.report_set(at(0));
    assert_eq!(
        (set.now(), set.denied_index(), set.reports().len()),
        (at(0), None, 3)
    );
    // Concurrency (1 s hint) and the minute (200 ms) both deny; the hint is the longer wait.
    let d = p.check(&mut s, at(0), 1).unwrap();
    assert_eq!(
        d.report_set(at(0)).denied().map(|r| r.name),
        Some("concurrent")
    );
    p.release(&mut s, 5).unwrap();
    let forced = p
        .check_with(&mut s, at(1_000), 1, &Overrides::deny())
        .unwrap();
    let set = forced.report_set(at(1_000));
    assert_eq!((set.denied_index(), set.retry_after()), (None, None));
}

#[test]
fn eight_limits_compose() {
    let w = |n| {
        Named::new(
            "w",
            FixedWindow {
                limit: n,
                window: 1_000,
            },
        )
    };
    let p = Policy::new((w(8), w(7), w(6), w(5), w(4), w(3), w(2), w(1)));
    let mut s = p.new_state();
    let d = p.check(&mut s, at(0), 1).unwrap();
    assert_eq!((d.reports.len(), d.decision().remaining), (8, 0));
    assert!(p.check(&mut s, at(0), 1).unwrap().is_denied());
}
