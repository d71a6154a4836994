//! `tollgate serve` as a user runs it: the built binary as its own process on a free loopback
//! port, spoken to over real HTTP by a real client (ureq).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// A running `tollgate serve`, stopped (SIGKILL) when dropped if still running.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `policy` to a file of its own and serves it with `args`.
fn serve(policy: &str, args: &[&str]) -> Server {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf =
        std::env::temp_dir().join(format!("tollgate-serve-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, policy).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--policy",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    // Read at start: not needed any more.
    let _ = std::fs::remove_file(&path);
    Server { child, base }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_string().unwrap(),
    }
}

const MINUTE_3: &str =
    "[[limit]]\nname = \"minute\"\nalgorithm = \"sliding-log\"\nlimit = 3\nwindow = \"1m\"\n";

fn unix_millis() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn every_response_carries_the_headers_and_a_denial_names_its_limit() {
    let server = serve(MINUTE_3, &[]);
    let url = format!("{}/api/things", server.base);
    for remaining in ["2", "1", "0"] {
        let r = get(&url, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, "{\"ok\":true,\"path\":\"/api/things\"}\n");
        assert_eq!(r.header("x-ratelimit-limit"), "3");
        assert_eq!(r.header("x-ratelimit-remaining"), remaining);
        // Epoch seconds, a minute ahead (rounded up).
        let reset: u64 = r.header("x-ratelimit-reset").parse().unwrap();
        assert!(
            (unix_secs() + 59..=unix_secs() + 61).contains(&reset),
            "{reset}"
        );
        assert_eq!(r.header("ratelimit-policy"), "\"minute\";q=3;w=60");
        assert!(
            r.header("ratelimit")
                .starts_with(&format!("\"minute\";r={remaining};t="))
        );
        assert!(r.headers.get("retry-after").is_none());
    }
    let r = get(&url, &[]);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("content-type"), "application/json");
    // A minute from the first request, rounded up: 60, or 59 on a slow machine.
    assert!(
        ["59", "60"].contains(&r.header("retry-after")),
        "{}",
        r.header("retry-after")
    );
    assert_eq!(r.header("x-ratelimit-remaining"), "0");
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["limit_exceeded"], "minute");
    // Health checks are never limited.
    for _ in 0..5 {
        let r = get(&format!("{}/healthz", server.base), &[]);
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
        assert!(r.headers.get("x-ratelimit-limit").is_none());
    }
}

#[test]
fn keys_come_from_a_header_when_asked() {
    let server = serve(MINUTE_3, &["--key", "header:X-Api-Key"]);
    let url = format!("{}/api", server.base);
    for _ in 0..3 {
        assert_eq!(get(&url, &[("X-Api-Key", "alice")]).status, 200);
    }
    assert_eq!(get(&url, &[("X-Api-Key", "alice")]).status, 429);
    assert_eq!(get(&url, &[("X-Api-Key", "bob")]).status, 200);
    // No key: one shared key for all such requests.
    for _ in 0..3 {
        assert_eq!(get(&url, &[]).status, 200);
    }
    assert_eq!(get(&url, &[]).status, 429);
    let metrics = get(&format!("{}/metrics", server.base), &[]).body;
    assert!(
        metrics.contains("tollgate_decisions_total{outcome=\"allowed\"} 7"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_decisions_total{outcome=\"denied\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_denied_total{limit=\"minute\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("tollgate_keys 3"), "{metrics}");
    assert!(
        metrics.contains("tollgate_store_errors_total 0"),
        "{metrics}"
    );
}

#[test]
fn test_headers_are_honoured_only_when_enabled() {
    let url = |s: &Server| format!("{}/api", s.base);
    let off = serve(MINUTE_3, &[]);
    assert_eq!(get(&url(&off), &[("X-RateLimit", "1")]).status, 200);
    honours_test_headers(&serve(MINUTE_3, &["--test-headers"]));
}

/// The same through Redis: the script decides overrides as the core's policy does.
#[test]
fn test_headers_through_redis() {
    let redis = tollgate_testkit::redis::RedisServer::start().unwrap();
    let url = redis.url();
    let off = serve(MINUTE_3, &["--redis", &url, "--redis-namespace", "off"]);
    assert_eq!(
        get(&format!("{}/api", off.base), &[("X-RateLimit", "1")]).status,
        200
    );
    honours_test_headers(&serve(
        MINUTE_3,
        &["--test-headers", "--redis", &url, "--redis-namespace", "on"],
    ));
}

/// A server of `MINUTE_3` with `--test-headers`: a forced 429 charges nothing, a lowered limit
/// holds for its request only, and a limit is never raised.
fn honours_test_headers(on: &Server) {
    let url = format!("{}/api", on.base);
    let forced = get(&url, &[("X-RateLimit", "1")]);
    assert_eq!(forced.status, 429);
    // Forced by the header, not by a limit: nothing charged, nothing to wait for.
    assert!(
        forced.body.contains("\"limit_exceeded\":null"),
        "{}",
        forced.body
    );
    assert_eq!(forced.header("x-ratelimit-remaining"), "3");
    assert!(forced.headers.get("retry-after").is_none());
    // Lowering a limit for one request: 1 a minute, then back to 3.
    assert_eq!(get(&url, &[("X-RateLimit-Minute", "1")]).status, 200);
    assert_eq!(get(&url, &[("X-RateLimit-Minute", "1")]).status, 429);
    assert_eq!(get(&url, &[]).status, 200);
    // Never raised.
    assert_eq!(get(&url, &[("X-RateLimit-Minute", "100")]).status, 200);
    assert_eq!(get(&url, &[("X-RateLimit-Minute", "100")]).status, 429);
}

#[test]
fn header_styles_and_the_carrier_denial() {
    // One per 10 s, so the second request is denied however slow the machine.
    let policy = "[[limit]]\nname = \"second\"\nalgorithm = \"gcra\"\nlimit = 1\nwindow = \"10s\"\nburst = 1\n\n[[limit]]\nname = \"ten\"\nalgorithm = \"sliding-window\"\nlimit = 10\nwindow = \"10s\"\n";
    let server = serve(
        policy,
        &[
            "--values",
            "per-limit",
            "--reset",
            "epoch-millis",
            "--deny-status",
            "403",
        ],
    );
    let url = format!("{}/api/messages", server.base);
    let r = get(&url, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit"), "1, 10");
    assert_eq!(r.header("x-ratelimit-remaining"), "0, 9");
    let resets: Vec<u64> = r
        .header("x-ratelimit-reset")
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!(
        resets
            .iter()
            .all(|&ms| ms > now_ms - 1_000 && ms < now_ms + 12_000),
        "{resets:?}"
    );
    let r = get(&url, &[]);
    assert_eq!(r.status, 403);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["code"], "message-rate-limit", "{}", r.body);
    assert_eq!(body["details"][0]["value"], "second", "{}", r.body);
}

/// nginx's `limit_req rate=10r/s burst=5 delay=2`, served: of seven requests sent at once,
/// three are answered at once, three are held back until their turns 100, 200 and 300 ms
/// later, and one is refused; the held ones are answered 200, never early. (A request that
/// reaches the server a turn late finds a turn free, so the seventh may pass on a slow day.)
#[test]
fn a_limit_req_holds_requests_back_until_their_turn() {
    let policy = include_str!("../examples/policies/nginx-limit-req.toml");
    let server = serve(policy, &[]);
    let url = format!("{}/api/x", server.base);
    let started = std::time::Instant::now();
    let replies: Vec<(u16, Duration)> = std::thread::scope(|s| {
        let sent: Vec<_> = (0..7)
            .map(|_| s.spawn(|| (get(&url, &[]).status, started.elapsed())))
            .collect();
        sent.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut ok: Vec<Duration> = replies.iter().filter(|r| r.0 == 200).map(|r| r.1).collect();
    let refused = replies.iter().filter(|r| r.0 == 429).count();
    assert_eq!(ok.len() + refused, 7, "{replies:?}");
    assert!((6..=7).contains(&ok.len()), "{replies:?}");
    ok.sort();
    for (i, at) in ok.iter().enumerate() {
        let turn = Duration::from_millis(100 * (i.saturating_sub(2) as u64));
        assert!(
            *at >= turn,
            "reply {i} at {at:?}, before its turn: {replies:?}"
        );
    }
}

#[test]
fn a_concurrency_place_is_held_until_the_body_has_been_sent() {
    let policy = "[[limit]]\nname = \"concurrent\"\nalgorithm = \"concurrency\"\nlimit = 1\n";
    let server = serve(policy, &[]);
    let slow = format!("{}/api/stream?chunks=4&ms=250", server.base);
    let fast = format!("{}/api/quick", server.base);
    // The headers of the slow response arrive at once; its body takes a second.
    let mut response = agent().get(&slow).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut reader = response.body_mut().as_reader();
    let mut first = [0u8; 5];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"tick\n");
    // Mid-body: the place is still held.
    let denied = get(&fast, &[]);
    assert_eq!(denied.status, 429, "{}", denied.body);
    assert!(denied.body.contains("\"limit_exceeded\":\"concurrent\""));
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "tick\ntick\ntick\n");
    drop(reader);
    drop(response);
    // The body is sent: the place is free.
    let mut ok = get(&fast, &[]);
    for _ in 0..50 {
        if ok.status == 200 {
            break;
        }
        // The server learns the body ended a moment after the client read it all.
        std::thread::sleep(Duration::from_millis(20));
        ok = get(&fast, &[]);
    }
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[test]
fn sigterm_shuts_it_down_gracefully() {
    let mut server = serve(MINUTE_3, &[]);
    assert_eq!(get(&format!("{}/healthz", server.base), &[]).status, 200);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    server
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert!(rest.contains("shut down"), "{rest:?}");
}

#[test]
fn bad_options_are_errors_not_panics() {
    for args in [
        &["serve", "--policy", "no/such.toml"][..],
        &["serve", "--policy", "no/such.toml", "--key", "cookie:x"][..],
        &["serve", "--policy", "no/such.toml", "--deny-status", "500"][..],
    ] {
        let o = Command::new(BIN).args(args).output().unwrap();
        assert!(!o.status.success());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A file of tiers needs --tier.
    let tiers =
        std::env::temp_dir().join(format!("tollgate-serve-tiers-{}.toml", std::process::id()));
    std::fs::write(
        &tiers,
        "[[tiers.free.limit]]\nname = \"m\"\nalgorithm = \"gcra\"\nlimit = 1\nwindow = \"1s\"\n\n[[tiers.pro.limit]]\nname = \"m\"\nalgorithm = \"gcra\"\nlimit = 2\nwindow = \"1s\"\n",
    )
    .unwrap();
    let o = Command::new(BIN)
        .args([
            "serve",
            "--policy",
            tiers.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("choose one"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_paced_client_never_gets_two_429s_in_a_row() {
    let policy =
        "[[limit]]\nname = \"second\"\nalgorithm = \"sliding-log\"\nlimit = 2\nwindow = \"1s\"\n";
    let server = serve(policy, &[]);
    let url = format!("{}/api/paced", server.base);
    let pacer = tollgate_std::client::Pacer::new(Duration::from_millis(50), Duration::from_secs(5))
        .unwrap();
    let agent = agent();
    let start = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        pacer.wait();
        let response = agent.get(&url).call().unwrap();
        let status = response.status().as_u16();
        assert!(!pacer.on_response(status, response.headers()).is_give_up());
        statuses.push(status);
    }
    assert!(
        !statuses.windows(2).any(|w| w == [429, 429]),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|&&s| s == 200).count() >= 6,
        "{statuses:?}"
    );
    // Two a second: seven requests need at least two full windows.
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn plans_are_picked_per_request_by_a_header() {
    let plans = "[[tiers.free.limit]]\nname = \"minute\"\nalgorithm = \"sliding-window\"\nlimit = 1\nwindow = \"1m\"\n\n[[tiers.pro.limit]]\nname = \"minute\"\nalgorithm = \"sliding-window\"\nlimit = 2\nwindow = \"1m\"\n";
    let server = serve(
        plans,
        &[
            "--tier",
            "free",
            "--tier-header",
            "X-Plan",
            "--key",
            "header:X-Api-Key",
        ],
    );
    let url = format!("{}/api", server.base);
    let pro = [("X-Api-Key", "k"), ("X-Plan", "pro")];
    assert_eq!(get(&url, &pro).status, 200);
    let second = get(&url, &pro);
    assert_eq!(
        (second.status, second.header("x-ratelimit-limit")),
        (200, "2")
    );
    assert_eq!(get(&url, &pro).status, 429);
    // Without the header: the default plan, free.
    let free = get(&url, &[("X-Api-Key", "k")]);
    assert_eq!((free.status, free.header("x-ratelimit-limit")), (200, "1"));
    assert_eq!(get(&url, &[("X-Api-Key", "k")]).status, 429);
    let gold = get(&url, &[("X-Api-Key", "k"), ("X-Plan", "gold")]);
    assert_eq!(gold.status, 400);
    assert!(gold.body.contains("unknown_tier"), "{}", gold.body);
}

#[test]
fn a_flood_of_new_keys_is_bounded() {
    // 64 keys at most: one per shard of the key table.
    let server = serve(MINUTE_3, &["--key", "header:X-Api-Key", "--max-keys", "64"]);
    let url = format!("{}/api", server.base);
    let mut refused = 0;
    for i in 0..200 {
        let r = get(&url, &[("X-Api-Key", &format!("flood-{i}"))]);
        match r.status {
            200 => {}
            503 => {
                refused += 1;
                let wait: u64 = r.header("retry-after").parse().unwrap();
                assert!((1..=60).contains(&wait), "{wait}");
            }
            other => panic!("status {other}: {}", r.body),
        }
    }
    assert!(refused >= 200 - 64, "{refused} refused");
    let metrics = get(&format!("{}/metrics", server.base), &[]).body;
    assert!(
        metrics.contains(&format!("tollgate_store_errors_total {refused}")),
        "{metrics}"
    );
    assert!(metrics.contains("tollgate_keys "), "{metrics}");
}

// Through Redis: `--redis`, against a private redis-server the test starts (the test kit's).

use tollgate_testkit::redis::RedisServer;

/// Requests admitted, by when each was sent and when its answer came back.
#[derive(Clone, Copy, Debug)]
struct Admitted {
    sent: std::time::Instant,
    answered: std::time::Instant,
}

/// The most admitted requests decided within any span shorter than `window`: those sent at or
/// after one request was sent and answered less than `window` later. Each was decided between
/// its sending and its answer, so they were all decided within that span, whatever the delays.
fn most_in_a_window(admitted: &[Admitted], window: Duration) -> usize {
    admitted
        .iter()
        .map(|a| {
            admitted
                .iter()
                .filter(|b| b.sent >= a.sent && b.answered < a.sent + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn two_servers_sharing_one_redis_admit_the_policy_once() {
    let redis = RedisServer::start().unwrap();
    two_servers_admit_the_policy_once(&["--redis", &redis.url()]);
}

/// The same on a Redis Cluster of three nodes, both servers told of one node that does not
/// serve the key (they find the one that does).
#[test]
fn two_servers_sharing_a_redis_cluster_admit_the_policy_once() {
    let cluster = tollgate_testkit::redis::RedisCluster::start(3).unwrap();
    let key = "tollgate:{k=one-key}:default:burst";
    let elsewhere = (cluster.node_of(key).unwrap() + 1) % 3;
    let url = cluster.nodes()[elsewhere].url();
    two_servers_admit_the_policy_once(&["--redis", &url, "--redis-cluster"]);
    let home = &cluster.nodes()[cluster.node_of(key).unwrap()];
    assert_eq!(home.command(&["EXISTS", key]).unwrap(), "1");
}

/// Two servers deciding through the Redis of `redis_args`, hammered by six threads, never admit
/// more than the policy between them.
fn two_servers_admit_the_policy_once(redis_args: &[&str]) {
    // 20 per 2 s, for both servers together.
    let policy =
        "[[limit]]\nname = \"burst\"\nalgorithm = \"sliding-log\"\nlimit = 20\nwindow = \"2s\"\n";
    let mut args = redis_args.to_vec();
    args.extend(["--key", "header:X-Api-Key"]);
    let servers = [serve(policy, &args), serve(policy, &args)];
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let run = Duration::from_millis(4_500);
    let start = std::time::Instant::now();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let bases = bases.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut admitted = Vec::new();
                let mut per_server = [0usize; 2];
                let mut denied = 0usize;
                let mut i = t;
                while start.elapsed() < run {
                    // Each thread goes to both servers, in turn.
                    let server = i % 2;
                    i += 1;
                    let sent = std::time::Instant::now();
                    let mut response = agent
                        .get(format!("{}/api/shared", bases[server]))
                        .header("X-Api-Key", "one-key")
                        .call()
                        .unwrap();
                    let answered = std::time::Instant::now();
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = response.body_mut().read_to_string().unwrap();
                    match status {
                        200 => {
                            admitted.push(Admitted { sent, answered });
                            per_server[server] += 1;
                        }
                        429 => {
                            denied += 1;
                            let wait: u64 =
                                headers["retry-after"].to_str().unwrap().parse().unwrap();
                            assert!((1..=2).contains(&wait), "Retry-After {wait}");
                            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                            assert_eq!(json["status"], 429, "{body}");
                            assert_eq!(json["limit_exceeded"], "burst", "{body}");
                        }
                        other => panic!("status {other}: {body}"),
                    }
                }
                (admitted, per_server, denied)
            })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut per_server = [0usize; 2];
    let mut denied = 0;
    for t in threads {
        let (a, p, d) = t.join().unwrap();
        admitted.extend(a);
        per_server[0] += p[0];
        per_server[1] += p[1];
        denied += d;
    }
    let window = Duration::from_secs(2);
    let most = most_in_a_window(&admitted, window);
    assert!(
        most <= 20,
        "{most} admitted within 2 s by the two servers together ({per_server:?} in all)"
    );
    // Both servers admitted, the limit was reached, and most requests were denied.
    assert!(per_server.iter().all(|&n| n > 0), "{per_server:?}");
    assert!(most >= 15, "{most}: the limit was never reached");
    assert!(
        denied > admitted.len(),
        "{denied} denied, {} admitted",
        admitted.len()
    );
    // Every decision was Redis's, counted by the server that asked.
    let mut allowed = 0;
    for s in &servers {
        let metrics = get(&format!("{}/metrics", s.base), &[]).body;
        assert!(
            metrics.contains("tollgate_store_errors_total 0"),
            "{metrics}"
        );
        allowed += metric(&metrics, "tollgate_decisions_total{outcome=\"allowed\"}");
    }
    assert_eq!(allowed, admitted.len() as u64);
}

/// The value of the metric `name` (with its labels) in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn headers_through_redis_are_those_of_the_memory_store() {
    let redis = RedisServer::start().unwrap();
    let server = serve(MINUTE_3, &["--redis", &redis.url()]);
    let url = format!("{}/api/things", server.base);
    let started = unix_secs();
    for remaining in ["2", "1", "0"] {
        let r = get(&url, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, "{\"ok\":true,\"path\":\"/api/things\"}\n");
        assert_eq!(r.header("x-ratelimit-limit"), "3");
        assert_eq!(r.header("x-ratelimit-remaining"), remaining);
        // Epoch seconds by the Redis server's clock (this machine's): a minute after a
        // request made since `started`, rounded up.
        let reset: u64 = r.header("x-ratelimit-reset").parse().unwrap();
        assert!(
            (started + 60..=unix_secs() + 61).contains(&reset),
            "{reset} at {}",
            unix_secs()
        );
        assert_eq!(r.header("ratelimit-policy"), "\"minute\";q=3;w=60");
        assert!(
            r.header("ratelimit")
                .starts_with(&format!("\"minute\";r={remaining};t="))
        );
        assert!(r.headers.get("retry-after").is_none());
    }
    let r = get(&url, &[]);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(
        ["59", "60"].contains(&r.header("retry-after")),
        "{}",
        r.header("retry-after")
    );
    assert_eq!(r.header("x-ratelimit-remaining"), "0");
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["limit_exceeded"], "minute");
    // The states are in Redis, under the default namespace; none in memory.
    let keys = redis.command(&["KEYS", "tollgate:*"]).unwrap();
    assert!(
        keys.contains("tollgate:{k=127.0.0.1}:default:minute"),
        "{keys}"
    );
    let metrics = get(&format!("{}/metrics", server.base), &[]).body;
    assert!(metrics.contains("tollgate_keys 0"), "{metrics}");
    assert!(
        metrics.contains("tollgate_denied_total{limit=\"minute\"} 1"),
        "{metrics}"
    );

    // Epoch milliseconds too.
    let millis = serve(
        MINUTE_3,
        &[
            "--redis",
            &redis.url(),
            "--reset",
            "epoch-millis",
            "--redis-namespace",
            "ms",
        ],
    );
    let before = unix_millis();
    let r = get(&format!("{}/api", millis.base), &[]);
    let after = unix_millis();
    // Decided between `before` and `after`: its entry leaves the window a minute later (to
    // the millisecond, rounded up).
    let reset: u64 = r.header("x-ratelimit-reset").parse().unwrap();
    assert!(
        (before + 60_000..=after + 60_001).contains(&reset),
        "{reset} for a request between {before} and {after}"
    );
}

#[test]
fn a_concurrency_place_in_redis_is_given_back_when_the_body_has_been_sent() {
    let redis = RedisServer::start().unwrap();
    let policy = "[[limit]]\nname = \"concurrent\"\nalgorithm = \"concurrency\"\nlimit = 1\n";
    let args = ["--redis", &redis.url()];
    // Two servers: the place taken through one is held for the other too.
    let (one, two) = (serve(policy, &args), serve(policy, &args));
    let slow = format!("{}/api/stream?chunks=4&ms=250", one.base);
    let mut response = agent().get(&slow).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut reader = response.body_mut().as_reader();
    let mut first = [0u8; 5];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"tick\n");
    let denied = get(&format!("{}/api/quick", two.base), &[]);
    assert_eq!(denied.status, 429, "{}", denied.body);
    assert!(denied.body.contains("\"limit_exceeded\":\"concurrent\""));
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    drop(reader);
    drop(response);
    // Sent: released in Redis, by a task, a moment later.
    let mut ok = get(&format!("{}/api/quick", two.base), &[]);
    for _ in 0..100 {
        if ok.status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        ok = get(&format!("{}/api/quick", two.base), &[]);
    }
    assert_eq!(ok.status, 200, "{}", ok.body);
}

/// Sends requests until `done` says so, for at most 10 s; the last reply.
fn until(url: &str, headers: &[(&str, &str)], done: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(url, headers);
        if done(&r) || std::time::Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_redis_that_dies_is_decided_by_the_failure_policy_and_used_again_once_back() {
    let mut redis = RedisServer::start().unwrap();
    let url = redis.url();
    let with = |failure: &str, namespace: &str| {
        serve(
            MINUTE_3,
            &[
                "--redis",
                &url,
                "--on-redis-failure",
                failure,
                "--redis-namespace",
                namespace,
                "--redis-timeout",
                "200ms",
            ],
        )
    };
    let closed = with("closed", "closed");
    let open = with("open", "open");
    let local = with("local", "local");
    let api = |s: &Server| format!("{}/api", s.base);
    for s in [&closed, &open, &local] {
        let statuses: Vec<u16> = (0..4).map(|_| get(&api(s), &[]).status).collect();
        assert_eq!(statuses, [200, 200, 200, 429]);
    }

    redis.kill();
    for _ in 0..3 {
        let r = get(&api(&closed), &[]);
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.header("retry-after"), "1");
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(
            r.body,
            r#"{"status":503,"error":"rate limit store unavailable"}"#
        );
        assert!(r.headers.get("x-ratelimit-limit").is_none());
        let r = get(&api(&open), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.headers.get("x-ratelimit-limit").is_none(),
            "{:?}",
            r.headers
        );
        assert!(r.headers.get("ratelimit").is_none(), "{:?}", r.headers);
    }
    // Local: the server's own memory limits, with the usual headers.
    let statuses: Vec<(u16, String)> = (0..4)
        .map(|_| {
            let r = get(&api(&local), &[]);
            (r.status, r.header("x-ratelimit-remaining").to_owned())
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (200, "2".to_owned()),
            (200, "1".to_owned()),
            (200, "0".to_owned()),
            (429, "0".to_owned())
        ]
    );
    let errors = |s: &Server| {
        metric(
            &get(&format!("{}/metrics", s.base), &[]).body,
            "tollgate_store_errors_total",
        )
    };
    assert_eq!(errors(&closed), 3);
    assert_eq!(errors(&open), 3);
    assert_eq!(errors(&local), 4);
    let metrics = get(&format!("{}/metrics", local.base), &[]).body;
    assert!(metrics.contains("tollgate_keys 1"), "{metrics}");

    // Back (empty: its states were lost): the same servers limit through it again. Its first
    // decision is a 200 with headers (the local policy has no more room for this minute).
    redis.restart().unwrap();
    for s in [&closed, &open, &local] {
        let back = until(&api(s), &[], |r| {
            r.status == 200 && r.headers.get("x-ratelimit-limit").is_some()
        });
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(back.header("x-ratelimit-remaining"), "2");
        let denied = until(&api(s), &[], |r| r.status == 429);
        assert_eq!(denied.status, 429, "{}", denied.body);
        assert!(
            denied.body.contains("\"limit_exceeded\":\"minute\""),
            "{}",
            denied.body
        );
        assert!(denied.headers.get("retry-after").is_some());
    }
    // Decided in Redis again: it holds each server's key.
    let keys = redis.command(&["KEYS", "*"]).unwrap();
    for ns in ["closed", "open", "local"] {
        assert!(
            keys.contains(&format!("{ns}:{{k=127.0.0.1}}:default:minute")),
            "{keys}"
        );
    }
}

#[test]
fn redis_options_are_checked_at_start() {
    let policy =
        std::env::temp_dir().join(format!("tollgate-serve-redis-{}.toml", std::process::id()));
    std::fs::write(&policy, MINUTE_3).unwrap();
    let policy = policy.to_str().unwrap();
    let base = ["serve", "--policy", policy, "--listen", "127.0.0.1:0"];
    let fails = |extra: &[&str], says: &str| {
        let o = Command::new(BIN).args(base).args(extra).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    fails(&["--on-redis-failure", "open"], "--redis");
    fails(
        &[
            "--redis",
            "redis://127.0.0.1:1/",
            "--on-redis-failure",
            "maybe",
        ],
        "maybe",
    );
    fails(
        &["--redis", "redis://127.0.0.1:1/", "--redis-timeout", "0ms"],
        "zero",
    );
    fails(
        &[
            "--redis",
            "redis://127.0.0.1:1/",
            "--redis-namespace",
            "a{b}",
        ],
        "braces",
    );
    fails(&["--redis", "http://example.invalid/"], "--redis");
    fails(
        &["--redis", "redis://127.0.0.1:1/", "--redis-lease", "0s"],
        "lease",
    );
    fails(&["--redis-cluster"], "--redis");
}

/// A server that dies in the middle of a response never releases its place in Redis: the
/// place comes back to the other servers when its lease (`--redis-lease`) ends, not before.
#[test]
fn the_place_of_a_server_that_died_comes_back_after_its_lease() {
    let redis = RedisServer::start().unwrap();
    let policy = "[[limit]]\nname = \"concurrent\"\nalgorithm = \"concurrency\"\nlimit = 1\n";
    let args = ["--redis", &redis.url(), "--redis-lease", "1500ms"];
    let (mut one, two) = (serve(policy, &args), serve(policy, &args));
    let slow = format!("{}/api/stream?chunks=40&ms=250", one.base);
    let mut response = agent().get(&slow).call().unwrap();
    let started = std::time::Instant::now();
    let mut first = [0u8; 5];
    response
        .body_mut()
        .as_reader()
        .read_exact(&mut first)
        .unwrap();
    // The server dies holding the place.
    one.child.kill().unwrap();
    one.child.wait().unwrap();
    drop(response);
    let quick = format!("{}/api/quick", two.base);
    let denied = get(&quick, &[]);
    assert_eq!(denied.status, 429, "{}", denied.body);
    let back = until(&quick, &[], |r| r.status == 200);
    let elapsed = started.elapsed();
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(
        elapsed >= Duration::from_millis(1_000),
        "the place came back after {elapsed:?}"
    );
}
