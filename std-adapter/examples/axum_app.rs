//! An axum service behind a seed's policy in a few lines: seed 001's plans from its TOML file,
//! keyed by API key, each key's plan looked up on the server (never taken from the client).
//!
//! ```sh
//! cargo run -p tollgate-std --features cli --example axum_app
//! curl -i -H 'X-Api-Key: key-free' localhost:3000/orders     # 30 a minute
//! curl -i -H 'X-Api-Key: key-agency' localhost:3000/orders   # 2,000 a minute
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use compact_str::CompactString;
use tollgate_std::middleware::{HeaderKey, RateLimitLayer};
use tollgate_std::{KeyedPolicy, PolicyFile};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = PolicyFile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/policies/001-plan-tiers.toml"
    ))?;
    // Which plan each API key pays for (a database, in a real service).
    let plans: Arc<HashMap<&str, &str>> = Arc::new(HashMap::from([
        ("key-free", "free"),
        ("key-agency", "agency"),
    ]));
    let layer = RateLimitLayer::with_tier(
        KeyedPolicy::from_file(&file).with_max_keys(100_000, tollgate_core::Overflow::Deny),
        HeaderKey::new("X-Api-Key"),
        "free",
    )?
    .tier_by(move |_headers, key| plans.get(key).map(|plan| CompactString::from(*plan)));

    let app = Router::new()
        .route("/orders", get(|| async { "[]\n" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
