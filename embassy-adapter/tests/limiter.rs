//! One shared GCRA limiter, awaited by many tasks in virtual time.

mod mock;

use std::cell::RefCell;

use embassy_futures::join::join_array;
use mock::{STEP_MS, clock, ms, run};
use tollgate_core::{Gcra, Quota, valid};
use tollgate_embassy::limiter::{Limiter, LimiterState};
use tollgate_embassy::throttle::Denied;
use tollgate_embassy::throttle::Keys;
use tollgate_embassy::{Duration, HZ};

/// 5 a second, 2 at once.
static STATE: LimiterState<Gcra<HZ>> = Keys::new();
static AT: Limiter<Gcra<HZ>> = Limiter::new(
    Gcra::new(valid!(Quota::per_second(5), with_burst(2))),
    Duration::from_secs(10),
    &STATE,
);

#[test]
fn waiters_on_a_gcra_go_one_interval_apart_in_order() {
    let _clock = clock();
    let went = RefCell::new(Vec::new());
    run(join_array(core::array::from_fn::<_, 20, _>(|i| {
        let went = &went;
        async move {
            let turn = AT.acquire(1).await.unwrap();
            let now = embassy_time::Instant::now().as_ticks();
            assert!(now >= turn.at.as_ticks() && now <= turn.at.as_ticks() + ms(STEP_MS));
            went.borrow_mut().push((turn.at.as_ticks(), i));
        }
    })));
    let mut went = went.into_inner();
    went.sort();
    // The burst of 2 at once, then one every 200 ms, in the order the tasks asked.
    let want: Vec<(u64, usize)> = (0..20)
        .map(|i| (ms(200 * (i as u64).saturating_sub(1)), i))
        .collect();
    assert_eq!(went, want);
    // GCRA's guarantee over the instants they went at: at most 2 + ⌊d / 200 ms⌋ in any closed
    // interval of length d.
    for &(a, _) in &went {
        for &(b, _) in went.iter().filter(|&&(b, _)| b >= a) {
            let n = went.iter().filter(|&&(t, _)| t >= a && t <= b).count() as u64;
            assert!(n <= 2 + (b - a) / ms(200), "{n} in [{a}, {b}]");
        }
    }
    // A cost above the burst can never go: an error, not a wait.
    assert!(matches!(AT.try_acquire(3), Err(Denied::Error(_))));
    assert!(run(AT.acquire(3)).is_err());
}
