//! The Lua module's speed and size: a warm token process handling Transfers, and the memory of a
//! process after boot, on our CU's loader beside `@permaweb/ao-loader` 0.0.49 on the same
//! machine.
//!
//! Our side is the CU's `ProcessRunner`, which evaluates every message the CU serves (instance
//! reused; rollback by replay); the reference side is `tests/js/loader-time.cjs`, driven as the
//! reference CU drives ao-loader (the memory passed back in every call). Both evaluate the same
//! JSON messages; neither includes the SU reads or result writes around them.
//!
//! Run: `cargo bench -p ao-module-lua --bench token` (env `N` = transfers, default 2000;
//! `AO_JS_MODULES` = node_modules with @permaweb/ao-loader for the reference side).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use serde_json::Value;

const PID: &str = "TOKEN-BENCH-PROCESS-000000000000000000000000";
const BOB: &str = "BOB-ADDRESS-0000000000000000000000000000000";

/// The process message, the token blueprint, then Alice and Bob funded, then `n` transfers
/// back and forth between them (each sends a Debit-Notice and a Credit-Notice).
fn messages(n: usize) -> (Value, Vec<Value>, usize) {
    let tags = process_tags(&[("Name", "bench")]);
    let env = env(PID, &tags);
    let fund = format!(
        "Blueprint('token'); Balances['{ALICE}'] = '1000000000'; Balances['{BOB}'] = '1000000000'"
    );
    let mut steps = vec![
        Msg {
            signer: OWNER,
            from_process: None,
            tags: tags.clone(),
            data: "",
        },
        Msg::from(OWNER).action("Eval").data(&fund),
    ];
    for i in 0..n + 10 {
        let (from, to) = if i % 2 == 0 {
            (ALICE, BOB)
        } else {
            (BOB, ALICE)
        };
        steps.push(
            Msg::from(from)
                .action("Transfer")
                .tag("Recipient", to)
                .tag("Quantity", "1000"),
        );
    }
    let msgs = steps
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let id = if i == 0 {
                PID.to_string()
            } else {
                format!("MSG-{i}")
            };
            message(PID, &id, i as u64, m)
        })
        .collect();
    // Warm-up: boot, blueprint and 10 transfers.
    (env, msgs, 12)
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);

    // Memory after boot, and with the token loaded.
    let mut p = Process::spawn("SIZE-PROCESS", &[]);
    let booted = p.memory_size();
    p.run("Blueprint('token')");
    println!(
        "memory per process: {:.1} MiB after boot, {:.1} MiB with the token blueprint",
        booted as f64 / 1048576.0,
        p.memory_size() as f64 / 1048576.0
    );

    let (env, msgs, warm) = messages(n);
    let module = module();
    let mut runner =
        ao_cu::loader::ProcessRunner::new(module, ao_cu::loader::Options::default(), None);
    let mut start = Instant::now();
    for (i, m) in msgs.iter().enumerate() {
        if i == warm {
            start = Instant::now();
        }
        let e = runner.evaluate(m, &env).expect("evaluate");
        assert!(e.error.is_none(), "message {i}: {:?}", e.error);
        if i >= warm {
            assert_eq!(e.messages.as_array().map(Vec::len), Some(2), "two notices");
        }
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "ours (CU ProcessRunner): {n} transfers, {:.0} msg/s ({:.3} ms each)",
        n as f64 / s,
        s * 1e3 / n as f64
    );

    if std::env::var_os("AO_JS_MODULES").is_none() && std::env::var_os("NODE_PATH").is_none() {
        println!("ao-loader side skipped: set AO_JS_MODULES");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let wasm = dir.path().join("process.wasm");
    let env_path = dir.path().join("env.json");
    let msgs_path = dir.path().join("msgs.jsonl");
    std::fs::write(&wasm, ao_module_lua::PROCESS_WASM).expect("wasm");
    std::fs::write(&env_path, env.to_string()).expect("env");
    let text: String = msgs.iter().map(|m| format!("{m}\n")).collect();
    std::fs::write(&msgs_path, text).expect("msgs");
    let script = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/js/loader-time.cjs"
    ));
    let out = ao_tests::node(
        &script,
        &[
            wasm.into(),
            ao_module_lua::MODULE_FORMAT.into(),
            env_path.into(),
            msgs_path.into(),
            warm.to_string().into(),
        ],
    );
    let line = String::from_utf8_lossy(&out.stdout);
    match serde_json::from_str::<Value>(line.trim()) {
        Ok(v) => println!(
            "ao-loader 0.0.49: {n} transfers, {:.0} msg/s ({:.3} ms each)",
            v["per_second"].as_f64().unwrap_or_default(),
            v["seconds"].as_f64().unwrap_or_default() * 1e3 / n as f64
        ),
        Err(_) => println!(
            "ao-loader side failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
