//! Forwarding one HTTP request to the CU that owns its process: the owner, or on a failure
//! before any byte of answer (connect refused, connection reset, 503), once more on the next
//! choice, the failed member ejected at once. Every request the router forwards is a read
//! (results, state, dry-runs save nothing), so a second try is always safe.
//!
//! Answers are streamed back as they arrive (`/state` can be gigabytes); request bodies (a
//! dry-run's message, bounded by `--max-body`) are held so that the retry can send them again.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::Shared;
use crate::handoff;
use crate::members::{Choice, Pool};

/// Members a request is tried on: the owner and, if it fails before answering, the next choice.
/// One retry covers a member dying or draining under the request; a second would mostly
/// double the load a pool-wide failure already causes.
pub const MAX_ATTEMPTS: usize = 2;

/// The answer header naming the member that answered, for operators and tests.
pub const MEMBER_HEADER: &str = "ao-router-member";

/// Headers of one hop (RFC 9110 7.6.1), never forwarded; `host` and `content-length` are set
/// anew for the next hop.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

fn forwarded(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str()) && name != header::CONTENT_LENGTH
}

/// What a request is: its route label (metrics), the process, and what to send.
pub struct Forward<'a> {
    /// `result`, `results`, `state`, `cron`, `dry-run`.
    pub route: &'static str,
    /// The process whose owner answers.
    pub pid: &'a str,
    /// GET or POST.
    pub method: Method,
    /// Path and query as the client sent them.
    pub path_and_query: &'a str,
    /// The client's headers.
    pub headers: &'a HeaderMap,
    /// The client's body (empty for GETs).
    pub body: Bytes,
}

/// An error answer in the CU's shape (`{"error": "..."}`).
pub fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

/// Forward `req` on `pool`.
pub async fn forward(shared: &Arc<Shared>, pool: &Pool, req: Forward<'_>) -> Response {
    let ranking = pool.ranking(req.pid);
    let mut attempts = 0;
    let mut last_failure = String::from("no member of the pool is healthy");
    for pos in 0..ranking.len() {
        let choice = &ranking[pos];
        if !choice.member.state().usable() {
            continue;
        }
        if attempts == MAX_ATTEMPTS {
            break;
        }
        attempts += 1;
        if attempts > 1 {
            shared.metrics.retry(req.route);
        }
        let last = attempts == MAX_ATTEMPTS;
        let hint = hint(pool, &ranking, pos);
        let url = format!("{}{}", choice.member.url(), req.path_and_query);
        let mut out = shared
            .http
            .request(req.method.clone(), &url)
            .body(req.body.clone());
        for (name, value) in req.headers {
            if forwarded(name) {
                out = out.header(name, value);
            }
        }
        if !hint.is_empty() {
            out = out.header(handoff::HEADER, hint);
        }
        match out.send().await {
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE && !last => {
                let why = format!("answered 503 to {}", req.path_and_query);
                tracing::warn!(
                    member = choice.member.url(),
                    "{why}; retrying on the next choice"
                );
                // A 503 with `Retry-After` is a unit shedding load or past its deadline: alive,
                // so this request goes on, but its processes stay (moving them costs a replay
                // each). Without it the unit is not serving (opening its store): eject.
                if !r.headers().contains_key(reqwest::header::RETRY_AFTER) {
                    pool.eject(&choice.member, why.clone());
                }
                last_failure = format!("{}: {why}", choice.member.url());
            }
            Ok(r) => {
                let outcome = if r.status().is_success() || r.status() == StatusCode::ACCEPTED {
                    "ok"
                } else {
                    "error"
                };
                shared
                    .metrics
                    .request(req.route, choice.member.url(), outcome);
                return answer(shared, &req, &ranking, choice, r).await;
            }
            Err(e) => {
                let why = crate::error_chain(&e);
                tracing::warn!(
                    member = choice.member.url(),
                    "{} failed before an answer: {why}",
                    req.path_and_query
                );
                pool.eject(&choice.member, why.clone());
                last_failure = format!("{}: {why}", choice.member.url());
            }
        }
    }
    shared.metrics.request(req.route, "none", "failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "no CU of the {} pool could answer for process {}: {last_failure}",
            pool.name, req.pid
        ),
    )
}

/// The `ao-handoff-from` value for the member at `pos` (empty: no header).
fn hint(pool: &Pool, ranking: &[Choice], pos: usize) -> String {
    let peers: Vec<String> = ranking.iter().map(|c| c.member.peer()).collect();
    let states: Vec<(&str, bool)> = ranking
        .iter()
        .zip(&peers)
        .map(|(c, peer)| (peer.as_str(), c.member.state().usable()))
        .collect();
    handoff::handoff_from(&states, pos, pool.changed_recently()).join(",")
}

/// The member's answer, streamed back (or, when sampled for `--verify-rate`, read whole and
/// compared with a second CU's in the background).
async fn answer(
    shared: &Arc<Shared>,
    req: &Forward<'_>,
    ranking: &[Choice],
    choice: &Choice,
    r: reqwest::Response,
) -> Response {
    let status = r.status();
    let mut headers = HeaderMap::new();
    for (name, value) in r.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name, value.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(choice.member.url()) {
        headers.insert(HeaderName::from_static(MEMBER_HEADER), v);
    }
    let body = if let Some(v) = shared.verify.as_ref().filter(|v| {
        req.route == "result" && status == StatusCode::OK && v.sample(r.content_length())
    }) {
        match r.bytes().await {
            Ok(bytes) => {
                v.compare_later(
                    shared.clone(),
                    req.pid,
                    req.path_and_query,
                    ranking,
                    choice,
                    bytes.clone(),
                );
                Body::from(bytes)
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "{} broke off its answer: {}",
                        choice.member.url(),
                        crate::error_chain(&e)
                    ),
                );
            }
        }
    } else {
        Body::from_stream(chunks(r))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// The answer's body as a stream of chunks, as they arrive.
fn chunks(
    r: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<Bytes, reqwest::Error>> + Send {
    futures_util::stream::unfold(Some(r), |r| async move {
        let mut r = r?;
        match r.chunk().await {
            Ok(Some(c)) => Some((Ok(c), Some(r))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
}
