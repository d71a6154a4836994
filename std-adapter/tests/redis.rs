//! The Redis store against a real `redis-server` (started by each test, on a free loopback port):
//! the same traces decided by the core's policy on each key's own states (what every in-memory
//! limiter runs) and through the script give exactly the same decisions, figure for figure; the
//! limiter's failure policy against a server that dies, comes back, or is slow; threads on
//! separate connections never exceed the limit.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

use compact_str::CompactString;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tollgate_core::{
    Algorithm, Allowance, Concurrency, Gcra, Meter, Named, Overrides, Policy, Report, Shaper,
};
use tollgate_std::keyed::KeyedPolicy;
use tollgate_std::redis::{At, Hold, OnFailure, Outcome, RedisError, RedisLimiter, RedisPolicy};
use tollgate_std::{Duration, Instant, Limit, LimitState, Quota};
use tollgate_testkit::redis::{RedisCluster, RedisServer};

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
        // leaky-bucket: meter and shaper, on the common quotas and on intervals of odd ticks,
        // huge bursts and buckets of nearly u64::MAX ticks; the shaper with no queue (GCRA),
        // short and long queues, delays of odd ticks, and the longest queue the quota allows.
        (
            prop_oneof![
                4 => quota(),
                2 => (
                    1u32..50,
                    1u64..3_000_000_000,
                    prop_oneof![1u32..6, Just(1_000), Just(u32::MAX)],
                )
                    .prop_filter_map("a valid quota", |(n, w, b)| {
                        Quota::new(n, Duration::from_ticks(w)).ok()?.with_burst(b).ok()
                    }),
                1 => (1u32..4).prop_map(|b| {
                    Quota::new(1, Duration::from_ticks(u64::MAX / u64::from(b)))
                        .unwrap()
                        .with_burst(b)
                        .unwrap()
                }),
            ],
            0u8..8,
            any::<u64>(),
        )
            .prop_map(|(q, kind, d)| {
                let t = q.interval().as_ticks();
                let bt = t * u64::from(q.burst());
                // The longest queue: b·T + max_delay reaches u64::MAX, or the limit u32::MAX.
                let most = (u64::MAX - bt).min(t.saturating_mul(u64::from(u32::MAX - q.burst())));
                let max_delay = match kind {
                    0..=2 => return Limit::Meter(tollgate_core::Meter::new(q)),
                    3 => 0,
                    4 => d % 500_000_000,
                    5 => d % 20_000_000_000,
                    6 => d % t.saturating_mul(8).saturating_add(1),
                    _ => most,
                }
                .min(most);
                let shaper = tollgate_core::Shaper::new(q, Duration::from_ticks(max_delay));
                Limit::Shaper(shaper.unwrap())
            }),
        // sliding-window: 2 buckets to the 1,440 of a shipped policy, buckets of one tick (an
        // exact window) to seconds and windows of up to 2^63 ticks (instants past the end of
        // time), limits of one to u32::MAX.
        (
            prop_oneof![4 => 1u32..20, 1 => 20u32..1_000, 1 => Just(u32::MAX)],
            prop_oneof![
                4 => 2u64..3_000_000_000,
                1 => 2u64..2_000,
                1 => (1u64 << 60)..(u64::MAX / 2),
            ],
            prop_oneof![4 => 2usize..12, 1 => 12usize..200, 1 => Just(1_440)],
        )
            .prop_filter_map("a valid window", |(n, w, b)| {
                Limit::sliding_window(n, Duration::from_ticks(w), b).ok()
            }),
        // sliding-log: rings of the limit, undersized (a full ring denies) and oversized, over
        // windows of a tick to u64::MAX (past 2^53, where Lua's doubles round).
        (
            prop_oneof![4 => 1u32..20, 1 => Just(u32::MAX)],
            prop_oneof![
                6 => (1u64..3_000).prop_map(|ms| Duration::from_millis(ms)),
                1 => (1u64..40).prop_map(Duration::from_ticks),
                1 => Just(Duration::from_ticks(u64::MAX)),
                1 => ((1u64 << 53) - 3..(1u64 << 53) + 3).prop_map(Duration::from_ticks),
            ],
            prop_oneof![2 => Just(None), 1 => (1u32..6).prop_map(Some)],
        )
            .prop_map(|(n, w, entries)| {
                // A ring of one only for a limit of one; no ring of u32::MAX entries in memory.
                let entries = match entries {
                    None if n < 20 => n,
                    None => 8,
                    Some(e) if n == 1 => e,
                    Some(e) => e + 1,
                };
                Limit::sliding_log(n, w, entries as usize).unwrap()
            }),
        (1u32..5).prop_map(|n| Limit::Concurrency(Concurrency::new(n).unwrap())),
        Just(Limit::Unlimited),
    ]
}

/// A policy of one to four limits.
fn limits() -> impl Strategy<Value = Vec<Named<Limit, String>>> {
    prop::collection::vec(limit(), 1..5).prop_map(named)
}

/// The limits named `l0`, `l1`, ...
fn named(ls: Vec<Limit>) -> Vec<Named<Limit, String>> {
    ls.into_iter()
        .enumerate()
        .map(|(i, l)| Named::new(format!("l{i}"), l))
        .collect()
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

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Check,
    Peek,
    Release,
}

/// One request: how far the clock moves (sometimes back), the key, the cost, and what it does.
#[derive(Debug, Clone, Copy)]
struct Step {
    advance: i64,
    key: u8,
    cost: u32,
    op: Op,
    /// Test-header overrides of a check: a forced denial, and one limit (by index) lowered.
    deny: bool,
    lower: Option<(usize, u32)>,
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
        prop_oneof![8 => Just(Op::Check), 1 => Just(Op::Peek), 1 => Just(Op::Release)],
        prop::bool::weighted(0.05),
        prop::option::weighted(0.15, (0usize..4, 0u32..8)),
    )
        .prop_map(|(advance, key, cost, op, deny, lower)| Step {
            advance,
            key,
            cost,
            op,
            deny,
            lower,
        });
    prop::collection::vec(step, 1..120)
}

/// Decides `trace` from `start` with the core's policy on each key's own states (what every
/// in-memory limiter runs) and through Redis (namespace `ns`), and compares every figure.
fn same_decisions(
    conn: &mut impl redis::ConnectionLike,
    ns: &str,
    limits: &[Named<Limit, String>],
    start: u64,
    trace: &[Step],
) -> Result<(), TestCaseError> {
    let policy = Policy::new(limits);
    let mut states: HashMap<String, Vec<LimitState>> = HashMap::new();
    let fresh =
        || -> Vec<LimitState> { limits.iter().map(|l| l.algorithm().new_state()).collect() };
    let store = RedisPolicy::with_tiers(vec![("default".to_owned(), limits.to_vec())], ns)
        .expect("every generated limit is kept by the store");
    let tier = 0;
    let counts_in_flight = limits
        .iter()
        .any(|l| matches!(l.algorithm().allowance(), Allowance::InFlight { .. }));
    // The requests each key holds in flight, as Redis handed them out.
    let mut holds: HashMap<String, Vec<Hold>> = HashMap::new();
    let mut out = vec![Report::EMPTY; limits.len()];
    let mut now = start;
    for (i, s) in trace.iter().enumerate() {
        now = now.saturating_add_signed(s.advance);
        let at = Instant::from_ticks(now);
        let key = format!("k{}", s.key);
        let state = states.entry(key.clone()).or_insert_with(fresh);
        let held = holds.entry(key.clone()).or_default();
        if s.op == Op::Release {
            // One of the key's requests in flight ends (which one, by the step's cost).
            if !held.is_empty() {
                let hold = held.swap_remove(s.cost as usize % held.len());
                prop_assert_eq!(policy.release(&mut state[..], hold.cost()), Ok(()));
                prop_assert_eq!(store.release(conn, &hold).ok(), Some(true), "release {}", i);
                // Once: a second release finds nothing and changes nothing.
                prop_assert_eq!(store.release(conn, &hold).ok(), Some(false), "again {}", i);
            }
            continue;
        }
        let (expected, got) = if s.op == Op::Peek {
            (
                policy.peek_into(&state[..], at, s.cost, &Overrides::NONE, &mut out),
                store.peek(conn, tier, &key, At::Instant(at), s.cost),
            )
        } else {
            let lowered: Vec<(&str, u32)> = s
                .lower
                .and_then(|(i, v)| limits.get(i).map(|l| (l.name(), v)))
                .into_iter()
                .collect();
            let overrides = Overrides {
                deny: s.deny,
                lower: &lowered,
            };
            (
                policy.check_into(&mut state[..], at, s.cost, &overrides, &mut out),
                store.check_with(conn, tier, &key, At::Instant(at), s.cost, &overrides),
            )
        };
        match (expected, got) {
            (Ok(e), Ok(g)) => {
                prop_assert_eq!(g.now, at);
                let takes = s.op == Op::Check && e.is_allowed() && s.cost > 0 && counts_in_flight;
                prop_assert_eq!(g.hold.is_some(), takes, "request {} ({:?}) holds", i, s);
                held.extend(g.hold);
                prop_assert_eq!(
                    (e.outcome, e.reports()),
                    (g.decided.outcome, g.decided.reports()),
                    "request {} ({:?}) at {} differs",
                    i,
                    s,
                    now
                );
            }
            (Err(e), Err(RedisError::Capacity(g))) => prop_assert_eq!(e, g),
            (e, g) => prop_assert!(false, "request {i} ({s:?}): memory {e:?}, redis {g:?}"),
        }
    }
    Ok(())
}

#[test]
fn redis_decides_like_memory_on_random_policies_and_traces() {
    let (_server, mut conn) = server();
    let case = (limits(), start(), trace());
    decides_like_memory(&mut conn, "case", Config::default().cases, case);
}

/// [`same_decisions`] on `cases` policies, starts and traces drawn from `case`, each in a
/// namespace of its own (`prefix` and its number).
fn decides_like_memory(
    conn: &mut impl redis::ConnectionLike,
    prefix: &str,
    cases: u32,
    case: impl Strategy<Value = (Vec<Named<Limit, String>>, u64, Vec<Step>)>,
) {
    let conn = RefCell::new(conn);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let n = Cell::new(0u64);
    runner
        .run(&case, |(limits, start, trace)| {
            n.set(n.get() + 1);
            let ns = format!("{prefix}{}", n.get());
            same_decisions(*conn.borrow_mut(), &ns, &limits, start, &trace)
        })
        .unwrap();
}

/// Sliding logs of windows of a few ticks under traces that move a few ticks at a time: requests
/// land exactly on window edges, share ticks, fill undersized rings and go back in time, which
/// traces in milliseconds almost never do.
///
/// One key only: a [`KeyedPolicy`] drops another key's state at rest when it inserts a key, and
/// then decides a new key no earlier than that drop, so with a clock going back by ticks its
/// figures would depend on the buckets its sweep happened to visit (the hash seed). Redis keeps
/// a state until it expires and has no such shard time.
#[test]
fn sliding_logs_decide_like_memory_tick_by_tick() {
    let (_server, mut conn) = server();
    let log = (1u32..8, 1u64..30, 0usize..4).prop_map(|(n, w, extra)| {
        // Rings of the limit, undersized (two entries at least, one for a limit of one) and
        // oversized.
        let entries = match extra {
            0 => n as usize,
            1 => 2.min(n as usize),
            2 => (n as usize).div_ceil(2).max(2.min(n as usize)),
            _ => n as usize + 3,
        };
        Limit::sliding_log(n, Duration::from_ticks(w), entries).unwrap()
    });
    let limits = prop::collection::vec(log, 1..3).prop_map(named);
    let advance = prop_oneof![6 => 0i64..12, 1 => -12i64..0, 1 => 20i64..80];
    let case = (limits, tick_start(200), tick_trace(advance, 5));
    decides_like_memory(&mut conn, "ticks", Config::default().cases, case);
}

/// Sliding logs where random traces seldom go: running totals past 2^32 (they wrap, as the
/// core's u32 totals do), a denial that must free more than one entry, the end of time with
/// durations counted from far back, and a key holding something that is not a log.
#[test]
fn sliding_logs_decide_like_memory_at_the_edges() {
    let (_server, mut conn) = server();
    let check = |advance: i64, cost: u32| Step {
        advance,
        key: 0,
        cost,
        op: Op::Check,
        deny: false,
        lower: None,
    };
    let peek = |advance: i64, cost: u32| Step {
        op: Op::Peek,
        ..check(advance, cost)
    };
    let log = |n: u32, w: u64, entries: usize| {
        vec![Named::new(
            "l0".to_owned(),
            Limit::sliding_log(n, Duration::from_ticks(w), entries).unwrap(),
        )]
    };
    let wraps = [
        check(0, 4_000_000_000),
        check(500, 200_000_000),
        peek(0, 100_000_000),
        check(500, 4_000_000_000), // the first has left: the totals pass 2^32
        check(1, 4_000_000_000),
        check(0, 50_000_000),
        check(498, 1),
        check(1, 3_000_000_000),
        peek(-700, 4_294_967_295),
        check(2_000, 4_294_967_295),
        check(999, 1),
        check(1, 1),
    ];
    for start in [0, 1_800_000_000_000_000_000] {
        same_decisions(&mut conn, "wraps", &log(u32::MAX, 1_000, 3), start, &wraps).unwrap();
        same_decisions(&mut conn, "wraps2", &log(u32::MAX, 1_000, 2), start, &wraps).unwrap();
        let _: () = redis::cmd("FLUSHALL").query(&mut conn).unwrap();
    }
    // Several entries must expire before a cost of 5 fits; a full undersized ring at the end.
    let many = [
        check(0, 1),
        check(10, 2),
        check(10, 1),
        check(10, 1),
        peek(10, 5),
        check(0, 5),
        check(975, 5),
        check(1, 5),
        check(-30, 1),
        check(2_000, 1),
        check(1, 1),
        check(1, 1),
        check(0, 1),
    ];
    same_decisions(&mut conn, "many", &log(5, 1_000, 5), 7, &many).unwrap();
    same_decisions(&mut conn, "under", &log(5, 1_000, 3), 7, &many).unwrap();
    // The end of time: an entry within a window of u64::MAX never leaves; from far back the
    // durations saturate.
    let end = [
        check(0, 1),
        check(50, 1),
        check(100, 1),
        peek(i64::MIN, 1),
        peek(i64::MIN, 1),
        check(0, 0),
        check(0, 1),
    ];
    same_decisions(&mut conn, "end", &log(1, 1_000, 4), u64::MAX - 100, &end).unwrap();
    same_decisions(&mut conn, "end2", &log(2, 1_000, 2), u64::MAX - 100, &end).unwrap();
    // Another program's data under the key is an error, not a fresh log.
    let limits = log(2, 1_000, 2);
    let store = RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], "other").unwrap();
    let key = store.redis_key(0, "k", 0).unwrap();
    for setup in [
        redis::cmd("SET").arg(&key).arg("5").clone(),
        redis::cmd("RPUSH").arg(&key).arg("5:1").clone(),
    ] {
        let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
        let _: () = setup.query(&mut conn).unwrap();
        let got = store.check(&mut conn, 0, "k", At::Instant(Instant::from_ticks(9)), 1);
        assert!(
            matches!(&got, Err(RedisError::Redis(e)) if e.to_string().contains("sliding_log")),
            "{got:?}"
        );
    }
}

/// A key holding something that is not a leaky bucket's state is an error, not a fresh bucket:
/// another kind's single number or a malformed pair under a meter, a meter level that would
/// drain after the end of time (no state the meter makes), a meter's pair under a shaper.
#[test]
fn leaky_buckets_refuse_a_key_holding_another_state() {
    let (_server, mut conn) = server();
    let quota = Quota::per_second(2).unwrap();
    let meter = Limit::Meter(tollgate_core::Meter::new(quota));
    let shaper = Limit::Shaper(tollgate_core::Shaper::new(quota, Duration::from_secs(1)).unwrap());
    for (limit, kind, held) in [
        (&meter, "meter", "5"),
        (&meter, "meter", "1:2:3"),
        (&meter, "meter", "18446744073709551615:1"),
        (&shaper, "shaper", "1:2"),
    ] {
        let limits = vec![Named::new("l0".to_owned(), *limit)];
        let store = RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], "other").unwrap();
        let key = store.redis_key(0, "k", 0).unwrap();
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(held)
            .query(&mut conn)
            .unwrap();
        let got = store.check(&mut conn, 0, "k", At::Instant(Instant::from_ticks(9)), 1);
        let holds_no = format!("holds no {kind} state");
        assert!(
            matches!(&got, Err(RedisError::Redis(e)) if e.to_string().contains(&holds_no)),
            "{held}: {got:?}"
        );
    }
}

/// Sliding windows where random traces seldom go: a ring of 1,440 slots (a shipped policy's
/// daily limit) with every slot counting, denials whose retry scans most of it, crossings that
/// expire hundreds of slots at once or all but a few, a clock far back, gaps of the whole ring,
/// from zero, today and near the end of time; and a key holding something that is not a window.
#[test]
fn sliding_windows_decide_like_memory_on_full_rings() {
    let (_server, mut conn) = server();
    let window = Limit::sliding_window(1_500, Duration::from_millis(1_440), 1_440).unwrap();
    let Limit::SlidingWindow(w) = &window else {
        unreachable!()
    };
    let g = w.granularity().as_ticks();
    let b = i64::try_from(g).unwrap();
    let limits = vec![Named::new("day".to_owned(), window)];
    let check = |advance: i64, cost: u32| Step {
        advance,
        key: 0,
        cost,
        op: Op::Check,
        deny: false,
        lower: None,
    };
    let peek = |advance: i64, cost: u32| Step {
        op: Op::Peek,
        ..check(advance, cost)
    };
    let mut trace = vec![check(0, 1)];
    // One in every slot, then the limit in the last one and denials.
    trace.extend((1..1_440).map(|_| check(b, 1)));
    trace.extend((0..12).map(|_| check(0, 6)));
    trace.extend([check(3, 1_000), peek(0, 1_440), check(0, 0)]);
    trace.extend([
        check(700 * b, 0), // 700 slots expire: more than a read of the hash at once
        check(0, 6),
        check(1, 1_000),
        check(1_000 * b, 6), // all but 440 expire
        check(0, 1_500),
        check(-500 * b, 1), // far back: decided as at the current bucket
        check(-(b / 2), 1_500),
        check(0, 0),
        peek(1_439 * b, 6),
        check(1_440 * b, 1_500), // a gap of the whole ring
        check(b, 1),
        check(2_880 * b, 1),
    ]);
    for (i, start) in [0, 1_800_000_000_000_000_123, u64::MAX - 1_500 * g]
        .into_iter()
        .enumerate()
    {
        same_decisions(&mut conn, &format!("full{i}"), &limits, start, &trace).unwrap();
    }
    // Another program's data under the key is an error, not a fresh window.
    let store = RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], "other").unwrap();
    let key = store.redis_key(0, "k", 0).unwrap();
    for setup in [
        redis::cmd("SET").arg(&key).arg("5").clone(),
        redis::cmd("HSET").arg(&key).arg("tat").arg("5").clone(),
        redis::cmd("HSET").arg(&key).arg("start").arg("x").clone(),
    ] {
        let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
        let _: () = setup.query(&mut conn).unwrap();
        let got = store.check(&mut conn, 0, "k", At::Instant(Instant::from_ticks(9)), 1);
        assert!(
            matches!(&got, Err(RedisError::Redis(e)) if e.to_string().contains("sliding_window")),
            "{got:?}"
        );
    }
}

/// Sliding windows tick by tick, where the random traces' nanoseconds seldom land: requests on
/// and next to bucket edges, clocks a few ticks back, gaps of a few buckets and of the whole
/// ring, the last ticks before the end of time. One key, which the in-memory map never drops as
/// at rest (a key it drops is decided afresh no earlier than the drop, which Redis does not
/// model: a clock that then goes back would be decided apart).
#[test]
fn sliding_windows_decide_like_memory_tick_by_tick() {
    let (_server, mut conn) = server();
    let window = (1u32..8, 2u64..40, 2usize..12).prop_filter_map("a valid window", |(n, w, b)| {
        Limit::sliding_window(n, Duration::from_ticks(w), b).ok()
    });
    let limits = prop::collection::vec(window, 1..3).prop_map(named);
    let advance = prop_oneof![6 => 0i64..8, 1 => -10i64..0, 1 => 8i64..100];
    let case = (limits, tick_start(300), tick_trace(advance, 6));
    decides_like_memory(&mut conn, "window-ticks", Config::default().cases, case);
}

/// Traces on one key that move a few ticks at a time (`advance`), costs below `costs`, checks
/// and peeks.
fn tick_trace(advance: impl Strategy<Value = i64>, costs: u32) -> impl Strategy<Value = Vec<Step>> {
    let step = (
        advance,
        0..costs,
        prop_oneof![6 => Just(Op::Check), 1 => Just(Op::Peek)],
    )
        .prop_map(|(advance, cost, op)| Step {
            advance,
            key: 0,
            cost,
            op,
            deny: false,
            lower: None,
        });
    prop::collection::vec(step, 1..150)
}

/// Where a tick-by-tick trace starts: at zero, today in epoch nanoseconds, or `margin` ticks
/// before the end of time.
fn tick_start(margin: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1_700_000_000_000_000_000u64..1_900_000_000_000_000_000,
        Just(u64::MAX - margin),
    ]
}

/// The script's u64 arithmetic (Lua has only doubles) against Rust's, on values of every size:
/// each operation checked or saturating exactly as the core's.
#[test]
fn the_scripts_u64_arithmetic_is_rusts() {
    let (_server, conn) = server();
    let conn = RefCell::new(conn);
    let driver = concat!(
        include_str!("../src/redis/lua/u64.lua"),
        r#"
local a, b = U.parse(ARGV[1]), U.parse(ARGV[2])
local function s(v) if v == nil then return 'none' end return U.str(v) end
local q, r = U.divmod(a, b)
return { s(U.add(a, b)), s(U.sub(a, b)), s(U.mul(a, b)), s(U.sat_add(a, b)), s(U.sat_sub(a, b)),
  s(U.sat_mul(a, b)), s(q), s(r), tostring(U.cmp(a, b)), s(U.min(a, b)), s(U.max(a, b)),
  s(U.parse(U.str(a))) }
"#
    );
    let script = redis::Script::new(driver);
    let value = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just((1 << 53) - 1),
        Just(1 << 53),
        Just(899_999_999),
        Just(900_000_000),
        Just(9_999_999),
        Just(10_000_000),
        0u64..1_000,
        0u64..(1 << 32),
        0u64..(1 << 53),
        any::<u64>(),
        (0u32..64).prop_flat_map(|bits| 0u64..=(u64::MAX >> bits)),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(value.clone(), value), |(a, b)| {
            let got: Vec<String> = script
                .arg(a.to_string())
                .arg(b.to_string())
                .invoke(&mut *conn.borrow_mut())
                .unwrap();
            let s = |v: Option<u64>| v.map_or("none".to_owned(), |v| v.to_string());
            let expected = vec![
                s(a.checked_add(b)),
                s(a.checked_sub(b)),
                s(a.checked_mul(b)),
                a.saturating_add(b).to_string(),
                a.saturating_sub(b).to_string(),
                a.saturating_mul(b).to_string(),
                s(a.checked_div(b)),
                s(a.checked_rem(b)),
                (a.cmp(&b) as i8).to_string(),
                a.min(b).to_string(),
                a.max(b).to_string(),
                a.to_string(),
            ];
            prop_assert_eq!(got, expected, "a = {}, b = {}", a, b);
            Ok(())
        })
        .unwrap();
}

/// Seed-like policy for the failure tests: 3 per second.
fn three_per_second() -> Vec<Named<Limit, String>> {
    vec![Named::new(
        "second".to_owned(),
        Limit::Gcra(Gcra::new(Quota::per_second(3).unwrap())),
    )]
}

/// A limiter of [`three_per_second`] whose calls time out after `timeout_ms` (generous where the
/// test does not wait for the timeout: CI machines are loaded).
fn limiter(server: &RedisServer, on_failure: OnFailure, timeout_ms: u64) -> RedisLimiter {
    let policy =
        RedisPolicy::with_tiers(vec![("default".to_owned(), three_per_second())], "fail").unwrap();
    RedisLimiter::new(
        policy,
        &server.url(),
        std::time::Duration::from_millis(timeout_ms),
        on_failure,
    )
    .unwrap()
}

/// Decides until Redis answers again (it reconnects by itself), for at most 10 s.
async fn until_redis_decides(limiter: &RedisLimiter) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Outcome::Redis(_)) = limiter.check(0, "k", At::Server, 0).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Kills the server mid-run and brings it back: each failure policy decides as configured while
/// it is away, nothing panics, every call returns within its timeout, failures are counted, and
/// once it is back (empty: a restart loses the states and the loaded script) the same limiter
/// uses it again and limits as before.
#[tokio::test]
async fn a_dead_redis_is_decided_by_the_failure_policy_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start().unwrap();
    let local = KeyedPolicy::<CompactString>::new(three_per_second());
    let limiters = [
        ("open", limiter(&server, OnFailure::Open, 1_000)),
        ("closed", limiter(&server, OnFailure::Closed, 1_000)),
        ("local", limiter(&server, OnFailure::Local(local), 1_000)),
    ];
    for (name, l) in &limiters {
        let key = format!("before-{name}");
        let allowed: Vec<bool> = in_a_row(l, &key, 4).await;
        assert_eq!(allowed, [true, true, true, false], "{name}: Redis limits");
        assert_eq!(l.stats().failures.load(Ordering::Relaxed), 0);
    }

    server.kill();
    for (name, l) in &limiters {
        for i in 0..5 {
            let started = std::time::Instant::now();
            let outcome = l.check(0, "during", At::Server, 1).await.unwrap();
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "{name}: a call waited {:?}",
                started.elapsed()
            );
            match (*name, &outcome) {
                ("open", Outcome::Open(_)) => assert!(outcome.is_allowed()),
                ("closed", Outcome::Closed(_)) => assert!(!outcome.is_allowed()),
                ("local", Outcome::Local { decided, .. }) => {
                    // The local policy limits on its own: 3 per second, then a denial.
                    assert_eq!(decided.is_allowed(), i < 3, "{name}: request {i}");
                }
                _ => panic!("{name}: {outcome:?} while Redis is down"),
            }
        }
        assert_eq!(l.stats().failures.load(Ordering::Relaxed), 5, "{name}");
    }

    server.restart().unwrap();
    for (name, l) in &limiters {
        assert!(until_redis_decides(l).await, "{name}: Redis not used again");
        let key = format!("after-{name}");
        let allowed = in_a_row(l, &key, 4).await;
        assert_eq!(
            allowed,
            [true, true, true, false],
            "{name}: Redis limits again"
        );
    }
}

/// A check cut off by its timeout after Redis queued it takes its place once Redis runs it; the
/// limiter gives that place back (a release sent after it) rather than leaving it to the lease.
#[tokio::test]
async fn a_check_cut_off_by_the_timeout_gives_its_place_back() {
    let server = RedisServer::start().unwrap();
    let policy = in_flight(1, 300_000, "cut");
    let limiter = RedisLimiter::new(
        policy,
        &server.url(),
        std::time::Duration::from_millis(300),
        OnFailure::Closed,
    )
    .unwrap();
    assert!(until_redis_decides(&limiter).await);
    // Every command waits for a second: the check is queued, and answered too late.
    assert_eq!(
        server.command(&["CLIENT", "PAUSE", "1000", "ALL"]).unwrap(),
        "OK"
    );
    let cut = limiter.check(0, "k", At::Server, 1).await.unwrap();
    assert!(
        matches!(cut, Outcome::Closed(RedisError::Timeout)),
        "{cut:?}"
    );
    // Once Redis runs the check and then the release, the one place is free again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match limiter.check(0, "k", At::Server, 1).await.unwrap() {
            Outcome::Redis(d) if d.decided.is_allowed() => {
                assert!(limiter.release(&d.hold.unwrap()).await.unwrap());
                break;
            }
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cut-off check kept its place"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let key = limiter.policy().redis_key(0, "k", 0).unwrap();
    assert_eq!(server.command(&["EXISTS", &key]).unwrap(), "0");
}

/// `n` requests of `key` in a row, through Redis: whether each was admitted.
async fn in_a_row(l: &RedisLimiter, key: &str, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        match l.check(0, key, At::Server, 1).await.unwrap() {
            Outcome::Redis(d) => out.push(d.decided.is_allowed()),
            other => panic!("expected Redis to decide, got {other:?}"),
        }
    }
    out
}

/// A Redis that does not answer in time (every client paused, as a server stalled by a long
/// command is) is a failure like a dead one: the call returns at its timeout and the failure
/// policy decides; once it answers again it decides again.
#[tokio::test]
async fn a_slow_redis_times_out_into_the_failure_policy() {
    let server = RedisServer::start().unwrap();
    let l = limiter(&server, OnFailure::Closed, 300);
    assert!(until_redis_decides(&l).await);
    // Commands from every other client wait for 1.5 s.
    assert_eq!(
        server.command(&["CLIENT", "PAUSE", "1500", "ALL"]).unwrap(),
        "OK"
    );
    let started = std::time::Instant::now();
    let outcome = l.check(0, "k", At::Server, 1).await.unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(outcome, Outcome::Closed(RedisError::Timeout)),
        "{outcome:?}"
    );
    assert!(
        waited < std::time::Duration::from_millis(1_200),
        "{waited:?}"
    );
    assert_eq!(l.stats().timeouts.load(Ordering::Relaxed), 1);
    assert!(until_redis_decides(&l).await);
}

/// Threads with connections of their own hammer one key at the server's clock: the admissions,
/// at the instants Redis decided them, keep GCRA's guarantee (at most `b + ⌊d / T⌋` in any
/// closed interval of length `d`) and the concurrency limit is never exceeded.
#[test]
fn threads_on_separate_connections_never_exceed_the_limit() {
    let (server, _) = server();
    let quota = Quota::per_second(50).unwrap().with_burst(5).unwrap();
    let limits = vec![
        Named::new("rate".to_owned(), Limit::Gcra(Gcra::new(quota))),
        Named::new(
            "in-flight".to_owned(),
            Limit::Concurrency(Concurrency::new(3).unwrap()),
        ),
    ];
    let policy = std::sync::Arc::new(
        RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], "hammer").unwrap(),
    );
    let in_flight = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (policy, url, in_flight) = (policy.clone(), server.url(), in_flight.clone());
            std::thread::spawn(move || {
                let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut admitted = Vec::new();
                for _ in 0..150 {
                    let d = policy.check(&mut conn, 0, "one", At::Server, 1).unwrap();
                    if d.decided.is_allowed() {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 3, "{now} in flight");
                        admitted.push(d.now.as_ticks());
                        // Held a while, so that more than 3 admitted at once would show.
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let hold = d.hold.expect("admitted in flight");
                        assert!(policy.release(&mut conn, &hold).unwrap());
                    }
                }
                admitted
            })
        })
        .collect();
    let mut admitted: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    admitted.sort_unstable();
    assert!(admitted.len() >= 5, "only {} admitted", admitted.len());
    let t = quota.interval().as_ticks();
    for i in 0..admitted.len() {
        for j in i..admitted.len() {
            let count = (j - i + 1) as u64;
            let bound = u64::from(quota.burst()) + (admitted[j] - admitted[i]) / t;
            assert!(
                count <= bound,
                "{count} admitted in {} ns, bound {bound}",
                admitted[j] - admitted[i]
            );
        }
    }
}

/// Another program's value under a key is the key's problem, not an outage: the limiter says so
/// (an error naming the key) instead of letting the failure policy admit that key unlimited, and
/// other keys are decided as usual.
#[tokio::test]
async fn a_key_holding_something_else_is_an_error_not_an_outage() {
    let server = RedisServer::start().unwrap();
    let l = limiter(&server, OnFailure::Open, 1_000);
    let key = l.policy().redis_key(0, "taken", 0).unwrap();
    assert_eq!(server.command(&["SET", &key, "not a state"]).unwrap(), "OK");
    let e = l.check(0, "taken", At::Server, 1).await.unwrap_err();
    assert!(e.to_string().contains(&key), "{e}");
    assert_eq!(l.stats().failures.load(Ordering::Relaxed), 0);
    assert!(matches!(
        l.check(0, "other", At::Server, 1).await.unwrap(),
        Outcome::Redis(_)
    ));
}

/// A tier or limit name with a `:` would let two limits share a Redis key: refused.
#[test]
fn names_with_a_colon_are_refused() {
    let limit = || Limit::Gcra(Gcra::new(Quota::per_second(1).unwrap()));
    let e = RedisPolicy::with_tiers(
        vec![("a".to_owned(), vec![Named::new("x:y".to_owned(), limit())])],
        "ns",
    )
    .unwrap_err();
    assert_eq!(e.limit, "x:y");
    assert!(
        RedisPolicy::with_tiers(
            vec![("a:x".to_owned(), vec![Named::new("y".to_owned(), limit())])],
            "ns",
        )
        .is_err()
    );
    let ok = RedisPolicy::with_tiers(
        vec![("a".to_owned(), vec![Named::new("y".to_owned(), limit())])],
        "ns",
    )
    .unwrap();
    // The hash tag is never empty, whatever the key.
    assert_eq!(ok.redis_key(0, "", 0).unwrap(), "ns:{k=}:a:y");
    assert_eq!(ok.redis_key(0, "}x", 0).unwrap(), "ns:{k=}x}:a:y");
}

/// Keys expire only once their state is at rest, so an expired key decides as the core does on
/// the state it stood for. Decided at the server's clock with windows of a few hundred
/// milliseconds (so keys do expire during the test): every decision equals the core's at the
/// same instant on its own state, and every written key's expiry instant (`PEXPIRETIME`) finds
/// that state at rest.
#[test]
fn keys_expire_only_at_rest_and_expired_keys_decide_like_the_core() {
    let (server, mut conn) = server();
    let ms = Duration::from_millis;
    let limits = vec![
        Named::new(
            "gcra".to_owned(),
            Limit::Gcra(Gcra::new(Quota::new(4, ms(200)).unwrap())),
        ),
        Named::new(
            "meter".to_owned(),
            Limit::Meter(Meter::new(Quota::new(5, ms(300)).unwrap())),
        ),
        Named::new(
            "shaper".to_owned(),
            Limit::Shaper(Shaper::new(Quota::new(6, ms(240)).unwrap(), ms(40)).unwrap()),
        ),
        Named::new("log".to_owned(), Limit::sliding_log(5, ms(250), 5).unwrap()),
        Named::new(
            "window".to_owned(),
            Limit::sliding_window(7, ms(350), 5).unwrap(),
        ),
    ];
    let store =
        RedisPolicy::with_tiers(vec![("default".to_owned(), limits.clone())], "expiry").unwrap();
    let policy = Policy::new(&limits[..]);
    let mut states: HashMap<&str, Vec<LimitState>> = HashMap::new();
    let mut out = vec![Report::EMPTY; limits.len()];
    let mut expired = 0;
    for i in 0u64..250 {
        let key = ["a", "b"][(i % 7 == 0) as usize];
        let cost = [1, 1, 2, 0, 1][(i % 5) as usize];
        let keys: Vec<String> = (0..limits.len())
            .map(|j| store.redis_key(0, key, j).unwrap())
            .collect();
        let absent = keys
            .iter()
            .filter(|k| server.command(&["EXISTS", k]).unwrap() == "0")
            .count();
        let got = store.check(&mut conn, 0, key, At::Server, cost).unwrap();
        let state = states
            .entry(key)
            .or_insert_with(|| limits.iter().map(|l| l.algorithm().new_state()).collect());
        if absent == limits.len()
            && limits
                .iter()
                .zip(state.iter())
                .any(|(l, s)| !l.algorithm().is_at_rest(s, got.now))
        {
            panic!("request {i}: every key of {key} expired before its state came to rest");
        }
        let expected = policy
            .check_into(&mut state[..], got.now, cost, &Overrides::NONE, &mut out)
            .unwrap();
        assert_eq!(
            (expected.outcome, expected.reports()),
            (got.decided.outcome, got.decided.reports()),
            "request {i} of {key} at {:?}",
            got.now
        );
        for (j, k) in keys.iter().enumerate() {
            let at_ms: i64 = server
                .command(&["PEXPIRETIME", k])
                .unwrap()
                .parse()
                .unwrap();
            assert_ne!(at_ms, -1, "{k} never expires");
            if at_ms == -2 {
                expired += 1; // not written, or expired already
                continue;
            }
            let at = Instant::from_ticks(at_ms as u64 * 1_000_000);
            assert!(
                limits[j].algorithm().is_at_rest(&state[j], at),
                "request {i}: {k} expires at {at:?}, before its state is at rest"
            );
        }
        let pause = [0, 3, 11, 40, 1][(i % 5) as usize] + u64::from(i % 25 == 0) * 360;
        std::thread::sleep(std::time::Duration::from_millis(pause));
    }
    assert!(
        expired > 0,
        "no key ever expired: the test proves nothing about expiry"
    );
}

/// The hold of a check of `cost` for `key` at the server's clock (`None` when it took none).
fn hold(policy: &RedisPolicy, conn: &mut redis::Connection, key: &str, cost: u32) -> Option<Hold> {
    policy.check(conn, 0, key, At::Server, cost).unwrap().hold
}

/// The holds of concurrency key `key` and the sum of their costs, as the server has them (the
/// sum is minus the score of the member `#`).
fn held(server: &RedisServer, key: &str) -> (u64, u64) {
    if server.command(&["EXISTS", key]).unwrap() == "0" {
        return (0, 0);
    }
    let members: u64 = server.command(&["ZCARD", key]).unwrap().parse().unwrap();
    let sum: i64 = server
        .command(&["ZSCORE", key, "#"])
        .unwrap()
        .parse()
        .unwrap();
    (members - 1, sum.unsigned_abs())
}

fn in_flight(max: u32, lease_ms: u64, ns: &str) -> RedisPolicy {
    let limits = vec![Named::new(
        "in-flight".to_owned(),
        Limit::Concurrency(Concurrency::new(max).unwrap()),
    )];
    RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], ns)
        .unwrap()
        .with_lease(Duration::from_millis(lease_ms))
}

/// A place whose release never comes is given back when its own lease ends, even on a key that
/// other requests keep using (each one taking and giving back its own place).
#[test]
fn a_lost_release_costs_one_lease_even_on_a_busy_key() {
    let (server, mut conn) = server();
    let lease = std::time::Duration::from_millis(400);
    let policy = in_flight(2, 400, "lost");
    let started = std::time::Instant::now();
    let lost = policy.check(&mut conn, 0, "k", At::Server, 1).unwrap();
    assert!(lost.decided.is_allowed());
    let lost = lost.hold.expect("a place taken");
    let key = policy.redis_key(0, "k", 0).unwrap();
    let mut both_after = None;
    while started.elapsed() < lease * 3 {
        // A busy key: one request after another, each released.
        let one = policy.check(&mut conn, 0, "k", At::Server, 1).unwrap();
        assert!(one.decided.is_allowed(), "one place is always free");
        // Whether the lost place still counts: a second request at once.
        let two = policy.check(&mut conn, 0, "k", At::Server, 1).unwrap();
        let elapsed = started.elapsed();
        if two.decided.is_allowed() {
            assert!(
                elapsed >= lease,
                "the lost place came back after {elapsed:?}"
            );
            both_after.get_or_insert(elapsed);
            assert!(policy.release(&mut conn, &two.hold.unwrap()).unwrap());
        } else {
            assert!(
                both_after.is_none(),
                "a lost place counted again at {elapsed:?}"
            );
        }
        assert!(policy.release(&mut conn, &one.hold.unwrap()).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let back = both_after.expect("the lost place never came back");
    assert!(
        back < lease * 2,
        "the lost place came back only after {back:?}"
    );
    // Its release, late, finds nothing and takes no one else's place.
    let other = policy.check(&mut conn, 0, "k", At::Server, 1).unwrap();
    assert!(!policy.release(&mut conn, &lost).unwrap());
    assert_eq!(held(&server, &key), (1, 1));
    assert!(policy.release(&mut conn, &other.hold.unwrap()).unwrap());
    // Nothing in flight: the key is gone.
    assert_eq!(server.command(&["EXISTS", &key]).unwrap(), "0");

    // The places of a key still in use are each counted until their own lease ends, also
    // when the requests that look at them are denied and write nothing: a place lost at 0, one
    // held from half a lease on (which keeps the key), and requests that find both taken until
    // the first lease ends.
    let lease = std::time::Duration::from_millis(1000);
    let two = in_flight(2, 1000, "lost-two");
    let started = std::time::Instant::now();
    assert!(hold(&two, &mut conn, "k", 1).is_some());
    std::thread::sleep(lease / 2);
    assert!(hold(&two, &mut conn, "k", 1).is_some());
    loop {
        let d = two.check(&mut conn, 0, "k", At::Server, 1).unwrap();
        let elapsed = started.elapsed();
        if d.decided.is_allowed() {
            assert!(elapsed >= lease, "the place came back after {elapsed:?}");
            break;
        }
        // Before the held place's lease ends (and with it the key).
        assert!(elapsed < lease * 7 / 5, "the lost place never came back");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Each request's places are its own: a release gives back exactly the places of its hold, a
/// cost of several takes several, and a key lives until its last lease ends.
#[test]
fn holds_are_given_back_one_by_one() {
    let (server, mut conn) = server();
    let policy = in_flight(5, 60_000, "holds");
    let key = policy.redis_key(0, "k", 0).unwrap();
    let a = hold(&policy, &mut conn, "k", 3).unwrap();
    let b = hold(&policy, &mut conn, "k", 2).unwrap();
    assert_ne!(a.id(), b.id());
    assert_eq!((a.cost(), b.cost(), a.key(), a.tier()), (3, 2, "k", 0));
    // One member per request, and the sum of their costs.
    assert_eq!(held(&server, &key), (2, 5));
    let full = policy.check(&mut conn, 0, "k", At::Server, 1).unwrap();
    assert!(!full.decided.is_allowed());
    assert!(full.hold.is_none(), "a denied request holds nothing");
    // A peek and a check of nothing take no place either.
    assert!(
        policy
            .peek(&mut conn, 0, "k", At::Server, 1)
            .unwrap()
            .hold
            .is_none()
    );
    assert!(hold(&policy, &mut conn, "k", 0).is_none());
    // The key outlives its leases by nothing, and lives at least until the last one ends.
    let ttl: u64 = server.command(&["PTTL", &key]).unwrap().parse().unwrap();
    assert!((59_000..=60_000).contains(&ttl), "expires in {ttl} ms");

    assert!(policy.release(&mut conn, &a).unwrap());
    assert_eq!(held(&server, &key), (1, 2));
    let peek = policy.peek(&mut conn, 0, "k", At::Server, 0).unwrap();
    assert_eq!(peek.decided.reports()[0].decision.remaining, 3);
    // Released twice: nothing more is given back.
    assert!(!policy.release(&mut conn, &a).unwrap());
    assert_eq!(held(&server, &key), (1, 2));
    assert!(policy.release(&mut conn, &b).unwrap());
    assert_eq!(server.command(&["EXISTS", &key]).unwrap(), "0");

    // A request's cost is one member, whatever its size: no command per place.
    let wide = in_flight(1_000_000, 60_000, "wide");
    let big = hold(&wide, &mut conn, "k", 500_000).unwrap();
    let wide_key = wide.redis_key(0, "k", 0).unwrap();
    assert_eq!(held(&server, &wide_key), (1, 500_000));
    assert!(wide.release(&mut conn, &big).unwrap());

    // A release after the lease ended gives nothing back (the hold is dropped all the same),
    // also while a later hold keeps the key.
    let short = in_flight(2, 3_000, "short");
    let late = hold(&short, &mut conn, "k", 1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2_000));
    let keeps = hold(&short, &mut conn, "k", 1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let short_key = short.redis_key(0, "k", 0).unwrap();
    assert_eq!(held(&server, &short_key), (2, 2));
    assert!(!short.release(&mut conn, &late).unwrap());
    assert_eq!(held(&server, &short_key), (1, 1));
    assert!(short.release(&mut conn, &keeps).unwrap());

    // A tier without concurrency limits hands out no holds.
    let rate = RedisPolicy::with_tiers(vec![("default".to_owned(), three_per_second())], "nohold")
        .unwrap();
    assert!(hold(&rate, &mut conn, "k", 1).is_none());
}

/// Two policies (two hosts) on one server never make the same holder id, so neither can give
/// back the other's places.
#[test]
fn hosts_hold_under_ids_of_their_own() {
    let (_server, mut conn) = server();
    let (one, two) = (in_flight(4, 60_000, "hosts"), in_flight(4, 60_000, "hosts"));
    let a = hold(&one, &mut conn, "k", 1).unwrap();
    let b = hold(&two, &mut conn, "k", 1).unwrap();
    assert_ne!(a.id(), b.id());
    assert!(two.release(&mut conn, &b).unwrap());
    let left = one.peek(&mut conn, 0, "k", At::Server, 0).unwrap();
    assert_eq!(left.decided.reports()[0].decision.remaining, 3);
    assert!(one.release(&mut conn, &a).unwrap());
}

/// A Redis Cluster of three nodes decides random policies and traces exactly as the core does:
/// each decision's keys share a hash slot (the script would fail with `CROSSSLOT` otherwise), and
/// the keys spread over the nodes.
#[test]
fn a_cluster_decides_like_memory() {
    let cluster = RedisCluster::start(3).expect("a Redis Cluster for the test");
    let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let mut conn = client.get_connection().expect("a cluster connection");
    decides_like_memory(&mut conn, "case", 64, (limits(), start(), trace()));
    let used = cluster
        .nodes()
        .iter()
        .filter(|n| n.command(&["DBSIZE"]).unwrap() != "0")
        .count();
    assert_eq!(used, 3, "every node holds some of the keys");
}

/// A [`RedisLimiter`] on a cluster: decisions and releases through the nodes serving each key,
/// the script loaded again on every node after they forgot it, a node that dies decided by the
/// failure policy for its keys only, and used again once it is back.
#[tokio::test]
async fn a_limiter_on_a_cluster_follows_its_nodes() {
    let mut cluster = RedisCluster::start(3).unwrap();
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let limits = vec![
        Named::new(
            "second".to_owned(),
            Limit::Gcra(Gcra::new(Quota::per_second(3).unwrap())),
        ),
        Named::new(
            "in-flight".to_owned(),
            Limit::Concurrency(Concurrency::new(2).unwrap()),
        ),
    ];
    let policy = RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], "fleet").unwrap();
    let limiter = RedisLimiter::cluster(
        policy,
        &urls[..1],
        std::time::Duration::from_millis(1_000),
        OnFailure::Closed,
    )
    .unwrap();
    // Keys on each node.
    let mut on_node: Vec<Option<String>> = vec![None; 3];
    for i in 0.. {
        let key = format!("acct-{i}");
        let tagged = limiter.policy().redis_key(0, &key, 0).unwrap();
        let node = cluster.node_of(&tagged).unwrap();
        on_node[node].get_or_insert(key);
        if on_node.iter().all(Option::is_some) {
            break;
        }
    }
    let keys: Vec<String> = on_node.into_iter().map(Option::unwrap).collect();
    for (node, key) in keys.iter().enumerate() {
        let mut holds = Vec::new();
        for i in 0..3 {
            match limiter.check(0, key, At::Server, 1).await.unwrap() {
                Outcome::Redis(d) => {
                    // Two in flight at most, then the third waits for a release.
                    assert_eq!(d.decided.is_allowed(), i < 2, "node {node}, request {i}");
                    holds.extend(d.hold);
                }
                other => panic!("node {node}: {other:?}"),
            }
        }
        let tagged = limiter.policy().redis_key(0, key, 1).unwrap();
        assert_eq!(
            cluster.nodes()[node]
                .command(&["ZSCORE", &tagged, "#"])
                .unwrap(),
            "-2"
        );
        for h in &holds {
            assert!(limiter.release(h).await.unwrap());
        }
        assert_eq!(
            cluster.nodes()[node].command(&["EXISTS", &tagged]).unwrap(),
            "0"
        );
    }

    // Every node forgets the script, and the node of the first key dies: its keys are refused
    // (the failure policy), the others' are still decided by their nodes, which are sent the
    // script again (by EVAL to the key's node), before and after the node timeout (2 s; the
    // test cluster does not require full coverage).
    for n in cluster.nodes() {
        assert_eq!(n.command(&["SCRIPT", "FLUSH"]).unwrap(), "OK");
        // Counts from here on only: which commands sent the script back.
        assert_eq!(n.command(&["CONFIG", "RESETSTAT"]).unwrap(), "OK");
    }
    cluster.kill(0);
    for round in 0..2 {
        let outcome = limiter.check(0, &keys[0], At::Server, 0).await.unwrap();
        assert!(matches!(outcome, Outcome::Closed(_)), "{outcome:?}");
        for key in &keys[1..] {
            let outcome = limiter.check(0, key, At::Server, 1).await.unwrap();
            assert!(matches!(outcome, Outcome::Redis(_)), "{key}: {outcome:?}");
        }
        if round == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(3_000)).await;
        }
    }
    // The script went back by EVAL to the node of each key, never by SCRIPT LOAD (which a
    // cluster connection would send to a node of its choosing, not necessarily the key's).
    for (node, key) in keys.iter().enumerate().skip(1) {
        let stats = cluster.nodes()[node]
            .command(&["INFO", "commandstats"])
            .unwrap();
        assert!(
            stats.contains("cmdstat_eval:"),
            "{key}'s node {node}: {stats}"
        );
        assert!(
            !stats.contains("cmdstat_script|load"),
            "node {node}: {stats}"
        );
    }
    // Back (with its slots, from its cluster config): decided by Redis again.
    cluster.restart(0).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Outcome::Redis(_) = limiter.check(0, &keys[0], At::Server, 0).await.unwrap() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node was not used again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A limit whose key holds another program's data refuses the whole decision before any limit
/// writes: the concurrency limit beside it takes no place (all or nothing, as in memory).
#[test]
fn a_foreign_key_refuses_the_decision_before_anything_is_written() {
    let (server, mut conn) = server();
    let two = |max| Limit::Concurrency(Concurrency::new(max).unwrap());
    let limits = vec![
        Named::new("a".to_owned(), two(3)),
        Named::new("b".to_owned(), two(3)),
    ];
    let policy = RedisPolicy::with_tiers(vec![("default".to_owned(), limits)], "foreign").unwrap();
    let (a, b) = (
        policy.redis_key(0, "k", 0).unwrap(),
        policy.redis_key(0, "k", 1).unwrap(),
    );
    for foreign in [&["SET", &b, "not a state"][..], &["ZADD", &b, "1", "m"][..]] {
        server.command(&["DEL", &b]).unwrap();
        server.command(foreign).unwrap();
        let e = policy.check(&mut conn, 0, "k", At::Server, 1).unwrap_err();
        assert!(e.to_string().contains("tollgate: "), "{e}");
        assert_eq!(server.command(&["EXISTS", &a]).unwrap(), "0", "{foreign:?}");
    }
}
