//! The `ao.compute.v1.Compute` service of the router: each call goes to the CU that owns its
//! process through that CU's own Compute client, retried once on the next choice when the owner
//! fails before answering (a transport error: refused, reset, going away). Streams (`Results`,
//! `Cron`, `State`) are passed through message by message, never gathered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ao_proto::common::v1 as pb;
use ao_proto::compute::v1::compute_client::ComputeClient;
use ao_proto::compute::v1::compute_server::{Compute, ComputeServer};
use ao_proto::compute::v1::{
    CronRequest, DryRunRequest, InfoRequest, ResultEdge, ResultRequest, ResultsRequest, StateChunk,
    StateRequest,
};
use ao_runtime::propagation::{TRACEPARENT, TRACESTATE, TracedChannel};
use futures_util::Stream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

use crate::Shared;
use crate::forward_http::MAX_ATTEMPTS;
use crate::handoff;
use crate::members::{MAX_GRPC_MESSAGE, Pool};

/// The service name, as `grpc.health.v1` reports it.
pub const SERVICE_NAME: &str = <ComputeServer<RouterCompute> as tonic::server::NamedService>::NAME;

/// The tonic service.
pub fn service(shared: Arc<Shared>) -> ComputeServer<RouterCompute> {
    ComputeServer::new(RouterCompute { shared })
        .max_decoding_message_size(MAX_GRPC_MESSAGE)
        .max_encoding_message_size(MAX_GRPC_MESSAGE)
}

/// The Compute service that forwards.
pub struct RouterCompute {
    shared: Arc<Shared>,
}

type Client = ComputeClient<TracedChannel>;
type EdgeStream = Pin<Box<dyn Stream<Item = Result<ResultEdge, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<StateChunk, Status>> + Send>>;

/// Whether a failed call never reached an answer from the member (the status was made by our
/// client: refused, reset, going away), so the member is to be ejected.
fn transport_failure(s: &Status) -> bool {
    std::error::Error::source(s).is_some()
}

/// Call `f` on the owner of `pid` in `pool`, once more on the next choice if the owner fails
/// before answering.
async fn call<T, R, F, Fut>(
    shared: &Shared,
    pool: &Pool,
    route: &'static str,
    pid: &str,
    msg: T,
    incoming: &MetadataMap,
    f: F,
) -> Result<Response<R>, Status>
where
    T: Clone,
    F: Fn(Client, Request<T>) -> Fut,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let ranking = pool.ranking(pid);
    let states: Vec<(String, bool)> = ranking
        .iter()
        .map(|c| (c.member.peer(), c.member.state().usable()))
        .collect();
    let mut attempts = 0;
    let mut last = Status::unavailable(format!("no member of the {} pool is healthy", pool.name));
    for (pos, choice) in ranking.iter().enumerate() {
        if !choice.member.state().usable() {
            continue;
        }
        if attempts == MAX_ATTEMPTS {
            break;
        }
        attempts += 1;
        if attempts > 1 {
            shared.metrics.retry(route);
        }
        let mut req = Request::new(msg.clone());
        for key in [TRACEPARENT, TRACESTATE] {
            if let Some(v) = incoming.get(key) {
                req.metadata_mut().insert(key, v.clone());
            }
        }
        let live: Vec<(&str, bool)> = states
            .iter()
            .enumerate()
            .map(|(i, (u, _))| (u.as_str(), ranking[i].member.state().usable()))
            .collect();
        let hint = handoff::handoff_from(&live, pos, pool.changed_recently()).join(",");
        if let Ok(v) = MetadataValue::try_from(hint.as_str())
            && !hint.is_empty()
        {
            req.metadata_mut().insert(handoff::HEADER, v);
        }
        match f(choice.member.grpc.clone(), req).await {
            Ok(r) => {
                shared.metrics.request(route, choice.member.url(), "ok");
                return Ok(r);
            }
            Err(s) if transport_failure(&s) || s.code() == tonic::Code::Unavailable => {
                let why = format!("{route}: {} ({})", s.message(), s.code());
                tracing::warn!(
                    member = choice.member.url(),
                    "{why}; retrying on the next choice"
                );
                if transport_failure(&s) {
                    pool.eject(&choice.member, why);
                }
                last = s;
            }
            Err(s) => {
                shared.metrics.request(route, choice.member.url(), "error");
                return Err(s);
            }
        }
    }
    shared.metrics.request(route, "none", "failed");
    Err(Status::unavailable(format!(
        "no CU of the {} pool could answer for process {pid}: {}",
        pool.name,
        last.message()
    )))
}

#[tonic::async_trait]
impl Compute for RouterCompute {
    async fn result(
        &self,
        req: Request<ResultRequest>,
    ) -> Result<Response<pb::EvalResult>, Status> {
        let (meta, _, msg) = req.into_parts();
        let pid = msg.process_id.clone();
        call(
            &self.shared,
            &self.shared.pool,
            "grpc.Result",
            &pid,
            msg,
            &meta,
            |mut c, r| async move { c.result(r).await },
        )
        .await
    }

    type ResultsStream = EdgeStream;

    async fn results(
        &self,
        req: Request<ResultsRequest>,
    ) -> Result<Response<Self::ResultsStream>, Status> {
        let (meta, _, msg) = req.into_parts();
        let pid = msg.process_id.clone();
        let r = call(
            &self.shared,
            &self.shared.pool,
            "grpc.Results",
            &pid,
            msg,
            &meta,
            |mut c, r| async move { c.results(r).await },
        )
        .await?;
        Ok(Response::new(Box::pin(r.into_inner()) as EdgeStream))
    }

    async fn dry_run(
        &self,
        req: Request<DryRunRequest>,
    ) -> Result<Response<pb::EvalResult>, Status> {
        let (meta, _, msg) = req.into_parts();
        let pid = msg.process_id.clone();
        call(
            &self.shared,
            self.shared.dry_run_pool(),
            "grpc.DryRun",
            &pid,
            msg,
            &meta,
            |mut c, r| async move { c.dry_run(r).await },
        )
        .await
    }

    type StateStream = ChunkStream;

    async fn state(
        &self,
        req: Request<StateRequest>,
    ) -> Result<Response<Self::StateStream>, Status> {
        let (meta, _, msg) = req.into_parts();
        let pid = msg.process_id.clone();
        let r = call(
            &self.shared,
            &self.shared.pool,
            "grpc.State",
            &pid,
            msg,
            &meta,
            |mut c, r| async move { c.state(r).await },
        )
        .await?;
        Ok(Response::new(Box::pin(r.into_inner()) as ChunkStream))
    }

    type CronStream = EdgeStream;

    async fn cron(&self, req: Request<CronRequest>) -> Result<Response<Self::CronStream>, Status> {
        let (meta, _, msg) = req.into_parts();
        let pid = msg.process_id.clone();
        let r = call(
            &self.shared,
            &self.shared.pool,
            "grpc.Cron",
            &pid,
            msg,
            &meta,
            |mut c, r| async move { c.cron(r).await },
        )
        .await?;
        Ok(Response::new(Box::pin(r.into_inner()) as EdgeStream))
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Result<Response<pb::UnitInfo>, Status> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // The router is no CU and has no wallet: its address is empty; `GET /` lists its members.
        Ok(Response::new(pb::UnitInfo {
            address: String::new(),
            timestamp_ms: now,
            kind: pb::UnitKind::Compute as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}
