//! Replaying a request trace against a policy file: the engine of `tollgate simulate`.
//!
//! Every request is decided by a [`KeyedPolicy`] at the trace's own time (a [`FakeClock`] set
//! to each line's `t_ms`), so the decisions are the library's, exactly as a server using the same
//! policy would make them for requests arriving at those instants. A request that holds
//! concurrency permits (`hold_ms`) releases them at `t_ms + hold_ms`, before any request at that
//! instant is decided.
//!
//! Alongside the decisions a [`Summary`] counts, per key and per limit, what was admitted and
//! denied and the most any key was admitted in any window of each limit (for a concurrency limit,
//! the most in flight at once), to hold against the limit; [`Series`] keeps the same over time
//! for a plot. Memory is bounded by the keys and the policy, never by the trace's length: a key's
//! windows keep only the admissions still inside them, and the series merges its buckets as the
//! trace grows.
//!
//! # Examples
//!
//! ```
//! use tollgate_std::PolicyFile;
//! use tollgate_std::simulate::{Request, Simulation};
//!
//! let file: PolicyFile = "[[limit]]\nname = \"minute\"\nalgorithm = \"sliding-log\"\nlimit = 2\nwindow = \"1m\"\n".parse()?;
//! let mut sim = Simulation::new(&file, None)?;
//! let mut allowed = Vec::new();
//! for (i, t_ms) in [0, 10, 20, 60_000].into_iter().enumerate() {
//!     let line = format!(r#"{{"t_ms": {t_ms}, "key": "acct-1"}}"#);
//!     let outcome = sim.decide(i as u64 + 1, &Request::parse(line.as_bytes())?)?;
//!     allowed.push(outcome.allowed);
//! }
//! assert_eq!(allowed, [true, true, false, true]);
//! let summary = sim.finish();
//! assert_eq!((summary.admitted, summary.denied), (3, 1));
//! assert_eq!(summary.limits[0].most, 2); // never more than 2 in any minute
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod plot;
mod summary;
mod trace;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};

use compact_str::CompactString;
use tollgate_core::{Algorithm, Allowance, Overrides};

pub use plot::{PlotError, plot_svg};
pub use summary::{KeyTotals, LimitTotals, Summary};
pub use trace::Request;

use crate::clock::FakeClock;
use crate::config::{AlgorithmKind, DEFAULT_TIER, PolicyFile};
use crate::keyed::{KeyPermit, KeyedError, TierId};
use crate::{Duration, Instant, KeyedPolicy};

/// Nanoseconds per millisecond.
const NS_PER_MS: u64 = 1_000_000;

/// What the trace said that a simulation cannot run: the line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The trace line (1-based).
    pub line: u64,
    /// What is wrong with it.
    pub kind: TraceErrorKind,
}

/// Why a trace line cannot be simulated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceErrorKind {
    /// Not a trace object (serde_json's message).
    Malformed(String),
    /// `t_ms` is earlier than the line before's.
    Backwards {
        /// This line's time.
        t_ms: u64,
        /// The line before's.
        previous: u64,
    },
    /// `t_ms` (or `t_ms + hold_ms`) is beyond what nanosecond instants hold (584 years).
    TooLate(u64),
    /// The line names a tier the policy does not have.
    UnknownTier(String),
    /// The line names no tier and the simulation has no default.
    NoTier,
    /// The policy refused the request in a way a simulation cannot report as a decision.
    Policy(String),
}

impl core::fmt::Display for TraceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "trace line {}: ", self.line)?;
        match &self.kind {
            TraceErrorKind::Malformed(m) => write!(f, "not a request object: {m}"),
            TraceErrorKind::Backwards { t_ms, previous } => write!(
                f,
                "time goes backwards: t_ms {t_ms} after {previous} (a trace is in time order)"
            ),
            TraceErrorKind::TooLate(t) => write!(f, "t_ms {t} is too late to simulate"),
            TraceErrorKind::UnknownTier(t) => write!(f, "the policy has no tier {t:?}"),
            TraceErrorKind::NoTier => write!(
                f,
                "the line names no \"tier\", and the policy has no top-level limits to apply"
            ),
            TraceErrorKind::Policy(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// Why a simulation cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// The default tier asked for is not in the policy.
    UnknownTier(String),
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownTier(t) => write!(f, "the policy has no tier {t:?}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// One request's decision, with the figures of the binding limit (the one that denied it, or
/// the one with the least remaining), as a server sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome<'s> {
    /// Whether the request was admitted.
    pub allowed: bool,
    /// The binding limit's limit (for GCRA its burst), or `None` when no limit counts.
    pub limit: Option<u32>,
    /// Requests of cost 1 that would still be admitted at once.
    pub remaining: Option<u32>,
    /// Milliseconds (rounded up) until the binding limit is fully replenished.
    pub reset_ms: u64,
    /// When denied, the milliseconds (rounded up) after which the same request would be
    /// admitted; `None` when admitted, and when the cost can never fit.
    pub retry_after_ms: Option<u64>,
    /// The name of the limit that denied the request.
    pub exceeded: Option<&'s str>,
    /// How long (ms, rounded up) an admitted request waits before it proceeds: the longest of
    /// the policy's shapers' delays.
    pub delay_ms: u64,
}

/// An outcome whose denying limit is still an index into its tier's limits.
#[derive(Debug, Clone, Copy)]
struct Figures {
    allowed: bool,
    limit: Option<u32>,
    remaining: Option<u32>,
    reset_ms: u64,
    retry_after_ms: Option<u64>,
    exceeded: Option<usize>,
    delay_ms: u64,
}

/// A request holding concurrency permits until `at`.
struct Held {
    at: u64,
    seq: u64,
    slot: usize,
    cost: u32,
    permit: KeyPermit<CompactString, FakeClock>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One limit as the simulation reports it.
#[derive(Debug, Clone)]
struct LimitInfo {
    name: String,
    algorithm: AlgorithmKind,
    allowance: Allowance<{ crate::HZ }>,
}

/// What one key's admissions look like in one limit's window.
#[derive(Debug, Default)]
struct Window {
    /// Admissions still inside the window: (instant ns, cost). Empty for concurrency limits.
    log: VecDeque<(u64, u32)>,
    /// Their cost in total; for a concurrency limit, the cost in flight.
    sum: u64,
}

/// One key's counts.
#[derive(Debug)]
struct KeyStats {
    tier: TierId,
    key: Option<CompactString>,
    requests: u64,
    admitted: u64,
    denied: u64,
    windows: Box<[Window]>,
}

/// A trace replayed against a policy: see the [module docs](self).
pub struct Simulation {
    policy: KeyedPolicy<CompactString, FakeClock>,
    clock: FakeClock,
    /// Per tier id: its name and its limits.
    tiers: Vec<(String, Vec<LimitInfo>)>,
    /// The first flat limit index of each tier (for totals and series).
    offsets: Vec<usize>,
    default_tier: Option<TierId>,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    last_t_ms: Option<u64>,
    first_t_ms: Option<u64>,
    /// Key stats by (tier, key), and their slots.
    slots: HashMap<(TierId, Option<CompactString>), usize, foldhash::fast::RandomState>,
    keys: Vec<KeyStats>,
    limit_totals: Vec<LimitTotals>,
    series: plot::Series,
}

impl core::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Simulation")
            .field("tiers", &self.tiers.len())
            .field("keys", &self.keys.len())
            .field("in_flight", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// A simulation of `file`'s policy. Requests whose line names no tier get `default_tier`;
    /// without one, the file's top-level limits, or its only tier.
    ///
    /// # Errors
    ///
    /// [`SetupError::UnknownTier`] when `default_tier` is not in the file.
    pub fn new(file: &PolicyFile, default_tier: Option<&str>) -> Result<Self, SetupError> {
        let clock = FakeClock::new();
        let mut tiers: Vec<(String, Vec<Named>)> = Vec::new();
        if !file.limits.is_empty() || file.tiers.is_empty() {
            tiers.push((DEFAULT_TIER.to_string(), file.limits.clone()));
        }
        tiers.extend(
            file.tiers
                .iter()
                .map(|t| (t.name.clone(), t.limits.clone())),
        );
        let info: Vec<(String, Vec<LimitInfo>)> = tiers
            .iter()
            .map(|(name, limits)| {
                let limits = limits
                    .iter()
                    .map(|l| LimitInfo {
                        name: l.name().to_string(),
                        algorithm: AlgorithmKind::of(l.algorithm()),
                        allowance: l.algorithm().allowance(),
                    })
                    .collect();
                (name.clone(), limits)
            })
            .collect();
        let policy = KeyedPolicy::with_clock(tiers, clock.clone());
        let default_tier = match default_tier {
            Some(name) => Some(
                policy
                    .tier(name)
                    .ok_or_else(|| SetupError::UnknownTier(name.to_string()))?,
            ),
            None if info.len() == 1 => Some(0),
            None => policy.tier(DEFAULT_TIER),
        };
        let mut offsets = Vec::with_capacity(info.len());
        let mut limit_totals = Vec::new();
        for (tier, limits) in &info {
            offsets.push(limit_totals.len());
            limit_totals.extend(limits.iter().map(|l| LimitTotals {
                tier: tier.clone(),
                name: l.name.clone(),
                algorithm: l.algorithm,
                allowance: l.allowance,
                denied: 0,
                most: 0,
                most_key: None,
                most_at_ms: 0,
            }));
        }
        let series = plot::Series::new(&limit_totals);
        Ok(Self {
            policy,
            clock,
            tiers: info,
            offsets,
            default_tier,
            held: BinaryHeap::new(),
            seq: 0,
            last_t_ms: None,
            first_t_ms: None,
            slots: HashMap::default(),
            keys: Vec::new(),
            limit_totals,
            series,
        })
    }

    /// Decides the request of trace line `line`.
    ///
    /// # Errors
    ///
    /// A [`TraceError`] naming `line` when time goes backwards or the tier is unknown; the
    /// simulation is unchanged then.
    pub fn decide(&mut self, line: u64, req: &Request<'_>) -> Result<Outcome<'_>, TraceError> {
        let error = |kind| TraceError { line, kind };
        if let Some(previous) = self.last_t_ms
            && req.t_ms < previous
        {
            return Err(error(TraceErrorKind::Backwards {
                t_ms: req.t_ms,
                previous,
            }));
        }
        let now = req
            .t_ms
            .checked_mul(NS_PER_MS)
            .ok_or(error(TraceErrorKind::TooLate(req.t_ms)))?;
        let until = match req.hold_ms {
            Some(hold) => Some(
                req.t_ms
                    .checked_add(hold)
                    .and_then(|t| t.checked_mul(NS_PER_MS))
                    .ok_or(error(TraceErrorKind::TooLate(
                        req.t_ms.saturating_add(hold),
                    )))?,
            ),
            None => None,
        };
        let tier = match req.tier.as_deref() {
            Some(name) => self
                .policy
                .tier(name)
                .ok_or_else(|| error(TraceErrorKind::UnknownTier(name.to_string())))?,
            None => self.default_tier.ok_or(error(TraceErrorKind::NoTier))?,
        };
        self.last_t_ms = Some(req.t_ms);
        self.first_t_ms.get_or_insert(req.t_ms);
        self.release_until(now);
        self.clock.set(Instant::from_ticks(now));

        let key = req.key.as_deref().unwrap_or("");
        let slot = self.slot(tier, req.key.as_deref());
        let at = Instant::from_ticks(now);
        let (figures, permit) =
            match self
                .policy
                .check_at(tier, key, at, req.cost, &Overrides::NONE)
            {
                Ok((d, permit)) => {
                    let binding = d.applicable().map(|r| r.decision);
                    let figures = Figures {
                        allowed: d.is_allowed(),
                        limit: binding.map(|b| b.limit),
                        remaining: binding.map(|b| b.remaining),
                        reset_ms: binding.map_or(0, |b| ms_up(b.reset)),
                        retry_after_ms: d.retry_after().map(ms_up),
                        exceeded: d.denied_index(),
                        delay_ms: ms_up(d.delay()),
                    };
                    (figures, Some(permit))
                }
                Err(KeyedError::Capacity(e)) => {
                    // The cost can never fit: denied, with no retry, by the limit too small.
                    let index = e.index.unwrap_or(0);
                    let seen = self
                        .policy
                        .peek_at(tier, key, at, 0)
                        .ok()
                        .and_then(|d| d.reports().get(index).map(|r| r.decision));
                    let figures = Figures {
                        allowed: false,
                        limit: Some(e.capacity),
                        remaining: seen.map(|d| d.remaining),
                        reset_ms: seen.map_or(0, |d| ms_up(d.reset)),
                        retry_after_ms: None,
                        exceeded: Some(index),
                        delay_ms: 0,
                    };
                    (figures, None)
                }
                // The map has no bound on keys and the tier was found: not expected, but reported.
                Err(e) => return Err(error(TraceErrorKind::Policy(e.to_string()))),
            };
        self.count(slot, tier, now, req, &figures);
        if let Some(permit) = permit
            && permit.holds()
        {
            match until {
                Some(at) if at > now => {
                    self.seq += 1;
                    self.held.push(Reverse(Held {
                        at,
                        seq: self.seq,
                        slot,
                        cost: req.cost,
                        permit,
                    }));
                }
                // Released at once.
                _ => self.release(slot, permit, req.cost),
            }
        }
        let names = &self.tiers[tier].1;
        Ok(Outcome {
            allowed: figures.allowed,
            limit: figures.limit,
            remaining: figures.remaining,
            reset_ms: figures.reset_ms,
            retry_after_ms: figures.retry_after_ms,
            exceeded: figures
                .exceeded
                .and_then(|i| names.get(i))
                .map(|l| l.name.as_str()),
            delay_ms: figures.delay_ms,
        })
    }

    /// Ends every hold due at or before `now` (ns), in time order.
    fn release_until(&mut self, now: u64) {
        while let Some(Reverse(h)) = self.held.peek()
            && h.at <= now
        {
            let Some(Reverse(h)) = self.held.pop() else {
                break;
            };
            self.clock.set(Instant::from_ticks(h.at));
            self.release(h.slot, h.permit, h.cost);
        }
    }

    /// Releases `permit` (at the clock's time) and takes its cost off the key's in-flight counts.
    fn release(&mut self, slot: usize, permit: KeyPermit<CompactString, FakeClock>, cost: u32) {
        drop(permit);
        let stats = &mut self.keys[slot];
        for (w, l) in stats.windows.iter_mut().zip(&self.tiers[stats.tier].1) {
            if matches!(l.allowance, Allowance::InFlight { .. }) {
                w.sum = w.sum.saturating_sub(u64::from(cost));
            }
        }
    }

    /// The stats slot of (tier, key), made on first sight.
    fn slot(&mut self, tier: TierId, key: Option<&str>) -> usize {
        let lookup = (tier, key.map(CompactString::from));
        if let Some(&slot) = self.slots.get(&lookup) {
            return slot;
        }
        let slot = self.keys.len();
        self.keys.push(KeyStats {
            tier,
            key: lookup.1.clone(),
            requests: 0,
            admitted: 0,
            denied: 0,
            windows: self.tiers[tier]
                .1
                .iter()
                .map(|_| Window::default())
                .collect(),
        });
        self.slots.insert(lookup, slot);
        slot
    }

    /// Counts a decision in its key's stats, the limits' totals and the series.
    fn count(&mut self, slot: usize, tier: TierId, now: u64, req: &Request<'_>, o: &Figures) {
        let stats = &mut self.keys[slot];
        stats.requests += 1;
        let t_ms = req.t_ms;
        self.series.count(t_ms, o.allowed);
        // Admitted: the request joins every window. Denied: it joins none, but what its
        // windows hold is sampled all the same (a denied key's windows are the full ones).
        let cost = if o.allowed {
            stats.admitted += 1;
            req.cost
        } else {
            stats.denied += 1;
            if let Some(i) = o.exceeded {
                self.limit_totals[self.offsets[tier] + i].denied += 1;
            }
            0
        };
        for (i, (w, l)) in stats
            .windows
            .iter_mut()
            .zip(&self.tiers[tier].1)
            .enumerate()
        {
            let occupancy = match l.allowance {
                Allowance::PerWindow { window, .. } => {
                    // Admissions in (now − window, now].
                    let window = window.as_ticks();
                    while let Some(&(t, c)) = w.log.front()
                        && now >= window
                        && t <= now - window
                    {
                        w.log.pop_front();
                        w.sum -= u64::from(c);
                    }
                    if cost > 0 {
                        w.log.push_back((now, cost));
                        w.sum += u64::from(cost);
                    }
                    w.sum
                }
                Allowance::InFlight { .. } => {
                    w.sum += u64::from(cost);
                    w.sum
                }
                Allowance::Unlimited => continue,
            };
            let flat = self.offsets[tier] + i;
            let total = &mut self.limit_totals[flat];
            if occupancy > total.most {
                total.most = occupancy;
                total.most_key = Some(stats.key.as_deref().unwrap_or("").to_string());
                total.most_at_ms = t_ms;
            }
            self.series.occupy(t_ms, flat, occupancy);
        }
    }

    /// The summary of everything decided.
    pub fn finish(self) -> Summary {
        let mut keys: Vec<KeyTotals> = self
            .keys
            .iter()
            .map(|k| KeyTotals {
                tier: self.tiers[k.tier].0.clone(),
                key: k.key.as_ref().map(ToString::to_string),
                requests: k.requests,
                admitted: k.admitted,
                denied: k.denied,
            })
            .collect();
        keys.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.key.cmp(&b.key)));
        Summary {
            requests: keys.iter().map(|k| k.requests).sum(),
            admitted: keys.iter().map(|k| k.admitted).sum(),
            denied: keys.iter().map(|k| k.denied).sum(),
            first_ms: self.first_t_ms,
            last_ms: self.last_t_ms,
            keys,
            limits: self.limit_totals,
            series: self.series,
        }
    }
}

/// A span in whole milliseconds, rounded up.
fn ms_up(d: Duration) -> u64 {
    d.as_ticks().div_ceil(NS_PER_MS)
}

type Named = tollgate_core::Named<crate::Limit, String>;
