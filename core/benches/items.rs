//! Parse+verify and sign throughput of ao-core's data items.
//!
//! Run: `cargo bench -p ao-core --bench items` (numbers and machine in BENCHMARKS.md).
//! Each case reports items per second (criterion's "elem/s") on one core.

use ao_core::wallet::{EthereumWallet, Wallet};
use ao_core::{DataItem, DataItemBuilder, Signer};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SMALL: usize = 32;
const LARGE: usize = 100 * 1024;

fn rsa_wallet() -> Wallet {
    // The fixtures' throwaway key, so the bench needs no seconds of RSA key generation.
    let path = std::env::var("AO_FIXTURES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/ans104").to_owned()
    });
    let text = std::fs::read_to_string(format!(
        "{path}/TEST-ONLY-throwaway-wallets/arweave-rsa4096.TEST-ONLY.jwk.json"
    ))
    .expect("fixture RSA wallet (set AO_FIXTURES)");
    Wallet::from_json(&text).expect("JWK")
}

fn signers() -> Vec<(&'static str, Box<dyn Signer>)> {
    vec![
        ("type1-rsa", Box::new(rsa_wallet())),
        (
            "type2-ed25519",
            Box::new(ao_core::wallet::Ed25519Wallet::from_seed(&[1u8; 32]).expect("seed")),
        ),
        (
            "type3-ethereum",
            Box::new(EthereumWallet::from_secret(&[2u8; 32]).expect("secret")),
        ),
    ]
}

fn item(signer: &dyn Signer, size: usize) -> Vec<u8> {
    DataItemBuilder::new()
        .target([9u8; 32])
        .anchor(*b"00000000000000000000000000000001")
        .tag("Data-Protocol", "ao")
        .tag("Type", "Message")
        .tag("Variant", "ao.TN.1")
        .tag("Action", "Transfer")
        .data(vec![0x61; size])
        .sign(signer)
        .expect("sign")
        .as_bytes()
        .to_vec()
}

fn parse_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse+verify");
    group.throughput(Throughput::Elements(1));
    for (name, signer) in signers() {
        for (label, size) in [("32B", SMALL), ("100KiB", LARGE)] {
            let raw = bytes::Bytes::from(item(signer.as_ref(), size));
            group.bench_with_input(BenchmarkId::new(name, label), &raw, |b, raw| {
                b.iter(|| {
                    let item = DataItem::parse(raw.clone()).expect("parse");
                    item.verify().expect("verify");
                })
            });
        }
    }
    group.finish();
}

/// The parts of a small type-2 verification, to see where its time goes.
fn parts(c: &mut Criterion) {
    let signer = ao_core::wallet::Ed25519Wallet::from_seed(&[1u8; 32]).expect("seed");
    let raw = bytes::Bytes::from(item(&signer, SMALL));
    let parsed = DataItem::parse(raw.clone()).expect("parse");
    let message = parsed.signature_data();
    let mut group = c.benchmark_group("parts-ed25519-32B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| b.iter(|| DataItem::parse(raw.clone())));
    group.bench_function("signature_data", |b| b.iter(|| parsed.signature_data()));
    group.bench_function("signature_verify", |b| {
        b.iter(|| {
            ao_core::signature::verify(
                parsed.signature_type(),
                parsed.owner(),
                &message,
                parsed.signature(),
            )
        })
    });
    group.finish();
}

fn sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    for (name, signer) in signers().into_iter().take(2) {
        group.bench_function(BenchmarkId::new(name, "32B"), |b| {
            b.iter(|| item(signer.as_ref(), SMALL))
        });
    }
    group.finish();
}

criterion_group!(benches, parse_verify, parts, sign);
criterion_main!(benches);
