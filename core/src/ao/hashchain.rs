//! The SU's hash chain: each assignment of a process carries a `Hash-Chain` that commits to the
//! assignment before it, so a CU can tell that the SU served it every slot in order (spec 1.3).
//!
//! Definition (legacy SU, `ao.TN.1`):
//! `next = SHA-256(raw(previous assignment id) ‖ raw(previous hash chain))`, where `raw` is the
//! 32 bytes behind the base64url text. The first value of a process has no previous assignment and
//! hashes the process id alone: `SHA-256(raw(process id))`. HyperBEAM chains differently
//! (`SHA-256(previous ‖ message id)`) and is not covered here.

use std::fmt;

use crate::encoding::{b64url, sha256};
use crate::error::Result;

use super::{read, tag, value};

/// The hash chain value that follows `previous`: `SHA-256(previous_assignment_id ‖ previous)`, with
/// the id left out when there is none.
///
/// For the first assignment of a process, pass `None` and the raw process id as `previous`.
pub fn next_hash_chain(previous_assignment_id: Option<&[u8; 32]>, previous: &[u8; 32]) -> [u8; 32] {
    let mut input = Vec::with_capacity(64);
    if let Some(id) = previous_assignment_id {
        input.extend_from_slice(id);
    }
    input.extend_from_slice(previous);
    sha256(input)
}

/// [`next_hash_chain`] on base64url text, as ids and hash chains arrive in the SU's JSON; errors
/// name the tag (`Message` for the assignment id, `Hash-Chain` for the previous value).
pub fn next_hash_chain_b64(previous_assignment_id: Option<&str>, previous: &str) -> Result<String> {
    let id = previous_assignment_id
        .map(|s| read::id(value::TYPE_ASSIGNMENT, tag::ASSIGNMENT, s))
        .transpose()?;
    let prev = read::id(value::TYPE_ASSIGNMENT, tag::HASH_CHAIN, previous)?;
    Ok(b64url(next_hash_chain(id.as_ref(), &prev)))
}

/// Where a process's chain stands: what the next assignment's `Hash-Chain` must be.
///
/// The SU keeps one per process to stamp new assignments; the CU keeps one while reading a
/// schedule to check each assignment against the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashChain {
    expected: Option<[u8; 32]>,
}

impl HashChain {
    /// A process with no assignment yet: the next value is `SHA-256(raw process id)`.
    pub fn for_new_process(process_id: &[u8; 32]) -> Self {
        HashChain {
            expected: Some(next_hash_chain(None, process_id)),
        }
    }

    /// After the assignment `assignment_id` that carried `hash_chain`.
    pub fn after(assignment_id: &[u8; 32], hash_chain: &[u8; 32]) -> Self {
        HashChain {
            expected: Some(next_hash_chain(Some(assignment_id), hash_chain)),
        }
    }

    /// Reading starts mid-stream with nothing known before (a CU's cold start on a page that does
    /// not begin at the process): the first link is accepted as it is, later ones are checked.
    pub fn unknown() -> Self {
        HashChain { expected: None }
    }

    /// The value the next assignment must carry, if known.
    pub fn expected(&self) -> Option<[u8; 32]> {
        self.expected
    }

    /// Accept the next assignment if its `Hash-Chain` is the expected one, and move past it.
    /// On a mismatch the chain does not move.
    pub fn push(
        &mut self,
        assignment_id: &[u8; 32],
        hash_chain: &[u8; 32],
    ) -> Result<(), Mismatch> {
        if let Some(expected) = self.expected
            && expected != *hash_chain
        {
            return Err(Mismatch {
                expected,
                found: *hash_chain,
            });
        }
        *self = HashChain::after(assignment_id, hash_chain);
        Ok(())
    }
}

/// A `Hash-Chain` that is not the one the previous link implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The value the previous link implies.
    pub expected: [u8; 32],
    /// The value the assignment carries.
    pub found: [u8; 32],
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Hash-Chain is {}, the previous assignment implies {}",
            b64url(self.found),
            b64url(self.expected)
        )
    }
}

impl std::error::Error for Mismatch {}

/// The first link of a sequence that does not follow from the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenLink {
    /// Position in the sequence given to [`verify_chain`], from 0.
    pub index: usize,
    /// The assignment whose `Hash-Chain` is wrong.
    pub assignment_id: [u8; 32],
    /// What was expected and what was found.
    pub mismatch: Mismatch,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hash chain broken at link {} (assignment {}): {}",
            self.index,
            b64url(self.assignment_id),
            self.mismatch
        )
    }
}

impl std::error::Error for BrokenLink {}

/// Walk `(assignment id, hash chain)` pairs in nonce order from `start` and report the first link
/// that does not follow, so a CU can name the slot an SU got wrong.
pub fn verify_chain<'a>(
    start: HashChain,
    links: impl IntoIterator<Item = (&'a [u8; 32], &'a [u8; 32])>,
) -> Result<HashChain, BrokenLink> {
    let mut chain = start;
    for (index, (assignment_id, hash_chain)) in links.into_iter().enumerate() {
        chain
            .push(assignment_id, hash_chain)
            .map_err(|mismatch| BrokenLink {
                index,
                assignment_id: *assignment_id,
                mismatch,
            })?;
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::decode_id;
    use sha2::{Digest, Sha256};

    fn raw(id: &str) -> [u8; 32] {
        decode_id("test", id).expect("test id")
    }

    // Computed with python3 hashlib from the spec's definition:
    // pid = bytes(range(32)); h0 = sha256(pid); h1 = sha256(b"\xaa"*32 + h0); h2 = sha256(b"\xbb"*32 + h1)
    const PID: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const H0: &str = "Yw3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0";
    const H1: &str = "CVyXxugSUOEKAkOty46KDEuyJhMvFNki4RFi3_3JgRI";
    const H2: &str = "X6Y8T92NIrOSbuPfelOaKkOHCYCfMH1CVVGj_i33-DY";

    #[test]
    fn values_match_python_hashlib() {
        let pid = raw(PID);
        assert_eq!(pid, core::array::from_fn(|i| i as u8));
        let h0 = next_hash_chain(None, &pid);
        assert_eq!(b64url(h0), H0);
        let h1 = next_hash_chain(Some(&[0xaa; 32]), &h0);
        assert_eq!(b64url(h1), H1);
        let h2 = next_hash_chain(Some(&[0xbb; 32]), &h1);
        assert_eq!(b64url(h2), H2);
        assert_eq!(
            hex::encode(h2),
            "5fa63c4fdd8d22b3926ee3df7a539a2a438709809f307d425551a3fe2df7f836"
        );
    }

    #[test]
    fn values_match_sha2_directly() {
        let mut h = Sha256::new();
        h.update([1u8; 32]);
        h.update([2u8; 32]);
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(next_hash_chain(Some(&[1; 32]), &[2; 32]), want);
        let want: [u8; 32] = Sha256::digest([2u8; 32]).into();
        assert_eq!(next_hash_chain(None, &[2; 32]), want);
        assert_eq!(
            next_hash_chain_b64(Some(&b64url([1u8; 32])), &b64url([2u8; 32])).ok(),
            Some(b64url(next_hash_chain(Some(&[1; 32]), &[2; 32])))
        );
        assert!(next_hash_chain_b64(None, "short").is_err());
    }

    #[test]
    fn verify_chain_reports_the_first_broken_link() {
        let pid = raw(PID);
        let (a0, a1, a2) = ([0xaa; 32], [0xbb; 32], [0xcc; 32]);
        let (h0, h1, h2) = (raw(H0), raw(H1), raw(H2));
        let good = [(&a0, &h0), (&a1, &h1), (&a2, &h2)];
        let end = verify_chain(HashChain::for_new_process(&pid), good).expect("good chain");
        assert_eq!(end, HashChain::after(&a2, &h2));

        // Cold start: the first link is taken on trust, the rest must follow.
        assert!(verify_chain(HashChain::unknown(), [(&a1, &h1), (&a2, &h2)]).is_ok());
        // Resuming from a known link.
        assert!(verify_chain(HashChain::after(&a0, &h0), [(&a1, &h1)]).is_ok());

        let wrong = [7u8; 32];
        let broken = [(&a0, &h0), (&a1, &h1), (&a2, &wrong)];
        let err = verify_chain(HashChain::for_new_process(&pid), broken).expect_err("broken");
        assert_eq!(err.index, 2);
        assert_eq!(err.assignment_id, a2);
        assert_eq!(err.mismatch.expected, h2);
        assert_eq!(err.mismatch.found, wrong);
        assert!(err.to_string().contains("link 2"), "{err}");

        // Swapping two assignments breaks the chain at the first of them.
        let swapped = [(&a1, &h1), (&a0, &h0)];
        let err = verify_chain(HashChain::for_new_process(&pid), swapped).expect_err("swapped");
        assert_eq!(err.index, 0);
    }
}
