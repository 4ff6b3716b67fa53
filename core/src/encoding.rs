//! Base64url without padding, the encoding of every id, owner, signature and hash chain in AO.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result, shown};

/// Encode bytes as base64url without padding (RFC 4648 section 5), as Arweave and AO print them.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding. Padding and the standard alphabet's `+` and `/` are refused:
/// ids are compared as strings all over AO, so two spellings of one id must not both be accepted.
pub fn b64url_decode(what: &'static str, s: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|e| Error::Encoding {
        what,
        reason: format!("{:?} is not base64url: {e}", shown(s)),
    })
}

/// Decode a 43-character id into its 32 raw bytes.
pub fn decode_id(what: &'static str, s: &str) -> Result<[u8; 32]> {
    let raw = b64url_decode(what, s)?;
    <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| Error::Encoding {
        what,
        reason: format!(
            "{:?} decodes to {} bytes, an id has 32",
            shown(s),
            raw.len()
        ),
    })
}

/// The SHA-256 of some bytes.
pub fn sha256(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_bad_ones_are_named() {
        let raw = [7u8; 32];
        let id = b64url(raw);
        assert_eq!(id.len(), 43);
        assert_eq!(decode_id("target", &id).unwrap(), raw);
        let err = decode_id("target", "abc").unwrap_err().to_string();
        assert!(err.contains("target") && err.contains("2 bytes"), "{err}");
        let err = b64url_decode("owner", "a+b/").unwrap_err().to_string();
        assert!(err.starts_with("owner:"), "{err}");
    }
}
