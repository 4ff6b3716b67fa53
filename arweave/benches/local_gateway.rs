//! Throughput of the local gateway over loopback HTTP, as clients see it.
//!
//! 1. Ingest: `ITEMS` signed 1 KiB ed25519 items (signed before the clock starts) posted to
//!    `POST /tx` by `CLIENTS` concurrent clients; every upload is verified, unbundled if needed,
//!    indexed and fsynced before its 200. Reports items/s and latency percentiles.
//! 2. Query: after one block includes them, `CLIENTS` clients send GraphQL
//!    `transactions(tags: [{name: "Process", values: [P]}], first: 10)` for random P (100 processes,
//!    so each tag value matches ~1% of the items) for `SECONDS`. Reports queries/s and latencies.
//!
//! Run: `cargo bench -p ao-arweave --bench local_gateway` (env ITEMS, CLIENTS, SECONDS override
//! 100000, 16, 10). Numbers go to BENCHMARKS.md with the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ao_arweave::http::{ClientConfig, HttpClient};
use ao_arweave::local::{self, Config};
use ao_core::DataItemBuilder;
use ao_core::encoding::b64url;
use ao_core::wallet::Ed25519Wallet;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn report(what: &str, n: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{what}: {n} in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let items = env_or("ITEMS", 100_000);
    let clients = env_or("CLIENTS", 16);
    let seconds = env_or("SECONDS", 10) as u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = local::serve(Config {
        data_dir: dir.path().join("arweave"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        block_interval: Duration::ZERO,
        max_item_size: local::DEFAULT_MAX_ITEM_SIZE,
        http_limits: ao_runtime::http::HttpLimits::new(local::DEFAULT_MAX_ITEM_SIZE),
    })
    .await
    .expect("serve");
    let url = gateway.url();

    let processes: Vec<String> = (0..100u8).map(|i| b64url([i; 32])).collect();
    let wallet = Ed25519Wallet::from_seed(&[9u8; 32]).expect("seed");
    let payload = vec![b'x'; 1024];
    let signed: Vec<Vec<u8>> = (0..items)
        .map(|i| {
            DataItemBuilder::new()
                .target([(i % 100) as u8; 32])
                .tag("Data-Protocol", "ao")
                .tag("Type", "Message")
                .tag("Process", processes[i % 100].clone())
                .tag("Action", format!("Action-{}", i % 10))
                .tag("Seq", i.to_string())
                .data(payload.clone())
                .sign(&wallet)
                .expect("sign")
                .as_bytes()
                .to_vec()
        })
        .collect();
    let signed = Arc::new(signed);

    // The plain reqwest client our HttpClient configures (TLS provider chosen there); requests go
    // out without retries so every number is one HTTP exchange.
    let http = HttpClient::new(&ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, signed, next) = (http.clone(), url.clone(), signed.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = signed.get(i) else { break };
                let t = Instant::now();
                let res = http
                    .post(format!("{url}/tx"))
                    .header("content-type", "application/octet-stream")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("post");
                assert!(res.status().is_success(), "upload {i}: {}", res.status());
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client"));
    }
    report(
        &format!("ingest (1 KiB ed25519 items, {clients} clients)"),
        items,
        start.elapsed(),
        latencies,
    );
    gateway.mine().await.expect("mine");

    let query = "query($p: [String!]!) { transactions(tags: [{name: \"Process\", values: $p}], first: 10) { pageInfo { hasNextPage } edges { cursor node { id tags { name value } block { height } } } } }";
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, processes) = (http.clone(), url.clone(), processes.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut k = c;
            while Instant::now() < deadline {
                k = (k * 31 + 7) % processes.len();
                let body = serde_json::json!({"query": query, "variables": {"p": [processes[k]]}});
                let t = Instant::now();
                let res = http
                    .post(format!("{url}/graphql"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("graphql")
                    .bytes()
                    .await
                    .expect("body");
                let res: serde_json::Value = serde_json::from_slice(&res).expect("json");
                let edges = res["data"]["transactions"]["edges"]
                    .as_array()
                    .map_or(0, Vec::len);
                assert_eq!(edges, 10.min(signed_per_process(items)), "{res}");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client"));
    }
    report(
        &format!("GraphQL tag query over {items} items, first 10 ({clients} clients)"),
        latencies.len(),
        start.elapsed(),
        latencies,
    );
    gateway.shutdown().await;
}

fn signed_per_process(items: usize) -> usize {
    items / 100
}
