//! Items that ao-core signs are verified by arbundles 0.11.2, the library aoconnect and the reference
//! MU use: every signature type we sign, with and without target and anchor, unicode and empty tags,
//! empty and large data. If arbundles disagreed with us, AO's JS world would refuse our items.

use std::ffi::OsString;

use ao_core::wallet::{Wallet, WalletKind};
use ao_core::{DataItem, DataItemBuilder, Signer, Tag};
use serde_json::Value;

fn wallets() -> Vec<(&'static str, Wallet)> {
    let rsa = std::fs::read_to_string(
        ao_tests::fixtures().join("TEST-ONLY-throwaway-wallets/arweave-rsa4096.TEST-ONLY.jwk.json"),
    )
    .expect("fixture RSA wallet");
    vec![
        ("arweave", Wallet::from_json(&rsa).expect("RSA JWK loads")),
        ("ed25519", Wallet::generate(WalletKind::Ed25519).unwrap()),
        ("ethereum", Wallet::generate(WalletKind::Ethereum).unwrap()),
    ]
}

fn variants() -> Vec<(&'static str, DataItemBuilder)> {
    let target = [0x5au8; 32];
    let anchor = *b"00000000000000000000000000000042";
    vec![
        ("bare", DataItemBuilder::new().data(b"hello".to_vec())),
        ("empty", DataItemBuilder::new()),
        (
            "target-anchor",
            DataItemBuilder::new()
                .target(target)
                .anchor(anchor)
                .tag("Data-Protocol", "ao")
                .tag("Type", "Message")
                .data(b"ping".to_vec()),
        ),
        ("anchor-only", DataItemBuilder::new().anchor(anchor)),
        (
            "unicode-tags",
            DataItemBuilder::new()
                .tag("日本語", "🚀 テスト")
                .tag("Émoji-✓", "naïve café")
                .tag("", "")
                .tag("Dup", "1")
                .tag("Dup", "2"),
        ),
        (
            "128-tags",
            DataItemBuilder::new()
                .tags((0..128).map(|i| Tag::new(format!("T{i}"), "v")))
                .data(vec![7u8; 10]),
        ),
        (
            "large-data",
            DataItemBuilder::new()
                .target(target)
                .data((0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()),
        ),
    ]
}

#[test]
fn arbundles_verifies_every_item_we_sign() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for (kind, wallet) in wallets() {
        for (variant, builder) in variants() {
            let item = builder.sign(&wallet).expect("sign");
            item.verify().expect("we verify our own item");
            let path = dir.path().join(format!("{kind}-{variant}.bin"));
            std::fs::write(&path, item.as_bytes()).unwrap();
            expected.push((path, item, wallet.signature_type()));
        }
    }
    let script = ao_tests::fixtures().join("tools/verify-items.cjs");
    let args: Vec<OsString> = expected.iter().map(|(p, _, _)| p.clone().into()).collect();
    let out = ao_tests::node(&script, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per item; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (line, (path, item, sig_type)) in lines.iter().zip(&expected) {
        let name = path.display();
        assert_eq!(line["valid"], true, "{name}: arbundles says {line}");
        assert_eq!(line["id"], item.id().as_str(), "{name}: id");
        assert_eq!(line["signatureType"], sig_type.as_u16(), "{name}");
        assert_eq!(
            line["owner_address"],
            item.owner_address().as_str(),
            "{name}"
        );
        assert_eq!(line["data_len"], item.data().len(), "{name}");
        let tags: Vec<Tag> = serde_json::from_value(line["tags"].clone()).unwrap();
        assert_eq!(tags, item.tags(), "{name}: tags as arbundles reads them");
        assert_eq!(
            line["target"].as_str(),
            item.target_id().as_deref(),
            "{name}: target"
        );
    }
    assert!(
        out.status.success(),
        "verify-items exits 0 when all are valid"
    );
}

#[test]
fn arbundles_refuses_an_item_we_tampered_with() {
    // The check above must be able to fail: flip a data byte of a signed item.
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::generate(WalletKind::Ed25519).unwrap();
    let item = DataItemBuilder::new()
        .data(b"payload".to_vec())
        .sign(&wallet)
        .unwrap();
    let mut raw = item.as_bytes().to_vec();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert!(DataItem::parse(raw.clone()).unwrap().verify().is_err());
    let path = dir.path().join("tampered.bin");
    std::fs::write(&path, raw).unwrap();
    let out = ao_tests::node(
        &ao_tests::fixtures().join("tools/verify-items.cjs"),
        &[path.into()],
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["valid"], false);
    assert!(!out.status.success());
}
