//! The server-side script: its text, each limit's spec for it, and its reply read back.
//!
//! The script is the Lua files in `lua/` joined in one chunk (Redis allows a script no globals):
//! exact u64 arithmetic first, then the shared helpers, one file per algorithm, and the policy
//! that decides them all-or-nothing. Each algorithm file ports its core module step for step
//! (`look` is the core's `step`, then `admits`, `report` is `decision`, `record`), in
//! nanoseconds, so the same requests at the same instants get the same figures as in memory.

use tollgate_core::{Algorithm, Verdict};

use crate::policy::Reports;
use crate::{Decision, Duration, Instant, Limit};

/// The script's source: each algorithm's file in a loader of the kinds it registers, run at the
/// first use of one of them in a call (prelude.lua's `alg_of`).
pub(crate) const SOURCE: &str = concat!(
    include_str!("lua/u64.lua"),
    include_str!("lua/prelude.lua"),
    "LOAD.gcra = function()\n",
    include_str!("lua/gcra.lua"),
    "end\nLOAD.meter = function()\n",
    include_str!("lua/leaky_bucket.lua"),
    "end\nLOAD.shaper = LOAD.meter\nLOAD.sliding_window = function()\n",
    include_str!("lua/sliding_window.lua"),
    "end\nLOAD.sliding_log = function()\n",
    include_str!("lua/sliding_log.lua"),
    "end\nLOAD.concurrency = function()\n",
    include_str!("lua/concurrency.lua"),
    "end\nLOAD.unlimited = LOAD.concurrency\n",
    include_str!("lua/policy.lua"),
);

/// Why a limit cannot be kept in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// The store has no script for this algorithm yet.
    Algorithm(&'static str),
    /// A tier or limit name with a `:`, which separates the parts of a Redis key (tier `a`
    /// with limit `x:y` and tier `a:x` with limit `y` would share one).
    Colon,
}

/// The spec the script reads for `limit`: `kind:field:...`, numbers in ticks as decimal text;
/// `lease` is how long a place taken in a concurrency limit is kept without a release.
pub(crate) fn spec(limit: &Limit, lease: Duration) -> Result<String, Unsupported> {
    match limit {
        Limit::Gcra(g) => {
            let q = g.quota();
            let t = q.interval().as_ticks();
            // Validated by the quota not to overflow; the core saturates the same way.
            let bt = t.saturating_mul(u64::from(q.burst()));
            Ok(format!("gcra:{t}:{bt}:{}", q.burst()))
        }
        Limit::Meter(m) => {
            let q = m.quota();
            let t = q.interval().as_ticks();
            // The bucket's capacity b·T, validated by the quota not to overflow.
            let cap = t.saturating_mul(u64::from(q.burst()));
            Ok(format!("meter:{t}:{cap}:{}", q.burst()))
        }
        Limit::Shaper(s) => {
            let q = s.quota();
            let t = q.interval().as_ticks();
            let bt = t.saturating_mul(u64::from(q.burst()));
            let max_delay = s.max_delay().as_ticks();
            // b·T + max_delay, validated by `Shaper::new` not to overflow.
            let horizon = bt.saturating_add(max_delay);
            Ok(format!(
                "shaper:{t}:{bt}:{max_delay}:{horizon}:{}",
                s.limit()
            ))
        }
        // Any ring the std adapter builds, undersized ones too: the script decides them alike.
        Limit::SlidingLog(l) => Ok(format!(
            "sliding_log:{}:{}:{}",
            l.limit(),
            l.window().as_ticks(),
            l.entries()
        )),
        // The span B·g is validated by the core to fit a u64.
        Limit::SlidingWindow(w) => Ok(format!(
            "sliding_window:{}:{}:{}:{}",
            w.limit(),
            w.granularity().as_ticks(),
            w.buckets(),
            w.span().as_ticks()
        )),
        // The lease in whole milliseconds, rounded up (never shorter than asked).
        Limit::Concurrency(c) => Ok(format!(
            "concurrency:{}:{}:{}",
            c.max(),
            c.retry_hint().as_ticks(),
            lease.as_ticks().div_ceil(1_000_000).max(1)
        )),
        Limit::Unlimited => Ok("unlimited".to_owned()),
    }
}

/// A reply the script should not have given (another program's data under our keys, or a
/// script of another version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply(pub String);

/// One limit's part of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures {
    pub(crate) admits: bool,
    pub(crate) decision: Decision,
}

/// A decision as the script replied it: the instant it was made at, whether the policy admitted,
/// and each limit's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) now: Instant,
    pub(crate) allowed: bool,
    pub(crate) limits: Vec<Figures>,
}

fn int(v: &::redis::Value) -> Result<i64, BadReply> {
    match v {
        ::redis::Value::Int(i) => Ok(*i),
        other => Err(BadReply(format!("expected an integer, got {other:?}"))),
    }
}

fn text(v: &::redis::Value) -> Result<&str, BadReply> {
    match v {
        ::redis::Value::BulkString(b) => {
            std::str::from_utf8(b).map_err(|_| BadReply(format!("not UTF-8: {b:?}")))
        }
        ::redis::Value::SimpleString(s) => Ok(s),
        other => Err(BadReply(format!("expected text, got {other:?}"))),
    }
}

fn ticks(v: &::redis::Value) -> Result<u64, BadReply> {
    let t = text(v)?;
    t.parse()
        .map_err(|_| BadReply(format!("not a number of ticks: {t:?}")))
}

fn count(v: &::redis::Value) -> Result<u32, BadReply> {
    let i = int(v)?;
    u32::try_from(i).map_err(|_| BadReply(format!("not a count: {i}")))
}

/// Reads the script's reply for a policy of `limits` limits.
pub(crate) fn read(value: &::redis::Value, limits: usize) -> Result<Reply, BadReply> {
    let ::redis::Value::Array(items) = value else {
        return Err(BadReply(format!("expected an array, got {value:?}")));
    };
    if items.len() != 2 + 6 * limits {
        return Err(BadReply(format!(
            "expected {} items for {limits} limits, got {}",
            2 + 6 * limits,
            items.len()
        )));
    }
    let allowed = int(&items[0])? == 1;
    let now = Instant::from_ticks(ticks(&items[1])?);
    let limits = items[2..]
        .chunks_exact(6)
        .map(|f| {
            let retry = text(&f[4])?;
            let retry_after = if retry.is_empty() {
                None
            } else {
                Some(Duration::from_ticks(ticks(&f[4])?))
            };
            Ok(Figures {
                admits: int(&f[0])? == 1,
                decision: Decision {
                    limit: count(&f[1])?,
                    remaining: count(&f[2])?,
                    reset: Duration::from_ticks(ticks(&f[3])?),
                    retry_after,
                    delay: Duration::from_ticks(ticks(&f[5])?),
                },
            })
        })
        .collect::<Result<Vec<_>, BadReply>>()?;
    Ok(Reply {
        now,
        allowed,
        limits,
    })
}

/// Reads the reply of a release: whether it gave any place back.
pub(crate) fn released(value: &::redis::Value) -> Result<bool, BadReply> {
    match value {
        ::redis::Value::Array(items) => match items.as_slice() {
            [given] => Ok(int(given)? > 0),
            _ => Err(BadReply(format!("not a release reply: {items:?}"))),
        },
        other => Err(BadReply(format!("expected an array, got {other:?}"))),
    }
}

/// The policy's verdict from its limits' figures, as the core's engine tallies it: the denial
/// with the longest wait (the first of equals), else forced when a test override forces a
/// denial of a request with a cost, else allowed.
pub(crate) fn verdict(limits: &[Figures], forced: bool) -> Verdict {
    let mut worst: Option<(usize, Option<Duration>)> = None;
    for (index, f) in limits.iter().enumerate() {
        if !f.admits {
            let wait = f.decision.retry_after;
            if worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((index, wait));
            }
        }
    }
    match worst {
        Some((index, _)) => Verdict::Denied { index },
        None if forced => Verdict::Forced,
        None => Verdict::Allowed,
    }
}

/// The reports of a reply, named after `limits`.
pub(crate) fn reports<'p>(
    limits: &'p [tollgate_core::Named<Limit, String>],
    reply: &Reply,
) -> Reports<'p> {
    limits
        .iter()
        .zip(&reply.limits)
        .map(|(l, f)| tollgate_core::Report {
            name: l.name(),
            allowance: l.algorithm().allowance(),
            decision: f.decision,
        })
        .collect()
}
