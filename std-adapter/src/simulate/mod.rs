//! Replaying a request trace against a policy file: the engine of `tollgate simulate`.
//!
//! Every request is decided at the trace's own time by the policy engine under
//! [`KeyedPolicy`](crate::KeyedPolicy) (the core's all-or-nothing policy over the file's limits,
//! one state per key and tier), so the decisions are exactly those a server using the same file
//! would make for requests arriving at those instants. A request that holds concurrency permits
//! (`hold_ms`) releases them at `t_ms + hold_ms`, before any request at that instant is decided.
//!
//! The simulation keeps each key's state and its statistics side by side in one table of its own
//! (one lookup per request, no locks, keys never dropped while the trace runs), which is what
//! lets it replay millions of requests a second (BENCHMARKS.md, "tollgate simulate").
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
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use compact_str::CompactString;
use foldhash::fast::FixedState;
use hashbrown::HashTable;
use smallvec::SmallVec;
use tollgate_core::{Algorithm, Allowance, Named, Overrides, Policy, PolicyDecision, Report};

pub use plot::{BUCKETS, PlotError, Series, plot_svg};
#[cfg(feature = "cli")]
pub(crate) use summary::group;
pub use summary::{KeyTotals, LimitTotals, Summary};
pub use trace::Request;

use crate::config::{AlgorithmKind, DEFAULT_TIER, PolicyFile};
use crate::keyed::TierId;
use crate::policy::Rules;
use crate::{Duration, Instant, Limit, LimitState};

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
    /// The line is longer than [`MAX_LINE`] bytes.
    TooLong,
    /// The store deciding the requests failed (Redis: unreachable, an error reply).
    Store(String),
}

/// The longest trace line read (1 MiB): a longer one is an error, not a memory exhaustion.
pub const MAX_LINE: usize = 1 << 20;

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
            TraceErrorKind::TooLong => write!(f, "longer than {MAX_LINE} bytes"),
            TraceErrorKind::Store(e) => write!(f, "the store failed: {e}"),
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
#[derive(Debug)]
struct Held {
    at: u64,
    seq: u64,
    tier: TierId,
    key: Option<CompactString>,
    cost: u32,
    /// Its places in Redis, when deciding there.
    #[cfg(feature = "redis")]
    hold: Option<crate::redis::Hold>,
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

/// One tier: its name, the engine deciding its limits, and what each limit allows.
#[derive(Debug)]
struct TierInfo {
    name: String,
    rules: Rules,
    allowances: Vec<Allowance<{ crate::HZ }>>,
    /// The first flat limit index of the tier (for totals and series).
    offset: usize,
}

/// What one key's admissions look like in one limit's window.
#[derive(Debug, Default)]
struct Window {
    /// Admissions still inside the window, oldest first from `head`: (instant ns, cost).
    /// Empty for concurrency limits. A key admitted a few times per window keeps them inline,
    /// in its entry, so counting them costs no second cache miss.
    log: SmallVec<[(u64, u32); 2]>,
    head: usize,
    /// Their cost in total; for a concurrency limit, the cost in flight.
    sum: u64,
}

impl Window {
    fn front(&self) -> Option<&(u64, u32)> {
        self.log.get(self.head)
    }

    fn pop_front(&mut self) {
        self.head += 1;
        if self.head >= self.log.len() {
            self.log.clear();
            self.head = 0;
        }
    }

    fn push_back(&mut self, admission: (u64, u32)) {
        // Reuse the room the oldest left before growing, once it is at least half the log (so
        // each admission is moved at most once on average).
        if self.log.len() == self.log.capacity() && self.head * 2 >= self.log.len() {
            self.log.drain(..self.head);
            self.head = 0;
        }
        self.log.push(admission);
    }
}

/// One key in one tier: the policy's state and the key's statistics, side by side, laid out in
/// the order a decision reads them (key, states, windows) so that it reads few cache lines.
#[derive(Debug)]
#[repr(C)]
struct Entry {
    key: Option<CompactString>,
    tier: TierId,
    admitted: u64,
    denied: u64,
    states: SmallVec<[LimitState; 1]>,
    windows: SmallVec<[Window; 1]>,
}

/// A trace replayed against a policy: see the [module docs](self).
#[derive(Debug)]
pub struct Simulation {
    tiers: Vec<TierInfo>,
    default_tier: Option<TierId>,
    table: HashTable<Entry>,
    hasher: FixedState,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    last_t_ms: Option<u64>,
    first_t_ms: Option<u64>,
    limit_totals: Vec<LimitTotals>,
    series: plot::Series,
    /// Where the states live when not in memory.
    #[cfg(feature = "redis")]
    remote: Option<Remote>,
}

/// The Redis store a simulation decides through, on one connection.
#[cfg(feature = "redis")]
struct Remote {
    policy: crate::redis::RedisPolicy,
    conn: ::redis::Connection,
}

#[cfg(feature = "redis")]
impl core::fmt::Debug for Remote {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Remote")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "redis")]
impl Remote {
    /// The figures of a request decided in Redis at `at`, as [`engine`] gives them in memory.
    fn decide(
        &mut self,
        tier: TierId,
        key: &str,
        at: Instant,
        cost: u32,
    ) -> Result<(Figures, Option<crate::redis::Hold>), crate::redis::RedisError> {
        use crate::redis::{At, RedisError};
        match self
            .policy
            .check(&mut self.conn, tier, key, At::Instant(at), cost)
        {
            Ok(d) => Ok((figures(&d.decided), d.hold)),
            Err(RedisError::Capacity(e)) => {
                let index = e.index.unwrap_or(0);
                let seen = self
                    .policy
                    .peek(&mut self.conn, tier, key, At::Instant(at), 0)?
                    .decided
                    .reports()
                    .get(index)
                    .map(|r| r.decision);
                Ok((never_fits(e.capacity, index, seen), None))
            }
            Err(e) => Err(e),
        }
    }

    /// Gives `hold` back; a hold Redis no longer has (its lease ended) fails the run, whose
    /// decisions would no longer be the in-memory ones.
    fn release(&mut self, hold: Option<&crate::redis::Hold>) -> Result<(), String> {
        let Some(hold) = hold else {
            return Ok(());
        };
        match self.policy.release(&mut self.conn, hold) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "the places of a request of {:?} were gone from Redis before their release (a lease shorter than the run?)",
                hold.key()
            )),
            Err(e) => Err(e.to_string()),
        }
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
        let mut lists: Vec<(String, Vec<Named<Limit, String>>)> = Vec::new();
        if !file.limits.is_empty() || file.tiers.is_empty() {
            lists.push((DEFAULT_TIER.to_string(), file.limits.clone()));
        }
        lists.extend(
            file.tiers
                .iter()
                .map(|t| (t.name.clone(), t.limits.clone())),
        );
        let mut tiers = Vec::with_capacity(lists.len());
        let mut limit_totals = Vec::new();
        for (name, limits) in lists {
            let offset = limit_totals.len();
            limit_totals.extend(limits.iter().map(|l| LimitTotals {
                tier: name.clone(),
                name: l.name().to_string(),
                algorithm: AlgorithmKind::of(l.algorithm()),
                allowance: l.algorithm().allowance(),
                denied: 0,
                most: 0,
                most_key: None,
                most_at_ms: 0,
            }));
            tiers.push(TierInfo {
                name,
                allowances: limits.iter().map(|l| l.algorithm().allowance()).collect(),
                rules: Rules::new(limits),
                offset,
            });
        }
        let find = |name: &str| tiers.iter().position(|t| t.name == name);
        let default_tier = match default_tier {
            Some(name) => {
                Some(find(name).ok_or_else(|| SetupError::UnknownTier(name.to_string()))?)
            }
            None if tiers.len() == 1 => Some(0),
            None => find(DEFAULT_TIER),
        };
        // Labelled `tier/name` in the plot when the file has several tiers.
        let many_tiers = tiers.len() > 1;
        let series = plot::Series::new(
            limit_totals
                .iter()
                .map(|l| {
                    let label = if many_tiers {
                        format!("{}/{}", l.tier, l.name)
                    } else {
                        l.name.clone()
                    };
                    (label, l.allowance)
                })
                .collect(),
        );
        Ok(Self {
            tiers,
            default_tier,
            table: HashTable::new(),
            // A fixed seed: the same trace takes the same path through the table every run.
            hasher: FixedState::with_seed(0x746f_6c6c_6761_7465),
            held: BinaryHeap::new(),
            seq: 0,
            last_t_ms: None,
            first_t_ms: None,
            limit_totals,
            series,
            #[cfg(feature = "redis")]
            remote: None,
        })
    }

    /// Decides through the Redis server at `url` instead of in memory, its keys under
    /// `namespace` (use a fresh one per run: a replay's keys outlive it by `expiry` of the
    /// server's clock). The decisions are the same, byte for byte; a request without a key is
    /// the key `""` there.
    ///
    /// # Errors
    ///
    /// When a limit cannot be kept in Redis, or the server cannot be reached.
    #[cfg(feature = "redis")]
    pub fn through_redis(
        &mut self,
        url: &str,
        namespace: &str,
        expiry: Duration,
    ) -> Result<(), String> {
        let tiers = self
            .tiers
            .iter()
            .map(|t| (t.name.clone(), t.rules.limits().to_vec()))
            .collect();
        let policy = crate::redis::RedisPolicy::with_tiers(tiers, namespace)
            .map_err(|e| e.to_string())?
            .with_replay_expiry(expiry);
        let conn = ::redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .map_err(|e| format!("{url}: {e}"))?;
        self.remote = Some(Remote { policy, conn });
        Ok(())
    }

    /// Decides the request of trace line `line`.
    ///
    /// # Errors
    ///
    /// A [`TraceError`] naming `line` when time goes backwards or the tier is unknown; the
    /// simulation is unchanged then. When deciding through Redis, also when Redis fails
    /// ([`TraceErrorKind::Store`]), which ends the run: the store may have taken part of it.
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
                .tiers
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| error(TraceErrorKind::UnknownTier(name.to_string())))?,
            None => self.default_tier.ok_or(error(TraceErrorKind::NoTier))?,
        };
        self.last_t_ms = Some(req.t_ms);
        self.first_t_ms.get_or_insert(req.t_ms);
        self.release_until(now)
            .map_err(|e| error(TraceErrorKind::Store(e)))?;

        let key = req.key.as_deref();
        let info = &self.tiers[tier];
        let hash = self.hasher.hash_one((tier, key));
        let entry = match self
            .table
            .find_entry(hash, |e| e.tier == tier && e.key.as_deref() == key)
        {
            Ok(e) => e.into_mut(),
            Err(absent) => {
                let table = absent.into_table();
                let hasher = &self.hasher;
                table
                    .insert_unique(
                        hash,
                        Entry {
                            tier,
                            key: key.map(CompactString::from),
                            states: info.rules.new_state().into_vec().into(),
                            windows: info.allowances.iter().map(|_| Window::default()).collect(),
                            admitted: 0,
                            denied: 0,
                        },
                        |e| hasher.hash_one((e.tier, e.key.as_deref())),
                    )
                    .into_mut()
            }
        };
        let at = Instant::from_ticks(now);
        #[cfg(feature = "redis")]
        let (remote, hold) = match &mut self.remote {
            Some(r) => {
                let (figures, hold) = r
                    .decide(tier, key.unwrap_or(""), at, req.cost)
                    .map_err(|e| error(TraceErrorKind::Store(e.to_string())))?;
                (Some(figures), hold)
            }
            None => (None, None),
        };
        #[cfg(not(feature = "redis"))]
        let remote: Option<Figures> = None;
        let figures = match (remote, info.rules.limits(), &mut entry.states[..]) {
            (Some(figures), _, _) => figures,
            // One limit that counts: its own decision is the policy's (one report, binding
            // whether it admits or denies), without the engine's lists.
            (None, [limit], [state]) if limit.algorithm().allowance() != Allowance::Unlimited => {
                single(limit.algorithm(), state, at, req.cost)
            }
            (None, limits, states) => engine(limits, states, at, req.cost),
        };
        count(
            entry,
            info,
            &mut self.limit_totals,
            &mut self.series,
            now,
            req,
            &figures,
        );
        if figures.allowed && req.cost > 0 && info.rules.holds() {
            match until {
                Some(at) if at > now => {
                    self.seq += 1;
                    self.held.push(Reverse(Held {
                        at,
                        seq: self.seq,
                        tier,
                        key: entry.key.clone(),
                        cost: req.cost,
                        #[cfg(feature = "redis")]
                        hold,
                    }));
                }
                // Released at once.
                _ => {
                    release(entry, info, req.cost);
                    #[cfg(feature = "redis")]
                    if let Some(r) = &mut self.remote {
                        r.release(hold.as_ref())
                            .map_err(|e| error(TraceErrorKind::Store(e)))?;
                    }
                }
            }
        }
        Ok(Outcome {
            allowed: figures.allowed,
            limit: figures.limit,
            remaining: figures.remaining,
            reset_ms: figures.reset_ms,
            retry_after_ms: figures.retry_after_ms,
            exceeded: figures
                .exceeded
                .and_then(|i| info.rules.limits().get(i))
                .map(|l| l.name()),
            delay_ms: figures.delay_ms,
        })
    }

    /// Brings what deciding each of `batch` will read into the cache, changing nothing.
    ///
    /// A hint for callers that parse requests in batches. Each request's key is reached through
    /// a chain of reads (its table entry, then the entry's window logs), and a cache miss at each
    /// link; touching the batch's entries first, then their logs, lets the processor wait for
    /// the misses of many requests at once rather than one after another (BENCHMARKS.md,
    /// "tollgate simulate").
    pub fn prefetch<'r, 'a: 'r>(&self, batch: impl IntoIterator<Item = &'r Request<'a>>) {
        // Where each key is, computed first, so that the probes below are a short loop with many
        // misses in flight.
        let keys: SmallVec<[(TierId, Option<&str>, u64); 64]> = batch
            .into_iter()
            .filter_map(|req| {
                let tier = match req.tier.as_deref() {
                    Some(name) => self.tiers.iter().position(|t| t.name == name)?,
                    None => self.default_tier?,
                };
                let key = req.key.as_deref();
                Some((tier, key, self.hasher.hash_one((tier, key))))
            })
            .collect();
        // The entries, all at once.
        let entries: SmallVec<[&Entry; 64]> = keys
            .iter()
            .filter_map(|&(tier, key, hash)| {
                self.table
                    .find(hash, |e| e.tier == tier && e.key.as_deref() == key)
            })
            .collect();
        // Then what they point at: read, not only pointed at.
        for e in &entries {
            let state = matches!(e.states.first(), Some(LimitState::Gcra(_)));
            let front = e.windows.first().and_then(|w| w.front().copied());
            std::hint::black_box((state, front));
        }
    }

    /// Ends every hold due at or before `now` (ns), in time order (in Redis too, when deciding
    /// there: the store's error when it fails).
    fn release_until(&mut self, now: u64) -> Result<(), String> {
        while let Some(Reverse(h)) = self.held.peek()
            && h.at <= now
        {
            let Some(Reverse(h)) = self.held.pop() else {
                break;
            };
            let key = h.key.as_deref();
            let hash = self.hasher.hash_one((h.tier, key));
            if let Some(entry) = self
                .table
                .find_mut(hash, |e| e.tier == h.tier && e.key.as_deref() == key)
            {
                release(entry, &self.tiers[h.tier], h.cost);
            }
            #[cfg(feature = "redis")]
            if let Some(r) = &mut self.remote {
                r.release(h.hold.as_ref())?;
            }
        }
        Ok(())
    }

    /// The summary of everything decided.
    pub fn finish(self) -> Summary {
        let mut keys: Vec<KeyTotals> = self
            .table
            .iter()
            .map(|e| KeyTotals {
                tier: self.tiers[e.tier].name.clone(),
                key: e.key.as_ref().map(ToString::to_string),
                requests: e.admitted + e.denied,
                admitted: e.admitted,
                denied: e.denied,
            })
            .collect();
        keys.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.key.cmp(&b.key))
                .then_with(|| a.tier.cmp(&b.tier))
        });
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

/// A request decided by the core's policy engine over `limits` (as `KeyedPolicy` runs it),
/// with the reports on the stack.
fn engine(
    limits: &[Named<Limit, String>],
    states: &mut [LimitState],
    at: Instant,
    cost: u32,
) -> Figures {
    let policy = Policy::new(limits);
    let mut out: SmallVec<[Report<'_, { crate::HZ }>; 4]> =
        SmallVec::from_elem(Report::EMPTY, limits.len());
    match policy.check_into(states, at, cost, &Overrides::NONE, &mut out) {
        Ok(d) => figures(&d),
        Err(e) => {
            // The cost can never fit: denied, with no retry, by the limit too small.
            let index = e.index.unwrap_or(0);
            let seen = policy
                .peek_into(states, at, 0, &Overrides::NONE, &mut out)
                .ok()
                .and_then(|d| d.reports().get(index).map(|r| r.decision));
            never_fits(e.capacity, index, seen)
        }
    }
}

/// The figures of a policy's decision: its binding limit's.
fn figures<'n, R: AsRef<[Report<'n, { crate::HZ }>]>>(
    d: &PolicyDecision<{ crate::HZ }, R>,
) -> Figures {
    let binding = d.applicable().map(|r| r.decision);
    Figures {
        allowed: d.is_allowed(),
        limit: binding.map(|b| b.limit),
        remaining: binding.map(|b| b.remaining),
        reset_ms: binding.map_or(0, |b| ms_up(b.reset)),
        retry_after_ms: d.retry_after().map(ms_up),
        exceeded: d.denied_index(),
        delay_ms: ms_up(d.delay()),
    }
}

/// A request decided by a policy's only limit, which counts: the policy's one report.
fn single(limit: &Limit, state: &mut LimitState, at: Instant, cost: u32) -> Figures {
    match limit.check(state, at, cost) {
        Ok(d) => Figures {
            allowed: d.is_allowed(),
            limit: Some(d.limit),
            remaining: Some(d.remaining),
            reset_ms: ms_up(d.reset),
            retry_after_ms: d.retry_after.map(ms_up),
            exceeded: d.is_denied().then_some(0),
            delay_ms: if d.is_allowed() { ms_up(d.delay) } else { 0 },
        },
        Err(e) => never_fits(e.capacity, 0, limit.peek(state, at, 0).ok()),
    }
}

/// A request whose cost can never fit the limit at `index` (of `capacity`), which looks like
/// `seen` to a request of no cost.
fn never_fits(
    capacity: u32,
    index: usize,
    seen: Option<tollgate_core::Decision<{ crate::HZ }>>,
) -> Figures {
    Figures {
        allowed: false,
        limit: Some(capacity),
        remaining: seen.map(|d| d.remaining),
        reset_ms: seen.map_or(0, |d| ms_up(d.reset)),
        retry_after_ms: None,
        exceeded: Some(index),
        delay_ms: 0,
    }
}

/// Ends `cost` in flight for `entry`, in its states and its in-flight counts.
fn release(entry: &mut Entry, info: &TierInfo, cost: u32) {
    // Only admitted requests with a cost are held, so the states hold at least `cost`.
    let _ = info.rules.release(&mut entry.states, cost);
    for (w, a) in entry.windows.iter_mut().zip(&info.allowances) {
        if matches!(a, Allowance::InFlight { .. }) {
            w.sum = w.sum.saturating_sub(u64::from(cost));
        }
    }
}

/// Counts a decision in its key's stats, the limits' totals and the series.
fn count(
    entry: &mut Entry,
    info: &TierInfo,
    totals: &mut [LimitTotals],
    series: &mut plot::Series,
    now: u64,
    req: &Request<'_>,
    o: &Figures,
) {
    let t_ms = req.t_ms;
    let bucket = series.count(t_ms, o.allowed);
    // Admitted: the request joins every window. Denied: it joins none, but what its windows
    // hold is sampled all the same (a denied key's windows are the full ones).
    let cost = if o.allowed {
        entry.admitted += 1;
        req.cost
    } else {
        entry.denied += 1;
        if let Some(i) = o.exceeded {
            totals[info.offset + i].denied += 1;
        }
        0
    };
    for (i, (w, a)) in entry.windows.iter_mut().zip(&info.allowances).enumerate() {
        let occupancy = match *a {
            Allowance::PerWindow { window, .. } => {
                // Admissions in (now − window, now].
                let window = window.as_ticks();
                while let Some(&(t, c)) = w.front()
                    && now >= window
                    && t <= now - window
                {
                    w.pop_front();
                    w.sum -= u64::from(c);
                }
                if cost > 0 {
                    w.push_back((now, cost));
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
        let flat = info.offset + i;
        let total = &mut totals[flat];
        if occupancy > total.most {
            total.most = occupancy;
            total.most_key = Some(entry.key.as_deref().unwrap_or("").to_string());
            total.most_at_ms = t_ms;
        }
        series.occupy(bucket, flat, occupancy);
    }
}

/// A span in whole milliseconds, rounded up.
fn ms_up(d: Duration) -> u64 {
    d.as_ticks().div_ceil(NS_PER_MS)
}
