//! The `ao.compute.v1.Compute` gRPC service over [`Evaluator`]: the operations of the HTTP API
//! with typed results, as the MU and tools call them. Results are the same JSON the HTTP API
//! serves, mapped field by field onto `EvalResult`.

use std::pin::Pin;
use std::sync::Arc;

use ao_proto::common::v1 as pb;
use ao_proto::compute::v1::compute_server::{Compute, ComputeServer};
use ao_proto::compute::v1::{
    CronRequest, DryRunRequest, HandoffPoint, InfoRequest, ResultEdge, ResultRequest,
    ResultsRequest, SortOrder, StateChunk, StateHeader, StateRequest,
};
use futures_util::Stream;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::error::CuError;
use crate::http::{DEFAULT_CRON_LIMIT, DEFAULT_RESULTS_LIMIT, Shape, cursor, listing_of};
use crate::process::{Evaluator, Target};
use crate::store::Page;

/// Bytes of memory per `StateChunk`: far below gRPC's 4 MiB default message limit.
pub const STATE_CHUNK: usize = 1 << 20;

/// The CU's gRPC service name, as `grpc.health.v1` reports it.
pub const SERVICE_NAME: &str = <ComputeServer<GrpcCompute> as tonic::server::NamedService>::NAME;

/// The tonic service of the CU.
pub fn service(evaluator: Arc<Evaluator>, address: String) -> ComputeServer<GrpcCompute> {
    ComputeServer::new(GrpcCompute { evaluator, address })
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024)
}

/// The Compute service implementation.
pub struct GrpcCompute {
    evaluator: Arc<Evaluator>,
    address: String,
}

/// A request that names its process, so its `ao-handoff-from` metadata can be kept for it.
trait ForProcess {
    fn process_id(&self) -> &str;
}

macro_rules! for_process {
    ($($t:ty),*) => {$(
        impl ForProcess for $t {
            fn process_id(&self) -> &str {
                &self.process_id
            }
        }
    )*};
}

for_process!(ResultRequest, DryRunRequest, StateRequest, CronRequest);

impl GrpcCompute {
    /// Keep the peers `req`'s `ao-handoff-from` metadata names for its process.
    fn hint<T: ForProcess>(&self, req: &Request<T>) {
        let peers = crate::handoff::peers_in_metadata(req.metadata());
        self.evaluator.hint(req.get_ref().process_id(), peers);
    }
}

fn status(e: CuError) -> Status {
    let msg = e.to_string();
    match e {
        CuError::BadRequest(_) | CuError::HashChain(_) | CuError::Module(_) => {
            Status::invalid_argument(msg)
        }
        CuError::NotFound(_) => Status::not_found(msg),
        CuError::TooLarge(_) => Status::resource_exhausted(msg),
        CuError::Su(_) | CuError::Gateway(_) => Status::unavailable(msg),
        CuError::Storage(_) => Status::internal(msg),
    }
}

fn text(v: Option<&Value>) -> (Option<String>, bool) {
    match v {
        None | Some(Value::Null) => (None, false),
        Some(Value::String(s)) => (Some(s.clone()), false),
        Some(other) => (Some(other.to_string()), true),
    }
}

fn tags(v: Option<&Value>) -> Vec<pb::Tag> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|t| pb::Tag {
                    name: t
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    value: match t.get("value") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

fn outbox_message(m: &Value) -> pb::OutboxMessage {
    let (data, data_is_json) = text(m.get("Data"));
    pb::OutboxMessage {
        target: string_at(m, "Target"),
        anchor: string_at(m, "Anchor"),
        tags: tags(m.get("Tags")),
        data,
        data_is_json,
    }
}

/// The result JSON of spec 4.3 as an `EvalResult`.
pub fn eval_result(v: &Value) -> pb::EvalResult {
    let messages = list(v, "Messages").map(outbox_message).collect();
    // A spawn has the same fields as a message.
    let spawns = list(v, "Spawns")
        .map(|m| {
            let o = outbox_message(m);
            pb::Spawn {
                target: o.target,
                anchor: o.anchor,
                tags: o.tags,
                data: o.data,
                data_is_json: o.data_is_json,
            }
        })
        .collect();
    let assignments = list(v, "Assignments")
        .map(|a| pb::AssignmentOrder {
            processes: list(a, "Processes")
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            message: string_at(a, "Message").unwrap_or_default(),
            base_layer: a.get("BaseLayer").and_then(Value::as_bool),
            exclude: list(a, "Exclude")
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        })
        .collect();
    let (output, output_is_json) = text(v.get("Output"));
    pb::EvalResult {
        messages,
        spawns,
        assignments,
        output: output.unwrap_or_default(),
        output_is_json,
        error: text(v.get("Error")).0,
        gas_used: v.get("GasUsed").and_then(Value::as_u64),
        attestations: Vec::new(),
        canonical_result: None,
    }
}

fn edges(page: Page, descending: bool) -> Vec<Result<ResultEdge, Status>> {
    page.rows
        .into_iter()
        .map(|r| {
            Ok(ResultEdge {
                cursor: cursor(r.timestamp, r.nonce, r.cron.as_deref(), descending),
                node: Some(eval_result(&r.result)),
                timestamp_ms: r.timestamp,
                ordinate: r.nonce,
                message_id: (r.cron.is_none()).then_some(r.message_id),
                cron: r.cron,
            })
        })
        .collect()
}

type EdgeStream = Pin<Box<dyn Stream<Item = Result<ResultEdge, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<StateChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Compute for GrpcCompute {
    async fn result(
        &self,
        req: Request<ResultRequest>,
    ) -> Result<Response<pb::EvalResult>, Status> {
        self.hint(&req);
        let r = req.into_inner();
        if r.attest {
            let (v, item) = self
                .evaluator
                .attested_result(&r.process_id, &r.message_id)
                .await
                .map_err(status)?;
            let mut answer = eval_result(&v);
            answer.attestations = vec![item];
            answer.canonical_result = Some(ao_core::ao::canonical_result(&v));
            return Ok(Response::new(answer));
        }
        let v = self
            .evaluator
            .result(&r.process_id, &r.message_id, None)
            .await
            .map_err(status)?
            .ok_or_else(|| Status::internal("evaluation did not finish"))?;
        Ok(Response::new(eval_result(&v)))
    }

    type ResultsStream = EdgeStream;

    async fn results(
        &self,
        req: Request<ResultsRequest>,
    ) -> Result<Response<Self::ResultsStream>, Status> {
        let r = req.into_inner();
        let descending = r.sort == SortOrder::Desc as i32;
        let shape = Shape {
            descending,
            limit: r.limit.map(|l| l as usize),
            default_limit: DEFAULT_RESULTS_LIMIT,
            crons_only: false,
        };
        let listing = listing_of(r.from.as_deref(), r.to.as_deref(), shape).map_err(status)?;
        let page = self
            .evaluator
            .results(&r.process_id, &listing)
            .map_err(status)?;
        Ok(Response::new(Box::pin(futures_util::stream::iter(edges(
            page, descending,
        )))))
    }

    async fn dry_run(
        &self,
        req: Request<DryRunRequest>,
    ) -> Result<Response<pb::EvalResult>, Status> {
        self.hint(&req);
        let r = req.into_inner();
        let mut body = json!({
            "Id": r.id.unwrap_or_default(),
            "Owner": r.owner,
            "Target": r.target.unwrap_or_else(|| r.process_id.clone()),
            "Tags": r.tags.iter().map(|t| json!({"name": t.name, "value": t.value})).collect::<Vec<_>>(),
            "Data": r.data.unwrap_or_default(),
        });
        if let Some(a) = r.anchor {
            body["Anchor"] = json!(a);
        }
        if let Some(t) = r.timestamp_ms {
            body["Timestamp"] = json!(t);
        }
        if let Some(h) = r.block_height {
            body["Block-Height"] = json!(h);
        }
        let v = self
            .evaluator
            .dry_run(&r.process_id, &body)
            .await
            .map_err(status)?;
        Ok(Response::new(eval_result(&v)))
    }

    type StateStream = ChunkStream;

    async fn state(
        &self,
        req: Request<StateRequest>,
    ) -> Result<Response<Self::StateStream>, Status> {
        self.hint(&req);
        let r = req.into_inner();
        // A peer's probe: what is held, as it is (see `StateRequest.probe`).
        let state = if r.probe {
            self.evaluator
                .held_state(&r.process_id)
                .await
                .map_err(status)?
                .ok_or_else(|| {
                    Status::not_found(format!("process {} is not held by this CU", r.process_id))
                })?
        } else {
            self.evaluator.state(&r.process_id).await.map_err(status)?
        };
        let (state, sha) = tokio::task::spawn_blocking(move || {
            let sha: [u8; 32] = Sha256::digest(&state.memory).into();
            (state, sha)
        })
        .await
        .map_err(|e| Status::internal(format!("hashing the memory stopped: {e}")))?;
        let handoff = state.checkpoint_fields(sha).map(|c| HandoffPoint {
            module: state.module_id.clone(),
            hash_chain: ao_core::encoding::b64url(c.hash_chain),
            assignment: ao_core::encoding::b64url(c.assignment_id),
            scheduled_timestamp_ms: c.timestamp,
            scheduled_block_height: c.block_height,
            crons_done: c.crons_done,
        });
        let header = StateHeader {
            last_timestamp_ms: state.timestamp,
            last_ordinate: state.nonce,
            last_block_height: state.block_height,
            memory_size: state.memory.len() as u64,
            sha256: hex::encode(sha),
            handoff,
        };
        let mut chunks: Vec<Result<StateChunk, Status>> = state
            .memory
            .chunks(STATE_CHUNK)
            .map(|c| {
                Ok(StateChunk {
                    data: c.to_vec(),
                    header: None,
                })
            })
            .collect();
        match chunks.first_mut() {
            Some(Ok(first)) => first.header = Some(header),
            _ => chunks.push(Ok(StateChunk {
                data: Vec::new(),
                header: Some(header),
            })),
        }
        Ok(Response::new(Box::pin(futures_util::stream::iter(chunks))))
    }

    type CronStream = EdgeStream;

    async fn cron(&self, req: Request<CronRequest>) -> Result<Response<Self::CronStream>, Status> {
        self.hint(&req);
        let r = req.into_inner();
        let shape = Shape {
            descending: false,
            limit: r.limit.map(|l| l as usize),
            default_limit: DEFAULT_CRON_LIMIT,
            crons_only: true,
        };
        let listing = listing_of(r.from.as_deref(), r.to.as_deref(), shape).map_err(status)?;
        self.evaluator
            .evaluate_to(&r.process_id, Target::Now)
            .await
            .map_err(status)?;
        let page = self
            .evaluator
            .results(&r.process_id, &listing)
            .map_err(status)?;
        Ok(Response::new(Box::pin(futures_util::stream::iter(edges(
            page, false,
        )))))
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Result<Response<pb::UnitInfo>, Status> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Ok(Response::new(pb::UnitInfo {
            address: self.address.clone(),
            timestamp_ms: now,
            kind: pb::UnitKind::Compute as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}
