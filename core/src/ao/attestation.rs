//! An attestation: a CU's signed statement of what evaluating one message of a process gave.
//!
//! Why it exists: a CU's answer is otherwise unsigned, so nobody can hold a CU to it. Signed, an
//! answer can be checked by anyone with the CU's address, compared with other CUs' answers, and,
//! when two answers of one CU for the same message disagree, used as proof against it (the
//! unit registry slashes on it).
//!
//! An attestation is an ANS-104 item signed by the CU's wallet, with no data and these tags, in
//! this order: `Data-Protocol: ao`, `Variant: ao.TN.1`, `Type: Attestation`, `Process`,
//! `Message`, `Nonce`, `Timestamp`, `Hash-Chain` (the SU's, at that nonce), `Result-SHA-256`,
//! `Memory-SHA-256` (of the process's memory right after the message), `Module`.
//!
//! `Result-SHA-256` is the lower-case hex SHA-256 of [`canonical_result`]: the result JSON cut to
//! `Output`, `Messages`, `Spawns`, `Assignments` and `Error` (those present), in RFC 8785 form
//! ([`crate::canonical_json`]). `GasUsed` and anything else a CU adds is left out: it describes
//! the CU's run, not the process.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::dataitem::{DataItem, DataItemBuilder};
use crate::encoding::b64url;
use crate::error::{Error, Result};
use crate::signature::Signer;
use crate::tags::Tag;

use super::{read, tag, value};

const KIND: &str = value::TYPE_ATTESTATION;

/// The result fields an attestation covers, in the order the AO result JSON lists them.
pub const RESULT_FIELDS: [&str; 5] = ["Output", "Messages", "Spawns", "Assignments", "Error"];

/// The bytes `Result-SHA-256` hashes: `result` cut to [`RESULT_FIELDS`], RFC 8785 canonical.
pub fn canonical_result(result: &Value) -> Vec<u8> {
    let mut cut = Map::new();
    for name in RESULT_FIELDS {
        if let Some(v) = result.get(name) {
            cut.insert(name.to_string(), v.clone());
        }
    }
    crate::canonical_json::to_vec(&Value::Object(cut))
}

/// `Result-SHA-256` of `result`.
pub fn result_sha256(result: &Value) -> [u8; 32] {
    Sha256::digest(canonical_result(result)).into()
}

/// A data item checked to be an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    item: DataItem,
    process: [u8; 32],
    message: [u8; 32],
    nonce: u64,
    timestamp: u64,
    hash_chain: [u8; 32],
    result_sha256: [u8; 32],
    memory_sha256: [u8; 32],
    module: [u8; 32],
}

read::view_common!(Attestation);

impl Attestation {
    /// Check `item`'s tags and wrap it. The signature is not checked: see [`Attestation::verified`].
    pub fn new(item: DataItem) -> Result<Self> {
        let tags = item.tags();
        read::check_data_protocol(tags, KIND)?;
        read::check_type(tags, KIND, value::TYPE_ATTESTATION)?;
        Ok(Attestation {
            process: read::required_id(tags, KIND, tag::PROCESS)?,
            message: read::required_id(tags, KIND, tag::MESSAGE)?,
            nonce: read::required_decimal(tags, KIND, tag::NONCE)?,
            timestamp: read::required_decimal(tags, KIND, tag::TIMESTAMP)?,
            hash_chain: read::required_id(tags, KIND, tag::HASH_CHAIN)?,
            result_sha256: sha256_tag(tags, tag::RESULT_SHA_256)?,
            memory_sha256: sha256_tag(tags, tag::MEMORY_SHA_256)?,
            module: read::required_id(tags, KIND, tag::MODULE)?,
            item,
        })
    }

    /// [`Attestation::new`] after checking the item's signature: what anyone holding an
    /// attestation should call.
    pub fn verified(item: DataItem) -> Result<Self> {
        item.verify()?;
        Attestation::new(item)
    }

    /// The signer's address: the CU that attests.
    pub fn unit(&self) -> String {
        self.item.owner_address()
    }

    /// `Process`.
    pub fn process_id(&self) -> String {
        b64url(self.process)
    }

    /// The raw 32 bytes of `Process`.
    pub fn process_raw(&self) -> [u8; 32] {
        self.process
    }

    /// `Message`: the scheduled message (or bare assignment) evaluated.
    pub fn message_id(&self) -> String {
        b64url(self.message)
    }

    /// `Nonce`: its slot in the process's schedule.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// `Timestamp` of the message, Unix ms.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `Hash-Chain` at that nonce (the SU's), tying the attestation to one history.
    pub fn hash_chain_raw(&self) -> [u8; 32] {
        self.hash_chain
    }

    /// `Result-SHA-256`.
    pub fn result_sha256(&self) -> [u8; 32] {
        self.result_sha256
    }

    /// `Memory-SHA-256`: the process's memory after the message.
    pub fn memory_sha256(&self) -> [u8; 32] {
        self.memory_sha256
    }

    /// `Module`.
    pub fn module_id(&self) -> String {
        b64url(self.module)
    }

    /// Whether `result` is the one attested (its [`result_sha256`] matches).
    pub fn covers(&self, result: &Value) -> bool {
        result_sha256(result) == self.result_sha256
    }

    /// Whether `self` and `other` cannot both be true: the same unit, process, nonce and hash
    /// chain, and a different result or memory. Such a pair is a proof against that unit.
    pub fn contradicts(&self, other: &Attestation) -> bool {
        self.unit() == other.unit()
            && self.process == other.process
            && self.nonce == other.nonce
            && self.hash_chain == other.hash_chain
            && (self.result_sha256 != other.result_sha256
                || self.memory_sha256 != other.memory_sha256)
    }

    /// Whether `self` and `other`, by any units, attest the same result of the same message.
    pub fn agrees(&self, other: &Attestation) -> bool {
        self.process == other.process
            && self.nonce == other.nonce
            && self.hash_chain == other.hash_chain
            && self.result_sha256 == other.result_sha256
    }
}

fn sha256_tag(tags: &[Tag], name: &'static str) -> Result<[u8; 32]> {
    let v = read::required(tags, KIND, name)?;
    let mut out = [0u8; 32];
    if v.len() != 64 || hex::decode_to_slice(v, &mut out).is_err() {
        return Err(Error::bad_tag(
            KIND,
            name,
            v,
            "expected 64 lower-case hex digits of a SHA-256 digest",
        ));
    }
    Ok(out)
}

/// The fields of an attestation to be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationBuilder {
    /// The process (raw id).
    pub process: [u8; 32],
    /// The message evaluated (raw id).
    pub message: [u8; 32],
    /// Its nonce.
    pub nonce: u64,
    /// Its timestamp, Unix ms.
    pub timestamp: u64,
    /// The SU's hash chain at that nonce (raw).
    pub hash_chain: [u8; 32],
    /// [`result_sha256`] of the result.
    pub result_sha256: [u8; 32],
    /// SHA-256 of the memory after the message.
    pub memory_sha256: [u8; 32],
    /// The process's module (raw id).
    pub module: [u8; 32],
}

impl AttestationBuilder {
    /// The tags, in the order the module documentation gives.
    pub fn build_tags(&self) -> Vec<Tag> {
        vec![
            Tag::new(tag::DATA_PROTOCOL, value::AO),
            Tag::new(tag::VARIANT, value::VARIANT_LEGACYNET),
            Tag::new(tag::TYPE, value::TYPE_ATTESTATION),
            Tag::new(tag::PROCESS, b64url(self.process)),
            Tag::new(tag::MESSAGE, b64url(self.message)),
            Tag::new(tag::NONCE, self.nonce.to_string()),
            Tag::new(tag::TIMESTAMP, self.timestamp.to_string()),
            Tag::new(tag::HASH_CHAIN, b64url(self.hash_chain)),
            Tag::new(tag::RESULT_SHA_256, hex::encode(self.result_sha256)),
            Tag::new(tag::MEMORY_SHA_256, hex::encode(self.memory_sha256)),
            Tag::new(tag::MODULE, b64url(self.module)),
        ]
    }

    /// Sign with the CU's key.
    pub fn sign(&self, signer: &dyn Signer) -> Result<Attestation> {
        Attestation::new(
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
    use serde_json::json;

    fn builder() -> AttestationBuilder {
        AttestationBuilder {
            process: [1; 32],
            message: [2; 32],
            nonce: 7,
            timestamp: 1_700_000_000_000,
            hash_chain: [3; 32],
            result_sha256: result_sha256(&json!({"Output": "2", "Messages": []})),
            memory_sha256: [4; 32],
            module: [5; 32],
        }
    }

    #[test]
    fn the_canonical_result_keeps_only_the_attested_fields_sorted() {
        let r = json!({"GasUsed": 9, "Spawns": [], "Output": {"data": "x"}, "Messages": [],
            "Assignments": []});
        assert_eq!(
            String::from_utf8(canonical_result(&r)).expect("utf-8"),
            r#"{"Assignments":[],"Messages":[],"Output":{"data":"x"},"Spawns":[]}"#
        );
    }

    #[test]
    fn a_signed_attestation_verifies_and_reads_back() {
        let w = Wallet::generate(WalletKind::Ed25519).expect("wallet");
        let a = builder().sign(&w).expect("sign");
        let again =
            Attestation::verified(DataItem::parse(a.item().as_bytes().clone()).expect("parse"))
                .expect("verified");
        assert_eq!(again.unit(), w.address());
        assert_eq!(again.nonce(), 7);
        assert!(again.covers(&json!({"Messages": [], "Output": "2", "GasUsed": 1})));
        assert!(!again.covers(&json!({"Messages": [], "Output": "3"})));
        let names: Vec<&str> = again
            .item()
            .tags()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Data-Protocol",
                "Variant",
                "Type",
                "Process",
                "Message",
                "Nonce",
                "Timestamp",
                "Hash-Chain",
                "Result-SHA-256",
                "Memory-SHA-256",
                "Module"
            ]
        );
    }

    #[test]
    fn two_results_of_one_slot_by_one_unit_contradict() {
        let w = Wallet::generate(WalletKind::Ed25519).expect("wallet");
        let honest = builder().sign(&w).expect("sign");
        let mut other = builder();
        other.result_sha256 = [9; 32];
        let lie = other.sign(&w).expect("sign");
        assert!(honest.contradicts(&lie));
        assert!(!honest.agrees(&lie));
        let w2 = Wallet::generate(WalletKind::Ed25519).expect("wallet");
        let by_another = other.sign(&w2).expect("sign");
        assert!(
            !honest.contradicts(&by_another),
            "two units are not one liar"
        );
        let mut later = builder();
        later.nonce = 8;
        assert!(!honest.contradicts(&later.sign(&w).expect("sign")));
    }

    #[test]
    fn a_tampered_attestation_fails_verification() {
        let w = Wallet::generate(WalletKind::Ed25519).expect("wallet");
        let a = builder().sign(&w).expect("sign");
        let mut raw = a.item().as_bytes().to_vec();
        let n = raw.len();
        raw[n - 3] ^= 1;
        let parsed = DataItem::parse(raw);
        assert!(parsed.is_err() || Attestation::verified(parsed.expect("parsed")).is_err());
    }
}
