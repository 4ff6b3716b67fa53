//! `arweave-local`: the embedded local gateway as a server of its own, for a devnet or for tools
//! (aoconnect, arweave-js, the reference units) that want an Arweave gateway and bundler offline.
//!
//! Prints one JSON line `{"http": "HOST:PORT"}` on stdout once it is listening; logs go to stderr.

use std::time::Duration;

use clap::Parser;

use ao_arweave::local::{self, Config};

/// An Arweave gateway and bundler on RocksDB: verifies, stores, indexes and unbundles data items,
/// mines blocks, and answers REST and GraphQL.
#[derive(Parser)]
#[command(name = "arweave-local", version)]
struct Cli {
    #[command(flatten)]
    server: ao_runtime::ServerArgs,

    /// Time between blocks (`2s`, `500ms`, `1m`; a bare number is seconds); 0 mines only on
    /// `POST /mine`.
    #[arg(long, value_name = "DURATION", env = "AO_BLOCK_INTERVAL", value_parser = local::parse_duration,
          default_value = "2s")]
    block_interval: Duration,

    /// Largest accepted data item in bytes (413 above).
    #[arg(long, value_name = "BYTES", env = "AO_MAX_ITEM_SIZE", default_value_t = local::DEFAULT_MAX_ITEM_SIZE)]
    max_item_size: usize,

    /// Limits of the HTTP server, shared by every ao-rs server.
    #[command(flatten)]
    limits: ao_runtime::http::HttpLimitArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = ao_runtime::init_logging(cli.server.log_format, "ao-gateway")?;
    if let Some(addr) = cli.server.grpc_addr {
        tracing::warn!(%addr, "arweave-local has no gRPC listener; --grpc-addr is ignored");
    }
    let config = Config {
        data_dir: cli.server.data_dir_or(local::DEFAULT_DATA_DIR),
        http_addr: cli.server.http_addr_or(local::DEFAULT_HTTP_ADDR),
        block_interval: cli.block_interval,
        max_item_size: cli.max_item_size,
        http_limits: cli.limits.limits(cli.max_item_size),
    };
    let gateway = local::serve(config).await?;
    ao_runtime::ready_line(&[("http", gateway.http_addr())])?;
    ao_runtime::shutdown_signal().await;
    let grace = cli.server.shutdown_grace;
    ao_runtime::shutdown::within_grace(grace, gateway.shutdown_within(grace)).await;
    Ok(())
}
