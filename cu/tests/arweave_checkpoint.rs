//! Checkpoints on Arweave: one CU uploads them (signed, gzipped, the reference's tags) to the
//! local gateway; a second CU with an empty disk that trusts the first's address starts the
//! process from the newest valid one instead of from nonce 0, skips a forged one whose memory
//! does not match its SHA-256, and replays the history before its starting point, once, when a
//! result older than it is asked.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ao_arweave::{
    Bundler, ClientConfig, Gateway, HttpBundler, HttpGateway, Sort, TagFilter, TxQuery,
};
use ao_core::wallet::{Wallet, WalletKind};
use ao_cu::arweave_checkpoint::ArweaveCheckpoints;
use common::metric;
use common::net::{Net, cu_with, get, net};

fn checkpoints(
    net: &Net,
    wallet: &Arc<Wallet>,
    trusted: Vec<String>,
    upload: bool,
) -> ArweaveCheckpoints {
    let config = ClientConfig::default();
    let gateway = HttpGateway::new(&net.gateway().url(), &config).expect("gateway");
    let bundler = HttpBundler::new(&net.gateway().url(), &config).expect("bundler");
    ArweaveCheckpoints::new(
        wallet.clone(),
        Arc::new(bundler),
        Arc::new(gateway),
        trusted,
        upload,
        Duration::ZERO,
    )
}

async fn uploaded(net: &Net, pid: &str) -> Vec<ao_arweave::TxMeta> {
    let gateway = HttpGateway::new(&net.gateway().url(), &ClientConfig::default()).expect("gw");
    gateway
        .query(&TxQuery {
            tags: vec![
                TagFilter {
                    name: "Process".into(),
                    values: vec![pid.into()],
                },
                TagFilter {
                    name: "Type".into(),
                    values: vec!["Checkpoint".into()],
                },
            ],
            first: 100,
            sort: Sort::HeightDesc,
            ..TxQuery::default()
        })
        .await
        .expect("query")
        .edges
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cu_with_an_empty_disk_starts_from_a_trusted_checkpoint_on_arweave() {
    let net = net().await;
    let pid = net.spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(net.eval(&pid, "n = (n or 0) + 1 return n").await);
    }
    let wallet = Arc::new(Wallet::generate(WalletKind::Ed25519).expect("wallet"));

    // CU 1 checkpoints every 2 messages and uploads each checkpoint.
    let a = checkpoints(&net, &wallet, vec![], true);
    let cu1 = cu_with(&net, |c| {
        c.data_dir = net.dir.path().join("cu1");
        c.evaluation.checkpoint_every = 2;
        c.evaluation.follow = false;
        c.arweave_checkpoints = Some(a);
    })
    .await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}", cu1.url(), ids[4]),
    )
    .await;
    assert_eq!(r["Output"], "5");
    let mut first = Vec::new();
    for id in &ids[..3] {
        let (_, r) = get(
            &net.http,
            format!("{}/result/{id}?process-id={pid}", cu1.url()),
        )
        .await;
        first.push(r);
    }
    let mut found = Vec::new();
    for _ in 0..200 {
        found = uploaded(&net, &pid).await;
        if found.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut nonces: Vec<String> = found
        .iter()
        .map(|t| {
            let tag = |n: &str| {
                t.tags
                    .iter()
                    .find(|x| x.name == n)
                    .map(|x| x.value.clone())
                    .unwrap_or_default()
            };
            assert_eq!(tag("Data-Protocol"), "ao");
            assert_eq!(tag("Content-Encoding"), "gzip");
            assert_eq!(tag("Module"), net.module);
            assert_eq!(tag("SHA-256").len(), 64);
            assert_eq!(t.owner.address, wallet.address());
            tag("Nonce")
        })
        .collect();
    nonces.sort();
    assert_eq!(nonces, ["1", "3", "5"], "a checkpoint every two messages");
    let names: Vec<String> = found[0].tags.iter().map(|t| t.name.clone()).collect();
    assert_eq!(
        names,
        [
            "Data-Protocol",
            "Variant",
            "Type",
            "Module",
            "Process",
            "Nonce",
            "Timestamp",
            "Block-Height",
            "Content-Type",
            "SHA-256",
            "Content-Encoding",
            "Unit-Identifier",
            "Ordinate",
            "Assignment",
            "Hash-Chain"
        ],
        "the reference's tag order"
    );
    cu1.shutdown().await;

    // A forged checkpoint by the same owner at a higher nonce: its memory is not what its
    // SHA-256 says. It must be skipped.
    let forger = checkpoints(&net, &wallet, vec![], false);
    let forged = forger
        .item(
            &pid,
            &net.module,
            &ao_cu::store::Checkpoint {
                nonce: 9,
                memory: vec![0u8; 64 * 1024],
                memory_sha256: [7u8; 32],
                ..Default::default()
            },
        )
        .expect("item");
    net.gateway().upload(&forged).await.expect("upload");

    // CU 2 has an empty disk and trusts CU 1's address.
    let next = net.eval(&pid, "return n").await;
    let b = checkpoints(&net, &wallet, vec![wallet.address()], false);
    let cu2 = cu_with(&net, |c| {
        c.data_dir = net.dir.path().join("cu2");
        c.evaluation.follow = false;
        c.arweave_checkpoints = Some(b);
    })
    .await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{next}?process-id={pid}", cu2.url()),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["Output"], "5",
        "memory restored from the checkpoint at nonce 5"
    );
    let m = cu2.evaluator.metrics.render();
    assert_eq!(
        metric(&m, "ao_cu_process_loads_total{source=\"arweave\"}"),
        1
    );
    assert_eq!(metric(&m, "ao_cu_process_loads_total{source=\"cold\"}"), 0);
    assert_eq!(
        metric(&m, "ao_cu_messages_evaluated_total"),
        1,
        "only the new message was evaluated"
    );
    // Older than the checkpoint, never evaluated on CU 2: the history before it is replayed
    // there, once for the whole gap, and gives what CU 1 gave.
    for (id, want) in ids[..3].iter().zip(&first) {
        let (status, r) = get(
            &net.http,
            format!("{}/result/{id}?process-id={pid}", cu2.url()),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(&r, want, "message {id}: the replayed result is CU 1's");
    }
    let m = cu2.evaluator.metrics.render();
    assert_eq!(
        metric(&m, "ao_cu_process_loads_total{source=\"history\"}"),
        1,
        "one replay filled the whole gap"
    );
    cu2.shutdown().await;
    net.close().await;
}
