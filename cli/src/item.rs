//! `ao item`: look inside a data item, and sign a new one.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ao_core::encoding::{b64url, decode_id};
use ao_core::{DataItem, DataItemBuilder, Tag};
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Subcommand)]
pub enum ItemCommand {
    /// Parse and verify a data item; print its fields. Exit 0 if valid, 1 if not.
    Inspect {
        /// The item's file (raw ANS-104 bytes).
        file: PathBuf,
        /// `json` prints one JSON object (for scripts); `text` prints lines for people.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Sign a new data item with a wallet and write its bytes; prints the new item's id.
    Sign {
        /// The wallet file that signs (its kind decides the signature type).
        #[arg(long)]
        wallet: PathBuf,
        /// Target: a 43-character id (for AO messages, the process).
        #[arg(long)]
        target: Option<String>,
        /// Anchor: 32 characters taken as bytes (aos style), or a 43-character base64url value.
        #[arg(long)]
        anchor: Option<String>,
        /// A tag as NAME=VALUE; repeat for more, order is kept. Split at the first '='.
        #[arg(long = "tag", value_name = "NAME=VALUE")]
        tags: Vec<String>,
        /// File holding the data, or '-' for standard input; no data when absent.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the signed item.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Text,
}

pub fn run(cmd: ItemCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ItemCommand::Inspect { file, format } => inspect(file, format),
        ItemCommand::Sign {
            wallet,
            target,
            anchor,
            tags,
            data,
            out,
        } => {
            let signer = crate::wallet::load(&wallet)?;
            let mut builder = DataItemBuilder::new().tags(parse_tags(&tags)?);
            if let Some(target) = target {
                builder = builder.target(decode_id("target", &target)?);
            }
            if let Some(anchor) = anchor {
                builder = builder.anchor(parse_anchor(&anchor)?);
            }
            if let Some(path) = data {
                builder = builder.data(read_input(&path)?);
            }
            let item = builder.sign(&signer)?;
            std::fs::write(&out, item.as_bytes())
                .with_context(|| format!("cannot write {}", out.display()))?;
            outln!("{}", item.id())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn inspect(file: PathBuf, format: Format) -> anyhow::Result<ExitCode> {
    let raw = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let size = raw.len();
    let report = match DataItem::parse(raw) {
        Ok(item) => {
            let verdict = item.verify();
            describe(&item, verdict.err().map(|e| e.to_string()))
        }
        Err(e) => {
            let mut v = describe_nothing();
            v["error"] = json!(e.to_string());
            v["size"] = json!(size);
            v
        }
    };
    let valid = report["valid"].as_bool().unwrap_or(false);
    match format {
        Format::Json => outln!("{report}")?,
        Format::Text => print_text(&report)?,
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The fields of a parsed item, and the verdict.
fn describe(item: &DataItem, error: Option<String>) -> Value {
    json!({
        "id": item.id(),
        "signature_type": item.signature_type().as_u16(),
        "owner": b64url(item.owner()),
        "owner_address": item.owner_address(),
        "native_address": item.native_address(),
        "target": item.target_id(),
        "anchor": item.anchor().map(b64url),
        "anchor_utf8": item.anchor_utf8(),
        "tags": item.tags(),
        "data_size": item.data().len(),
        "data_sha256": hex::encode(Sha256::digest(item.data())),
        "size": item.as_bytes().len(),
        "valid": error.is_none(),
        "error": error,
    })
}

/// The same shape for bytes that are not an item at all: every field null.
fn describe_nothing() -> Value {
    json!({
        "id": null, "signature_type": null, "owner": null, "owner_address": null,
        "native_address": null, "target": null, "anchor": null, "anchor_utf8": null, "tags": null,
        "data_size": null, "data_sha256": null, "size": null, "valid": false, "error": null,
    })
}

fn print_text(report: &Value) -> anyhow::Result<()> {
    let show = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match report["valid"].as_bool() {
        Some(true) => outln!("valid item")?,
        _ => outln!("INVALID: {}", show(&report["error"]))?,
    }
    for key in [
        "id",
        "signature_type",
        "owner_address",
        "native_address",
        "target",
        "anchor",
        "anchor_utf8",
        "data_size",
        "data_sha256",
        "size",
    ] {
        outln!("{key:>15}: {}", show(&report[key]))?;
    }
    if let Some(tags) = report["tags"].as_array() {
        outln!("{:>15}: {}", "tags", tags.len())?;
        for t in tags {
            outln!("{:>15}  {} = {}", "", show(&t["name"]), show(&t["value"]))?;
        }
    }
    Ok(())
}

fn parse_tags(tags: &[String]) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|t| match t.split_once('=') {
            Some((name, value)) => Ok(Tag::new(name, value)),
            None => bail!("--tag {t:?}: expected NAME=VALUE"),
        })
        .collect()
}

fn parse_anchor(anchor: &str) -> anyhow::Result<[u8; 32]> {
    if let Ok(raw) = <[u8; 32]>::try_from(anchor.as_bytes()) {
        return Ok(raw);
    }
    decode_id("anchor", anchor).map_err(|_| {
        anyhow::anyhow!(
            "--anchor: expected 32 characters or a 43-character base64url value, got {} bytes",
            anchor.len()
        )
    })
}

fn read_input(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read data from standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read data file {}", path.display()))
    }
}
