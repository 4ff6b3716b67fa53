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
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::{Config, SuArgs};
pub use error::SuError;
pub use service::Su;

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "su";

/// Longest a graceful shutdown waits for requests in flight: every write answers within
/// milliseconds, so anything still open after this is a stuck client, not lost work.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

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
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

impl RunningSu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop gracefully: refuse new writes, end live tails, let requests in flight finish (for at
    /// most [`SHUTDOWN_GRACE`]), stop the background tasks. Pending uploads stay in the outbox for
    /// the next start.
    pub async fn shutdown(self) {
        self.su.begin_stop();
        let _ = self.stop.send(true);
        for s in self.servers {
            let abort = s.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, s).await.is_err() {
                tracing::warn!("a server did not stop within {SHUTDOWN_GRACE:?}; aborting it");
                abort.abort();
            }
        }
        for b in self.background {
            b.abort();
            let _ = b.await;
        }
        self.su.store().close().await;
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

    let http = TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.http_addr,
            source,
        })?;
    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
    let http_addr = http.local_addr().map_err(|source| StartError::Bind {
        addr: config.http_addr,
        source,
    })?;
    let grpc_addr = grpc.local_addr().map_err(|source| StartError::Bind {
        addr: config.grpc_addr,
        source,
    })?;

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
        height.spawn_refresher(config.gateway.clone(), config.height_refresh),
    ];

    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let app = http::router(su.clone());
    let mut limits = config.http_limits.clone();
    limits.max_body = config.max_item_size;
    let http_task = tokio::spawn(ao_runtime::http::serve(
        http,
        app,
        limits,
        wait(stopped.clone()),
    ));
    let grpc_service = grpc::service(su.clone());
    let grpc_task = tokio::spawn(async move {
        let incoming = ao_runtime::grpc_incoming(grpc);
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(grpc_service)
            .serve_with_incoming_shutdown(incoming, wait(stopped))
            .await
        {
            tracing::error!("gRPC server failed: {e}");
        }
    });
    tracing::info!(%http_addr, %grpc_addr, %address, %url, "SU serving");
    Ok(RunningSu {
        http_addr,
        grpc_addr,
        address,
        su,
        stop,
        servers: vec![http_task, grpc_task],
        background,
    })
}
