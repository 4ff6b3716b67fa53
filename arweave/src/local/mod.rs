//! The embedded local gateway: an Arweave gateway and bundler in one process, on RocksDB, so that
//! the whole AO computer runs offline and tests run against something a real client cannot tell
//! from a small gateway.
//!
//! - `ingest.rs`: an upload -> parse and verify with `ao-core` -> unbundle (nested too).
//! - `store.rs`: RocksDB column families for items, data, indexes and blocks; one synced batch per
//!   upload.
//! - `query.rs`: `transactions(...)` / `blocks(...)` as merged prefix scans, one page at a time.
//! - `blocks.rs`: how blocks are made, and the miner task (one block every `block_interval`).
//! - `graphql.rs`: the async-graphql schema (arweave.net's names) over `query.rs`.
//! - `server.rs`: the axum routes (REST, `/graphql`, `/mine`), size limits, error answers.
//!
//! [`serve`] starts it and returns a [`LocalGateway`] handle, which also implements [`Gateway`] and
//! [`Bundler`] in-process, so a unit can embed the gateway without going through HTTP.

pub mod blocks;
pub mod graphql;
pub mod ingest;
pub mod query;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use ao_core::DataItem;

use crate::bundler::{Bundler, Receipt};
use crate::error::{Error, Result};
use crate::gateway::{
    BlockMeta, BlockQuery, Gateway, NetworkInfo, Page, TxMeta, TxQuery, TxStatus,
};
use crate::local::store::{Store, raw_id};

/// Where `arweave-local` keeps its database when not told: under the working directory, beside the
/// other units' `.ao-data/*` directories, so a devnet's state is in one visible place.
pub const DEFAULT_DATA_DIR: &str = ".ao-data/arweave";

/// Where `arweave-local` listens when not told: loopback only (a development gateway should not
/// be reachable from the network by accident), on 1984, the port of Arweave nodes and arlocal,
/// so tools set up for a local Arweave find it.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1984);

/// Time between blocks: short enough that items confirm quickly in development, long enough that
/// blocks carry several items, as on a real chain where a block is made every ~2 minutes.
pub const DEFAULT_BLOCK_INTERVAL: Duration = Duration::from_secs(2);

/// Largest data item accepted (413 above): room for the largest AO wasm modules (aos with SQLite
/// is ~15 MiB) with a margin, while bounding what one upload holds in memory.
pub const DEFAULT_MAX_ITEM_SIZE: usize = 64 * 1024 * 1024;

/// How the local gateway is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the RocksDB database (created if missing).
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port ([`LocalGateway::http_addr`] says which).
    pub http_addr: SocketAddr,
    /// Time between automatic blocks; `Duration::ZERO` turns the miner off, leaving blocks to
    /// [`LocalGateway::mine`] and `POST /mine` (tests that want exact heights do this).
    pub block_interval: Duration,
    /// Largest accepted upload, in bytes.
    pub max_item_size: usize,
    /// Limits of the HTTP server (timeouts, requests in flight); its largest body is
    /// `max_item_size`.
    pub http_limits: ao_runtime::http::HttpLimits,
}

impl Config {
    /// The defaults with a given data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            http_addr: DEFAULT_HTTP_ADDR,
            block_interval: DEFAULT_BLOCK_INTERVAL,
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
            http_limits: ao_runtime::http::HttpLimits::new(DEFAULT_MAX_ITEM_SIZE),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new(DEFAULT_DATA_DIR)
    }
}

/// A running local gateway: its address, manual mining, shutdown, and the [`Gateway`] and
/// [`Bundler`] traits served straight from its store.
pub struct LocalGateway {
    store: Arc<Store>,
    http_addr: SocketAddr,
    max_item_size: usize,
    /// `None` once shut down.
    servers: Option<ao_runtime::servers::Servers>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Open the store in `config.data_dir`, bind `config.http_addr`, and serve until
/// [`LocalGateway::shutdown`]. Returns once the listener is bound, so requests can be sent at once.
pub async fn serve(config: Config) -> Result<LocalGateway> {
    let dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, blocks::now_secs()))
        .await
        .map_err(|e| Error::Storage(format!("opening the store failed: {e}")))??;
    let store = Arc::new(store);
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| Error::Storage(format!("cannot listen on {}: {e}", config.http_addr)))?;
    let http_addr = listener
        .local_addr()
        .map_err(|e| Error::Storage(format!("no local address: {e}")))?;

    let state = Arc::new(server::AppState {
        store: store.clone(),
        schema: graphql::schema(store.clone()),
        max_item_size: config.max_item_size,
        metrics: Arc::new(server::Metrics::default()),
    });
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut limits = config.http_limits.clone();
    limits.max_body = config.max_item_size;
    // Ready whenever it listens (the store is open by then); not ready only while draining.
    let mut servers = ao_runtime::servers::Servers::new(
        ao_runtime::health::Health::new(),
        state.metrics.server.clone(),
    );
    servers.http("http", listener, server::router(state), limits, true);
    if !config.block_interval.is_zero() {
        tasks.push(tokio::spawn(blocks::run_miner(
            store.clone(),
            config.block_interval,
            stopped,
        )));
    }
    tracing::info!(%http_addr, data_dir = %config.data_dir.display(), "local gateway ready");
    Ok(LocalGateway {
        store,
        http_addr,
        max_item_size: config.max_item_size,
        servers: Some(servers),
        stop,
        tasks,
    })
}

impl LocalGateway {
    /// The bound HTTP address (the real port when port 0 was asked).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// `http://{http_addr}`: what to give clients as the gateway URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Make a block now with every pending item.
    pub async fn mine(&self) -> Result<BlockMeta> {
        self.blocking(|s| s.mine(blocks::now_secs()).map(|b| b.meta()))
            .await
    }

    /// Stop serving: finish requests in flight, stop the miner, and close the database, so the
    /// same directory can be opened again as soon as this returns. Within the default grace
    /// ([`ao_runtime::shutdown::DEFAULT_SHUTDOWN_GRACE`]).
    pub async fn shutdown(self) {
        self.shutdown_within(ao_runtime::shutdown::DEFAULT_SHUTDOWN_GRACE)
            .await
    }

    /// [`LocalGateway::shutdown`] within `grace`: not ready at once, no new connections,
    /// requests in flight finish (cut off at the grace's serving share), then the miner stops.
    pub async fn shutdown_within(mut self, grace: Duration) {
        let deadlines = ao_runtime::shutdown::Deadlines::starting_now(grace);
        if let Some(servers) = self.servers.take() {
            servers.stop(deadlines.serving).await;
        }
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        // The server and miner tasks held the other references to the store; with them done,
        // dropping `self` drops the last one, which closes RocksDB.
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::Storage(format!("store task failed: {e}")))?
    }
}

impl Drop for LocalGateway {
    fn drop(&mut self) {
        // Dropped without `shutdown`: still stop the tasks rather than serve forever.
        let _ = self.stop.send(true);
    }
}

#[async_trait]
impl Gateway for LocalGateway {
    async fn data(&self, id: &str) -> Result<Bytes> {
        let raw = raw_id(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        let id = id.to_string();
        self.blocking(move |s| s.data(&raw)?.ok_or(Error::NotFound(id)))
            .await
    }

    async fn transactions_by_id(&self, ids: &[String]) -> Result<Vec<TxMeta>> {
        let ids = ids.to_vec();
        self.blocking(move |s| query::by_ids(s, &ids)).await
    }

    async fn query(&self, q: &TxQuery) -> Result<Page<TxMeta>> {
        let q = q.clone();
        self.blocking(move |s| query::transactions(s, &q)).await
    }

    async fn blocks(&self, q: &BlockQuery) -> Result<Page<BlockMeta>> {
        let q = q.clone();
        self.blocking(move |s| query::blocks(s, &q)).await
    }

    async fn info(&self) -> Result<NetworkInfo> {
        self.blocking(|s| Ok(s.info())).await
    }

    async fn tx_status(&self, id: &str) -> Result<Option<TxStatus>> {
        let raw = raw_id(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        let id = id.to_string();
        self.blocking(move |s| s.status(&raw)?.ok_or(Error::NotFound(id)))
            .await
    }
}

#[async_trait]
impl Bundler for LocalGateway {
    async fn upload(&self, item: &DataItem) -> Result<Receipt> {
        let raw = item.as_bytes().clone();
        if raw.len() > self.max_item_size {
            return Err(Error::BadRequest(format!(
                "data item is larger than the limit of {} bytes",
                self.max_item_size
            )));
        }
        self.blocking(move |s| ingest::accept(s, raw)).await
    }
}

/// One duration syntax for every flag (`2s`, `500ms`, `1m`), shared with the units' limits.
pub use ao_runtime::parse_duration;
