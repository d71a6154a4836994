//! Plan tiers from a policy file, per key, shared by threads: `cargo run -p tollgate-std --example plans`.
//!
//! Loads `examples/policies/001-plan-tiers.toml` (Free 30/min, 500/h, 2,000/day ... Agency
//! 2,000/min, 100,000/h, unlimited/day), gives four accounts one plan each, and lets four threads
//! send for each account one request every 500 ms of simulated time for two hours (a fake clock
//! the threads advance together, so the run takes a moment). It prints, per account, how many
//! requests went through and which limit denied the others: the plan's numbers, exactly.

use std::collections::BTreeMap;
use std::sync::Barrier;

use tollgate_std::clock::FakeClock;
use tollgate_std::config::PolicyFile;
use tollgate_std::keyed::KeyedPolicy;
use tollgate_std::{Duration, Instant};

const STEP_MS: u64 = 500;
const STEPS: u64 = 2 * 3_600 * 1_000 / STEP_MS;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/policies/001-plan-tiers.toml"
    );
    let file = PolicyFile::load(path)?;
    let clock = FakeClock::new();
    let plans = KeyedPolicy::<String, _>::with_clock(
        file.tiers
            .iter()
            .map(|t| (t.name.clone(), t.limits.clone()))
            .collect(),
        clock.clone(),
    );
    let accounts = ["free", "pro", "business", "agency"];
    // Each thread sends for every account, at the same simulated instants.
    let threads = 4;
    let barrier = Barrier::new(threads);
    let tallies: Vec<BTreeMap<(String, String), u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (plans, clock, barrier) = (&plans, &clock, &barrier);
                s.spawn(move || {
                    let mut tally = BTreeMap::new();
                    for step in 0..STEPS {
                        if t == 0 {
                            clock.set(Instant::from_ticks(step * STEP_MS * 1_000_000));
                        }
                        barrier.wait();
                        for plan in accounts {
                            let tier = plans.tier(plan).expect("the file names this plan");
                            let (d, _) = plans
                                .check(tier, &format!("acct-{plan}"), 1)
                                .expect("a unit fits");
                            let outcome = d.limit_exceeded().unwrap_or("admitted").to_owned();
                            *tally.entry((plan.to_owned(), outcome)).or_insert(0) += 1;
                        }
                        barrier.wait();
                    }
                    tally
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let mut total: BTreeMap<(String, String), u64> = BTreeMap::new();
    for tally in tallies {
        for (k, n) in tally {
            *total.entry(k).or_insert(0) += n;
        }
    }
    let sent = threads as u64 * STEPS;
    println!(
        "{sent} requests per account over {} of simulated time ({threads} threads, one request each every {STEP_MS} ms)\n",
        tollgate_std::config::format_duration(Duration::from_millis(STEPS * STEP_MS))
    );
    println!(
        "{:<10} {:>9} {:>14} {:>14}",
        "plan", "admitted", "denied: minute", "denied: hour"
    );
    for plan in accounts {
        let n = |what: &str| {
            total
                .get(&(plan.to_owned(), what.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        println!(
            "{plan:<10} {:>9} {:>14} {:>14}",
            n("admitted"),
            n("minute"),
            n("hour")
        );
    }
    Ok(())
}
