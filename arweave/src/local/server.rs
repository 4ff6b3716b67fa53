//! HTTP routes of the local gateway: the REST subset of an Arweave gateway and a bundler, and
//! `POST /graphql`.
//!
//! Answers follow real gateways where clients look at them: 404 is plain text `Not Found`, a pending
//! transaction's status is 202 `Pending`, `/tx/{id}/status` is JSON. Our own refusals (bad item,
//! too large, bad query) are JSON `{"error": "..."}` with the reason, since a person debugging an
//! upload needs to know which field of which item was wrong.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use ao_core::encoding::b64url;

use crate::error::Error;
use crate::local::graphql::GatewaySchema;
use crate::local::store::{Head, Signed, Store, raw_id};
use crate::local::{blocks, ingest};

/// Largest GraphQL request body: real queries are a few hundred bytes; 1 MiB leaves room for long
/// id lists while keeping a hostile body from costing much.
pub const MAX_GRAPHQL_BODY: usize = 1024 * 1024;

/// Most blocks one `POST /mine/{n}` makes: tests want a few, and a typo should not mine a million.
pub const MAX_MINE_AT_ONCE: u64 = 1000;

/// `Content-Type` of data without a `Content-Type` tag, as gateways answer.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// What every handler needs.
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// The GraphQL schema over it.
    pub schema: GatewaySchema,
    /// Largest accepted upload, in bytes.
    pub max_item_size: usize,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
}

/// Prefix of every gateway metric.
pub const METRICS_PREFIX: &str = "ao_gateway";

/// The local gateway's metrics: uploads, the chain's height, and its servers' latency.
#[derive(Debug)]
pub struct Metrics {
    /// Uploads accepted (`POST /tx`).
    pub uploads: ao_runtime::metrics::Counter,
    /// Uploads refused.
    pub uploads_refused: ao_runtime::metrics::Counter,
    /// The HTTP server's latency histograms.
    pub server: Arc<ao_runtime::metrics::ServerMetrics>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            uploads: Default::default(),
            uploads_refused: Default::default(),
            server: ao_runtime::metrics::ServerMetrics::new(METRICS_PREFIX),
        }
    }
}

type Shared = State<Arc<AppState>>;

/// The router of the local gateway.
pub fn router(state: Arc<AppState>) -> Router {
    let max_item = state.max_item_size;
    Router::new()
        // Sharp edge 17: the reference MU looks up `{gateway}/{target}` with an empty target for
        // spawns; a 2xx here would make it fail, so `/` is explicitly not found.
        .route("/", get(not_found).post(not_found))
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route("/tx", post(upload).layer(DefaultBodyLimit::max(max_item)))
        .route(
            "/tx/arweave",
            post(upload).layer(DefaultBodyLimit::max(max_item)),
        )
        .route("/tx/{id}", get(tx))
        .route("/tx/{id}/status", get(status))
        .route("/tx/{id}/data", get(tx_data))
        .route("/raw/{id}", get(raw))
        .route("/block/height/{height}", get(block_at))
        .route(
            "/graphql",
            post(graphql).layer(DefaultBodyLimit::max(MAX_GRAPHQL_BODY)),
        )
        .route("/mine", get(mine_one).post(mine_one))
        .route("/mine/{n}", get(mine_many).post(mine_many))
        .route("/{id}", get(data_with_tags))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Why a request failed, as the handlers return it (small, unlike a `Response`).
enum ApiError {
    /// Plain-text `Not Found`, as gateways answer.
    NotFound,
    /// JSON `{"error": reason}` with this status.
    Status(StatusCode, String),
}

impl ApiError {
    fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::Status(StatusCode::BAD_REQUEST, reason.into())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::NotFound(_) => ApiError::NotFound,
            Error::BadRequest(reason) => ApiError::bad_request(reason),
            other => {
                tracing::error!("local gateway: {other}");
                ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "Not Found").into_response(),
            ApiError::Status(status, reason) => {
                (status, axum::Json(json!({ "error": reason }))).into_response()
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// Run a store call off the async workers: RocksDB calls block (and writes fsync).
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&Store) -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::Status(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("task failed: {e}"),
        )),
    }
}

async fn info(State(s): Shared) -> ApiResult {
    let i = blocking(&s, |store| Ok(store.info())).await?;
    Ok(axum::Json(json!({
        "network": i.network,
        "version": 5,
        "release": 0,
        "height": i.height,
        "current": i.current,
        "blocks": i.height + 1,
        "peers": 0,
        "queue_length": 0,
        "node_state_latency": 0,
    }))
    .into_response())
}

async fn metrics(State(s): Shared) -> ApiResult {
    let tip = blocking(&s, |store| Ok(store.tip())).await?;
    let mut out = ao_runtime::metrics::Exposition::new();
    out.counter(
        "ao_gateway_uploads_total",
        "Uploads accepted (POST /tx).",
        s.metrics.uploads.get(),
    );
    out.counter(
        "ao_gateway_uploads_refused_total",
        "Uploads refused (bad item, too large).",
        s.metrics.uploads_refused.get(),
    );
    out.gauge(
        "ao_gateway_block_height",
        "Height of the last block mined.",
        tip.height as f64,
    );
    s.metrics.server.render(&mut out);
    Ok((
        [(CONTENT_TYPE, ao_runtime::metrics::CONTENT_TYPE)],
        out.finish(),
    )
        .into_response())
}

async fn upload(State(s): Shared, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let result = accept_upload(&s, body).await;
    match &result {
        Ok(_) => s.metrics.uploads.inc(),
        Err(_) => s.metrics.uploads_refused.inc(),
    }
    result
}

async fn accept_upload(s: &Arc<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "data item is larger than the limit of {} bytes",
                    s.max_item_size
                ),
            ));
        }
        Err(rejection) => return Err(ApiError::Status(rejection.status(), rejection.body_text())),
    };
    let receipt = blocking(s, move |store| ingest::accept(store, body)).await?;
    tracing::debug!(id = %receipt.id, "accepted item");
    Ok(axum::Json(receipt).into_response())
}

/// The id in a path, or a 404: a string that is not an id cannot name anything stored.
fn path_id(id: &str) -> Result<[u8; 32], ApiError> {
    raw_id(id).ok_or(ApiError::NotFound)
}

fn content_type(head: &Head) -> HeaderValue {
    head.content_type()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_CONTENT_TYPE))
}

async fn load(s: &Arc<AppState>, id: [u8; 32]) -> Result<(Head, Bytes), ApiError> {
    blocking(s, move |store| {
        let head = store
            .head(&id)?
            .ok_or_else(|| Error::NotFound(b64url(id)))?;
        let data = store
            .data(&id)?
            .ok_or_else(|| Error::Storage(format!("data of {} is missing", b64url(id))))?;
        Ok((head, data))
    })
    .await
}

async fn raw(State(s): Shared, Path(id): Path<String>) -> ApiResult {
    let (head, data) = load(&s, path_id(&id)?).await?;
    Ok(([(CONTENT_TYPE, content_type(&head))], data).into_response())
}

/// Header names a tag may not set on `GET /{id}`: framing and transport headers that would break
/// the response, and headers a browser acts on.
fn reserved_header(name: &str) -> bool {
    const EXACT: [&str; 16] = [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "date",
        "server",
        "set-cookie",
        "location",
        "vary",
        "etag",
        "cache-control",
        "expires",
        "www-authenticate",
    ];
    const PREFIXES: [&str; 4] = ["content-", "access-control-", "proxy-", "sec-"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `GET /{id}`: the data, with each tag also as a response header (lower-cased name). The reference
/// MU resolves a message's target this way (spec 3.6: it needs `type: process` and turns the other
/// headers back into tags), so the local gateway answers it as the gateways it uses do.
async fn data_with_tags(State(s): Shared, Path(id): Path<String>) -> ApiResult {
    let (head, data) = load(&s, path_id(&id)?).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, content_type(&head));
    for tag in head.item.tags() {
        let name = tag.name.to_ascii_lowercase();
        if reserved_header(&name) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&tag.value),
        ) {
            headers.append(n, v);
        }
    }
    Ok((headers, data).into_response())
}

/// `GET /tx/{id}`: the header in the JSON shape of an Arweave transaction, without data. An L1
/// transaction is answered as it was posted; a data item is given the same shape (tags base64url,
/// `last_tx` = anchor) so that tools reading `/tx` find the fields they expect.
async fn tx(State(s): Shared, Path(id): Path<String>) -> ApiResult {
    let raw = path_id(&id)?;
    let head = blocking(&s, move |store| {
        store
            .head(&raw)?
            .ok_or_else(|| Error::NotFound(b64url(raw)))
    })
    .await?;
    if let Signed::L1(t) = &head.item {
        let mut json = t.to_json();
        json.data = String::new();
        return Ok(axum::Json(json).into_response());
    }
    let m = head.meta(None);
    let tags: Vec<_> = m
        .tags
        .iter()
        .map(|t| json!({"name": b64url(&t.name), "value": b64url(&t.value)}))
        .collect();
    Ok(axum::Json(json!({
        "format": 2,
        "id": m.id,
        "last_tx": m.anchor,
        "owner": m.owner.key,
        "tags": tags,
        "target": m.recipient,
        "quantity": "0",
        "data": "",
        "data_size": m.data_size.to_string(),
        "data_root": "",
        "reward": "0",
        "signature": m.signature,
    }))
    .into_response())
}

/// `GET /tx/{id}/data`: the data base64url-encoded, as Arweave nodes serve it.
async fn tx_data(State(s): Shared, Path(id): Path<String>) -> ApiResult {
    let (_, data) = load(&s, path_id(&id)?).await?;
    Ok(b64url(&data).into_response())
}

/// `GET /tx/{id}/status`: 200 with the block and confirmations, 202 `Pending`, or 404.
async fn status(State(s): Shared, Path(id): Path<String>) -> ApiResult {
    let raw = path_id(&id)?;
    match blocking(&s, move |store| store.status(&raw)).await? {
        None => Err(ApiError::NotFound),
        Some(None) => Ok((StatusCode::ACCEPTED, "Pending").into_response()),
        Some(Some(st)) => Ok(axum::Json(st).into_response()),
    }
}

/// `GET /block/height/{height}`: a block in the field names of Arweave's block JSON.
async fn block_at(State(s): Shared, Path(height): Path<String>) -> ApiResult {
    let height = height
        .parse::<u64>()
        .map_err(|_| ApiError::bad_request("height must be a number"))?;
    let b = blocking(&s, move |store| store.block(height))
        .await?
        .ok_or(ApiError::NotFound)?;
    let m = b.meta();
    Ok(axum::Json(json!({
        "indep_hash": m.id,
        "height": m.height,
        "timestamp": m.timestamp,
        "previous_block": m.previous,
    }))
    .into_response())
}

async fn mine_blocks(s: &Arc<AppState>, n: u64) -> ApiResult {
    let b = blocking(s, move |store| {
        let mut last = store.tip();
        for _ in 0..n {
            last = store.mine(blocks::now_secs())?;
        }
        Ok(last)
    })
    .await?;
    Ok(axum::Json(b.meta()).into_response())
}

/// `POST /mine`: make a block now (tests do not wait for the interval).
async fn mine_one(State(s): Shared) -> ApiResult {
    mine_blocks(&s, 1).await
}

/// `POST /mine/{n}`: make `n` blocks now, as arlocal's `/mine/{n}`.
async fn mine_many(State(s): Shared, Path(n): Path<String>) -> ApiResult {
    match n.parse::<u64>() {
        Ok(n) if (1..=MAX_MINE_AT_ONCE).contains(&n) => mine_blocks(&s, n).await,
        _ => Err(ApiError::bad_request(format!(
            "n must be a number from 1 to {MAX_MINE_AT_ONCE}"
        ))),
    }
}

/// `POST /graphql`: `{query, variables, operationName}` (or a batch of them). Requests that fail
/// before running (unparsable JSON or GraphQL, validation errors) get 400 with the GraphQL errors,
/// as Apollo-style servers answer; results with field errors keep 200.
async fn graphql(State(s): Shared, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body = body.map_err(|r| ApiError::Status(r.status(), r.body_text()))?;
    let request: async_graphql::BatchRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body is not a GraphQL request: {e}")))?;
    let response = s.schema.execute_batch(request).await;
    let failed = match &response {
        async_graphql::BatchResponse::Single(r) => {
            r.is_err() && r.data == async_graphql::Value::Null
        }
        async_graphql::BatchResponse::Batch(_) => false,
    };
    let status = if failed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(response)).into_response())
}
