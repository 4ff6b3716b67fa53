//! Handoff between CUs, against real `cu` binaries (the SU and gateway of `common::net`): a CU
//! that gets a request for a process it does not hold, with `ao-handoff-from` naming the CU that
//! held it, starts from that CU's verified state and evaluates only what came after; a peer that
//! sends tampered memory is refused and the process is still evaluated correctly, from nonce 0;
//! the same over gRPC `State` when the hint names the peer's gRPC URL; the history before the
//! handoff is replayed when the peer is gone; a CU draining after SIGTERM (`--handoff-linger`) checkpoints first and keeps serving its
//! state, so the process moves warm; a max age puts a rarely checkpointed process on Arweave. The bench (ignored, by hand) times a handoff of a process
//! with 10,000 messages against a cold replay.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use ao_tests::drain::Unit;
use common::net::{Net, net};

/// Messages the first CU evaluates before the process moves.
const BEFORE: usize = 12;
/// Messages scheduled after that, which the second CU evaluates.
const AFTER: usize = 4;
/// How long a poll waits for a state to be reached before the test fails.
const POLL_DEADLINE: Duration = Duration::from_secs(60);
/// Grace and linger of the draining CU: the linger is well inside 40 % of the grace.
const GRACE: &str = "30s";
const LINGER: &str = "10s";

/// A `cu` binary on the test's SU and gateway, checkpointing only when it must (a drain, an
/// eviction), with `extra` flags.
async fn start_cu(net: &Net, data: &Path, extra: &[&str]) -> Unit {
    let su = format!("http://{}", net.su().grpc_addr);
    let gateway = net.gateway().url();
    let mut args = vec![
        "--data-dir",
        data.to_str().expect("path"),
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--su-url",
        &su,
        "--gateway-url",
        &gateway,
        "--checkpoint-every",
        "100000",
    ];
    args.extend_from_slice(extra);
    let unit = Unit::start(env!("CARGO_BIN_EXE_cu"), &args).await;
    // The ready line says it listens; `/ready` that its store is open and it serves.
    unit.0
        .wait_ready(ao_local::child::READY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    unit
}

fn url(u: &Unit) -> String {
    format!("http://{}", u.addr("http"))
}

/// `GET /result/{id}` with `ao-handoff-from: from` when given: status and the body's bytes.
async fn result(net: &Net, base: &str, pid: &str, id: &str, from: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = net
        .http
        .get(format!("{base}/result/{id}?process-id={pid}&no-busy=1"));
    if let Some(f) = from {
        req = req.header("ao-handoff-from", f);
    }
    let r = req.send().await.expect("result");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// A process with `n` Evals; its id and the message ids.
async fn process_with(net: &Net, name: &str, n: usize) -> (String, Vec<String>) {
    let pid = net.spawn_named(name).await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(net.eval(&pid, &format!("return {i} * 2")).await);
    }
    (pid, ids)
}

/// Every result of `ids` from `b` equals `a`'s, byte for byte.
async fn same_results(net: &Net, a: &str, b: &str, pid: &str, ids: &[String]) {
    for id in ids {
        let (sb, rb) = result(net, b, pid, id, None).await;
        let (sa, ra) = result(net, a, pid, id, None).await;
        assert_eq!(
            (sa, sb),
            (200, 200),
            "{id}: {}",
            String::from_utf8_lossy(&rb)
        );
        assert_eq!(
            String::from_utf8_lossy(&ra),
            String::from_utf8_lossy(&rb),
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_moves_to_another_cu_warm_from_the_one_that_held_it() {
    let net = net().await;
    let (pid, mut ids) = process_with(&net, "moves", BEFORE).await;
    let a = start_cu(&net, &net.dir.path().join("a"), &["--follow", "false"]).await;
    let (status, _) = result(&net, &url(&a), &pid, &ids[BEFORE - 1], None).await;
    assert_eq!(status, 200);
    for i in 0..AFTER {
        ids.push(net.eval(&pid, &format!("return 'after ' .. {i}")).await);
    }

    let b = start_cu(&net, &net.dir.path().join("b"), &["--follow", "false"]).await;
    let last = ids.last().expect("ids").clone();
    let (status, body) = result(&net, &url(&b), &pid, &last, Some(&url(&a))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        net.metric(&url(&b), "ao_cu_process_loads_total{source=\"peer\"}")
            .await,
        1
    );
    assert_eq!(
        net.metric(&url(&b), "ao_cu_process_loads_total{source=\"cold\"}")
            .await,
        0
    );
    assert_eq!(
        net.metric(&url(&b), "ao_cu_messages_evaluated_total").await,
        AFTER as u64,
        "B evaluated more than the messages after A's state"
    );
    // The handed-over state is on B's disk after its first message there, although
    // `--checkpoint-every` is far above the load: a restart of B does not need A.
    assert!(net.metric(&url(&b), "ao_cu_checkpoints_total").await >= 1);
    same_results(&net, &url(&a), &url(&b), &pid, &ids[BEFORE..]).await;
    // A message A evaluated before the handoff: B has no result of its own, A has.
    same_results(&net, &url(&a), &url(&b), &pid, &ids[BEFORE - 1..BEFORE]).await;

    // A gone, B alone: the results before the handoff are replayed on B, once for all of them,
    // and are A's, byte for byte.
    let mut from_a = Vec::new();
    for id in &ids[..3] {
        from_a.push(result(&net, &url(&a), &pid, id, None).await);
    }
    drop(a);
    for (id, want) in ids[..3].iter().zip(&from_a) {
        let got = result(&net, &url(&b), &pid, id, None).await;
        assert_eq!(got.0, 200, "{}", String::from_utf8_lossy(&got.1));
        assert_eq!(
            String::from_utf8_lossy(&got.1),
            String::from_utf8_lossy(&want.1),
            "{id}"
        );
    }
    assert_eq!(
        net.metric(&url(&b), "ao_cu_process_loads_total{source=\"history\"}")
            .await,
        1,
        "one replay for the whole history before the handoff"
    );
    drop(b);
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_with_a_grpc_url_moves_the_process_over_grpc_state() {
    let net = net().await;
    let (pid, mut ids) = process_with(&net, "over-grpc", BEFORE).await;
    let a = start_cu(&net, &net.dir.path().join("a"), &["--follow", "false"]).await;
    let (status, _) = result(&net, &url(&a), &pid, &ids[BEFORE - 1], None).await;
    assert_eq!(status, 200);
    ids.push(net.eval(&pid, "return 'after'").await);

    // The hint's HTTP URL answers nothing: only A's gRPC `State` can hand the process over.
    let b = start_cu(&net, &net.dir.path().join("b"), &["--follow", "false"]).await;
    let hint = format!("http://127.0.0.1:9;grpc=http://{}", a.addr("grpc"));
    let last = ids.last().expect("ids").clone();
    let (status, body) = result(&net, &url(&b), &pid, &last, Some(&hint)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        net.metric(&url(&b), "ao_cu_process_loads_total{source=\"peer\"}")
            .await,
        1,
        "B started from A's state, read over gRPC"
    );
    assert_eq!(
        net.metric(&url(&b), "ao_cu_messages_evaluated_total").await,
        1,
        "B evaluated only the message after A's state"
    );
    same_results(&net, &url(&a), &url(&b), &pid, &ids[BEFORE..]).await;
    drop((a, b));
    net.close().await;
}

/// A peer that lies: it forwards the real CU's `/state` with one byte of the memory flipped
/// (the headers, the stated SHA-256 among them, untouched), as a compromised or broken CU could.
async fn lying_peer(http: reqwest::Client, honest: String) -> String {
    use axum::extract::Path as AxPath;
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/state/{pid}",
        axum::routing::get(move |AxPath(pid): AxPath<String>| {
            let (http, honest) = (http.clone(), honest.clone());
            async move {
                let r = http
                    .get(format!("{honest}/state/{pid}"))
                    .header("ao-handoff-probe", "1")
                    .send()
                    .await
                    .expect("honest state");
                let mut headers = axum::http::HeaderMap::new();
                for (k, v) in r.headers() {
                    if k.as_str() != "content-length" {
                        headers.insert(
                            axum::http::HeaderName::from_bytes(k.as_str().as_bytes()).expect("k"),
                            axum::http::HeaderValue::from_bytes(v.as_bytes()).expect("v"),
                        );
                    }
                }
                let mut memory = r.bytes().await.expect("memory").to_vec();
                let at = memory.len() / 2;
                memory[at] ^= 0xff;
                (headers, memory).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_state_with_tampered_memory_is_refused_and_the_process_still_evaluates_right() {
    let net = net().await;
    let (pid, mut ids) = process_with(&net, "tampered", BEFORE).await;
    let a = start_cu(&net, &net.dir.path().join("a"), &["--follow", "false"]).await;
    let (status, _) = result(&net, &url(&a), &pid, &ids[BEFORE - 1], None).await;
    assert_eq!(status, 200);
    for i in 0..AFTER {
        ids.push(net.eval(&pid, &format!("return 'after ' .. {i}")).await);
    }
    let liar = lying_peer(net.http.clone(), url(&a)).await;

    let b = start_cu(&net, &net.dir.path().join("b"), &["--follow", "false"]).await;
    let last = ids.last().expect("ids").clone();
    let (status, body) = result(&net, &url(&b), &pid, &last, Some(&liar)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let b_url = url(&b);
    assert_eq!(net.metric(&b_url, "ao_cu_handoff_refused_total").await, 1);
    assert_eq!(
        net.metric(&b_url, "ao_cu_process_loads_total{source=\"peer\"}")
            .await,
        0
    );
    assert_eq!(
        net.metric(&b_url, "ao_cu_process_loads_total{source=\"cold\"}")
            .await,
        1
    );
    assert_eq!(
        net.metric(&b_url, "ao_cu_messages_evaluated_total").await,
        // The process itself is nonce 0.
        (1 + BEFORE + AFTER) as u64,
        "B did not replay from nonce 0"
    );
    same_results(&net, &url(&a), &url(&b), &pid, &ids).await;
    drop((a, b));
    net.close().await;
}

/// `GET /ready` until it answers `want` (to the deadline).
async fn ready_until(net: &Net, base: &str, want: u16) {
    let end = Instant::now() + POLL_DEADLINE;
    loop {
        if let Ok(r) = net.http.get(format!("{base}/ready")).send().await
            && r.status().as_u16() == want
        {
            return;
        }
        assert!(Instant::now() < end, "{base}/ready never answered {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_cu_checkpoints_then_serves_its_state_so_the_process_moves_warm() {
    let net = net().await;
    let (pid, mut ids) = process_with(&net, "drained", BEFORE).await;
    let data_a = net.dir.path().join("a");
    let mut a = start_cu(
        &net,
        &data_a,
        &["--shutdown-grace", GRACE, "--handoff-linger", LINGER],
    )
    .await;
    let a_url = url(&a);
    let (status, _) = result(&net, &a_url, &pid, &ids[BEFORE - 1], None).await;
    assert_eq!(status, 200);
    assert_eq!(net.metric(&a_url, "ao_cu_checkpoints_total").await, 0);

    a.sigterm();
    ready_until(&net, &a_url, 503).await;
    // The drain checkpoints the loaded process first, while A still answers.
    let end = Instant::now() + POLL_DEADLINE;
    while net.metric(&a_url, "ao_cu_checkpoints_total").await == 0 {
        assert!(
            Instant::now() < end,
            "no checkpoint at the start of the drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..AFTER {
        ids.push(net.eval(&pid, &format!("return 'after ' .. {i}")).await);
    }
    let b = start_cu(&net, &net.dir.path().join("b"), &["--follow", "false"]).await;
    let last = ids.last().expect("ids").clone();
    let (status, body) = result(&net, &url(&b), &pid, &last, Some(&a_url)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        net.metric(&url(&b), "ao_cu_process_loads_total{source=\"peer\"}")
            .await,
        1
    );
    assert_eq!(
        net.metric(&url(&b), "ao_cu_process_loads_total{source=\"cold\"}")
            .await,
        0
    );
    assert!(
        net.metric(&url(&b), "ao_cu_messages_evaluated_total").await <= AFTER as u64,
        "B evaluated messages A had evaluated"
    );
    // A (following the process) may have evaluated the last ones itself: same results.
    same_results(&net, &a_url, &url(&b), &pid, &ids[BEFORE..]).await;

    let exit = a.exit_within(Duration::from_secs(35)).await;
    assert!(exit.success(), "{exit:?}");
    drop(b);
    net.close().await;
}

/// The pool's upload policy: with `--checkpoint-max-age` a CU that checkpoints rarely
/// (`checkpoint_every` far above the load) and uploads at most once an hour still puts a
/// process's state on Arweave once it has gone unuploaded for the max age (1 ms here: the second
/// evaluation is due), so a CU taking it over from Arweave replays little.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_age_puts_a_rarely_checkpointed_process_on_arweave() {
    use std::sync::Arc;

    use ao_arweave::{ClientConfig, Gateway, HttpBundler, HttpGateway, Sort, TagFilter, TxQuery};
    use ao_core::wallet::{Wallet, WalletKind};

    let net = net().await;
    let (pid, ids) = process_with(&net, "max-age", 3).await;
    let config = ClientConfig::default();
    let gateway = Arc::new(HttpGateway::new(&net.gateway().url(), &config).expect("gateway"));
    let bundler = HttpBundler::new(&net.gateway().url(), &config).expect("bundler");
    let wallet = Arc::new(Wallet::generate(WalletKind::Ed25519).expect("wallet"));
    let checkpoints = ao_cu::arweave_checkpoint::ArweaveCheckpoints::new(
        wallet,
        Arc::new(bundler),
        gateway.clone(),
        vec![],
        true,
        Duration::from_secs(3600),
    )
    .with_max_age(Some(Duration::from_millis(1)));
    let cu = common::net::cu_with(&net, |c| {
        c.evaluation.checkpoint_every = 100_000;
        c.evaluation.follow = false;
        c.arweave_checkpoints = Some(checkpoints);
    })
    .await;
    for id in &ids {
        let (status, body) = result(&net, &cu.url(), &pid, id, None).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let end = Instant::now() + POLL_DEADLINE;
    loop {
        let found = gateway
            .query(&TxQuery {
                tags: vec![
                    TagFilter {
                        name: "Process".into(),
                        values: vec![pid.clone()],
                    },
                    TagFilter {
                        name: "Type".into(),
                        values: vec!["Checkpoint".into()],
                    },
                ],
                first: 10,
                sort: Sort::HeightDesc,
                ..TxQuery::default()
            })
            .await
            .expect("query")
            .edges;
        if !found.is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "no checkpoint on Arweave although the max age passed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cu.shutdown().await;
    net.close().await;
}

/// Messages of the bench's process (`AO_BENCH_HANDOFF_MESSAGES`).
const BENCH_MESSAGES: usize = 10_000;

/// By hand: `cargo test --release -p ao-cu --test handoff -- --ignored --nocapture bench`.
/// A process with 10,000 Evals (posted to the SU directly) is evaluated on A; one more message
/// is scheduled; then its result is asked of a fresh CU cold (replay from nonce 0) and of
/// another fresh CU with `ao-handoff-from: A` (A's state, verified, then that one message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bench, by hand"]
async fn bench_handoff_of_a_long_process() {
    let n: usize = std::env::var("AO_BENCH_HANDOFF_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BENCH_MESSAGES);
    let net = net().await;
    let started = Instant::now();
    let (pid, ids) = process_with(&net, "bench", n).await;
    eprintln!("scheduled {n} messages in {:?}", started.elapsed());
    let a = start_cu(&net, &net.dir.path().join("a"), &["--follow", "false"]).await;
    let t = Instant::now();
    let (status, _) = result(&net, &url(&a), &pid, &ids[n - 1], None).await;
    assert_eq!(status, 200);
    eprintln!("A: evaluated {n} messages in {:?}", t.elapsed());
    let last = net.eval(&pid, "return 'moved'").await;

    let cold = start_cu(&net, &net.dir.path().join("cold"), &["--follow", "false"]).await;
    let t = Instant::now();
    let (status, cold_body) = result(&net, &url(&cold), &pid, &last, None).await;
    assert_eq!(status, 200);
    let cold_time = t.elapsed();
    let warm = start_cu(&net, &net.dir.path().join("warm"), &["--follow", "false"]).await;
    let t = Instant::now();
    let (status, warm_body) = result(&net, &url(&warm), &pid, &last, Some(&url(&a))).await;
    assert_eq!(status, 200);
    let warm_time = t.elapsed();
    assert_eq!(cold_body, warm_body);
    assert_eq!(
        net.metric(&url(&warm), "ao_cu_process_loads_total{source=\"peer\"}")
            .await,
        1
    );
    let memory = net
        .http
        .get(format!("{}/state/{pid}", url(&a)))
        .send()
        .await
        .expect("state")
        .bytes()
        .await
        .expect("memory")
        .len();
    eprintln!(
        "handoff of a process with {n} messages ({memory} bytes of memory): cold replay {cold_time:?} \
         ({} messages evaluated), warm from A {warm_time:?} ({} evaluated)",
        net.metric(&url(&cold), "ao_cu_messages_evaluated_total")
            .await,
        net.metric(&url(&warm), "ao_cu_messages_evaluated_total")
            .await,
    );
    drop((a, cold, warm));
    net.close().await;
}
