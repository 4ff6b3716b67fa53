//! A checkpoint: a CU's snapshot of a process's wasm memory after some evaluation, uploaded to
//! Arweave so that any CU can start from it instead of replaying the whole log.
//!
//! The data is the gzip of the memory and `SHA-256` is the hex digest of the memory *before*
//! compression: a CU gunzips, hashes and compares before trusting a snapshot (spec 4.9). This crate
//! does no compression (it has no I/O and no gzip dependency): the builder takes the gzip bytes and
//! the digest from the caller.
//!
//! The reference CU reads a checkpoint's position from `Process`, `Nonce`, `Timestamp`, `Module`,
//! `Block-Height` (all required here), and optionally `Ordinate`, `Assignment`, `Hash-Chain`,
//! `Epoch` and `Cron-Interval`; `Content-Encoding` tells it whether to gunzip.

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::encoding::b64url;
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::Tag;

use super::{read, tag, value};

const KIND: &str = value::TYPE_CHECKPOINT;

/// A data item checked to be a CU checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    item: DataItem,
    module: [u8; 32],
    process: [u8; 32],
    nonce: u64,
    timestamp: u64,
    block_height: u64,
    memory_sha256: [u8; 32],
    epoch: u64,
    assignment: Option<[u8; 32]>,
    hash_chain: Option<[u8; 32]>,
}

read::view_common!(Checkpoint);

impl Checkpoint {
    /// Check `item`'s tags and wrap it. The signature (the CU's) is not checked, nor is the data.
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_CHECKPOINT)?;
        let module = read::required_id(tags, KIND, tag::MODULE)?;
        let process = read::required_id(tags, KIND, tag::PROCESS)?;
        let nonce = read::required_decimal(tags, KIND, tag::NONCE)?;
        let timestamp = read::required_decimal(tags, KIND, tag::TIMESTAMP)?;
        let block_height = read::required_decimal(tags, KIND, tag::BLOCK_HEIGHT)?;
        let sha = read::required(tags, KIND, tag::SHA_256)?;
        let memory_sha256 = parse_sha256(sha)?;
        let epoch = read::optional_decimal(tags, KIND, tag::EPOCH)?.unwrap_or(0);
        read::optional_decimal(tags, KIND, tag::ORDINATE)?;
        let assignment = read::optional_id(tags, KIND, tag::ASSIGNMENT)?;
        let hash_chain = read::optional_id(tags, KIND, tag::HASH_CHAIN)?;
        Ok(Checkpoint {
            item,
            module,
            process,
            nonce,
            timestamp,
            block_height,
            memory_sha256,
            epoch,
            assignment,
            hash_chain,
        })
    }

    /// `Process`.
    pub fn process_id(&self) -> String {
        b64url(self.process)
    }

    /// The raw 32 bytes of `Process`.
    pub fn process_raw(&self) -> [u8; 32] {
        self.process
    }

    /// `Module`: the module the memory belongs to.
    pub fn module_id(&self) -> String {
        b64url(self.module)
    }

    /// The raw 32 bytes of `Module`.
    pub fn module_raw(&self) -> [u8; 32] {
        self.module
    }

    /// `Nonce`: the nonce of the last evaluated message, or the ordinate after a cron.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// `Ordinate`: the nonce of the last scheduled message, if written; else `Nonce`, as the
    /// reference CU reads it.
    pub fn ordinate(&self) -> u64 {
        self.item
            .tag(tag::ORDINATE)
            .and_then(|v| read::decimal(KIND, tag::ORDINATE, v).ok())
            .unwrap_or(self.nonce)
    }

    /// `Timestamp` of the last evaluation, Unix ms.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `Block-Height` of the last evaluation.
    pub fn block_height(&self) -> u64 {
        self.block_height
    }

    /// `Epoch`, 0 when absent (the CU only writes it when non-zero).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `SHA-256` of the uncompressed memory.
    pub fn memory_sha256(&self) -> [u8; 32] {
        self.memory_sha256
    }

    /// `Content-Encoding` (`gzip` for every checkpoint the reference writes).
    pub fn content_encoding(&self) -> Option<&str> {
        self.item.tag(tag::CONTENT_ENCODING)
    }

    /// Whether the data is gzip and must be gunzipped before use.
    pub fn is_gzip(&self) -> bool {
        self.content_encoding() == Some(value::GZIP)
    }

    /// `Unit-Identifier`: which CU boot made it.
    pub fn unit_identifier(&self) -> Option<&str> {
        self.item.tag(tag::UNIT_IDENTIFIER)
    }

    /// `Assignment`: the last assignment evaluated, for hash chain checks after a hot start.
    pub fn assignment_raw(&self) -> Option<[u8; 32]> {
        self.assignment
    }

    /// `Hash-Chain` of that assignment.
    pub fn hash_chain_raw(&self) -> Option<[u8; 32]> {
        self.hash_chain
    }

    /// `Cron-Interval`: the cron id, when the last evaluation was a cron message.
    pub fn cron(&self) -> Option<&str> {
        self.item.tag(tag::CRON_INTERVAL)
    }
}

fn parse_sha256(v: &str) -> Result<[u8; 32]> {
    let bad = || {
        Error::bad_tag(
            KIND,
            tag::SHA_256,
            v,
            "expected 64 hex digits of a SHA-256 digest",
        )
    };
    if v.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(v, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// The fields of a checkpoint to be signed, written in the reference CU's tag order:
/// `Data-Protocol`, `Variant`, `Type`, `Module`, `Process`, `Nonce`, `Timestamp`, `Block-Height`,
/// `Content-Type: application/octet-stream`, `SHA-256`, `Content-Encoding: gzip`,
/// `Unit-Identifier`, `Ordinate`, then `Assignment`, `Hash-Chain`, `Epoch` (only if non-zero),
/// `Cron-Interval` when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBuilder {
    /// The process's module (raw id).
    pub module: [u8; 32],
    /// The process (raw id).
    pub process: [u8; 32],
    /// Nonce of the last evaluated message; `None` after a cron message, which has none, and then
    /// `Nonce` is written as the ordinate, as the reference does.
    pub nonce: Option<u64>,
    /// Nonce of the last scheduled message.
    pub ordinate: u64,
    /// Unix ms of the last evaluation.
    pub timestamp: u64,
    /// Block height of the last evaluation.
    pub block_height: u64,
    /// SHA-256 of the memory before compression.
    pub memory_sha256: [u8; 32],
    /// Identifies the CU boot (the reference uses a random UUID per start).
    pub unit_identifier: String,
    /// The last assignment evaluated (raw id), if any.
    pub assignment: Option<[u8; 32]>,
    /// Its hash chain, if any.
    pub hash_chain: Option<[u8; 32]>,
    /// The epoch; written only when not 0.
    pub epoch: u64,
    /// The cron id (e.g. `0-10-minutes`), when the last evaluation was a cron message.
    pub cron: Option<String>,
    /// The gzip of the memory, made by the caller.
    pub gzip_memory: Vec<u8>,
}

impl CheckpointBuilder {
    /// The tags in the reference CU's order.
    pub fn build_tags(&self) -> Vec<Tag> {
        let mut tags = vec![
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::VARIANT, value::VARIANT_LEGACYNET),
            Tag::new(tag::TYPE, value::TYPE_CHECKPOINT),
            Tag::new(tag::MODULE, b64url(self.module)),
            Tag::new(tag::PROCESS, b64url(self.process)),
            Tag::new(tag::NONCE, self.nonce.unwrap_or(self.ordinate).to_string()),
            Tag::new(tag::TIMESTAMP, self.timestamp.to_string()),
            Tag::new(tag::BLOCK_HEIGHT, self.block_height.to_string()),
            Tag::new(tag::CONTENT_TYPE, value::OCTET_STREAM),
            Tag::new(tag::SHA_256, hex::encode(self.memory_sha256)),
            Tag::new(tag::CONTENT_ENCODING, value::GZIP),
            Tag::new(tag::UNIT_IDENTIFIER, self.unit_identifier.as_str()),
            Tag::new(tag::ORDINATE, self.ordinate.to_string()),
        ];
        if let Some(a) = self.assignment {
            tags.push(Tag::new(tag::ASSIGNMENT, b64url(a)));
        }
        if let Some(h) = self.hash_chain {
            tags.push(Tag::new(tag::HASH_CHAIN, b64url(h)));
        }
        if self.epoch != 0 {
            tags.push(Tag::new(tag::EPOCH, self.epoch.to_string()));
        }
        if let Some(cron) = &self.cron {
            tags.push(Tag::new(tag::CRON_INTERVAL, cron.as_str()));
        }
        tags
    }

    /// The unsigned item, for a caller that signs elsewhere.
    pub fn to_item_builder(&self) -> DataItemBuilder {
        DataItemBuilder::new()
            .tags(self.build_tags())
            .data(self.gzip_memory.clone())
    }

    /// Sign (with the CU's key) and return the checkpoint.
    pub fn sign(&self, signer: &dyn Signer) -> Result<Checkpoint> {
        Checkpoint::new(self.to_item_builder().sign(signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::sha256;
    use crate::wallet::Ed25519Wallet;

    fn builder() -> CheckpointBuilder {
        CheckpointBuilder {
            module: [1; 32],
            process: [2; 32],
            nonce: None,
            ordinate: 41,
            timestamp: 1_735_689_600_000,
            block_height: 1_500_000,
            memory_sha256: sha256(b"memory"),
            unit_identifier: "cu-boot-1".into(),
            assignment: Some([3; 32]),
            hash_chain: Some([4; 32]),
            epoch: 0,
            cron: Some("0-10-minutes".into()),
            gzip_memory: vec![0x1f, 0x8b],
        }
    }

    #[test]
    fn builder_order_and_round_trip() {
        let w = Ed25519Wallet::generate();
        let c = builder().sign(&w).expect("signed");
        let names: Vec<&str> = c.item().tags().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Data-Protocol",
                "Variant",
                "Type",
                "Module",
                "Process",
                "Nonce",
                "Timestamp",
                "Block-Height",
                "Content-Type",
                "SHA-256",
                "Content-Encoding",
                "Unit-Identifier",
                "Ordinate",
                "Assignment",
                "Hash-Chain",
                "Cron-Interval"
            ]
        );
        assert_eq!(
            c.nonce(),
            41,
            "a cron checkpoint writes the ordinate as Nonce"
        );
        assert_eq!(c.ordinate(), 41);
        assert_eq!(c.memory_sha256(), sha256(b"memory"));
        assert!(c.is_gzip());
        assert_eq!(c.cron(), Some("0-10-minutes"));
        assert_eq!(c.epoch(), 0);
        assert_eq!(c.item().data(), [0x1f, 0x8b]);
    }

    #[test]
    fn sha_must_be_64_hex_digits() {
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(63)] {
            assert!(
                matches!(parse_sha256(bad), Err(Error::BadTag { ref tag, .. }) if tag == "SHA-256"),
                "{bad:?}"
            );
        }
        assert_eq!(parse_sha256(&"AB".repeat(32)).ok(), Some([0xab; 32]));
    }
}
