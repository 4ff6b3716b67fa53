//! Signature types and the one verification path for all of them.
//!
//! What is signed is always a 48-byte deep hash (of a data item or an L1 transaction); each type turns
//! it into the bytes its algorithm signs:
//! - 1, Arweave: RSA-PSS with SHA-256 over the deep hash; the salt length is read from the signature
//!   (0, 32 and 478 bytes all occur on the network), see [`crate::rsa_pss`].
//! - 2, ed25519: over the raw deep hash.
//! - 3, Ethereum: secp256k1 ECDSA over `keccak256("\x19Ethereum Signed Message:\n48" ‖ deep hash)`
//!   (EIP-191), signature `r ‖ s ‖ v`.
//! - 4, Solana (arbundles' HexInjectedSolanaSigner): ed25519 over the 96 ASCII hex digits of the deep hash.
//!
//! Types 5-7 are known to ANS-104 (so items of those types parse and show their fields) but are not
//! verified: they are rare on AO and each needs its own scheme.

use sha3::{Digest, Keccak256};

use crate::error::{Error, Result};

/// An ANS-104 signature type, with the lengths of its signature and owner fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// 1: Arweave RSA-PSS 4096 / SHA-256.
    Arweave,
    /// 2: ed25519.
    Ed25519,
    /// 3: Ethereum secp256k1, EIP-191 personal message.
    Ethereum,
    /// 4: Solana, ed25519 over the hex of the deep hash.
    Solana,
    /// 5: injected Aptos (parsed, not verified).
    InjectedAptos,
    /// 6: multi-signature Aptos (parsed, not verified).
    MultiAptos,
    /// 7: typed Ethereum, EIP-712 (parsed, not verified).
    TypedEthereum,
}

impl SignatureType {
    /// The type for its wire number, or an "unsupported signature type N" error.
    pub fn from_u16(n: u16) -> Result<Self> {
        Ok(match n {
            1 => SignatureType::Arweave,
            2 => SignatureType::Ed25519,
            3 => SignatureType::Ethereum,
            4 => SignatureType::Solana,
            5 => SignatureType::InjectedAptos,
            6 => SignatureType::MultiAptos,
            7 => SignatureType::TypedEthereum,
            other => return Err(Error::UnsupportedSignatureType(other)),
        })
    }

    /// The number written in the item.
    pub fn as_u16(self) -> u16 {
        match self {
            SignatureType::Arweave => 1,
            SignatureType::Ed25519 => 2,
            SignatureType::Ethereum => 3,
            SignatureType::Solana => 4,
            SignatureType::InjectedAptos => 5,
            SignatureType::MultiAptos => 6,
            SignatureType::TypedEthereum => 7,
        }
    }

    /// Length of the signature field in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            SignatureType::Arweave => 512,
            SignatureType::Ed25519 | SignatureType::Solana | SignatureType::InjectedAptos => 64,
            SignatureType::Ethereum | SignatureType::TypedEthereum => 65,
            SignatureType::MultiAptos => 2052,
        }
    }

    /// Length of the owner (public key) field in bytes.
    pub fn owner_len(self) -> usize {
        match self {
            SignatureType::Arweave => 512,
            SignatureType::Ed25519 | SignatureType::Solana | SignatureType::InjectedAptos => 32,
            SignatureType::Ethereum => 65,
            SignatureType::TypedEthereum => 42,
            SignatureType::MultiAptos => 1025,
        }
    }
}

/// Something that signs deep hashes: a wallet, an HSM, a unit's identity key.
///
/// Units and tools hold a `&dyn Signer` and never care which kind of key is behind it.
pub trait Signer: Send + Sync {
    /// The signature type this signer produces.
    fn signature_type(&self) -> SignatureType;
    /// The owner field: the public key as the item carries it.
    fn owner(&self) -> &[u8];
    /// Sign a 48-byte deep hash, returning exactly `signature_type().signature_len()` bytes.
    fn sign(&self, deep_hash: &[u8]) -> Result<Vec<u8>>;
}

/// Verify `signature` by `owner` over `deep_hash` for any supported type: the single place every
/// item and transaction signature in ao-rs is checked.
pub fn verify(
    signature_type: SignatureType,
    owner: &[u8],
    deep_hash: &[u8],
    signature: &[u8],
) -> Result<()> {
    if owner.len() != signature_type.owner_len()
        || signature.len() != signature_type.signature_len()
    {
        return Err(Error::InvalidSignature(format!(
            "type {} needs a {}-byte owner and a {}-byte signature, got {} and {}",
            signature_type.as_u16(),
            signature_type.owner_len(),
            signature_type.signature_len(),
            owner.len(),
            signature.len()
        )));
    }
    match signature_type {
        SignatureType::Arweave => crate::rsa_pss::verify(owner, deep_hash, signature),
        SignatureType::Ed25519 => verify_ed25519(owner, deep_hash, signature),
        SignatureType::Solana => {
            verify_ed25519(owner, hex::encode(deep_hash).as_bytes(), signature)
        }
        SignatureType::Ethereum => verify_ethereum(owner, deep_hash, signature),
        other => Err(Error::UnsupportedSignatureType(other.as_u16())),
    }
}

fn verify_ed25519(owner: &[u8], message: &[u8], signature: &[u8]) -> Result<()> {
    let key: [u8; 32] = owner
        .try_into()
        .map_err(|_| Error::InvalidSignature("ed25519 owner must be 32 bytes".into()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|e| Error::InvalidSignature(format!("owner is not an ed25519 public key: {e}")))?;
    let sig = ed25519_dalek::Signature::from_slice(signature)
        .map_err(|e| Error::InvalidSignature(format!("malformed ed25519 signature: {e}")))?;
    // Strict verification refuses weak keys and non-canonical signatures, which no honest signer makes.
    key.verify_strict(message, &sig)
        .map_err(|_| Error::InvalidSignature("ed25519 signature does not match".into()))
}

/// The digest an Ethereum (type 3) signer signs: EIP-191 over the 48-byte deep hash.
pub fn ethereum_message_digest(deep_hash: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", deep_hash.len()).as_bytes());
    h.update(deep_hash);
    h.finalize().into()
}

fn verify_ethereum(owner: &[u8], deep_hash: &[u8], signature: &[u8]) -> Result<()> {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(owner).map_err(|e| {
        Error::InvalidSignature(format!("owner is not a secp256k1 public key: {e}"))
    })?;
    let sig = k256::ecdsa::Signature::from_slice(&signature[..64])
        .map_err(|e| Error::InvalidSignature(format!("malformed secp256k1 signature: {e}")))?;
    // Ethereum tooling recovers the signer and accepts either s; k256 only accepts low s.
    let sig = sig.normalize_s().unwrap_or(sig);
    key.verify_prehash(&ethereum_message_digest(deep_hash), &sig)
        .map_err(|_| Error::InvalidSignature("secp256k1 signature does not match".into()))
}

/// The EIP-55 checksummed address (`0x…`) of a 65-byte uncompressed secp256k1 public key.
pub fn ethereum_address(owner: &[u8]) -> Result<String> {
    if owner.len() != 65 || owner[0] != 4 {
        return Err(Error::Encoding {
            what: "ethereum owner",
            reason: format!(
                "an uncompressed secp256k1 key has 65 bytes starting with 0x04, got {} bytes",
                owner.len()
            ),
        });
    }
    let hash = Keccak256::digest(&owner[1..]);
    let lower = hex::encode(&hash[12..]);
    let check = hex::encode(Keccak256::digest(lower.as_bytes()));
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (c, k) in lower.chars().zip(check.chars()) {
        if c.is_ascii_alphabetic() && k.to_digit(16).unwrap_or(0) >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_named() {
        assert_eq!(
            SignatureType::from_u16(99).unwrap_err().to_string(),
            "unsupported signature type 99"
        );
        for n in 1..=7 {
            assert_eq!(SignatureType::from_u16(n).unwrap().as_u16(), n);
        }
    }

    #[test]
    fn eip55_matches_the_reference_vector() {
        // Owner of the fixtures' throwaway Ethereum key; the checksum is EIP-55's rule.
        let owner = hex::decode("0482d9e30f6cbbfcb423591cb94598a30a66996810d5dcb1e8d159cd1dc10e244c487054eda9bfafb40575f4ad85464e279219abd14d5eeaf48428fd69024ed88c").unwrap();
        let addr = ethereum_address(&owner).unwrap();
        assert_eq!(
            addr.to_lowercase(),
            "0x6db4c80028dd0c3a10fdd6ce3d0aaa5bd064e935"
        );
        assert_ne!(addr, addr.to_lowercase(), "EIP-55 mixes cases");
    }
}
