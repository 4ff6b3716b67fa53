//! Helpers of the router's tests: a local computer (a real local gateway and SU holding the Lua
//! test module and the schedules), CUs and the router as real binaries (child processes), and
//! plain HTTP reads.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ao_arweave::local::{self, LocalGateway};
use ao_arweave::{Bundler, ClientConfig, HttpClient};
use ao_core::ao::{MessageBuilder, ModuleBuilder, ProcessBuilder};
use ao_core::wallet::{Ed25519Wallet, Wallet};
use ao_tests::drain::Unit;
use serde_json::Value;

/// Longest any poll of these tests waits before it fails.
pub const DEADLINE: Duration = Duration::from_secs(120);

// Not every test binary uses all three.
#[allow(unused_imports)]
pub use ao_tests::modules::{cache, minimal_module, repo};

/// A binary of the workspace beside this test's (`target/release/<name>`): `cargo test
/// --workspace` builds them all; alone, build it first (`cargo build --release -p ao-cu`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target/release");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build --release --bin {name})",
        path.display()
    );
    path
}

/// The gateway, the SU, a client and a user wallet.
pub struct Net {
    pub dir: tempfile::TempDir,
    pub gateway: LocalGateway,
    pub su: ao_su::RunningSu,
    pub http: reqwest::Client,
    pub user: Ed25519Wallet,
    pub module: String,
}

/// A fresh computer.
pub async fn net() -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    let mut g = local::Config::new(dir.path().join("gateway"));
    g.http_addr = "127.0.0.1:0".parse().expect("addr");
    g.block_interval = Duration::ZERO;
    let gateway = local::serve(g).await.expect("gateway");
    let su_key = Ed25519Wallet::generate();
    let wallet = Wallet::Ed25519(Ed25519Wallet::from_jwk(&su_key.to_jwk()).expect("copy"));
    let mut s =
        ao_su::Config::new(dir.path().join("su"), wallet, &gateway.url()).expect("su config");
    s.http_addr = "127.0.0.1:0".parse().expect("addr");
    s.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    let su = ao_su::serve(s).await.expect("su");
    let user = Ed25519Wallet::generate();
    let wasm = std::fs::read(minimal_module()).expect("wasm");
    let module = ModuleBuilder::new("wasm32-unknown-emscripten2", "JSON-1", "JSON-1", wasm)
        .sign(&user)
        .expect("module");
    gateway.upload(module.item()).await.expect("upload module");
    let http = HttpClient::new(&ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone();
    Net {
        dir,
        gateway,
        su,
        http,
        user,
        module: module.id(),
    }
}

impl Net {
    /// Stop the SU and the gateway cleanly.
    pub async fn close(self) {
        self.su.shutdown().await;
        self.gateway.shutdown().await;
    }

    async fn post(&self, body: &[u8]) -> String {
        let r = self
            .http
            .post(format!("{}/", self.su.url()))
            .body(body.to_vec())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        serde_json::from_slice::<Value>(&r.bytes().await.expect("body")).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Spawn a process named `name`.
    pub async fn spawn_named(&self, name: &str) -> String {
        let raw = ao_core::encoding::decode_id("module", &self.module).expect("id");
        let p = ProcessBuilder::new(raw, self.su.address.clone())
            .tag("Name", name)
            .sign(&self.user)
            .expect("process");
        self.post(p.item().as_bytes()).await
    }

    /// Send an `Eval` of `code` to `pid`; the message id.
    pub async fn eval(&self, pid: &str, code: &str) -> String {
        let raw = ao_core::encoding::decode_id("pid", pid).expect("pid");
        static REF: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = REF.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut anchor = [0u8; 32];
        anchor.copy_from_slice(format!("{n:032}").as_bytes());
        let m = MessageBuilder::new(raw)
            .anchor(anchor)
            .tag("Action", "Eval")
            .data(code)
            .sign(&self.user)
            .expect("message");
        self.post(m.item().as_bytes()).await
    }

    /// `n` processes, each with one Eval answering `p<i>`: (pid, message id).
    pub async fn processes(&self, n: usize) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let pid = self.spawn_named(&format!("p{i}")).await;
            let id = self.eval(&pid, &format!("return 'p{i}'")).await;
            out.push((pid, id));
        }
        out
    }
}

/// A CU binary on `data`, at `http`/`grpc` (port 0: any), once its `/ready` says it serves (its
/// ready line comes before its store is open; a router started then would eject it for a check
/// interval, and a rolling restart waits for readiness as a Deployment does).
pub async fn start_cu(net: &Net, data: &Path, http: SocketAddr, grpc: SocketAddr) -> Unit {
    start_cu_with(net, data, http, grpc, &[]).await
}

/// [`start_cu`] with `extra` flags.
pub async fn start_cu_with(
    net: &Net,
    data: &Path,
    http: SocketAddr,
    grpc: SocketAddr,
    extra: &[&str],
) -> Unit {
    let su = format!("http://{}", net.su.grpc_addr);
    let exe = bin("cu");
    let (http, grpc, gateway) = (http.to_string(), grpc.to_string(), net.gateway.url());
    let mut args = vec![
        "--data-dir",
        data.to_str().expect("path"),
        "--http-addr",
        &http,
        "--grpc-addr",
        &grpc,
        "--su-url",
        &su,
        "--gateway-url",
        &gateway,
        "--shutdown-grace",
        "10s",
    ];
    args.extend_from_slice(extra);
    let unit = Unit::start(exe.to_str().expect("path"), &args).await;
    unit.0
        .wait_ready(ao_local::child::READY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    unit
}

/// One CU of a test pool: the process, its data and its addresses (kept across restarts).
pub struct Cu {
    pub unit: Unit,
    pub data: PathBuf,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
}

impl Cu {
    /// Start CU number `i` of the pool on its own data directory.
    pub async fn start(net: &Net, i: usize) -> Cu {
        Cu::start_with(net, i, &[]).await
    }

    /// [`Cu::start`] with `extra` flags.
    pub async fn start_with(net: &Net, i: usize, extra: &[&str]) -> Cu {
        let data = net.dir.path().join(format!("cu{i}"));
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let unit = start_cu_with(net, &data, any, any, extra).await;
        Cu {
            http: unit.addr("http"),
            grpc: unit.addr("grpc"),
            unit,
            data,
        }
    }

    /// Its URL as the router names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The `--cu` value of this CU.
    pub fn member(&self) -> String {
        format!("http://{};grpc=http://{}", self.http, self.grpc)
    }

    /// Start it again on the same data and addresses (after it stopped).
    pub async fn restart(&mut self, net: &Net) {
        self.unit = start_cu(net, &self.data, self.http, self.grpc).await;
    }
}

/// The router binary over `cus`, at `http` (port 0: any).
pub async fn start_router(dir: &Path, cus: &[&Cu], http: &str, extra: &[&str]) -> Unit {
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        dir.to_str().expect("path").into(),
        "--http-addr".into(),
        http.into(),
        "--grpc-addr".into(),
        "127.0.0.1:0".into(),
        "--shutdown-grace".into(),
        "10s".into(),
    ];
    for c in cus {
        args.push("--cu".into());
        args.push(c.member());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Unit::start(env!("CARGO_BIN_EXE_router"), &refs).await
}

/// A GET's status, `ao-router-member` header and body.
pub async fn get(http: &reqwest::Client, url: &str) -> Result<(u16, String, Vec<u8>), String> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e:?}"))?;
    let status = r.status().as_u16();
    let member = r
        .headers()
        .get("ao-router-member")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.bytes().await.map_err(|e| format!("{url}: body: {e:?}"))?;
    Ok((status, member, body.to_vec()))
}

/// `GET /route/{pid}` on the router: its JSON.
pub async fn route(http: &reqwest::Client, router: SocketAddr, pid: &str) -> Value {
    let (status, _, body) = get(http, &format!("http://{router}/route/{pid}"))
        .await
        .expect("route");
    assert_eq!(status, 200);
    serde_json::from_slice(&body).expect("route json")
}

/// Poll the router's `/` until member `url` is in `state` (to [`DEADLINE`]).
pub async fn member_state_until(
    http: &reqwest::Client,
    router: SocketAddr,
    url: &str,
    state: &str,
) {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Ok((200, _, body)) = get(http, &format!("http://{router}/")).await {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let now = v["members"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["url"] == url)
                .map(|m| m["state"].clone());
            if now.as_ref().and_then(Value::as_str) == Some(state) {
                return;
            }
        }
        assert!(Instant::now() < end, "{url} never became {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `/metrics` text of the unit (router or CU) at `base`.
pub async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// The value of counter `name` (with its labels, if any, as written) in a Prometheus text.
pub fn metric(text: &str, name: &str) -> u64 {
    ao_tests::metric(text, name).unwrap_or(0.0) as u64
}
