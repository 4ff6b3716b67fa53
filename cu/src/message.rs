//! The JSON the CU hands a module (spec 4.5) and the result JSON it serves (spec 4.3), as pure
//! functions of what the SU and the gateway returned.
//!
//! Key order follows the table of spec 4.5 (`Id`, `Signature`, `Data`, `Owner`, `Target`,
//! `Anchor`, `From`, `Forwarded-By`, `Tags`, `Epoch`, `Nonce`, `Timestamp`, `Block-Height`,
//! `Hash-Chain`, `Cron`, `Read-Only`); it is part of the bytes the module receives, and so of its
//! memory. It is the order of the reference CU's zod `messageSchema`, whose parse rebuilds every
//! message object in schema order before the loader stringifies it; keys whose value is
//! `undefined` are left out, `null` ones are kept.

use ao_proto::common::v1 as pb;
use serde_json::{Map, Value, json};

use crate::loader::Evaluation;

pub(crate) fn tags_json(tags: &[pb::Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"name": t.name, "value": t.value}))
            .collect(),
    )
}

fn tag<'a>(tags: &'a [pb::Tag], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name == name)
        .map(|t| t.value.as_str())
}

/// What a message is made of, whichever source it came from.
pub struct Parts<'a> {
    /// `Id`.
    pub id: String,
    /// `Signature`, b64url (absent for synthesized messages).
    pub signature: Option<String>,
    /// Raw data, rendered as lossy UTF-8 as the SU does.
    pub data: &'a [u8],
    /// Signer address.
    pub owner: String,
    /// `Target`.
    pub target: String,
    /// Raw anchor, if any.
    pub anchor: Option<&'a [u8]>,
    /// The item's tags.
    pub tags: &'a [pb::Tag],
}

/// The slot fields of a message, from its assignment.
pub struct Slot<'a> {
    /// Epoch.
    pub epoch: u64,
    /// Nonce.
    pub nonce: u64,
    /// Timestamp, ms.
    pub timestamp: i64,
    /// Block height.
    pub block_height: u64,
    /// Hash chain, b64url.
    pub hash_chain: &'a str,
}

/// The `msg` object of spec 4.5 for a scheduled message (or the process's own first message).
pub fn message_json(p: &Parts<'_>, slot: Option<&Slot<'_>>, read_only: bool) -> Value {
    let mut m = Map::new();
    m.insert("Id".into(), Value::String(p.id.clone()));
    if let Some(s) = &p.signature {
        m.insert("Signature".into(), Value::String(s.clone()));
    }
    m.insert(
        "Data".into(),
        Value::String(String::from_utf8_lossy(p.data).into_owned()),
    );
    m.insert("Owner".into(), Value::String(p.owner.clone()));
    m.insert("Target".into(), Value::String(p.target.clone()));
    let anchor = p
        .anchor
        .and_then(|a| std::str::from_utf8(a).ok())
        .map_or(Value::Null, |s| Value::String(s.to_string()));
    m.insert("Anchor".into(), anchor);
    let from_process = tag(p.tags, "From-Process");
    m.insert(
        "From".into(),
        Value::String(from_process.map_or_else(|| p.owner.clone(), str::to_string)),
    );
    if from_process.is_some() {
        m.insert("Forwarded-By".into(), Value::String(p.owner.clone()));
    }
    let kept: Vec<pb::Tag> = p
        .tags
        .iter()
        .filter(|t| t.name != "From" && t.name != "Owner")
        .cloned()
        .collect();
    m.insert("Tags".into(), tags_json(&kept));
    if let Some(s) = slot {
        m.insert("Epoch".into(), json!(s.epoch));
        m.insert("Nonce".into(), json!(s.nonce));
        m.insert("Timestamp".into(), json!(s.timestamp));
        m.insert("Block-Height".into(), json!(s.block_height));
        m.insert("Hash-Chain".into(), Value::String(s.hash_chain.to_string()));
    }
    m.insert("Cron".into(), Value::Bool(false));
    m.insert("Read-Only".into(), Value::Bool(read_only));
    Value::Object(m)
}

/// The `msg` object of a generated cron message (spec 4.6): no id, signature, data, anchor,
/// nonce or hash chain; `Owner` and `From` are the process owner.
pub fn cron_message_json(pid: &str, owner: &str, m: &crate::cron::CronMessage) -> Value {
    let kept: Vec<pb::Tag> = m
        .tags
        .iter()
        .filter(|t| t.name != "From" && t.name != "Owner")
        .cloned()
        .collect();
    let mut o = Map::new();
    o.insert("Owner".into(), Value::String(owner.to_string()));
    o.insert("Target".into(), Value::String(pid.to_string()));
    o.insert("From".into(), Value::String(owner.to_string()));
    o.insert("Tags".into(), tags_json(&kept));
    o.insert("Timestamp".into(), json!(m.timestamp));
    o.insert("Block-Height".into(), json!(m.block_height));
    o.insert("Cron".into(), Value::Bool(true));
    o.insert("Read-Only".into(), Value::Bool(false));
    Value::Object(o)
}

/// `Parts` of a data item as the SU's gRPC carries it.
pub fn item_parts<'a>(item: &'a pb::DataItem, target: &str) -> Parts<'a> {
    Parts {
        id: item.id.clone(),
        signature: Some(item.signature.clone()),
        data: &item.data,
        owner: item
            .owner
            .as_ref()
            .map(|o| o.address.clone())
            .unwrap_or_default(),
        target: target.to_string(),
        anchor: item.anchor.as_deref(),
        tags: &item.tags,
    }
}

/// The `env` object of spec 4.5.
pub fn env_json(
    process: &pb::ProcessRecord,
    module_id: &str,
    module_owner: &str,
    module_tags: &[pb::Tag],
) -> Value {
    json!({
        "Process": {
            "Id": process.process_id,
            "Owner": process.owner.as_ref().map(|o| o.address.clone()).unwrap_or_default(),
            "Tags": tags_json(&process.tags),
        },
        "Module": {"Id": module_id, "Owner": module_owner, "Tags": tags_json(module_tags)},
    })
}

/// The result JSON of spec 4.3: arrays default to `[]`, `Output` to `""` (numbers stringified),
/// `Error` only when the evaluation failed, `GasUsed` only when the module is metered.
pub fn result_json(e: &Evaluation) -> Value {
    let output = match &e.output {
        Value::Null => Value::String(String::new()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    };
    let mut m = Map::new();
    m.insert("Messages".into(), e.messages.clone());
    m.insert("Spawns".into(), e.spawns.clone());
    m.insert("Assignments".into(), e.assignments.clone());
    m.insert("Output".into(), output);
    if let Some(err) = &e.error {
        m.insert("Error".into(), err.clone());
    }
    if let Some(g) = e.gas_used {
        m.insert("GasUsed".into(), json!(g));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushed_message_has_from_process_as_from_and_drops_from_and_owner_tags() {
        let tags = vec![
            pb::Tag {
                name: "Action".into(),
                value: "Credit-Notice".into(),
            },
            pb::Tag {
                name: "From-Process".into(),
                value: "SENDER".into(),
            },
            pb::Tag {
                name: "Owner".into(),
                value: "spoof".into(),
            },
        ];
        let p = Parts {
            id: "ID".into(),
            signature: Some("SIG".into()),
            data: b"1",
            owner: "MU".into(),
            target: "PID".into(),
            anchor: Some(b"00000000000000000000000000000001"),
            tags: &tags,
        };
        let slot = Slot {
            epoch: 0,
            nonce: 3,
            timestamp: 17,
            block_height: 5,
            hash_chain: "H",
        };
        let m = message_json(&p, Some(&slot), false);
        assert_eq!(m["From"], "SENDER");
        assert_eq!(m["Forwarded-By"], "MU");
        assert_eq!(m["Tags"].as_array().map(Vec::len), Some(2));
        assert_eq!(m["Nonce"], 3);
        assert_eq!(m["Block-Height"], 5);
        let keys: Vec<&str> = m
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "Id",
                "Signature",
                "Data",
                "Owner",
                "Target",
                "Anchor",
                "From",
                "Forwarded-By",
                "Tags",
                "Epoch",
                "Nonce",
                "Timestamp",
                "Block-Height",
                "Hash-Chain",
                "Cron",
                "Read-Only"
            ]
        );
    }

    #[test]
    fn results_default_and_stringify_like_the_reference() {
        let e = Evaluation {
            output: json!(2),
            messages: json!([]),
            spawns: json!([]),
            assignments: json!([]),
            error: None,
            gas_used: None,
        };
        let r = result_json(&e);
        assert_eq!(r["Output"], "2");
        assert!(r.get("Error").is_none() && r.get("GasUsed").is_none());
    }
}
