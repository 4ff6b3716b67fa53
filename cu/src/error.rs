//! The CU's errors and the HTTP statuses they answer with (spec 4.2).

use crate::store::StoreError;

/// Why a CU request failed.
#[derive(Debug, thiserror::Error)]
pub enum CuError {
    /// A malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown process, message or module (404).
    #[error("{0}")]
    NotFound(String),
    /// The schedule's hash chain or nonces do not verify (422).
    #[error("hash chain: {0}")]
    HashChain(String),
    /// The module cannot be run: format, encoding, limits, compile, start-up (422).
    #[error("module: {0}")]
    Module(String),
    /// The SU failed or refused (502, or 404 when it says not found).
    #[error("SU: {0}")]
    Su(String),
    /// The gateway failed (502).
    #[error("gateway: {0}")]
    Gateway(String),
    /// A process asks for more memory or compute than this CU allows (413).
    #[error("{0}")]
    TooLarge(String),
    /// RocksDB (500).
    #[error("{0}")]
    Storage(String),
}

impl From<StoreError> for CuError {
    fn from(e: StoreError) -> Self {
        CuError::Storage(e.to_string())
    }
}

impl CuError {
    /// Map a gRPC status from the SU.
    pub fn from_su(s: tonic::Status) -> CuError {
        match s.code() {
            tonic::Code::NotFound => CuError::NotFound(s.message().to_string()),
            tonic::Code::InvalidArgument => CuError::BadRequest(s.message().to_string()),
            _ => CuError::Su(s.message().to_string()),
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        match self {
            CuError::BadRequest(_) => 400,
            CuError::NotFound(_) => 404,
            CuError::HashChain(_) | CuError::Module(_) => 422,
            CuError::Su(_) | CuError::Gateway(_) => 502,
            CuError::TooLarge(_) => 413,
            CuError::Storage(_) => 500,
        }
    }
}
