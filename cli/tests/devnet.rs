//! `ao devnet` as a user runs it: the real binary starts the whole computer, the real npm
//! `@permaweb/aoconnect` 0.0.98 uses it (spawn, message, result, results, dryrun, assign,
//! monitor, unmonitor), it stops cleanly on SIGTERM, and a restart on the same folder has every
//! process intact.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{Ao, Devnet, get_json, stop};

/// Longest a console test waits for something to show.
const SHOW_TIMEOUT: Duration = Duration::from_secs(180);

/// Start `ao devnet` on `dir` with free ports; the child and its JSON line.
fn devnet(dir: &std::path::Path, separate: bool) -> (Devnet, Value) {
    devnet_with(dir, separate, &[])
}

/// [`devnet`] with these environment variables (the units' `AO_*` settings) for it.
fn devnet_with(dir: &std::path::Path, separate: bool, env: &[(&str, &str)]) -> (Devnet, Value) {
    devnet_full(dir, separate, env, &[])
}

/// [`devnet_with`] with more flags for `ao devnet`.
fn devnet_full(
    dir: &std::path::Path,
    separate: bool,
    env: &[(&str, &str)],
    flags: &[&str],
) -> (Devnet, Value) {
    common::start_devnet(dir, separate, env, flags)
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

/// `GET /dead-letters` on the devnet's MU admin listener (its `mu_admin` address), over a plain
/// socket: the operator's address the devnet prints must be the one that answers.
fn admin_dead_letters(v: &Value) -> Value {
    get_json(v["mu_admin"].as_str().unwrap_or_default(), "/dead-letters")
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
    assert_eq!(admin_dead_letters(&v), serde_json::json!([]));
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

/// `--cus 3 --separate`: three CU binaries behind the router binary; the printed `cu` is the
/// router, `cus` its members, and a process's result comes from the member `/route` names.
#[test]
fn three_cus_behind_the_router_with_cus() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, v) = devnet_full(&dir.path().join("net"), true, &[], &["--cus", "3"]);
    let cus: Vec<String> = v["cus"]
        .as_array()
        .unwrap_or_else(|| panic!("no cus in {v}"))
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    assert_eq!(cus.len(), 3, "{v}");
    let router = v["cu"].as_str().expect("cu");
    assert!(
        !cus.iter().any(|c| c == router),
        "the cu is the router: {v}"
    );
    let ao = Ao::new(&v, dir.path());
    let ao = |args: &[&str]| ao.run(args);
    let pid = ao(&["spawn", "--name", "pooled"]);
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
    // The router names the owner, one of the members.
    let route = get_json(router, &format!("/route/{pid}"));
    let owner = route["owner"].as_str().unwrap_or_default();
    assert!(cus.iter().any(|c| c == owner), "{route}");
    stop(child);
}

#[test]
fn each_unit_as_its_own_process_with_separate() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, v) = devnet(&dir.path().join("net"), true);
    assert!(admin_dead_letters(&v).is_array());
    let ao = Ao::new(&v, dir.path());
    let ao = |args: &[&str]| ao.run(args);
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

/// The processes `pid`'s threads started (Linux: `/proc/PID/task/*/children`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let path = task.expect("task").path().join("children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// Whether `pid` still runs (a zombie not yet reaped counts as gone).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

#[test]
fn a_devnet_killed_with_sigkill_leaves_no_unit_running() {
    let dir = tempfile::tempdir().expect("tmp");
    let (devnet, _) = devnet(&dir.path().join("net"), true);
    let units = children_of(devnet.pid());
    assert!(
        units.len() >= 4,
        "gateway, SU, CU and MU as children: {units:?}"
    );
    let status = Command::new("kill")
        .args(["-KILL", &devnet.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    drop(devnet);
    // Each unit gets SIGTERM from the kernel as its parent dies, and drains within its grace.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left: Vec<u32> = units.iter().copied().filter(|p| running(*p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "units still running 60 s after ao devnet was killed: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let seen = Seen::follow(console.stdout.take().expect("stdout"));
    let errors = Seen::follow(console.stderr.take().expect("stderr"));
    writeln!(stdin, "return 'ready'").expect("write");
    let at = seen.wait_for(0, "ready", &errors);
    // Someone else's message, through the MU, into the process's Inbox.
    ao(&other, &["send", &pid, "--action", "Hello-There"]);
    let at = seen.wait_for(at, "New Message From", &errors);
    seen.wait_for(at, "Action = Hello-There", &errors);
    writeln!(stdin, ".exit").expect("write");
    drop(stdin);
    let status = wait_exit(console);
    assert!(status.success(), "{status}: {}", errors.text());
    let text = seen.text();
    assert!(text.contains("ready"), "{text}");
    assert!(
        text.contains("New Message From") && text.contains("Action = Hello-There"),
        "the console did not show the message: {text}\n{}",
        errors.text()
    );
    stop(child);
}

/// What a child printed so far, read by a thread; waiters are woken on each read.
#[derive(Clone)]
struct Seen(Arc<(Mutex<String>, Condvar)>);

impl Seen {
    fn follow(mut from: impl Read + Send + 'static) -> Seen {
        let seen = Seen(Arc::new((Mutex::new(String::new()), Condvar::new())));
        let shared = seen.0.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = shared.0.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                shared.1.notify_all();
            }
        });
        seen
    }

    fn text(&self) -> String {
        self.0.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Wait (at most [`SHOW_TIMEOUT`]) until the text after byte `from` contains `needle`; the
    /// end of the match. `errors` (the child's stderr) is shown if it never comes.
    fn wait_for(&self, from: usize, needle: &str, errors: &Seen) -> usize {
        let deadline = Instant::now() + SHOW_TIMEOUT;
        let (lock, changed) = &*self.0;
        let mut text = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                return from + i + needle.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "never saw {needle:?}; the console printed:\n{}\nstderr:\n{}",
                *text,
                errors.text()
            );
            text = changed
                .wait_timeout(text, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Wait (at most [`SHOW_TIMEOUT`]) for a child to exit; kill it if it does not.
fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(SHOW_TIMEOUT) {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the child did not exit");
        }
    }
}

#[test]
fn the_console_starts_and_stops_the_mus_cron_monitor() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tmp");
    // The MU reads monitored processes' crons every half second (its default is 10 s).
    let (child, v) = devnet_with(
        &dir.path().join("net"),
        false,
        &[("AO_MU_CRON_INTERVAL", "500")],
    );
    let file = dir.path().join("devnet.json");
    std::fs::write(&file, v.to_string()).expect("devnet file");
    let home = dir.path().join("me");
    std::fs::create_dir_all(&home).expect("home");
    let out = Command::new(env!("CARGO_BIN_EXE_ao"))
        .args([
            "spawn",
            "--name",
            "ticker",
            "--tag",
            "Cron-Interval=1-second",
            "--tag",
            "Cron-Tag-Action=Tick",
            "--devnet-file",
        ])
        .arg(&file)
        .env("HOME", &home)
        .output()
        .expect("ao spawn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let mut console = Command::new(env!("CARGO_BIN_EXE_ao"))
        .args(["console", &pid, "--devnet-file"])
        .arg(&file)
        .env("HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("console");
    let mut stdin = console.stdin.take().expect("stdin");
    let seen = Seen::follow(console.stdout.take().expect("stdout"));
    let errors = Seen::follow(console.stderr.take().expect("stderr"));
    // Each cron tick sends the process a Tock; the MU pushes such cron outboxes only for a
    // monitored process, and a Tock with no handler lands in the Inbox, shown live.
    writeln!(
        stdin,
        "Handlers.add('tick', 'Tick', function() Send({{Target = ao.id, Action = 'Tock'}}) end); return 'armed'"
    )
    .expect("write");
    let at = seen.wait_for(0, "armed", &errors);
    writeln!(stdin, ".monitor").expect("write");
    let at = seen.wait_for(at, "Successfully started cron monitoring process.", &errors);
    let at = seen.wait_for(at, "Action = Tock", &errors);
    // The MU holds the monitor: a second start is refused, a stop is accepted, then refused.
    writeln!(stdin, ".monitor").expect("write");
    let at = seen.wait_for(
        at,
        "Could not start cron monitoring process: MU answered 409",
        &errors,
    );
    let at = seen.wait_for(at, "already monitored", &errors);
    writeln!(stdin, ".unmonitor").expect("write");
    let at = seen.wait_for(at, "Successfully stopped cron monitoring process.", &errors);
    writeln!(stdin, ".unmonitor").expect("write");
    let at = seen.wait_for(
        at,
        "Could not stop cron monitoring process: MU answered 404",
        &errors,
    );
    seen.wait_for(at, "is not monitored", &errors);
    writeln!(stdin, ".exit").expect("write");
    drop(stdin);
    let status = wait_exit(console);
    assert!(status.success(), "{status}: {}", errors.text());
    stop(child);
}
