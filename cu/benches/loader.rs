//! The loader's speed, beside the reference loader on the same machine.
//!
//! For each module (the Lua test module built from `modules/lua-minimal`, plus `AOS_WASM` when set,
//! e.g. the real aos 1.x build from permaweb/ao's `loader/test/aos/process.wasm`):
//! - compile from wasm (cold) and from the serialized artifact (cache hit);
//! - start-up of a fresh instance (constructors + `main`);
//! - warm evaluation, messages/s: (a) Eval `return 1 + 1`, (b) Eval of a handler that appends to a
//!   table, with the reference CU's rules (instance reused, memory copied out after each message);
//! - restore of a ~100 MB memory snapshot into a fresh instance.
//!
//! The ao-loader side is `tests/js/loader-bench.cjs` (run by this bench when `AO_JS_MODULES` or
//! `NODE_PATH` points at node_modules with @permaweb/ao-loader 0.0.49).
//!
//! Run: `cargo bench -p ao-cu --bench loader` (env `N` = messages per case, default 200).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ao_cu::loader::{AoInstance, ModuleFormat, Options, ProcessRunner, Runtime};
use serde_json::{Value, json};

fn env() -> Value {
    json!({"Process": {"Id": "P", "Owner": "OWNER", "Tags": [{"name": "Name", "value": "bench"}]}})
}

fn eval(i: usize, data: &str) -> Value {
    json!({"Id": format!("M{i}"), "Target": "P", "Owner": "OWNER", "From": "OWNER", "Module": "MOD",
        "Block-Height": "1000", "Timestamp": (1_700_000_000_000u64 + i as u64).to_string(),
        "Tags": [{"name": "Action", "value": "Eval"}], "Data": data})
}

const CASES: [(&str, &str); 2] = [
    ("Eval `return 1 + 1`", "return 1 + 1"),
    (
        "handler appending to a table",
        "t = t or {}; t[#t + 1] = #t; return #t",
    ),
];

fn minimal_module() -> Option<PathBuf> {
    let cache = std::env::var_os("AO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ao-rs")
        });
    std::fs::read_dir(cache.join("modules"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("process.wasm"))
        .find(|p| p.exists())
}

fn node_side(wasm: &PathBuf, n: usize) {
    let modules = std::env::var("AO_JS_MODULES").or_else(|_| std::env::var("NODE_PATH"));
    let Ok(modules) = modules else {
        println!("  (ao-loader side skipped: set AO_JS_MODULES)");
        return;
    };
    let script = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/js/loader-bench.cjs"
    ));
    let out = Command::new("node")
        .arg(script)
        .arg(wasm)
        .arg(n.to_string())
        .env("NODE_PATH", modules)
        .output()
        .expect("node");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("  ao-loader: {line}");
    }
    if !out.status.success() {
        println!(
            "  ao-loader failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut modules = Vec::new();
    if let Some(m) = minimal_module() {
        modules.push(("lua-minimal", m));
    } else {
        println!(
            "lua-minimal not built: run the tests once (they build it) or modules/lua-minimal/build.sh"
        );
    }
    if let Some(aos) = std::env::var_os("AOS_WASM") {
        modules.push(("aos 1.x (emscripten2, pre-metered)", PathBuf::from(aos)));
    }
    let rt = Runtime::new();
    for (name, path) in modules {
        println!("## {name} ({})", path.display());
        let wasm = std::fs::read(&path).expect("wasm");
        let t = Instant::now();
        let module = rt
            .compile(&wasm, ModuleFormat::Emscripten2)
            .expect("compile");
        println!(
            "  compile (Cranelift): {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let artifact = module.serialize().expect("serialize");
        let t = Instant::now();
        let cached = rt
            .deserialize(&artifact, ModuleFormat::Emscripten2)
            .expect("deserialize");
        println!(
            "  from the serialized artifact ({} KB): {:.1} ms",
            artifact.len() / 1024,
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let _instance = AoInstance::new(&cached, &Options::default()).expect("instance");
        println!(
            "  new instance + start-up: {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );

        for (label, data) in CASES {
            let mut p = ProcessRunner::new(cached.clone(), Options::default(), None);
            p.evaluate(&eval(0, data), &env()).expect("warm-up");
            let t = Instant::now();
            for i in 1..=n {
                let e = p.evaluate(&eval(i, data), &env()).expect("eval");
                assert!(e.error.is_none(), "{:?}", e.error);
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "  warm, {label}: {:.0} msg/s ({:.2} ms each)",
                n as f64 / s,
                s * 1e3 / n as f64
            );
        }

        // A ~100 MB memory: grow the heap with a large string, then restore it into a fresh instance.
        let mut p = ProcessRunner::new(cached.clone(), Options::default(), None);
        let grow = "big = string.rep('x', 45 * 1024 * 1024) return #big";
        let e = p.evaluate(&eval(0, grow), &env()).expect("grow");
        assert!(e.error.is_none(), "{:?}", e.error);
        let snapshot = p.memory().expect("memory").expect("some");
        let t = Instant::now();
        let mut fresh = AoInstance::new(&cached, &Options::default()).expect("instance");
        fresh.load_memory(&snapshot).expect("restore");
        println!(
            "  restore a {} MB snapshot into a fresh instance: {:.0} ms",
            snapshot.len() / (1024 * 1024),
            t.elapsed().as_secs_f64() * 1e3
        );
        node_side(&path, n);
    }
}
