//! Every L1 transaction in `shared/fixtures/ans104/manifest.json`, made and verified by arweave-js
//! 1.15.5: our signature data, `data_root` and verdict must be what the manifest recorded, and any
//! field changed after signing must make `verify` fail (never panic).

use ao_core::encoding::{b64url, b64url_decode, sha256};
use ao_core::l1::{self, Transaction};
use serde_json::Value;

use ao_tests::fixtures;

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json"))
        .expect("shared/fixtures/ans104/manifest.json (set AO_FIXTURES to its folder)");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Each manifest entry with its transaction's JSON text.
fn transactions() -> Vec<(Value, String)> {
    let m = manifest();
    let entries = m["l1_transactions"]
        .as_array()
        .expect("manifest has l1_transactions")
        .clone();
    assert!(entries.len() >= 3, "the manifest lists 3 L1 transactions");
    entries
        .into_iter()
        .map(|entry| {
            let file = entry["file"].as_str().expect("file").to_owned();
            let text = std::fs::read_to_string(fixtures().join(&file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            (entry, text)
        })
        .collect()
}

fn field<'a>(entry: &'a Value, name: &str) -> &'a str {
    entry[name]
        .as_str()
        .unwrap_or_else(|| panic!("manifest entry lacks {name}"))
}

#[test]
fn every_manifest_transaction_hashes_and_verifies_as_arweave_js_did() {
    for (entry, text) in transactions() {
        let name = field(&entry, "name");
        let tx = Transaction::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tx.id(), field(&entry, "id"), "{name}: id");
        assert_eq!(
            b64url(tx.signature_data().expect("hashes")),
            field(&entry, "signature_data_b64url"),
            "{name}: signature data"
        );
        assert_eq!(
            tx.data_size().to_string(),
            field(&entry, "data_size"),
            "{name}: data_size"
        );
        assert_eq!(
            tx.data().len().to_string(),
            field(&entry, "data_size"),
            "{name}: the fixture carries its data"
        );
        assert_eq!(
            l1::data_root(tx.data()).map(b64url).unwrap_or_default(),
            field(&entry, "data_root"),
            "{name}: data_root recomputed from the data"
        );
        assert_eq!(
            tx.data_root().map(b64url).unwrap_or_default(),
            field(&entry, "data_root"),
            "{name}: data_root as carried"
        );
        assert_eq!(
            tx.owner_address(),
            b64url(sha256(tx.owner())),
            "{name}: owner address"
        );
        let expected_valid = entry["arweave_js_verify"]
            .as_bool()
            .expect("arweave_js_verify");
        let verdict = tx.verify();
        assert_eq!(
            verdict.is_ok(),
            expected_valid,
            "{name}: arweave-js said valid={expected_valid}, we said {verdict:?}"
        );

        // What we serialise is what arweave-js wrote.
        let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
        assert_eq!(
            serde_json::to_value(&tx).expect("serialises"),
            original,
            "{name}: round trip"
        );
    }
}

#[test]
fn the_fixture_tags_decode() {
    for (entry, text) in transactions() {
        let name = field(&entry, "name");
        let tx = Transaction::from_json(&text).expect("parses");
        let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
        let raw = original["tags"].as_array().expect("tags");
        assert_eq!(tx.tags().len(), raw.len(), "{name}: tag count");
        for (tag, json) in tx.tags().iter().zip(raw) {
            let name_bytes = b64url_decode("name", json["name"].as_str().expect("name"))
                .expect("fixture tag names are base64url");
            assert_eq!(tag.name.as_bytes(), name_bytes, "{name}: tag name");
        }
    }
    let bundle = transactions()
        .into_iter()
        .find(|(entry, _)| field(entry, "name") == "v2-bundle-tx")
        .expect("the manifest has v2-bundle-tx");
    let tx = Transaction::from_json(&bundle.1).expect("parses");
    assert_eq!(tx.tag("Bundle-Format"), Some("binary"));
    assert_eq!(tx.tag("Bundle-Version"), Some("2.0.0"));
}

/// Parse `json` after `change` and verify; the change must make one of the two fail.
fn refused(json: &Value, change: impl FnOnce(&mut Value)) -> String {
    let mut json = json.clone();
    change(&mut json);
    match Transaction::from_value(json).and_then(|tx| tx.verify()) {
        Ok(()) => "accepted".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// Flip one bit of a base64url field, keeping it valid base64url.
fn flip(json: &mut Value, pointer: &str, byte: usize) {
    let slot = json.pointer_mut(pointer).expect("field exists");
    let mut raw = b64url_decode("fixture field", slot.as_str().expect("a string"))
        .expect("fixture field is base64url");
    let i = byte % raw.len();
    raw[i] ^= 1;
    *slot = b64url(raw).into();
}

#[test]
fn any_change_after_signing_is_refused() {
    for (entry, text) in transactions() {
        let name = field(&entry, "name");
        let json: Value = serde_json::from_str(&text).expect("fixture is JSON");
        let has_tags = json["tags"].as_array().is_some_and(|t| !t.is_empty());
        let has_data = !json["data"].as_str().unwrap_or_default().is_empty();

        let mut cases: Vec<(&str, String, &str)> = vec![
            (
                "quantity",
                refused(&json, |j| j["quantity"] = "1".into()),
                "signature",
            ),
            (
                "reward",
                refused(&json, |j| j["reward"] = "1000".into()),
                "signature",
            ),
            (
                "last_tx",
                refused(&json, |j| flip(j, "/last_tx", 0)),
                "signature",
            ),
            (
                "owner",
                refused(&json, |j| flip(j, "/owner", 100)),
                "signature",
            ),
            (
                "target",
                refused(&json, |j| j["target"] = b64url([9u8; 32]).into()),
                "signature",
            ),
            (
                "wrong id",
                refused(&json, |j| j["id"] = b64url([7u8; 32]).into()),
                "SHA-256 of the signature",
            ),
            (
                // The id is made to match the altered signature, so only the RSA check can catch it.
                "signature byte",
                refused(&json, |j| {
                    flip(j, "/signature", 200);
                    let sig = b64url_decode("signature", j["signature"].as_str().expect("sig"))
                        .expect("base64url");
                    j["id"] = b64url(sha256(sig)).into();
                }),
                "signature",
            ),
            (
                "format",
                refused(&json, |j| j["format"] = 1.into()),
                "only format 2",
            ),
            (
                "new tag",
                refused(&json, |j| {
                    if let Some(tags) = j["tags"].as_array_mut() {
                        tags.push(serde_json::json!({"name": b64url("X"), "value": b64url("Y")}));
                    }
                }),
                "signature",
            ),
            (
                "data_size",
                refused(&json, |j| j["data_size"] = "17".into()),
                if has_data { "data_size" } else { "signature" },
            ),
        ];
        if has_tags {
            cases.push((
                "tag value",
                refused(&json, |j| flip(j, "/tags/0/value", 0)),
                "signature",
            ));
            cases.push((
                "tag name",
                refused(&json, |j| flip(j, "/tags/1/name", 3)),
                "signature",
            ));
            cases.push((
                "tag order",
                refused(&json, |j| {
                    if let Some(tags) = j["tags"].as_array_mut() {
                        tags.reverse();
                    }
                }),
                "signature",
            ));
        }
        if has_data {
            cases.push((
                "data byte",
                refused(&json, |j| flip(j, "/data", 5)),
                "data_root",
            ));
            cases.push((
                "data_root",
                refused(&json, |j| flip(j, "/data_root", 0)),
                "data_root",
            ));
            cases.push((
                "data dropped but data_root altered",
                refused(&json, |j| {
                    j["data"] = "".into();
                    flip(j, "/data_root", 0);
                }),
                "signature",
            ));
        } else {
            cases.push((
                "data_root on an empty transaction",
                refused(&json, |j| j["data_root"] = b64url([5u8; 32]).into()),
                "data_root",
            ));
        }
        for (what, outcome, expected) in cases {
            assert!(
                outcome.contains(expected),
                "{name}: changing {what} should fail mentioning {expected:?}, got {outcome:?}"
            );
        }
    }
}

#[test]
fn headers_without_data_still_verify() {
    // Gateways serve `/tx/{id}` with `data` empty; the signature covers data_size and data_root, so
    // the header alone verifies.
    for (entry, text) in transactions() {
        let name = field(&entry, "name");
        let mut json: Value = serde_json::from_str(&text).expect("fixture is JSON");
        json["data"] = "".into();
        let tx = Transaction::from_value(json.clone()).expect("parses");
        assert!(tx.data().is_empty());
        tx.verify()
            .unwrap_or_else(|e| panic!("{name} without data: {e}"));
        if let Some(object) = json.as_object_mut() {
            object.remove("data");
        }
        Transaction::from_value(json)
            .and_then(|tx| tx.verify())
            .unwrap_or_else(|e| panic!("{name} with no data key: {e}"));
    }
}

#[test]
fn garbage_never_panics() {
    for (_, text) in transactions() {
        // Every prefix of the text: truncated downloads must be errors.
        for end in (0..text.len()).step_by(37) {
            let _ = Transaction::from_json(&text[..end]).and_then(|tx| tx.verify());
        }
        let json: Value = serde_json::from_str(&text).expect("fixture is JSON");
        let junk: [Value; 7] = [
            Value::Null,
            true.into(),
            (-1).into(),
            "".into(),
            "!!".into(),
            serde_json::json!([]),
            serde_json::json!({}),
        ];
        let keys: Vec<String> = json
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            for value in &junk {
                let mut j = json.clone();
                j[key.as_str()] = value.clone();
                let _ = Transaction::from_value(j).and_then(|tx| tx.verify());
            }
        }
    }
}
