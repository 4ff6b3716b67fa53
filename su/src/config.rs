//! The SU's configuration: flags and environment (clap) for the binary, and the plain [`Config`]
//! the library runs from, so tests and benchmarks start an SU without a command line.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ao_arweave::{Bundler, ClientConfig, Gateway, HttpBundler, HttpGateway};
use ao_core::wallet::{Wallet, WalletKind};
use ao_runtime::ServerArgs;
use ao_runtime::http::{HttpLimitArgs, HttpLimits};
use ao_runtime::wallet_file::{self, WalletFileError};
use clap::Parser;

use crate::height::DEFAULT_HEIGHT_REFRESH;

/// Data directory when `--data-dir` is not given: beside the local gateway's `.ao-data/arweave`,
/// so one folder holds a whole local computer.
pub const DEFAULT_DATA_DIR: &str = ".ao-data/su";
/// HTTP address: port 9000, where AO's reference SU listens in its examples and aoconnect setups.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9000));
/// gRPC address: the port after HTTP, so one unit's two ports are easy to find.
pub const DEFAULT_GRPC_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9001));
/// Gateway: the local gateway's default address, so the devnet works with no flags.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:1984";
/// Largest item accepted: the reference's 10 MiB request-body limit.
pub const DEFAULT_MAX_ITEM_SIZE: usize = 10 * 1024 * 1024;
/// `Time-To-Live` of the published Scheduler-Location, ms: a day, as live SUs publish; readers
/// cache for at most [`crate::route::MAX_CACHE`] whatever it says.
pub const DEFAULT_LOCATION_TTL_MS: u64 = 86_400_000;
/// Wallet file name inside the data directory when `--wallet` is not given.
pub const DEFAULT_WALLET_FILE: &str = "wallet.json";

/// `su`: the ao-rs Scheduler Unit.
///
/// Orders every message of its processes (nonce, timestamp, hash chain), signs an assignment for
/// each, stores them durably in RocksDB before answering, uploads them to Arweave through the
/// bundler, and serves the schedule over the AO HTTP API and gRPC.
#[derive(Debug, Parser)]
#[command(name = "su", version)]
pub struct SuArgs {
    /// Data directory, listen addresses and log format, shared by every ao-rs server.
    #[command(flatten)]
    pub server: ServerArgs,

    /// Wallet that signs assignments: an ed25519 or Arweave RSA JWK. Default: `wallet.json` in the
    /// data directory, created (ed25519) on first start.
    #[arg(long, value_name = "FILE", env = "AO_SU_WALLET")]
    pub wallet: Option<PathBuf>,

    /// Public base URL of this SU, published in its Scheduler-Location (default: http://HTTP-ADDR).
    #[arg(long, value_name = "URL", env = "AO_SU_URL")]
    pub url: Option<String>,

    /// Public gRPC URL of this SU, published in its Scheduler-Location as `Grpc-Url` so ao-rs MUs
    /// talk gRPC to it (default: http://GRPC-ADDR).
    #[arg(long, value_name = "URL", env = "AO_SU_GRPC_URL")]
    pub grpc_url: Option<String>,

    /// Arweave gateway for block heights, L1 transactions and Scheduler-Locations.
    #[arg(long, value_name = "URL", env = "AO_GATEWAY_URL", default_value = DEFAULT_GATEWAY_URL)]
    pub gateway_url: String,

    /// Bundler that receives every stored item (default: the gateway URL).
    #[arg(long, value_name = "URL", env = "AO_BUNDLER_URL")]
    pub bundler_url: Option<String>,

    /// Largest item accepted, in bytes (larger answers 413).
    #[arg(long, value_name = "BYTES", env = "AO_MAX_ITEM_SIZE", default_value_t = DEFAULT_MAX_ITEM_SIZE)]
    pub max_item_size: usize,

    /// Give each new process its own assignment at nonce 0 (AOP-6, as live networks do); `false`
    /// stores processes bare and starts their messages at nonce 0 (the reference's default).
    #[arg(long, value_name = "BOOL", env = "AO_SU_PROCESS_ASSIGNMENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub process_assignment: bool,

    /// `Time-To-Live` of the published Scheduler-Location, in ms.
    #[arg(long, value_name = "MS", env = "AO_SU_LOCATION_TTL", default_value_t = DEFAULT_LOCATION_TTL_MS)]
    pub location_ttl: u64,

    /// Limits of the HTTP API, shared by every ao-rs server.
    #[command(flatten)]
    pub limits: HttpLimitArgs,
}

/// Everything [`crate::serve`] needs.
pub struct Config {
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// HTTP listen address (port 0: any free port).
    pub http_addr: SocketAddr,
    /// gRPC listen address (port 0: any free port).
    pub grpc_addr: SocketAddr,
    /// The SU's signing wallet.
    pub wallet: Wallet,
    /// Public URL to publish; `None` publishes `http://{bound HTTP address}`.
    pub public_url: Option<String>,
    /// Public gRPC URL to publish (`Grpc-Url`); `None` publishes `http://{bound gRPC address}`.
    pub public_grpc_url: Option<String>,
    /// Gateway client.
    pub gateway: Arc<dyn Gateway>,
    /// Bundler client.
    pub bundler: Arc<dyn Bundler>,
    /// Largest accepted item.
    pub max_item_size: usize,
    /// AOP-6 process assignments.
    pub process_assignment: bool,
    /// Scheduler-Location TTL, ms.
    pub location_ttl_ms: u64,
    /// How often the block height is refreshed.
    pub height_refresh: Duration,
    /// Limits of the HTTP API (its largest body is set to `max_item_size` when serving).
    pub http_limits: HttpLimits,
    /// How long a live-tail subscriber may read nothing before it is cut off.
    pub subscriber_stall: Duration,
    /// Longest a shutdown may take (`--shutdown-grace`).
    pub shutdown_grace: Duration,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The wallet file cannot be read, parsed or created, or others can read it.
    #[error(transparent)]
    Wallet(#[from] WalletFileError),
    /// A gateway or bundler URL is not usable.
    #[error("{0}")]
    Client(String),
}

impl Config {
    /// A configuration with the defaults, talking HTTP to `gateway_url` for both gateway and bundler.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        wallet: Wallet,
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
            wallet,
            public_url: None,
            public_grpc_url: None,
            gateway: Arc::new(gateway),
            bundler: Arc::new(bundler),
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
            process_assignment: true,
            location_ttl_ms: DEFAULT_LOCATION_TTL_MS,
            height_refresh: DEFAULT_HEIGHT_REFRESH,
            http_limits: HttpLimits::new(DEFAULT_MAX_ITEM_SIZE),
            subscriber_stall: crate::tail::DEFAULT_SUBSCRIBER_STALL,
            shutdown_grace: ao_runtime::shutdown::DEFAULT_SHUTDOWN_GRACE,
        })
    }
}

impl SuArgs {
    /// Resolve flags into a [`Config`]: load (or create) the wallet, build the HTTP clients.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let data_dir = self.server.data_dir_or(DEFAULT_DATA_DIR);
        let wallet_path = self
            .wallet
            .clone()
            .unwrap_or_else(|| data_dir.join(DEFAULT_WALLET_FILE));
        // Created (ed25519) only at the default path: a wallet named on the command line that is
        // missing is a mistake to report, not a key to make up.
        let create = self.wallet.is_none().then_some(WalletKind::Ed25519);
        let (wallet, created) = wallet_file::load_or_create(&wallet_path, create)?;
        if created {
            tracing::info!("created an ed25519 wallet at {}", wallet_path.display());
        }
        let mut config = Config::new(&data_dir, wallet, &self.gateway_url)?;
        if let Some(b) = &self.bundler_url {
            config.bundler = Arc::new(
                HttpBundler::new(b, &ClientConfig::default())
                    .map_err(|e| ConfigError::Client(e.to_string()))?,
            );
        }
        config.http_addr = self.server.http_addr_or(DEFAULT_HTTP_ADDR);
        config.grpc_addr = self.server.grpc_addr_or(DEFAULT_GRPC_ADDR);
        config.public_url = self.url;
        config.public_grpc_url = self.grpc_url;
        config.max_item_size = self.max_item_size;
        config.process_assignment = self.process_assignment;
        config.location_ttl_ms = self.location_ttl;
        config.http_limits = self.limits.limits(self.max_item_size);
        config.shutdown_grace = self.server.shutdown_grace;
        Ok(config)
    }
}
