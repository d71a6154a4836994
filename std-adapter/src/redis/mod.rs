//! One policy shared by a fleet of hosts, kept in Redis (feature `redis`).
//!
//! A per-process limiter lets every host admit the whole limit. A [`RedisPolicy`] keeps each
//! key's states in Redis instead and decides a request with **one round-trip**: a server-side
//! Lua script, loaded once and called by its hash (loaded again after a `NOSCRIPT`), looks at
//! every limit of the key's tier and records the request in all of them or in none, atomically,
//! as the core's policy engine does in memory.
//!
//! # The same decisions as in memory
//!
//! The script ports each algorithm of the core step for step, in the same nanosecond ticks and
//! with exact 64-bit arithmetic (Lua's numbers are doubles; the script counts in limbs that never
//! round), so a trace decided through Redis at its own instants gets exactly the figures a
//! [`KeyedPolicy`](crate::KeyedPolicy) of the same policy gives it: `tests/redis.rs` checks that on
//! random policies and traces against a real server.
//!
//! # Time
//!
//! By default the script reads the server's clock (`TIME`, nanoseconds since the Unix epoch), so
//! hosts whose clocks disagree still decide on one timeline; [`At::Instant`] passes the time
//! instead (tests, and `tollgate simulate` replaying a trace at its own times).
//!
//! # Keys
//!
//! Limit `minute` of key `acct-1` in tier `pro` under the namespace `tollgate` lives at
//! `tollgate:{k=acct-1}:pro:minute`. All keys of one decision share the hash tag `{k=acct-1}`
//! (never empty, whatever the key), so they hash to one slot and the script can run on Redis
//! Cluster (through a cluster connection of your own: [`RedisLimiter`] connects to one server).
//! Tier and limit names hold no `:`, so no two limits share a key.
//!
//! # Requests in flight
//!
//! A concurrency limit keeps one count per key, which a key's last acquire keeps for a lease
//! ([`LEASE`], 5 minutes by default). A permit whose release never comes (its host died, or
//! its call timed out on the client after Redis had counted it) stays counted until the key
//! goes a whole lease without a new request: on a key in steady use, that is never, and each
//! such loss lowers the limit by one until then. Per-holder entries that expire one by one
//! would bound every loss to one lease; they are not built yet.
//!
//! # Requirements
//!
//! Redis 5 or later (the script reads `TIME` and then writes, which Redis 5 replicates by
//! effects); tested with 7.0. A key expires once its state is at rest (its reset, rounded
//! up to a millisecond), so idle keys cost the server nothing; a decision at a passed instant sets
//! a floor on that expiry instead ([`RedisPolicy::with_replay_expiry`]), because the server's clock
//! is not the trace's.

mod limiter;
mod script;

use std::fmt;

use ::redis::{Cmd, ConnectionLike, Script};
use tollgate_core::{
    Algorithm, InsufficientCapacity, Named, PolicyDecision, ReleaseError, Verdict,
};

pub use limiter::{OnFailure, Outcome, RedisLimiter, Stats, TIMEOUT};
pub use script::{BadReply, Unsupported};

use crate::config::{DEFAULT_TIER, PolicyFile};
use crate::keyed::TierId;
use crate::policy::Decided;
use crate::{Duration, Instant, Limit};

/// When a decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// At the Redis server's clock (`TIME`), in nanoseconds since the Unix epoch.
    Server,
    /// At this instant: ticks the caller counts (the Unix epoch in nanoseconds, or a trace's own
    /// time line).
    Instant(Instant),
}

/// A limit the Redis store cannot keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfigError {
    /// The tier.
    pub tier: String,
    /// The limit's name.
    pub limit: String,
    /// Why.
    pub reason: Unsupported,
}

impl fmt::Display for RedisConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Unsupported::Algorithm(a) => write!(
                f,
                "limit {:?} of tier {:?}: the Redis store has no {a} yet",
                self.limit, self.tier
            ),
            Unsupported::Colon => write!(
                f,
                "limit {:?} of tier {:?}: a name kept in Redis holds no ':'",
                self.limit, self.tier
            ),
        }
    }
}

impl std::error::Error for RedisConfigError {}

/// Why a decision through Redis failed.
#[derive(Debug)]
pub enum RedisError {
    /// The cost exceeds a limit's capacity: no wait would admit it (decided without asking
    /// Redis).
    Capacity(InsufficientCapacity),
    /// No tier of that name.
    UnknownTier,
    /// The server could not be reached, timed out, or refused the call.
    Redis(::redis::RedisError),
    /// The script answered something it should not have.
    Reply(BadReply),
    /// More released than a limit holds in flight (nothing was released).
    Release(ReleaseError),
    /// Redis did not answer within the timeout.
    Timeout,
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Capacity(e) => write!(f, "{e}"),
            Self::UnknownTier => f.write_str("no such tier"),
            Self::Redis(e) => write!(f, "redis: {e}"),
            Self::Reply(BadReply(why)) => write!(f, "unexpected reply from the script: {why}"),
            Self::Release(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("redis: no answer within the timeout"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Redis(e) => Some(e),
            _ => None,
        }
    }
}

impl From<::redis::RedisError> for RedisError {
    fn from(e: ::redis::RedisError) -> Self {
        Self::Redis(e)
    }
}

/// A decision made in Redis and the server instant it was made at (for epoch headers).
#[derive(Debug, Clone)]
pub struct RedisDecision<'p> {
    /// The policy's decision, as in memory.
    pub decided: Decided<'p>,
    /// The instant it was made at: the server's clock, or the one passed.
    pub now: Instant,
}

#[derive(Debug)]
struct Tier {
    name: String,
    limits: Box<[Named<Limit, String>]>,
    specs: Box<[String]>,
    /// The limit with the smallest capacity (the first of equals) and that capacity.
    smallest: Option<(usize, u32)>,
}

/// Policies per tier whose states live in Redis: see the [module docs](self).
///
/// It holds no connection: pass any `redis` connection to a call (a plain one, a multiplexed
/// one, a connection manager that reconnects), so one policy serves every connection of a
/// process.
#[derive(Debug)]
pub struct RedisPolicy {
    tiers: Box<[Tier]>,
    namespace: String,
    script: Script,
    replay_expiry_ms: u64,
}

/// How long a key written at a passed instant lives at least, by default: a day of the
/// server's clock.
pub const REPLAY_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// How long a count of requests in flight outlives its last change, by default: five minutes.
pub const LEASE: Duration = Duration::from_secs(300);

/// The two ways of calling the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Check,
    Peek,
    Release,
}

impl RedisPolicy {
    /// The policies of a policy file (its top-level limits as the tier
    /// [`DEFAULT_TIER`], then its tiers), under `namespace`.
    ///
    /// # Errors
    ///
    /// A [`RedisConfigError`] naming the first limit the store cannot keep.
    pub fn from_file(file: &PolicyFile, namespace: &str) -> Result<Self, RedisConfigError> {
        let default =
            (!file.limits.is_empty()).then(|| (DEFAULT_TIER.to_owned(), file.limits.clone()));
        let tiers = file
            .tiers
            .iter()
            .map(|t| (t.name.clone(), t.limits.clone()));
        Self::with_tiers(default.into_iter().chain(tiers).collect(), namespace)
    }

    /// A policy per tier, under `namespace` (no `{` or `}` in it: the key's hash tag is the
    /// first pair of braces).
    ///
    /// # Errors
    ///
    /// A [`RedisConfigError`] naming the first limit the store cannot keep.
    ///
    /// # Panics
    ///
    /// When `namespace` holds a brace.
    pub fn with_tiers(
        tiers: Vec<(String, Vec<Named<Limit, String>>)>,
        namespace: &str,
    ) -> Result<Self, RedisConfigError> {
        Self::with_lease(tiers, namespace, LEASE)
    }

    /// [`with_tiers`](Self::with_tiers) with the lease of concurrency counts: a count of
    /// requests in flight outlives its last acquire by `lease` and then is forgotten,
    /// so permits held by a host that died come back. It must outlast the longest request.
    ///
    /// # Errors
    ///
    /// A [`RedisConfigError`] naming the first limit the store cannot keep.
    ///
    /// # Panics
    ///
    /// When `namespace` holds a brace.
    pub fn with_lease(
        tiers: Vec<(String, Vec<Named<Limit, String>>)>,
        namespace: &str,
        lease: Duration,
    ) -> Result<Self, RedisConfigError> {
        assert!(
            !namespace.contains(['{', '}']),
            "a Redis namespace holds no braces: {namespace:?}"
        );
        let tiers = tiers
            .into_iter()
            .map(|(name, limits)| {
                if let Some(l) = limits
                    .iter()
                    .find(|l| name.contains(':') || l.name().contains(':'))
                {
                    return Err(RedisConfigError {
                        tier: name.clone(),
                        limit: l.name().to_owned(),
                        reason: Unsupported::Colon,
                    });
                }
                let specs = limits
                    .iter()
                    .map(|l| {
                        script::spec(l.algorithm(), lease).map_err(|reason| RedisConfigError {
                            tier: name.clone(),
                            limit: l.name().to_owned(),
                            reason,
                        })
                    })
                    .collect::<Result<Box<[String]>, _>>()?;
                let smallest = limits
                    .iter()
                    .map(|l| l.algorithm().capacity())
                    .enumerate()
                    .min_by_key(|&(i, c)| (c, i));
                Ok(Tier {
                    smallest,
                    name,
                    limits: limits.into_boxed_slice(),
                    specs,
                })
            })
            .collect::<Result<Box<[Tier]>, _>>()?;
        Ok(Self {
            tiers,
            namespace: namespace.to_owned(),
            script: Script::new(script::SOURCE),
            replay_expiry_ms: REPLAY_EXPIRY.as_millis(),
        })
    }

    /// Keys written by decisions at a passed instant ([`At::Instant`]) live at least `expiry` by
    /// the server's clock (default [`REPLAY_EXPIRY`]).
    #[must_use]
    pub fn with_replay_expiry(mut self, expiry: Duration) -> Self {
        self.replay_expiry_ms = expiry.as_millis().max(1);
        self
    }

    /// The tier called `name`.
    pub fn tier(&self, name: &str) -> Option<TierId> {
        self.tiers.iter().position(|t| t.name == name)
    }

    /// The tiers' names, in order.
    pub fn tier_names(&self) -> Vec<&str> {
        self.tiers.iter().map(|t| t.name.as_str()).collect()
    }

    /// The limits of `tier`.
    pub fn limits(&self, tier: TierId) -> Option<&[Named<Limit, String>]> {
        self.tiers.get(tier).map(|t| &*t.limits)
    }

    /// The Redis key of limit `limit` of `key` in `tier`.
    pub fn redis_key(&self, tier: TierId, key: &str, limit: usize) -> Option<String> {
        let t = self.tiers.get(tier)?;
        let l = t.limits.get(limit)?;
        // The tag starts with `k=`, so it is never empty (an empty tag is no tag, and a decision's
        // keys would land in different cluster slots): with a `}` in the key it ends there, the
        // same for every limit of the decision.
        Some(format!(
            "{}:{{k={key}}}:{}:{}",
            self.namespace,
            t.name,
            l.name()
        ))
    }

    /// The script's hash (what `EVALSHA` calls).
    pub fn script_hash(&self) -> &str {
        self.script.get_hash()
    }

    /// The script's source.
    pub fn script_source() -> &'static str {
        script::SOURCE
    }

    fn tier_of(&self, tier: TierId) -> Result<&Tier, RedisError> {
        self.tiers.get(tier).ok_or(RedisError::UnknownTier)
    }

    /// The `EVALSHA` of one decision, for a pipeline or a connection of your own; read its
    /// reply with [`read`](Self::read). Unlike [`check`](Self::check), it does not load the
    /// script: `SCRIPT LOAD` [`script_source`](Self::script_source) first (or make one `check`),
    /// and again after a `NOSCRIPT` reply (a restarted server has forgotten it).
    ///
    /// # Errors
    ///
    /// [`RedisError::UnknownTier`], and [`RedisError::Capacity`] when `cost` can never fit.
    pub fn command(&self, tier: TierId, key: &str, at: At, cost: u32) -> Result<Cmd, RedisError> {
        let t = self.tier_of(tier)?;
        self.call(t, tier, key, at, cost, Op::Check).map(|inv| {
            let mut cmd = Cmd::new();
            cmd.arg("EVALSHA").arg(self.script.get_hash());
            inv.append(&mut cmd);
            cmd
        })
    }

    /// Reads the reply of a [`command`](Self::command) for `tier`.
    ///
    /// # Errors
    ///
    /// [`RedisError::UnknownTier`], [`RedisError::Reply`] for a reply the script does not give.
    pub fn read(
        &self,
        tier: TierId,
        reply: &::redis::Value,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let t = self.tier_of(tier)?;
        Self::decided(t, reply)
    }

    fn call(
        &self,
        t: &Tier,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        op: Op,
    ) -> Result<Invocation, RedisError> {
        if let Some((index, capacity)) = t.smallest
            && cost > capacity
            && op != Op::Release
        {
            // As the core's policy: the error names the smallest capacity (the first of equals).
            return Err(RedisError::Capacity(
                InsufficientCapacity::new(cost, capacity).at(index),
            ));
        }
        let keys = (0..t.limits.len())
            .map(|i| self.redis_key(tier, key, i).unwrap_or_default())
            .collect();
        let (now, floor) = match at {
            At::Server => (String::new(), 0),
            At::Instant(i) => (i.as_ticks().to_string(), self.replay_expiry_ms),
        };
        let mut args = vec![
            match op {
                Op::Check => "check".to_owned(),
                Op::Peek => "peek".to_owned(),
                Op::Release => "release".to_owned(),
            },
            now,
            cost.to_string(),
            floor.to_string(),
        ];
        args.extend(t.specs.iter().cloned());
        Ok(Invocation { keys, args })
    }

    fn decided<'p>(t: &'p Tier, value: &::redis::Value) -> Result<RedisDecision<'p>, RedisError> {
        let reply = script::read(value, t.limits.len()).map_err(RedisError::Reply)?;
        let outcome = script::verdict(&reply.limits);
        if matches!(outcome, Verdict::Allowed) != reply.allowed {
            return Err(RedisError::Reply(BadReply(format!(
                "the script said allowed = {} but its limits say {outcome:?}",
                reply.allowed
            ))));
        }
        Ok(RedisDecision {
            decided: PolicyDecision {
                outcome,
                reports: script::reports(&t.limits, &reply),
            },
            now: reply.now,
        })
    }

    /// Decides a request of `cost` for `key` in `tier` at `at`, on a blocking connection, and
    /// records it in every limit if all admit.
    ///
    /// # Errors
    ///
    /// [`RedisError::Capacity`] when `cost` can never fit (Redis is not asked),
    /// [`RedisError::UnknownTier`], [`RedisError::Redis`] when the call fails,
    /// [`RedisError::Reply`] for a reply the script does not give.
    pub fn check(
        &self,
        conn: &mut impl ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<RedisDecision<'_>, RedisError> {
        self.run(conn, tier, key, at, cost, Op::Check)
    }

    /// What [`check`](Self::check) would say, recording nothing.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn peek(
        &self,
        conn: &mut impl ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<RedisDecision<'_>, RedisError> {
        self.run(conn, tier, key, at, cost, Op::Peek)
    }

    /// Gives back `cost` requests in flight of `key` in `tier` (a request admitted by
    /// [`check`](Self::check) that has finished), in every limit that counts in flight, or in
    /// none.
    ///
    /// # Errors
    ///
    /// [`RedisError::Release`] when some limit holds less than `cost` in flight (its lease may
    /// have run out), [`RedisError::UnknownTier`], [`RedisError::Redis`],
    /// [`RedisError::Reply`].
    pub fn release(
        &self,
        conn: &mut impl ConnectionLike,
        tier: TierId,
        key: &str,
        cost: u32,
    ) -> Result<(), RedisError> {
        let t = self.tier_of(tier)?;
        let inv = self.call(t, tier, key, At::Server, cost, Op::Release)?;
        let value: ::redis::Value = inv.prepare(&self.script).invoke(conn)?;
        script::released(&value)
            .map_err(RedisError::Reply)?
            .map_err(RedisError::Release)
    }

    /// [`release`](Self::release) on an async connection.
    ///
    /// # Errors
    ///
    /// As [`release`](Self::release).
    pub async fn release_async(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        tier: TierId,
        key: &str,
        cost: u32,
    ) -> Result<(), RedisError> {
        let t = self.tier_of(tier)?;
        let inv = self.call(t, tier, key, At::Server, cost, Op::Release)?;
        let value: ::redis::Value = inv.prepare(&self.script).invoke_async(conn).await?;
        script::released(&value)
            .map_err(RedisError::Reply)?
            .map_err(RedisError::Release)
    }

    fn run(
        &self,
        conn: &mut impl ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        op: Op,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let t = self.tier_of(tier)?;
        let inv = self.call(t, tier, key, at, cost, op)?;
        let value: ::redis::Value = inv.prepare(&self.script).invoke(conn)?;
        Self::decided(t, &value)
    }

    /// [`check`](Self::check) on an async connection (multiplexed, or a connection manager).
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub async fn check_async(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<RedisDecision<'_>, RedisError> {
        self.run_async(conn, tier, key, at, cost, Op::Check).await
    }

    /// [`peek`](Self::peek) on an async connection.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub async fn peek_async(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<RedisDecision<'_>, RedisError> {
        self.run_async(conn, tier, key, at, cost, Op::Peek).await
    }

    async fn run_async(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        op: Op,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let t = self.tier_of(tier)?;
        let inv = self.call(t, tier, key, at, cost, op)?;
        let value: ::redis::Value = inv.prepare(&self.script).invoke_async(conn).await?;
        Self::decided(t, &value)
    }
}

/// One call's keys and arguments.
#[derive(Debug)]
struct Invocation {
    keys: Vec<String>,
    args: Vec<String>,
}

impl Invocation {
    fn prepare<'s>(&self, script: &'s Script) -> ::redis::ScriptInvocation<'s> {
        let mut inv = script.prepare_invoke();
        for k in &self.keys {
            inv.key(k);
        }
        for a in &self.args {
            inv.arg(a);
        }
        inv
    }

    fn append(&self, cmd: &mut Cmd) {
        cmd.arg(self.keys.len());
        for k in &self.keys {
            cmd.arg(k);
        }
        for a in &self.args {
            cmd.arg(a);
        }
    }
}
