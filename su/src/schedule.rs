//! The scheduling rules, as pure functions on plain values: what an incoming item is, whether this
//! SU takes it, and which slot (epoch, nonce, timestamp, hash chain) it gets. Everything the SU
//! promises about order is decided here; `writer.rs` only applies it under a per-process lock and
//! `store.rs` only makes it durable.
//!
//! The rules (spec 1.3, with the fixes the spec recommends):
//! - Nonces are contiguous per process from 0. With process assignments on (AOP-6, our default) the
//!   process itself takes nonce 0 and its first message nonce 1.
//! - The first hash chain is `SHA-256(raw(process id))`; each later one is
//!   `SHA-256(raw(previous assignment id) ‖ raw(previous hash chain))`.
//! - Timestamps are **strictly increasing per process**: `max(previous + 1, now)`. The reference
//!   uses raw wall-clock time, so two messages in one millisecond share a timestamp and a CU paging
//!   by timestamp can skip or mix them (sharp edge 3); ours never repeat, so a timestamp names
//!   exactly one slot and timestamp order equals nonce order.

use std::cmp::max;

use ao_core::ao::{AssignmentBuilder, Message, Process, next_hash_chain, tag, type_of, value};
use ao_core::deephash::{DeepHash, ListHasher};
use ao_core::encoding::decode_id;
use ao_core::{DataItem, Tag, TagsExt};
use bytes::Bytes;

use crate::error::{Result, SuError};

/// The newest slot of a process: all the next slot is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Epoch of the newest entry.
    pub epoch: u64,
    /// Nonce of the newest entry.
    pub nonce: u64,
    /// Timestamp (ms) of the newest entry.
    pub timestamp: u64,
    /// Hash chain of the newest entry.
    pub hash_chain: [u8; 32],
    /// Id of the newest entry's assignment: the next link hashes it.
    pub assignment_id: [u8; 32],
}

/// The place a new entry takes in its process's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Epoch (always 0: AO never started a second epoch).
    pub epoch: u64,
    /// Nonce: one more than the tip's, or 0 for the first entry.
    pub nonce: u64,
    /// Timestamp in ms, strictly greater than the tip's.
    pub timestamp: u64,
    /// Hash chain value of this slot.
    pub hash_chain: [u8; 32],
}

/// The slot after `tip` (or the first slot of `process_id` when it has no entry yet), at wall-clock
/// time `now_ms`.
pub fn next_slot(process_id: &[u8; 32], tip: Option<&Tip>, now_ms: u64) -> Slot {
    match tip {
        None => Slot {
            epoch: 0,
            nonce: 0,
            timestamp: now_ms,
            hash_chain: next_hash_chain(None, process_id),
        },
        Some(tip) => Slot {
            epoch: tip.epoch,
            nonce: tip.nonce + 1,
            timestamp: max(tip.timestamp + 1, now_ms),
            hash_chain: next_hash_chain(Some(&tip.assignment_id), &tip.hash_chain),
        },
    }
}

impl Slot {
    /// The unsigned assignment of this slot (tags in the reference's exact order), with a random
    /// anchor so that two assignments never share an id.
    pub fn assignment(
        &self,
        process_id: [u8; 32],
        block_height: u64,
        message: Option<[u8; 32]>,
        exclude: Vec<String>,
        anchor: [u8; 32],
    ) -> AssignmentBuilder {
        AssignmentBuilder {
            process: process_id,
            epoch: self.epoch,
            nonce: self.nonce,
            hash_chain: self.hash_chain,
            block_height,
            timestamp: self.timestamp,
            message,
            exclude,
            anchor: Some(anchor),
        }
    }

    /// The tip once this slot is taken by the assignment `assignment_id`.
    pub fn tip(&self, assignment_id: [u8; 32]) -> Tip {
        Tip {
            epoch: self.epoch,
            nonce: self.nonce,
            timestamp: self.timestamp,
            hash_chain: self.hash_chain,
            assignment_id,
        }
    }
}

/// A `POST /` body, checked: what it is and which process it is for.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A new process (its id is the process id).
    Process(Process),
    /// A message for the process in its target.
    Message(Message),
}

impl Incoming {
    /// The process this item is scheduled on.
    pub fn process_raw(&self) -> [u8; 32] {
        match self {
            Incoming::Process(p) => p.raw_id(),
            Incoming::Message(m) => m.process_raw(),
        }
    }

    /// The item itself.
    pub fn item(&self) -> &DataItem {
        match self {
            Incoming::Process(p) => p.item(),
            Incoming::Message(m) => m.item(),
        }
    }
}

/// Parse, verify and classify a `POST /` body: a signed item whose `Type` is `Process` or
/// `Message`, with the tags spec 2.4 requires (checked by `ao-core`'s views: `Data-Protocol`,
/// `Module` and `Scheduler` for a process, a target for a message, no `+link`).
pub fn classify(body: Bytes, max_item_size: usize) -> Result<Incoming> {
    if body.len() > max_item_size {
        return Err(SuError::TooLarge {
            size: body.len(),
            max: max_item_size,
        });
    }
    if body.is_empty() {
        return Err(SuError::BadItem(
            "empty body: POST / takes a signed ANS-104 data item".into(),
        ));
    }
    let item =
        DataItem::parse(body).map_err(|e| SuError::BadItem(format!("malformed item: {e}")))?;
    item.verify()
        .map_err(|e| SuError::BadItem(format!("item {}: {e}", item.id())))?;
    match type_of(item.tags()) {
        Some(value::TYPE_PROCESS) => Process::new(item)
            .map(Incoming::Process)
            .map_err(|e| SuError::BadTag(e.to_string())),
        Some(value::TYPE_MESSAGE) => Message::new(item)
            .map(Incoming::Message)
            .map_err(|e| SuError::BadTag(e.to_string())),
        Some(other) => Err(SuError::BadTag(format!(
            "tag \"Type\" = {other:?}: the SU schedules only Process and Message items"
        ))),
        None => Err(SuError::BadTag("missing required tag \"Type\"".into())),
    }
}

/// The dedupe hash of a pushed message (one with `From-Process`), or `None` for any other item.
///
/// Spec 1.4: the deep hash of `["dataitem", "1", "1", <empty owner>, target, anchor, tags', data]`
/// where `tags'` is the Avro tag block without `Pushed-For`, sorted by (name, value). Two pushes of
/// the same outbox message by different MUs (or one MU after a crash, with a new signature) carry
/// the same hash, so the second is refused.
pub fn dedupe_hash(item: &DataItem) -> Option<DeepHash> {
    item.tags().tag_value(tag::FROM_PROCESS)?;
    let mut tags: Vec<Tag> = item
        .tags()
        .iter()
        .filter(|t| t.name != tag::PUSHED_FOR)
        .cloned()
        .collect();
    tags.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    // The tags came out of a parsed item, so they are within ANS-104's limits and encode; an empty
    // block is what encoding no tags gives.
    let block = ao_core::tags::encode(&tags).unwrap_or_default();
    let target = item.target().map(|t| t.as_slice()).unwrap_or(&[]);
    let anchor = item.anchor().map(|a| a.as_slice()).unwrap_or(&[]);
    Some(
        ListHasher::new(8)
            .blob(b"dataitem")
            .blob(b"1")
            .blob(b"1")
            .blob(&[])
            .blob(target)
            .blob(anchor)
            .blob(&block)
            .blob(item.data())
            .finish(),
    )
}

/// The `assign` query parameter as a raw id (spec 2.4: it must be 43 characters).
pub fn assign_id(assign: &str) -> Result<[u8; 32]> {
    if assign.len() != 43 {
        return Err(SuError::BadRequest(format!(
            "assign param must be 43 characters, got {}",
            assign.len()
        )));
    }
    decode_id("assign", assign).map_err(|e| SuError::BadRequest(e.to_string()))
}

/// The `exclude` query parameter (`a,b`): one `Exclude` tag per non-empty value (AOP-1).
pub fn parse_exclude(exclude: Option<&str>) -> Vec<String> {
    exclude
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Whether a process names this SU in its `Scheduler` tag.
pub fn belongs_here(process: &Process, our_address: &str) -> bool {
    process.scheduler() == our_address
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_core::encoding::{b64url, sha256};
    use proptest::prelude::*;

    const PID: [u8; 32] = [7; 32];

    #[test]
    fn first_slot_hashes_the_process_id() {
        let slot = next_slot(&PID, None, 1_000);
        assert_eq!(slot.nonce, 0);
        assert_eq!(slot.epoch, 0);
        assert_eq!(slot.timestamp, 1_000);
        assert_eq!(slot.hash_chain, sha256(PID));
    }

    // Computed by hand from spec 1.3 with python3:
    // h0 = sha256(bytes([7]*32)); h1 = sha256(bytes([9]*32) + h0)
    #[test]
    fn next_link_hashes_previous_assignment_then_previous_chain() {
        let h0 = next_slot(&PID, None, 5).hash_chain;
        assert_eq!(b64url(h0), "S7Bvjk46dxXSAdVz0KpCN2LlXavWGiwCJ4-lbMbSlOA");
        let tip = Tip {
            epoch: 0,
            nonce: 0,
            timestamp: 5,
            hash_chain: h0,
            assignment_id: [9; 32],
        };
        let slot = next_slot(&PID, Some(&tip), 5);
        let mut both = [9u8; 64].to_vec();
        both[32..].copy_from_slice(&h0);
        assert_eq!(slot.hash_chain, sha256(&both));
        assert_eq!(
            b64url(slot.hash_chain),
            "RwG3Jd7cs3bZbkmEfGI0cbvd9KbkyEPHAP2W5n63toI"
        );
        assert_eq!(slot.nonce, 1);
    }

    #[test]
    fn timestamps_strictly_increase_even_when_the_clock_stalls_or_goes_back() {
        let tip = next_slot(&PID, None, 1_000).tip([1; 32]);
        assert_eq!(next_slot(&PID, Some(&tip), 1_000).timestamp, 1_001);
        assert_eq!(next_slot(&PID, Some(&tip), 900).timestamp, 1_001);
        assert_eq!(next_slot(&PID, Some(&tip), 2_000).timestamp, 2_000);
    }

    #[test]
    fn exclude_and_assign_params() {
        assert_eq!(
            parse_exclude(Some("Data, Anchor,,")),
            vec!["Data", "Anchor"]
        );
        assert!(parse_exclude(None).is_empty());
        assert!(assign_id("short").is_err());
        assert!(assign_id(&b64url([3u8; 32])).is_ok());
    }

    proptest! {
        // Any number of writers on any number of processes, interleaved in any order, with any
        // clock: each process's nonces are 0..n, its timestamps strictly increase, and its chain
        // verifies link by link from the process id.
        #[test]
        fn interleaved_writers_give_contiguous_nonces_and_valid_chains(
            ops in proptest::collection::vec((0usize..4, 0u64..50, any::<[u8; 32]>()), 1..200)
        ) {
            let pids: Vec<[u8; 32]> = (0..4u8).map(|i| [i; 32]).collect();
            let mut tips: Vec<Option<Tip>> = vec![None; 4];
            let mut chains: Vec<Vec<([u8; 32], [u8; 32])>> = vec![Vec::new(); 4];
            let mut now = 1_000u64;
            for (p, jitter, assignment_id) in ops {
                now = now + jitter - 25.min(now);
                let slot = next_slot(&pids[p], tips[p].as_ref(), now);
                if let Some(tip) = tips[p] {
                    prop_assert_eq!(slot.nonce, tip.nonce + 1);
                    prop_assert!(slot.timestamp > tip.timestamp);
                } else {
                    prop_assert_eq!(slot.nonce, 0);
                }
                chains[p].push((assignment_id, slot.hash_chain));
                tips[p] = Some(slot.tip(assignment_id));
            }
            for (p, links) in chains.iter().enumerate() {
                let start = ao_core::ao::HashChain::for_new_process(&pids[p]);
                prop_assert!(ao_core::ao::verify_chain(start, links.iter().map(|(a, h)| (a, h))).is_ok());
            }
        }
    }
}
