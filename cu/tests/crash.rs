//! Crash test: the real `cu` binary is killed with SIGKILL, once after evaluating a process
//! (it must resume from its checkpoint, not from nonce 0, with identical results) and once in the
//! middle of a long evaluation (nothing half-evaluated may survive: every result afterwards is
//! what a clean run gives).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::net::{Net, get, net};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Cu {
    child: Child,
    url: String,
}

async fn start(net: &Net, data: &Path) -> Cu {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cu"))
        .args(["--data-dir", data.to_str().expect("path")])
        .args(["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .args(["--su-url", &format!("http://{}", net.su.grpc_addr)])
        .args(["--gateway-url", &net.gateway.url()])
        .args(["--checkpoint-every", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start cu");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready JSON");
    assert!(ready["grpc"].is_string(), "{ready}");
    Cu {
        child,
        url: format!("http://{}", ready["http"].as_str().expect("http")),
    }
}

async fn kill(mut cu: Cu) {
    cu.child.start_kill().expect("SIGKILL");
    cu.child.wait().await.expect("reaped");
}

async fn metric(net: &Net, cu: &Cu, name: &str) -> u64 {
    let text = net
        .http
        .get(format!("{}/metrics", cu.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    common::metric(&text, name)
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
        metric(&net, &cu, "cu_messages_evaluated_total").await,
        7,
        "nonces 20..=26 only: resumed from the checkpoint at 19, not from 0"
    );
    assert_eq!(
        metric(&net, &cu, "cu_process_loads_from_checkpoint_total").await,
        1
    );
    assert_eq!(metric(&net, &cu, "cu_process_loads_cold_total").await, 0);

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
        let evaluated = metric(&net, &cu, "cu_messages_evaluated_total").await;
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
        metric(&net, &cu, "cu_messages_evaluated_total").await
    );
    for (nonce, node) in listed.iter().enumerate().skip(1) {
        assert_eq!(node["Output"], nonce.to_string(), "nonce {nonce}");
    }
    kill(cu).await;
    net.close().await;
}
