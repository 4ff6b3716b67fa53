//! `ao verify FILE|ID`: check what a unit signed and say what it attests.
//!
//! Why: a signature only helps someone who checks it. This verb takes whatever a unit gave you
//! and checks it with nothing but ao-core:
//! - a result answer (`/result?attest=true`, or `ao result --attest`): JSON with `Attestations`;
//!   each must verify, and its `Result-SHA-256` must be the answer's own (recomputed here);
//! - one attestation, SU assignment or MU receipt: the raw item bytes, or their base64url
//!   text;
//! - an id: the item is read from the gateway (`GET /tx/{id}` for its fields, `/raw/{id}` for
//!   its data), rebuilt byte for byte and verified, so a gateway cannot pass off a forgery.
//!
//! Exit 0 when everything given verifies, 1 when anything does not (and why), as `ao item
//! inspect` does.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use ao_core::ao::{Assignment, Attestation, Receipt, type_of, value};
use ao_core::encoding::{b64url, b64url_decode, decode_id};
use ao_core::signature::{SignatureType, Signer};
use ao_core::{DataItem, DataItemBuilder, Tag};
use clap::Args;
use serde_json::{Value, json};

/// The gateway an id is read from when neither a flag nor the devnet file names one.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:1984";

/// `ao verify`: check an attestation, an assignment, or a result answer that carries them.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A file (`-`: standard input) holding a result answer's JSON, an item's bytes or their
    /// base64url; or a 43-character item id, read from the gateway.
    #[arg(allow_hyphen_values = true)]
    pub target: String,
    /// The gateway an id is read from (default: the devnet file's `gateway`, else
    /// http://127.0.0.1:1984).
    #[arg(long, env = "AO_GATEWAY_URL", value_name = "URL")]
    pub gateway: Option<String>,
    /// The file `ao devnet` writes (default ~/.ao/devnet.json, ignored when absent).
    #[arg(long, env = "AO_DEVNET_FILE", value_name = "FILE")]
    pub devnet_file: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run `ao verify`.
pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let input = read_target(&args)?;
    let report = match input {
        Input::Answer(answer) => check_answer(&answer),
        Input::Item(raw) => check_item(raw),
    };
    let ok = report["valid"].as_bool().unwrap_or(false);
    if args.json {
        outln!("{report}")?;
    } else {
        print_report(&report)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What was given: a result answer, or one item's bytes.
enum Input {
    Answer(Value),
    Item(Vec<u8>),
}

fn read_target(args: &VerifyArgs) -> anyhow::Result<Input> {
    let path = PathBuf::from(&args.target);
    let bytes = if args.target == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        buf
    } else if path.exists() {
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?
    } else if decode_id("id", &args.target).is_ok() {
        return Ok(Input::Item(fetch_item(args, &args.target)?));
    } else {
        bail!(
            "{}: no such file, and not a 43-character item id",
            args.target
        );
    };
    let text = std::str::from_utf8(&bytes).map(str::trim);
    if let Ok(t) = text {
        if t.starts_with('{') {
            let v: Value = serde_json::from_str(t).context("the file is not valid JSON")?;
            return Ok(Input::Answer(v));
        }
        if !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(Input::Item(
                b64url_decode("item", t).map_err(|e| anyhow!("{e}"))?,
            ));
        }
    }
    Ok(Input::Item(bytes))
}

/// The item `id` as the gateway has it, rebuilt from its fields and data.
fn fetch_item(args: &VerifyArgs, id: &str) -> anyhow::Result<Vec<u8>> {
    let gateway = match &args.gateway {
        Some(g) => g.clone(),
        None => crate::client::Connection {
            wallet: None,
            mu_url: None,
            cu_url: None,
            devnet_file: args.devnet_file.clone(),
        }
        .devnet()?
        .gateway
        .unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_string()),
    };
    let gateway = gateway.trim_end_matches('/');
    let config = ao_arweave::ClientConfig {
        connect_timeout: std::time::Duration::from_secs(10),
        max_retries: 0,
        ..ao_arweave::ClientConfig::default()
    };
    // Its TLS set-up (rustls with ring): an https gateway works as for the other commands.
    let http = ao_arweave::HttpClient::new(&config)
        .map_err(|e| anyhow!("{e}"))?
        .reqwest()
        .clone();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(&url)
                .timeout(std::time::Duration::from_secs(30))
                .send()
                .await
                .with_context(|| format!("cannot reach the gateway at {gateway}"))?;
            if !r.status().is_success() {
                bail!("GET {url}: the gateway answered {}", r.status());
            }
            Ok(r.bytes().await?.to_vec())
        }
    };
    let (fields, data) = crate::process::runtime()?.block_on(async {
        let fields = get(format!("{gateway}/tx/{id}")).await?;
        let data = get(format!("{gateway}/raw/{id}")).await?;
        anyhow::Ok((fields, data))
    })?;
    let fields: Value =
        serde_json::from_slice(&fields).context("the gateway's /tx answer is not JSON")?;
    rebuild(&fields, data).with_context(|| format!("item {id}"))
}

/// A signer that "signs" with a signature already made: rebuilding an item from a gateway's
/// fields goes through the one serializer ao-core has; the signature is then verified for real.
struct Given {
    kind: SignatureType,
    owner: Vec<u8>,
    signature: Vec<u8>,
}

impl Signer for Given {
    fn signature_type(&self) -> SignatureType {
        self.kind
    }
    fn owner(&self) -> &[u8] {
        &self.owner
    }
    fn sign(&self, _deep_hash: &[u8]) -> ao_core::Result<Vec<u8>> {
        Ok(self.signature.clone())
    }
}

/// The item bytes from an Arweave-style `/tx` JSON (base64url `owner`, `signature`, `target`,
/// `last_tx` as the anchor, tags with base64url names and values) and its data.
fn rebuild(fields: &Value, data: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let field = |k: &str| fields[k].as_str().unwrap_or("");
    let b64 = |k: &str| b64url_decode("field", field(k)).map_err(|e| anyhow!("{k}: {e}"));
    let owner = b64("owner")?;
    let signature = b64("signature")?;
    let kind = match owner.len() {
        512 => SignatureType::Arweave,
        32 => SignatureType::Ed25519,
        65 => SignatureType::Ethereum,
        n => bail!("an owner of {n} bytes is no signature type ao-core verifies"),
    };
    let mut tags = Vec::new();
    for t in fields["tags"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let text = |k: &str| -> anyhow::Result<String> {
            let raw = b64url_decode("tag", t[k].as_str().unwrap_or(""))
                .map_err(|e| anyhow!("tag {k}: {e}"))?;
            String::from_utf8(raw).map_err(|_| anyhow!("tag {k} is not UTF-8"))
        };
        tags.push(Tag::new(text("name")?, text("value")?));
    }
    let mut builder = DataItemBuilder::new().tags(tags).data(data);
    if !field("target").is_empty() {
        builder = builder.target(decode_id("target", field("target")).map_err(|e| anyhow!("{e}"))?);
    }
    if !field("last_tx").is_empty() {
        let anchor = b64("last_tx")?;
        builder = builder.anchor(
            <[u8; 32]>::try_from(anchor.as_slice())
                .map_err(|_| anyhow!("an anchor of {} bytes", anchor.len()))?,
        );
    }
    let item = builder
        .sign(&Given {
            kind,
            owner,
            signature,
        })
        .map_err(|e| anyhow!("cannot rebuild the item: {e}"))?;
    Ok(item.as_bytes().to_vec())
}

/// One item: its signature, then what its AO type says it attests.
fn check_item(raw: Vec<u8>) -> Value {
    let item = match DataItem::parse(raw) {
        Ok(i) => i,
        Err(e) => return json!({"valid": false, "error": format!("not a data item: {e}")}),
    };
    if let Err(e) = item.verify() {
        return json!({"valid": false, "id": item.id(), "error": format!("bad signature: {e}")});
    }
    let signer = item.owner_address();
    let kind = type_of(item.tags()).unwrap_or("").to_string();
    match kind.as_str() {
        value::TYPE_ATTESTATION => match Attestation::new(item) {
            Ok(a) => attestation_report(&a, None),
            Err(e) => json!({"valid": false, "error": e.to_string()}),
        },
        value::TYPE_ASSIGNMENT => match Assignment::new(item) {
            Ok(a) => json!({
                "valid": true,
                "kind": "assignment",
                "id": a.id(),
                "signer": signer,
                "attests": format!(
                    "SU {signer} put message {} at nonce {} of process {} (hash chain {}, \
                     timestamp {}, block height {}, epoch {})",
                    a.message_id().unwrap_or_else(|| "(none)".into()),
                    a.nonce(), a.process_id(), a.hash_chain(), a.timestamp(),
                    a.block_height(), a.epoch()
                ),
                "process": a.process_id(),
                "nonce": a.nonce(),
                "message": a.message_id(),
                "hash_chain": a.hash_chain(),
            }),
            Err(e) => json!({"valid": false, "error": e.to_string()}),
        },
        value::TYPE_RECEIPT => match Receipt::new(item) {
            Ok(r) => json!({
                "valid": true,
                "kind": "receipt",
                "id": r.id(),
                "signer": signer,
                "attests": format!(
                    "MU {signer}: {} item {} (SHA-256 {}){}{}",
                    match r.kind() {
                        ao_core::ao::ReceiptKind::Received => "received",
                        ao_core::ao::ReceiptKind::Forwarded => "forwarded",
                    },
                    r.message_id(),
                    r.item_sha256(),
                    r.tag("Process").map(|p| format!(" for process {p}")).unwrap_or_default(),
                    r.tag("From-Process")
                        .map(|p| format!(", made from the outbox of {p} (outbox entry SHA-256 {})",
                            r.tag("Outbox-SHA-256").unwrap_or("-")))
                        .unwrap_or_default(),
                ),
                "message": r.message_id(),
            }),
            Err(e) => json!({"valid": false, "error": e.to_string()}),
        },
        other => json!({
            "valid": true,
            "kind": "item",
            "id": item.id(),
            "signer": signer,
            "attests": format!(
                "{signer} signed this item (Type {:?}); it is no attestation or assignment",
                other
            ),
        }),
    }
}

fn attestation_report(a: &Attestation, covers: Option<bool>) -> Value {
    let mut r = json!({
        "valid": covers.unwrap_or(true),
        "kind": "attestation",
        "id": a.id(),
        "signer": a.unit(),
        "attests": format!(
            "CU {} evaluated message {} (nonce {}) of process {} with module {}, after hash \
             chain {}: result SHA-256 {}, memory SHA-256 {}",
            a.unit(), a.message_id(), a.nonce(), a.process_id(), a.module_id(),
            b64url(a.hash_chain_raw()), hex::encode(a.result_sha256()),
            hex::encode(a.memory_sha256())
        ),
        "process": a.process_id(),
        "message": a.message_id(),
        "nonce": a.nonce(),
        "result_sha256": hex::encode(a.result_sha256()),
        "memory_sha256": hex::encode(a.memory_sha256()),
    });
    if let Some(c) = covers {
        r["covers_result"] = json!(c);
        if !c {
            r["error"] = json!("the attestation's Result-SHA-256 is not this result's");
        }
    }
    r
}

/// The distinct signers of an answer's attestations (already checked by [`check_answer`]),
/// each about process `pid`.
pub(crate) fn signers(answer: &Value, pid: &str) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for entry in answer["Attestations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let raw = b64url_decode("attestation", entry.as_str().unwrap_or(""))
            .map_err(|e| anyhow!("{e}"))?;
        let a = Attestation::new(DataItem::parse(raw).map_err(|e| anyhow!("{e}"))?)
            .map_err(|e| anyhow!("{e}"))?;
        if a.process_id() != pid {
            bail!(
                "an attestation is about process {}, not {pid}",
                a.process_id()
            );
        }
        if !out.contains(&a.unit()) {
            out.push(a.unit());
        }
    }
    Ok(out)
}

/// A result answer: every attestation verifies and states this result.
pub(crate) fn check_answer(answer: &Value) -> Value {
    let Some(list) = answer.get("Attestations").and_then(Value::as_array) else {
        return json!({"valid": false, "error": "no Attestations in this JSON (ask the CU with attest=true)"});
    };
    if list.is_empty() {
        return json!({"valid": false, "error": "Attestations is empty"});
    }
    let sha = hex::encode(ao_core::ao::result_sha256(answer));
    let mut reports = Vec::new();
    for entry in list {
        let report = match entry.as_str().map(|s| b64url_decode("attestation", s)) {
            Some(Ok(raw)) => match DataItem::parse(raw)
                .map_err(|e| e.to_string())
                .and_then(|i| Attestation::verified(i).map_err(|e| e.to_string()))
            {
                Ok(a) => attestation_report(&a, Some(a.covers(answer))),
                Err(e) => json!({"valid": false, "error": e}),
            },
            _ => json!({"valid": false, "error": "an entry is not base64url text"}),
        };
        reports.push(report);
    }
    let valid = reports.iter().all(|r| r["valid"] == json!(true));
    json!({
        "valid": valid,
        "kind": "result",
        "result_sha256": sha,
        "attestations": reports,
    })
}

fn print_report(report: &Value) -> anyhow::Result<()> {
    let line = |r: &Value| -> String {
        if r["valid"] == json!(true) {
            format!(
                "valid {}: {}",
                r["kind"].as_str().unwrap_or("item"),
                r["attests"].as_str().unwrap_or("")
            )
        } else {
            format!("INVALID: {}", r["error"].as_str().unwrap_or("?"))
        }
    };
    if let Some(list) = report["attestations"].as_array() {
        outln!(
            "result SHA-256 {} ({} attestation{})",
            report["result_sha256"].as_str().unwrap_or(""),
            list.len(),
            if list.len() == 1 { "" } else { "s" }
        )?;
        for r in list {
            outln!("  {}", line(r))?;
        }
        if report["valid"] != json!(true) {
            outln!("INVALID")?;
        }
    } else {
        outln!("{}", line(report))?;
    }
    Ok(())
}
