//! `ao result --attest` and `ao verify` against `ao devnet --attest`: the CU signs the result,
//! the command checks it; a result altered after signing fails; an SU assignment is verified by
//! its id alone, rebuilt from what the gateway serves.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Ao, get, get_json, start_devnet, stop};
use serde_json::Value;

/// `ao verify ARGS`: exit code and standard output.
fn verify(v: &Value, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ao"))
        .arg("verify")
        .args(args)
        .args(["--gateway", v["gateway"].as_str().unwrap_or_default()])
        .output()
        .expect("ao verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, v.to_string()).expect("write");
    path.to_string_lossy().to_string()
}

#[test]
fn ao_verify_checks_an_attested_result_and_an_assignment_by_id() {
    let dir = tempfile::tempdir().expect("tmp");
    let (devnet, v) = start_devnet(&dir.path().join("net"), false, &[], &["--attest"]);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let ao = Ao::new(&v, &home);
    let pid = ao.run(&["spawn", "--name", "attested"]);
    let msg = ao.run(&["send", &pid, "--action", "Eval", "--data", "return 21 * 2"]);

    let answer: Value =
        serde_json::from_str(&ao.run(&["result", &pid, &msg, "--attest"])).expect("json");
    assert_eq!(answer["Output"]["data"], "42", "{answer}");
    let good = write(dir.path(), "good.json", &answer);
    let (code, text) = verify(&v, &[&good]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("valid attestation"), "{text}");
    assert!(text.contains(&msg) && text.contains(&pid), "{text}");

    // One attestation alone, as base64url text: what it attests, without the result.
    let single = dir.path().join("single.txt");
    std::fs::write(&single, answer["Attestations"][0].as_str().expect("b64")).expect("write");
    let (code, text) = verify(&v, &[&single.to_string_lossy(), "--json"]);
    assert_eq!(code, 0, "{text}");
    let report: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(report["kind"], "attestation");
    assert_eq!(report["message"], msg.as_str());

    // The result changed after it was signed: the attestation no longer states it.
    let mut altered = answer.clone();
    altered["Output"]["data"] = Value::from("43");
    let bad = write(dir.path(), "bad.json", &altered);
    let (code, text) = verify(&v, &[&bad]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not this result's"), "{text}");
    // And a forged signature byte fails the item itself.
    let raw =
        ao_core::encoding::b64url_decode("item", answer["Attestations"][0].as_str().expect("b64"))
            .expect("b64");
    let mut forged = raw.clone();
    forged[10] ^= 1;
    let forged_file = dir.path().join("forged.bin");
    std::fs::write(&forged_file, &forged).expect("write");
    let (code, text) = verify(&v, &[&forged_file.to_string_lossy()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("INVALID"), "{text}");

    // The MU's receipts: Received for the user's message; Forwarded for what its result pushed.
    let push = ao.run(&[
        "send",
        &pid,
        "--action",
        "Eval",
        "--data",
        "Send({Target = ao.id, Action = 'Echo'})",
        "--wait",
    ]);
    let push = push.lines().next().expect("id").to_string();
    let mu = v["mu"].as_str().expect("mu");
    let deadline = Instant::now() + Duration::from_secs(60);
    let trace = loop {
        let t = get_json(mu, &format!("/trace/{push}"));
        if t["children"][0]["receipt"].is_string() {
            break t;
        }
        assert!(Instant::now() < deadline, "no push receipt: {t}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for (node, kind) in [(&trace, "received"), (&trace["children"][0], "forwarded")] {
        let file = dir.path().join(format!("{kind}.txt"));
        std::fs::write(&file, node["receipt"].as_str().expect("receipt")).expect("write");
        let (code, text) = verify(&v, &[&file.to_string_lossy()]);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("valid receipt: MU"), "{text}");
        assert!(text.contains(kind), "{text}");
        assert!(text.contains(node["id"].as_str().expect("id")), "{text}");
    }

    // The SU's assignment of the message, by id: read from the gateway once uploaded.
    let su = v["su"].as_str().expect("su");
    let entry = get_json(su, &format!("/{msg}?process-id={pid}"));
    let assignment = entry["assignment"]["id"]
        .as_str()
        .expect("assignment id")
        .to_string();
    let gateway = v["gateway"].as_str().expect("gateway");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !get(gateway, &format!("/tx/{assignment}")).starts_with("HTTP/1.1 200") {
        assert!(
            Instant::now() < deadline,
            "the assignment never reached the gateway"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (code, text) = verify(&v, &[&assignment]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("valid assignment"), "{text}");
    assert!(text.contains(&format!("of process {pid}")), "{text}");
    stop(devnet);
}

/// `ao result --min-stake` and `ao send --wait --min-stake` through the devnet's router, whose
/// stakes come from `AO_ROUTER_STAKES` (the CUs' addresses are known after a first start).
#[test]
fn ao_result_with_min_stake_checks_what_the_router_gathered() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("net");
    let flags = ["--cus", "2", "--attest"];
    let (devnet, v) = start_devnet(&data, false, &[], &flags);
    let cus: Vec<String> = v["cus"]
        .as_array()
        .expect("cus")
        .iter()
        .map(|c| c.as_str().expect("url").to_string())
        .collect();
    let stakes: Vec<String> = cus
        .iter()
        .map(|c| {
            format!(
                "{}=100",
                get_json(c, "/")["address"].as_str().expect("address")
            )
        })
        .collect();
    stop(devnet);
    let stakes = stakes.join(",");
    let (devnet, v) = start_devnet(&data, false, &[("AO_ROUTER_STAKES", &stakes)], &flags);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let ao = Ao::new(&v, &home);
    let pid = ao.run(&["spawn", "--name", "staked"]);
    let out = ao.run(&[
        "send",
        &pid,
        "--action",
        "Eval",
        "--data",
        "return 6 * 7",
        "--wait",
        "--min-stake",
        "100",
    ]);
    let msg = out.lines().next().expect("id").to_string();
    assert!(out.contains("Attestations"), "{out}");

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ao"))
            .args(args)
            .arg("--devnet-file")
            .arg(home.join("devnet.json"))
            .env("HOME", &home)
            .output()
            .expect("ao")
    };
    let out = run(&["result", &pid, &msg, "--min-stake", "200"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 agreeing attestations"), "{stderr}");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["Attestations"].as_array().map(Vec::len), Some(2));
    // More than the two CUs hold: the router's 503 reaches the user as it is.
    let out = run(&["result", &pid, &msg, "--min-stake", "201"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("503") && stderr.contains("only 200"),
        "{stderr}"
    );
    let out = run(&["send", &pid, "--data", "x", "--min-stake", "1"]);
    assert!(
        !out.status.success(),
        "--min-stake without --wait is refused"
    );
    stop(devnet);
}
