//! The Messenger gRPC service: Send, Assign, Monitor/Unmonitor, Trace and Info over tonic, with
//! the codes messenger.proto lists for refusals.

mod common;

use ao_core::ao::MessageBuilder;
use ao_proto::messenger::v1::messenger_client::MessengerClient;
use ao_proto::messenger::v1::{
    AssignRequest, InfoRequest, MonitorRequest, SendRequest, TraceKind, TraceRequest, TraceState,
};
use common::Computer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_trace_assign_monitor_and_info_over_grpc() {
    let c = Computer::start().await;
    let grpc = format!("http://{}", c.mu().expect("mu").grpc_addr);
    let mut client = MessengerClient::connect(grpc).await.expect("connect");

    let info = client
        .info(InfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.address, c.mu_address);

    let a = c.spawn("a", &[]).await;
    let b = c.spawn("b", &[]).await;
    c.eval(&b, "Handlers.add('ping', 'Ping', function(m) m.reply({Action = 'Pong'}) end); ao.addAssignable('all', function() return true end)")
        .await;
    let raw = ao_core::encoding::decode_id("pid", &a).expect("pid");
    let code = format!("Send({{Target = '{b}', Action = 'Ping'}})");
    let m = MessageBuilder::new(raw)
        .tag("Action", "Eval")
        .data(code)
        .sign(&c.user)
        .expect("message");
    let sent = client
        .send(SendRequest {
            item: m.item().as_bytes().to_vec(),
            client_ip: None,
        })
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.id, m.id());
    assert_eq!(sent.message, "Processing DataItem");

    // The trace fills in: the Eval, the Ping it pushed to b, the Pong b pushed back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let root = client
            .trace(TraceRequest {
                message_id: sent.id.clone(),
            })
            .await
            .expect("trace")
            .into_inner()
            .root
            .expect("root");
        let ping = root.children.first();
        let pong = ping.and_then(|p| p.children.first());
        if let (Some(ping), Some(pong)) = (ping, pong)
            && pong.state == TraceState::Computed as i32
        {
            assert_eq!(root.kind, TraceKind::Message as i32);
            assert_eq!(ping.process_id.as_deref(), Some(b.as_str()));
            assert_eq!(ping.from_process_id.as_deref(), Some(a.as_str()));
            assert_eq!(pong.process_id.as_deref(), Some(a.as_str()));
            assert_eq!(ping.stage, "end");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trace never completed: {root:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let assigned = client
        .assign(AssignRequest {
            process_id: b.clone(),
            message_id: sent.id.clone(),
            base_layer: false,
            exclude: Vec::new(),
            client_ip: None,
        })
        .await
        .expect("assign")
        .into_inner();
    assert_eq!(assigned.id.len(), 43);

    // Refusals keep their meaning: a broken item is INVALID_ARGUMENT; unmonitoring a process that
    // is not monitored is NOT_FOUND; monitoring twice is ALREADY_EXISTS.
    let e = client
        .send(SendRequest {
            item: b"junk".to_vec(),
            client_ip: None,
        })
        .await
        .expect_err("junk");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let monitor = ao_core::DataItemBuilder::new()
        .target(raw)
        .data(" ")
        .sign(&c.user)
        .expect("item");
    let req = || MonitorRequest {
        item: monitor.as_bytes().to_vec(),
    };
    let e = client.unmonitor(req()).await.expect_err("not monitored");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let r = client.monitor(req()).await.expect("monitor").into_inner();
    assert_eq!(r.process_id, a);
    let e = client.monitor(req()).await.expect_err("twice");
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    client.unmonitor(req()).await.expect("unmonitor");
    c.stop().await;
}
