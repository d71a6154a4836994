//! The Redis store against a real `redis-server` (started by each test, on a free loopback port):
//! the same traces decided in memory by a [`KeyedPolicy`] and through the script give exactly
//! the same decisions, figure for figure.

use std::cell::{Cell, RefCell};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tollgate_core::{Gcra, Named, Overrides};
use tollgate_std::clock::FakeClock;
use tollgate_std::keyed::{KeyedError, KeyedPolicy};
use tollgate_std::redis::{At, RedisError, RedisPolicy};
use tollgate_std::{Duration, Instant, Limit, Quota};
use tollgate_testkit::redis::RedisServer;

fn server() -> (RedisServer, redis::Connection) {
    let server = RedisServer::start().expect("a redis-server for the test");
    let conn = redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("a connection to the test's redis-server");
    (server, conn)
}

fn quota() -> impl Strategy<Value = Quota> {
    (1u32..50, 1u64..2_000, 1u32..6).prop_map(|(limit, window_ms, burst)| {
        Quota::new(limit, Duration::from_millis(window_ms))
            .unwrap()
            .with_burst(burst)
            .unwrap()
    })
}

/// One limit of every algorithm the store keeps.
fn limit() -> impl Strategy<Value = Limit> {
    prop_oneof![
        quota().prop_map(|q| Limit::Gcra(Gcra::new(q))),
        // leaky-bucket: meter and shaper
        // sliding-window
        // sliding-log
        // concurrency and unlimited
    ]
}

/// A policy of one to four limits.
fn limits() -> impl Strategy<Value = Vec<Named<Limit, String>>> {
    prop::collection::vec(limit(), 1..5).prop_map(|ls| {
        ls.into_iter()
            .enumerate()
            .map(|(i, l)| Named::new(format!("l{i}"), l))
            .collect()
    })
}

/// Where a trace starts: at zero, today in nanoseconds since the Unix epoch (past 2^53, where
/// Lua's doubles round), or near the end of time.
fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1_700_000_000_000_000_000u64..1_900_000_000_000_000_000,
        Just(u64::MAX - 3_000_000_000),
    ]
}

/// One request: how far the clock moves (sometimes back), the key, the cost, and whether it is
/// only a look.
#[derive(Debug, Clone, Copy)]
struct Step {
    advance: i64,
    key: u8,
    cost: u32,
    peek: bool,
}

fn trace() -> impl Strategy<Value = Vec<Step>> {
    let step = (
        prop_oneof![
            8 => 0i64..40_000_000,
            1 => -5_000_000i64..0,
            1 => Just(0i64),
            1 => 0i64..5_000_000_000,
        ],
        0u8..3,
        0u32..7,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(advance, key, cost, peek)| Step {
            advance,
            key,
            cost,
            peek,
        });
    prop::collection::vec(step, 1..120)
}

/// Decides `trace` from `start` in memory and through Redis (namespace `ns`) and compares.
fn same_decisions(
    conn: &mut redis::Connection,
    ns: &str,
    limits: &[Named<Limit, String>],
    start: u64,
    trace: &[Step],
) -> Result<(), TestCaseError> {
    let memory = KeyedPolicy::<String, FakeClock>::with_clock(
        vec![("default".to_owned(), limits.to_vec())],
        FakeClock::new(),
    );
    let store = RedisPolicy::with_tiers(vec![("default".to_owned(), limits.to_vec())], ns)
        .expect("every generated limit is kept by the store");
    let tier = 0;
    let mut now = start;
    for (i, s) in trace.iter().enumerate() {
        now = now.saturating_add_signed(s.advance);
        let at = Instant::from_ticks(now);
        let key = format!("k{}", s.key);
        let (expected, got) = if s.peek {
            (
                memory.peek_at(tier, key.as_str(), at, s.cost),
                store.peek(conn, tier, &key, At::Instant(at), s.cost),
            )
        } else {
            (
                memory
                    .check_at(tier, key.as_str(), at, s.cost, &Overrides::NONE)
                    .map(|(d, permit)| {
                        let _ = permit.forget();
                        d
                    }),
                store.check(conn, tier, &key, At::Instant(at), s.cost),
            )
        };
        match (expected, got) {
            (Ok(e), Ok(g)) => {
                prop_assert_eq!(g.now, at);
                prop_assert_eq!(&e, &g.decided, "request {} ({:?}) at {} differs", i, s, now);
            }
            (Err(KeyedError::Capacity(e)), Err(RedisError::Capacity(g))) => prop_assert_eq!(e, g),
            (e, g) => prop_assert!(false, "request {i} ({s:?}): memory {e:?}, redis {g:?}"),
        }
    }
    Ok(())
}

#[test]
fn redis_decides_like_memory_on_random_policies_and_traces() {
    let (_server, conn) = server();
    let conn = RefCell::new(conn);
    let mut runner = TestRunner::new(Config {
        cases: Config::default().cases.min(256),
        failure_persistence: None,
        ..Config::default()
    });
    let case = Cell::new(0u64);
    runner
        .run(&(limits(), start(), trace()), |(limits, start, trace)| {
            case.set(case.get() + 1);
            let ns = format!("case{}", case.get());
            same_decisions(&mut conn.borrow_mut(), &ns, &limits, start, &trace)
        })
        .unwrap();
}
