//! What a pool adds, by hand (issue 15's benchmark): 600 token processes, each CU with a cache of
//! 1 GiB, behind the router with 1 CU and with 3.
//!
//! ```sh
//! cargo build --release --bins
//! cargo test --release -p ao-router --test capacity -- --ignored --nocapture
//! # AO_BENCH_PROCESSES, AO_BENCH_REQUESTS, AO_BENCH_CACHE_BYTES to change the sizes
//! ```
//!
//! Each process of the minimal Lua module (about 6 MiB of memory) gets a balance by an Eval; every
//! process's first result is asked once (a cold load each). Then 4 clients send `REQUESTS` transfers
//! (an Eval that moves one unit) to processes picked uniformly at random (a fixed seed), each
//! followed by its `/result` through the router; what is measured is that phase: how often the
//! process was still loaded (`ao_cu_process_loads_total{source="memory"}` over all loads, summed
//! over the CUs), the p50 and p99 of `/result`, and transfers per second. A 2-core machine measures
//! capacity (processes held warm), not CPU: 3 CUs share the same two cores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Cu, Net, get, net, start_router};

/// Processes when `AO_BENCH_PROCESSES` does not say.
const PROCESSES: usize = 600;
/// Transfers in the measured phase when `AO_BENCH_REQUESTS` does not say.
const REQUESTS: usize = 1200;
/// Each CU's `--cache-bytes` when `AO_BENCH_CACHE_BYTES` does not say: 1 GiB.
const CACHE_BYTES: u64 = 1 << 30;
/// Clients sending at once.
const CLIENTS: usize = 4;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sum of `ao_cu_process_loads_total{source=...}` over `cus`, by source.
async fn loads(net: &Net, cus: &[Cu]) -> [u64; 5] {
    const SOURCES: [&str; 5] = ["memory", "checkpoint", "arweave", "peer", "cold"];
    let mut out = [0; 5];
    for cu in cus {
        let text = net
            .http
            .get(format!("{}/metrics", cu.url()))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        for (i, s) in SOURCES.iter().enumerate() {
            out[i] += common::metric(
                &text,
                &format!("ao_cu_process_loads_total{{source=\"{s}\"}}"),
            );
        }
    }
    out
}

/// A small linear congruential generator: the same processes in the same order on every run,
/// without a dependency.
fn picks(n: usize, of: usize, seed: u64) -> Vec<usize> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) as usize) % of
        })
        .collect()
}

/// One configuration: `cus` CUs behind the router. Prints and returns its line.
async fn run(n_cus: usize, processes: usize, requests: usize, cache: u64) -> String {
    let net = Arc::new(net().await);
    let mut pids = Vec::with_capacity(processes);
    let t = Instant::now();
    for i in 0..processes {
        let pid = net.spawn_named(&format!("token{i}")).await;
        let id = net.eval(&pid, "Balance = 1000000 return 'ready'").await;
        pids.push((pid, id));
    }
    eprintln!(
        "{n_cus} CU(s): {processes} processes scheduled in {:?}",
        t.elapsed()
    );
    let cache = cache.to_string();
    let flags = ["--cache-bytes", cache.as_str(), "--follow", "false"];
    let mut cus = Vec::new();
    for i in 0..n_cus {
        cus.push(Cu::start_with(&net, i, &flags).await);
    }
    let dir = net.dir.path().join("router");
    let refs: Vec<&Cu> = cus.iter().collect();
    let router = start_router(&dir, &refs, "127.0.0.1:0", &[]).await;
    let base = format!("http://{}", router.addr("http"));

    let t = Instant::now();
    for (pid, id) in &pids {
        let (status, _, body) = get(&net.http, &format!("{base}/result/{id}?process-id={pid}"))
            .await
            .expect("result");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    eprintln!(
        "{n_cus} CU(s): every process loaded once in {:?}",
        t.elapsed()
    );

    let before = loads(&net, &cus).await;
    let order = Arc::new(picks(requests, processes, 7));
    let pids = Arc::new(pids);
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (net, order, pids, base) = (net.clone(), order.clone(), pids.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let mut took = Vec::new();
            for k in (c..order.len()).step_by(CLIENTS) {
                let pid = &pids[order[k]].0;
                let id = net.eval(pid, "Balance = Balance - 1 return Balance").await;
                let t = Instant::now();
                let (status, _, body) =
                    get(&net.http, &format!("{base}/result/{id}?process-id={pid}"))
                        .await
                        .expect("result");
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                took.push(t.elapsed());
            }
            took
        }));
    }
    let mut took: Vec<Duration> = Vec::new();
    for c in clients {
        took.extend(c.await.expect("client"));
    }
    let elapsed = started.elapsed();
    let after = loads(&net, &cus).await;
    took.sort();
    let q = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let all: u64 = delta.iter().sum();
    let line = format!(
        "{n_cus} CU(s), {processes} processes, {requests} transfers: warm hit rate {:.1}% \
         ({} of {all} loads from memory, {} from checkpoints, {} cold); /result p50 {:.1} ms, \
         p99 {:.1} ms; {:.0} transfers/s",
        100.0 * delta[0] as f64 / all.max(1) as f64,
        delta[0],
        delta[1],
        delta[4],
        q(0.50).as_secs_f64() * 1000.0,
        q(0.99).as_secs_f64() * 1000.0,
        requests as f64 / elapsed.as_secs_f64(),
    );
    eprintln!("{line}");
    drop(router);
    drop(cus);
    if let Ok(net) = Arc::try_unwrap(net) {
        net.close().await;
    }
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bench, by hand"]
async fn bench_600_token_processes_on_1_and_3_cus() {
    let processes = env_or("AO_BENCH_PROCESSES", PROCESSES);
    let requests = env_or("AO_BENCH_REQUESTS", REQUESTS);
    let cache = env_or("AO_BENCH_CACHE_BYTES", CACHE_BYTES);
    let one = run(1, processes, requests, cache).await;
    let three = run(3, processes, requests, cache).await;
    eprintln!("\n{one}\n{three}");
}
