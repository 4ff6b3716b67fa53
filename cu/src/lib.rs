//! `ao-cu`: the Compute Unit.
//!
//! Modules, in the order a request flows through them:
//! - `http.rs`: the AO HTTP API (`/result`, `/results`, `/cron`, `/dry-run`, `/state`, `/`,
//!   `/metrics`); `grpc.rs`: the same operations as the `ao.compute.v1.Compute` service.
//! - `process.rs`: [`process::Evaluator`]: per-process slots (module, instance, next nonce, hash
//!   chain, cron walk), schedule reading from the SU over gRPC, evaluation in nonce order as
//!   tasks of their own, checkpoints, the byte-bounded cache of loaded processes.
//! - `cron.rs`: the cron messages due between two points of a schedule (spec 4.6), pure; and
//!   the `Clock` "now" comes from (the SU's, or a test's).
//! - `message.rs`: the message and environment JSON handed to modules (spec 4.5) and the result
//!   JSON served (4.3), as pure functions.
//! - `worker.rs`: a bounded pool of evaluation threads, each owning the Wasmer instances of
//!   the many processes pinned to it.
//! - `store.rs`: RocksDB: results by position and by time, message-id index, checkpoints,
//!   compiled-module artifacts. `arweave_checkpoint.rs`: checkpoints uploaded to and loaded from
//!   Arweave.
//! - `loader/`: runs AO modules in Wasmer exactly like the reference loader (`@permaweb/ao-loader`):
//!   formats, the two emscripten hosts (`host.rs`, `modern.rs`), the load-time rewrite (memory64
//!   lowering, metering: `lower64.rs`, `metering.rs`), start-up, `handle`, snapshots.
//! - `metrics.rs`: counters for `/metrics`. `config.rs`: flags. `error.rs`: [`error::CuError`]
//!   and its statuses.
//!
//! Data flow of `GET /result/{id}?process-id=P`: http -> evaluator (SU GetMessage -> nonce; an
//! evaluation task: ReadSchedule from the process's next nonce; crons due before each message;
//! verify the chain; loader per message; store results, a checkpoint every N) -> the stored
//! result.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod arweave_checkpoint;
pub mod config;
pub mod cron;
pub mod error;
pub mod grpc;
pub mod http;
pub mod loader;
pub mod message;
pub mod metrics;
pub mod process;
pub mod store;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ao_arweave::Gateway;
use tokio::sync::watch;

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "cu";

/// What [`serve`] needs.
pub struct Config {
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// gRPC listen address (the Compute service).
    pub grpc_addr: SocketAddr,
    /// The SU's gRPC URL.
    pub su_url: String,
    /// Gateway client.
    pub gateway: Arc<dyn Gateway>,
    /// The CU's address, reported by `GET /`.
    pub address: String,
    /// Checkpoints and the cache of loaded processes.
    pub evaluation: process::EvaluatorConfig,
    /// How long `/result` waits before answering 202 (`None`: until done).
    pub busy_threshold: Option<std::time::Duration>,
    /// Checkpoints on Arweave (upload, and loading from trusted owners), when configured.
    pub arweave_checkpoints: Option<arweave_checkpoint::ArweaveCheckpoints>,
    /// Limits of the HTTP API.
    pub http_limits: ao_runtime::http::HttpLimits,
}

impl Config {
    /// A CU on loopback ports chosen by the system, with default evaluation settings.
    pub fn new(
        data_dir: PathBuf,
        su_url: String,
        gateway: Arc<dyn Gateway>,
        address: String,
    ) -> Config {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Config {
            data_dir,
            http_addr: any,
            grpc_addr: any,
            su_url,
            gateway,
            address,
            evaluation: process::EvaluatorConfig::default(),
            busy_threshold: None,
            arweave_checkpoints: None,
            http_limits: ao_runtime::http::HttpLimits::new(config::DEFAULT_MAX_BODY),
        }
    }
}

/// A running CU.
pub struct RunningCu {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The evaluation core (tests read its metrics).
    pub evaluator: Arc<process::Evaluator>,
    stop: watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningCu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop serving, wait for requests in flight, and checkpoint every process that evaluated
    /// messages since its last checkpoint.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for s in self.servers {
            let _ = s.await;
        }
        self.evaluator.flush().await;
    }
}

/// Why the CU could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The SU URL.
    #[error("SU URL {0}: {1}")]
    Su(String, String),
    /// The data directory cannot be created.
    #[error("cannot create {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// A listener.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Start a CU: open the store, connect (lazily) to the SU, serve HTTP and gRPC.
pub async fn serve(config: Config) -> Result<RunningCu, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
    let store = store::Store::open(&config.data_dir)?;
    let channel = tonic::transport::Endpoint::from_shared(config.su_url.clone())
        .map_err(|e| StartError::Su(config.su_url.clone(), e.to_string()))?
        .connect_lazy();
    let su = ao_proto::scheduler::v1::scheduler_client::SchedulerClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024);
    let mut evaluator =
        process::Evaluator::new(store, su, config.gateway.clone(), config.evaluation.clone());
    if let Some(a) = config.arweave_checkpoints {
        evaluator = evaluator.with_arweave(a);
    }
    let evaluator = Arc::new(evaluator);
    let api = Arc::new(http::Api {
        evaluator: evaluator.clone(),
        address: config.address.clone(),
        busy_threshold: config.busy_threshold,
    });
    let bind = |addr: SocketAddr| async move {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Bind(addr, e))?;
        let bound = l.local_addr().map_err(|e| StartError::Bind(addr, e))?;
        Ok::<_, StartError>((l, bound))
    };
    let (http_listener, http_addr) = bind(config.http_addr).await?;
    let (grpc_listener, grpc_addr) = bind(config.grpc_addr).await?;
    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let app = http::router(api);
    let http_task = tokio::spawn(ao_runtime::http::serve(
        http_listener,
        app,
        config.http_limits.clone(),
        wait(stopped.clone()),
    ));
    let grpc_service = grpc::service(evaluator.clone(), config.address.clone());
    let grpc_task = tokio::spawn(async move {
        let incoming = ao_runtime::grpc_incoming(grpc_listener);
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(grpc_service)
            .serve_with_incoming_shutdown(incoming, wait(stopped))
            .await
        {
            tracing::error!("CU gRPC server failed: {e}");
        }
    });
    tracing::info!(%http_addr, %grpc_addr, "CU serving");
    Ok(RunningCu {
        http_addr,
        grpc_addr,
        evaluator,
        stop,
        servers: vec![http_task, grpc_task],
    })
}
