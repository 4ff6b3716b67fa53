//! Drain on SIGTERM, against the real `cu` binary (the scenario is `ao_tests::drain`): clients ask
//! for the results of messages on several processes (each a fresh evaluation), a dry-run is half
//! sent, and the CU is sent SIGTERM. `/ready` turns 503 while the dry-run is in flight; it is then
//! answered; no client sees its connection cut under a request it sent before the signal; the CU
//! exits 0 within its grace, having checkpointed the processes it evaluated (with
//! `--checkpoint-every` far above the load, only the shutdown makes checkpoints). After a restart
//! on the same data every result answered is served from the store, and each process loads from
//! its shutdown checkpoint, not from nonce 0.

mod common;

use std::path::Path;
use std::time::Duration;

use ao_tests::drain::{Load, Req, Unit, drain_under_load};
use common::net::{Net, get, net};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A `grpc.health.v1` client on `url` (tonic-health has no `connect` without its transport
/// feature).
async fn health_client(url: impl Into<String>) -> HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(url.into())
        .expect("url")
        .connect()
        .await
        .expect("health connect");
    HealthClient::new(channel)
}

/// Processes evaluated at once (one client each).
const PROCESSES: usize = 4;
/// Messages scheduled on each process (each client asks for their results in order).
const MESSAGES: usize = 40;
/// Results answered before the signal.
const ACCEPTED_BEFORE_SIGNAL: usize = 12;
/// The CU's `--shutdown-grace`.
const GRACE: Duration = Duration::from_secs(20);

async fn start(net: &Net, data: &Path) -> Unit {
    let su = format!("http://{}", net.su().grpc_addr);
    let grace = format!("{}s", GRACE.as_secs());
    let unit = Unit::start(
        env!("CARGO_BIN_EXE_cu"),
        &[
            "--data-dir",
            data.to_str().expect("path"),
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--su-url",
            &su,
            "--gateway-url",
            &net.gateway().url(),
            "--checkpoint-every",
            "100000",
            "--shutdown-grace",
            &grace,
        ],
    )
    .await;
    // Its ready line says it listens; it serves once its store is open.
    unit.0
        .wait_ready(ao_local::child::READY_TIMEOUT)
        .await
        .expect("the CU gets ready");
    unit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_in_flight_requests_and_checkpoints_what_it_evaluated() {
    let net = net().await;
    let data = net.dir.path().join("cu-binary");
    let mut pids = Vec::new();
    let mut writers = Vec::new();
    for p in 0..PROCESSES {
        let pid = net.spawn_named(&format!("p{p}")).await;
        let mut reqs = Vec::new();
        for n in 0..MESSAGES {
            let id = net.eval(&pid, &format!("return {n}")).await;
            reqs.push(Req {
                id: format!("{pid} {id}"),
                method: "GET",
                path: format!("/result/{id}?process-id={pid}"),
                body: Vec::new(),
            });
        }
        pids.push(pid);
        writers.push(reqs);
    }

    let mut cu = start(&net, &data).await;
    let grpc = format!("http://{}", cu.addr("grpc"));
    // Ready over HTTP (`start` waited for it); gRPC health follows from the same state.
    for service in ["", "ao.compute.v1.Compute"] {
        let end = std::time::Instant::now() + ao_tests::drain::POLL_DEADLINE;
        loop {
            let status = health_client(grpc.clone())
                .await
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .expect("check")
                .into_inner()
                .status;
            if status == ServingStatus::Serving as i32 {
                break;
            }
            assert!(
                std::time::Instant::now() < end,
                "{service:?} stayed {status} after the CU got ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let dry_run = serde_json::json!({"Target": pids[0], "Owner": "drain-test", "Data": "return 1",
        "Tags": [{"name": "Action", "value": "Eval"}]});
    let load = Load {
        accepted: 200,
        writers,
        slow: Req::post(
            "dry-run".into(),
            &format!("/dry-run?process-id={}", pids[0]),
            dry_run.to_string().into_bytes(),
        ),
        accepted_before_signal: ACCEPTED_BEFORE_SIGNAL,
        grace: GRACE,
    };
    let drained = drain_under_load(&mut cu, load).await;
    eprintln!(
        "CU: answered {}, refused connects {}, cut after the signal {}, exit {:?} after SIGTERM",
        drained.accepted.len(),
        drained.refused,
        drained.cut_after_signal,
        drained.exit_after
    );

    let cu = start(&net, &data).await;
    let url = format!("http://{}", cu.addr("http"));
    for answered in drained.accepted.iter().filter(|a| *a != "dry-run") {
        let (pid, id) = answered.split_once(' ').expect("pid and id");
        let (status, body) = get(&net.http, format!("{url}/result/{id}?process-id={pid}")).await;
        assert_eq!(status, 200, "{id}: {body}");
    }
    assert_eq!(
        net.metric(&url, "ao_cu_messages_evaluated_total").await,
        0,
        "a result answered before the shutdown was evaluated again"
    );
    // One more message on each process: it starts from its shutdown checkpoint.
    for pid in &pids {
        let id = net.eval(pid, "return 'after'").await;
        let (status, body) = get(&net.http, format!("{url}/result/{id}?process-id={pid}")).await;
        assert_eq!(status, 200, "{body}");
    }
    // Every process with an answered result was evaluated before the shutdown, so it has a
    // checkpoint from it (a process the load never reached may start cold).
    let evaluated: std::collections::HashSet<&str> = drained
        .accepted
        .iter()
        .filter_map(|a| a.split_once(' ').map(|(pid, _)| pid))
        .collect();
    let cold = net
        .metric(&url, "ao_cu_process_loads_total{source=\"cold\"}")
        .await;
    let from_checkpoint = net
        .metric(&url, "ao_cu_process_loads_total{source=\"checkpoint\"}")
        .await;
    eprintln!(
        "processes with answers before the exit {}, loaded from a checkpoint {from_checkpoint}, cold {cold}",
        evaluated.len()
    );
    assert!(!evaluated.is_empty());
    assert_eq!(from_checkpoint + cold, PROCESSES as u64);
    assert!(
        from_checkpoint >= evaluated.len() as u64,
        "a process evaluated before the shutdown started again from nonce 0: no checkpoint"
    );
    drop(cu);
    net.close().await;
}
