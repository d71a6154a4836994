//! On single-threaded traces the thread-safe and keyed limiters decide exactly like the core
//! deciding on a state of its own, and GCRA's admissions obey the test kit's reference model.

use std::collections::HashMap;

use proptest::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tollgate_core::{
    Algorithm, Concurrency, Gcra, Meter, Named, Overrides, Policy, Report, Shaper,
};

use tollgate_core::Clock;
use tollgate_std::clock::{Counter, FakeClock, Scale};
use tollgate_std::keyed::{Denied, KeyedLimiter, KeyedPolicy};
use tollgate_std::{Duration, Instant, Limit, LimitState, Limiter, NotUntil, Quota, SharedPolicy};
use tollgate_testkit::models::gcra::Model;

/// One request of a trace: time step (ns), key, cost.
fn trace() -> impl Strategy<Value = Vec<(u64, u8, u32)>> {
    prop::collection::vec((0u64..40_000_000, 0u8..6, 0u32..4), 1..200)
}

fn quota() -> impl Strategy<Value = Quota> {
    (1u32..50, 1u64..2_000, 1u32..6).prop_map(|(limit, window_ms, burst)| {
        Quota::new(limit, Duration::from_millis(window_ms))
            .unwrap()
            .with_burst(burst)
            .unwrap()
    })
}

/// A policy of several algorithms, as a file might give.
fn limits() -> impl Strategy<Value = Vec<Named<Limit, String>>> {
    let one = prop_oneof![
        quota().prop_map(|q| Limit::Gcra(Gcra::new(q))),
        quota().prop_map(|q| Limit::Meter(Meter::new(q))),
        (quota(), 0u64..500)
            .prop_map(|(q, d)| Limit::Shaper(Shaper::new(q, Duration::from_millis(d)).unwrap())),
        (1u32..20, 1u64..3_000).prop_map(|(n, w)| Limit::sliding_log(
            n,
            Duration::from_millis(w),
            n as usize
        )
        .unwrap()),
        (1u32..20, 2u64..3_000, 2usize..12).prop_filter_map("valid window", |(n, w, b)| {
            Limit::sliding_window(n, Duration::from_millis(w), b).ok()
        }),
        (1u32..5).prop_map(|n| Limit::Concurrency(Concurrency::new(n).unwrap())),
        Just(Limit::Unlimited),
    ];
    prop::collection::vec(one, 1..5).prop_map(|ls| {
        ls.into_iter()
            .enumerate()
            .map(|(i, l)| Named::new(format!("l{i}"), l))
            .collect()
    })
}

/// A clock read in raw counts of any rate, as `StdClock` reads the time-stamp counter.
#[derive(Debug, Clone)]
struct Counts {
    count: Arc<AtomicU64>,
    scale: Scale,
}

impl Clock<{ tollgate_std::HZ }> for Counts {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.scale.ticks(self.count()))
    }
}

impl Counter for Counts {
    fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    fn scale(&self) -> Scale {
        self.scale
    }
}

proptest! {
    /// On a clock of raw counts (0.25 to 4 ns each, any origin) the limiter is never looser than
    /// the quota in nanoseconds (the model judges every admission at its instant), and a denial's
    /// wait, slept, admits.
    #[test]
    fn limiter_on_raw_counts_is_never_looser_and_its_waits_suffice(
        q in quota(),
        mul in (1u64 << 30)..(1u64 << 34),
        origin in 0u64..1 << 50,
        trace in trace(),
    ) {
        let clock = Counts { count: Arc::new(AtomicU64::new(origin)), scale: Scale::new(origin, mul).unwrap() };
        let limiter = Limiter::with_clock(q, clock.clone());
        let mut model = Model::new(q.burst(), q.interval().as_ticks());
        for (i, (dt, _, cost)) in trace.into_iter().enumerate() {
            clock.count.fetch_add(dt, Ordering::SeqCst);
            let now = clock.now().as_ticks();
            let cost = cost.min(q.burst());
            let retry = if i % 2 == 0 {
                match limiter.check() {
                    Ok(()) => { prop_assert!(model.admits(now, 1), "admitted at {now} ns"); model.record(now, 1); None }
                    Err(e) => Some((e.retry_after(), 1)),
                }
            } else {
                let d = limiter.decide(cost).unwrap();
                if d.is_allowed() {
                    prop_assert!(model.admits(now, u64::from(cost)), "admitted {cost} at {now} ns");
                    model.record(now, u64::from(cost));
                    None
                } else {
                    d.retry_after.map(|w| (w, cost))
                }
            };
            if let Some((wait, cost)) = retry {
                // Sleeping the wait moves the counter on by at least its counts.
                clock.count.fetch_add(clock.scale.counts_in(wait.as_ticks()), Ordering::SeqCst);
                let now = clock.now().as_ticks();
                let d = limiter.decide(cost).unwrap();
                prop_assert!(d.is_allowed(), "still denied after the wait {wait:?}");
                prop_assert!(model.admits(now, u64::from(cost)));
                model.record(now, u64::from(cost));
            }
        }
    }

    #[test]
    fn limiter_decides_like_the_core_and_the_model(q in quota(), trace in trace()) {
        let clock = FakeClock::new();
        let limiter = Limiter::with_clock(q, clock.clone());
        let gcra = Gcra::new(q);
        let mut state = gcra.new_state();
        let mut model = Model::new(q.burst(), q.interval().as_ticks());
        let mut now = 0;
        for (i, (dt, _, cost)) in trace.into_iter().enumerate() {
            now += dt;
            let at = Instant::from_ticks(now);
            if i % 3 == 0 {
                // The fast path: one unit.
                let want = gcra.try_acquire(&mut state, at);
                prop_assert_eq!(model.admits(now, 1), want.is_ok());
                if want.is_ok() { model.record(now, 1); }
                prop_assert_eq!(limiter.check_at(at), want.map_err(NotUntil::from));
            } else {
                let want = gcra.check(&mut state, at, cost);
                if let Ok(d) = &want {
                    prop_assert_eq!(model.admits(now, u64::from(cost)), d.is_allowed());
                    if d.is_allowed() { model.record(now, u64::from(cost)); }
                }
                prop_assert_eq!(limiter.decide_at(at, cost), want);
            }
            prop_assert_eq!(limiter.state(), state);
        }
    }

    #[test]
    fn shared_policy_decides_like_the_core(limits in limits(), trace in trace(), releases in prop::collection::vec(any::<bool>(), 200)) {
        let clock = FakeClock::new();
        let shared = SharedPolicy::with_clock(limits.clone(), clock.clone());
        let policy = Policy::new(&limits[..]);
        let mut state: Vec<LimitState> = limits.iter().map(|l| l.algorithm().new_state()).collect();
        let mut out = vec![Report::EMPTY; limits.len()];
        let mut permits = Vec::new();
        let mut now = 0;
        for ((dt, _, cost), release) in trace.into_iter().zip(releases) {
            now += dt;
            let at = Instant::from_ticks(now);
            let want = policy.check_into(&mut state, at, cost, &Overrides::NONE, &mut out);
            let got = shared.check_at(at, cost, &Overrides::NONE);
            match (want, got) {
                (Ok(w), Ok((g, permit))) => {
                    prop_assert_eq!(w.outcome, g.outcome);
                    prop_assert_eq!(w.reports, &g.reports[..]);
                    if w.is_allowed() { permits.push((permit, cost)); }
                }
                (Err(w), Err(g)) => prop_assert_eq!(w, g),
                (w, g) => prop_assert!(false, "core {:?}, shared {:?}", w.map(|d| d.outcome), g.map(|d| d.0.outcome)),
            }
            // Now and then a request in flight ends: the core releases what the permit does.
            if release && let Some((permit, cost)) = permits.pop() {
                drop(permit);
                policy.release(&mut state, cost).unwrap();
            }
        }
    }

    #[test]
    fn keyed_limiter_decides_like_the_core_per_key(q in quota(), trace in trace()) {
        let clock = FakeClock::new();
        let keyed = KeyedLimiter::<String, _>::with_clock(q, clock.clone());
        let gcra = Gcra::new(q);
        let mut states = HashMap::new();
        let mut now = 0;
        for (i, (dt, key, cost)) in trace.into_iter().enumerate() {
            now += dt;
            let at = Instant::from_ticks(now);
            let key = format!("key-{key}");
            let state = states.entry(key.clone()).or_insert_with(|| gcra.new_state());
            if i % 2 == 0 {
                let want = gcra.try_acquire(state, at).map_err(|e| Denied::Limited(e.into()));
                prop_assert_eq!(keyed.check_at(key.as_str(), at), want);
            } else {
                let want = gcra.check(state, at, cost).map_err(Into::into);
                prop_assert_eq!(keyed.decide_at(key.as_str(), at, cost), want);
            }
        }
        // Keys at rest were dropped or will be: never more held than seen.
        prop_assert!(keyed.len() <= states.len());
    }

    #[test]
    fn keyed_policy_decides_like_the_core_per_key_and_tier(
        free in limits(), pro in limits(), trace in trace(),
    ) {
        let clock = FakeClock::new();
        let keyed = KeyedPolicy::<String, _>::with_clock(
            vec![("free".into(), free.clone()), ("pro".into(), pro.clone())],
            clock.clone(),
        );
        let tiers = [free, pro];
        let mut states: HashMap<(usize, String), Vec<LimitState>> = HashMap::new();
        let mut now = 0;
        for (dt, key, cost) in trace {
            now += dt;
            let at = Instant::from_ticks(now);
            let tier = usize::from(key % 2);
            let limits = &tiers[tier];
            let key = format!("acct-{}", key / 2);
            let state = states
                .entry((tier, key.clone()))
                .or_insert_with(|| limits.iter().map(|l| l.algorithm().new_state()).collect());
            let mut out = vec![Report::EMPTY; limits.len()];
            let policy = Policy::new(&limits[..]);
            let want = policy.check_into(state, at, cost, &Overrides::NONE, &mut out);
            let got = keyed.check_at(tier, key.as_str(), at, cost, &Overrides::NONE);
            match (want, got) {
                (Ok(w), Ok((g, permit))) => {
                    prop_assert_eq!(w.outcome, g.outcome);
                    prop_assert_eq!(w.reports, &g.reports[..]);
                    // Requests stay in flight: the model never releases either.
                    let _ = permit.forget();
                }
                (Err(w), Err(g)) => prop_assert_eq!(tollgate_std::keyed::KeyedError::from(w), g),
                (w, g) => prop_assert!(false, "core {:?}, keyed {:?}", w.map(|d| d.outcome), g.map(|d| d.0.outcome)),
            }
        }
    }
}
