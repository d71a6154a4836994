//! Waiting: blocking waits end when the core says, async waits too (on tokio's paused clock),
//! and an abandoned wait leaks no capacity.

use std::time::Duration as StdDuration;

use tollgate_core::{Concurrency, Named};
use tollgate_std::{Limit, SharedPolicy};

fn named(name: &str, limit: Limit) -> Named<Limit, String> {
    Named::new(name.to_owned(), limit)
}

#[test]
fn a_blocked_waiter_is_woken_by_a_release() {
    let policy = SharedPolicy::new(vec![named(
        "concurrent",
        Limit::Concurrency(Concurrency::new(1).unwrap()),
    )]);
    let (_, held) = policy.check(1).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = std::time::Instant::now();
            let (d, permit) = policy.wait(1).unwrap();
            assert!(d.is_allowed() && permit.holds());
            start.elapsed()
        });
        std::thread::sleep(StdDuration::from_millis(20));
        drop(held);
        let waited = waiter.join().unwrap();
        // Woken by the release, not by the idle poll's timeout.
        assert!(waited >= StdDuration::from_millis(15), "{waited:?}");
        assert!(
            waited < tollgate_std::IDLE_POLL + StdDuration::from_millis(15),
            "{waited:?}"
        );
    });
}

#[cfg(feature = "tokio")]
mod tokio_waits {
    use super::*;
    use tollgate_core::{Clock, Gcra};
    use tollgate_std::clock::TokioClock;
    use tollgate_std::{Duration, Limiter, Quota};

    #[tokio::test(start_paused = true)]
    async fn until_ready_waits_exactly_the_retry_after() {
        let clock = TokioClock::new();
        let limiter =
            Limiter::with_clock(Quota::per_second(2).unwrap().with_burst(1).unwrap(), clock);
        assert!(limiter.until_ready(1).await.unwrap().is_allowed());
        let d = limiter.until_ready(1).await.unwrap();
        assert!(d.is_allowed());
        assert_eq!(clock.now().as_ticks(), 500_000_000); // one interval later, not a poll
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_wait_takes_nothing_from_a_limiter() {
        let clock = TokioClock::new();
        let limiter =
            Limiter::with_clock(Quota::per_second(1).unwrap().with_burst(1).unwrap(), clock);
        limiter.check().unwrap();
        let before = limiter.state();
        // Give up after 300 ms of a 1 s wait.
        let gave_up =
            tokio::time::timeout(StdDuration::from_millis(300), limiter.until_ready(1)).await;
        assert!(gave_up.is_err());
        assert_eq!(limiter.state(), before);
        tokio::time::sleep(StdDuration::from_millis(700)).await;
        assert!(
            limiter.check().is_ok(),
            "the full second's allowance is there"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_wait_leaks_no_permit() {
        let clock = TokioClock::new();
        let rate = Gcra::new(Quota::new(10, Duration::from_secs(60)).unwrap());
        let policy = SharedPolicy::with_clock(
            vec![
                named(
                    "concurrent",
                    Limit::Concurrency(Concurrency::new(1).unwrap()),
                ),
                named("minute", Limit::Gcra(rate)),
            ],
            clock,
        );
        let (_, held) = policy.check(1).unwrap();
        let gave_up =
            tokio::time::timeout(StdDuration::from_millis(120), policy.until_ready(1)).await;
        assert!(gave_up.is_err());
        drop(held);
        // One place in flight, and the minute charged once: the abandoned wait took nothing.
        let (d, permit) = policy.check(1).unwrap();
        assert!(d.is_allowed() && permit.holds());
        assert_eq!(d.reports[1].decision.remaining, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn an_async_waiter_is_woken_by_a_release() {
        let clock = TokioClock::new();
        let policy = SharedPolicy::with_clock(
            vec![named(
                "concurrent",
                Limit::Concurrency(Concurrency::new(1).unwrap()),
            )],
            clock,
        );
        let (_, held) = policy.check(1).unwrap();
        let waiter = {
            let policy = policy.clone();
            tokio::spawn(async move {
                let (d, _permit) = policy.until_ready(1).await.unwrap();
                (d.is_allowed(), policy.clock().now())
            })
        };
        tokio::time::sleep(StdDuration::from_millis(5)).await;
        drop(held);
        let (allowed, at) = waiter.await.unwrap();
        assert!(allowed);
        assert!(
            at.as_ticks() < 50_000_000,
            "woken at {at}, not at the idle poll"
        );
    }
}
