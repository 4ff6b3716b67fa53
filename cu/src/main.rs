//! The `cu` binary: flags to [`ao_cu::Config`], listen, print the ready line, open the store
//! (warming up: probes answer not ready meanwhile), serve, stop on a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ao_cu::config::CuArgs::parse();
    let _telemetry = ao_runtime::init_logging(args.server.log_format, "ao-cu")?;
    let config = args.into_config()?;
    let grace = config.shutdown_grace;
    let starting = ao_cu::start(config).await?;
    ao_runtime::ready_line(&[("http", starting.http_addr), ("grpc", starting.grpc_addr)])?;
    let ready = starting.ready();
    tokio::pin!(ready);
    let signal = ao_runtime::shutdown_signal();
    tokio::pin!(signal);
    let cu = tokio::select! {
        cu = &mut ready => cu?,
        () = &mut signal => {
            // Stopped while warming up: nothing was served but probes and 503s, so there is
            // nothing to drain; the store is closed as the process ends.
            tracing::info!("stopped while warming up");
            return Ok(());
        }
    };
    signal.await;
    ao_runtime::shutdown::within_grace(grace, cu.shutdown()).await;
    Ok(())
}
