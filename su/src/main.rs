//! The `su` binary: flags to [`ao_su::Config`], serve, print the ready line, stop on a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_su::SuArgs::parse();
    ao_runtime::init_logging(args.server.log_format)?;
    let config = args.into_config()?;
    let su = ao_su::serve(config).await?;
    ao_runtime::ready_line(&[("http", su.http_addr), ("grpc", su.grpc_addr)])?;
    ao_runtime::shutdown_signal().await;
    su.shutdown().await;
    Ok(())
}
