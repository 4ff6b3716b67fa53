//! ANS-104 tags: an Avro array of `{name: string, value: string}` records.
//!
//! Decoding accepts everything Avro allows (several blocks, negative block counts followed by a byte
//! size) because other signers produce it; encoding writes what arbundles writes (one block, then a
//! zero), so that items we sign hash the same way everywhere. Verification never re-encodes: the
//! signature covers the raw tag bytes, which [`crate::DataItem`] keeps.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Field, Result};

/// Most tags an item may carry (ANS-104).
pub const MAX_TAGS: usize = 128;
/// Most bytes the encoded tag block may have (arbundles' `MAX_TAG_BYTES`, enforced by bundlers).
pub const MAX_TAG_BYTES: usize = 4096;
/// Longest tag name in bytes (ANS-104).
pub const MAX_TAG_NAME_BYTES: usize = 1024;
/// Longest tag value in bytes (ANS-104).
pub const MAX_TAG_VALUE_BYTES: usize = 3072;

/// One tag. Names and values are kept as UTF-8 strings; bytes that are not UTF-8 are replaced with
/// U+FFFD, as arbundles does, and the raw bytes stay in the item for hashing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tag {
    /// The tag's name; AO matches names case-sensitively.
    pub name: String,
    /// The tag's value.
    pub value: String,
}

impl Tag {
    /// A tag from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Look-ups over an ordered tag list; AO allows repeated names, so "the" value is the first one.
pub trait TagsExt {
    /// The value of the first tag named exactly `name`.
    fn tag_value(&self, name: &str) -> Option<&str>;
    /// The values of every tag named exactly `name`, in order.
    fn tag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a;
}

impl TagsExt for [Tag] {
    fn tag_value(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|t| t.name == name)
            .map(|t| t.value.as_str())
    }

    fn tag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |t| t.name == name)
            .map(|t| t.value.as_str())
    }
}

/// Check the ANS-104 limits on a tag list, naming the first tag that breaks one.
pub fn check_limits(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::TagLimit(format!(
            "{} tags, at most {MAX_TAGS} are allowed",
            tags.len()
        )));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.name.len() > MAX_TAG_NAME_BYTES {
            return Err(Error::TagLimit(format!(
                "tag {i}: name has {} bytes, at most {MAX_TAG_NAME_BYTES} are allowed",
                tag.name.len()
            )));
        }
        if tag.value.len() > MAX_TAG_VALUE_BYTES {
            return Err(Error::TagLimit(format!(
                "tag {i} ({}): value has {} bytes, at most {MAX_TAG_VALUE_BYTES} are allowed",
                crate::error::shown(&tag.name),
                tag.value.len()
            )));
        }
    }
    Ok(())
}

/// Encode tags the way arbundles does: empty for no tags, else one block `zigzag(n)`, the records,
/// and a closing `0`. Checks the limits first, so nothing we encode is refused by a bundler.
pub fn encode(tags: &[Tag]) -> Result<Vec<u8>> {
    check_limits(tags)?;
    if tags.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(tags.iter().map(|t| t.name.len() + t.value.len() + 4).sum());
    write_long(&mut out, tags.len() as i64);
    for tag in tags {
        write_long(&mut out, tag.name.len() as i64);
        out.extend_from_slice(tag.name.as_bytes());
        write_long(&mut out, tag.value.len() as i64);
        out.extend_from_slice(tag.value.as_bytes());
    }
    out.push(0);
    if out.len() > MAX_TAG_BYTES {
        return Err(Error::TagLimit(format!(
            "encoded tags have {} bytes, at most {MAX_TAG_BYTES} are allowed",
            out.len()
        )));
    }
    Ok(out)
}

/// Decode a raw tag block. `base` is the block's offset in the item, so errors point into the item.
///
/// The block must hold exactly `expected` tags and nothing after the closing zero; limits are checked.
pub fn decode(bytes: &[u8], expected: u64, base: usize) -> Result<Vec<Tag>> {
    if bytes.len() > MAX_TAG_BYTES {
        return Err(Error::TagLimit(format!(
            "tag block has {} bytes, at most {MAX_TAG_BYTES} are allowed",
            bytes.len()
        )));
    }
    if expected > MAX_TAGS as u64 {
        return Err(Error::TagLimit(format!(
            "{expected} tags declared, at most {MAX_TAGS} are allowed"
        )));
    }
    if bytes.is_empty() {
        return if expected == 0 {
            Ok(Vec::new())
        } else {
            Err(Error::malformed(
                Field::Tags,
                base,
                format!("{expected} tags declared but the tag block is empty"),
            ))
        };
    }
    let mut r = Reader {
        bytes,
        pos: 0,
        base,
    };
    let mut tags = Vec::with_capacity(expected as usize);
    loop {
        let block_at = r.pos;
        let count = r.long("block count")?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes; we read records anyway.
            let size = r.long("block byte size")?;
            if size < 0 {
                return Err(r.error(block_at, format!("negative block byte size {size}")));
            }
        }
        let count = count.unsigned_abs();
        if tags.len() as u64 + count > expected {
            return Err(r.error(
                block_at,
                format!(
                    "blocks hold more than the {expected} tags the item declares (block of {count} after {})",
                    tags.len()
                ),
            ));
        }
        for _ in 0..count {
            let name = r.string("tag name", MAX_TAG_NAME_BYTES)?;
            let value = r.string("tag value", MAX_TAG_VALUE_BYTES)?;
            tags.push(Tag { name, value });
        }
    }
    if r.pos != bytes.len() {
        return Err(r.error(
            r.pos,
            format!(
                "{} bytes after the end of the tag array",
                bytes.len() - r.pos
            ),
        ));
    }
    if tags.len() as u64 != expected {
        return Err(Error::malformed(
            Field::TagCount,
            base,
            format!(
                "the item declares {expected} tags, the tag block holds {}",
                tags.len()
            ),
        ));
    }
    Ok(tags)
}

/// Avro's zig-zag variable-length long.
fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl Reader<'_> {
    fn error(&self, at: usize, reason: String) -> Error {
        Error::malformed(Field::Tags, self.base + at, reason)
    }

    fn long(&mut self, what: &str) -> Result<i64> {
        let start = self.pos;
        let mut z: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error(start, format!("{what}: varint runs past the tag block")));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.error(start, format!("{what}: varint overflows 64 bits")));
            }
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(self.error(start, format!("{what}: varint longer than 10 bytes")))
    }

    fn string(&mut self, what: &str, max: usize) -> Result<String> {
        let start = self.pos;
        let len = self.long(what)?;
        if len < 0 {
            return Err(self.error(start, format!("{what}: negative length {len}")));
        }
        let len = len as u64;
        if len > max as u64 {
            return Err(Error::TagLimit(format!(
                "{what} at byte {} has {len} bytes, at most {max} are allowed",
                self.base + start
            )));
        }
        let len = len as usize;
        let Some(raw) = self.bytes.get(self.pos..self.pos + len) else {
            return Err(self.error(
                start,
                format!(
                    "{what}: {len} bytes declared, {} left in the tag block",
                    self.bytes.len() - self.pos
                ),
            ));
        };
        self.pos += len;
        Ok(String::from_utf8_lossy(raw).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_arbundles() {
        assert_eq!(encode(&[]).unwrap(), Vec::<u8>::new());
        assert_eq!(
            hex::encode(encode(&[Tag::new("a", "b")]).unwrap()),
            "020261026200"
        );
    }

    #[test]
    fn decodes_negative_blocks_and_several_blocks() {
        // Block 1: count -1 (zigzag 1), byte size 4 (zigzag 8), "a"="b"; block 2: count 1, "c"="d"; end.
        let raw = [
            0x01, 0x08, 0x02, b'a', 0x02, b'b', 0x02, 0x02, b'c', 0x02, b'd', 0x00,
        ];
        let tags = decode(&raw, 2, 0).unwrap();
        assert_eq!(tags, vec![Tag::new("a", "b"), Tag::new("c", "d")]);
    }

    #[test]
    fn rejects_count_mismatch_trailing_bytes_and_overruns() {
        let one = encode(&[Tag::new("a", "b")]).unwrap();
        assert!(
            decode(&one, 2, 0)
                .unwrap_err()
                .to_string()
                .contains("declares 2")
        );
        assert!(
            decode(&one, 0, 0)
                .unwrap_err()
                .to_string()
                .contains("more than the 0")
        );
        let mut trailing = one.clone();
        trailing.push(7);
        let err = decode(&trailing, 1, 100).unwrap_err().to_string();
        assert!(
            err.contains("byte 106") && err.contains("after the end"),
            "{err}"
        );
        let err = decode(&one[..2], 1, 0).unwrap_err().to_string();
        assert!(err.contains("left in the tag block"), "{err}");
        assert!(decode(&[0xff; 12], 1, 0).is_err());
    }

    #[test]
    fn limits_are_enforced_on_both_sides() {
        let many: Vec<Tag> = (0..129).map(|i| Tag::new(format!("n{i}"), "v")).collect();
        assert!(matches!(encode(&many), Err(Error::TagLimit(_))));
        assert!(matches!(
            encode(&[Tag::new("n".repeat(1025), "")]),
            Err(Error::TagLimit(_))
        ));
        assert!(matches!(
            encode(&[Tag::new("", "v".repeat(3073))]),
            Err(Error::TagLimit(_))
        ));
        assert!(encode(&[Tag::new("", "")]).is_ok());
    }
}
