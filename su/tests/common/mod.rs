//! Helpers shared by the SU's integration tests: a real local gateway, a real SU on loopback, a
//! reqwest client, and signed items.
#![allow(dead_code)]

use std::time::Duration;

use ao_arweave::local::{self, LocalGateway};
use ao_arweave::{ClientConfig, HttpClient};
use ao_core::ao::{HashChain, Message, MessageBuilder, Process, ProcessBuilder, verify_chain};
use ao_core::encoding::decode_id;
use ao_core::wallet::{Ed25519Wallet, Wallet, WalletKind};
use ao_su::{Config, RunningSu};
use serde_json::Value;
use tempfile::TempDir;

/// A module id for processes under test (the SU never loads modules).
pub const MODULE: [u8; 32] = [42; 32];

pub struct Net {
    pub dir: TempDir,
    pub gateway: LocalGateway,
    pub su: RunningSu,
    pub http: reqwest::Client,
    pub user: Ed25519Wallet,
}

pub async fn gateway(dir: &std::path::Path) -> LocalGateway {
    let mut cfg = local::Config::new(dir.join("gateway"));
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.block_interval = Duration::ZERO;
    local::serve(cfg).await.expect("local gateway")
}

pub fn su_config(dir: &std::path::Path, gateway_url: &str, name: &str) -> Config {
    let wallet = Wallet::generate(WalletKind::Ed25519).expect("wallet");
    let mut cfg = Config::new(dir.join(name), wallet, gateway_url).expect("config");
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    cfg
}

pub fn client() -> reqwest::Client {
    HttpClient::new(&ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone()
}

pub async fn net() -> Net {
    net_with(|_| {}).await
}

/// A net whose SU configuration `tweak` adjusts before it starts.
pub async fn net_with(tweak: impl FnOnce(&mut Config)) -> Net {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = gateway(dir.path()).await;
    let mut cfg = su_config(dir.path(), &gateway.url(), "su");
    tweak(&mut cfg);
    let su = ao_su::serve(cfg).await.expect("su");
    Net {
        dir,
        gateway,
        su,
        http: client(),
        user: Ed25519Wallet::generate(),
    }
}

impl Net {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.su.url(), path)
    }

    pub fn process(&self) -> Process {
        ProcessBuilder::new(MODULE, self.su.address.clone())
            .tag("Name", "test")
            .data("print('hi')")
            .sign(&self.user)
            .expect("process")
    }

    pub fn message(&self, pid: [u8; 32], n: u64) -> Message {
        MessageBuilder::new(pid)
            .tag("Action", "Eval")
            .tag("N", n.to_string())
            .data(format!("return {n}"))
            .sign(&self.user)
            .expect("message")
    }

    pub async fn post(&self, body: &[u8]) -> (u16, Value) {
        post(&self.http, &self.url("/"), body).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        get(&self.http, &self.url(path)).await
    }
}

pub async fn post(http: &reqwest::Client, url: &str, body: &[u8]) -> (u16, Value) {
    let r = http
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The value of tag `name` in a JSON tag list.
pub fn tag<'a>(tags: &'a Value, name: &str) -> &'a str {
    tags.as_array()
        .expect("tags")
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["value"].as_str())
        .unwrap_or_else(|| panic!("no tag {name}"))
}

/// Check that the JSON edges of a whole schedule form the hash chain that starts at `pid`.
pub fn verify_edges_chain(pid: &[u8; 32], edges: &[Value]) -> Result<(), String> {
    let links: Vec<([u8; 32], [u8; 32])> = edges
        .iter()
        .map(|e| {
            let a = &e["node"]["assignment"];
            (
                decode_id("a", a["id"].as_str().expect("id")).expect("id"),
                decode_id("h", tag(&a["tags"], "Hash-Chain")).expect("hash"),
            )
        })
        .collect();
    verify_chain(
        HashChain::for_new_process(pid),
        links.iter().map(|(a, h)| (a, h)),
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}
