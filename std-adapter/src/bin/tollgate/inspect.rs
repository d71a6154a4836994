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
///
/// A response after a header block is read only where one may follow: after an informational
/// (1xx) or redirect (3xx) response, or a proxy's `200 Connection established`. After a final
/// response everything is its body, and is skipped, even a line that looks like a status line.
fn read_response(input: &str) -> Result<Response, String> {
    let mut response = Response {
        status: None,
        fields: Vec::new(),
    };
    // In a header block; after one, whether another response may follow.
    let (mut in_headers, mut another, mut seen) = (true, false, false);
    let mut interim = false;
    for line in input.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line.strip_prefix("HTTP/")
            && (in_headers && !seen || another)
        {
            let mut words = rest.split_whitespace();
            let code = words.nth(1).unwrap_or("");
            let status = code
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s) && code.len() == 3)
                .ok_or_else(|| format!("not an HTTP status line: {}", quoted(line)))?;
            let reason = words.collect::<Vec<_>>().join(" ");
            interim = (100..200).contains(&status)
                || (300..400).contains(&status)
                || (status == 200 && reason.eq_ignore_ascii_case("connection established"));
            response = Response {
                status: Some(status),
                fields: Vec::new(),
            };
            (in_headers, another, seen) = (true, false, true);
            continue;
        }
        if !in_headers {
            if another && !line.is_empty() {
                another = false; // not a response after all: the body of the last one
            }
            continue;
        }
        if line.is_empty() {
            // The end of a header block (blank lines before one are skipped).
            if seen {
                in_headers = false;
                another = interim;
            }
            continue;
        }
        // A folded line (obsolete, RFC 9112 5.2) continues the field before it.
        if line.starts_with([' ', '\t'])
            && let Some((_, value)) = response.fields.last_mut()
        {
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(line.trim());
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
            _ => return Err(format!("not a header line: {}", quoted(line))),
        }
    }
    if !seen {
        return Err(String::from(
            "no HTTP response on the input: give what `curl -si URL` prints (a status line and headers)",
        ));
    }
    Ok(response)
}

/// A line for a message: quoted, and cut after 80 characters.
fn quoted(line: &str) -> String {
    match line.char_indices().nth(80) {
        Some((cut, _)) => format!("{:?}...", &line[..cut]),
        None => format!("{line:?}"),
    }
}

/// A span in words, never shorter than it is: `850 ms`, `29.4 s`, `6 min`, `2 h 5 min`.
fn words(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let tenths = ms.div_ceil(100);
    if tenths < 600 {
        return format!("{}.{} s", tenths / 10, tenths % 10);
    }
    let secs = ms.div_ceil(1_000);
    if secs < 3_600 {
        let (m, s) = (secs / 60, secs % 60);
        return if s == 0 {
            format!("{m} min")
        } else {
            format!("{m} min {s} s")
        };
    }
    let mins = ms.div_ceil(60_000);
    let (h, m) = (mins / 60, mins % 60);
    if m == 0 {
        format!("{h} h")
    } else {
        format!("{h} h {m} min")
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
    match pacer.on_response(
        &mut state,
        now,
        outcome,
        summary.hints_for(outcome),
        u64::MAX,
    ) {
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
        None => {
            let mut stdin = io::stdin().lock();
            let n = (&mut stdin)
                .take(MAX_INPUT)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            // The rest (a long body) is read and dropped, so the writer is not cut off.
            let _ = io::copy(&mut stdin, &mut io::sink());
            n
        }
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
    // What the pacer would do next, and why.
    let retry_after = summary.retry_after().map(|d| d.as_ticks());
    let exhausted = binding
        .as_ref()
        .filter(|b| b.info.remaining == Some(0))
        .and_then(|b| b.info.reset.map(|d| (b.dialect.name(), d.as_ticks())));
    let line = if outcome == Outcome::Failed {
        format!(
            "the request failed ({}): retrying will not help",
            response.status.unwrap_or(0)
        )
    } else if next > 0 {
        let why = match (retry_after, exhausted) {
            (Some(r), Some((_, reset))) if r == next && reset > r => format!(
                "as Retry-After says; the exhausted bucket is full again only in {}",
                words(reset)
            ),
            (Some(r), _) if r == next => String::from("as Retry-After says"),
            (_, Some((dialect, reset))) if reset == next => {
                format!("until the exhausted {dialect} bucket resets")
            }
            _ if summary.hints_for::<1_000>(outcome).reset.is_some() => {
                String::from("until the reset")
            }
            _ => String::from("a backoff: the server gave no time"),
        };
        format!("wait {} ({next} ms), {why}", words(next))
    } else {
        match binding
            .as_ref()
            .and_then(|b| b.info.remaining.map(|r| (b, r)))
        {
            Some((_, 0)) => String::from("nothing remains and no reset is given: back off"),
            Some((b, r)) => format!(
                "may go now; {r} remaining in {}{}",
                b.dialect.name(),
                b.info
                    .name
                    .as_deref()
                    .map(|n| format!(" {n:?}"))
                    .unwrap_or_default()
            ),
            None => String::from("may go now"),
        }
    };
    writeln!(out, "next         {line}").map_err(said)?;
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
    fn a_status_line_in_a_body_is_body() {
        let r = read_response(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\n\r\nHTTP/1.1 200 OK\r\nServer: upstream\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.fields.len()), (Some(429), 1));
        let r =
            read_response("HTTP/1.1 200 OK\nA: 1\n\nsee HTTP/1.1 spec\nHTTP/1.1 is a protocol\n")
                .unwrap();
        assert_eq!(r.status, Some(200));
        // After a proxy's tunnel and a 100 Continue, the real response.
        let r = read_response(
            "HTTP/1.1 200 Connection established\r\n\r\nHTTP/2 100\r\n\r\nHTTP/2 429\r\nretry-after: 3\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, Some(429));
        // A folded line continues its field.
        let r = read_response("HTTP/1.1 429 X\r\nRetry-After:\r\n 5\r\n\r\n").unwrap();
        assert_eq!(
            r.fields,
            [("Retry-After".to_string(), " 5".trim_start().to_string())]
        );
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
        for (ms, said) in [
            (850, "850 ms"),
            (29_400, "29.4 s"),
            (1_949, "2.0 s"),
            (1_234, "1.3 s"),
            (59_950, "1 min"),
            (90_500, "1 min 31 s"),
            (119_900, "2 min"),
            (360_000, "6 min"),
            (3_599_999, "1 h"),
            (3_659_000, "1 h 1 min"),
            (7_500_000, "2 h 5 min"),
        ] {
            assert_eq!(words(ms), said, "{ms} ms");
        }
    }
}
