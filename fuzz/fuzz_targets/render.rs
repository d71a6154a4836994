//! Everything tollgate renders parses back: arbitrary reports rendered as headers (every
//! `X-RateLimit-*` form, the IETF fields, `Retry-After`) and as JSON bodies. Reports are rate
//! limits (`Allowance::PerWindow`), concurrency limits (`InFlight`) and unlimited entries, which
//! a policy reports like any limit and every header renderer leaves out.
//!
//! Within the documented domain (printable, distinct names; windows, resets and waits up to ten
//! years; a client clock within 30 days of the server's wall-clock anchor, after 2001; unlimited
//! entries as a policy reports them, never the denying one), the parsed figures equal the naive
//! model of `tollgate_testkit::models::headers` over the limits that count: the same limits and
//! remaining counts, every time rounded up to whole seconds, epoch resets never early, the
//! longest `Retry-After`, and nothing at all for unlimited entries. Outside it (any names, any numbers, any clock), rendering is `Ok` or
//! a typed error that writes nothing, the parser reads whatever was written without panicking,
//! and a sink that runs out of room is `RenderError::Sink`. Every JSON body is well-formed
//! whatever its strings, and its strings and numbers read back as given.
#![no_main]

use std::fmt::{self, Write as _};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{
    Allowance, Decision, Duration, HeaderConfig, HeaderLines, IndexOutOfRange, Instant,
    LimitValues, ProblemDetails, RateLimitSummary, RenderError, Report, ReportSet, ResetFormat,
    TooManyRequests, WallClock, XRateLimit,
};
use tollgate_fuzz::at_rate;
use tollgate_testkit::models::headers::{self as model, Lim};

/// Ten years of seconds: the longest window, reset or wait of the round-trip domain.
const TEN_YEARS_S: u64 = 315_360_000;

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Ticks {
    Zero,
    /// Up to three seconds.
    Short(u32),
    /// Up to ten years.
    Long(u64),
    /// Anything.
    Any(u64),
}

impl Ticks {
    fn of(self, hz: u64) -> u64 {
        match self {
            Ticks::Zero => 0,
            Ticks::Short(x) => u64::from(x) % hz.saturating_mul(3).saturating_add(1),
            Ticks::Long(x) => x % TEN_YEARS_S.saturating_mul(hz).saturating_add(1),
            Ticks::Any(x) => x,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
struct RawLim {
    name: String,
    limit: u32,
    remaining: u32,
    window: Ticks,
    reset: Ticks,
    retry: Option<Ticks>,
    /// An unlimited entry when a multiple of four.
    unlimited: u8,
}

#[derive(Debug, Arbitrary)]
struct Input {
    rate: u8,
    limits: Vec<RawLim>,
    /// Use the names as given (any UTF-8) rather than made printable and distinct.
    raw_names: bool,
    denied: Option<u8>,
    anchor_at: u64,
    unix_millis: u64,
    offset: i32,
    /// Use the clock fields as given rather than within the round-trip domain.
    raw_clock: bool,
    reset_kind: u8,
    per_limit: bool,
    ietf: bool,
    retry_after: bool,
    room: u16,
    message: String,
    detail: Option<String>,
}

/// A writer that refuses to grow past `room` bytes.
struct Capped {
    out: String,
    room: usize,
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.out.len() + s.len() > self.room {
            return Err(fmt::Error);
        }
        self.out.push_str(s);
        Ok(())
    }
}

fn run<const HZ: u64>(input: &Input) {
    if input.limits.is_empty() {
        return;
    }
    let in_domain = !input.raw_names && !input.raw_clock;
    let limits: Vec<Lim> = input
        .limits
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, l)| {
            let name = if input.raw_names {
                l.name.clone()
            } else {
                // A digit prefix keeps names distinct; IETF buckets are matched by name.
                let printable: String = l
                    .name
                    .chars()
                    .filter(|c| (' '..='~').contains(c))
                    .take(12)
                    .collect();
                format!("{i}{printable}")
            };
            let cap = |t: Ticks| match t {
                Ticks::Any(x) if in_domain => Ticks::Long(x).of(HZ),
                t => t.of(HZ),
            };
            Lim {
                name,
                limit: l.limit,
                remaining: l.remaining,
                window: cap(l.window),
                reset: cap(l.reset),
                retry: l.retry.map(cap),
            }
        })
        .collect();
    let n = limits.len();
    let denied = input.denied.map(|d| usize::from(d) % n);
    let (anchor_at, unix_millis, now) = if input.raw_clock {
        (
            input.anchor_at,
            input.unix_millis,
            input
                .anchor_at
                .saturating_add_signed(i64::from(input.offset)),
        )
    } else {
        let anchor_at = input.anchor_at % (1 << 40);
        let unix_millis = 1_000_000_000_000 + input.unix_millis % 3_000_000_000_000;
        let span = i64::try_from((1u64 << 30).min(30 * 86_400 * HZ)).unwrap();
        let offset = i64::from(input.offset) % span;
        (
            anchor_at,
            unix_millis,
            anchor_at.saturating_add_signed(offset),
        )
    };

    // Unlimited entries report as a policy makes them: limit and remaining u32::MAX, no reset,
    // never denied (outside the domain, anything at all).
    let unlimited: Vec<bool> = input
        .limits
        .iter()
        .take(8)
        .map(|l| l.unlimited % 4 == 0)
        .collect();
    let reports: Vec<Report<'_, HZ>> = limits
        .iter()
        .zip(&unlimited)
        .map(|(l, &unlimited)| {
            let decision = Decision {
                limit: l.limit,
                remaining: l.remaining,
                reset: Duration::<HZ>::from_ticks(l.reset),
                retry_after: l.retry.map(Duration::<HZ>::from_ticks),
                delay: Duration::<HZ>::from_ticks(0),
            };
            let (allowance, decision) = match (unlimited, l.window) {
                (true, _) if in_domain => (
                    Allowance::Unlimited,
                    Decision::allowed(u32::MAX, u32::MAX, Duration::<HZ>::from_ticks(0)),
                ),
                (true, _) => (Allowance::Unlimited, decision),
                // A zero window is a concurrency limit, as the model reads it.
                (false, 0) => (Allowance::InFlight { count: l.limit }, decision),
                (false, w) => (
                    Allowance::PerWindow {
                        count: l.limit,
                        window: Duration::<HZ>::from_ticks(w),
                    },
                    decision,
                ),
            };
            Report {
                name: &l.name,
                allowance,
                decision,
            }
        })
        .collect();
    // The limits that count, as the model sees them, and where each sits among the reports.
    let counting: Vec<usize> = (0..n).filter(|&i| !unlimited[i]).collect();
    let counted: Vec<Lim> = counting.iter().map(|&i| limits[i].clone()).collect();
    // In the domain a denial names a limit that counts, as a policy's does.
    let denied = if in_domain {
        match (input.denied, counting.len()) {
            (Some(d), k) if k > 0 => Some(counting[usize::from(d) % k]),
            _ => None,
        }
    } else {
        denied
    };
    let now_i = Instant::<HZ>::from_ticks(now);
    let set = ReportSet::new(now_i, &reports, denied).unwrap();
    assert_eq!(
        ReportSet::new(now_i, &reports, Some(n)),
        Err(IndexOutOfRange { index: n, len: n })
    );
    for (r, &u) in reports.iter().zip(&unlimited) {
        assert_eq!(r.counts(), !u);
    }
    let clock = WallClock::new(Instant::<HZ>::from_ticks(anchor_at), unix_millis);
    let kind = input.reset_kind % 3;
    let reset = match kind {
        0 => ResetFormat::DeltaSeconds,
        1 => ResetFormat::EpochSeconds(clock),
        _ => ResetFormat::EpochMillis(clock),
    };
    let values = if input.per_limit {
        LimitValues::PerLimit
    } else {
        LimitValues::Single
    };
    let mut config = HeaderConfig::none().with_x_ratelimit(XRateLimit::new(reset, values));
    if input.ietf {
        config = config.with_ietf();
    }
    if input.retry_after {
        config = config.with_retry_after();
    }

    let mut out = HeaderLines(String::new());
    let written = set.write_headers(&config, &mut out);
    // A sink with little room: the same text or a Sink error, never a panic.
    let mut capped = HeaderLines(Capped {
        out: String::new(),
        room: usize::from(input.room),
    });
    match set.write_headers(&config, &mut capped) {
        Ok(()) => assert_eq!((Ok(()), &capped.0.out), (written, &out.0)),
        Err(RenderError::Sink) => assert!(written.is_ok() && out.0.len() > capped.0.room),
        Err(e) => assert_eq!(Err(e), written),
    }
    let client_now = clock.unix_millis_at(now_i);
    let lines = out.0.split("\r\n").filter_map(|l| l.split_once(": "));
    let seen = RateLimitSummary::from_headers(lines, client_now);

    match written {
        Err(RenderError::NameNotSfString { index }) => {
            assert!(out.0.is_empty(), "an error after writing");
            assert!(
                reports[index].counts(),
                "an unlimited entry's name was rendered"
            );
            assert!(input.ietf && !limits[index].name.chars().all(|c| (' '..='~').contains(&c)));
        }
        Err(RenderError::EpochOutOfRange { .. }) => {
            assert!(out.0.is_empty(), "an error after writing");
            assert!(
                kind != 0 && !in_domain,
                "an epoch out of range in the domain"
            );
        }
        Err(e) => panic!("unexpected {e:?}"),
        Ok(()) if in_domain && counted.is_empty() => {
            // Nothing counts: no limit to tell of, nothing to wait for.
            assert!(out.0.is_empty(), "{}", out.0);
            assert!(seen.legacy().is_empty() && seen.ietf().is_empty());
        }
        Ok(()) if in_domain => {
            let client_now = client_now.unwrap();
            assert!(!seen.truncated());
            let denied = denied.map(|d| counting.iter().position(|&i| i == d).unwrap());
            let limits = &counted[..];
            let shown = model::shown(limits, denied, input.per_limit);
            assert_eq!(seen.legacy().len(), shown.len(), "{}", out.0);
            for (b, l) in seen.legacy().iter().zip(&shown) {
                assert_eq!(b.limit, Some(u64::from(l.limit)));
                assert_eq!(b.remaining, Some(u64::from(l.remaining)));
                let got = b.reset.unwrap().as_ticks();
                assert!(
                    model::legacy_reset_matches(kind, got, l.reset, HZ),
                    "reset {got} ms for {} ticks at {client_now}: {}",
                    l.reset,
                    out.0
                );
            }
            if input.ietf {
                assert_eq!(seen.ietf(), &model::ietf(limits, HZ)[..], "{}", out.0);
            } else {
                assert!(seen.ietf().is_empty());
            }
            assert_eq!(
                seen.retry_after(),
                model::retry_after(limits, input.retry_after, HZ)
            );
            let hinted = seen.server_hints::<HZ>().retry_after.map(|d| d.as_ticks());
            assert!(hinted >= model::longest_retry(limits, input.retry_after));
        }
        Ok(()) => {}
    }

    // JSON bodies: well-formed, whatever the strings, and read back as given.
    let body = TooManyRequests::new(set, &input.message)
        .with_more_info(&input.message)
        .to_string();
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["message"], input.message.as_str());
    assert_eq!(v["more_info"], input.message.as_str());
    assert_eq!(v["status"], 429);
    match set.denied() {
        Some(r) => assert_eq!(v["limit_exceeded"], r.name),
        None => assert!(v["limit_exceeded"].is_null()),
    }
    for r in &reports {
        assert!(
            v["limits"].get(r.name).is_some(),
            "{} missing from {body}",
            r.name
        );
    }
    let mut p = ProblemDetails::quota_exceeded(set);
    if let Some(d) = &input.detail {
        p = p.with_detail(d).with_instance(d);
    }
    let body = p.to_string();
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], 429);
    if let Some(d) = &input.detail {
        assert_eq!(v["detail"], d.as_str());
        assert_eq!(v["instance"], d.as_str());
    }
    assert_eq!(v["retry_after"].as_u64(), set.retry_after_secs());
    let mut sink = String::new();
    write!(sink, "{}", tollgate_core::JsonStr(&input.message)).unwrap();
    assert_eq!(
        serde_json::from_str::<String>(&sink).unwrap(),
        input.message
    );
}

fuzz_target!(|input: Input| {
    at_rate!(input.rate, run(&input));
});
