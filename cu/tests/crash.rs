//! Crash test: the real `cu` binary is killed with SIGKILL, once after evaluating a process
//! (it must resume from its checkpoint, not from nonce 0, with identical results) and once in the
//! middle of a long evaluation (nothing half-evaluated may survive: every result afterwards is
//! what a clean run gives).

mod common;

use std::path::Path;
use std::time::Duration;

use common::net::{Net, get, net};
use serde_json::Value;

struct Cu {
    unit: ao_local::ChildUnit,
    url: String,
}

async fn start(net: &Net, data: &Path) -> Cu {
    let args = [
        "--data-dir",
        data.to_str().expect("path"),
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--su-url",
        &format!("http://{}", net.su().grpc_addr),
        "--gateway-url",
        &net.gateway().url(),
        "--checkpoint-every",
        "10",
    ];
    let unit = ao_local::ChildUnit::start(ao_local::Spawn {
        name: "cu".into(),
        exe: env!("CARGO_BIN_EXE_cu").into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
    })
    .await
    .expect("start cu");
    assert!(unit.ready()["grpc"].is_string(), "{}", unit.ready());
    // Its ready line says it listens; it serves once its store is open.
    unit.wait_ready(ao_local::child::READY_TIMEOUT)
        .await
        .expect("the CU gets ready");
    let url = format!("http://{}", unit.addr("http").expect("http"));
    Cu { unit, url }
}

async fn kill(cu: Cu) {
    cu.unit.kill().await.expect("SIGKILL");
}

async fn outputs(net: &Net, cu: &Cu, pid: &str) -> Vec<Value> {
    let (status, page) = get(&net.http, format!("{}/results/{pid}?limit=1000", cu.url)).await;
    assert_eq!(status, 200, "{page}");
    page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_resumes_from_the_checkpoint_and_keeps_nothing_half_done() {
    let net = net().await;
    let data = net.dir.path().join("cu-binary");
    let a = net.spawn_named("a").await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(net.eval(&a, "n = (n or 0) + 1 return n").await);
    }

    // Evaluate A to nonce 25 (checkpoints at nonces 9 and 19), then kill the CU.
    let cu = start(&net, &data).await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{}?process-id={a}", cu.url, ids[24]),
    )
    .await;
    assert_eq!(r["Output"], "25");
    let before = outputs(&net, &cu, &a).await;
    assert_eq!(before.len(), 26);
    kill(cu).await;

    let cu = start(&net, &data).await;
    assert_eq!(
        outputs(&net, &cu, &a).await,
        before,
        "stored results survive"
    );
    let next = net.eval(&a, "return n").await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{next}?process-id={a}", cu.url),
    )
    .await;
    assert_eq!(r["Output"], "25");
    assert_eq!(
        net.metric(&cu.url, "ao_cu_messages_evaluated_total").await,
        7,
        "nonces 20..=26 only: resumed from the checkpoint at 19, not from 0"
    );
    assert_eq!(
        net.metric(&cu.url, "ao_cu_process_loads_total{source=\"checkpoint\"}")
            .await,
        1
    );
    assert_eq!(
        net.metric(&cu.url, "ao_cu_process_loads_total{source=\"cold\"}")
            .await,
        0
    );

    // Kill it again in the middle of a long evaluation of B.
    let b = net.spawn_named("b").await;
    let mut last = String::new();
    for _ in 0..300 {
        last = net.eval(&b, "m = (m or 0) + 1 return m").await;
    }
    let pending = {
        let http = net.http.clone();
        let url = format!("{}/result/{last}?process-id={b}", cu.url);
        tokio::spawn(async move { http.get(url).send().await })
    };
    // Kill once the run is under way, at a point that varies from run to run (between
    // checkpoints or on one), polled to a deadline rather than slept for.
    let kill_at = 1 + u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() % 250),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let evaluated = net.metric(&cu.url, "ao_cu_messages_evaluated_total").await;
        if evaluated >= kill_at {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {evaluated} of B's messages evaluated after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(cu).await;
    let _ = pending.await;

    let cu = start(&net, &data).await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{last}?process-id={b}", cu.url),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["Output"], "300");
    let listed = outputs(&net, &cu, &b).await;
    assert_eq!(listed.len(), 301);
    eprintln!(
        "after the kill mid-run: {} of B's 301 messages evaluated again",
        net.metric(&cu.url, "ao_cu_messages_evaluated_total").await
    );
    for (nonce, node) in listed.iter().enumerate().skip(1) {
        assert_eq!(node["Output"], nonce.to_string(), "nonce {nonce}");
    }
    kill(cu).await;
    net.close().await;
}
