//! A process's first evaluation when its schedule does not start with the process itself.
//!
//! ao-rs SUs assign the process at nonce 0, so its own message (the boot: aos's `On-Boot`,
//! `Owner`, `Name` from the process tags) is evaluated like any other entry. Other schedules
//! start with an ordinary message: the reference SU without `ENABLE_PROCESS_ASSIGNMENT` (its
//! default), and every process spawned before aos's boot loader (aop-6). For those the CU
//! evaluates a message built from the process item first, as the reference CU does on a cold
//! start (`maybePrependProcessMessage`), then the schedule from nonce 0. That message has no
//! slot (no epoch, nonce or hash chain) and its result is not stored.
//!
//! The hash chain needs nothing special: without a process assignment the reference SU gives
//! nonce 0 `SHA-256(raw process id)`, the value `HashChain::for_new_process` expects of the
//! first link either way.

use ao_proto::common::v1 as pb;
use serde_json::{Map, Value, json};

use crate::message::tags_json;

/// Whether a cold start must evaluate the process message before `first`, the first entry of
/// the schedule (`None`: the schedule is empty).
///
/// The reference's rule: yes when the stream is empty, when its first message's `Type` tag is
/// not `Process`, or when it is a cron. Crons never come from an SU (the CU generates them and
/// they always follow the process's start), so here the rule is on the first scheduled entry.
/// A bare assignment (no item in the entry) is the process's own when it assigns the process
/// id itself.
pub fn needs_process_message(pid: &str, first: Option<&pb::ScheduledMessage>) -> bool {
    let Some(entry) = first else {
        return true;
    };
    match &entry.message {
        Some(item) => {
            let kind = item
                .tags
                .iter()
                .find(|t| t.name == "Type")
                .map(|t| t.value.as_str());
            kind != Some("Process")
        }
        None => entry.message_id.as_deref() != Some(pid),
    }
}

/// The message the process item makes on a cold start, in the key order of every other message
/// (`crate::message`): `Id` the process id, its signature, data, owner and anchor, `Target`
/// itself, `From` its `From-Process` tag or its owner (a process spawned by a process is signed
/// by the MU), its tags unchanged, the `Timestamp` and `Block-Height` of its assignment, no
/// `Epoch`, `Nonce` or `Hash-Chain`, `Cron` false.
pub fn process_message_json(record: &pb::ProcessRecord) -> Value {
    let owner = record
        .owner
        .as_ref()
        .map(|o| o.address.clone())
        .unwrap_or_default();
    let from = record
        .tags
        .iter()
        .find(|t| t.name == "From-Process")
        .map_or_else(|| owner.clone(), |t| t.value.clone());
    let anchor = record
        .anchor
        .as_deref()
        .and_then(|a| std::str::from_utf8(a).ok())
        .map_or(Value::Null, |s| Value::String(s.to_string()));
    let mut m = Map::new();
    m.insert("Id".into(), Value::String(record.process_id.clone()));
    m.insert("Signature".into(), Value::String(record.signature.clone()));
    m.insert(
        "Data".into(),
        Value::String(String::from_utf8_lossy(&record.data).into_owned()),
    );
    m.insert("Owner".into(), Value::String(owner));
    m.insert("Target".into(), Value::String(record.process_id.clone()));
    m.insert("Anchor".into(), anchor);
    m.insert("From".into(), Value::String(from));
    m.insert("Tags".into(), tags_json(&record.tags));
    m.insert("Timestamp".into(), json!(record.timestamp_ms));
    m.insert("Block-Height".into(), json!(record.block_height));
    m.insert("Cron".into(), Value::Bool(false));
    m.insert("Read-Only".into(), Value::Bool(false));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, value: &str) -> pb::Tag {
        pb::Tag {
            name: name.into(),
            value: value.into(),
        }
    }

    fn entry(item: Option<pb::DataItem>, message_id: Option<&str>) -> pb::ScheduledMessage {
        pb::ScheduledMessage {
            message: item,
            message_id: message_id.map(str::to_string),
            ..Default::default()
        }
    }

    fn item(id: &str, kind: &str) -> pb::DataItem {
        pb::DataItem {
            id: id.into(),
            tags: vec![tag("Type", kind)],
            ..Default::default()
        }
    }

    #[test]
    fn only_a_schedule_that_starts_with_the_process_needs_no_process_message() {
        assert!(!needs_process_message(
            "P",
            Some(&entry(Some(item("P", "Process")), None))
        ));
        assert!(needs_process_message("P", None), "an empty schedule");
        assert!(needs_process_message(
            "P",
            Some(&entry(Some(item("M", "Message")), None))
        ));
        assert!(needs_process_message(
            "P",
            Some(&entry(
                Some(pb::DataItem {
                    id: "M".into(),
                    ..Default::default()
                }),
                None
            ))
        ));
        assert!(!needs_process_message("P", Some(&entry(None, Some("P")))));
        assert!(needs_process_message("P", Some(&entry(None, Some("T")))));
    }

    #[test]
    fn the_process_message_is_the_process_item_with_no_slot() {
        let record = pb::ProcessRecord {
            process_id: "P".into(),
            block_height: 7,
            timestamp_ms: 1_700_000_000_000,
            owner: Some(pb::Owner {
                address: "MU".into(),
                key: "K".into(),
            }),
            tags: vec![tag("Type", "Process"), tag("From-Process", "PARENT")],
            data: b"boot".to_vec(),
            anchor: None,
            signature: "SIG".into(),
            target: None,
            assignment: None,
        };
        let m = process_message_json(&record);
        assert_eq!(m["Target"], "P");
        assert_eq!(m["From"], "PARENT");
        assert_eq!(m["Owner"], "MU");
        assert_eq!(m["Data"], "boot");
        assert_eq!(m["Tags"].as_array().map(Vec::len), Some(2));
        assert_eq!(m["Block-Height"], 7);
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
                "Tags",
                "Timestamp",
                "Block-Height",
                "Cron",
                "Read-Only"
            ]
        );
    }
}
