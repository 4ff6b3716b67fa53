//! The real `@permaweb/aoconnect` 0.0.98 `spawn` against our local gateway: spawn looks its module up
//! over GraphQL and goes on only if the module carries `Data-Protocol`, `Type: Module`,
//! `Module-Format`, `Input-Encoding` and `Output-Encoding`. A module published to the local gateway
//! must pass that check; one without `Module-Format` must be refused.

use std::ffi::OsString;
use std::time::Duration;

use ao_arweave::Bundler;
use ao_arweave::local::{self, Config};
use ao_core::ao::ModuleBuilder;
use ao_core::wallet::Ed25519Wallet;
use ao_core::{DataItem, DataItemBuilder};
use serde_json::Value;

/// A wasm module header: the bytes do not matter to spawn, only the tags.
const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn spawn_check(gateway: &str, module: &str) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/spawn-check.mjs");
    let jwk =
        ao_tests::fixtures().join("TEST-ONLY-throwaway-wallets/arweave-rsa4096.TEST-ONLY.jwk.json");
    let args: Vec<OsString> = vec![
        gateway.into(),
        jwk.into(),
        module.into(),
        "_GQ33BkPtZrqxA84vM8Zk-N2aO0toNNu_C-l-rawrBA".into(),
    ];
    let out = ao_tests::node(&script, &args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "spawn-check output is not JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aoconnect_spawn_accepts_a_published_module_and_refuses_one_without_module_format() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = local::serve(Config {
        data_dir: dir.path().join("arweave"),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::ZERO,
        max_item_size: local::DEFAULT_MAX_ITEM_SIZE,
        http_limits: ao_runtime::http::HttpLimits::new(local::DEFAULT_MAX_ITEM_SIZE),
    })
    .await
    .unwrap();
    let wallet = Ed25519Wallet::from_seed(&[3u8; 32]).unwrap();

    let good = ModuleBuilder::new("wasm32-unknown-emscripten2", "JSON-1", "JSON-1", WASM)
        .memory_limit("1-gb")
        .compute_limit(9_000_000_000_000)
        .sign(&wallet)
        .unwrap()
        .into_item();
    let bad: DataItem = DataItemBuilder::new()
        .tag("Data-Protocol", "ao")
        .tag("Variant", "ao.TN.1")
        .tag("Type", "Module")
        .tag("Input-Encoding", "JSON-1")
        .tag("Output-Encoding", "JSON-1")
        .data(WASM.to_vec())
        .sign(&wallet)
        .unwrap();
    for item in [&good, &bad] {
        gateway.upload(item).await.unwrap();
    }
    gateway.mine().await.unwrap();

    let url = gateway.url();
    let (good_id, bad_id) = (good.id(), bad.id());
    let (accepted, refused) = tokio::task::spawn_blocking(move || {
        (spawn_check(&url, &good_id), spawn_check(&url, &bad_id))
    })
    .await
    .unwrap();

    assert_eq!(accepted["ok"], true, "{accepted}");
    assert_eq!(
        accepted["mu_posts"], 1,
        "the process reached the MU: {accepted}"
    );
    assert_eq!(accepted["id"].as_str().map(str::len), Some(43));

    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["mu_posts"], 0, "nothing sent to the MU: {refused}");
    gateway.shutdown().await;
}
