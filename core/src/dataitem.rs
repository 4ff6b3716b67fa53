//! ANS-104 data items: parse, verify, build and sign, serialize.
//!
//! Layout (integers little-endian): `u16 signature type ‖ signature ‖ owner ‖ target presence (0/1)
//! [‖ 32 bytes] ‖ anchor presence (0/1) [‖ 32 bytes] ‖ u64 tag count ‖ u64 tag bytes length ‖ tag
//! block ‖ data`.
//!
//! A parsed [`DataItem`] keeps the item's bytes as one [`Bytes`] buffer and remembers where each
//! field is: the data section (up to the size of a message's payload or a wasm module) is never
//! copied, and serializing a parsed item returns the very bytes it came from. The parser is
//! bounds-checked at every step and never panics; each error names the field and its byte offset.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::deephash::{DeepHash, ListHasher};
use crate::encoding::{b64url, sha256};
use crate::error::{Error, Field, Result};
use crate::signature::{self, SignatureType, Signer};
use crate::tags::{self, Tag};

/// A parsed ANS-104 data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataItem {
    raw: Bytes,
    signature_type: SignatureType,
    signature: Range<usize>,
    owner: Range<usize>,
    target: Option<[u8; 32]>,
    anchor: Option<[u8; 32]>,
    tags: Vec<Tag>,
    tag_bytes: Range<usize>,
    data: Range<usize>,
}

impl DataItem {
    /// Parse an item. The bytes are kept as they are (no copy when given a `Bytes` or a `Vec`).
    ///
    /// Parsing checks the structure and ANS-104's limits; it does not check the signature: call
    /// [`DataItem::verify`] for that.
    pub fn parse(raw: impl Into<Bytes>) -> Result<Self> {
        let raw = raw.into();
        let mut c = Cursor { buf: &raw, pos: 0 };
        let sig_type_at = c.pos;
        let n = u16::from_le_bytes(c.array::<2>(Field::SignatureType)?);
        let signature_type = SignatureType::from_u16(n).map_err(|_| {
            Error::malformed(
                Field::SignatureType,
                sig_type_at,
                format!("unsupported signature type {n}"),
            )
        })?;
        let signature = c.range(Field::Signature, signature_type.signature_len() as u64)?;
        let owner = c.range(Field::Owner, signature_type.owner_len() as u64)?;
        let target = c.optional_32(Field::Target)?;
        let anchor = c.optional_32(Field::Anchor)?;
        let count_at = c.pos;
        let tag_count = u64::from_le_bytes(c.array::<8>(Field::TagCount)?);
        if tag_count > tags::MAX_TAGS as u64 {
            return Err(Error::TagLimit(format!(
                "tag count at byte {count_at} is {tag_count}, at most {} are allowed",
                tags::MAX_TAGS
            )));
        }
        let len_at = c.pos;
        let tag_len = u64::from_le_bytes(c.array::<8>(Field::TagBytesLength)?);
        if tag_len > tags::MAX_TAG_BYTES as u64 {
            return Err(Error::TagLimit(format!(
                "tag bytes length at byte {len_at} is {tag_len}, at most {} are allowed",
                tags::MAX_TAG_BYTES
            )));
        }
        let tag_bytes = c.range(Field::Tags, tag_len)?;
        let tags = tags::decode(&raw[tag_bytes.clone()], tag_count, tag_bytes.start)?;
        let data = c.pos..raw.len();
        Ok(DataItem {
            raw,
            signature_type,
            signature,
            owner,
            target,
            anchor,
            tags,
            tag_bytes,
            data,
        })
    }

    /// The signature type.
    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }

    /// The raw signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.raw[self.signature.clone()]
    }

    /// The raw owner (public key) bytes.
    pub fn owner(&self) -> &[u8] {
        &self.raw[self.owner.clone()]
    }

    /// The raw 32-byte target, if present.
    pub fn target(&self) -> Option<&[u8; 32]> {
        self.target.as_ref()
    }

    /// The raw 32-byte anchor, if present.
    pub fn anchor(&self) -> Option<&[u8; 32]> {
        self.anchor.as_ref()
    }

    /// The decoded tags, in order.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The tag block exactly as it was signed.
    pub fn raw_tags(&self) -> &[u8] {
        &self.raw[self.tag_bytes.clone()]
    }

    /// The data section.
    pub fn data(&self) -> &[u8] {
        &self.raw[self.data.clone()]
    }

    /// The data section as a shared buffer, without copying it.
    pub fn data_bytes(&self) -> Bytes {
        self.raw.slice(self.data.clone())
    }

    /// The whole item as it is on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The item's id: `base64url(sha256(signature))`.
    pub fn id(&self) -> String {
        b64url(self.raw_id())
    }

    /// The raw 32 bytes behind [`DataItem::id`].
    pub fn raw_id(&self) -> [u8; 32] {
        sha256(self.signature())
    }

    /// The target as a base64url id, if present.
    pub fn target_id(&self) -> Option<String> {
        self.target.map(b64url)
    }

    /// The anchor as UTF-8 if it is (aos anchors are 32 ASCII digits), else `None`.
    pub fn anchor_utf8(&self) -> Option<&str> {
        self.anchor
            .as_ref()
            .and_then(|a| std::str::from_utf8(a).ok())
    }

    /// `base64url(sha256(owner))`: the Arweave address for type 1, and what gateways index as the
    /// owner address for every type.
    pub fn owner_address(&self) -> String {
        b64url(sha256(self.owner()))
    }

    /// The address AO shows for the signer: the EIP-55 `0x…` address for Ethereum keys, else
    /// [`DataItem::owner_address`].
    pub fn native_address(&self) -> String {
        match self.signature_type {
            SignatureType::Ethereum => {
                signature::ethereum_address(self.owner()).unwrap_or_else(|_| self.owner_address())
            }
            _ => self.owner_address(),
        }
    }

    /// The 48-byte deep hash the signature covers.
    pub fn signature_data(&self) -> DeepHash {
        signature_data(
            self.signature_type,
            self.owner(),
            self.target.as_ref(),
            self.anchor.as_ref(),
            self.raw_tags(),
            self.data(),
        )
    }

    /// Check the signature. Limits and structure were checked when parsing, so an item that
    /// verifies is valid in every respect ANS-104 defines.
    pub fn verify(&self) -> Result<()> {
        signature::verify(
            self.signature_type,
            self.owner(),
            &self.signature_data(),
            self.signature(),
        )
    }

    /// The value of the first tag named exactly `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        crate::tags::TagsExt::tag_value(self.tags.as_slice(), name)
    }
}

/// `deepHash(["dataitem", "1", type, owner, target, anchor, rawTagBytes, data])`, with an absent
/// target or anchor hashed as an empty blob.
pub fn signature_data(
    signature_type: SignatureType,
    owner: &[u8],
    target: Option<&[u8; 32]>,
    anchor: Option<&[u8; 32]>,
    raw_tags: &[u8],
    data: &[u8],
) -> DeepHash {
    signed_prefix(signature_type)
        .blob(owner)
        .blob(target.map_or(&[][..], |t| &t[..]))
        .blob(anchor.map_or(&[][..], |a| &a[..]))
        .blob(raw_tags)
        .blob(data)
        .finish()
}

/// The hasher after `["dataitem", "1", type`: the same for every item of a type, so it is computed
/// once (12 of the ~33 SHA-384 runs of a small item's signature data).
fn signed_prefix(signature_type: SignatureType) -> ListHasher {
    static PREFIXES: [OnceLock<ListHasher>; 7] = [const { OnceLock::new() }; 7];
    let n = signature_type.as_u16();
    *PREFIXES[usize::from(n - 1)].get_or_init(|| {
        ListHasher::new(8)
            .blob(b"dataitem")
            .blob(b"1")
            .blob(n.to_string().as_bytes())
    })
}

/// The fields of an item to be signed. Build it, then [`DataItemBuilder::sign`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataItemBuilder {
    /// The raw target (for AO: the process a message goes to).
    pub target: Option<[u8; 32]>,
    /// The raw anchor (for aos: the 32-digit reference counter).
    pub anchor: Option<[u8; 32]>,
    /// Tags, in order.
    pub tags: Vec<Tag>,
    /// The data section.
    pub data: Vec<u8>,
}

impl DataItemBuilder {
    /// An empty item.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the target.
    pub fn target(mut self, target: [u8; 32]) -> Self {
        self.target = Some(target);
        self
    }

    /// Set the anchor.
    pub fn anchor(mut self, anchor: [u8; 32]) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// Append one tag.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push(Tag::new(name, value));
        self
    }

    /// Append tags.
    pub fn tags(mut self, tags: impl IntoIterator<Item = Tag>) -> Self {
        self.tags.extend(tags);
        self
    }

    /// Set the data.
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sign with `signer` and return the finished item (its bytes are the serialization).
    pub fn sign(self, signer: &dyn Signer) -> Result<DataItem> {
        let raw_tags = tags::encode(&self.tags)?;
        let sig_type = signer.signature_type();
        let owner = signer.owner();
        if owner.len() != sig_type.owner_len() {
            return Err(Error::Wallet(format!(
                "signer's owner has {} bytes, type {} needs {}",
                owner.len(),
                sig_type.as_u16(),
                sig_type.owner_len()
            )));
        }
        let message = signature_data(
            sig_type,
            owner,
            self.target.as_ref(),
            self.anchor.as_ref(),
            &raw_tags,
            &self.data,
        );
        let sig = signer.sign(&message)?;
        if sig.len() != sig_type.signature_len() {
            return Err(Error::Wallet(format!(
                "signer returned {} bytes, type {} signatures have {}",
                sig.len(),
                sig_type.as_u16(),
                sig_type.signature_len()
            )));
        }
        let mut out = Vec::with_capacity(
            2 + sig.len() + owner.len() + 66 + 16 + raw_tags.len() + self.data.len(),
        );
        out.extend_from_slice(&sig_type.as_u16().to_le_bytes());
        out.extend_from_slice(&sig);
        out.extend_from_slice(owner);
        for field in [self.target, self.anchor] {
            match field {
                Some(bytes) => {
                    out.push(1);
                    out.extend_from_slice(&bytes);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.tags.len() as u64).to_le_bytes());
        out.extend_from_slice(&(raw_tags.len() as u64).to_le_bytes());
        out.extend_from_slice(&raw_tags);
        out.extend_from_slice(&self.data);
        DataItem::parse(out)
    }
}

/// A bounds-checked reader over the item's bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn range(&mut self, field: Field, len: u64) -> Result<Range<usize>> {
        let available = self.buf.len() - self.pos;
        if len > available as u64 {
            return Err(Error::Truncated {
                field,
                offset: self.pos,
                needed: len,
                available,
            });
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(start..self.pos)
    }

    fn array<const N: usize>(&mut self, field: Field) -> Result<[u8; N]> {
        let r = self.range(field, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[r]);
        Ok(out)
    }

    fn optional_32(&mut self, field: Field) -> Result<Option<[u8; 32]>> {
        let at = self.pos;
        match self.array::<1>(field)?[0] {
            0 => Ok(None),
            1 => Ok(Some(self.array::<32>(field)?)),
            other => Err(Error::malformed(
                field,
                at,
                format!("presence byte must be 0 or 1, is {other}"),
            )),
        }
    }
}
