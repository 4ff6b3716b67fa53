//! The CU's flags and environment (clap), with defaults that work for the local devnet.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use ao_runtime::ServerArgs;
use ao_runtime::http::HttpLimitArgs;
use ao_runtime::wallet_file::WalletFileError;
use clap::Parser;

use crate::process::{
    DEFAULT_CACHE_BYTES, DEFAULT_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_GAS,
    DEFAULT_MAX_COMPUTE_LIMIT, DEFAULT_MAX_MEMORY_LIMIT,
};

/// Data directory when `--data-dir` is not given, beside the SU's and the local gateway's.
pub const DEFAULT_DATA_DIR: &str = ".ao-data/cu";
/// HTTP address: 6363, the reference CU's port in AO's examples.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6363));
/// gRPC address of the Compute service: the HTTP port plus one, as the SU's pair.
pub const DEFAULT_GRPC_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6364));
/// The default SU's gRPC endpoint: the `su` default, so the devnet works with no flag.
pub const DEFAULT_SU_URL: &str = "http://127.0.0.1:9001";
/// One upload per process per hour: at most 24 checkpoints a day per process on Arweave, each
/// a (gzipped) copy of its memory.
pub const DEFAULT_CHECKPOINT_UPLOAD_INTERVAL_SECS: u64 = 3600;
/// The local gateway.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:1984";
/// Largest HTTP request body: a dry-run message is a small JSON object; 10 MiB, the units' item
/// limit, leaves room for a message carrying a large data field.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

/// `cu`: the ao-rs Compute Unit.
///
/// Evaluates processes from their SU schedules in the process's wasm module (Wasmer), stores every
/// result and memory checkpoints in RocksDB, and serves results, dry-runs and state over the AO
/// HTTP API.
#[derive(Debug, Parser)]
#[command(name = "cu", version)]
pub struct CuArgs {
    /// Data directory, listen addresses and log format, shared by every ao-rs server.
    #[command(flatten)]
    pub server: ServerArgs,

    /// The default SU's gRPC URL: read for processes the gateway does not know yet (one just
    /// spawned on the devnet's SU). Every other process is read from its own SU, found by its
    /// `Scheduler` tag and that SU's Scheduler-Location on the gateway. Empty: no default.
    #[arg(long, value_name = "URL", env = "AO_SU_URL", default_value = DEFAULT_SU_URL)]
    pub su_url: String,

    /// Arweave gateway for modules and assigned transactions.
    #[arg(long, value_name = "URL", env = "AO_GATEWAY_URL", default_value = DEFAULT_GATEWAY_URL)]
    pub gateway_url: String,

    /// The CU's wallet (its address is what `GET /` reports). Default: `wallet.json` in the data
    /// directory, created (ed25519) on first start.
    #[arg(long, value_name = "FILE", env = "AO_CU_WALLET")]
    pub wallet: Option<PathBuf>,

    /// Messages between memory checkpoints.
    #[arg(long, value_name = "N", env = "AO_CU_CHECKPOINT_EVERY", default_value_t = DEFAULT_CHECKPOINT_EVERY)]
    pub checkpoint_every: u64,

    /// Gas (metered modules) after which a checkpoint is made before `--checkpoint-every`.
    #[arg(long, value_name = "GAS", env = "AO_CU_CHECKPOINT_GAS", default_value_t = DEFAULT_CHECKPOINT_GAS)]
    pub checkpoint_gas: u64,

    /// Bytes of process memory kept in loaded processes; beyond it the least recently used are
    /// checkpointed and unloaded.
    #[arg(long, value_name = "BYTES", env = "AO_CU_CACHE_BYTES", default_value_t = DEFAULT_CACHE_BYTES)]
    pub cache_bytes: u64,

    /// Milliseconds `/result` waits for an evaluation before answering 202 with `Retry-After`
    /// (the evaluation goes on). 0, the reference's default, waits until done.
    #[arg(
        long,
        value_name = "MS",
        env = "AO_CU_BUSY_THRESHOLD_MS",
        default_value_t = 0
    )]
    pub busy_threshold_ms: u64,

    /// Follow loaded processes on the SU and evaluate new messages as they are scheduled
    /// (`--follow false`: only when a result is asked for).
    #[arg(long, value_name = "BOOL", env = "AO_CU_FOLLOW", default_value_t = true, action = clap::ArgAction::Set)]
    pub follow: bool,

    /// Upload memory checkpoints to Arweave (signed by the CU's wallet, through
    /// `--bundler-url`), at most one per process per `--checkpoint-upload-interval`.
    #[arg(long, env = "AO_CU_CHECKPOINT_UPLOAD")]
    pub checkpoint_upload: bool,

    /// Seconds between two uploads of one process's checkpoint.
    #[arg(long, value_name = "SECONDS", env = "AO_CU_CHECKPOINT_UPLOAD_INTERVAL", default_value_t = DEFAULT_CHECKPOINT_UPLOAD_INTERVAL_SECS)]
    pub checkpoint_upload_interval: u64,

    /// Where checkpoints are uploaded (default: the gateway, which the local one accepts).
    #[arg(long, value_name = "URL", env = "AO_BUNDLER_URL")]
    pub bundler_url: Option<String>,

    /// Owner address whose checkpoints on Arweave this CU starts processes from when it has
    /// none of its own (repeat, or comma-separate in the environment). None: never.
    #[arg(
        long = "checkpoint-owner",
        value_name = "ADDRESS",
        env = "AO_CU_CHECKPOINT_OWNERS",
        value_delimiter = ',',
        // Addresses are base64url: one in 64 starts with `-`.
        allow_hyphen_values = true
    )]
    pub checkpoint_owners: Vec<String>,

    /// Largest `Memory-Limit` (bytes) a process may ask for; larger ones are refused (413).
    #[arg(long, value_name = "BYTES", env = "AO_CU_MAX_MEMORY_LIMIT", default_value_t = DEFAULT_MAX_MEMORY_LIMIT)]
    pub max_memory_limit: u64,

    /// Largest `Compute-Limit` a process may ask for; larger ones are refused (413).
    #[arg(long, value_name = "GAS", env = "AO_CU_MAX_COMPUTE_LIMIT", default_value_t = DEFAULT_MAX_COMPUTE_LIMIT)]
    pub max_compute_limit: u64,

    /// Largest HTTP request body (a dry-run message), in bytes (larger answers 413).
    #[arg(long, value_name = "BYTES", env = "AO_CU_MAX_BODY", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,

    /// Limits of the HTTP API, shared by every ao-rs server.
    #[command(flatten)]
    pub limits: HttpLimitArgs,

    /// Sign attestations of results with the CU's wallet (`/result?attest=true`): a process's
    /// memory is then hashed at the end of each evaluation run (the attestation states it),
    /// about 3 ms per 6 MiB of memory on SHA-NI hardware per run. For staked CUs.
    #[arg(long, value_name = "BOOL", env = "AO_CU_ATTEST", default_value_t = false, action = clap::ArgAction::Set)]
    pub attest: bool,

    /// Start a process this CU does not hold from a peer CU's live state (the router's
    /// `ao-handoff-from`, or `--peer-cu`), verified, instead of its own checkpoint or a replay.
    /// The results of the messages before that state are asked of the peers, or replayed here
    /// when none has them. Without a router or `--peer-cu` nothing names a peer, so a lone CU
    /// is unaffected; `--handoff false` makes every move a cold start.
    #[arg(long, value_name = "BOOL", env = "AO_CU_HANDOFF", default_value_t = true, action = clap::ArgAction::Set)]
    pub handoff: bool,

    /// Another CU of the pool asked for a process's live state when this CU loads a process it
    /// does not hold: its HTTP base URL, with `;grpc=URL` to read the state over its gRPC
    /// `State` (repeat, or comma-separate in the environment), after the ones a request names
    /// in `ao-handoff-from` (the router's). None: only those. Leave this CU itself out: asking
    /// itself waits out the peer timeout (5 s) on every load.
    #[arg(
        long = "peer-cu",
        value_name = "URL[;grpc=URL]",
        env = "AO_CU_PEERS",
        value_delimiter = ','
    )]
    pub peer_cus: Vec<String>,

    /// After SIGTERM, checkpoint the loaded processes and keep serving (not ready) this long, so
    /// the CUs taking its processes over read them warm from `/state` (e.g. 10s in a pool behind
    /// the router; at most 40 % of `--shutdown-grace`). 0: stop at once, as a lone CU should.
    #[arg(long, value_name = "DURATION", env = "AO_CU_HANDOFF_LINGER",
          value_parser = ao_runtime::parse_duration, default_value = "0s")]
    pub handoff_linger: std::time::Duration,

    /// Bound on the age of a process's newest checkpoint on Arweave (with
    /// `--checkpoint-upload`): a process whose evaluated state went unuploaded this long is
    /// checkpointed and uploaded at its next evaluation, whatever `--checkpoint-every` and the
    /// upload interval say (e.g. 10m for a pool sharing checkpoints). 0: no bound.
    #[arg(long, value_name = "DURATION", env = "AO_CU_CHECKPOINT_MAX_AGE",
          value_parser = ao_runtime::parse_duration, default_value = "0s")]
    pub checkpoint_max_age: std::time::Duration,

    /// Evaluation threads; loaded processes are spread over them (0: one per core).
    #[arg(long, value_name = "N", env = "AO_CU_WORKERS", default_value_t = crate::worker::DEFAULT_WORKERS)]
    pub workers: usize,
}

/// Why the flags cannot make a [`crate::Config`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The wallet file cannot be read, parsed or created, or others can read it.
    #[error(transparent)]
    Wallet(#[from] WalletFileError),
    /// A gateway or bundler URL is not usable.
    #[error("{0}")]
    Client(String),
}

impl CuArgs {
    /// Resolve flags into a [`crate::Config`]: load (or create, ed25519) the wallet in the data
    /// directory, build the gateway client and, when asked for, Arweave checkpoints.
    pub fn into_config(self) -> Result<crate::Config, ConfigError> {
        use std::sync::Arc;

        use ao_core::wallet::WalletKind;

        let data_dir = self.server.data_dir_or(DEFAULT_DATA_DIR);
        let wallet_path = self
            .wallet
            .clone()
            .unwrap_or_else(|| data_dir.join("wallet.json"));
        // Created (ed25519) only at the default path; a named wallet must exist.
        let create = self.wallet.is_none().then_some(WalletKind::Ed25519);
        let (wallet, created) = ao_runtime::wallet_file::load_or_create(&wallet_path, create)?;
        if created {
            tracing::info!("created an ed25519 wallet at {}", wallet_path.display());
        }
        let address = wallet.address();
        let wallet = Arc::new(wallet);
        let client = ao_arweave::ClientConfig::default();
        let cerr = |e: ao_arweave::Error| ConfigError::Client(e.to_string());
        let gateway: Arc<dyn ao_arweave::Gateway> =
            Arc::new(ao_arweave::HttpGateway::new(&self.gateway_url, &client).map_err(cerr)?);
        let arweave_checkpoints = if self.checkpoint_upload || !self.checkpoint_owners.is_empty() {
            let bundler = ao_arweave::HttpBundler::new(
                self.bundler_url.as_deref().unwrap_or(&self.gateway_url),
                &client,
            )
            .map_err(cerr)?;
            Some(
                crate::arweave_checkpoint::ArweaveCheckpoints::new(
                    wallet.clone(),
                    Arc::new(bundler),
                    gateway.clone(),
                    self.checkpoint_owners.clone(),
                    self.checkpoint_upload,
                    std::time::Duration::from_secs(self.checkpoint_upload_interval),
                )
                .with_max_age(Some(self.checkpoint_max_age)),
            )
        } else {
            None
        };
        Ok(crate::Config {
            data_dir: data_dir.join("db"),
            http_addr: self.server.http_addr_or(DEFAULT_HTTP_ADDR),
            grpc_addr: self.server.grpc_addr_or(DEFAULT_GRPC_ADDR),
            su_url: Some(self.su_url).filter(|u| !u.is_empty()),
            gateway,
            address,
            evaluation: crate::process::EvaluatorConfig {
                checkpoint_every: self.checkpoint_every,
                checkpoint_gas: self.checkpoint_gas,
                cache_bytes: self.cache_bytes,
                follow: self.follow,
                max_memory_limit: self.max_memory_limit,
                max_compute_limit: self.max_compute_limit,
                workers: self.workers,
                clock: None,
                peers: self
                    .peer_cus
                    .iter()
                    .flat_map(|p| crate::handoff::parse_peers(p))
                    .collect(),
                attester: self
                    .attest
                    .then(|| Arc::new(crate::attest::Attester::new(wallet.clone()))),
            },
            busy_threshold: (self.busy_threshold_ms > 0)
                .then(|| std::time::Duration::from_millis(self.busy_threshold_ms)),
            arweave_checkpoints,
            http_limits: self.limits.limits(self.max_body),
            shutdown_grace: self.server.shutdown_grace,
            handoff_linger: self.handoff_linger,
            handoff: self.handoff,
        })
    }
}
