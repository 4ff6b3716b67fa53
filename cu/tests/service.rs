//! The evaluation service end to end over loopback: a real local gateway holding the module, a
//! real SU holding the schedule, and the CU evaluating it: results by message id, dry-run that
//! changes nothing, results listing, state, hash-chain verification, and a restart that resumes
//! from the stored checkpoint.

mod common;

use std::time::Duration;

use ao_arweave::{ClientConfig, HttpGateway};
use common::net::{cu, get, net, net_with};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_dry_run_state_and_a_restart_from_the_checkpoint() {
    let net = net().await;
    let pid = net.spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            net.eval(&pid, "count = (count or 0) + 1 return count")
                .await,
        );
    }
    let cu1 = cu(&net, 2).await;

    // The last message first: everything before it is evaluated on the way, in order.
    let (status, r) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}", cu1.url(), ids[4]),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["Output"], "5");
    assert_eq!(r["Messages"], json!([]));
    assert_eq!(r["GasUsed"], 0);
    assert!(r.get("Error").is_none());
    let (_, r) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}", cu1.url(), ids[1]),
    )
    .await;
    assert_eq!(r["Output"], "2", "an earlier result comes from the store");
    let (_, boot) = get(
        &net.http,
        format!("{}/result/{pid}?process-id={pid}", cu1.url()),
    )
    .await;
    assert_eq!(boot["Output"], "", "the process's own message (nonce 0)");

    // Dry-run sees the latest state and changes nothing.
    let dry = json!({"Owner": "someone", "Tags": [{"name": "Action", "value": "Eval"}],
        "Data": "count = count + 100 return count"});
    let r = net
        .http
        .post(format!("{}/dry-run?process-id={pid}", cu1.url()))
        .header("content-type", "application/json")
        .body(dry.to_string())
        .send()
        .await
        .expect("dry-run");
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(body["Output"], "105");
    let next = net.eval(&pid, "count = count + 1 return count").await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{next}?process-id={pid}", cu1.url()),
    )
    .await;
    assert_eq!(r["Output"], "6", "the dry-run left the process unchanged");

    // A Lua error is an Error and rolls back; the process goes on.
    let bad = net.eval(&pid, "count = 1000 error('boom')").await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{bad}?process-id={pid}", cu1.url()),
    )
    .await;
    assert!(r["Error"].as_str().expect("error").contains("boom"));

    // Listing: stored results without the failed one, with cursors.
    let (status, page) = get(&net.http, format!("{}/results/{pid}?limit=3", cu1.url())).await;
    assert_eq!(status, 200);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["edges"].as_array().expect("edges").len(), 3);
    let (status, state) = {
        let r = net
            .http
            .get(format!("{}/state/{pid}", cu1.url()))
            .send()
            .await
            .expect("state");
        (r.status().as_u16(), r.bytes().await.expect("bytes"))
    };
    assert_eq!(status, 200);
    assert!(state.len() >= 6 * 1024 * 1024);

    // Refusals.
    let (status, _) = get(&net.http, format!("{}/result/{}", cu1.url(), ids[0])).await;
    assert_eq!(status, 400, "process-id is required");
    let unknown = ao_core::encoding::b64url([9u8; 32]);
    let (status, _) = get(
        &net.http,
        format!("{}/result/{unknown}?process-id={pid}", cu1.url()),
    )
    .await;
    assert_eq!(status, 404);
    cu1.shutdown().await;

    // Restart: the stored checkpoint holds the last evaluated nonce; new messages continue from it.
    let last = net.eval(&pid, "count = count + 1 return count").await;
    let cu2 = cu(&net, 2).await;
    let (_, r) = get(
        &net.http,
        format!("{}/result/{last}?process-id={pid}", cu2.url()),
    )
    .await;
    assert_eq!(
        r["Output"], "7",
        "memory restored from the checkpoint (the failed message rolled back)"
    );
    let (_, r) = get(
        &net.http,
        format!("{}/result/{}?process-id={pid}", cu2.url(), ids[2]),
    )
    .await;
    assert_eq!(r["Output"], "3", "old results survive the restart");
    cu2.shutdown().await;
    // The CU's store closes once its last request is gone; retry while it is still releasing.
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(s) = ao_cu::store::Store::open(&net.dir.path().join("cu")) {
            reopened = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = reopened.expect("the CU's store reopens after shutdown");
    let raw = ao_core::encoding::decode_id("pid", &pid).expect("pid");
    let cp = store.checkpoint(&raw).expect("read").expect("a checkpoint");
    assert_eq!(cp.nonce, 8, "the checkpoint is at the last evaluated nonce");
    drop(store);
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_assigned_to_a_second_process_is_loaded_from_the_gateway() {
    let net = net().await;
    let a = net.spawn().await;
    let b = net.spawn_named("b").await;
    let m = net
        .eval(
            &a,
            "return tostring(msg.Target == env.Process.Id) .. ' ' .. msg.Nonce",
        )
        .await;
    let url = format!("{}/?process-id={b}&assign={m}", net.su().url());
    let r = net.http.post(url).send().await.expect("assign");
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    let assignment = body["id"].as_str().expect("id").to_string();
    // The CU reads a bare assignment's message from the gateway: wait for the SU's upload.
    let gateway = HttpGateway::new(&net.gateway().url(), &ClientConfig::default()).expect("gw");
    let mut uploaded = false;
    for _ in 0..600 {
        if !ao_arweave::Gateway::transactions_by_id(&gateway, std::slice::from_ref(&m))
            .await
            .expect("query")
            .is_empty()
        {
            uploaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        uploaded,
        "the SU's uploader did not deliver {m} to the gateway"
    );
    let cu = cu(&net, 100).await;
    let (_, in_a) = get(&net.http, format!("{}/result/{m}?process-id={a}", cu.url())).await;
    assert_eq!(in_a["Output"], "true 1");
    let (status, in_b) = get(
        &net.http,
        format!("{}/result/{assignment}?process-id={b}", cu.url()),
    )
    .await;
    assert_eq!(status, 200, "{in_b}");
    assert_eq!(
        in_b["Output"], "false 1",
        "B sees the message with its own nonce and A as Target"
    );
    let (_, by_message) = get(&net.http, format!("{}/result/{m}?process-id={b}", cu.url())).await;
    assert_eq!(by_message, in_b, "found by the assigned id too, within B");
    cu.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_mid_run_loses_no_result_of_the_messages_before_it() {
    // The SU's uploads go nowhere, so a message assigned from A to B never reaches the gateway
    // and B cannot be evaluated past it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let net = net_with(Some(&url)).await;
    let a = net.spawn().await;
    let b = net.spawn_named("b").await;
    let first = net.eval(&b, "n = 1 return n").await;
    let m = net.eval(&a, "return 'from A'").await;
    let r = net
        .http
        .post(format!("{}/?process-id={b}&assign={m}", net.su().url()))
        .send()
        .await
        .expect("assign");
    assert_eq!(r.status(), 200);
    let after = net.eval(&b, "return n").await;
    let cu = cu(&net, 100).await;
    // Evaluating B to `after` runs nonces 0 and 1, then fails at the assignment (nonce 2).
    let (status, _) = get(
        &net.http,
        format!("{}/result/{after}?process-id={b}", cu.url()),
    )
    .await;
    assert_eq!(status, 404, "the assigned message is not on the gateway");
    // The results evaluated before the failure were not stored; they must still be served.
    let (status, r) = get(
        &net.http,
        format!("{}/result/{first}?process-id={b}", cu.url()),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["Output"], "1");
    cu.shutdown().await;
    net.close().await;
}
