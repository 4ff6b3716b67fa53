//! Slashing from signed statements alone, end to end (issue 17): the `unit-registry` blueprint
//! on the project's Lua module, a real SU, gateway and CU. A CU's two attestations of one message
//! with different results, and an SU's two assignments of one nonce to different messages, are
//! signed by those units' wallets, uploaded, and assigned to the registry by the SU, which
//! checks nothing but that they exist: the registry sees each with its signer as `Owner` and
//! slashes the unit from the two items alone. A third party's statement is its own (the signer
//! is the Owner), and the same result stated twice slashes nothing.

mod common;

use ao_arweave::Bundler;
use ao_core::ao::{AssignmentBuilder, AttestationBuilder, MessageBuilder};
use ao_core::wallet::{Wallet, WalletKind};
use common::net::{Net, cu, get, net};
use serde_json::{Value, json};

fn tag<'a>(msg: &'a Value, name: &str) -> Option<&'a str> {
    msg["Tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["value"].as_str())
}

/// A message to `pid` signed by `wallet`, posted to the SU; its id.
async fn send_as(net: &Net, wallet: &Wallet, pid: &str, tags: &[(&str, &str)]) -> String {
    let raw = ao_core::encoding::decode_id("pid", pid).expect("pid");
    let mut m = MessageBuilder::new(raw);
    for (n, v) in tags {
        m = m.tag(*n, *v);
    }
    let m = m.sign(wallet).expect("message");
    net.post(m.item().as_bytes()).await
}

/// Upload `item` to the gateway and have the SU assign it to `pid`; the assignment id.
async fn assign(net: &Net, pid: &str, item: &ao_core::DataItem) -> String {
    net.gateway().upload(item).await.expect("upload");
    let r = net
        .http
        .post(format!(
            "{}/?process-id={pid}&assign={}",
            net.su().url(),
            item.id()
        ))
        .send()
        .await
        .expect("assign");
    let status = r.status();
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(status, 200, "{v}");
    v["id"].as_str().expect("id").to_string()
}

/// The notices a result sent, by Action.
fn sent<'a>(result: &'a Value, action: &str) -> Vec<&'a Value> {
    result["Messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|x| tag(x, "Action") == Some(action))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cu_and_an_su_are_slashed_from_their_own_signed_statements() {
    let net = net().await;
    let module = ao_module_lua::module_builder()
        .sign(&net.user)
        .expect("module item");
    net.gateway().upload(module.item()).await.expect("publish");
    let registry = net.spawn_on(&module.id(), &[("Name", "registry")]).await;
    net.eval(&registry, "Blueprint('unit-registry')").await;

    let cu_wallet = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    let su_wallet = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    send_as(
        &net,
        &cu_wallet,
        &registry,
        &[("Action", "Register"), ("Role", "cu"), ("Url", "http://cu")],
    )
    .await;
    send_as(
        &net,
        &su_wallet,
        &registry,
        &[("Action", "Register"), ("Role", "su"), ("Url", "http://su")],
    )
    .await;
    // Stake as the token would credit it (the token's Credit-Notice path is tested with the
    // blueprint; here the point is the statements).
    net.eval(
        &registry,
        &format!(
            "Registry.Units['{}'].stake = '1000'; Registry.Units['{}'].stake = '500'",
            cu_wallet.address(),
            su_wallet.address()
        ),
    )
    .await;

    // Two attestations by the CU of one message, one hash chain, different results.
    let attestation = |result: u8, timestamp: u64| AttestationBuilder {
        process: [1; 32],
        message: [2; 32],
        nonce: 5,
        timestamp,
        hash_chain: [3; 32],
        result_sha256: [result; 32],
        memory_sha256: [4; 32],
        module: [5; 32],
    };
    let honest = attestation(0xaa, 1).sign(&cu_wallet).expect("sign");
    // The same result stated again (another item: its Timestamp differs) is no contradiction.
    let again = attestation(0xaa, 2).sign(&cu_wallet).expect("sign");
    let lie = attestation(0xbb, 3).sign(&cu_wallet).expect("sign");
    // The same statement in a third party's name is that party's statement: no slashing.
    let forger = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    let forged = attestation(0xcc, 4).sign(&forger).expect("sign");
    let first = assign(&net, &registry, honest.item()).await;
    let same = assign(&net, &registry, again.item()).await;
    let by_other = assign(&net, &registry, forged.item()).await;
    let proof = assign(&net, &registry, lie.item()).await;

    // Two SU assignments of nonce 9 of one process to different messages.
    let assignment = |message: u8| AssignmentBuilder {
        process: [6; 32],
        epoch: 0,
        nonce: 9,
        hash_chain: [7; 32],
        block_height: 100,
        timestamp: 1_700_000_000_000,
        message: Some([message; 32]),
        exclude: Vec::new(),
        anchor: None,
    };
    let a1 = assignment(0x11).sign(&su_wallet).expect("sign");
    let a2 = assignment(0x22).sign(&su_wallet).expect("sign");
    let su_first = assign(&net, &registry, a1.item()).await;
    let su_proof = assign(&net, &registry, a2.item()).await;

    let cu = cu(&net, 100).await;
    let result = |id: String| {
        let (http, base, registry) = (net.http.clone(), cu.url(), registry.clone());
        async move {
            let (status, r) = get(&http, format!("{base}/result/{id}?process-id={registry}")).await;
            assert_eq!(status, 200, "{r}");
            r
        }
    };
    for id in [first, same, by_other] {
        let r = result(id).await;
        assert!(
            sent(&r, "Slashed").is_empty(),
            "nothing contradicts yet: {r}"
        );
        assert!(r.get("Error").is_none(), "{r}");
    }
    let r = result(proof).await;
    let slashed = sent(&r, "Slashed");
    assert!(!slashed.is_empty(), "the lie slashes the CU: {r}");
    assert_eq!(tag(slashed[0], "Unit"), Some(cu_wallet.address().as_str()));
    assert_eq!(tag(slashed[0], "Amount"), Some("1000"));
    let _ = result(su_first).await;
    let r = result(su_proof).await;
    let slashed = sent(&r, "Slashed");
    assert!(
        !slashed.is_empty(),
        "two assignments of one nonce slash the SU: {r}"
    );
    assert_eq!(tag(slashed[0], "Unit"), Some(su_wallet.address().as_str()));
    assert_eq!(tag(slashed[0], "Amount"), Some("500"));

    // The registry's own answer, by dry-run: nothing left of either stake.
    for wallet in [&cu_wallet, &su_wallet] {
        let dry = json!({"Target": registry, "Owner": "ANYONE", "Tags": [
            {"name": "Action", "value": "Stake-Of"}, {"name": "Unit", "value": wallet.address()}]});
        let r = net
            .http
            .post(format!("{}/dry-run?process-id={registry}", cu.url()))
            .header("content-type", "application/json")
            .body(dry.to_string())
            .send()
            .await
            .expect("dry-run");
        let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        assert_eq!(v["Messages"][0]["Data"], "0", "{v}");
    }
    cu.shutdown().await;
    net.close().await;
}
