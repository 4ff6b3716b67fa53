//! The process commands of the real `ao` binary against a real local computer: the local gateway
//! with the Lua module published on it, an SU, and a CU, all in this test process. There is no MU
//! yet, so `--mu-url` (the devnet file's `mu`) points at the SU, which takes the same `POST /` of
//! a signed item (answering 200 `{id, timestamp}` where an MU answers 202 `{id, message}`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ao_arweave::Bundler;
use ao_core::wallet::{Wallet, WalletKind};
use ao_local::LocalComputer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};

/// Longest a single `ao` run may take (the first result loads the module in the CU).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// A local computer and a HOME whose `~/.ao/devnet.json` points at it.
struct Net {
    dir: tempfile::TempDir,
    /// The gateway, SU and CU, in this process (`ao-local`).
    computer: LocalComputer,
    home: PathBuf,
    module: String,
    mu_address: String,
}

async fn net() -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    let computer = ao_local::Builder::new(dir.path())
        .block_interval("0")
        .mu(false)
        .start()
        .await
        .expect("gateway, SU and CU");
    let publisher = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    let module = ao_module_lua::module_builder()
        .sign(&publisher)
        .expect("module item");
    computer
        .gateway()
        .expect("in-process gateway")
        .upload(module.item())
        .await
        .expect("publish module");
    let urls = computer.urls();
    let su = urls.su.http_url();
    let cu = urls.cus.first().expect("a CU").http_url();

    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ao")).expect("home");
    // The address the MU would sign its pushes with: spawns must list it as an Authority.
    let mu_address = Wallet::generate(WalletKind::Ed25519)
        .expect("wallet")
        .address();
    let devnet = json!({
        "mu": su, "cu": cu, "su": su, "gateway": urls.gateway_url(),
        "module": module.id(), "scheduler": urls.scheduler, "mu_address": mu_address,
    });
    std::fs::write(home.join(".ao/devnet.json"), devnet.to_string()).expect("devnet file");
    Net {
        dir,
        computer,
        home,
        module: module.id(),
        mu_address,
    }
}

impl Net {
    async fn close(self) {
        self.computer.stop().await;
        drop(self.dir);
    }
}

/// `ao` as a subprocess with `home` as HOME and no `AO_*` variables from the caller.
fn ao_command(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ao"));
    clean_env(&mut cmd, home);
    cmd
}

fn clean_env(cmd: &mut tokio::process::Command, home: &Path) {
    for (k, _) in std::env::vars() {
        if k.starts_with("AO_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home).kill_on_drop(true);
}

/// What a finished run said.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn ao(home: &Path, args: &[&str]) -> Run {
    ao_with_stdin(home, args, None).await
}

async fn ao_with_stdin(home: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = ao_command(home);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run ao");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("ao {args:?} did not finish"))
        .expect("ao output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A run that must succeed; its stdout.
async fn ok(home: &Path, args: &[&str]) -> String {
    let r = ao(home, args).await;
    assert_eq!(
        r.code, 0,
        "ao {args:?} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r.stdout
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn tag<'a>(msg: &'a Value, name: &str) -> Option<&'a str> {
    msg["Tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["value"].as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn spawn_send_result_dryrun_and_load_against_real_units() {
    let net = net().await;
    let home = net.home.as_path();

    // 1. spawn (the default wallet is made in ~/.ao), an Eval, its result.
    let r = ao(home, &["spawn", "--name", "calc"]).await;
    assert_eq!(r.code, 0, "spawn: {}", r.stderr);
    assert!(r.stderr.contains("made a new wallet"), "{}", r.stderr);
    let pid = r.stdout.trim().to_string();
    assert_eq!(pid.len(), 43, "{pid}");
    let me = ok(
        home,
        &[
            "wallet",
            "address",
            &home.join(".ao/wallet.json").to_string_lossy(),
        ],
    )
    .await
    .trim()
    .to_string();

    let id = ok(
        home,
        &["send", &pid, "--action", "Eval", "--data", "return 1 + 41"],
    )
    .await;
    let id = id.trim();
    assert_eq!(id.len(), 43, "{id}");
    let result = json_of(&ok(home, &["result", &pid, id]).await);
    assert_eq!(result["Output"]["data"], "42", "{result}");

    // The same message text twice: two items (distinct anchors), two results.
    let again = ok(
        home,
        &[
            "send",
            &pid,
            "--action",
            "Eval",
            "--data",
            "return 1 + 41",
            "--wait",
        ],
    )
    .await;
    let (again_id, again_result) = again.split_once('\n').expect("id then result");
    assert_ne!(again_id.trim(), id);
    assert_eq!(json_of(again_result)["Output"]["data"], "42", "{again}");

    // 2. dry-runs: an Eval as the Owner, and the process's Name, Owner and Authorities (the MU
    // listed among them) read by a dry-run Eval (an unhandled Info goes to the Inbox, as in aos).
    let dry = json_of(
        &ok(
            home,
            &["dryrun", &pid, "--action", "Eval", "--data", "return 6 * 7"],
        )
        .await,
    );
    assert_eq!(dry["Output"]["data"], "42", "{dry}");
    let info = json_of(
        &ok(
            home,
            &[
                "dryrun",
                &pid,
                "--action",
                "Eval",
                "--data",
                "return require('json').encode({ Name = Name, Owner = Owner, Authorities = ao.authorities })",
            ],
        )
        .await,
    );
    let described = json_of(info["Output"]["data"].as_str().expect("Eval data"));
    assert_eq!(described["Name"], "calc", "{described}");
    assert_eq!(described["Owner"], json!(me), "{described}");
    assert!(
        described["Authorities"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(net.mu_address))),
        "{described}"
    );

    // 3. load a handler from a file; a message to it gets its reply.
    let file = net.dir.path().join("pong.lua");
    std::fs::write(
        &file,
        "Handlers.add('ping', 'Ping', function(msg)\n  msg.reply({ Action = 'Pong', Data = 'pong: ' .. msg.Data })\nend)\nreturn 'ping handler loaded'\n",
    )
    .expect("lua file");
    let loaded = ok(home, &["load", &file.to_string_lossy(), &pid]).await;
    assert_eq!(loaded.trim(), "ping handler loaded");
    let ping = ok(
        home,
        &[
            "send", &pid, "--action", "Ping", "--data", "hi", "--tag", "X-Note=1",
        ],
    )
    .await;
    let pong = json_of(&ok(home, &["result", &pid, ping.trim()]).await);
    let msg = &pong["Messages"][0];
    assert_eq!(msg["Target"], json!(me), "{pong}");
    assert_eq!(tag(msg, "Action"), Some("Pong"), "{pong}");
    assert_eq!(msg["Data"], "pong: hi", "{pong}");

    // Lua that fails: `ao load` prints the Error and exits 1.
    let bad = net.dir.path().join("bad.lua");
    std::fs::write(&bad, "error('deliberate')").expect("lua file");
    let r = ao(home, &["load", &bad.to_string_lossy(), &pid]).await;
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("deliberate"), "{}", r.stderr);

    // A refusal by the unit: a message to a process the SU does not know.
    let unknown = "A".repeat(43);
    let r = ao(home, &["send", &unknown, "--action", "Eval"]).await;
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("MU answered 4"), "{}", r.stderr);
    // A flag beats the devnet file: the module given explicitly.
    let r = ao(
        home,
        &["spawn", "--module", &net.module, "--tag", "Cron-Interval"],
    )
    .await;
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("expected NAME=VALUE"), "{}", r.stderr);

    net.close().await;
}

/// Reads a child's stdout into a shared string, for waiting on what it printed: each read wakes
/// the waiters, so a wait ends as soon as the text is there (no sleeping between looks).
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<String>>, Arc<tokio::sync::Notify>);

impl Seen {
    fn follow(&self, mut out: impl tokio::io::AsyncRead + Unpin + Send + 'static) {
        let (seen, changed) = (self.0.clone(), self.1.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = seen.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                changed.notify_waiters();
            }
        });
    }

    fn text(&self) -> String {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Wait until the output after byte `from` contains `needle`; the end of the match.
    async fn wait_for(&self, from: usize, needle: &str) -> usize {
        let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
        loop {
            // Registered before looking, so a read between the look and the wait is not missed.
            let changed = self.1.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let text = self.text();
            if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                return from + i + needle.len();
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "never saw {needle:?}; the console printed:\n{}",
                    self.text()
                );
            }
        }
    }
}

async fn type_line(stdin: &mut ChildStdin, line: &str, end: &str) {
    stdin
        .write_all(format!("{line}{end}").as_bytes())
        .await
        .expect("type");
    stdin.flush().await.expect("flush");
}

async fn finish(mut child: Child) -> i32 {
    tokio::time::timeout(RUN_TIMEOUT, child.wait())
        .await
        .expect("the console did not exit")
        .expect("wait")
        .code()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_evaluates_loads_blueprints_and_shows_incoming_messages() {
    let net = net().await;
    let home = net.home.as_path();
    let pid = ok(home, &["spawn"]).await.trim().to_string();
    let other = net.dir.path().join("other.json");
    ok(home, &["wallet", "new", "--out", &other.to_string_lossy()]).await;

    // 4. piped (not a terminal): plain lines, a multi-line chunk, a blueprint, .exit.
    let input = "x = 5\nreturn x * 2\nfunction twice(n)\n  return n * 2\nend\nreturn twice(21)\n\
                 .load-blueprint token\nreturn Ticker\n.load-blueprint nope\n.bogus\n.exit\n";
    let r = ao_with_stdin(home, &["console", &pid], Some(input)).await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    // Colours are stripped off a pipe; the prompt is the process's own.
    assert!(
        r.stdout.contains("aos@ao-rs-0.1.0[Inbox:0]> "),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains('\u{1b}'), "{}", r.stdout);
    assert!(lines.iter().any(|l| l.ends_with("> 10")), "{}", r.stdout);
    assert!(lines.iter().any(|l| l.ends_with("> 42")), "{}", r.stdout);
    assert!(
        r.stdout.contains("...> "),
        "continuation prompt: {}",
        r.stdout
    );
    assert!(lines.iter().any(|l| l.ends_with("> PNTS")), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("no blueprint named nope; there are: token, chatroom")
    );
    assert!(r.stdout.contains("unknown command .bogus"), "{}", r.stdout);

    // Live messages, piped: the console stays open while another wallet writes to the process.
    let mut child = ao_command(home)
        .args(["console", &pid])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("console");
    let mut stdin = child.stdin.take().expect("stdin");
    let seen = Seen::default();
    seen.follow(child.stdout.take().expect("stdout"));
    let at = seen.wait_for(0, "> ").await;
    type_line(&mut stdin, "return 'ready'", "\n").await;
    let at = seen.wait_for(at, "ready").await;
    ok(
        home,
        &[
            "send",
            &pid,
            "--action",
            "Ping-Me",
            "--wallet",
            &other.to_string_lossy(),
        ],
    )
    .await;
    let at = seen.wait_for(at, "New Message From").await;
    seen.wait_for(at, "Action = Ping-Me").await;
    type_line(&mut stdin, "return #Inbox", "\n").await;
    // The answer, and the prompt the process gives after it, now counting the message.
    let at = seen.wait_for(at, "1\n").await;
    seen.wait_for(at, "[Inbox:1]> ").await;
    type_line(&mut stdin, ".exit", "\n").await;
    assert_eq!(finish(child).await, 0);
    let text = seen.text();
    assert_eq!(text.matches("New Message From").count(), 1, "{text}");
    assert_eq!(
        text.matches("ready").count(),
        1,
        "own results are not repeated: {text}"
    );

    // 5. A terminal (util-linux `script` gives the console a pseudo-terminal): the line editor,
    // Eval, print, a multi-line chunk, and a live message printed above the prompt.
    let command = format!("{} console {pid}", shell_quote(env!("CARGO_BIN_EXE_ao")));
    let mut script = tokio::process::Command::new("script");
    clean_env(&mut script, home);
    let mut child = script
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("script (util-linux) runs the console in a pseudo-terminal");
    let mut stdin = child.stdin.take().expect("stdin");
    let seen = Seen::default();
    seen.follow(child.stdout.take().expect("stdout"));
    let at = seen.wait_for(0, "(.help for help)").await;
    let at = seen.wait_for(at, "> ").await;
    type_line(&mut stdin, "return 6 * 7", "\r").await;
    let at = seen.wait_for(at, "42").await;
    let at = seen.wait_for(at, "> ").await;
    type_line(&mut stdin, "print('hello from a terminal')", "\r").await;
    let at = seen.wait_for(at, "hello from a terminal\r\n").await;
    let at = seen.wait_for(at, "> ").await;
    type_line(&mut stdin, "function thrice(n)", "\r").await;
    let at = seen.wait_for(at, "...> ").await;
    type_line(&mut stdin, "return n * 3 end", "\r").await;
    let at = seen.wait_for(at, "> ").await;
    type_line(&mut stdin, "return thrice(14)", "\r").await;
    let at = seen.wait_for(at, "42").await;
    ok(
        home,
        &[
            "send",
            &pid,
            "--action",
            "Knock",
            "--wallet",
            &other.to_string_lossy(),
        ],
    )
    .await;
    let at = seen.wait_for(at, "New Message From").await;
    let at = seen.wait_for(at, "Knock").await;
    type_line(&mut stdin, ".exit", "\r").await;
    drop(stdin);
    assert_eq!(finish(child).await, 0, "{}", &seen.text()[at..]);
    assert!(home.join(".ao_history").exists(), "history kept");
    let history = std::fs::read_to_string(home.join(".ao_history")).expect("history");
    assert!(history.contains("return 6 * 7"), "{history}");

    net.close().await;
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unit_that_is_down_is_named_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    let pid = "A".repeat(43);

    let r = ao(
        home,
        &[
            "send",
            &pid,
            "--action",
            "Eval",
            "--mu-url",
            "http://127.0.0.1:1",
        ],
    )
    .await;
    assert_ne!(r.code, 0);
    assert_eq!(
        r.stderr.lines().last(),
        Some(
            "ao: cannot reach the MU at http://127.0.0.1:1 (connection refused): is `ao devnet` running?"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("reqwest"), "{}", r.stderr);

    for args in [
        vec!["result", pid.as_str(), pid.as_str()],
        vec!["dryrun", pid.as_str()],
        vec!["console", pid.as_str()],
    ] {
        let mut args = args.clone();
        args.extend(["--cu-url", "http://127.0.0.1:1"]);
        let r = ao(home, &args).await;
        assert_ne!(r.code, 0, "{args:?}");
        assert!(
            r.stderr.contains(
                "cannot reach the CU at http://127.0.0.1:1 (connection refused): is `ao devnet` running?"
            ),
            "{args:?}: {}",
            r.stderr
        );
    }

    // Nothing to spawn with: no devnet file, no flags.
    let r = ao(home, &["spawn"]).await;
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("no module: pass --module ID"),
        "{}",
        r.stderr
    );
    // A bad id is refused before anything is sent.
    let r = ao(home, &["send", "not-an-id", "--action", "X"]).await;
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("is not an id"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_editor_and_dry_run_mode() {
    let net = net().await;
    let home = net.home.as_path();
    let pid = ok(home, &["spawn"]).await.trim().to_string();

    // Piped, as a script: every dot command of aos's editor, then dry-run mode on and off.
    let input = "Counter = 1\n\
                 .editor\n\
                 local a = 20\n\
                 local b = 22\n\
                 Counter = Counter + 1\n\
                 return a + b\n\
                 .done\n\
                 return Counter\n\
                 .editor\n\
                 Cancelled = true\n\
                 .cancel\n\
                 return tostring(Cancelled)\n\
                 .editor\n\
                 Shown = 1\n\
                 Gone = 2\n\
                 .delete\n\
                 .print\n\
                 return tostring(Shown)\n\
                 .dryrun\n\
                 Counter = 100; return Counter * 7\n\
                 .dryrun\n\
                 return Counter * 3\n\
                 .help\n\
                 .exit\n";
    let r = ao_with_stdin(home, &["console", &pid], Some(input)).await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let out = r.stdout.as_str();
    let lines: Vec<&str> = out.lines().collect();
    let prompt = "aos@ao-rs-0.1.0[Inbox:0]> ";
    assert!(
        out.contains("<editor mode> use '.done' to submit or '.cancel' to cancel"),
        "{out}"
    );
    // The editor's lines went as one Eval (the locals lived across them) and it ran once.
    assert!(lines.contains(&"42"), "{out}");
    assert!(lines.contains(&format!("{prompt}2").as_str()), "{out}");
    // .cancel sent nothing.
    assert!(lines.contains(&format!("{prompt}nil").as_str()), "{out}");
    assert!(!out.contains("true"), "{out}");
    // .delete dropped the last line; .print showed the rest and sent nothing.
    assert!(lines.contains(&"(deleted: Gone = 2)"), "{out}");
    assert!(lines.contains(&"Shown = 1"), "{out}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == format!("{prompt}nil"))
            .count(),
        2,
        "{out}"
    );
    // Dry-run mode: marked prompt (aos's `*`), the answer computed, the state left alone.
    assert!(
        lines.contains(&format!("{prompt}Dryrun Mode Engaged").as_str()),
        "{out}"
    );
    assert!(lines.contains(&format!("*{prompt}700").as_str()), "{out}");
    assert!(
        lines.contains(&format!("*{prompt}Dryrun Mode Disengaged").as_str()),
        "{out}"
    );
    assert!(lines.contains(&format!("{prompt}6").as_str()), "{out}");
    for command in [
        ".editor",
        ".dryrun",
        ".monitor",
        ".unmonitor",
        ".live",
        ".pause",
    ] {
        assert!(
            out.contains(&format!("  {command} ")),
            "{command} in .help: {out}"
        );
    }
    assert!(!out.contains("unknown command"), "{out}");

    // Dry-run mode left the state as it was.
    let page = json_of(
        &ok(
            home,
            &[
                "dryrun",
                &pid,
                "--action",
                "Eval",
                "--data",
                "return tostring(Counter)",
            ],
        )
        .await,
    );
    assert_eq!(page["Output"]["data"], "2", "{page}");
    net.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_pauses_and_resumes_the_live_feed() {
    let net = net().await;
    let home = net.home.as_path();
    let pid = ok(home, &["spawn"]).await.trim().to_string();
    let other = net.dir.path().join("other.json");
    ok(home, &["wallet", "new", "--out", &other.to_string_lossy()]).await;
    let knock = |action: &'static str| {
        let (home, pid, other) = (home.to_path_buf(), pid.clone(), other.clone());
        async move {
            ok(
                &home,
                &[
                    "send",
                    &pid,
                    "--action",
                    action,
                    "--wallet",
                    &other.to_string_lossy(),
                ],
            )
            .await;
        }
    };

    let mut child = ao_command(home)
        .args(["console", &pid])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("console");
    let mut stdin = child.stdin.take().expect("stdin");
    let seen = Seen::default();
    seen.follow(child.stdout.take().expect("stdout"));
    let at = seen.wait_for(0, "> ").await;
    type_line(&mut stdin, ".pause", "\n").await;
    let at = seen.wait_for(at, "=== Pausing Live Feed ===\n").await;
    knock("Held-Knock").await;
    // The Eval comes after the knock in the schedule, so its answer (1) proves the knock was
    // evaluated; the console catches up with live messages before its next prompt, so by that
    // prompt the knock has been fetched: paused, it must not have been printed.
    type_line(&mut stdin, "return #Inbox", "\n").await;
    let at = seen.wait_for(at, "1\n").await;
    let at = seen.wait_for(at, "[Inbox:1]> ").await;
    assert!(!seen.text().contains("Held-Knock"), "{}", seen.text());
    type_line(&mut stdin, ".live", "\n").await;
    let at = seen.wait_for(at, "=== Starting Live Feed ===\n").await;
    let at = seen.wait_for(at, "Action = Held-Knock").await;
    // Live again: a new message shows by itself.
    knock("Live-Knock").await;
    seen.wait_for(at, "Action = Live-Knock").await;
    type_line(&mut stdin, ".exit", "\n").await;
    assert_eq!(finish(child).await, 0);
    let text = seen.text();
    assert_eq!(text.matches("Held-Knock").count(), 1, "{text}");
    net.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn send_and_the_console_end_quietly_when_their_output_is_closed() {
    let net = net().await;
    let home = net.home.as_path();
    let pid = ok(home, &["spawn"]).await.trim().to_string();

    // `ao send ... | head` once head has gone: the reader is closed before ao starts.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = ao_command(home)
        .args(["send", &pid, "--action", "Eval", "--data", "Sent = 'yes'"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        // Not output(): tokio's would replace the closed pipe with one of its own.
        .spawn()
        .expect("ao send");
    let out = tokio::time::timeout(RUN_TIMEOUT, out.wait_with_output())
        .await
        .expect("ao send did not finish")
        .expect("ao send");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "", "no panic, no error");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The message went all the same.
    let r = json_of(
        &ok(
            home,
            &["dryrun", &pid, "--action", "Eval", "--data", "return Sent"],
        )
        .await,
    );
    assert_eq!(r["Output"]["data"], "yes", "{r}");

    // The console with its output closed and its input still open: it ends by itself, quietly.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = ao_command(home)
        .args(["console", &pid])
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("console");
    let _input_kept_open = child.stdin.take().expect("stdin");
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .expect("the console did not end when its output was closed")
        .expect("console");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "", "no panic, no error");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    net.close().await;
}
