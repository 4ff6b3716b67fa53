//! The `mu` binary: flags to [`ao_mu::Config`], serve, print the ready line, stop on a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_mu::MuArgs::parse();
    ao_runtime::init_logging(args.server.log_format)?;
    let config = args.into_config()?;
    let mu = ao_mu::serve(config).await?;
    ao_runtime::ready_line(&[
        ("http", mu.http_addr),
        ("grpc", mu.grpc_addr),
        ("admin", mu.admin_addr),
    ])?;
    ao_runtime::shutdown_signal().await;
    mu.shutdown().await;
    Ok(())
}
