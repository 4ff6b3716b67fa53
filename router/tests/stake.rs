//! `min-stake` on the router, against real `cu` binaries run with `--attest true` and the
//! `router` binary: a result with enough agreeing staked attestations is served with them (by
//! the query, the header and the path prefix an unchanged aoconnect uses as its `CU_URL`); more
//! stake than the pool's CUs hold is a clear 503; a CU that lies (its own wallet signing an
//! altered result) is caught by disagreement: 409 with the conflicting attestations.
//!
//! The liar is a proxy in front of an honest CU that alters each result and signs the
//! alteration with that CU's own wallet, read from its data directory: exactly what a CU that
//! lies would send, with no lying code in the `cu` binary at all.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use ao_core::DataItem;
use ao_core::ao::{Attestation, AttestationBuilder, result_sha256};
use ao_core::encoding::{b64url, b64url_decode, decode_id};
use ao_core::wallet::Wallet;
use common::{Cu, net, start_router};
use serde_json::{Value, json};

/// `GET url`: status, `ao-stake` header and JSON body.
async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Option<String>, Value) {
    let r = http.get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let stake = r
        .headers()
        .get("ao-stake")
        .map(|v| v.to_str().expect("ascii").to_string());
    let body = r.bytes().await.expect("body");
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, stake, v)
}

/// The CU's wallet address (`GET /`).
async fn address(http: &reqwest::Client, cu: &Cu) -> String {
    let (_, _, v) = get_json(http, &format!("{}/", cu.url())).await;
    v["address"].as_str().expect("address").to_string()
}

/// Every attestation of an answer, verified.
fn attestations(answer: &Value) -> Vec<Attestation> {
    answer["Attestations"]
        .as_array()
        .unwrap_or_else(|| panic!("no Attestations in {answer}"))
        .iter()
        .map(|s| {
            let raw = b64url_decode("a", s.as_str().expect("str")).expect("b64");
            Attestation::verified(DataItem::parse(raw).expect("item")).expect("verified")
        })
        .collect()
}

/// A CU that lies: forwards to `honest`, but every result's `Output` is replaced and the
/// attestation re-signed for the altered result with `wallet`, the honest CU's own key.
async fn liar(http: reqwest::Client, honest: String, wallet: Arc<Wallet>) -> SocketAddr {
    use axum::extract::OriginalUri;
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move |OriginalUri(uri): OriginalUri| {
        let (http, honest, wallet) = (http.clone(), honest.clone(), wallet.clone());
        async move {
            let pq = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
            let r = http
                .get(format!("{honest}{pq}"))
                .send()
                .await
                .expect("honest CU");
            let status = r.status();
            let body = r.bytes().await.expect("body").to_vec();
            if !uri.path().starts_with("/result/") || !status.is_success() {
                return (status, body).into_response();
            }
            let mut v: Value = serde_json::from_slice(&body).expect("json");
            v["Output"] = json!({"data": "a lie"});
            if let Some(list) = v["Attestations"].as_array() {
                let raw = b64url_decode("a", list[0].as_str().expect("str")).expect("b64");
                let honest_one =
                    Attestation::new(DataItem::parse(raw).expect("item")).expect("attestation");
                let mut result = v.clone();
                result.as_object_mut().expect("obj").remove("Attestations");
                let lie = AttestationBuilder {
                    process: honest_one.process_raw(),
                    message: decode_id("m", &honest_one.message_id()).expect("id"),
                    nonce: honest_one.nonce(),
                    timestamp: honest_one.timestamp(),
                    hash_chain: honest_one.hash_chain_raw(),
                    result_sha256: result_sha256(&result),
                    memory_sha256: honest_one.memory_sha256(),
                    module: decode_id("m", &honest_one.module_id()).expect("id"),
                }
                .sign(wallet.as_ref())
                .expect("sign");
                v["Attestations"] = json!([b64url(lie.item().as_bytes())]);
            }
            axum::Json(v).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_stake_gathers_agreeing_attestations_and_catches_a_cu_that_lies() {
    let net = net().await;
    let pid = net.spawn_named("staked").await;
    let msg = net.eval(&pid, "return 6 * 7").await;
    let attest = ["--attest", "true", "--follow", "false"];
    let (a, b, c) = (
        Cu::start_with(&net, 0, &attest).await,
        Cu::start_with(&net, 1, &attest).await,
        Cu::start_with(&net, 2, &attest).await,
    );
    let (addr_a, addr_b, addr_c) = (
        address(&net.http, &a).await,
        address(&net.http, &b).await,
        address(&net.http, &c).await,
    );
    let stakes = |pairs: &[(&str, u32)]| -> Vec<String> {
        pairs
            .iter()
            .flat_map(|(a, s)| ["--stake".to_string(), format!("{a}={s}")])
            .collect()
    };

    // Two honest CUs with 100 each.
    let flags = stakes(&[(&addr_a, 100), (&addr_b, 100)]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let router = start_router(&net.dir.path().join("r1"), &[&a, &b], "127.0.0.1:0", &flags).await;
    let base = format!("http://{}", router.addr("http"));
    let plain = format!("{base}/result/{msg}?process-id={pid}");
    let (status, stake, v) = get_json(&net.http, &format!("{plain}&min-stake=150")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Output"], "42", "{v}");
    assert_eq!(stake.as_deref(), Some("200"));
    let signed = attestations(&v);
    let mut units: Vec<String> = signed.iter().map(Attestation::unit).collect();
    units.sort();
    let mut want = vec![addr_a.clone(), addr_b.clone()];
    want.sort();
    assert_eq!(units, want, "one attestation from each staked CU");
    let mut result = v.clone();
    result.as_object_mut().expect("obj").remove("Attestations");
    assert!(signed.iter().all(|s| s.covers(&result)));
    // Less asked: the owner's attestation alone is enough.
    let (status, stake, v) = get_json(&net.http, &format!("{plain}&min-stake=100")).await;
    assert_eq!((status, stake.as_deref()), (200, Some("100")), "{v}");
    assert_eq!(attestations(&v).len(), 1);
    // The header, and the path prefix.
    let r = net
        .http
        .get(&plain)
        .header("ao-min-stake", "150")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let (status, _, v) = get_json(
        &net.http,
        &format!("{base}/min-stake/150/result/{msg}?process-id={pid}"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(attestations(&v).len(), 2);
    // More than the pool holds: a clear 503 with what is there.
    let (status, _, v) = get_json(&net.http, &format!("{plain}&min-stake=201")).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["stake"], "200");
    assert_eq!(v["asked"], "201");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("only 200")),
        "{v}"
    );
    let (status, _, v) = get_json(&net.http, &format!("{plain}&min-stake=lots")).await;
    assert_eq!(status, 400, "{v}");
    // Without min-stake: the plain answer, no attestation.
    let (status, _, v) = get_json(&net.http, &plain).await;
    assert_eq!(status, 200);
    assert!(v.get("Attestations").is_none());

    // An unchanged aoconnect with CU_URL at the prefix gets the result (and the attestations).
    let script = net.dir.path().join("aoconnect-min-stake.cjs");
    std::fs::write(
        &script,
        r#"const { connect } = require("@permaweb/aoconnect");
const [cu, message, pid] = process.argv.slice(2);
connect({ MODE: "legacy", CU_URL: cu }).result({ message, process: pid })
  .then((r) => console.log(JSON.stringify(r)))
  .catch((e) => { console.error(e); process.exit(1); });
"#,
    )
    .expect("script");
    let out = ao_tests::node(
        &script,
        &[
            format!("{base}/min-stake/150").into(),
            msg.clone().into(),
            pid.clone().into(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("aoconnect's result");
    assert_eq!(r["Output"], "42", "{r}");
    assert_eq!(
        r["Attestations"].as_array().map(Vec::len),
        Some(2),
        "aoconnect passes them through: {r}"
    );
    drop(router);

    // C lies, signing with its own wallet: asking for all three stakes meets the lie.
    let wallet = ao_runtime::wallet_file::load(&c.data.join("wallet.json")).expect("C's wallet");
    let liar_addr = liar(net.http.clone(), c.url(), Arc::new(wallet)).await;
    let lying = Cu {
        unit: c.unit,
        data: c.data.clone(),
        http: liar_addr,
        grpc: c.grpc,
    };
    let flags = stakes(&[(&addr_a, 100), (&addr_b, 100), (&addr_c, 100)]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let router = start_router(
        &net.dir.path().join("r2"),
        &[&a, &b, &lying],
        "127.0.0.1:0",
        &flags,
    )
    .await;
    let base = format!("http://{}", router.addr("http"));
    let (status, _, v) = get_json(
        &net.http,
        &format!("{base}/result/{msg}?process-id={pid}&min-stake=300"),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    // The router stops at the first disagreement and shows what it gathered: the lie and at
    // least one honest attestation.
    let all = attestations(&v);
    assert!(all.len() >= 2, "{v}");
    let lie = all.iter().find(|x| x.unit() == addr_c).expect("C's");
    let honest = all
        .iter()
        .find(|x| x.unit() == addr_a || x.unit() == addr_b)
        .expect("an honest one");
    assert!(!lie.agrees(honest), "C's attested result is not A's");
    assert_eq!(lie.memory_sha256(), honest.memory_sha256());
    let metrics = common::metrics(&net.http, &base).await;
    assert_eq!(
        common::metric(&metrics, "ao_router_min_stake_total{outcome=\"conflict\"}"),
        1
    );
    drop((router, a, b, lying));
    net.close().await;
}

/// The cost of `min-stake`, by hand:
/// `cargo test --release -p ao-router --test stake -- --ignored --nocapture`.
/// Three attesting CUs with 100 each behind the router; one result, warm on all three; then 200
/// `/result` requests each: plain, `min-stake=100` (the owner's attestation) and `min-stake=300`
/// (all three, asked one after another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bench, by hand"]
async fn bench_min_stake_from_one_and_three_cus() {
    use std::time::Instant;
    let net = net().await;
    let pid = net.spawn_named("bench").await;
    let msg = net.eval(&pid, "return 6 * 7").await;
    let attest = ["--attest", "true", "--follow", "false"];
    let cus = [
        Cu::start_with(&net, 0, &attest).await,
        Cu::start_with(&net, 1, &attest).await,
        Cu::start_with(&net, 2, &attest).await,
    ];
    let mut flags = Vec::new();
    for cu in &cus {
        flags.push("--stake".to_string());
        flags.push(format!("{}=100", address(&net.http, cu).await));
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let refs: Vec<&Cu> = cus.iter().collect();
    let router = start_router(&net.dir.path().join("r"), &refs, "127.0.0.1:0", &flags).await;
    let plain = format!(
        "http://{}/result/{msg}?process-id={pid}",
        router.addr("http")
    );
    // Warm every CU (each evaluates and hashes once).
    let (status, _, _) = get_json(&net.http, &format!("{plain}&min-stake=300")).await;
    assert_eq!(status, 200);
    const N: usize = 200;
    let mut line = Vec::new();
    for (name, url) in [
        ("plain", plain.clone()),
        ("min-stake=100 (1 CU)", format!("{plain}&min-stake=100")),
        ("min-stake=300 (3 CUs)", format!("{plain}&min-stake=300")),
    ] {
        let mut times = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let (status, _, _) = get_json(&net.http, &url).await;
            assert_eq!(status, 200);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        line.push(format!(
            "{name}: p50 {:.2} ms, p99 {:.2} ms",
            times[N / 2],
            times[N * 99 / 100]
        ));
    }
    eprintln!("{}", line.join("; "));
    drop((router, cus));
    net.close().await;
}
