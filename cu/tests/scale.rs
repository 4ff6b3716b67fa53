//! A measurement, run by hand: many processes of the project's Lua module loaded at once on one
//! CU. Prints the OS threads and resident memory of the test process (gateway, SU and CU run in
//! it) before and with the processes loaded, and the latency of `/result` for a new message on
//! each loaded process (its evaluation on a warm instance, then the stored answer).
//!
//! Run: `AO_SCALE_PROCESSES=2000 cargo test --release -p ao-cu --test scale -- --ignored --nocapture`

mod common;

use std::time::{Duration, Instant};

use ao_arweave::Bundler;
use common::net::{cu_with, get, net};
use futures_util::StreamExt;

/// Processes loaded when `AO_SCALE_PROCESSES` is not set (the figure).
const DEFAULT_PROCESSES: usize = 2000;
/// Requests in flight at once, as a busy MU would send them.
const CONCURRENCY: usize = 32;

/// A field of `/proc/self/status` (`Threads`, `VmRSS` in kB).
fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
async fn many_loaded_processes() {
    let n: usize = std::env::var("AO_SCALE_PROCESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PROCESSES);
    let net = net().await;
    let module = ao_module_lua::module_builder()
        .sign(&net.user)
        .expect("module item");
    net.gateway().upload(module.item()).await.expect("publish");
    let module = module.id();
    let started = Instant::now();
    let pids: Vec<String> = futures_util::stream::iter(0..n)
        .map(|i| {
            let net = &net;
            let module = &module;
            async move { net.spawn_on(module, &[("Name", &format!("p{i}"))]).await }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    eprintln!("spawned {n} processes in {:?}", started.elapsed());

    // Not following the SU, so that `/result` below evaluates (rather than finds a result the
    // follower computed); a budget large enough that nothing is evicted.
    let cu = cu_with(&net, |c| {
        c.evaluation.follow = false;
        c.evaluation.cache_bytes = 64 << 30;
    })
    .await;
    let threads_before = status("Threads");
    let rss_before = status("VmRSS");
    let started = Instant::now();
    let loaded: Vec<u16> = futures_util::stream::iter(&pids)
        .map(|pid| {
            let url = format!("{}/result/{pid}?process-id={pid}", cu.url());
            let http = &net.http;
            async move { get(http, url).await.0 }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert!(loaded.iter().all(|s| *s == 200), "every process loads");
    let load_time = started.elapsed();
    let threads_loaded = status("Threads");
    let rss_loaded = status("VmRSS");

    let msgs: Vec<(String, String)> = futures_util::stream::iter(&pids)
        .map(|pid| {
            let net = &net;
            async move { (pid.clone(), net.eval(pid, "return 1 + 1").await) }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures_util::stream::iter(&msgs)
        .map(|(pid, m)| {
            let url = format!("{}/result/{m}?process-id={pid}", cu.url());
            let http = &net.http;
            async move {
                let t = Instant::now();
                let (status, r) = get(http, url).await;
                assert_eq!(status, 200, "{r}");
                assert_eq!(r.get("Error"), None, "{r}");
                assert_eq!(
                    r["Output"]["data"].to_string().trim_matches('"'),
                    "2",
                    "{r}"
                );
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let result_time = started.elapsed();
    latencies.sort();
    let threads_after = status("Threads");
    let rss_after = status("VmRSS");
    let text = net
        .http
        .get(format!("{}/metrics", cu.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        common::metric(&text, "ao_cu_processes_loaded"),
        n as u64,
        "all loaded"
    );
    eprintln!(
        "SCALE processes={n} load={load_time:?} threads: before={threads_before} loaded={threads_loaded} \
         after={threads_after}; RSS MiB: before={} loaded={} after={}; /result x{n} at {CONCURRENCY} \
         in flight: {result_time:?}, p50={:?} p99={:?} max={:?}; cached MiB={}",
        rss_before / 1024,
        rss_loaded / 1024,
        rss_after / 1024,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().expect("some"),
        common::metric(&text, "ao_cu_cache_bytes") >> 20,
    );
    cu.shutdown().await;
    net.close().await;
}
