//! `ao-cu`: the Compute Unit.
//!
//! Modules, in the order a request flows through them:
//! - `http.rs`: the AO HTTP API (`/result`, `/results`, `/dry-run`, `/state`, `/`).
//! - `process.rs`: [`process::Evaluator`]: per-process slots (module, instance, next nonce, hash
//!   chain), schedule reading from the SU over gRPC, evaluation in nonce order, checkpoints.
//! - `message.rs`: the message and environment JSON handed to modules (spec 4.5) and the result
//!   JSON served (4.3), as pure functions.
//! - `worker.rs`: one thread per loaded process, owning its Wasmer instance.
//! - `store.rs`: RocksDB: results, message-id index, checkpoints, compiled-module artifacts.
//! - `loader/`: runs AO modules in Wasmer exactly like the reference loader (`@permaweb/ao-loader`):
//!   formats, the emscripten host, start-up, `handle`, memory snapshots.
//! - `config.rs`: flags. `error.rs`: [`error::CuError`] and its statuses.
//!
//! Data flow of `GET /result/{id}?process-id=P`: http -> evaluator (SU GetMessage -> nonce;
//! ReadSchedule from the process's next nonce; verify the chain; loader per message; store
//! results + checkpoint) -> the stored result.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod http;
pub mod loader;
pub mod message;
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
    /// The SU's gRPC URL.
    pub su_url: String,
    /// Gateway client.
    pub gateway: Arc<dyn Gateway>,
    /// The CU's address, reported by `GET /`.
    pub address: String,
    /// Messages between checkpoints.
    pub checkpoint_every: u64,
}

/// A running CU.
pub struct RunningCu {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl RunningCu {
    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stop serving and wait for requests in flight.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
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

/// Start a CU: open the store, connect (lazily) to the SU, serve HTTP.
pub async fn serve(config: Config) -> Result<RunningCu, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
    let store = store::Store::open(&config.data_dir)?;
    let channel = tonic::transport::Endpoint::from_shared(config.su_url.clone())
        .map_err(|e| StartError::Su(config.su_url.clone(), e.to_string()))?
        .connect_lazy();
    let su = ao_proto::scheduler::v1::scheduler_client::SchedulerClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024);
    let evaluator =
        process::Evaluator::new(store, su, config.gateway.clone(), config.checkpoint_every);
    let api = Arc::new(http::Api {
        evaluator,
        address: config.address.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| StartError::Bind(config.http_addr, e))?;
    let http_addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(config.http_addr, e))?;
    let (stop, mut stopped) = watch::channel(false);
    let app = http::router(api);
    let server = tokio::spawn(async move {
        let signal = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::error!("CU HTTP server failed: {e}");
        }
    });
    tracing::info!(%http_addr, "CU serving");
    Ok(RunningCu {
        http_addr,
        stop,
        server,
    })
}
