//! Property tests: whatever we sign parses back to the same fields and verifies; whatever bytes we
//! are given, parsing and verifying return an error instead of panicking.

use ao_core::wallet::Ed25519Wallet;
use ao_core::{DataItem, DataItemBuilder, Tag, bundle, tags};
use proptest::prelude::*;

fn wallet() -> Ed25519Wallet {
    Ed25519Wallet::from_seed(&[42u8; 32]).expect("seed")
}

fn arb_tag() -> impl Strategy<Value = Tag> {
    // Short names and values keep the block under the 4096-byte limit with up to 16 tags.
    (".{0,24}", ".{0,40}").prop_map(|(n, v)| Tag::new(n, v))
}

prop_compose! {
    fn arb_builder()(
        target in proptest::option::of(any::<[u8; 32]>()),
        anchor in proptest::option::of(any::<[u8; 32]>()),
        tags in proptest::collection::vec(arb_tag(), 0..16),
        data in proptest::collection::vec(any::<u8>(), 0..2048),
    ) -> DataItemBuilder {
        DataItemBuilder { target, anchor, tags, data }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_items_round_trip(builder in arb_builder()) {
        let item = builder.clone().sign(&wallet()).unwrap();
        let again = DataItem::parse(item.as_bytes().to_vec()).unwrap();
        prop_assert_eq!(again.target(), builder.target.as_ref());
        prop_assert_eq!(again.anchor(), builder.anchor.as_ref());
        prop_assert_eq!(again.tags(), builder.tags.as_slice());
        prop_assert_eq!(again.data(), builder.data.as_slice());
        prop_assert_eq!(again.id(), item.id());
        prop_assert!(again.verify().is_ok());
    }

    #[test]
    fn bundles_round_trip(builders in proptest::collection::vec(arb_builder(), 0..5)) {
        let items: Vec<DataItem> = builders.into_iter().map(|b| b.sign(&wallet()).unwrap()).collect();
        let raw = bundle::write(&items);
        let back = bundle::parse_and_verify(raw).unwrap();
        prop_assert_eq!(back, items);
    }

    #[test]
    fn tag_encoding_round_trips(tags in proptest::collection::vec(arb_tag(), 0..64)) {
        match tags::encode(&tags) {
            Ok(raw) => prop_assert_eq!(tags::decode(&raw, tags.len() as u64, 0).unwrap(), tags),
            // Only the total-size limit can refuse these.
            Err(e) => prop_assert!(e.to_string().contains("4096"), "{}", e),
        }
    }

    #[test]
    fn mutated_items_never_panic(
        builder in arb_builder(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let item = builder.sign(&wallet()).unwrap();
        let mut raw = item.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        if let Some(cut) = cut {
            raw.truncate(cut.index(raw.len()));
        }
        if let Ok(parsed) = DataItem::parse(raw.clone()) {
            let _ = parsed.verify();
            let _ = parsed.signature_data();
        }
        let _ = bundle::parse(raw);
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Ok(item) = DataItem::parse(raw.clone()) {
            let _ = item.verify();
        }
        let _ = bundle::parse(raw.clone());
        let _ = tags::decode(&raw, 3, 0);
    }

    #[test]
    fn header_prefixes_never_panic(
        sig_type in 1u16..=8,
        rest in proptest::collection::vec(any::<u8>(), 0..1200),
    ) {
        // Arbitrary bytes rarely get past the signature type; start from a known one.
        let mut raw = sig_type.to_le_bytes().to_vec();
        raw.extend(rest);
        if let Ok(item) = DataItem::parse(raw) {
            let _ = item.verify();
        }
    }
}
