//! [`RedisPolicy`]: a tier's limits kept in Redis, decided by one script call.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use ::redis::{Cmd, ConnectionLike, RedisResult, Script, Value};
use tollgate_core::{
    Algorithm, Allowance, InsufficientCapacity, Named, Overrides, PolicyDecision, Verdict,
};

use super::script::{self, BadReply, Unsupported};

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
#[derive(Debug)]
pub struct RedisDecision<'p> {
    /// The policy's decision, as in memory.
    pub decided: Decided<'p>,
    /// The instant it was made at: the server's clock, or the one passed.
    pub now: Instant,
    /// The places an admitted request with a cost took in the tier's concurrency limits, to
    /// give back with [`RedisPolicy::release`] when it is done (`None` when it took none).
    pub hold: Option<Hold>,
}

/// The places one admitted request holds in the concurrency limits of its tier in Redis: the
/// request's own entries, each with a lease ([`RedisPolicy::with_lease`]). Give them back with
/// [`RedisPolicy::release`]; a hold never released is given back when its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    tier: TierId,
    key: String,
    id: String,
    cost: u32,
}

impl Hold {
    /// The tier it was decided in.
    pub fn tier(&self) -> TierId {
        self.tier
    }

    /// The key it was decided for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its id in Redis (unique to the request: its member is `ID:cost`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The places it holds in each concurrency limit.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

/// One decision's `EVALSHA`, built by [`RedisPolicy::command`] for a pipeline or a connection
/// of your own; its reply is read by [`RedisPolicy::read`].
#[derive(Debug)]
pub struct RedisCommand {
    /// The command to send (take it out for a pipeline: `std::mem::take(&mut command.cmd)`).
    pub cmd: Cmd,
    tier: TierId,
    hold: Option<Hold>,
}

#[derive(Debug)]
struct Tier {
    name: String,
    limits: Box<[Named<Limit, String>]>,
    specs: Box<[String]>,
    /// The limit with the smallest capacity (the first of equals) and that capacity.
    smallest: Option<(usize, u32)>,
    /// Whether a limit counts requests in flight (an admitted request then holds places).
    holds: bool,
}

/// Policies per tier whose states live in Redis: see the [module docs](crate::redis).
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
    /// Holder ids: this policy's random prefix, then a count.
    holder_prefix: String,
    holders: AtomicU64,
}

/// How long a key written at a passed instant lives at least, by default: a day of the
/// server's clock.
pub const REPLAY_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// How long a place taken in a concurrency limit is kept without a release, by default: five
/// minutes.
pub const LEASE: Duration = Duration::from_secs(300);

/// The ways of calling the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Check,
    Peek,
    Release,
}

/// One call of the script: who, when, how much, which way, with which test overrides.
#[derive(Debug, Clone, Copy)]
struct Ask<'a> {
    tier: TierId,
    key: &'a str,
    at: At,
    cost: u32,
    op: Op,
    overrides: &'a Overrides<'a>,
}

impl<'a> Ask<'a> {
    fn new(op: Op, tier: TierId, key: &'a str, at: At, cost: u32) -> Self {
        Self {
            tier,
            key,
            at,
            cost,
            op,
            overrides: &Overrides::NONE,
        }
    }

    fn with(self, overrides: &'a Overrides<'a>) -> Self {
        Self { overrides, ..self }
    }
}

/// A random prefix for this policy's holder ids, so that hosts sharing a server never make the
/// same one.
fn holder_prefix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    h.write_u128(since.map_or(0, |d| d.as_nanos()));
    format!("{:016x}", h.finish())
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
        Self::build(tiers, namespace, LEASE)
    }

    /// The lease of places in concurrency limits (default [`LEASE`]): a place an admitted
    /// request takes is given back `lease` after it was taken if no release came first, so
    /// places held by a host that died, or whose release was lost, come back. It must outlast
    /// the longest request (a streamed response, a long poll), or a place still in use is
    /// counted free again. Decisions at a passed instant ([`At::Instant`]) are replays: their
    /// leases last at least the replay expiry ([`with_replay_expiry`](Self::with_replay_expiry)).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        for t in &mut self.tiers {
            for (l, spec) in t.limits.iter().zip(t.specs.iter_mut()) {
                // Every limit was kept at construction: the spec is remade, never refused.
                if let Ok(s) = script::spec(l.algorithm(), lease) {
                    *spec = s;
                }
            }
        }
        self
    }

    fn build(
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
                let holds = limits
                    .iter()
                    .any(|l| matches!(l.algorithm().allowance(), Allowance::InFlight { .. }));
                Ok(Tier {
                    smallest,
                    holds,
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
            holder_prefix: holder_prefix(),
            holders: AtomicU64::new(0),
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
    /// script: `SCRIPT LOAD` [`script_source`](Self::script_source) first, and again after a
    /// `NOSCRIPT` reply (a restarted server has forgotten it; a script that only `EVAL` loaded
    /// may be evicted by a Redis that evicts scripts).
    ///
    /// # Errors
    ///
    /// [`RedisError::UnknownTier`], and [`RedisError::Capacity`] when `cost` can never fit.
    pub fn command(
        &self,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<RedisCommand, RedisError> {
        let t = self.tier_of(tier)?;
        let inv = self.call(t, Ask::new(Op::Check, tier, key, at, cost))?;
        let mut cmd = Cmd::new();
        cmd.arg("EVALSHA").arg(self.script.get_hash());
        inv.append(&mut cmd);
        Ok(RedisCommand {
            cmd,
            tier,
            hold: inv.hold,
        })
    }

    /// Reads the reply of a [`command`](Self::command).
    ///
    /// # Errors
    ///
    /// [`RedisError::Reply`] for a reply the script does not give.
    pub fn read(
        &self,
        command: RedisCommand,
        reply: &::redis::Value,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let t = self.tier_of(command.tier)?;
        Self::decided(t, reply, false, command.hold)
    }

    fn call(&self, t: &Tier, ask: Ask<'_>) -> Result<Invocation, RedisError> {
        let Ask {
            tier,
            key,
            at,
            cost,
            op,
            overrides,
        } = ask;
        // Each limit's value lowered by a test override, if any (as the core's engine asks it),
        // and the smallest capacity with them; without overrides, nothing to work out and
        // nothing allocated.
        let (lowered, smallest): (Vec<Option<u32>>, _) = if overrides.lower.is_empty() {
            (Vec::new(), t.smallest)
        } else {
            let lowered: Vec<_> = t
                .limits
                .iter()
                .map(|l| {
                    let a = l.algorithm();
                    overrides.lowered_to(l.name(), a.capacity(), !a.allowance().is_unlimited())
                })
                .collect();
            let smallest = t
                .limits
                .iter()
                .zip(&lowered)
                .map(|(l, low)| low.unwrap_or_else(|| l.algorithm().capacity()))
                .enumerate()
                .min_by_key(|&(i, c)| (c, i));
            (lowered, smallest)
        };
        let lowered_at = |i: usize| lowered.get(i).copied().flatten();
        if let Some((index, capacity)) = smallest
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
        // A check that may take places gets an id of its own to take them under.
        let hold = (op == Op::Check && cost > 0 && t.holds).then(|| Hold {
            tier,
            key: key.to_owned(),
            id: format!(
                "{}-{:x}",
                self.holder_prefix,
                self.holders.fetch_add(1, Ordering::Relaxed)
            ),
            cost,
        });
        let mut args = vec![
            match op {
                Op::Check => "check".to_owned(),
                Op::Peek => "peek".to_owned(),
                Op::Release => "release".to_owned(),
            },
            now,
            cost.to_string(),
            floor.to_string(),
            if overrides.deny { "1" } else { "0" }.to_owned(),
            hold.as_ref().map(|h| h.id.clone()).unwrap_or_default(),
        ];
        args.extend(t.specs.iter().cloned());
        args.extend(
            t.limits
                .iter()
                .enumerate()
                .map(|(i, l)| match lowered_at(i) {
                    Some(low) => format!("{low}:{}", l.algorithm().capacity() - low),
                    None => String::new(),
                }),
        );
        Ok(Invocation { keys, args, hold })
    }

    /// The decision of a reply; `forced` when a test override forced a denial of a request with
    /// a cost; `hold` the places an admitted request took.
    fn decided<'p>(
        t: &'p Tier,
        value: &::redis::Value,
        forced: bool,
        hold: Option<Hold>,
    ) -> Result<RedisDecision<'p>, RedisError> {
        let reply = script::read(value, t.limits.len()).map_err(RedisError::Reply)?;
        let outcome = script::verdict(&reply.limits, forced);
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
            hold: hold.filter(|_| reply.allowed),
        })
    }

    /// Decides a request of `cost` for `key` in `tier` at `at`, on a blocking connection, and
    /// records it in every limit if all admit. An admitted request with a cost holds its places
    /// in the tier's concurrency limits until [`release`](Self::release)d (the decision's
    /// [`hold`](RedisDecision::hold)), or until their lease ends.
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
        self.run(conn, Ask::new(Op::Check, tier, key, at, cost))
    }

    /// [`check`](Self::check) with test-header overrides (a forced denial, limits lowered for
    /// this request), decided as the core's policy decides them.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); the capacity is the lowered one.
    pub fn check_with(
        &self,
        conn: &mut impl ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<RedisDecision<'_>, RedisError> {
        self.run(
            conn,
            Ask::new(Op::Check, tier, key, at, cost).with(overrides),
        )
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
        self.run(conn, Ask::new(Op::Peek, tier, key, at, cost))
    }

    /// Gives back the places `hold` took in its tier's concurrency limits (its request has
    /// finished): whether it still held them. `false` when they were given back already (by an
    /// earlier release, or because their lease ended); nothing else is touched either way.
    ///
    /// # Errors
    ///
    /// [`RedisError::UnknownTier`] for a hold of another policy, [`RedisError::Redis`] (a key
    /// holding data that is no concurrency state among them), [`RedisError::Reply`].
    pub fn release(&self, conn: &mut impl ConnectionLike, hold: &Hold) -> Result<bool, RedisError> {
        let inv = self.release_call(hold)?;
        let value: ::redis::Value = inv.invoke(&self.script, conn)?;
        script::released(&value).map_err(RedisError::Reply)
    }

    /// [`release`](Self::release) on an async connection.
    ///
    /// # Errors
    ///
    /// As [`release`](Self::release).
    pub async fn release_async(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        hold: &Hold,
    ) -> Result<bool, RedisError> {
        let inv = self.release_call(hold)?;
        let value: ::redis::Value = inv.invoke_async(&self.script, conn).await?;
        script::released(&value).map_err(RedisError::Reply)
    }

    fn release_call(&self, hold: &Hold) -> Result<Invocation, RedisError> {
        let t = self.tier_of(hold.tier)?;
        let ask = Ask::new(Op::Release, hold.tier, &hold.key, At::Server, hold.cost);
        let mut inv = self.call(t, ask)?;
        inv.args[HOLDER_ARG].clone_from(&hold.id);
        Ok(inv)
    }

    fn run(
        &self,
        conn: &mut impl ConnectionLike,
        ask: Ask<'_>,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let Prepared { tier, inv, forced } = self.prepare(ask)?;
        let value: ::redis::Value = inv.invoke(&self.script, conn)?;
        Self::decided(tier, &value, forced, inv.hold)
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
        self.run_async(conn, Ask::new(Op::Check, tier, key, at, cost))
            .await
    }

    /// [`check_with`](Self::check_with) on an async connection.
    ///
    /// # Errors
    ///
    /// As [`check_with`](Self::check_with).
    pub async fn check_async_with(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<RedisDecision<'_>, RedisError> {
        self.run_async(
            conn,
            Ask::new(Op::Check, tier, key, at, cost).with(overrides),
        )
        .await
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
        self.run_async(conn, Ask::new(Op::Peek, tier, key, at, cost))
            .await
    }

    async fn run_async(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        ask: Ask<'_>,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let prepared = self.prepare(ask)?;
        self.send_async(conn, prepared).await
    }

    /// A check ready to send: what [`check_async_with`](Self::check_async_with) sends, and the
    /// hold it takes if admitted, known before it is sent.
    pub(crate) fn prepare_check<'p>(
        &'p self,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<Prepared<'p>, RedisError> {
        self.prepare(Ask::new(Op::Check, tier, key, at, cost).with(overrides))
    }

    fn prepare(&self, ask: Ask<'_>) -> Result<Prepared<'_>, RedisError> {
        let t = self.tier_of(ask.tier)?;
        Ok(Prepared {
            tier: t,
            inv: self.call(t, ask)?,
            forced: ask.overrides.deny && ask.cost > 0,
        })
    }

    /// Sends a prepared call and reads its decision.
    pub(crate) async fn send_async<'p>(
        &'p self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        prepared: Prepared<'p>,
    ) -> Result<RedisDecision<'p>, RedisError> {
        let Prepared { tier, inv, forced } = prepared;
        let value: ::redis::Value = inv.invoke_async(&self.script, conn).await?;
        Self::decided(tier, &value, forced, inv.hold)
    }
}

/// A call ready to send (see [`RedisPolicy::prepare_check`]).
#[derive(Debug)]
pub(crate) struct Prepared<'p> {
    tier: &'p Tier,
    inv: Invocation,
    forced: bool,
}

impl Prepared<'_> {
    /// The places the call takes if it is admitted.
    pub(crate) fn hold(&self) -> Option<&Hold> {
        self.inv.hold.as_ref()
    }
}

/// Where the holder id is among the script's arguments (its `ARGV[6]`).
const HOLDER_ARG: usize = 5;

/// Whether Redis answered that it has no script of that hash.
fn is_no_script(e: &::redis::RedisError) -> bool {
    e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript)
}

/// One call's keys and arguments.
#[derive(Debug)]
struct Invocation {
    keys: Vec<String>,
    args: Vec<String>,
    /// The places a check takes if admitted.
    hold: Option<Hold>,
}

impl Invocation {
    /// `verb` (`EVALSHA` or `EVAL`) of `script` (its hash or its source) with these keys and
    /// arguments.
    fn cmd(&self, verb: &str, script: &str) -> Cmd {
        let mut cmd = Cmd::new();
        cmd.arg(verb).arg(script);
        self.append(&mut cmd);
        cmd
    }

    /// Calls the script by its hash, and by its source when the server does not have it
    /// (`NOSCRIPT`: restarted, flushed, a new node): one more round trip, where `SCRIPT LOAD`
    /// and `EVALSHA` again would be two. An `EVAL` goes to the node serving the keys and leaves
    /// the script cached there, whether or not the cluster's other nodes answer.
    fn invoke(&self, script: &Script, conn: &mut impl ConnectionLike) -> RedisResult<Value> {
        match self.cmd("EVALSHA", script.get_hash()).query(conn) {
            Err(e) if is_no_script(&e) => self.cmd("EVAL", script::SOURCE).query(conn),
            done => done,
        }
    }

    /// [`invoke`](Self::invoke) on an async connection.
    async fn invoke_async(
        &self,
        script: &Script,
        conn: &mut impl ::redis::aio::ConnectionLike,
    ) -> RedisResult<Value> {
        match self
            .cmd("EVALSHA", script.get_hash())
            .query_async(conn)
            .await
        {
            Err(e) if is_no_script(&e) => self.cmd("EVAL", script::SOURCE).query_async(conn).await,
            done => done,
        }
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
