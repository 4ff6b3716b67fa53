//! End-to-end tests of ao-rs. The tests live in `tests/tests/*.rs`; this library holds what they
//! share: where the shared fixtures are, how to run the public JS libraries (installed by
//! `scripts/test.sh`) that check us from outside, the drain scenario every unit is held to
//! (`drain`), and the Lua test module (`modules`).
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::path::PathBuf;
use std::process::{Command, Output};

pub mod drain;
pub mod modules;

/// The value of the sample `name` (with its labels as the unit writes them, e.g.
/// `ao_cu_process_loads_total{source="memory"}`) in a Prometheus text, if present: what every
/// test that reads a unit's `/metrics` needs.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The ANS-104 fixtures folder: `$AO_FIXTURES`, else `shared/fixtures/ans104` beside the clone.
pub fn fixtures() -> PathBuf {
    std::env::var_os("AO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/ans104"
            ))
        })
}

/// The `node_modules` folder holding arbundles and friends, installed by `scripts/test.sh`.
///
/// Panics with the command to run when it is missing: a test that needs a JS peer must not pass
/// without one.
pub fn js_modules() -> PathBuf {
    let dir = std::env::var_os("AO_JS_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/ao-rs/js/node_modules")
        });
    assert!(
        dir.join("arbundles").is_dir(),
        "JS peers not installed at {} (run the tests with scripts/test.sh, or set AO_JS_MODULES)",
        dir.display()
    );
    dir
}

/// Run `node` on a script with the JS peers on its module path, returning its output.
pub fn node(script: &std::path::Path, args: &[std::ffi::OsString]) -> Output {
    node_with(&[], script, args)
}

/// [`node`] with flags for node itself (e.g. `--experimental-wasm-memory64`, which node 20
/// needs to instantiate the reference's wasm64 modules).
pub fn node_with(flags: &[&str], script: &std::path::Path, args: &[std::ffi::OsString]) -> Output {
    Command::new("node")
        .args(flags)
        .arg(script)
        .args(args)
        .env("NODE_PATH", js_modules())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (is Node.js installed?): {e}"))
}

/// Evaluate `msgs` in order on one process of `wasm` with the reference loader,
/// `@permaweb/ao-loader` 0.0.49 (`tests/js/loader-run.cjs`), the way the reference CU does.
///
/// Returns the argv the emscripten glue gave `main` (part of the memory image, so our side must
/// pass the same) and one line per message: `Output`, `Messages`, `Spawns`, `Assignments`,
/// `Error`, `GasUsed`, `memory_bytes`, `memory_sha256`. Panics if the harness fails.
pub fn reference_loader(
    wasm: &std::path::Path,
    format: &str,
    env: &serde_json::Value,
    msgs: &[serde_json::Value],
    compute_limit: Option<u64>,
) -> (Vec<String>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let env_path = dir.path().join("env.json");
    let msgs_path = dir.path().join("msgs.jsonl");
    std::fs::write(&env_path, env.to_string()).expect("write env");
    let text: String = msgs.iter().map(|m| format!("{m}\n")).collect();
    std::fs::write(&msgs_path, text).expect("write messages");
    let mut args: Vec<std::ffi::OsString> = vec![
        wasm.into(),
        format.into(),
        env_path.into(),
        msgs_path.into(),
    ];
    if let Some(limit) = compute_limit {
        args.push(limit.to_string().into());
    }
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/js/loader-run.cjs"));
    let out = node_with(&["--experimental-wasm-memory64"], &script, &args);
    assert!(
        out.status.success(),
        "ao-loader harness failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut argv = Vec::new();
    let mut lines = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(a) = v.get("argv") {
            argv = serde_json::from_value(a.clone()).expect("argv");
        } else if v.get("memory_sha256").is_some() {
            lines.push(v);
        }
    }
    (argv, lines)
}

/// A module in the `wasm32-unknown-emscripten2` ABI, in miniature, as WAT: a stack, the start-up
/// exports, and a `handle` that traps when the message JSON's tenth byte is `t`
/// (`{"Data":"trap"}`), else charges 500 gas through `metering.usegas` and answers
/// `{"ok":true,"response":{"Output":"fine"}}`. `IMPORT` marks where a test may add an import.
pub const TINY_EMSCRIPTEN2_WAT: &str = r#"
(module
  (import "metering" "usegas" (func $usegas (param i32)))
  IMPORT
  (memory (export "memory") 2 4)
  (global $sp (mut i32) (i32.const 65536))
  (func (export "stackSave") (result i32) global.get $sp)
  (func (export "stackRestore") (param i32) local.get 0 global.set $sp)
  (func (export "stackAlloc") (param i32) (result i32)
    global.get $sp local.get 0 i32.sub i32.const -16 i32.and global.set $sp global.get $sp)
  (func (export "emscripten_stack_init"))
  (func (export "emscripten_stack_get_end") (result i32) i32.const 1024)
  (func (export "__wasm_call_ctors"))
  (func (export "main") (param i32 i32) (result i32) i32.const 0)
  (data (i32.const 2048) "{\"ok\":true,\"response\":{\"Output\":\"fine\"}}\00")
  (func (export "handle") (param $msg i32) (param $env i32) (result i32)
    (if (i32.eq (i32.load8_u offset=9 (local.get $msg)) (i32.const 116)) (then unreachable))
    (call $usegas (i32.const 500))
    i32.const 2048)
)"#;
