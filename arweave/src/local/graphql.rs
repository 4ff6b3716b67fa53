//! The GraphQL endpoint: the part of the Arweave gateway schema that aoconnect, the reference units
//! and ours use, with the same type and argument names as arweave.net's schema, so that any query
//! (and any variable declaration, such as aoconnect's `$transactionIds: [ID!]!`) that validates
//! there validates here.
//!
//! Resolvers only translate: arguments become a [`TxQuery`] / [`BlockQuery`] and run in
//! `query.rs`, the same code the in-process `Gateway` uses.

use std::sync::Arc;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ID, InputObject, Object, Schema, SimpleObject,
};

use crate::gateway::{BlockMeta, BlockQuery, HeightRange, Sort, TagFilter, TxMeta, TxQuery};
use crate::local::query;
use crate::local::store::{Store, raw_id};

/// Deepest query accepted: the deepest real query (`transactions/edges/node/block/id`) is 5 levels,
/// and a bound stops pathological nesting from costing anything.
pub const MAX_QUERY_DEPTH: usize = 16;

/// The local gateway's GraphQL schema.
pub type GatewaySchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Build the schema over a store.
pub fn schema(store: Arc<Store>) -> GatewaySchema {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .data(store)
        .limit_depth(MAX_QUERY_DEPTH)
        .finish()
}

/// Run a store call off the async workers: RocksDB reads block.
async fn blocking<T: Send + 'static>(
    ctx: &Context<'_>,
    f: impl FnOnce(&Store) -> crate::Result<T> + Send + 'static,
) -> async_graphql::Result<T> {
    let store = ctx.data::<Arc<Store>>()?.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r.map_err(|e| async_graphql::Error::new(e.to_string())),
        Err(e) => Err(async_graphql::Error::new(format!("query task failed: {e}"))),
    }
}

/// `HEIGHT_ASC` / `HEIGHT_DESC`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "SortOrder")]
pub enum SortOrder {
    /// Oldest first.
    HeightAsc,
    /// Newest first (pending items first of all).
    HeightDesc,
}

impl From<SortOrder> for Sort {
    fn from(s: SortOrder) -> Sort {
        match s {
            SortOrder::HeightAsc => Sort::HeightAsc,
            SortOrder::HeightDesc => Sort::HeightDesc,
        }
    }
}

/// Tag comparison of arweave.net's schema; only `EQ` is supported here.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TagOperator {
    /// Equal to one of the values.
    Eq,
    /// Different from all values (not supported: refused with an error).
    Neq,
}

/// `{name, values}`: items with tag `name` equal to any of `values`.
#[derive(InputObject)]
#[graphql(name = "TagFilter")]
pub struct TagFilterInput {
    /// Tag name.
    pub name: String,
    /// Accepted values.
    pub values: Vec<String>,
    /// Comparison; `EQ` when absent.
    pub op: Option<TagOperator>,
}

/// `{min, max}`: an inclusive height range.
#[derive(InputObject, Clone, Copy)]
pub struct BlockFilter {
    /// Lowest height.
    pub min: Option<i64>,
    /// Highest height.
    pub max: Option<i64>,
}

fn height_range(f: BlockFilter) -> async_graphql::Result<HeightRange> {
    let conv = |v: Option<i64>, what: &str| {
        v.map(|v| {
            u64::try_from(v).map_err(|_| {
                async_graphql::Error::new(format!("block {what} must not be negative"))
            })
        })
        .transpose()
    };
    Ok(HeightRange {
        min: conv(f.min, "min")?,
        max: conv(f.max, "max")?,
    })
}

/// `first` as asked, or the gateway default when absent. 0 is kept: it asks for an empty page.
fn page_arg(first: Option<i32>) -> async_graphql::Result<u32> {
    match first {
        None => Ok(query::DEFAULT_PAGE_SIZE),
        Some(n) => {
            u32::try_from(n).map_err(|_| async_graphql::Error::new("first must not be negative"))
        }
    }
}

/// `GET /` and friends are REST; this is the only GraphQL root.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// One transaction or data item by id.
    async fn transaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Transaction>> {
        let Some(raw) = raw_id(&id) else {
            return Ok(None);
        };
        blocking(ctx, move |s| s.tx(&raw, &s.tip()))
            .await
            .map(|t| t.map(Transaction))
    }

    /// Transactions and data items matching every given filter, newest first unless sorted.
    #[allow(clippy::too_many_arguments)]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        owners: Option<Vec<String>>,
        recipients: Option<Vec<String>>,
        tags: Option<Vec<TagFilterInput>>,
        bundled_in: Option<Vec<ID>>,
        block: Option<BlockFilter>,
        first: Option<i32>,
        after: Option<String>,
        sort: Option<SortOrder>,
    ) -> async_graphql::Result<TransactionConnection> {
        let first = page_arg(first)?;
        let mut tag_filters = Vec::new();
        for t in tags.unwrap_or_default() {
            if t.op == Some(TagOperator::Neq) {
                return Err(async_graphql::Error::new(
                    "tag op NEQ is not supported by the local gateway",
                ));
            }
            tag_filters.push(TagFilter {
                name: t.name,
                values: t.values,
            });
        }
        let q = TxQuery {
            ids: ids.unwrap_or_default().into_iter().map(|i| i.0).collect(),
            owners: owners.unwrap_or_default(),
            recipients: recipients.unwrap_or_default(),
            tags: tag_filters,
            bundled_in: bundled_in
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.0)
                .collect(),
            block: block.map(height_range).transpose()?,
            first: first.max(1),
            after,
            sort: sort.unwrap_or(SortOrder::HeightDesc).into(),
        };
        if first == 0 {
            // An empty page, but say whether anything matches.
            let probe = q;
            let page = blocking(ctx, move |s| query::transactions(s, &probe)).await?;
            return Ok(TransactionConnection {
                page_info: PageInfo {
                    has_next_page: !page.edges.is_empty(),
                },
                edges: vec![],
            });
        }
        let page = blocking(ctx, move |s| query::transactions(s, &q)).await?;
        Ok(TransactionConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
            },
            edges: page
                .edges
                .into_iter()
                .map(|(cursor, node)| TransactionEdge {
                    cursor,
                    node: Transaction(node),
                })
                .collect(),
        })
    }

    /// One block by id (indep hash); the newest when no id is given.
    async fn block(
        &self,
        ctx: &Context<'_>,
        id: Option<String>,
    ) -> async_graphql::Result<Option<Block>> {
        blocking(ctx, move |s| match id {
            None => Ok(Some(s.tip())),
            Some(id) => match raw_id(&id) {
                Some(raw) => s.block_by_id(&raw),
                None => Ok(None),
            },
        })
        .await
        .map(|b| b.map(|b| Block(b.meta())))
    }

    /// Blocks by id and/or in a height range, newest first unless sorted.
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        height: Option<BlockFilter>,
        first: Option<i32>,
        after: Option<String>,
        sort: Option<SortOrder>,
    ) -> async_graphql::Result<BlockConnection> {
        let first = page_arg(first)?;
        let q = BlockQuery {
            height: height.map(height_range).transpose()?,
            first: first.max(1),
            after,
            sort: sort.unwrap_or(SortOrder::HeightDesc).into(),
        };
        let ids: Vec<String> = ids.unwrap_or_default().into_iter().map(|i| i.0).collect();
        if first == 0 {
            // An empty page, but say whether anything matches.
            let page = blocking(ctx, move |s| query::blocks_with_ids(s, &q, &ids)).await?;
            return Ok(BlockConnection {
                page_info: PageInfo {
                    has_next_page: !page.edges.is_empty(),
                },
                edges: vec![],
            });
        }
        let page = blocking(ctx, move |s| query::blocks_with_ids(s, &q, &ids)).await?;
        Ok(BlockConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
            },
            edges: page
                .edges
                .into_iter()
                .map(|(cursor, node)| BlockEdge {
                    cursor,
                    node: Block(node),
                })
                .collect(),
        })
    }
}

/// `pageInfo { hasNextPage }`.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next_page: bool,
}

/// A page of transactions.
#[derive(SimpleObject)]
pub struct TransactionConnection {
    /// Paging state.
    pub page_info: PageInfo,
    /// The transactions with their cursors.
    pub edges: Vec<TransactionEdge>,
}

/// A transaction with its cursor.
#[derive(SimpleObject)]
pub struct TransactionEdge {
    /// Opaque; pass as `after` for the next page.
    pub cursor: String,
    /// The transaction.
    pub node: Transaction,
}

/// A page of blocks.
#[derive(SimpleObject)]
pub struct BlockConnection {
    /// Paging state.
    pub page_info: PageInfo,
    /// The blocks with their cursors.
    pub edges: Vec<BlockEdge>,
}

/// A block with its cursor.
#[derive(SimpleObject)]
pub struct BlockEdge {
    /// Opaque; pass as `after` for the next page.
    pub cursor: String,
    /// The block.
    pub node: Block,
}

/// `owner { address key }`.
#[derive(SimpleObject)]
#[graphql(name = "Owner")]
pub struct OwnerNode {
    /// base64url(sha256(key)).
    pub address: String,
    /// The public key, base64url.
    pub key: String,
}

/// `{ winston ar }`: data items move no AR, so always zero; present because clients select it.
#[derive(SimpleObject)]
pub struct Amount {
    /// Amount in winston.
    pub winston: String,
    /// Amount in AR.
    pub ar: String,
}

impl Amount {
    fn zero() -> Amount {
        Amount {
            winston: "0".into(),
            ar: "0.000000000000".into(),
        }
    }
}

/// `data { size type }`.
#[derive(SimpleObject)]
pub struct MetaData {
    /// Size in bytes, as a string (as gateways answer).
    pub size: String,
    /// The `Content-Type` tag, if any.
    #[graphql(name = "type")]
    pub content_type: Option<String>,
}

/// `{ name value }`.
#[derive(SimpleObject)]
#[graphql(name = "Tag")]
pub struct TagNode {
    /// Tag name.
    pub name: String,
    /// Tag value.
    pub value: String,
}

/// `bundledIn { id }` / `parent { id }`.
#[derive(SimpleObject)]
pub struct Bundle {
    /// The bundle item's id.
    pub id: ID,
}

/// A block.
pub struct Block(pub BlockMeta);

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[Object]
impl Block {
    /// Block id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Seconds since the epoch.
    async fn timestamp(&self) -> i64 {
        int(self.0.timestamp)
    }
    /// Height.
    async fn height(&self) -> i64 {
        int(self.0.height)
    }
    /// Previous block id; empty for genesis.
    async fn previous(&self) -> ID {
        ID(self.0.previous.clone())
    }
}

/// A transaction or data item.
pub struct Transaction(pub TxMeta);

#[Object]
impl Transaction {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Anchor, base64url; empty when absent.
    async fn anchor(&self) -> &str {
        &self.0.anchor
    }
    /// Signature, base64url.
    async fn signature(&self) -> &str {
        &self.0.signature
    }
    /// Target; empty when absent.
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }
    /// The signer.
    async fn owner(&self) -> OwnerNode {
        OwnerNode {
            address: self.0.owner.address.clone(),
            key: self.0.owner.key.clone(),
        }
    }
    /// Always zero for data items.
    async fn fee(&self) -> Amount {
        Amount::zero()
    }
    /// Always zero for data items.
    async fn quantity(&self) -> Amount {
        Amount::zero()
    }
    /// Size and type of the data.
    async fn data(&self) -> MetaData {
        MetaData {
            size: self.0.data_size.to_string(),
            content_type: self.0.data_type.clone(),
        }
    }
    /// Tags in order.
    async fn tags(&self) -> Vec<TagNode> {
        self.0
            .tags
            .iter()
            .map(|t| TagNode {
                name: t.name.clone(),
                value: t.value.clone(),
            })
            .collect()
    }
    /// The including block; null while pending.
    async fn block(&self) -> Option<Block> {
        self.0.block.clone().map(Block)
    }
    /// The bundle that carried this item (older name of `bundledIn`).
    #[graphql(deprecation = "use bundledIn")]
    async fn parent(&self) -> Option<Bundle> {
        self.bundle()
    }
    /// The bundle that carried this item.
    async fn bundled_in(&self) -> Option<Bundle> {
        self.bundle()
    }
}

impl Transaction {
    fn bundle(&self) -> Option<Bundle> {
        self.0.bundled_in.clone().map(|id| Bundle { id: ID(id) })
    }
}
