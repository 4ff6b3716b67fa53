//! Cold replay beside the loader alone (issue 15, "Cold replay at the loader's speed"), by hand:
//!
//! ```sh
//! cargo test --release -p ao-cu --test replay -- --ignored --nocapture
//! # AO_BENCH_REPLAY_MESSAGES=N for another size (default 10,000)
//! ```
//!
//! A process of the minimal Lua module with N Evals `return 1 + 1` is scheduled on a real SU (in
//! this process, over gRPC, as `common::net` runs it). Then, on the same messages:
//! - the loader alone: the whole schedule read first, every message's JSON built first, then only
//!   `ProcessRunner::evaluate` timed, message after message, on one instance (what the CU's worker
//!   thread does, with nothing around it);
//! - a fresh CU with its defaults (checkpoints included), asked the last message's result: the
//!   time from the request to the answer, and the time its worker spent evaluating (its metric).
//!
//! The ratio of the two is what the service around evaluation costs on a cold replay.

mod common;

use std::time::Instant;

use ao_cu::loader::{ModuleFormat, Options, ProcessRunner, Runtime};
use ao_cu::message::{Slot, env_json, item_parts, message_json};
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    GetProcessRequest, NonceRange, ReadScheduleRequest, read_schedule_request,
};
use common::net::{Net, cu_with, net};
use futures_util::StreamExt;
use serde_json::Value;

/// Messages replayed when `AO_BENCH_REPLAY_MESSAGES` does not say.
const BENCH_MESSAGES: usize = 10_000;

/// Every message JSON of the process's schedule and its `env`, as the CU builds them.
async fn schedule_json(net: &Net, pid: &str) -> (Vec<Value>, Value) {
    let mut su = SchedulerClient::connect(format!("http://{}", net.su().grpc_addr))
        .await
        .expect("SU gRPC")
        .max_decoding_message_size(64 << 20);
    let record = su
        .get_process(GetProcessRequest {
            process_id: pid.to_string(),
        })
        .await
        .expect("process")
        .into_inner();
    let mut stream = su
        .read_schedule(ReadScheduleRequest {
            process_id: pid.to_string(),
            range: Some(read_schedule_request::Range::Nonce(NonceRange {
                from: None,
                to: None,
            })),
            limit: Some(u32::MAX),
        })
        .await
        .expect("read")
        .into_inner();
    let mut messages = Vec::new();
    while let Some(entry) = stream.next().await {
        let entry = entry.expect("entry");
        let item = entry.message.as_ref().expect("the SU carries the item");
        let slot = Slot {
            epoch: entry.epoch,
            nonce: entry.nonce,
            timestamp: entry.timestamp_ms,
            block_height: entry.block_height,
            hash_chain: &entry.hash_chain,
        };
        messages.push(message_json(&item_parts(item, pid), Some(&slot), false));
    }
    let module_owner = ao_core::wallet::Wallet::from(
        ao_core::wallet::Ed25519Wallet::from_jwk(&net.user.to_jwk()).expect("copy"),
    )
    .address();
    (messages, env_json(&record, &net.module, &module_owner, &[]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bench, by hand"]
async fn bench_cold_replay_beside_the_loader() {
    let n: usize = std::env::var("AO_BENCH_REPLAY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BENCH_MESSAGES);
    let net = net().await;
    let pid = net.spawn_named("replay").await;
    let mut last = String::new();
    for _ in 0..n {
        last = net.eval(&pid, "return 1 + 1").await;
    }

    // The loader alone.
    let (messages, env) = schedule_json(&net, &pid).await;
    assert_eq!(messages.len(), n + 1, "the process message and the Evals");
    let wasm = std::fs::read(common::minimal_module()).expect("wasm");
    let module = Runtime::new()
        .compile(&wasm, ModuleFormat::Emscripten2)
        .expect("compile");
    let mut runner = ProcessRunner::new(module, Options::default(), None);
    let t = Instant::now();
    for m in &messages {
        let e = runner.evaluate(m, &env).expect("evaluate");
        assert!(e.error.is_none(), "{:?}", e.error);
    }
    let loader = t.elapsed();

    // A fresh CU with its defaults.
    let cu = cu_with(&net, |c| c.evaluation.follow = false).await;
    let base = format!("http://{}", cu.http_addr);
    let t = Instant::now();
    let r = net
        .http
        .get(format!("{base}/result/{last}?process-id={pid}"))
        .send()
        .await
        .expect("result");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let replay = t.elapsed();
    let metrics = net
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let evaluating = ao_tests::metric(&metrics, "ao_cu_eval_duration_seconds_sum")
        .expect("the evaluation time metric");
    let checkpoints = common::metric(&metrics, "ao_cu_checkpoints_total");
    let per = |d: f64| d * 1000.0 / (n + 1) as f64;
    eprintln!(
        "{} messages: loader alone {:.2} s ({:.3} ms/msg); cold CU replay {:.2} s ({:.3} ms/msg, \
         {:.2}x the loader), of which evaluating {:.2} s; {checkpoints} checkpoints",
        n + 1,
        loader.as_secs_f64(),
        per(loader.as_secs_f64()),
        replay.as_secs_f64(),
        per(replay.as_secs_f64()),
        replay.as_secs_f64() / loader.as_secs_f64(),
        evaluating,
    );
    cu.shutdown().await;
    net.close().await;
}
