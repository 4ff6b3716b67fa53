//! The one error type of `ao-core`.
//!
//! Every parse error names the field it was reading and the byte offset where it started, so an operator
//! who sees it in a log can open the item in a hex editor and look. Values copied into errors go through
//! [`shown`], which truncates them: a 1 MiB tag must not become a 1 MiB log line.

use std::fmt;

/// How many characters of an untrusted value an error message may carry.
///
/// 64 is enough to recognise an id (43 chars) or a tag value, and keeps a log line readable.
pub const MAX_SHOWN_CHARS: usize = 64;

/// A part of an ANS-104 data item, named as the ANS-104 text names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The u16 at offset 0.
    SignatureType,
    /// The signature bytes.
    Signature,
    /// The owner (public key) bytes.
    Owner,
    /// The target presence byte and its 32 bytes.
    Target,
    /// The anchor presence byte and its 32 bytes.
    Anchor,
    /// The u64 number of tags.
    TagCount,
    /// The u64 byte length of the tag block.
    TagBytesLength,
    /// The Avro-encoded tag block.
    Tags,
    /// The data section.
    Data,
    /// A bundle's 32-byte item count.
    BundleCount,
    /// A bundle's per-item header (size and id).
    BundleHeader,
    /// An item inside a bundle.
    BundleItem,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::SignatureType => "signature type",
            Field::Signature => "signature",
            Field::Owner => "owner",
            Field::Target => "target",
            Field::Anchor => "anchor",
            Field::TagCount => "tag count",
            Field::TagBytesLength => "tag bytes length",
            Field::Tags => "tags",
            Field::Data => "data",
            Field::BundleCount => "bundle item count",
            Field::BundleHeader => "bundle header",
            Field::BundleItem => "bundle item",
        })
    }
}

/// Everything that can go wrong in `ao-core`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a field did.
    #[error("{field} at byte {offset}: needs {needed} bytes, only {available} left")]
    Truncated {
        /// The field being read.
        field: Field,
        /// Where the field starts.
        offset: usize,
        /// How many bytes the field needs.
        needed: u64,
        /// How many bytes were left.
        available: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{field} at byte {offset}: {reason}")]
    Malformed {
        /// The field being read.
        field: Field,
        /// Where the bad value is.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature type is not one this crate can handle for the operation asked.
    #[error("unsupported signature type {0}")]
    UnsupportedSignatureType(u16),
    /// The signature does not match the signed data and the owner's key.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// An ANS-104 limit on tags was broken (count, sizes).
    #[error("tag limit: {0}")]
    TagLimit(String),
    /// A value that must be base64url (an id, an owner, a key part) is not, or has the wrong length.
    #[error("{what}: {reason}")]
    Encoding {
        /// What was being decoded, e.g. "target".
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A key or wallet could not be loaded, generated or used.
    #[error("wallet: {0}")]
    Wallet(String),
    /// A required AO tag is absent.
    #[error("{kind}: missing required tag {tag:?}")]
    MissingTag {
        /// The AO type being read (Process, Message, ...).
        kind: &'static str,
        /// The tag's name.
        tag: &'static str,
    },
    /// An AO tag is present but its value is not acceptable.
    #[error("{kind}: tag {tag:?} = {value:?}: {reason}")]
    BadTag {
        /// The AO type being read.
        kind: &'static str,
        /// The tag's name.
        tag: String,
        /// Its value, truncated by [`shown`].
        value: String,
        /// Why it is not acceptable.
        reason: String,
    },
    /// An Arweave L1 transaction is malformed.
    #[error("L1 transaction: {0}")]
    Transaction(String),
}

impl Error {
    pub(crate) fn malformed(field: Field, offset: usize, reason: impl Into<String>) -> Self {
        Error::Malformed {
            field,
            offset,
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_tag(
        kind: &'static str,
        tag: &str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        Error::BadTag {
            kind,
            tag: shown(tag),
            value: shown(value),
            reason: reason.into(),
        }
    }
}

/// The result type of `ao-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An untrusted string cut to [`MAX_SHOWN_CHARS`] characters for an error message, saying how long it was.
pub fn shown(value: &str) -> String {
    let total = value.chars().count();
    if total <= MAX_SHOWN_CHARS {
        value.to_owned()
    } else {
        let head: String = value.chars().take(MAX_SHOWN_CHARS).collect();
        format!("{head}... ({} bytes)", value.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_truncates_long_values_and_keeps_short_ones() {
        assert_eq!(shown("abc"), "abc");
        let long = "x".repeat(1 << 20);
        let s = shown(&long);
        assert!(s.len() < 100, "{s}");
        assert!(s.ends_with("(1048576 bytes)"));
        // Multi-byte characters are never split.
        let uni = "日".repeat(100);
        assert!(shown(&uni).starts_with(&"日".repeat(MAX_SHOWN_CHARS)));
    }
}
