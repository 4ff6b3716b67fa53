//! The `mu` binary: flags to [`ao_mu::Config`], serve, print the ready line, stop on a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_mu::MuArgs::parse();
    let _telemetry = ao_runtime::init_logging(args.server.log_format, "ao-mu")?;
    let config = args.into_config()?;
    let grace = config.shutdown_grace;
    let mu = ao_mu::serve(config).await?;
    ao_runtime::ready_line(&[
        ("http", mu.http_addr),
        ("grpc", mu.grpc_addr),
        ("admin", mu.admin_addr),
    ])?;
    ao_runtime::shutdown_signal().await;
    ao_runtime::shutdown::within_grace(grace, mu.shutdown()).await;
    Ok(())
}
