//! RSA-PSS / SHA-256 verification with the salt length read from the signature (type 1 items and L1
//! transactions).
//!
//! Arweave signers disagree on the salt length: the Rust SU uses 32, Node (arbundles, aoconnect,
//! arweave-js) the maximum, 478 for a 4096-bit key, and some tools 0. All are valid PSS, and a verifier
//! that fixes one length refuses the others, so this module implements EMSA-PSS-VERIFY (RFC 8017
//! 9.1.2) with the salt length recovered from the decoded block, as OpenSSL's `RSA_PSS_SALTLEN_AUTO`
//! does. The big-integer arithmetic is the `rsa` crate's.

use rsa::BigUint;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The public exponent of every Arweave key (arweave-js and the node hard-code it).
pub const ARWEAVE_PUBLIC_EXPONENT: u32 = 65537;
/// Largest modulus accepted, in bits: ANS-104 type 1 owners are 512 bytes.
pub const MAX_MODULUS_BITS: usize = 4096;

const H_LEN: usize = 32;

/// Verify a PSS signature by the key with modulus `modulus` (big-endian, as an Arweave owner) over
/// `message` (SHA-256 is applied here, as RSA-PSS/SHA-256 does).
pub fn verify(modulus: &[u8], message: &[u8], signature: &[u8]) -> Result<()> {
    let key = rsa::RsaPublicKey::new_with_max_size(
        BigUint::from_bytes_be(modulus),
        BigUint::from(ARWEAVE_PUBLIC_EXPONENT),
        MAX_MODULUS_BITS,
    )
    .map_err(|e| Error::InvalidSignature(format!("owner is not an RSA modulus: {e}")))?;
    let s = BigUint::from_bytes_be(signature);
    if &s >= key.n() {
        return Err(Error::InvalidSignature(
            "signature is not smaller than the modulus".into(),
        ));
    }
    // The RSA public operation, s^e mod n (what the `rsa` crate's `hazmat::rsa_encrypt` does).
    let m = s.modpow(key.e(), key.n());
    let mod_bits = key.n().bits();
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let m = m.to_bytes_be();
    if m.len() > em_len {
        return Err(pss_mismatch());
    }
    // Left-pad to emLen: the integer drops leading zero bytes.
    let mut em = vec![0u8; em_len];
    em[em_len - m.len()..].copy_from_slice(&m);
    emsa_pss_verify(&Sha256::digest(message), &em, em_bits)
}

fn pss_mismatch() -> Error {
    Error::InvalidSignature("RSA-PSS signature does not match".into())
}

/// EMSA-PSS-VERIFY with an unknown salt length.
fn emsa_pss_verify(m_hash: &[u8], em: &[u8], em_bits: usize) -> Result<()> {
    let em_len = em.len();
    if em_len < H_LEN + 2 || em[em_len - 1] != 0xbc {
        return Err(pss_mismatch());
    }
    let (masked_db, rest) = em.split_at(em_len - H_LEN - 1);
    let h = &rest[..H_LEN];
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> unused_bits;
    if masked_db[0] & !top_mask != 0 {
        return Err(pss_mismatch());
    }
    let mut db = mgf1_sha256(h, masked_db.len());
    for (d, m) in db.iter_mut().zip(masked_db) {
        *d ^= m;
    }
    db[0] &= top_mask;
    // DB = PS (zeros) ‖ 0x01 ‖ salt: the first non-zero byte must be the 0x01 separator.
    let sep = db.iter().position(|&b| b != 0).ok_or_else(pss_mismatch)?;
    if db[sep] != 0x01 {
        return Err(pss_mismatch());
    }
    let salt = &db[sep + 1..];
    let mut hasher = Sha256::new();
    hasher.update([0u8; 8]);
    hasher.update(m_hash);
    hasher.update(salt);
    if hasher.finalize()[..] == *h {
        Ok(())
    } else {
        Err(pss_mismatch())
    }
}

fn mgf1_sha256(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + H_LEN);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(seed);
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pss::BlindedSigningKey;
    use rsa::signature::{RandomizedSigner, SignatureEncoding};

    #[test]
    fn every_salt_length_verifies_and_tampering_fails() {
        let mut rng = rand::thread_rng();
        // 1024 bits keeps the test fast; the code path is the same for 4096.
        let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let n = key.n().to_bytes_be();
        let max_salt = 1024 / 8 - H_LEN - 2;
        for salt in [0, 20, 32, max_salt] {
            let signer = BlindedSigningKey::<Sha256>::new_with_salt_len(key.clone(), salt);
            let sig = signer.sign_with_rng(&mut rng, b"message").to_vec();
            verify(&n, b"message", &sig).unwrap_or_else(|e| panic!("salt {salt}: {e}"));
            assert!(verify(&n, b"messagf", &sig).is_err());
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(verify(&n, b"message", &bad).is_err());
        }
        assert!(verify(&n, b"message", &n).is_err(), "s >= n is refused");
    }
}
