//! A whole local computer in the test process: the local gateway, an SU, a CU and an MU, the Lua
//! module published, and helpers to spawn processes and send messages through the MU.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ao_arweave::local::LocalGateway;
use ao_arweave::{Bundler, ClientConfig, HttpClient};
use ao_core::ao::{MessageBuilder, ProcessBuilder};
use ao_core::wallet::{Ed25519Wallet, Wallet};
use ao_local::{LocalComputer, UnitId};
use serde_json::Value;

/// The units and a user.
pub struct Computer {
    pub dir: tempfile::TempDir,
    /// The gateway, SU, CU and (unless a test starts its own) MU, in this process (`ao-local`).
    pub computer: LocalComputer,
    pub http: reqwest::Client,
    pub user: Ed25519Wallet,
    pub module: String,
    pub mu_address: String,
    /// Where the MU answers (in process, or a `mu` binary the test started).
    pub mu_url: String,
}

/// The MU's key, kept in the data dir so a restarted MU signs as the same wallet.
pub fn mu_wallet(dir: &std::path::Path) -> ao_core::wallet::Wallet {
    ao_mu::config::load_or_create_wallet(&dir.join("mu-wallet.json"), true).expect("mu wallet")
}

/// The MU settings of these tests: quick retries, no rate limit, a short cron interval, so that
/// failures and retries show within a test's time.
fn mu_test_flags(dir: &std::path::Path) -> Vec<String> {
    [
        "--wallet",
        &dir.join("mu-wallet.json").display().to_string(),
        "--retry-delay",
        "100",
        "--max-retries",
        "3",
        "--rate-limit",
        "0",
        "--cron-interval",
        "500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Computer {
    /// Everything, the MU in this process.
    pub async fn start() -> Computer {
        Computer::start_with(true).await
    }

    /// Everything; the MU in this process only when `in_process_mu` (else start `mu` yourself
    /// with [`Computer::mu_flags`] and set `mu_url`).
    pub async fn start_with(in_process_mu: bool) -> Computer {
        Computer::start_su_with(in_process_mu, |_| {}).await
    }

    /// Everything, the SU's configuration adjusted by `tweak` before it starts.
    pub async fn start_su_with(
        in_process_mu: bool,
        tweak: impl Fn(&mut ao_su::Config) + Send + Sync + 'static,
    ) -> Computer {
        Computer::start_all(in_process_mu, tweak, None).await
    }

    /// Everything, the MU signing with `mu_key` (written as its wallet file before it starts).
    pub async fn start_with_mu_key(mu_key: Wallet) -> Computer {
        Computer::start_all(true, |_| {}, Some(mu_key)).await
    }

    async fn start_all(
        in_process_mu: bool,
        tweak: impl Fn(&mut ao_su::Config) + Send + Sync + 'static,
        mu_key: Option<Wallet>,
    ) -> Computer {
        let dir = tempfile::tempdir().expect("tmp");
        if let Some(key) = mu_key {
            ao_runtime::wallet_file::create(&dir.path().join("mu-wallet.json"), &key)
                .expect("the MU's wallet file");
        }
        let mu_address = ao_mu::queue::address_of(&mu_wallet(dir.path()));
        let computer = ao_local::Builder::new(dir.path())
            .block_interval("0")
            .mu(in_process_mu)
            .mu_flags(mu_test_flags(dir.path()))
            .tweak_mu(|m| m.max_retry_delay = Duration::from_secs(2))
            .tweak_su(tweak)
            .start()
            .await
            .expect("the local computer");
        let user = Ed25519Wallet::generate();
        let module = ao_module_lua::module_builder().sign(&user).expect("module");
        computer
            .gateway()
            .expect("in-process gateway")
            .upload(module.item())
            .await
            .expect("publish the module");
        let mu_url = computer.mu().map(|m| m.url()).unwrap_or_default();
        let http = HttpClient::new(&ClientConfig::default())
            .expect("client")
            .reqwest()
            .clone();
        Computer {
            dir,
            computer,
            http,
            user,
            module: module.id(),
            mu_address,
            mu_url,
        }
    }

    /// The gateway.
    pub fn gateway(&self) -> &LocalGateway {
        self.computer.gateway().expect("in-process gateway")
    }

    /// The SU.
    pub fn su(&self) -> &ao_su::RunningSu {
        self.computer.su().expect("in-process SU")
    }

    /// The CU.
    pub fn cu(&self) -> &ao_cu::RunningCu {
        self.computer.cu(0).expect("in-process CU")
    }

    /// The MU, when it runs in this process.
    pub fn mu(&self) -> Option<&ao_mu::RunningMu> {
        self.computer.mu()
    }

    /// Stop the MU cleanly and start it again on the same data, wallet and addresses.
    pub async fn restart_mu(&mut self) {
        self.computer
            .restart_unit(UnitId::Mu)
            .await
            .expect("restart the MU");
        self.mu_url = self.mu().expect("in-process MU").url();
    }

    pub fn mu_url(&self) -> String {
        self.mu_url.clone()
    }

    /// Flags for a `mu` binary on this computer (same data dir and wallet each time).
    pub fn mu_flags(&self) -> Vec<String> {
        let d = self.dir.path();
        let _ = mu_wallet(d);
        [
            "--data-dir",
            &d.join("mu").display().to_string(),
            "--wallet",
            &d.join("mu-wallet.json").display().to_string(),
            "--cu-url",
            &format!("http://{}", self.cu().grpc_addr),
            "--gateway-url",
            &self.gateway().url(),
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--retry-delay",
            "100",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// POST raw bytes to the MU; status and JSON body.
    pub async fn post_mu(&self, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/", self.mu_url()))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Spawn a process of the Lua module through the MU, trusting the MU; its id.
    pub async fn spawn(&self, name: &str, extra: &[(&str, &str)]) -> String {
        let raw = ao_core::encoding::decode_id("module", &self.module).expect("id");
        let mut p = ProcessBuilder::new(raw, self.su().address.clone())
            .tag("Name", name)
            .tag("Authority", self.mu_address.clone());
        for (n, v) in extra {
            p = p.tag(*n, *v);
        }
        let p = p.sign(&self.user).expect("process");
        let (status, body) = self.post_mu(p.item().as_bytes().to_vec()).await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Send a message with `tags` and `data` to `pid` through the MU; its id.
    pub async fn send(&self, pid: &str, tags: &[(&str, &str)], data: &str) -> String {
        let raw = ao_core::encoding::decode_id("pid", pid).expect("pid");
        static REF: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = REF.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut anchor = [0u8; 32];
        anchor.copy_from_slice(format!("{n:032}").as_bytes());
        let mut m = MessageBuilder::new(raw).anchor(anchor).data(data);
        for (k, v) in tags {
            m = m.tag(*k, *v);
        }
        let m = m.sign(&self.user).expect("message");
        let (status, body) = self.post_mu(m.item().as_bytes().to_vec()).await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Eval `code` in `pid` (through the MU) and return the CU's result.
    pub async fn eval(&self, pid: &str, code: &str) -> Value {
        let id = self.send(pid, &[("Action", "Eval")], code).await;
        self.result(pid, &id).await
    }

    /// The CU's result of message `id`.
    pub async fn result(&self, pid: &str, id: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/result/{id}?process-id={pid}", self.cu().url()))
            .send()
            .await
            .expect("result");
        let bytes = r.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    /// Ask the process (dry-run as its owner) for the value of a Lua expression.
    pub async fn peek(&self, pid: &str, expr: &str) -> String {
        let owner = ao_core::Signer::owner(&self.user).to_vec();
        let owner = ao_core::encoding::b64url(sha256(&owner));
        let body = serde_json::json!({"Target": pid, "Owner": owner, "Data": expr,
            "Tags": [{"name": "Action", "value": "Eval"}]});
        let r = self
            .http
            .post(format!("{}/dry-run?process-id={pid}", self.cu().url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("dry-run");
        let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        v["Output"]["data"].as_str().unwrap_or_default().to_string()
    }

    /// Wait (up to `secs`) until `expr` evaluates to `want` in `pid`.
    pub async fn wait_for(&self, pid: &str, expr: &str, want: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = String::new();
        while Instant::now() < deadline {
            last = self.peek(pid, expr).await;
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{expr} in {pid}: wanted {want:?}, last saw {last:?}");
    }

    pub async fn stop(self) {
        self.computer.stop().await;
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}
