//! Prometheus metrics every unit shares, written once: typed counters, gauges and histograms on
//! atomics, the text exposition format (`# HELP`, `# TYPE`, samples), the standard process
//! metrics read from `/proc/self`, and the per-route latency histograms of a unit's HTTP and gRPC
//! servers ([`ServerMetrics`], added by [`crate::servers`]).
//!
//! Rendered by hand rather than through a registry crate: every number is an atomic the hot path
//! bumps without a lock, the format is a dozen lines, and no dependency means nothing new to build
//! on 2 cores. Names follow Prometheus' conventions: the unit's prefix (`ao_su_`, `ao_cu_`,
//! `ao_mu_`, `ao_gateway_`), base units (`_seconds`, `_bytes`) and `_total` on counters; the process
//! metrics keep the names every Prometheus client library uses, so standard dashboards work.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::future::BoxFuture;

/// Upper bounds (seconds) of request latency histograms: from a cached answer (sub-millisecond)
/// to a request at the servers' deadline, close to the buckets Prometheus' client libraries use
/// by default, so the usual p50/p99 panels read them well.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Series one labelled histogram keeps at most; observations for new label values past it go to
/// the `other` series. The labels are bounded by construction (matched routes, known methods,
/// status codes), this is the backstop that keeps a bug from growing a scrape without limit.
pub const MAX_SERIES: usize = 512;

/// The label value of what is not worth its own series (unmatched routes, unknown methods).
pub const OTHER: &str = "other";

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Add `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Set the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Add one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Take one away, never below zero.
    pub fn dec(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
    }
    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A distribution over fixed buckets (upper bounds, ascending), as Prometheus histograms are.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket, not cumulative (made cumulative when rendered).
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum, as the bits of an `f64`.
    sum: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending upper bounds; `+Inf` is implied).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Record one value.
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// Record a duration, in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Record the time since `started`, in seconds.
    pub fn observe_since(&self, started: Instant) {
        self.observe_duration(started.elapsed());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

/// Histograms of one name, one per combination of label values.
#[derive(Debug)]
pub struct HistogramVec {
    labels: &'static [&'static str],
    bounds: &'static [f64],
    series: Mutex<BTreeMap<Vec<String>, Arc<Histogram>>>,
}

impl HistogramVec {
    /// A family with these label names over these buckets.
    pub fn new(labels: &'static [&'static str], bounds: &'static [f64]) -> HistogramVec {
        HistogramVec {
            labels,
            bounds,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// The histogram of these label values (in the order of the label names), created on first
    /// use; past [`MAX_SERIES`] the all-`other` series.
    pub fn with(&self, values: &[&str]) -> Arc<Histogram> {
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key: Vec<String> = values.iter().map(|v| (*v).to_string()).collect();
        if let Some(h) = series.get(&key) {
            return h.clone();
        }
        let key = if series.len() >= MAX_SERIES {
            vec![OTHER.to_string(); self.labels.len()]
        } else {
            key
        };
        series
            .entry(key)
            .or_insert_with(|| Arc::new(Histogram::new(self.bounds)))
            .clone()
    }

    fn snapshot(&self) -> Vec<(Vec<String>, Arc<Histogram>)> {
        self.series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The text exposition format being written: each family with its `# HELP` and `# TYPE`.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Escape a label value as the text format asks (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(names: &[&str], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A float as the text format writes it (`+Inf`, integers without a fraction).
fn float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// Nothing written yet.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A counter without labels.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, help, "counter");
        let _ = writeln!(self.out, "{name} {value}");
    }

    /// A counter without labels whose value is not a whole number (seconds).
    pub fn counter_f64(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "counter");
        let _ = writeln!(self.out, "{name} {}", float(value));
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "gauge");
        let _ = writeln!(self.out, "{name} {}", float(value));
    }

    /// A counter family with one label: one sample per `(value, count)`.
    pub fn counters(&mut self, name: &str, help: &str, label: &str, samples: &[(&str, u64)]) {
        self.header(name, help, "counter");
        for (v, n) in samples {
            let _ = writeln!(self.out, "{name}{{{label}=\"{}\"}} {n}", escape(v));
        }
    }

    /// A gauge family with one label: one sample per `(value, gauge)`.
    pub fn gauges(&mut self, name: &str, help: &str, label: &str, samples: &[(&str, f64)]) {
        self.header(name, help, "gauge");
        for (v, n) in samples {
            let _ = writeln!(
                self.out,
                "{name}{{{label}=\"{}\"}} {}",
                escape(v),
                float(*n)
            );
        }
    }

    fn histogram_samples(&mut self, name: &str, labels: &[&str], values: &[String], h: &Histogram) {
        let mut cumulative = 0u64;
        for (i, bound) in h.bounds.iter().enumerate() {
            cumulative += h.buckets[i].load(Ordering::Relaxed);
            let le = float(*bound);
            let l = label_text(labels, values, Some(("le", &le)));
            let _ = writeln!(self.out, "{name}_bucket{l} {cumulative}");
        }
        // Read once, after the buckets: a concurrent observation may land between, and +Inf must
        // never be below a finite bucket.
        let count = h.count().max(cumulative);
        let l = label_text(labels, values, Some(("le", "+Inf")));
        let _ = writeln!(self.out, "{name}_bucket{l} {count}");
        let l = label_text(labels, values, None);
        let _ = writeln!(self.out, "{name}_sum{l} {}", float(h.sum()));
        let _ = writeln!(self.out, "{name}_count{l} {count}");
    }

    /// A histogram without labels.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, help, "histogram");
        self.histogram_samples(name, &[], &[], h);
    }

    /// A labelled histogram family (its `# HELP` and `# TYPE` even before its first series, so a
    /// scrape lists every family the unit has from its start).
    pub fn histograms(&mut self, name: &str, help: &str, family: &HistogramVec) {
        self.header(name, help, "histogram");
        for (values, h) in family.snapshot() {
            self.histogram_samples(name, family.labels, &values, &h);
        }
    }

    /// Append text already in the exposition format (a family rendered elsewhere).
    pub fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// The text, for a `/metrics` answer.
    pub fn finish(self) -> String {
        self.out
    }
}

/// `Content-Type` of the text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What every unit's servers measure, under the unit's prefix: request latency per HTTP route
/// and per gRPC method, and the process metrics. A unit keeps one, hands it to its
/// [`crate::servers::Servers`] and [`crate::servers::grpc_server`], and renders it on `/metrics`
/// after its own families.
#[derive(Debug)]
pub struct ServerMetrics {
    prefix: &'static str,
    http: HistogramVec,
    grpc: HistogramVec,
    /// Set once the unit starts a gRPC server: a unit without one lists no gRPC family.
    serves_grpc: std::sync::atomic::AtomicBool,
    health: std::sync::OnceLock<crate::health::Health>,
}

impl ServerMetrics {
    /// The servers' metrics of the unit whose metric names start with `prefix` (`ao_su`, ...).
    pub fn new(prefix: &'static str) -> Arc<ServerMetrics> {
        Arc::new(ServerMetrics {
            prefix,
            http: HistogramVec::new(&["route", "method", "status"], LATENCY_BUCKETS),
            grpc: HistogramVec::new(&["method", "code"], LATENCY_BUCKETS),
            serves_grpc: std::sync::atomic::AtomicBool::new(false),
            health: std::sync::OnceLock::new(),
        })
    }

    /// The unit's prefix.
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// Record one HTTP request.
    pub fn observe_http(&self, route: &str, method: &str, status: u16, took: Duration) {
        let status = status.to_string();
        self.http
            .with(&[route, method, &status])
            .observe_duration(took);
    }

    /// Note that the unit serves gRPC, so its gRPC family is listed ([`crate::servers::grpc_server`] does).
    pub fn serves_grpc(&self) {
        self.serves_grpc.store(true, Ordering::Relaxed);
    }

    /// Record one gRPC call.
    pub fn observe_grpc(&self, method: &str, code: &str, took: Duration) {
        self.grpc.with(&[method, code]).observe_duration(took);
    }

    /// Report `health` as `<prefix>_ready` (the first one given is kept: one unit, one readiness).
    pub fn watch_health(&self, health: &crate::health::Health) {
        let _ = self.health.set(health.clone());
    }

    /// Write the readiness, the latency families and the process metrics.
    pub fn render(&self, out: &mut Exposition) {
        let p = self.prefix;
        if let Some(h) = self.health.get() {
            let ready = h.readiness() == crate::health::Readiness::Ready;
            out.gauge(
                &format!("{p}_ready"),
                "1 when the unit is ready for traffic (what /ready answers 200), 0 while warming up, \
                 missing a dependency or draining.",
                if ready { 1.0 } else { 0.0 },
            );
        }
        out.histograms(
            &format!("{p}_http_request_duration_seconds"),
            "Time to answer an HTTP request (to its response head), by matched route, method and status code.",
            &self.http,
        );
        if self.serves_grpc.load(Ordering::Relaxed) {
            out.histograms(
                &format!("{p}_grpc_request_duration_seconds"),
                "Time to answer a gRPC call (to its response head), by method and status code.",
                &self.grpc,
            );
        }
        process::render(out);
    }

    /// `router` with every request timed: an axum middleware added with `Router::layer`, so call
    /// it once every route is on the router and each request sees its [`MatchedPath`]; unmatched
    /// requests are counted under the route `other`.
    pub fn layer_http(self: &Arc<Self>, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(
            self.clone(),
            track_http,
        ))
    }
}

/// An HTTP method as a label: the standard ones by name, anything else `other` (a client can
/// send any token as a method).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => OTHER,
    }
}

async fn track_http(State(m): State<Arc<ServerMetrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| OTHER.to_string());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    m.observe_http(&route, method, res.status().as_u16(), started.elapsed());
    res
}

/// The tower layer that times every call of a tonic server (see [`crate::servers::grpc_server`]).
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer(pub Arc<ServerMetrics>);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    metrics: Arc<ServerMetrics>,
}

/// The gRPC status of a response head: its `grpc-status` header when the call ended there (an
/// error answered trailers-only, as tonic answers a handler's `Err`), else `OK` for a 200 (the
/// status of a successful call comes in the trailers, after the head this layer sees).
fn grpc_code<B>(res: &axum::http::Response<B>) -> tonic::Code {
    match res.headers().get("grpc-status") {
        Some(v) => tonic::Code::from_bytes(v.as_bytes()),
        None if res.status().is_success() => tonic::Code::Ok,
        None => tonic::Code::Unknown,
    }
}

impl<S, B, RB> tower::Service<axum::http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let method = req.uri().path().to_string();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => grpc_code(r),
                Err(_) => tonic::Code::Internal,
            };
            // A path no service serves is a client's string: one `other` series for all of them.
            let method = if code == tonic::Code::Unimplemented {
                OTHER
            } else {
                method.as_str()
            };
            metrics.observe_grpc(method, &format!("{code:?}"), started.elapsed());
            res
        })
    }
}

/// The standard process metrics (the names every Prometheus client library exports), read from
/// `/proc/self` on Linux; elsewhere none are written.
pub mod process {
    use super::Exposition;

    /// Clock ticks per second of the CPU times in `/proc/self/stat`: `USER_HZ`, which Linux fixes
    /// at 100 in its user-space ABI on every architecture we build for.
    pub const USER_HZ: f64 = 100.0;

    /// The process facts, each `None` when it could not be read.
    #[derive(Debug, Default, Clone, PartialEq)]
    pub struct Facts {
        /// Resident set size, bytes.
        pub resident_bytes: Option<u64>,
        /// Virtual memory size, bytes.
        pub virtual_bytes: Option<u64>,
        /// Open file descriptors.
        pub open_fds: Option<u64>,
        /// The soft limit of file descriptors.
        pub max_fds: Option<u64>,
        /// Threads.
        pub threads: Option<u64>,
        /// User and system CPU time, seconds.
        pub cpu_seconds: Option<f64>,
        /// Start time, seconds since the Unix epoch.
        pub start_time_seconds: Option<f64>,
        /// The memory limit of the process's cgroup, bytes (infinite when it has none).
        pub memory_limit_bytes: Option<f64>,
    }

    /// The memory limit of this process's cgroup: v2's `memory.max`, else v1's
    /// `memory.limit_in_bytes`; `max` (or v1's huge sentinel) is no limit, reported as `+Inf` so
    /// that `rss / limit` is 0 rather than missing; so is a cgroup we cannot read.
    fn memory_limit() -> Option<f64> {
        for path in [
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ] {
            if let Ok(text) = std::fs::read_to_string(path) {
                let text = text.trim();
                if text == "max" {
                    return Some(f64::INFINITY);
                }
                if let Ok(n) = text.parse::<u64>() {
                    // cgroup v1 writes "no limit" as the largest page-aligned i64.
                    return Some(if n >= i64::MAX as u64 / 2 {
                        f64::INFINITY
                    } else {
                        n as f64
                    });
                }
            }
        }
        // No cgroup memory file readable: no limit this process can know of.
        Some(f64::INFINITY)
    }

    /// A `/proc/self/status` line's value in kB, as bytes (`VmRSS:   1234 kB`).
    fn status_kb(status: &str, key: &str) -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kb.checked_mul(1024)
    }

    /// Parse the facts out of the texts of `/proc/self/{stat,status,limits}` and `/proc/stat`
    /// (pure, so it is tested on fixed text).
    pub fn parse(stat: &str, status: &str, limits: &str, proc_stat: &str) -> Facts {
        // The command name (field 2) is in parentheses and may hold spaces: fields count from
        // after its last ')'. There, index 0 is field 3 (state).
        let fields: Vec<&str> = stat
            .rfind(')')
            .map(|i| stat[i + 1..].split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
        let cpu = match (field(14), field(15)) {
            (Some(u), Some(s)) => Some((u + s) / USER_HZ),
            _ => None,
        };
        let boot: Option<f64> = proc_stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok());
        let start = match (boot, field(22)) {
            (Some(b), Some(t)) => Some(b + t / USER_HZ),
            _ => None,
        };
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok());
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok());
        Facts {
            resident_bytes: status_kb(status, "VmRSS:"),
            virtual_bytes: status_kb(status, "VmSize:"),
            open_fds: None,
            max_fds,
            threads,
            cpu_seconds: cpu,
            start_time_seconds: start,
            memory_limit_bytes: None,
        }
    }

    /// The facts of this process now.
    pub fn read() -> Facts {
        let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let mut facts = parse(
            &text("/proc/self/stat"),
            &text("/proc/self/status"),
            &text("/proc/self/limits"),
            &text("/proc/stat"),
        );
        facts.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        facts.memory_limit_bytes = memory_limit();
        facts
    }

    /// Write the process families (those that could be read).
    pub fn render(out: &mut Exposition) {
        let f = read();
        let gauges: [(&str, &str, Option<f64>); 6] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                f.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                f.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                f.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                f.max_fds.map(|v| v as f64),
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                f.threads.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                f.start_time_seconds,
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                out.gauge(name, help, v);
            }
        }
        if let Some(limit) = f.memory_limit_bytes {
            out.gauge(
                "ao_process_memory_limit_bytes",
                "Memory limit of the process's cgroup in bytes (+Inf when it has none), for RSS alerts.",
                limit,
            );
        }
        if let Some(cpu) = f.cpu_seconds {
            out.counter_f64(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                cpu,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets() {
        static B: &[f64] = &[0.1, 1.0];
        let h = Histogram::new(B);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        let mut out = Exposition::new();
        out.histogram("ao_x_seconds", "X.", &h);
        let text = out.finish();
        assert!(text.contains("# TYPE ao_x_seconds histogram"));
        assert!(text.contains("ao_x_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("ao_x_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("ao_x_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("ao_x_seconds_sum 5.55\n"));
        assert!(text.contains("ao_x_seconds_count 3\n"));
    }

    #[test]
    fn label_values_are_escaped_and_series_bounded() {
        static B: &[f64] = &[1.0];
        let v = HistogramVec::new(&["route"], B);
        v.with(&["/a\"b"]).observe(0.5);
        for i in 0..MAX_SERIES + 10 {
            v.with(&[&i.to_string()]).observe(0.5);
        }
        assert_eq!(v.snapshot().len(), MAX_SERIES + 1);
        let mut out = Exposition::new();
        out.histograms("ao_y_seconds", "Y.", &v);
        let text = out.finish();
        assert!(text.contains("route=\"/a\\\"b\""));
        assert!(text.contains("route=\"other\""));
    }

    #[tokio::test]
    async fn http_requests_are_timed_by_matched_route() {
        use axum::routing::get;
        use tower::ServiceExt;
        let m = ServerMetrics::new("ao_test");
        let app = m.layer_http(axum::Router::new().route("/result/{id}", get(|| async { "ok" })));
        for uri in ["/result/a", "/result/b", "/nothing/here"] {
            let req = axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        let mut out = Exposition::new();
        m.render(&mut out);
        let text = out.finish();
        assert!(
            text.contains(
                "ao_test_http_request_duration_seconds_count{route=\"/result/{id}\",method=\"GET\",status=\"200\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ao_test_http_request_duration_seconds_count{route=\"other\",method=\"GET\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
        // No gRPC server: no gRPC family.
        assert!(!text.contains("grpc"), "{text}");
    }

    #[test]
    fn process_facts_parse() {
        let stat =
            "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 1000 123456 789";
        let status = "Name:\tx\nVmSize:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        let proc_stat = "cpu 1 2 3\nbtime 1700000000\n";
        let f = process::parse(stat, status, limits, proc_stat);
        assert_eq!(f.resident_bytes, Some(1024 * 1024));
        assert_eq!(f.virtual_bytes, Some(2048 * 1024));
        assert_eq!(f.threads, Some(7));
        assert_eq!(f.max_fds, Some(1024));
        assert_eq!(f.cpu_seconds, Some(3.0));
        assert_eq!(f.start_time_seconds, Some(1_700_000_010.0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_its_metrics() {
        let mut out = Exposition::new();
        process::render(&mut out);
        let text = out.finish();
        for name in [
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_threads",
            "process_cpu_seconds_total",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{text}"
            );
        }
    }
}
