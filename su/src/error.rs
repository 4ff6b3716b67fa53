//! What can go wrong in the SU, in terms a client can act on.
//!
//! Every refusal names the exact problem and maps to one HTTP status and one gRPC code, so the two
//! facades answer alike. A refusal is decided before anything is written: a failed request changes
//! nothing.

/// Why the SU refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuError {
    /// The body is not a well-formed, correctly signed ANS-104 item (HTTP 400).
    #[error("{0}")]
    BadItem(String),
    /// The item parses but its AO tags are missing or wrong (HTTP 400); the text names the tag.
    #[error("{0}")]
    BadTag(String),
    /// A query parameter is missing or malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The item, assignment or pushed message is already scheduled (HTTP 409).
    #[error("{0}")]
    Duplicate(String),
    /// No such process or message here (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The body is larger than `--max-item-size` (HTTP 413).
    #[error("item is {size} bytes, more than the {max}-byte limit of this SU")]
    TooLarge {
        /// Size of the refused body.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A base-layer assignment whose transaction is not yet deep enough (HTTP 400, as the reference).
    #[error("Not enough confirmations to assign: {have} of {need}")]
    NotEnoughConfirmations {
        /// Confirmations the gateway reports.
        have: u64,
        /// The process's `Settlement-Depth`.
        need: u64,
    },
    /// The process belongs to another SU, whose URL is known (HTTP 307 to `url`).
    #[error("process belongs to the SU at {url}")]
    Redirect {
        /// Base URL of the SU that owns the process.
        url: String,
    },
    /// The process belongs to another SU that cannot be located (HTTP 400).
    #[error("{0}")]
    WrongScheduler(String),
    /// Starting (no block height yet) or stopping, or storage failed (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// The gateway could not be asked (HTTP 502).
    #[error("gateway: {0}")]
    Gateway(String),
    /// RocksDB failed on a read (HTTP 500).
    #[error("storage: {0}")]
    Storage(String),
}

impl SuError {
    /// The HTTP status of this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            SuError::BadItem(_)
            | SuError::BadTag(_)
            | SuError::BadRequest(_)
            | SuError::NotEnoughConfirmations { .. }
            | SuError::WrongScheduler(_) => 400,
            SuError::Duplicate(_) => 409,
            SuError::NotFound(_) => 404,
            SuError::TooLarge { .. } => 413,
            SuError::Redirect { .. } => 307,
            SuError::Unavailable(_) => 503,
            SuError::Gateway(_) => 502,
            SuError::Storage(_) => 500,
        }
    }

    /// The gRPC status of this refusal (the codes `scheduler.proto` documents).
    pub fn grpc_status(&self) -> tonic::Status {
        use tonic::Code;
        let code = match self {
            SuError::BadItem(_) | SuError::BadTag(_) | SuError::BadRequest(_) => {
                Code::InvalidArgument
            }
            SuError::TooLarge { .. } => Code::ResourceExhausted,
            SuError::Duplicate(_) => Code::AlreadyExists,
            SuError::NotFound(_) => Code::NotFound,
            SuError::NotEnoughConfirmations { .. } => Code::FailedPrecondition,
            // gRPC has no redirect; the message carries the URL for the caller to follow.
            SuError::Redirect { .. } | SuError::WrongScheduler(_) => Code::FailedPrecondition,
            SuError::Unavailable(_) | SuError::Gateway(_) => Code::Unavailable,
            SuError::Storage(_) => Code::Internal,
        };
        tonic::Status::new(code, self.to_string())
    }
}

impl From<rocksdb::Error> for SuError {
    fn from(e: rocksdb::Error) -> Self {
        SuError::Storage(e.into_string())
    }
}

/// The result type of the SU library.
pub type Result<T, E = SuError> = std::result::Result<T, E>;
