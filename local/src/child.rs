//! A unit binary as a child process: started with its flags, killed if dropped while running, its
//! ready line (`{"http": ..., "grpc": ...}`, the first line of stdout) read to a deadline, and
//! stopped the ways an operator stops it: SIGTERM and a bounded wait, or SIGKILL (crash tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Error;

/// Longest a unit binary may take to print its ready line: it opens RocksDB (replaying its log
/// after a crash) and binds its listeners, seconds at most; a minute leaves room for a loaded
/// 2-core CI machine without letting a wedged start hang a test or `ao devnet` forever.
pub const READY_LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest a unit may report not ready (`/ready` 503) after its ready line before a start counts
/// as failed: warming up is opening a store or learning a block height from a gateway that is
/// already up, seconds at most; a minute covers a loaded machine and a store replaying its log.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Time between two `/ready` probes while waiting for readiness: cheap for the unit, and short
/// against the milliseconds a warm-up usually takes.
pub const READY_POLL: Duration = Duration::from_millis(50);

/// Time a unit gets past its own shutdown grace before [`ChildUnit::stop`] kills it: a unit stops
/// itself at the end of its grace, so a few more seconds are enough to flush and exit, and only a
/// wedged process is killed.
pub const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// How to start one unit binary; kept so the unit can be started again on the same data.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// A short name for messages (`su`, `cu`, `arweave-local`).
    pub name: String,
    /// The binary.
    pub exe: PathBuf,
    /// Its flags.
    pub args: Vec<String>,
    /// Variables set for it on top of the inherited environment (`OTEL_SERVICE_NAME`, ...).
    pub env: Vec<(String, String)>,
}

/// A unit binary running as a child process (killed if dropped while running).
#[derive(Debug)]
pub struct ChildUnit {
    spawn: Spawn,
    child: Child,
    ready: Value,
}

impl ChildUnit {
    /// Start `spawn` and wait (at most [`READY_LINE_TIMEOUT`]) for its ready line.
    pub async fn start(spawn: Spawn) -> Result<ChildUnit, Error> {
        ChildUnit::start_within(spawn, READY_LINE_TIMEOUT).await
    }

    /// [`ChildUnit::start`] with another deadline for the ready line.
    pub async fn start_within(spawn: Spawn, limit: Duration) -> Result<ChildUnit, Error> {
        if !spawn.exe.exists() {
            return Err(Error::MissingBinary(spawn.exe.clone()));
        }
        let mut command = Command::new(&spawn.exe);
        command
            .args(&spawn.args)
            .envs(spawn.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        stop_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| Error::Spawn(spawn.exe.clone(), e))?;
        let stdout = child.stdout.take().ok_or_else(|| {
            Error::ReadyLine(spawn.name.clone(), "stdout is not piped".to_string())
        })?;
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(limit, lines.next_line()).await {
            Err(_) => return Err(Error::NotReady(spawn.name.clone(), limit)),
            Ok(Err(e)) => return Err(Error::ReadyLine(spawn.name.clone(), e.to_string())),
            Ok(Ok(None)) => {
                let status = child.wait().await.ok();
                return Err(Error::ExitedBeforeReady(spawn.name.clone(), status));
            }
            Ok(Ok(Some(line))) => line,
        };
        let ready: Value = serde_json::from_str(&line)
            .map_err(|e| Error::ReadyLine(spawn.name.clone(), format!("{line:?}: {e}")))?;
        // Whatever else the unit prints goes nowhere, but is read: a pipe nobody reads would
        // block the unit once full, and a closed one would fail its writes.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ChildUnit {
            spawn,
            child,
            ready,
        })
    }

    /// The unit's name.
    pub fn name(&self) -> &str {
        &self.spawn.name
    }

    /// How it was started (to start it again on the same data).
    pub fn spawn(&self) -> &Spawn {
        &self.spawn
    }

    /// Its ready line.
    pub fn ready(&self) -> &Value {
        &self.ready
    }

    /// An address from the ready line (`http`, `grpc`, `admin`).
    pub fn addr(&self, key: &str) -> Result<SocketAddr, Error> {
        ready_addr(&self.spawn.name, &self.ready, key)
    }

    /// Wait until the unit says it is ready (`GET /ready` 200 on its `http` address), polling
    /// every [`READY_POLL`] for at most `limit`; the last answer is in the error.
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), Error> {
        let addr = self.addr("http")?;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = match probe_ready(addr).await {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => format!("{status} {body}"),
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotReady(
                    format!("{} (last /ready: {last})", self.spawn.name),
                    limit,
                ));
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process (for a test that waits on it itself).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Send SIGTERM: the unit drains and exits within its `--shutdown-grace`.
    pub fn sigterm(&self) -> Result<(), Error> {
        let pid = self
            .pid()
            .ok_or_else(|| Error::NotRunning(self.name().into()))?;
        // Through `kill(1)`, so no unsafe code is needed for the signal.
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| Error::Signal(self.name().into(), e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Signal(
                self.name().into(),
                format!("kill -TERM {pid}: {status}"),
            ))
        }
    }

    /// Wait for the process to exit, at most `limit`.
    pub async fn wait_within(&mut self, limit: Duration) -> Result<ExitStatus, Error> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.map_err(|e| Error::Wait(self.spawn.name.clone(), e)),
            Err(_) => Err(Error::DidNotExit(self.spawn.name.clone(), limit)),
        }
    }

    /// Stop it as an orchestrator does: SIGTERM, then wait `patience` (its grace and
    /// [`EXIT_MARGIN`]); a unit still running then is killed, and that is the error.
    pub async fn stop(mut self, patience: Duration) -> Result<ExitStatus, Error> {
        if self.child.try_wait().ok().flatten().is_some() {
            return self.wait_within(patience).await;
        }
        self.sigterm()?;
        match self.wait_within(patience).await {
            Err(Error::DidNotExit(name, limit)) => {
                let _ = self.child.kill().await;
                Err(Error::DidNotExit(name, limit))
            }
            other => other,
        }
    }

    /// Kill it at once (SIGKILL) and reap it: a crash, for tests of what survives one.
    pub async fn kill(mut self) -> Result<(), Error> {
        self.child
            .kill()
            .await
            .map_err(|e| Error::Wait(self.spawn.name.clone(), e))
    }
}

/// One `GET /ready` on a fresh connection: the status and the body.
async fn probe_ready(addr: SocketAddr) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /ready HTTP/1.1\r\nhost: ao-local\r\nconnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status line"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.trim().to_string()))
}

/// `key` of a ready line, as an address.
pub fn ready_addr(unit: &str, ready: &Value, key: &str) -> Result<SocketAddr, Error> {
    ready[key]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Error::ReadyLine(unit.to_string(), format!("no address {key:?} in {ready}")))
}

/// The binary `name` in `dir` (where cargo puts every binary of the workspace side by side).
pub fn binary(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Make the unit get SIGTERM (and so drain and close its store) when the process that started it
/// dies, even by SIGKILL, when no `Drop` runs: `ao devnet` killed leaves no unit behind. Linux
/// sends the signal when the *thread* that spawned the child ends; units are started from async
/// tasks, whose runtime threads live as long as the runtime (a current-thread runtime's thread,
/// a test's, ends with the test, which is what a test wants).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // `pre_exec` is the only way to run code in the child before exec.
fn stop_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // calls are allowed: `prctl` and `getppid` are plain system calls that neither allocate nor
    // lock, and the error path builds an `io::Error` from an errno or a static message only.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the line above: then no signal will come.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other(
                    "the parent exited while starting the unit",
                ));
            }
            Ok(())
        });
    }
}

/// Elsewhere units stop with their parent only through `Drop` (`kill_on_drop`).
#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_command: &mut Command) {}
