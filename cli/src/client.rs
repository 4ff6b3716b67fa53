//! The `ao` command's side of the AO HTTP API: where the units are, who signs, and the calls.
//!
//! Why: `ao spawn`, `send`, `result`, `dryrun`, `load` and `console` all need the same three
//! things: the URLs of the MU and the CU, the user's wallet, and a way to turn a unit's answer (or
//! its silence) into either JSON or one clear sentence. They live here, once.
//!
//! How data flows:
//!
//! ```text
//!   flags / AO_* env ─┐
//!   ~/.ao/devnet.json ├─> Connection::client() ─> Client { mu, cu, wallet, devnet }
//!   ~/.ao/wallet.json ┘        (flags override the devnet file; a missing default wallet is made)
//!
//!   Client::message(pid, tags, data) ── signs with the wallet, aos-style 32-digit anchor
//!   Client::post_item(item)  ── POST {mu}/ raw bytes ─────────────> the item id
//!   Client::result(pid, id)  ── GET {cu}/result/{id}?process-id= ─> result JSON (waits out 202)
//!   Client::results(pid, q)  ── GET {cu}/results/{pid}?... ───────> connection JSON
//!   Client::dry_run(pid, m)  ── POST {cu}/dry-run?process-id= ────> result JSON
//!   Client::monitor(pid, on) ── POST|DELETE {mu}/monitor/{pid} ───> the MU's answer (cron monitor)
//! ```
//!
//! A unit that cannot be reached gives `cannot reach the MU at URL (connection refused): is `ao
//! devnet` running?`; one that answers an error status gives `MU answered 400: <its error>`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use ao_core::ao::MessageBuilder;
use ao_core::encoding::decode_id;
use ao_core::wallet::{Wallet, WalletKind};
use ao_core::{DataItem, DataItemBuilder, Tag};
use clap::Args;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

/// The MU's URL when neither a flag nor a devnet file names one: the reference MU's port.
pub const DEFAULT_MU_URL: &str = "http://127.0.0.1:3005";

/// The CU's URL when neither a flag nor a devnet file names one: our CU's default port.
pub const DEFAULT_CU_URL: &str = "http://127.0.0.1:6363";

/// Time the MU may take to answer a posted item: it hands the item to the SU before answering,
/// which is quick; longer means something is stuck and the user should hear so.
const POST_TIMEOUT: Duration = Duration::from_secs(60);

/// Time one CU request may take. A first `/result` or dry-run loads the module and evaluates the
/// whole schedule so far, which can take minutes for a long-lived process.
const CU_TIMEOUT: Duration = Duration::from_secs(300);

/// How long `result` keeps asking while the CU answers 202 (busy evaluating).
const RESULT_PATIENCE: Duration = Duration::from_secs(600);

/// How much of an error answer is shown: a unit's message, not a flood.
const ERROR_BODY_LIMIT: usize = 2000;

/// Where the units are and who signs: the flags every process command takes (each also from its
/// `AO_*` variable), flattened into the subcommands.
#[derive(Args, Clone, Debug)]
pub struct Connection {
    /// The wallet that signs (a JWK file). Default ~/.ao/wallet.json, made (ed25519) if missing.
    #[arg(long, env = "AO_WALLET", value_name = "FILE")]
    pub wallet: Option<PathBuf>,
    /// The MU's URL (overrides the devnet file's `mu`).
    #[arg(long, env = "AO_MU_URL", value_name = "URL")]
    pub mu_url: Option<String>,
    /// The CU's URL (overrides the devnet file's `cu`).
    #[arg(long, env = "AO_CU_URL", value_name = "URL")]
    pub cu_url: Option<String>,
    /// The file `ao devnet` writes: units' URLs, the module, the scheduler and the MU's address.
    /// Default ~/.ao/devnet.json (ignored when absent).
    #[arg(long, env = "AO_DEVNET_FILE", value_name = "FILE")]
    pub devnet_file: Option<PathBuf>,
}

/// What `ao devnet` records about the computer it started, so the other commands find it with no
/// flags. Every field is optional: a file written by hand may name only some. The file's `su` is
/// for other tools; these commands do not need it, so it is not read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Devnet {
    /// The MU's URL.
    pub mu: Option<String>,
    /// The CU's URL.
    pub cu: Option<String>,
    /// The module processes are spawned with by default.
    pub module: Option<String>,
    /// The SU's address, the default `Scheduler` of a spawn.
    pub scheduler: Option<String>,
    /// The gateway's URL (`ao verify` reads items by id there).
    pub gateway: Option<String>,
    /// The unit-registry process (`ao devnet --staked`), whose stakes `--min-stake` checks.
    pub registry: Option<String>,
    /// The MU's wallet address: processes list it as an `Authority` so they trust what it pushes.
    pub mu_address: Option<String>,
}

/// Which unit a call went to, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// The messenger unit.
    Mu,
    /// The compute unit.
    Cu,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Mu => "MU",
            Unit::Cu => "CU",
        }
    }
}

/// The user's home directory, for the default files.
fn home() -> anyhow::Result<PathBuf> {
    std::env::home_dir()
        .filter(|h| !h.as_os_str().is_empty())
        .ok_or_else(|| anyhow!("cannot find your home directory (HOME is not set)"))
}

/// `~/.ao/NAME`.
fn ao_file(name: &str) -> anyhow::Result<PathBuf> {
    Ok(home()?.join(".ao").join(name))
}

impl Connection {
    /// The devnet file's contents: the given file (which must exist), else `~/.ao/devnet.json`
    /// when present, else nothing.
    pub fn devnet(&self) -> anyhow::Result<Devnet> {
        let (path, required) = match &self.devnet_file {
            Some(p) => (p.clone(), true),
            None => match ao_file("devnet.json") {
                Ok(p) => (p, false),
                Err(_) => return Ok(Devnet::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Devnet::default());
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a devnet file (a JSON object of strings)",
                path.display()
            )
        })
    }

    /// The wallet: the given file, else `~/.ao/wallet.json`, made with a new ed25519 key (and
    /// said so on stderr) when it does not exist yet.
    pub fn load_wallet(&self) -> anyhow::Result<Wallet> {
        if let Some(path) = &self.wallet {
            return crate::wallet::load(path);
        }
        let path = ao_file("wallet.json").context("pass --wallet FILE")?;
        if !path.exists() {
            return create_wallet(&path);
        }
        crate::wallet::load(&path)
    }

    /// Everything a command needs to talk to the units, resolved: flags over the devnet file
    /// over the defaults.
    pub fn client(&self) -> anyhow::Result<Client> {
        let devnet = self.devnet()?;
        let mu = base_url(
            "--mu-url",
            self.mu_url
                .as_deref()
                .or(devnet.mu.as_deref())
                .unwrap_or(DEFAULT_MU_URL),
        )?;
        let cu = base_url(
            "--cu-url",
            self.cu_url
                .as_deref()
                .or(devnet.cu.as_deref())
                .unwrap_or(DEFAULT_CU_URL),
        )?;
        let wallet = self.load_wallet()?;
        Client::new(mu, cu, wallet, devnet)
    }
}

/// Make a new ed25519 wallet at `path` (and its folder), readable by its owner only.
fn create_wallet(path: &Path) -> anyhow::Result<Wallet> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let wallet = Wallet::generate(WalletKind::Ed25519)?;
    crate::wallet::write_private(path, wallet.to_json().as_bytes())?;
    eprintln!(
        "ao: made a new wallet {} (address {})",
        path.display(),
        wallet.address()
    );
    Ok(wallet)
}

/// A unit's base URL, checked once so every call can append its path.
fn base_url(flag: &str, text: &str) -> anyhow::Result<String> {
    let url = Url::parse(text).map_err(|e| anyhow!("{flag} {text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{flag} {text:?}: only http and https URLs are supported");
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// A process or message id given by the user, checked (43 base64url characters), raw.
pub fn parse_id(what: &'static str, id: &str) -> anyhow::Result<[u8; 32]> {
    decode_id(what, id).map_err(|_| {
        anyhow!("{what} {id:?} is not an id (43 base64url characters, as `ao spawn` prints)")
    })
}

/// The next aos-style anchor: 32 decimal digits, from the clock in nanoseconds and never twice
/// the same in one run, so two equal messages are still two distinct items (distinct ids).
pub fn next_anchor() -> [u8; 32] {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    let next = loop {
        let next = now.max(prev.saturating_add(1));
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => prev = seen,
        }
    };
    let mut anchor = [b'0'; 32];
    let digits = format!("{next:032}");
    anchor.copy_from_slice(&digits.as_bytes()[digits.len() - 32..]);
    anchor
}

/// Milliseconds since 1970, for `Timestamp` tags and `/results` bounds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `--tag NAME=VALUE` flags as tags, split at the first `=`.
pub fn parse_tags(tags: &[String]) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|t| match t.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok(Tag::new(name, value)),
            _ => bail!("--tag {t:?}: expected NAME=VALUE"),
        })
        .collect()
}

/// Talks to one MU and one CU as one user: signs with the wallet, posts and reads.
pub struct Client {
    http: reqwest::Client,
    /// The MU's base URL (no trailing slash).
    pub mu: String,
    /// The CU's base URL (no trailing slash).
    pub cu: String,
    /// The wallet that signs.
    pub wallet: Wallet,
    /// What the devnet file said (defaults for spawn).
    pub devnet: Devnet,
}

/// An answer read in full.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Client {
    /// A client for the MU at `mu` and the CU at `cu`, signing with `wallet`.
    pub fn new(mu: String, cu: String, wallet: Wallet, devnet: Devnet) -> anyhow::Result<Self> {
        // The project's client: rustls with ring and the platform's roots, so https units work
        // with no OpenSSL; retries are ours (a posted item must not be sent twice blindly).
        let config = ao_arweave::ClientConfig {
            connect_timeout: Duration::from_secs(10),
            max_retries: 0,
            ..ao_arweave::ClientConfig::default()
        };
        let http = ao_arweave::HttpClient::new(&config)
            .map_err(|e| anyhow!("{e}"))?
            .reqwest()
            .clone();
        Ok(Client {
            http,
            mu,
            cu,
            wallet,
            devnet,
        })
    }

    /// The wallet's address: the `Owner` and `From` of what this client signs.
    pub fn address(&self) -> String {
        self.wallet.address()
    }

    fn base(&self, unit: Unit) -> &str {
        match unit {
            Unit::Mu => &self.mu,
            Unit::Cu => &self.cu,
        }
    }

    /// `{base}/{path}?{query}`, the query percent-encoded (cursors carry `+`, `/`, `=`).
    fn url(&self, unit: Unit, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Url> {
        let mut url = Url::parse(&format!("{}/{path}", self.base(unit)))
            .map_err(|e| anyhow!("bad URL for the {}: {e}", unit.name()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Send `req` to `unit`, read the answer in full; failures to reach it become one sentence.
    async fn call(
        &self,
        unit: Unit,
        req: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> anyhow::Result<Reply> {
        let base = self.base(unit);
        let fail = |e: reqwest::Error| unreachable_unit(unit, base, timeout, &e);
        let resp = req.timeout(timeout).send().await.map_err(fail)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.map_err(fail)?.to_vec();
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// The answer's body as JSON if it is a success, else `<UNIT> answered <status>: <error>`.
    fn json(unit: Unit, reply: &Reply) -> anyhow::Result<Value> {
        if !reply.status.is_success() {
            bail!(
                "{} answered {}: {}",
                unit.name(),
                reply.status.as_u16(),
                error_message(&reply.body)
            );
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            anyhow!(
                "{} answered {} with something that is not JSON ({e}): {}",
                unit.name(),
                reply.status.as_u16(),
                shorten(&String::from_utf8_lossy(&reply.body))
            )
        })
    }

    /// Sign a message to process `pid` with these tags (in order) and data, with a fresh anchor.
    pub fn message(
        &self,
        pid: &str,
        tags: Vec<Tag>,
        data: Option<Vec<u8>>,
    ) -> anyhow::Result<DataItem> {
        let raw = parse_id("process", pid)?;
        let mut builder = MessageBuilder::new(raw).anchor(next_anchor()).tags(tags);
        if let Some(data) = data {
            builder = builder.data(data);
        }
        let message = builder
            .sign(&self.wallet)
            .context("cannot sign the message")?;
        Ok(message.item().clone())
    }

    /// `POST {mu}/` with the item's bytes; the id the MU reports (any 2xx with an `id`: the
    /// MU's 202 or an SU's 200), else the item's own id.
    pub async fn post_item(&self, item: &DataItem) -> anyhow::Result<String> {
        let req = self
            .http
            .post(self.url(Unit::Mu, "", &[])?)
            .header(reqwest::header::ACCEPT, "application/json");
        let body = self.send_item_to_mu(req, item).await?;
        let answered = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
        Ok(answered.unwrap_or_else(|| item.id()))
    }

    /// Sign and post a message; its id.
    pub async fn send(
        &self,
        pid: &str,
        tags: Vec<Tag>,
        data: Option<Vec<u8>>,
    ) -> anyhow::Result<String> {
        let item = self.message(pid, tags, data)?;
        self.post_item(&item).await
    }

    /// `GET {cu}/result/{id}?process-id={pid}`, asking again while the CU answers 202 (busy).
    pub async fn result(&self, pid: &str, id: &str) -> anyhow::Result<Value> {
        self.result_query(pid, id, &[]).await
    }

    /// [`Client::result`] with more query parameters (`attest=true`, `min-stake=N`).
    pub async fn result_query(
        &self,
        pid: &str,
        id: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Value> {
        parse_id("process", pid)?;
        parse_id("message", id)?;
        let mut query = vec![("process-id", pid)];
        query.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let url = self.url(Unit::Cu, &format!("result/{id}"), &query)?;
        let deadline = tokio::time::Instant::now() + RESULT_PATIENCE;
        loop {
            let req = self
                .http
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            let reply = self.call(Unit::Cu, req, CU_TIMEOUT).await?;
            if reply.status == StatusCode::ACCEPTED {
                if tokio::time::Instant::now() >= deadline {
                    bail!(
                        "the CU is still evaluating {id} after {} s; ask again later with `ao result {pid} {id}`",
                        RESULT_PATIENCE.as_secs()
                    );
                }
                let wait = reply
                    .retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(100), Duration::from_secs(10));
                tokio::time::sleep(wait).await;
                continue;
            }
            return Self::json(Unit::Cu, &reply);
        }
    }

    /// `GET {cu}/results/{pid}` with this query (`from`, `to`, `sort`, `limit`).
    pub async fn results(&self, pid: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let url = self.url(Unit::Cu, &format!("results/{pid}"), query)?;
        let req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        let reply = self.call(Unit::Cu, req, CU_TIMEOUT).await?;
        Self::json(Unit::Cu, &reply)
    }

    /// `POST {cu}/dry-run?process-id={pid}` with the message as JSON; the result.
    pub async fn dry_run(&self, pid: &str, message: &Value) -> anyhow::Result<Value> {
        parse_id("process", pid)?;
        let url = self.url(Unit::Cu, "dry-run", &[("process-id", pid)])?;
        let req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(message.to_string());
        let reply = self.call(Unit::Cu, req, CU_TIMEOUT).await?;
        Self::json(Unit::Cu, &reply)
    }

    /// The dry-run message aoconnect's `dryrun` would send from this wallet: `Target`, `Owner`,
    /// the tags followed by the protocol's, and the data.
    pub fn dry_run_message(&self, pid: &str, tags: &[Tag], data: Option<&str>) -> Value {
        let mut all: Vec<Value> = tags
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "value": t.value}))
            .collect();
        for (name, value) in [
            ("Data-Protocol", "ao"),
            ("Type", "Message"),
            ("Variant", "ao.TN.1"),
        ] {
            all.push(serde_json::json!({"name": name, "value": value}));
        }
        serde_json::json!({
            "Target": pid,
            "Owner": self.address(),
            "Anchor": "0",
            "Tags": all,
            "Data": data.unwrap_or(""),
        })
    }

    /// Start (`on`) or stop the MU's cron monitor of `pid`: `POST` or `DELETE {mu}/monitor/{pid}`
    /// with a signed item whose target is the process, as aoconnect's `monitor`/`unmonitor` send
    /// (the MU reads the process from the item). The MU's answer text.
    pub async fn monitor(&self, pid: &str, on: bool) -> anyhow::Result<String> {
        let raw = parse_id("process", pid)?;
        // Data is required by nothing but kept non-empty, as aoconnect's; the anchor makes each
        // request a distinct item.
        let item = DataItemBuilder::new()
            .target(raw)
            .anchor(next_anchor())
            .data(" ")
            .sign(&self.wallet)
            .context("cannot sign the monitor request")?;
        let url = self.url(Unit::Mu, &format!("monitor/{pid}"), &[])?;
        let req = if on {
            self.http.post(url)
        } else {
            self.http.delete(url)
        };
        let body = self.send_item_to_mu(req, &item).await?;
        Ok(String::from_utf8_lossy(&body).trim().to_string())
    }

    /// Send a signed item as the body of `req` to the MU; the answer's body, or the MU's refusal
    /// as an error (every MU endpoint that takes an item answers the same way).
    async fn send_item_to_mu(
        &self,
        req: reqwest::RequestBuilder,
        item: &DataItem,
    ) -> anyhow::Result<Vec<u8>> {
        let req = req
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(item.as_bytes().to_vec());
        let reply = self.call(Unit::Mu, req, POST_TIMEOUT).await?;
        if !reply.status.is_success() {
            bail!(
                "MU answered {}: {}",
                reply.status.as_u16(),
                error_message(&reply.body)
            );
        }
        Ok(reply.body)
    }

    /// Send `code` as an `Action: Eval` message and wait for its result: what the console and
    /// `ao load` do. The message id comes back with the result.
    pub async fn eval(&self, pid: &str, code: &str) -> anyhow::Result<(String, Value)> {
        let id = self
            .send(
                pid,
                vec![Tag::new("Action", "Eval")],
                Some(code.as_bytes().to_vec()),
            )
            .await?;
        let result = self.result(pid, &id).await?;
        Ok((id, result))
    }
}

/// `cannot reach the MU at URL (connection refused): is `ao devnet` running?`, or the timeout or
/// other failure said as plainly, never reqwest's debug text.
fn unreachable_unit(
    unit: Unit,
    base: &str,
    timeout: Duration,
    e: &reqwest::Error,
) -> anyhow::Error {
    let name = unit.name();
    if e.is_timeout() {
        return anyhow!(
            "the {name} at {base} did not answer within {} s",
            timeout.as_secs()
        );
    }
    let reason = cause(e);
    if e.is_connect() {
        anyhow!("cannot reach the {name} at {base} ({reason}): is `ao devnet` running?")
    } else {
        anyhow!("lost the connection to the {name} at {base} ({reason})")
    }
}

/// The innermost useful cause of a transport error: the OS error's kind when there is one
/// ("connection refused"), else the deepest message.
fn cause(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                std::io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        deepest = s.to_string();
        source = s.source();
    }
    deepest
}

/// A unit's error answer as text: its `{"error": ...}` message when it sent one, else the body.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(e) = v.get("error")
    {
        return match e {
            Value::String(s) => shorten(s),
            other => shorten(&other.to_string()),
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(no body)".into()
    } else {
        shorten(text)
    }
}

/// At most [`ERROR_BODY_LIMIT`] bytes of `text`, cut on a character boundary.
fn shorten(text: &str) -> String {
    if text.len() <= ERROR_BODY_LIMIT {
        return text.to_string();
    }
    let mut cut = ERROR_BODY_LIMIT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes)", &text[..cut], text.len())
}

/// The text of a result's `Output`: a plain string, or an object's `data` (itself a string, or
/// aos 2's `{output}` object); `None` when there is nothing to show.
pub fn output_text(result: &Value) -> Option<String> {
    let text = match result.get("Output")? {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("data")? {
            Value::String(s) => s.clone(),
            Value::Object(d) => match d.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => Value::Object(d.clone()).to_string(),
            },
            Value::Null => return None,
            other => other.to_string(),
        },
        Value::Null => return None,
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// The prompt a result's `Output` carries (aos: `Output.prompt`).
pub fn output_prompt(result: &Value) -> Option<String> {
    result
        .get("Output")?
        .get("prompt")?
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// A result's `Error`, when evaluation failed.
pub fn error_text(result: &Value) -> Option<String> {
    match result.get("Error")? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anchors_are_32_digits_and_always_new() {
        let a = next_anchor();
        let b = next_anchor();
        assert!(a.iter().all(u8::is_ascii_digit));
        assert_ne!(a, b);
        assert!(b > a);
    }

    #[test]
    fn output_text_reads_every_output_shape() {
        assert_eq!(output_text(&json!({"Output": "42"})), Some("42".into()));
        assert_eq!(
            output_text(&json!({"Output": {"data": "10", "prompt": "> "}})),
            Some("10".into())
        );
        assert_eq!(
            output_text(&json!({"Output": {"data": {"output": "hi", "prompt": "> "}}})),
            Some("hi".into())
        );
        assert_eq!(output_text(&json!({"Output": {"data": ""}})), None);
        assert_eq!(output_text(&json!({"Messages": []})), None);
        assert_eq!(
            output_prompt(&json!({"Output": {"data": "", "prompt": "p> "}})),
            Some("p> ".into())
        );
        assert_eq!(error_text(&json!({"Error": "boom"})), Some("boom".into()));
        assert_eq!(error_text(&json!({"Output": ""})), None);
    }

    #[test]
    fn unit_errors_show_the_units_message() {
        assert_eq!(error_message(br#"{"error":"bad tag"}"#), "bad tag");
        assert_eq!(error_message(b"  plain text \n"), "plain text");
        assert_eq!(error_message(b""), "(no body)");
        assert!(shorten(&"é".repeat(5000)).ends_with("(10000 bytes)"));
    }

    #[test]
    fn tags_split_at_the_first_equals() {
        let tags = parse_tags(&["A=b=c".into(), "Empty=".into()]).expect("tags");
        assert_eq!(tags[0], Tag::new("A", "b=c"));
        assert_eq!(tags[1], Tag::new("Empty", ""));
        assert!(parse_tags(&["novalue".into()]).is_err());
        assert!(parse_tags(&["=v".into()]).is_err());
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        assert_eq!(
            base_url("--mu-url", "http://127.0.0.1:1/").expect("url"),
            "http://127.0.0.1:1"
        );
        assert!(base_url("--mu-url", "127.0.0.1:1").is_err());
        assert!(base_url("--mu-url", "ftp://x").is_err());
    }
}
