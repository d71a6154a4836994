//! HTTP middleware: a tower [`Layer`] that limits requests per key with a policy (tiers
//! included), writes the rate-limit headers on every response and answers denials itself.
//!
//! - **Keys**: the client's IP address ([`ClientIp`], from a `SocketAddr` request extension),
//!   a header ([`HeaderKey`], such as `X-Api-Key`), or any closure over the request. A request
//!   without one is counted under one shared key (the empty string).
//! - **Headers** on every limited response, admitted or denied: `X-RateLimit-Limit`,
//!   `-Remaining` and `-Reset` of the binding limit (or one comma-separated value per limit),
//!   the reset as epoch seconds, epoch milliseconds or delta seconds; the IETF
//!   `RateLimit-Policy` and `RateLimit` fields with one item per named limit; `Retry-After`
//!   (whole seconds, rounded up) on a denial. All rendered by the core.
//! - **Denials**: 429 with a JSON body naming the exceeded limit (`limit_exceeded`), or 403 with
//!   an SMS carrier's coded body ([`Denial::Carrier`]).
//! - **Concurrency limits** hold their place until the response body has been sent, or the
//!   connection dropped: the permit travels inside the body ([`LimitedBody`]).
//! - **Test headers** (`X-RateLimit: 1` forces a 429, `X-RateLimit-<limit>: N` lowers one limit
//!   for one request; lowered below one request, a 429 naming it) only when asked for
//!   ([`RateLimitLayer::honour_test_headers`]).
//! - **Shapers** (nginx's `limit_req` with a burst queue) hold a delayed request back on tokio's
//!   timer until its turn, and only then ready and call the inner service: a clone of it, the
//!   one `poll_ready` readied being let go, so a waiting request holds nothing of the inner
//!   service's (a place in its concurrency limit, its timeout's clock). The inner service must
//!   therefore be `Clone` (axum's `Router` and tower's `service_fn` are). Outside a tokio
//!   runtime a delayed request is a 500 saying so; the runtime must have its timer enabled, as
//!   `#[tokio::main]`'s has, or tokio panics. Its headers are those of the decision: a delta
//!   reset (`--reset delta`) is up to the delay early.
//!
//! Every decision is [`KeyedPolicy`]'s, so the layer decides exactly as the core does per key.
//! Keys come from untrusted requests: bound them ([`KeyedPolicy::with_max_keys`]), and a flood
//! of new keys is refused with 503 and `Retry-After` rather than exhausting memory.
//!
//! # Through Redis
//!
//! With the feature `redis`, `RateLimitLayer::redis` decides through a `RedisLimiter` instead:
//! a fleet of servers shares one policy, each request decided by one script call at the Redis
//! server's clock, with the same headers (resets from that clock) and the same denials. The
//! decision is awaited in the call's future, which then calls the inner service: the one
//! `poll_ready` readied (a clone takes its place in the layer, as tower's waiting middlewares
//! do). When Redis fails the limiter's failure policy decides: open (passed, no headers),
//! closed (503, `Retry-After: 1`) or a local policy in memory, and the failure is counted
//! ([`Stats::store_failures`]). A concurrency place is given back in Redis by a task when the
//! body ends or is dropped. A shaper's delayed request waits out the script's delay as in
//! memory. The in-memory path is untouched by all this: it decides in `call`, and boxes nothing
//! but a shaper's timer for a delayed request.
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tollgate_std::middleware::{HeaderKey, RateLimitLayer};
//! use tollgate_std::{KeyedPolicy, PolicyFile};
//!
//! let file: PolicyFile = "[[limit]]\nname = \"minute\"\nalgorithm = \"sliding-log\"\nlimit = 2\nwindow = \"1m\"\n".parse()?;
//! let layer = RateLimitLayer::new(KeyedPolicy::from_file(&file), HeaderKey::new("x-api-key"))?;
//! let mut service = ServiceBuilder::new().layer(layer).service_fn(|_req: Request<String>| async {
//!     Ok::<_, Infallible>(Response::new(String::from("hello")))
//! });
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let request = || Request::get("/api").header("x-api-key", "k1").body(String::new()).unwrap();
//! for _ in 0..2 {
//!     let ok = service.ready().await?.call(request()).await?;
//!     assert_eq!(ok.status(), StatusCode::OK);
//! }
//! let denied = service.ready().await?.call(request()).await?;
//! assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(denied.headers()["x-ratelimit-remaining"], "0");
//! assert!(["59", "60"].contains(&denied.headers()["retry-after"].to_str()?)); // a minute, rounded up
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use compact_str::CompactString;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tollgate_core::{
    Clock, CodedError, Detail, HeaderConfig, HeaderSink, InsufficientCapacity, LimitValues, Named,
    RateSentence, ResetFormat, TestHeaders, TooManyRequests, Verdict, WallClock, XRateLimit,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::StdClock;
use crate::keyed::{KeyPermit, KeyedError, TierId};
use crate::policy::Decided;
#[cfg(feature = "redis")]
use crate::redis::RedisLimiter;
use crate::{Duration, HZ, Instant, KeyedPolicy, Limit};

/// How a request's key is found.
pub trait KeyOf<B>: Send + Sync + 'static {
    /// The key of `request`, or `None` for the shared key.
    fn key_of(&self, request: &Request<B>) -> Option<CompactString>;
}

/// The client's IP address, from a [`SocketAddr`] in the request's extensions (a server puts the
/// peer address there; `tollgate serve` does). An IPv4-mapped IPv6 address counts as its IPv4
/// address.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientIp;

impl<B> KeyOf<B> for ClientIp {
    fn key_of(&self, request: &Request<B>) -> Option<CompactString> {
        let ip = request
            .extensions()
            .get::<SocketAddr>()?
            .ip()
            .to_canonical();
        let mut key = CompactString::default();
        write!(key, "{ip}").ok()?;
        Some(key)
    }
}

/// A request header's value (`X-Api-Key`); a request without it, or with a value that is not
/// visible ASCII, has the shared key.
#[derive(Debug, Clone)]
pub struct HeaderKey(HeaderName);

impl HeaderKey {
    /// The header called `name`, in any case (`"X-Api-Key"`).
    ///
    /// # Panics
    ///
    /// If `name` is not a header name (a space, a colon): a programming error caught at
    /// startup. Use [`HeaderKey::try_new`] for names read at run time.
    pub fn new(name: &str) -> Self {
        match Self::try_new(name) {
            Ok(key) => key,
            Err(_) => panic!("{name:?} is not a header name"),
        }
    }

    /// The header called `name`, in any case.
    ///
    /// # Errors
    ///
    /// When `name` is not a valid header name.
    pub fn try_new(name: &str) -> Result<Self, http::header::InvalidHeaderName> {
        HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map(Self)
    }
}

impl<B> KeyOf<B> for HeaderKey {
    fn key_of(&self, request: &Request<B>) -> Option<CompactString> {
        let value = request.headers().get(&self.0)?.to_str().ok()?;
        Some(CompactString::from(value))
    }
}

impl<B, F> KeyOf<B> for F
where
    F: Fn(&Request<B>) -> Option<CompactString> + Send + Sync + 'static,
{
    fn key_of(&self, request: &Request<B>) -> Option<CompactString> {
        self(request)
    }
}

/// How `X-RateLimit-Reset` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reset {
    /// Unix time in seconds (the default).
    #[default]
    EpochSeconds,
    /// Unix time in milliseconds (an SMS carrier's form).
    EpochMillis,
    /// Seconds from now.
    DeltaSeconds,
}

/// What a denied request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Denial {
    /// 429 with `{"status":429,"error":"too_many_requests","limit_exceeded":…}`.
    #[default]
    TooManyRequests,
    /// 403 with an SMS carrier's coded body (`{"category":…,"code":"message-rate-limit",…}`).
    /// Its sentence gives the denying limit's count per window in whole seconds (rounded up;
    /// a concurrency limit reads as its count per second) and, as the client's rate, that count:
    /// a client denied by a count per window has reached it. Its `details` name the limit.
    Carrier,
}

/// Counts of what the layer decided, for metrics.
#[derive(Debug, Default)]
pub struct Stats {
    allowed: AtomicU64,
    /// Denials per limit, in the order of [`RateLimitLayer::limit_names`].
    denied: Box<[AtomicU64]>,
    /// Requests a test header forced to a 429.
    forced: AtomicU64,
    /// Requests the key table had no room for.
    full: AtomicU64,
    /// Requests the store (Redis) failed to decide, each then decided by the failure policy.
    store_failures: AtomicU64,
}

impl Stats {
    /// Requests admitted by a decision (of the policy in memory, of Redis, or of the local
    /// policy Redis fell back on; not the requests an open failure policy let through
    /// undecided).
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }

    /// Requests denied by the limit at `index` of [`RateLimitLayer::limit_names`].
    pub fn denied(&self, index: usize) -> u64 {
        self.denied
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Requests a test header forced to a 429: `X-RateLimit: 1` (denied by no limit), or a
    /// limit lowered below one request (`X-RateLimit-<limit>: 0`, the 429 naming it).
    pub fn forced(&self) -> u64 {
        self.forced.load(Ordering::Relaxed)
    }

    /// Requests refused because the key table was full.
    pub fn full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }

    /// Requests the Redis store failed to decide (unreachable, timed out, an error reply), each
    /// then admitted, refused or decided locally by the failure policy. Always 0 in memory.
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }
}

/// Why a layer could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerError {
    /// The policy has more than one tier (these) and none was chosen.
    NoTier(Vec<String>),
    /// The tier named is not in the policy.
    UnknownTier(String),
}

impl core::fmt::Display for LayerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoTier(tiers) => write!(
                f,
                "the policy has several tiers ({}): choose one",
                tiers.join(", ")
            ),
            Self::UnknownTier(t) => write!(f, "the policy has no tier {t:?}"),
        }
    }
}

impl std::error::Error for LayerError {}

/// Picks a request's tier (plan) by name from its headers and key; `None` for the default.
type TierOf = dyn Fn(&HeaderMap, &str) -> Option<CompactString> + Send + Sync;

/// What every clone of a layer shares: the policy (in memory, or a `RedisLimiter`) and its
/// states, the key, the counts.
struct Shared<K, D> {
    policy: D,
    /// Every limit of every tier, `tier/name` where there are several tiers.
    names: Vec<String>,
    /// The same limits' own names, as a policy's decisions name them.
    bare: Vec<String>,
    /// The first index in `names` of each tier's limits.
    offsets: Vec<usize>,
    key: K,
    stats: Stats,
}

impl<K, D> Shared<K, D> {
    /// The shared part of a layer over `policy`, whose tiers are `tiers` and the limits' names of
    /// tier `i` are `limits(i)`.
    fn new<'p>(policy: D, key: K, tiers: &[&str], limits: impl Fn(TierId) -> Vec<&'p str>) -> Self {
        let mut names = Vec::new();
        let mut bare = Vec::new();
        let mut offsets = Vec::new();
        for (i, t) in tiers.iter().enumerate() {
            offsets.push(names.len());
            for l in limits(i) {
                bare.push(l.to_string());
                names.push(if tiers.len() > 1 {
                    format!("{t}/{l}")
                } else {
                    l.to_string()
                });
            }
        }
        let stats = Stats {
            denied: names.iter().map(|_| AtomicU64::new(0)).collect(),
            ..Stats::default()
        };
        Self {
            policy,
            names,
            bare,
            offsets,
            key,
            stats,
        }
    }

    /// A request a test header made impossible: one of its limits, lowered for this request
    /// below the request's cost (`X-RateLimit-Hour: 0`), which no wait would admit. A 429
    /// naming the limit, as a client testing its 429 path asked for, not a server error; no
    /// `Retry-After`, since only dropping the header helps. Counted as a forced denial.
    fn lowered_away(&self, tier: TierId, e: &InsufficientCapacity) -> Response<Bytes> {
        self.stats.forced.fetch_add(1, Ordering::Relaxed);
        let name = e
            .index
            .and_then(|i| self.bare.get(self.offsets.get(tier)? + i))
            .map_or("", String::as_str);
        let body = format!(
            r#"{{"status":429,"error":"limit_lowered_by_test_header","limit":{},"limit_value":{},"message":{}}}"#,
            tollgate_core::JsonStr(name),
            e.capacity,
            tollgate_core::JsonStr(&format!(
                "A test header lowered the {name} limit to {}: no request of {} fits.",
                e.capacity, e.cost
            )),
        );
        json(StatusCode::TOO_MANY_REQUESTS, body, HeaderMap::new())
    }

    /// Counts decision `d` of `tier`: admitted, forced to a denial by a test header, or denied
    /// by one of its limits.
    fn count(&self, tier: TierId, d: &Decided<'_>) {
        if d.is_allowed() {
            self.stats.allowed.fetch_add(1, Ordering::Relaxed);
        } else if d.outcome == Verdict::Forced {
            self.stats.forced.fetch_add(1, Ordering::Relaxed);
        } else if let Some(i) = d.denied_index()
            && let Some(c) = self.stats.denied.get(self.offsets[tier] + i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How a layer answers: its own, so that a clone can be configured apart from the original.
#[derive(Clone)]
struct Options {
    /// The default tier.
    tier: TierId,
    tier_of: Option<Arc<TierOf>>,
    values: LimitValues,
    reset: Reset,
    denial: Denial,
    test_headers: bool,
}

impl Options {
    const fn new(tier: TierId) -> Self {
        Self {
            tier,
            tier_of: None,
            values: LimitValues::Single,
            reset: Reset::EpochSeconds,
            denial: Denial::TooManyRequests,
            test_headers: false,
        }
    }

    /// The tier of a request with `headers` and `key`, the policy's tiers found by `tier`; the
    /// name of a tier it does not have as the error.
    fn tier(
        &self,
        headers: &HeaderMap,
        key: &str,
        tier: impl FnOnce(&str) -> Option<TierId>,
    ) -> Result<TierId, CompactString> {
        match &self.tier_of {
            None => Ok(self.tier),
            Some(f) => match f(headers, key) {
                None => Ok(self.tier),
                Some(name) => tier(&name).ok_or(name),
            },
        }
    }
}

/// The tower layer: see the [module docs](self). Cheap to clone: clones share the policy, its
/// states and the counts, and each can be configured on its own.
///
/// `D` is where the policy's states live: a [`KeyedPolicy`] in memory (the default), or a
/// `RedisLimiter` shared by a fleet (`RateLimitLayer::redis`, feature `redis`).
pub struct RateLimitLayer<K, D = KeyedPolicy<CompactString>> {
    shared: Arc<Shared<K, D>>,
    options: Options,
}

impl<K, D> Clone for RateLimitLayer<K, D> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            options: self.options.clone(),
        }
    }
}

impl<K, D> core::fmt::Debug for RateLimitLayer<K, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("tier", &self.options.tier)
            .field("limits", &self.shared.names)
            .finish_non_exhaustive()
    }
}

/// The id of tier `tier` among `tiers`, or of the only one when `tier` is `None`.
fn choose_tier(
    tiers: &[&str],
    tier: Option<&str>,
    id: impl FnOnce(&str) -> Option<TierId>,
) -> Result<TierId, LayerError> {
    match tier {
        Some(t) => id(t).ok_or_else(|| LayerError::UnknownTier(t.to_string())),
        None if tiers.len() == 1 => Ok(0),
        None => Err(LayerError::NoTier(
            tiers.iter().map(ToString::to_string).collect(),
        )),
    }
}

/// Each tier's name and its limits' names, as a policy (in memory or in Redis) lists them.
fn tier_list<'p>(
    names: Vec<&str>,
    limits: impl Fn(TierId) -> Option<&'p [Named<Limit, String>]>,
) -> Vec<(String, Vec<String>)> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let limits = limits(i).unwrap_or(&[]);
            let limits = limits.iter().map(|l| l.name().to_owned()).collect();
            (name.to_owned(), limits)
        })
        .collect()
}

impl<K, D> RateLimitLayer<K, D> {
    /// A layer deciding with `policy`, whose tiers are `tiers` (names and limits' names), in
    /// `tier` (or its only one).
    fn assemble(
        policy: D,
        key: K,
        tier: Option<&str>,
        tiers: &[(String, Vec<String>)],
    ) -> Result<Self, LayerError> {
        let names: Vec<&str> = tiers.iter().map(|(t, _)| t.as_str()).collect();
        let id = choose_tier(&names, tier, |t| names.iter().position(|n| *n == t))?;
        let shared = Shared::new(policy, key, &names, |i| {
            tiers[i].1.iter().map(String::as_str).collect()
        });
        Ok(Self {
            shared: Arc::new(shared),
            options: Options::new(id),
        })
    }
}

impl<K> RateLimitLayer<K> {
    /// A layer deciding with `policy`, keys found by `key`: single-value `X-RateLimit-*`
    /// headers with epoch-second resets, the IETF fields, 429 denials, test headers ignored.
    /// The policy's only tier applies (the file's top-level limits, or its one tier).
    ///
    /// # Errors
    ///
    /// [`LayerError::NoTier`] when the policy has several tiers: choose with
    /// [`with_tier`](Self::with_tier).
    pub fn new(policy: KeyedPolicy<CompactString>, key: K) -> Result<Self, LayerError> {
        Self::build(policy, key, None)
    }

    /// A layer deciding with `policy`'s tier `tier`, otherwise as [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// [`LayerError::UnknownTier`].
    pub fn with_tier(
        policy: KeyedPolicy<CompactString>,
        key: K,
        tier: &str,
    ) -> Result<Self, LayerError> {
        Self::build(policy, key, Some(tier))
    }

    fn build(
        policy: KeyedPolicy<CompactString>,
        key: K,
        tier: Option<&str>,
    ) -> Result<Self, LayerError> {
        let tiers = tier_list(policy.tier_names(), |i| policy.limits(i));
        Self::assemble(policy, key, tier, &tiers)
    }

    /// The keys the policy holds now.
    pub fn keys(&self) -> usize {
        self.shared.policy.len()
    }
}

#[cfg(feature = "redis")]
impl<K> RateLimitLayer<K, RedisLimiter> {
    /// A layer deciding through Redis with `limiter` (a fleet of hosts sharing one policy),
    /// keys found by `key`, at the Redis server's clock. The headers and denials are those of
    /// [`new`](RateLimitLayer::new), resets read from the server's clock; the policy's only tier
    /// applies.
    ///
    /// When Redis fails, the limiter's [`OnFailure`](crate::redis::OnFailure) decides:
    /// `Open` lets the request through with no rate-limit headers, `Closed` answers 503
    /// (`{"status":503,"error":"rate limit store unavailable"}`, `Retry-After: 1`), `Local`
    /// decides in memory as [`new`](RateLimitLayer::new) does. Failures are counted
    /// ([`Stats::store_failures`]).
    ///
    /// A request admitted into a concurrency limit holds its place until its response body has
    /// been sent or dropped; then a task on the current tokio runtime gives it back in Redis
    /// (without a runtime, or if Redis fails then, the policy's lease gives it back).
    ///
    /// Test headers, when [honoured](RateLimitLayer::honour_test_headers), are decided in Redis
    /// as in memory (a forced 429 records nothing; a lowered limit is lowered for that request).
    ///
    /// # Errors
    ///
    /// [`LayerError::NoTier`] when the policy has several tiers: choose with
    /// [`redis_with_tier`](Self::redis_with_tier).
    pub fn redis(limiter: RedisLimiter, key: K) -> Result<Self, LayerError> {
        Self::build_redis(limiter, key, None)
    }

    /// A layer deciding through Redis with `limiter`'s tier `tier`, otherwise as
    /// [`redis`](Self::redis).
    ///
    /// # Errors
    ///
    /// [`LayerError::UnknownTier`].
    pub fn redis_with_tier(limiter: RedisLimiter, key: K, tier: &str) -> Result<Self, LayerError> {
        Self::build_redis(limiter, key, Some(tier))
    }

    fn build_redis(limiter: RedisLimiter, key: K, tier: Option<&str>) -> Result<Self, LayerError> {
        let policy = limiter.policy();
        let tiers = tier_list(policy.tier_names(), |i| policy.limits(i));
        Self::assemble(limiter, key, tier, &tiers)
    }

    /// The limiter.
    pub fn limiter(&self) -> &RedisLimiter {
        &self.shared.policy
    }

    /// The keys held in memory now: those of the local policy Redis falls back on (Redis holds
    /// the others).
    pub fn keys(&self) -> usize {
        self.shared.policy.local().map_or(0, KeyedPolicy::len)
    }
}

impl<K, D> RateLimitLayer<K, D> {
    /// Whether requests' test headers may force a 429 or lower a limit (never raise one).
    #[must_use]
    pub fn honour_test_headers(self, on: bool) -> Self {
        self.edit(|s| s.test_headers = on)
    }

    fn edit(mut self, f: impl FnOnce(&mut Options)) -> Self {
        f(&mut self.options);
        self
    }

    /// `X-RateLimit-*` with one comma-separated value per limit (`PerLimit`) or the binding
    /// limit's only (`Single`, the default).
    #[must_use]
    pub fn values(self, values: LimitValues) -> Self {
        self.edit(|s| s.values = values)
    }

    /// How `X-RateLimit-Reset` is written.
    #[must_use]
    pub fn reset(self, reset: Reset) -> Self {
        self.edit(|s| s.reset = reset)
    }

    /// What a denied request gets.
    #[must_use]
    pub fn denial(self, denial: Denial) -> Self {
        self.edit(|s| s.denial = denial)
    }

    /// Picks each request's tier (plan) by name, from its headers and its key (a plan looked up
    /// by API key, or named by a header); `None` keeps the default tier. A name the policy does
    /// not have is answered with 400 and decides nothing.
    #[must_use]
    pub fn tier_by(
        self,
        f: impl Fn(&HeaderMap, &str) -> Option<CompactString> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|s| s.tier_of = Some(Arc::new(f)))
    }

    /// What the layer decided so far.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Every limit's name, in the order [`Stats::denied`] counts them (`tier/name` when the
    /// policy has several tiers).
    pub fn limit_names(&self) -> &[String] {
        &self.shared.names
    }
}

impl<S, K, D> Layer<S> for RateLimitLayer<K, D> {
    type Service = RateLimit<S, K, D>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            shared: Arc::clone(&self.shared),
            options: self.options.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around another.
pub struct RateLimit<S, K, D = KeyedPolicy<CompactString>> {
    inner: S,
    shared: Arc<Shared<K, D>>,
    options: Options,
}

impl<S: Clone, K, D> Clone for RateLimit<S, K, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            options: self.options.clone(),
        }
    }
}

impl<S, K, D> core::fmt::Debug for RateLimit<S, K, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

/// Headers into an [`http::HeaderMap`].
struct MapSink<'m>(&'m mut HeaderMap);

impl HeaderSink for MapSink<'_> {
    fn header(&mut self, name: &str, value: std::fmt::Arguments<'_>) -> std::fmt::Result {
        let name = HeaderName::try_from(name).map_err(|_| std::fmt::Error)?;
        let value = HeaderValue::try_from(value.to_string()).map_err(|_| std::fmt::Error)?;
        self.0.insert(name, value);
        Ok(())
    }
}

/// The headers of decision `d` made at `now`, epoch resets on the wall clock `wall`.
fn headers(o: &Options, d: &Decided<'_>, now: Instant, wall: WallClock<HZ>) -> HeaderMap {
    let reset = match o.reset {
        Reset::EpochSeconds => ResetFormat::EpochSeconds(wall),
        Reset::EpochMillis => ResetFormat::EpochMillis(wall),
        Reset::DeltaSeconds => ResetFormat::DeltaSeconds,
    };
    let config: HeaderConfig<HZ> = HeaderConfig::none()
        .with_x_ratelimit(XRateLimit::new(reset, o.values))
        .with_ietf()
        .with_retry_after();
    let mut map = HeaderMap::new();
    // Names are checked by the policy file's reader (printable, no quotes), and resets stay
    // within the unix millisecond range for 584 years: nothing to refuse here.
    let _ = d
        .report_set(now)
        .write_headers(&config, &mut MapSink(&mut map));
    map
}

/// A JSON response the layer writes itself.
fn json(status: StatusCode, body: String, headers: HeaderMap) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The response to a denied request.
fn denial(o: &Options, d: &Decided<'_>, now: Instant, headers: HeaderMap) -> Response<Bytes> {
    let set = d.report_set(now);
    let (status, body) = match o.denial {
        Denial::TooManyRequests => {
            let message = match d.limit_exceeded() {
                Some(name) => format!("Too many requests: the {name} limit is exceeded."),
                None => String::from("Too many requests."),
            };
            (
                StatusCode::TOO_MANY_REQUESTS,
                TooManyRequests::new(set, &message).to_string(),
            )
        }
        Denial::Carrier => {
            let denied = d.denied_by().map(|r| (r.name, r.allowance));
            let (count, per_secs) = match denied.map(|(_, a)| a) {
                Some(tollgate_core::Allowance::PerWindow { count, window }) => {
                    (count, window.as_ticks().div_ceil(HZ))
                }
                Some(tollgate_core::Allowance::InFlight { count }) => (count, 1),
                _ => (0, 1),
            };
            let sentence = RateSentence {
                verb: "send",
                count,
                noun: "requests",
                per_secs,
                average_over_secs: per_secs,
                rate_milli: u64::from(count) * 1_000,
            };
            let limit = denied.map_or("", |(name, _)| name);
            let details = [Detail {
                name: "limitExceeded",
                value: limit,
            }];
            (
                StatusCode::FORBIDDEN,
                CodedError::message_rate_limit(sentence, &details).to_string(),
            )
        }
    };
    json(status, body, headers)
}

impl<S, K, B, RB> Service<Request<B>> for RateLimit<S, K>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone,
    K: KeyOf<B>,
    RB: Body<Data = Bytes>,
{
    type Response = Response<LimitedBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, RB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let key = shared.key.key_of(&request).unwrap_or_default();
        let now = shared.policy.clock().now();
        let options = &self.options;
        let tier = match options.tier(request.headers(), &key, |name| shared.policy.tier(name)) {
            Ok(t) => t,
            Err(name) => return ResponseFuture::ready(unknown_tier(&name)),
        };
        let decided = {
            let tests: TestHeaders<'_, 4> = if options.test_headers {
                TestHeaders::from_headers(
                    request
                        .headers()
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_bytes())),
                )
            } else {
                TestHeaders::new()
            };
            let overrides = tests.overrides();
            match shared
                .policy
                .check_at(tier, key.as_str(), now, 1, &overrides)
            {
                Ok((d, permit)) => {
                    let headers = headers(options, &d, now, shared.policy.clock().wall());
                    shared.count(tier, &d);
                    if d.is_allowed() {
                        Ok((headers, permit, d.delay()))
                    } else {
                        Err(denial(options, &d, now, headers).map(LimitedBody::bytes))
                    }
                }
                Err(KeyedError::Capacity(e)) if !overrides.lower.is_empty() => {
                    Err(shared.lowered_away(tier, &e).map(LimitedBody::bytes))
                }
                Err(e) => Err(unavailable(shared, &e)),
            }
        };
        match decided {
            Ok((headers, permit, delay)) if delay.as_ticks() > 0 => {
                // Held back until its turn, then made with a clone of the inner service. The
                // readied one is let go now, and what its readiness reserved with it (a place in
                // a concurrency limit): an unready clone takes its place in the layer.
                let unready = self.inner.clone();
                let readied = std::mem::replace(&mut self.inner, unready);
                drop(readied);
                let later = self.inner.clone();
                ResponseFuture::waiting(delay, later, request, headers, Some(permit))
            }
            Ok((headers, permit, _)) => {
                ResponseFuture::inner(self.inner.call(request), headers, Some(permit))
            }
            Err(response) => ResponseFuture::ready(response),
        }
    }
}

/// A request naming a tier the policy does not have.
fn unknown_tier<B, P>(name: &str) -> Response<LimitedBody<B, P>> {
    let body = format!(
        r#"{{"status":400,"error":"unknown_tier","tier":{}}}"#,
        tollgate_core::JsonStr(name)
    );
    json(StatusCode::BAD_REQUEST, body, HeaderMap::new()).map(LimitedBody::bytes)
}

/// A request the policy could not decide: a full key table (503 with `Retry-After` when room
/// frees up), or a limit no single request fits (500: the policy is misconfigured).
fn unavailable<K, D, B>(shared: &Shared<K, D>, e: &KeyedError) -> Response<LimitedBody<B>> {
    let (status, retry) = match e {
        KeyedError::Full { retry_after } => {
            shared.stats.full.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after.map(|w| w.as_ticks().div_ceil(HZ)),
            )
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    let body = format!(
        r#"{{"status":{},"error":{}}}"#,
        status.as_u16(),
        tollgate_core::JsonStr(&e.to_string())
    );
    let mut response = json(status, body, HeaderMap::new());
    if let Some(secs) = retry {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.map(LimitedBody::bytes)
}

pin_project_lite::pin_project! {
    /// The future of a [`RateLimit`] call.
    pub struct ResponseFuture<S, B, RB, P = KeyPermit<CompactString, StdClock>>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: FutureState<S, B, RB, P>,
    }
}

pin_project_lite::pin_project! {
    #[project = FutureProj]
    enum FutureState<S, B, RB, P>
    where
        S: Service<Request<B>>,
    {
        // Admitted with a shaper's delay: at the turn, a clone of the inner service (the one
        // `poll_ready` readied was let go) is readied and called, so the wait holds nothing of
        // the inner service's (a concurrency place, a timeout's clock).
        Waiting {
            turn: Pin<Box<tokio::time::Sleep>>,
            call: Option<(S, Request<B>)>,
            headers: Option<HeaderMap>,
            permit: Option<P>,
        },
        // Admitted: the inner service's response, to which the headers and the permit go.
        Inner {
            #[pin]
            future: S::Future,
            headers: Option<HeaderMap>,
            permit: Option<P>,
        },
        // Denied or refused: the response is ready.
        Ready {
            response: Option<Response<LimitedBody<RB, P>>>,
        },
    }
}

impl<S: Service<Request<B>>, B, RB, P> ResponseFuture<S, B, RB, P> {
    const fn inner(future: S::Future, headers: HeaderMap, permit: Option<P>) -> Self {
        Self {
            state: FutureState::Inner {
                future,
                headers: Some(headers),
                permit,
            },
        }
    }

    /// A request admitted with a shaper's `delay`, to be made with `service` (not yet ready)
    /// when its turn comes, on tokio's timer. Outside a tokio runtime there is no timer to wait
    /// on: a 500 saying so, rather than a panic.
    fn waiting(
        delay: Duration,
        service: S,
        request: Request<B>,
        headers: HeaderMap,
        permit: Option<P>,
    ) -> Self {
        if tokio::runtime::Handle::try_current().is_err() {
            return Self::ready(no_timer());
        }
        let turn = std::time::Duration::from_nanos(delay.as_ticks());
        Self {
            state: FutureState::Waiting {
                turn: Box::pin(tokio::time::sleep(turn)),
                call: Some((service, request)),
                headers: Some(headers),
                permit,
            },
        }
    }

    const fn ready(response: Response<LimitedBody<RB, P>>) -> Self {
        Self {
            state: FutureState::Ready {
                response: Some(response),
            },
        }
    }
}

/// A shaper's delayed request outside a tokio runtime: 500, the program is misconfigured.
fn no_timer<RB, P>() -> Response<LimitedBody<RB, P>> {
    let body = r#"{"status":500,"error":"a shaper's delay needs a tokio runtime with its timer"}"#;
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        body.to_owned(),
        HeaderMap::new(),
    )
    .map(LimitedBody::bytes)
}

impl<S: Service<Request<B>>, B, RB, P> core::fmt::Debug for ResponseFuture<S, B, RB, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, RB, P> Future for ResponseFuture<S, B, RB, P>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Output = Result<Response<LimitedBody<RB, P>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut state = self.as_mut().project().state;
            let next = match state.as_mut().project() {
                FutureProj::Waiting {
                    turn,
                    call,
                    headers,
                    permit,
                } => {
                    std::task::ready!(turn.as_mut().poll(cx));
                    let Some((service, _)) = call.as_mut() else {
                        // Only after a panic in the inner `call`: nothing to give.
                        return Poll::Pending;
                    };
                    std::task::ready!(service.poll_ready(cx))?;
                    let Some((mut service, request)) = call.take() else {
                        return Poll::Pending;
                    };
                    FutureState::Inner {
                        future: service.call(request),
                        headers: headers.take(),
                        permit: permit.take(),
                    }
                }
                FutureProj::Inner {
                    future,
                    headers,
                    permit,
                } => {
                    let response = std::task::ready!(future.poll(cx))?;
                    let (mut parts, body) = response.into_parts();
                    for (name, value) in &headers.take().unwrap_or_default() {
                        parts.headers.insert(name.clone(), value.clone());
                    }
                    let body = LimitedBody {
                        state: BodyState::Inner {
                            body,
                            permit: permit.take(),
                        },
                    };
                    return Poll::Ready(Ok(Response::from_parts(parts, body)));
                }
                FutureProj::Ready { response } => {
                    return match response.take() {
                        Some(r) => Poll::Ready(Ok(r)),
                        // Polled again after it finished: nothing more to give.
                        None => Poll::Pending,
                    };
                }
            };
            state.set(next);
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds the request's concurrency permit until the body has been
    /// sent (its last frame polled) or dropped (the connection went away).
    ///
    /// `P` is the permit: a [`KeyPermit`] in memory, a [`RedisPermit`] through Redis.
    pub struct LimitedBody<B, P = KeyPermit<CompactString, StdClock>> {
        #[pin]
        state: BodyState<B, P>,
    }
}

pin_project_lite::pin_project! {
    #[project = BodyProj]
    enum BodyState<B, P> {
        // The inner service's body and the request's place in its concurrency limits.
        Inner {
            #[pin]
            body: B,
            permit: Option<P>,
        },
        // A body the layer wrote (a denial).
        Full {
            data: Option<Bytes>,
        },
    }
}

impl<B, P> LimitedBody<B, P> {
    /// A body the layer wrote.
    const fn bytes(data: Bytes) -> Self {
        Self {
            state: BodyState::Full { data: Some(data) },
        }
    }
}

impl<B> LimitedBody<B> {
    /// Whether the body still holds a place in a concurrency limit.
    pub fn holds(&self) -> bool {
        matches!(&self.state, BodyState::Inner { permit: Some(p), .. } if p.holds())
    }
}

impl<B: Body<Data = Bytes>, P> Body for LimitedBody<B, P> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().state.project() {
            BodyProj::Inner { body, permit } => {
                let frame = std::task::ready!(body.poll_frame(cx));
                if frame.is_none() {
                    // The whole body has been handed over: the request is done.
                    permit.take();
                }
                Poll::Ready(frame)
            }
            BodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            BodyState::Inner { body, .. } => body.is_end_stream(),
            BodyState::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            BodyState::Inner { body, .. } => body.size_hint(),
            BodyState::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

impl<B> core::fmt::Debug for LimitedBody<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LimitedBody")
            .field("holds", &self.holds())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "redis")]
pub use through_redis::{RedisFuture, RedisPermit};

/// The layer's Redis path: the decision awaited in the call's future, then the inner service.
#[cfg(feature = "redis")]
mod through_redis {

    use super::*;
    use crate::redis::{At, Hold, Outcome, RedisDecision, RedisError, RedisLimiter};

    /// Where Redis's instants are counted from: they are nanoseconds since the Unix epoch
    /// ([`At::Server`]), so tick 0 is Unix time 0.
    const EPOCH: WallClock<HZ> = WallClock::new(Instant::from_ticks(0), 0);

    /// What the decision says to do with a request.
    enum Verdict {
        /// Call the inner service, add these headers to its response, hold this place in the
        /// concurrency limits until its body is done.
        Admit {
            headers: HeaderMap,
            permit: Option<RedisPermit>,
            /// A shaper's delay: the call waits for it.
            delay: Duration,
        },
        /// Answer this instead.
        Refuse(Response<Bytes>),
    }

    /// A decision under way: the Redis call (or the failure policy's answer).
    type Deciding = Pin<Box<dyn Future<Output = Verdict> + Send>>;

    impl<S, K, B, RB> Service<Request<B>> for RateLimit<S, K, RedisLimiter>
    where
        S: Service<Request<B>, Response = Response<RB>> + Clone,
        K: KeyOf<B>,
        RB: Body<Data = Bytes>,
    {
        type Response = Response<LimitedBody<RB, RedisPermit>>;
        type Error = S::Error;
        type Future = RedisFuture<S, B, RB>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: Request<B>) -> Self::Future {
            let shared = &*self.shared;
            let key = shared.key.key_of(&request).unwrap_or_default();
            let tier = match self.options.tier(request.headers(), &key, |name| {
                shared.policy.policy().tier(name)
            }) {
                Ok(t) => t,
                Err(name) => return RedisFuture::ready(unknown_tier(&name)),
            };
            // The test headers, owned: the decision outlives the request's borrow.
            let tests = if self.options.test_headers {
                let parsed: TestHeaders<'_, 4> = TestHeaders::from_headers(
                    request
                        .headers()
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_bytes())),
                );
                let o = parsed.overrides();
                Tests {
                    deny: o.deny,
                    lower: o.lower.iter().map(|&(n, v)| (n.to_owned(), v)).collect(),
                }
            } else {
                Tests::default()
            };
            let deciding = decide(
                Arc::clone(&self.shared),
                self.options.clone(),
                tier,
                key,
                tests,
            );
            // The service that `poll_ready` readied is the one to call, once the decision is
            // in: it goes into the future and a clone (not yet ready) takes its place, as
            // tower's own middlewares that wait before calling do.
            let ready = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, ready);
            RedisFuture {
                state: RedisState::Deciding {
                    deciding,
                    call: Some((inner, request)),
                },
            }
        }
    }

    /// A request's test headers, owned (only when the layer honours them).
    #[derive(Default)]
    struct Tests {
        deny: bool,
        lower: Vec<(String, u32)>,
    }

    /// Decides `key`'s request in `tier` through Redis, counting as the in-memory path does.
    fn decide<K: Send + Sync + 'static>(
        shared: Arc<Shared<K, RedisLimiter>>,
        options: Options,
        tier: TierId,
        key: CompactString,
        tests: Tests,
    ) -> Deciding {
        Box::pin(async move {
            let shared = &*shared;
            let limiter = &shared.policy;
            let lower: Vec<(&str, u32)> =
                tests.lower.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let overrides = tollgate_core::Overrides {
                deny: tests.deny,
                lower: &lower,
            };
            let outcome = match limiter
                .check_with(tier, &key, At::Server, 1, &overrides)
                .await
            {
                Ok(o) => o,
                Err(RedisError::Capacity(e)) if !lower.is_empty() => {
                    return Verdict::Refuse(shared.lowered_away(tier, &e));
                }
                Err(e) => return Verdict::Refuse(misconfigured(&e)),
            };
            if !matches!(outcome, Outcome::Redis(_)) {
                shared.stats.store_failures.fetch_add(1, Ordering::Relaxed);
            }
            match outcome {
                Outcome::Redis(RedisDecision { decided, now, hold }) => {
                    let headers = headers(&options, &decided, now, EPOCH);
                    shared.count(tier, &decided);
                    if !decided.is_allowed() {
                        return Verdict::Refuse(denial(&options, &decided, now, headers));
                    }
                    // Redis counts the request in flight until it is released.
                    let permit = hold.map(|hold| {
                        RedisPermit(Held::Redis(Release {
                            limiter: limiter.clone(),
                            hold: Some(hold),
                        }))
                    });
                    Verdict::Admit {
                        headers,
                        permit,
                        delay: decided.delay(),
                    }
                }
                Outcome::Open(_) => Verdict::Admit {
                    headers: HeaderMap::new(),
                    permit: None,
                    delay: Duration::from_ticks(0),
                },
                Outcome::Closed(_) => Verdict::Refuse(store_unavailable()),
                Outcome::Local {
                    decided,
                    permit,
                    now,
                    ..
                } => {
                    let wall = limiter.local().map_or(EPOCH, |l| l.clock().wall());
                    let headers = headers(&options, &decided, now, wall);
                    shared.count(tier, &decided);
                    if decided.is_allowed() {
                        Verdict::Admit {
                            headers,
                            permit: Some(RedisPermit(Held::Local(permit))),
                            delay: decided.delay(),
                        }
                    } else {
                        Verdict::Refuse(denial(&options, &decided, now, headers))
                    }
                }
            }
        })
    }

    /// Redis failed and the failure policy refuses: 503, to be tried again in a second.
    fn store_unavailable() -> Response<Bytes> {
        let mut response = json(
            StatusCode::SERVICE_UNAVAILABLE,
            String::from(r#"{"status":503,"error":"rate limit store unavailable"}"#),
            HeaderMap::new(),
        );
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }

    /// A request no decision fits (a limit smaller than one request, a tier Redis does not
    /// have): 500, the policy is misconfigured.
    fn misconfigured(e: &RedisError) -> Response<Bytes> {
        let body = format!(
            r#"{{"status":500,"error":{}}}"#,
            tollgate_core::JsonStr(&e.to_string())
        );
        json(StatusCode::INTERNAL_SERVER_ERROR, body, HeaderMap::new())
    }

    /// A request's place in concurrency limits decided through Redis: given back in Redis, or
    /// in the local policy that decided while Redis was down, when dropped.
    pub struct RedisPermit(Held);

    enum Held {
        /// Redis counts the request in flight.
        Redis(Release),
        /// The local policy does (it decided while Redis failed).
        Local(KeyPermit<CompactString, StdClock>),
    }

    impl RedisPermit {
        /// Whether it holds a place in a concurrency limit.
        pub fn holds(&self) -> bool {
            match &self.0 {
                Held::Redis(_) => true,
                Held::Local(p) => p.holds(),
            }
        }
    }

    impl core::fmt::Debug for RedisPermit {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let (store, tier) = match &self.0 {
                Held::Redis(r) => ("redis", r.hold.as_ref().map(Hold::tier)),
                Held::Local(_) => ("local", None),
            };
            f.debug_struct("RedisPermit")
                .field("store", &store)
                .field("tier", &tier)
                .field("holds", &self.holds())
                .finish()
        }
    }

    /// One request in flight in Redis, released when dropped.
    struct Release {
        limiter: RedisLimiter,
        hold: Option<Hold>,
    }

    impl Drop for Release {
        fn drop(&mut self) {
            // A drop cannot wait for Redis: a task on the runtime the body is dropped on gives
            // the place back. Without a runtime, or when that call fails, the lease does.
            if let Ok(runtime) = tokio::runtime::Handle::try_current()
                && let Some(hold) = self.hold.take()
            {
                let limiter = self.limiter.clone();
                runtime.spawn(async move {
                    let _ = limiter.release(&hold).await;
                });
            }
        }
    }

    impl<B> LimitedBody<B, RedisPermit> {
        /// Whether the body still holds a place in a concurrency limit.
        pub fn holds(&self) -> bool {
            matches!(&self.state, BodyState::Inner { permit: Some(p), .. } if p.holds())
        }
    }

    impl<B> core::fmt::Debug for LimitedBody<B, RedisPermit> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("LimitedBody")
                .field("holds", &self.holds())
                .finish_non_exhaustive()
        }
    }

    pin_project_lite::pin_project! {
        /// The future of a [`RateLimit`] call through Redis: the decision, then the inner
        /// service's response.
        pub struct RedisFuture<S, B, RB>
        where
            S: Service<Request<B>>,
        {
            #[pin]
            state: RedisState<S, B, RB>,
        }
    }

    pin_project_lite::pin_project! {
        #[project = RedisProj]
        enum RedisState<S, B, RB>
        where
            S: Service<Request<B>>,
        {
            // Waiting for Redis, with the readied service and the request to call it with.
            Deciding {
                deciding: Deciding,
                call: Option<(S, Request<B>)>,
            },
            // Decided: the inner service's response, or the layer's own.
            Then {
                #[pin]
                future: ResponseFuture<S, B, RB, RedisPermit>,
            },
        }
    }

    impl<S: Service<Request<B>>, B, RB> RedisFuture<S, B, RB> {
        const fn ready(response: Response<LimitedBody<RB, RedisPermit>>) -> Self {
            Self {
                state: RedisState::Then {
                    future: ResponseFuture::ready(response),
                },
            }
        }
    }

    impl<S: Service<Request<B>>, B, RB> core::fmt::Debug for RedisFuture<S, B, RB> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("RedisFuture").finish_non_exhaustive()
        }
    }

    impl<S, B, RB> Future for RedisFuture<S, B, RB>
    where
        S: Service<Request<B>, Response = Response<RB>> + Clone,
    {
        type Output = Result<Response<LimitedBody<RB, RedisPermit>>, S::Error>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            loop {
                let mut state = self.as_mut().project().state;
                let next = match state.as_mut().project() {
                    RedisProj::Then { future } => return future.poll(cx),
                    RedisProj::Deciding { deciding, call } => {
                        match std::task::ready!(deciding.as_mut().poll(cx)) {
                            Verdict::Admit {
                                headers,
                                permit,
                                delay,
                            } => match call.take() {
                                // Held back until its turn: the readied service is let go
                                // (nothing of it is held through the wait) and a clone is
                                // readied and called then.
                                Some((inner, request)) if delay.as_ticks() > 0 => {
                                    let later = inner.clone();
                                    drop(inner);
                                    ResponseFuture::waiting(delay, later, request, headers, permit)
                                }
                                Some((mut inner, request)) => {
                                    ResponseFuture::inner(inner.call(request), headers, permit)
                                }
                                // Only after a panic in the inner `call`: nothing to give.
                                None => return Poll::Pending,
                            },
                            Verdict::Refuse(response) => {
                                ResponseFuture::ready(response.map(LimitedBody::bytes))
                            }
                        }
                    }
                };
                // The decision is dropped here (its connection handle with it).
                state.set(RedisState::Then { future: next });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use http_body_util::{BodyExt, Full};
    use tower::{Service, ServiceBuilder, ServiceExt};

    use super::*;
    use crate::PolicyFile;

    fn layer<K>(policy: &str, key: K) -> RateLimitLayer<K> {
        let file: PolicyFile = policy.parse().unwrap();
        RateLimitLayer::new(KeyedPolicy::from_file(&file), key).unwrap()
    }

    const ONE_IN_FLIGHT: &str =
        "[[limit]]\nname = \"inflight\"\nalgorithm = \"concurrency\"\nlimit = 1\n";

    fn request(addr: Option<SocketAddr>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(a) = addr {
            r.extensions_mut().insert(a);
        }
        r
    }

    async fn call<S>(service: &mut S, req: Request<()>) -> Response<LimitedBody<Full<Bytes>>>
    where
        S: Service<Request<()>, Response = Response<LimitedBody<Full<Bytes>>>, Error = Infallible>,
    {
        service.ready().await.unwrap().call(req).await.unwrap()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_place_is_released_when_the_body_ends_or_is_dropped() {
        let layer = layer(ONE_IN_FLIGHT, ClientIp);
        let mut service =
            ServiceBuilder::new()
                .layer(layer.clone())
                .service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hi"))))
                });
        runtime().block_on(async {
            let first = call(&mut service, request(None)).await;
            assert!(first.body().holds());
            // In flight until its body is read.
            let second = call(&mut service, request(None)).await;
            assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(!second.body().holds());
            let bytes = first.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&bytes[..], b"hi");
            // Read to its end: the place is free again.
            let third = call(&mut service, request(None)).await;
            assert_eq!(third.status(), StatusCode::OK);
            // Dropped unread, as when the connection goes away: free again.
            drop(third);
            let fourth = call(&mut service, request(None)).await;
            assert_eq!(fourth.status(), StatusCode::OK);
        });
        assert_eq!(layer.stats().allowed(), 3);
        assert_eq!(layer.stats().denied(0), 1);
        assert_eq!(layer.limit_names(), ["inflight"]);
    }

    #[test]
    fn keys_from_addresses_headers_and_closures() {
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 5000);
        let mapped = SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped()),
            6000,
        );
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 7000);
        assert_eq!(ClientIp.key_of(&request(Some(v4))).unwrap(), "192.0.2.7");
        assert_eq!(
            ClientIp.key_of(&request(Some(mapped))).unwrap(),
            "192.0.2.7"
        );
        assert_eq!(ClientIp.key_of(&request(Some(v6))).unwrap(), "::1");
        assert_eq!(ClientIp.key_of(&request(None)), None);

        let header = HeaderKey::new("x-api-key");
        let with = Request::builder()
            .header("X-Api-Key", "k-1")
            .body(())
            .unwrap();
        assert_eq!(header.key_of(&with).unwrap(), "k-1");
        let binary = Request::builder()
            .header("x-api-key", HeaderValue::from_bytes(b"\xff").unwrap())
            .body(())
            .unwrap();
        assert_eq!(header.key_of(&binary), None);
        assert!(HeaderKey::try_new("bad header").is_err());

        let by_path = |r: &Request<()>| Some(CompactString::from(r.uri().path()));
        let at = Request::builder().uri("/a/b").body(()).unwrap();
        assert_eq!(KeyOf::key_of(&by_path, &at).unwrap(), "/a/b");
    }

    #[test]
    fn each_request_may_name_its_plan() {
        let file: PolicyFile = "[[tiers.free.limit]]\nname = \"second\"\nalgorithm = \"sliding-log\"\nlimit = 1\nwindow = \"1s\"\n\n[[tiers.pro.limit]]\nname = \"second\"\nalgorithm = \"sliding-log\"\nlimit = 3\nwindow = \"1s\"\n".parse().unwrap();
        let layer = RateLimitLayer::with_tier(
            KeyedPolicy::from_file(&file),
            HeaderKey::new("x-api-key"),
            "free",
        )
        .unwrap()
        .tier_by(|headers, _key| {
            headers
                .get("x-plan")
                .and_then(|v| v.to_str().ok())
                .map(CompactString::from)
        });
        let mut service =
            ServiceBuilder::new()
                .layer(layer.clone())
                .service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                });
        let with = |key: &str, plan: Option<&str>| {
            let mut r = Request::builder().header("x-api-key", key);
            if let Some(p) = plan {
                r = r.header("x-plan", p);
            }
            r.body(()).unwrap()
        };
        runtime().block_on(async {
            let statuses = |v: Vec<Response<LimitedBody<Full<Bytes>>>>| -> Vec<u16> {
                v.iter().map(|r| r.status().as_u16()).collect()
            };
            let mut pro = Vec::new();
            for _ in 0..4 {
                pro.push(call(&mut service, with("a", Some("pro"))).await);
            }
            assert_eq!(statuses(pro), [200, 200, 200, 429]);
            // No plan: the default, free, counted apart from the same key's pro requests.
            let mut free = Vec::new();
            for _ in 0..2 {
                free.push(call(&mut service, with("a", None)).await);
            }
            assert_eq!(statuses(free), [200, 429]);
            let gold = call(&mut service, with("a", Some("gold"))).await;
            assert_eq!(gold.status(), StatusCode::BAD_REQUEST);
            let body = gold.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                &body[..],
                br#"{"status":400,"error":"unknown_tier","tier":"gold"}"#
            );
        });
        assert_eq!(layer.stats().denied(0), 1); // free/second
        assert_eq!(layer.stats().denied(1), 1); // pro/second
    }

    #[test]
    fn a_file_of_tiers_needs_one_chosen() {
        let file: PolicyFile = "[[tiers.free.limit]]\nname = \"m\"\nalgorithm = \"gcra\"\nlimit = 1\nwindow = \"1s\"\n\n[[tiers.pro.limit]]\nname = \"m\"\nalgorithm = \"gcra\"\nlimit = 2\nwindow = \"1s\"\n".parse().unwrap();
        let err = RateLimitLayer::new(KeyedPolicy::from_file(&file), ClientIp).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the policy has several tiers (free, pro): choose one"
        );
        let err =
            RateLimitLayer::with_tier(KeyedPolicy::from_file(&file), ClientIp, "gold").unwrap_err();
        assert_eq!(err, LayerError::UnknownTier(String::from("gold")));
        let pro =
            RateLimitLayer::with_tier(KeyedPolicy::from_file(&file), ClientIp, "pro").unwrap();
        assert_eq!(pro.limit_names(), ["free/m", "pro/m"]);
    }

    /// Through Redis (a private redis-server, or a port where none listens).
    #[cfg(feature = "redis")]
    mod through_redis {
        use std::sync::atomic::AtomicUsize;

        use tollgate_testkit::redis::RedisServer;

        use super::*;
        use crate::redis::{OnFailure, RedisPolicy};

        const TWO_A_MINUTE: &str = "[[limit]]\nname = \"minute\"\nalgorithm = \"sliding-log\"\nlimit = 2\nwindow = \"1m\"\n";

        fn limiter(policy: &str, url: &str, on_failure: OnFailure) -> RedisLimiter {
            let file: PolicyFile = policy.parse().unwrap();
            let policy = RedisPolicy::from_file(&file, "mw").unwrap();
            RedisLimiter::new(
                policy,
                url,
                std::time::Duration::from_millis(500),
                on_failure,
            )
            .unwrap()
        }

        /// A service that may be called only after `poll_ready` said so, once per readiness;
        /// clones start unready.
        struct OnlyWhenReady {
            ready: bool,
            calls: Arc<AtomicUsize>,
        }

        impl Clone for OnlyWhenReady {
            fn clone(&self) -> Self {
                Self {
                    ready: false,
                    calls: Arc::clone(&self.calls),
                }
            }
        }

        impl Service<Request<()>> for OnlyWhenReady {
            type Response = Response<Full<Bytes>>;
            type Error = Infallible;
            type Future = std::future::Ready<Result<Self::Response, Infallible>>;

            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                self.ready = true;
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, _: Request<()>) -> Self::Future {
                assert!(self.ready, "called without poll_ready");
                self.ready = false;
                self.calls.fetch_add(1, Ordering::Relaxed);
                std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"hi")))))
            }
        }

        type RedisResponse = Response<LimitedBody<Full<Bytes>, RedisPermit>>;

        async fn call<S>(service: &mut S, req: Request<()>) -> RedisResponse
        where
            S: Service<Request<()>, Response = RedisResponse, Error = Infallible>,
        {
            service.ready().await.unwrap().call(req).await.unwrap()
        }

        async fn text(r: RedisResponse) -> String {
            let bytes = r.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8(bytes.to_vec()).unwrap()
        }

        #[test]
        fn redis_decides_and_the_readied_service_is_the_one_called() {
            let server = RedisServer::start().unwrap();
            let calls = Arc::new(AtomicUsize::new(0));
            runtime().block_on(async {
                let limiter = limiter(TWO_A_MINUTE, &server.url(), OnFailure::Closed);
                let layer = RateLimitLayer::redis(limiter, ClientIp).unwrap();
                let mut service = layer.layer(OnlyWhenReady {
                    ready: false,
                    calls: Arc::clone(&calls),
                });
                let started = unix_secs();
                for remaining in ["1", "0"] {
                    let ok = call(&mut service, request(None)).await;
                    assert_eq!(ok.status(), StatusCode::OK);
                    assert_eq!(ok.headers()["x-ratelimit-remaining"], remaining);
                    let reset: u64 = ok.headers()["x-ratelimit-reset"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    // Epoch seconds: the server's clock, a minute ahead.
                    assert!(
                        (started + 60..=unix_secs() + 61).contains(&reset),
                        "{reset}"
                    );
                    assert!(!ok.body().holds());
                    assert_eq!(text(ok).await, "hi");
                }
                let denied = call(&mut service, request(None)).await;
                assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
                assert!(["59", "60"].contains(&denied.headers()["retry-after"].to_str().unwrap()));
                assert!(text(denied).await.contains(r#""limit_exceeded":"minute""#));
                // A clone readied, then dropped without a call: the inner service is not called.
                let mut other = service.clone();
                let _ = other.ready().await.unwrap();
                drop(other);
            });
            assert_eq!(calls.load(Ordering::Relaxed), 2);
        }

        /// The same `limit_req` through Redis: the delay comes from the script's decision and
        /// the request waits it out before the inner service is called.
        #[test]
        fn a_shapers_delayed_requests_wait_their_turn_through_redis() {
            let server = RedisServer::start().unwrap();
            let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
            let statuses = runtime().block_on(async {
                let limiter = limiter(NGINX, &server.url(), OnFailure::Closed);
                let layer = RateLimitLayer::redis(limiter, ClientIp).unwrap();
                // Connected and the script loaded before the clock starts.
                let mut warm = layer
                    .clone()
                    .layer(tower::service_fn(|_: Request<()>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }));
                let other = Some(SocketAddr::from(([192, 0, 2, 1], 1)));
                assert_eq!(
                    call(&mut warm, request(other)).await.status(),
                    StatusCode::OK
                );
                let started = std::time::Instant::now();
                let service =
                    layer.layer(tower::service_fn(recording(started, Arc::clone(&calls))));
                seven_at_once(service).await
            });
            assert_shaped(&statuses, &calls);
        }

        /// Through Redis too, a request held back by the shaper holds no place in a tower
        /// concurrency limit behind the layer while it waits.
        #[test]
        fn a_held_back_request_holds_nothing_of_the_inner_service_through_redis() {
            let server = RedisServer::start().unwrap();
            runtime().block_on(async {
                let limiter = limiter(NGINX, &server.url(), OnFailure::Closed);
                let service = ServiceBuilder::new()
                    .layer(RateLimitLayer::redis(limiter, ClientIp).unwrap())
                    .concurrency_limit(1)
                    .service_fn(|_: Request<()>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    });
                let waited = the_other_client_waits(service).await;
                // Not the held one's 100 ms: at most its decision's round trip to Redis.
                let most = std::time::Duration::from_millis(60);
                assert!(waited < most, "waited {waited:?}");
            });
        }

        /// A runtime with the timers and sockets the Redis client needs.
        fn runtime() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        }

        fn unix_secs() -> u64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        }

        #[test]
        fn a_dead_redis_is_decided_by_the_failure_policy() {
            // Nothing listens on port 1: every call fails at once.
            let dead = "redis://127.0.0.1:1/";
            let handler = |_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hi"))))
            };
            runtime().block_on(async {
                let open =
                    RateLimitLayer::redis(limiter(TWO_A_MINUTE, dead, OnFailure::Open), ClientIp)
                        .unwrap();
                let mut service = ServiceBuilder::new()
                    .layer(open.clone())
                    .service_fn(handler);
                for _ in 0..3 {
                    let r = call(&mut service, request(None)).await;
                    assert_eq!(r.status(), StatusCode::OK);
                    assert!(r.headers().is_empty(), "{:?}", r.headers());
                }
                assert_eq!(open.stats().store_failures(), 3);

                let closed =
                    RateLimitLayer::redis(limiter(TWO_A_MINUTE, dead, OnFailure::Closed), ClientIp)
                        .unwrap();
                let mut service = ServiceBuilder::new()
                    .layer(closed.clone())
                    .service_fn(handler);
                let r = call(&mut service, request(None)).await;
                assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(r.headers()["retry-after"], "1");
                assert_eq!(r.headers()["content-type"], "application/json");
                assert!(r.headers().get("x-ratelimit-limit").is_none());
                assert_eq!(
                    text(r).await,
                    r#"{"status":503,"error":"rate limit store unavailable"}"#
                );
                assert_eq!(closed.stats().store_failures(), 1);
                assert_eq!(closed.stats().allowed(), 0);

                let file: PolicyFile = ONE_IN_FLIGHT.parse().unwrap();
                let local = KeyedPolicy::from_file(&file);
                let local = RateLimitLayer::redis(
                    limiter(ONE_IN_FLIGHT, dead, OnFailure::Local(local)),
                    ClientIp,
                )
                .unwrap();
                let mut service = ServiceBuilder::new()
                    .layer(local.clone())
                    .service_fn(handler);
                let first = call(&mut service, request(None)).await;
                assert_eq!(first.status(), StatusCode::OK);
                assert_eq!(first.headers()["x-ratelimit-remaining"], "0");
                assert!(first.body().holds());
                assert_eq!(local.keys(), 1);
                let second = call(&mut service, request(None)).await;
                assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
                // The local place is given back when the body ends.
                assert_eq!(text(first).await, "hi");
                let third = call(&mut service, request(None)).await;
                assert_eq!(third.status(), StatusCode::OK);
                assert_eq!(local.stats().allowed(), 2);
                assert_eq!(local.stats().denied(0), 1);
                assert_eq!(local.stats().store_failures(), 3);
            });
        }

        #[test]
        fn a_place_in_redis_is_given_back_when_the_body_ends_or_is_dropped() {
            let server = RedisServer::start().unwrap();
            runtime().block_on(async {
                let limiter = limiter(ONE_IN_FLIGHT, &server.url(), OnFailure::Closed);
                let layer = RateLimitLayer::redis(limiter, ClientIp).unwrap();
                let mut service =
                    ServiceBuilder::new()
                        .layer(layer.clone())
                        .service_fn(|_: Request<()>| async {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hi"))))
                        });
                // Until the release (a task) has reached Redis.
                async fn until_ok<S>(service: &mut S) -> RedisResponse
                where
                    S: Service<Request<()>, Response = RedisResponse, Error = Infallible>,
                {
                    for _ in 0..100 {
                        let r = call(service, request(None)).await;
                        if r.status() == StatusCode::OK {
                            return r;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    panic!("the place was not given back");
                }
                let key = layer.limiter().policy().redis_key(0, "", 0).unwrap();
                let first = call(&mut service, request(None)).await;
                assert_eq!(first.status(), StatusCode::OK);
                assert!(first.body().holds());
                // In flight, in Redis.
                assert_eq!(server.command(&["ZSCORE", &key, "#"]).unwrap(), "-1");
                let second = call(&mut service, request(None)).await;
                assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
                assert!(!second.body().holds());
                assert_eq!(text(first).await, "hi");
                // Read to its end: free again.
                let third = until_ok(&mut service).await;
                // Dropped unread: free again.
                drop(third);
                let fourth = until_ok(&mut service).await;
                drop(fourth);
                // Nothing left in flight once the last release is in: the count is gone.
                for _ in 0..100 {
                    if server.command(&["EXISTS", &key]).unwrap() == "0" {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                assert_eq!(server.command(&["EXISTS", &key]).unwrap(), "0");
            });
        }
    }

    const MINUTE_3: &str =
        "[[limit]]\nname = \"minute\"\nalgorithm = \"sliding-log\"\nlimit = 3\nwindow = \"1m\"\n";

    /// A request with test headers, to a service answering "hi", through `layer`.
    fn answer(
        layer: &RateLimitLayer<ClientIp>,
        headers: &[(&str, &str)],
    ) -> Response<LimitedBody<Full<Bytes>>> {
        let mut service =
            ServiceBuilder::new()
                .layer(layer.clone())
                .service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hi"))))
                });
        let mut r = request(None);
        for (n, v) in headers {
            r.headers_mut().insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        runtime().block_on(call(&mut service, r))
    }

    /// A test header that lowers a limit below one request makes every request impossible:
    /// a 429 naming the limit (a client testing its 429 path), not a 500; counted as forced.
    /// Without test headers honoured the header is ignored.
    #[test]
    fn a_limit_lowered_to_zero_by_a_test_header_is_a_429() {
        let layer = layer(MINUTE_3, ClientIp).honour_test_headers(true);
        let r = answer(&layer, &[("X-RateLimit-Minute", "0")]);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().get(http::header::RETRY_AFTER).is_none());
        let body = runtime()
            .block_on(r.into_body().collect())
            .unwrap()
            .to_bytes();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.contains(r#""limit":"minute""#), "{body}");
        assert!(body.contains(r#""limit_value":0"#), "{body}");
        assert_eq!((layer.stats().forced(), layer.stats().allowed()), (1, 0));
        // Lowered to 1, the request fits: admitted.
        assert_eq!(
            answer(&layer, &[("X-RateLimit-Minute", "1")]).status(),
            StatusCode::OK
        );
        let ignoring = layer.clone().honour_test_headers(false);
        assert_eq!(
            answer(&ignoring, &[("X-RateLimit-Minute", "0")]).status(),
            StatusCode::OK
        );
    }

    /// `X-RateLimit: 1` forces a 429 that no limit made, and `Stats::forced` counts it.
    #[test]
    fn a_forced_429_is_counted_as_forced() {
        let layer = layer(MINUTE_3, ClientIp).honour_test_headers(true);
        assert_eq!(
            answer(&layer, &[("X-RateLimit", "1")]).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(answer(&layer, &[]).status(), StatusCode::OK);
        let stats = layer.stats();
        assert_eq!(
            (stats.forced(), stats.allowed(), stats.denied(0)),
            (1, 1, 0)
        );
    }

    /// nginx's `limit_req rate=10r/s burst=5 delay=2` (the example file).
    const NGINX: &str = include_str!("../examples/policies/nginx-limit-req.toml");

    /// Seven requests at once through a `limit_req` with burst 5, delay 2: three pass at once,
    /// the next three are held back 100, 200 and 300 ms (their handlers run then, not before),
    /// and the seventh, which would wait 400 ms, is refused. `calls` are the instants the
    /// handlers ran, from before the first request.
    fn assert_shaped(statuses: &[StatusCode], calls: &std::sync::Mutex<Vec<std::time::Duration>>) {
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS);
        assert_eq!((ok, refused.count()), (6, 1), "{statuses:?}");
        let mut calls = calls.lock().unwrap().clone();
        calls.sort();
        let ms = std::time::Duration::from_millis;
        for (i, at) in calls.iter().enumerate() {
            // Never before the turn (the GCRA bound); the upper bound only says it was not lost.
            let turn = ms(100 * (i.saturating_sub(2) as u64));
            assert!(
                *at >= turn && *at < turn + ms(1_000),
                "call {i} at {at:?}: {calls:?}"
            );
        }
    }

    /// Seven requests from one address at once, each on its own task: their statuses.
    async fn seven_at_once<S, RB>(service: S) -> Vec<StatusCode>
    where
        S: Service<Request<()>, Response = Response<RB>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..7 {
            let mut service = service.clone();
            set.spawn(async move {
                let ready = service.ready().await.unwrap();
                ready.call(request(None)).await.unwrap().status()
            });
        }
        set.join_all().await
    }

    /// A handler that notes when it runs, from `started`.
    #[allow(clippy::type_complexity, reason = "a test's recording closure")]
    fn recording(
        started: std::time::Instant,
        seen: Arc<std::sync::Mutex<Vec<std::time::Duration>>>,
    ) -> impl Fn(
        Request<()>,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>,
    > + Clone {
        move |_: Request<()>| {
            let seen = Arc::clone(&seen);
            Box::pin(async move {
                seen.lock().unwrap().push(started.elapsed());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hi"))))
            })
        }
    }

    #[test]
    fn a_shapers_delayed_requests_are_held_back_until_their_turn() {
        let file: PolicyFile = NGINX.parse().unwrap();
        let layer = RateLimitLayer::new(KeyedPolicy::from_file(&file), ClientIp).unwrap();
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let started = std::time::Instant::now();
        let service = ServiceBuilder::new()
            .layer(layer)
            .service_fn(recording(started, Arc::clone(&calls)));
        let statuses = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(seven_at_once(service));
        assert_shaped(&statuses, &calls);
    }

    fn nginx_layer() -> RateLimitLayer<ClientIp> {
        let file: PolicyFile = NGINX.parse().unwrap();
        RateLimitLayer::new(KeyedPolicy::from_file(&file), ClientIp).unwrap()
    }

    fn timed_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// A tower `Timeout` of 250 ms behind the layer, handlers of 20 ms: a request the shaper
    /// holds back 300 ms is answered, since the inner service is called (its clock started)
    /// at the request's turn, not when it was decided.
    #[test]
    fn an_inner_timeout_starts_at_the_turn_not_at_the_decision() {
        let service = ServiceBuilder::new()
            .layer(nginx_layer())
            .timeout(std::time::Duration::from_millis(250))
            .service_fn(|_: Request<()>| async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            });
        let out = timed_runtime().block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..6 {
                let mut service = service.clone();
                set.spawn(async move {
                    let ready = service.ready().await.unwrap();
                    let answer = ready.call(request(None)).await;
                    answer.map(|r| r.status()).map_err(|e| e.to_string())
                });
            }
            set.join_all().await
        });
        assert!(out.iter().all(|r| r == &Ok(StatusCode::OK)), "{out:?}");
    }

    /// Through `service` (the nginx example in front of a concurrency limit of 1): three
    /// requests pass, a fourth is held back 100 ms, and meanwhile another client's request is
    /// sent. How long that one waited (both answered 200).
    async fn the_other_client_waits<S, RB>(service: S) -> std::time::Duration
    where
        S: Service<Request<()>, Response = Response<RB>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        RB: Send + 'static,
    {
        let mut first = service.clone();
        for _ in 0..3 {
            let r = first.ready().await.unwrap().call(request(None)).await;
            assert_eq!(r.unwrap().status(), StatusCode::OK);
        }
        let held = tokio::spawn(first.ready().await.unwrap().call(request(None)));
        tokio::task::yield_now().await;
        let other = Some(SocketAddr::from(([192, 0, 2, 9], 1)));
        let started = std::time::Instant::now();
        let mut service = service.clone();
        let answer = service.ready().await.unwrap().call(request(other));
        let r = tokio::time::timeout(std::time::Duration::from_secs(2), answer)
            .await
            .expect("the other client's request waits on the held one's place");
        let waited = started.elapsed();
        assert_eq!(r.unwrap().status(), StatusCode::OK);
        assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::OK);
        waited
    }

    /// A tower concurrency limit of 1 behind the layer: a request held back by the shaper holds
    /// no place in it while it waits, so another client's request goes through at once.
    #[test]
    fn a_held_back_request_holds_nothing_of_the_inner_service() {
        let service = ServiceBuilder::new()
            .layer(nginx_layer())
            .concurrency_limit(1)
            .service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            });
        let waited = timed_runtime().block_on(the_other_client_waits(service));
        let most = std::time::Duration::from_millis(50);
        assert!(waited < most, "waited {waited:?}");
    }

    /// Outside a tokio runtime there is no timer to hold a request back on: a delayed request
    /// is a 500 saying so, not a panic; the undelayed ones pass.
    #[test]
    fn a_delayed_request_outside_a_runtime_is_a_500_not_a_panic() {
        let mut service =
            ServiceBuilder::new()
                .layer(nginx_layer())
                .service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                });
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut statuses = Vec::new();
        for _ in 0..4 {
            assert!(service.poll_ready(&mut cx).is_ready());
            let mut answer = std::pin::pin!(service.call(request(None)));
            match answer.as_mut().poll(&mut cx) {
                Poll::Ready(r) => statuses.push(r.unwrap().status()),
                Poll::Pending => panic!("pending outside a runtime"),
            }
        }
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::INTERNAL_SERVER_ERROR
            ]
        );
    }
}
