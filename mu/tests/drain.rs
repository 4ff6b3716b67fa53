//! Drain on SIGTERM, against the real `mu` binary (the scenario is `ao_tests::drain`): under load
//! from concurrent senders, with one message half sent, the MU is sent SIGTERM. `/ready` turns
//! 503 while the half-sent message is in flight; that message, finished after the signal, is
//! accepted (202); no sender sees its connection cut under a request it sent before the signal;
//! the MU exits 0 within its grace. After a restart on the same data every accepted message is
//! at its SU, its task is there (`/trace`), and the work it caused finishes.

mod common;

use std::time::{Duration, Instant};

use ao_core::ao::MessageBuilder;
use ao_tests::drain::{Load, Req, Unit, drain_under_load};
use common::Computer;
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

/// Concurrent senders.
const CLIENTS: usize = 8;
/// Messages each sender sends at most.
const PER_CLIENT: usize = 200;
/// Messages accepted before the signal.
const ACCEPTED_BEFORE_SIGNAL: usize = 30;
/// The MU's `--shutdown-grace`.
const GRACE: Duration = Duration::from_secs(20);
/// How long the work accepted messages caused may take to finish after the restart.
const FINISH_DEADLINE: Duration = Duration::from_secs(120);

async fn start(flags: &[String]) -> Unit {
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    Unit::start(env!("CARGO_BIN_EXE_mu"), &args).await
}

/// Whether every task in a trace is finished.
fn all_finished(node: &serde_json::Value) -> bool {
    matches!(
        node["state"].as_str(),
        Some("computed" | "dropped" | "dead-letter")
    ) && node["children"]
        .as_array()
        .is_none_or(|c| c.iter().all(all_finished))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_sends_and_loses_nothing_accepted() {
    let mut c = Computer::start_with(false).await;
    let mut flags = c.mu_flags();
    flags.extend(["--shutdown-grace".into(), format!("{}s", GRACE.as_secs())]);
    let mut mu = start(&flags).await;
    c.mu_url = format!("http://{}", mu.addr("http"));
    let grpc = format!("http://{}", mu.addr("grpc"));
    for service in ["", "ao.messenger.v1.Messenger"] {
        let status = health_client(grpc.clone())
            .await
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let pid = c.spawn("drain", &[]).await;
    let raw = ao_core::encoding::decode_id("pid", &pid).expect("pid");
    let message = |n: String| {
        let m = MessageBuilder::new(raw)
            .tag("Action", "Note")
            .data(n)
            .sign(&c.user)
            .expect("message");
        Req::post(m.id(), "/", m.item().as_bytes().to_vec())
    };
    let load = Load {
        accepted: 202,
        writers: (0..CLIENTS)
            .map(|w| {
                (0..PER_CLIENT)
                    .map(|i| message(format!("sender {w} message {i}")))
                    .collect()
            })
            .collect(),
        slow: message("sent across the signal".into()),
        accepted_before_signal: ACCEPTED_BEFORE_SIGNAL,
        grace: GRACE,
    };
    let drained = drain_under_load(&mut mu, load).await;
    eprintln!(
        "MU: accepted {}, refused connects {}, cut after the signal {}, exit {:?} after SIGTERM",
        drained.accepted.len(),
        drained.refused,
        drained.cut_after_signal,
        drained.exit_after
    );

    let mu = start(&flags).await;
    c.mu_url = format!("http://{}", mu.addr("http"));
    let end = Instant::now() + FINISH_DEADLINE;
    for id in &drained.accepted {
        let r = c
            .http
            .get(format!("{}/{id}?process-id={pid}", c.su().url()))
            .send()
            .await
            .expect("su");
        assert_eq!(r.status(), 200, "accepted {id} is not at the SU");
        loop {
            let r = c
                .http
                .get(format!("{}/trace/{id}", c.mu_url))
                .send()
                .await
                .expect("trace");
            assert_eq!(r.status(), 200, "accepted {id} has no task");
            let trace: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
            if all_finished(&trace) {
                break;
            }
            assert!(Instant::now() < end, "{id} never finished: {trace:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(mu);
    c.stop().await;
}
