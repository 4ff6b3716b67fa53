//! Attestations: with `--attest`, the CU signs what it answers, so a client can hold it to it.
//!
//! `GET /result/{id}?process-id=&attest=true` (gRPC `Result` with `attest`) answers the result
//! JSON as always, plus `Attestations`: a list with one base64url ANS-104 item signed by the
//! CU's wallet ([`ao_core::ao::attestation`] says what it holds and how `Result-SHA-256` is
//! computed). An unchanged AO client reads the result and ignores the list; `ao verify` and the
//! router's `min-stake` read both.
//!
//! What it costs: an attestation states the memory right after its message, and that memory is
//! gone once the next one is evaluated. So an attesting CU hashes a process's memory at the end
//! of each evaluation run (on the process's own thread, [`crate::process`]), and takes the hash
//! of a checkpoint made right after a message; a cold replay costs what it did. A message in the
//! middle of a run, or evaluated without a hash (before `--attest`, before a handoff), is hashed
//! by a replay on a second instance when first attested. A CU without `--attest` refuses
//! `attest=true` (400) rather than answer unsigned.

use std::sync::Arc;

use ao_core::ao::{AttestationBuilder, result_sha256};
use ao_core::encoding::{b64url, decode_id};
use ao_core::wallet::Wallet;
use serde_json::Value;

use crate::error::CuError;
use crate::store::StoredResult;

/// The key the attestations are listed under in a result's JSON.
pub const FIELD: &str = "Attestations";

/// The CU's wallet, signing attestations.
pub struct Attester {
    wallet: Arc<Wallet>,
    address: String,
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attester({})", self.address)
    }
}

impl Attester {
    /// Attesting with `wallet` (the CU's, whose address `GET /` reports).
    pub fn new(wallet: Arc<Wallet>) -> Attester {
        let address = wallet.address();
        Attester { wallet, address }
    }

    /// The address attestations are signed by.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The signed attestation (item bytes) of `record`, a scheduled message's stored result of
    /// process `pid`, which runs `module`. The record must carry its hash chain and the memory
    /// hash after it.
    pub fn attest(
        &self,
        pid: &str,
        module: &str,
        record: &StoredResult,
    ) -> Result<Vec<u8>, CuError> {
        let bad = |what: &str, e: String| CuError::Storage(format!("attestation: {what}: {e}"));
        let id = |what: &str, v: &str| decode_id("id", v).map_err(|e| bad(what, e.to_string()));
        let memory = record
            .memory_sha256
            .as_deref()
            .ok_or_else(|| bad("memory hash", "not recorded".into()))?;
        let memory_sha256: [u8; 32] = hex::decode(memory)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("memory hash", format!("{memory:?} is not a SHA-256")))?;
        let chain = record
            .hash_chain
            .as_deref()
            .ok_or_else(|| bad("hash chain", "not recorded".into()))?;
        let builder = AttestationBuilder {
            process: id("process", pid)?,
            message: id("message", &record.message_id)?,
            nonce: record.nonce,
            timestamp: u64::try_from(record.timestamp).unwrap_or(0),
            hash_chain: id("hash chain", chain)?,
            result_sha256: result_sha256(&record.result),
            memory_sha256,
            module: id("module", module)?,
        };
        let signed = builder
            .sign(self.wallet.as_ref())
            .map_err(|e| bad("signing", e.to_string()))?;
        Ok(signed.item().as_bytes().to_vec())
    }
}

/// `result` with `items` listed under [`FIELD`] (base64url), as `/result?attest=true` answers.
pub fn with_attestations(mut result: Value, items: &[Vec<u8>]) -> Value {
    if let Value::Object(map) = &mut result {
        map.insert(
            FIELD.to_string(),
            Value::Array(items.iter().map(|i| Value::String(b64url(i))).collect()),
        );
    }
    result
}
