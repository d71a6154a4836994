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
    let on = serve(MINUTE_3, &["--test-headers"]);
    let forced = get(&url(&on), &[("X-RateLimit", "1")]);
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
    assert_eq!(get(&url(&on), &[("X-RateLimit-Minute", "1")]).status, 200);
    assert_eq!(get(&url(&on), &[("X-RateLimit-Minute", "1")]).status, 429);
    assert_eq!(get(&url(&on), &[]).status, 200);
    // Never raised.
    assert_eq!(get(&url(&on), &[("X-RateLimit-Minute", "100")]).status, 200);
    assert_eq!(get(&url(&on), &[("X-RateLimit-Minute", "100")]).status, 429);
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
