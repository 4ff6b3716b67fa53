//! The CU's AO HTTP API (spec 4.2): `/`, `/health`, `/metrics`, `/result/{id}`,
//! `/results/{pid}`, `/cron/{pid}`, `/dry-run`, `/state/{pid}`. Errors are `{"error": "..."}`
//! with the status of [`CuError`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::CuError;
use crate::handoff;
use crate::process::{Evaluator, Target};
use crate::store::{Bound, Listing, Page};

/// `/results` page size when `limit` is absent (the reference's).
pub const DEFAULT_RESULTS_LIMIT: usize = 25;
/// `/results` largest page: bounds one response's size and the store scan behind it.
pub const MAX_RESULTS_LIMIT: usize = 1000;
/// `/cron` page size when `limit` is absent (the reference's).
pub const DEFAULT_CRON_LIMIT: usize = 500;

/// What the handlers share.
pub struct Api {
    /// The evaluation core.
    pub evaluator: Arc<Evaluator>,
    /// The CU's wallet address (`GET /`).
    pub address: String,
    /// How long `/result` waits before answering 202 (`None`: until done, as with `no-busy`).
    pub busy_threshold: Option<std::time::Duration>,
}

/// The axum router.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/", get(info))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/metrics", get(metrics))
        .route("/result/{id}", get(result))
        .route("/results/{pid}", get(results))
        .route("/cron/{pid}", get(cron))
        .route("/dry-run", post(dry_run))
        .route("/state/{pid}", get(state))
        .with_state(api)
}

struct Failure(CuError);

impl From<CuError> for Failure {
    fn from(e: CuError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(json!({"error": self.0.to_string()}))).into_response()
    }
}

type Q = Query<HashMap<String, String>>;

fn process_id(q: &HashMap<String, String>) -> Result<String, CuError> {
    q.get("process-id")
        .cloned()
        .ok_or_else(|| CuError::BadRequest("the process-id query parameter is required".into()))
}

async fn info(State(api): State<Arc<Api>>) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    axum::Json(json!({"address": api.address, "timestamp": now})).into_response()
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    (
        [(header::CONTENT_TYPE, ao_runtime::metrics::CONTENT_TYPE)],
        api.evaluator.metrics.render(),
    )
        .into_response()
}

async fn result(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let pid = process_id(&q)?;
    api.evaluator.hint(&pid, handoff::peers_in(&headers));
    if attest_asked(&q)? {
        // Waits for the evaluation (no 202): an attestation is asked for a result one means to
        // rely on, and a client polling for it would only ask again.
        let (v, item) = api.evaluator.attested_result(&pid, &id).await?;
        return Ok(axum::Json(crate::attest::with_attestations(v, &[item])).into_response());
    }
    let busy = if q.contains_key("no-busy") {
        None
    } else {
        api.busy_threshold
    };
    match api.evaluator.result(&pid, &id, busy).await? {
        Some(v) => Ok(axum::Json(v).into_response()),
        None => Ok((
            StatusCode::ACCEPTED,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({
                "message": format!("Evaluation of process \"{pid}\" to \"{id}\" is in progress.")
            })),
        )
            .into_response()),
    }
}

/// Whether `attest=true` was asked; any other value than `true`/`false` is refused, so a typo
/// never silently gives an unsigned answer.
fn attest_asked(q: &std::collections::HashMap<String, String>) -> Result<bool, CuError> {
    match q.get("attest").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") | Some("") => Ok(true),
        Some(other) => Err(CuError::BadRequest(format!(
            "attest={other:?}: expected true or false"
        ))),
    }
}

/// A `/results` or `/cron` cursor: standard base64 of
/// `{"timestamp", "ordinate", "cron"?, "sort"}`, byte for byte as the reference writes it.
pub fn cursor(timestamp: i64, nonce: u64, cron: Option<&str>, descending: bool) -> String {
    let mut c = serde_json::Map::new();
    c.insert("timestamp".into(), json!(timestamp));
    c.insert("ordinate".into(), json!(nonce.to_string()));
    if let Some(id) = cron {
        c.insert("cron".into(), json!(id));
    }
    c.insert(
        "sort".into(),
        json!(if descending { "DESC" } else { "ASC" }),
    );
    base64::engine::general_purpose::STANDARD.encode(Value::Object(c).to_string())
}

/// A `from`/`to` query value: a cursor, else a plain ms timestamp (as the reference reads it).
pub fn bound(name: &str, value: &str) -> Result<Bound, CuError> {
    // A `+` in an unescaped query arrives as a space.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.replace(' ', "+"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    if let Some(c) = decoded.filter(Value::is_object) {
        let timestamp = c.get("timestamp").and_then(Value::as_i64);
        let nonce = match c.get("ordinate") {
            Some(Value::String(s)) => s.parse().ok(),
            Some(v) => v.as_u64(),
            None => None,
        };
        return match (timestamp, nonce) {
            (Some(timestamp), Some(nonce)) => Ok(Bound::At {
                timestamp,
                nonce,
                cron: c.get("cron").and_then(Value::as_str).map(str::to_string),
            }),
            _ => Err(CuError::BadRequest(format!(
                "{name}: the cursor has no timestamp and ordinate"
            ))),
        };
    }
    value.trim().parse().map(Bound::Timestamp).map_err(|_| {
        CuError::BadRequest(format!(
            "{name}: {value:?} is neither a cursor nor a timestamp"
        ))
    })
}

/// The `from`, `to`, `sort` and `limit` of a `/results` or `/cron` query.
pub fn listing(
    q: &HashMap<String, String>,
    default_limit: usize,
    crons_only: bool,
) -> Result<Listing, CuError> {
    let limit = q
        .get("limit")
        .map(|l| {
            l.parse::<usize>()
                .map_err(|_| CuError::BadRequest(format!("limit {l:?} is not a number")))
        })
        .transpose()?;
    let descending = match q.get("sort").map(String::as_str) {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(CuError::BadRequest(format!(
                "sort must be ASC or DESC, not {other:?}"
            )));
        }
    };
    let shape = Shape {
        descending,
        limit,
        default_limit,
        crons_only,
    };
    listing_of(
        q.get("from").map(String::as_str),
        q.get("to").map(String::as_str),
        shape,
    )
}

/// The order and size of a page, besides its bounds.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Newest first.
    pub descending: bool,
    /// Asked size.
    pub limit: Option<usize>,
    /// Size when not asked.
    pub default_limit: usize,
    /// `/cron`: cron messages only.
    pub crons_only: bool,
}

/// A [`Listing`] from raw bounds (the HTTP query or the gRPC request).
pub fn listing_of(from: Option<&str>, to: Option<&str>, shape: Shape) -> Result<Listing, CuError> {
    Ok(Listing {
        from: from.map(|v| bound("from", v)).transpose()?,
        to: to.map(|v| bound("to", v)).transpose()?,
        descending: shape.descending,
        limit: shape
            .limit
            .unwrap_or(shape.default_limit)
            .min(MAX_RESULTS_LIMIT),
        crons_only: shape.crons_only,
    })
}

/// The connection JSON of a page.
pub fn connection(page: Page, descending: bool) -> Value {
    let edges: Vec<Value> = page
        .rows
        .into_iter()
        .map(|r| {
            json!({
                "cursor": cursor(r.timestamp, r.nonce, r.cron.as_deref(), descending),
                "node": r.result,
            })
        })
        .collect();
    json!({"pageInfo": {"hasNextPage": page.has_next}, "edges": edges})
}

async fn results(
    State(api): State<Arc<Api>>,
    Path(pid): Path<String>,
    Query(q): Q,
) -> Result<Response, Failure> {
    let l = listing(&q, DEFAULT_RESULTS_LIMIT, false)?;
    let page = api.evaluator.results(&pid, &l)?;
    Ok(axum::Json(connection(page, l.descending)).into_response())
}

async fn cron(
    State(api): State<Arc<Api>>,
    Path(pid): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let l = listing(&q, DEFAULT_CRON_LIMIT, true)?;
    api.evaluator.hint(&pid, handoff::peers_in(&headers));
    api.evaluator.evaluate_to(&pid, Target::Now).await?;
    let page = api.evaluator.results(&pid, &l)?;
    Ok(axum::Json(connection(page, l.descending)).into_response())
}

async fn dry_run(
    State(api): State<Arc<Api>>,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let pid = process_id(&q)?;
    api.evaluator.hint(&pid, handoff::peers_in(&headers));
    let msg: Value = serde_json::from_slice(&body)
        .map_err(|e| CuError::BadRequest(format!("the body is not JSON: {e}")))?;
    Ok(axum::Json(api.evaluator.dry_run(&pid, &msg).await?).into_response())
}

/// `GET /state/{pid}`: the memory, with the `Last-*` headers of the AO API and those a peer
/// needs to verify a handoff ([`handoff::answer_headers`]). With [`handoff::PROBE_HEADER`] (a
/// peer taking the process over) the state held, as it is ([`Evaluator::held_state`]), and a
/// process this CU does not hold is a 404, not a replay.
async fn state(
    State(api): State<Arc<Api>>,
    Path(pid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let state = if headers.contains_key(handoff::PROBE_HEADER) {
        api.evaluator
            .held_state(&pid)
            .await?
            .ok_or_else(|| CuError::NotFound(format!("process {pid} is not held by this CU")))?
    } else {
        api.evaluator.hint(&pid, handoff::peers_in(&headers));
        api.evaluator.state(&pid).await?
    };
    let memory_sha256: [u8; 32] = {
        use sha2::Digest;
        let memory = state.memory.clone();
        tokio::task::spawn_blocking(move || sha2::Sha256::digest(&memory).into())
            .await
            .map_err(|e| CuError::Storage(format!("hashing the memory stopped: {e}")))?
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("last-timestamp"),
                state.timestamp.to_string(),
            ),
            (
                header::HeaderName::from_static("last-ordinate"),
                state.nonce.to_string(),
            ),
            (
                header::HeaderName::from_static("last-block-height"),
                state.block_height.to_string(),
            ),
        ],
        Vec::new(),
    )
        .into_response();
    if let Some(c) = state.checkpoint_fields(memory_sha256) {
        for (name, value) in handoff::answer_headers(&state.module_id, &c) {
            if let Ok(v) = header::HeaderValue::from_str(&value) {
                response
                    .headers_mut()
                    .insert(header::HeaderName::from_static(name), v);
            }
        }
    }
    *response.body_mut() = axum::body::Body::from(state.memory);
    Ok(response)
}
