//! The AO HTTP API of the MU (spec 3.2), which aoconnect speaks: `POST /` for items and
//! assignments, `POST|DELETE /monitor/{pid}`, `GET /`, plus `/health`, `/metrics`, and our own
//! `/trace/{id}`; the dead-letter endpoints on the admin router. Limits are tower layers around
//! the router.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower::ServiceBuilder;

use crate::crank::AssignOrder;
use crate::ingress::{self, MuError};
use crate::limits::{self, RateLimiter, error_response};
use crate::queue::Mu;
use crate::{monitor, trace};

/// What the handlers share.
pub struct Api {
    /// The messenger.
    pub mu: Arc<Mu>,
    /// Per-wallet limit.
    pub wallets: RateLimiter,
    /// Per-client-IP limit (shared by HTTP and gRPC).
    pub per_ip: Arc<RateLimiter>,
    /// Largest item (HTTP body, gRPC item).
    pub max_item_size: usize,
    /// Peers whose client address (`X-Real-IP`, gRPC `client_ip`) is believed.
    pub trusted_proxies: Vec<ao_runtime::client_ip::IpNet>,
}

type Shared = State<Arc<Api>>;

fn err(e: MuError) -> Response {
    error_response(&e)
}

async fn post_root(
    State(api): Shared,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let pid = q.get("process-id");
    let assign = q.get("assign");
    if pid.is_some() || assign.is_some() {
        let (Some(pid), Some(message)) = (pid, assign) else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "You must set both process-id and assign to send an assignment, not just one"})),
            )
                .into_response();
        };
        let order = AssignOrder {
            process: pid.clone(),
            message: message.clone(),
            base_layer: q.contains_key("base-layer"),
            exclude: q
                .get("exclude")
                .map(|e| {
                    e.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        };
        return match ingress::assign(&api.mu, order).await {
            Ok(t) => (
                StatusCode::ACCEPTED,
                axum::Json(json!({"message": "Processing Assignment", "id": t.item_id})),
            )
                .into_response(),
            Err(e) => err(e),
        };
    }
    match ingress::accept(&api.mu, &api.wallets, body).await {
        Ok(t) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"message": "Processing DataItem", "id": t.id, "receipt": t.receipt})),
        )
            .into_response(),
        Err(e) => err(e),
    }
}

/// The process a monitor request names: the target of the item in the body (its signature is
/// not checked, as in the reference; the path's pid is not used either).
fn monitor_target(body: Bytes, path_pid: &str) -> Result<String, MuError> {
    match ao_core::DataItem::parse(body) {
        Ok(item) => Ok(item.target_id().unwrap_or_else(|| path_pid.to_string())),
        Err(_) if ao_core::encoding::decode_id("pid", path_pid).is_ok() => Ok(path_pid.to_string()),
        Err(e) => Err(MuError::BadItem(format!("not a data item: {e}"))),
    }
}

async fn post_monitor(State(api): Shared, Path(pid): Path<String>, body: Bytes) -> Response {
    let target = match monitor_target(body, &pid) {
        Ok(t) => t,
        Err(e) => return err(e),
    };
    match monitor::start(&api.mu, &target).await {
        Ok(()) => (StatusCode::OK, "Monitoring process").into_response(),
        Err(e) => err(e),
    }
}

async fn delete_monitor(State(api): Shared, Path(pid): Path<String>, body: Bytes) -> Response {
    let target = match monitor_target(body, &pid) {
        Ok(t) => t,
        Err(e) => return err(e),
    };
    match monitor::stop(&api.mu, &target).await {
        Ok(()) => (StatusCode::OK, "Process deleted").into_response(),
        Err(e) => err(e),
    }
}

async fn get_root() -> &'static str {
    "ao messenger unit"
}

async fn health(State(api): Shared) -> Response {
    axum::Json(json!({"ok": true, "address": api.mu.address})).into_response()
}

async fn metrics(State(api): Shared) -> Response {
    // The queue gauges read the store: off the async threads.
    let (metrics, store) = (api.mu.metrics.clone(), api.mu.store.clone());
    let text =
        tokio::task::spawn_blocking(move || metrics.render(&store, crate::queue::now_ms())).await;
    match text {
        Ok(text) => ([("content-type", ao_runtime::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics could not be rendered: {e}"),
        )
            .into_response(),
    }
}

async fn get_trace(State(api): Shared, Path(id): Path<String>) -> Response {
    match trace::tree(&api.mu.store, &id) {
        Ok(Some(n)) => axum::Json(trace::json(&n)).into_response(),
        Ok(None) => err(MuError::NotFound(format!("no work traced for {id}"))),
        Err(e) => err(MuError::Unavailable(e.to_string())),
    }
}

async fn dead_letters(State(api): Shared) -> Response {
    match api.mu.store.dead_letters() {
        Ok(list) => axum::Json(json!(
            list.iter()
                .map(
                    |t| json!({"task": t.id, "id": t.item_id, "process": t.process_id,
                "stage": t.stage.name(), "retries": t.retries, "error": t.error,
                "updated_ms": t.updated_ms})
                )
                .collect::<Vec<_>>()
        ))
        .into_response(),
        Err(e) => err(MuError::Unavailable(e.to_string())),
    }
}

async fn repush(State(api): Shared, Path(task): Path<String>) -> Response {
    match api.mu.repush(&task).await {
        Ok(Some(t)) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"task": t.id, "state": format!("{:?}", t.state)})),
        )
            .into_response(),
        Ok(None) => err(MuError::NotFound(format!("no task {task}"))),
        Err(e) => err(MuError::Unavailable(e.to_string())),
    }
}

/// The public router with its limits: body size, per-IP rate. The deadline, the body read and the
/// bound on requests in flight are the server's ([`ao_runtime::http::serve`]).
pub fn router(api: Arc<Api>, max_item_size: usize, per_ip: Arc<RateLimiter>) -> Router {
    Router::new()
        .route("/", post(post_root).get(get_root))
        .route("/monitor/{pid}", post(post_monitor).delete(delete_monitor))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/trace/{id}", get(get_trace))
        .with_state(api)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(per_ip, limits::per_ip))
                .layer(DefaultBodyLimit::max(max_item_size)),
        )
}

/// The operator's router, served on the admin listener only (`--admin-addr`, loopback by
/// default): listing dead letters and pushing one again are not for the public.
pub fn admin_router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/dead-letters", get(dead_letters))
        .route("/dead-letters/{task}", post(repush))
        .with_state(api)
}
