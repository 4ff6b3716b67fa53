//! A receipt: an MU's signed statement of what it received and what it forwarded.
//!
//! Why it exists: an MU stands behind the messages it passes (no forgery, no loss). A receipt
//! signed by the MU's wallet lets a user prove the MU took their message (`Received`), and lets
//! anyone hold it to each push it made from a process's outbox (`Forwarded`): the item it sent,
//! and a hash of the outbox entry it was made from, so a push that is not what the CU's result
//! asked for is the MU's own signed word against it.
//!
//! An item with no data and these tags, in this order: `Data-Protocol: ao`, `Variant: ao.TN.1`,
//! `Type: Receipt`, `Receipt` (`Received` or `Forwarded`), `Message` (the item received, or the
//! item forwarded), `Process` (its target; absent for a wallet), `Item-SHA-256` (hex SHA-256 of
//! that item's bytes), `Timestamp` (the MU's clock, Unix ms), then for `Forwarded` only:
//! `From-Process` (whose outbox), `Outbox-SHA-256` (hex SHA-256 of the outbox entry in RFC 8785
//! form, [`crate::canonical_json`]), and `Pushed-For` (the user message the chain began with)
//! when known.

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::{Tag, TagsExt};

use super::{read, tag, value};

const KIND: &str = value::TYPE_RECEIPT;

/// What a receipt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    /// The MU accepted a user's item (and its SU has it).
    Received,
    /// The MU pushed an item made from a process's outbox.
    Forwarded,
}

impl ReceiptKind {
    /// The `Receipt` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Received => "Received",
            ReceiptKind::Forwarded => "Forwarded",
        }
    }
}

/// A data item checked to be a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    item: DataItem,
    kind: ReceiptKind,
    message: [u8; 32],
    item_sha256: String,
}

read::view_common!(Receipt);

impl Receipt {
    /// Check `item`'s tags and wrap it (the signature is not checked: [`Receipt::verified`]).
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_RECEIPT)?;
        let kind = match read::required(tags, KIND, tag::RECEIPT)? {
            "Received" => ReceiptKind::Received,
            "Forwarded" => ReceiptKind::Forwarded,
            other => {
                return Err(Error::bad_tag(
                    KIND,
                    tag::RECEIPT,
                    other,
                    "expected Received or Forwarded",
                ));
            }
        };
        let message = read::required_id(tags, KIND, tag::MESSAGE)?;
        let item_sha256 = read::required(tags, KIND, tag::ITEM_SHA_256)?.to_string();
        read::required_decimal(tags, KIND, tag::TIMESTAMP)?;
        Ok(Receipt {
            item,
            kind,
            message,
            item_sha256,
        })
    }

    /// [`Receipt::new`] after checking the signature.
    pub fn verified(item: DataItem) -> Result<Self> {
        item.verify()?;
        Receipt::new(item)
    }

    /// The MU that signed it.
    pub fn unit(&self) -> String {
        self.item.owner_address()
    }

    /// Received or forwarded.
    pub fn kind(&self) -> ReceiptKind {
        self.kind
    }

    /// `Message`.
    pub fn message_id(&self) -> String {
        crate::encoding::b64url(self.message)
    }

    /// `Item-SHA-256`.
    pub fn item_sha256(&self) -> &str {
        &self.item_sha256
    }

    /// Any other tag (`Process`, `From-Process`, `Outbox-SHA-256`, `Pushed-For`, `Timestamp`).
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.item.tags().tag_value(name)
    }

    /// Whether this receipt states `bytes` as the item (its SHA-256).
    pub fn covers(&self, bytes: &[u8]) -> bool {
        hex::encode(crate::encoding::sha256(bytes)) == self.item_sha256
    }
}

/// The fields of a receipt to be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptBuilder {
    /// What it is for.
    pub kind: ReceiptKind,
    /// The item received or forwarded (its id).
    pub message: String,
    /// Its target process, if a process.
    pub process: Option<String>,
    /// The item's bytes, hashed into `Item-SHA-256`.
    pub item_sha256: [u8; 32],
    /// The MU's clock, Unix ms.
    pub timestamp: u64,
    /// For `Forwarded`: whose outbox.
    pub from_process: Option<String>,
    /// For `Forwarded`: SHA-256 of the outbox entry (RFC 8785 form).
    pub outbox_sha256: Option<[u8; 32]>,
    /// For `Forwarded`: the user message the chain began with.
    pub pushed_for: Option<String>,
}

impl ReceiptBuilder {
    /// The tags, in the order the module documentation gives.
    pub fn build_tags(&self) -> Vec<Tag> {
        let mut tags = vec![
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::VARIANT, value::VARIANT_LEGACYNET),
            Tag::new(tag::TYPE, value::TYPE_RECEIPT),
            Tag::new(tag::RECEIPT, self.kind.as_str()),
            Tag::new(tag::MESSAGE, self.message.as_str()),
        ];
        if let Some(p) = &self.process {
            tags.push(Tag::new(tag::PROCESS, p.as_str()));
        }
        tags.push(Tag::new(tag::ITEM_SHA_256, hex::encode(self.item_sha256)));
        tags.push(Tag::new(tag::TIMESTAMP, self.timestamp.to_string()));
        if let Some(f) = &self.from_process {
            tags.push(Tag::new(tag::FROM_PROCESS, f.as_str()));
        }
        if let Some(o) = self.outbox_sha256 {
            tags.push(Tag::new(tag::OUTBOX_SHA_256, hex::encode(o)));
        }
        if let Some(p) = &self.pushed_for {
            tags.push(Tag::new(tag::PUSHED_FOR, p.as_str()));
        }
        tags
    }

    /// Sign with the MU's key.
    pub fn sign(&self, signer: &dyn Signer) -> Result<Receipt> {
        Receipt::new(
            DataItemBuilder::new()
                .tags(self.build_tags())
                .sign(signer)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::{Wallet, WalletKind};

    #[test]
    fn a_receipt_signs_what_was_received_and_reads_back() {
        let w = Wallet::generate(WalletKind::Ed25519).expect("wallet");
        let received = b"the user's item";
        let r = ReceiptBuilder {
            kind: ReceiptKind::Forwarded,
            message: crate::encoding::b64url([7u8; 32]),
            process: Some(crate::encoding::b64url([8u8; 32])),
            item_sha256: crate::encoding::sha256(received),
            timestamp: 1_700_000_000_000,
            from_process: Some(crate::encoding::b64url([9u8; 32])),
            outbox_sha256: Some([1; 32]),
            pushed_for: None,
        }
        .sign(&w)
        .expect("sign");
        let again = Receipt::verified(DataItem::parse(r.item().as_bytes().clone()).expect("parse"))
            .expect("verified");
        assert_eq!(again.unit(), w.address());
        assert_eq!(again.kind(), ReceiptKind::Forwarded);
        assert!(again.covers(received) && !again.covers(b"something else"));
        assert_eq!(
            again.tag("Outbox-SHA-256"),
            Some(hex::encode([1u8; 32]).as_str())
        );
    }
}
