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

use ao_runtime::servers::Servers;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError, MuArgs};
pub use queue::Mu;

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "mu";

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
    servers: Servers,
    background: Vec<JoinHandle<()>>,
    grace: std::time::Duration,
}

impl RunningMu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop within `--shutdown-grace`: not ready at once, stop accepting, finish requests in
    /// flight (each answered only once its task is written), stop the cron and retention tasks.
    /// Queued work stays in the store, at its stage, for the next start; every stage write goes
    /// through the committer thread, which finishes what is queued before the store closes.
    pub async fn shutdown(self) {
        let deadlines = ao_runtime::shutdown::Deadlines::starting_now(self.grace);
        self.servers.stop(deadlines.serving).await;
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
    let locator = locate::Locator::new(config.gateway.clone(), store.clone(), http_client)
        .with_forwarded_ip(config.su_forwarded_ip.clone());
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
        ao_runtime::servers::bind(addr)
            .await
            .map_err(|e| StartError::Bind(e.addr, e.source))
    };
    let (http, http_addr) = bind(config.http_addr).await?;
    let (grpc, grpc_addr) = bind(config.grpc_addr).await?;
    let (admin, admin_addr) = bind(config.admin_addr).await?;

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
    let health = ao_runtime::health::Health::new();
    // Every item is acknowledged only once its task is written through the committer thread;
    // without it the MU can take nothing.
    let store = mu.store.clone();
    health.add_check("store", move || {
        if store.is_running() {
            Ok(())
        } else {
            Err("the task store's committer has stopped".into())
        }
    });
    let mut servers = Servers::new(health, mu.metrics.server.clone());
    servers.http("http", http, app, http_limits.clone(), false);
    servers.http(
        "admin",
        admin,
        http::admin_router(api.clone()),
        http_limits.clone(),
        false,
    );
    let router = ao_runtime::servers::grpc_server(&mu.metrics.server)
        .timeout(config.request_timeout)
        .add_service(grpc::service(api));
    servers
        .grpc("grpc", grpc, router, &[grpc::SERVICE_NAME])
        .await;
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
        servers,
        background: vec![cron, sweeper],
        grace: config.shutdown_grace,
    })
}
