//! Loaded processes share a bounded pool of evaluation threads: loading many processes does not
//! start a thread each, and processes pinned to the same thread keep their own state.

mod common;

use common::net::{cu_with, get, net};
use futures_util::StreamExt;

/// Processes loaded at once: well above the cores of any machine the tests run on.
const PROCESSES: usize = 24;

/// Threads of this test process whose name starts with `prefix` (the CU names its evaluation
/// threads `cu-...`).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_share_a_few_threads_and_keep_their_own_state() {
    let net = net().await;
    let mut pids = Vec::new();
    for i in 0..PROCESSES {
        pids.push(net.spawn_named(&format!("p{i}")).await);
    }
    let mut firsts = Vec::new();
    for (i, pid) in pids.iter().enumerate() {
        firsts.push(net.eval(pid, &format!("n = {i} return n")).await);
    }
    let cu = cu_with(&net, |c| c.evaluation.follow = false).await;
    let answers: Vec<(usize, u16, serde_json::Value)> =
        futures_util::stream::iter(pids.iter().zip(&firsts).enumerate())
            .map(|(i, (pid, m))| {
                let url = format!("{}/result/{m}?process-id={pid}", cu.url());
                let http = &net.http;
                async move {
                    let (s, r) = get(http, url).await;
                    (i, s, r)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
    for (i, status, r) in answers {
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["Output"], i.to_string());
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = threads_named("cu-");
    assert!(
        threads <= cores,
        "{PROCESSES} loaded processes run on {threads} CU threads; at most one per core ({cores})"
    );

    // A second round, all processes at once: each sees only its own state.
    let mut seconds = Vec::new();
    for pid in &pids {
        seconds.push(net.eval(pid, "n = n * 10 + 1 return n").await);
    }
    let answers: Vec<(usize, u16, serde_json::Value)> =
        futures_util::stream::iter(pids.iter().zip(&seconds).enumerate())
            .map(|(i, (pid, m))| {
                let url = format!("{}/result/{m}?process-id={pid}", cu.url());
                let http = &net.http;
                async move {
                    let (s, r) = get(http, url).await;
                    (i, s, r)
                }
            })
            .buffer_unordered(PROCESSES)
            .collect()
            .await;
    for (i, status, r) in answers {
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["Output"], (i * 10 + 1).to_string());
    }
    assert!(threads_named("cu-") <= cores);
    cu.shutdown().await;
    net.close().await;
}
