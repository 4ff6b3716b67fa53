//! The CU reading a schedule from an SU that is not ours, over the AO HTTP API: a fixture SU
//! (axum, in the test) serves recorded pages in the reference SU's shapes and quirks (a router's
//! 307 to the real path, `process-id` required, nonce-mode pages of its own small size with
//! `page_info.has_next_page` true on an exactly full page, 400 "not found"). The pages are
//! recorded from a real schedule (items signed by the test's key, assignments by the SU's, with
//! a real hash chain). The CU finds the fixture as an operator's CU would: the process's
//! `Scheduler` tag, then that SU's Scheduler-Location (no `Grpc-Url`) on a real local gateway.
//! Results must equal those of the same schedule read from our own SU over gRPC.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::local::{self, LocalGateway};
use ao_arweave::{Bundler, ClientConfig, HttpGateway};
use ao_core::ao::SchedulerLocationBuilder;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use common::net::{Net, get, net};
use serde_json::{Value, json};

/// The fixture's own page size: smaller than what the CU asks, so reads span pages.
const FIXTURE_PAGE: usize = 3;

/// How the fixture misbehaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 500 with an error.
    ServerError,
}

/// What the fixture serves: one process's record and schedule entries, by nonce.
struct Recorded {
    pid: String,
    process: Value,
    entries: Vec<Value>,
    fault: Fault,
    /// Requests served (to show the CU read from here).
    hits: u64,
}

type Fixture = Arc<Mutex<Recorded>>;

fn nonce_of(node: &Value) -> i64 {
    node["assignment"]["tags"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "Nonce"))
        .and_then(|t| t["value"].as_str())
        .and_then(|v| v.parse().ok())
        .expect("nonce tag")
}

fn not_found() -> Response {
    // The reference answers 400 to everything, unknown ids included.
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "Message or Process not found"})),
    )
        .into_response()
}

/// Answers the fault, if one is set; counts the request.
fn fault(f: &Fixture) -> Option<Response> {
    let mut r = f.lock().expect("lock");
    r.hits += 1;
    match r.fault {
        Fault::None => None,
        Fault::Garbage => Some((StatusCode::OK, "<html>bad gateway</html>").into_response()),
        Fault::ServerError => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": "database is down"})),
            )
                .into_response(),
        ),
    }
}

/// `GET /su/{id}?process-id=`: one message, or (for the process) a page in nonce mode, as the
/// reference's RocksDB store pages: `from-nonce` exclusive (`-1`: with the process), `to-nonce`
/// inclusive, at most the fixture's page size, `has_next_page` true whenever the page is full.
async fn su_get(
    State(f): State<Fixture>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(r) = fault(&f) {
        return r;
    }
    let Some(pid) = q.get("process-id") else {
        return (
            StatusCode::BAD_REQUEST,
            "Query deserialize error: missing field `process-id`",
        )
            .into_response();
    };
    let r = f.lock().expect("lock");
    if id != *pid || id != r.pid {
        return match r
            .entries
            .iter()
            .find(|e| e["message"]["id"] == id.as_str() || e["assignment"]["id"] == id.as_str())
        {
            Some(e) => axum::Json(e.clone()).into_response(),
            None => not_found(),
        };
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (from, to) = (num("from-nonce").unwrap_or(-1), num("to-nonce"));
    let limit = num("limit")
        .map_or(100, |l| l.max(1) as usize)
        .min(FIXTURE_PAGE);
    let mut edges = Vec::new();
    let mut more = false;
    for e in &r.entries {
        let n = nonce_of(e);
        if n <= from {
            continue;
        }
        if to.is_some_and(|t| n > t) {
            break;
        }
        edges.push(json!({"node": e, "cursor": n.to_string()}));
        if edges.len() >= limit {
            more = true;
            break;
        }
    }
    axum::Json(json!({"page_info": {"has_next_page": more}, "edges": edges})).into_response()
}

async fn su_process(State(f): State<Fixture>, Path(pid): Path<String>) -> Response {
    if let Some(r) = fault(&f) {
        return r;
    }
    let r = f.lock().expect("lock");
    if pid == r.pid {
        axum::Json(r.process.clone()).into_response()
    } else {
        not_found()
    }
}

async fn su_latest(State(f): State<Fixture>, Path(pid): Path<String>) -> Response {
    if let Some(r) = fault(&f) {
        return r;
    }
    let r = f.lock().expect("lock");
    match r.entries.last() {
        Some(e) if pid == r.pid => axum::Json(e.clone()).into_response(),
        _ => not_found(),
    }
}

async fn su_timestamp(State(f): State<Fixture>) -> Response {
    if let Some(r) = fault(&f) {
        return r;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    axum::Json(json!({"timestamp": now.to_string(), "block_height": "000000000001"}))
        .into_response()
}

/// A router in front: every request is redirected (307) to the same path under `/su`.
async fn router(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> Redirect {
    let rest = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .trim_start_matches("/router");
    Redirect::temporary(&format!("/su{rest}"))
}

/// Start the fixture; its Scheduler-Location `Url` (the router).
async fn start_fixture(f: Fixture) -> String {
    let app = axum::Router::new()
        .route("/router/{*rest}", axum::routing::get(router))
        .route("/su/timestamp", axum::routing::get(su_timestamp))
        .route("/su/processes/{pid}", axum::routing::get(su_process))
        .route("/su/{pid}/latest", axum::routing::get(su_latest))
        .route("/su/{id}", axum::routing::get(su_get))
        .with_state(f);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}/router")
}

/// Record `pid`'s schedule and record from our SU's AO HTTP API (reference shapes).
async fn record(net: &Net, pid: &str) -> (Value, Vec<Value>) {
    let su = net.su().url();
    let (s, process) = get(&net.http, format!("{su}/processes/{pid}")).await;
    assert_eq!(s, 200, "{process}");
    let (s, page) = get(
        &net.http,
        format!("{su}/{pid}?process-id={pid}&from-nonce=-1&limit=1000"),
    )
    .await;
    assert_eq!(s, 200, "{page}");
    let entries = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    (process, entries)
}

/// A second gateway, where the SU's Scheduler-Location points at the fixture: it holds the
/// module and the process (for its `Scheduler` tag), as Arweave would.
async fn other_gateway(
    net: &Net,
    dir: &std::path::Path,
    module: &ao_core::DataItem,
    pid_item: &ao_core::DataItem,
    url: &str,
) -> LocalGateway {
    let mut g = local::Config::new(dir.join("gateway2"));
    g.http_addr = "127.0.0.1:0".parse().expect("addr");
    g.block_interval = Duration::ZERO;
    let gateway = local::serve(g).await.expect("gateway");
    gateway.upload(module).await.expect("module");
    gateway.upload(pid_item).await.expect("process");
    let location = SchedulerLocationBuilder::new(url, 3_600_000)
        .sign(&net.su_key)
        .expect("location");
    gateway.upload(location.item()).await.expect("location");
    gateway
}

/// A CU reading `gateway`, with no default SU: every schedule comes from the located SU.
async fn cu_on(dir: &std::path::Path, gateway: &LocalGateway) -> ao_cu::RunningCu {
    let g = HttpGateway::new(&gateway.url(), &ClientConfig::default()).expect("gateway");
    let mut c = ao_cu::Config::new(
        dir.join("cu-other"),
        String::new(),
        Arc::new(g),
        "CU-B".into(),
    );
    c.su_url = None;
    ao_cu::serve(c).await.expect("cu")
}

/// Publish the Lua module on our gateway, spawn a process of it on our SU with `n` Evals; the
/// module item, the process item and the message ids.
async fn spawned(net: &Net, n: usize) -> (ao_core::DataItem, ao_core::DataItem, Vec<String>) {
    let wasm = std::fs::read(common::minimal_module()).expect("wasm");
    let module =
        ao_core::ao::ModuleBuilder::new("wasm32-unknown-emscripten2", "JSON-1", "JSON-1", wasm)
            .tag("Name", "other-su")
            .sign(&net.user)
            .expect("module");
    net.gateway()
        .upload(module.item())
        .await
        .expect("upload module");
    let raw = ao_core::encoding::decode_id("module", &module.id()).expect("id");
    let p = ao_core::ao::ProcessBuilder::new(raw, net.su().address.clone())
        .tag("Name", "elsewhere")
        .sign(&net.user)
        .expect("process");
    let pid = net.post(p.item().as_bytes()).await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            net.eval(&pid, &format!("count = (count or 0) + {i} return count"))
                .await,
        );
    }
    (module.item().clone(), p.item().clone(), ids)
}

async fn poll<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_on_an_http_only_su_is_read_in_pages_and_followed_by_polling() {
    let net = net().await;
    let (module, item, ids) = spawned(&net, 8).await;
    let pid = item.id();
    let (process, entries) = record(&net, &pid).await;
    assert_eq!(entries.len(), 9, "the process and 8 messages");
    let fixture = Arc::new(Mutex::new(Recorded {
        pid: pid.clone(),
        process,
        entries,
        fault: Fault::None,
        hits: 0,
    }));
    let url = start_fixture(fixture.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let gateway2 = other_gateway(&net, dir.path(), &module, &item, &url).await;
    let ours = common::net::cu(&net, 100).await;
    let other = cu_on(dir.path(), &gateway2).await;

    // The last message first: every page before it is read on the way (9 entries in pages of
    // 3, each saying more follow: the reader stops at the nonce it needs).
    let result = |cu: String, id: String| {
        let http = net.http.clone();
        let pid = pid.clone();
        async move { get(&http, format!("{cu}/result/{id}?process-id={pid}")).await }
    };
    let (s, last) = result(other.url(), ids[7].clone()).await;
    assert_eq!(s, 200, "{last}");
    assert_eq!(last["Output"], "28");
    assert!(
        fixture.lock().expect("lock").hits >= 4,
        "read from the fixture"
    );
    for id in ids.iter().chain([&pid]) {
        let (s1, a) = result(ours.url(), id.clone()).await;
        let (s2, b) = result(other.url(), id.clone()).await;
        assert_eq!((s1, s2), (200, 200), "{a} {b}");
        assert_eq!(a, b, "result of {id} from our SU and from the HTTP-only SU");
    }

    // A message added after the first result is followed by polling, without a /result.
    let new = net.eval(&pid, "count = count + 1000 return count").await;
    let (s, node) = get(
        &net.http,
        format!("{}/{new}?process-id={pid}", net.su().url()),
    )
    .await;
    assert_eq!(s, 200, "{node}");
    fixture.lock().expect("lock").entries.push(node);
    let metrics = format!("{}/metrics", other.url());
    poll("the new message to be evaluated by following", async || {
        let text = net
            .http
            .get(&metrics)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (common::metric(&text, "ao_cu_messages_evaluated_total") >= 10).then_some(())
    })
    .await;
    let (s, r) = result(other.url(), new.clone()).await;
    assert_eq!((s, &r["Output"]), (200, &json!("1028")), "{r}");

    other.shutdown().await;
    ours.shutdown().await;
    gateway2.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_chain_and_a_failing_su_give_clear_errors_and_the_cu_stays_up() {
    let net = net().await;
    let (module, item, ids) = spawned(&net, 4).await;
    let pid = item.id();
    let (process, mut entries) = record(&net, &pid).await;
    // The third message's link does not follow from the second's.
    let tags = entries[3]["assignment"]["tags"]
        .as_array_mut()
        .expect("tags");
    let link = tags
        .iter_mut()
        .find(|t| t["name"] == "Hash-Chain")
        .expect("Hash-Chain");
    link["value"] = json!(ao_core::encoding::b64url([7u8; 32]));
    let fixture = Arc::new(Mutex::new(Recorded {
        pid: pid.clone(),
        process,
        entries,
        fault: Fault::None,
        hits: 0,
    }));
    let url = start_fixture(fixture.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let gateway2 = other_gateway(&net, dir.path(), &module, &item, &url).await;
    let cu = cu_on(dir.path(), &gateway2).await;
    let ask = |id: &str| {
        get(
            &net.http,
            format!("{}/result/{id}?process-id={pid}", cu.url()),
        )
    };

    let (s, r) = ask(&ids[1]).await;
    assert_eq!(
        (s, &r["Output"]),
        (200, &json!("1")),
        "before the break: {r}"
    );
    let (s, r) = ask(&ids[3]).await;
    assert_eq!(s, 422, "{r}");
    let e = r["error"].as_str().expect("error");
    assert!(e.contains("hash chain") && e.contains("nonce 3"), "{e}");

    fixture.lock().expect("lock").fault = Fault::Garbage;
    let (s, r) = ask(&ids[3]).await;
    assert_eq!(s, 502, "{r}");
    assert!(
        r["error"].as_str().expect("error").contains("not JSON"),
        "{r}"
    );

    fixture.lock().expect("lock").fault = Fault::ServerError;
    let (s, r) = ask(&ids[3]).await;
    assert_eq!(s, 502, "{r}");
    let e = r["error"].as_str().expect("error");
    assert!(e.contains("500") && e.contains("database is down"), "{e}");

    // An unknown message is a 404, not a 502.
    fixture.lock().expect("lock").fault = Fault::None;
    let unknown = ao_core::encoding::b64url([9u8; 32]);
    let (s, r) = ask(&unknown).await;
    assert_eq!(s, 404, "{r}");

    let (s, _) = get(&net.http, format!("{}/", cu.url())).await;
    assert_eq!(s, 200, "the CU is still up");
    cu.shutdown().await;
    gateway2.shutdown().await;
    net.close().await;
}

/// `entries` (recorded from our SU: the process at nonce 0, then its messages) as an SU without
/// process assignments schedules them: the messages from nonce 0, the first link
/// `SHA-256(raw process id)` as the reference SU gives it, each assignment signed again by the
/// SU's key with its new nonce and link (so its id, and the next link, change).
fn without_process_assignment(net: &Net, pid: &str, entries: &[Value]) -> Vec<Value> {
    let raw_pid = ao_core::encoding::decode_id("process", pid).expect("pid");
    let tag = |node: &Value, name: &str| -> String {
        node["assignment"]["tags"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .and_then(|t| t["value"].as_str())
            .expect("assignment tag")
            .to_string()
    };
    let mut previous: Option<([u8; 32], [u8; 32])> = None;
    let mut out = Vec::new();
    for (nonce, node) in entries.iter().skip(1).enumerate() {
        let hash_chain = match &previous {
            None => ao_core::ao::next_hash_chain(None, &raw_pid),
            Some((id, link)) => ao_core::ao::next_hash_chain(Some(id), link),
        };
        let message = tag(node, "Message");
        let a = ao_core::ao::AssignmentBuilder {
            process: raw_pid,
            epoch: 0,
            nonce: nonce as u64,
            hash_chain,
            block_height: tag(node, "Block-Height").parse().expect("height"),
            timestamp: tag(node, "Timestamp").parse().expect("timestamp"),
            message: Some(ao_core::encoding::decode_id("message", &message).expect("id")),
            exclude: Vec::new(),
            anchor: Some([nonce as u8 + 1; 32]),
        }
        .sign(&net.su_key)
        .expect("assignment");
        let item = a.item();
        let id = ao_core::encoding::decode_id("assignment", &item.id()).expect("id");
        previous = Some((id, hash_chain));
        out.push(json!({
            "message": node["message"],
            "assignment": {
                "id": item.id(),
                "owner": {
                    "address": item.owner_address(),
                    "key": ao_core::encoding::b64url(item.owner()),
                },
                "tags": item.tags().iter()
                    .map(|t| json!({"name": t.name, "value": t.value}))
                    .collect::<Vec<_>>(),
                "signature": ao_core::encoding::b64url(item.signature()),
                "anchor": null,
                "target": "",
            }
        }));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_without_the_process_at_nonce_0_boots_the_process_first() {
    let net = net().await;
    let wasm = std::fs::read(common::minimal_module()).expect("wasm");
    let module =
        ao_core::ao::ModuleBuilder::new("wasm32-unknown-emscripten2", "JSON-1", "JSON-1", wasm)
            .tag("Name", "cold-start")
            .sign(&net.user)
            .expect("module");
    net.gateway()
        .upload(module.item())
        .await
        .expect("upload module");
    let raw = ao_core::encoding::decode_id("module", &module.id()).expect("id");
    // The minimal module's boot: the process's data run as Lua when its tags say Eval, as
    // aos runs `On-Boot: Data`. Every later message needs what it sets.
    let p = ao_core::ao::ProcessBuilder::new(raw, net.su().address.clone())
        .tag("Name", "no-process-assignment")
        .tag("Action", "Eval")
        .data("count = 100 booted = msg.Target .. ' ' .. msg.From")
        .sign(&net.user)
        .expect("process");
    let item = p.item().clone();
    let pid = net.post(item.as_bytes()).await;
    let mut ids = vec![net.eval(&pid, "return booted").await];
    for i in 1..5 {
        ids.push(
            net.eval(&pid, &format!("count = count + {i} return count"))
                .await,
        );
    }
    let (process, recorded) = record(&net, &pid).await;
    assert_eq!(recorded.len(), 6, "the process and 5 messages");
    let entries = without_process_assignment(&net, &pid, &recorded);
    assert_eq!(entries[0]["message"]["id"], ids[0].as_str());
    let fixture = Arc::new(Mutex::new(Recorded {
        pid: pid.clone(),
        process,
        entries,
        fault: Fault::None,
        hits: 0,
    }));
    let url = start_fixture(fixture.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let gateway2 = other_gateway(&net, dir.path(), module.item(), &item, &url).await;
    let ours = common::net::cu(&net, 100).await;
    let other = cu_on(dir.path(), &gateway2).await;
    let result = |cu: String, id: String| {
        let http = net.http.clone();
        let pid = pid.clone();
        async move { get(&http, format!("{cu}/result/{id}?process-id={pid}")).await }
    };

    // Nonce 0 on the other SU is the first Eval; the boot ran before it, with the process as
    // its target and the owner as From.
    let (s, first) = result(other.url(), ids[0].clone()).await;
    assert_eq!(s, 200, "{first}");
    let owner = item.owner_address();
    assert_eq!(first["Output"], json!(format!("{pid} {owner}")), "{first}");
    for id in &ids {
        let (s1, a) = result(ours.url(), id.clone()).await;
        let (s2, b) = result(other.url(), id.clone()).await;
        assert_eq!((s1, s2), (200, 200), "{a} {b}");
        assert_eq!(
            a, b,
            "result of {id} after the process at nonce 0 and after none"
        );
    }
    let (s, last) = result(other.url(), ids[4].clone()).await;
    assert_eq!((s, &last["Output"]), (200, &json!("110")), "{last}");
    // The process message has no nonce: no result is stored for it on the other SU's schedule.
    let (s, r) = result(other.url(), pid.clone()).await;
    assert_eq!(s, 404, "{r}");
    let (s, page) = get(
        &net.http,
        format!("{}/results/{pid}?limit=100", other.url()),
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(
        page["edges"].as_array().map(Vec::len),
        Some(5),
        "one result per scheduled message: {page}"
    );

    other.shutdown().await;
    ours.shutdown().await;
    gateway2.shutdown().await;
    net.close().await;
}

/// A process spawned on one SU (A) and asked of a CU whose default SU (`--su-url`) is another
/// (B), before the CU's gateway knows the process: 404 (neither knows it), then, as soon as the
/// gateway has it, its results from A. The CU must not keep B as the process's route for a
/// minute because the gateway did not know it at first (seen in the cluster test with 2 SUs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_the_gateway_learns_late_is_read_from_its_own_su_at_once() {
    let net = net().await;
    let other = common::net::net().await;
    let (module, item, ids) = spawned(&net, 2).await;
    let pid = item.id();
    let dir = tempfile::tempdir().expect("tmp");
    // The CU's gateway: the module and SU A's location (its AO HTTP API), not the process yet.
    let mut g = local::Config::new(dir.path().join("gateway2"));
    g.http_addr = "127.0.0.1:0".parse().expect("addr");
    g.block_interval = Duration::ZERO;
    let gateway2 = local::serve(g).await.expect("gateway");
    gateway2.upload(&module).await.expect("module");
    let location = SchedulerLocationBuilder::new(net.su().url(), 3_600_000)
        .sign(&net.su_key)
        .expect("location");
    gateway2.upload(location.item()).await.expect("location");
    let g = HttpGateway::new(&gateway2.url(), &ClientConfig::default()).expect("gateway");
    let cu = ao_cu::serve(ao_cu::Config::new(
        dir.path().join("cu"),
        format!("http://{}", other.su().grpc_addr),
        Arc::new(g),
        "CU-C".into(),
    ))
    .await
    .expect("cu");
    let url = format!("{}/result/{}?process-id={pid}", cu.url(), ids[1]);
    let (s, body) = get(&net.http, url.clone()).await;
    assert_eq!(
        s, 404,
        "neither the gateway nor the default SU knows it yet: {body}"
    );

    gateway2.upload(&item).await.expect("process");
    let started = Instant::now();
    let body = poll(
        "the result once the gateway knows the process",
        async || {
            let (s, body) = get(&net.http, url.clone()).await;
            (s == 200).then_some(body)
        },
    )
    .await;
    assert_eq!(body["Output"], "1");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the result took {:?} after the gateway knew the process",
        started.elapsed()
    );
    cu.shutdown().await;
    gateway2.shutdown().await;
    other.close().await;
    net.close().await;
}
