//! The whole path on loopback, MU -> SU -> CU, on a local computer in this process (the Lua
//! module, processes trusting the MU):
//! - send-to-result latency of one message to a warm process: POST to the MU, then the CU's
//!   `/result` (p50/p99 over `N` messages, default 200);
//! - a 10-hop chain between two processes: POST of the first message until the MU's trace shows
//!   the tenth push computed;
//! - messages per second through the whole path with 1, 10 and 100 processes: `M` messages
//!   (default 1000) sent by 16 concurrent clients, until every result is read from the CU.
//!
//! Run: `cargo bench -p ao-mu --bench path`. With `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other
//! `OTEL_*` variables) set, the units' spans are exported, to measure the cost of traces.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Computer;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn one_hop(c: &Computer, n: usize) {
    let pid = c.spawn("warm", &[]).await;
    c.eval(
        &pid,
        "Handlers.add('ping', 'Ping', function(m) Count = (Count or 0) + 1 end)",
    )
    .await;
    for _ in 0..10 {
        let id = c.send(&pid, &[("Action", "Ping")], "").await;
        c.result(&pid, &id).await;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let id = c.send(&pid, &[("Action", "Ping")], "").await;
        let r = c.result(&pid, &id).await;
        assert!(r.get("Error").is_none(), "{r}");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "one hop (POST to MU, result from CU), {n} messages: p50 {:.2} ms, p99 {:.2} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
}

async fn chain(c: &Computer, runs: usize) {
    let a = c.spawn("chain-a", &[]).await;
    let b = c.spawn("chain-b", &[]).await;
    for (p, other) in [(&a, &b), (&b, &a)] {
        c.eval(
            p,
            &format!(
                "Handlers.add('hop', 'Hop', function(m) local n = tonumber(m.N) \
                 if n < 10 then Send({{Target = '{other}', Action = 'Hop', N = tostring(n + 1)}}) end end)"
            ),
        )
        .await;
    }
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let id = c.send(&a, &[("Action", "Hop"), ("N", "1")], "").await;
        // Done when the trace is 10 pushes deep and the last is computed.
        loop {
            let r = c
                .http
                .get(format!("{}/trace/{id}", c.mu_url()))
                .send()
                .await
                .expect("trace");
            let v: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.expect("body")).unwrap_or_default();
            let mut node = &v;
            let mut depth = 0;
            while node["state"] == "computed"
                && node["children"].as_array().is_some_and(|c| !c.is_empty())
            {
                node = &node["children"][0];
                depth += 1;
            }
            if depth == 9 && node["state"] == "computed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "10-hop chain (9 pushes after the user's message), {runs} runs: p50 {:.1} ms, p99 {:.1} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
}

async fn throughput(c: &Arc<Computer>, processes: usize, m: usize) {
    let mut pids = Vec::new();
    for i in 0..processes {
        let pid = c.spawn(&format!("t{i}"), &[]).await;
        c.eval(
            &pid,
            "Handlers.add('ping', 'Ping', function(m) Count = (Count or 0) + 1 end)",
        )
        .await;
        pids.push(pid);
    }
    let pids = Arc::new(pids);
    let t = Instant::now();
    let clients = 16;
    let mut handles = Vec::new();
    for k in 0..clients {
        let c = c.clone();
        let pids = pids.clone();
        handles.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut i = k;
            while i < m {
                let pid = &pids[i % pids.len()];
                sent.push((pid.clone(), c.send(pid, &[("Action", "Ping")], "").await));
                i += clients;
            }
            for (pid, id) in sent {
                let r = c.result(&pid, &id).await;
                assert!(r.get("Error").is_none(), "{r}");
            }
        }));
    }
    for h in handles {
        h.await.expect("client");
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "throughput, {processes} process(es), {m} messages, 16 clients: {:.0} msg/s ({:.1} s)",
        m as f64 / s,
        s
    );
}

/// Export requests and bytes an [`otlp_sink`] took.
type SinkCounts = Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)>;

/// With `AO_BENCH_OTLP_SINK=1`, an OTLP/HTTP receiver at `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (`http://127.0.0.1:PORT`) that takes `/v1/traces` and throws it away, so that the bench
/// measures what exporting costs the units and not a collector's work.
async fn otlp_sink() -> Option<SinkCounts> {
    use std::sync::atomic::Ordering;
    if std::env::var("AO_BENCH_OTLP_SINK").ok().as_deref() != Some("1") {
        return None;
    }
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").expect("the sink's endpoint");
    let addr: std::net::SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("OTEL_EXPORTER_OTLP_ENDPOINT as http://127.0.0.1:PORT");
    let counts: SinkCounts = Arc::default();
    let seen = counts.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.0.fetch_add(1, Ordering::Relaxed);
                seen.1.fetch_add(body.len() as u64, Ordering::Relaxed);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("sink bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Some(counts)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // With OTEL_EXPORTER_OTLP_ENDPOINT set, every unit's spans are exported (one tracer for
        // the four units of this process), to measure what traces cost on this path.
        let sink = otlp_sink().await;
        let _telemetry = ao_runtime::telemetry::wanted(|n| std::env::var(n).ok()).then(|| {
            ao_runtime::init_logging(ao_runtime::LogFormat::Text, "ao-mu-bench").expect("telemetry")
        });
        let c = Arc::new(Computer::start().await);
        one_hop(&c, env("N", 200)).await;
        chain(&c, env("RUNS", 20)).await;
        let m = env("M", 1000);
        for p in [1, 10, 100] {
            throughput(&c, p, m).await;
        }
        if let Some(sink) = sink {
            println!(
                "OTLP sink: {} export requests, {} bytes",
                sink.0.load(std::sync::atomic::Ordering::Relaxed),
                sink.1.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    });
}
