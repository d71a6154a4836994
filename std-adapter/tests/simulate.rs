//! The simulation decides exactly as the library's `KeyedPolicy` does, for every example policy
//! file and random traces (keys, tiers, costs, holds), figure for figure.

use std::borrow::Cow;
use std::path::Path;

use proptest::prelude::*;
use tollgate_core::Overrides;
use tollgate_std::clock::FakeClock;
use tollgate_std::keyed::{KeyPermit, KeyedError};
use tollgate_std::simulate::{Request, Simulation};
use tollgate_std::{Instant, KeyedPolicy, PolicyFile};

/// A policy file: the examples', and this folder's `policies/`.
fn example(name: &str) -> PolicyFile {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = match name.strip_prefix("tests/") {
        Some(name) => root.join("tests/policies").join(name),
        None => root.join("examples/policies").join(name),
    };
    PolicyFile::load(path).unwrap()
}

const FILES: [&str; 7] = [
    "000-concurrent-minute-quarter.toml",
    "001-plan-tiers.toml",
    "002-four-buckets.toml",
    "003-carrier-per-number.toml",
    "004-rolling-hour-day.toml",
    "nginx-limit-req.toml",
    "tests/single-limits.toml",
];

/// (time step ms, key, cost, hold ms, tier pick)
fn trace() -> impl Strategy<Value = Vec<(u64, u8, u32, Option<u64>, u8)>> {
    prop::collection::vec(
        (
            prop_oneof![3 => 0u64..5, 1 => 0u64..2_000, 1 => 0u64..120_000],
            0u8..4,
            prop_oneof![8 => Just(1u32), 1 => 0u32..4, 1 => Just(1_000_000)],
            prop::option::weighted(0.4, prop_oneof![2 => 0u64..6, 1 => 0u64..3_000]),
            any::<u8>(),
        ),
        1..300,
    )
}

/// The library's figures for one request, as the simulation reports them.
type Figures = (
    bool,
    Option<u32>,
    Option<u32>,
    u64,
    Option<u64>,
    Option<String>,
    u64,
);

fn ms_up(ticks: u64) -> u64 {
    ticks.div_ceil(1_000_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn simulation_decides_like_keyed_policy(file in 0usize..FILES.len(), trace in trace()) {
        let file = example(FILES[file]);
        let mut sim = Simulation::new(&file, None).unwrap();
        let clock = FakeClock::new();
        let policy = KeyedPolicy::<String, _>::with_clock(
            {
                let mut tiers = Vec::new();
                if !file.limits.is_empty() {
                    tiers.push(("default".to_string(), file.limits.clone()));
                }
                tiers.extend(file.tiers.iter().map(|t| (t.name.clone(), t.limits.clone())));
                tiers
            },
            clock.clone(),
        );
        let tier_names: Vec<String> = if file.limits.is_empty() {
            file.tiers.iter().map(|t| t.name.clone()).collect()
        } else {
            vec!["default".to_string()]
        };
        // Permits held until (ms, sequence).
        let mut held: Vec<(u64, usize, KeyPermit<String, FakeClock>)> = Vec::new();
        let mut t = 0u64;
        for (line, (dt, key, cost, hold, pick)) in trace.into_iter().enumerate() {
            t += dt;
            let key = format!("k{key}");
            let tier = &tier_names[usize::from(pick) % tier_names.len()];
            // Holds end first, in time order, at their own instants.
            held.sort_by_key(|&(at, seq, _)| (at, seq));
            while held.first().is_some_and(|&(at, _, _)| at <= t) {
                let (at, _, permit) = held.remove(0);
                clock.set(Instant::from_ticks(at * 1_000_000));
                drop(permit);
            }
            clock.set(Instant::from_ticks(t * 1_000_000));
            let id = policy.tier(tier).unwrap();
            let now = Instant::from_ticks(t * 1_000_000);
            let want: Figures = match policy.check_at(id, key.as_str(), now, cost, &Overrides::NONE) {
                Ok((d, permit)) => {
                    let binding = d.applicable().map(|r| r.decision);
                    let figures = (
                        d.is_allowed(),
                        binding.map(|b| b.limit),
                        binding.map(|b| b.remaining),
                        binding.map_or(0, |b| ms_up(b.reset.as_ticks())),
                        d.retry_after().map(|w| ms_up(w.as_ticks())),
                        d.limit_exceeded().map(str::to_string),
                        ms_up(d.delay().as_ticks()),
                    );
                    match hold {
                        Some(h) if h > 0 && permit.holds() => held.push((t + h, line, permit)),
                        _ => drop(permit),
                    }
                    figures
                }
                Err(KeyedError::Capacity(e)) => {
                    let seen = policy.peek_at(id, key.as_str(), now, 0).unwrap();
                    let r = seen.reports()[e.index.unwrap()].decision;
                    (
                        false,
                        Some(e.capacity),
                        Some(r.remaining),
                        ms_up(r.reset.as_ticks()),
                        None,
                        Some(seen.reports()[e.index.unwrap()].name.to_string()),
                        0,
                    )
                }
                Err(e) => panic!("{e}"),
            };
            let request = Request {
                t_ms: t,
                key: Some(Cow::Borrowed(key.as_str())),
                cost,
                hold_ms: hold,
                tier: Some(Cow::Borrowed(tier.as_str())),
            };
            if line % 7 == 0 {
                sim.prefetch([&request]); // a hint: changes nothing
            }
            let got = sim.decide(line as u64 + 1, &request).unwrap();
            let got: Figures = (
                got.allowed,
                got.limit,
                got.remaining,
                got.reset_ms,
                got.retry_after_ms,
                got.exceeded.map(str::to_string),
                got.delay_ms,
            );
            prop_assert_eq!(got, want, "line {} at {} ms", line + 1, t);
        }
        // Counted from the decisions, every sliding log, sliding window and concurrency limit
        // held: never more than its count in any window of its length, or in flight.
        let summary = sim.finish();
        prop_assert!(summary.limits_held(), "{:?}", summary.limits);
    }
}
