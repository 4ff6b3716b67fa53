//! `ao-cu`: the Compute Unit.
//!
//! Modules, in the order a request flows through them:
//! - `http.rs`: the AO HTTP API (`/result`, `/results`, `/cron`, `/dry-run`, `/state`, `/`,
//!   `/metrics`); `grpc.rs`: the same operations as the `ao.compute.v1.Compute` service.
//! - `process.rs`: [`process::Evaluator`]: per-process slots (module, instance, next nonce, hash
//!   chain, cron walk), schedule reading from the SU over gRPC, evaluation in nonce order as
//!   tasks of their own, checkpoints, the byte-bounded cache of loaded processes.
//! - `cold_start.rs`: whether a first evaluation must run the process message before a schedule
//!   that does not start with the process (other SUs, old processes), and that message; pure.
//! - `handoff.rs`: a process that comes here from another CU starts from that CU's live state
//!   (`ao-handoff-from` from the router, or `--peer-cu`), read over its gRPC `State` (or HTTP
//!   `/state`) and verified against the SU's schedule before use; else the local checkpoint,
//!   Arweave, nonce 0. Results from before that state come from the peer, or a replay on a
//!   second instance (`process.rs`).
//! - `attest.rs`: with `--attest`, `/result?attest=true` adds the CU's signed attestation of the
//!   result and of the memory after it (hashed at the end of each evaluation run).
//! - `schedule_source.rs`: [`schedule_source::ScheduleSource`], where schedules are read: each
//!   process's own SU, located on the gateway (its `Scheduler` tag, then the SU's newest
//!   Scheduler-Location), over gRPC (`grpc` client) or the AO HTTP API (`su_http.rs`, pages and
//!   polling), `--su-url` for processes the gateway does not know yet.
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
//! - `warm_up.rs`: listening before the store is open: probes answer (not ready, and why), the
//!   API 503 / UNAVAILABLE until it can serve; a store locked by a draining CU is waited out.
//! - `metrics.rs`: counters for `/metrics`. `config.rs`: flags. `error.rs`: [`error::CuError`]
//!   and its statuses.
//!
//! Shutdown (SIGTERM, [`RunningCu::shutdown`]): `/ready` turns 503 at once (the router moves
//! processes away); with `--handoff-linger` the CU first checkpoints its loaded processes (most
//! messages since their checkpoint first) and keeps serving everything, `/state` for the peers
//! taking its processes over included, for that long; then it stops accepting, lets requests in
//! flight finish, and checkpoints what evaluated since, within `--shutdown-grace`.
//!
//! Data flow of `GET /result/{id}?process-id=P`: http -> evaluator (P's SU, located: the
//! message's nonce; an evaluation task: the schedule from the process's next nonce; crons due before each message;
//! verify the chain; loader per message; store results, a checkpoint every N) -> the stored
//! result.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod arweave_checkpoint;
pub mod attest;
pub mod cold_start;
pub mod config;
pub mod cron;
pub mod error;
pub mod grpc;
pub mod handoff;
pub mod http;
pub mod loader;
pub mod message;
pub mod metrics;
pub mod process;
pub mod schedule_source;
pub mod store;
pub mod su_http;
pub mod warm_up;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ao_arweave::Gateway;
use ao_runtime::servers::Servers;

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
    /// The default SU's gRPC URL (`--su-url`): asked about processes the gateway does not know
    /// yet; every other process is read from its own SU, found on the gateway.
    pub su_url: Option<String>,
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
    /// Longest a shutdown may take (`--shutdown-grace`): requests in flight, then checkpoints.
    pub shutdown_grace: std::time::Duration,
    /// How long a draining CU keeps serving after its drain checkpoints (`--handoff-linger`),
    /// so peers take its processes over warm; bounded by [`MAX_LINGER_PERCENT`] of the grace.
    pub handoff_linger: std::time::Duration,
    /// Whether a process may start from a peer's live state (`--handoff`).
    pub handoff: bool,
}

/// Most of the shutdown grace (percent) the handoff linger may take: the rest is for requests in
/// flight when the listeners close and for the final checkpoints (the serving share of
/// `ao_runtime::shutdown` is 60 %, so the linger ends well before in-flight requests are cut).
pub const MAX_LINGER_PERCENT: u32 = 40;

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
            su_url: Some(su_url),
            gateway,
            address,
            evaluation: process::EvaluatorConfig::default(),
            busy_threshold: None,
            arweave_checkpoints: None,
            http_limits: ao_runtime::http::HttpLimits::new(config::DEFAULT_MAX_BODY),
            shutdown_grace: ao_runtime::shutdown::DEFAULT_SHUTDOWN_GRACE,
            handoff_linger: std::time::Duration::ZERO,
            handoff: true,
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
    servers: Servers,
    grace: std::time::Duration,
    linger: std::time::Duration,
}

impl RunningCu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop within `--shutdown-grace`: not ready at once. With a handoff linger, checkpoint the
    /// loaded processes first (most messages since their checkpoint first) while still serving,
    /// and keep serving (peers read `/state` of the processes they take over) until the linger
    /// ends. Then stop accepting, let requests in flight finish (cut off at the grace's serving
    /// share), and checkpoint what evaluated since, until the grace ends. Results are durable as
    /// they are stored, so whatever is cut off costs only replay time.
    pub async fn shutdown(self) {
        let start = std::time::Instant::now();
        let deadlines = ao_runtime::shutdown::Deadlines::starting_now(self.grace);
        self.servers.health().begin_drain();
        let linger = self.linger.min(self.grace * MAX_LINGER_PERCENT / 100);
        if !linger.is_zero() {
            let linger_end = start + linger;
            self.evaluator.checkpoint_loaded(linger_end).await;
            tracing::info!(
                ?linger,
                "draining: serving peers until the handoff linger ends"
            );
            tokio::time::sleep_until(tokio::time::Instant::from_std(linger_end)).await;
        }
        self.servers.stop(deadlines.serving).await;
        self.evaluator.flush(deadlines.end).await;
    }
}

/// Why the CU could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Opening the store.
    #[error(transparent)]
    Open(#[from] warm_up::OpenError),
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

/// The gRPC Compute service, as the warm-up gate holds it.
type GrpcApi = ao_proto::compute::v1::compute_server::ComputeServer<grpc::GrpcCompute>;

/// A CU listening and warming up: its probes answer (not ready, and why) while
/// [`StartingCu::ready`] opens the store.
pub struct StartingCu {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    config: Config,
    su: Arc<schedule_source::SuRouter>,
    servers: Servers,
    warm: warm_up::WarmUp,
    http_api: Arc<std::sync::OnceLock<axum::Router>>,
    grpc_api: Arc<std::sync::OnceLock<GrpcApi>>,
    server_metrics: Arc<ao_runtime::metrics::ServerMetrics>,
    /// The HTTP client of the schedule reads, shared with the handoff's peer reads.
    http: reqwest::Client,
}

/// Start a CU and wait until it can serve: [`start`], then [`StartingCu::ready`].
pub async fn serve(config: Config) -> Result<RunningCu, StartError> {
    start(config).await?.ready().await
}

/// Start a CU: route schedule reads to each process's SU (connected lazily), bind HTTP and gRPC
/// and answer probes at once; the API answers once [`StartingCu::ready`] has opened the store.
pub async fn start(config: Config) -> Result<StartingCu, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
    let default_su = match &config.su_url {
        Some(url) => Some(Arc::new(
            schedule_source::GrpcSource::new(url)
                .map_err(|e| StartError::Su(url.clone(), e.to_string()))?,
        ) as Arc<dyn schedule_source::ScheduleSource>),
        None => None,
    };
    let http = ao_arweave::HttpClient::new(&ao_arweave::ClientConfig::default())
        .map_err(|e| StartError::Su("(HTTP client)".into(), e.to_string()))?
        .reqwest()
        .clone();
    let su = Arc::new(schedule_source::SuRouter::new(
        default_su,
        config.gateway.clone(),
        http.clone(),
    ));
    let bind = |addr: SocketAddr| async move {
        ao_runtime::servers::bind(addr)
            .await
            .map_err(|e| StartError::Bind(e.addr, e.source))
    };
    let (http_listener, http_addr) = bind(config.http_addr).await?;
    let (grpc_listener, grpc_addr) = bind(config.grpc_addr).await?;
    // Not ready while warming up (the store opening). The SU is deliberately not a readiness
    // check: a CU still serves stored results, `/state` and dry-runs of loaded processes while
    // its SU is down, and an SU outage would turn every CU unready at once, so the balancer would
    // have nowhere to send even what the CUs can answer; requests that need the SU fail on their
    // own with a 502 naming it.
    let warm = warm_up::WarmUp::new();
    let health = ao_runtime::health::Health::new();
    health.add_check("store", warm.check());
    // The servers' metrics exist before the evaluator (made once the store is open), so the
    // probes and 503s of the warm-up are measured too; the evaluator renders them on `/metrics`.
    let server_metrics = ao_runtime::metrics::ServerMetrics::new(metrics::PREFIX);
    let mut servers = Servers::new(health, server_metrics.clone());
    let http_api = Arc::new(std::sync::OnceLock::new());
    let grpc_api = Arc::new(std::sync::OnceLock::new());
    servers.http(
        "http",
        http_listener,
        warm_up::http_gate(http_api.clone()),
        config.http_limits.clone(),
        false,
    );
    let router = ao_runtime::servers::grpc_server(&server_metrics)
        .add_service(warm_up::GrpcGate::new(grpc_api.clone()));
    servers
        .grpc("grpc", grpc_listener, router, &[grpc::SERVICE_NAME])
        .await;
    tracing::info!(%http_addr, %grpc_addr, "CU listening, warming up");
    Ok(StartingCu {
        http_addr,
        grpc_addr,
        config,
        su,
        servers,
        warm,
        http_api,
        grpc_api,
        server_metrics,
        http,
    })
}

impl StartingCu {
    /// Open the store (waiting out another process's lock, up to
    /// [`warm_up::STORE_LOCK_WAIT`]), then serve the API and report ready. On a failure the
    /// listeners are closed before the error is returned.
    pub async fn ready(self) -> Result<RunningCu, StartError> {
        let StartingCu {
            http_addr,
            grpc_addr,
            config,
            su,
            servers,
            warm,
            http_api,
            grpc_api,
            server_metrics,
            http,
        } = self;
        let store =
            match warm_up::open_store(&config.data_dir, warm_up::STORE_LOCK_WAIT, &warm).await {
                Ok(s) => s,
                Err(e) => {
                    servers.stop(std::time::Instant::now()).await;
                    return Err(e.into());
                }
            };
        let mut evaluator =
            process::Evaluator::new(store, su, config.gateway.clone(), config.evaluation.clone());
        if config.handoff {
            evaluator = evaluator.with_peer_source(Arc::new(handoff::NetworkPeers::new(http)));
        }
        evaluator.metrics.server = server_metrics;
        if let Some(a) = config.arweave_checkpoints {
            evaluator = evaluator.with_arweave(a);
        }
        let evaluator = Arc::new(evaluator);
        let api = Arc::new(http::Api {
            evaluator: evaluator.clone(),
            address: config.address.clone(),
            busy_threshold: config.busy_threshold,
        });
        let _ = http_api.set(http::router(api));
        let _ = grpc_api.set(grpc::service(evaluator.clone(), config.address.clone()));
        warm.done();
        servers.health().recheck();
        tracing::info!(%http_addr, %grpc_addr, "CU serving");
        Ok(RunningCu {
            http_addr,
            grpc_addr,
            evaluator,
            servers,
            grace: config.shutdown_grace,
            linger: config.handoff_linger,
        })
    }

    /// Stop while still warming up: not ready, listeners closed (nothing is in flight but
    /// probes and 503s).
    pub async fn shutdown(self) {
        let deadlines = ao_runtime::shutdown::Deadlines::starting_now(self.config.shutdown_grace);
        self.servers.stop(deadlines.serving).await;
    }
}
