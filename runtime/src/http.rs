//! The HTTP server every unit runs, with the limits that keep a hostile or broken client from
//! holding it: a header read timeout, a body read timeout, a `Content-Length` above the largest
//! body refused (413) as soon as the header is read, a bound on requests in flight with load
//! shedding (503 + `Retry-After`), a deadline per request (503), and the client address resolved
//! against the trusted proxies.
//!
//! Built once here so the SU, CU, MU and the local gateway refuse the same things the same way.
//! `axum::serve` does not expose hyper's header read timeout, so [`serve`] drives hyper's HTTP/1
//! connection itself (TCP_NODELAY and graceful shutdown included).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Args;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::client_ip::{ClientIp, IpNet, client_ip, parse_cidr};

/// Longest wait for a request's header once a connection is open or idle between requests: a
/// real client sends its header in one go, in milliseconds; ten seconds allows slow links and
/// still frees a connection held by a client that never finishes it (slowloris).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for the next piece of a request body: as nginx's `client_body_timeout`, the time
/// between two reads, so a large upload on a slow link goes through while a body that stalls
/// frees its connection (and its place among the requests in flight).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Deadline of one request, from its header to its response: our answers take milliseconds; a
/// minute means something is stuck, and the client is better told (503) than kept waiting.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests handled at once; over it new ones are refused at once with 503 and `Retry-After`
/// rather than queued. Far above what a unit serves concurrently in our benchmarks (100
/// processes at once), low enough that a flood cannot make a unit hold unbounded buffered bodies.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;

/// A body announced (or found) larger than the limit, but by at most this factor, is read and
/// thrown away before the 413: a client that writes its whole body before reading the answer
/// (reqwest, hyper) would otherwise get a broken pipe instead of the 413, since the server closes
/// the connection as soon as it answered. Far larger bodies (a lie, or an attack) are refused at
/// once, without reading them.
pub const DRAIN_FACTOR: u64 = 2;

/// `Retry-After` (seconds) of a refusal for load or deadline: a unit over its limit is usually
/// free again within a second.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Environment variable behind `--max-concurrent-requests`.
pub const ENV_MAX_CONCURRENT_REQUESTS: &str = "AO_MAX_CONCURRENT_REQUESTS";
/// Environment variable behind `--request-timeout`.
pub const ENV_REQUEST_TIMEOUT: &str = "AO_REQUEST_TIMEOUT";
/// Environment variable behind `--header-timeout`.
pub const ENV_HEADER_TIMEOUT: &str = "AO_HEADER_TIMEOUT";
/// Environment variable behind `--body-timeout`.
pub const ENV_BODY_TIMEOUT: &str = "AO_BODY_TIMEOUT";
/// Environment variable behind `--trusted-proxy` (comma-separated).
pub const ENV_TRUSTED_PROXIES: &str = "AO_TRUSTED_PROXIES";

/// The limits of one HTTP server (see the module documentation).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body; a larger `Content-Length` is refused before the body is read.
    pub max_body: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`DEFAULT_MAX_CONCURRENT_REQUESTS`].
    pub max_concurrent_requests: usize,
    /// Peers whose `X-Real-IP` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl HttpLimits {
    /// The defaults, with `max_body` as the largest body.
    pub fn new(max_body: usize) -> HttpLimits {
        HttpLimits {
            max_body,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The HTTP limit flags every unit takes (flatten into its parser); the largest body comes from
/// the unit's own `--max-item-size`.
#[derive(Debug, Clone, Args)]
pub struct HttpLimitArgs {
    /// Requests handled at once; more are refused with 503 and Retry-After.
    #[arg(long, value_name = "N", env = ENV_MAX_CONCURRENT_REQUESTS, default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS)]
    pub max_concurrent_requests: usize,
    /// Deadline of one HTTP request (e.g. 60s, 500ms); past it the answer is 503.
    #[arg(long, value_name = "DURATION", env = ENV_REQUEST_TIMEOUT, value_parser = crate::parse_duration,
          default_value = "60s")]
    pub request_timeout: Duration,
    /// Longest wait for a request's header (slow or unfinished headers close the connection).
    #[arg(long, value_name = "DURATION", env = ENV_HEADER_TIMEOUT, value_parser = crate::parse_duration,
          default_value = "10s")]
    pub header_timeout: Duration,
    /// Longest wait between two pieces of a request body (408 when it stalls).
    #[arg(long, value_name = "DURATION", env = ENV_BODY_TIMEOUT, value_parser = crate::parse_duration,
          default_value = "30s")]
    pub body_timeout: Duration,
    /// A proxy whose X-Real-IP / X-Forwarded-For headers are believed (CIDR or address;
    /// repeatable). None by default: the client is the TCP peer.
    #[arg(long = "trusted-proxy", value_name = "CIDR", env = ENV_TRUSTED_PROXIES,
          value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<IpNet>,
}

impl HttpLimitArgs {
    /// The limits these flags give, with `max_body` as the largest body.
    pub fn limits(&self, max_body: usize) -> HttpLimits {
        HttpLimits {
            max_body,
            header_read_timeout: self.header_timeout,
            body_read_timeout: self.body_timeout,
            request_timeout: self.request_timeout,
            max_concurrent_requests: self.max_concurrent_requests.max(1),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

/// A JSON `{"error": reason}` answer, the shape of every unit's own refusals.
fn refusal(status: StatusCode, reason: String) -> Response {
    let mut r = (status, axum::Json(serde_json::json!({ "error": reason }))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    r
}

/// Read the whole body before the handler runs: a `Content-Length` far over the limit (more than
/// [`DRAIN_FACTOR`] times) is refused (413) before a byte of body is read; a body over the limit
/// by less is read, thrown away, and refused (413); a body that stalls longer than the body
/// timeout is refused (408).
async fn read_body(limits: HttpLimits, req: Request, next: axum::middleware::Next) -> Response {
    let max = limits.max_body;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>());
    let drain_up_to = (max as u64).saturating_mul(DRAIN_FACTOR);
    let too_large = |n: String| {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is {n} bytes, over the limit of {max} bytes"),
        )
    };
    let declared = match declared {
        Some(Ok(n)) if n > drain_up_to => return too_large(n.to_string()),
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "Content-Length is not a number".into(),
            );
        }
        None => None,
    };
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    // Bytes read past the limit (thrown away), while draining an honest oversized body.
    let mut excess: u64 = 0;
    let over = declared.is_some_and(|n| n > max as u64);
    loop {
        use tokio_stream::StreamExt;
        match tokio::time::timeout(limits.body_read_timeout, stream.next()).await {
            Err(_) => {
                return refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body stalled for {:?}; send it without pauses",
                        limits.body_read_timeout
                    ),
                );
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {e}"),
                );
            }
            Ok(Some(Ok(chunk))) => {
                if over || excess > 0 || buf.len().saturating_add(chunk.len()) > max {
                    excess = excess.saturating_add(chunk.len() as u64);
                    buf = Vec::new();
                    if excess > drain_up_to {
                        break;
                    }
                } else {
                    buf.extend_from_slice(&chunk);
                }
            }
        }
    }
    if over || excess > 0 {
        let size = declared.map_or_else(|| format!("more than {max}"), |n| n.to_string());
        return too_large(size);
    }
    next.run(Request::from_parts(parts, Body::from(buf))).await
}

/// Turn the errors of the load-shedding and deadline layers into answers.
async fn overload_answer(timeout: Duration, e: BoxError) -> Response {
    if e.is::<tower::load_shed::error::Overloaded>() {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight; try again shortly".into(),
        )
    } else if e.is::<tower::timeout::error::Elapsed>() {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the request took longer than {timeout:?}"),
        )
    } else {
        refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// The server span of each request when traces are on ([`crate::propagation`]), outermost so
/// that refusals for load or deadline are in the trace too.
async fn traced(req: Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let Some(span) = crate::propagation::http_server_span(
        req.method().as_str(),
        req.uri().path(),
        req.headers(),
    ) else {
        return next.run(req).await;
    };
    let resp = next.run(req).instrument(span.clone()).await;
    crate::propagation::record_http_status(&span, resp.status().as_u16());
    resp
}

/// `app` wrapped in the limits: load shedding and concurrency bound outside, then the deadline,
/// then the body read; around all of them the request's trace span. Applied once to the whole router (not through `Router::layer`, which
/// would give each route its own concurrency bound).
pub fn limited(
    app: Router,
    limits: &HttpLimits,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let timeout = limits.request_timeout;
    let body_limits = limits.clone();
    ServiceBuilder::new()
        .layer(axum::middleware::from_fn(traced))
        .layer(HandleErrorLayer::new(move |e: BoxError| {
            overload_answer(timeout, e)
        }))
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.max_concurrent_requests.max(1),
        ))
        .timeout(timeout)
        .service(app.layer(axum::middleware::from_fn(move |req, next| {
            read_body(body_limits.clone(), req, next)
        })))
}

/// How long, once draining began, an idle keep-alive connection stays open (it is closed
/// earlier if it gets a request, whose answer then carries `Connection: close`): a request a
/// client wrote just before the signal may still be in the socket, unread, and closing on it
/// would reset the connection under that request. Half a second is far longer than a loopback or
/// LAN round trip and short next to the shutdown grace. Idle connections also stay open as long
/// as any request is still in flight, so clients can still read `/ready` (503) on them.
pub const DRAIN_LINGER: Duration = Duration::from_millis(500);

/// Requests being handled, counted per server so draining knows when the last one is answered.
#[derive(Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Held while a request is handled; the count goes down when it is dropped.
struct InFlightGuard(std::sync::Arc<InFlight>);

impl InFlightGuard {
    fn enter(f: &std::sync::Arc<InFlight>) -> InFlightGuard {
        f.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlightGuard(f.clone())
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    /// Resolves when no request is in flight.
    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Serve `app` on `listener` under `limits` until `shutdown` resolves, then drain: accept the
/// connections already waiting in the backlog (their clients may have written a request), stop
/// listening, answer every further request with `Connection: close`, and close idle connections
/// after [`DRAIN_LINGER`] and once no request is in flight; returns when every connection is gone.
///
/// Each accepted connection gets `TCP_NODELAY` (see [`crate::no_delay`]), hyper's header read
/// timeout, and its peer in the request extensions as `ConnectInfo<SocketAddr>` and the resolved
/// [`ClientIp`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let in_flight = Arc::new(InFlight::default());
    let draining = Arc::new(AtomicBool::new(false));
    let (counter, closing) = (in_flight.clone(), draining.clone());
    // Outside the limits (so a request is counted while its body is still arriving).
    let counting = axum::middleware::from_fn(move |req: Request, next: axum::middleware::Next| {
        let guard = InFlightGuard::enter(&counter);
        let closing = closing.clone();
        async move {
            let mut r = next.run(req).await;
            drop(guard);
            if closing.load(Ordering::Acquire) {
                // Draining: the client learns not to send another request here.
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
    });
    let service = tower::Layer::layer(&counting, limited(app, &limits));
    let trusted = Arc::new(limits.trusted_proxies.clone());
    // Connections hold a receiver each; the sender's `closed` tells when all are gone.
    let (closed_tx, closed_rx) = watch::channel(());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut backlog = Vec::new();
    loop {
        let (stream, peer) = if let Some(a) = backlog.pop() {
            a
        } else if *stop_rx.borrow() {
            break;
        } else {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => {
                    draining.store(true, Ordering::Release);
                    let _ = stop_tx.send(true);
                    // What the kernel already accepted for us: served, not reset by the close.
                    while let Some(Ok(a)) = std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(match listener.poll_accept(cx) {
                            std::task::Poll::Ready(r) => Some(r),
                            std::task::Poll::Pending => None,
                        })
                    })
                    .await
                    {
                        backlog.push(a);
                    }
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let trusted = trusted.clone();
        let svc = service
            .clone()
            .map_request(move |req: Request<hyper::body::Incoming>| {
                let mut req = req.map(Body::new);
                let ip = client_ip(peer.ip(), req.headers(), &trusted);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req.extensions_mut().insert(ClientIp(ip));
                req
            });
        let header_timeout = limits.header_read_timeout;
        let mut stop = stop_rx.clone();
        let closed = closed_rx.clone();
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            // HTTP/1 only: every client of these APIs (aoconnect, reqwest, curl, browsers through
            // proxies) speaks it, and hyper's HTTP/1 connection starts the header timeout as soon
            // as it waits for a request, so a connection that never sends a byte is closed too
            // (the auto HTTP/1-or-2 builder waits for the first bytes with no timeout at all).
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            let stopping = tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                    false
                }
                _ = stop.wait_for(|s| *s) => true,
            };
            if stopping {
                // Keep serving a while: a request may be on its way; its answer closes the
                // connection. Then close it if it is still open and idle.
                let linger = async {
                    tokio::time::sleep(DRAIN_LINGER).await;
                    in_flight.wait_idle().await;
                };
                let ended = tokio::select! {
                    _ = conn.as_mut() => true,
                    () = linger => false,
                };
                if !ended {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(closed);
        });
    }
    drop(listener);
    drop(closed_rx);
    closed_tx.closed().await;
}
