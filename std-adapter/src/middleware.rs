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
//!   for one request) only when asked for ([`RateLimitLayer::honour_test_headers`]).
//!
//! Every decision is [`KeyedPolicy`]'s, so the layer decides exactly as the core does per key.
//! Keys come from untrusted requests: bound them ([`KeyedPolicy::with_max_keys`]), and a flood
//! of new keys is refused with 503 and `Retry-After` rather than exhausting memory.
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
    Clock, CodedError, Detail, HeaderConfig, HeaderSink, LimitValues, RateSentence, ResetFormat,
    TestHeaders, TooManyRequests, XRateLimit,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::StdClock;
use crate::keyed::{KeyPermit, KeyedError, TierId};
use crate::policy::Decided;
use crate::{HZ, Instant, KeyedPolicy};

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
}

impl Stats {
    /// Requests admitted.
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }

    /// Requests denied by the limit at `index` of [`RateLimitLayer::limit_names`].
    pub fn denied(&self, index: usize) -> u64 {
        self.denied
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Requests a test header (`X-RateLimit: 1`) forced to a 429: denied by no limit.
    pub fn forced(&self) -> u64 {
        self.forced.load(Ordering::Relaxed)
    }

    /// Requests refused because the key table was full.
    pub fn full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
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

/// What every clone of a layer shares: the policy and its states, the key, the counts.
struct Shared<K> {
    policy: KeyedPolicy<CompactString>,
    /// Every limit of every tier, `tier/name` where there are several tiers.
    names: Vec<String>,
    /// The first index in `names` of each tier's limits.
    offsets: Vec<usize>,
    key: K,
    stats: Stats,
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

/// The tower layer: see the [module docs](self). Cheap to clone: clones share the policy, its
/// states and the counts, and each can be configured on its own.
pub struct RateLimitLayer<K> {
    shared: Arc<Shared<K>>,
    options: Options,
}

impl<K> Clone for RateLimitLayer<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            options: self.options.clone(),
        }
    }
}

impl<K> core::fmt::Debug for RateLimitLayer<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("tier", &self.options.tier)
            .field("limits", &self.shared.names)
            .finish_non_exhaustive()
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
        let tiers = policy.tier_names();
        if tiers.len() != 1 {
            return Err(LayerError::NoTier(
                tiers.iter().map(ToString::to_string).collect(),
            ));
        }
        let first = tiers[0].to_string();
        Self::with_tier(policy, key, &first)
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
        let id = policy
            .tier(tier)
            .ok_or_else(|| LayerError::UnknownTier(tier.to_string()))?;
        let tier_names: Vec<String> = policy
            .tier_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut names = Vec::new();
        let mut offsets = Vec::new();
        for (i, t) in tier_names.iter().enumerate() {
            offsets.push(names.len());
            for l in policy.limits(i).unwrap_or(&[]) {
                names.push(if tier_names.len() > 1 {
                    format!("{t}/{}", l.name())
                } else {
                    l.name().to_string()
                });
            }
        }
        let stats = Stats {
            denied: names.iter().map(|_| AtomicU64::new(0)).collect(),
            ..Stats::default()
        };
        Ok(Self {
            shared: Arc::new(Shared {
                policy,
                names,
                offsets,
                key,
                stats,
            }),
            options: Options {
                tier: id,
                tier_of: None,
                values: LimitValues::Single,
                reset: Reset::EpochSeconds,
                denial: Denial::TooManyRequests,
                test_headers: false,
            },
        })
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

    /// Whether requests' test headers may force a 429 or lower a limit (never raise one).
    #[must_use]
    pub fn honour_test_headers(self, on: bool) -> Self {
        self.edit(|s| s.test_headers = on)
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

    /// The keys the policy holds now.
    pub fn keys(&self) -> usize {
        self.shared.policy.len()
    }
}

impl<S, K> Layer<S> for RateLimitLayer<K> {
    type Service = RateLimit<S, K>;

    fn layer(&self, inner: S) -> RateLimit<S, K> {
        RateLimit {
            inner,
            shared: Arc::clone(&self.shared),
            options: self.options.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around another.
pub struct RateLimit<S, K> {
    inner: S,
    shared: Arc<Shared<K>>,
    options: Options,
}

impl<S: Clone, K> Clone for RateLimit<S, K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            options: self.options.clone(),
        }
    }
}

impl<S, K> core::fmt::Debug for RateLimit<S, K> {
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

impl<K> Shared<K> {
    /// The headers of decision `d` made at `now`.
    fn headers(&self, o: &Options, d: &Decided<'_>, now: Instant) -> HeaderMap {
        let wall = self.policy.clock().wall();
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

    /// The response to a denied request.
    fn denial<B>(
        o: &Options,
        d: &Decided<'_>,
        now: Instant,
        headers: HeaderMap,
    ) -> Response<LimitedBody<B>> {
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
        let mut response = Response::new(LimitedBody::full(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl<S, K, B, RB> Service<Request<B>> for RateLimit<S, K>
where
    S: Service<Request<B>, Response = Response<RB>>,
    K: KeyOf<B>,
    RB: Body<Data = Bytes>,
{
    type Response = Response<LimitedBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, RB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let key = shared.key.key_of(&request).unwrap_or_default();
        let now = shared.policy.clock().now();
        let options = &self.options;
        let tier = match &options.tier_of {
            None => Ok(options.tier),
            Some(f) => match f(request.headers(), &key) {
                None => Ok(options.tier),
                Some(name) => shared.policy.tier(&name).ok_or(name),
            },
        };
        let tier = match tier {
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
            match shared
                .policy
                .check_at(tier, key.as_str(), now, 1, &tests.overrides())
            {
                Ok((d, permit)) => {
                    let headers = shared.headers(options, &d, now);
                    if d.is_allowed() {
                        shared.stats.allowed.fetch_add(1, Ordering::Relaxed);
                        Ok((headers, permit))
                    } else {
                        if let Some(i) = d.denied_index()
                            && let Some(c) = shared.stats.denied.get(shared.offsets[tier] + i)
                        {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Shared::<K>::denial(options, &d, now, headers))
                    }
                }
                Err(e) => Err(unavailable(shared, &e)),
            }
        };
        match decided {
            Ok((headers, permit)) => {
                ResponseFuture::inner(self.inner.call(request), headers, permit)
            }
            Err(response) => ResponseFuture::ready(response),
        }
    }
}

/// A request naming a tier the policy does not have.
fn unknown_tier<B>(name: &str) -> Response<LimitedBody<B>> {
    let body = format!(
        r#"{{"status":400,"error":"unknown_tier","tier":{}}}"#,
        tollgate_core::JsonStr(name)
    );
    let mut response = Response::new(LimitedBody::full(body));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A request the policy could not decide: a full key table (503 with `Retry-After` when room
/// frees up), or a limit no single request fits (500: the policy is misconfigured).
fn unavailable<K, B>(shared: &Shared<K>, e: &KeyedError) -> Response<LimitedBody<B>> {
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
    let mut response = Response::new(LimitedBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = retry {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

pin_project_lite::pin_project! {
    /// The future of a [`RateLimit`] call.
    pub struct ResponseFuture<F, RB> {
        #[pin]
        state: FutureState<F, RB>,
    }
}

pin_project_lite::pin_project! {
    #[project = FutureProj]
    enum FutureState<F, RB> {
        // Admitted: the inner service's response, to which the headers and the permit go.
        Inner {
            #[pin]
            future: F,
            headers: Option<HeaderMap>,
            permit: Option<KeyPermit<CompactString, StdClock>>,
        },
        // Denied or refused: the response is ready.
        Ready {
            response: Option<Response<LimitedBody<RB>>>,
        },
    }
}

impl<F, RB> ResponseFuture<F, RB> {
    const fn inner(
        future: F,
        headers: HeaderMap,
        permit: KeyPermit<CompactString, StdClock>,
    ) -> Self {
        Self {
            state: FutureState::Inner {
                future,
                headers: Some(headers),
                permit: Some(permit),
            },
        }
    }

    const fn ready(response: Response<LimitedBody<RB>>) -> Self {
        Self {
            state: FutureState::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, RB> core::fmt::Debug for ResponseFuture<F, RB> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F, RB>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<LimitedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
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
                Poll::Ready(Ok(Response::from_parts(parts, body)))
            }
            FutureProj::Ready { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled again after it finished: nothing more to give.
                None => Poll::Pending,
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds the request's concurrency permit until the body has been
    /// sent (its last frame polled) or dropped (the connection went away).
    pub struct LimitedBody<B> {
        #[pin]
        state: BodyState<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = BodyProj]
    enum BodyState<B> {
        // The inner service's body and the request's place in its concurrency limits.
        Inner {
            #[pin]
            body: B,
            permit: Option<KeyPermit<CompactString, StdClock>>,
        },
        // A body the layer wrote (a denial).
        Full {
            data: Option<Bytes>,
        },
    }
}

impl<B> LimitedBody<B> {
    fn full(text: String) -> Self {
        Self {
            state: BodyState::Full {
                data: Some(Bytes::from(text)),
            },
        }
    }

    /// Whether the body still holds a place in a concurrency limit.
    pub fn holds(&self) -> bool {
        matches!(&self.state, BodyState::Inner { permit: Some(p), .. } if p.holds())
    }
}

impl<B: Body<Data = Bytes>> Body for LimitedBody<B> {
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
}
