//! The SU's AO HTTP API over loopback, against a real local gateway: the JSON shapes of spec 2.3
//! field by field, the schedule rules as seen by a client, every refusal, uploads, and routing.

mod common;

use std::time::Duration;

use ao_arweave::Gateway;
use ao_core::ao::{MessageBuilder, ProcessBuilder};
use ao_core::encoding::b64url;
use ao_core::wallet::Ed25519Wallet;
use common::*;
use serde_json::Value;

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn tag_names(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_messages_and_read_them_back_in_the_reference_shapes() {
    let net = net().await;
    let process = net.process();
    let pid = process.id();
    let (status, body) = net.post(process.item().as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body), ["timestamp", "id"]);
    assert_eq!(body["id"], pid.as_str());
    assert!(
        body["timestamp"].is_u64(),
        "POST / answers a numeric timestamp"
    );

    let mut ids = Vec::new();
    for n in 1..=5 {
        let m = net.message(process.raw_id(), n);
        let (status, body) = net.post(m.item().as_bytes()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], m.id().as_str());
        ids.push(m.id());
    }

    // Single message (spec 2.3 `Message`).
    let (status, one) = net.get(&format!("/{}?process-id={pid}", ids[2])).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(keys(&one), ["message", "assignment"]);
    let m = &one["message"];
    assert_eq!(
        keys(m),
        [
            "id",
            "owner",
            "data",
            "tags",
            "signature",
            "anchor",
            "target"
        ]
    );
    assert_eq!(m["id"], ids[2].as_str());
    assert_eq!(m["data"], "return 3");
    assert_eq!(m["target"], pid.as_str());
    assert_eq!(m["anchor"], Value::Null);
    assert_eq!(keys(&m["owner"]), ["address", "key"]);
    assert_eq!(m["owner"]["key"], b64url(ao_core::Signer::owner(&net.user)));
    let a = &one["assignment"];
    assert_eq!(
        keys(a),
        ["id", "owner", "tags", "signature", "anchor", "target"]
    );
    assert_eq!(
        tag_names(&a["tags"]),
        [
            "Process",
            "Epoch",
            "Nonce",
            "Hash-Chain",
            "Block-Height",
            "Timestamp",
            "Data-Protocol",
            "Type",
            "Variant",
            "Message"
        ]
    );
    assert_eq!(tag(&a["tags"], "Nonce"), "3");
    assert_eq!(tag(&a["tags"], "Message"), ids[2]);
    assert_eq!(tag(&a["tags"], "Block-Height").len(), 12);
    assert_eq!(a["target"], "");
    assert_eq!(a["anchor"], Value::Null, "random anchors are not UTF-8");
    assert_eq!(a["owner"]["address"], net.su.address.as_str());
    // The same entry by its assignment id.
    let aid = a["id"].as_str().expect("id").to_string();
    let (status, by_assignment) = net.get(&format!("/{aid}?process-id={pid}")).await;
    assert_eq!(status, 200);
    assert_eq!(by_assignment, one);
    // `proc-id` is an alias (HyperBEAM, sharp edge 25).
    let (status, alias) = net.get(&format!("/{}?proc-id={pid}", ids[2])).await;
    assert_eq!((status, &alias), (200, &one));

    // The whole schedule: the process first, then the messages; exact has_next_page.
    let (status, page) = net.get(&format!("/{pid}?process-id={pid}")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(keys(&page), ["page_info", "edges"]);
    assert_eq!(page["page_info"]["has_next_page"], false);
    let edges = page["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 6);
    let first = &edges[0]["node"];
    assert_eq!(first["message"]["id"], pid.as_str());
    assert_eq!(
        first["message"]["target"],
        Value::Null,
        "a process has no target"
    );
    assert_eq!(first["message"]["data"], "print('hi')");
    assert!(!tag_names(&first["assignment"]["tags"]).contains(&"Message"));
    let mut last_ts = 0u64;
    for (i, e) in edges.iter().enumerate() {
        let tags = &e["node"]["assignment"]["tags"];
        assert_eq!(
            tag(tags, "Nonce"),
            i.to_string(),
            "contiguous nonces from 0"
        );
        let ts: u64 = tag(tags, "Timestamp").parse().expect("ts");
        assert!(ts > last_ts, "strictly increasing timestamps");
        last_ts = ts;
        assert_eq!(e["cursor"], ts.to_string(), "timestamp-mode cursor");
    }
    // The hash chain verifies from the process id.
    verify_edges_chain(&process.raw_id(), edges).expect("chain");

    // Pages: limit, exact has_next_page, nonce mode, timestamp mode.
    let (_, p) = net.get(&format!("/{pid}?process-id={pid}&limit=2")).await;
    assert_eq!(p["edges"].as_array().expect("edges").len(), 2);
    assert_eq!(p["page_info"]["has_next_page"], true);
    let (_, p) = net.get(&format!("/{pid}?process-id={pid}&limit=6")).await;
    assert_eq!(
        p["page_info"]["has_next_page"], false,
        "exactly full is not 'more'"
    );
    let (_, p) = net
        .get(&format!("/{pid}?process-id={pid}&from-nonce=1&to-nonce=3"))
        .await;
    let nonces: Vec<String> = p["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["cursor"].as_str().expect("cursor").to_string())
        .collect();
    assert_eq!(
        nonces,
        ["2", "3"],
        "from-nonce exclusive, to-nonce inclusive"
    );
    let (_, p) = net
        .get(&format!("/{pid}?process-id={pid}&from-nonce=-1&limit=1"))
        .await;
    assert_eq!(p["edges"][0]["cursor"], "0");
    let ts2 = edges[2]["cursor"].as_str().expect("c");
    let ts4 = edges[4]["cursor"].as_str().expect("c");
    let (_, p) = net
        .get(&format!("/{pid}?process-id={pid}&from={ts2}&to={ts4}"))
        .await;
    let got: Vec<&Value> = p["edges"]
        .as_array()
        .expect("e")
        .iter()
        .map(|e| &e["cursor"])
        .collect();
    assert_eq!(got, [&edges[3]["cursor"], &edges[4]["cursor"]]);
    // Without process-id, a process id still lists (sharp edge 7).
    let (status, p) = net.get(&format!("/{pid}")).await;
    assert_eq!(status, 200);
    assert_eq!(p["edges"].as_array().expect("e").len(), 6);

    // Latest, process record, timestamp, info, health, metrics.
    let (status, latest) = net.get(&format!("/{pid}/latest")).await;
    assert_eq!(status, 200);
    assert_eq!(latest["message"]["id"], ids[4].as_str());
    let (status, rec) = net.get(&format!("/processes/{pid}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&rec),
        [
            "process_id",
            "block",
            "timestamp",
            "owner",
            "tags",
            "data",
            "anchor",
            "signature",
            "target"
        ]
    );
    assert_eq!(rec["process_id"], pid.as_str());
    assert_eq!(rec["block"].as_str().expect("block").len(), 12);
    assert!(rec["timestamp"].is_u64());
    assert_eq!(rec["target"], Value::Null);
    assert_eq!(tag(&rec["tags"], "Scheduler"), net.su.address);
    let (_, ts) = net.get("/timestamp").await;
    assert_eq!(keys(&ts), ["timestamp", "block_height"]);
    assert!(
        ts["timestamp"].is_string(),
        "GET /timestamp answers a string (sharp edge 6)"
    );
    assert_eq!(ts["block_height"].as_str().expect("h").len(), 12);
    let (_, info) = net.get("/").await;
    assert_eq!(keys(&info), ["timestamp", "address"]);
    assert_eq!(info["address"], net.su.address.as_str());
    let health = net
        .http
        .get(net.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let metrics = net
        .http
        .get(net.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("ao_su_assignments_total 6"), "{metrics}");
    assert!(metrics.contains("ao_su_upload_backlog_items"));

    // The uploader delivers every message and assignment to the gateway.
    let assignment_ids: Vec<String> = edges
        .iter()
        .map(|e| {
            e["node"]["assignment"]["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    let mut want: Vec<String> = ids.clone();
    want.push(pid.clone());
    want.extend(assignment_ids);
    for _ in 0..100 {
        let found = net.gateway.transactions_by_id(&want).await.expect("query");
        if found.len() == want.len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("uploads did not reach the gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_clear_error_and_changes_nothing() {
    let net = net().await;
    let process = net.process();
    let pid = process.id();
    assert_eq!(net.post(process.item().as_bytes()).await.0, 200);

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty", Vec::new(), 400, "empty body"),
        ("garbage", b"not an item".to_vec(), 400, "malformed item"),
        (
            "bad signature",
            {
                let mut raw = net.message(process.raw_id(), 1).item().as_bytes().to_vec();
                let last = raw.len() - 1;
                raw[last] ^= 1;
                raw
            },
            400,
            "signature",
        ),
        (
            "no Type",
            ao_core::DataItemBuilder::new()
                .target(process.raw_id())
                .tags(vec![ao_core::Tag::new("Data-Protocol", "ao")])
                .sign(&net.user)
                .expect("item")
                .as_bytes()
                .to_vec(),
            400,
            "Type",
        ),
        (
            "+link",
            MessageBuilder::new(process.raw_id())
                .tag("Data+link", "x")
                .sign(&net.user)
                .map(|m| m.item().as_bytes().to_vec())
                .unwrap_or_else(|_| {
                    ao_core::DataItemBuilder::new()
                        .target(process.raw_id())
                        .tags(vec![
                            ao_core::Tag::new("Data-Protocol", "ao"),
                            ao_core::Tag::new("Type", "Message"),
                            ao_core::Tag::new("Data+link", "x"),
                        ])
                        .sign(&net.user)
                        .expect("item")
                        .as_bytes()
                        .to_vec()
                }),
            400,
            "+link",
        ),
        (
            "unknown process",
            net.message([9; 32], 1).item().as_bytes().to_vec(),
            404,
            "not found",
        ),
        (
            "process of another SU",
            ProcessBuilder::new(MODULE, b64url([5u8; 32]))
                .sign(&net.user)
                .expect("p")
                .item()
                .as_bytes()
                .to_vec(),
            400,
            "does not belong",
        ),
        (
            "duplicate process",
            process.item().as_bytes().to_vec(),
            409,
            "already exists",
        ),
    ];
    for (what, body, status, needle) in cases {
        let (got, err) = net.post(&body).await;
        assert_eq!(got, status, "{what}: {err}");
        let text = err["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {err}"));
        assert!(
            text.contains(needle),
            "{what}: {text:?} should mention {needle:?}"
        );
    }

    // Duplicate message id.
    let m = net.message(process.raw_id(), 1);
    assert_eq!(net.post(m.item().as_bytes()).await.0, 200);
    let (status, err) = net.post(m.item().as_bytes()).await;
    assert_eq!(status, 409, "{err}");

    // Pushed-message dedupe: the same outbox message signed by two MUs.
    let pushed = |w: &Ed25519Wallet, pushed_for: &str| {
        MessageBuilder::new(process.raw_id())
            .pushed(
                b64url([1u8; 32]),
                b64url([2u8; 32]),
                Some(pushed_for.to_string()),
            )
            .tag("Action", "Credit-Notice")
            .anchor(*b"00000000000000000000000000000001")
            .data("1")
            .sign(w)
            .expect("pushed")
    };
    let first = pushed(&Ed25519Wallet::generate(), &b64url([3u8; 32]));
    assert_eq!(net.post(first.item().as_bytes()).await.0, 200);
    let again = pushed(&Ed25519Wallet::generate(), &b64url([4u8; 32]));
    let (status, err) = net.post(again.item().as_bytes()).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]
            .as_str()
            .expect("e")
            .contains("duplicate of a pushed message")
    );

    // Too large.
    let big = MessageBuilder::new(process.raw_id())
        .data(vec![b'x'; ao_su::config::DEFAULT_MAX_ITEM_SIZE + 10])
        .sign(&net.user)
        .expect("big");
    let (status, err) = net.post(big.item().as_bytes()).await;
    assert_eq!(status, 413, "{err}");

    // Query errors.
    let (status, err) = post(&net.http, &net.url(&format!("/?process-id={pid}")), b"").await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().expect("e").contains("must send both"));
    let (status, _) = post(
        &net.http,
        &net.url(&format!("/?process-id={pid}&assign=short")),
        b"",
    )
    .await;
    assert_eq!(status, 400);
    let (status, err) = net
        .get(&format!("/{}?process-id={pid}", b64url([8u8; 32])))
        .await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"], "Message or Process not found");
    let (status, _) = net.get(&format!("/{}", b64url([8u8; 32]))).await;
    assert_eq!(status, 400, "a message lookup needs its process");
    let (status, _) = net.get(&format!("/{pid}?process-id={pid}&limit=x")).await;
    assert_eq!(status, 400);
    let (status, _) = net.get(&format!("/processes/{}", b64url([8u8; 32]))).await;
    assert_eq!(status, 404);
    let (status, _) = net.get("/processes/nonsense").await;
    assert_eq!(status, 400);

    // Nothing the refusals carried was stored: the process has its two accepted messages.
    let (_, page) = net.get(&format!("/{pid}?process-id={pid}")).await;
    assert_eq!(page["edges"].as_array().expect("edges").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignments_of_items_and_l1_transactions() {
    let net = net().await;
    let a = net.process();
    let b = ProcessBuilder::new(MODULE, net.su.address.clone())
        .tag("Name", "b")
        .sign(&net.user)
        .expect("b");
    assert_eq!(net.post(a.item().as_bytes()).await.0, 200);
    assert_eq!(net.post(b.item().as_bytes()).await.0, 200);
    let m = net.message(a.raw_id(), 1);
    assert_eq!(net.post(m.item().as_bytes()).await.0, 200);

    // Assign A's message to B: answered with the assignment id.
    let url = net.url(&format!(
        "/?process-id={}&assign={}&exclude=Data,Anchor",
        b.id(),
        m.id()
    ));
    let (status, body) = post(&net.http, &url, b"").await;
    assert_eq!(status, 200, "{body}");
    let aid = body["id"].as_str().expect("id").to_string();
    assert_ne!(aid, m.id());
    let (status, entry) = net.get(&format!("/{aid}?process-id={}", b.id())).await;
    assert_eq!(status, 200);
    assert_eq!(
        entry["message"],
        Value::Null,
        "a bare assignment has no message"
    );
    let tags = &entry["assignment"]["tags"];
    assert_eq!(tag(tags, "Message"), m.id());
    assert_eq!(tag(tags, "Nonce"), "1");
    assert_eq!(
        tag_names(tags)[9..],
        ["Message", "Exclude", "Exclude"],
        "Exclude tags follow Message, one per value"
    );
    // Lookups stay within the process (sharp edge 27): m in A is A's entry, in B B's.
    let (_, in_a) = net.get(&format!("/{}?process-id={}", m.id(), a.id())).await;
    assert_eq!(tag(&in_a["assignment"]["tags"], "Process"), a.id());
    let (_, in_b) = net.get(&format!("/{}?process-id={}", m.id(), b.id())).await;
    assert_eq!(tag(&in_b["assignment"]["tags"], "Process"), b.id());

    // Twice is refused; an unknown id is refused; an unknown process is refused.
    let (status, _) = post(&net.http, &url, b"").await;
    assert_eq!(status, 409);
    let unknown = net.url(&format!(
        "/?process-id={}&assign={}",
        b.id(),
        b64url([6u8; 32])
    ));
    assert_eq!(post(&net.http, &unknown, b"").await.0, 404);
    let no_process = net.url(&format!(
        "/?process-id={}&assign={}",
        b64url([6u8; 32]),
        m.id()
    ));
    assert_eq!(post(&net.http, &no_process, b"").await.0, 404);

    // An item known only to the gateway can be assigned; as a base-layer transaction it needs
    // Settlement-Depth confirmations.
    let other = MessageBuilder::new([3; 32])
        .data("elsewhere")
        .sign(&Ed25519Wallet::generate())
        .expect("other");
    ao_arweave::Bundler::upload(&net.gateway, other.item())
        .await
        .expect("upload");
    let assign_other = net.url(&format!("/?process-id={}&assign={}", a.id(), other.id()));
    let (status, body) = post(&net.http, &assign_other, b"").await;
    assert_eq!(status, 200, "{body}");
    net.gateway.mine().await.expect("mine");
    let base = net.url(&format!(
        "/?process-id={}&assign={}&base-layer",
        b.id(),
        other.id()
    ));
    let (status, err) = post(&net.http, &base, b"").await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]
            .as_str()
            .expect("e")
            .contains("Not enough confirmations")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_of_another_su_is_redirected_to_it() {
    let net = net().await;
    let other = ao_su::serve(su_config(net.dir.path(), &net.gateway.url(), "other"))
        .await
        .expect("second su");
    // Wait until the other SU's Scheduler-Location reached the gateway.
    let query = ao_arweave::TxQuery {
        owners: vec![other.address.clone()],
        first: 1,
        ..Default::default()
    };
    let mut published = false;
    for _ in 0..100 {
        if !net.gateway.query(&query).await.expect("q").edges.is_empty() {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(published, "Scheduler-Location not published");

    let process = ProcessBuilder::new(MODULE, other.address.clone())
        .sign(&net.user)
        .expect("p");
    let r = reqwest_no_redirect()
        .post(net.url("/"))
        .body(process.item().as_bytes().to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"].to_str().expect("loc"),
        format!("{}/", other.url())
    );
    // Following it schedules the process on the other SU; then a message for it sent to the
    // first SU is redirected too (found through the gateway).
    let (status, _) = post(
        &net.http,
        &format!("{}/", other.url()),
        process.item().as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let uploaded = {
        let mut ok = false;
        for _ in 0..100 {
            if !net
                .gateway
                .transactions_by_id(&[process.id()])
                .await
                .expect("q")
                .is_empty()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ok
    };
    assert!(uploaded);
    let m = net.message(process.raw_id(), 1);
    let r = reqwest_no_redirect()
        .post(net.url("/"))
        .body(m.item().as_bytes().to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 307);
    other.shutdown().await;
}

fn reqwest_no_redirect() -> reqwest::Client {
    // reqwest is built without a default TLS provider; these requests are plain HTTP, but the
    // builder still wants one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_process_assignments_the_first_message_takes_nonce_zero() {
    let net = net_with(|c| c.process_assignment = false).await;
    let process = net.process();
    let pid = process.id();
    assert_eq!(net.post(process.item().as_bytes()).await.0, 200);
    let (status, rec) = net.get(&format!("/processes/{pid}")).await;
    assert_eq!(status, 200, "{rec}");
    for n in 0..3 {
        let m = net.message(process.raw_id(), n);
        assert_eq!(net.post(m.item().as_bytes()).await.0, 200);
    }
    let (_, page) = net.get(&format!("/{pid}?process-id={pid}")).await;
    let edges = page["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 3, "no process edge without its assignment");
    assert_eq!(tag(&edges[0]["node"]["assignment"]["tags"], "Nonce"), "0");
    verify_edges_chain(&process.raw_id(), edges)
        .expect("first hash is SHA-256(process id) in this mode too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_a_block_height_and_reads_still_work() {
    // A gateway nobody listens on: the SU starts, serves reads, and refuses writes with 503.
    let dir = tempfile::tempdir().expect("tmp");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let mut cfg = su_config(dir.path(), &url, "su");
    let client_cfg = ao_arweave::ClientConfig {
        max_retries: 0,
        ..Default::default()
    };
    cfg.gateway = std::sync::Arc::new(ao_arweave::HttpGateway::new(&url, &client_cfg).expect("gw"));
    let su = ao_su::serve(cfg).await.expect("su");
    let http = client();
    let process = ProcessBuilder::new(MODULE, su.address.clone())
        .sign(&Ed25519Wallet::generate())
        .expect("p");
    let (status, err) = post(&http, &format!("{}/", su.url()), process.item().as_bytes()).await;
    assert_eq!(status, 503, "{err}");
    assert!(err["error"].as_str().expect("e").contains("warming up"));
    let (status, info) = get(&http, &format!("{}/", su.url())).await;
    assert_eq!(status, 200);
    assert_eq!(info["address"], su.address.as_str());
    let (status, _) = get(&http, &format!("{}/processes/{}", su.url(), process.id())).await;
    assert_eq!(status, 404, "the refused process was not stored");
    su.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_cors_and_on_boot_must_name_a_known_transaction() {
    let net = net().await;
    let preflight = net
        .http
        .request(reqwest::Method::OPTIONS, net.url("/"))
        .header("origin", "http://example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let (_, _) = net.get("/").await;

    let bad = ProcessBuilder::new(MODULE, net.su.address.clone())
        .tag("On-Boot", b64url([7u8; 32]))
        .sign(&net.user)
        .expect("p");
    let (status, err) = net.post(bad.item().as_bytes()).await;
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().expect("e").contains("On-Boot"));
    let good = ProcessBuilder::new(MODULE, net.su.address.clone())
        .tag("On-Boot", "Data")
        .sign(&net.user)
        .expect("p");
    assert_eq!(net.post(good.item().as_bytes()).await.0, 200);
}
