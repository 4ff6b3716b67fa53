//! Wire-level checks of the generated code: prost encode/decode round trips, and one real gRPC
//! round trip (tonic server and generated client over loopback TCP).

// Tests fail loudly on unexpected values; the workspace's unwrap lint targets library code.

use std::net::SocketAddr;

use ao_proto::common::v1::{
    AssignmentOrder, AssignmentView, DataItem, EvalResult, OutboxMessage, Owner, ScheduledMessage,
    Spawn, Tag, UnitInfo, UnitKind,
};
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::scheduler_server::{Scheduler, SchedulerServer};
use ao_proto::scheduler::v1::{
    AssignRequest, GetMessageRequest, GetProcessRequest, InfoRequest, LatestRequest, NonceRange,
    ReadScheduleRequest, ScheduleRequest, ScheduleResponse, SubscribeRequest, TimestampRequest,
    TimestampResponse, read_schedule_request,
};
use prost::Message as _;
use tonic::codegen::tokio_stream;
use tonic::{Request, Response, Status};

const PID: &str = "pRoCeSs_iD_000000000000000000000000000000a";

fn tag(name: &str, value: &str) -> Tag {
    Tag {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn scheduled(nonce: u64) -> ScheduledMessage {
    let msg_id = format!("msg{nonce:040}");
    let timestamp_ms = 1_711_676_638_471 + nonce as i64;
    ScheduledMessage {
        message: Some(DataItem {
            id: msg_id.clone(),
            owner: Some(Owner {
                address: "addr".into(),
                key: "key".into(),
            }),
            data: vec![0xff, 0x00, b'h', b'i'],
            tags: vec![tag("Data-Protocol", "ao"), tag("Type", "Message")],
            signature: "sig".into(),
            anchor: Some(format!("{nonce:032}").into_bytes()),
            target: Some(PID.into()),
        }),
        assignment: Some(AssignmentView {
            id: format!("asg{nonce:040}"),
            owner: Some(Owner {
                address: "su".into(),
                key: "sukey".into(),
            }),
            tags: vec![
                tag("Process", PID),
                tag("Epoch", "0"),
                tag("Nonce", &nonce.to_string()),
                tag("Message", &msg_id),
            ],
            signature: "asig".into(),
            anchor: None,
            target: None,
        }),
        process_id: PID.into(),
        epoch: 0,
        nonce,
        timestamp_ms,
        block_height: 1_393_008,
        hash_chain: "hc".into(),
        message_id: Some(msg_id),
        exclude: vec![],
        traceparent: None,
    }
}

#[test]
fn scheduled_message_roundtrip() {
    let original = scheduled(7);
    let bytes = original.encode_to_vec();
    let decoded = ScheduledMessage::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, original);
    // Raw bytes survive (the SU JSON would have rendered them lossily).
    assert_eq!(
        decoded.message.as_ref().unwrap().data,
        vec![0xff, 0x00, b'h', b'i']
    );
}

#[test]
fn bare_assignment_keeps_absent_message() {
    let mut bare = scheduled(3);
    bare.message = None;
    bare.exclude = vec!["Data".into()];
    let decoded = ScheduledMessage::decode(bare.encode_to_vec().as_slice()).unwrap();
    assert!(decoded.message.is_none());
    assert_eq!(decoded.exclude, vec!["Data".to_owned()]);
    assert_eq!(decoded, bare);
}

#[test]
fn eval_result_roundtrip_keeps_presence() {
    let original = EvalResult {
        messages: vec![OutboxMessage {
            target: Some(PID.into()),
            anchor: Some("00000000000000000000000000000003".into()),
            tags: vec![tag("Action", "Credit-Notice")],
            data: Some(String::new()),
            data_is_json: false,
        }],
        spawns: vec![Spawn {
            target: None,
            anchor: Some("1".into()),
            tags: vec![tag("Module", "mod")],
            data: None,
            data_is_json: false,
        }],
        assignments: vec![AssignmentOrder {
            processes: vec![PID.into()],
            message: "m".into(),
            base_layer: Some(false),
            exclude: vec![],
        }],
        output: r#"{"data":"hi","prompt":"> ","print":true}"#.into(),
        output_is_json: true,
        error: None,
        gas_used: Some(12_345),
        attestations: vec![b"item".to_vec()],
        canonical_result: None,
    };
    let decoded = EvalResult::decode(original.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, original);
    // `optional` fields keep "present but empty" apart from "absent".
    assert_eq!(decoded.messages[0].data.as_deref(), Some(""));
    assert_eq!(decoded.spawns[0].data, None);
    assert_eq!(decoded.assignments[0].base_layer, Some(false));
    assert!(decoded.error.is_none());

    // The empty result encodes to nothing and decodes to the AO defaults.
    let empty = EvalResult::default();
    assert!(empty.encode_to_vec().is_empty());
    assert_eq!(EvalResult::decode(&[][..]).unwrap(), empty);
}

#[test]
fn file_descriptor_set_lists_all_files() {
    let fds = prost_types_free_check(ao_proto::FILE_DESCRIPTOR_SET);
    for name in [
        "ao/common/v1/common.proto",
        "ao/scheduler/v1/scheduler.proto",
        "ao/compute/v1/compute.proto",
        "ao/messenger/v1/messenger.proto",
    ] {
        assert!(
            fds.contains(&name.to_owned()),
            "{name} missing from {fds:?}"
        );
    }
}

/// Extracts the `name` (field 1) of every `file` (field 1) of an encoded FileDescriptorSet without
/// depending on prost-types.
fn prost_types_free_check(bytes: &[u8]) -> Vec<String> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct File {
        #[prost(string, tag = "1")]
        name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Set {
        #[prost(message, repeated, tag = "1")]
        file: Vec<File>,
    }
    Set::decode(bytes)
        .unwrap()
        .file
        .into_iter()
        .map(|f| f.name)
        .collect()
}

/// A scheduler that knows one process with three scheduled messages (nonces 1..=3).
struct FakeSu;

type ScheduleStream = tonic::codegen::BoxStream<ScheduledMessage>;

#[tonic::async_trait]
impl Scheduler for FakeSu {
    async fn schedule(
        &self,
        _request: Request<ScheduleRequest>,
    ) -> Result<Response<ScheduleResponse>, Status> {
        Err(Status::unimplemented("schedule"))
    }

    async fn assign(
        &self,
        _request: Request<AssignRequest>,
    ) -> Result<Response<ScheduleResponse>, Status> {
        Err(Status::unimplemented("assign"))
    }

    type ReadScheduleStream = ScheduleStream;

    async fn read_schedule(
        &self,
        request: Request<ReadScheduleRequest>,
    ) -> Result<Response<Self::ReadScheduleStream>, Status> {
        let request = request.into_inner();
        if request.process_id != PID {
            return Err(Status::not_found("Message or Process not found"));
        }
        let from = match request.range {
            Some(read_schedule_request::Range::Nonce(NonceRange { from, .. })) => from,
            _ => None,
        };
        let limit = request.limit.unwrap_or(100) as usize;
        let items: Vec<Result<ScheduledMessage, Status>> = (1..=3)
            .filter(|n| from.is_none_or(|f| *n > f))
            .take(limit)
            .map(|n| Ok(scheduled(n)))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    type SubscribeStream = ScheduleStream;

    async fn subscribe(
        &self,
        _request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("subscribe"))
    }

    async fn get_process(
        &self,
        _request: Request<GetProcessRequest>,
    ) -> Result<Response<ao_proto::common::v1::ProcessRecord>, Status> {
        Err(Status::unimplemented("get_process"))
    }

    async fn get_message(
        &self,
        _request: Request<GetMessageRequest>,
    ) -> Result<Response<ScheduledMessage>, Status> {
        Err(Status::unimplemented("get_message"))
    }

    async fn latest(
        &self,
        _request: Request<LatestRequest>,
    ) -> Result<Response<ScheduledMessage>, Status> {
        Ok(Response::new(scheduled(3)))
    }

    async fn timestamp(
        &self,
        _request: Request<TimestampRequest>,
    ) -> Result<Response<TimestampResponse>, Status> {
        Err(Status::unimplemented("timestamp"))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<UnitInfo>, Status> {
        Ok(Response::new(UnitInfo {
            address: "su-address".into(),
            timestamp_ms: 1_711_676_638_471,
            kind: UnitKind::Scheduler.into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_scheduler_roundtrip_over_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SchedulerServer::new(FakeSu))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let mut client = SchedulerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let info = client.info(InfoRequest {}).await.unwrap().into_inner();
    assert_eq!(info.address, "su-address");
    assert_eq!(info.kind(), UnitKind::Scheduler);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));

    // Full range: three entries in nonce order, then the stream ends.
    let mut stream = client
        .read_schedule(ReadScheduleRequest {
            process_id: PID.into(),
            range: None,
            limit: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(entry) = stream.message().await.unwrap() {
        got.push(entry);
    }
    assert_eq!(got, vec![scheduled(1), scheduled(2), scheduled(3)]);

    // Nonce mode, exclusive `from`.
    let mut stream = client
        .read_schedule(ReadScheduleRequest {
            process_id: PID.into(),
            range: Some(read_schedule_request::Range::Nonce(NonceRange {
                from: Some(1),
                to: None,
            })),
            limit: Some(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap(), Some(scheduled(2)));
    assert_eq!(stream.message().await.unwrap(), None);

    // Errors travel as gRPC statuses.
    let err = client
        .read_schedule(ReadScheduleRequest {
            process_id: "unknown".into(),
            range: None,
            limit: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), "Message or Process not found");

    let unimplemented = client
        .timestamp(TimestampRequest { process_id: None })
        .await
        .unwrap_err();
    assert_eq!(unimplemented.code(), tonic::Code::Unimplemented);

    server.abort();
}
