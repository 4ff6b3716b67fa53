//! End-to-end tests of ao-rs. The tests live in `tests/tests/*.rs`; this library holds what they
//! share: where the shared fixtures are, and how to run the public JS
//! libraries (installed by `scripts/test.sh`) that check us from outside.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::path::PathBuf;
use std::process::{Command, Output};

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
    Command::new("node")
        .arg(script)
        .args(args)
        .env("NODE_PATH", js_modules())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (is Node.js installed?): {e}"))
}
