//! An assignment: the SU's signed statement that an item (a message, a process, or a foreign
//! transaction) holds slot `Nonce` in a process's log, at a time and block height, chained to the
//! slot before by `Hash-Chain`.
//!
//! Assignments are what the CU orders evaluation by, so the view reads every field the CU needs and
//! the builder writes the tags in exactly the order of the reference SU (spec 1.2): a CU or tool that
//! compares raw tag blocks, or a test that compares with the reference's output, sees the same bytes.

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::encoding::b64url;
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::{Tag, TagsExt};

use super::{read, tag, value};

const KIND: &str = value::TYPE_ASSIGNMENT;

/// Digits the SU pads `Block-Height` to.
pub const BLOCK_HEIGHT_DIGITS: usize = 12;

/// A data item checked to be an AO assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    item: DataItem,
    process: [u8; 32],
    epoch: u64,
    nonce: u64,
    hash_chain: [u8; 32],
    block_height: u64,
    timestamp: u64,
    message: Option<[u8; 32]>,
    exclude: Vec<String>,
}

read::view_common!(Assignment);

impl Assignment {
    /// Check `item`'s tags and wrap it. The signature (the SU's) is not checked.
    ///
    /// Required: `Process` and `Hash-Chain` (ids), `Epoch`, `Nonce`, `Block-Height`, `Timestamp`
    /// (decimals; `Block-Height` may or may not be zero-padded), `Data-Protocol: ao`,
    /// `Type: Assignment`. Optional: `Message` (absent on a process's own assignment), `Variant`,
    /// and any number of `Exclude`.
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_ASSIGNMENT)?;
        let process = read::required_id(tags, KIND, tag::PROCESS)?;
        let epoch = read::required_decimal(tags, KIND, tag::EPOCH)?;
        let nonce = read::required_decimal(tags, KIND, tag::NONCE)?;
        let hash_chain = read::required_id(tags, KIND, tag::HASH_CHAIN)?;
        let block_height = read::required_decimal(tags, KIND, tag::BLOCK_HEIGHT)?;
        let timestamp = read::required_decimal(tags, KIND, tag::TIMESTAMP)?;
        let message = read::optional_id(tags, KIND, tag::MESSAGE)?;
        // Always a list, even with one value: the reference CU's tag parser turns a single
        // `Exclude` into a string and breaks (spec 7.14).
        let exclude = tags.tag_values(tag::EXCLUDE).map(str::to_owned).collect();
        Ok(Assignment {
            item,
            process,
            epoch,
            nonce,
            hash_chain,
            block_height,
            timestamp,
            message,
            exclude,
        })
    }

    /// `Process`: the process whose log this slot belongs to.
    pub fn process_id(&self) -> String {
        b64url(self.process)
    }

    /// The raw 32 bytes of `Process`.
    pub fn process_raw(&self) -> [u8; 32] {
        self.process
    }

    /// `Epoch` (always 0 in practice).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `Nonce`: the slot.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// `Hash-Chain` as base64url.
    pub fn hash_chain(&self) -> String {
        b64url(self.hash_chain)
    }

    /// The raw 32 bytes of `Hash-Chain`.
    pub fn hash_chain_raw(&self) -> [u8; 32] {
        self.hash_chain
    }

    /// `Block-Height`, padding removed.
    pub fn block_height(&self) -> u64 {
        self.block_height
    }

    /// `Timestamp`, Unix ms.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `Message`: the assigned item, absent when this is the process's own assignment.
    pub fn message_id(&self) -> Option<String> {
        self.message.map(b64url)
    }

    /// The raw 32 bytes of `Message`.
    pub fn message_raw(&self) -> Option<[u8; 32]> {
        self.message
    }

    /// Whether this assigns the process itself (no `Message`; the AOP-6 boot slot).
    pub fn is_process_assignment(&self) -> bool {
        self.message.is_none()
    }

    /// `Exclude` values: fields of an assigned transaction the CU must not load.
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }

    /// `Variant`, if present.
    pub fn variant(&self) -> Option<&str> {
        self.item.tag(tag::VARIANT)
    }
}

/// The fields of an assignment to be signed. Fill it in, then [`AssignmentBuilder::sign`].
///
/// Named fields rather than a long positional constructor: `nonce`, `timestamp` and `block_height`
/// are all `u64`, and swapping two would still compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentBuilder {
    /// The process (raw id).
    pub process: [u8; 32],
    /// The epoch (0).
    pub epoch: u64,
    /// The slot.
    pub nonce: u64,
    /// This slot's hash chain value (see [`super::hashchain`]).
    pub hash_chain: [u8; 32],
    /// Current Arweave height; written zero-padded to 12 digits.
    pub block_height: u64,
    /// Unix ms.
    pub timestamp: u64,
    /// The assigned item (raw id); `None` for the process's own assignment.
    pub message: Option<[u8; 32]>,
    /// `Exclude` values, one tag each, in order.
    pub exclude: Vec<String>,
    /// The anchor; the SU uses 32 random bytes so that two assignments never share an id.
    pub anchor: Option<[u8; 32]>,
}

impl AssignmentBuilder {
    /// The tags in the reference SU's order: `Process`, `Epoch`, `Nonce`, `Hash-Chain`,
    /// `Block-Height`, `Timestamp`, `Data-Protocol`, `Type`, `Variant`, `Message`, `Exclude`….
    pub fn build_tags(&self) -> Result<Vec<Tag>> {
        if let Some(bad) = self.exclude.iter().find(|e| e.is_empty()) {
            return Err(Error::bad_tag(KIND, tag::EXCLUDE, bad, "must not be empty"));
        }
        let mut tags = vec![
            Tag::new(tag::PROCESS, b64url(self.process)),
            Tag::new(tag::EPOCH, self.epoch.to_string()),
            Tag::new(tag::NONCE, self.nonce.to_string()),
            Tag::new(tag::HASH_CHAIN, b64url(self.hash_chain)),
            Tag::new(
                tag::BLOCK_HEIGHT,
                format!("{:0width$}", self.block_height, width = BLOCK_HEIGHT_DIGITS),
            ),
            Tag::new(tag::TIMESTAMP, self.timestamp.to_string()),
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::TYPE, value::TYPE_ASSIGNMENT),
            Tag::new(tag::VARIANT, value::VARIANT_LEGACYNET),
        ];
        if let Some(message) = self.message {
            tags.push(Tag::new(tag::MESSAGE, b64url(message)));
        }
        tags.extend(
            self.exclude
                .iter()
                .map(|e| Tag::new(tag::EXCLUDE, e.as_str())),
        );
        Ok(tags)
    }

    /// The unsigned item (empty data, no target), for a caller that signs elsewhere.
    pub fn to_item_builder(&self) -> Result<DataItemBuilder> {
        let mut b = DataItemBuilder::new().tags(self.build_tags()?);
        if let Some(anchor) = self.anchor {
            b = b.anchor(anchor);
        }
        Ok(b)
    }

    /// Sign (with the SU's key) and return the assignment.
    pub fn sign(&self, signer: &dyn Signer) -> Result<Assignment> {
        Assignment::new(self.to_item_builder()?.sign(signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::Ed25519Wallet;

    fn builder() -> AssignmentBuilder {
        AssignmentBuilder {
            process: [1; 32],
            epoch: 0,
            nonce: 7,
            hash_chain: [2; 32],
            block_height: 1_500_000,
            timestamp: 1_735_689_600_000,
            message: Some([3; 32]),
            exclude: vec!["Data".into()],
            anchor: Some([4; 32]),
        }
    }

    #[test]
    fn tags_are_in_the_su_order_with_a_padded_height() {
        let tags = builder().build_tags().expect("tags");
        let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Process",
                "Epoch",
                "Nonce",
                "Hash-Chain",
                "Block-Height",
                "Timestamp",
                "Data-Protocol",
                "Type",
                "Variant",
                "Message",
                "Exclude"
            ]
        );
        assert_eq!(tags[4].value, "000001500000");
    }

    #[test]
    fn signed_assignments_read_back() {
        let w = Ed25519Wallet::generate();
        let a = builder().sign(&w).expect("signed");
        assert_eq!(a.process_raw(), [1; 32]);
        assert_eq!(a.nonce(), 7);
        assert_eq!(a.block_height(), 1_500_000);
        assert_eq!(a.message_raw(), Some([3; 32]));
        assert_eq!(a.exclude(), ["Data"]);
        assert!(a.item().data().is_empty() && a.item().target().is_none());
        let own = AssignmentBuilder {
            message: None,
            exclude: vec![],
            ..builder()
        }
        .sign(&w)
        .expect("signed");
        assert!(own.is_process_assignment());
        assert!(own.exclude().is_empty());
    }
}
