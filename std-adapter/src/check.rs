//! A policy file in words: what `tollgate check` prints.
//!
//! Each limit's exact guarantee (the one its algorithm's docs state and its property tests
//! prove), the state a key costs, and warnings a person should read before deploying it: a
//! rate whose burst lets one window hold far more than the limit, a sliding log whose memory
//! grows with its limit.
//!
//! # Examples
//!
//! ```
//! use tollgate_std::PolicyFile;
//! use tollgate_std::check::describe;
//!
//! let file: PolicyFile = r#"
//! [[limit]]
//! name = "minute"
//! algorithm = "gcra"
//! limit = 300
//! window = "1m"
//! "#.parse()?;
//! let described = describe(&file);
//! let minute = &described.tiers[0].limits[0];
//! assert_eq!(minute.guarantee, "one request every 200ms with bursts of up to 300: at most 300 + ⌊d / 200ms⌋ in any span d, so up to 599 in one 1m window; a denied request learns exactly when to retry");
//! assert_eq!(minute.state_bytes, 64);
//! assert_eq!(described.warnings.len(), 1); // 599 in a window: nearly twice the limit
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use tollgate_core::Algorithm;

use crate::config::{AlgorithmKind, DEFAULT_TIER, LimitSpec, PolicyFile, format_duration};
use crate::simulate::group;
use crate::{Duration, Limit, LimitState};

/// A sliding log above this many entries gets a warning: its state passes 120 kB per key.
pub const LARGE_LOG: u32 = 10_000;

/// A policy file described: see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The file's tiers (its top-level limits first, as the tier `default`).
    pub tiers: Vec<TierWords>,
    /// What a person should read before deploying the file.
    pub warnings: Vec<String>,
}

/// One tier's limits in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierWords {
    /// The tier's name.
    pub name: String,
    /// Its limits, in the file's order.
    pub limits: Vec<LimitWords>,
    /// The state one key of this tier costs, in bytes: every limit's.
    pub state_bytes: usize,
}

/// One limit in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWords {
    /// Its name.
    pub name: String,
    /// Its algorithm.
    pub algorithm: AlgorithmKind,
    /// The line of the file it was written on.
    pub line: usize,
    /// Its exact guarantee.
    pub guarantee: String,
    /// The state it keeps per key, in bytes (inline, plus any buffer on the heap).
    pub state_bytes: usize,
}

/// A tier's name, limits and what the file wrote for each.
type List<'f> = (
    &'f str,
    &'f [tollgate_core::Named<Limit, String>],
    &'f [LimitSpec],
);

/// Describes every limit of `file`.
pub fn describe(file: &PolicyFile) -> Described {
    let mut lists: Vec<List<'_>> = Vec::new();
    if !file.limits.is_empty() {
        lists.push((DEFAULT_TIER, &file.limits, file.specs()));
    }
    for t in &file.tiers {
        lists.push((&t.name, &t.limits, t.specs()));
    }
    let mut warnings = Vec::new();
    let tiers = lists
        .into_iter()
        .map(|(tier, limits, specs)| {
            let limits: Vec<LimitWords> = limits
                .iter()
                .zip(specs)
                .map(|(l, spec)| {
                    let (guarantee, warning) = words(l.algorithm());
                    if let Some(w) = warning {
                        let at = if tier == DEFAULT_TIER {
                            format!("line {}: {}", spec.line, l.name())
                        } else {
                            format!("line {}: {tier}/{}", spec.line, l.name())
                        };
                        warnings.push(format!("{at}: {w}"));
                    }
                    LimitWords {
                        name: l.name().to_string(),
                        algorithm: spec.algorithm,
                        line: spec.line,
                        guarantee,
                        state_bytes: state_bytes(l.algorithm()),
                    }
                })
                .collect();
            TierWords {
                name: tier.to_string(),
                state_bytes: limits.iter().map(|l| l.state_bytes).sum(),
                limits,
            }
        })
        .collect();
    Described { tiers, warnings }
}

/// The bytes one key's state of `limit` takes: the state itself, and the buffer a sliding log
/// (12 bytes an entry: an 8-byte stamp and a 4-byte cost) or window (4 bytes a slot) keeps on
/// the heap.
pub fn state_bytes(limit: &Limit) -> usize {
    let heap = match limit {
        Limit::SlidingLog(l) => l.entries() as usize * 12,
        Limit::SlidingWindow(w) => w.buckets() as usize * 4,
        _ => 0,
    };
    size_of::<LimitState>() + heap
}

fn d(duration: Duration) -> String {
    format_duration(duration)
}

/// The guarantee of `limit`, and a warning if it deserves one.
fn words(limit: &Limit) -> (String, Option<String>) {
    const EXACT: &str = "a denied request learns exactly when to retry";
    match limit {
        Limit::Gcra(g) => rate(g.quota(), "", EXACT),
        Limit::Meter(m) => rate(m.quota(), " (as a leaky bucket's level)", EXACT),
        Limit::Shaper(s) => {
            let q = s.quota();
            let t = q.interval();
            (
                format!(
                    "one request every {} (at {} per {}), up to {} at once from rest, the rest queued: an accepted request waits at most {}, and a request that would wait longer is refused",
                    d(t),
                    group(u64::from(q.limit())),
                    d(q.window()),
                    group(u64::from(q.burst())),
                    d(s.max_delay()),
                ),
                None,
            )
        }
        Limit::SlidingLog(l) => {
            let n = l.limit();
            let guarantee = format!(
                "at most {} in any {} window, exactly: each request counts for exactly {}; {EXACT}",
                group(u64::from(n)),
                d(l.window()),
                d(l.window()),
            );
            let warning = (l.entries() > LARGE_LOG).then(|| {
                format!(
                    "a sliding log keeps one 12-byte entry per request it counts: {} bytes per key at this limit; a sliding window keeps a few hundred bytes at any limit, exact to one slot",
                    group(l.entries() as u64 * 12)
                )
            });
            (guarantee, warning)
        }
        Limit::SlidingWindow(w) => (
            format!(
                "never more than {} in any {} window; counted in {} slots of {}, so a request keeps counting for up to {} (it may under-admit, never over-admit)",
                group(u64::from(w.limit())),
                d(w.window()),
                group(u64::from(w.buckets())),
                d(w.granularity()),
                d(w.span()),
            ),
            None,
        ),
        Limit::Concurrency(c) => (
            format!(
                "at most {} in flight at once; a request holds its place until it is released",
                group(u64::from(Algorithm::<{ crate::HZ }>::capacity(c)))
            ),
            None,
        ),
        Limit::Unlimited => (String::from("no limit: every request is admitted"), None),
    }
}

/// A rate with a burst: GCRA and the leaky bucket, which decide alike.
fn rate(q: crate::Quota, how: &str, exact: &str) -> (String, Option<String>) {
    let (n, b, t, w) = (q.limit(), q.burst(), q.interval(), q.window());
    // Closed intervals of length d hold at most b + ⌊d/T⌋; a window (t − W, t] is shorter than
    // W, so it holds at most b + ⌈W/T⌉ − 1.
    let in_window = u64::from(b) + w.as_ticks().div_ceil(t.as_ticks()) - 1;
    let guarantee = format!(
        "one request every {}{how} with bursts of up to {}: at most {} + ⌊d / {}⌋ in any span d, so up to {} in one {} window; {exact}",
        d(t),
        group(u64::from(b)),
        group(u64::from(b)),
        d(t),
        group(in_window),
        d(w),
    );
    let warning = (in_window * 2 >= u64::from(n) * 3).then(|| {
        format!(
            "admits up to {} in one {} window, {:.2}× its limit of {}: if the limit is a count per window, use sliding-log or sliding-window, or a smaller burst",
            group(in_window),
            d(w),
            in_window as f64 / f64::from(n),
            group(u64::from(n)),
        )
    });
    (guarantee, warning)
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for tier in &self.tiers {
            writeln!(
                f,
                "{} ({} bytes of state per key)",
                tier.name,
                group(tier.state_bytes as u64)
            )?;
            for l in &tier.limits {
                writeln!(
                    f,
                    "  {} ({}, line {}, {} bytes per key)",
                    l.name,
                    l.algorithm,
                    l.line,
                    group(l.state_bytes as u64)
                )?;
                writeln!(f, "    {}", l.guarantee)?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Described {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/policies")
            .join(name);
        describe(&PolicyFile::load(path).unwrap())
    }

    #[test]
    fn seed_000_in_words() {
        let d = example("000-concurrent-minute-quarter.toml");
        assert_eq!(d.tiers.len(), 1);
        let limits = &d.tiers[0].limits;
        assert_eq!(
            limits[0].guarantee,
            "at most 5 in flight at once; a request holds its place until it is released"
        );
        assert_eq!(
            limits[1].guarantee,
            "at most 300 in any 1m window, exactly: each request counts for exactly 1m; a denied request learns exactly when to retry"
        );
        // 64 bytes inline, and 12 bytes an entry for the logs.
        assert_eq!(limits[1].state_bytes, 64 + 300 * 12);
        assert_eq!(d.tiers[0].state_bytes, 64 + (64 + 3_600) + (64 + 10_800));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn warnings_name_the_line_and_the_limit() {
        let file: PolicyFile = "[[tiers.pro.limit]]\nname = \"day\"\nalgorithm = \"sliding-log\"\nlimit = 105600\nwindow = \"24h\"\n\n[[tiers.pro.limit]]\nname = \"second\"\nalgorithm = \"leaky-bucket\"\nlimit = 10\nwindow = \"1s\"\n".parse().unwrap();
        let d = describe(&file);
        assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
        assert!(d.warnings[0].starts_with("line 1: pro/day: a sliding log keeps one 12-byte entry per request it counts: 1,267,200 bytes per key"));
        assert!(d.warnings[1].starts_with(
            "line 7: pro/second: admits up to 19 in one 1s window, 1.90× its limit of 10"
        ));
    }

    #[test]
    fn every_example_file_is_described() {
        for name in [
            "001-plan-tiers.toml",
            "002-four-buckets.toml",
            "003-carrier-per-number.toml",
            "004-rolling-hour-day.toml",
            "nginx-limit-req.toml",
        ] {
            let d = example(name);
            let text = d.to_string();
            assert!(d.tiers.iter().all(|t| !t.limits.is_empty()), "{name}");
            assert!(text.contains("bytes per key"), "{name}: {text}");
        }
        let nginx = example("nginx-limit-req.toml");
        assert_eq!(
            nginx.tiers[0].limits[0].guarantee,
            "one request every 100ms (at 10 per 1s), up to 3 at once from rest, the rest queued: an accepted request waits at most 300ms, and a request that would wait longer is refused"
        );
    }
}
