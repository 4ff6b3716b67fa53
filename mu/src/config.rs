//! The MU's configuration: flags and environment (clap) for the binary, and the plain [`Config`]
//! the library runs from, so tests and the devnet start an MU without a command line.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ao_arweave::{Bundler, ClientConfig, Gateway, HttpBundler, HttpGateway};
use ao_core::wallet::{Wallet, WalletKind};
use ao_runtime::http::{HttpLimitArgs, HttpLimits};
use ao_runtime::wallet_file::{self, WalletFileError};
use ao_runtime::{ServerArgs, parse_addr};
use clap::Parser;

/// Data directory when `--data-dir` is not given, beside the other units' `.ao-data/*`.
pub const DEFAULT_DATA_DIR: &str = ".ao-data/mu";
/// HTTP address: port 3005, the reference MU's `PORT`.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3005));
/// gRPC address: the port after HTTP, as for the other units.
pub const DEFAULT_GRPC_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3006));
/// The CU's gRPC service at its default address (`cu`'s gRPC port 6364).
pub const DEFAULT_CU_URL: &str = "http://127.0.0.1:6364";
/// Gateway: the local gateway's default address, so the devnet works with no flags.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:1984";
/// Retries of a task before it is dead-lettered: the reference's `TASK_QUEUE_MAX_RETRIES`.
pub const DEFAULT_MAX_RETRIES: u32 = 10;
/// First retry delay, doubled each time: the reference's `TASK_QUEUE_RETRY_DELAY`.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between two attempts: ten retries then span about an hour, not days.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
/// Tasks running at once: enough to keep an SU and a CU busy, few enough not to swamp them.
pub const DEFAULT_MAX_RUNNING: usize = 64;
/// Requests per wallet (and per IP) per window: the reference's `IP_WALLET_RATE_LIMIT`.
pub const DEFAULT_RATE_LIMIT: u64 = 2000;
/// The rate-limit window: the reference's `IP_WALLET_RATE_LIMIT_INTERVAL` (1 h).
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(3600);
/// Largest item accepted: the reference's 10 MiB body limit.
pub const DEFAULT_MAX_ITEM_SIZE: usize = 10 * 1024 * 1024;
/// Deadline of one HTTP request: an SU write takes milliseconds; a minute means it is stuck.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = ao_runtime::http::DEFAULT_REQUEST_TIMEOUT;
/// How far the admin listener's port is from the HTTP port when `--admin-addr` is not given
/// (3005 -> 3007, after the gRPC port 3006).
pub const ADMIN_PORT_OFFSET: u16 = 2;
/// Admin listener of an MU configured in code (tests, the devnet in one process): loopback, any
/// free port, so several MUs on one machine do not collide; [`crate::RunningMu::admin_addr`] says
/// which.
pub const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
/// How often monitored processes' cron results are read: the reference's 10 s job.
pub const DEFAULT_CRON_INTERVAL: Duration = Duration::from_secs(10);
/// Wallet file name inside the data directory when `--wallet` is not given.
pub const DEFAULT_WALLET_FILE: &str = "wallet.json";

/// `mu`: the ao-rs Messenger Unit.
///
/// Takes signed messages and spawns from users, hands each to its process's SU, then reads the
/// result from the CU and pushes the outbox on (messages, spawns, assignments) until the chain
/// of work is done. Work is queued durably in RocksDB.
#[derive(Debug, Parser)]
#[command(name = "mu", version)]
pub struct MuArgs {
    /// Data directory, listen addresses and log format, shared by every ao-rs server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// JWK the MU signs pushed items with: ed25519, or secp256k1 (Ethereum) for SUs that verify
    /// only RSA and Ethereum items, such as the reference SU. Both sign deterministically, so a
    /// re-push after a crash is the same item. Default: `wallet.json` in the data directory, an
    /// ed25519 key created on first start.
    #[arg(long, value_name = "FILE", env = "AO_MU_WALLET")]
    pub wallet: Option<PathBuf>,
    /// The CU's gRPC URL.
    #[arg(long, value_name = "URL", env = "AO_CU_URL", default_value = DEFAULT_CU_URL)]
    pub cu_url: String,
    /// Arweave gateway: processes, Scheduler-Locations; uploads of messages to wallets.
    #[arg(long, value_name = "URL", env = "AO_GATEWAY_URL", default_value = DEFAULT_GATEWAY_URL)]
    pub gateway_url: String,
    /// Bundler for messages to wallets (default: the gateway URL).
    #[arg(long, value_name = "URL", env = "AO_BUNDLER_URL")]
    pub bundler_url: Option<String>,
    /// Retries of a task before it goes to the dead-letter list.
    #[arg(long, value_name = "N", env = "AO_MU_MAX_RETRIES", default_value_t = DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    /// First retry delay in ms (doubled each retry).
    #[arg(long, value_name = "MS", env = "AO_MU_RETRY_DELAY", default_value_t = DEFAULT_RETRY_DELAY.as_millis() as u64)]
    pub retry_delay: u64,
    /// Requests per wallet and per IP per `--rate-window` (0 = no limit).
    #[arg(long, value_name = "N", env = "AO_MU_RATE_LIMIT", default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: u64,
    /// The rate-limit window in seconds.
    #[arg(long, value_name = "S", env = "AO_MU_RATE_WINDOW", default_value_t = DEFAULT_RATE_WINDOW.as_secs())]
    pub rate_window: u64,
    /// Largest item accepted, in bytes (larger answers 413).
    #[arg(long, value_name = "BYTES", env = "AO_MAX_ITEM_SIZE", default_value_t = DEFAULT_MAX_ITEM_SIZE)]
    pub max_item_size: usize,
    /// How often monitored processes' cron results are pushed, in ms.
    #[arg(long, value_name = "MS", env = "AO_MU_CRON_INTERVAL", default_value_t = DEFAULT_CRON_INTERVAL.as_millis() as u64)]
    pub cron_interval: u64,
    /// Address of the operator listener (`/dead-letters`, re-push), never the public API.
    /// Default: loopback, the HTTP port + 2 (3007), or a free port when the HTTP port is 0.
    #[arg(long, value_name = "HOST:PORT", env = "AO_MU_ADMIN_ADDR", value_parser = parse_addr)]
    pub admin_addr: Option<SocketAddr>,
    /// Limits of the HTTP API (and of the gRPC API where they apply), shared by every ao-rs
    /// server.
    #[command(flatten)]
    pub limits: HttpLimitArgs,
    /// How long finished tasks are kept (for traces and answering a retried item), in seconds;
    /// older ones are deleted and their space compacted. Unfinished and dead-lettered tasks stay.
    #[arg(long, value_name = "S", env = "AO_MU_TASK_RETENTION", default_value_t = crate::retention::DEFAULT_TASK_RETENTION.as_secs())]
    pub task_retention: u64,
    /// `X-Real-IP` sent with every POST to SUs reached over the AO HTTP API: the reference SU
    /// refuses POSTs without one its IP whitelist knows (reads need none). Unset: no header.
    #[arg(long, value_name = "IP", env = "AO_MU_SU_FORWARDED_IP")]
    pub su_forwarded_ip: Option<String>,
}

/// Everything [`crate::serve`] needs.
pub struct Config {
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// The signing key.
    pub wallet: Wallet,
    /// The CU's gRPC URL.
    pub cu_url: String,
    /// Gateway client.
    pub gateway: Arc<dyn Gateway>,
    /// Bundler client (messages to wallets).
    pub bundler: Arc<dyn Bundler>,
    /// Retries before dead-lettering.
    pub max_retries: u32,
    /// First retry delay.
    pub retry_delay: Duration,
    /// Longest retry delay.
    pub max_retry_delay: Duration,
    /// Tasks running at once.
    pub max_running: usize,
    /// Requests per wallet / IP per window (0: none).
    pub rate_limit: u64,
    /// The window.
    pub rate_window: Duration,
    /// Largest item.
    pub max_item_size: usize,
    /// HTTP request deadline.
    pub request_timeout: Duration,
    /// The operator listener (dead letters, re-push).
    pub admin_addr: SocketAddr,
    /// Limits of the HTTP API: its timeouts, requests in flight and trusted proxies (the largest
    /// body is `max_item_size`, the deadline `request_timeout`).
    pub http_limits: HttpLimits,
    /// Longest a shutdown may take (`--shutdown-grace`).
    pub shutdown_grace: Duration,
    /// Cron tick.
    pub cron_interval: Duration,
    /// How long finished tasks are kept.
    pub task_retention: Duration,
    /// `X-Real-IP` on POSTs to HTTP SUs (`--su-forwarded-ip`).
    pub su_forwarded_ip: Option<String>,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The wallet file cannot be read, parsed or created, or others can read it.
    #[error(transparent)]
    WalletFile(#[from] WalletFileError),
    /// The wallet is of a kind the MU cannot sign pushes with (RSA).
    #[error("wallet {path}: {reason}")]
    Wallet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A URL is not usable.
    #[error("{0}")]
    Client(String),
}

impl Config {
    /// The defaults, with `gateway_url` as gateway and bundler.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        wallet: impl Into<Wallet>,
        cu_url: &str,
        gateway_url: &str,
    ) -> Result<Config, ConfigError> {
        let client = ClientConfig::default();
        let gateway = HttpGateway::new(gateway_url, &client)
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let bundler = HttpBundler::new(gateway_url, &client)
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Config {
            data_dir: data_dir.into(),
            http_addr: DEFAULT_HTTP_ADDR,
            grpc_addr: DEFAULT_GRPC_ADDR,
            wallet: wallet.into(),
            cu_url: cu_url.to_string(),
            gateway: Arc::new(gateway),
            bundler: Arc::new(bundler),
            max_retries: DEFAULT_MAX_RETRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
            max_retry_delay: DEFAULT_MAX_RETRY_DELAY,
            max_running: DEFAULT_MAX_RUNNING,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_window: DEFAULT_RATE_WINDOW,
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            admin_addr: DEFAULT_ADMIN_ADDR,
            http_limits: HttpLimits::new(DEFAULT_MAX_ITEM_SIZE),
            shutdown_grace: ao_runtime::shutdown::DEFAULT_SHUTDOWN_GRACE,
            cron_interval: DEFAULT_CRON_INTERVAL,
            task_retention: crate::retention::DEFAULT_TASK_RETENTION,
            su_forwarded_ip: None,
        })
    }
}

impl MuArgs {
    /// Resolve flags into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let data_dir = self.server.data_dir_or(DEFAULT_DATA_DIR);
        let path = self
            .wallet
            .clone()
            .unwrap_or_else(|| data_dir.join(DEFAULT_WALLET_FILE));
        let wallet = load_or_create_wallet(&path, self.wallet.is_none())?;
        let mut config = Config::new(&data_dir, wallet, &self.cu_url, &self.gateway_url)?;
        if let Some(b) = &self.bundler_url {
            config.bundler = Arc::new(
                HttpBundler::new(b, &ClientConfig::default())
                    .map_err(|e| ConfigError::Client(e.to_string()))?,
            );
        }
        config.http_addr = self.server.http_addr_or(DEFAULT_HTTP_ADDR);
        config.grpc_addr = self.server.grpc_addr_or(DEFAULT_GRPC_ADDR);
        config.max_retries = self.max_retries;
        config.retry_delay = Duration::from_millis(self.retry_delay);
        config.rate_limit = self.rate_limit;
        config.rate_window = Duration::from_secs(self.rate_window.max(1));
        config.max_item_size = self.max_item_size;
        config.cron_interval = Duration::from_millis(self.cron_interval.max(100));
        config.http_limits = self.limits.limits(self.max_item_size);
        config.request_timeout = self.limits.request_timeout;
        config.shutdown_grace = self.server.shutdown_grace;
        config.admin_addr = self.admin_addr.unwrap_or_else(|| {
            let port = match config.http_addr.port() {
                0 => 0,
                p => p.checked_add(ADMIN_PORT_OFFSET).unwrap_or(0),
            };
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
        });
        config.task_retention = Duration::from_secs(self.task_retention);
        config.su_forwarded_ip = self.su_forwarded_ip.filter(|ip| !ip.is_empty());
        Ok(config)
    }
}

/// Read the MU's JWK (through [`wallet_file`], as every unit): ed25519 or secp256k1; when
/// `create` and the file is missing, make an ed25519 one there.
pub fn load_or_create_wallet(path: &Path, create: bool) -> Result<Wallet, ConfigError> {
    let (wallet, created) =
        wallet_file::load_or_create(path, create.then_some(WalletKind::Ed25519))?;
    match wallet {
        Wallet::Ed25519(_) | Wallet::Ethereum(_) => {
            if created {
                tracing::info!("created an ed25519 wallet at {}", path.display());
            }
            Ok(wallet)
        }
        Wallet::Arweave(_) => Err(ConfigError::Wallet {
            path: path.to_path_buf(),
            reason:
                "the MU signs with ed25519 or secp256k1, whose signatures are deterministic, so \
                     that a push redone after a crash is the same item (an RSA key would sign it \
                     anew, with another id)"
                    .into(),
        }),
    }
}
