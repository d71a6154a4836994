//! A [`RedisPolicy`] with its connection, a timeout on every call, and what to do when Redis
//! cannot answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::{ClusterClient, ClusterClientBuilder};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, Value};
use compact_str::CompactString;
use tokio::sync::OnceCell;
use tollgate_core::{Clock, Overrides};

use super::policy::{At, Hold, RedisDecision, RedisError, RedisPolicy};
use crate::Instant;
use crate::keyed::{KeyPermit, KeyedError, KeyedPolicy, TierId};
use crate::policy::Decided;

/// What a [`RedisLimiter`] does with a request when Redis fails (unreachable, timed out, an
/// error reply).
#[derive(Debug, Clone)]
pub enum OnFailure {
    /// Admit it: the service stays up, unlimited until Redis is back.
    Open,
    /// Refuse it: nothing passes that Redis did not count.
    Closed,
    /// Decide it with this in-memory policy (each host then enforces the policy on its own: the
    /// fleet may admit up to one policy per host until Redis is back).
    Local(KeyedPolicy<CompactString>),
}

/// How a [`RedisLimiter`] decided one request.
#[derive(Debug)]
pub enum Outcome<'p> {
    /// Redis decided.
    Redis(RedisDecision<'p>),
    /// Redis failed and [`OnFailure::Open`] admitted the request.
    Open(RedisError),
    /// Redis failed and [`OnFailure::Closed`] refused the request.
    Closed(RedisError),
    /// Redis failed and the [`OnFailure::Local`] policy decided.
    Local {
        /// The local policy's decision.
        decided: Decided<'p>,
        /// Its place in the local concurrency limits, released when dropped.
        permit: KeyPermit<CompactString>,
        /// The instant it was made at, on the local policy's clock.
        now: Instant,
        /// Why Redis did not decide.
        error: RedisError,
    },
}

impl<'p> Outcome<'p> {
    /// Whether the request may go.
    pub fn is_allowed(&self) -> bool {
        match self {
            Self::Redis(d) => d.decided.is_allowed(),
            Self::Open(_) => true,
            Self::Closed(_) => false,
            Self::Local { decided, .. } => decided.is_allowed(),
        }
    }

    /// The policy's decision, when one was made (by Redis or the local policy).
    pub fn decided(&self) -> Option<&Decided<'p>> {
        match self {
            Self::Redis(d) => Some(&d.decided),
            Self::Local { decided, .. } => Some(decided),
            Self::Open(_) | Self::Closed(_) => None,
        }
    }
}

/// Counts of what a [`RedisLimiter`] did, for metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls Redis answered.
    pub decided: AtomicU64,
    /// Calls that failed (each then decided by the failure policy).
    pub failures: AtomicU64,
    /// Of those, timeouts.
    pub timeouts: AtomicU64,
}

/// Where a limiter's calls go.
enum Store {
    /// One server, through a connection manager.
    One(ConnectionManager),
    /// A Redis Cluster: a connection to every node, routed by each call's hash slot, made at
    /// the first call (and again at the next one if that failed).
    Cluster {
        client: Box<ClusterClient>,
        conn: OnceCell<ClusterConnection>,
    },
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::One(_) => "One",
            Self::Cluster { .. } => "Cluster",
        })
    }
}

impl Store {
    /// A connection for one call.
    async fn conn(&self) -> Result<Conn, RedisError> {
        Ok(match self {
            Self::One(conn) => Conn::One(conn.clone()),
            Self::Cluster { client, conn } => Conn::Cluster(
                conn.get_or_try_init(|| client.get_async_connection())
                    .await?
                    .clone(),
            ),
        })
    }
}

/// One call's connection: to one server, or to a cluster.
#[derive(Clone)]
enum Conn {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ::redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::One(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::One(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::One(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    policy: RedisPolicy,
    store: Store,
    timeout: std::time::Duration,
    on_failure: OnFailure,
    stats: Stats,
    /// Whether the last call failed: a failure and a recovery are logged once each.
    down: AtomicBool,
}

/// Whether `e` is Redis answering that a key's data is not a state of ours (the script's own
/// errors, `tollgate: ...`) or a reply the script does not give, rather than Redis failing.
fn is_data_error(e: &RedisError) -> bool {
    match e {
        RedisError::Reply(_) => true,
        RedisError::Redis(e) => e.to_string().contains("tollgate: "),
        _ => false,
    }
}

/// The places a check may have taken in Redis without its caller learning of it; given back when
/// dropped, by a task on the current runtime (the release goes after the check on the same
/// connection, and finds nothing if Redis never ran the check).
struct Orphan<'l> {
    limiter: &'l RedisLimiter,
    hold: Option<Hold>,
}

impl Drop for Orphan<'_> {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let limiter = self.limiter.clone();
            runtime.spawn(async move {
                let _ = limiter.release(&hold).await;
            });
        }
    }
}

/// A [`RedisPolicy`] over a connection that reconnects by itself, with a timeout on every call
/// and a failure policy ([`OnFailure`]), shared by tasks (cheap to clone).
///
/// On one server ([`new`](Self::new)) the connection is redis-rs's `ConnectionManager`: one
/// multiplexed connection (calls from many tasks are pipelined on it) that is re-established
/// after an error, so a Redis that comes back is used again without a restart. On a Redis
/// Cluster ([`cluster`](Self::cluster)) it is redis-rs's cluster connection: one multiplexed
/// connection per node, each call sent to the node serving its key's hash slot (every key of a
/// decision shares one), following the cluster's slot moves and reconnecting by itself. Every
/// call is bounded by the timeout; a call that fails is
/// counted ([`stats`](Self::stats)), logged once per outage (the `log` facade, target
/// `tollgate_std::redis`), and decided by the failure policy.
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

/// The timeout of a call by default.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

impl RedisLimiter {
    /// A limiter for `policy` on the server at `url` (`redis://127.0.0.1:6379/`). It connects
    /// lazily: a server that is down now is tried again at every call.
    ///
    /// # Errors
    ///
    /// When `url` is not a Redis URL.
    pub fn new(
        policy: RedisPolicy,
        url: &str,
        timeout: std::time::Duration,
        on_failure: OnFailure,
    ) -> Result<Self, ::redis::RedisError> {
        let client = ::redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnection is retried at the next call, not in a loop that holds this one.
            .set_number_of_retries(1)
            .set_min_delay(std::time::Duration::from_millis(10))
            .set_max_delay(timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self::with_store(
            policy,
            Store::One(conn),
            timeout,
            on_failure,
        ))
    }

    /// A limiter for `policy` on the Redis Cluster that `urls` name nodes of (one is enough: the
    /// others are found from it). It connects at the first call; a cluster that is down then is
    /// tried again at the next.
    ///
    /// # Errors
    ///
    /// When no URL is given, or one is not a Redis URL.
    pub fn cluster(
        policy: RedisPolicy,
        urls: &[&str],
        timeout: std::time::Duration,
        on_failure: OnFailure,
    ) -> Result<Self, ::redis::RedisError> {
        let client = ClusterClientBuilder::new(urls.iter().copied())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()?;
        let store = Store::Cluster {
            client: Box::new(client),
            conn: OnceCell::new(),
        };
        Ok(Self::with_store(policy, store, timeout, on_failure))
    }

    fn with_store(
        policy: RedisPolicy,
        store: Store,
        timeout: std::time::Duration,
        on_failure: OnFailure,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                policy,
                store,
                timeout,
                on_failure,
                stats: Stats::default(),
                down: AtomicBool::new(false),
            }),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RedisPolicy {
        &self.inner.policy
    }

    /// The in-memory policy of [`OnFailure::Local`], if that is the failure policy.
    pub fn local(&self) -> Option<&KeyedPolicy<CompactString>> {
        match &self.inner.on_failure {
            OnFailure::Local(local) => Some(local),
            OnFailure::Open | OnFailure::Closed => None,
        }
    }

    /// What this limiter did so far.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Decides a request of `cost` for `key` in `tier` at the server's clock (or `at`).
    ///
    /// A request Redis admits with a cost holds its places in the tier's concurrency limits
    /// (the decision's [`hold`](RedisDecision::hold)) until [`release`](Self::release)d, or
    /// until their lease ends ([`RedisPolicy::with_lease`]).
    ///
    /// # Errors
    ///
    /// The caller's own mistakes: [`RedisError::Capacity`] when `cost` can never fit and
    /// [`RedisError::UnknownTier`]; and the key's data, when Redis says it holds something that
    /// is not a state of this policy's (another program's value under the namespace): a
    /// [`RedisError::Redis`] naming it, or [`RedisError::Reply`]. Redis being unreachable, slow
    /// or failing otherwise is an [`Outcome`], decided by the failure policy.
    pub async fn check(
        &self,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<Outcome<'_>, RedisError> {
        self.check_with(tier, key, at, cost, &Overrides::NONE).await
    }

    /// [`check`](Self::check) with test-header overrides (a forced denial, limits lowered for
    /// this request), in Redis and in the local policy alike.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub async fn check_with(
        &self,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
        overrides: &Overrides<'_>,
    ) -> Result<Outcome<'_>, RedisError> {
        let inner = &*self.inner;
        let prepared = inner.policy.prepare_check(tier, key, at, cost, overrides)?;
        let call = async {
            let mut conn = inner.store.conn().await?;
            // From the moment it is sent until Redis answers, the places this call may take
            // are given back if it is cut off (a timeout, or the caller dropping this future):
            // Redis may have run it.
            let mut orphan = Orphan {
                limiter: self,
                hold: prepared.hold().cloned(),
            };
            let result = inner.policy.send_async(&mut conn, prepared).await;
            let settled = match &result {
                // Redis answered: what it took is in the decision, or it took nothing.
                Ok(_) => true,
                Err(e) => is_data_error(e),
            };
            if settled {
                orphan.hold = None;
            }
            result
        };
        let result = match tokio::time::timeout(inner.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(RedisError::Timeout),
        };
        let error = match result {
            Ok(d) => {
                inner.stats.decided.fetch_add(1, Ordering::Relaxed);
                if inner.down.swap(false, Ordering::Relaxed) {
                    log::info!(target: "tollgate_std::redis", "Redis is deciding again");
                }
                return Ok(Outcome::Redis(d));
            }
            Err(e @ (RedisError::Capacity(_) | RedisError::UnknownTier)) => return Err(e),
            // Redis answered: the key holds something else, or the script is not ours. Not an
            // outage, and no failure policy should admit that key unlimited because of it.
            Err(e) if is_data_error(&e) => return Err(e),
            // The connection's own response timeout, which is the same bound.
            Err(RedisError::Redis(e)) if e.is_timeout() => RedisError::Timeout,
            Err(e) => e,
        };
        inner.stats.failures.fetch_add(1, Ordering::Relaxed);
        if matches!(error, RedisError::Timeout) {
            inner.stats.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        if !inner.down.swap(true, Ordering::Relaxed) {
            log::warn!(
                target: "tollgate_std::redis",
                "Redis failed ({error}); deciding {} until it is back",
                match inner.on_failure {
                    OnFailure::Open => "open (admitting)",
                    OnFailure::Closed => "closed (refusing)",
                    OnFailure::Local(_) => "with the local policy",
                }
            );
        }
        Ok(match &inner.on_failure {
            OnFailure::Open => Outcome::Open(error),
            OnFailure::Closed => Outcome::Closed(error),
            OnFailure::Local(local) => {
                let tier_name = inner.policy.tier_names()[tier];
                let local_tier = local.tier(tier_name).ok_or(RedisError::UnknownTier)?;
                let now = local.clock().now();
                match local.check_at(local_tier, key, now, cost, overrides) {
                    Ok((decided, permit)) => Outcome::Local {
                        decided,
                        permit,
                        now,
                        error,
                    },
                    Err(KeyedError::Capacity(e)) => return Err(RedisError::Capacity(e)),
                    // A full local table refuses, as Redis being down with no room would.
                    Err(_) => Outcome::Closed(error),
                }
            }
        })
    }

    /// Gives back the places of `hold` in Redis: whether it still held them (see
    /// [`RedisPolicy::release`]). A release that fails is left to the lease.
    ///
    /// # Errors
    ///
    /// As [`RedisPolicy::release`], and [`RedisError::Timeout`].
    pub async fn release(&self, hold: &Hold) -> Result<bool, RedisError> {
        let inner = &*self.inner;
        let call = async {
            let mut conn = inner.store.conn().await?;
            inner.policy.release_async(&mut conn, hold).await
        };
        tokio::time::timeout(inner.timeout, call)
            .await
            .unwrap_or(Err(RedisError::Timeout))
    }

    /// What [`check`](Self::check) would say, recording nothing; Redis's failure is an error
    /// here.
    ///
    /// # Errors
    ///
    /// As [`RedisPolicy::peek`], and [`RedisError::Timeout`].
    pub async fn peek(
        &self,
        tier: TierId,
        key: &str,
        at: At,
        cost: u32,
    ) -> Result<RedisDecision<'_>, RedisError> {
        let inner = &*self.inner;
        let call = async {
            let mut conn = inner.store.conn().await?;
            inner
                .policy
                .peek_async(&mut conn, tier, key, at, cost)
                .await
        };
        tokio::time::timeout(inner.timeout, call)
            .await
            .unwrap_or(Err(RedisError::Timeout))
    }
}
