//! The MU's clients of the other units: an SU (gRPC to ao-rs SUs, the AO HTTP API to any other)
//! and the CU (gRPC Compute service), behind the few calls the crank needs.

use std::time::Duration;

use ao_proto::common::v1 as pb;
use ao_proto::compute::v1::compute_client::ComputeClient;
use ao_proto::compute::v1::{CronRequest, ResultRequest, ResultsRequest, SortOrder};
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    AssignRequest, GetMessageRequest, GetProcessRequest, ScheduleRequest,
};
use ao_runtime::propagation::{InjectContext, TracedChannel};
use bytes::Bytes;
use futures_util::StreamExt;

/// Why a call to another unit failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UnitError {
    /// The SU already has this item or assignment: the push happened before (a retry after a
    /// crash); not an error for the crank.
    #[error("already scheduled: {0}")]
    Duplicate(String),
    /// The unit refused the request for good (4xx other than 409/429): retrying cannot help.
    #[error("refused ({0}): {1}")]
    Refused(u16, String),
    /// The unit could not be reached or failed (5xx, timeouts): retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl UnitError {
    /// Whether a retry may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, UnitError::Unavailable(_))
    }
}

fn from_status(s: tonic::Status) -> UnitError {
    use tonic::Code;
    match s.code() {
        Code::AlreadyExists => UnitError::Duplicate(s.message().to_string()),
        Code::InvalidArgument
        | Code::NotFound
        | Code::PermissionDenied
        | Code::FailedPrecondition => {
            let status = if s.code() == Code::NotFound { 404 } else { 400 };
            UnitError::Refused(status, s.message().to_string())
        }
        _ => UnitError::Unavailable(format!("{}: {}", s.code(), s.message())),
    }
}

fn from_http(status: u16, body: String) -> UnitError {
    match status {
        409 => UnitError::Duplicate(body),
        429 => UnitError::Unavailable(format!("429: {body}")),
        400..=499 => UnitError::Refused(status, body),
        _ => UnitError::Unavailable(format!("{status}: {body}")),
    }
}

/// Send an AO HTTP API request to the SU at `url`; its JSON answer, or the error its status means.
async fn http_json(
    url: &str,
    req: reqwest::RequestBuilder,
) -> Result<serde_json::Value, UnitError> {
    let r = ao_runtime::propagation::inject_reqwest(req)
        .send()
        .await
        .map_err(|e| UnitError::Unavailable(format!("SU {url}: {e}")))?;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(from_http(status, body));
    }
    serde_json::from_str(&body)
        .map_err(|e| UnitError::Unavailable(format!("SU {url} answered {body:?}: {e}")))
}

/// What the SU answered to a scheduled item.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// The item id (or process id).
    pub id: String,
    /// The SU's assignment id, when it said.
    pub assignment_id: Option<String>,
}

/// The parts of a process record the crank needs.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// Signer address.
    pub owner: String,
    /// Tags in order.
    pub tags: Vec<(String, String)>,
}

/// One SU.
#[derive(Clone)]
pub enum SuClient {
    /// An ao-rs SU (it published `Grpc-Url`).
    Grpc(SchedulerClient<TracedChannel>),
    /// Any other SU: the AO HTTP API at a base URL.
    Http {
        /// Base URL.
        url: String,
        /// Shared HTTP client.
        http: reqwest::Client,
        /// `X-Real-IP` sent with every POST (`--su-forwarded-ip`): the reference SU refuses
        /// POSTs from addresses its whitelist does not know, and reads the client's address
        /// only from this header (it expects a proxy in front).
        forwarded_ip: Option<String>,
    },
}

/// `req` with `X-Real-IP: ip` when one is configured.
fn forwarded(req: reqwest::RequestBuilder, ip: &Option<String>) -> reqwest::RequestBuilder {
    match ip {
        Some(ip) => req.header("x-real-ip", ip.as_str()),
        None => req,
    }
}

impl SuClient {
    /// A gRPC client of `url` (connected on first use).
    pub fn grpc(url: &str) -> Result<SuClient, UnitError> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| UnitError::Refused(400, format!("bad SU URL {url}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(SuClient::Grpc(
            SchedulerClient::with_interceptor(channel, InjectContext)
                .max_decoding_message_size(64 << 20),
        ))
    }

    /// Schedule a signed item (Process or Message).
    pub async fn schedule(&self, item: Bytes) -> Result<Scheduled, UnitError> {
        match self {
            SuClient::Grpc(c) => {
                let r = c
                    .clone()
                    .schedule(ScheduleRequest {
                        item: item.to_vec(),
                    })
                    .await
                    .map_err(from_status)?
                    .into_inner();
                Ok(Scheduled {
                    id: r.id,
                    assignment_id: Some(r.assignment_id).filter(|a| !a.is_empty()),
                })
            }
            SuClient::Http {
                url,
                http,
                forwarded_ip,
            } => {
                let req = forwarded(http.post(format!("{url}/")), forwarded_ip)
                    .header("content-type", "application/octet-stream")
                    .header("accept", "application/json")
                    .body(item);
                let v = http_json(url, req).await?;
                Ok(Scheduled {
                    id: v["id"].as_str().unwrap_or_default().to_string(),
                    assignment_id: None,
                })
            }
        }
    }

    /// Assign `order.message` to `order.process`; the assignment id.
    pub async fn assign(&self, order: &crate::crank::AssignOrder) -> Result<String, UnitError> {
        match self {
            SuClient::Grpc(c) => Ok(c
                .clone()
                .assign(AssignRequest {
                    process_id: order.process.clone(),
                    message_id: order.message.clone(),
                    base_layer: order.base_layer,
                    exclude: order.exclude.clone(),
                })
                .await
                .map_err(from_status)?
                .into_inner()
                .id),
            SuClient::Http {
                url,
                http,
                forwarded_ip,
            } => {
                let mut q = format!(
                    "{url}/?process-id={}&assign={}",
                    order.process, order.message
                );
                if order.base_layer {
                    q.push_str("&base-layer");
                }
                if !order.exclude.is_empty() {
                    q.push_str(&format!("&exclude={}", order.exclude.join(",")));
                }
                let v = http_json(url, forwarded(http.post(q), forwarded_ip)).await?;
                Ok(v["id"].as_str().unwrap_or_default().to_string())
            }
        }
    }

    /// The assignment id of message `id` on `process`, if scheduled there (to resume an
    /// assignment that was made before a crash).
    pub async fn assignment_of(
        &self,
        process: &str,
        id: &str,
    ) -> Result<Option<String>, UnitError> {
        match self {
            SuClient::Grpc(c) => match c
                .clone()
                .get_message(GetMessageRequest {
                    process_id: process.to_string(),
                    id: id.to_string(),
                })
                .await
            {
                Ok(m) => Ok(m.into_inner().assignment.map(|a| a.id)),
                Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
                Err(s) => Err(from_status(s)),
            },
            SuClient::Http { url, http, .. } => {
                match http_json(url, http.get(format!("{url}/{id}?process-id={process}"))).await {
                    Ok(v) => Ok(v["assignment"]["id"].as_str().map(str::to_string)),
                    Err(UnitError::Refused(404, _)) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The process record (owner, tags).
    pub async fn process(&self, pid: &str) -> Result<ProcessInfo, UnitError> {
        match self {
            SuClient::Grpc(c) => {
                let p = c
                    .clone()
                    .get_process(GetProcessRequest {
                        process_id: pid.to_string(),
                    })
                    .await
                    .map_err(from_status)?
                    .into_inner();
                Ok(ProcessInfo {
                    owner: p.owner.map(|o| o.address).unwrap_or_default(),
                    tags: p.tags.into_iter().map(|t| (t.name, t.value)).collect(),
                })
            }
            SuClient::Http { url, http, .. } => {
                let v = http_json(url, http.get(format!("{url}/processes/{pid}"))).await?;
                let tags = v["tags"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|t| {
                                (
                                    t["name"].as_str().unwrap_or_default().to_string(),
                                    t["value"].as_str().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(ProcessInfo {
                    owner: v["owner"]["address"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    tags,
                })
            }
        }
    }
}

/// The CU, over its gRPC Compute service.
#[derive(Clone)]
pub struct CuClient {
    client: ComputeClient<TracedChannel>,
}

/// A cron result and the cursor after it.
pub struct CronEdge {
    /// Cursor to continue from.
    pub cursor: String,
    /// The result.
    pub result: pb::EvalResult,
}

impl CuClient {
    /// A client of the CU's gRPC URL (connected on first use).
    pub fn new(url: &str) -> Result<CuClient, UnitError> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| UnitError::Refused(400, format!("bad CU URL {url}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(CuClient {
            client: ComputeClient::with_interceptor(channel, InjectContext)
                .max_decoding_message_size(64 << 20),
        })
    }

    /// The result of message `id` on `process` (evaluated on demand by the CU).
    pub async fn result(&self, process: &str, id: &str) -> Result<pb::EvalResult, UnitError> {
        self.client
            .clone()
            .result(ResultRequest {
                process_id: process.to_string(),
                message_id: id.to_string(),
                attest: false,
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(from_status)
    }

    /// The cursor of the newest result of `process` (where a new monitor starts).
    pub async fn latest_cursor(&self, process: &str) -> Result<Option<String>, UnitError> {
        let mut s = self
            .client
            .clone()
            .results(ResultsRequest {
                process_id: process.to_string(),
                sort: SortOrder::Desc as i32,
                limit: Some(1),
                ..Default::default()
            })
            .await
            .map_err(from_status)?
            .into_inner();
        match s.next().await {
            Some(Ok(edge)) => Ok(Some(edge.cursor)),
            Some(Err(e)) => Err(from_status(e)),
            None => Ok(None),
        }
    }

    /// Cron results of `process` after `from` (at most `limit`).
    pub async fn cron(
        &self,
        process: &str,
        from: Option<String>,
        limit: u32,
    ) -> Result<Vec<CronEdge>, UnitError> {
        let mut s = self
            .client
            .clone()
            .cron(CronRequest {
                process_id: process.to_string(),
                from,
                to: None,
                limit: Some(limit),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        let mut out = Vec::new();
        while let Some(edge) = s.next().await {
            let edge = edge.map_err(from_status)?;
            out.push(CronEdge {
                cursor: edge.cursor,
                result: edge.node.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
