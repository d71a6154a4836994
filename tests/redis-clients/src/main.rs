//! redis-rs beside fred on tollgate's decision: the same `EVALSHA` (script, keys and arguments
//! from `RedisPolicy::command`) sent by each client, in three modes, run by run interleaved.
//! Run by `.ci/bench-redis-clients.sh`, which starts the server and prints the table.
//!
//! Modes: `one` (one call at a time on one connection), `mux50` (50 calls in flight on one
//! connection: redis-rs's `ConnectionManager`, a multiplexed connection that reconnects, as
//! `RedisLimiter` uses it; fred's `Client`, which pipelines), `pool4x50` (50 in flight on 4
//! connections, round-robin per call: four `ConnectionManager`s; fred's `Pool`).
//!
//! Both clients are set up as a limiter would be: a response timeout and reconnection
//! (`BENCH_TIMEOUT_MS`, default 250, `RedisLimiter`'s `TIMEOUT`). Every command is built before
//! the clock starts (redis-rs: the `Cmd`; fred: its keys and arguments as `Bytes`), so the
//! figures are the clients' own cost: encoding, sending, reading and parsing the reply.
//!
//! Environment: `REDIS_URL` (required), `BENCH_REQUESTS` (default 100,000 decisions per mode),
//! `BENCH_KEYS` (default 100,000 keys, visited in a fixed pseudo-random order), `BENCH_RUNS`
//! (default 3), `BENCH_IN_FLIGHT` (default 50), `BENCH_POOL` (default 4), `BENCH_THREADS`
//! (default 1: tokio's current-thread runtime, as `benches/redis_throughput.rs`; more: a
//! multi-thread runtime with that many workers), `BENCH_SCRIPT` (`stub`: a script that returns a
//! constant reply of the same shape, for the clients' own cost). Prints
//! `run client mode decisions_per_second`.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant as Clock};

use fred::bytes::Bytes;
use fred::bytes_utils::Str;
use fred::prelude::{
    Builder, Client, ClientLike, Config, Key, LuaInterface, Pool, ReconnectPolicy,
    Value as FredValue,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tollgate_core::{Gcra, Named};
use tollgate_std::redis::{At, RedisPolicy};
use tollgate_std::{Limit, Quota};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The policy of `benches/redis_throughput.rs`: one GCRA limit.
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

/// The `i`-th key of the run: the fixed pseudo-random walk of `benches/redis_throughput.rs`.
fn key(i: u64, keys: u64) -> String {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
    (x % keys).to_string()
}

/// With `BENCH_SCRIPT=stub`, the script called instead of tollgate's (same keys and arguments):
/// a constant reply of the same shape (an admitted decision of one limit), so that the server's
/// time is a Lua call's and not the decision's, and the clients' own cost shows.
const STUB: &str = r#"return {1, "1700000000000000000", 1, 1000, 999, "1000000", "", "0"}"#;

/// `cmd`, an `EVALSHA`, calling the script of hash `hash` instead.
fn with_hash(cmd: &redis::Cmd, hash: &str) -> redis::Cmd {
    let mut out = redis::cmd("EVALSHA");
    out.arg(hash);
    for a in cmd.args_iter().skip(2) {
        match a {
            redis::Arg::Simple(b) => out.arg(b),
            other => panic!("not an EVALSHA argument: {other:?}"),
        };
    }
    out
}

/// One decision's `EVALSHA` for fred: its keys and its arguments (after the key count).
type FredCall = (Vec<Bytes>, Vec<Bytes>);

/// Every decision of a mode, built once, for each client.
struct Workload {
    hash: Str,
    redis: Vec<redis::Cmd>,
    fred: Vec<FredCall>,
}

/// The `EVALSHA` of `cmd` split as fred's `evalsha` takes it.
fn fred_call(cmd: &redis::Cmd) -> FredCall {
    let args: Vec<Bytes> = cmd
        .args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => Bytes::copy_from_slice(b),
            other => panic!("an argument fred cannot take: {other:?}"),
        })
        .collect();
    assert_eq!(&args[0][..], b"EVALSHA");
    let keys: usize = std::str::from_utf8(&args[2]).unwrap().parse().unwrap();
    (args[3..3 + keys].to_vec(), args[3 + keys..].to_vec())
}

/// One client's way of making decision `i`; cloned into each task.
trait Caller: Clone + Send + Sync + 'static {
    fn call(&self, i: usize) -> impl Future<Output = ()> + Send;
}

#[derive(Clone)]
struct RedisRs {
    work: Arc<Workload>,
    conns: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
}

impl Caller for RedisRs {
    async fn call(&self, i: usize) {
        let mut conn = if self.conns.len() == 1 {
            self.conns[0].clone()
        } else {
            self.conns[self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len()].clone()
        };
        let reply: redis::Value = self.work.redis[i].query_async(&mut conn).await.unwrap();
        black_box(reply);
    }
}

#[derive(Clone)]
enum FredClient {
    One(Client),
    Pool(Pool),
}

#[derive(Clone)]
struct Fred {
    work: Arc<Workload>,
    client: FredClient,
}

impl Caller for Fred {
    async fn call(&self, i: usize) {
        let (keys, args) = &self.work.fred[i];
        let keys: Vec<Key> = keys.iter().cloned().map(Key::from).collect();
        let args = FredValue::Array(args.iter().cloned().map(FredValue::Bytes).collect());
        let hash = self.work.hash.clone();
        let reply: FredValue = match &self.client {
            FredClient::One(c) => c.evalsha(hash, keys, args).await,
            FredClient::Pool(p) => p.evalsha(hash, keys, args).await,
        }
        .unwrap();
        black_box(reply);
    }
}

/// Makes decisions `0..n` with `in_flight` tasks (task `t` takes `t`, `t + in_flight`, ...);
/// decisions per second.
async fn drive(caller: impl Caller, n: usize, in_flight: usize) -> f64 {
    let started = Clock::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|t| {
            let caller = caller.clone();
            tokio::spawn(async move {
                for i in (t..n).step_by(in_flight) {
                    caller.call(i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// A fred reply as redis-rs's value, for `RedisPolicy::read` (the sanity check only).
fn to_redis(v: FredValue) -> redis::Value {
    match v {
        FredValue::Integer(i) => redis::Value::Int(i),
        FredValue::String(s) => redis::Value::BulkString(s.as_bytes().to_vec()),
        FredValue::Bytes(b) => redis::Value::BulkString(b.to_vec()),
        FredValue::Null => redis::Value::Nil,
        FredValue::Array(a) => redis::Value::Array(a.into_iter().map(to_redis).collect()),
        FredValue::Boolean(b) => redis::Value::Boolean(b),
        FredValue::Double(d) => redis::Value::Double(d),
        other => panic!("a reply the script does not give: {other:?}"),
    }
}

async fn redis_conn(client: &redis::Client, timeout: Duration) -> ConnectionManager {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(timeout);
    client
        .get_connection_manager_with_config(config)
        .await
        .unwrap()
}

fn fred_builder(url: &str, timeout: Duration) -> Builder {
    let mut builder = Builder::from_config(Config::from_url(url).unwrap());
    builder
        .with_connection_config(|c| c.connection_timeout = timeout)
        .with_performance_config(|p| p.default_command_timeout = timeout)
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            10,
            timeout.as_millis() as u32,
            2,
        ));
    builder
}

fn main() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let n = env("BENCH_REQUESTS", 100_000) as usize;
    let keys = env("BENCH_KEYS", 100_000);
    let runs = env("BENCH_RUNS", 3);
    let in_flight = env("BENCH_IN_FLIGHT", 50) as usize;
    let pool = env("BENCH_POOL", 4) as usize;
    let threads = env("BENCH_THREADS", 1) as usize;
    let timeout = Duration::from_millis(env("BENCH_TIMEOUT_MS", 250));

    let policy = policy();
    let stub = std::env::var("BENCH_SCRIPT").is_ok_and(|s| s == "stub");
    let (source, hash) = if stub {
        (STUB, redis::Script::new(STUB).get_hash().to_owned())
    } else {
        let source = RedisPolicy::script_source();
        (source, policy.script_hash().to_owned())
    };
    let command = |key: &str| {
        let cmd = policy.command(0, key, At::Server, 1).unwrap().cmd;
        if stub { with_hash(&cmd, &hash) } else { cmd }
    };
    let redis_cmds: Vec<redis::Cmd> = (0..n as u64).map(|i| command(&key(i, keys))).collect();
    let fred_cmds = redis_cmds.iter().map(fred_call).collect();
    let work = Arc::new(Workload {
        hash: Str::from(hash.as_str()),
        redis: redis_cmds,
        fred: fred_cmds,
    });

    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    }
    .enable_all()
    .build()
    .unwrap();

    runtime.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let conns: Vec<ConnectionManager> = {
            let mut v = Vec::new();
            for _ in 0..pool.max(1) {
                v.push(redis_conn(&client, timeout).await);
            }
            v
        };
        let hash: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(source)
            .query_async(&mut conns[0].clone())
            .await
            .unwrap();
        assert_eq!(hash, &*work.hash);

        let fred_one = fred_builder(&url, timeout).build().unwrap();
        fred_one.init().await.unwrap();
        let fred_pool = fred_builder(&url, timeout).build_pool(pool).unwrap();
        fred_pool.init().await.unwrap();

        // Both clients get decisions the policy reads (on keys of their own).
        for (who, key) in [("redis-rs", "sanity-redis"), ("fred", "sanity-fred")] {
            let mut sent = policy.command(0, key, At::Server, 1).unwrap();
            let cmd = if stub {
                with_hash(&sent.cmd, &hash)
            } else {
                std::mem::take(&mut sent.cmd)
            };
            let reply = if who == "redis-rs" {
                cmd.query_async(&mut conns[0].clone()).await.unwrap()
            } else {
                let (k, a) = fred_call(&cmd);
                let reply: FredValue = fred_one
                    .evalsha(
                        work.hash.clone(),
                        k.into_iter().map(Key::from).collect::<Vec<_>>(),
                        FredValue::Array(a.into_iter().map(FredValue::Bytes).collect()),
                    )
                    .await
                    .unwrap();
                to_redis(reply)
            };
            let decision = policy.read(sent, &reply).unwrap();
            assert!(decision.decided.is_allowed(), "{who}: {decision:?}");
        }

        let redis_one = RedisRs {
            work: work.clone(),
            conns: conns[..1].into(),
            next: Arc::default(),
        };
        let redis_pool = RedisRs {
            work: work.clone(),
            conns: conns.into(),
            next: Arc::default(),
        };
        let fred_one = Fred {
            work: work.clone(),
            client: FredClient::One(fred_one),
        };
        let fred_pool = Fred {
            work: work.clone(),
            client: FredClient::Pool(fred_pool),
        };
        let mux = format!("mux{in_flight}");
        let pooled = format!("pool{pool}x{in_flight}");
        for run in 1..=runs {
            // The client that goes first alternates, run by run.
            let order: [&str; 2] = if run % 2 == 1 {
                ["redis-rs", "fred"]
            } else {
                ["fred", "redis-rs"]
            };
            for (mode, tasks) in [
                ("one", 1),
                (mux.as_str(), in_flight),
                (pooled.as_str(), in_flight),
            ] {
                for who in order {
                    let rate = match (who, mode == pooled) {
                        ("redis-rs", false) => drive(redis_one.clone(), n, tasks).await,
                        ("redis-rs", true) => drive(redis_pool.clone(), n, tasks).await,
                        (_, false) => drive(fred_one.clone(), n, tasks).await,
                        (_, true) => drive(fred_pool.clone(), n, tasks).await,
                    };
                    println!("{run} {who} {mode} {rate:.0}");
                }
            }
        }
    });
}
