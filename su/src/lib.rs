//! `ao-su`: the Scheduler Unit. It decides the order of every process's history: once it answers,
//! a message is durable, has its slot, and will reach Arweave; no gaps, no duplicates, no
//! reordering, whatever happens.
//!
//! Modules, in the order a write flows through them:
//! - `http.rs` / `grpc.rs`: the AO HTTP API (spec 2.2) and the `ao.scheduler.v1` gRPC service,
//!   both thin facades over `service.rs`.
//! - `service.rs`: [`Su`], the operations once: classify and route a write, plan a page read,
//!   follow a live tail.
//! - `schedule.rs`: the rules as pure functions: what an item is, the next slot (nonce, strictly
//!   increasing timestamp, hash chain), the dedupe hash.
//! - `route.rs`: Scheduler-Location publishing and lookups for 307 redirects to other SUs.
//! - `writer.rs`: per-process locks and the tip cache; queues each entry to the committer.
//! - `store.rs`: RocksDB layout, reads, and the committer thread (group commit, synced WAL).
//! - `tail.rs`: per-process broadcast of durable entries, for `Subscribe`.
//! - `upload.rs`: the durable outbox to the bundler, retried until delivered.
//! - `height.rs`: the cached Arweave block height. `metrics.rs`: `/metrics`. `json.rs`: the AO
//!   JSON shapes. `config.rs`: flags and [`Config`]. `error.rs`: [`SuError`] and its statuses.
//!
//! Data flow of `POST /`: http -> service (verify, route) -> writer (lock process, slot, sign)
//! -> store committer (one synced batch for many writers) -> tail + upload outbox -> answer.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod grpc;
pub mod height;
pub mod http;
pub mod json;
pub mod metrics;
pub mod route;
pub mod schedule;
pub mod service;
pub mod store;
pub mod tail;
pub mod upload;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use ao_core::Signer;
use ao_runtime::servers::{Servers, bind};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::{Config, SuArgs};
pub use error::SuError;
pub use service::Su;

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "su";

/// A running SU: its bound addresses, and the handle that stops it.
pub struct RunningSu {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The SU's wallet address (what processes put in `Scheduler`).
    pub address: String,
    /// The shared state, for in-process callers (tests, the devnet).
    pub su: Arc<Su>,
    servers: Servers,
    background: Vec<JoinHandle<()>>,
    grace: std::time::Duration,
}

impl RunningSu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop gracefully within `--shutdown-grace`: not ready at once, refuse new writes, end live
    /// tails, let requests in flight finish, stop the background tasks, then close the store (its
    /// committer syncs what is queued: the group commit in progress). Pending uploads stay in the
    /// durable outbox for the next start.
    pub async fn shutdown(self) {
        let deadlines = ao_runtime::shutdown::Deadlines::starting_now(self.grace);
        self.servers.health().begin_drain();
        self.su.end_live_tails();
        self.servers.stop(deadlines.serving).await;
        self.su.begin_stop();
        for b in self.background {
            b.abort();
            let _ = b.await;
        }
        let close = self.su.store().close();
        if tokio::time::timeout_at(deadlines.end.into(), close)
            .await
            .is_err()
        {
            tracing::warn!("the store did not close within the shutdown grace");
        }
    }
}

/// Why the SU could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] SuError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Start an SU: open the store, start the committer, uploader and height refresher, publish the
/// Scheduler-Location, and serve HTTP and gRPC. Returns once both listeners are bound.
pub async fn serve(config: Config) -> Result<RunningSu, StartError> {
    let address = config.wallet.address();
    let wallet: Arc<dyn Signer> = Arc::new(config.wallet);
    let tail = Arc::new(tail::Tail::new(config.subscriber_stall));
    let uploads_ready = Arc::new(Notify::new());
    let publish = tail.clone();
    let store = Arc::new(store::Store::open(
        &config.data_dir,
        Box::new(move |e| publish.publish(&e.process_id, &e.entry)),
        uploads_ready.clone(),
    )?);
    let metrics = Arc::new(metrics::Metrics::default());
    let height = Arc::new(height::BlockHeight::default());
    // One attempt before serving, so a healthy gateway means writable from the first request;
    // otherwise writes answer 503 until the refresher gets through.
    height.refresh(config.gateway.as_ref()).await;

    let bind_error = |e: ao_runtime::servers::BindError| StartError::Bind {
        addr: e.addr,
        source: e.source,
    };
    let (http, http_addr) = bind(config.http_addr).await.map_err(bind_error)?;
    let (grpc, grpc_addr) = bind(config.grpc_addr).await.map_err(bind_error)?;

    let su = Arc::new(Su::new(service::Parts {
        store: store.clone(),
        writer: writer::Writer::new(store.clone(), wallet.clone(), config.process_assignment),
        router: route::Router::new(config.gateway.clone(), address.clone()),
        height: height.clone(),
        gateway: config.gateway.clone(),
        tail,
        address: address.clone(),
        max_item_size: config.max_item_size,
        metrics: metrics.clone(),
    }));

    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"));
    let grpc_url = config
        .public_grpc_url
        .clone()
        .unwrap_or_else(|| format!("http://{grpc_addr}"));
    let location = route::location_item(&url, &grpc_url, config.location_ttl_ms, wallet.as_ref())?;
    store.enqueue_uploads(vec![location]).await?;

    let background = vec![
        upload::spawn_uploader(
            store.clone(),
            config.bundler.clone(),
            uploads_ready,
            metrics,
        ),
        height
            .clone()
            .spawn_refresher(config.gateway.clone(), config.height_refresh),
    ];

    let health = ao_runtime::health::Health::new();
    // Writes answer 503 until the SU knows a block height (it stamps every assignment with one),
    // so it is not ready until then.
    let known = height.clone();
    health.add_check("block height", move || match known.get() {
        Some(_) => Ok(()),
        None => Err("not known yet (the gateway has not answered)".into()),
    });
    let mut servers = Servers::new(health, su.metrics().server.clone());
    let mut limits = config.http_limits.clone();
    limits.max_body = config.max_item_size;
    servers.http("http", http, http::router(su.clone()), limits, false);
    let router = ao_runtime::servers::grpc_server(&su.metrics().server)
        .add_service(grpc::service(su.clone()));
    servers
        .grpc("grpc", grpc, router, &[grpc::SERVICE_NAME])
        .await;
    tracing::info!(%http_addr, %grpc_addr, %address, %url, "SU serving");
    Ok(RunningSu {
        http_addr,
        grpc_addr,
        address,
        su,
        servers,
        background,
        grace: config.shutdown_grace,
    })
}
