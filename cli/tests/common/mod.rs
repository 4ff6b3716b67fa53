//! What the `ao` command's end-to-end tests share: `ao devnet` as a child process (killed if a
//! test fails before stopping it, so no devnet outlives its test), `ao` run against that devnet's
//! file, and plain HTTP/1.1 reads on loopback.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `ao devnet`.
pub struct Devnet(Option<Child>);

impl Devnet {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start `ao devnet` on `dir` with free ports (`--separate` if asked), these environment
/// variables and more flags; the child and its JSON line, checked for every URL a test reads.
pub fn start_devnet(
    dir: &Path,
    separate: bool,
    env: &[(&str, &str)],
    flags: &[&str],
) -> (Devnet, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ao"));
    cmd.envs(env.iter().copied())
        .args(["devnet", "--data-dir"])
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
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if separate {
        cmd.arg("--separate");
    }
    let mut child = cmd.spawn().expect("start ao devnet");
    let stdout = child.stdout.take().expect("stdout");
    let devnet = Devnet(Some(child));
    let mut line = String::new();
    BufReader::new(stdout)
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
    (devnet, v)
}

/// Stop it as a user does (SIGTERM) and check that it exits cleanly.
pub fn stop(mut devnet: Devnet) {
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

/// `ao` as a user at this devnet runs it: its devnet file, a home of its own (wallet and
/// settings).
pub struct Ao {
    file: PathBuf,
    home: PathBuf,
}

impl Ao {
    /// Write the devnet's JSON line to `dir/devnet.json`; `dir` is the user's home.
    pub fn new(v: &Value, dir: &Path) -> Ao {
        let file = dir.join("devnet.json");
        std::fs::write(&file, v.to_string()).expect("devnet file");
        Ao {
            file,
            home: dir.to_path_buf(),
        }
    }

    /// Run `ao args --devnet-file …`; it must succeed; its standard output, trimmed.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ao"))
            .args(args)
            .arg("--devnet-file")
            .arg(&self.file)
            .env("HOME", &self.home)
            .output()
            .expect("ao");
        assert!(
            out.status.success(),
            "ao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// `GET path` on `url` (an `http://` base) over a plain socket: the whole answer, head and body.
pub fn get(url: &str, path: &str) -> String {
    let host = url.strip_prefix("http://").expect("an http URL");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    answer
}

/// [`get`] that must answer 200 with JSON; the JSON.
pub fn get_json(url: &str, path: &str) -> Value {
    let answer = get(url, path);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {body:?}: {e}"))
}
