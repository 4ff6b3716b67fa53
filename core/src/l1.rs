//! Arweave L1 transactions (format 2), as arweave-js 1.15.5 `Transaction` reads, hashes and verifies them.
//!
//! AO assignments may point at base-layer transactions instead of data items, so a unit has to check
//! them itself: the id is the SHA-256 of the signature, the signature is RSA-PSS over a deep hash of the
//! header fields, and the data is bound to that header only through `data_size` and `data_root`, the root
//! of Arweave's chunk Merkle tree. Everything here follows arweave-js byte for byte, since a transaction
//! that arweave-js accepts and we refuse (or the reverse) would split what units believe.
//!
//! Input is the JSON that arweave-js `toJSON()` writes and gateways serve at `/tx/{id}`: every binary
//! field base64url, numbers (`quantity`, `reward`, `data_size`) as decimal strings. Parsing decodes and
//! checks every field once, so a [`Transaction`] in hand is well formed and only its signature is left to
//! check with [`Transaction::verify`].

use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deephash::{Chunk, DeepHash, deep_hash};
use crate::encoding::{b64url, b64url_decode, decode_id, sha256};
use crate::error::{Error, Result, shown};
use crate::signature::{self, SignatureType};
use crate::tags::{Tag, TagsExt};

/// Largest chunk the Arweave chunk tree holds (arweave-js `MAX_CHUNK_SIZE`); data is cut into chunks of
/// this size, so it fixes every `data_root`.
pub const MAX_CHUNK_SIZE: usize = 256 * 1024;

/// Smallest chunk arweave-js leaves before the last one (`MIN_CHUNK_SIZE`): when a full chunk would
/// leave less than this, the last two chunks split the rest evenly instead, which changes `data_root`.
pub const MIN_CHUNK_SIZE: usize = 32 * 1024;

/// The only transaction format this module reads. Format 1 signs a different byte string and has no
/// chunk tree; AO never produces it.
pub const FORMAT: u64 = 2;

/// The byte ranges arweave-js `chunkData` cuts `len` bytes of data into, in order.
///
/// Exposed because uploading chunks and checking `data_path` proofs need the same boundaries as
/// [`data_root`]. Like arweave-js, data whose length is a multiple of [`MAX_CHUNK_SIZE`] (and empty
/// data) ends with one empty range: that empty chunk is a leaf of the tree and changes the root.
pub fn chunk_ranges(len: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::with_capacity(len / MAX_CHUNK_SIZE + 1);
    let mut cursor = 0;
    while len - cursor >= MAX_CHUNK_SIZE {
        let rest = len - cursor;
        let next = rest - MAX_CHUNK_SIZE;
        // A last chunk below MIN_CHUNK_SIZE would be cheap to forge proofs for, so arweave-js balances
        // the final two chunks instead.
        let size = if next > 0 && next < MIN_CHUNK_SIZE {
            rest.div_ceil(2)
        } else {
            MAX_CHUNK_SIZE
        };
        ranges.push(cursor..cursor + size);
        cursor += size;
    }
    ranges.push(cursor..len);
    ranges
}

/// The `data_root` of a transaction carrying `data`: the root of arweave-js's chunk Merkle tree, or
/// `None` for empty data.
///
/// `None` rather than a hash because a transaction without data has `data_root` `""`: arweave-js
/// `prepareChunks` special-cases empty data and never builds a tree for it (its `computeRootHash` would
/// return the hash of a single empty leaf, which no transaction carries).
pub fn data_root(data: &[u8]) -> Option<[u8; 32]> {
    if data.is_empty() {
        None
    } else {
        Some(merkle_root(data))
    }
}

/// A node of the chunk tree: all that is needed of it to build the layer above.
struct Node {
    id: [u8; 32],
    max_byte_range: usize,
}

/// arweave-js `computeRootHash`: leaves over [`chunk_ranges`], then layers of branches until one node.
fn merkle_root(data: &[u8]) -> [u8; 32] {
    let mut layer: Vec<Node> = chunk_ranges(data.len())
        .into_iter()
        .map(|range| {
            let max_byte_range = range.end;
            let data_hash = sha256(&data[range]);
            Node {
                id: hash_pair(&[&sha256(data_hash), &sha256(note(max_byte_range))]),
                max_byte_range,
            }
        })
        .collect();
    while layer.len() > 1 {
        let mut next = Vec::with_capacity(layer.len().div_ceil(2));
        let mut nodes = layer.into_iter();
        while let Some(left) = nodes.next() {
            // A lone node at the end of a layer is carried up unchanged, as arweave-js `hashBranch`
            // does when it has no right child.
            let Some(right) = nodes.next() else {
                next.push(left);
                break;
            };
            next.push(Node {
                id: hash_pair(&[
                    &sha256(left.id),
                    &sha256(right.id),
                    &sha256(note(left.max_byte_range)),
                ]),
                max_byte_range: right.max_byte_range,
            });
        }
        layer = next;
    }
    // chunk_ranges always yields at least one range, so the loop ends with exactly one node.
    layer.first().map(|root| root.id).unwrap_or_default()
}

/// SHA-256 of the concatenation of some 32-byte hashes, without allocating the concatenation.
fn hash_pair(parts: &[&[u8; 32]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// arweave-js `intToBuffer`: an offset as a 32-byte big-endian integer, the "note" the tree hashes.
fn note(n: usize) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&(n as u64).to_be_bytes());
    out
}

/// One tag as the transaction JSON carries it: name and value base64url-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagJson {
    /// The tag's name, base64url.
    pub name: String,
    /// The tag's value, base64url.
    pub value: String,
}

/// A transaction exactly as arweave-js `toJSON()` writes it, fields undecoded.
///
/// The wire shape, kept apart from [`Transaction`] so that callers (and tests) can build or alter a
/// transaction's JSON field by field and then have it checked by one conversion. Fields that arweave-js
/// defaults when constructing a transaction default the same way here; `format`, `id`, `owner` and
/// `signature` are required because a transaction without them cannot be verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionJson {
    /// Transaction format; only 2 is accepted.
    pub format: u64,
    /// base64url of the SHA-256 of the signature.
    pub id: String,
    /// The anchor: a recent transaction id or block hash, base64url.
    #[serde(default)]
    pub last_tx: String,
    /// The signer's RSA modulus, base64url.
    pub owner: String,
    /// The tags, in signing order.
    #[serde(default)]
    pub tags: Vec<TagJson>,
    /// The wallet AR is sent to, base64url, or empty.
    #[serde(default)]
    pub target: String,
    /// Winston sent to `target`, decimal.
    #[serde(default = "zero")]
    pub quantity: String,
    /// The data, base64url; empty when the gateway only gives the header.
    #[serde(default)]
    pub data: String,
    /// Length of the data in bytes, decimal.
    #[serde(default = "zero")]
    pub data_size: String,
    /// The chunk tree root of the data, base64url, or empty when there is no data.
    #[serde(default)]
    pub data_root: String,
    /// Winston paid to miners, decimal.
    #[serde(default = "zero")]
    pub reward: String,
    /// RSA-PSS signature over [`Transaction::signature_data`], base64url.
    pub signature: String,
}

fn zero() -> String {
    "0".to_owned()
}

/// A format-2 Arweave L1 transaction whose fields have all been decoded and checked for shape.
///
/// Built from JSON by [`Transaction::from_json`] or serde (both run the same checks); its signature
/// is only checked by [`Transaction::verify`], so that a unit can show a transaction it then refuses.
/// Serialises back to the same `toJSON()` shape it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TransactionJson", into = "TransactionJson")]
pub struct Transaction {
    id: [u8; 32],
    last_tx: Vec<u8>,
    owner: Vec<u8>,
    raw_tags: Vec<(Vec<u8>, Vec<u8>)>,
    tags: Vec<Tag>,
    target: Option<[u8; 32]>,
    quantity: String,
    data: Vec<u8>,
    data_size: u64,
    data_root: Option<[u8; 32]>,
    reward: String,
    signature: Vec<u8>,
}

/// JSON types of the fields, checked before serde so that a wrong type is reported with the field's
/// name (serde_json alone says only "invalid type" and a column).
const FIELD_KINDS: &[(&str, Kind)] = &[
    ("format", Kind::Number),
    ("id", Kind::String),
    ("last_tx", Kind::String),
    ("owner", Kind::String),
    ("tags", Kind::Array),
    ("target", Kind::String),
    ("quantity", Kind::String),
    ("data", Kind::String),
    ("data_size", Kind::String),
    ("data_root", Kind::String),
    ("reward", Kind::String),
    ("signature", Kind::String),
];

#[derive(Clone, Copy)]
enum Kind {
    Number,
    String,
    Array,
}

impl Kind {
    fn matches(self, value: &Value) -> bool {
        match self {
            Kind::Number => value.is_number(),
            Kind::String => value.is_string(),
            Kind::Array => value.is_array(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Report the first field whose JSON type is wrong, by name.
fn check_shape(value: &Value) -> Result<()> {
    let Some(object) = value.as_object() else {
        return Err(Error::Transaction(format!(
            "expected a JSON object, got {}",
            json_type(value)
        )));
    };
    for (field, kind) in FIELD_KINDS {
        if let Some(v) = object.get(*field)
            && !kind.matches(v)
        {
            return Err(Error::Transaction(format!(
                "field {field}: expected {}, got {}",
                kind.name(),
                json_type(v)
            )));
        }
    }
    if let Some(Value::Array(tags)) = object.get("tags") {
        for (i, tag) in tags.iter().enumerate() {
            for part in ["name", "value"] {
                match tag.get(part) {
                    Some(Value::String(_)) => {}
                    Some(other) => {
                        return Err(Error::Transaction(format!(
                            "tag {i}: {part}: expected a string, got {}",
                            json_type(other)
                        )));
                    }
                    None => {
                        return Err(Error::Transaction(format!(
                            "tag {i}: expected an object with string fields name and value, got {}",
                            json_type(tag)
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A winston amount or byte count as the node writes it: decimal digits, no sign, no leading zero.
///
/// The node signs the integer re-rendered in this form, so any other spelling could never verify;
/// refusing it here keeps one spelling per value.
fn check_decimal(field: &'static str, s: &str) -> Result<()> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        Ok(())
    } else {
        Err(Error::Transaction(format!(
            "field {field}: {:?} is not a decimal integer without leading zeros",
            shown(s)
        )))
    }
}

/// Decode a field that is either empty or exactly 32 bytes (a target, a data root).
fn decode_optional_32(what: &'static str, s: &str) -> Result<Option<[u8; 32]>> {
    if s.is_empty() {
        return Ok(None);
    }
    decode_id(what, s).map(Some)
}

impl TryFrom<TransactionJson> for Transaction {
    type Error = Error;

    fn try_from(json: TransactionJson) -> Result<Self> {
        if json.format != FORMAT {
            return Err(Error::Transaction(format!(
                "field format: {}: only format 2 is supported",
                json.format
            )));
        }
        let id = decode_id("L1 transaction id", &json.id)?;
        let last_tx = b64url_decode("L1 transaction last_tx", &json.last_tx)?;
        let owner = b64url_decode("L1 transaction owner", &json.owner)?;
        let target = decode_optional_32("L1 transaction target", &json.target)?;
        check_decimal("quantity", &json.quantity)?;
        check_decimal("reward", &json.reward)?;
        check_decimal("data_size", &json.data_size)?;
        let data_size = json.data_size.parse::<u64>().map_err(|e| {
            Error::Transaction(format!(
                "field data_size: {:?}: {e}",
                shown(&json.data_size)
            ))
        })?;
        let data = b64url_decode("L1 transaction data", &json.data)?;
        let data_root = decode_optional_32("L1 transaction data_root", &json.data_root)?;
        let signature = b64url_decode("L1 transaction signature", &json.signature)?;

        let mut raw_tags = Vec::with_capacity(json.tags.len());
        let mut tags = Vec::with_capacity(json.tags.len());
        for (i, tag) in json.tags.iter().enumerate() {
            let name = b64url_decode("name", &tag.name)
                .map_err(|e| Error::Transaction(format!("tag {i}: {e}")))?;
            let value = b64url_decode("value", &tag.value)
                .map_err(|e| Error::Transaction(format!("tag {i}: {e}")))?;
            // Lossy like arweave-js's `decode: true, string: true`: the raw bytes stay for signing.
            tags.push(Tag::new(
                String::from_utf8_lossy(&name),
                String::from_utf8_lossy(&value),
            ));
            raw_tags.push((name, value));
        }

        Ok(Transaction {
            id,
            last_tx,
            owner,
            raw_tags,
            tags,
            target,
            quantity: json.quantity,
            data,
            data_size,
            data_root,
            reward: json.reward,
            signature,
        })
    }
}

impl From<Transaction> for TransactionJson {
    fn from(tx: Transaction) -> Self {
        TransactionJson::from(&tx)
    }
}

impl From<&Transaction> for TransactionJson {
    fn from(tx: &Transaction) -> Self {
        TransactionJson {
            format: FORMAT,
            id: tx.id(),
            last_tx: b64url(&tx.last_tx),
            owner: b64url(&tx.owner),
            tags: tx
                .raw_tags
                .iter()
                .map(|(name, value)| TagJson {
                    name: b64url(name),
                    value: b64url(value),
                })
                .collect(),
            target: tx.target.map(b64url).unwrap_or_default(),
            quantity: tx.quantity.clone(),
            data: b64url(&tx.data),
            data_size: tx.data_size.to_string(),
            data_root: tx.data_root.map(b64url).unwrap_or_default(),
            reward: tx.reward.clone(),
            signature: b64url(&tx.signature),
        }
    }
}

impl Transaction {
    /// Read a transaction from arweave-js `toJSON()` / gateway `/tx/{id}` JSON text, naming the field
    /// when the JSON, a type, a base64url value or the format is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::Transaction(format!("not valid JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Read a transaction from already-parsed JSON, with the same checks as [`Transaction::from_json`];
    /// for callers that received the transaction inside a larger document.
    pub fn from_value(value: Value) -> Result<Self> {
        check_shape(&value)?;
        // After check_shape the only serde errors left are missing fields, which serde names.
        let json: TransactionJson =
            serde_json::from_value(value).map_err(|e| Error::Transaction(format!("{e}")))?;
        Transaction::try_from(json)
    }

    /// The JSON `toJSON()` would write for this transaction, e.g. to forward it to a gateway.
    pub fn to_json(&self) -> TransactionJson {
        TransactionJson::from(self)
    }

    /// The transaction id, base64url.
    pub fn id(&self) -> String {
        b64url(self.id)
    }

    /// The transaction id's 32 raw bytes.
    pub fn raw_id(&self) -> [u8; 32] {
        self.id
    }

    /// The anchor (`last_tx`) raw bytes: a transaction id or a block hash, or empty.
    pub fn last_tx(&self) -> &[u8] {
        &self.last_tx
    }

    /// The owner field: the signer's RSA modulus.
    pub fn owner(&self) -> &[u8] {
        &self.owner
    }

    /// The signer's Arweave address: base64url of the SHA-256 of the owner, as for data items.
    pub fn owner_address(&self) -> String {
        b64url(sha256(&self.owner))
    }

    /// The tags, names and values decoded as UTF-8 (invalid bytes become U+FFFD), in signing order.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The value of the first tag named exactly `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.tag_value(name)
    }

    /// The tags' raw name and value bytes, which are what the signature covers.
    pub fn raw_tags(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.raw_tags
            .iter()
            .map(|(name, value)| (name.as_slice(), value.as_slice()))
    }

    /// The wallet AR is sent to, if any.
    pub fn target(&self) -> Option<&[u8; 32]> {
        self.target.as_ref()
    }

    /// The target as a base64url address, if any.
    pub fn target_id(&self) -> Option<String> {
        self.target.map(b64url)
    }

    /// Winston sent to the target, as the decimal string that is signed (it may exceed `u64`).
    pub fn quantity(&self) -> &str {
        &self.quantity
    }

    /// Winston paid as the fee, as the decimal string that is signed.
    pub fn reward(&self) -> &str {
        &self.reward
    }

    /// The data carried in the JSON. Empty either because the transaction has none or because the
    /// source only gave the header; [`Transaction::has_data`] tells which.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether [`Transaction::data`] is the transaction's whole data: true when bytes are present or
    /// when `data_size` says there are none. Gateways omit data from headers, and then only
    /// `data_size` and `data_root` describe it.
    pub fn has_data(&self) -> bool {
        !self.data.is_empty() || self.data_size == 0
    }

    /// The length of the data in bytes, as signed.
    pub fn data_size(&self) -> u64 {
        self.data_size
    }

    /// The `data_root` field as carried, `None` when it is empty.
    pub fn data_root(&self) -> Option<&[u8; 32]> {
        self.data_root.as_ref()
    }

    /// The raw signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The data root that is signed. Like arweave-js `getSignatureData`, an empty `data_root` next to
    /// present data is computed from the data rather than signed as empty.
    fn signed_data_root(&self) -> Option<[u8; 32]> {
        match self.data_root {
            None if !self.data.is_empty() => data_root(&self.data),
            stored => stored,
        }
    }

    /// The 48-byte deep hash the owner signed: arweave-js `getSignatureData` for format 2.
    ///
    /// The list is `["2", owner, target, quantity, reward, last_tx, [[name, value]…], data_size,
    /// data_root]`, binary fields raw and numbers as their decimal text. Returns a `Result` so callers
    /// need not change if other formats are ever accepted; every transaction that parsed hashes.
    pub fn signature_data(&self) -> Result<DeepHash> {
        let format = FORMAT.to_string();
        let data_size = self.data_size.to_string();
        let data_root = self.signed_data_root();
        let tags = self
            .raw_tags
            .iter()
            .map(|(name, value)| Chunk::List(vec![Chunk::Blob(name), Chunk::Blob(value)]))
            .collect();
        Ok(deep_hash(&Chunk::List(vec![
            Chunk::Blob(format.as_bytes()),
            Chunk::Blob(&self.owner),
            Chunk::Blob(self.target.as_ref().map_or(&[][..], |t| &t[..])),
            Chunk::Blob(self.quantity.as_bytes()),
            Chunk::Blob(self.reward.as_bytes()),
            Chunk::Blob(&self.last_tx),
            Chunk::List(tags),
            Chunk::Blob(data_size.as_bytes()),
            Chunk::Blob(data_root.as_ref().map_or(&[][..], |r| &r[..])),
        ])))
    }

    /// Check everything that binds the transaction together: the id is the SHA-256 of the signature;
    /// when the data is present, `data_size` is its length and `data_root` its chunk tree root; and the
    /// RSA-PSS signature by `owner` covers [`Transaction::signature_data`].
    ///
    /// The data checks go beyond arweave-js `verify` (which trusts `data_root`) because the data is
    /// only bound to the signature through them: without them a unit could accept a valid header with
    /// substituted data.
    pub fn verify(&self) -> Result<()> {
        let expected = sha256(&self.signature);
        if expected != self.id {
            return Err(Error::Transaction(format!(
                "id {} is not the SHA-256 of the signature, which is {}",
                self.id(),
                b64url(expected)
            )));
        }
        if self.has_data() {
            let len = self.data.len() as u64;
            if len != self.data_size {
                return Err(Error::Transaction(format!(
                    "field data_size: says {} bytes, the data has {len}",
                    self.data_size
                )));
            }
            let computed = data_root(&self.data);
            // An empty data_root with present data is signed as the computed root (see
            // signed_data_root), so only a stored root can disagree.
            if self.data_root.is_some() && self.data_root != computed {
                return Err(Error::Transaction(format!(
                    "field data_root: {} is not the root of the data, which is {}",
                    self.data_root.map(b64url).unwrap_or_default(),
                    computed.map(b64url).unwrap_or_default()
                )));
            }
        }
        signature::verify(
            SignatureType::Arweave,
            &self.owner,
            &self.signature_data()?,
            &self.signature,
        )
        .map_err(|e| Error::Transaction(format!("transaction {}: {e}", self.id())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data the reference vectors were computed over: byte `i` is `i mod 251`, so no two chunks of
    /// a vector hash alike.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn root_b64(len: usize) -> String {
        data_root(&pattern(len)).map(b64url).unwrap_or_default()
    }

    fn sizes(len: usize) -> Vec<usize> {
        chunk_ranges(len).iter().map(|r| r.len()).collect()
    }

    #[test]
    fn chunking_follows_arweave_js() {
        assert_eq!(sizes(0), [0]);
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(MAX_CHUNK_SIZE - 1), [MAX_CHUNK_SIZE - 1]);
        // A whole number of full chunks leaves an empty last chunk, which arweave-js keeps as a leaf.
        assert_eq!(sizes(MAX_CHUNK_SIZE), [MAX_CHUNK_SIZE, 0]);
        assert_eq!(
            sizes(2 * MAX_CHUNK_SIZE),
            [MAX_CHUNK_SIZE, MAX_CHUNK_SIZE, 0]
        );
        // One byte over: the remainder is below MIN_CHUNK_SIZE, so the two chunks split ceil/floor.
        assert_eq!(sizes(MAX_CHUNK_SIZE + 1), [131_073, 131_072]);
        assert_eq!(
            sizes(MAX_CHUNK_SIZE + MIN_CHUNK_SIZE - 1),
            [147_456, 147_455]
        );
        assert_eq!(
            sizes(MAX_CHUNK_SIZE + MIN_CHUNK_SIZE),
            [MAX_CHUNK_SIZE, MIN_CHUNK_SIZE]
        );
        assert_eq!(sizes(600 * 1024), [MAX_CHUNK_SIZE, MAX_CHUNK_SIZE, 90_112]);
        // Ranges tile the data with no gap.
        let ranges = chunk_ranges(1_310_725);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(1_310_725));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn empty_data_has_an_empty_root() {
        assert_eq!(data_root(&[]), None);
        // What arweave-js computeRootHash would give for a lone empty leaf, and which no transaction
        // carries: prepareChunks writes "" instead.
        assert_eq!(
            b64url(merkle_root(&[])),
            "x9bUbvLyiRlsOOqClNkKV0LAohFd-PfXfb_XoYosfQI"
        );
    }

    #[test]
    fn small_roots_match_the_rule_worked_by_hand() {
        // One chunk: the root is its leaf, sha256(sha256(sha256(chunk)) ‖ sha256(note(len))).
        let data = [0x61u8];
        let mut note_1 = [0u8; 32];
        note_1[31] = 1;
        let leaf = sha256([sha256(sha256(data)), sha256(note_1)].concat());
        assert_eq!(data_root(&data), Some(leaf));

        // 256 KiB + 1: leaves of 131073 and 131072 bytes under one branch whose note is the left
        // leaf's end.
        let data = pattern(MAX_CHUNK_SIZE + 1);
        let note_of = |n: u64| {
            let mut out = [0u8; 32];
            out[24..].copy_from_slice(&n.to_be_bytes());
            out
        };
        let leaf_of =
            |chunk: &[u8], end: u64| sha256([sha256(sha256(chunk)), sha256(note_of(end))].concat());
        let left = leaf_of(&data[..131_073], 131_073);
        let right = leaf_of(&data[131_073..], 262_145);
        let branch = sha256([sha256(left), sha256(right), sha256(note_of(131_073))].concat());
        assert_eq!(data_root(&data), Some(branch));

        // Three leaves: the first two join, the third is carried up and joins them one layer higher
        // with the note of the pair's end.
        let data = pattern(600 * 1024);
        let a = leaf_of(&data[..262_144], 262_144);
        let b = leaf_of(&data[262_144..524_288], 524_288);
        let c = leaf_of(&data[524_288..], 614_400);
        let ab = sha256([sha256(a), sha256(b), sha256(note_of(262_144))].concat());
        let root = sha256([sha256(ab), sha256(c), sha256(note_of(524_288))].concat());
        assert_eq!(data_root(&data), Some(root));
    }

    #[test]
    fn roots_match_arweave_js() {
        // Computed with arweave@1.15.5 under node 20 over `pattern(len)`:
        //   require('arweave/node/lib/merkle').computeRootHash(data), printed as base64url;
        // for each length, `new Transaction({}).prepareChunks(data)` gave the same data_root.
        let vectors: &[(usize, &str)] = &[
            (1, "Ht_yZhXGBDUZfLv4OD6we7FkrjcpDpGPwQZEZgEJVfk"),
            (16, "SUSGaZENS4dpg_Db4XYiG-jMcU9V6T50GygquEDt7RA"),
            (32_768, "a582yS2PyuWZpQmfA1j57OoWUALuzzSEuNeJvZXiC6U"),
            (262_143, "uzNiZl92JD1TtVRJpE6nQtvmpLBu8PJ_CL5UsfjR2Jg"),
            (262_144, "gty7KB2baLFp7OGxuV2wBeX3NippS1tNVlMOZryIq5o"),
            (262_145, "kJKkN6QWAcUM_WQUxeNXnnwKy0fp7myUNNob6XNlOPA"),
            (294_911, "ftgH8HjzmYUv7zYP-oTk5XovsehoyoBTxQA8t2waFIQ"),
            (294_912, "qk73Qz9Ymp1tr4dzJw_hTDS1VoVwBeLLNwkytN1sBYY"),
            (524_288, "H2bNmvftzAlIQXVYCetFsJ9f0uoC4C2FbfivZTRSyqI"),
            (614_400, "N_gS_f6fPYsmpog4LZJLEwgKVekMLOLMrdCXsi2Z_oc"),
            (1_148_576, "bk8o_3Xw5mBXxts1fj3pA4JjOKSsc2C6eg6dPf5ElMI"),
            (1_310_725, "1I2AvetjXZAH0FPTdbaIz98BjcItXJFXbm0TqrEhRbg"),
            (1_835_008, "y3VPc81ZQuo34baohAWHuHZZS2-jo1XxNpC1O4us7qU"),
        ];
        for (len, expected) in vectors {
            assert_eq!(root_b64(*len), *expected, "data_root of {len} bytes");
        }
    }

    fn sample_json() -> Value {
        serde_json::json!({
            "format": 2,
            "id": b64url([1u8; 32]),
            "last_tx": b64url([2u8; 32]),
            "owner": b64url([3u8; 512]),
            "tags": [{"name": b64url("App-Name"), "value": b64url([0xffu8, b'x'])}],
            "target": "",
            "quantity": "0",
            "data": b64url("hi"),
            "data_size": "2",
            "data_root": data_root(b"hi").map(b64url).unwrap_or_default(),
            "reward": "10",
            "signature": b64url([4u8; 512]),
        })
    }

    fn parse_with(field: &str, value: Value) -> Result<Transaction> {
        let mut json = sample_json();
        json[field] = value;
        Transaction::from_value(json)
    }

    fn err_with(field: &str, value: Value) -> String {
        match parse_with(field, value) {
            Ok(_) => format!("{field} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn fields_decode_and_round_trip() {
        let tx = Transaction::from_value(sample_json()).expect("sample parses");
        assert_eq!(tx.tags()[0].name, "App-Name");
        assert_eq!(tx.tags()[0].value, "\u{fffd}x", "tag values decode lossily");
        assert_eq!(
            tx.raw_tags().next(),
            Some((&b"App-Name"[..], &[0xff, b'x'][..]))
        );
        assert_eq!(tx.tag("App-Name"), Some("\u{fffd}x"));
        assert_eq!(tx.data(), b"hi");
        assert_eq!(tx.data_size(), 2);
        assert_eq!(tx.target(), None);
        assert_eq!(tx.owner_address(), b64url(sha256([3u8; 512])));
        let back = serde_json::to_value(&tx).expect("serialises");
        assert_eq!(back, sample_json());
        let again: Transaction = serde_json::from_value(back).expect("serde reads it back");
        assert_eq!(again, tx);
    }

    #[test]
    fn bad_fields_are_named() {
        let err = err_with("format", 1.into());
        assert!(err.contains("only format 2 is supported"), "{err}");
        let err = err_with("format", "2".into());
        assert!(err.contains("format") && err.contains("a number"), "{err}");
        let err = err_with("owner", "a+b/".into());
        assert!(err.contains("owner"), "{err}");
        let err = err_with("id", b64url([1u8; 31]).into());
        assert!(err.contains("id") && err.contains("31 bytes"), "{err}");
        let err = err_with("target", "abc".into());
        assert!(err.contains("target"), "{err}");
        let err = err_with("data_root", b64url([0u8; 48]).into());
        assert!(err.contains("data_root"), "{err}");
        let err = err_with("quantity", "012".into());
        assert!(err.contains("quantity"), "{err}");
        let err = err_with("reward", "-1".into());
        assert!(err.contains("reward"), "{err}");
        let err = err_with("data_size", "99999999999999999999999".into());
        assert!(err.contains("data_size"), "{err}");
        let err = err_with("signature", Value::Null);
        assert!(err.contains("signature") && err.contains("null"), "{err}");
        let err = err_with("tags", serde_json::json!([{"name": "AA", "value": 3}]));
        assert!(err.contains("tag 0") && err.contains("value"), "{err}");
        let err = err_with("tags", serde_json::json!([{"name": "AA", "value": "%%"}]));
        assert!(err.contains("tag 0") && err.contains("value"), "{err}");
        let err = err_with("tags", serde_json::json!(["AA"]));
        assert!(err.contains("tag 0"), "{err}");

        let mut json = sample_json();
        if let Some(object) = json.as_object_mut() {
            object.remove("owner");
        }
        let err = Transaction::from_value(json)
            .expect_err("a missing owner is refused")
            .to_string();
        assert!(err.contains("owner"), "{err}");

        for text in ["", "{", "[]", "null", "{\"format\": 2}"] {
            assert!(Transaction::from_json(text).is_err(), "{text:?} accepted");
        }
        // The serde path refuses what from_json refuses.
        let mut json = sample_json();
        json["format"] = 1.into();
        assert!(serde_json::from_value::<Transaction>(json).is_err());
    }

    #[test]
    fn defaults_follow_arweave_js() {
        let json = serde_json::json!({
            "format": 2,
            "id": b64url([1u8; 32]),
            "owner": b64url([3u8; 512]),
            "signature": b64url([4u8; 512]),
        });
        let tx = Transaction::from_value(json).expect("minimal transaction parses");
        assert_eq!((tx.quantity(), tx.reward(), tx.data_size()), ("0", "0", 0));
        assert!(tx.has_data() && tx.data().is_empty() && tx.data_root().is_none());
    }

    #[test]
    fn verify_refuses_a_forged_id_and_mismatched_data_before_rsa() {
        let mut json = sample_json();
        json["id"] = b64url(sha256([4u8; 512])).into();
        let tx = Transaction::from_value(json.clone()).expect("parses");
        // The id and data agree, so what fails is the signature itself.
        let err = tx.verify().expect_err("fake signature").to_string();
        assert!(err.contains("signature"), "{err}");

        let err = Transaction::from_value(sample_json())
            .expect("parses")
            .verify()
            .expect_err("wrong id")
            .to_string();
        assert!(err.contains("SHA-256 of the signature"), "{err}");

        json["data_size"] = "3".into();
        let err = Transaction::from_value(json.clone())
            .expect("parses")
            .verify()
            .expect_err("wrong size")
            .to_string();
        assert!(err.contains("data_size"), "{err}");

        json["data_size"] = "2".into();
        json["data"] = b64url("ho").into();
        let err = Transaction::from_value(json.clone())
            .expect("parses")
            .verify()
            .expect_err("wrong data")
            .to_string();
        assert!(err.contains("data_root"), "{err}");

        // Header only: the data is not there to check, so only the signature is.
        json["data"] = "".into();
        let err = Transaction::from_value(json)
            .expect("parses")
            .verify()
            .expect_err("fake signature")
            .to_string();
        assert!(!err.contains("data"), "{err}");
    }

    #[test]
    fn an_empty_data_root_with_data_signs_the_computed_root() {
        let with_root = Transaction::from_value(sample_json()).expect("parses");
        let mut json = sample_json();
        json["data_root"] = "".into();
        let without = Transaction::from_value(json).expect("parses");
        assert_eq!(
            with_root.signature_data().expect("hashes"),
            without.signature_data().expect("hashes")
        );
    }
}
