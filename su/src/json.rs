//! The AO JSON shapes of spec 2.3, field by field as the reference SU writes them, including its
//! quirks that clients depend on (sharp edges 5 and 6): message `data` as lossy UTF-8, a process's
//! `data` as `null` when not UTF-8, anchors as UTF-8 or `null` (b64url with `show-anchor`),
//! assignment `target` as `""`, a process record's `target` as `null`, heights 12 digits.

use ao_core::DataItem;
use ao_core::encoding::b64url;
use serde_json::{Value, json};

use crate::store::{Entry, StoredProcess};

fn owner(item: &DataItem) -> Value {
    json!({ "address": item.owner_address(), "key": b64url(item.owner()) })
}

fn tags(item: &DataItem) -> Value {
    Value::Array(
        item.tags()
            .iter()
            .map(|t| json!({ "name": t.name, "value": t.value }))
            .collect(),
    )
}

fn anchor(item: &DataItem, show_anchor: bool) -> Value {
    match item.anchor() {
        None => Value::Null,
        Some(raw) => match std::str::from_utf8(raw) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) if show_anchor => Value::String(b64url(raw)),
            Err(_) => Value::Null,
        },
    }
}

/// The `message` object of a schedule entry. The process's own entry renders like a process
/// (`data` null when not UTF-8, `target` null when absent); a message has lossy data and `""`
/// for no target.
fn message(item: &DataItem, is_process: bool, show_anchor: bool) -> Value {
    let (data, target) = if is_process {
        (
            std::str::from_utf8(item.data()).map_or(Value::Null, |s| Value::String(s.to_string())),
            item.target_id().map_or(Value::Null, Value::String),
        )
    } else {
        (
            Value::String(String::from_utf8_lossy(item.data()).into_owned()),
            Value::String(item.target_id().unwrap_or_default()),
        )
    };
    json!({
        "id": item.id(),
        "owner": owner(item),
        "data": data,
        "tags": tags(item),
        "signature": b64url(item.signature()),
        "anchor": anchor(item, show_anchor),
        "target": target,
    })
}

/// One schedule entry: `{"message": ..., "assignment": ...}` (`message` null for a bare assignment).
pub fn entry(e: &Entry, show_anchor: bool) -> Value {
    let a = e.assignment.item();
    let is_process = e.assignment.is_process_assignment();
    json!({
        "message": e.message.as_ref().map_or(Value::Null, |m| message(m, is_process, show_anchor)),
        "assignment": {
            "id": a.id(),
            "owner": owner(a),
            "tags": tags(a),
            "signature": b64url(a.signature()),
            "anchor": anchor(a, show_anchor),
            "target": a.target_id().unwrap_or_default(),
        }
    })
}

/// An edge of a `PaginatedMessages` page; the cursor is the entry's timestamp (timestamp mode) or
/// nonce (nonce mode), as a string.
pub fn edge(e: &Entry, nonce_mode: bool, show_anchor: bool) -> Value {
    let cursor = if nonce_mode {
        e.assignment.nonce().to_string()
    } else {
        e.assignment.timestamp().to_string()
    };
    json!({ "node": entry(e, show_anchor), "cursor": cursor })
}

/// A 12-digit zero-padded height, as the SU writes `Block-Height` and `block`.
pub fn height(h: u64) -> String {
    format!("{h:012}")
}

/// `GET /processes/{pid}`.
pub fn process(p: &StoredProcess) -> Value {
    let item = p.process.item();
    json!({
        "process_id": item.id(),
        "block": height(p.block_height),
        "timestamp": p.timestamp,
        "owner": owner(item),
        "tags": tags(item),
        "data": std::str::from_utf8(item.data()).map_or(Value::Null, |s| Value::String(s.to_string())),
        "anchor": anchor(item, false),
        "signature": b64url(item.signature()),
        "target": item.target_id().map_or(Value::Null, Value::String),
    })
}
