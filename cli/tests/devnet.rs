//! `ao devnet` as a user runs it: the real binary starts the whole computer, the real npm
//! `@permaweb/aoconnect` 0.0.98 uses it (spawn, message, result, results, dryrun, assign,
//! monitor, unmonitor), it stops cleanly on SIGTERM, and a restart on the same folder has every
//! process intact.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `ao devnet`, killed if a test fails before stopping it (so no devnet outlives its
/// test).
struct Devnet(Option<Child>);

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start `ao devnet` on `dir` with free ports; the child and its JSON line.
fn devnet(dir: &std::path::Path, separate: bool) -> (Devnet, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ao"));
    cmd.args(["devnet", "--data-dir"])
        .arg(dir)
        .args([
            "--gateway-port",
            "0",
            "--su-port",
            "0",
            "--cu-port",
            "0",
            "--mu-port",
            "0",
            "--no-home-file",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if separate {
        cmd.arg("--separate");
    }
    let mut child = cmd.spawn().expect("start ao devnet");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let v: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("ao devnet printed {line:?}, not its JSON line: {e}"));
    for key in ["mu", "cu", "su", "gateway", "module", "scheduler"] {
        assert!(
            v[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {v}"
        );
    }
    (Devnet(Some(child)), v)
}

/// Stop it as a user does (SIGTERM) and check that it exits cleanly.
fn stop(mut devnet: Devnet) {
    let Some(mut child) = devnet.0.take() else {
        return;
    };
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "ao devnet stopped with {exit}");
}

fn aoconnect(v: &Value) -> Vec<Value> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js/aoconnect-e2e.mjs");
    let jwk =
        ao_tests::fixtures().join("TEST-ONLY-throwaway-wallets/arweave-rsa4096.TEST-ONLY.jwk.json");
    let s = |k: &str| std::ffi::OsString::from(v[k].as_str().unwrap_or_default());
    let out = ao_tests::node(
        &script,
        &[
            s("mu"),
            s("cu"),
            s("gateway"),
            jwk.into(),
            s("module"),
            s("scheduler"),
            s("mu_address"),
        ],
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        out.status.success(),
        "aoconnect failed: {lines:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no {name} step in {lines:?}"))
}

#[test]
fn aoconnect_drives_ao_devnet_and_a_restart_keeps_every_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, v) = devnet(dir.path(), false);
    let lines = aoconnect(&v);

    let pid = step(&lines, "spawn")["pid"]
        .as_str()
        .expect("pid")
        .to_string();
    assert_eq!(pid.len(), 43);
    let eval = step(&lines, "result-eval");
    assert_eq!(eval["error"], Value::Null, "{eval}");
    assert_eq!(eval["output"]["data"], "ready", "{eval}");
    let ping = step(&lines, "message-ping");
    assert_eq!(ping["messages"][0]["Data"], "pong", "{ping}");
    let results = step(&lines, "results");
    assert!(
        results["edges"].as_u64().is_some_and(|n| n >= 3),
        "{results}"
    );
    assert_eq!(results["cursors"], true);
    assert_eq!(step(&lines, "dryrun")["messages"][0]["Data"], "pong");
    let assign = step(&lines, "assign");
    assert!(
        assign["assignment"].as_str().is_some_and(|a| a.len() == 43),
        "{assign}"
    );
    assert_eq!(assign["error"], Value::Null, "{assign}");
    assert_eq!(assign["noted"], "assigned!", "{assign}");
    let monitor = step(&lines, "unmonitor");
    assert!(monitor["monitorId"].as_str().is_some() && monitor["unmonitorId"].as_str().is_some());
    assert_eq!(step(&lines, "done")["done"], true);
    stop(child);

    // The same folder again: same module id, the process and its handlers still there.
    let (child, again) = devnet(dir.path(), false);
    assert_eq!(again["module"], v["module"]);
    assert_eq!(again["scheduler"], v["scheduler"]);
    let out = Command::new(env!("CARGO_BIN_EXE_ao"))
        .args(["dryrun", &pid, "--action", "Ping", "--cu-url"])
        .arg(again["cu"].as_str().unwrap_or_default())
        .env("HOME", dir.path())
        .output()
        .expect("ao dryrun");
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ao dryrun: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["Messages"][0]["Data"], "pong", "{r}");
    stop(child);
}

#[test]
fn each_unit_as_its_own_process_with_separate() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, v) = devnet(&dir.path().join("net"), true);
    std::fs::write(dir.path().join("devnet.json"), v.to_string()).expect("devnet file");
    let ao = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ao"))
            .args(args)
            .arg("--devnet-file")
            .arg(dir.path().join("devnet.json"))
            .env("HOME", dir.path())
            .output()
            .expect("ao");
        assert!(
            out.status.success(),
            "ao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let pid = ao(&["spawn", "--name", "separate"]);
    let out = ao(&[
        "send",
        &pid,
        "--action",
        "Eval",
        "--data",
        "return 6 * 7",
        "--wait",
    ]);
    assert!(out.contains("\"42\""), "{out}");
    stop(child);
}

#[test]
fn the_console_shows_a_message_that_arrives_through_the_mu() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tmp");
    let (child, v) = devnet(&dir.path().join("net"), false);
    let file = dir.path().join("devnet.json");
    std::fs::write(&file, v.to_string()).expect("devnet file");
    let ao = |home: &std::path::Path, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ao"))
            .args(args)
            .arg("--devnet-file")
            .arg(&file)
            .env("HOME", home)
            .output()
            .expect("ao");
        assert!(
            out.status.success(),
            "ao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let me = dir.path().join("me");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&me).expect("home");
    std::fs::create_dir_all(&other).expect("home");
    let pid = ao(&me, &["spawn", "--name", "listener"]);

    let mut console = Command::new(env!("CARGO_BIN_EXE_ao"))
        .args(["console", &pid, "--devnet-file"])
        .arg(&file)
        .env("HOME", &me)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("console");
    let mut stdin = console.stdin.take().expect("stdin");
    writeln!(stdin, "return 'ready'").expect("write");
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Someone else's message, through the MU, into the process's Inbox.
    ao(&other, &["send", &pid, "--action", "Hello-There"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    writeln!(stdin, ".exit").expect("write");
    drop(stdin);
    let out = console.wait_with_output().expect("console output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ready"), "{text}");
    assert!(
        text.contains("New Message From") && text.contains("Action = Hello-There"),
        "the console did not show the message: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop(child);
}
