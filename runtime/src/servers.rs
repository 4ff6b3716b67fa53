//! The listeners of one unit, bound, served and stopped the same way in every unit: HTTP through
//! [`crate::http::serve`] with `/ready` added, gRPC with `TCP_NODELAY` and the standard
//! `grpc.health.v1` service added, and one stop that drains them all within a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::health::Health;
use crate::http::HttpLimits;
use crate::metrics::ServerMetrics;

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: std::io::Error,
}

/// Bind `addr`; the listener and the address really bound (the port, when 0 was asked).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| BindError { addr, source })?;
    Ok((listener, bound))
}

/// The layers of every unit's gRPC server: the trace layer outermost (the span covers the whole
/// call), then the latency histogram.
pub type GrpcLayers = tower::layer::util::Stack<
    crate::metrics::GrpcMetricsLayer,
    tower::layer::util::Stack<crate::propagation::GrpcTraceLayer, tower::layer::util::Identity>,
>;

/// A unit's gRPC server as [`grpc_server`] starts it: every call goes through [`GrpcLayers`].
pub type GrpcServer = tonic::transport::Server<GrpcLayers>;

/// A unit's gRPC services on a [`GrpcServer`], as [`Servers::grpc`] takes them.
pub type GrpcRouter = tonic::transport::server::Router<GrpcLayers>;

/// The gRPC server every unit starts from, so that each reads the caller's W3C trace context
/// (and opens its RPC span) and times every call into `metrics` without each unit remembering
/// to add the layers.
pub fn grpc_server(metrics: &Arc<ServerMetrics>) -> GrpcServer {
    metrics.serves_grpc();
    tonic::transport::Server::builder()
        .layer(crate::propagation::GrpcTraceLayer)
        .layer(crate::metrics::GrpcMetricsLayer(metrics.clone()))
}

/// The servers of one unit and the readiness they report; [`Servers::stop`] drains them.
pub struct Servers {
    health: Health,
    metrics: Arc<ServerMetrics>,
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Servers {
    /// No servers yet, reporting `health` and timing every HTTP request into `metrics`.
    pub fn new(health: Health, metrics: Arc<ServerMetrics>) -> Servers {
        metrics.watch_health(&health);
        Servers {
            health,
            metrics,
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// The readiness these servers report.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Resolves once [`Servers::stop`] begins (for tasks that must end with the servers).
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Serve `app` on `listener` with `limits`, plus `/ready` (and `/health` when `liveness`:
    /// for units without their own), every request timed per route.
    pub fn http(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        app: Router,
        limits: HttpLimits,
        liveness: bool,
    ) {
        let app = self.metrics.layer_http(self.health.routes(app, liveness));
        let task = tokio::spawn(crate::http::serve(listener, app, limits, self.stopping()));
        self.tasks.push((name, task));
    }

    /// Serve `router` (the unit's gRPC services) on `listener` with `TCP_NODELAY`, plus
    /// `grpc.health.v1` for the overall server and for each of `services`.
    pub async fn grpc(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        router: GrpcRouter,
        services: &[&'static str],
    ) {
        let router = router.add_service(self.health.grpc_service(services).await);
        let stopping = self.stopping();
        let task = tokio::spawn(async move {
            let incoming = crate::grpc_incoming(listener);
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, stopping)
                .await
            {
                tracing::error!(server = name, "gRPC server failed: {e}");
            }
        });
        self.tasks.push((name, task));
    }

    /// Drain: report not ready at once, stop accepting, let requests in flight finish; servers
    /// still busy at `deadline` are cut off. True when every server ended on its own.
    pub async fn stop(self, deadline: Instant) -> bool {
        self.health.begin_drain();
        let _ = self.stop.send(true);
        let mut clean = true;
        for (name, task) in self.tasks {
            let abort = task.abort_handle();
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, task).await.is_err() {
                tracing::warn!(
                    server = name,
                    "requests still in flight at the end of the shutdown grace; cutting them off"
                );
                abort.abort();
                clean = false;
            }
        }
        clean
    }
}
