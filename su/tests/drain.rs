//! Drain on SIGTERM, against the real `su` binary (the scenario is `ao_tests::drain`): under load
//! from concurrent writers, with one write half sent, the SU is sent SIGTERM. `/ready` turns 503
//! (and `grpc.health.v1` NOT_SERVING) while the half-sent write is still in flight; that write,
//! finished after the signal, is answered and stored; no writer sees its connection cut under a
//! request it sent before the signal (a refused connect after the listener closed is expected);
//! the SU exits 0 within its grace; every write answered 200 is in the schedule after a restart
//! on the same data. Also the probes while warming up: not ready until the SU knows a block
//! height, and `/health` (liveness) 200 all along.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_tests::drain::{Load, POLL_DEADLINE, RawConn, Req, Unit, drain_under_load, ready_until};
use common::*;
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

/// Concurrent writers.
const CLIENTS: usize = 8;
/// Writes each writer sends at most (the load is bounded even if the signal never came).
const PER_CLIENT: usize = 300;
/// Writes accepted before the signal, so the signal lands in the middle of real load.
const ACCEPTED_BEFORE_SIGNAL: usize = 40;
/// The SU's `--shutdown-grace`.
const GRACE: Duration = Duration::from_secs(20);
/// The gRPC service name of the SU.
const SCHEDULER: &str = "ao.scheduler.v1.Scheduler";

fn su_args(data: &str, gateway: &str) -> Vec<String> {
    [
        "--data-dir",
        data,
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--gateway-url",
        gateway,
        "--shutdown-grace",
        &format!("{}s", GRACE.as_secs()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn start(args: &[String]) -> Unit {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Unit::start(env!("CARGO_BIN_EXE_su"), &args).await
}

async fn grpc_status(grpc: &str, service: &str) -> i32 {
    let mut c = health_client(grpc.to_string()).await;
    c.check(HealthCheckRequest {
        service: service.into(),
    })
    .await
    .expect("check")
    .into_inner()
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_writes_and_loses_nothing_answered() {
    let dir = tempfile::tempdir().expect("tmp");
    let gateway = gateway(dir.path()).await;
    let data = dir.path().join("su");
    let args = su_args(data.to_str().expect("path"), &gateway.url());
    let mut su = start(&args).await;
    let grpc = format!("http://{}", su.addr("grpc"));
    let base = format!("http://{}", su.addr("http"));
    let http = client();
    let user = Arc::new(ao_core::wallet::Ed25519Wallet::generate());
    let (_, info) = get(&http, &format!("{base}/")).await;
    let address = info["address"].as_str().expect("address").to_string();
    let process = ao_core::ao::ProcessBuilder::new(MODULE, address)
        .tag("Name", "drain")
        .sign(user.as_ref())
        .expect("process");
    let (status, body) = post(&http, &format!("{base}/"), process.item().as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let message = |n: String| {
        let m = ao_core::ao::MessageBuilder::new(process.raw_id())
            .data(n)
            .sign(user.as_ref())
            .expect("message");
        Req::post(m.id(), "/", m.item().as_bytes().to_vec())
    };

    assert_eq!(grpc_status(&grpc, "").await, ServingStatus::Serving as i32);
    assert_eq!(
        grpc_status(&grpc, SCHEDULER).await,
        ServingStatus::Serving as i32
    );
    let mut watch = health_client(grpc.clone())
        .await
        .watch(HealthCheckRequest { service: "".into() })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("watch").expect("a status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let load = Load {
        accepted: 200,
        writers: (0..CLIENTS)
            .map(|w| {
                (0..PER_CLIENT)
                    .map(|i| message(format!("writer {w} message {i}")))
                    .collect()
            })
            .collect(),
        slow: message("sent across the signal".into()),
        accepted_before_signal: ACCEPTED_BEFORE_SIGNAL,
        grace: GRACE,
    };
    let drained = drain_under_load(&mut su, load).await;
    eprintln!(
        "SU: accepted {}, refused connects {}, cut after the signal {}, exit {:?} after SIGTERM",
        drained.accepted.len(),
        drained.refused,
        drained.cut_after_signal,
        drained.exit_after
    );
    // gRPC health said NOT_SERVING before the server went away (and the stream then ended,
    // rather than holding the shutdown open).
    let next = watch.message().await.expect("watch").expect("a status");
    assert_eq!(next.status, ServingStatus::NotServing as i32);

    // Everything answered 200 is stored.
    let su = start(&args).await;
    let base = format!("http://{}", su.addr("http"));
    let pid = process.id();
    for id in &drained.accepted {
        let (status, body) = get(&http, &format!("{base}/{id}?process-id={pid}")).await;
        assert_eq!(status, 200, "answered {id} is not stored: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_say_not_ready_until_a_block_height_is_known() {
    let dir = tempfile::tempdir().expect("tmp");
    // A gateway address with nothing listening yet.
    let gw_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let data = dir.path().join("su");
    let su = start(&su_args(
        data.to_str().expect("path"),
        &format!("http://{gw_addr}"),
    ))
    .await;
    let grpc = format!("http://{}", su.addr("grpc"));
    let mut probe = RawConn::connect(su.addr("http")).await.expect("connect");
    let warming = probe.request("GET", "/ready", b"").await.expect("/ready");
    assert_eq!(warming.status, 503);
    assert_eq!(warming.json()["status"], "not ready");
    assert!(
        warming.json()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("block height")),
        "{}",
        warming.json()
    );
    assert_eq!(
        grpc_status(&grpc, "").await,
        ServingStatus::NotServing as i32
    );
    assert_eq!(
        grpc_status(&grpc, SCHEDULER).await,
        ServingStatus::NotServing as i32
    );
    let health = probe.request("GET", "/health", b"").await.expect("/health");
    assert_eq!(health.status, 200, "liveness does not depend on readiness");

    // The gateway comes up: ready after the next height refresh.
    let mut cfg = ao_arweave::local::Config::new(dir.path().join("gateway"));
    cfg.http_addr = gw_addr;
    cfg.block_interval = Duration::ZERO;
    let _gateway = ao_arweave::local::serve(cfg).await.expect("gateway");
    assert_eq!(ready_until(&mut probe, 200).await["status"], "ready");
    let end = Instant::now() + POLL_DEADLINE;
    while grpc_status(&grpc, "").await != ServingStatus::Serving as i32 {
        assert!(Instant::now() < end, "gRPC health stayed not serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        grpc_status(&grpc, SCHEDULER).await,
        ServingStatus::Serving as i32
    );
}
