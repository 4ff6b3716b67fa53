//! HTTP clients for real Arweave gateways and bundlers.
//!
//! Units talk to Arweave through the [`Gateway`](crate::Gateway) and [`Bundler`](crate::Bundler)
//! traits; this module is their implementation over the network:
//!
//! - [`HttpGateway`]: `GET {base}/raw/{id}`, `POST {graphql}` (`transactions(...)`,
//!   `blocks(...)`), `GET {base}/info`, `GET {base}/tx/{id}/status`.
//! - [`HttpBundler`]: `POST {url}/tx/arweave` with the signed item's bytes.
//! - [`HttpClient`]: what both send through, a tower stack any unit can reuse for its own calls
//!   (the MU to SUs, the CU to SUs): [`Retry`](tower::retry::Retry) with [`RetryPolicy`]
//!   (exponential backoff, full jitter, `Retry-After`) over a
//!   [`ConcurrencyLimit`](tower::limit::ConcurrencyLimit) (requests in flight) over [`Timeout`]
//!   (per attempt) over [`ReqwestService`] (one request, body read in full).
//!
//! TLS is rustls with the `ring` provider, built here and handed to reqwest preconfigured, so no
//! process-wide crypto provider is installed and neither aws-lc-sys (cmake and minutes of C) nor
//! OpenSSL (a system library at run time) is linked. Certificates are checked against the
//! platform's roots (`rustls-platform-verifier`).

mod bundler;
mod client;
mod gateway;
mod retry;

use std::time::Duration;

pub use bundler::HttpBundler;
pub use client::{HttpClient, HttpReply, HttpStack, ReqwestService, Timeout, TimeoutLayer};
pub use gateway::{BLOCKS_QUERY, DEFAULT_IDS_PER_QUERY, HttpGateway, TRANSACTIONS_QUERY};
pub use retry::{RetryPolicy, parse_retry_after};

/// Time one attempt may take, from sending the request to the last byte of the answer. Arweave's
/// GraphQL answers a hard query in a few seconds and `/raw` of a large wasm module (tens of MB) in
/// well under this on any usable link; beyond it the gateway is stuck and another attempt is better
/// than waiting.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time to open a TCP (and TLS) connection. Reachable gateways connect in well under a second; a
/// host that has not answered in this long is down or filtered, and a retry may reach another
/// machine behind the same name.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries after the first attempt, for 429, 5xx and transport failures. Five retries with the
/// default backoff wait up to ~8 s in all (about 4 s on average) unless the server asks for more
/// with `Retry-After`: enough to ride out a gateway hiccup or a short rate-limit window, short
/// enough that a unit's caller is not left hanging.
/// The SU's uploads, which must not be lost, set their own, larger budget.
pub const DEFAULT_MAX_RETRIES: u32 = 5;

/// The first backoff step; step `n` waits a random time in `[0, base * 2^n]` (full jitter). A
/// quarter second lets a briefly overloaded gateway recover without hammering it, and jitter keeps
/// many clients that failed together from retrying together.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);

/// The longest wait between attempts, also the cap on a server's `Retry-After`: a gateway asking for
/// an hour must not stall a unit for an hour; it gets this long and then another try.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Requests in flight at once per [`HttpClient`] (waiting callers queue). Gateways rate-limit per
/// client address (arweave.net allows a few hundred requests per minute) and a CU loading many
/// processes can otherwise open hundreds of connections at once; 32 keeps a gateway busy without
/// tripping its limiter.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;

/// How much of an error answer's body is kept in [`Error::Status`](crate::Error::Status): enough
/// for a gateway's error message, not enough for a hostile 1 MiB page to flood a log.
pub const ERROR_BODY_LIMIT: usize = 512;

/// The `User-Agent` sent: gateway operators can tell ao-rs traffic apart and reach the project.
pub const DEFAULT_USER_AGENT: &str = concat!("ao-rs/", env!("CARGO_PKG_VERSION"));

/// The policies of an [`HttpClient`]. Every unit builds its clients from one of these (usually
/// the default, or flags mapped onto it), so timeouts and retries are the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Time one attempt may take ([`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// Time to connect ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Retries after the first attempt ([`DEFAULT_MAX_RETRIES`]); 0 turns retries off.
    pub max_retries: u32,
    /// First backoff step ([`DEFAULT_BACKOFF_BASE`]).
    pub backoff_base: Duration,
    /// Longest wait between attempts, and cap on `Retry-After` ([`DEFAULT_MAX_BACKOFF`]).
    pub max_backoff: Duration,
    /// Requests in flight at once ([`DEFAULT_MAX_IN_FLIGHT`]); at least 1 is used.
    pub max_in_flight: usize,
    /// `User-Agent` header ([`DEFAULT_USER_AGENT`]).
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            backoff_base: DEFAULT_BACKOFF_BASE,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            user_agent: DEFAULT_USER_AGENT.to_string(),
        }
    }
}
