//! `tollgate simulate` as a user runs it: the built binary, as a separate process, with files on
//! disk and traces on standard input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies")
}

/// A fresh directory for one test's files (tests run in parallel threads of one process),
/// removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

fn scratch(name: &str) -> Scratch {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A run that fails early stops reading: the rest of its input is not its concern.
    let _ = input.write_all(stdin.unwrap_or("").as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `tollgate simulate --policy POLICY --trace - --out OUT EXTRA…` with `trace` on its input.
fn simulate_stdin(policy: &Path, trace: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--trace",
        "-",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args, Some(trace))
}

/// Simulates `trace` (JSON lines) against the example policy `policy`; the decisions.
fn decisions(policy: &str, trace: &str, extra: &[&str]) -> Vec<Value> {
    let dir = scratch(policy);
    let out = dir.join("decisions.jsonl");
    let o = simulate_stdin(&policies().join(policy), trace, &out, extra);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let written = std::fs::read_to_string(&out).unwrap();
    written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn field<'a>(d: &'a Value, name: &str) -> &'a Value {
    d.get(name)
        .unwrap_or_else(|| panic!("no field {name} in {d}"))
}

#[test]
fn the_bundled_example_runs_out_of_the_box() {
    let dir = scratch("bundled");
    let out = dir.join("d.jsonl");
    let plot = dir.join("p.svg");
    let o = run(
        &[
            "simulate",
            "--out",
            out.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Piped: no progress bar, nothing on standard error.
    assert_eq!(text(&o.stderr), "");
    let stdout = text(&o.stdout);
    for expected in [
        "policy  std-adapter/examples/policies/000-concurrent-minute-quarter.toml",
        "4,200 requests from 0.0 s to 989.8 s, 3 keys: 2,898 admitted (69.0%), 1,302 denied",
        "concurrent  concurrency  5 in flight     282  5 at once",
        "minute      sliding-log  300 per 1m      360  300 in a 1m window",
        "15min       sliding-log  900 per 15m     660  900 in a 15m window",
        "acct-steady  default     1,200       900     300",
        "decisions: ",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in\n{stdout}");
    }
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 4_200);
    // Exactly the fields, in the order the format gives them.
    const FIELDS: [&str; 9] = [
        "t_ms",
        "key",
        "allowed",
        "limit",
        "remaining",
        "reset_ms",
        "retry_after_ms",
        "exceeded",
        "delay_ms",
    ];
    for line in lines.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value.as_object().unwrap().len(), FIELDS.len(), "{line}");
        let mut at = 0;
        for field in FIELDS {
            let found = line[at..].find(&format!("\"{field}\":"));
            at += found.unwrap_or_else(|| panic!("{field} missing or out of order in {line}"));
        }
    }
    assert_eq!(
        lines.lines().next().unwrap(),
        r#"{"t_ms":37,"key":"acct-steady","allowed":true,"limit":5,"remaining":4,"reset_ms":1000,"retry_after_ms":null,"exceeded":null,"delay_ms":0}"#
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"));
    for panel in [
        "concurrent: in flight",
        "minute: admitted in the last 1m",
        "15min: admitted in the last 15m",
    ] {
        assert!(svg.contains(panel), "no panel {panel}");
    }
}

#[test]
fn holds_release_at_their_end_and_a_request_then_finds_room() {
    // Seed 000: at most 5 in flight. Six requests at once, each held a second.
    let mut trace = String::new();
    for _ in 0..6 {
        trace.push_str("{\"t_ms\": 0, \"key\": \"a\", \"hold_ms\": 1000}\n");
    }
    trace.push_str("{\"t_ms\": 999, \"key\": \"a\"}\n");
    trace.push_str("{\"t_ms\": 999, \"key\": \"b\"}\n"); // another key is not held back
    trace.push_str("{\"t_ms\": 1000, \"key\": \"a\"}\n");
    let d = decisions("000-concurrent-minute-quarter.toml", &trace, &[]);
    let allowed: Vec<bool> = d.iter().map(|d| field(d, "allowed") == true).collect();
    assert_eq!(
        allowed,
        [true, true, true, true, true, false, false, true, true]
    );
    let remaining: Vec<u64> = d[..5]
        .iter()
        .map(|d| field(d, "remaining").as_u64().unwrap())
        .collect();
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    assert_eq!(field(&d[5], "exceeded"), "concurrent");
    assert_eq!(field(&d[5], "limit"), 5);
    assert_eq!(field(&d[0], "exceeded"), &Value::Null);
    assert_eq!(field(&d[0], "retry_after_ms"), &Value::Null);
    assert!(field(&d[5], "retry_after_ms").as_u64().unwrap() > 0);
}

#[test]
fn an_nginx_limit_req_queues_then_refuses() {
    // rate=10r/s burst=5 delay=2: 3 pass at once, 3 wait 100, 200 and 300 ms, the 7th is refused.
    let trace = "{\"t_ms\": 0, \"key\": \"10.0.0.1\"}\n".repeat(7);
    let d = decisions("nginx-limit-req.toml", &trace, &[]);
    let delays: Vec<Option<u64>> = d
        .iter()
        .map(|d| (field(d, "allowed") == true).then(|| field(d, "delay_ms").as_u64().unwrap()))
        .collect();
    assert_eq!(
        delays,
        [
            Some(0),
            Some(0),
            Some(0),
            Some(100),
            Some(200),
            Some(300),
            None
        ]
    );
    assert_eq!(field(&d[6], "exceeded"), "api");
    assert_eq!(field(&d[6], "delay_ms"), 0);
}

#[test]
fn tiers_apply_per_line_and_a_cost_that_never_fits_has_no_retry() {
    // Seed 001's free plan: 30 a minute.
    let mut trace = String::new();
    for t in 0..31 {
        trace.push_str(&format!(
            "{{\"t_ms\": {t}, \"key\": \"k\", \"tier\": \"free\"}}\n"
        ));
    }
    trace.push_str("{\"t_ms\": 40, \"key\": \"k\", \"tier\": \"pro\"}\n"); // its own state
    trace.push_str("{\"t_ms\": 41, \"key\": \"k\", \"tier\": \"free\", \"cost\": 31}\n");
    let d = decisions("001-plan-tiers.toml", &trace, &[]);
    assert!(d[..30].iter().all(|d| field(d, "allowed") == true));
    assert_eq!(field(&d[30], "allowed"), false);
    assert_eq!(field(&d[30], "exceeded"), "minute");
    assert!(field(&d[30], "retry_after_ms").as_u64().unwrap() > 0);
    assert_eq!(field(&d[31], "allowed"), true);
    assert_eq!(field(&d[32], "allowed"), false);
    assert_eq!(field(&d[32], "retry_after_ms"), &Value::Null);
    assert_eq!(field(&d[32], "exceeded"), "minute");
    assert_eq!(field(&d[32], "limit"), 30);

    // --tier gives lines without one their tier.
    let d = decisions(
        "001-plan-tiers.toml",
        "{\"t_ms\": 0}\n",
        &["--tier", "agency"],
    );
    assert_eq!(field(&d[0], "allowed"), true);
    assert_eq!(field(&d[0], "key"), &Value::Null);
}

/// Runs a simulation that must fail; its standard error, after checking that it failed with
/// status 1 and left no decisions file, whole or partial.
fn fails(policy: &Path, trace: &str, extra: &[&str]) -> String {
    let dir = scratch("fail");
    let out = dir.join("d.jsonl");
    let o = simulate_stdin(policy, trace, &out, extra);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(!out.exists(), "a decisions file after a failure");
    assert_eq!(
        std::fs::read_dir(&*dir).unwrap().count(),
        0,
        "files left behind"
    );
    let stderr = text(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_traces_are_reported_by_line_and_leave_no_decisions() {
    let policy = policies().join("000-concurrent-minute-quarter.toml");
    let ok = "{\"t_ms\": 5}\n";
    for (trace, expected) in [
        (
            format!("{ok}{ok}{{\"t_ms\": 5,}}\n"),
            "trace line 3: not a request object",
        ),
        (
            format!("{ok}\n{{\"t_ms\": 4}}\n"),
            "trace line 3: time goes backwards: t_ms 4 after 5",
        ),
        (
            format!("{ok}{{\"t_ms\": -1}}\n"),
            "trace line 2: not a request object",
        ),
        (format!("{ok}[5]\n"), "trace line 2: not a request object"),
        (
            "{\"t_ms\": 5, \"cots\": 2}\n".to_string(),
            "unknown field `cots`",
        ),
        (
            "{\"t_ms\": 5, \"tier\": \"gold\"}\n".to_string(),
            "trace line 1: the policy has no tier \"gold\"",
        ),
        (
            "{\"t_ms\": 18446744073709551615}\n".to_string(),
            "trace line 1: t_ms 18446744073709551615 is too late to simulate",
        ),
        (
            "not json\n".to_string(),
            "trace line 1: not a request object",
        ),
        (
            "\x0c{\"t_ms\": 5}\n".to_string(),
            "trace line 1: not a request object",
        ),
        (
            format!("{ok}{}\n", " ".repeat(2 << 20)),
            "trace line 2: longer than 1048576 bytes",
        ),
        // The first error in the trace is the one reported, wherever the reads fall.
        (
            format!("{ok}{ok}not json\n{ok}{ok}{}\n", "x".repeat(2 << 20)),
            "trace line 3: not a request object",
        ),
    ] {
        let stderr = fails(&policy, &trace, &[]);
        assert!(stderr.starts_with("tollgate: "), "{stderr}");
        assert!(stderr.contains(expected), "{expected:?} not in {stderr:?}");
    }
    // A file of tiers only: a line must name one (or --tier).
    let stderr = fails(&policies().join("001-plan-tiers.toml"), ok, &[]);
    assert!(
        stderr.contains("trace line 1: the line names no \"tier\""),
        "{stderr}"
    );
    let stderr = fails(&policy, ok, &["--tier", "gold"]);
    assert!(
        stderr.contains("the policy has no tier \"gold\""),
        "{stderr}"
    );
}

#[test]
fn bad_policies_are_reported_with_file_and_line() {
    let dir = scratch("bad-policy");
    let policy = dir.join("p.toml");
    let simulate = |text: &str| {
        std::fs::write(&policy, text).unwrap();
        let o = run(
            &[
                "simulate",
                "--policy",
                policy.to_str().unwrap(),
                "--trace",
                "-",
            ],
            Some("{\"t_ms\": 0}\n"),
        );
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let stderr = simulate(
        "[[limit]]\nname = \"minute\"\nalgorithm = \"gcra\"\nlimit = 0\nwindow = \"1m\"\n",
    );
    assert!(stderr.contains("p.toml:4"), "{stderr}");
    assert!(stderr.contains("limit[0].limit"), "{stderr}");
    let stderr = simulate(
        "[[limit]]\nname = \"x\"\nalgorithm = \"token-bucket\"\nlimit = 1\nwindow = \"1s\"\n",
    );
    assert!(stderr.contains("token-bucket"), "{stderr}");

    let o = run(
        &["simulate", "--policy", "no/such.toml", "--trace", "-"],
        Some(""),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no/such.toml: cannot read the file"));
    let example = policies().join("000-concurrent-minute-quarter.toml");
    let o = run(
        &[
            "simulate",
            "--policy",
            example.to_str().unwrap(),
            "--trace",
            "no/such.jsonl",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no/such.jsonl: cannot read the trace"));
}

#[test]
fn usage_errors_exit_2() {
    let policy = policies().join("000-concurrent-minute-quarter.toml");
    // --policy without --trace, and an unknown option.
    let o = run(&["simulate", "--policy", policy.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["simulate", "--speed", "9"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--help"], None);
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("simulate"));
}

#[test]
fn check_says_what_each_limit_guarantees_and_warns() {
    let policy = policies().join("000-concurrent-minute-quarter.toml");
    let o = run(&["check", policy.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("000-concurrent-minute-quarter.toml: ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("default (14,592 bytes of state per key)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("at most 300 in any 1m window, exactly"),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");

    let dir = scratch("check");
    let file = dir.join("burst.toml");
    std::fs::write(
        &file,
        "[[limit]]\nname = \"minute\"\nalgorithm = \"gcra\"\nlimit = 300\nwindow = \"1m\"\n",
    )
    .unwrap();
    let o = run(&["check", file.to_str().unwrap()], None);
    assert!(o.status.success());
    assert!(
        text(&o.stdout).contains(
            "warning: line 1: minute: admits up to 599 in one 1m window, 2.00× its limit of 300"
        ),
        "{}",
        text(&o.stdout)
    );
    std::fs::write(
        &file,
        "[[limit]]\nname = \"minute\"\nalgorithm = \"gcra\"\nwindow = \"1m\"\n",
    )
    .unwrap();
    let o = run(&["check", file.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("burst.toml:1"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn decisions_go_to_standard_output_and_devices_as_they_are() {
    use std::os::unix::fs::FileTypeExt;

    // `-`: the decisions on standard output, the summary on standard error.
    let o = run(&["simulate", "--out", "-"], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert_eq!(stdout.lines().count(), 4_200);
    assert!(stdout.lines().all(|l| l.starts_with("{\"t_ms\":")));
    assert!(text(&o.stderr).contains("decisions: standard output (4200 lines)"));

    // A device is written, never replaced by a renamed file.
    let o = run(&["simulate", "--out", "/dev/null"], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // A link to a file: the file gets the decisions, the link stays a link.
    let dir = scratch("link");
    let (real, link) = (dir.join("real.jsonl"), dir.join("link.jsonl"));
    std::fs::write(&real, "old\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = run(&["simulate", "--out", link.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap().lines().count(),
        4_200
    );
}

/// A saved OpenAI 429, as `curl -si` prints it (CRLF, a body after the headers).
const OPENAI_429: &str = "HTTP/2 429 \r\nx-ratelimit-limit-requests: 60\r\nx-ratelimit-remaining-requests: 0\r\nx-ratelimit-reset-requests: 29.4s\r\nx-ratelimit-limit-tokens: 150000\r\nx-ratelimit-remaining-tokens: 149984\r\nx-ratelimit-reset-tokens: 6m0s\r\n\r\n{\"error\": {\"message\": \"Rate limit reached\"}}\r\n";

/// A saved GitHub 403 for an exhausted primary limit (reset in epoch seconds).
const GITHUB_403: &str = "HTTP/1.1 403 Forbidden\r\nx-ratelimit-limit: 60\r\nx-ratelimit-used: 60\r\nx-ratelimit-remaining: 0\r\nx-ratelimit-reset: 1764759630\r\nx-ratelimit-resource: core\r\n\r\n";

const NOW_MS: &str = "1764759600000";

#[test]
fn inspect_reads_a_saved_response_as_a_user_pipes_it() {
    let o = run(&["inspect", "--now-ms", NOW_MS], Some(OPENAI_429));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for line in [
        "status       429 (rate_limited)",
        "binding      openai \"requests\": 0 of 60 remaining, resets in 29.4 s",
        "next         wait 29.4 s (29400 ms), until the exhausted openai bucket resets",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
    assert!(
        out.contains("tokens") && out.contains("149984") && out.contains("6 min (360000 ms)"),
        "{out}"
    );

    // The same from a file, as JSON: the most restrictive bucket's figures and every bucket.
    let dir = scratch("inspect");
    let file = dir.0.join("github.txt");
    std::fs::write(&file, GITHUB_403).unwrap();
    let o = run(
        &[
            "inspect",
            "--now-ms",
            NOW_MS,
            "--json",
            "--file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], 403);
    assert_eq!(
        v["outcome"], "rate_limited",
        "GitHub's 403 with nothing left is a rate limit"
    );
    assert_eq!(v["dialect"], "x-ratelimit");
    assert_eq!(
        (v["limit"].as_u64(), v["remaining"].as_u64()),
        (Some(60), Some(0))
    );
    assert_eq!(v["reset_in_ms"], 30_000);
    assert_eq!(v["retry_after_ms"], Value::Null);
    assert_eq!(v["next_in_ms"], 30_000);
    assert_eq!(v["buckets"].as_array().map(Vec::len), Some(1));
}

#[test]
fn inspect_says_what_it_cannot_read() {
    // A header it cannot read is reported, the rest still read; exit 0.
    let block = "HTTP/1.1 200 OK\r\nX-RateLimit-Limit: 100\r\nX-RateLimit-Remaining: 3\r\nX-RateLimit-Reset: soon\r\n\r\n";
    let o = run(&["inspect", "--now-ms", NOW_MS], Some(block));
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(
        out.contains("next         may go now; 3 remaining in x-ratelimit"),
        "{out}"
    );
    // A 429 that names only a reset: nothing remains until then (not a 1 s backoff).
    let o = run(
        &["inspect", "--now-ms", NOW_MS],
        Some("HTTP/1.1 429 X\r\nX-RateLimit-Reset: 20\r\n\r\n"),
    );
    assert!(
        text(&o.stdout).contains("next         wait 20.0 s (20000 ms), until the reset"),
        "{}",
        text(&o.stdout)
    );
    // A body line that looks like a status line is body.
    let o = run(
        &["inspect", "--now-ms", NOW_MS, "--json"],
        Some("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\n\r\nHTTP/1.1 200 OK\r\n"),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["status"].as_u64(), v["next_in_ms"].as_u64()),
        (Some(429), Some(60_000))
    );
    assert!(
        out.contains("unreadable   X-RateLimit-Reset: \"soon\""),
        "{out}"
    );
    // Garbage: a clear message and a failing exit, no panic.
    for garbage in [
        "",
        "garbage here\n",
        "HTTP/1.1 banana\r\n\r\n",
        "\u{0}\u{1}binary",
    ] {
        let o = run(&["inspect"], Some(garbage));
        assert_eq!(o.status.code(), Some(1), "{garbage:?}");
        let err = text(&o.stderr);
        assert!(
            err.starts_with("tollgate: ") && !err.contains("panicked"),
            "{err}"
        );
    }
}

/// A trace for `file`: a few keys, every tier the file has, costs from 0 to one that never
/// fits, holds, bursts and quiet spells (a fixed pseudo-random sequence).
fn mixed_trace(file: &tollgate_std::PolicyFile, lines: usize, seed: u64) -> String {
    let mut tiers: Vec<Option<String>> = file.tiers.iter().map(|t| Some(t.name.clone())).collect();
    if !file.limits.is_empty() || tiers.is_empty() {
        tiers.push(None);
    }
    let mut x = seed;
    let mut next = move |n: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % n
    };
    let mut t_ms = 1_733_200_000_000u64;
    let mut trace = String::new();
    for _ in 0..lines {
        t_ms += match next(10) {
            0 => next(120_000),
            1..=4 => 0,
            _ => next(400),
        };
        let key = ["acct-1", "acct-2", "+15551230001", "ip-10.0.0.7"][next(4) as usize];
        let cost = match next(40) {
            0 => 1_000_000,
            1 | 2 => 0,
            3..=6 => 2,
            _ => 1,
        };
        let mut line = format!(r#"{{"t_ms": {t_ms}, "key": "{key}", "cost": {cost}"#);
        if next(3) == 0 {
            line += &format!(r#", "hold_ms": {}"#, next(3_000));
        }
        if let Some(tier) = &tiers[next(tiers.len() as u64) as usize] {
            line += &format!(r#", "tier": "{tier}""#);
        }
        trace += &line;
        trace += "}\n";
    }
    trace
}

/// Every shipped policy, and the bundled example, decided through a real Redis at the trace's
/// own times: the decisions file is byte for byte the one the in-memory run writes.
#[test]
fn simulate_through_redis_writes_the_same_decisions_as_in_memory() {
    let redis = tollgate_testkit::redis::RedisServer::start().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(policies())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for (n, path) in files.iter().enumerate() {
        let dir = scratch("redis-same");
        let file = tollgate_std::PolicyFile::load(path).unwrap();
        let trace = mixed_trace(&file, 3_000, n as u64 + 1);
        let (memory, through) = (dir.join("memory.jsonl"), dir.join("redis.jsonl"));
        let out = simulate_stdin(path, &trace, &memory, &["--quiet"]);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        let out = simulate_stdin(
            path,
            &trace,
            &through,
            &["--quiet", "--redis", &redis.url()],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        let (a, b) = (
            std::fs::read(&memory).unwrap(),
            std::fs::read(&through).unwrap(),
        );
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 3_000);
        if a != b {
            let first = text(&a)
                .lines()
                .zip(text(&b).lines())
                .position(|(x, y)| x != y);
            panic!("{}: decisions differ from line {first:?}", path.display());
        }
    }
    // The bundled example, as the README's first command runs it.
    let dir = scratch("redis-bundled");
    let (memory, through) = (dir.join("memory.jsonl"), dir.join("redis.jsonl"));
    let a = run(&["simulate", "--out", memory.to_str().unwrap()], None);
    let b = run(
        &[
            "simulate",
            "--out",
            through.to_str().unwrap(),
            "--redis",
            &redis.url(),
        ],
        None,
    );
    assert!(
        a.status.success() && b.status.success(),
        "{}",
        text(&b.stderr)
    );
    assert_eq!(
        std::fs::read(&memory).unwrap(),
        std::fs::read(&through).unwrap()
    );
    // The summaries agree too, but for the file each names.
    assert_eq!(
        text(&a.stdout).replace(memory.to_str().unwrap(), "OUT"),
        text(&b.stdout).replace(through.to_str().unwrap(), "OUT")
    );
}
