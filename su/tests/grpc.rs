//! The Scheduler gRPC service over loopback: the same operations as HTTP, `ReadSchedule` as a
//! stream, and `Subscribe` as a gap-free live tail, including a subscriber that falls far behind.

mod common;

use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    AssignRequest, GetMessageRequest, GetProcessRequest, InfoRequest, LatestRequest, NonceRange,
    ReadScheduleRequest, ScheduleRequest, SubscribeRequest, TimestampRequest,
    read_schedule_request,
};
use common::*;
use futures_util::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

async fn client(net: &Net) -> SchedulerClient<Channel> {
    SchedulerClient::connect(format!("http://{}", net.su.grpc_addr))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_read_and_look_up_over_grpc() {
    let net = net().await;
    let mut c = client(&net).await;
    let info = c.info(InfoRequest {}).await.expect("info").into_inner();
    assert_eq!(info.address, net.su.address);
    assert!(
        c.timestamp(TimestampRequest { process_id: None })
            .await
            .is_ok()
    );

    let p = net.process();
    let r = c
        .schedule(ScheduleRequest {
            item: p.item().as_bytes().to_vec(),
        })
        .await
        .expect("process")
        .into_inner();
    assert_eq!((r.id.as_str(), r.nonce), (p.id().as_str(), 0));
    let mut ids = Vec::new();
    for n in 1..=10 {
        let m = net.message(p.raw_id(), n);
        let r = c
            .schedule(ScheduleRequest {
                item: m.item().as_bytes().to_vec(),
            })
            .await
            .expect("message")
            .into_inner();
        assert_eq!(r.nonce, n);
        assert_eq!(r.id, m.id());
        ids.push((m.id(), r.assignment_id));
    }

    let stream = c
        .read_schedule(ReadScheduleRequest {
            process_id: p.id(),
            range: Some(read_schedule_request::Range::Nonce(NonceRange {
                from: Some(3),
                to: None,
            })),
            limit: Some(1000),
        })
        .await
        .expect("read")
        .into_inner();
    let got: Vec<u64> = stream.map(|e| e.expect("entry").nonce).collect().await;
    assert_eq!(got, (4..=10).collect::<Vec<_>>());

    let e = c
        .get_message(GetMessageRequest {
            process_id: p.id(),
            id: ids[4].0.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(e.nonce, 5);
    assert_eq!(e.message_id.as_deref(), Some(ids[4].0.as_str()));
    assert_eq!(e.assignment.expect("a").id, ids[4].1);
    let latest = c
        .latest(LatestRequest { process_id: p.id() })
        .await
        .expect("latest")
        .into_inner();
    assert_eq!(latest.nonce, 10);
    let rec = c
        .get_process(GetProcessRequest { process_id: p.id() })
        .await
        .expect("p")
        .into_inner();
    assert_eq!(rec.process_id, p.id());
    assert!(rec.assignment.is_some(), "AOP-6 process assignment");

    // Refusals carry the documented codes.
    let bad = c
        .schedule(ScheduleRequest {
            item: b"junk".to_vec(),
        })
        .await
        .expect_err("junk");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let dup = net.message(p.raw_id(), 1);
    let dup = c
        .schedule(ScheduleRequest {
            item: dup.item().as_bytes().to_vec(),
        })
        .await
        .expect_err("dup");
    assert_eq!(dup.code(), Code::AlreadyExists);
    let missing = c
        .get_message(GetMessageRequest {
            process_id: p.id(),
            id: ao_core::encoding::b64url([1u8; 32]),
        })
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
    let no_tx = c
        .assign(AssignRequest {
            process_id: p.id(),
            message_id: ao_core::encoding::b64url([1u8; 32]),
            base_layer: false,
            exclude: vec![],
        })
        .await
        .expect_err("unknown tx");
    assert_eq!(no_tx.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_replays_then_follows_without_gaps_even_when_far_behind() {
    let net = net().await;
    let mut c = client(&net).await;
    let p = net.process();
    c.schedule(ScheduleRequest {
        item: p.item().as_bytes().to_vec(),
    })
    .await
    .expect("p");
    for n in 1..=3 {
        let m = net.message(p.raw_id(), n);
        c.schedule(ScheduleRequest {
            item: m.item().as_bytes().to_vec(),
        })
        .await
        .expect("m");
    }
    // From nonce 1: replays 2 and 3, then live entries.
    let mut tail = c
        .subscribe(SubscribeRequest {
            process_id: p.id(),
            from_nonce: Some(1),
        })
        .await
        .expect("subscribe")
        .into_inner();
    // Live only: sees nothing before it subscribed.
    let mut live = c
        .subscribe(SubscribeRequest {
            process_id: p.id(),
            from_nonce: None,
        })
        .await
        .expect("subscribe")
        .into_inner();

    // Far more writes than the per-process broadcast buffer, while nobody reads: both subscribers
    // lag and must catch up from the store.
    let total = ao_su::tail::TAIL_BUFFER as u64 + 200;
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let mut c = c.clone();
            let msgs: Vec<Vec<u8>> = (0..)
                .map(|i| 4 + w + 8 * i)
                .take_while(|n| *n < 4 + total)
                .map(|n| net.message(p.raw_id(), n).item().as_bytes().to_vec())
                .collect();
            tokio::spawn(async move {
                for item in msgs {
                    c.schedule(ScheduleRequest { item }).await.expect("write");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let last = 3 + total;
    let mut expect = 2;
    while expect <= last {
        let e = tail.next().await.expect("open").expect("entry");
        assert_eq!(
            e.nonce, expect,
            "replayed tail must be gap-free and ordered"
        );
        expect += 1;
    }
    let mut expect = 4;
    while expect <= last {
        let e = live.next().await.expect("open").expect("entry");
        assert_eq!(e.nonce, expect, "live tail must be gap-free and ordered");
        expect += 1;
    }
    // And it stays live.
    let m = net.message(p.raw_id(), 99_999);
    c.schedule(ScheduleRequest {
        item: m.item().as_bytes().to_vec(),
    })
    .await
    .expect("m");
    let e = tail.next().await.expect("open").expect("entry");
    assert_eq!((e.nonce, e.message_id), (last + 1, Some(m.id())));

    let unknown = c
        .subscribe(SubscribeRequest {
            process_id: ao_core::encoding::b64url([1u8; 32]),
            from_nonce: None,
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_live_tails_closes_the_store_and_a_restart_resumes() {
    let dir = tempfile::tempdir().expect("tmp");
    let gw = gateway(dir.path()).await;
    let su = ao_su::serve(su_config(dir.path(), &gw.url(), "su"))
        .await
        .expect("su");
    let user = ao_core::wallet::Ed25519Wallet::generate();
    let p = ao_core::ao::ProcessBuilder::new(MODULE, su.address.clone())
        .sign(&user)
        .expect("p");
    let mut c = SchedulerClient::connect(format!("http://{}", su.grpc_addr))
        .await
        .expect("c");
    c.schedule(ScheduleRequest {
        item: p.item().as_bytes().to_vec(),
    })
    .await
    .expect("p");
    let mut tail = c
        .subscribe(SubscribeRequest {
            process_id: p.id(),
            from_nonce: Some(0),
        })
        .await
        .expect("subscribe")
        .into_inner();
    tokio::time::timeout(std::time::Duration::from_secs(5), su.shutdown())
        .await
        .expect("a live subscriber must not hold the shutdown");
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), tail.next())
        .await
        .expect("the tail ends");
    assert!(end.is_none() || end.is_some_and(|r| r.is_err()));

    // The same directory opens again (the store was closed) and holds the process.
    let su = ao_su::serve(su_config(dir.path(), &gw.url(), "su"))
        .await
        .expect("restart");
    let mut c = SchedulerClient::connect(format!("http://{}", su.grpc_addr))
        .await
        .expect("c");
    let rec = c
        .get_process(GetProcessRequest { process_id: p.id() })
        .await
        .expect("process after restart")
        .into_inner();
    assert_eq!(rec.process_id, p.id());
    su.shutdown().await;
}

/// A subscriber that never reads is cut off once it has read nothing for the stall time: its
/// stream ends with an error naming where to subscribe again, and the SU no longer holds entries
/// for it (before, its task waited forever on the full channel, pinning up to `TAIL_BUFFER`
/// entries of the process in the broadcast buffer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_subscriber_is_cut_off_and_frees_what_it_held() {
    let net = net_with(|c| c.subscriber_stall = std::time::Duration::from_millis(300)).await;
    let mut c = client(&net).await;
    let p = net.process();
    c.schedule(ScheduleRequest {
        item: p.item().as_bytes().to_vec(),
    })
    .await
    .expect("p");
    // A client with a small HTTP/2 window, so the transport buffers little of what it ignores.
    let silent_channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", net.su.grpc_addr))
            .expect("endpoint")
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .expect("connect");
    let mut silent = SchedulerClient::new(silent_channel)
        .subscribe(SubscribeRequest {
            process_id: p.id(),
            from_nonce: None,
        })
        .await
        .expect("subscribe")
        .into_inner();
    let pid = p.raw_id();
    assert_eq!(net.su.su.tail().subscribers(&pid), 1);

    let data = "x".repeat(16 * 1024);
    let mut written = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while net.su.su.tail().subscribers(&pid) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a subscriber silent through {written} writes was never cut off ({} entries held)",
            net.su.su.tail().buffered(&pid)
        );
        assert!(net.su.su.tail().buffered(&pid) <= ao_su::tail::TAIL_BUFFER);
        written += 1;
        let m = ao_core::ao::MessageBuilder::new(pid)
            .tag("N", written.to_string())
            .data(data.clone())
            .sign(&net.user)
            .expect("message");
        c.schedule(ScheduleRequest {
            item: m.item().as_bytes().to_vec(),
        })
        .await
        .expect("write");
    }
    // Nothing is held for it any more.
    assert_eq!(net.su.su.tail().buffered(&pid), 0);

    // What it had been sent is still readable, then the stream ends with the reason.
    let mut expect = 1;
    let end = loop {
        match silent.next().await {
            Some(Ok(e)) => {
                assert_eq!(e.nonce, expect, "gap-free up to the cut");
                expect += 1;
            }
            Some(Err(status)) => break status,
            None => panic!("the stream ended without saying why"),
        }
    };
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(
        end.message()
            .contains(&format!("subscribe again with from_nonce {}", expect - 1)),
        "{end:?}"
    );
    assert!(silent.next().await.is_none());
}
