//! The Lua test module (`modules/lua-minimal`) the CU and router tests evaluate: built with
//! emscripten into the build cache once per version of its sources, so every test crate reads
//! the same build.

use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The build cache (`AO_CACHE`, else `~/.cache/ao-rs`).
pub fn cache() -> PathBuf {
    std::env::var_os("AO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ao-rs")
        })
}

/// Build `modules/lua-minimal` with emscripten, once per version of its sources (and once per
/// test process: tests running in parallel wait for the first build); the `process.wasm` path.
pub fn minimal_module() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_minimal_module).clone()
}

fn build_minimal_module() -> PathBuf {
    let src = repo().join("modules");
    let mut h = Sha256::new();
    for f in [
        "lua-minimal/boot.lua",
        "lua-minimal/build.sh",
        "lua/c/build-wasm.sh",
        "lua/c/handle.c",
        "lua/c/compat.c",
        "lua/os/json.lua",
    ] {
        h.update(std::fs::read(src.join(f)).expect("module source"));
    }
    let out = cache()
        .join("modules")
        .join(format!("lua-minimal-{}", &hex::encode(h.finalize())[..16]));
    let wasm = out.join("process.wasm");
    if !wasm.exists() {
        // Built beside the final place and renamed into it, so test binaries running at the same
        // time never see a half-written module.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = out.with_extension(format!("tmp{}-{nanos}", std::process::id()));
        let status = Command::new("bash")
            .arg(src.join("lua-minimal/build.sh"))
            .arg(&tmp)
            .status()
            .expect("run modules/lua-minimal/build.sh");
        assert!(
            status.success() && tmp.join("process.wasm").exists(),
            "building the Lua test module failed; it needs emscripten (apt-get install emscripten)"
        );
        if std::fs::rename(&tmp, &out).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    wasm
}
