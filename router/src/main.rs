//! The `router` binary: flags to [`ao_router::config::Config`], serve, print the ready line, drain
//! on a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_router::config::RouterArgs::parse();
    let _telemetry = ao_runtime::init_logging(args.server.log_format, "ao-router")?;
    let config = args.into_config()?;
    let grace = config.shutdown_grace;
    let router = ao_router::serve(config).await?;
    ao_runtime::ready_line(&[("http", router.http_addr), ("grpc", router.grpc_addr)])?;
    ao_runtime::shutdown_signal().await;
    ao_runtime::shutdown::within_grace(grace, router.shutdown()).await;
    Ok(())
}
