//! The project's Lua process module (modules/lua) on the CU service: published on the local
//! gateway with its own tags, a process spawned through the SU, a token loaded by Eval, a
//! transfer answered with its notices over `/result`, and a dry-run of a balance.

mod common;

use ao_arweave::Bundler;
use ao_core::ao::MessageBuilder;
use common::net::{cu, get, net};
use serde_json::json;

fn tag<'a>(msg: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    msg["Tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["value"].as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_process_of_the_lua_module_runs_on_the_cu() {
    let net = net().await;
    let module = ao_module_lua::module_builder()
        .sign(&net.user)
        .expect("module item");
    net.gateway().upload(module.item()).await.expect("publish");
    let pid = net.spawn_on(&module.id(), &[("Name", "Coin")]).await;
    net.eval(&pid, "Blueprint('token'); Balances[Owner] = '1000'")
        .await;

    let raw = ao_core::encoding::decode_id("pid", &pid).expect("pid");
    let transfer = MessageBuilder::new(raw)
        .tag("Action", "Transfer")
        .tag("Recipient", "RECIPIENT-ADDRESS")
        .tag("Quantity", "250")
        .sign(&net.user)
        .expect("message");
    let id = net.post(transfer.item().as_bytes()).await;
    let cu = cu(&net, 100).await;

    let (status, result) = get(
        &net.http,
        format!("{}/result/{id}?process-id={pid}", cu.url()),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result.get("Error"), None, "{result}");
    let msgs = result["Messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2, "{result}");
    let user = transfer.item().owner_address();
    assert_eq!(msgs[0]["Target"], json!(user));
    assert_eq!(tag(&msgs[0], "Action"), Some("Debit-Notice"));
    assert_eq!(msgs[1]["Target"], "RECIPIENT-ADDRESS");
    assert_eq!(tag(&msgs[1], "Action"), Some("Credit-Notice"));
    assert_eq!(tag(&msgs[1], "Sender"), Some(user.as_str()));
    assert_eq!(msgs[1]["Anchor"], "00000000000000000000000000000002");

    let dry = json!({"Target": pid, "Owner": "ANYONE", "Tags": [
        {"name": "Action", "value": "Balance"}, {"name": "Recipient", "value": "RECIPIENT-ADDRESS"}]});
    let r = net
        .http
        .post(format!("{}/dry-run?process-id={pid}", cu.url()))
        .header("content-type", "application/json")
        .body(dry.to_string())
        .send()
        .await
        .expect("dry-run");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(tag(&body["Messages"][0], "Balance"), Some("250"), "{body}");

    cu.shutdown().await;
    net.close().await;
}
