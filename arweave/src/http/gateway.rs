//! [`HttpGateway`]: the [`Gateway`] trait over a real gateway's REST and GraphQL.

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use ao_core::Tag;

use super::client::{HttpClient, base_url, join};
use super::{ClientConfig, ERROR_BODY_LIMIT};
use crate::error::{Error, Result};
use crate::gateway::{
    BlockMeta, BlockQuery, Gateway, HeightRange, NetworkInfo, Owner, Page, Sort, TxMeta, TxQuery,
    TxStatus,
};

/// The `transactions(...)` query, with every filter AO's units use as a variable. Variables left
/// out of the request take the gateway's defaults; a variable sent as `null` or `[]` would not
/// (an empty `ids` list matches nothing on some gateways), so unset filters are omitted, never
/// sent empty. The variable types are those of arweave.net's (ar.io's) and Goldsky's schemas.
pub const TRANSACTIONS_QUERY: &str = "query Transactions($ids: [ID!], $owners: [String!], \
$recipients: [String!], $tags: [TagFilter!], $bundledIn: [ID!], $block: BlockFilter, $first: Int, \
$after: String, $sort: SortOrder) { transactions(ids: $ids, owners: $owners, \
recipients: $recipients, tags: $tags, bundledIn: $bundledIn, block: $block, first: $first, \
after: $after, sort: $sort) { pageInfo { hasNextPage } edges { cursor node { id anchor signature \
recipient owner { address key } tags { name value } data { size type } \
block { id height timestamp previous } bundledIn { id } } } } }";

/// The `blocks(...)` query (heights, page, order), for the CU's block lookups.
pub const BLOCKS_QUERY: &str = "query Blocks($height: BlockFilter, $first: Int, $after: String, \
$sort: SortOrder) { blocks(height: $height, first: $first, after: $after, sort: $sort) { \
pageInfo { hasNextPage } edges { cursor node { id height timestamp previous } } } }";

/// Ids asked per query by [`Gateway::transactions_by_id`]: arweave.net and Goldsky refuse
/// `first` above 100, so longer lists are split into queries of this many.
pub const DEFAULT_IDS_PER_QUERY: u32 = 100;

/// Most pages read for one chunk of ids: a gateway that keeps saying `hasNextPage` without new
/// ids (a broken cursor) must not loop a unit forever.
const MAX_PAGES_PER_CHUNK: usize = 100;

/// A real Arweave gateway (arweave.net, an ar.io node, the local gateway over HTTP): data from
/// `GET {base}/raw/{id}`, metadata from GraphQL, height from `/info`, confirmations from
/// `/tx/{id}/status`. Only this type knows HTTP; units see [`Gateway`].
#[derive(Debug, Clone)]
pub struct HttpGateway {
    client: HttpClient,
    base: String,
    graphql: reqwest::Url,
    ids_per_query: u32,
}

impl HttpGateway {
    /// A gateway at `base_url` (e.g. `https://arweave.net`) with GraphQL at `{base_url}/graphql`
    /// and its own [`HttpClient`].
    pub fn new(base_url: &str, config: &ClientConfig) -> Result<Self> {
        Self::with_client(HttpClient::new(config)?, base_url)
    }

    /// A gateway sending through `client`, so several gateways and bundlers share one bound on
    /// requests in flight and one connection pool.
    pub fn with_client(client: HttpClient, base_url_text: &str) -> Result<Self> {
        let base = base_url(base_url_text)?;
        let graphql = join(&base, "graphql")?;
        Ok(HttpGateway {
            client,
            base,
            graphql,
            ids_per_query: DEFAULT_IDS_PER_QUERY,
        })
    }

    /// GraphQL at another URL: AO's units take `GRAPHQL_URL` apart from `ARWEAVE_URL` (e.g.
    /// Goldsky's search endpoint in front of arweave.net's data).
    pub fn with_graphql_url(mut self, url: &str) -> Result<Self> {
        self.graphql = reqwest::Url::parse(&base_url(url)?)
            .map_err(|e| Error::BadRequest(format!("bad GraphQL URL {url}: {e}")))?;
        Ok(self)
    }

    /// Ask at most `n` ids per query in [`Gateway::transactions_by_id`] (at least 1), for gateways
    /// with a lower page limit than [`DEFAULT_IDS_PER_QUERY`].
    pub fn with_ids_per_query(mut self, n: u32) -> Self {
        self.ids_per_query = n.max(1);
        self
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The GraphQL URL.
    pub fn graphql_url(&self) -> &reqwest::Url {
        &self.graphql
    }

    /// `{base}/{path}` for an id-bearing path; the id is checked first so that no caller-supplied
    /// text can add path segments or a query string to the URL.
    fn id_url(&self, id: &str, path: impl FnOnce(&str) -> String) -> Result<reqwest::Url> {
        check_id(id)?;
        join(&self.base, &path(id))
    }

    /// POST `{query, variables}` and return `data`, or [`Error::Invalid`] with GraphQL's messages.
    async fn graphql<T: serde::de::DeserializeOwned>(
        &self,
        query: &'static str,
        variables: Map<String, Value>,
    ) -> Result<T> {
        let body = serde_json::to_vec(&json!({ "query": query, "variables": variables }))
            .map_err(|e| Error::BadRequest(format!("cannot encode GraphQL request: {e}")))?;
        let reply = self
            .client
            .post(self.graphql.clone(), "application/json", Bytes::from(body))
            .await?
            .success()?;
        let answer: GqlResponse<T> = reply.json()?;
        let invalid = |reason: String| Error::Invalid {
            url: reply.url.to_string(),
            reason,
        };
        if let Some(errors) = answer.errors.filter(|e| !e.is_empty()) {
            let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            let text = messages.join("; ");
            return Err(invalid(format!(
                "GraphQL errors: {}",
                super::client::truncate_body(text.as_bytes(), ERROR_BODY_LIMIT)
            )));
        }
        answer
            .data
            .ok_or_else(|| invalid("GraphQL answer without data or errors".to_string()))
    }
}

/// Whether `id` can be an Arweave id (base64url text). Ids go into URL paths, so anything else is
/// refused here rather than sent.
fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(64).collect();
        Err(Error::BadRequest(format!("not an Arweave id: {shown:?}")))
    }
}

fn sort_name(sort: Sort) -> &'static str {
    match sort {
        Sort::HeightAsc => "HEIGHT_ASC",
        Sort::HeightDesc => "HEIGHT_DESC",
    }
}

/// `{min, max}` with only the bounds given: a `null` bound is not the same as an absent one to
/// every gateway.
fn range_json(range: &HeightRange) -> Value {
    let mut m = Map::new();
    if let Some(min) = range.min {
        m.insert("min".into(), json!(min));
    }
    if let Some(max) = range.max {
        m.insert("max".into(), json!(max));
    }
    Value::Object(m)
}

/// The variables of [`TRANSACTIONS_QUERY`] for `q`, leaving out every filter that is not set.
fn tx_variables(q: &TxQuery) -> Map<String, Value> {
    let mut v = Map::new();
    let mut list = |name: &str, values: &[String]| {
        if !values.is_empty() {
            v.insert(name.into(), json!(values));
        }
    };
    list("ids", &q.ids);
    list("owners", &q.owners);
    list("recipients", &q.recipients);
    list("bundledIn", &q.bundled_in);
    if !q.tags.is_empty() {
        let tags: Vec<Value> = q
            .tags
            .iter()
            .map(|t| json!({ "name": t.name, "values": t.values }))
            .collect();
        v.insert("tags".into(), Value::Array(tags));
    }
    if let Some(block) = &q.block {
        v.insert("block".into(), range_json(block));
    }
    v.insert("first".into(), json!(q.first));
    if let Some(after) = &q.after {
        v.insert("after".into(), json!(after));
    }
    v.insert("sort".into(), json!(sort_name(q.sort)));
    v
}

/// The variables of [`BLOCKS_QUERY`] for `q`.
fn block_variables(q: &BlockQuery) -> Map<String, Value> {
    let mut v = Map::new();
    if let Some(height) = &q.height {
        v.insert("height".into(), range_json(height));
    }
    v.insert("first".into(), json!(q.first));
    if let Some(after) = &q.after {
        v.insert("after".into(), json!(after));
    }
    v.insert("sort".into(), json!(sort_name(q.sort)));
    v
}

// The answer shapes. Gateways disagree on scalars (ar.io gives `data.size` as a string, others a
// number; some send `null` for an empty anchor), so those are read leniently.

#[derive(Deserialize)]
struct GqlResponse<T> {
    data: Option<T>,
    errors: Option<Vec<GqlError>>,
}

#[derive(Deserialize)]
struct GqlError {
    message: String,
}

#[derive(Deserialize)]
struct TxData {
    transactions: Connection<TxNode>,
}

#[derive(Deserialize)]
struct BlockData {
    blocks: Connection<BlockNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection<N> {
    page_info: PageInfo,
    edges: Vec<Edge<N>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
}

#[derive(Deserialize)]
struct Edge<N> {
    cursor: Option<String>,
    node: N,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TxNode {
    id: String,
    anchor: Option<String>,
    signature: Option<String>,
    recipient: Option<String>,
    owner: OwnerNode,
    #[serde(default)]
    tags: Vec<Tag>,
    data: Option<DataNode>,
    block: Option<BlockNode>,
    bundled_in: Option<IdNode>,
}

#[derive(Deserialize)]
struct OwnerNode {
    address: String,
    key: Option<String>,
}

#[derive(Deserialize)]
struct DataNode {
    size: Option<Number>,
    #[serde(rename = "type")]
    content_type: Option<String>,
}

#[derive(Deserialize)]
struct BlockNode {
    id: String,
    height: Number,
    timestamp: Number,
    previous: Option<String>,
}

#[derive(Deserialize)]
struct IdNode {
    id: String,
}

/// A count that gateways send as a JSON number or as a decimal string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(u64),
    Text(String),
}

impl Number {
    fn get(&self, url: &reqwest::Url, field: &str) -> Result<u64> {
        match self {
            Number::Int(n) => Ok(*n),
            Number::Text(s) => s.trim().parse().map_err(|_| Error::Invalid {
                url: url.to_string(),
                reason: format!(
                    "{field} is not a count: {:?}",
                    s.chars().take(64).collect::<String>()
                ),
            }),
        }
    }
}

impl BlockNode {
    fn into_meta(self, url: &reqwest::Url) -> Result<BlockMeta> {
        Ok(BlockMeta {
            height: self.height.get(url, "block.height")?,
            timestamp: self.timestamp.get(url, "block.timestamp")?,
            id: self.id,
            previous: self.previous.unwrap_or_default(),
        })
    }
}

impl TxNode {
    fn into_meta(self, url: &reqwest::Url) -> Result<TxMeta> {
        let (data_size, data_type) = match self.data {
            Some(d) => (
                match d.size {
                    Some(n) => n.get(url, "data.size")?,
                    None => 0,
                },
                d.content_type,
            ),
            None => (0, None),
        };
        Ok(TxMeta {
            id: self.id,
            anchor: self.anchor.unwrap_or_default(),
            signature: self.signature.unwrap_or_default(),
            recipient: self.recipient.unwrap_or_default(),
            owner: Owner {
                address: self.owner.address,
                key: self.owner.key.unwrap_or_default(),
            },
            tags: self.tags,
            data_size,
            data_type,
            block: self.block.map(|b| b.into_meta(url)).transpose()?,
            bundled_in: self.bundled_in.map(|b| b.id),
        })
    }
}

/// A connection as a [`Page`], each node mapped by `f`.
fn page<N, T>(
    conn: Connection<N>,
    url: &reqwest::Url,
    f: impl Fn(N, &reqwest::Url) -> Result<T>,
) -> Result<Page<T>> {
    let edges = conn
        .edges
        .into_iter()
        .map(|e| Ok((e.cursor.unwrap_or_default(), f(e.node, url)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        edges,
        has_next_page: conn.page_info.has_next_page,
    })
}

/// `GET /info` as gateways send it: `height` a number, `current` a string, and much more we ignore.
#[derive(Deserialize)]
struct InfoJson {
    network: String,
    height: Number,
    #[serde(default)]
    current: String,
}

/// `GET /tx/{id}/status` as arweave nodes send it (numbers, possibly as strings).
#[derive(Deserialize)]
struct StatusJson {
    block_height: Number,
    block_indep_hash: String,
    number_of_confirmations: Number,
}

#[async_trait]
impl Gateway for HttpGateway {
    async fn data(&self, id: &str) -> Result<Bytes> {
        let url = self.id_url(id, |id| format!("raw/{id}"))?;
        let reply = self.client.get(url, "*/*").await?;
        if reply.status.as_u16() == 404 {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(reply.success()?.body)
    }

    async fn transactions_by_id(&self, ids: &[String]) -> Result<Vec<TxMeta>> {
        // Each distinct id asked once; the answer follows the order asked, duplicates included,
        // as the local gateway does.
        let mut distinct: Vec<&String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if seen.insert(id.as_str()) {
                distinct.push(id);
            }
        }
        let per_query = usize::try_from(self.ids_per_query).unwrap_or(usize::MAX);
        let mut found: HashMap<String, TxMeta> = HashMap::new();
        for chunk in distinct.chunks(per_query) {
            let mut q = TxQuery {
                ids: chunk.iter().map(|s| s.to_string()).collect(),
                first: u32::try_from(chunk.len()).unwrap_or(u32::MAX),
                ..TxQuery::default()
            };
            for _ in 0..MAX_PAGES_PER_CHUNK {
                let page = self.query(&q).await?;
                let Some((cursor, _)) = page.edges.last() else {
                    break;
                };
                let cursor = cursor.clone();
                let next = page.has_next_page;
                for (_, meta) in page.edges {
                    found.insert(meta.id.clone(), meta);
                }
                if !next {
                    break;
                }
                q.after = Some(cursor);
            }
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    async fn query(&self, query: &TxQuery) -> Result<Page<TxMeta>> {
        let data: TxData = self
            .graphql(TRANSACTIONS_QUERY, tx_variables(query))
            .await?;
        page(data.transactions, &self.graphql, TxNode::into_meta)
    }

    async fn blocks(&self, query: &BlockQuery) -> Result<Page<BlockMeta>> {
        let data: BlockData = self.graphql(BLOCKS_QUERY, block_variables(query)).await?;
        page(data.blocks, &self.graphql, BlockNode::into_meta)
    }

    async fn info(&self) -> Result<NetworkInfo> {
        let reply = self
            .client
            .get(join(&self.base, "info")?, "application/json")
            .await?
            .success()?;
        let info: InfoJson = reply.json()?;
        Ok(NetworkInfo {
            network: info.network,
            height: info.height.get(&reply.url, "height")?,
            current: info.current,
        })
    }

    async fn tx_status(&self, id: &str) -> Result<Option<TxStatus>> {
        let url = self.id_url(id, |id| format!("tx/{id}/status"))?;
        let reply = self.client.get(url, "application/json").await?;
        match reply.status.as_u16() {
            // Arweave nodes answer "Pending" with 202 while the transaction waits for a block.
            202 => Ok(None),
            404 => Err(Error::NotFound(id.to_string())),
            s if (200..300).contains(&s) => {
                let status: StatusJson = reply.json()?;
                Ok(Some(TxStatus {
                    block_height: status.block_height.get(&reply.url, "block_height")?,
                    block_indep_hash: status.block_indep_hash,
                    number_of_confirmations: status
                        .number_of_confirmations
                        .get(&reply.url, "number_of_confirmations")?,
                }))
            }
            _ => Err(reply.into_status_error()),
        }
    }
}
