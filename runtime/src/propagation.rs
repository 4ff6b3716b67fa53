//! W3C trace context (`traceparent`, `tracestate`) on every hop between our units, so one trace
//! follows a message from the MU through the SU to the CU and back:
//!
//! - [`http_server_span`]: the server span of an HTTP request, joined to the caller's trace (the
//!   middleware of [`crate::http::limited`], so every unit's HTTP server has it).
//! - [`GrpcTraceLayer`]: the same for a tonic server (`Server::builder().layer(...)`), with the
//!   RPC attributes of the semantic conventions.
//! - [`InjectContext`]: a tonic client interceptor writing the current span's context into the
//!   request's metadata; [`inject_reqwest`] does it for a reqwest request.
//! - [`current_traceparent`] / [`set_parent`]: the context as a `traceparent` string, for what
//!   crosses a hop without headers: the SU's schedule streams (a field of each message) and the
//!   MU's stored tasks (pushed later, maybe after a restart).
//!
//! All of it does nothing when traces are off ([`crate::telemetry::enabled`]).

use std::collections::HashMap;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures_util::future::{BoxFuture, Either};
use opentelemetry::propagation::{Extractor, Injector};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::enabled;

/// The W3C header carrying the trace and parent span ids.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header carrying vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// The trace context the headers carry (empty when they carry none).
pub fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Write the current span's context into `headers`.
pub fn inject(headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// `req` with the current span's context in its headers: for the reqwest clients between units
/// and to the gateway.
pub fn inject_reqwest(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    if !enabled() {
        return req;
    }
    let mut headers = HeaderMap::new();
    inject(&mut headers);
    req.headers(headers)
}

/// The current span's context as a `traceparent` value, to carry it where no headers go (a
/// stored task, a message on a stream). `None` when traces are off or there is no span.
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove(TRACEPARENT)
}

/// Make `span` a child of the context `traceparent` names (from [`current_traceparent`]); a
/// missing or malformed value leaves the span where it is.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent.filter(|_| enabled()) else {
        return;
    };
    let mut carrier = HashMap::new();
    carrier.insert(TRACEPARENT.to_string(), tp.to_string());
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    use opentelemetry::trace::TraceContextExt;
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The server span of an HTTP request (semantic conventions: `http.request.method`, `url.path`,
/// `http.response.status_code`), child of the caller's context; `None` when traces are off.
pub fn http_server_span(method: &str, path: &str, headers: &HeaderMap) -> Option<tracing::Span> {
    if !enabled() {
        return None;
    }
    let span = tracing::info_span!(
        "http.server",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(extract(headers));
    Some(span)
}

/// Record the answer's status on an HTTP server span (5xx marks the span as an error).
pub fn record_http_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// A tonic client interceptor writing the current span's context into each request's metadata:
/// `Client::with_interceptor(channel, InjectContext)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectContext;

impl tonic::service::Interceptor for InjectContext {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if enabled() {
            let cx = tracing::Span::current().context();
            let mut carrier: HashMap<String, String> = HashMap::new();
            opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
            for (k, v) in carrier {
                if let (Ok(k), Ok(v)) = (
                    tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                    tonic::metadata::MetadataValue::try_from(v.as_str()),
                ) {
                    req.metadata_mut().insert(k, v);
                }
            }
        }
        Ok(req)
    }
}

/// A tonic channel that carries trace context ([`InjectContext`]).
pub type TracedChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, InjectContext>;

/// `channel` with [`InjectContext`] on every request.
pub fn traced(channel: tonic::transport::Channel) -> TracedChannel {
    tonic::service::interceptor::InterceptedService::new(channel, InjectContext)
}

/// A tower layer for tonic servers: each call runs in a server span joined to the caller's
/// trace, named `package.Service/Method` with `rpc.system`, `rpc.service`, `rpc.method` and
/// `rpc.grpc.status_code` (semantic conventions for RPC).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> tower::Layer<S> for GrpcTraceLayer {
    type Service = GrpcTrace<S>;

    fn layer(&self, inner: S) -> GrpcTrace<S> {
        GrpcTrace { inner }
    }
}

/// The service of [`GrpcTraceLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTrace<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<axum::http::Request<B>> for GrpcTrace<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        if !enabled() {
            return Either::Left(self.inner.call(req));
        }
        let path = req.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        let span = tracing::info_span!(
            "rpc.server",
            otel.name = %path,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        let _ = span.set_parent(extract(req.headers()));
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let recorded = span.clone();
        Either::Right(Box::pin(
            async move {
                let r = fut.await;
                if let Ok(resp) = &r {
                    // A status in the headers is a trailers-only answer (an error, mostly); an
                    // answer with a body carries its status in the trailers, 0 unless it fails.
                    let code = resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0);
                    recorded.record("rpc.grpc.status_code", code);
                    if code != 0 {
                        recorded.record("otel.status_code", "ERROR");
                    }
                }
                r
            }
            .instrument(span),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_carried_when_traces_are_off() {
        assert!(!enabled());
        assert_eq!(current_traceparent(), None);
        let mut h = HeaderMap::new();
        inject(&mut h);
        assert!(h.is_empty());
        assert!(http_server_span("GET", "/", &h).is_none());
    }
}
