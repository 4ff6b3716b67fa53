//! The CU's AO HTTP API (spec 4.2): `/`, `/health`, `/result/{id}`, `/results/{pid}`,
//! `/dry-run`, `/state/{pid}`. Errors are `{"error": "..."}` with the status of [`CuError`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::CuError;
use crate::process::Evaluator;

/// What the handlers share.
pub struct Api {
    /// The evaluation core.
    pub evaluator: Evaluator,
    /// The CU's wallet address (`GET /`).
    pub address: String,
}

/// The axum router.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/", get(info))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/result/{id}", get(result))
        .route("/results/{pid}", get(results))
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

async fn result(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, Failure> {
    let pid = process_id(&q)?;
    Ok(axum::Json(api.evaluator.result(&pid, &id).await?).into_response())
}

/// `/results` cursors: standard base64 of `{"timestamp", "ordinate", "sort"}` as the reference
/// writes them; our ordinate is the nonce.
fn cursor(timestamp: i64, nonce: u64) -> String {
    let text =
        json!({"timestamp": timestamp, "ordinate": nonce.to_string(), "sort": "ASC"}).to_string();
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn from_cursor(c: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(c.replace(' ', "+"))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("ordinate")?.as_str()?.parse().ok()
}

async fn results(
    State(api): State<Arc<Api>>,
    Path(pid): Path<String>,
    Query(q): Q,
) -> Result<Response, Failure> {
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25)
        .min(1000);
    let from = q
        .get("from")
        .and_then(|c| from_cursor(c))
        .map_or(0, |n| n + 1);
    let mut rows = api.evaluator.results(&pid, from, limit + 1)?;
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    let edges: Vec<Value> = rows
        .into_iter()
        .filter(|r| r.result.get("Error").is_none())
        .map(|r| json!({"cursor": cursor(r.timestamp, r.nonce), "node": r.result}))
        .collect();
    Ok(axum::Json(json!({"pageInfo": {"hasNextPage": has_next}, "edges": edges})).into_response())
}

async fn dry_run(
    State(api): State<Arc<Api>>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, Failure> {
    let pid = process_id(&q)?;
    let msg: Value = serde_json::from_slice(&body)
        .map_err(|e| CuError::BadRequest(format!("the body is not JSON: {e}")))?;
    Ok(axum::Json(api.evaluator.dry_run(&pid, &msg).await?).into_response())
}

async fn state(State(api): State<Arc<Api>>, Path(pid): Path<String>) -> Result<Response, Failure> {
    let (memory, nonce) = api.evaluator.state(&pid).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("last-ordinate"),
                nonce.to_string(),
            ),
        ],
        memory,
    )
        .into_response())
}
