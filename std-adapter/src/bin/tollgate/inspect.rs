//! `tollgate inspect`: what a response's rate-limit headers say, and when the next request may
//! go, as the core's pacer would decide it.
//!
//! Input is what `curl -si URL` prints: a status line and a header block (a body after the blank
//! line is ignored). Several blocks (redirects, `100 Continue`) are allowed; the last response
//! counts. Every field is read by the core's `RateLimitSummary`, every dialect it knows.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use tollgate_core::{Bucket, Next, Outcome, Pacer, RateLimitSummary};

use crate::said;

/// The most input read: headers are small; a body beyond this is not read at all.
const MAX_INPUT: u64 = 8 << 20;

#[derive(clap::Args)]
pub(crate) struct Inspect {
    /// Read the response from this file rather than standard input.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The current unix time in milliseconds (default: the system clock), which epoch resets
    /// and HTTP-dates are read against; give it for reproducible output.
    #[arg(long)]
    now_ms: Option<u64>,
    /// One JSON object rather than text.
    #[arg(long)]
    json: bool,
}

/// One response: its status (if a status line was seen) and its header fields.
struct Response {
    status: Option<u16>,
    fields: Vec<(String, String)>,
}

/// Splits `input` into the last response's status line and fields.
fn read_response(input: &str) -> Result<Response, String> {
    let mut response = Response {
        status: None,
        fields: Vec::new(),
    };
    let mut in_headers = true;
    let mut seen = false;
    for line in input.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line.strip_prefix("HTTP/") {
            // A new response: the last one counts.
            let code = rest.split_whitespace().nth(1).unwrap_or("");
            let status = code
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s) && code.len() == 3)
                .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
            response = Response {
                status: Some(status),
                fields: Vec::new(),
            };
            in_headers = true;
            seen = true;
            continue;
        }
        if !in_headers {
            continue;
        }
        if line.is_empty() {
            // The end of a header block (or blank lines before one).
            if seen {
                in_headers = false;
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value))
                if !name.is_empty() && !name.contains(|c: char| c.is_whitespace()) =>
            {
                response
                    .fields
                    .push((name.to_string(), value.trim().to_string()));
                seen = true;
            }
            _ => return Err(format!("not a header line: {line:?}")),
        }
    }
    if !seen {
        return Err(String::from(
            "no HTTP response on the input: give what `curl -si URL` prints (a status line and headers)",
        ));
    }
    Ok(response)
}

/// A span in words: `850 ms`, `29.4 s`, `6 min`, `2 h 5 min`.
fn words(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1e3),
        60_000..3_600_000 => {
            let (m, s) = (ms / 60_000, (ms % 60_000) / 1_000);
            if s == 0 {
                format!("{m} min")
            } else {
                format!("{m} min {s} s")
            }
        }
        _ => {
            let (h, m) = (ms / 3_600_000, (ms % 3_600_000) / 60_000);
            if m == 0 {
                format!("{h} h")
            } else {
                format!("{h} h {m} min")
            }
        }
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::RateLimited => "rate_limited",
        Outcome::Retryable => "retryable",
        Outcome::Failed => "failed",
    }
}

/// When the next request may go, in ms from now, as the core's pacer decides for this response:
/// backoff from 1 s doubling to 60 s without jitter (the upper bound a client would draw).
fn next_in_ms(summary: &RateLimitSummary, outcome: Outcome) -> u64 {
    let pacer = Pacer::<1_000>::new(
        tollgate_core::Duration::from_secs(1),
        tollgate_core::Duration::from_secs(60),
    )
    .map(|p| p.with_max_retries(u32::MAX));
    let Ok(pacer) = pacer else { return 0 };
    let mut state = pacer.new_state();
    let now = tollgate_core::Instant::<1_000>::from_ticks(0);
    match pacer.on_response(&mut state, now, outcome, summary.server_hints(), u64::MAX) {
        Next::SendAt(at) | Next::GiveUp { ready_at: at, .. } => at.as_ticks(),
    }
}

fn bucket_json(b: &Bucket<'_>) -> serde_json::Value {
    serde_json::json!({
        "dialect": b.dialect.name(),
        "name": b.info.name.as_deref(),
        "limit": b.info.limit,
        "remaining": b.info.remaining,
        "reset_in_ms": b.info.reset.map(|d| d.as_ticks()),
        "window_s": b.info.window_secs,
    })
}

pub(crate) fn inspect(args: &Inspect) -> Result<(), String> {
    let mut bytes = Vec::new();
    match &args.file {
        Some(path) => std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT).read_to_end(&mut bytes))
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?,
        None => io::stdin()
            .lock()
            .take(MAX_INPUT)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?,
    };
    // Header blocks are ASCII; a body may be anything, and is not read.
    let input = String::from_utf8_lossy(&bytes);
    let response = read_response(&input)?;
    let now_ms = match args.now_ms {
        Some(ms) => ms,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let mut summary = RateLimitSummary::new();
    let mut unreadable = Vec::new();
    for (name, value) in &response.fields {
        if let Err(e) = summary.feed(name, value, Some(now_ms)) {
            unreadable.push((name.as_str(), value.as_str(), e));
        }
    }
    let outcome = match response.status {
        Some(status) => summary.outcome(status),
        None => Outcome::Success,
    };
    let next = next_in_ms(&summary, outcome);
    let binding = summary.most_restrictive();
    let mut out = io::stdout().lock();
    if args.json {
        let json = serde_json::json!({
            "status": response.status,
            "outcome": outcome_name(outcome),
            "dialect": binding.as_ref().map(|b| b.dialect.name()),
            "name": binding.as_ref().and_then(|b| b.info.name.as_deref()),
            "limit": binding.as_ref().and_then(|b| b.info.limit),
            "remaining": binding.as_ref().and_then(|b| b.info.remaining),
            "reset_in_ms": binding.as_ref().and_then(|b| b.info.reset).map(|d| d.as_ticks()),
            "retry_after_ms": summary.retry_after().map(|d| d.as_ticks()),
            "next_in_ms": next,
            "truncated": summary.truncated(),
            "buckets": summary.all_buckets().map(|b| bucket_json(&b)).collect::<Vec<_>>(),
            "unreadable": unreadable.iter().map(|(n, v, e)| serde_json::json!({
                "field": n, "value": v, "error": e.to_string(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{json}").map_err(said)?;
        return Ok(());
    }
    match response.status {
        Some(status) => writeln!(out, "status       {status} ({})", outcome_name(outcome)),
        None => writeln!(out, "status       (no status line)"),
    }
    .map_err(said)?;
    if let Some(d) = summary.retry_after() {
        let ms = d.as_ticks();
        writeln!(out, "retry-after  {} ({ms} ms)", words(ms)).map_err(said)?;
    }
    let buckets: Vec<Bucket<'_>> = summary.all_buckets().collect();
    if buckets.is_empty() {
        writeln!(
            out,
            "buckets      none: no rate-limit header this reader knows"
        )
        .map_err(said)?;
    } else {
        writeln!(out, "buckets      {}", buckets.len()).map_err(said)?;
        writeln!(
            out,
            "  {:<18} {:<14} {:>10} {:>10}  resets in",
            "dialect", "name", "limit", "remaining"
        )
        .map_err(said)?;
        let or_dash = |v: Option<u64>| v.map_or_else(|| String::from("-"), |v| v.to_string());
        for b in &buckets {
            let reset = b.info.reset.map_or_else(
                || String::from("-"),
                |d| format!("{} ({} ms)", words(d.as_ticks()), d.as_ticks()),
            );
            writeln!(
                out,
                "  {:<18} {:<14} {:>10} {:>10}  {reset}",
                b.dialect.name(),
                b.info.name.as_deref().unwrap_or("-"),
                or_dash(b.info.limit),
                or_dash(b.info.remaining),
            )
            .map_err(said)?;
        }
    }
    if let Some(b) = &binding {
        writeln!(
            out,
            "binding      {}{}: {} of {} remaining{}",
            b.dialect.name(),
            b.info
                .name
                .as_deref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default(),
            b.info
                .remaining
                .map_or_else(|| String::from("?"), |r| r.to_string()),
            b.info
                .limit
                .map_or_else(|| String::from("?"), |l| l.to_string()),
            b.info
                .reset
                .map(|d| format!(", resets in {}", words(d.as_ticks())))
                .unwrap_or_default(),
        )
        .map_err(said)?;
    }
    // What the pacer would do next, and how many may go then.
    let after = match binding.as_ref() {
        Some(b) if next > 0 => b
            .info
            .limit
            .map(|l| format!("then up to {l} requests may go"))
            .unwrap_or_else(|| String::from("then one request may go")),
        Some(b) => b
            .info
            .remaining
            .map(|r| format!("{r} requests may go now"))
            .unwrap_or_else(|| String::from("a request may go now")),
        None if next > 0 => String::from("then one request may go"),
        None => String::from("a request may go now"),
    };
    if next > 0 {
        writeln!(
            out,
            "next         wait {} ({next} ms), {after}",
            words(next)
        )
        .map_err(said)?;
    } else {
        writeln!(out, "next         {after}").map_err(said)?;
    }
    if summary.truncated() {
        writeln!(
            out,
            "note         more buckets than a summary keeps: some were dropped"
        )
        .map_err(said)?;
    }
    for (name, value, e) in &unreadable {
        writeln!(out, "unreadable   {name}: {value:?} ({e})").map_err(said)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_response_counts_and_bodies_are_skipped() {
        let r = read_response(
            "HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\nHTTP/2 429\r\nretry-after: 3\r\n\r\n{\"a\": 1}\r\nnot: a header\r\n",
        )
        .unwrap();
        assert_eq!(r.status, Some(429));
        assert_eq!(r.fields, [("retry-after".to_string(), "3".to_string())]);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "\n\n",
            "hello world",
            "HTTP/1.1 banana\n",
            "HTTP/1.1 4290 X\n",
        ] {
            assert!(read_response(bad).is_err(), "{bad:?}");
        }
        // Headers without a status line are read.
        assert_eq!(
            read_response("X-RateLimit-Remaining: 0\n").unwrap().status,
            None
        );
    }

    #[test]
    fn spans_in_words() {
        assert_eq!(words(850), "850 ms");
        assert_eq!(words(29_400), "29.4 s");
        assert_eq!(words(360_000), "6 min");
        assert_eq!(words(7_500_000), "2 h 5 min");
    }
}
