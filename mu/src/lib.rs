//! ao-rs MU: the Messenger Unit. It takes signed messages and spawns from users, hands each to
//! its process's SU, then reads the result from the CU and pushes the outbox on, until the chain
//! of work a message caused is done.
//!
//! How data moves through the modules:
//!
//! ```text
//!  http.rs / grpc.rs      the AO HTTP API (aoconnect) and the Messenger gRPC service
//!        |
//!  ingress.rs             verify the item (signature, Data-Protocol, Type), per-wallet limit
//!        |
//!  queue.rs               a durable Task per piece of work: Sign -> Schedule -> PullResult
//!    |      \                 (store.rs: RocksDB; a result's children written with its completion)
//!    |       crank.rs     the pure rules: which work a result causes, the exact tags of each item
//!  locate.rs              process -> Scheduler tag -> Scheduler-Location (gateway) -> SU client
//!  units.rs               SU (gRPC, or the HTTP API of other SUs) and CU (gRPC) clients
//!  monitor.rs             cron monitors: new cron results queued every tick
//!  limits.rs              per-IP rate limit, body size, request deadline: tower layers
//!  trace.rs               the tree of work an item caused, from the tasks
//!  retention.rs           finished tasks deleted past `--task-retention`, then compacted
//! ```
//!
//! A user's item is acknowledged (202) only after its task is stored and its SU accepted it;
//! everything after that is retried from the store until done or dead-lettered.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod crank;
pub mod grpc;
pub mod http;
pub mod ingress;
pub mod limits;
pub mod locate;
pub mod metrics;
pub mod monitor;
pub mod queue;
pub mod retention;
pub mod store;
pub mod trace;
pub mod units;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError, MuArgs};
pub use queue::Mu;

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "mu";

/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the MU could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or store.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The data directory cannot be created.
    #[error("cannot create {0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    /// A listener.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// A client.
    #[error("{0}")]
    Client(String),
}

/// A running MU.
pub struct RunningMu {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// Bound admin address (dead letters, re-push; not the public API).
    pub admin_addr: SocketAddr,
    /// The MU's wallet address (list it as `Authority` on processes that should trust pushes).
    pub address: String,
    /// The messenger, for in-process callers.
    pub mu: Arc<Mu>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

impl RunningMu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop: finish requests in flight; queued work stays in the store for the next start.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for s in self.servers {
            let abort = s.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, s).await.is_err() {
                abort.abort();
            }
        }
        for b in self.background {
            b.abort();
            let _ = b.await;
        }
    }
}

/// Start an MU: open the store, resume unfinished work, serve HTTP and gRPC, tick the monitors.
pub async fn serve(config: Config) -> Result<RunningMu, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
    let store = Arc::new(store::Store::open(&config.data_dir)?);
    let http_client = ao_arweave::HttpClient::new(&ao_arweave::ClientConfig::default())
        .map_err(|e| StartError::Client(e.to_string()))?
        .reqwest()
        .clone();
    let locator = locate::Locator::new(config.gateway.clone(), store.clone(), http_client);
    let cu = units::CuClient::new(&config.cu_url).map_err(|e| StartError::Client(e.to_string()))?;
    let metrics = Arc::new(metrics::Metrics::default());
    let retry = queue::RetryPolicy {
        max_retries: config.max_retries,
        base_delay: config.retry_delay,
        max_delay: config.max_retry_delay,
    };
    let mu = Arc::new(Mu::new(
        store,
        locator,
        cu,
        config.bundler,
        config.wallet,
        retry,
        metrics,
        config.max_running,
    ));
    let resumed = mu.resume()?;
    if resumed > 0 {
        tracing::info!(tasks = resumed, "resumed unfinished work");
    }

    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Bind(addr, e))
    };
    let http = bind(config.http_addr).await?;
    let grpc = bind(config.grpc_addr).await?;
    let http_addr = http
        .local_addr()
        .map_err(|e| StartError::Bind(config.http_addr, e))?;
    let grpc_addr = grpc
        .local_addr()
        .map_err(|e| StartError::Bind(config.grpc_addr, e))?;
    let admin = bind(config.admin_addr).await?;
    let admin_addr = admin
        .local_addr()
        .map_err(|e| StartError::Bind(config.admin_addr, e))?;

    let per_ip = Arc::new(limits::RateLimiter::new(
        config.rate_limit,
        config.rate_window,
    ));
    let api = Arc::new(http::Api {
        mu: mu.clone(),
        wallets: limits::RateLimiter::new(config.rate_limit, config.rate_window),
        per_ip: per_ip.clone(),
        max_item_size: config.max_item_size,
        trusted_proxies: config.http_limits.trusted_proxies.clone(),
    });
    let app = http::router(api.clone(), config.max_item_size, per_ip);
    let mut http_limits = config.http_limits.clone();
    http_limits.max_body = config.max_item_size;
    http_limits.request_timeout = config.request_timeout;
    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let http_task = tokio::spawn(ao_runtime::http::serve(
        http,
        app,
        http_limits.clone(),
        wait(stopped.clone()),
    ));
    let admin_task = tokio::spawn(ao_runtime::http::serve(
        admin,
        http::admin_router(api.clone()),
        http_limits.clone(),
        wait(stopped.clone()),
    ));
    let grpc_service = grpc::service(api);
    let grpc_timeout = config.request_timeout;
    let grpc_task = tokio::spawn(async move {
        let incoming = ao_runtime::grpc_incoming(grpc);
        if let Err(e) = tonic::transport::Server::builder()
            .timeout(grpc_timeout)
            .add_service(grpc_service)
            .serve_with_incoming_shutdown(incoming, wait(stopped))
            .await
        {
            tracing::error!("gRPC server failed: {e}");
        }
    });
    let cron = monitor::spawn(mu.clone(), config.cron_interval);
    let sweeper = retention::spawn(mu.store.clone(), config.task_retention);
    let address = mu.address.clone();
    tracing::info!(%http_addr, %grpc_addr, %admin_addr, %address, "MU serving");
    Ok(RunningMu {
        http_addr,
        grpc_addr,
        admin_addr,
        address,
        mu,
        stop,
        servers: vec![http_task, admin_task, grpc_task],
        background: vec![cron, sweeper],
    })
}
