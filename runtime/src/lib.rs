//! `ao-runtime`: what every ao-rs server binary shares, so that operators and scripts meet the same
//! flags, the same logs and the same start-up handshake whichever server they run.
//!
//! - [`ServerArgs`]: the uniform flags (`--data-dir`, `--http-addr`, `--grpc-addr`, `--log-format`),
//!   each also read from an `AO_*` environment variable. A binary flattens it into its own clap
//!   parser and supplies its own defaults through [`ServerArgs::data_dir_or`] and friends.
//! - [`init_logging`]: tracing to stderr, as text or JSON, filtered by `RUST_LOG`. Stdout is kept for
//!   the ready line alone. With the `OTEL_*` variables set, spans are exported over OTLP too
//!   ([`telemetry`]); [`propagation`] carries W3C trace context over HTTP, gRPC and the MU's
//!   stored tasks, so one trace follows a message through every unit.
//! - [`ready_line`]: once a server is listening, one JSON line on stdout with its bound addresses
//!   (`{"http": "127.0.0.1:PORT", ...}`), so a script that asked for port 0 learns the real port.
//! - [`shutdown_signal`]: resolves on Ctrl-C or SIGTERM, for graceful shutdown.
//! - [`http`]: the HTTP server of every unit with its limits (header and body read timeouts,
//!   `Content-Length` checked before the body, requests in flight, deadline), and
//!   [`http::HttpLimitArgs`], their flags. [`client_ip`]: `X-Real-IP` believed only from trusted
//!   proxies.
//! - [`wallet_file`]: private key files, created 0600 and refused when others can read them.
//! - [`health`]: readiness (`/ready`, `grpc.health.v1`): warming up, ready, draining.
//! - [`servers`]: a unit's HTTP and gRPC listeners bound, served and drained one way.
//! - [`shutdown`]: `--shutdown-grace` and its deadlines: SIGTERM -> draining -> flush -> exit.
//! - [`metrics`]: Prometheus metrics written once for every unit: typed counters, gauges and
//!   histograms on atomics rendered by hand in the text format (no registry crate: the hot path
//!   bumps an atomic, the format is a dozen lines, and nothing new to build), the standard
//!   `process_*` metrics from `/proc/self`, and the per-route HTTP and per-method gRPC latency
//!   histograms that [`servers`] puts on every unit.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

pub mod client_ip;
pub mod health;
pub mod http;
pub mod metrics;
pub mod propagation;
pub mod servers;
pub mod shutdown;
pub mod telemetry;
pub mod wallet_file;

/// Log format used when neither `--log-format` nor `AO_LOG_FORMAT` is given: text, because a person
/// at a terminal is the common first reader; deployments that ship logs ask for `json`.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;

/// Filter used when `RUST_LOG` is unset: `info` tells an operator what the server is doing (bound
/// addresses, blocks, refusals) without the per-request noise of `debug`.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Environment variable behind `--data-dir`.
pub const ENV_DATA_DIR: &str = "AO_DATA_DIR";
/// Environment variable behind `--http-addr`.
pub const ENV_HTTP_ADDR: &str = "AO_HTTP_ADDR";
/// Environment variable behind `--grpc-addr`.
pub const ENV_GRPC_ADDR: &str = "AO_GRPC_ADDR";
/// Environment variable behind `--log-format`.
pub const ENV_LOG_FORMAT: &str = "AO_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for terminals.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The flags every ao-rs server takes, to be flattened into a binary's own parser
/// (`#[command(flatten)] server: ServerArgs`), so that all servers are configured alike.
///
/// Addresses and the data directory are optional here because each server has its own defaults
/// (its own port, its own directory); the binary resolves them with [`ServerArgs::data_dir_or`],
/// [`ServerArgs::http_addr_or`] and [`ServerArgs::grpc_addr_or`]. Port 0 asks the OS for a free
/// port; [`ready_line`] then reports the one bound.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Directory for the server's persistent state (created if missing).
    #[arg(long, value_name = "DIR", env = ENV_DATA_DIR)]
    pub data_dir: Option<PathBuf>,

    /// Address of the HTTP listener (HOST:PORT; port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", env = ENV_HTTP_ADDR, value_parser = parse_addr)]
    pub http_addr: Option<SocketAddr>,

    /// Address of the gRPC listener, for servers that have one (HOST:PORT; port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", env = ENV_GRPC_ADDR, value_parser = parse_addr)]
    pub grpc_addr: Option<SocketAddr>,

    /// Log format on stderr.
    #[arg(long, value_name = "FORMAT", env = ENV_LOG_FORMAT, value_enum, default_value_t = DEFAULT_LOG_FORMAT)]
    pub log_format: LogFormat,

    /// Longest a shutdown after SIGTERM or Ctrl-C may take (e.g. 25s): requests in flight finish
    /// and state is flushed within it; past it the process exits anyway, with status 1.
    #[arg(long, value_name = "DURATION", env = shutdown::ENV_SHUTDOWN_GRACE, value_parser = parse_duration,
          default_value = "25s")]
    pub shutdown_grace: std::time::Duration,
}

impl ServerArgs {
    /// The data directory given, else the server's `default`.
    pub fn data_dir_or(&self, default: impl AsRef<Path>) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| default.as_ref().to_path_buf())
    }

    /// The HTTP address given, else the server's `default`.
    pub fn http_addr_or(&self, default: SocketAddr) -> SocketAddr {
        self.http_addr.unwrap_or(default)
    }

    /// The gRPC address given, else the server's `default`.
    pub fn grpc_addr_or(&self, default: SocketAddr) -> SocketAddr {
        self.grpc_addr.unwrap_or(default)
    }
}

/// Parse `HOST:PORT`, resolving a host name (`localhost:4000`) to its first address, so that flags
/// accept what people type and not only IP literals.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("`{s}` is not HOST:PORT: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("`{s}` resolves to no address"))
}

/// Parse a duration as people write it: `500ms`, `2s`, `1m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, scale_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        (s, 1000)
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 2s, 500ms or 1m"))?;
    n.checked_mul(scale_ms)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("`{s}` is too long"))
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` does not parse as a filter.
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(String),
    /// A global subscriber was already installed (logging initialised twice).
    #[error("logging is already initialised: {0}")]
    AlreadySet(String),
    /// The `OTEL_*` variables ask for a trace exporter that cannot be built.
    #[error(transparent)]
    Telemetry(#[from] telemetry::TelemetryError),
}

/// Install the global tracing subscriber: logs to stderr (stdout belongs to [`ready_line`]), as
/// text or JSON, filtered by `RUST_LOG` or else [`DEFAULT_LOG_FILTER`]; and, when the `OTEL_*`
/// variables ask for it, spans exported over OTLP as `service` (unless `OTEL_SERVICE_NAME` names
/// another), with each log line carrying its `trace_id` and `span_id` ([`telemetry`]).
///
/// Keep the returned guard until the unit has stopped: dropping it sends the last spans. Must be
/// called inside the tokio runtime (the gRPC exporter lives there).
pub fn init_logging(
    format: LogFormat,
    service: &str,
) -> Result<telemetry::Telemetry, LoggingError> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).map_err(|e| LoggingError::Filter(e.to_string()))?
        }
        _ => EnvFilter::new(DEFAULT_LOG_FILTER),
    };
    use tracing_subscriber::Layer;
    let provider = telemetry::provider(service)?;
    // Spans go to the exporter at their own level, whatever RUST_LOG keeps of the log lines:
    // quieter logs must not lose the traces.
    let otel = provider
        .as_ref()
        .map(|p| telemetry::layer(p).with_filter(telemetry::SPAN_LEVEL));
    let registry = tracing_subscriber::registry().with(otel);
    // Colour codes help at a terminal and litter a log file.
    let ansi = std::io::stderr().is_terminal();
    let result = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi)
                    .event_format(telemetry::WithTraceIds {
                        inner: tracing_subscriber::fmt::format(),
                        json: false,
                    })
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi)
                    .event_format(telemetry::WithTraceIds {
                        inner: tracing_subscriber::fmt::format().json(),
                        json: true,
                    })
                    .with_filter(filter),
            )
            .try_init(),
    };
    result.map_err(|e| LoggingError::AlreadySet(e.to_string()))?;
    Ok(match provider {
        Some(p) => telemetry::guard(p),
        None => telemetry::Telemetry::off(),
    })
}

/// The ready line's text (without the newline): one JSON object of `name: "host:port"` in the order
/// given. Split from [`ready_line`] so it can be tested without capturing stdout.
pub fn ready_json(addrs: &[(&str, SocketAddr)]) -> String {
    let mut map = serde_json::Map::new();
    for (name, addr) in addrs {
        map.insert((*name).to_string(), addr.to_string().into());
    }
    serde_json::Value::Object(map).to_string()
}

/// Print the ready line on stdout and flush it: call once, after every listener is bound, so that a
/// script reading the first line of stdout knows the server is up and where.
pub fn ready_line(addrs: &[(&str, SocketAddr)]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", ready_json(addrs))?;
    out.flush()
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM (what
/// `docker stop`, Kubernetes and systemd send). If a handler cannot be installed, that signal is
/// simply not awaited; the other still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Accepted connections of a gRPC listener with `TCP_NODELAY` set, for tonic's
/// `serve_with_incoming`.
///
/// Why: tonic sets no-delay only on listeners it binds itself; on a listener we bind (to learn
/// the port before serving), Nagle's algorithm holds back small responses until the peer's
/// delayed ACK, about 40 ms per round trip on Linux. Between our units that was most of a
/// message's latency.
pub fn grpc_incoming(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    })
}

/// Set `TCP_NODELAY` on an accepted HTTP connection (for axum's `ListenerExt::tap_io`), for the
/// reason given at [`grpc_incoming`].
pub fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn flags_parse_and_defaults_apply() {
        let cli = Cli::try_parse_from([
            "x",
            "--data-dir",
            "/tmp/d",
            "--http-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.server.data_dir_or("/other"), PathBuf::from("/tmp/d"));
        assert_eq!(cli.server.http_addr.unwrap().port(), 0);
        assert_eq!(cli.server.log_format, LogFormat::Json);
        let default: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(cli.server.grpc_addr_or(default), default);
        // The flag's default text and the documented constant agree.
        assert_eq!(cli.server.shutdown_grace, shutdown::DEFAULT_SHUTDOWN_GRACE);
    }

    #[test]
    fn durations_parse() {
        use std::time::Duration;
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn host_names_resolve() {
        assert!(parse_addr("localhost:4000").is_ok());
        assert!(parse_addr("nonsense").is_err());
    }

    #[test]
    fn ready_json_keeps_order() {
        let http: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let grpc: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert_eq!(
            ready_json(&[("http", http), ("grpc", grpc)]),
            r#"{"http":"127.0.0.1:1","grpc":"127.0.0.1:2"}"#
        );
    }
}
