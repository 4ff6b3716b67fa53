//! The `cu` binary: flags to [`ao_cu::Config`], serve, print the ready line, stop on a signal.

use std::sync::Arc;

use ao_core::wallet::{Wallet, WalletKind};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_cu::config::CuArgs::parse();
    ao_runtime::init_logging(args.server.log_format)?;
    let data_dir = args.server.data_dir_or(ao_cu::config::DEFAULT_DATA_DIR);
    let wallet_path = args
        .wallet
        .clone()
        .unwrap_or_else(|| data_dir.join("wallet.json"));
    let wallet = match std::fs::read_to_string(&wallet_path) {
        Ok(text) => Wallet::from_json(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.wallet.is_none() => {
            let w = Wallet::generate(WalletKind::Ed25519)?;
            std::fs::create_dir_all(&data_dir)?;
            std::fs::write(&wallet_path, w.to_json())?;
            w
        }
        Err(e) => anyhow::bail!("wallet {}: {e}", wallet_path.display()),
    };
    let address = wallet.address();
    let wallet = Arc::new(wallet);
    let client = ao_arweave::ClientConfig::default();
    let gateway: Arc<dyn ao_arweave::Gateway> =
        Arc::new(ao_arweave::HttpGateway::new(&args.gateway_url, &client)?);
    let arweave_checkpoints = (args.checkpoint_upload || !args.checkpoint_owners.is_empty())
        .then(|| -> anyhow::Result<_> {
            let bundler = ao_arweave::HttpBundler::new(
                args.bundler_url.as_deref().unwrap_or(&args.gateway_url),
                &client,
            )?;
            Ok(ao_cu::arweave_checkpoint::ArweaveCheckpoints::new(
                wallet.clone(),
                Arc::new(bundler),
                gateway.clone(),
                args.checkpoint_owners.clone(),
                args.checkpoint_upload,
                std::time::Duration::from_secs(args.checkpoint_upload_interval),
            ))
        })
        .transpose()?;
    let cu = ao_cu::serve(ao_cu::Config {
        data_dir: data_dir.join("db"),
        http_addr: args.server.http_addr_or(ao_cu::config::DEFAULT_HTTP_ADDR),
        grpc_addr: args.server.grpc_addr_or(ao_cu::config::DEFAULT_GRPC_ADDR),
        su_url: args.su_url,
        gateway,
        address,
        evaluation: ao_cu::process::EvaluatorConfig {
            checkpoint_every: args.checkpoint_every,
            checkpoint_gas: args.checkpoint_gas,
            cache_bytes: args.cache_bytes,
            follow: args.follow,
            max_memory_limit: args.max_memory_limit,
            max_compute_limit: args.max_compute_limit,
        },
        busy_threshold: (args.busy_threshold_ms > 0)
            .then(|| std::time::Duration::from_millis(args.busy_threshold_ms)),
        arweave_checkpoints,
    })
    .await?;
    ao_runtime::ready_line(&[("http", cu.http_addr), ("grpc", cu.grpc_addr)])?;
    ao_runtime::shutdown_signal().await;
    cu.shutdown().await;
    Ok(())
}
