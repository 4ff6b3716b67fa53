//! ANS-104 bundles (`Bundle-Format: binary`, `Bundle-Version: 2.0.0`).
//!
//! Layout: a 32-byte little-endian item count, then per item a 64-byte header (32-byte LE size ‖ 32-byte
//! raw id), then the items back to back. Reading is strict where arbundles is lenient: a header id
//! must equal the item's real id, sizes must lie inside the buffer, and nothing may follow the last
//! item. Items share the bundle's buffer (no copies), so a bundle nested in an item's data is read in
//! place.

use bytes::Bytes;

use crate::dataitem::DataItem;
use crate::error::{Error, Field, Result};
use crate::tags::TagsExt;

/// Value of the `Bundle-Format` tag on an item whose data is a bundle.
pub const BUNDLE_FORMAT: &str = "binary";
/// Value of the `Bundle-Version` tag on an item whose data is a bundle.
pub const BUNDLE_VERSION: &str = "2.0.0";

/// Read every item of a bundle, checking the headers against the items.
pub fn parse(raw: impl Into<Bytes>) -> Result<Vec<DataItem>> {
    let raw = raw.into();
    let count_bytes = raw.get(..32).ok_or(Error::Truncated {
        field: Field::BundleCount,
        offset: 0,
        needed: 32,
        available: raw.len(),
    })?;
    let count = le_u256_to_u64(count_bytes)
        .ok_or_else(|| Error::malformed(Field::BundleCount, 0, "item count exceeds 2^64"))?;
    let headers_len = count
        .checked_mul(64)
        .and_then(|n| n.checked_add(32))
        .filter(|&n| n <= raw.len() as u64)
        .ok_or_else(|| {
            Error::malformed(
                Field::BundleCount,
                0,
                format!(
                    "{count} items need {count}x64 header bytes, the bundle has {} bytes",
                    raw.len()
                ),
            )
        })? as usize;
    let mut items = Vec::with_capacity(count as usize);
    let mut offset = headers_len;
    for i in 0..count as usize {
        let header_at = 32 + i * 64;
        let header = &raw[header_at..header_at + 64];
        let size = le_u256_to_u64(&header[..32]).ok_or_else(|| {
            Error::malformed(
                Field::BundleHeader,
                header_at,
                format!("item {i}: size exceeds 2^64"),
            )
        })?;
        let end = (offset as u64)
            .checked_add(size)
            .filter(|&end| end <= raw.len() as u64)
            .ok_or_else(|| {
                Error::malformed(
                    Field::BundleHeader,
                    header_at,
                    format!(
                        "item {i}: {size} bytes from byte {offset} run past the end of the bundle ({} bytes)",
                        raw.len()
                    ),
                )
            })? as usize;
        let item = DataItem::parse(raw.slice(offset..end)).map_err(|e| {
            Error::malformed(
                Field::BundleItem,
                offset,
                format!("item {i} does not parse: {e}"),
            )
        })?;
        if item.raw_id()[..] != header[32..] {
            return Err(Error::malformed(
                Field::BundleHeader,
                header_at + 32,
                format!(
                    "item {i}: header id {} is not the item's id {}",
                    crate::encoding::b64url(&header[32..]),
                    item.id()
                ),
            ));
        }
        items.push(item);
        offset = end;
    }
    if offset != raw.len() {
        return Err(Error::malformed(
            Field::BundleItem,
            offset,
            format!("{} bytes after the last item", raw.len() - offset),
        ));
    }
    Ok(items)
}

/// Write items as a bundle.
pub fn write(items: &[DataItem]) -> Vec<u8> {
    let body: usize = items.iter().map(|i| i.as_bytes().len()).sum();
    let mut out = Vec::with_capacity(32 + 64 * items.len() + body);
    out.extend_from_slice(&u64_to_le_u256(items.len() as u64));
    for item in items {
        out.extend_from_slice(&u64_to_le_u256(item.as_bytes().len() as u64));
        out.extend_from_slice(&item.raw_id());
    }
    for item in items {
        out.extend_from_slice(item.as_bytes());
    }
    out
}

/// Whether an item says its data is a bundle.
pub fn is_bundle(item: &DataItem) -> bool {
    let tags = item.tags();
    tags.tag_value("Bundle-Format") == Some(BUNDLE_FORMAT)
        && tags.tag_value("Bundle-Version") == Some(BUNDLE_VERSION)
}

/// The items of a bundle carried in an item's data, or `None` if the item is not a bundle.
pub fn nested(item: &DataItem) -> Option<Result<Vec<DataItem>>> {
    is_bundle(item).then(|| parse(item.data_bytes()))
}

/// Parse, then verify every item's signature, descending into nested bundles. Returns the items of
/// the top level; the error names the path of the first bad item (e.g. `item 2 / item 0`).
pub fn parse_and_verify(raw: impl Into<Bytes>) -> Result<Vec<DataItem>> {
    let items = parse(raw)?;
    for (i, item) in items.iter().enumerate() {
        verify_tree(item).map_err(|e| Error::InvalidSignature(format!("item {i}: {e}")))?;
    }
    Ok(items)
}

fn verify_tree(item: &DataItem) -> Result<()> {
    item.verify()?;
    if let Some(children) = nested(item) {
        for (i, child) in children?.iter().enumerate() {
            verify_tree(child).map_err(|e| Error::InvalidSignature(format!("item {i} / {e}")))?;
        }
    }
    Ok(())
}

fn le_u256_to_u64(bytes: &[u8]) -> Option<u64> {
    if bytes[8..].iter().any(|&b| b != 0) {
        return None;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[..8]);
    Some(u64::from_le_bytes(low))
}

fn u64_to_le_u256(n: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&n.to_le_bytes());
    out
}
