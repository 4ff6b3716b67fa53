//! The CU warming up, against the real `cu` binary: while its store cannot be opened yet (another
//! process holds the RocksDB lock, as a draining CU does during a rolling update on one volume) it
//! listens and prints its ready line, `/health` (liveness) answers 200, `/ready` 503 with the
//! reason, `grpc.health.v1` NOT_SERVING for the server and the Compute service, and the API 503
//! / UNAVAILABLE; once the lock is released it opens the store and becomes ready and serves.
//! Before this, such a CU failed to start (the lock error) and nothing answered.

use std::time::{Duration, Instant};

use ao_tests::drain::{POLL_DEADLINE, RawConn, Unit, ready_until};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The gRPC service name of the CU.
const COMPUTE: &str = "ao.compute.v1.Compute";

async fn grpc_status(grpc: &str, service: &str) -> i32 {
    let channel = tonic::transport::Endpoint::from_shared(grpc.to_string())
        .expect("url")
        .connect()
        .await
        .expect("health connect");
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("check")
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_say_warming_up_while_the_store_is_locked_then_ready() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("cu");
    // The store of `cu --data-dir DIR` is DIR/db; hold its lock as another CU would.
    let held = ao_cu::store::Store::open(&data.join("db")).expect("hold the store");
    // Nothing listens at these: warming up must not depend on the SU or the gateway.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let nowhere = format!("http://{nowhere}");
    let mut cu = Unit::start(
        env!("CARGO_BIN_EXE_cu"),
        &[
            "--data-dir",
            data.to_str().expect("path"),
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--su-url",
            &nowhere,
            "--gateway-url",
            &nowhere,
            "--shutdown-grace",
            "5s",
        ],
    )
    .await;
    let grpc = format!("http://{}", cu.addr("grpc"));
    let mut probe = RawConn::connect(cu.addr("http")).await.expect("connect");

    let warming = probe.request("GET", "/ready", b"").await.expect("/ready");
    assert_eq!(warming.status, 503, "{}", warming.json());
    assert_eq!(warming.json()["status"], "not ready");
    let reason = warming.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("warming up"), "{reason}");
    let health = probe.request("GET", "/health", b"").await.expect("/health");
    assert_eq!(health.status, 200, "liveness does not wait for the store");
    let info = probe.request("GET", "/", b"").await.expect("GET /");
    assert_eq!(
        info.status,
        503,
        "the API waits for the store: {}",
        info.json()
    );
    for service in ["", COMPUTE] {
        assert_eq!(
            grpc_status(&grpc, service).await,
            ServingStatus::NotServing as i32,
            "{service:?} while warming up"
        );
    }

    // The other holder lets go: the CU opens the store and gets ready.
    drop(held);
    assert_eq!(ready_until(&mut probe, 200).await["status"], "ready");
    let end = Instant::now() + POLL_DEADLINE;
    while grpc_status(&grpc, "").await != ServingStatus::Serving as i32 {
        assert!(Instant::now() < end, "gRPC health stayed not serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        grpc_status(&grpc, COMPUTE).await,
        ServingStatus::Serving as i32
    );
    let info = probe.request("GET", "/", b"").await.expect("GET /");
    assert_eq!(info.status, 200, "{}", info.json());
    assert!(info.json()["address"].is_string(), "{}", info.json());

    cu.sigterm();
    let exit = cu.exit_within(Duration::from_secs(10)).await;
    assert!(exit.success(), "{exit:?}");
}
