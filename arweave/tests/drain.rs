//! Drain on SIGTERM, against the real `arweave-local` binary (the scenario is `ao_tests::drain`,
//! as for the units): under load from concurrent uploaders, with one upload half sent, the gateway
//! is sent SIGTERM. `/ready` turns 503 (`draining`) while the half-sent upload is in flight; that
//! upload, finished after the signal, is answered 200 with `Connection: close`; no uploader sees
//! its connection cut under a request it sent before the signal; the gateway exits 0 within its
//! `--shutdown-grace`; every upload answered 200 is stored and readable (`/raw/{id}`, the same
//! bytes) after a restart on the same data directory. `/health` and `/ready` answer 200 before.

use std::time::Duration;

use ao_core::wallet::Ed25519Wallet;
use ao_core::{DataItem, DataItemBuilder};
use ao_tests::drain::{Load, RawConn, Req, Unit, drain_under_load};

/// Concurrent uploaders.
const CLIENTS: usize = 8;
/// Uploads each uploader sends at most (the load is bounded even if the signal never came).
const PER_CLIENT: usize = 300;
/// Uploads accepted before the signal, so the signal lands in the middle of real load.
const ACCEPTED_BEFORE_SIGNAL: usize = 40;
/// The gateway's `--shutdown-grace`.
const GRACE: Duration = Duration::from_secs(20);

fn item(w: &Ed25519Wallet, data: String) -> DataItem {
    DataItemBuilder::new()
        .tag("Content-Type", "text/plain")
        .data(data.into_bytes())
        .sign(w)
        .expect("sign")
}

async fn start(data: &str) -> Unit {
    let grace = format!("{}s", GRACE.as_secs());
    Unit::start(
        env!("CARGO_BIN_EXE_arweave-local"),
        &[
            "--data-dir",
            data,
            "--http-addr",
            "127.0.0.1:0",
            "--block-interval",
            "300ms",
            "--shutdown-grace",
            &grace,
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_uploads_and_loses_nothing_answered() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("arweave");
    let data = data.to_str().expect("path");
    let mut gw = start(data).await;
    let mut probe = RawConn::connect(gw.addr("http")).await.expect("connect");
    let health = probe.request("GET", "/health", b"").await.expect("/health");
    assert_eq!(health.status, 200);

    let wallet = Ed25519Wallet::generate();
    let mut items = std::collections::HashMap::new();
    let mut upload = |text: String| {
        let it = item(&wallet, text);
        let req = Req::post(it.id(), "/tx", it.as_bytes().to_vec());
        items.insert(it.id(), it.data().to_vec());
        req
    };
    let writers = (0..CLIENTS)
        .map(|w| {
            (0..PER_CLIENT)
                .map(|i| upload(format!("uploader {w} item {i}")))
                .collect()
        })
        .collect();
    let slow = upload("sent across the signal".into());
    let load = Load {
        accepted: 200,
        writers,
        slow,
        accepted_before_signal: ACCEPTED_BEFORE_SIGNAL,
        grace: GRACE,
    };
    let drained = drain_under_load(&mut gw, load).await;
    eprintln!(
        "arweave-local: accepted {}, refused connects {}, cut after the signal {}, exit {:?} after SIGTERM",
        drained.accepted.len(),
        drained.refused,
        drained.cut_after_signal,
        drained.exit_after
    );
    assert!(drained.accepted.len() > ACCEPTED_BEFORE_SIGNAL);

    // Everything answered 200 is stored, byte for byte.
    let gw = start(data).await;
    let mut conn = RawConn::connect(gw.addr("http")).await.expect("connect");
    for id in &drained.accepted {
        let a = conn
            .request("GET", &format!("/raw/{id}"), b"")
            .await
            .expect("GET /raw");
        assert_eq!(a.status, 200, "answered {id} is not stored");
        assert_eq!(Some(&a.body), items.get(id), "{id}'s data");
    }
}
