//! Decisions per second through Redis over loopback: tollgate's `RedisPolicy` on one blocking
//! connection (one call at a time, and pipelined), and on one multiplexed async connection with
//! many calls in flight. Run by `.ci/bench-redis.sh`, which starts the server, runs
//! `redis-benchmark` with the same `EVALSHA` beside it and prints the ratios.
//!
//! Environment: `REDIS_URL` (required), `BENCH_REQUESTS` (default 200,000 per case),
//! `BENCH_KEYS` (default 100,000 keys, visited in a fixed pseudo-random order, as
//! redis-benchmark's `-r`), `BENCH_IN_FLIGHT` (default 50, as its `-c`), `BENCH_PIPELINE`
//! (default 16, as its `-P`). Prints one line per case: `name decisions_per_second`.

use std::sync::Arc;
use std::time::Instant as Clock;

use tollgate_core::{Gcra, Named};
use tollgate_std::redis::{At, RedisPolicy};
use tollgate_std::{Limit, Quota};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The benchmark's policy: one GCRA limit, as `.ci/bench-redis.sh` gives redis-benchmark.
fn policy() -> RedisPolicy {
    let limit = Limit::Gcra(Gcra::new(Quota::per_second(1_000).unwrap()));
    RedisPolicy::with_tiers(
        vec![(
            "default".to_owned(),
            vec![Named::new("second".to_owned(), limit)],
        )],
        "bench",
    )
    .unwrap()
}

/// The `i`-th key of the run: a fixed pseudo-random walk over `keys` keys.
fn key(i: u64, keys: u64) -> String {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
    (x % keys).to_string()
}

fn report(name: &str, n: u64, started: Clock) {
    let secs = started.elapsed().as_secs_f64();
    println!("{name} {:.0}", n as f64 / secs);
}

fn main() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let n = env("BENCH_REQUESTS", 200_000);
    let keys = env("BENCH_KEYS", 100_000);
    let in_flight = env("BENCH_IN_FLIGHT", 50);
    let pipeline = env("BENCH_PIPELINE", 16);
    let policy = Arc::new(policy());
    let client = redis::Client::open(url.as_str()).unwrap();

    let mut conn = client.get_connection().unwrap();
    // Loads the script (the first call of each case would otherwise pay for it).
    policy.check(&mut conn, 0, "warm", At::Server, 1).unwrap();

    // Print the command for redis-benchmark: the same EVALSHA, its key replaced by __rand_int__
    // (the script is loaded now), arguments separated by the ASCII unit separator.
    if std::env::args().any(|a| a == "--command") {
        let cmd = policy.command(0, "__rand_int__", At::Server, 1).unwrap();
        let args: Vec<String> = cmd
            .cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("an argument redis-benchmark cannot take: {other:?}"),
            })
            .collect();
        println!("{}", args.join("\u{1f}"));
        return;
    }

    let started = Clock::now();
    for i in 0..n {
        let d = policy
            .check(&mut conn, 0, &key(i, keys), At::Server, 1)
            .unwrap();
        std::hint::black_box(d.decided.is_allowed());
    }
    report("tollgate-one-connection", n, started);

    let started = Clock::now();
    let mut i = 0;
    while i < n {
        let mut pipe = redis::pipe();
        let batch = pipeline.min(n - i);
        let mut commands = Vec::new();
        for j in 0..batch {
            let mut c = policy.command(0, &key(i + j, keys), At::Server, 1).unwrap();
            pipe.add_command(std::mem::take(&mut c.cmd));
            commands.push(c);
        }
        let replies: Vec<redis::Value> = pipe.query(&mut conn).unwrap();
        for (c, r) in commands.into_iter().zip(&replies) {
            std::hint::black_box(policy.read(c, r).unwrap().decided.is_allowed());
        }
        i += batch;
    }
    report(&format!("tollgate-pipelined-{pipeline}"), n, started);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let started = Clock::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|t| {
                let (policy, mut conn) = (policy.clone(), conn.clone());
                tokio::spawn(async move {
                    let mut i = t;
                    while i < n {
                        let d = policy
                            .check_async(&mut conn, 0, &key(i, keys), At::Server, 1)
                            .await
                            .unwrap();
                        std::hint::black_box(d.decided.is_allowed());
                        i += in_flight;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        report(&format!("tollgate-multiplexed-{in_flight}"), n, started);
    });
}
