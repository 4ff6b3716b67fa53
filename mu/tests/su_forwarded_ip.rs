//! `--su-forwarded-ip`: the reference SU refuses POSTs without an `X-Real-IP` its whitelist
//! knows, so an MU in front of it must send one. A fixture HTTP SU (not ours: axum in the test,
//! located through its Scheduler-Location without `Grpc-Url` on a real local gateway) records
//! the header of every POST the real MU sends it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ao_arweave::Bundler;
use ao_arweave::local;
use ao_core::ao::{ProcessBuilder, SchedulerLocationBuilder};
use ao_core::wallet::Ed25519Wallet;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

/// The `X-Real-IP` of each POST the fixture got (`None`: no header).
type Seen = Arc<Mutex<Vec<Option<String>>>>;

async fn post(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<serde_json::Value> {
    let ip = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    seen.lock().expect("lock").push(ip);
    let id = ao_core::DataItem::parse(body).expect("an item").id();
    axum::Json(json!({"timestamp": 1_700_000_000_000u64, "id": id}))
}

/// Spawn a process through an MU configured with `forwarded_ip`; the headers the SU saw.
async fn spawn_through_mu(forwarded_ip: Option<&str>) -> Vec<Option<String>> {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/", axum::routing::post(post))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let su_url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });

    let dir = tempfile::tempdir().expect("tmp");
    let mut g = local::Config::new(dir.path().join("gateway"));
    g.http_addr = "127.0.0.1:0".parse().expect("addr");
    g.block_interval = Duration::ZERO;
    let gateway = local::serve(g).await.expect("gateway");
    let su_key = Ed25519Wallet::generate();
    let location = SchedulerLocationBuilder::new(&su_url, 3_600_000)
        .sign(&su_key)
        .expect("location");
    gateway.upload(location.item()).await.expect("location");

    let mu_key =
        ao_mu::config::load_or_create_wallet(&dir.path().join("mu.json"), true).expect("mu wallet");
    // The CU is never reached before the answer; a closed port is enough.
    let mut c = ao_mu::Config::new(
        dir.path().join("mu"),
        mu_key,
        "http://127.0.0.1:9",
        &gateway.url(),
    )
    .expect("mu config");
    c.http_addr = "127.0.0.1:0".parse().expect("addr");
    c.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    c.admin_addr = "127.0.0.1:0".parse().expect("addr");
    c.rate_limit = 0;
    c.su_forwarded_ip = forwarded_ip.map(str::to_string);
    let mu = ao_mu::serve(c).await.expect("mu");

    let user = Ed25519Wallet::generate();
    let p = ProcessBuilder::new([1u8; 32], location.scheduler())
        .tag("Name", "behind-a-whitelist")
        .sign(&user)
        .expect("process");
    let http = ao_arweave::HttpClient::new(&ao_arweave::ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone();
    let r = http
        .post(format!("http://{}/", mu.http_addr))
        .header("content-type", "application/octet-stream")
        .body(p.item().as_bytes().to_vec())
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    let got = seen.lock().expect("lock").clone();
    mu.shutdown().await;
    gateway.shutdown().await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_to_an_http_su_carry_the_configured_x_real_ip() {
    let with = spawn_through_mu(Some("10.1.2.3")).await;
    assert!(!with.is_empty(), "the SU got the process");
    assert!(
        with.iter().all(|ip| ip.as_deref() == Some("10.1.2.3")),
        "{with:?}"
    );
    let without = spawn_through_mu(None).await;
    assert!(!without.is_empty());
    assert!(without.iter().all(Option::is_none), "{without:?}");
}

#[test]
fn the_flag_and_its_variable_set_the_forwarded_ip() {
    use clap::Parser;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().to_str().expect("utf-8");
    let args = ao_mu::config::MuArgs::try_parse_from([
        "mu",
        "--data-dir",
        data,
        "--su-forwarded-ip",
        "10.9.8.7",
    ])
    .expect("flags");
    let config = args.into_config().expect("config");
    assert_eq!(config.su_forwarded_ip.as_deref(), Some("10.9.8.7"));
    let args = ao_mu::config::MuArgs::try_parse_from(["mu", "--data-dir", data]).expect("flags");
    assert_eq!(args.into_config().expect("config").su_forwarded_ip, None);
}
