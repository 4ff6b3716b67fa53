//! `ao-core`: the AO data protocol as pure functions on plain types. No I/O, no async, no clocks: every
//! other crate of ao-rs parses, verifies and builds AO data through this one and never touches bytes
//! itself.
//!
//! How data moves through it:
//! - bytes from the network -> [`DataItem::parse`] (`dataitem.rs`: layout, zero-copy; `tags.rs`: the
//!   Avro tag block) -> [`DataItem::verify`] (`deephash.rs`: what is signed; `signature.rs`: the one
//!   verification path for types 1-4; `rsa_pss.rs`: PSS with any salt length).
//! - a bundle's bytes -> [`bundle::parse`] -> items, each as above (nested bundles too).
//! - an item -> `ao/`: typed views ([`ao::Process`], [`ao::Message`], [`ao::Module`],
//!   [`ao::Assignment`], [`ao::SchedulerLocation`], [`ao::Checkpoint`], [`ao::Attestation`]) that
//!   check AO's required tags,
//!   and builders that produce them; `ao/hashchain.rs` orders a process's log; `ao/cron.rs` and
//!   `ao/limits.rs` read the process tags that drive evaluation.
//! - a wallet file's text -> [`wallet::Wallet`] (Arweave RSA, ed25519, Ethereum) -> a [`Signer`] ->
//!   [`DataItemBuilder::sign`] -> bytes for the network.
//! - an Arweave L1 transaction's JSON -> [`l1::Transaction`] -> its signature data, `data_root` and
//!   verification, for assignments that point at base-layer transactions.
//!
//! - a result's JSON -> [`canonical_json`] (RFC 8785) -> [`ao::result_sha256`], what attestations
//!   sign.
//!
//! Errors are one `thiserror` enum, [`Error`]; untrusted values in messages are truncated by
//! [`error::shown`].
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod ao;
pub mod bundle;
pub mod canonical_json;
pub mod dataitem;
pub mod deephash;
pub mod encoding;
pub mod error;
pub mod l1;
pub mod rsa_pss;
pub mod signature;
pub mod tags;
pub mod wallet;

pub use dataitem::{DataItem, DataItemBuilder};
pub use error::{Error, Result};
pub use signature::{SignatureType, Signer};
pub use tags::{Tag, TagsExt};
