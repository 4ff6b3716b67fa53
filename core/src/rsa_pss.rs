//! RSA-PSS / SHA-256 verification with the salt length read from the signature (type 1 items and L1
//! transactions).
//!
//! Arweave signers disagree on the salt length: the Rust SU uses 32, Node (arbundles, aoconnect,
//! arweave-js) the maximum, 478 for a 4096-bit key, and some tools 0. All are valid PSS, and a verifier
//! that fixes one length refuses the others, so this module implements EMSA-PSS-VERIFY (RFC 8017
//! 9.1.2) with the salt length recovered from the decoded block, as OpenSSL's `RSA_PSS_SALTLEN_AUTO`
//! does, on top of our own Montgomery arithmetic (see `Modulus` for why).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rsa::BigUint;
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
    let n = Modulus::cached(modulus)?;
    let s = to_limbs(signature, n.limbs.len())
        .ok_or_else(|| Error::InvalidSignature("signature is longer than the modulus".into()))?;
    if !less_than(&s, &n.limbs) {
        return Err(Error::InvalidSignature(
            "signature is not smaller than the modulus".into(),
        ));
    }
    let m = n.pow(&s, ARWEAVE_PUBLIC_EXPONENT);
    let em_bits = n.bits - 1;
    let em_len = em_bits.div_ceil(8);
    let m = from_limbs(&m);
    // m < n, so it fits in emLen bytes unless the top byte(s) beyond emLen are zero, which they
    // must be: strip them, refusing anything that does not fit.
    let (high, em) = m.split_at(m.len() - em_len);
    if high.iter().any(|&b| b != 0) {
        return Err(pss_mismatch());
    }
    emsa_pss_verify(&Sha256::digest(message), em, em_bits)
}

/// An RSA modulus ready for Montgomery arithmetic.
///
/// Why our own: the `rsa` crate's big integers (num-bigint-dig) took ~1 ms per 4096-bit public
/// operation here, and every message on AO carries such a signature. Montgomery multiplication on
/// 64-bit limbs (CIOS) does the 17 multiplications of `s^65537 mod n` in a few microseconds each.
/// Only public values are involved (signature, key, message), so nothing here needs constant time.
struct Modulus {
    /// Little-endian 64-bit limbs.
    limbs: Vec<u64>,
    /// `-n^-1 mod 2^64`.
    n0_inv: u64,
    /// `R^2 mod n` with `R = 2^(64·len)`, to enter the Montgomery domain.
    r2: Vec<u64>,
    /// Significant bits of n.
    bits: usize,
}

/// How many moduli `Modulus::cached` keeps. AO traffic comes from few signers at a time (a
/// unit's MU pushes most messages; a user sends many), so a small table catches nearly all of it;
/// at 1024 entries of ~1.1 KiB it costs about 1 MiB.
pub const MODULUS_CACHE_ENTRIES: usize = 1024;

static MODULI: std::sync::OnceLock<Mutex<HashMap<Vec<u8>, Arc<Modulus>>>> =
    std::sync::OnceLock::new();

impl Modulus {
    /// The prepared modulus for an owner, from a process-wide table: preparing one (mostly
    /// `R^2 mod n`) costs 12 of the 31 Montgomery products of a verification, and the same
    /// signers sign again and again. The table is simply emptied when full.
    fn cached(modulus: &[u8]) -> Result<Arc<Self>> {
        let table = MODULI.get_or_init(|| Mutex::new(HashMap::new()));
        // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
        if let Some(hit) = table.lock().unwrap_or_else(|e| e.into_inner()).get(modulus) {
            return Ok(Arc::clone(hit));
        }
        let prepared = Arc::new(Modulus::new(modulus)?);
        let mut map = table.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MODULUS_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(modulus.to_vec(), Arc::clone(&prepared));
        Ok(prepared)
    }

    fn new(modulus: &[u8]) -> Result<Self> {
        let first = modulus
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(modulus.len());
        let significant = &modulus[first..];
        let bits = significant.first().map_or(0, |&top| {
            significant.len() * 8 - top.leading_zeros() as usize
        });
        if !(512..=MAX_MODULUS_BITS).contains(&bits)
            || significant.last().is_none_or(|b| b & 1 == 0)
        {
            return Err(Error::InvalidSignature(format!(
                "owner is not an RSA modulus of 512 to {MAX_MODULUS_BITS} bits ({bits} bits{})",
                if bits > 0 && significant.last().is_some_and(|b| b & 1 == 0) {
                    ", even"
                } else {
                    ""
                }
            )));
        }
        let len = significant.len().div_ceil(8);
        let limbs = to_limbs(significant, len)
            .ok_or_else(|| Error::InvalidSignature("owner is not an RSA modulus".into()))?;
        // Newton's iteration doubles the correct low bits each step: 1 -> 2 -> 4 ... -> 64.
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(limbs[0].wrapping_mul(inv)));
        }
        let mut modulus = Modulus {
            limbs,
            n0_inv: inv.wrapping_neg(),
            r2: Vec::new(),
            bits,
        };
        modulus.r2 = if bits == 64 * len {
            modulus.r_squared()
        } else {
            // Moduli whose top limb is not full are rare (never Arweave's): big-integer division.
            let n = BigUint::from_bytes_be(significant);
            let r2 = (BigUint::from(1u8) << (128 * len)) % &n;
            to_limbs(&r2.to_bytes_be(), len)
                .ok_or_else(|| Error::InvalidSignature("owner is not an RSA modulus".into()))?
        };
        Ok(modulus)
    }

    /// `R^2 mod n` without division, for a modulus with its top bit set (so `R - n < n`):
    /// write `64·len = t·2^j` with t odd; double `R mod n` t times to get `2^t·R`, then square j
    /// times in the Montgomery domain (`(aR)(aR)R^-1 = a²R`) to reach `2^(64·len)·R = R²`.
    fn r_squared(&self) -> Vec<u64> {
        let n = &self.limbs;
        // R - n, as the two's complement of n in len limbs.
        let mut x: Vec<u64> = n.iter().map(|l| !l).collect();
        add_one(&mut x);
        let total = 64 * n.len();
        let j = total.trailing_zeros();
        for _ in 0..(total >> j) {
            let carry = x.iter_mut().fold(0u64, |carry, l| {
                let next = *l >> 63;
                *l = (*l << 1) | carry;
                next
            });
            if carry != 0 || !less_than(&x, n) {
                sub_in_place(&mut x, n);
            }
        }
        for _ in 0..j {
            x = self.mul(&x, &x);
        }
        x
    }

    /// `base^e mod n` for a public exponent, by left-to-right square and multiply.
    fn pow(&self, base: &[u64], e: u32) -> Vec<u64> {
        let x = self.mul(base, &self.r2);
        let mut acc = x.clone();
        for bit in (0..(31 - e.leading_zeros())).rev() {
            acc = self.mul(&acc, &acc);
            if e >> bit & 1 == 1 {
                acc = self.mul(&acc, &x);
            }
        }
        let mut one = vec![0u64; self.limbs.len()];
        one[0] = 1;
        self.mul(&acc, &one)
    }

    /// Montgomery product `a·b·R^-1 mod n`, for `a, b < n`.
    ///
    /// FIOS form: one inner loop adds both `a·b[i]` and `m·n`, so the two carry chains run side by
    /// side instead of one after the other (each multiply-add waits on its carry, so a single chain
    /// is bound by latency). The running value stays below `2n`, so it needs one extra limb.
    fn mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
        let len = self.limbs.len();
        // Slicing everything to `len` up front lets the compiler drop bounds checks in the loop.
        let (n, a, b) = (&self.limbs[..len], &a[..len], &b[..len]);
        let mut t = vec![0u64; len + 1];
        for &bi in b {
            let (low, mut c1) = mac(t[0], a[0], bi, 0);
            let m = low.wrapping_mul(self.n0_inv);
            let (_, mut c2) = mac(low, m, n[0], 0);
            for j in 1..len {
                let low;
                (low, c1) = mac(t[j], a[j], bi, c1);
                (t[j - 1], c2) = mac(low, m, n[j], c2);
            }
            let (s1, o1) = t[len].overflowing_add(c1);
            let (s2, o2) = s1.overflowing_add(c2);
            t[len - 1] = s2;
            t[len] = u64::from(o1) + u64::from(o2);
        }
        let mut out = t[..len].to_vec();
        if t[len] != 0 || !less_than(&out, n) {
            sub_in_place(&mut out, n);
        }
        out
    }
}

/// `a -= b` modulo `2^(64·len)`.
fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *x = d2;
        borrow = b1 || b2;
    }
}

fn add_one(a: &mut [u64]) {
    for x in a {
        let (sum, over) = x.overflowing_add(1);
        *x = sum;
        if !over {
            break;
        }
    }
}

/// `t + a·b + carry` as (low, high) limbs; cannot overflow 128 bits.
fn mac(t: u64, a: u64, b: u64, carry: u64) -> (u64, u64) {
    let wide = u128::from(t) + u128::from(a) * u128::from(b) + u128::from(carry);
    (wide as u64, (wide >> 64) as u64)
}

/// Big-endian bytes to `len` little-endian limbs, or `None` if they do not fit.
fn to_limbs(bytes: &[u8], len: usize) -> Option<Vec<u64>> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let bytes = &bytes[first..];
    if bytes.len() > len * 8 {
        return None;
    }
    let mut limbs = vec![0u64; len];
    for (i, chunk) in bytes.rchunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[8 - chunk.len()..].copy_from_slice(chunk);
        limbs[i] = u64::from_be_bytes(word);
    }
    Some(limbs)
}

/// Little-endian limbs to big-endian bytes (8 per limb).
fn from_limbs(limbs: &[u64]) -> Vec<u8> {
    limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect()
}

fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
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
    use rsa::traits::PublicKeyParts;

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
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert!(verify(&even, b"message", &[1]).is_err(), "even modulus");
        assert!(verify(&[0u8; 4], b"message", &[1]).is_err(), "tiny modulus");
    }

    #[test]
    fn montgomery_pow_agrees_with_big_integers() {
        let mut rng = rand::thread_rng();
        for bits in [512, 1024, 2048, 4096] {
            let key = rsa::RsaPrivateKey::new(&mut rng, bits).unwrap();
            let n_bytes = key.n().to_bytes_be();
            let n = Modulus::new(&n_bytes).unwrap();
            for seed in 0u8..4 {
                let s: Vec<u8> = (0..n_bytes.len() - 1)
                    .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                    .collect();
                let expected = BigUint::from_bytes_be(&s).modpow(&BigUint::from(65537u32), key.n());
                let got = from_limbs(&n.pow(&to_limbs(&s, n.limbs.len()).unwrap(), 65537));
                assert_eq!(
                    BigUint::from_bytes_be(&got),
                    expected,
                    "{bits} bits, seed {seed}"
                );
            }
            let r2 = (BigUint::from(1u8) << (128 * n.limbs.len())) % key.n();
            assert_eq!(
                BigUint::from_bytes_be(&from_limbs(&n.r2)),
                r2,
                "{bits} bits: R^2"
            );
        }
    }
}
