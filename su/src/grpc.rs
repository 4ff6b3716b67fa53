//! The `ao.scheduler.v1.Scheduler` gRPC service over [`Su`]: the same operations as the HTTP API,
//! plus `ReadSchedule` as a server stream and `Subscribe`, the live tail a CU follows.

use std::pin::Pin;
use std::sync::Arc;

use ao_core::DataItem;
use ao_core::encoding::b64url;
use ao_proto::common::v1 as pb;
use ao_proto::scheduler::v1::scheduler_server::{Scheduler, SchedulerServer};
use ao_proto::scheduler::v1::{
    AssignRequest, GetMessageRequest, GetProcessRequest, InfoRequest, LatestRequest,
    ReadScheduleRequest, ScheduleRequest, ScheduleResponse, SubscribeRequest, TimestampRequest,
    TimestampResponse, read_schedule_request,
};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::SuError;
use crate::service::{DEFAULT_PAGE_LIMIT, Range, Su};
use crate::store::{Entry, StoredProcess};
use crate::writer::{Scheduled, now_ms};

/// The SU's gRPC service name, as `grpc.health.v1` reports it.
pub const SERVICE_NAME: &str =
    <SchedulerServer<GrpcScheduler> as tonic::server::NamedService>::NAME;

/// The tonic service of the SU.
pub fn service(su: Arc<Su>) -> SchedulerServer<GrpcScheduler> {
    SchedulerServer::new(GrpcScheduler(su))
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024)
}

/// The Scheduler service implementation: a thin mapping onto [`Su`].
pub struct GrpcScheduler(Arc<Su>);

fn owner(item: &DataItem) -> pb::Owner {
    pb::Owner {
        address: item.owner_address(),
        key: b64url(item.owner()),
    }
}

fn tags(item: &DataItem) -> Vec<pb::Tag> {
    item.tags()
        .iter()
        .map(|t| pb::Tag {
            name: t.name.clone(),
            value: t.value.clone(),
        })
        .collect()
}

fn data_item(item: &DataItem) -> pb::DataItem {
    pb::DataItem {
        id: item.id(),
        owner: Some(owner(item)),
        data: item.data().to_vec(),
        tags: tags(item),
        signature: b64url(item.signature()),
        anchor: item.anchor().map(|a| a.to_vec()),
        target: item.target_id(),
    }
}

fn assignment_view(item: &DataItem) -> pb::AssignmentView {
    pb::AssignmentView {
        id: item.id(),
        owner: Some(owner(item)),
        tags: tags(item),
        signature: b64url(item.signature()),
        anchor: item.anchor().map(|a| a.to_vec()),
        target: item.target_id(),
    }
}

/// An entry as the gRPC contract carries it, with typed copies of the assignment's tags.
pub fn scheduled_message(e: &Entry) -> pb::ScheduledMessage {
    let a = &e.assignment;
    pb::ScheduledMessage {
        message: e.message.as_ref().map(data_item),
        assignment: Some(assignment_view(a.item())),
        process_id: a.process_id(),
        epoch: a.epoch(),
        nonce: a.nonce(),
        timestamp_ms: a.timestamp() as i64,
        block_height: a.block_height(),
        hash_chain: a.hash_chain(),
        message_id: a.message_id(),
        exclude: a.exclude().to_vec(),
        traceparent: e.traceparent.clone(),
    }
}

fn process_record(p: &StoredProcess, own: Option<&Entry>) -> pb::ProcessRecord {
    let item = p.process.item();
    pb::ProcessRecord {
        process_id: item.id(),
        block_height: p.block_height,
        timestamp_ms: p.timestamp as i64,
        owner: Some(owner(item)),
        tags: tags(item),
        data: item.data().to_vec(),
        anchor: item.anchor().map(|a| a.to_vec()),
        signature: b64url(item.signature()),
        target: item.target_id(),
        assignment: own.map(|e| assignment_view(e.assignment.item())),
    }
}

fn reply(s: Scheduled) -> ScheduleResponse {
    ScheduleResponse {
        id: s.id,
        timestamp_ms: s.timestamp as i64,
        nonce: s.nonce,
        assignment_id: s.assignment_id,
    }
}

fn status(e: SuError) -> Status {
    e.grpc_status()
}

type EntryStream = Pin<Box<dyn Stream<Item = Result<pb::ScheduledMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Scheduler for GrpcScheduler {
    async fn schedule(
        &self,
        req: Request<ScheduleRequest>,
    ) -> Result<Response<ScheduleResponse>, Status> {
        let started = std::time::Instant::now();
        let s = self
            .0
            .post_item(req.into_inner().item.into())
            .await
            .map_err(status)?;
        self.0.metrics().observe_latency(started);
        Ok(Response::new(reply(s)))
    }

    async fn assign(
        &self,
        req: Request<AssignRequest>,
    ) -> Result<Response<ScheduleResponse>, Status> {
        let r = req.into_inner();
        let exclude = r.exclude.into_iter().filter(|e| !e.is_empty()).collect();
        let s = self
            .0
            .assign(&r.process_id, &r.message_id, r.base_layer, exclude)
            .await
            .map_err(status)?;
        Ok(Response::new(reply(s)))
    }

    type ReadScheduleStream = EntryStream;

    async fn read_schedule(
        &self,
        req: Request<ReadScheduleRequest>,
    ) -> Result<Response<Self::ReadScheduleStream>, Status> {
        let r = req.into_inner();
        let range = match r.range {
            Some(read_schedule_request::Range::Nonce(n)) => Range::Nonce {
                from: n.from,
                to: n.to,
            },
            Some(read_schedule_request::Range::Timestamp(t)) => Range::Timestamp {
                from: t.from.map(|v| v.max(0) as u64),
                to: t.to.map(|v| if v < 0 { 0 } else { v as u64 }),
            },
            None => Range::Timestamp {
                from: None,
                to: None,
            },
        };
        let limit = r.limit.map_or(DEFAULT_PAGE_LIMIT, u64::from);
        let (pid, plan) = self.0.plan(&r.process_id, range, limit).map_err(status)?;
        let rx = self.0.stream_plan(pid, plan);
        let stream =
            ReceiverStream::new(rx).map(|e| e.map(|e| scheduled_message(&e)).map_err(status));
        Ok(Response::new(Box::pin(stream)))
    }

    type SubscribeStream = EntryStream;

    async fn subscribe(
        &self,
        req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = req.into_inner();
        let rx = self
            .0
            .subscribe(&r.process_id, r.from_nonce)
            .map_err(status)?;
        let stream =
            ReceiverStream::new(rx).map(|e| e.map(|e| scheduled_message(&e)).map_err(status));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_process(
        &self,
        req: Request<GetProcessRequest>,
    ) -> Result<Response<pb::ProcessRecord>, Status> {
        let (p, own) = self
            .0
            .process(&req.into_inner().process_id)
            .map_err(status)?;
        Ok(Response::new(process_record(&p, own.as_ref())))
    }

    async fn get_message(
        &self,
        req: Request<GetMessageRequest>,
    ) -> Result<Response<pb::ScheduledMessage>, Status> {
        let r = req.into_inner();
        let e = self
            .0
            .message(&r.process_id, &r.id)
            .map_err(status)?
            .ok_or_else(|| {
                status(SuError::NotFound(format!(
                    "Message {} not found in process {}",
                    r.id, r.process_id
                )))
            })?;
        Ok(Response::new(scheduled_message(&e)))
    }

    async fn latest(
        &self,
        req: Request<LatestRequest>,
    ) -> Result<Response<pb::ScheduledMessage>, Status> {
        let e = self
            .0
            .latest(&req.into_inner().process_id)
            .map_err(status)?;
        Ok(Response::new(scheduled_message(&e)))
    }

    async fn timestamp(
        &self,
        _req: Request<TimestampRequest>,
    ) -> Result<Response<TimestampResponse>, Status> {
        let (now, height) = self.0.timestamp();
        let height = height.ok_or_else(|| {
            status(SuError::Unavailable(
                "Server is warming up: no block height from the gateway yet".into(),
            ))
        })?;
        Ok(Response::new(TimestampResponse {
            timestamp_ms: now as i64,
            block_height: height,
        }))
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Result<Response<pb::UnitInfo>, Status> {
        Ok(Response::new(pb::UnitInfo {
            address: self.0.address().to_string(),
            timestamp_ms: now_ms() as i64,
            kind: pb::UnitKind::Scheduler as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}
