//! Errors of gateway and bundler calls: enough to decide whether to retry, and to tell an operator
//! what the far side said.

/// A failed gateway or bundler call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The id is not known to the gateway (HTTP 404, or absent from GraphQL).
    #[error("not found: {0}")]
    NotFound(String),
    /// The far side answered with an error status; the body is kept (truncated) for the operator.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// Status code.
        status: u16,
        /// Body of the answer, truncated.
        body: String,
    },
    /// No answer: connection refused, timeout, reset.
    #[error("{method} {url}: {reason}")]
    Transport {
        /// HTTP method.
        method: String,
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer that does not have the expected shape (bad JSON, GraphQL errors, bad item).
    #[error("invalid answer from {url}: {reason}")]
    Invalid {
        /// The URL called.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request we refuse to send or serve (bad id, bad query).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The local gateway's storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl Error {
    /// Whether trying again later may succeed (429, 5xx, transport failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            Error::Transport { .. } => true,
            _ => false,
        }
    }
}

/// Result of gateway and bundler calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
