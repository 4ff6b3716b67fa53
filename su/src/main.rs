//! The `su` binary: flags to [`ao_su::Config`], serve, print the ready line, drain on a signal
//! within `--shutdown-grace`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_su::SuArgs::parse();
    let _telemetry = ao_runtime::init_logging(args.server.log_format, "ao-su")?;
    let config = args.into_config()?;
    let grace = config.shutdown_grace;
    let su = ao_su::serve(config).await?;
    ao_runtime::ready_line(&[("http", su.http_addr), ("grpc", su.grpc_addr)])?;
    ao_runtime::shutdown_signal().await;
    ao_runtime::shutdown::within_grace(grace, su.shutdown()).await;
    Ok(())
}
