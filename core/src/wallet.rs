//! Wallets: keys that sign data items, in the JSON forms people already have.
//!
//! - Arweave: an RSA-4096 JWK (`kty: RSA`, as arweave-js and Wander export it). Signs type 1 with a
//!   32-byte PSS salt, like the reference Rust SU.
//! - ed25519: an OKP JWK (`kty: OKP, crv: Ed25519, d, x`). Signs type 2. Deterministic: signing the
//!   same item twice gives the same id, which the MU relies on to re-sign after a crash without
//!   creating a second message.
//! - Ethereum: an EC JWK (`kty: EC, crv: secp256k1`), or `{"private_key_hex": …}`. Signs type 3.
//!
//! This module only converts between JSON text and keys; reading and writing files is the caller's.

use ed25519_dalek::Signer as _;
use rsa::pss::BlindedSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::encoding::{b64url, b64url_decode, sha256};
use crate::error::{Error, Result};
use crate::signature::{SignatureType, Signer, ethereum_address, ethereum_message_digest};

/// RSA modulus size of an Arweave wallet, in bits.
pub const ARWEAVE_KEY_BITS: usize = 4096;
/// PSS salt length we sign with: the reference Rust SU's choice; verifiers detect any length.
pub const ARWEAVE_SALT_LEN: usize = 32;

/// The kinds of wallet `ao wallet new` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletKind {
    /// RSA-4096 JWK, signature type 1.
    Arweave,
    /// ed25519 JWK, signature type 2.
    Ed25519,
    /// secp256k1 JWK, signature type 3.
    Ethereum,
}

/// A loaded wallet of any kind; implements [`Signer`].
pub enum Wallet {
    /// An Arweave RSA key.
    Arweave(ArweaveWallet),
    /// An ed25519 key.
    Ed25519(Ed25519Wallet),
    /// An Ethereum secp256k1 key.
    Ethereum(EthereumWallet),
}

impl Wallet {
    /// Make a new random wallet. An RSA-4096 key takes seconds to find; the others are instant.
    pub fn generate(kind: WalletKind) -> Result<Self> {
        Ok(match kind {
            WalletKind::Arweave => Wallet::Arweave(ArweaveWallet::generate()?),
            WalletKind::Ed25519 => Wallet::Ed25519(Ed25519Wallet::generate()),
            WalletKind::Ethereum => Wallet::Ethereum(EthereumWallet::generate()),
        })
    }

    /// Load a wallet from its JSON text, recognising the kind from the fields.
    pub fn from_json(text: &str) -> Result<Self> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| Error::Wallet(format!("not JSON: {e}")))?;
        match (
            v.get("kty").and_then(Value::as_str),
            v.get("crv").and_then(Value::as_str),
        ) {
            (Some("RSA"), _) => Ok(Wallet::Arweave(ArweaveWallet::from_jwk(&v)?)),
            (Some("OKP"), Some("Ed25519")) => Ok(Wallet::Ed25519(Ed25519Wallet::from_jwk(&v)?)),
            (Some("EC"), Some("secp256k1")) => Ok(Wallet::Ethereum(EthereumWallet::from_jwk(&v)?)),
            _ if v.get("seed_hex").is_some() => Ok(Wallet::Ed25519(Ed25519Wallet::from_seed(
                &hex_field(&v, "seed_hex")?,
            )?)),
            _ if v.get("private_key_hex").is_some() => Ok(Wallet::Ethereum(
                EthereumWallet::from_secret(&hex_field(&v, "private_key_hex")?)?,
            )),
            (kty, crv) => Err(Error::Wallet(format!(
                "unknown wallet: kty {kty:?}, crv {crv:?}; expected an RSA JWK (Arweave), an OKP Ed25519 JWK or an EC secp256k1 JWK"
            ))),
        }
    }

    /// The wallet as JSON text (a JWK), to be written to a file the owner keeps private.
    pub fn to_json(&self) -> String {
        let v = match self {
            Wallet::Arweave(w) => w.to_jwk(),
            Wallet::Ed25519(w) => w.to_jwk(),
            Wallet::Ethereum(w) => w.to_jwk(),
        };
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// The address people and AO use for this wallet: `base64url(sha256(owner))`, or the EIP-55
    /// address for Ethereum keys.
    pub fn address(&self) -> String {
        match self {
            Wallet::Ethereum(w) => ethereum_address(w.owner()).unwrap_or_default(),
            other => b64url(sha256(other.owner())),
        }
    }

    fn inner(&self) -> &dyn Signer {
        match self {
            Wallet::Arweave(w) => w,
            Wallet::Ed25519(w) => w,
            Wallet::Ethereum(w) => w,
        }
    }
}

impl From<Ed25519Wallet> for Wallet {
    fn from(w: Ed25519Wallet) -> Wallet {
        Wallet::Ed25519(w)
    }
}

impl From<EthereumWallet> for Wallet {
    fn from(w: EthereumWallet) -> Wallet {
        Wallet::Ethereum(w)
    }
}

impl From<ArweaveWallet> for Wallet {
    fn from(w: ArweaveWallet) -> Wallet {
        Wallet::Arweave(w)
    }
}

impl Signer for Wallet {
    fn signature_type(&self) -> SignatureType {
        self.inner().signature_type()
    }
    fn owner(&self) -> &[u8] {
        self.inner().owner()
    }
    fn sign(&self, deep_hash: &[u8]) -> Result<Vec<u8>> {
        self.inner().sign(deep_hash)
    }
}

/// An Arweave RSA-4096 key.
pub struct ArweaveWallet {
    signing: BlindedSigningKey<Sha256>,
    modulus: Vec<u8>,
}

impl ArweaveWallet {
    /// A new random key.
    pub fn generate() -> Result<Self> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), ARWEAVE_KEY_BITS)
            .map_err(|e| Error::Wallet(format!("RSA key generation failed: {e}")))?;
        Self::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<Self> {
        if key.size() * 8 != ARWEAVE_KEY_BITS {
            return Err(Error::Wallet(format!(
                "an Arweave key has a {ARWEAVE_KEY_BITS}-bit modulus, this one has {} bits",
                key.n().bits()
            )));
        }
        let modulus = key.n().to_bytes_be();
        Ok(ArweaveWallet {
            signing: BlindedSigningKey::new_with_salt_len(key, ARWEAVE_SALT_LEN),
            modulus,
        })
    }

    /// Load from a parsed JWK.
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        let n = big(jwk, "n")?;
        let e = big(jwk, "e")?;
        let d = big(jwk, "d")?;
        let primes = vec![big(jwk, "p")?, big(jwk, "q")?];
        let key = RsaPrivateKey::from_components(n, e, d, primes)
            .map_err(|e| Error::Wallet(format!("inconsistent RSA JWK: {e}")))?;
        key.validate()
            .map_err(|e| Error::Wallet(format!("invalid RSA JWK: {e}")))?;
        Self::from_key(key)
    }

    /// The key as a JWK with every CRT parameter, as arweave-js writes it.
    pub fn to_jwk(&self) -> Value {
        let key: &RsaPrivateKey = self.signing.as_ref();
        let enc = |b: &BigUint| b64url(b.to_bytes_be());
        let primes = key.primes();
        let (dp, dq, qi) = match (key.dp(), key.dq(), key.crt_coefficient()) {
            (Some(dp), Some(dq), Some(qi)) => (enc(dp), enc(dq), enc(&qi)),
            _ => Default::default(),
        };
        json!({
            "kty": "RSA",
            "n": enc(key.n()),
            "e": enc(key.e()),
            "d": enc(key.d()),
            "p": primes.first().map(enc).unwrap_or_default(),
            "q": primes.get(1).map(enc).unwrap_or_default(),
            "dp": dp,
            "dq": dq,
            "qi": qi,
        })
    }
}

impl Signer for ArweaveWallet {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Arweave
    }
    fn owner(&self) -> &[u8] {
        &self.modulus
    }
    fn sign(&self, deep_hash: &[u8]) -> Result<Vec<u8>> {
        let sig = self
            .signing
            .try_sign_with_rng(&mut rand::thread_rng(), deep_hash)
            .map_err(|e| Error::Wallet(format!("RSA-PSS signing failed: {e}")))?;
        // The signature is an integer below n: left-pad it to the modulus length.
        let sig = sig.to_vec();
        let mut out = vec![0u8; self.modulus.len() - sig.len().min(self.modulus.len())];
        out.extend_from_slice(&sig);
        Ok(out)
    }
}

/// An ed25519 key.
pub struct Ed25519Wallet {
    key: ed25519_dalek::SigningKey,
    public: [u8; 32],
}

impl Ed25519Wallet {
    /// A new random key.
    pub fn generate() -> Self {
        Self::from_key(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    fn from_key(key: ed25519_dalek::SigningKey) -> Self {
        let public = key.verifying_key().to_bytes();
        Ed25519Wallet { key, public }
    }

    /// From the 32-byte seed (the JWK's `d`).
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| {
            Error::Wallet(format!("ed25519 seed has {} bytes, needs 32", seed.len()))
        })?;
        Ok(Self::from_key(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Load from a parsed OKP JWK; `x`, if present, must match `d`.
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        let w = Self::from_seed(&b64_field(jwk, "d")?)?;
        if jwk.get("x").is_some() && b64_field(jwk, "x")? != w.public {
            return Err(Error::Wallet(
                "ed25519 JWK: public key x does not belong to d".into(),
            ));
        }
        Ok(w)
    }

    /// The key as an OKP JWK.
    pub fn to_jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "d": b64url(self.key.to_bytes()), "x": b64url(self.public)})
    }
}

impl Signer for Ed25519Wallet {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Ed25519
    }
    fn owner(&self) -> &[u8] {
        &self.public
    }
    fn sign(&self, deep_hash: &[u8]) -> Result<Vec<u8>> {
        Ok(self.key.sign(deep_hash).to_bytes().to_vec())
    }
}

/// An Ethereum secp256k1 key.
pub struct EthereumWallet {
    key: k256::ecdsa::SigningKey,
    owner: Vec<u8>,
}

impl EthereumWallet {
    /// A new random key.
    pub fn generate() -> Self {
        Self::from_key(k256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    fn from_key(key: k256::ecdsa::SigningKey) -> Self {
        let owner = key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        EthereumWallet { key, owner }
    }

    /// From the 32-byte secret scalar.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        let key = k256::ecdsa::SigningKey::from_slice(secret)
            .map_err(|e| Error::Wallet(format!("not a secp256k1 secret key: {e}")))?;
        Ok(Self::from_key(key))
    }

    /// Load from a parsed EC JWK.
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        Self::from_secret(&b64_field(jwk, "d")?)
    }

    /// The key as an EC JWK.
    pub fn to_jwk(&self) -> Value {
        json!({
            "kty": "EC",
            "crv": "secp256k1",
            "d": b64url(self.key.to_bytes()),
            "x": b64url(&self.owner[1..33]),
            "y": b64url(&self.owner[33..65]),
        })
    }
}

impl Signer for EthereumWallet {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Ethereum
    }
    fn owner(&self) -> &[u8] {
        &self.owner
    }
    fn sign(&self, deep_hash: &[u8]) -> Result<Vec<u8>> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(&ethereum_message_digest(deep_hash))
            .map_err(|e| Error::Wallet(format!("secp256k1 signing failed: {e}")))?;
        let mut out = sig.to_bytes().to_vec();
        out.push(27 + recid.to_byte());
        Ok(out)
    }
}

fn b64_field(v: &Value, name: &'static str) -> Result<Vec<u8>> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Wallet(format!("JWK field {name:?} is missing or not a string")))?;
    b64url_decode(name, s).map_err(|e| Error::Wallet(e.to_string()))
}

fn hex_field(v: &Value, name: &'static str) -> Result<Vec<u8>> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Wallet(format!("field {name:?} is not a string")))?;
    hex::decode(s).map_err(|e| Error::Wallet(format!("field {name:?} is not hex: {e}")))
}

fn big(v: &Value, name: &'static str) -> Result<BigUint> {
    Ok(BigUint::from_bytes_be(&b64_field(v, name)?))
}
