//! Config construction from arbitrary numbers: a typed error or a valid limiter, never a panic,
//! and a valid quota always honours its own invariants.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{Duration, Gcra, Instant, Quota};

#[derive(Debug, Arbitrary)]
struct Input {
    limit: u32,
    window: u64,
    secs: u64,
    burst: u32,
    now: u64,
    cost: u32,
}

fn exercise<const HZ: u64>(q: Quota<HZ>, burst: u32, now: u64, cost: u32) {
    // The interval never rounds down: limit intervals cover the window.
    assert!(u128::from(q.interval().as_ticks()) * u128::from(q.limit()) >= u128::from(q.window().as_ticks()));
    assert!(q.interval().as_ticks() >= 1);
    if let Ok(q) = q.with_burst(burst) {
        assert_eq!(q.burst(), burst);
        assert!(q.interval().as_ticks().checked_mul(u64::from(burst)).is_some());
        let g = Gcra::new(q);
        let mut s = g.new_state();
        let now = Instant::<HZ>::from_ticks(now);
        match g.check(&mut s, now, cost) {
            Ok(d) => assert!(d.remaining <= d.limit),
            Err(e) => assert!(e.cost > e.capacity),
        }
        let _ = g.try_acquire(&mut s, now);
    }
}

fn run<const HZ: u64>(i: &Input) {
    if let Ok(q) = Quota::<HZ>::new(i.limit, Duration::<HZ>::from_ticks(i.window)) {
        exercise(q, i.burst, i.now, i.cost);
    }
    if let Ok(q) = Quota::<HZ>::per_seconds(i.limit, i.secs) {
        exercise(q, i.burst, i.now, i.cost);
    }
    for q in [Quota::<HZ>::per_second(i.limit), Quota::<HZ>::per_minute(i.limit), Quota::<HZ>::per_hour(i.limit), Quota::<HZ>::per_day(i.limit)]
        .into_iter()
        .flatten()
    {
        exercise(q, i.burst, i.now, i.cost);
    }
}

fuzz_target!(|i: Input| {
    run::<1>(&i);
    run::<1_000>(&i);
    run::<32_768>(&i);
    run::<1_000_000_000>(&i);
    run::<{ u64::MAX }>(&i);
});
