//! The tower stack every HTTP call of ao-rs goes through, and the client that holds it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use tower::limit::{ConcurrencyLimit, ConcurrencyLimitLayer};
use tower::retry::{Retry, RetryLayer};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use super::retry::RetryPolicy;
use super::{ClientConfig, ERROR_BODY_LIMIT};
use crate::error::{Error, Result};

/// A boxed future, as the services below return: their futures are not nameable types.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An answer read in full. The retry policy must see the status and `Retry-After` before deciding,
/// and error reports need the body, so the stack buffers the body rather than streaming it.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// Method of the request, kept for error reports.
    pub method: Method,
    /// The URL called (before redirects), kept for error reports.
    pub url: Url,
    /// Status of the answer.
    pub status: StatusCode,
    /// Headers of the answer.
    pub headers: HeaderMap,
    /// Body of the answer.
    pub body: Bytes,
}

impl HttpReply {
    /// `Ok(self)` for 2xx, else [`Error::Status`] with the body cut to [`ERROR_BODY_LIMIT`]: the
    /// usual last step of a call that has no special meaning for other statuses.
    pub fn success(self) -> Result<Self> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.into_status_error())
        }
    }

    /// This answer as an [`Error::Status`], whatever its status: for callers that handled the
    /// statuses they understand (404 -> not found, 202 -> pending) and give up on the rest.
    pub fn into_status_error(self) -> Error {
        Error::Status {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            body: truncate_body(&self.body, ERROR_BODY_LIMIT),
        }
    }

    /// The body as JSON of type `T`, or [`Error::Invalid`] naming the URL and what did not parse.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Invalid {
            url: self.url.to_string(),
            reason: format!(
                "bad JSON ({e}) in {}",
                truncate_body(&self.body, ERROR_BODY_LIMIT)
            ),
        })
    }
}

/// At most `limit` bytes of `body` as text (lossy UTF-8, cut on a character boundary), with a note
/// of the full size when cut, so an operator sees the far side's message but never a flood.
pub(crate) fn truncate_body(body: &[u8], limit: usize) -> String {
    let head = &body[..body.len().min(limit)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if body.len() > limit {
        text.push_str(&format!("... ({} bytes)", body.len()));
    }
    text
}

/// The innermost service: one request on a shared [`reqwest::Client`] (its connection pool), body
/// read in full. Failures to connect, send or read become [`Error::Transport`] with the method and
/// URL; every status, error or not, is an `Ok` [`HttpReply`] so the layers above can judge it.
#[derive(Debug, Clone)]
pub struct ReqwestService {
    client: reqwest::Client,
}

impl ReqwestService {
    /// A service sending through `client`.
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestService { client }
    }
}

/// `reqwest::Error` as text without the URL (the error carries it already) but with its causes,
/// which is where "connection refused" or a TLS failure is said.
fn transport_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = s.source();
    }
    reason
}

impl Service<reqwest::Request> for ReqwestService {
    type Response = HttpReply;
    type Error = Error;
    type Future = BoxFuture<Result<HttpReply>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        // reqwest queues internally; the bound on requests in flight is the layer above.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: reqwest::Request) -> Self::Future {
        // Each attempt carries the caller's trace context (traces on only).
        ao_runtime::propagation::inject(req.headers_mut());
        let client = self.client.clone();
        let method = req.method().clone();
        let url = req.url().clone();
        Box::pin(async move {
            let transport = |e: reqwest::Error| Error::Transport {
                method: method.to_string(),
                url: url.to_string(),
                reason: transport_reason(e),
            };
            let resp = client.execute(req).await.map_err(transport)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(transport)?;
            Ok(HttpReply {
                method,
                url,
                status,
                headers,
                body,
            })
        })
    }
}

/// Limits one attempt to a fixed time, failing with [`Error::Transport`] (so it is retried like
/// any other lost answer). tower's own `Timeout` fails with a boxed error that knows neither the
/// method nor the URL; this one reports both.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    timeout: Duration,
}

/// Layer of [`Timeout`].
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    /// Attempts may take at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        TimeoutLayer { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            timeout: self.timeout,
        }
    }
}

impl<S> Service<reqwest::Request> for Timeout<S>
where
    S: Service<reqwest::Request, Error = Error>,
    S::Future: Send + 'static,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = Error;
    type Future = BoxFuture<Result<S::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: reqwest::Request) -> Self::Future {
        let method = req.method().to_string();
        let url = req.url().to_string();
        let timeout = self.timeout;
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(result) => result,
                Err(_) => Err(Error::Transport {
                    method,
                    url,
                    reason: format!("no complete answer within {timeout:?}"),
                }),
            }
        })
    }
}

/// The whole stack, outermost first: retries (each waiting its backoff without holding a slot),
/// then the bound on requests in flight, then the per-attempt timeout (so time spent queueing for
/// a slot does not count against an attempt), then reqwest.
pub type HttpStack = Retry<RetryPolicy, ConcurrencyLimit<Timeout<ReqwestService>>>;

/// An HTTP client with ao-rs's policies ([`ClientConfig`]): what [`HttpGateway`](super::HttpGateway)
/// and [`HttpBundler`](super::HttpBundler) send through, and what a unit uses for its own calls so
/// they get the same timeouts, retries and bound. Cheap to clone; clones share the connection pool
/// and the bound on requests in flight.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    stack: HttpStack,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with its own connection pool and TLS (rustls, `ring`, the platform's roots).
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| Error::BadRequest(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::from_reqwest(client, config))
    }

    /// The policies of `config` over a reqwest client built elsewhere (a proxy, extra roots).
    /// `config.connect_timeout` and `config.user_agent` are the caller's business then.
    pub fn from_reqwest(client: reqwest::Client, config: &ClientConfig) -> Self {
        let stack = ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::new(
                config.max_retries,
                config.backoff_base,
                config.max_backoff,
            )))
            .layer(ConcurrencyLimitLayer::new(config.max_in_flight.max(1)))
            .layer(TimeoutLayer::new(config.timeout))
            .service(ReqwestService::new(client.clone()));
        HttpClient { client, stack }
    }

    /// The reqwest client underneath, to build requests for [`send`](Self::send).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send `req` through the stack. Statuses are not errors here (the answer after the last
    /// retry is returned as is); transport failures and timeouts are [`Error::Transport`].
    pub async fn send(&self, req: reqwest::Request) -> Result<HttpReply> {
        self.stack.clone().oneshot(req).await
    }

    /// `GET url`, accepting `accept`.
    pub async fn get(&self, url: Url, accept: &'static str) -> Result<HttpReply> {
        let mut req = reqwest::Request::new(Method::GET, url);
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(accept));
        self.send(req).await
    }

    /// `POST url` with `body` of `content_type`, expecting JSON back.
    pub async fn post(
        &self,
        url: Url,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<HttpReply> {
        let mut req = reqwest::Request::new(Method::POST, url);
        let headers = req.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        *req.body_mut() = Some(reqwest::Body::from(body));
        self.send(req).await
    }
}

/// rustls with the `ring` provider and the platform verifier, passed to reqwest as a finished
/// config: reqwest's own rustls path wants aws-lc-rs or a process-wide default provider, and a
/// library should not install process-wide state.
fn tls_config() -> Result<rustls::ClientConfig> {
    let bad = |e: rustls::Error| Error::BadRequest(format!("cannot set up TLS: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(bad)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest is built without HTTP/2, so offer only HTTP/1.1.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// `base` (an absolute http(s) URL) with `path` appended after its own path, so a gateway behind a
/// prefix (`https://host/arweave`) keeps it. `Error::BadRequest` if the result is not a URL.
pub(crate) fn join(base: &str, path: &str) -> Result<Url> {
    let text = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    Url::parse(&text).map_err(|e| Error::BadRequest(format!("bad URL {text}: {e}")))
}

/// `url` checked to be an absolute http(s) URL, kept as text without a trailing `/`.
pub(crate) fn base_url(url: &str) -> Result<String> {
    let parsed =
        Url::parse(url).map_err(|e| Error::BadRequest(format!("bad base URL {url}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::BadRequest(format!(
            "base URL {url} is not http or https"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}
