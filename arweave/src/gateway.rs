//! The `Gateway` seam: everything an AO unit reads from Arweave.
//!
//! Units hold an `Arc<dyn Gateway>` and never see HTTP: the reqwest client (`http::HttpGateway`)
//! talks to real gateways, the embedded local gateway serves the same trait in-process, and tests
//! can put either behind it. The types mirror what a gateway's GraphQL and REST answers carry, in
//! the field names of the GraphQL schema, so mapping them is a copy.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use ao_core::Tag;

use crate::error::Result;

/// Owner of a transaction or data item, as GraphQL's `owner { address key }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `base64url(sha256(key))`, the address gateways index.
    pub address: String,
    /// The public key, base64url.
    pub key: String,
}

/// The block that included a transaction, as GraphQL's `block { id height timestamp previous }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Block id (indep hash), base64url.
    pub id: String,
    /// Height.
    pub height: u64,
    /// Seconds since the epoch (Arweave blocks count seconds; AO's units multiply by 1000).
    pub timestamp: u64,
    /// The previous block's id; empty for the first block.
    pub previous: String,
}

/// What a gateway knows of one transaction or data item, without its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxMeta {
    /// Id, base64url.
    pub id: String,
    /// Anchor (data items) or last_tx (L1), base64url; empty when absent.
    pub anchor: String,
    /// Signature, base64url.
    pub signature: String,
    /// Target (data items) or recipient (L1); empty when absent.
    pub recipient: String,
    /// The signer.
    pub owner: Owner,
    /// Tags in order.
    pub tags: Vec<Tag>,
    /// Size of the data in bytes.
    pub data_size: u64,
    /// The `Content-Type` tag's value, if any.
    pub data_type: Option<String>,
    /// The including block; `None` while pending, as real gateways answer.
    pub block: Option<BlockMeta>,
    /// Id of the bundle that carried this item, if it came in one.
    pub bundled_in: Option<String>,
}

/// One GraphQL `tags` filter: the tag `name` with any of `values`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TagFilter {
    /// Exact tag name.
    pub name: String,
    /// Accepted values (any of them).
    pub values: Vec<String>,
}

/// Order of query results by block height (pending items sort as the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Sort {
    /// Oldest first.
    HeightAsc,
    /// Newest first: the gateway default.
    #[default]
    HeightDesc,
}

/// An inclusive range of block heights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HeightRange {
    /// Lowest height, inclusive.
    pub min: Option<u64>,
    /// Highest height, inclusive.
    pub max: Option<u64>,
}

/// A `transactions(...)` query, with the arguments AO's units and aoconnect use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxQuery {
    /// Only these ids (empty: any).
    pub ids: Vec<String>,
    /// Only items signed by these owner addresses (empty: any).
    pub owners: Vec<String>,
    /// Only items whose target/recipient is one of these (empty: any).
    pub recipients: Vec<String>,
    /// Every filter must match (AND); within a filter any value matches (OR).
    pub tags: Vec<TagFilter>,
    /// Only items carried in one of these bundles (empty: any).
    pub bundled_in: Vec<String>,
    /// Only items in blocks of this height range (pending items never match a range).
    pub block: Option<HeightRange>,
    /// Page size.
    pub first: u32,
    /// Cursor of the last edge of the previous page.
    pub after: Option<String>,
    /// Order.
    pub sort: Sort,
}

impl TxQuery {
    /// The newest Scheduler-Location record signed by the SU wallet `address` (spec 1.2): how
    /// MUs, CUs, SUs and the devnet find where an SU answers.
    pub fn scheduler_location(address: &str) -> TxQuery {
        TxQuery {
            owners: vec![address.to_string()],
            tags: vec![TagFilter {
                name: "Type".into(),
                values: vec!["Scheduler-Location".into()],
            }],
            first: 1,
            sort: Sort::HeightDesc,
            ..TxQuery::default()
        }
    }
}

/// A `blocks(...)` query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlockQuery {
    /// Only blocks in this height range.
    pub height: Option<HeightRange>,
    /// Page size.
    pub first: u32,
    /// Cursor of the last edge of the previous page.
    pub after: Option<String>,
    /// Order.
    pub sort: Sort,
}

/// One page of a connection: each node with its cursor, and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// `(cursor, node)` pairs in order.
    pub edges: Vec<(String, T)>,
    /// Whether another page follows this one.
    pub has_next_page: bool,
}

/// `GET /info`: the network and its height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Network name (`arweave.N.1` on mainnet; the local gateway says `ao-rs.local`).
    pub network: String,
    /// Current block height.
    pub height: u64,
    /// Current block id.
    pub current: String,
}

/// `GET /tx/{id}/status` of an included transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxStatus {
    /// Height of the including block.
    pub block_height: u64,
    /// Id of the including block.
    pub block_indep_hash: String,
    /// Blocks on top of it, counting its own: the SU's base-layer settlement check reads this.
    pub number_of_confirmations: u64,
}

/// Everything an AO unit reads from Arweave.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// The data of a transaction or item (`GET /raw/{id}`). `Error::NotFound` if unknown.
    async fn data(&self, id: &str) -> Result<Bytes>;
    /// Metadata of transactions and items by id, in the order asked; unknown ids are left out.
    async fn transactions_by_id(&self, ids: &[String]) -> Result<Vec<TxMeta>>;
    /// A `transactions(...)` query.
    async fn query(&self, query: &TxQuery) -> Result<Page<TxMeta>>;
    /// A `blocks(...)` query.
    async fn blocks(&self, query: &BlockQuery) -> Result<Page<BlockMeta>>;
    /// `GET /info`.
    async fn info(&self) -> Result<NetworkInfo>;
    /// `GET /tx/{id}/status`; `None` while pending, `Error::NotFound` if unknown.
    async fn tx_status(&self, id: &str) -> Result<Option<TxStatus>>;
}
