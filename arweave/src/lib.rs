//! `ao-arweave`: how ao-rs reads from and writes to Arweave.
//!
//! - `gateway.rs` / `bundler.rs`: the [`Gateway`] and [`Bundler`] traits every unit depends on, with
//!   plain types in the gateway's own field names. Units never see HTTP.
//! - `http/`: reqwest implementations for real gateways and bundlers (`GET /raw/{id}`,
//!   `POST /graphql`, `GET /info`, `GET /tx/{id}/status`, `POST {bundler}/tx/arweave`), with
//!   timeouts, retries with backoff and jitter, and a bound on requests in flight, as tower layers.
//! - `locate.rs`: where a process's SU answers (its `Scheduler` tag, then the SU's newest
//!   Scheduler-Location, cached for its TTL), shared by the MU and the CU.
//! - `local/`: the embedded local gateway (`serve(config) -> handle`, binary `arweave-local`): an
//!   axum server on RocksDB that verifies, stores, indexes and unbundles items, mines blocks, and
//!   answers the REST and GraphQL subset AO uses, so the whole computer runs offline.
//!
//! Data flow: a unit calls `Gateway::query` -> (HTTP client -> any gateway) or (local gateway ->
//! RocksDB indexes); a unit calls `Bundler::upload` -> `POST /tx/arweave` -> the local gateway
//! verifies with `ao-core`, stores, and a later block includes it.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod bundler;
pub mod error;
pub mod gateway;
pub mod http;
pub mod local;
pub mod locate;

pub use bundler::{Bundler, Receipt};
pub use error::{Error, Result};
pub use gateway::{
    BlockMeta, BlockQuery, Gateway, HeightRange, NetworkInfo, Owner, Page, Sort, TagFilter, TxMeta,
    TxQuery, TxStatus,
};
pub use http::{ClientConfig, HttpBundler, HttpClient, HttpGateway};
