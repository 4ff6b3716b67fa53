//! The router's HTTP API: the CU's AO HTTP API, each request forwarded to the owner of its
//! process (from the `process-id` query of `/result` and `/dry-run`, the path of `/results`,
//! `/state` and `/cron`); `/` and `/metrics` answered by the router itself; and
//! `GET /route/{pid}`, which CU owns a process and why.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::Shared;
use crate::forward_http::{Forward, error, forward};
use crate::handoff;
use crate::members::Pool;
use crate::min_stake;

/// The axum router (`/ready` and `/health` are added by the runtime's servers).
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(info))
        .route("/metrics", get(metrics))
        .route("/route/{pid}", get(route))
        .route("/result/{id}", get(result))
        .route("/results/{pid}", get(by_path))
        .route("/state/{pid}", get(by_path))
        .route("/cron/{pid}", get(by_path))
        .route("/dry-run", post(dry_run))
        // The same under a `min-stake` prefix, for clients that can only set a base URL
        // (aoconnect's `CU_URL`); only `/result` uses the amount.
        .route("/min-stake/{amount}/result/{id}", get(result))
        .route("/min-stake/{amount}/results/{pid}", get(by_path))
        .route("/min-stake/{amount}/state/{pid}", get(by_path))
        .route("/min-stake/{amount}/cron/{pid}", get(by_path))
        .route("/min-stake/{amount}/dry-run", post(dry_run))
        .with_state(shared)
}

type Q = Query<HashMap<String, String>>;

/// The path and query to forward: without a `/min-stake/{amount}` prefix.
fn path_and_query(uri: &axum::http::Uri) -> &str {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    match pq.strip_prefix("/min-stake/") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => pq,
    }
}

/// The stake a `/result` request asks for: the path prefix, the `min-stake` query, or the
/// [`min_stake::HEADER`] header (first found); `None` for a plain request.
fn min_stake_asked(
    params: &HashMap<String, String>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Option<Result<min_stake::Amount, String>> {
    params
        .get("amount")
        .or_else(|| q.get("min-stake"))
        .map(|s| s.to_string())
        .or_else(|| {
            headers
                .get(min_stake::HEADER)
                .map(|v| v.to_str().unwrap_or("").to_string())
        })
        .map(|s| min_stake::parse_amount(&s))
}

fn members_json(pool: &Pool) -> serde_json::Value {
    pool.members()
        .iter()
        .map(|m| {
            let state = m.state();
            json!({
                "url": m.url(),
                "grpc": m.spec.grpc,
                "weight": m.spec.weight,
                "state": state.label(),
                "reason": match &state { crate::members::State::Ejected(why) => Some(why.clone()), _ => None },
            })
        })
        .collect()
}

async fn info(State(shared): State<Arc<Shared>>) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut body = json!({
        "router": "ao-router",
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": now,
        "members": members_json(&shared.pool),
    });
    if let Some(p) = &shared.dry_runs {
        body["dryRunMembers"] = members_json(p);
    }
    axum::Json(body).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, ao_runtime::metrics::CONTENT_TYPE)],
        shared.metrics.render(),
    )
        .into_response()
}

fn ranking_json(pool: &Pool, pid: &str) -> serde_json::Value {
    let ranking = pool.ranking(pid);
    let owner = ranking.iter().position(|c| c.state.usable());
    let states: Vec<(&str, bool)> = ranking
        .iter()
        .map(|c| (c.member.url(), c.state.usable()))
        .collect();
    let list: Vec<serde_json::Value> = ranking
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "rank": i + 1,
                "member": c.member.url(),
                "weight": c.member.spec.weight,
                "score": c.score,
                "state": c.state.label(),
                "reason": match &c.state { crate::members::State::Ejected(why) => Some(why.clone()), _ => None },
            })
        })
        .collect();
    let why = match owner {
        None => "no member of the pool is healthy".to_string(),
        Some(0) => "the highest rendezvous score among the members, and healthy".to_string(),
        Some(i) => format!(
            "the {} member(s) ranked above it are not healthy ({}); it is the best healthy one",
            i,
            ranking[..i]
                .iter()
                .map(|c| format!("{}: {}", c.member.url(), c.state.label()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    json!({
        "pool": pool.name,
        "owner": owner.map(|i| ranking[i].member.url()),
        "score": owner.map(|i| ranking[i].score),
        "why": why,
        "handoffFrom": owner.map(|i| handoff::handoff_from(&states, i, pool.changed_recently())),
        "ranking": list,
    })
}

async fn route(State(shared): State<Arc<Shared>>, Path(pid): Path<String>) -> Response {
    let mut body = ranking_json(&shared.pool, &pid);
    body["process"] = json!(pid);
    if let Some(p) = &shared.dry_runs {
        body["dryRun"] = ranking_json(p, &pid);
    }
    axum::Json(body).into_response()
}

fn process_id(q: &HashMap<String, String>) -> Option<&str> {
    q.get("process-id").map(String::as_str)
}

fn no_process_id() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "the process-id query parameter is required",
    )
}

async fn result(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let Some(pid) = process_id(&q) else {
        return no_process_id();
    };
    match min_stake_asked(&params, &q, &headers) {
        None => {}
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("min-stake: {e}")),
        Some(Ok(want)) => {
            let id = params.get("id").map(String::as_str).unwrap_or_default();
            return min_stake::gather(&shared, pid, id, want).await;
        }
    }
    let req = Forward {
        route: "result",
        pid,
        method: Method::GET,
        path_and_query: path_and_query(&uri),
        headers: &headers,
        body: Bytes::new(),
    };
    forward(&shared, &shared.pool, req).await
}

async fn by_path(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let pid = params.get("pid").cloned().unwrap_or_default();
    let route = match path_and_query(&uri).split('/').nth(1) {
        Some("results") => "results",
        Some("state") => "state",
        _ => "cron",
    };
    let req = Forward {
        route,
        pid: &pid,
        method: Method::GET,
        path_and_query: path_and_query(&uri),
        headers: &headers,
        body: Bytes::new(),
    };
    forward(&shared, &shared.pool, req).await
}

async fn dry_run(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(pid) = process_id(&q) else {
        return no_process_id();
    };
    let req = Forward {
        route: "dry-run",
        pid,
        method: Method::POST,
        path_and_query: path_and_query(&uri),
        headers: &headers,
        body,
    };
    forward(&shared, shared.dry_run_pool(), req).await
}
