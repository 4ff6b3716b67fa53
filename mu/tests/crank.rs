//! The crank end to end on a whole local computer: messages between processes, a token transfer
//! with its notices, a spawn and its `Spawned` notice, an assignment to two processes, a cron
//! process ticking through a monitor, and the trace of it all.

mod common;

use common::Computer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ping_pong_between_two_processes() {
    let c = Computer::start().await;
    let a = c.spawn("a", &[]).await;
    let b = c.spawn("b", &[]).await;
    let r = c
        .eval(&b, "Handlers.add('ping', 'Ping', function(msg) msg.reply({Action = 'Pong', Data = 'pong!'}) end)")
        .await;
    assert_eq!(r.get("Error"), None, "{r}");
    let r = c
        .eval(&a, &format!(
            "Got = 'nothing'; Handlers.add('pong', 'Pong', function(msg) Got = msg.Data .. ' from ' .. msg.From end); Send({{Target = '{b}', Action = 'Ping'}})"
        ))
        .await;
    assert_eq!(r.get("Error"), None, "{r}");
    c.wait_for(&a, "Got", &format!("pong! from {b}"), 30).await;
    c.stop().await;
}

/// SUs that verify only RSA and Ethereum items (the reference SU) refuse an ed25519 push, so an MU
/// pushing to them signs with secp256k1: its pushes are scheduled, and the processes trust them by
/// the MU's address as their Authority.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_mu_with_an_ethereum_key_pushes_what_processes_send() {
    let key = ao_core::wallet::Wallet::generate(ao_core::wallet::WalletKind::Ethereum)
        .expect("secp256k1 key");
    // Processes trust the MU by the Owner address SUs give its pushes: sha256 of its key.
    let address = ao_mu::queue::address_of(&key);
    assert_eq!(address.len(), 43, "{address}");
    // What makes a re-push after a crash the same item: signing it again gives the same id.
    let sign = || {
        ao_core::DataItemBuilder::new()
            .tag("Action", "Ping")
            .data("same")
            .sign(&key)
            .expect("sign")
            .id()
    };
    assert_eq!(sign(), sign());
    let c = Computer::start_with_mu_key(key).await;
    assert_eq!(c.mu_address, address);
    let a = c.spawn("a", &[]).await;
    let b = c.spawn("b", &[]).await;
    let r = c
        .eval(&b, "Handlers.add('ping', 'Ping', function(msg) msg.reply({Action = 'Pong', Data = 'pong!'}) end)")
        .await;
    assert_eq!(r.get("Error"), None, "{r}");
    let r = c
        .eval(&a, &format!(
            "Got = 'nothing'; Handlers.add('pong', 'Pong', function(msg) Got = msg.Data .. ' from ' .. msg.From end); Send({{Target = '{b}', Action = 'Ping'}})"
        ))
        .await;
    assert_eq!(r.get("Error"), None, "{r}");
    c.wait_for(&a, "Got", &format!("pong! from {b}"), 30).await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_transfer_notifies_both_sides_and_the_trace_shows_it() {
    let c = Computer::start().await;
    let token = c.spawn("token", &[]).await;
    let alice = c.spawn("alice", &[]).await;
    let bob = c.spawn("bob", &[]).await;
    let r = c
        .eval(
            &token,
            &format!("Blueprint('token'); Balances = {{['{alice}'] = '100'}}"),
        )
        .await;
    assert_eq!(r.get("Error"), None, "{r}");
    c.eval(&bob, "Credit = 'none'; Handlers.add('credit', 'Credit-Notice', function(m) Credit = m.Quantity .. ' from ' .. m.Sender end)")
        .await;
    let start = c
        .send(
            &alice,
            &[("Action", "Eval")],
            &format!(
                "Debit = 'none'; Handlers.add('debit', 'Debit-Notice', function(m) Debit = m.Quantity .. ' to ' .. m.Recipient end); \
                 Send({{Target = '{token}', Action = 'Transfer', Recipient = '{bob}', Quantity = '30'}})"
            ),
        )
        .await;
    c.wait_for(&alice, "Debit", &format!("30 to {bob}"), 30)
        .await;
    c.wait_for(&bob, "Credit", &format!("30 from {alice}"), 30)
        .await;
    c.wait_for(
        &token,
        &format!("Balances['{alice}'] .. ' ' .. Balances['{bob}']"),
        "70 30",
        10,
    )
    .await;

    // The trace: the Eval pushed the Transfer, whose result pushed the two notices.
    let r = c
        .http
        .get(format!("{}/trace/{start}", c.mu_url()))
        .send()
        .await
        .expect("trace");
    let trace: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(trace["state"], "computed", "{trace:#}");
    let transfer = &trace["children"][0];
    assert_eq!(transfer["process"], serde_json::json!(token));
    assert_eq!(transfer["from_process"], serde_json::json!(alice));
    let notices: Vec<&str> = transfer["children"]
        .as_array()
        .expect("notices")
        .iter()
        .filter_map(|n| n["process"].as_str())
        .collect();
    assert_eq!(notices, [alice.as_str(), bob.as_str()], "{trace:#}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_spawns_a_child_and_hears_spawned_then_the_child_s_boot_message() {
    let c = Computer::start().await;
    let parent = c.spawn("parent", &[]).await;
    let code = format!(
        "Child = 'none'; Hello = 'none'; \
         Handlers.add('spawned', 'Spawned', function(m) Child = m.Process end); \
         Handlers.add('hello', 'Hello-Parent', function(m) Hello = m.From end); \
         Spawn({{Name = 'kid', Authority = '{mu}', ['On-Boot'] = 'Data', \
                 Data = \"Send({{Target = Owner, Action = 'Hello-Parent'}})\"}})",
        mu = c.mu_address
    );
    let r = c.eval(&parent, &code).await;
    assert_eq!(r.get("Error"), None, "{r}");
    assert_eq!(r["Spawns"].as_array().map(Vec::len), Some(1), "{r}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let child = loop {
        let v = c.peek(&parent, "Child").await;
        if v != "none" && !v.is_empty() {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no Spawned notice");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    // The child's boot code (On-Boot) ran with the parent as its Owner, and its message came back.
    c.wait_for(&parent, "Hello", &child, 30).await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_message_assigned_to_two_processes() {
    let c = Computer::start().await;
    let origin = c.spawn("origin", &[]).await;
    let p2 = c.spawn("p2", &[]).await;
    let p3 = c.spawn("p3", &[]).await;
    for p in [&p2, &p3] {
        c.eval(p, "Seen = 'none'; ao.addAssignable('all', function() return true end); Handlers.add('note', 'Note', function(m) Seen = m.Data end)")
            .await;
    }
    let m = c.send(&origin, &[("Action", "Note")], "for everyone").await;
    for p in [&p2, &p3] {
        let r = c
            .http
            .post(format!("{}/?process-id={p}&assign={m}", c.mu_url()))
            .send()
            .await
            .expect("assign");
        assert_eq!(r.status().as_u16(), 202);
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        assert_eq!(v["message"], "Processing Assignment");
        assert!(v["id"].as_str().is_some_and(|id| id.len() == 43), "{v}");
    }
    for p in [&p2, &p3] {
        c.wait_for(p, "Seen", "for everyone", 30).await;
    }
    // Only one of the two ids: 400 with the reference's words.
    let r = c
        .http
        .post(format!("{}/?process-id={p2}", c.mu_url()))
        .send()
        .await
        .expect("assign");
    assert_eq!(r.status().as_u16(), 400);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_monitored_cron_process_pushes_its_ticks() {
    let c = Computer::start().await;
    let listener = c.spawn("listener", &[]).await;
    c.eval(
        &listener,
        "Ticks = 0; Handlers.add('tick', 'Tick-Seen', function() Ticks = Ticks + 1 end)",
    )
    .await;
    let ticker = c
        .spawn(
            "ticker",
            &[("Cron-Interval", "1-second"), ("Cron-Tag-Action", "Tick")],
        )
        .await;
    c.eval(&ticker, &format!("Handlers.add('tick', 'Tick', function() Send({{Target = '{listener}', Action = 'Tick-Seen'}}) end)"))
        .await;
    let raw = ao_core::encoding::decode_id("pid", &ticker).expect("pid");
    let item = ao_core::DataItemBuilder::new()
        .target(raw)
        .data(" ")
        .sign(&c.user)
        .expect("monitor item");
    let r = c
        .http
        .post(format!("{}/monitor/{ticker}", c.mu_url()))
        .body(item.as_bytes().to_vec())
        .send()
        .await
        .expect("monitor");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("text"), "Monitoring process");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n: u64 = c.peek(&listener, "Ticks").await.parse().unwrap_or(0);
        if n >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no ticks pushed");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The monitor survives a restart of the MU: ticks keep coming.
    let mut c = c;
    c.computer
        .stop_unit(ao_local::UnitId::Mu)
        .await
        .expect("stop the MU");
    let before: u64 = c.peek(&listener, "Ticks").await.parse().unwrap_or(0);
    c.computer
        .start_unit(ao_local::UnitId::Mu)
        .await
        .expect("start the MU again");
    c.mu_url = c.mu().expect("in-process MU").url();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n: u64 = c.peek(&listener, "Ticks").await.parse().unwrap_or(0);
        if n >= before + 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ticks after the restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let r = c
        .http
        .delete(format!("{}/monitor/{ticker}", c.mu_url()))
        .body(item.as_bytes().to_vec())
        .send()
        .await
        .expect("unmonitor");
    assert_eq!(r.text().await.expect("text"), "Process deleted");
    c.stop().await;
}
