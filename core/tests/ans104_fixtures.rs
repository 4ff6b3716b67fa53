//! Every data item and bundle in `shared/fixtures/ans104/manifest.json`, made by arbundles and
//! arweave-js: what we parse, hash and verify must be what the manifest recorded.

use ao_core::bundle;
use ao_core::deephash::{Chunk, deep_hash};
use ao_core::encoding::b64url;
use ao_core::{DataItem, TagsExt};
use serde_json::Value;
use sha2::{Digest, Sha256};

use ao_tests::fixtures;

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json"))
        .expect("shared/fixtures/ans104/manifest.json (set AO_FIXTURES to its folder)");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

#[test]
fn every_manifest_item_parses_hashes_and_verifies_as_expected() {
    let m = manifest();
    let items = m["items"].as_array().expect("items");
    assert!(items.len() >= 35, "the manifest lists 35 items");
    let mut checked_valid = 0;
    for entry in items {
        let name = entry["name"].as_str().expect("name");
        let expected_valid = entry["expected_valid"].as_bool().expect("expected_valid");
        let raw = read(entry["file"].as_str().expect("file"));
        let parsed = DataItem::parse(raw.clone());
        let verdict = parsed.as_ref().map_err(|e| e.to_string()).and_then(|item| {
            item.verify().map_err(|e| e.to_string())?;
            Ok(item)
        });
        assert_eq!(
            verdict.is_ok(),
            expected_valid,
            "{name}: expected valid={expected_valid}, got {:?}",
            verdict.as_ref().map(|i| i.id())
        );
        if !expected_valid {
            continue;
        }
        let item = parsed.expect("valid item parses");
        checked_valid += 1;
        assert_eq!(item.id(), entry["id"].as_str().unwrap(), "{name}: id");
        assert_eq!(
            item.signature_type().as_u16() as u64,
            entry["signature_type"].as_u64().unwrap(),
            "{name}: signature type"
        );
        assert_eq!(
            b64url(item.owner()),
            entry["owner"].as_str().unwrap(),
            "{name}: owner"
        );
        assert_eq!(
            item.owner_address(),
            entry["owner_address_sha256"].as_str().unwrap(),
            "{name}: owner address"
        );
        assert_eq!(
            item.target_id().as_deref(),
            opt_str(&entry["target"]),
            "{name}: target"
        );
        assert_eq!(
            item.anchor().map(b64url).as_deref(),
            opt_str(&entry["anchor"]),
            "{name}: anchor"
        );
        assert_eq!(
            item.anchor_utf8(),
            opt_str(&entry["anchor_utf8"]),
            "{name}: anchor as text"
        );
        let tags: Vec<ao_core::Tag> =
            serde_json::from_value(entry["tags"].clone()).expect("tags in manifest");
        assert_eq!(item.tags(), tags.as_slice(), "{name}: tags");
        // The manifest abbreviates long tag blocks to "(N bytes)".
        let raw_tags = entry["raw_tags_hex"].as_str().unwrap();
        match raw_tags
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(" bytes)"))
        {
            Some(len) => assert_eq!(item.raw_tags().len().to_string(), len, "{name}: raw tags"),
            None => assert_eq!(hex::encode(item.raw_tags()), raw_tags, "{name}: raw tags"),
        }
        assert_eq!(
            item.data().len() as u64,
            entry["data_size"].as_u64().unwrap(),
            "{name}: data size"
        );
        assert_eq!(
            hex::encode(Sha256::digest(item.data())),
            entry["data_sha256_hex"].as_str().unwrap(),
            "{name}: data hash"
        );
        assert_eq!(
            b64url(item.signature_data()),
            entry["signature_data_b64url"].as_str().unwrap(),
            "{name}: signature data"
        );
        // A parsed item serializes to exactly the bytes it came from.
        assert_eq!(item.as_bytes().as_ref(), raw.as_slice(), "{name}: bytes");
    }
    assert!(checked_valid >= 20, "the manifest has 20 valid items");
}

#[test]
fn corrupted_items_fail_with_errors_that_name_the_problem() {
    let cases = [
        ("invalid-too-short-79-bytes", "needs"),
        ("invalid-truncated-in-owner", "owner at byte 514"),
        ("invalid-truncated-in-tags", "tags at byte"),
        (
            "invalid-unknown-signature-type-99",
            "unsupported signature type 99",
        ),
        (
            "invalid-target-presence-byte-2",
            "presence byte must be 0 or 1",
        ),
        ("invalid-wrong-tag-count", "declares 2 tags"),
        ("invalid-tag-bytes-field-5000", "tag bytes length"),
        ("invalid-flipped-signature-byte", "signature does not match"),
        ("invalid-flipped-data-byte", "signature does not match"),
        ("invalid-flipped-owner-byte", "signature does not match"),
        ("rsa-129-tags", "at most 128"),
        ("rsa-tag-name-1025-bytes", "at most 1024"),
        ("rsa-tag-value-3073-bytes", "at most 3072"),
        ("rsa-tag-bytes-4097", "at most 4096"),
    ];
    for (name, needle) in cases {
        let raw = read(&format!("items/{name}.bin"));
        let err = DataItem::parse(raw)
            .and_then(|item| item.verify())
            .expect_err(name)
            .to_string();
        assert!(
            err.contains(needle),
            "{name}: {err:?} should mention {needle:?}"
        );
    }
}

#[test]
fn rust_signed_and_aoconnect_items_verify() {
    let dir = fixtures();
    for sub in ["rust-signed", "aoconnect-captured"] {
        let mut n = 0;
        for entry in std::fs::read_dir(dir.join(sub)).expect(sub) {
            let path = entry.expect("dir entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("bin") {
                continue;
            }
            let item = DataItem::parse(std::fs::read(&path).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            item.verify()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
        assert!(n >= 3, "{sub} has items");
    }
}

#[test]
fn bundles_are_read_strictly() {
    let m = manifest();
    for entry in m["bundles"].as_array().expect("bundles") {
        let name = entry["name"].as_str().unwrap();
        let raw = read(entry["file"].as_str().unwrap());
        let result = bundle::parse_and_verify(raw.clone());
        if entry["expected_valid"].as_bool().unwrap() {
            let items = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let ids: Vec<String> = items.iter().map(DataItem::id).collect();
            let expected: Vec<String> = serde_json::from_value(entry["ids"].clone()).expect("ids");
            assert_eq!(ids, expected, "{name}");
            let types: Vec<u64> = items
                .iter()
                .map(|i| i.signature_type().as_u16() as u64)
                .collect();
            let expected_types: Vec<u64> =
                serde_json::from_value(entry["item_signature_types"].clone()).unwrap();
            assert_eq!(types, expected_types);
            // Writing the items again gives the same bundle, byte for byte.
            assert_eq!(bundle::write(&items), raw, "{name}: write");
        } else {
            let err = result.expect_err(name).to_string();
            assert!(err.contains("bundle header"), "{name}: {err}");
        }
    }
}

#[test]
fn nested_bundle_item_opens_and_verifies_all_the_way_down() {
    let item = DataItem::parse(read("items/nested-bundle-item.bin")).unwrap();
    assert!(bundle::is_bundle(&item));
    assert_eq!(item.tags().tag_value("Bundle-Format"), Some("binary"));
    let children = bundle::nested(&item).expect("is a bundle").expect("parses");
    assert_eq!(children.len(), 3);
    for child in &children {
        child.verify().unwrap();
    }
    bundle::parse_and_verify(bundle::write(&[item])).unwrap();
}

/// A deep-hash input from the vectors file, owning its bytes.
enum Input {
    Blob(Vec<u8>),
    List(Vec<Input>),
}

impl Input {
    fn from_json(v: &Value) -> Input {
        match v.as_array() {
            Some(list) => Input::List(list.iter().map(Input::from_json).collect()),
            None => Input::Blob(hex::decode(v["hex"].as_str().expect("hex blob")).unwrap()),
        }
    }

    fn chunk(&self) -> Chunk<'_> {
        match self {
            Input::Blob(b) => Chunk::Blob(b),
            Input::List(l) => Chunk::List(l.iter().map(Input::chunk).collect()),
        }
    }
}

#[test]
fn deep_hash_vectors_match_arweave_js() {
    let text = std::fs::read_to_string(fixtures().join("deep-hash-vectors.json")).unwrap();
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let vectors = vectors["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 8);
    for v in vectors {
        let input = Input::from_json(&v["input"]);
        assert_eq!(
            hex::encode(deep_hash(&input.chunk())),
            v["sha384_deep_hash_hex"].as_str().unwrap(),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn avro_vectors_match_arbundles() {
    let text = std::fs::read_to_string(fixtures().join("avro-tag-vectors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let tags: Vec<ao_core::Tag> = serde_json::from_value(v["tags"].clone()).unwrap();
        if let Some(encoded) = v["encoded_hex"].as_str() {
            // Decode-only: another writer's block form must decode to the same tags.
            let raw = hex::decode(encoded).unwrap();
            assert_eq!(
                ao_core::tags::decode(&raw, tags.len() as u64, 0).unwrap(),
                tags
            );
            continue;
        }
        let expected = v["arbundles_serialize_hex"].as_str().unwrap();
        assert_eq!(
            hex::encode(ao_core::tags::encode(&tags).unwrap()),
            expected,
            "{}",
            v["name"]
        );
        let raw = hex::decode(expected).unwrap();
        assert_eq!(
            ao_core::tags::decode(&raw, tags.len() as u64, 0).unwrap(),
            tags
        );
    }
}
