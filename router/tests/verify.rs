//! The router binary in front of two hand-made CUs on loopback, for what a real CU will not do on
//! demand: disagree on a result (`--verify-rate` must catch it and keep both answers) and answer
//! 503 (the request must be retried on the next choice, carrying the trace context and the
//! `ao-handoff-from` hint naming the owner it left).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_tests::drain::Unit;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;

/// Longest a poll waits.
const DEADLINE: Duration = Duration::from_secs(60);

/// A CU that answers every `/result` with its own name, or with a status it is told to.
struct FakeCu {
    name: &'static str,
    fail_with: Mutex<Option<u16>>,
    seen: Mutex<Vec<HeaderMap>>,
}

async fn result(State(cu): State<Arc<FakeCu>>, headers: HeaderMap) -> axum::response::Response {
    cu.seen.lock().expect("seen").push(headers);
    if let Some(s) = *cu.fail_with.lock().expect("mode") {
        return StatusCode::from_u16(s).expect("status").into_response();
    }
    axum::Json(serde_json::json!({"Output": {"data": cu.name}, "Messages": []})).into_response()
}

async fn fake_cu(name: &'static str) -> (SocketAddr, Arc<FakeCu>) {
    let cu = Arc::new(FakeCu {
        name,
        fail_with: Mutex::new(None),
        seen: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route(
            "/ready",
            get(|| async { axum::Json(serde_json::json!({"status": "ready"})) }),
        )
        .route("/result/{id}", get(result))
        .with_state(cu.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, cu)
}

async fn router(dir: &std::path::Path, cus: &[SocketAddr], extra: &[&str]) -> Unit {
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        dir.to_str().expect("path").into(),
        "--http-addr".into(),
        "127.0.0.1:0".into(),
        "--grpc-addr".into(),
        "127.0.0.1:0".into(),
    ];
    for c in cus {
        args.extend(["--cu".to_string(), format!("http://{c}")]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Unit::start(env!("CARGO_BIN_EXE_router"), &refs).await
}

fn client() -> reqwest::Client {
    ao_arweave::HttpClient::new(&ao_arweave::ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone()
}

fn metric(text: &str, name: &str) -> u64 {
    ao_tests::metric(text, name).unwrap_or(0.0) as u64
}

#[tokio::test]
async fn two_cus_that_disagree_are_caught_counted_and_both_answers_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, _) = fake_cu("A").await;
    let (b, _) = fake_cu("B").await;
    let r = router(dir.path(), &[a, b], &["--verify-rate", "1"]).await;
    let url = format!("http://{}", r.addr("http"));
    let http = client();
    let answer = http
        .get(format!("{url}/result/m1?process-id=p1"))
        .send()
        .await
        .expect("result");
    assert_eq!(answer.status(), 200);
    let end = Instant::now() + DEADLINE;
    loop {
        let text = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if metric(&text, "ao_router_verify_mismatches_total") == 1 {
            break;
        }
        assert!(Instant::now() < end, "no mismatch counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("mismatches"))
        .expect("mismatches folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(kept.len(), 1);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kept[0]).expect("read")).expect("json");
    assert_eq!(record["process"], "p1");
    let bodies = [
        record["first"]["body"].as_str().expect("body"),
        record["second"]["body"].as_str().expect("body"),
    ];
    assert!(bodies.iter().any(|b| b.contains("\"A\"")), "{record}");
    assert!(bodies.iter().any(|b| b.contains("\"B\"")), "{record}");
}

#[tokio::test]
async fn a_503_is_retried_on_the_next_choice_with_the_trace_and_the_handoff_hint() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, fa) = fake_cu("A").await;
    let (b, fb) = fake_cu("B").await;
    let r = router(dir.path(), &[a, b], &[]).await;
    let url = format!("http://{}", r.addr("http"));
    let http = client();
    let route: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{url}/route/p1"))
            .send()
            .await
            .expect("route")
            .bytes()
            .await
            .expect("body"),
    )
    .expect("json");
    let owner = route["owner"].as_str().expect("owner").to_string();
    let (owner_cu, other_cu, other) = if owner == format!("http://{a}") {
        (fa, fb, format!("http://{b}"))
    } else {
        (fb, fa, format!("http://{a}"))
    };
    *owner_cu.fail_with.lock().expect("mode") = Some(503);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = http
        .get(format!("{url}/result/m1?process-id=p1"))
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("result");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["ao-router-member"]
            .to_str()
            .expect("ascii"),
        other
    );
    assert_eq!(
        owner_cu.seen.lock().expect("seen").len(),
        1,
        "the owner was asked first"
    );
    let h = other_cu
        .seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("the next choice was asked");
    assert_eq!(h["traceparent"], traceparent);
    let hint = h["ao-handoff-from"].to_str().expect("ascii");
    assert!(
        hint.starts_with(&format!("{owner};grpc=http://")),
        "the owner, with its gRPC URL: {hint}"
    );
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        metric(&text, "ao_router_retries_total{route=\"result\"}"),
        1,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("ao_router_ejections_total{{member=\"{owner}\"}}")
        ),
        1,
        "{text}"
    );
}
