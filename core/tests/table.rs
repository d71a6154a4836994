//! Key tables over the test kit's fixed-window counter: the worked examples of the table module
//! that need limits other than the library's own.

use core::mem::size_of;

use tollgate_core::{
    Algorithm, Duration, Instant, KeyTable, Named, Overrides, Policy, TableError, Tiers,
};
use tollgate_testkit::fakes::FixedWindow;

type I = Instant<1_000>;
type D = Duration<1_000>;

fn at(ms: u64) -> I {
    I::from_ticks(ms)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Plan {
    Free,
    Pro,
    Business,
    Agency,
    Legacy,
}

type Tier = Policy<(
    Named<Option<FixedWindow>>,
    Named<Option<FixedWindow>>,
    Named<Option<FixedWindow>>,
)>;

fn tier(minute: u32, hour: u32, day: Option<u32>) -> Tier {
    let fw = |limit, window| Some(FixedWindow { limit, window });
    Policy::new((
        Named::new("minute", fw(minute, 60_000)),
        Named::new("hour", fw(hour, 3_600_000)),
        Named::new("day", day.and_then(|d| fw(d, 86_400_000))),
    ))
}

#[test]
fn seed_001_tiers_share_one_table_and_differ_only_in_configuration() {
    let tiers = Tiers::new([
        (Plan::Free, tier(30, 500, Some(2_000))),
        (Plan::Pro, tier(120, 5_000, Some(50_000))),
        (Plan::Business, tier(600, 20_000, Some(200_000))),
        (Plan::Agency, tier(2_000, 100_000, None)),
    ]);
    let mut t = KeyTable::<(Plan, u32), _, 64>::new();
    let none = Overrides::NONE;
    for (plan, minute) in [
        (Plan::Free, 30),
        (Plan::Pro, 120),
        (Plan::Business, 600),
        (Plan::Agency, 2_000),
    ] {
        let key = (plan, 42);
        let d = t.check_policy(&tiers, key, at(0), minute, &none).unwrap();
        assert!(d.is_allowed(), "{plan:?}");
        let d = t.check_policy(&tiers, key, at(0), 1, &none).unwrap();
        assert_eq!(
            (d.limit_exceeded(), d.retry_after()),
            (Some("minute"), Some(D::from_secs(60)))
        );
        let header = d.applicable().unwrap();
        assert_eq!(
            (
                header.name,
                header.decision.limit,
                header.decision.remaining
            ),
            ("minute", minute, 0)
        );
    }
    let agency = t
        .check_policy(&tiers, (Plan::Agency, 42), at(60_000), 1, &none)
        .unwrap();
    assert_eq!(agency.reports[2].decision.limit, u32::MAX);
    assert!(agency.reports[2].allowance.is_unlimited());
    assert_eq!(agency.limited().count(), 2);
    assert_eq!(t.len(), 4);
    // Per-key memory is the state (3 × 16 bytes), the key (8) and the hash (4), whatever the
    // plan: what each further slot of a table adds.
    type State = <Tier as Algorithm<1_000>>::State;
    assert_eq!(size_of::<State>(), 3 * 16);
    let per_slot = (size_of::<KeyTable<(Plan, u32), State, 128>>()
        - size_of::<KeyTable<(Plan, u32), State, 64>>())
        / 64;
    assert_eq!(per_slot, 64);
    assert_eq!(
        t.check_policy(&tiers, (Plan::Legacy, 1), at(0), 1, &none),
        Err(TableError::NoLimit)
    );
}
