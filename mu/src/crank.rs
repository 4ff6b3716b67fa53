//! The crank's rules (spec 3.4) as pure functions: which work a CU result causes, and the exact
//! tags of every item the MU signs for it. No I/O here; `queue.rs` runs what these decide.
//!
//! - [`outbox`]: a result's Messages, Spawns and Assignments, in order, as [`Work`]; entries
//!   without `Target`/`Anchor` (messages) are dropped with the reason, as the reference drops them.
//! - [`pushed_message`]: the item for an outbox message: its tags minus the protocol ones, then
//!   `Data-Protocol`, `Type`, `From-Process`, `From-Module`, `Pushed-For`; data `" "` when empty.
//! - [`spawned_process`] and [`spawned_notice`]: the new Process item of a spawn and the `Spawned`
//!   message its parent receives.
//!
//! Every item is fully determined by its inputs, and the MU signs with ed25519 or secp256k1
//! (deterministic signatures), so re-signing after a crash gives the same id and the SU refuses
//! the copy.

use ao_core::Tag;
use ao_proto::common::v1 as pb;
use serde::{Deserialize, Serialize};

/// Data of an item whose outbox entry had none: the reference MU signs a single space.
pub const EMPTY_DATA: &str = " ";

/// One piece of work caused by a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Work {
    /// Push an outbox message (sign it, schedule it on the target's SU or upload it for a wallet).
    Push(Outgoing),
    /// Spawn a process for `parent`.
    Spawn(Outgoing),
    /// Assign an existing message to a process.
    Assign(AssignOrder),
    /// An outbox entry the MU does not push, and why.
    Dropped(String),
}

/// An outbox message or spawn as the module returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    /// `Target`.
    pub target: Option<String>,
    /// `Anchor` (aos: the 32-digit reference counter).
    pub anchor: Option<String>,
    /// `Tags` as (name, value).
    pub tags: Vec<(String, String)>,
    /// `Data`.
    pub data: Option<String>,
}

/// An assignment of `message` to `process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignOrder {
    /// Process receiving the message.
    pub process: String,
    /// Message (or L1 transaction) id.
    pub message: String,
    /// The message is an L1 transaction needing confirmations.
    pub base_layer: bool,
    /// AOP-1 excluded fields.
    pub exclude: Vec<String>,
}

fn pairs(tags: &[pb::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.name.clone(), t.value.clone()))
        .collect()
}

/// The work a result causes, in outbox order: Messages, then Spawns, then one assignment per
/// process of each Assignments entry.
pub fn outbox(result: &pb::EvalResult) -> Vec<Work> {
    let mut work = Vec::new();
    for m in &result.messages {
        let out = Outgoing {
            target: m.target.clone(),
            anchor: m.anchor.clone(),
            tags: pairs(&m.tags),
            data: m.data.clone(),
        };
        work.push(match (&out.target, &out.anchor) {
            (None, _) => Work::Dropped("an outbox message without Target".into()),
            (_, None) => Work::Dropped("an outbox message without Anchor".into()),
            (Some(t), _) if t.is_empty() => {
                Work::Dropped("an outbox message with an empty Target".into())
            }
            _ => Work::Push(out),
        });
    }
    for s in &result.spawns {
        work.push(Work::Spawn(Outgoing {
            target: s.target.clone(),
            anchor: s.anchor.clone(),
            tags: pairs(&s.tags),
            data: s.data.clone(),
        }));
    }
    for a in &result.assignments {
        for p in &a.processes {
            work.push(Work::Assign(AssignOrder {
                process: p.clone(),
                message: a.message.clone(),
                base_layer: a.base_layer.unwrap_or(false),
                exclude: a.exclude.clone(),
            }));
        }
    }
    work
}

fn tag(tags: &[(String, String)], name: &str) -> Option<String> {
    tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Why an outbox entry cannot become an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrankError {
    /// The anchor is not 32 bytes (ANS-104 anchors are exactly 32).
    #[error("Anchor {0:?} is not 32 bytes")]
    Anchor(String),
    /// A spawn without `Module`.
    #[error("a spawn without a Module tag")]
    NoModule,
    /// A target that is not a 43-character id.
    #[error("Target {0:?} is not an id")]
    Target(String),
}

/// The unsigned item of a pushed message, and the processes its `Assignments` tag names (the MU
/// assigns the new item to them, spec 3.4 step 3).
pub struct Pushed {
    /// Target id (raw).
    pub target: [u8; 32],
    /// Anchor bytes.
    pub anchor: [u8; 32],
    /// Tags in order.
    pub tags: Vec<Tag>,
    /// Data.
    pub data: Vec<u8>,
    /// Processes from an `Assignments` tag.
    pub assign_to: Vec<String>,
}

fn anchor32(anchor: &str) -> Result<[u8; 32], CrankError> {
    anchor
        .as_bytes()
        .try_into()
        .map_err(|_| CrankError::Anchor(anchor.to_string()))
}

fn id32(id: &str) -> Result<[u8; 32], CrankError> {
    ao_core::encoding::decode_id("target", id).map_err(|_| CrankError::Target(id.to_string()))
}

/// Spec 3.4 step 2: the outbox tags minus `Data-Protocol`, `Type`, `From-Process`,
/// `From-Module`, `Assignments`, then `Data-Protocol: ao`, `Type: Message`, `From-Process`,
/// `From-Module` (the sender's Module or `""`), `Pushed-For` (when the chain began with a user
/// message).
pub fn pushed_message(
    out: &Outgoing,
    from_process: &str,
    from_module: &str,
    pushed_for: Option<&str>,
) -> Result<Pushed, CrankError> {
    let target = id32(out.target.as_deref().unwrap_or_default())?;
    let anchor = anchor32(out.anchor.as_deref().unwrap_or_default())?;
    let dropped = [
        "Data-Protocol",
        "Type",
        "From-Process",
        "From-Module",
        "Assignments",
    ];
    let mut tags: Vec<Tag> = out
        .tags
        .iter()
        .filter(|(n, _)| !dropped.contains(&n.as_str()))
        .map(|(n, v)| Tag::new(n.as_str(), v.as_str()))
        .collect();
    tags.push(Tag::new("Data-Protocol", "ao"));
    tags.push(Tag::new("Type", "Message"));
    tags.push(Tag::new("From-Process", from_process));
    tags.push(Tag::new("From-Module", from_module));
    if let Some(p) = pushed_for {
        tags.push(Tag::new("Pushed-For", p));
    }
    let assign_to = tag(&out.tags, "Assignments")
        .map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(Pushed {
        target,
        anchor,
        tags,
        data: data_or_space(out.data.as_deref()),
        assign_to,
    })
}

fn data_or_space(data: Option<&str>) -> Vec<u8> {
    match data {
        Some(d) if !d.is_empty() => d.as_bytes().to_vec(),
        _ => EMPTY_DATA.as_bytes().to_vec(),
    }
}

/// The variant a spawn asks for: `ao.N.1` if it carries that, else `ao.TN.1`.
fn variant(out: &Outgoing) -> &'static str {
    if out
        .tags
        .iter()
        .any(|(n, v)| n == "Variant" && v == "ao.N.1")
    {
        "ao.N.1"
    } else {
        "ao.TN.1"
    }
}

/// Spec 3.4 SPAWN steps 1-4: the new Process item's tags and data (no target, no anchor). `From-
/// Module` is overwritten with the parent's Module; a missing `Scheduler` becomes the parent's SU.
pub fn spawned_process(
    out: &Outgoing,
    parent: &str,
    parent_module: &str,
    parent_scheduler: &str,
    pushed_for: Option<&str>,
) -> Result<(Vec<Tag>, Vec<u8>), CrankError> {
    if tag(&out.tags, "Module").is_none() {
        return Err(CrankError::NoModule);
    }
    let mut tags: Vec<Tag> = out
        .tags
        .iter()
        .filter(|(n, _)| n != "Data-Protocol" && n != "Type")
        .map(|(n, v)| {
            if n == "From-Module" {
                Tag::new(n.as_str(), parent_module)
            } else {
                Tag::new(n.as_str(), v.as_str())
            }
        })
        .collect();
    // The reference appends Variant even when the spawn has one (two Variant tags); we keep the
    // spawn's own and add one only when it has none.
    if !tags.iter().any(|t| t.name == "Variant") {
        tags.push(Tag::new("Variant", variant(out)));
    }
    tags.push(Tag::new("Data-Protocol", "ao"));
    tags.push(Tag::new("Type", "Process"));
    if !tags.iter().any(|t| t.name == "From-Process") {
        tags.push(Tag::new("From-Process", parent));
    }
    if let Some(p) = pushed_for {
        tags.push(Tag::new("Pushed-For", p));
    }
    if !tags.iter().any(|t| t.name == "Scheduler") {
        tags.push(Tag::new("Scheduler", parent_scheduler));
    }
    Ok((tags, data_or_space(out.data.as_deref())))
}

/// Spec 3.4 SPAWN step 6: the `Spawned` notice to the parent, as an [`Outgoing`] to push like any
/// outbox message (the push adds `From-Process` = parent, so aos sees `From` = parent). It keeps
/// the spawn's tags (`Reference`, `Module`, ...) so `Spawn(...).receive()` matches it.
pub fn spawned_notice(out: &Outgoing, parent: &str, new_pid: &str) -> Outgoing {
    let mut tags: Vec<(String, String)> = out
        .tags
        .iter()
        .filter(|(n, _)| {
            !["Data-Protocol", "Variant", "Type", "From-Process", "Action"].contains(&n.as_str())
        })
        .cloned()
        .collect();
    tags.push(("Process".into(), new_pid.into()));
    tags.push(("Action".into(), "Spawned".into()));
    tags.push(("Variant".into(), variant(out).into()));
    Outgoing {
        target: Some(parent.to_string()),
        // The spawn's anchor, so the notice is as reproducible as the spawn itself.
        anchor: out.anchor.clone(),
        tags,
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: &str, v: &str) -> pb::Tag {
        pb::Tag {
            name: n.into(),
            value: v.into(),
        }
    }

    const PID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const TARGET: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";

    #[test]
    fn outbox_keeps_order_and_drops_what_the_reference_drops() {
        let r = pb::EvalResult {
            messages: vec![
                pb::OutboxMessage {
                    target: Some(TARGET.into()),
                    anchor: Some("00000000000000000000000000000001".into()),
                    tags: vec![t("Action", "A")],
                    ..Default::default()
                },
                pb::OutboxMessage {
                    target: None,
                    anchor: Some("x".into()),
                    ..Default::default()
                },
            ],
            spawns: vec![pb::Spawn {
                tags: vec![t("Module", "M")],
                ..Default::default()
            }],
            assignments: vec![pb::AssignmentOrder {
                processes: vec!["P1".into(), "P2".into()],
                message: "M1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let w = outbox(&r);
        assert!(matches!(w[0], Work::Push(_)));
        assert!(matches!(&w[1], Work::Dropped(why) if why.contains("Target")));
        assert!(matches!(w[2], Work::Spawn(_)));
        assert!(matches!(&w[3], Work::Assign(a) if a.process == "P1"));
        assert!(matches!(&w[4], Work::Assign(a) if a.process == "P2"));
    }

    #[test]
    fn a_pushed_message_gets_the_spec_tags_in_order() {
        let out = Outgoing {
            target: Some(TARGET.into()),
            anchor: Some("00000000000000000000000000000007".into()),
            tags: vec![
                ("Data-Protocol".into(), "ao".into()),
                ("Variant".into(), "ao.TN.1".into()),
                ("Type".into(), "Message".into()),
                ("Reference".into(), "7".into()),
                ("Action".into(), "Ping".into()),
                ("From-Process".into(), "forged".into()),
                ("Assignments".into(), "P1, P2".into()),
            ],
            data: None,
        };
        let p = pushed_message(&out, PID, "MOD", Some("ROOT")).expect("pushed");
        let names: Vec<String> = p
            .tags
            .iter()
            .map(|t| format!("{}={}", t.name, t.value))
            .collect();
        assert_eq!(
            names,
            [
                "Variant=ao.TN.1",
                "Reference=7",
                "Action=Ping",
                "Data-Protocol=ao",
                "Type=Message",
                &format!("From-Process={PID}"),
                "From-Module=MOD",
                "Pushed-For=ROOT",
            ]
        );
        assert_eq!(p.data, b" ");
        assert_eq!(p.assign_to, ["P1", "P2"]);
        let bad = Outgoing {
            anchor: Some("short".into()),
            ..out
        };
        assert!(matches!(
            pushed_message(&bad, PID, "MOD", None),
            Err(CrankError::Anchor(_))
        ));
    }

    #[test]
    fn a_spawn_becomes_a_process_and_a_spawned_notice() {
        let out = Outgoing {
            target: None,
            anchor: Some("00000000000000000000000000000002".into()),
            tags: vec![
                ("Data-Protocol".into(), "ao".into()),
                ("Variant".into(), "ao.TN.1".into()),
                ("Type".into(), "Process".into()),
                ("From-Process".into(), PID.into()),
                ("From-Module".into(), "stale".into()),
                ("Module".into(), "CHILD".into()),
                ("Reference".into(), "2".into()),
            ],
            data: Some("boot".into()),
        };
        let (tags, data) = spawned_process(&out, PID, "PARENT-MOD", "SU", None).expect("spawn");
        let names: Vec<String> = tags
            .iter()
            .map(|t| format!("{}={}", t.name, t.value))
            .collect();
        assert_eq!(
            names,
            [
                "Variant=ao.TN.1",
                &format!("From-Process={PID}"),
                "From-Module=PARENT-MOD",
                "Module=CHILD",
                "Reference=2",
                "Data-Protocol=ao",
                "Type=Process",
                "Scheduler=SU",
            ]
        );
        assert_eq!(data, b"boot");
        let notice = spawned_notice(&out, PID, "NEWPID");
        assert_eq!(notice.target.as_deref(), Some(PID));
        assert!(notice.tags.contains(&("Action".into(), "Spawned".into())));
        assert!(notice.tags.contains(&("Process".into(), "NEWPID".into())));
        assert!(notice.tags.contains(&("Reference".into(), "2".into())));
        let no_module = Outgoing {
            tags: vec![],
            ..out
        };
        assert_eq!(
            spawned_process(&no_module, PID, "M", "SU", None).err(),
            Some(CrankError::NoModule)
        );
    }
}
