//! The AO HTTP API of the SU (spec 2.2), as axum handlers over [`Su`]. Every answer is the
//! reference's JSON shape; every refusal is `{"error": "..."}` with the status of [`SuError`].
//!
//! Differences from the reference, all deliberate: `process-id` is not required on `GET /{pid}`
//! when the id is a process (sharp edges 7, 25) and `proc-id` is accepted as its alias; lookups are
//! filtered by process (27); `has_next_page` is exact (4); no `X-Real-IP` whitelist (1); statuses
//! are 404/409/413/503 where the reference says 400 for everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::SuError;
use crate::json;
use crate::service::{DEFAULT_PAGE_LIMIT, Range, Su};
use crate::writer::now_ms;

/// The axum router of the AO HTTP API.
pub fn router(su: Arc<Su>) -> Router {
    Router::new()
        .route("/", get(info).post(post))
        .route("/timestamp", get(timestamp))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/processes/{pid}", get(process))
        .route("/{id}/latest", get(latest))
        .route("/{id}", get(read))
        .layer(axum::middleware::from_fn(cors))
        .with_state(su)
}

/// Any origin, method and header, as the reference SU allows, so browser apps using aoconnect
/// can post and read schedules; a preflight `OPTIONS` is answered 204 here, before routing.
async fn cors(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = if req.method() == axum::http::Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    resp
}

struct Failure(SuError, String);

impl From<SuError> for Failure {
    fn from(e: SuError) -> Self {
        Failure(e, String::new())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let Failure(e, uri) = self;
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(json!({ "error": e.to_string() }))).into_response();
        if let SuError::Redirect { url } = &e
            && let Ok(v) = HeaderValue::from_str(&format!("{url}{uri}"))
        {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        resp
    }
}

type Q = Query<HashMap<String, String>>;

async fn info(State(su): State<Arc<Su>>) -> Response {
    axum::Json(json!({ "timestamp": now_ms().to_string(), "address": su.address() }))
        .into_response()
}

async fn timestamp(State(su): State<Arc<Su>>) -> Result<Response, Failure> {
    let (now, height) = su.timestamp();
    let height = height.ok_or_else(|| {
        SuError::Unavailable("Server is warming up: no block height from the gateway yet".into())
    })?;
    Ok(
        axum::Json(json!({ "timestamp": now.to_string(), "block_height": json::height(height) }))
            .into_response(),
    )
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn metrics(State(su): State<Arc<Su>>) -> Response {
    let text = su.metrics().render(su.store(), su.timestamp().1);
    (
        [(header::CONTENT_TYPE, ao_runtime::metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

async fn post(
    State(su): State<Arc<Su>>,
    OriginalUri(uri): OriginalUri,
    Query(q): Q,
    req: Request,
) -> Result<Response, Failure> {
    let started = Instant::now();
    let uri = uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    let fail = |e: SuError| Failure(e, uri.clone());
    let pid = q.get("process-id").or_else(|| q.get("proc-id"));
    let scheduled = match (pid, q.get("assign")) {
        (Some(pid), Some(assign)) => {
            let exclude = crate::schedule::parse_exclude(q.get("exclude").map(String::as_str));
            su.assign(pid, assign, q.contains_key("base-layer"), exclude)
                .await
                .map_err(fail)?
        }
        (None, None) => {
            let max = su.max_item_size();
            let body = axum::body::to_bytes(req.into_body(), max + 1)
                .await
                .map_err(|_| fail(SuError::TooLarge { size: max + 1, max }))?;
            su.post_item(body).await.map_err(fail)?
        }
        _ => {
            return Err(fail(SuError::BadRequest(
                "If sending assign or process-id, you must send both.".into(),
            )));
        }
    };
    su.metrics().observe_latency(started);
    Ok(axum::Json(json!({ "timestamp": scheduled.timestamp, "id": scheduled.id })).into_response())
}

async fn process(State(su): State<Arc<Su>>, Path(pid): Path<String>) -> Result<Response, Failure> {
    let (record, _) = su.process(&pid)?;
    Ok(axum::Json(json::process(&record)).into_response())
}

async fn latest(State(su): State<Arc<Su>>, Path(pid): Path<String>) -> Result<Response, Failure> {
    let e = su.latest(&pid)?;
    Ok(axum::Json(json::entry(&e, false)).into_response())
}

fn opt_u64(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, SuError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| {
            SuError::BadRequest(format!("{name}={s:?} is not a non-negative integer"))
        }),
    }
}

/// `from-nonce` is exclusive and `-1` means "from the start", as HyperBEAM sends it (sharp edge 25).
fn from_nonce(q: &HashMap<String, String>) -> Result<Option<u64>, SuError> {
    match q
        .get("from-nonce")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as u64)),
            Err(_) => Err(SuError::BadRequest(format!(
                "from-nonce={s:?} is not an integer"
            ))),
        },
    }
}

async fn read(
    State(su): State<Arc<Su>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, Failure> {
    let show_anchor = q.contains_key("show-anchor");
    let pid = q.get("process-id").or_else(|| q.get("proc-id")).cloned();
    // 1. A message or assignment of the given process.
    if let Some(pid) = &pid
        && pid != &id
        && let Some(e) = su.message(pid, &id)?
    {
        return Ok(axum::Json(json::entry(&e, show_anchor)).into_response());
    }
    // 2. The schedule of the process `id`.
    if !su.is_process(&id)? {
        return Err(match pid {
            None => SuError::BadRequest(format!(
                "{id} is not a process here; to look up a message, give its process as ?process-id="
            )),
            Some(_) => SuError::NotFound("Message or Process not found".into()),
        }
        .into());
    }
    let nonce_mode = q.contains_key("from-nonce") || q.contains_key("to-nonce");
    let range = if nonce_mode {
        Range::Nonce {
            from: from_nonce(&q)?,
            to: opt_u64(&q, "to-nonce")?,
        }
    } else {
        Range::Timestamp {
            from: opt_u64(&q, "from")?,
            to: opt_u64(&q, "to")?,
        }
    };
    let limit = opt_u64(&q, "limit")?.unwrap_or(DEFAULT_PAGE_LIMIT);
    let (pid_raw, plan) = su.plan(&id, range, limit)?;
    let head = format!(
        "{{\"page_info\":{{\"has_next_page\":{}}},\"edges\":[",
        plan.has_next
    );
    let entries = ReceiverStream::new(su.stream_plan(pid_raw, plan));
    let mut first = true;
    let edges = entries.map(move |e| {
        let e = e.map_err(std::io::Error::other)?;
        let mut text = if first {
            String::new()
        } else {
            ",".to_string()
        };
        first = false;
        text.push_str(&json::edge(&e, nonce_mode, show_anchor).to_string());
        Ok::<Bytes, std::io::Error>(Bytes::from(text))
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(edges)
        .chain(futures_util::stream::once(async {
            Ok(Bytes::from_static(b"]}"))
        }));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}
