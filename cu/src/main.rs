//! The `cu` binary: flags to [`ao_cu::Config`], serve, print the ready line, stop on a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_cu::config::CuArgs::parse();
    ao_runtime::init_logging(args.server.log_format)?;
    let cu = ao_cu::serve(args.into_config()?).await?;
    ao_runtime::ready_line(&[("http", cu.http_addr), ("grpc", cu.grpc_addr)])?;
    ao_runtime::shutdown_signal().await;
    cu.shutdown().await;
    Ok(())
}
