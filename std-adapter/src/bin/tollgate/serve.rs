//! `tollgate serve`: a small demo API behind the rate-limit middleware, to watch headers and 429s
//! with curl; its policy kept in memory, or in Redis for several servers to share (`--redis`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use compact_str::CompactString;
use http_body::Frame;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tollgate_core::LimitValues;
use tollgate_std::middleware::{ClientIp, Denial, HeaderKey, KeyOf, RateLimitLayer, Reset, Stats};
use tollgate_std::redis::{OnFailure, RedisLimiter, RedisPolicy};
use tollgate_std::{KeyedPolicy, PolicyFile};

/// `tollgate serve`'s options.
#[derive(clap::Args)]
pub struct Serve {
    /// The policy file.
    #[arg(long)]
    policy: PathBuf,
    /// Where to listen (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The key requests are counted under: "ip" (the client's address) or "header:NAME".
    #[arg(long, default_value = "ip", value_parser = parse_key)]
    key: KeySpec,
    /// The tier (plan) whose limits apply, for a file of tiers (with --tier-header: the tier of
    /// requests that name none).
    #[arg(long)]
    tier: Option<String>,
    /// A request header naming the request's tier (X-Plan: pro); a tier the file does not have
    /// is answered with 400. The header is the client's word: use it only behind a gateway that
    /// sets it (a client could name the most generous plan).
    #[arg(long, value_parser = parse_header_name)]
    tier_header: Option<String>,
    /// One X-RateLimit value for the binding limit, or one per limit, comma-separated.
    #[arg(long, value_enum, default_value_t = Values::Single)]
    values: Values,
    /// How X-RateLimit-Reset is written.
    #[arg(long, value_enum, default_value_t = ResetArg::EpochSeconds)]
    reset: ResetArg,
    /// The status of a denial: 429 with a JSON body naming the limit, or 403 with an SMS
    /// carrier's coded body.
    #[arg(long, value_enum, default_value_t = DenyStatus::TooMany)]
    deny_status: DenyStatus,
    /// The most keys held at once; a new key beyond them is refused with 503 and Retry-After
    /// (until an idle key is dropped), so a flood of new keys or addresses cannot exhaust
    /// memory.
    #[arg(long, default_value_t = 1_000_000)]
    max_keys: usize,
    /// Let requests' test headers force a 429 (X-RateLimit: 1) or lower a limit
    /// (X-RateLimit-NAME: N, NAME a limit's name). Never raises one.
    #[arg(long)]
    test_headers: bool,
    /// Keep the policy's states in this Redis server (redis://HOST:PORT), shared by every
    /// `tollgate serve` pointed at it: the fleet admits the policy once, not once per server.
    /// Decided at the Redis server's clock, one round-trip per request.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// --redis names a node of a Redis Cluster (or several, comma-separated): the others are
    /// found from it, and each request goes to the node serving its key.
    #[arg(long, requires = "redis")]
    redis_cluster: bool,
    /// How long a request waits for Redis before the failure policy decides it.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "250ms",
        value_parser = parse_timeout,
        requires = "redis"
    )]
    redis_timeout: Duration,
    /// What happens to a request when Redis is down, slow or failing: "local" decides it with
    /// the same policy in this server's memory (each server then enforces the policy on its own,
    /// so the fleet admits up to once per server, until Redis answers again); "open" lets it
    /// through, unlimited; "closed" refuses it with 503 and Retry-After: 1. The default, local,
    /// keeps the service up and every client limited, by each server.
    #[arg(
        long,
        value_enum,
        value_name = "open|closed|local",
        default_value_t = FailureArg::Local,
        requires = "redis"
    )]
    on_redis_failure: FailureArg,
    /// The prefix of the keys in Redis (namespace:{key}:tier:limit), to keep several policies
    /// apart on one server. No braces.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "tollgate",
        requires = "redis"
    )]
    redis_namespace: String,
    /// How long a place in a concurrency limit is kept in Redis without its release (the
    /// release of a server that died never comes): longer than the longest request, streamed
    /// responses included.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_lease,
        requires = "redis"
    )]
    redis_lease: tollgate_std::Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FailureArg {
    Local,
    Open,
    Closed,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = tollgate_std::config::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    if d.as_ticks() == 0 {
        return Err(format!("{s:?}: a timeout of zero would fail every request"));
    }
    Ok(Duration::from_nanos(d.as_ticks()))
}

fn parse_lease(s: &str) -> Result<tollgate_std::Duration, String> {
    let d = tollgate_std::config::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    if d.as_millis() == 0 {
        return Err(format!(
            "{s:?}: a lease under a millisecond ends before any request"
        ));
    }
    Ok(d)
}

#[derive(Clone, Debug)]
enum KeySpec {
    Ip,
    Header(String),
}

fn parse_header_name(s: &str) -> Result<String, String> {
    HeaderKey::try_new(s)
        .map(|_| s.to_ascii_lowercase())
        .map_err(|_| format!("{s:?} is not a header name"))
}

fn parse_key(s: &str) -> Result<KeySpec, String> {
    match s.split_once(':') {
        None if s == "ip" => Ok(KeySpec::Ip),
        Some(("header", name)) if HeaderKey::try_new(name).is_ok() => {
            Ok(KeySpec::Header(name.to_string()))
        }
        _ => Err(format!(
            "{s:?}: expected \"ip\" or \"header:NAME\" with a valid header name"
        )),
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Values {
    Single,
    PerLimit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DenyStatus {
    #[value(name = "429")]
    TooMany,
    #[value(name = "403")]
    Forbidden,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ResetArg {
    EpochSeconds,
    EpochMillis,
    Delta,
}

/// The key of a request, as the command line chose it.
enum Key {
    Ip(ClientIp),
    Header(HeaderKey),
}

impl<B> KeyOf<B> for Key {
    fn key_of(&self, request: &axum::http::Request<B>) -> Option<CompactString> {
        match self {
            Self::Ip(k) => k.key_of(request),
            Self::Header(k) => k.key_of(request),
        }
    }
}

pub fn serve(args: &Serve) -> Result<(), String> {
    let file = PolicyFile::load(&args.policy).map_err(|e| e.to_string())?;
    let policy = KeyedPolicy::<CompactString>::from_file(&file)
        .with_max_keys(args.max_keys, tollgate_core::Overflow::Deny);
    let key = match &args.key {
        KeySpec::Ip => Key::Ip(ClientIp),
        KeySpec::Header(name) => Key::Header(HeaderKey::try_new(name).map_err(|e| e.to_string())?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let Some(url) = &args.redis else {
        let layer = match &args.tier {
            Some(tier) => RateLimitLayer::with_tier(policy, key, tier),
            None => RateLimitLayer::new(policy, key),
        }
        .map_err(|e| format!("{}: {e}", args.policy.display()))?
        .honour_test_headers(args.test_headers);
        let layer = configure(layer, args);
        let metrics = metrics_of(&layer, RateLimitLayer::<Key>::keys);
        return runtime.block_on(run(args.listen, api().layer(layer), metrics));
    };

    if args.redis_namespace.contains(['{', '}']) {
        return Err(format!(
            "--redis-namespace {:?}: no braces in a namespace",
            args.redis_namespace
        ));
    }
    let redis_policy = RedisPolicy::from_file(&file, &args.redis_namespace)
        .map_err(|e| format!("{}: {e}", args.policy.display()))?
        .with_lease(args.redis_lease);
    let on_failure = match args.on_redis_failure {
        FailureArg::Local => OnFailure::Local(policy),
        FailureArg::Open => OnFailure::Open,
        FailureArg::Closed => OnFailure::Closed,
    };
    // The connection is made in the runtime (lazily: a Redis down at start is tried again at
    // every request).
    let _runtime = runtime.enter();
    let limiter = if args.redis_cluster {
        let nodes: Vec<&str> = url.split(',').collect();
        RedisLimiter::cluster(redis_policy, &nodes, args.redis_timeout, on_failure)
    } else {
        RedisLimiter::new(redis_policy, url, args.redis_timeout, on_failure)
    }
    .map_err(|e| format!("--redis {url:?}: {e}"))?;
    let layer = match &args.tier {
        Some(tier) => RateLimitLayer::redis_with_tier(limiter, key, tier),
        None => RateLimitLayer::redis(limiter, key),
    }
    .map_err(|e| format!("{}: {e}", args.policy.display()))?
    .honour_test_headers(args.test_headers);
    let layer = configure(layer, args);
    let metrics = metrics_of(&layer, RateLimitLayer::<Key, RedisLimiter>::keys);
    runtime.block_on(run(args.listen, api().layer(layer), metrics))
}

/// The `/metrics` page of `layer`, whose keys in memory `keys` counts.
fn metrics_of<D: Send + Sync + 'static>(
    layer: &RateLimitLayer<Key, D>,
    keys: fn(&RateLimitLayer<Key, D>) -> usize,
) -> impl Fn() -> Response + Clone + Send + Sync + 'static {
    let layer = layer.clone();
    move || metrics(layer.stats(), layer.limit_names(), keys(&layer))
}

/// The options both stores share: the headers, the denial, the tier of each request.
fn configure<D>(layer: RateLimitLayer<Key, D>, args: &Serve) -> RateLimitLayer<Key, D> {
    let layer = layer
        .values(match args.values {
            Values::Single => LimitValues::Single,
            Values::PerLimit => LimitValues::PerLimit,
        })
        .reset(match args.reset {
            ResetArg::EpochSeconds => Reset::EpochSeconds,
            ResetArg::EpochMillis => Reset::EpochMillis,
            ResetArg::Delta => Reset::DeltaSeconds,
        })
        .denial(if args.deny_status == DenyStatus::Forbidden {
            Denial::Carrier
        } else {
            Denial::TooManyRequests
        });
    match args.tier_header.clone() {
        Some(name) => layer.tier_by(move |headers, _key| {
            headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(CompactString::from)
        }),
        None => layer,
    }
}

/// The limited routes: any path under /api.
fn api() -> Router {
    Router::new()
        .route("/api", get(api_handler).post(api_handler))
        .route("/api/{*path}", get(api_handler).post(api_handler))
}

async fn run(
    listen: SocketAddr,
    api: Router,
    metrics: impl Fn() -> Response + Clone + Send + Sync + 'static,
) -> Result<(), String> {
    // Outermost: the peer's address where the key extractor looks for it.
    let api = api.layer(middleware::from_fn(peer_address));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics() }
            }),
        )
        .merge(api);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!("listening on http://{bound}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .map_err(|e| format!("the server failed: {e}"))?;
    println!("shut down");
    Ok(())
}

/// Resolves at SIGINT or SIGTERM: the server stops accepting, finishes what it serves, exits.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Copies axum's connection info into a plain `SocketAddr` extension, where
/// [`ClientIp`] reads it.
async fn peer_address(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        request.extensions_mut().insert(addr);
    }
    next.run(request).await
}

/// `?ms=N` delays the answer; `?chunks=N` (with `ms`) sends the body in N pieces, `ms` apart;
/// a minute at most in all.
#[derive(serde::Deserialize)]
struct Shape {
    ms: Option<u64>,
    chunks: Option<u32>,
}

async fn api_handler(Query(shape): Query<Shape>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    // At most a minute in all, however the pause and the pieces are asked for.
    let chunks = shape.chunks.map(|c| c.clamp(1, 1_000));
    let total_ms = shape
        .ms
        .unwrap_or(0)
        .saturating_mul(u64::from(chunks.unwrap_or(1)))
        .min(60_000);
    let pause = Duration::from_millis(total_ms / u64::from(chunks.unwrap_or(1)));
    if let Some(chunks) = chunks {
        let body = Body::new(Drip {
            left: chunks,
            pause,
            sleep: Box::pin(tokio::time::sleep(pause)),
        });
        return (
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            body,
        )
            .into_response();
    }
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    let body = format!(
        "{{\"ok\":true,\"path\":{}}}\n",
        tollgate_core::JsonStr(&path)
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A body of `left` lines, each after a pause: a slow response to hold a concurrency place.
struct Drip {
    left: u32,
    pause: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Drip {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        std::task::ready!(self.sleep.as_mut().poll(cx));
        self.left -= 1;
        let pause = self.pause;
        self.sleep
            .as_mut()
            .reset(tokio::time::Instant::now() + pause);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"tick\n")))))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

/// Prometheus text: decisions allowed and denied (per limit), keys tracked, store errors.
fn metrics(stats: &Stats, limit_names: &[String], keys: usize) -> Response {
    let mut registry = Registry::with_prefix("tollgate");
    let decisions = Family::<OutcomeLabel, Counter>::default();
    decisions
        .get_or_create(&OutcomeLabel {
            outcome: String::from("allowed"),
        })
        .inc_by(stats.allowed());
    let denied_total: u64 = (0..limit_names.len()).map(|i| stats.denied(i)).sum();
    decisions
        .get_or_create(&OutcomeLabel {
            outcome: String::from("denied"),
        })
        .inc_by(denied_total);
    registry.register("decisions", "Requests decided, by outcome", decisions);
    let denied = Family::<LimitLabel, Counter>::default();
    for (i, name) in limit_names.iter().enumerate() {
        denied
            .get_or_create(&LimitLabel {
                limit: name.clone(),
            })
            .inc_by(stats.denied(i));
    }
    registry.register(
        "denied",
        "Requests denied, by the limit that denied them",
        denied,
    );
    let held = Gauge::<i64>::default();
    held.set(i64::try_from(keys).unwrap_or(i64::MAX));
    registry.register("keys", "Keys whose state is held in memory", held);
    let errors = Counter::<u64>::default();
    errors.inc_by(stats.full() + stats.store_failures());
    registry.register(
        "store_errors",
        "Requests the store could not decide: no room for a new key in memory, or Redis \
         unreachable, slow or failing (then decided by --on-redis-failure)",
        errors,
    );
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}
