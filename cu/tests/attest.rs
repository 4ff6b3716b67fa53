//! Attestations (`--attest`), against a real SU and gateway: a CU signs each result it is asked
//! to attest, over HTTP and gRPC; the attestation verifies with ao-core and with arbundles, its
//! `Result-SHA-256` is recomputed from the answer alone (here and in JS), its `Memory-SHA-256`
//! is the memory `/state` serves after that message; a result evaluated before the CU attested
//! is hashed by a replay and attested the same as by a CU that attested all along; a CU that
//! does not attest refuses, as does a malformed `attest`.

mod common;

use std::sync::Arc;

use ao_core::DataItem;
use ao_core::ao::{Attestation, canonical_result};
use ao_core::encoding::decode_id;
use ao_core::wallet::{Wallet, WalletKind};
use ao_cu::attest::Attester;
use ao_proto::compute::v1::ResultRequest;
use ao_proto::compute::v1::compute_client::ComputeClient;
use common::metric;
use common::net::{Net, cu_with, get, net};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn attester() -> (Arc<Attester>, String) {
    let wallet = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    let address = wallet.address();
    (Arc::new(Attester::new(Arc::new(wallet))), address)
}

/// The attestations of a `/result?attest=true` answer, verified, and the answer without them.
fn attestations(answer: &Value) -> (Vec<Attestation>, Value) {
    let items = answer["Attestations"]
        .as_array()
        .unwrap_or_else(|| panic!("no Attestations in {answer}"))
        .iter()
        .map(|s| {
            let raw = ao_core::encoding::b64url_decode("attestation", s.as_str().expect("string"))
                .expect("b64");
            Attestation::verified(DataItem::parse(raw).expect("item")).expect("verified")
        })
        .collect();
    let mut result = answer.clone();
    result
        .as_object_mut()
        .expect("object")
        .remove("Attestations");
    (items, result)
}

async fn attested(net: &Net, base: &str, pid: &str, id: &str) -> (Attestation, Value) {
    let (status, answer) = get(
        &net.http,
        format!("{base}/result/{id}?process-id={pid}&attest=true"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (mut items, result) = attestations(&answer);
    assert_eq!(items.len(), 1, "one CU, one attestation");
    (items.remove(0), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attesting_cu_signs_what_it_answers_and_anyone_can_check_it() {
    let net = net().await;
    let pid = net.spawn().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(net.eval(&pid, "n = (n or 0) + 1 return n").await);
    }
    let (signer, address) = attester();
    let cu = cu_with(&net, |c| {
        c.data_dir = net.dir.path().join("attesting");
        c.evaluation.follow = false;
        c.evaluation.attester = Some(signer);
    })
    .await;

    let (a, result) = attested(&net, &cu.url(), &pid, &ids[2]).await;
    assert_eq!(result["Output"], "3");
    assert_eq!(a.unit(), address, "signed by the CU's wallet");
    assert_eq!(a.process_id(), pid);
    assert_eq!(a.message_id(), ids[2]);
    assert_eq!(a.nonce(), 3, "the process is nonce 0");
    assert_eq!(a.module_id(), net.module);
    assert!(a.covers(&result), "Result-SHA-256 is the answer's");
    // The last message: the memory after it is the memory `/state` serves.
    let state = net
        .http
        .get(format!("{}/state/{pid}", cu.url()))
        .send()
        .await
        .expect("state")
        .bytes()
        .await
        .expect("body");
    let memory: [u8; 32] = Sha256::digest(&state).into();
    assert_eq!(a.memory_sha256(), memory);
    // The hash chain is the SU's at that nonce.
    let (_, entry) = get(
        &net.http,
        format!("{}/{}?process-id={pid}", net.su().url(), ids[2]),
    )
    .await;
    let chain = entry["assignment"]["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["name"] == "Hash-Chain"))
        .and_then(|t| t["value"].as_str())
        .unwrap_or_else(|| panic!("no Hash-Chain in {entry}"));
    assert_eq!(
        a.hash_chain_raw(),
        decode_id("hash chain", chain).expect("id")
    );

    // The last message of the run was hashed as the run ended: no replay for it.
    let history = |cu: &ao_cu::RunningCu| {
        metric(
            &cu.evaluator.metrics.render(),
            "ao_cu_process_loads_total{source=\"history\"}",
        )
    };
    assert_eq!(history(&cu), 0);
    // A message in the middle of the run was not: one replay hashes the memory of its moment,
    // and the hash is stored.
    let (older, _) = attested(&net, &cu.url(), &pid, &ids[0]).await;
    assert_eq!(older.nonce(), 1);
    assert_ne!(older.memory_sha256(), a.memory_sha256());
    assert_eq!(history(&cu), 1);
    let (again, _) = attested(&net, &cu.url(), &pid, &ids[0]).await;
    assert!(again.agrees(&older) && again.memory_sha256() == older.memory_sha256());
    assert_eq!(history(&cu), 1, "the hash was stored");

    // gRPC: the same attestation, and the canonical bytes it hashes.
    let mut client = ComputeClient::connect(format!("http://{}", cu.grpc_addr))
        .await
        .expect("connect");
    let r = client
        .result(ResultRequest {
            process_id: pid.clone(),
            message_id: ids[2].clone(),
            attest: true,
        })
        .await
        .expect("result")
        .into_inner();
    let over_grpc =
        Attestation::verified(DataItem::parse(r.attestations[0].clone()).expect("item"))
            .expect("verified");
    assert!(over_grpc.agrees(&a));
    let canonical = r.canonical_result.expect("canonical result");
    assert_eq!(canonical, canonical_result(&result));
    assert_eq!(
        <[u8; 32]>::from(Sha256::digest(&canonical)),
        a.result_sha256()
    );

    // From outside: arbundles verifies the item; the RFC 8785 hash is recomputed in JS.
    let (_, answer) = get(
        &net.http,
        format!(
            "{}/result/{}?process-id={pid}&attest=true",
            cu.url(),
            ids[2]
        ),
    )
    .await;
    let file = net.dir.path().join("answer.json");
    std::fs::write(&file, answer.to_string()).expect("write");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js/attestation-check.cjs");
    let out = ao_tests::node(&script, &[file.into_os_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(js["valid"], serde_json::json!([true]), "{js}");
    assert_eq!(js["tagged"][0], js["computed"], "{js}");
    assert_eq!(js["computed"], hex::encode(a.result_sha256()));
    assert_eq!(js["owners"][0], address);

    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_evaluated_before_attesting_are_hashed_by_a_replay_and_attested_alike() {
    let net = net().await;
    let pid = net.spawn().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            net.eval(&pid, &format!("x = (x or 0) + {i} return x"))
                .await,
        );
    }
    // A attests all along; B evaluates everything first without attesting, then restarts
    // attesting on the same disk.
    let (signer_a, _) = attester();
    let a = cu_with(&net, |c| {
        c.data_dir = net.dir.path().join("a");
        c.evaluation.follow = false;
        c.evaluation.attester = Some(signer_a);
    })
    .await;
    let b_dir = net.dir.path().join("b");
    let b = cu_with(&net, |c| {
        c.data_dir = b_dir.clone();
        c.evaluation.follow = false;
    })
    .await;
    let (status, plain) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}", b.url(), ids[3]),
    )
    .await;
    assert_eq!(status, 200, "{plain}");
    assert!(plain.get("Attestations").is_none(), "unsigned unless asked");
    let (status, refused) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}&attest=true", b.url(), ids[3]),
    )
    .await;
    assert_eq!(status, 400, "a CU without --attest refuses: {refused}");
    assert!(refused.to_string().contains("--attest"), "{refused}");
    let (status, _) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}&attest=yes", b.url(), ids[3]),
    )
    .await;
    assert_eq!(status, 400, "attest=yes is not a boolean");
    b.shutdown().await;

    let (signer_b, address_b) = attester();
    let b = cu_with(&net, |c| {
        c.data_dir = b_dir.clone();
        c.evaluation.follow = false;
        c.evaluation.attester = Some(signer_b);
    })
    .await;
    let (by_b, result_b) = attested(&net, &b.url(), &pid, &ids[1]).await;
    let (by_a, result_a) = attested(&net, &a.url(), &pid, &ids[1]).await;
    assert_eq!(result_a, result_b);
    assert_eq!(by_b.unit(), address_b);
    assert!(by_a.agrees(&by_b), "two CUs, one result");
    assert_eq!(by_a.memory_sha256(), by_b.memory_sha256(), "and one memory");
    assert!(!by_a.contradicts(&by_b), "different units never contradict");
    let m = b.evaluator.metrics.render();
    assert_eq!(
        metric(&m, "ao_cu_process_loads_total{source=\"history\"}"),
        1,
        "B hashed its old result by one replay"
    );
    a.shutdown().await;
    b.shutdown().await;
    net.close().await;
}

/// The cost of attesting, by hand:
/// `cargo test --release -p ao-cu --test attest -- --ignored --nocapture`
/// (`AO_BENCH_ATTEST_MESSAGES`, default 2,000). One process of the minimal Lua module with N
/// Evals; a fresh CU without `--attest` and one with it each replay it cold (the attesting one
/// hashes the memory after every message); then each answers the last result warm 200 times,
/// plain, and (the attesting one) with `attest=true` (a signature per answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bench, by hand"]
async fn bench_the_cost_of_attesting() {
    use std::time::Instant;
    let n: usize = std::env::var("AO_BENCH_ATTEST_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let net = net().await;
    let pid = net.spawn_named("attest-bench").await;
    let mut last = String::new();
    for _ in 0..n {
        last = net.eval(&pid, "return 1 + 1").await;
    }
    let plain = cu_with(&net, |c| {
        c.data_dir = net.dir.path().join("plain");
        c.evaluation.follow = false;
    })
    .await;
    let (signer, _) = attester();
    let signing = cu_with(&net, |c| {
        c.data_dir = net.dir.path().join("signing");
        c.evaluation.follow = false;
        c.evaluation.attester = Some(signer);
    })
    .await;
    let time = |url: String| {
        let http = net.http.clone();
        async move {
            let t = Instant::now();
            let r = http.get(url).send().await.expect("result");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
            t.elapsed().as_secs_f64()
        }
    };
    let cold_plain = time(format!("{}/result/{last}?process-id={pid}", plain.url())).await;
    let cold_signing = time(format!(
        "{}/result/{last}?process-id={pid}&attest=true",
        signing.url()
    ))
    .await;
    const WARM: usize = 200;
    let mut warm = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..WARM {
        warm[0].push(time(format!("{}/result/{last}?process-id={pid}", plain.url())).await);
        warm[1].push(time(format!("{}/result/{last}?process-id={pid}", signing.url())).await);
        warm[2].push(
            time(format!(
                "{}/result/{last}?process-id={pid}&attest=true",
                signing.url()
            ))
            .await,
        );
    }
    let p50 = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1000.0
    };
    // New messages one at a time: each evaluation run is one message, which the attesting CU
    // hashes as the run ends.
    const LIVE: usize = 50;
    let mut live = [Vec::new(), Vec::new()];
    for _ in 0..LIVE {
        let id = net.eval(&pid, "return 1 + 1").await;
        live[0].push(time(format!("{}/result/{id}?process-id={pid}", plain.url())).await);
        live[1].push(
            time(format!(
                "{}/result/{id}?process-id={pid}&attest=true",
                signing.url()
            ))
            .await,
        );
    }
    eprintln!(
        "a new message's /result p50: without --attest {:.2} ms, with attest=true {:.2} ms",
        p50(&mut live[0]),
        p50(&mut live[1])
    );
    let state = net
        .http
        .get(format!("{}/state/{pid}", plain.url()))
        .send()
        .await
        .expect("state")
        .bytes()
        .await
        .expect("memory")
        .len();
    eprintln!(
        "{} messages, memory {:.1} MiB: cold replay without --attest {:.2} s ({:.3} ms/msg), \
         with --attest {:.2} s ({:.3} ms/msg, {:.2}x); warm /result p50: plain {:.2} ms, \
         plain on the attesting CU {:.2} ms, attest=true {:.2} ms",
        n + 1,
        state as f64 / (1 << 20) as f64,
        cold_plain,
        cold_plain * 1000.0 / (n + 1) as f64,
        cold_signing,
        cold_signing * 1000.0 / (n + 1) as f64,
        cold_signing / cold_plain,
        p50(&mut warm[0]),
        p50(&mut warm[1]),
        p50(&mut warm[2]),
    );
    plain.shutdown().await;
    signing.shutdown().await;
    net.close().await;
}
