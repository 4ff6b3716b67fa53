//! Traces: `tracing` spans exported as OpenTelemetry spans over OTLP, configured only by the
//! standard `OTEL_*` variables, so an operator's collector set-up works unchanged with our units.
//!
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: where spans go. With
//!   neither set there is no exporter and no OpenTelemetry layer at all: the propagation helpers
//!   see [`enabled`] false and create no spans, so a unit without a collector pays nothing.
//! - `OTEL_EXPORTER_OTLP_PROTOCOL` (or `_TRACES_PROTOCOL`): `http/protobuf` (the default, as the
//!   specification says) or `grpc`.
//! - `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`: the resource; without a service name the
//!   binary's own (`ao-su`, `ao-cu`, `ao-mu`, `ao-gateway`).
//! - `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`: read by the SDK (default
//!   `parentbased_always_on`).
//! - `OTEL_SDK_DISABLED=true`: off, whatever else is set.
//!
//! W3C trace context (`traceparent`, `tracestate`) is the propagator. Log lines carry the
//! `trace_id` and `span_id` of the span they were written in, so a log search finds the trace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The variables behind the exporter's endpoint; one of them must be set for traces to be
/// exported at all.
pub const ENV_ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The specification's switch that turns the SDK off even when an endpoint is set.
pub const ENV_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// The specification's variable naming the service; when unset the binary's own name is used.
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Longest wait for the last spans to leave at shutdown: long enough for a local collector to
/// take a batch, short enough that a collector that went away does not hold a stopping unit.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Level of the spans (and events) exported: our spans are all `info`; the `debug` and `trace`
/// spans of the libraries (hyper, h2, tonic) would multiply a request's spans for no reader.
pub const SPAN_LEVEL: tracing_subscriber::filter::LevelFilter =
    tracing_subscriber::filter::LevelFilter::INFO;

/// Instrumentation scope of our spans (the crate that created the tracer).
pub const SCOPE: &str = "ao-rs";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: the HTTP and gRPC layers create their spans only then, so that
/// a unit with traces off does no tracing work per request.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter refused its configuration (a bad endpoint, an unknown protocol).
    #[error("OTLP trace exporter: {0}")]
    Exporter(String),
}

/// Whether the environment asks for an exporter: an endpoint is set and the SDK is not
/// disabled. Split out so it can be tested without touching the process's environment.
pub fn wanted(var: impl Fn(&str) -> Option<String>) -> bool {
    let disabled = var(ENV_SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let endpoint = ENV_ENDPOINTS
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.trim().is_empty()));
    endpoint && !disabled
}

/// What [`crate::init_logging`] returns: keeps the tracer provider alive and, on drop, sends the
/// spans still buffered and stops the exporter. Hold it in `main` until the unit has stopped.
#[must_use = "dropping the guard stops the trace exporter"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// No exporter (traces off).
    pub fn off() -> Telemetry {
        Telemetry { provider: None }
    }

    /// Whether this guard holds an exporter.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Send the spans still buffered and stop the exporter (also done on drop).
    pub fn shutdown(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        ENABLED.store(false, Ordering::Relaxed);
        // The batch processor's thread blocks on the export; a gRPC export needs the tokio
        // runtime to make progress, so a worker thread must not sit blocked in it.
        let stop = move || {
            if let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
                eprintln!("traces: the exporter did not stop cleanly: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(stop)
            }
            _ => stop(),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The tracer provider the environment asks for, or `None` when traces are off. Must run inside
/// a tokio runtime (the gRPC exporter's channel lives there).
pub fn provider(default_service: &str) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    if !wanted(|name| std::env::var(name).ok()) {
        return Ok(None);
    }
    // The HTTP exporter's reqwest client takes rustls's process-wide provider, and our reqwest
    // is built without one (no aws-lc); ring is the one every client of ours uses. An `Err` only
    // says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var(ENV_SERVICE_NAME).map_or(true, |v| v.trim().is_empty()) {
        resource = resource.with_service_name(default_service.to_string());
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    Ok(Some(provider))
}

/// The tracing layer that turns spans into OpenTelemetry spans for `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SCOPE))
        // Thread names and source locations are noise in a trace of a request.
        .with_threads(false)
        .with_location(false)
}

/// A guard for `provider`, marking traces as on.
pub(crate) fn guard(provider: SdkTracerProvider) -> Telemetry {
    ENABLED.store(true, Ordering::Relaxed);
    Telemetry {
        provider: Some(provider),
    }
}

/// A log line's formatter that writes the OpenTelemetry `trace_id` and `span_id` of the span the
/// event happened in before the line (text) or as the first fields of the object (JSON), so a
/// log line leads to its trace.
pub(crate) struct WithTraceIds<F> {
    pub(crate) inner: F,
    pub(crate) json: bool,
}

/// The ids of the current OpenTelemetry span, if it has valid ones.
fn current_ids<S>(
    ctx: &tracing_subscriber::fmt::FmtContext<
        '_,
        S,
        impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static,
    >,
) -> Option<(String, String)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use opentelemetry::trace::TraceContextExt;
    let span = ctx.lookup_current()?;
    let cx = tracing::dispatcher::get_default(|d| {
        tracing_opentelemetry::get_otel_context(&span.id(), d)
    })?;
    let sc = cx.span().span_context().clone();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some((trace_id, span_id)) = current_ids(ctx) else {
            return self.inner.format_event(ctx, writer, event);
        };
        if !self.json {
            write!(writer, "trace_id={trace_id} span_id={span_id} ")?;
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn an_endpoint_turns_export_on_and_the_sdk_switch_off() {
        assert!(!wanted(env(&[])));
        assert!(!wanted(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(wanted(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318"
        )])));
        assert!(wanted(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces"
        )])));
        assert!(!wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])));
        assert!(wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "false"),
        ])));
    }
}
