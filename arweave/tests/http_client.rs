//! The HTTP gateway and bundler clients against real HTTP on 127.0.0.1: small axum servers that
//! answer in the shapes real gateways use, fail on purpose, stall, or count what reaches them.
//! Nothing here touches a non-loopback address.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use ao_arweave::http::{
    BLOCKS_QUERY, ClientConfig, HttpBundler, HttpGateway, TRANSACTIONS_QUERY, parse_retry_after,
};
use ao_arweave::{
    BlockQuery, Bundler, Error, Gateway, HeightRange, Sort, TagFilter, TxQuery, TxStatus,
};
use ao_core::DataItemBuilder;
use ao_core::wallet::Ed25519Wallet;

// ---------------------------------------------------------------------------------------------
// helpers

/// Serve `app` on 127.0.0.1 (any free port) and return its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// Short timeouts and millisecond backoff, so failure tests take milliseconds.
fn fast() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_retries: 3,
        backoff_base: Duration::from_millis(2),
        max_backoff: Duration::from_millis(20),
        ..ClientConfig::default()
    }
}

fn gateway(base: &str, config: &ClientConfig) -> HttpGateway {
    HttpGateway::new(base, config).unwrap()
}

/// Every GraphQL request body the server saw.
type Seen = Arc<Mutex<Vec<Value>>>;

/// A transaction node as arweave.net (ar.io) answers it: `data.size` a string, block present.
fn node_included(id: &str) -> Value {
    json!({
        "id": id,
        "anchor": "YW5jaG9y",
        "signature": "c2lnbmF0dXJl",
        "recipient": "",
        "owner": { "address": "owner-address", "key": "owner-key" },
        "tags": [
            { "name": "Data-Protocol", "value": "ao" },
            { "name": "Type", "value": "Module" },
        ],
        "data": { "size": "1234", "type": "application/wasm" },
        "block": { "id": "block-id", "height": 1500000, "timestamp": 1700000000, "previous": "prev-id" },
        "bundledIn": { "id": "bundle-id" },
    })
}

/// A pending node in another gateway's style: block and bundledIn null, size a number, no anchor.
fn node_pending(id: &str) -> Value {
    json!({
        "id": id,
        "anchor": null,
        "signature": "c2ln",
        "recipient": "target-id",
        "owner": { "address": "a2", "key": "k2" },
        "tags": [],
        "data": { "size": 5, "type": null },
        "block": null,
        "bundledIn": null,
    })
}

fn graphql_page(nodes: Vec<(String, Value)>, has_next: bool) -> Value {
    let edges: Vec<Value> = nodes
        .into_iter()
        .map(|(cursor, node)| json!({ "cursor": cursor, "node": node }))
        .collect();
    json!({ "data": { "transactions": { "pageInfo": { "hasNextPage": has_next }, "edges": edges } } })
}

// ---------------------------------------------------------------------------------------------
// (a) the real gateway shapes

/// A gateway with canned answers for `/raw`, `/info`, `/tx/{id}/status` and `/graphql`, recording
/// GraphQL bodies.
async fn canned_gateway() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn raw(Path(id): Path<String>) -> Response {
        match id.as_str() {
            "known" => (
                [(header::CONTENT_TYPE, "application/wasm")],
                Bytes::from_static(b"\0asm\x01\0\0\0"),
            )
                .into_response(),
            _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
        }
    }
    async fn info() -> Response {
        // An arweave node's /info, abridged: height a number, current a string.
        Json(json!({
            "network": "arweave.N.1", "version": 5, "release": 69, "height": 1523456,
            "current": "cur-block-id", "blocks": 1523457, "peers": 400, "queue_length": 0,
            "node_state_latency": 1
        }))
        .into_response()
    }
    async fn status(Path(id): Path<String>) -> Response {
        match id.as_str() {
            "mined" => Json(json!({
                "block_height": 1500000, "block_indep_hash": "block-id",
                "number_of_confirmations": 23456
            }))
            .into_response(),
            "pending" => (StatusCode::ACCEPTED, "Pending").into_response(),
            _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
        }
    }
    async fn graphql(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> Response {
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let req: Value = serde_json::from_slice(&body).unwrap();
        seen.lock().unwrap().push(req.clone());
        let query = req["query"].as_str().unwrap();
        if query.contains("blocks(") {
            return Json(json!({ "data": { "blocks": {
                "pageInfo": { "hasNextPage": true },
                "edges": [
                    { "cursor": "b1", "node": { "id": "blk-1", "height": 10, "timestamp": 1700000000, "previous": "blk-0" } },
                    { "cursor": "b2", "node": { "id": "blk-2", "height": "11", "timestamp": 1700000120, "previous": "blk-1" } },
                ]
            } } }))
            .into_response();
        }
        Json(graphql_page(
            vec![
                ("c1".into(), node_included("tx-1")),
                ("c2".into(), node_pending("tx-2")),
            ],
            true,
        ))
        .into_response()
    }
    let app = Router::new()
        .route("/raw/{id}", get(raw))
        .route("/info", get(info))
        .route("/tx/{id}/status", get(status))
        .route("/graphql", post(graphql))
        .with_state(seen.clone());
    (serve(app).await, seen)
}

#[tokio::test]
async fn rest_answers_map_into_the_trait_types() {
    let (base, _) = canned_gateway().await;
    let gw = gateway(&format!("{base}/"), &fast());

    assert_eq!(&gw.data("known").await.unwrap()[..], b"\0asm\x01\0\0\0");
    assert!(matches!(gw.data("unknown").await, Err(Error::NotFound(id)) if id == "unknown"));
    // Not an id: refused before anything is sent, so it cannot add path segments.
    assert!(matches!(
        gw.data("../info").await,
        Err(Error::BadRequest(_))
    ));

    let info = gw.info().await.unwrap();
    assert_eq!(info.network, "arweave.N.1");
    assert_eq!(info.height, 1523456);
    assert_eq!(info.current, "cur-block-id");

    assert_eq!(
        gw.tx_status("mined").await.unwrap(),
        Some(TxStatus {
            block_height: 1500000,
            block_indep_hash: "block-id".into(),
            number_of_confirmations: 23456,
        })
    );
    assert_eq!(gw.tx_status("pending").await.unwrap(), None);
    assert!(matches!(
        gw.tx_status("nope").await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn transactions_query_sends_exact_variables_and_maps_nodes() {
    let (base, seen) = canned_gateway().await;
    let gw = gateway(&base, &fast());
    let q = TxQuery {
        owners: vec!["owner-1".into(), "owner-2".into()],
        tags: vec![
            TagFilter {
                name: "Process".into(),
                values: vec!["pid".into()],
            },
            TagFilter {
                name: "Type".into(),
                values: vec!["Checkpoint".into()],
            },
        ],
        block: Some(HeightRange {
            min: Some(10),
            max: None,
        }),
        first: 25,
        after: Some("cursor-0".into()),
        sort: Sort::HeightAsc,
        ..TxQuery::default()
    };
    let page = gw.query(&q).await.unwrap();

    let sent = seen.lock().unwrap().pop().unwrap();
    assert_eq!(sent["query"], TRANSACTIONS_QUERY);
    // Unset filters (ids, recipients, bundledIn, block.max) are left out, not sent empty.
    assert_eq!(
        sent["variables"],
        json!({
            "owners": ["owner-1", "owner-2"],
            "tags": [
                { "name": "Process", "values": ["pid"] },
                { "name": "Type", "values": ["Checkpoint"] },
            ],
            "block": { "min": 10 },
            "first": 25,
            "after": "cursor-0",
            "sort": "HEIGHT_ASC",
        })
    );

    assert!(page.has_next_page);
    assert_eq!(page.edges.len(), 2);
    let (cursor, tx) = &page.edges[0];
    assert_eq!(cursor, "c1");
    assert_eq!(tx.id, "tx-1");
    assert_eq!(tx.anchor, "YW5jaG9y");
    assert_eq!(tx.owner.address, "owner-address");
    assert_eq!(tx.owner.key, "owner-key");
    assert_eq!(tx.tags[1].name, "Type");
    assert_eq!(tx.tags[1].value, "Module");
    assert_eq!(tx.data_size, 1234);
    assert_eq!(tx.data_type.as_deref(), Some("application/wasm"));
    let block = tx.block.as_ref().unwrap();
    assert_eq!(
        (
            block.id.as_str(),
            block.height,
            block.timestamp,
            block.previous.as_str()
        ),
        ("block-id", 1500000, 1700000000, "prev-id")
    );
    assert_eq!(tx.bundled_in.as_deref(), Some("bundle-id"));

    let (_, pending) = &page.edges[1];
    assert_eq!(pending.block, None);
    assert_eq!(pending.bundled_in, None);
    assert_eq!(pending.anchor, "");
    assert_eq!(pending.recipient, "target-id");
    assert_eq!(pending.data_size, 5);
    assert_eq!(pending.data_type, None);
}

#[tokio::test]
async fn blocks_query_sends_exact_variables_and_maps_nodes() {
    let (base, seen) = canned_gateway().await;
    let gw = gateway(&base, &fast());
    let page = gw
        .blocks(&BlockQuery {
            height: Some(HeightRange {
                min: Some(10),
                max: Some(20),
            }),
            first: 2,
            after: None,
            sort: Sort::HeightDesc,
        })
        .await
        .unwrap();
    let sent = seen.lock().unwrap().pop().unwrap();
    assert_eq!(sent["query"], BLOCKS_QUERY);
    assert_eq!(
        sent["variables"],
        json!({ "height": { "min": 10, "max": 20 }, "first": 2, "sort": "HEIGHT_DESC" })
    );
    assert!(page.has_next_page);
    let heights: Vec<(String, u64, String)> = page
        .edges
        .iter()
        .map(|(c, b)| (c.clone(), b.height, b.previous.clone()))
        .collect();
    assert_eq!(
        heights,
        vec![
            ("b1".into(), 10, "blk-0".into()),
            ("b2".into(), 11, "blk-1".into())
        ]
    );
}

#[test]
fn query_texts_are_valid_graphql() {
    for q in [TRANSACTIONS_QUERY, BLOCKS_QUERY] {
        async_graphql::parser::parse_query(q).unwrap_or_else(|e| panic!("{e}: {q}"));
    }
}

/// A gateway that knows `tx-0`..`tx-9`, answers at most one edge per request (so the client
/// must follow `hasNextPage`/`after`), and returns what it has in its own order.
async fn paging_gateway() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn graphql(State(seen): State<Seen>, body: Bytes) -> Json<Value> {
        let req: Value = serde_json::from_slice(&body).unwrap();
        seen.lock().unwrap().push(req.clone());
        let vars = &req["variables"];
        let mut known: Vec<String> = vars["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .filter(|id| id.starts_with("tx-"))
            .collect();
        known.reverse(); // not the order asked
        let start: usize = vars["after"]
            .as_str()
            .map(|c| c.parse::<usize>().unwrap() + 1)
            .unwrap_or(0);
        let page: Vec<(String, Value)> = known
            .iter()
            .enumerate()
            .skip(start)
            .take(1)
            .map(|(i, id)| (i.to_string(), node_included(id)))
            .collect();
        Json(graphql_page(page, start + 1 < known.len()))
    }
    let app = Router::new()
        .route("/graphql", post(graphql))
        .with_state(seen.clone());
    (serve(app).await, seen)
}

#[tokio::test]
async fn transactions_by_id_chunks_pages_and_keeps_the_order_asked() {
    let (base, seen) = paging_gateway().await;
    let gw = gateway(&base, &fast()).with_ids_per_query(2);
    let ask: Vec<String> = ["tx-3", "missing", "tx-1", "tx-7", "tx-3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got: Vec<String> = gw
        .transactions_by_id(&ask)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    // Unknown ids left out, the order asked kept, a repeated id answered twice.
    assert_eq!(got, ["tx-3", "tx-1", "tx-7", "tx-3"]);

    let sent = seen.lock().unwrap().clone();
    let vars: Vec<Value> = sent.iter().map(|r| r["variables"].clone()).collect();
    // Distinct ids in chunks of 2, `first` = chunk size; chunk 1 needs a second page.
    assert_eq!(
        vars,
        vec![
            json!({ "ids": ["tx-3", "missing"], "first": 2, "sort": "HEIGHT_DESC" }),
            json!({ "ids": ["tx-1", "tx-7"], "first": 2, "sort": "HEIGHT_DESC" }),
            json!({ "ids": ["tx-1", "tx-7"], "first": 2, "after": "0", "sort": "HEIGHT_DESC" }),
        ]
    );

    // No ids: no request (an omitted `ids` would mean "any transaction").
    assert!(gw.transactions_by_id(&[]).await.unwrap().is_empty());
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn graphql_errors_become_invalid_with_the_message() {
    let app = Router::new().route(
        "/graphql",
        post(|| async {
            Json(json!({
                "data": null,
                "errors": [{ "message": "Unknown argument \"bogus\"" }, { "message": "second" }]
            }))
        }),
    );
    let base = serve(app).await;
    let err = gateway(&base, &fast())
        .query(&TxQuery {
            first: 1,
            ..TxQuery::default()
        })
        .await
        .unwrap_err();
    match &err {
        Error::Invalid { url, reason } => {
            assert_eq!(url, &format!("{base}/graphql"));
            assert!(
                reason.contains("Unknown argument \"bogus\"; second"),
                "{reason}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn graphql_url_can_differ_from_the_data_url() {
    let (graphql_base, seen) = canned_gateway().await;
    let gw = gateway("http://127.0.0.1:9", &fast())
        .with_graphql_url(&format!("{graphql_base}/graphql"))
        .unwrap();
    let page = gw
        .query(&TxQuery {
            first: 2,
            ..TxQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.edges.len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// (b) retries

/// A `/info` that fails the first `fails` requests with `failure`, then answers; counts requests.
async fn flaky(fails: usize, failure: fn() -> Response) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = Router::new().route(
        "/info",
        get(move || {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) < fails {
                    failure()
                } else {
                    Json(json!({ "network": "arweave.N.1", "height": 7, "current": "c" }))
                        .into_response()
                }
            }
        }),
    );
    (serve(app).await, count)
}

#[tokio::test]
async fn retries_503_with_backoff_until_success() {
    let (base, count) = flaky(3, || {
        (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
    })
    .await;
    let info = gateway(&base, &fast()).info().await.unwrap();
    assert_eq!(info.height, 7);
    assert_eq!(count.load(Ordering::SeqCst), 4); // three failures, then the answer
}

#[tokio::test]
async fn gives_up_after_max_retries_with_the_last_status() {
    let (base, count) = flaky(usize::MAX, || {
        (StatusCode::BAD_GATEWAY, "upstream down").into_response()
    })
    .await;
    let config = ClientConfig {
        max_retries: 2,
        ..fast()
    };
    let err = gateway(&base, &config).info().await.unwrap_err();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(err.is_retryable());
    match err {
        Error::Status {
            method,
            url,
            status,
            body,
        } => {
            assert_eq!((method.as_str(), status), ("GET", 502));
            assert_eq!(url, format!("{base}/info"));
            assert_eq!(body, "upstream down");
        }
        other => panic!("expected Status, got {other:?}"),
    }
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let (base, count) = flaky(1, || {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "slow down",
        )
            .into_response()
    })
    .await;
    // The cap is above the server's ask, and backoff alone would wait at most 20 ms.
    let config = ClientConfig {
        max_backoff: Duration::from_secs(5),
        backoff_base: Duration::from_millis(1),
        ..fast()
    };
    let start = Instant::now();
    gateway(&base, &config).info().await.unwrap();
    let waited = start.elapsed();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

#[tokio::test]
async fn retry_after_is_capped_by_max_backoff() {
    let (base, count) = flaky(2, || {
        let in_an_hour = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, in_an_hour)],
            "maintenance",
        )
            .into_response()
    })
    .await;
    let start = Instant::now();
    gateway(&base, &fast()).info().await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let with = |v: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
        parse_retry_after(&h, now)
    };
    assert_eq!(with("120"), Some(Duration::from_secs(120)));
    assert_eq!(with(" 0 "), Some(Duration::ZERO));
    let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(with(&later), Some(Duration::from_secs(90)));
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
    assert_eq!(with(&earlier), Some(Duration::ZERO));
    assert_eq!(with("soon"), None);
    assert_eq!(with("-5"), None);
    assert_eq!(
        parse_retry_after(&reqwest::header::HeaderMap::new(), now),
        None
    );
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    // A port that was just free: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = gateway(&format!("http://{addr}"), &fast())
        .data("some-id")
        .await
        .unwrap_err();
    match err {
        Error::Transport {
            method,
            url,
            reason,
        } => {
            assert_eq!(method, "GET");
            assert_eq!(url, format!("http://{addr}/raw/some-id"));
            assert!(reason.to_lowercase().contains("refused"), "{reason}");
        }
        other => panic!("expected Transport, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// (c) timeouts

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = Router::new().route(
        "/raw/{id}",
        get(move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }
        }),
    );
    let base = serve(app).await;
    let config = ClientConfig {
        timeout: Duration::from_millis(150),
        max_retries: 1,
        ..fast()
    };
    let start = Instant::now();
    let err = gateway(&base, &config).data("slow").await.unwrap_err();
    let took = start.elapsed();
    // Each attempt waited its timeout; the one retry happened.
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    match err {
        Error::Transport {
            method,
            url,
            reason,
        } => {
            assert_eq!(method, "GET");
            assert_eq!(url, format!("{base}/raw/slow"));
            assert!(reason.contains("within 150ms"), "{reason}");
        }
        other => panic!("expected Transport, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// (d) 404 and (e) 400: final answers, not retried

/// A server answering every request with `status` and `body`, counting requests.
async fn always(status: StatusCode, body: String) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = Router::new().fallback(move || {
        let c = c.clone();
        let body = body.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            (status, body)
        }
    });
    (serve(app).await, count)
}

#[tokio::test]
async fn not_found_is_final() {
    let (base, count) = always(StatusCode::NOT_FOUND, "Not Found".into()).await;
    let gw = gateway(&base, &fast());
    assert!(matches!(gw.data("abc").await, Err(Error::NotFound(id)) if id == "abc"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(matches!(gw.tx_status("abc").await, Err(Error::NotFound(_))));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bad_request_reports_status_and_truncated_body() {
    let long = format!("bad query: {}", "x".repeat(2000));
    let (base, count) = always(StatusCode::BAD_REQUEST, long).await;
    let err = gateway(&base, &fast())
        .query(&TxQuery {
            first: 1,
            ..TxQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("POST {base}/graphql: HTTP 400: bad query: xxx")),
        "{text}"
    );
    match err {
        Error::Status { status, body, .. } => {
            assert_eq!(status, 400);
            assert!(body.len() < 600, "{}", body.len());
            assert!(body.ends_with("... (2011 bytes)"), "{body}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// (f) the bound on requests in flight

#[tokio::test]
async fn requests_in_flight_stay_within_the_bound() {
    #[derive(Default)]
    struct Load {
        now: AtomicUsize,
        peak: AtomicUsize,
        total: AtomicUsize,
    }
    let load = Arc::new(Load::default());
    let l = load.clone();
    let app = Router::new().route(
        "/raw/{id}",
        get(move || {
            let l = l.clone();
            async move {
                let n = l.now.fetch_add(1, Ordering::SeqCst) + 1;
                l.peak.fetch_max(n, Ordering::SeqCst);
                l.total.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(60)).await;
                l.now.fetch_sub(1, Ordering::SeqCst);
                "data"
            }
        }),
    );
    let base = serve(app).await;
    let config = ClientConfig {
        max_in_flight: 3,
        ..fast()
    };
    let gw = Arc::new(gateway(&base, &config));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let gw = gw.clone();
        tasks.spawn(async move { gw.data(&format!("item-{i}")).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(&r.unwrap().unwrap()[..], b"data");
    }
    assert_eq!(load.total.load(Ordering::SeqCst), 12);
    // Never more than 3 at once, and the bound was reached (the calls did overlap).
    assert_eq!(load.peak.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// bundler

fn signed_item() -> ao_core::DataItem {
    let wallet = Ed25519Wallet::from_seed(&[1; 32]).unwrap();
    DataItemBuilder::new()
        .tag("Data-Protocol", "ao")
        .tag("Type", "Checkpoint")
        .data(b"checkpoint bytes".to_vec())
        .sign(&wallet)
        .unwrap()
}

/// A bundler that records what it received and acknowledges with `ack(id)`.
async fn bundler_server(ack: fn(&str) -> Value) -> (String, Arc<Mutex<Vec<(String, Bytes)>>>) {
    let got: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/tx/arweave",
        post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let ct = headers[header::CONTENT_TYPE].to_str().unwrap().to_string();
                let id = ao_core::DataItem::parse(body.clone()).unwrap().id();
                g.lock().unwrap().push((ct, body));
                (StatusCode::OK, Json(ack(&id)))
            }
        }),
    );
    (serve(app).await, got)
}

#[tokio::test]
async fn bundler_uploads_the_item_bytes_as_octet_stream() {
    let (url, got) = bundler_server(|id| {
        json!({ "id": id, "timestamp": 1700000000123u64, "version": "1.0.0", "deadlineHeight": 1 })
    })
    .await;
    let item = signed_item();
    let receipt = HttpBundler::new(&url, &fast())
        .unwrap()
        .upload(&item)
        .await
        .unwrap();
    assert_eq!(receipt.id, item.id());
    assert_eq!(receipt.timestamp, Some(1700000000123));
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "application/octet-stream");
    assert_eq!(got[0].1, item.as_bytes());
}

#[tokio::test]
async fn bundler_acknowledging_another_id_is_invalid() {
    let (url, _) = bundler_server(|_| json!({ "id": "someone-elses-id" })).await;
    let item = signed_item();
    let err = HttpBundler::new(&url, &fast())
        .unwrap()
        .upload(&item)
        .await
        .unwrap_err();
    match err {
        Error::Invalid { url: u, reason } => {
            assert_eq!(u, format!("{url}/tx/arweave"));
            assert!(reason.contains("someone-elses-id"), "{reason}");
            assert!(reason.contains(&item.id()), "{reason}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn https_is_spoken() {
    // A plain-HTTP server on loopback: an https client must attempt a TLS handshake there (and
    // fail it), which shows TLS is compiled in and its provider set up without panicking.
    let (base, _) = always(StatusCode::OK, "plain".into()).await;
    let https = base.replacen("http://", "https://", 1);
    let config = ClientConfig {
        max_retries: 0,
        ..fast()
    };
    let err = gateway(&https, &config).info().await.unwrap_err();
    match err {
        Error::Transport { url, reason, .. } => {
            assert_eq!(url, format!("{https}/info"));
            // rustls read the plain HTTP answer as a bad TLS record.
            assert!(reason.contains("InvalidContentType"), "{reason}");
        }
        other => panic!("expected Transport, got {other:?}"),
    }
}
