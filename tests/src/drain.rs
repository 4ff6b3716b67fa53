//! Helpers for the drain tests (each unit's `tests/drain.rs`): a unit binary as a child process
//! with its ready line, SIGTERM, exit within a deadline, and a raw HTTP/1.1 keep-alive connection
//! whose every byte the test controls (a request half sent before the signal, a probe on a
//! connection opened before the listener closed).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use ao_local::{ChildUnit, Spawn};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A unit binary running as a child process (killed if dropped while running): an
/// [`ao_local::ChildUnit`] whose failures fail the test.
pub struct Unit(pub ChildUnit);

impl Unit {
    /// Start `exe` with `args` and wait (at most [`ao_local::child::READY_LINE_TIMEOUT`]) for its
    /// ready line.
    pub async fn start(exe: &str, args: &[&str]) -> Unit {
        let name = std::path::Path::new(exe)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| exe.to_string());
        let spawn = Spawn {
            name,
            exe: exe.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        };
        match ChildUnit::start(spawn).await {
            Ok(u) => Unit(u),
            Err(e) => panic!("start {exe}: {e}"),
        }
    }

    /// An address from the ready line (`http`, `grpc`, ...).
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.0.addr(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        self.0.sigterm().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Wait for the process to exit, at most `limit` (then panic: it did not stop in time).
    pub async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        match self.0.wait_within(limit).await {
            Ok(status) => status,
            Err(e) => panic!("{e} (after SIGTERM)"),
        }
    }
}

/// One HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/1.1 keep-alive connection.
pub struct RawConn {
    stream: BufReader<TcpStream>,
}

impl RawConn {
    /// Connect to `addr`.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<RawConn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(RawConn {
            stream: BufReader::new(s),
        })
    }

    /// Write a request's head; a body of `content_length` bytes is to follow with
    /// [`RawConn::send`].
    pub async fn send_head(
        &mut self,
        method: &str,
        path: &str,
        content_length: usize,
    ) -> std::io::Result<()> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/octet-stream\r\ncontent-length: {content_length}\r\n\r\n"
        );
        self.send(head.as_bytes()).await
    }

    /// Write bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let s = self.stream.get_mut();
        s.write_all(bytes).await?;
        s.flush().await
    }

    /// Read one answer (with a `Content-Length` body, as our servers send).
    pub async fn read_answer(&mut self) -> std::io::Result<Answer> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l
                .split_once(':')
                .ok_or_else(|| bad(format!("header {l:?}")))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A whole request with `body` and its answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<Answer> {
        self.send_head(method, path, body.len()).await?;
        self.send(body).await?;
        self.read_answer().await
    }
}

/// Longest any wait of a drain scenario polls for before it fails.
pub const POLL_DEADLINE: Duration = Duration::from_secs(60);

/// Ask `/ready` on `conn` until it answers `want` (polled to [`POLL_DEADLINE`]); its JSON.
pub async fn ready_until(conn: &mut RawConn, want: u16) -> Value {
    let end = std::time::Instant::now() + POLL_DEADLINE;
    loop {
        let a = conn
            .request("GET", "/ready", b"")
            .await
            .expect("/ready on the probe connection");
        if a.status == want {
            return a.json();
        }
        assert!(
            std::time::Instant::now() < end,
            "/ready stayed {} ({})",
            a.status,
            a.json()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request of a drain scenario's load.
#[derive(Debug, Clone)]
pub struct Req {
    /// What the request is about (an item or message id), reported back when answered.
    pub id: String,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// Body (empty for a GET).
    pub body: Vec<u8>,
}

impl Req {
    /// `POST path` with `body`, about `id`.
    pub fn post(id: String, path: &str, body: Vec<u8>) -> Req {
        Req {
            id,
            method: "POST",
            path: path.to_string(),
            body,
        }
    }
}

/// The load of a drain scenario: clients sending requests over keep-alive connections.
pub struct Load {
    /// The status of an accepted request (200 for the SU and CU, 202 for the MU).
    pub accepted: u16,
    /// Per client, its requests, sent in order.
    pub writers: Vec<Vec<Req>>,
    /// A request with a body, sent half before the signal and half after.
    pub slow: Req,
    /// Items accepted before the signal is sent.
    pub accepted_before_signal: usize,
    /// The unit's `--shutdown-grace`.
    pub grace: Duration,
}

/// What a drain scenario saw.
#[derive(Debug, Default)]
pub struct Drained {
    /// Ids answered `accepted` (the slow item among them): each must be stored.
    pub accepted: Vec<String>,
    /// Connects refused after the listener closed (expected).
    pub refused: usize,
    /// Requests sent after the signal on a connection the unit was closing (allowed).
    pub cut_after_signal: usize,
    /// Requests sent before the signal whose connection was cut: must be none.
    pub cut_before_signal: Vec<String>,
    /// From SIGTERM to the exit (reported, not asserted: the bound is the grace).
    pub exit_after: Duration,
}

#[derive(Debug)]
enum Sent {
    Answer(Answer),
    Refused,
    Cut(std::io::Error),
}

/// Send one request on `conn` (connecting first if there is none); a refused connect is
/// [`Sent::Refused`], any failure after that [`Sent::Cut`].
async fn send_one(conn: &mut Option<RawConn>, addr: SocketAddr, req: &Req) -> Sent {
    if conn.is_none() {
        match RawConn::connect(addr).await {
            Ok(c) => *conn = Some(c),
            Err(_) => return Sent::Refused,
        }
    }
    let Some(c) = conn.as_mut() else {
        return Sent::Refused;
    };
    match c.request(req.method, &req.path, &req.body).await {
        Ok(a) => {
            if a.header("connection") == Some("close") {
                *conn = None;
            }
            Sent::Answer(a)
        }
        Err(e) => {
            *conn = None;
            Sent::Cut(e)
        }
    }
}

/// Put `load` on the unit, SIGTERM it once enough is accepted, and check the drain: `/ready` 503
/// (`draining`) at once on a connection opened before, while the slow item is in flight; the slow
/// item then answered `accepted` with `Connection: close`; no request sent before the signal cut;
/// exit status 0 within the grace. What each writer saw is returned, for the caller to check
/// that everything accepted is stored.
pub async fn drain_under_load(unit: &mut Unit, load: Load) -> Drained {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let addr = unit.addr("http");
    let mut probe = RawConn::connect(addr).await.expect("probe connection");
    assert_eq!(ready_until(&mut probe, 200).await["status"], "ready");

    // The slow item: head and half its body now.
    let Req {
        id: slow_id,
        method,
        path,
        body: slow,
    } = load.slow;
    let mut slow_conn = RawConn::connect(addr).await.expect("connect");
    slow_conn
        .send_head(method, &path, slow.len())
        .await
        .expect("head");
    let half = slow.len() / 2;
    slow_conn.send(&slow[..half]).await.expect("half");

    let signalled = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Drained>> = Arc::default();
    let writers: Vec<_> = load
        .writers
        .into_iter()
        .map(|items| {
            let (signalled, seen) = (signalled.clone(), seen.clone());
            let accepted = load.accepted;
            tokio::spawn(async move {
                let mut conn = None;
                for req in items {
                    let id = req.id.clone();
                    let before = !signalled.load(Ordering::Acquire);
                    let sent = send_one(&mut conn, addr, &req).await;
                    let mut s = seen.lock().expect("seen");
                    match sent {
                        Sent::Answer(a) if a.status == accepted => s.accepted.push(id),
                        Sent::Answer(a) => {
                            assert!(
                                !before,
                                "refused before the signal: {} {}",
                                a.status,
                                a.json()
                            )
                        }
                        Sent::Refused => {
                            s.refused += 1;
                            return;
                        }
                        Sent::Cut(e) if before => {
                            s.cut_before_signal.push(format!("{id}: {e}"));
                            return;
                        }
                        Sent::Cut(_) => {
                            s.cut_after_signal += 1;
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let end = Instant::now() + POLL_DEADLINE;
    while seen.lock().expect("seen").accepted.len() < load.accepted_before_signal {
        assert!(Instant::now() < end, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    signalled.store(true, Ordering::Release);
    let signalled_at = Instant::now();
    unit.sigterm();

    // Not ready at once, while the slow item is still in flight.
    let draining = ready_until(&mut probe, 503).await;
    assert_eq!(draining["status"], "draining", "{draining}");

    // The in-flight item finishes and is answered.
    slow_conn
        .send(&slow[half..])
        .await
        .expect("the rest of the body");
    let answer = slow_conn
        .read_answer()
        .await
        .expect("the in-flight item's answer");
    assert_eq!(answer.status, load.accepted, "{}", answer.json());
    assert_eq!(answer.header("connection"), Some("close"));

    let exit = unit.exit_within(load.grace + Duration::from_secs(5)).await;
    let exit_after = signalled_at.elapsed();
    assert!(exit.success(), "exit status {exit:?}");
    for w in writers {
        w.await.expect("writer");
    }
    let mut seen = std::mem::take(&mut *seen.lock().expect("seen"));
    assert!(
        seen.cut_before_signal.is_empty(),
        "requests sent before the signal were cut: {:?}",
        seen.cut_before_signal
    );
    seen.accepted.push(slow_id);
    seen.exit_after = exit_after;
    seen
}
