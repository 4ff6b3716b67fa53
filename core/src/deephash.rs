//! Arweave's deep hash: the SHA-384 tree hash that data items and L1 transactions sign.
//!
//! A blob `b` hashes to `SHA384(SHA384("blob" ‖ len(b)) ‖ SHA384(b))`; a list of `n` children starts from
//! `SHA384("list" ‖ n)` and folds each child in with `acc = SHA384(acc ‖ deep_hash(child))`. Lengths
//! are decimal ASCII. The blob form is computed over borrowed slices, so a 1 MiB data section is hashed
//! in place and never copied.

use sha2::{Digest, Sha384};

/// A deep hash digest: 48 bytes of SHA-384.
pub type DeepHash = [u8; 48];

/// A node of the tree that [`deep_hash`] hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Raw bytes.
    Blob(&'a [u8]),
    /// An ordered list of children.
    List(Vec<Chunk<'a>>),
}

/// The deep hash of a tree.
pub fn deep_hash(chunk: &Chunk<'_>) -> DeepHash {
    match chunk {
        Chunk::Blob(bytes) => deep_hash_blob(bytes),
        Chunk::List(children) => {
            let mut acc = tagged_hash("list", children.len());
            for child in children {
                acc = fold(&acc, &deep_hash(child));
            }
            acc
        }
    }
}

/// The deep hash of a list whose children are all blobs: the shape data items sign, without building
/// a tree first.
pub fn deep_hash_blobs(blobs: &[&[u8]]) -> DeepHash {
    blobs
        .iter()
        .fold(ListHasher::new(blobs.len()), |h, blob| h.blob(blob))
        .finish()
}

/// A list's deep hash built one blob at a time. Its state after a fixed prefix can be kept and
/// cloned, which [`crate::dataitem`] does for the constant start of every item's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListHasher {
    acc: DeepHash,
}

impl ListHasher {
    /// A list that will hold `len` children.
    pub fn new(len: usize) -> Self {
        ListHasher {
            acc: tagged_hash("list", len),
        }
    }

    /// Fold in the next child, a blob.
    pub fn blob(mut self, bytes: &[u8]) -> Self {
        self.acc = fold(&self.acc, &deep_hash_blob(bytes));
        self
    }

    /// The list's deep hash, once every child is in.
    pub fn finish(self) -> DeepHash {
        self.acc
    }
}

fn deep_hash_blob(bytes: &[u8]) -> DeepHash {
    let tag = tagged_hash("blob", bytes.len());
    fold(&tag, &Sha384::digest(bytes).into())
}

fn tagged_hash(kind: &str, n: usize) -> DeepHash {
    let mut h = Sha384::new();
    h.update(kind.as_bytes());
    h.update(n.to_string().as_bytes());
    h.finalize().into()
}

fn fold(left: &DeepHash, right: &DeepHash) -> DeepHash {
    let mut h = Sha384::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}
