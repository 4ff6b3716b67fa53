//! A local computer for the CU's tests: a real local gateway holding the module, a real SU
//! holding the schedule, and helpers to spawn processes, send Evals and start CUs.

use std::sync::Arc;

use ao_arweave::local::LocalGateway;
use ao_arweave::{Bundler, ClientConfig, HttpClient, HttpGateway};
use ao_core::ao::{MessageBuilder, ModuleBuilder, ProcessBuilder};
use ao_core::wallet::{Ed25519Wallet, Wallet};
use serde_json::Value;

/// The gateway, the SU, a client and a user wallet.
pub struct Net {
    pub dir: tempfile::TempDir,
    /// The gateway and the SU, in this process (`ao-local`); the tests start their own CUs.
    pub computer: ao_local::LocalComputer,
    /// The SU's key (a test can sign as the SU, e.g. a Scheduler-Location elsewhere).
    pub su_key: Ed25519Wallet,
    pub http: reqwest::Client,
    pub user: Ed25519Wallet,
    pub module: String,
}

/// A fresh computer.
pub async fn net() -> Net {
    net_with(None).await
}

/// `bundler`: where the SU uploads (default: the local gateway).
pub async fn net_with(bundler: Option<&str>) -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    let su_key = Ed25519Wallet::generate();
    let wallet = Wallet::Ed25519(Ed25519Wallet::from_jwk(&su_key.to_jwk()).expect("copy"));
    let wallet_file = dir.path().join("su-wallet.json");
    ao_runtime::wallet_file::create(&wallet_file, &wallet).expect("the SU's wallet file");
    let mut b = ao_local::Builder::new(dir.path())
        .cus(0)
        .mu(false)
        .block_interval("0")
        .su_flags(["--wallet".to_string(), wallet_file.display().to_string()]);
    if let Some(url) = bundler {
        let url = url.to_string();
        b = b.tweak_su(move |s| {
            let config = ClientConfig {
                max_retries: 0,
                ..ClientConfig::default()
            };
            s.bundler = Arc::new(ao_arweave::HttpBundler::new(&url, &config).expect("bundler"));
        });
    }
    let computer = b.start().await.expect("gateway and SU");
    let user = Ed25519Wallet::generate();
    let wasm = std::fs::read(super::minimal_module()).expect("wasm");
    let module = ModuleBuilder::new("wasm32-unknown-emscripten2", "JSON-1", "JSON-1", wasm)
        .sign(&user)
        .expect("module");
    let http = HttpClient::new(&ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone();
    let net = Net {
        dir,
        computer,
        su_key,
        http,
        user,
        module: module.id(),
    };
    net.gateway()
        .upload(module.item())
        .await
        .expect("upload module");
    net
}

/// A CU on the computer checkpointing every `checkpoint_every` messages.
pub async fn cu(net: &Net, checkpoint_every: u64) -> ao_cu::RunningCu {
    cu_with(net, |c| c.evaluation.checkpoint_every = checkpoint_every).await
}

/// The configuration of a CU on the computer.
pub fn cu_config(net: &Net) -> ao_cu::Config {
    let gateway =
        HttpGateway::new(&net.gateway().url(), &ClientConfig::default()).expect("gateway");
    ao_cu::Config::new(
        net.dir.path().join("cu"),
        format!("http://{}", net.su().grpc_addr),
        Arc::new(gateway),
        "CU-ADDRESS".into(),
    )
}

/// A CU on the computer, configured by `adjust`.
pub async fn cu_with(net: &Net, adjust: impl FnOnce(&mut ao_cu::Config)) -> ao_cu::RunningCu {
    let mut config = cu_config(net);
    adjust(&mut config);
    ao_cu::serve(config).await.expect("cu")
}

impl Net {
    /// Counter or gauge `name` of the CU at `base` (`GET {base}/metrics`).
    pub async fn metric(&self, base: &str, name: &str) -> u64 {
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        super::metric(&text, name)
    }

    /// The gateway (in this process: a test can upload to it directly).
    pub fn gateway(&self) -> &LocalGateway {
        self.computer
            .gateway()
            .expect("the gateway runs in this process")
    }

    /// The SU.
    pub fn su(&self) -> &ao_su::RunningSu {
        self.computer.su().expect("the SU runs in this process")
    }

    /// Stop the SU and the gateway cleanly (their stores closed before the test process exits).
    pub async fn close(self) {
        self.computer.stop().await;
    }

    /// POST an item to the SU; its id.
    pub async fn post(&self, body: &[u8]) -> String {
        let r = self
            .http
            .post(format!("{}/", self.su().url()))
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

    /// Spawn a process named `a`.
    pub async fn spawn(&self) -> String {
        self.spawn_named("a").await
    }

    /// Spawn a process named `name`.
    pub async fn spawn_named(&self, name: &str) -> String {
        self.spawn_tagged(&[("Name", name)]).await
    }

    /// Publish another emscripten2 module on the gateway; its id.
    pub async fn upload_module(&self, wasm: Vec<u8>) -> String {
        self.upload_module_tagged(wasm, &[]).await
    }

    /// Publish another emscripten2 module with extra tags; its id.
    pub async fn upload_module_tagged(&self, wasm: Vec<u8>, tags: &[(&str, &str)]) -> String {
        let mut b = ModuleBuilder::new("wasm32-unknown-emscripten2", "JSON-1", "JSON-1", wasm);
        for (n, v) in tags {
            b = if *n == "Extension" {
                b.extension(*v)
            } else {
                b.tag(*n, *v)
            };
        }
        let module = b.sign(&self.user).expect("module");
        self.gateway()
            .upload(module.item())
            .await
            .expect("upload module");
        module.id()
    }

    /// Spawn a process on `module` with these tags.
    pub async fn spawn_on(&self, module: &str, tags: &[(&str, &str)]) -> String {
        let raw = ao_core::encoding::decode_id("module", module).expect("id");
        let mut p = ProcessBuilder::new(raw, self.su().address.clone());
        for (n, v) in tags {
            p = p.tag(*n, *v);
        }
        let p = p.sign(&self.user).expect("process");
        self.post(p.item().as_bytes()).await
    }

    /// Spawn a process with these tags (besides the protocol's).
    pub async fn spawn_tagged(&self, tags: &[(&str, &str)]) -> String {
        let raw = ao_core::encoding::decode_id("module", &self.module).expect("id");
        let mut p = ProcessBuilder::new(raw, self.su().address.clone());
        for (n, v) in tags {
            p = p.tag(*n, *v);
        }
        let p = p.sign(&self.user).expect("process");
        self.post(p.item().as_bytes()).await
    }

    /// Send an `Eval` of `code` to `pid`; the message id.
    pub async fn eval(&self, pid: &str, code: &str) -> String {
        let raw = ao_core::encoding::decode_id("pid", pid).expect("pid");
        // aos-style anchors (a per-sender counter) keep equal messages distinct items.
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
}

/// GET a JSON answer: status and body (`null` when not JSON).
pub async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let r = http.get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}
