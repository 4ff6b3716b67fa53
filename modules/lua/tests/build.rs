//! The committed module is what `build.sh` builds from the sources in this folder: CI rebuilds it
//! (Debian's emscripten, `lua-src` 551.1.0) into a fresh folder and compares the bytes.

use std::process::Command;

use sha2::{Digest, Sha256};

#[test]
fn the_committed_module_is_what_build_sh_builds() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/build.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("run build.sh");
    assert!(
        out.status.success(),
        "modules/lua/build.sh failed (it needs emscripten: apt-get install emscripten):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = std::fs::read(dir.path().join("process.wasm")).expect("built module");
    let sha = |b: &[u8]| hex::encode(Sha256::digest(b));
    assert!(
        built == ao_module_lua::PROCESS_WASM,
        "modules/lua/dist/process.wasm is stale: the sources build {} ({} bytes), the committed \
         file is {} ({} bytes). Run modules/lua/build.sh and commit dist/process.wasm.",
        sha(&built),
        built.len(),
        sha(ao_module_lua::PROCESS_WASM),
        ao_module_lua::PROCESS_WASM.len()
    );
}
