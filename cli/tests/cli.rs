//! The `ao` binary as a user runs it: every fixture gives the manifest's answer through
//! `ao item inspect`, and wallets made by `ao wallet new` sign items that `ao item inspect` accepts.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn ao(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ao"))
        .args(args)
        .output()
        .expect("run ao")
}

fn inspect(path: &Path) -> (Value, i32) {
    let out = ao(&["item", "inspect", path.to_str().unwrap()]);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: {e}: {:?}", path.display(), out));
    (json, out.status.code().unwrap_or(-1))
}

#[test]
fn inspect_gives_the_manifest_answer_for_every_fixture() {
    let dir = ao_tests::fixtures();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for entry in manifest["items"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let (report, code) = inspect(&dir.join(entry["file"].as_str().unwrap()));
        let valid = entry["expected_valid"].as_bool().unwrap();
        assert_eq!(report["valid"], valid, "{name}: {report}");
        assert_eq!(code, if valid { 0 } else { 1 }, "{name}: exit code");
        if valid {
            assert!(report["error"].is_null());
            for key in ["id", "owner", "target", "anchor", "tags", "data_size"] {
                assert_eq!(report[key], entry[key], "{name}: {key}");
            }
            assert_eq!(report["signature_type"], entry["signature_type"]);
            assert_eq!(report["owner_address"], entry["owner_address_sha256"]);
            assert_eq!(report["data_sha256"], entry["data_sha256_hex"]);
        } else {
            let error = report["error"].as_str().unwrap_or_default();
            assert!(!error.is_empty(), "{name}: an invalid item says why");
        }
    }
}

#[test]
fn inspect_text_format_and_usage_errors() {
    let item = ao_tests::fixtures().join("items/ao-process.bin");
    let out = ao(&[
        "item",
        "inspect",
        "--format",
        "text",
        item.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("valid item"), "{text}");
    assert!(text.contains("Type = Process"), "{text}");

    assert_eq!(
        ao(&["item", "inspect"]).status.code(),
        Some(2),
        "missing FILE"
    );
    assert_eq!(ao(&["item", "frobnicate"]).status.code(), Some(2));
    let missing = ao(&["item", "inspect", "/nonexistent/item.bin"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn wallet_addresses_match_the_fixture_manifest() {
    let dir = ao_tests::fixtures();
    let wallets = dir.join("TEST-ONLY-throwaway-wallets");
    let out = ao(&[
        "wallet",
        "address",
        wallets
            .join("arweave-rsa4096.TEST-ONLY.jwk.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "gi8gPsxnKTcSGbgX55dR5c2CKnO15UIs_GgQAPxt7W4"
    );
    let out = ao(&[
        "wallet",
        "address",
        wallets
            .join("ethereum-secp256k1.TEST-ONLY.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim().to_lowercase(),
        "0x6db4c80028dd0c3a10fdd6ce3d0aaa5bd064e935"
    );
    let out = ao(&[
        "wallet",
        "address",
        wallets.join("ed25519.TEST-ONLY.json").to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "IQAPiPgACfvmfL7CATk7mJonMYi87GH-VU2X0w7feLI"
    );
    let bad = ao(&[
        "wallet",
        "address",
        dir.join("manifest.json").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown wallet"));
}

#[test]
fn new_wallets_sign_items_that_inspect_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data.txt");
    std::fs::write(&data, "hello from ao-rs").unwrap();
    for kind in ["ed25519", "ethereum", "arweave"] {
        let wallet = tmp.path().join(format!("{kind}.json"));
        let out = ao(&[
            "wallet",
            "new",
            "--kind",
            kind,
            "--out",
            wallet.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{kind}: {out:?}");
        let address = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let again = ao(&["wallet", "address", wallet.to_str().unwrap()]);
        assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), address);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&wallet).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{kind}: wallet readable by others");
        }
        // Never overwrite a wallet.
        let clobber = ao(&[
            "wallet",
            "new",
            "--kind",
            kind,
            "--out",
            wallet.to_str().unwrap(),
        ]);
        assert_eq!(clobber.status.code(), Some(2));

        let item = tmp.path().join(format!("{kind}.bin"));
        let target = "K_qQ8g2CMPJqfgIU2xnab9Ozp6kgkGbTA7-PE8A-1Y0";
        let out = ao(&[
            "item",
            "sign",
            "--wallet",
            wallet.to_str().unwrap(),
            "--target",
            target,
            "--anchor",
            "00000000000000000000000000000007",
            "--tag",
            "Data-Protocol=ao",
            "--tag",
            "Type=Message",
            "--tag",
            "Equation=a=b",
            "--data",
            data.to_str().unwrap(),
            "--out",
            item.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{kind}: {out:?}");
        let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let (report, code) = inspect(&item);
        assert_eq!(code, 0, "{kind}: {report}");
        assert_eq!(report["id"], id.as_str());
        assert_eq!(report["target"], target);
        assert_eq!(report["anchor_utf8"], "00000000000000000000000000000007");
        assert_eq!(report["tags"][2]["value"], "a=b", "split at the first '='");
        assert_eq!(report["data_size"], 16);
        let native = if kind == "ethereum" {
            "native_address"
        } else {
            "owner_address"
        };
        assert_eq!(report[native], address.as_str(), "{kind}");
    }
    let wallet = tmp.path().join("ed25519.json");
    let bad_tag = ao(&[
        "item",
        "sign",
        "--wallet",
        wallet.to_str().unwrap(),
        "--tag",
        "NoEquals",
        "--out",
        "/dev/null",
    ]);
    assert_eq!(bad_tag.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_tag.stderr).contains("NAME=VALUE"));
    let bad_target = ao(&[
        "item",
        "sign",
        "--wallet",
        wallet.to_str().unwrap(),
        "--target",
        "short",
        "--out",
        "/dev/null",
    ]);
    assert_eq!(bad_target.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_target.stderr).contains("target"));
}

#[test]
fn module_run_prints_one_result_line_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("tiny.wasm");
    std::fs::write(
        &wasm,
        wasmer::wat2wasm(
            ao_tests::TINY_EMSCRIPTEN2_WAT
                .replace("IMPORT", "")
                .as_bytes(),
        )
        .unwrap(),
    )
    .unwrap();
    let env = dir.path().join("env.json");
    std::fs::write(&env, r#"{"Process":{"Id":"P","Owner":"O","Tags":[]}}"#).unwrap();
    let msgs = dir.path().join("msgs.jsonl");
    std::fs::write(
        &msgs,
        "{\"Data\":\"ok\"}\n{\"Data\":\"trap\"}\n\n{\"Data\":\"ok\"}\n",
    )
    .unwrap();
    let (w, e, m) = (
        wasm.to_str().unwrap(),
        env.to_str().unwrap(),
        msgs.to_str().unwrap(),
    );
    let out = ao(&[
        "module",
        "run",
        w,
        "--format",
        "wasm32-unknown-emscripten2",
        "--env",
        e,
        "--messages",
        m,
    ]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["Output"], "fine");
    assert_eq!(lines[0]["GasUsed"], 500);
    assert_eq!(lines[0]["memory_bytes"], 131072);
    assert_eq!(lines[0]["memory_sha256"].as_str().unwrap().len(), 64);
    assert!(lines[1]["Error"].as_str().unwrap().contains("unreachable"));
    assert_eq!(
        lines[1]["memory_sha256"], lines[0]["memory_sha256"],
        "rolled back"
    );
    assert_eq!(lines[2]["Output"], "fine");

    let bad = ao(&[
        "module",
        "run",
        w,
        "--format",
        "wasm32-wasi",
        "--env",
        e,
        "--messages",
        m,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown Module-Format \"wasm32-wasi\""));
    std::fs::write(&wasm, b"\0asm\x01\0\0\0\x05").unwrap();
    let truncated = ao(&[
        "module",
        "run",
        w,
        "--format",
        "wasm32-unknown-emscripten2",
        "--env",
        e,
        "--messages",
        m,
    ]);
    assert_eq!(truncated.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&truncated.stderr).contains("does not compile"));
}

/// `ao` with its standard output a pipe whose reader has already gone, as in `ao ... | head` once
/// `head` has exited: its exit code and what it said on stderr. The reader is closed before `ao`
/// starts, so its first write fails every time (no race with a reader that might read first).
fn ao_into_a_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_ao"))
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run ao");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_standard_output_ends_a_command_quietly() {
    let item = ao_tests::fixtures().join("items/ao-process.bin");
    let item = item.to_str().expect("path");
    let jwk =
        ao_tests::fixtures().join("TEST-ONLY-throwaway-wallets/arweave-rsa4096.TEST-ONLY.jwk.json");
    let jwk = jwk.to_str().expect("path");
    for args in [
        vec!["item", "inspect", item],
        vec!["item", "inspect", "--format", "text", item],
        vec!["wallet", "address", jwk],
    ] {
        let (code, stderr) = ao_into_a_closed_pipe(&args);
        // No panic ("failed printing to stdout: Broken pipe"), no error: the reader chose to stop.
        assert_eq!(stderr, "", "ao {args:?} said something");
        assert_eq!(code, Some(0), "ao {args:?}: {stderr}");
    }
}
