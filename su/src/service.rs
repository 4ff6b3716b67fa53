//! The SU's operations, once, for both facades: `http.rs` (the AO HTTP API) and `grpc.rs` (the
//! Scheduler service) translate requests into these calls and answers back into their formats.
//!
//! Writes: classify and verify (`schedule.rs`), route (`route.rs`), then the writer. Reads: point
//! lookups and page plans over the store; pages are read in bounded chunks by the facades.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ao_arweave::Gateway;
use ao_core::encoding::decode_id;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use crate::error::{Result, SuError};
use crate::height::BlockHeight;
use crate::metrics::Metrics;
use crate::route::Router;
use crate::schedule::{Incoming, assign_id, classify};
use crate::store::{Entry, Store, StoredProcess};
use crate::tail::Tail;
use crate::writer::{Placement, Scheduled, Writer, now_ms};

/// Entries read from RocksDB at a time when streaming a page or a tail: bounds a reader's memory
/// whatever the size of the process.
pub const READ_CHUNK: usize = 64;

/// Page size when a client gives no `limit` (the reference's default).
pub const DEFAULT_PAGE_LIMIT: u64 = 100;

/// Which bounds a schedule read applies (spec 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `from` exclusive, `to` inclusive, ms. `from: None` includes the process's own entry.
    Timestamp {
        /// Exclusive lower bound.
        from: Option<u64>,
        /// Inclusive upper bound.
        to: Option<u64>,
    },
    /// `from-nonce` exclusive, `to-nonce` inclusive. `from: None` (or `-1`) includes nonce 0.
    Nonce {
        /// Exclusive lower bound.
        from: Option<u64>,
        /// Inclusive upper bound.
        to: Option<u64>,
    },
}

/// The nonces a page covers. Because nonces are contiguous and timestamps strictly increase, any
/// range is a run of nonces, and whether a next page exists is exact (unlike the reference's
/// RocksDB store, sharp edge 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// First nonce of the page.
    pub start: u64,
    /// Last nonce of the page (inclusive); `start > end` is an empty page.
    pub end: u64,
    /// Whether entries beyond `end` match the range.
    pub has_next: bool,
}

/// The running SU's shared state.
pub struct Su {
    store: Arc<Store>,
    writer: Writer,
    router: Router,
    height: Arc<BlockHeight>,
    gateway: Arc<dyn Gateway>,
    tail: Arc<Tail>,
    address: String,
    max_item_size: usize,
    stopping: AtomicBool,
    stop: tokio::sync::watch::Sender<bool>,
    metrics: Arc<Metrics>,
}

/// Everything [`Su::new`] needs.
pub struct Parts {
    /// The opened store.
    pub store: Arc<Store>,
    /// The writer over it.
    pub writer: Writer,
    /// Routing through the gateway.
    pub router: Router,
    /// The cached block height.
    pub height: Arc<BlockHeight>,
    /// The gateway (L1 status, assigned items).
    pub gateway: Arc<dyn Gateway>,
    /// The live tail the committer publishes to.
    pub tail: Arc<Tail>,
    /// This SU's wallet address.
    pub address: String,
    /// Largest accepted item.
    pub max_item_size: usize,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl Su {
    /// Assemble the SU from its parts.
    pub fn new(p: Parts) -> Su {
        Su {
            store: p.store,
            writer: p.writer,
            router: p.router,
            height: p.height,
            gateway: p.gateway,
            tail: p.tail,
            address: p.address,
            max_item_size: p.max_item_size,
            stopping: AtomicBool::new(false),
            stop: tokio::sync::watch::channel(false).0,
            metrics: p.metrics,
        }
    }

    /// This SU's wallet address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The live tail (its subscribers and what it holds for them).
    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    /// The writer (its in-flight set).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The store, for the facades' page reads and metrics.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Largest accepted item, in bytes.
    pub fn max_item_size(&self) -> usize {
        self.max_item_size
    }

    /// Refuse new writes from now on (graceful shutdown) and end live tails, whose streams would
    /// otherwise hold the gRPC server open forever; reads in flight finish.
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.end_live_tails();
    }

    /// End live tails (`Subscribe`) only, at the start of a drain: writes still in flight are
    /// finished and answered; [`Su::begin_stop`] refuses writes once the servers are done.
    pub fn end_live_tails(&self) {
        self.stop.send_replace(true);
    }

    /// The SU clock and cached block height (`GET /timestamp`).
    pub fn timestamp(&self) -> (u64, Option<u64>) {
        (now_ms(), self.height.get())
    }

    fn writable(&self) -> Result<u64> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(SuError::Unavailable("the SU is stopping".into()));
        }
        self.store.check_writable()?;
        self.height.get().ok_or_else(|| {
            SuError::Unavailable(
                "Server is warming up: no block height from the gateway yet. Please try again later."
                    .into(),
            )
        })
    }

    /// `POST /` with an item body: schedule a Process or a Message.
    pub async fn post_item(&self, body: Bytes) -> Result<Scheduled> {
        let result = self.post_item_inner(body).await;
        self.metrics.record_write(&result);
        result
    }

    async fn post_item_inner(&self, body: Bytes) -> Result<Scheduled> {
        let height = self.writable()?;
        let incoming = classify(body, self.max_item_size)?;
        match &incoming {
            Incoming::Process(p) => {
                let what = format!("process {}", p.id());
                if let Some(refusal) = self.router.redirect(p.scheduler(), &what).await? {
                    return Err(refusal);
                }
                self.check_on_boot(p).await?;
            }
            Incoming::Message(m) => {
                if self.store.process(&m.process_raw())?.is_none() {
                    return Err(self.route_unknown(&m.process_id()).await);
                }
            }
        }
        self.writer.write(incoming.into(), height).await
    }

    /// `On-Boot: <tx id>` must name a transaction the gateway knows (the reference checks with a
    /// HEAD request), or the process could never boot.
    async fn check_on_boot(&self, p: &ao_core::ao::Process) -> Result<()> {
        match p.on_boot().map_err(|e| SuError::BadTag(e.to_string()))? {
            Some(ao_core::ao::OnBoot::Transaction(id)) => {
                let id = ao_core::encoding::b64url(id);
                let found = self
                    .gateway
                    .transactions_by_id(std::slice::from_ref(&id))
                    .await
                    .map_err(|e| SuError::Gateway(e.to_string()))?;
                if found.iter().any(|tx| tx.id == id) {
                    Ok(())
                } else {
                    Err(SuError::BadTag(format!(
                        "Invalid tx id for On-Boot tag: {id} is not on the gateway"
                    )))
                }
            }
            _ => Ok(()),
        }
    }

    /// Why a process is not here: it belongs to another SU (307), or nobody knows it (404).
    async fn route_unknown(&self, pid: &str) -> SuError {
        let not_found = || SuError::NotFound(format!("Process {pid} not found on this SU"));
        match self.router.process_scheduler(pid).await {
            Ok(Some(scheduler)) => {
                match self
                    .router
                    .redirect(&scheduler, &format!("process {pid}"))
                    .await
                {
                    Ok(Some(refusal)) => refusal,
                    Ok(None) => not_found(),
                    Err(e) => e,
                }
            }
            Ok(None) => not_found(),
            Err(e) => {
                tracing::warn!("cannot ask the gateway where process {pid} lives: {e}");
                not_found()
            }
        }
    }

    /// `POST /?process-id=&assign=`: assign an existing item or L1 transaction to a process.
    pub async fn assign(
        &self,
        process_id: &str,
        assign: &str,
        base_layer: bool,
        exclude: Vec<String>,
    ) -> Result<Scheduled> {
        let result = self
            .assign_inner(process_id, assign, base_layer, exclude)
            .await;
        self.metrics.record_write(&result);
        result
    }

    async fn assign_inner(
        &self,
        process_id: &str,
        assign: &str,
        base_layer: bool,
        exclude: Vec<String>,
    ) -> Result<Scheduled> {
        let height = self.writable()?;
        let pid = parse_pid(process_id)?;
        let message = assign_id(assign)?;
        let Some(process) = self.store.process(&pid)? else {
            return Err(self.route_unknown(process_id).await);
        };
        if base_layer {
            let status = self
                .gateway
                .tx_status(assign)
                .await
                .map_err(|e| SuError::Gateway(e.to_string()))?
                .ok_or_else(|| {
                    SuError::NotFound(format!(
                        "base-layer transaction {assign} is not confirmed on the gateway"
                    ))
                })?;
            let need = process.process.settlement_depth();
            if status.number_of_confirmations < need {
                return Err(SuError::NotEnoughConfirmations {
                    have: status.number_of_confirmations,
                    need,
                });
            }
        } else if self.store.scheduled_on(&message)?.is_none() {
            let known = self
                .gateway
                .transactions_by_id(&[assign.to_string()])
                .await
                .map_err(|e| SuError::Gateway(e.to_string()))?
                .iter()
                .any(|tx| tx.id == assign);
            if !known {
                return Err(SuError::NotFound(format!(
                    "Message {assign} is neither scheduled on this SU nor known to the gateway"
                )));
            }
        }
        self.writer
            .write(
                Placement::Assignment {
                    process: pid,
                    message,
                    exclude,
                },
                height,
            )
            .await
    }

    /// `GET /processes/{pid}`: the record and, with process assignments, its entry at nonce 0.
    pub fn process(&self, process_id: &str) -> Result<(StoredProcess, Option<Entry>)> {
        let pid = parse_pid(process_id)?;
        let record = self
            .store
            .process(&pid)?
            .ok_or_else(|| SuError::NotFound(format!("Process {process_id} not found")))?;
        let own = self
            .store
            .entry(&pid, 0)?
            .filter(|e| e.assignment.is_process_assignment());
        Ok((record, own))
    }

    /// Whether `id` is a process scheduled here.
    pub fn is_process(&self, id: &str) -> Result<bool> {
        match decode_id("process id", id) {
            Ok(pid) => Ok(self.store.process(&pid)?.is_some()),
            Err(_) => Ok(false),
        }
    }

    /// `GET /{id}?process-id=`: the entry whose message or assignment id is `id`, in that process.
    pub fn message(&self, process_id: &str, id: &str) -> Result<Option<Entry>> {
        let pid = parse_pid(process_id)?;
        let Ok(raw) = decode_id("id", id) else {
            return Err(SuError::BadRequest(format!(
                "{id:?} is not a 43-character base64url id"
            )));
        };
        match self.store.find(&pid, &raw)? {
            Some(nonce) => self.store.entry(&pid, nonce),
            None => Ok(None),
        }
    }

    /// `GET /{pid}/latest`: the newest entry.
    pub fn latest(&self, process_id: &str) -> Result<Entry> {
        let pid = parse_pid(process_id)?;
        if self.store.process(&pid)?.is_none() {
            return Err(SuError::NotFound(format!("Process {process_id} not found")));
        }
        self.store
            .last_entry(&pid)?
            .ok_or_else(|| SuError::NotFound("Latest message not available".into()))
    }

    /// The nonces a page of `range` covers, at most `limit` of them.
    pub fn plan(&self, process_id: &str, range: Range, limit: u64) -> Result<([u8; 32], Plan)> {
        let pid = parse_pid(process_id)?;
        if self.store.process(&pid)?.is_none() {
            return Err(SuError::NotFound(format!("Process {process_id} not found")));
        }
        let empty = Plan {
            start: 1,
            end: 0,
            has_next: false,
        };
        let Some(last) = self.store.last_entry(&pid)?.map(|e| e.assignment.nonce()) else {
            return Ok((pid, empty));
        };
        let (start, end) = match range {
            Range::Nonce { from, to } => (
                from.map_or(Some(0), |f| f.checked_add(1)),
                Some(to.map_or(last, |t| t.min(last))),
            ),
            Range::Timestamp { from, to } => (
                match from {
                    None => Some(0),
                    Some(f) => self.store.first_nonce_after(&pid, f)?,
                },
                match to {
                    None => Some(last),
                    Some(t) => self.store.last_nonce_at_or_before(&pid, t)?,
                },
            ),
        };
        let (Some(start), Some(end)) = (start, end) else {
            return Ok((pid, empty));
        };
        if start > end || limit == 0 {
            return Ok((
                pid,
                Plan {
                    start: 1,
                    end: 0,
                    has_next: start <= end,
                },
            ));
        }
        let count = end - start + 1;
        Ok((
            pid,
            Plan {
                start,
                end: start + count.min(limit) - 1,
                has_next: count > limit,
            },
        ))
    }

    /// Stream the entries of `plan` in bounded chunks into a channel (for a streamed response).
    pub fn stream_plan(
        self: &Arc<Self>,
        pid: [u8; 32],
        plan: Plan,
    ) -> mpsc::Receiver<Result<Entry>> {
        let (tx, rx) = mpsc::channel(READ_CHUNK);
        let su = self.clone();
        tokio::spawn(async move {
            let mut next = plan.start;
            while next <= plan.end {
                let chunk = match su.store.entries(&pid, next, plan.end, READ_CHUNK) {
                    Ok(c) if c.is_empty() => break,
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                for e in chunk {
                    next = e.assignment.nonce() + 1;
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }

    /// A live tail of `process_id`: stored entries after `from_nonce` (or only new ones when
    /// `None`), then each new entry once durable, in nonce order with no gap or repeat, across
    /// lag (re-read from the store) for as long as the receiver is held.
    pub fn subscribe(
        self: &Arc<Self>,
        process_id: &str,
        from_nonce: Option<u64>,
    ) -> Result<mpsc::Receiver<Result<Arc<Entry>>>> {
        let pid = parse_pid(process_id)?;
        if self.store.process(&pid)?.is_none() {
            return Err(SuError::NotFound(format!("Process {process_id} not found")));
        }
        // Subscribe before reading the store, so nothing falls between the two.
        let mut live = self.tail.subscribe(pid);
        let mut next = match from_nonce {
            Some(n) => n + 1,
            None => self
                .store
                .last_entry(&pid)?
                .map_or(0, |e| e.assignment.nonce() + 1),
        };
        let (tx, rx) = mpsc::channel(READ_CHUNK);
        let su = self.clone();
        let mut stop = self.stop.subscribe();
        let stall = self.tail.stall();
        tokio::spawn(async move {
            loop {
                // Catch up from the store.
                loop {
                    let chunk = match su.store.entries(&pid, next, u64::MAX, READ_CHUNK) {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    if chunk.is_empty() {
                        break;
                    }
                    for e in chunk {
                        let nonce = e.assignment.nonce();
                        if let Offer::Ended = offer(&tx, Arc::new(e), stall).await {
                            return;
                        }
                        next = nonce + 1;
                    }
                }
                // Then follow the live tail until a gap or lag sends us back to the store.
                loop {
                    tokio::select! {
                        () = tx.closed() => return,
                        () = async { let _ = stop.wait_for(|s| *s).await; } => return,
                        got = live.recv() => match got {
                            Ok(e) => {
                                let nonce = e.assignment.nonce();
                                if nonce < next {
                                    continue;
                                }
                                if nonce > next {
                                    break;
                                }
                                if let Offer::Ended = offer(&tx, e, stall).await {
                                    return;
                                }
                                next = nonce + 1;
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// How handing an entry to a subscriber went.
enum Offer {
    Sent,
    /// The subscriber has gone, or was cut off.
    Ended,
}

/// Hand `e` to a subscriber, waiting at most `stall` for room. One slot of the channel is always
/// kept free, so a subscriber that read nothing for `stall` can still be told why its stream ends
/// (and from which nonce to subscribe again) before it is dropped.
async fn offer(
    tx: &mpsc::Sender<Result<Arc<Entry>>>,
    e: Arc<Entry>,
    stall: std::time::Duration,
) -> Offer {
    let nonce = e.assignment.nonce();
    match tokio::time::timeout(stall, tx.reserve_many(2)).await {
        Ok(Ok(mut permits)) => match permits.next() {
            Some(p) => {
                p.send(Ok(e));
                Offer::Sent
            }
            None => Offer::Ended,
        },
        Ok(Err(_)) => Offer::Ended,
        Err(_) => {
            let _ = tx.try_send(Err(SuError::Unavailable(format!(
                "this subscriber read nothing for {} s and was cut off; subscribe again with \
                 from_nonce {}",
                stall.as_secs_f64(),
                nonce.saturating_sub(1)
            ))));
            Offer::Ended
        }
    }
}

fn parse_pid(process_id: &str) -> Result<[u8; 32]> {
    decode_id("process-id", process_id).map_err(|_| {
        SuError::BadRequest(format!(
            "process-id {process_id:?} is not a 43-character base64url id"
        ))
    })
}
