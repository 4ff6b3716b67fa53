//! Hostile input against every unit: the real SU, CU, MU and local gateway, in this process on
//! loopback, sent malformed, oversized, lying and slow requests over raw TCP, HTTP and gRPC.
//!
//! After each attack: the status is the one expected, every unit still answers its health check,
//! and nothing stored changed (the SU's schedule of a known process, the MU's tasks, the
//! gateway's transactions). Client-side timeouts of a few seconds detect a server that holds a
//! connection instead of answering; no assertion is about speed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_arweave::local::{self, LocalGateway};
use ao_arweave::{ClientConfig, HttpClient, HttpGateway};
use ao_core::ao::ProcessBuilder;
use ao_core::wallet::{Ed25519Wallet, Wallet, WalletKind};
use ao_runtime::client_ip::parse_cidr;
use ao_runtime::http::HttpLimits;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the client waits for an answer before calling the server stuck. Far above every
/// server-side timeout used here, so a pass never depends on timing.
const STUCK: Duration = Duration::from_secs(10);

/// The MU's largest item in these tests: small, so oversized gRPC messages are cheap to send.
const MU_MAX_ITEM: usize = 64 * 1024;

/// Header and body timeouts of the units under test: short, so a slow client is cut quickly.
fn short_limits() -> HttpLimits {
    let mut l = HttpLimits::new(0);
    l.header_read_timeout = Duration::from_millis(500);
    l.body_read_timeout = Duration::from_millis(500);
    l
}

struct Units {
    _dir: tempfile::TempDir,
    /// The gateway the units use.
    _units_gateway: LocalGateway,
    /// A gateway of its own that only the attacks reach, so its transaction count is stable.
    gateway: LocalGateway,
    su: ao_su::RunningSu,
    cu: ao_cu::RunningCu,
    mu: ao_mu::RunningMu,
    http: reqwest::Client,
    pid: String,
    schedule: Value,
    gateway_txs: usize,
}

/// One unit's HTTP API as the attacks see it.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// Where bodies go.
    post: String,
    /// Answers 200 while the unit is up.
    health: &'static str,
}

async fn gateway(dir: &std::path::Path, name: &str, limits: &HttpLimits) -> LocalGateway {
    let mut g = local::Config::new(dir.join(name));
    g.http_addr = "127.0.0.1:0".parse().expect("addr");
    g.block_interval = Duration::ZERO;
    g.http_limits = limits.clone();
    local::serve(g).await.expect("gateway")
}

async fn start(limits: HttpLimits, tweak_mu: impl FnOnce(&mut ao_mu::Config)) -> Units {
    let dir = tempfile::tempdir().expect("tmp");
    let units_gateway = gateway(dir.path(), "units-gateway", &HttpLimits::new(0)).await;
    let target_gateway = gateway(dir.path(), "gateway", &limits).await;
    let wallet = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    let mut s =
        ao_su::Config::new(dir.path().join("su"), wallet, &units_gateway.url()).expect("su config");
    s.http_addr = "127.0.0.1:0".parse().expect("addr");
    s.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    s.http_limits = limits.clone();
    let su = ao_su::serve(s).await.expect("su");
    let gw = HttpGateway::new(&units_gateway.url(), &ClientConfig::default()).expect("gw");
    let mut c = ao_cu::Config::new(
        dir.path().join("cu"),
        format!("http://{}", su.grpc_addr),
        Arc::new(gw),
        "CU-ADDRESS".into(),
    );
    c.http_addr = "127.0.0.1:0".parse().expect("addr");
    c.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    c.http_limits = HttpLimits {
        max_body: ao_cu::config::DEFAULT_MAX_BODY,
        ..limits.clone()
    };
    let cu = ao_cu::serve(c).await.expect("cu");
    let mut m = ao_mu::Config::new(
        dir.path().join("mu"),
        Ed25519Wallet::generate(),
        &format!("http://{}", cu.grpc_addr),
        &units_gateway.url(),
    )
    .expect("mu config");
    m.http_addr = "127.0.0.1:0".parse().expect("addr");
    m.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    m.rate_limit = 0;
    m.max_item_size = MU_MAX_ITEM;
    m.request_timeout = limits.request_timeout;
    m.http_limits = limits.clone();
    tweak_mu(&mut m);
    let mu = ao_mu::serve(m).await.expect("mu");
    let http = HttpClient::new(&ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone();

    // A known process on the SU, whose schedule must never change under attack.
    let user = Ed25519Wallet::generate();
    let process = ProcessBuilder::new([42; 32], su.address.clone())
        .tag("Name", "hostile")
        .sign(&user)
        .expect("process");
    let pid = process.id();
    let r = http
        .post(format!("{}/", su.url()))
        .body(process.item().as_bytes().clone())
        .send()
        .await
        .expect("post process");
    assert!(r.status().is_success(), "{}", r.status());
    let mut units = Units {
        _dir: dir,
        _units_gateway: units_gateway,
        gateway: target_gateway,
        su,
        cu,
        mu,
        http,
        pid,
        schedule: Value::Null,
        gateway_txs: 0,
    };
    units.schedule = units.schedule().await;
    units.gateway_txs = units.gateway_txs().await;
    units
}

impl Units {
    fn targets(&self) -> Vec<Target> {
        vec![
            Target {
                name: "gateway",
                addr: self.gateway.http_addr(),
                post: "/tx".into(),
                health: "/info",
            },
            Target {
                name: "su",
                addr: self.su.http_addr,
                post: "/".into(),
                health: "/health",
            },
            Target {
                name: "cu",
                addr: self.cu.http_addr,
                post: format!("/dry-run?process-id={}", self.pid),
                health: "/health",
            },
            Target {
                name: "mu",
                addr: self.mu.http_addr,
                post: "/".into(),
                health: "/health",
            },
        ]
    }

    async fn schedule(&self) -> Value {
        let r = self
            .http
            .get(format!("{}/{}", self.su.url(), self.pid))
            .send()
            .await
            .expect("schedule");
        assert_eq!(r.status().as_u16(), 200);
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json")
    }

    async fn gateway_txs(&self) -> usize {
        let q =
            serde_json::json!({"query": "{ transactions(first: 100) { edges { node { id } } } }"});
        let r = self
            .http
            .post(format!("{}/graphql", self.gateway.url()))
            .header("content-type", "application/json")
            .body(q.to_string())
            .send()
            .await
            .expect("graphql");
        let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        v["data"]["transactions"]["edges"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// Every unit answers its health check (polled: a unit shedding load may answer 503 for a
    /// moment), and nothing stored changed.
    async fn assert_intact(&self, after: &str) {
        for t in self.targets() {
            let url = format!("http://{}{}", t.addr, t.health);
            let deadline = Instant::now() + STUCK;
            loop {
                let r = tokio::time::timeout(STUCK, self.http.get(&url).send()).await;
                if let Ok(Ok(r)) = &r
                    && r.status().as_u16() == 200
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} is not healthy after {after}: {r:?}",
                    t.name
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert_eq!(
            self.schedule().await,
            self.schedule,
            "SU schedule after {after}"
        );
        assert_eq!(
            self.gateway_txs().await,
            self.gateway_txs,
            "gateway txs after {after}"
        );
        let store = &self.mu.mu.store;
        assert_eq!(
            store.unfinished().expect("tasks").len(),
            0,
            "MU tasks after {after}"
        );
        assert_eq!(
            store.dead_letters().expect("dead").len(),
            0,
            "MU dead letters after {after}"
        );
        let metrics = self
            .http
            .get(format!("{}/metrics", self.mu.url()))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("ao_mu_items_received_total 0"),
            "MU received something after {after}"
        );
    }
}

/// Open a connection and send `bytes` (a request or part of one).
async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may refuse and close before all is written (a huge header): not an error here.
    let _ = s.write_all(bytes).await;
    s
}

/// Read until a whole response head arrived or the server closed; `None` if it did neither
/// within [`STUCK`] (the server holds the connection).
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        // Some of the body too, for the reason.
                        let _ = tokio::time::timeout(Duration::from_millis(200), async {
                            if let Ok(n) = s.read(&mut chunk).await {
                                buf.extend_from_slice(&chunk[..n]);
                            }
                        })
                        .await;
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(STUCK, read).await.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn status_of(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

/// Whether the server closes the connection within [`STUCK`] (reading and dropping whatever it
/// sends first).
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(STUCK, read).await.is_ok()
}

fn post_head(t: &Target, content_length: u64, extra: &str) -> String {
    format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n{extra}Content-Length: {content_length}\r\n\r\n",
        t.post
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_content_length_over_the_limit_is_refused_at_once() {
    let u = start(short_limits(), |_| {}).await;
    for t in u.targets() {
        // A gigabyte announced, a few bytes sent, the connection left open.
        let mut s = send_raw(t.addr, post_head(&t, 1 << 30, "").as_bytes()).await;
        s.write_all(b"short").await.expect("write");
        let r = read_head(&mut s)
            .await
            .unwrap_or_else(|| panic!("{}: no answer to a 1 GiB Content-Length", t.name));
        assert_eq!(status_of(&r), Some(413), "{}: {r}", t.name);
        assert!(r.contains("over the limit"), "{}: {r}", t.name);
        u.assert_intact(&format!("{}: oversized Content-Length", t.name))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfinished_header_is_cut_off() {
    let u = start(short_limits(), |_| {}).await;
    for t in u.targets() {
        // Slowloris: a header begun and never finished.
        let mut s = send_raw(
            t.addr,
            format!("POST {} HTTP/1.1\r\nHost: x\r\nX-Slow: ", t.post).as_bytes(),
        )
        .await;
        assert!(
            closed_by_server(&mut s).await,
            "{}: an unfinished header holds the connection",
            t.name
        );
        // And a connection that sends nothing at all.
        let mut idle = TcpStream::connect(t.addr).await.expect("connect");
        assert!(
            closed_by_server(&mut idle).await,
            "{}: a silent connection is kept",
            t.name
        );
        u.assert_intact(&format!("{}: slowloris", t.name)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_stalls_gets_408() {
    let u = start(short_limits(), |_| {}).await;
    for t in u.targets() {
        let mut s = send_raw(t.addr, post_head(&t, 100, "").as_bytes()).await;
        s.write_all(b"ten bytes.").await.expect("write");
        let r = read_head(&mut s)
            .await
            .unwrap_or_else(|| panic!("{}: a stalled body holds the connection", t.name));
        assert_eq!(status_of(&r), Some(408), "{}: {r}", t.name);
        assert!(closed_by_server(&mut s).await, "{}: kept open", t.name);
        u.assert_intact(&format!("{}: stalled body", t.name)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_deadline_the_answer_is_503() {
    let mut limits = short_limits();
    limits.body_read_timeout = Duration::from_secs(30);
    limits.request_timeout = Duration::from_millis(300);
    let u = start(limits, |_| {}).await;
    for t in u.targets() {
        let mut s = send_raw(t.addr, post_head(&t, 100, "").as_bytes()).await;
        s.write_all(b"ten bytes.").await.expect("write");
        let r = read_head(&mut s)
            .await
            .unwrap_or_else(|| panic!("{}: no answer past the deadline", t.name));
        assert_eq!(status_of(&r), Some(503), "{}: {r}", t.name);
        assert!(r.contains("took longer"), "{}: {r}", t.name);
        assert!(
            r.to_ascii_lowercase().contains("retry-after"),
            "{}: {r}",
            t.name
        );
        u.assert_intact(&format!("{}: deadline", t.name)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_the_concurrency_limit_requests_are_shed_with_503() {
    let mut limits = short_limits();
    limits.max_concurrent_requests = 1;
    limits.body_read_timeout = Duration::from_secs(30);
    let u = start(limits, |_| {}).await;
    for t in u.targets() {
        // One request holds the only place (its body never comes). A health check that held
        // the place at the moment the holder arrived sheds the holder instead (a 503 for it, and
        // the place free again): then a new holder is sent.
        let url = format!("http://{}{}", t.addr, t.health);
        let deadline = Instant::now() + STUCK;
        let (holder, shed) = 'held: loop {
            let holder = send_raw(t.addr, post_head(&t, 100, "").as_bytes()).await;
            let mut last = None;
            for _ in 0..25 {
                let r = u.http.get(&url).send().await.expect("health");
                if r.status().as_u16() == 503 {
                    break 'held (holder, r);
                }
                last = Some(r.status());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                Instant::now() < deadline,
                "{}: never shed (last {last:?})",
                t.name
            );
        };
        assert!(shed.headers().contains_key("retry-after"), "{}", t.name);
        let body = shed.text().await.expect("body");
        assert!(body.contains("too many requests"), "{}: {body}", t.name);
        drop(holder);
        u.assert_intact(&format!("{}: over concurrency", t.name))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_lies_and_bad_ids_get_4xx() {
    let u = start(short_limits(), |_| {}).await;
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for t in u.targets() {
        let url = format!("http://{}{}", t.addr, t.post);
        // Garbage body.
        let r = u
            .http
            .post(&url)
            .body(garbage.clone())
            .send()
            .await
            .expect("post");
        assert!(
            r.status().is_client_error(),
            "{}: garbage {}",
            t.name,
            r.status()
        );
        // A body that says it is JSON and is not; JSON where an item is expected.
        let r = u
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body("{\"not\": json")
            .send()
            .await
            .expect("post");
        assert!(
            r.status().is_client_error(),
            "{}: bad JSON {}",
            t.name,
            r.status()
        );
        let r = u
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(garbage.clone())
            .send()
            .await
            .expect("post");
        assert!(
            r.status().is_client_error(),
            "{}: lying type {}",
            t.name,
            r.status()
        );
        if t.name != "cu" {
            // JSON where a signed item is expected.
            let r = u
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"Id\": \"x\", \"Tags\": []}")
                .send()
                .await
                .expect("post");
            assert!(
                r.status().is_client_error(),
                "{}: JSON item {}",
                t.name,
                r.status()
            );
        }
        // Empty body.
        let r = u.http.post(&url).send().await.expect("post");
        assert!(
            r.status().is_client_error(),
            "{}: empty {}",
            t.name,
            r.status()
        );
        // A huge header.
        let mut s = send_raw(
            t.addr,
            format!(
                "GET {} HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n",
                t.health,
                "a".repeat(1 << 20)
            )
            .as_bytes(),
        )
        .await;
        let r = read_head(&mut s).await.unwrap_or_default();
        assert!(
            r.is_empty() || status_of(&r) == Some(431),
            "{}: huge header answered {r}",
            t.name
        );
        // Not HTTP at all.
        let mut s = send_raw(t.addr, &garbage).await;
        let r = read_head(&mut s).await;
        assert!(
            r.as_deref()
                .is_some_and(|r| r.is_empty() || status_of(r) == Some(400)),
            "{}: garbage bytes answered {r:?}",
            t.name
        );
        u.assert_intact(&format!("{}: garbage", t.name)).await;
    }
    // Bad ids where each API takes one.
    for url in [
        format!("{}/not-an-id", u.su.url()),
        format!("{}/not-an-id/latest", u.su.url()),
        format!("{}/processes/%00%ff", u.su.url()),
        format!("{}/result/not-an-id?process-id=bad", u.cu.url()),
        format!("{}/state/not-an-id", u.cu.url()),
        format!("{}/trace/not-an-id", u.mu.url()),
        format!("{}/tx/not-an-id", u.gateway.url()),
        format!("{}/tx/not-an-id/data", u.gateway.url()),
    ] {
        let r = u.http.get(&url).send().await.expect("get");
        assert!(r.status().is_client_error(), "{url}: {}", r.status());
    }
    let r = u
        .http
        .post(format!("{}/graphql", u.gateway.url()))
        .header("content-type", "application/json")
        .body("{\"query\": \"{ transactions(first: \"}")
        .send()
        .await
        .expect("graphql");
    assert!(r.status().is_client_error(), "graphql: {}", r.status());
    u.assert_intact("bad ids").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spoofed_x_real_ip_does_not_change_the_bucket() {
    let u = start(short_limits(), |m| {
        m.rate_limit = 2;
    })
    .await;
    let url = format!("{}/", u.mu.url());
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = u
            .http
            .post(&url)
            .header("x-real-ip", format!("198.51.100.{i}"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .body("garbage")
            .send()
            .await
            .expect("post");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses,
        [400, 400, 429, 429],
        "the peer's bucket, whatever the headers"
    );
    u.assert_intact("spoofed X-Real-IP").await;

    // From a trusted proxy, the header names the client.
    let mut limits = short_limits();
    limits.trusted_proxies = vec![parse_cidr("127.0.0.1/32").expect("cidr")];
    let u = start(limits, |m| {
        m.rate_limit = 2;
    })
    .await;
    let url = format!("{}/", u.mu.url());
    for i in 0..4 {
        let r = u
            .http
            .post(&url)
            .header("x-real-ip", format!("198.51.100.{i}"))
            .body("garbage")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 400, "client {i} has its own bucket");
    }
}

/// gRPC with raw bytes as the message, to send what no generated client would.
mod raw_grpc {
    use bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Clone, Copy, Default)]
    pub struct Raw;

    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Raw;
        type Decoder = Raw;
        fn encoder(&mut self) -> Raw {
            Raw
        }
        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    impl Encoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            let v = src.chunk().to_vec();
            src.advance(v.len());
            Ok(Some(v))
        }
    }

    /// Call `path` (`/package.Service/Method`) with `body` as the message.
    pub async fn call(
        addr: std::net::SocketAddr,
        path: &'static str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, tonic::Status> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.expect("ready");
        grpc.unary(
            tonic::Request::new(body),
            tonic::codegen::http::uri::PathAndQuery::from_static(path),
            Raw,
        )
        .await
        .map(tonic::Response::into_inner)
    }
}

/// A protobuf `bytes` field 1 of `len` bytes: `SendRequest { item }`.
fn send_request(item: &[u8]) -> Vec<u8> {
    let mut v = vec![0x0a];
    let mut n = item.len();
    while n >= 0x80 {
        v.push((n as u8) | 0x80);
        n >>= 7;
    }
    v.push(n as u8);
    v.extend_from_slice(item);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_garbage_and_oversized_messages_are_refused() {
    let u = start(short_limits(), |m| {
        m.rate_limit = 1000;
    })
    .await;
    let garbage = vec![0xffu8; 64];
    for (name, addr, path) in [
        ("su", u.su.grpc_addr, "/ao.scheduler.v1.Scheduler/Schedule"),
        (
            "su",
            u.su.grpc_addr,
            "/ao.scheduler.v1.Scheduler/GetProcess",
        ),
        ("cu", u.cu.grpc_addr, "/ao.compute.v1.Compute/Result"),
        ("mu", u.mu.grpc_addr, "/ao.messenger.v1.Messenger/Send"),
        ("mu", u.mu.grpc_addr, "/ao.messenger.v1.Messenger/Monitor"),
    ] {
        let r = raw_grpc::call(addr, path, garbage.clone()).await;
        assert!(r.is_err(), "{name} {path}: garbage accepted");
        // Far over any limit of ours (the units' items are at most 10 MiB; the MU's here 64 KiB).
        let r = raw_grpc::call(addr, path, send_request(&vec![7u8; 17 << 20])).await;
        assert!(r.is_err(), "{name} {path}: 17 MiB accepted");
        u.assert_intact(&format!("{name} {path}: garbage gRPC"))
            .await;
    }

    // The MU's gRPC has its HTTP API's item limit: one byte over is refused as too large...
    let r = raw_grpc::call(
        u.mu.grpc_addr,
        "/ao.messenger.v1.Messenger/Send",
        send_request(&vec![7u8; MU_MAX_ITEM + 1]),
    )
    .await;
    let e = r.expect_err("an item over the limit");
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    // ...and a message well over it is not even decoded.
    let r = raw_grpc::call(
        u.mu.grpc_addr,
        "/ao.messenger.v1.Messenger/Send",
        send_request(&vec![7u8; 4 * MU_MAX_ITEM]),
    )
    .await;
    let e = r.expect_err("a message over the decode limit");
    assert!(
        matches!(
            e.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{e:?}"
    );
    u.assert_intact("MU oversized gRPC").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mu_grpc_counts_the_peer_not_the_client_ip_it_is_told() {
    let u = start(short_limits(), |m| {
        m.rate_limit = 2;
    })
    .await;
    let mut codes = Vec::new();
    for i in 0..4 {
        // SendRequest { item: garbage, client_ip: "198.51.100.i" }
        let mut msg = send_request(b"garbage");
        let ip = format!("198.51.100.{i}");
        msg.push(0x12);
        msg.push(ip.len() as u8);
        msg.extend_from_slice(ip.as_bytes());
        let r = raw_grpc::call(u.mu.grpc_addr, "/ao.messenger.v1.Messenger/Send", msg).await;
        codes.push(r.expect_err("garbage").code());
    }
    assert_eq!(
        codes,
        [
            tonic::Code::InvalidArgument,
            tonic::Code::InvalidArgument,
            tonic::Code::ResourceExhausted,
            tonic::Code::ResourceExhausted
        ]
    );
    u.assert_intact("MU spoofed client_ip").await;
}
