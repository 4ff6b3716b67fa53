//! The Compute gRPC service, and the HTTP API's paging, busy answer, cache and metrics, over
//! loopback against a real SU and gateway.

mod common;

use std::time::Duration;

use ao_proto::common::v1 as pb;
use ao_proto::compute::v1::compute_client::ComputeClient;
use ao_proto::compute::v1::{
    CronRequest, DryRunRequest, InfoRequest, ResultRequest, ResultsRequest, SortOrder, StateRequest,
};
use common::metric;
use common::net::{cu, cu_with, get, net};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compute_service_serves_what_the_http_api_serves() {
    let net = net().await;
    let pid = net.spawn().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(net.eval(&pid, "n = (n or 0) + 1 return n").await);
    }
    let cu = cu(&net, 100).await;
    let mut client = ComputeClient::connect(format!("http://{}", cu.grpc_addr))
        .await
        .expect("connect")
        .max_decoding_message_size(64 << 20);

    let r = client
        .result(ResultRequest {
            process_id: pid.clone(),
            message_id: ids[3].clone(),
            attest: false,
        })
        .await
        .expect("result")
        .into_inner();
    assert_eq!(r.output, "4");
    assert_eq!(r.error, None);
    assert_eq!(r.gas_used, Some(0));
    let (_, http) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}", cu.url(), ids[3]),
    )
    .await;
    assert_eq!(http["Output"], "4");

    // Results: pages follow the cursors; the gRPC edges carry the decoded cursor too.
    let page = |from: Option<String>, sort: SortOrder| ResultsRequest {
        process_id: pid.clone(),
        from,
        to: None,
        sort: sort as i32,
        limit: Some(2),
    };
    let collect = |mut s: tonic::Streaming<ao_proto::compute::v1::ResultEdge>| async move {
        let mut out = Vec::new();
        while let Some(e) = s.message().await.expect("edge") {
            out.push(e);
        }
        out
    };
    let first = collect(
        client
            .results(page(None, SortOrder::Asc))
            .await
            .expect("results")
            .into_inner(),
    )
    .await;
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].ordinate, 0);
    assert_eq!(first[0].message_id.as_deref(), Some(pid.as_str()));
    assert_eq!(first[1].node.as_ref().expect("node").output, "1");
    let second = collect(
        client
            .results(page(Some(first[1].cursor.clone()), SortOrder::Asc))
            .await
            .expect("results")
            .into_inner(),
    )
    .await;
    let outputs: Vec<&str> = second
        .iter()
        .map(|e| e.node.as_ref().expect("node").output.as_str())
        .collect();
    assert_eq!(outputs, ["2", "3"]);
    let newest = collect(
        client
            .results(page(None, SortOrder::Desc))
            .await
            .expect("results")
            .into_inner(),
    )
    .await;
    assert_eq!(newest[0].ordinate, 4, "DESC starts at the newest");
    assert_eq!(newest[1].ordinate, 3);

    // The same pages over HTTP, with a plain-timestamp bound as well.
    let (_, p1) = get(&net.http, format!("{}/results/{pid}?limit=3", cu.url())).await;
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    let cursor = p1["edges"][2]["cursor"].as_str().expect("cursor");
    let (_, p2) = get(
        &net.http,
        format!(
            "{}/results/{pid}?limit=3&from={}",
            cu.url(),
            cursor.replace('+', "%2B")
        ),
    )
    .await;
    assert_eq!(p2["pageInfo"]["hasNextPage"], false);
    let outs: Vec<&Value> = p2["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"]["Output"])
        .collect();
    assert_eq!(outs, ["3", "4"]);
    let (_, all) = get(&net.http, format!("{}/results/{pid}?limit=10", cu.url())).await;
    let ts_of_first = first[1].timestamp_ms;
    let (_, after_ts) = get(
        &net.http,
        format!("{}/results/{pid}?from={ts_of_first}", cu.url()),
    )
    .await;
    assert_eq!(
        after_ts["edges"].as_array().expect("edges").len(),
        all["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .filter(|e| {
                let c = e["cursor"].as_str().expect("c");
                let c = base64_json(c);
                c["timestamp"].as_i64().expect("ts") > ts_of_first
            })
            .count()
    );
    for bad in ["sort=UP", "limit=x", "from=not-a-cursor"] {
        let (status, body) = get(&net.http, format!("{}/results/{pid}?{bad}", cu.url())).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // DryRun on the latest state, changing nothing.
    let dry = client
        .dry_run(DryRunRequest {
            process_id: pid.clone(),
            owner: "someone".into(),
            tags: vec![pb::Tag {
                name: "Action".into(),
                value: "Eval".into(),
            }],
            data: Some("return n * 10".into()),
            ..Default::default()
        })
        .await
        .expect("dry-run")
        .into_inner();
    assert_eq!(dry.output, "40");
    let refused = client
        .dry_run(DryRunRequest {
            process_id: pid.clone(),
            ..Default::default()
        })
        .await
        .expect_err("an Owner is required");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // State: the chunks reassemble to the memory the header describes, as HTTP serves it.
    let mut chunks = client
        .state(StateRequest {
            process_id: pid.clone(),
            to_timestamp_ms: None,
            probe: false,
        })
        .await
        .expect("state")
        .into_inner();
    let mut memory = Vec::new();
    let mut header = None;
    while let Some(c) = chunks.message().await.expect("chunk") {
        if c.header.is_some() {
            assert!(header.is_none(), "one header");
            header = c.header;
        }
        memory.extend_from_slice(&c.data);
    }
    let header = header.expect("a header");
    assert_eq!(header.memory_size as usize, memory.len());
    assert_eq!(header.sha256, hex::encode(Sha256::digest(&memory)));
    assert_eq!(header.last_ordinate, 4);
    let r = net
        .http
        .get(format!("{}/state/{pid}", cu.url()))
        .send()
        .await
        .expect("state");
    assert_eq!(r.headers()["last-ordinate"], "4");
    assert!(r.headers().contains_key("last-timestamp"));
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), &memory[..]);

    // Cron on a process without crons lists nothing; Info names the unit.
    let mut crons = client
        .cron(CronRequest {
            process_id: pid.clone(),
            ..Default::default()
        })
        .await
        .expect("cron")
        .into_inner();
    assert!(crons.message().await.expect("end").is_none());
    let info = client
        .info(InfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.kind, pb::UnitKind::Compute as i32);
    assert_eq!(info.address, "CU-ADDRESS");

    // Errors carry gRPC codes.
    let unknown = ao_core::encoding::b64url([7u8; 32]);
    let e = client
        .result(ResultRequest {
            process_id: pid.clone(),
            message_id: unknown,
            attest: false,
        })
        .await
        .expect_err("unknown message");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = client
        .result(ResultRequest {
            process_id: "short".into(),
            message_id: "x".into(),
            attest: false,
        })
        .await
        .expect_err("bad process id");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    cu.shutdown().await;
    net.close().await;
}

fn base64_json(c: &str) -> Value {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD
        .decode(c)
        .expect("b64");
    serde_json::from_slice(&b).expect("json")
}

async fn metrics(net: &common::net::Net, cu: &ao_cu::RunningCu) -> String {
    let r = net
        .http
        .get(format!("{}/metrics", cu.url()))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), 200);
    r.text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_result_answers_busy_and_is_served_once_done() {
    let net = net().await;
    let pid = net.spawn().await;
    let mut last = String::new();
    for _ in 0..20 {
        last = net.eval(&pid, "n = (n or 0) + 1 return n").await;
    }
    // Loading the module alone takes longer than a millisecond.
    let cu = cu_with(&net, |c| {
        c.busy_threshold = Some(Duration::from_millis(1));
    })
    .await;
    let r = net
        .http
        .get(format!("{}/result/{last}?process-id={pid}", cu.url()))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(
        body["message"],
        format!("Evaluation of process \"{pid}\" to \"{last}\" is in progress.")
    );
    // The evaluation went on without the client; polling finds the result.
    let mut done = None;
    for _ in 0..200 {
        let (status, body) = get(
            &net.http,
            format!("{}/result/{last}?process-id={pid}", cu.url()),
        )
        .await;
        if status == 200 {
            done = Some(body);
            break;
        }
        assert_eq!(status, 202);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done.expect("computed in the background")["Output"], "20");
    let next = net.eval(&pid, "return n").await;
    let (status, body) = get(
        &net.http,
        format!("{}/result/{next}?process-id={pid}&no-busy", cu.url()),
    )
    .await;
    assert_eq!((status, &body["Output"]), (200, &Value::from("20")));
    let m = metrics(&net, &cu).await;
    assert!(metric(&m, "ao_cu_busy_answers_total") >= 1);
    assert_eq!(metric(&m, "ao_cu_messages_evaluated_total"), 22);
    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_beyond_the_cache_budget_are_unloaded_to_checkpoints() {
    let net = net().await;
    let a = net.spawn_named("a").await;
    let b = net.spawn_named("b").await;
    let a1 = net.eval(&a, "x = 'a' return x").await;
    let b1 = net.eval(&b, "x = 'b' return x").await;
    // One byte: every process is unloaded as soon as it is idle.
    let cu = cu_with(&net, |c| c.evaluation.cache_bytes = 1).await;
    for (pid, id, want) in [(&a, &a1, "a"), (&b, &b1, "b")] {
        let (_, r) = get(
            &net.http,
            format!("{}/result/{id}?process-id={pid}", cu.url()),
        )
        .await;
        assert_eq!(r["Output"], want);
    }
    let m = metrics(&net, &cu).await;
    assert_eq!(metric(&m, "ao_cu_process_evictions_total"), 2);
    assert_eq!(metric(&m, "ao_cu_processes_loaded"), 0);
    assert_eq!(metric(&m, "ao_cu_checkpoints_total"), 2, "one per unload");
    // Coming back, each resumes from its checkpoint with its memory.
    let a2 = net.eval(&a, "return x .. '!'").await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{a2}?process-id={a}", cu.url()),
    )
    .await;
    assert_eq!(r["Output"], "a!");
    let m = metrics(&net, &cu).await;
    assert_eq!(
        metric(&m, "ao_cu_process_loads_total{source=\"checkpoint\"}"),
        1
    );
    assert_eq!(metric(&m, "ao_cu_process_loads_total{source=\"cold\"}"), 2);
    assert_eq!(metric(&m, "ao_cu_messages_evaluated_total"), 5);
    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_messages_of_a_loaded_process_are_evaluated_before_anyone_asks() {
    let net = net().await;
    let pid = net.spawn().await;
    let first = net.eval(&pid, "n = 1 return n").await;
    let cu = cu(&net, 100).await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{first}?process-id={pid}", cu.url()),
    )
    .await;
    assert_eq!(r["Output"], "1");
    // The CU now follows the process on the SU: later messages are evaluated on arrival, so
    // they show up in `/results`, which never evaluates anything itself.
    for _ in 0..3 {
        net.eval(&pid, "n = n + 1 return n").await;
    }
    let mut outputs = Vec::new();
    for _ in 0..200 {
        let (_, page) = get(&net.http, format!("{}/results/{pid}", cu.url())).await;
        outputs = page["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["Output"].clone())
            .collect();
        if outputs.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outputs, ["", "1", "2", "3", "4"]);
    let m = metrics(&net, &cu).await;
    assert_eq!(metric(&m, "ao_cu_messages_evaluated_total"), 5);
    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expensive_messages_are_checkpointed_before_the_message_count_says_so() {
    let net = net().await;
    // The Lua test module, metered by @permaweb/wasm-metering: GasUsed is no longer 0.
    let dir = tempfile::tempdir().expect("tmp");
    let metered = dir.path().join("metered.wasm");
    let out = ao_tests::node(
        &common::repo().join("tests/js/meter.cjs"),
        &[common::minimal_module().into(), metered.clone().into()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let module = net
        .upload_module(std::fs::read(&metered).expect("metered"))
        .await;
    let pid = net.spawn_on(&module, &[("Name", "heavy")]).await;
    let cheap = net.eval(&pid, "return 1").await;
    let heavy = net
        .eval(
            &pid,
            "local s = 0 for i = 1, 2000000 do s = s + i end return s",
        )
        .await;
    let cu = cu_with(&net, |c| {
        c.evaluation.checkpoint_every = 1000;
        c.evaluation.checkpoint_gas = 5_000_000_000;
        c.evaluation.follow = false;
    })
    .await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{cheap}?process-id={pid}", cu.url()),
    )
    .await;
    // The process's own message and a small Eval cost about 5e8 each.
    assert!(
        r["GasUsed"].as_u64().expect("metered") < 1_000_000_000,
        "{r}"
    );
    assert_eq!(
        metric(&metrics(&net, &cu).await, "ao_cu_checkpoints_total"),
        0
    );
    let (_, r) = get(
        &net.http,
        format!("{}/result/{heavy}?process-id={pid}", cu.url()),
    )
    .await;
    assert_eq!(r["Output"], "2000001000000");
    assert!(
        r["GasUsed"].as_u64().expect("metered") > 5_000_000_000,
        "{r}"
    );
    assert_eq!(
        metric(&metrics(&net, &cu).await, "ao_cu_checkpoints_total"),
        1,
        "the gas threshold made a checkpoint after 3 of 1000 messages"
    );
    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_the_cu_cannot_run_faithfully_are_refused_with_their_reason() {
    let net = net().await;
    let cu = cu(&net, 100).await;
    // More memory than the CU allows: 413.
    let big = net
        .spawn_tagged(&[("Name", "big"), ("Memory-Limit", "16-gb")])
        .await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{big}?process-id={big}", cu.url()),
    )
    .await;
    assert_eq!(status, 413, "{r}");
    assert!(
        r["error"].as_str().expect("error").contains("Memory-Limit"),
        "{r}"
    );
    // A module that needs an extension this CU does not attach (WeaveDrive): 422.
    let wasm = std::fs::read(common::minimal_module()).expect("wasm");
    let module = net
        .upload_module_tagged(wasm, &[("Extension", "WeaveDrive")])
        .await;
    let drive = net.spawn_on(&module, &[("Name", "drive")]).await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{drive}?process-id={drive}", cu.url()),
    )
    .await;
    assert_eq!(status, 422, "{r}");
    assert!(
        r["error"].as_str().expect("error").contains("WeaveDrive"),
        "{r}"
    );
    cu.shutdown().await;
    net.close().await;
}
