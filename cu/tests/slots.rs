//! The CU's process slots stay bounded: requests for processes that do not exist leave none
//! behind (anyone could otherwise grow the CU's memory without limit), and unloading a process
//! removes its slot.

mod common;

use common::metric;
use common::net::{cu_with, get, net};
use sha2::{Digest, Sha256};

/// Unknown process ids asked per endpoint.
const UNKNOWN: usize = 40;

async fn metrics(net: &common::net::Net, cu: &ao_cu::RunningCu) -> String {
    net.http
        .get(format!("{}/metrics", cu.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_processes_that_do_not_exist_leave_no_slot() {
    let net = net().await;
    let cu = cu_with(&net, |_| {}).await;
    let before = metric(&metrics(&net, &cu).await, "ao_cu_process_slots");
    assert_eq!(before, 0);
    for i in 0..UNKNOWN {
        let pid = ao_core::encoding::b64url(Sha256::digest(format!("no such process {i}")));
        for url in [
            format!("{}/state/{pid}", cu.url()),
            format!("{}/cron/{pid}", cu.url()),
            format!("{}/result/{pid}?process-id={pid}", cu.url()),
        ] {
            let (status, body) = get(&net.http, url.clone()).await;
            assert!(
                (400..500).contains(&status),
                "{url}: an unknown process is a client error, got {status} {body}"
            );
        }
    }
    let text = metrics(&net, &cu).await;
    assert_eq!(
        metric(&text, "ao_cu_process_slots"),
        before,
        "{} requests for unknown processes left slots behind",
        3 * UNKNOWN
    );
    assert_eq!(metric(&text, "ao_cu_processes_loaded"), 0);
    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unloading_a_process_removes_its_slot() {
    let net = net().await;
    let pid = net.spawn().await;
    let m = net.eval(&pid, "return 6 * 7").await;
    // A budget of one byte: every process is unloaded (checkpointed first) as soon as its
    // evaluation ends, before `/result` answers.
    let cu = cu_with(&net, |c| c.evaluation.cache_bytes = 1).await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{m}?process-id={pid}", cu.url()),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["Output"], "42");
    let text = metrics(&net, &cu).await;
    assert_eq!(metric(&text, "ao_cu_process_evictions_total"), 1, "{text}");
    assert_eq!(metric(&text, "ao_cu_processes_loaded"), 0, "{text}");
    assert_eq!(
        metric(&text, "ao_cu_process_slots"),
        0,
        "the unloaded process's slot was removed"
    );
    // It comes back from its checkpoint when asked again.
    let m2 = net.eval(&pid, "return 7 * 7").await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{m2}?process-id={pid}", cu.url()),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["Output"], "49");
    assert_eq!(
        metric(&metrics(&net, &cu).await, "ao_cu_process_slots"),
        0,
        "unloaded again"
    );
    cu.shutdown().await;
    net.close().await;
}
