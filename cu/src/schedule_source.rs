//! Where the CU reads schedules from: one trait, [`ScheduleSource`], so the evaluator does not
//! know which SU it reads or how.
//!
//! - [`GrpcSource`]: an ao-rs SU over gRPC (`ReadSchedule`, and `Subscribe` to follow).
//! - [`crate::su_http::HttpSource`]: any other SU over the AO HTTP API (pages, and polling with
//!   backoff to follow).
//! - [`SuRouter`]: picks the SU of each process as the MU does (its `Scheduler` tag on the
//!   gateway, then that SU's newest Scheduler-Location, shared in [`ao_arweave::locate`]): gRPC
//!   when the SU published a `Grpc-Url`, HTTP otherwise; the `--su-url` SU for processes the
//!   gateway does not know yet.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::locate::{BoundedCache, LocateError, Locations, Scheduled, SuLocation};
use ao_proto::common::v1 as pb;
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    GetMessageRequest, GetProcessRequest, LatestRequest, NonceRange, ReadScheduleRequest,
    SubscribeRequest, TimestampRequest, read_schedule_request,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::error::CuError;

/// Schedule entries in nonce order.
pub type Entries = BoxStream<'static, Result<pb::ScheduledMessage, CuError>>;

/// A new schedule entry as the SU announces it: its nonce, and the W3C `traceparent` of the
/// request that scheduled it when the SU sends one (ao-rs SUs on the live tail), so its
/// evaluation joins that trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The entry's nonce.
    pub nonce: u64,
    /// The trace context it was scheduled in.
    pub traceparent: Option<String>,
}

/// New schedule entries as the SU gets them, in increasing nonce order.
pub type NewNonces = BoxStream<'static, Result<NewEntry, CuError>>;

/// Everything the evaluator reads from a process's SU.
#[async_trait]
pub trait ScheduleSource: Send + Sync {
    /// The process record (tags, owner, its assignment's timestamp and height).
    async fn process(&self, pid: &str) -> Result<pb::ProcessRecord, CuError>;
    /// The nonce of message (or assignment) `id` in `pid`'s schedule.
    async fn nonce_of(&self, pid: &str, id: &str) -> Result<u64, CuError>;
    /// The newest nonce of `pid`'s schedule.
    async fn latest_nonce(&self, pid: &str) -> Result<u64, CuError>;
    /// The SU's clock, ms (crons are evaluated up to it).
    async fn timestamp(&self, pid: &str) -> Result<i64, CuError>;
    /// The entries with `after < nonce <= to` (`after` `None`: from the process's own entry),
    /// each once, in nonce order.
    async fn read(&self, pid: &str, after: Option<u64>, to: u64) -> Result<Entries, CuError>;
    /// The nonces of entries after `after` as they arrive (`after` `None`: new ones only).
    async fn follow(&self, pid: &str, after: Option<u64>) -> Result<NewNonces, CuError>;
}

/// Largest gRPC message the CU decodes from an SU: a schedule entry carries its item, and items
/// go up to the SU's own limit of a few MiB; 64 MiB leaves room without being unbounded.
pub const GRPC_MAX_DECODE: usize = 64 * 1024 * 1024;

/// How long connecting to an SU's gRPC endpoint may take before the call fails (and a `/result`
/// answers 502) rather than hang on an address that drops packets.
pub const GRPC_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An ao-rs SU over gRPC.
#[derive(Clone)]
pub struct GrpcSource {
    client: SchedulerClient<ao_runtime::propagation::TracedChannel>,
}

impl GrpcSource {
    /// A client of the SU's gRPC `url`, connected on first use.
    pub fn new(url: &str) -> Result<GrpcSource, CuError> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| CuError::Su(format!("bad SU gRPC URL {url:?}: {e}")))?
            .connect_timeout(GRPC_CONNECT_TIMEOUT)
            .connect_lazy();
        Ok(GrpcSource {
            // Every call carries the caller's trace context, so the SU's spans join the
            // evaluation that asked.
            client: SchedulerClient::new(ao_runtime::propagation::traced(channel))
                .max_decoding_message_size(GRPC_MAX_DECODE),
        })
    }
}

#[async_trait]
impl ScheduleSource for GrpcSource {
    async fn process(&self, pid: &str) -> Result<pb::ProcessRecord, CuError> {
        Ok(self
            .client
            .clone()
            .get_process(GetProcessRequest {
                process_id: pid.to_string(),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner())
    }

    async fn nonce_of(&self, pid: &str, id: &str) -> Result<u64, CuError> {
        Ok(self
            .client
            .clone()
            .get_message(GetMessageRequest {
                process_id: pid.to_string(),
                id: id.to_string(),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner()
            .nonce)
    }

    async fn latest_nonce(&self, pid: &str) -> Result<u64, CuError> {
        Ok(self
            .client
            .clone()
            .latest(LatestRequest {
                process_id: pid.to_string(),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner()
            .nonce)
    }

    async fn timestamp(&self, pid: &str) -> Result<i64, CuError> {
        Ok(self
            .client
            .clone()
            .timestamp(TimestampRequest {
                process_id: Some(pid.to_string()),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner()
            .timestamp_ms)
    }

    async fn read(&self, pid: &str, after: Option<u64>, to: u64) -> Result<Entries, CuError> {
        let stream = self
            .client
            .clone()
            .read_schedule(ReadScheduleRequest {
                process_id: pid.to_string(),
                range: Some(read_schedule_request::Range::Nonce(NonceRange {
                    from: after,
                    to: Some(to),
                })),
                limit: Some(u32::MAX),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner();
        Ok(stream.map(|r| r.map_err(CuError::from_su)).boxed())
    }

    async fn follow(&self, pid: &str, after: Option<u64>) -> Result<NewNonces, CuError> {
        let stream = self
            .client
            .clone()
            .subscribe(SubscribeRequest {
                process_id: pid.to_string(),
                from_nonce: after,
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner();
        Ok(stream
            .map(|r| {
                r.map(|e| NewEntry {
                    nonce: e.nonce,
                    traceparent: e.traceparent,
                })
                .map_err(CuError::from_su)
            })
            .boxed())
    }
}

/// Processes whose SU is remembered: one entry per process this CU evaluates; the bound keeps
/// requests for made-up process ids from growing the map.
pub const MAX_ROUTED_PROCESSES: usize = 100_000;

/// SU clients kept: one per SU endpoint this CU reads; bounded like the locations they come from.
pub const MAX_SU_CLIENTS: usize = ao_arweave::locate::MAX_LOCATIONS;

/// How long a process the gateway did not know, but the default SU does, is sent to the default
/// SU before the gateway is asked again: a process just spawned on the devnet's own SU is indexed
/// within a block or two, and asking the gateway on every call for it would double the calls of
/// a busy process. (One the default SU does not know either is not kept: see `source_of`.)
pub const UNKNOWN_PROCESS_RECHECK: Duration = Duration::from_secs(60);

/// The [`ScheduleSource`] of every process: routes each call to the process's own SU.
pub struct SuRouter {
    default: Option<Arc<dyn ScheduleSource>>,
    locations: Locations,
    http: reqwest::Client,
    clients: Mutex<BoundedCache<Arc<dyn ScheduleSource>>>,
    routes: Mutex<BoundedCache<(Arc<dyn ScheduleSource>, Instant)>>,
}

impl SuRouter {
    /// A router reading Scheduler-Locations from `gateway`; `default` serves processes the
    /// gateway does not know (`--su-url`).
    pub fn new(
        default: Option<Arc<dyn ScheduleSource>>,
        gateway: Arc<dyn ao_arweave::Gateway>,
        http: reqwest::Client,
    ) -> SuRouter {
        SuRouter {
            default,
            locations: Locations::new(gateway),
            http,
            clients: Mutex::new(BoundedCache::new(MAX_SU_CLIENTS)),
            routes: Mutex::new(BoundedCache::new(MAX_ROUTED_PROCESSES)),
        }
    }

    /// The client of the SU at `location`, reused while it is cached.
    fn client(&self, location: &SuLocation) -> Result<Arc<dyn ScheduleSource>, CuError> {
        let key = match &location.grpc_url {
            Some(g) => format!("grpc {g}"),
            None => format!("http {}", location.url),
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let c: Arc<dyn ScheduleSource> = match &location.grpc_url {
            Some(g) => Arc::new(GrpcSource::new(g)?),
            None => Arc::new(crate::su_http::HttpSource::new(
                &location.url,
                self.http.clone(),
            )),
        };
        clients.insert(key, c.clone());
        Ok(c)
    }

    /// The SU of `pid`.
    pub async fn source_of(&self, pid: &str) -> Result<Arc<dyn ScheduleSource>, CuError> {
        {
            let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((s, until)) = routes.get(pid)
                && *until > Instant::now()
            {
                return Ok(s.clone());
            }
        }
        let scheduled = ao_arweave::locate::scheduler_of(self.locations.gateway().as_ref(), pid)
            .await
            .map_err(|e| CuError::Gateway(format!("looking up process {pid}: {e}")))?;
        let (source, ttl) = match scheduled {
            Scheduled::Process(address) => {
                let location = self.locations.locate(&address).await.map_err(|e| match e {
                    LocateError::Gateway(e) => {
                        CuError::Gateway(format!("locating scheduler {address}: {e}"))
                    }
                    other => CuError::Su(format!("process {pid}: {other}")),
                })?;
                (self.client(&location)?, location.ttl)
            }
            Scheduled::NotAProcess => {
                return Err(CuError::NotFound(format!(
                    "{pid} is not a process (it has no Type Process and Scheduler tags)"
                )));
            }
            Scheduled::Unknown => match &self.default {
                // Kept as the process's route only once the default SU knows the process: one
                // that does not (a process just spawned on another SU, which the gateway has not
                // indexed yet) would otherwise answer 404 for it until the route expires,
                // though the gateway knows it a block later.
                Some(d) => match d.process(pid).await {
                    Ok(_) => (d.clone(), UNKNOWN_PROCESS_RECHECK),
                    Err(_) => return Ok(d.clone()),
                },
                None => {
                    return Err(CuError::NotFound(format!(
                        "process {pid} is unknown to the gateway, and this CU has no default \
                         SU (--su-url) to ask"
                    )));
                }
            },
        };
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes.insert(pid.to_string(), (source.clone(), Instant::now() + ttl));
        Ok(source)
    }
}

#[async_trait]
impl ScheduleSource for SuRouter {
    async fn process(&self, pid: &str) -> Result<pb::ProcessRecord, CuError> {
        self.source_of(pid).await?.process(pid).await
    }

    async fn nonce_of(&self, pid: &str, id: &str) -> Result<u64, CuError> {
        self.source_of(pid).await?.nonce_of(pid, id).await
    }

    async fn latest_nonce(&self, pid: &str) -> Result<u64, CuError> {
        self.source_of(pid).await?.latest_nonce(pid).await
    }

    async fn timestamp(&self, pid: &str) -> Result<i64, CuError> {
        self.source_of(pid).await?.timestamp(pid).await
    }

    async fn read(&self, pid: &str, after: Option<u64>, to: u64) -> Result<Entries, CuError> {
        self.source_of(pid).await?.read(pid, after, to).await
    }

    async fn follow(&self, pid: &str, after: Option<u64>) -> Result<NewNonces, CuError> {
        self.source_of(pid).await?.follow(pid, after).await
    }
}
