//! `tollgate`: see a rate-limit policy at work.
//!
//! ```text
//! tollgate simulate [--policy POLICY.toml --trace TRACE.jsonl] [--out DECISIONS.jsonl] [--plot PLOT.svg] [--redis URL]
//! tollgate check POLICY.toml
//! tollgate serve --policy POLICY.toml [--listen 127.0.0.1:8080] [--key ip|header:NAME] [--redis URL [--redis-cluster] [--on-redis-failure open|closed|local]]
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod inspect;
mod serve;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tollgate_std::PolicyFile;
use tollgate_std::check::describe;
use tollgate_std::simulate::{
    MAX_LINE, Outcome, Request, Simulation, TraceError, TraceErrorKind, plot_svg,
};

/// The bundled example: seed 000's API (5 in flight, 300 a minute, 900 a quarter hour) and a
/// client that outgrows it.
const EXAMPLE_POLICY: &str =
    include_str!("../../../examples/policies/000-concurrent-minute-quarter.toml");
const EXAMPLE_POLICY_NAME: &str =
    "std-adapter/examples/policies/000-concurrent-minute-quarter.toml";
const EXAMPLE_TRACE: &str = include_str!("../../../examples/traces/000-busy-client.jsonl");
const EXAMPLE_TRACE_NAME: &str = "std-adapter/examples/traces/000-busy-client.jsonl";

#[derive(Parser)]
#[command(name = "tollgate", version, about = "See a rate-limit policy at work.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a request trace against a policy file: a summary table, and optionally every
    /// decision and a plot. With neither --policy nor --trace, runs a bundled example.
    Simulate(Simulate),
    /// Serve a small demo API (any path under /api/, plus /healthz, never limited, and
    /// /metrics) behind the rate-limit middleware, to watch the headers and 429s with curl.
    Serve(serve::Serve),
    /// Validate a policy file (as `nginx -t` does) and say what each limit guarantees, what a
    /// key costs, and what deserves a second look.
    Check {
        /// The policy file.
        policy: PathBuf,
    },
    /// Read a response's rate-limit headers (what `curl -si URL` prints, on standard input or
    /// --file) and say what they mean and when the next request may go.
    Inspect(inspect::Inspect),
}

#[derive(clap::Args)]
struct Simulate {
    /// The policy file (TOML, as tollgate-std reads it).
    #[arg(long, requires = "trace")]
    policy: Option<PathBuf>,
    /// The trace: one JSON object per line, {"t_ms": 1500, "key": "acct-1", "cost": 1,
    /// "hold_ms": 250, "tier": "pro"}; "-" reads standard input.
    #[arg(long, requires = "policy")]
    trace: Option<PathBuf>,
    /// Write every decision here, one JSON object per line in trace order ("-": standard
    /// output, the summary then going to standard error).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Draw admitted and denied requests and each limit's occupancy over time (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The tier for lines that name none (default: the file's top-level limits, or its only
    /// tier).
    #[arg(long)]
    tier: Option<String>,
    /// No progress bar, even on a terminal.
    #[arg(long, short)]
    quiet: bool,
    /// Decide through this Redis server (redis://HOST:PORT) at the trace's own times, as a
    /// fleet sharing it would: the decisions are the same, byte for byte.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The namespace of the run's keys in Redis (default: one of its own per run). They expire
    /// an hour after their last write.
    #[arg(long, requires = "redis", value_name = "PREFIX")]
    redis_namespace: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => simulate(&args),
        Command::Check { policy } => check(&policy),
        Command::Serve(args) => serve::serve(&args),
        Command::Inspect(args) => inspect::inspect(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Standard output closed early (`| head`): nothing more to say to anyone.
        Err(message) if message.is_empty() => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("tollgate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> Result<(), String> {
    let file = PolicyFile::load(path).map_err(|e| e.to_string())?;
    let described = describe(&file);
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}: ok\n", path.display()).map_err(said)?;
    write!(stdout, "{described}").map_err(said)?;
    Ok(())
}

/// Where the trace comes from, and its length in bytes for the progress bar when known.
struct Trace {
    name: String,
    reader: Box<dyn BufRead>,
    bytes: Option<u64>,
}

fn open_trace(path: &Path) -> Result<Trace, String> {
    if path == Path::new("-") {
        return Ok(Trace {
            name: String::from("<stdin>"),
            reader: Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
            bytes: None,
        });
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("{name}: cannot read the trace: {e}"))?;
    let bytes = file.metadata().ok().map(|m| m.len());
    Ok(Trace {
        name,
        reader: Box::new(BufReader::with_capacity(1 << 16, file)),
        bytes,
    })
}

fn simulate(args: &Simulate) -> Result<(), String> {
    let (file, policy_name, trace) = match (&args.policy, &args.trace) {
        (Some(policy), Some(trace)) => (
            PolicyFile::load(policy).map_err(|e| e.to_string())?,
            policy.display().to_string(),
            open_trace(trace)?,
        ),
        _ => (
            PolicyFile::parse(EXAMPLE_POLICY, EXAMPLE_POLICY_NAME).map_err(|e| e.to_string())?,
            String::from(EXAMPLE_POLICY_NAME),
            Trace {
                name: String::from(EXAMPLE_TRACE_NAME),
                reader: Box::new(EXAMPLE_TRACE.as_bytes()),
                bytes: Some(EXAMPLE_TRACE.len() as u64),
            },
        ),
    };
    let mut sim = Simulation::new(&file, args.tier.as_deref()).map_err(|e| e.to_string())?;
    if let Some(url) = &args.redis {
        let namespace = match &args.redis_namespace {
            Some(ns) if ns.contains(['{', '}']) => {
                return Err(format!(
                    "--redis-namespace {ns:?}: no braces in a namespace"
                ));
            }
            Some(ns) => ns.clone(),
            None => {
                let since = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                format!(
                    "tollgate-simulate:{}:{}",
                    std::process::id(),
                    since.as_micros()
                )
            }
        };
        sim.through_redis(url, &namespace, tollgate_std::Duration::from_secs(3600))?;
    }
    let mut out = match &args.out {
        Some(path) => Some(Partial::create(path)?),
        None => None,
    };
    // The summary on standard output, unless the decisions are going there.
    let mut stdout: Box<dyn Write> = if out.as_ref().is_some_and(Partial::is_stdout) {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    };
    writeln!(stdout, "policy  {policy_name}\ntrace   {}\n", trace.name).map_err(said)?;

    let progress = progress_bar(trace.bytes, args.quiet);
    let result = replay(&mut sim, trace.reader, out.as_mut(), &progress);
    progress.finish_and_clear();
    let lines = match result {
        Ok(lines) => lines,
        Err(e) => {
            if let Some(out) = out {
                out.discard();
            }
            return Err(e);
        }
    };
    let summary = sim.finish();
    write!(stdout, "{summary}").map_err(said)?;
    if let Some(out) = out {
        let path = out.commit()?;
        let path = if path == Path::new("-") {
            String::from("standard output")
        } else {
            path.display().to_string()
        };
        writeln!(stdout, "\ndecisions: {path} ({lines} lines)").map_err(said)?;
    }
    if let Some(path) = &args.plot {
        let title = Path::new(&policy_name)
            .file_stem()
            .map_or_else(|| policy_name.clone(), |s| s.to_string_lossy().into_owned());
        let svg = plot_svg(&summary.series, &title).map_err(|e| e.to_string())?;
        std::fs::write(path, svg)
            .map_err(|e| format!("{}: cannot write the plot: {e}", path.display()))?;
        writeln!(stdout, "plot: {}", path.display()).map_err(said)?;
    }
    Ok(())
}

/// A failed write to standard output: an empty message when the reader went away (a broken
/// pipe), which `main` ends on quietly.
fn said(e: io::Error) -> String {
    if e.kind() == io::ErrorKind::BrokenPipe {
        String::new()
    } else {
        format!("cannot write to standard output: {e}")
    }
}

fn progress_bar(bytes: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match bytes {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bar:40} {bytes}/{total_bytes} {msg} ({elapsed}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Lines read and parsed together, so that their keys' memory is fetched together
/// ([`Simulation::prefetch`]).
const BATCH: usize = 64;

/// Bytes read from the trace at a time, into a buffer that also holds the longest line.
const CHUNK: usize = 1 << 18;

/// Decides every line of `reader`, writing decisions to `out`; the number of requests.
///
/// Lines are split in place in one buffer (read in chunks, the unfinished last line moved to
/// its front before the next read), so no line is copied before it is parsed.
fn replay(
    sim: &mut Simulation,
    mut reader: Box<dyn BufRead>,
    mut out: Option<&mut Partial>,
    progress: &ProgressBar,
) -> Result<u64, String> {
    let mut buf = vec![0u8; MAX_LINE + 1 + CHUNK];
    // Read but not yet split into lines: `buf[pos..end]`.
    let (mut pos, mut end) = (0usize, 0usize);
    // Each non-blank line of the batch: its number and where it is in `buf`.
    let mut spans: Vec<(u64, usize, usize)> = Vec::with_capacity(BATCH);
    let mut record = Vec::with_capacity(256);
    let mut number = 0u64;
    let mut requests = 0u64;
    let mut unreported = 0u64;
    let mut eof = false;
    loop {
        spans.clear();
        while spans.len() < BATCH && pos < end {
            let rest = &buf[pos..end];
            let (len, next) = match memchr::memchr(b'\n', rest) {
                Some(k) => (k, k + 1),
                // The last line, without its newline.
                None if eof => (rest.len(), rest.len()),
                None => break,
            };
            if len > MAX_LINE {
                if !spans.is_empty() {
                    break; // the lines before it are decided first, as they come first
                }
                return Err(TraceError {
                    line: number + 1,
                    kind: TraceErrorKind::TooLong,
                }
                .to_string());
            }
            number += 1;
            // JSON's whitespace only (a form feed is not, and serde_json says so).
            let line = &rest[..len];
            let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
            if let Some(first) = line.iter().position(|b| !blank(b)) {
                let last = line.iter().rposition(|b| !blank(b)).unwrap_or(first);
                spans.push((number, pos + first, pos + last + 1));
            }
            unreported += next as u64;
            pos += next;
        }
        if spans.is_empty() {
            if eof && pos >= end {
                break;
            }
            if pos < end && end - pos > MAX_LINE {
                return Err(TraceError {
                    line: number + 1,
                    kind: TraceErrorKind::TooLong,
                }
                .to_string());
            }
            // Keep the unfinished line, then read more after it.
            if pos > 0 {
                buf.copy_within(pos..end, 0);
                (end, pos) = (end - pos, 0);
            }
            let n = read_some(&mut reader, &mut buf[end..])?;
            end += n;
            eof = n == 0;
            continue;
        }
        if unreported >= 1 << 20 || (eof && pos >= end) {
            progress.inc(unreported);
            progress.set_message(format!("{requests} requests"));
            unreported = 0;
        }
        let parsed: Vec<Result<Request<'_>, String>> = spans
            .iter()
            .map(|&(_, start, end)| Request::parse(&buf[start..end]))
            .collect();
        sim.prefetch(parsed.iter().flatten());
        for (&(line, _, _), request) in spans.iter().zip(&parsed) {
            let request = request.as_ref().map_err(|m| {
                TraceError {
                    line,
                    kind: TraceErrorKind::Malformed(m.clone()),
                }
                .to_string()
            })?;
            let outcome = sim.decide(line, request).map_err(|e| e.to_string())?;
            requests += 1;
            if let Some(out) = out.as_deref_mut() {
                record.clear();
                write_decision(&mut record, request, &outcome);
                out.write(&record)?;
            }
        }
    }
    progress.inc(unreported);
    Ok(requests)
}

/// Reads what is there into `into` (retrying an interrupted read); 0 at the end.
fn read_some(reader: &mut dyn BufRead, into: &mut [u8]) -> Result<usize, String> {
    loop {
        match reader.read(into) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the trace: {e}")),
        }
    }
}

/// One decision as a JSON line: `t_ms`, `key`, `allowed`, `limit`, `remaining`, `reset_ms`,
/// `retry_after_ms`, `exceeded`, `delay_ms`, in that order.
fn write_decision(out: &mut Vec<u8>, request: &Request<'_>, o: &Outcome<'_>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"t_ms\":");
    out.extend_from_slice(n.format(request.t_ms).as_bytes());
    out.extend_from_slice(b",\"key\":");
    json_str(out, request.key.as_deref());
    out.extend_from_slice(if o.allowed {
        b",\"allowed\":true,\"limit\":"
    } else {
        b",\"allowed\":false,\"limit\":"
    });
    json_num(out, &mut n, o.limit.map(u64::from));
    out.extend_from_slice(b",\"remaining\":");
    json_num(out, &mut n, o.remaining.map(u64::from));
    out.extend_from_slice(b",\"reset_ms\":");
    out.extend_from_slice(n.format(o.reset_ms).as_bytes());
    out.extend_from_slice(b",\"retry_after_ms\":");
    json_num(out, &mut n, o.retry_after_ms);
    out.extend_from_slice(b",\"exceeded\":");
    json_str(out, o.exceeded);
    out.extend_from_slice(b",\"delay_ms\":");
    out.extend_from_slice(n.format(o.delay_ms).as_bytes());
    out.extend_from_slice(b"}\n");
}

fn json_num(out: &mut Vec<u8>, n: &mut itoa::Buffer, v: Option<u64>) {
    match v {
        Some(v) => out.extend_from_slice(n.format(v).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

fn json_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        // Nothing to escape (no quote, backslash or control character), as keys usually are:
        // written as it is, exactly as serde_json would write it.
        Some(s) if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) => {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        // Writing a string to a Vec cannot fail.
        Some(s) => serde_json::to_writer(&mut *out, s).unwrap_or(()),
        None => out.extend_from_slice(b"null"),
    }
}

/// Where the decisions go. A regular file (or a new one) is written beside its final name and
/// renamed there only when complete, so a failed run never leaves a partial file that looks
/// whole; standard output (`-`), a pipe or a device (`/dev/null`) is written as it goes.
struct Partial {
    path: PathBuf,
    /// The file being written, for a regular file.
    temp: Option<PathBuf>,
    writer: BufWriter<Box<dyn Write>>,
}

impl Partial {
    fn create(path: &Path) -> Result<Self, String> {
        let fail = |e: io::Error| format!("{}: cannot write the decisions: {e}", path.display());
        if path == Path::new("-") {
            return Ok(Self {
                path: path.to_path_buf(),
                temp: None,
                writer: BufWriter::with_capacity(1 << 16, Box::new(io::stdout())),
            });
        }
        let (target, regular) = match std::fs::metadata(path) {
            // Through a link to the file itself, so that the rename replaces the file.
            Ok(m) if m.is_file() => (std::fs::canonicalize(path).map_err(fail)?, true),
            Ok(_) => (path.to_path_buf(), false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (path.to_path_buf(), true),
            Err(e) => return Err(fail(e)),
        };
        if !regular {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(fail)?;
            return Ok(Self {
                path: path.to_path_buf(),
                temp: None,
                writer: BufWriter::with_capacity(1 << 16, Box::new(file)),
            });
        }
        let mut temp = target.as_os_str().to_owned();
        temp.push(format!(".{}.partial", std::process::id()));
        let temp = PathBuf::from(temp);
        let file = File::create(&temp).map_err(fail)?;
        Ok(Self {
            path: target,
            temp: Some(temp),
            writer: BufWriter::with_capacity(1 << 16, Box::new(file)),
        })
    }

    /// Whether the decisions go to standard output (the summary then goes to standard error).
    fn is_stdout(&self) -> bool {
        self.path == Path::new("-")
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer.write_all(bytes).map_err(|e| self.error(&e))
    }

    fn error(&self, e: &io::Error) -> String {
        if self.is_stdout() {
            said(io::Error::new(e.kind(), e.to_string()))
        } else {
            format!("{}: cannot write the decisions: {e}", self.path.display())
        }
    }

    fn commit(mut self) -> Result<PathBuf, String> {
        self.writer.flush().map_err(|e| self.error(&e))?;
        if let Some(temp) = &self.temp {
            std::fs::rename(temp, &self.path).map_err(|e| self.error(&e))?;
        }
        Ok(self.path)
    }

    fn discard(self) {
        let temp = self.temp.clone();
        // Dropping the writer flushes what it holds: into the file about to go, or into a
        // stream that was being written as it went.
        drop(self.writer);
        if let Some(temp) = temp {
            let _ = std::fs::remove_file(temp);
        }
    }
}
