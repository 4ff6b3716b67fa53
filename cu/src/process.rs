//! Evaluation of processes: strictly in nonce order per process, processes in parallel.
//!
//! Each process has a slot behind its own lock: the loaded module, the process environment, the
//! instance (on its worker thread) with its memory, the next nonce, the hash chain so far and
//! the cron walk since the last scheduled message. An evaluation reads the missing part of the
//! schedule from the process's SU ([`crate::schedule_source`]: gRPC or the AO HTTP API), verifies every hash-chain link, evaluates
//! the cron messages due before each scheduled message ([`crate::cron`]), builds each message as
//! spec 4.5 says (bare assignments are loaded from the gateway), runs it, and stores the results
//! in one synced batch per run, with a memory checkpoint every `checkpoint_every` messages.
//!
//! Evaluations run as their own tasks: a client that gives up (or a `/result` that answers
//! "busy") never cancels one half-way, which would leave the instance's memory ahead of what the
//! slot believes. Loaded processes are kept up to a byte budget of memory; the least recently
//! used beyond it are checkpointed and unloaded. After a restart a process resumes from its
//! checkpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ao_arweave::{BlockQuery, Gateway, HeightRange, Sort};
use ao_core::ao::HashChain;
use ao_core::encoding::{b64url, decode_id};
use ao_proto::common::v1 as pb;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::cron::{Boundary, Clock, CronWalk, Crons, Now, parse_crons};
use crate::error::CuError;
use crate::handoff::{Hints, PeerSource};
use crate::loader::{CompiledModule, ModuleFormat, Options, Runtime, format};
use crate::message::{
    Parts, Slot, cron_message_json, env_json, item_parts, message_json, result_json,
};
use crate::metrics::Metrics;
use crate::schedule_source::ScheduleSource;
use crate::store::{Checkpoint, Listing, Page, Store, StoredResult};
use crate::worker::{DEFAULT_WORKERS, Pending, Timed, Worker, WorkerPool};

/// Messages between memory checkpoints when not configured: a restart re-evaluates at most this
/// many messages, and a checkpoint (a copy of memory into RocksDB) is rare enough not to matter.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 100;

/// Gas between checkpoints for metered modules: about a minute of aos evaluation on one core
/// here (aos charges ~3e8 for a small Eval, ~1.5e10 for 100,000 table inserts), so losing a
/// process's memory never costs more than that to recompute.
pub const DEFAULT_CHECKPOINT_GAS: u64 = 1_000_000_000_000;

/// Largest process memory this CU runs: 4 GiB, the most a 32-bit (or lowered wasm64) memory can
/// hold (the reference's default is 1 GiB; aos's largest presets ask for more and get 4).
pub const DEFAULT_MAX_MEMORY_LIMIT: u64 = 4 << 30;

/// Largest compute limit per message: the reference's default maximum (9e12), a few hours of
/// aos at its metering rates.
pub const DEFAULT_MAX_COMPUTE_LIMIT: u64 = 9_000_000_000_000;

/// Memory that loaded processes may hold before the least recently used are unloaded: 4 GiB
/// keeps a few thousand small Lua processes (1-2 MiB each) or a handful of large ones warm on a
/// machine the size of CI's (24 GiB), leaving room for their copies during checkpoints.
pub const DEFAULT_CACHE_BYTES: u64 = 4 << 30;

/// How far behind the SU's clock "now" is taken when crons are evaluated to the present. A
/// message the SU is still committing can carry a timestamp a little before its clock; crons
/// are only generated up to a point no such message can precede, so cron and scheduled
/// messages interleave the same way on every CU whenever it asks (the reference CU takes the SU
/// clock as is and can order them differently).
pub const CRON_NOW_LAG_MS: i64 = 1000;

/// Checkpoints written at once at shutdown: each copies a memory off its worker thread and hashes
/// it on a blocking thread, so a few at a time keep every core busy while the disk takes the
/// writes, without holding thousands of memory copies at once.
pub const FLUSH_CONCURRENCY: usize = 8;

/// Messages queued on a process's evaluation thread ahead of the one it evaluates, during a
/// replay: the thread always finds its next message ready while the async side reads the
/// schedule, builds message JSON and stores results (on a cold replay of small messages that work
/// is as long as the evaluation itself), and a failed evaluation wastes at most this many sends.
pub const PIPELINE_DEPTH: usize = 32;

/// Cron messages generated (and evaluated) per step, bounding memory when a process with a
/// 1-second cron catches up on a long gap.
const CRON_BATCH: usize = 256;

/// Evaluations to now that `/state` and `/dry-run` try while the process keeps being unloaded
/// before they can read it: eviction right after an evaluation is rare, so a second try almost
/// always succeeds, and a cache too small to keep one process loaded fails clearly.
const UNLOADED_RETRIES: usize = 3;

/// Blocks asked of the gateway per page (the reference CU asks pages of 90).
const BLOCK_PAGE: u32 = 100;

/// How an evaluation is configured.
#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    /// Messages (scheduled and cron) between memory checkpoints.
    pub checkpoint_every: u64,
    /// Gas (of metered modules) after which a checkpoint is made even before
    /// `checkpoint_every` messages: a few expensive messages are worth keeping.
    pub checkpoint_gas: u64,
    /// Memory budget of loaded processes.
    pub cache_bytes: u64,
    /// Follow loaded processes on the SU (`Subscribe`) and evaluate new messages as they are
    /// scheduled, so their results are ready before anyone asks.
    pub follow: bool,
    /// Largest `Memory-Limit` a process may ask for (413 above).
    pub max_memory_limit: u64,
    /// Largest `Compute-Limit` a process may ask for (413 above).
    pub max_compute_limit: u64,
    /// Evaluation threads, each holding many loaded processes (0: one per core).
    pub workers: usize,
    /// Where "now" comes from for crons; `None`: the SU's clock (see [`Clock`]).
    pub clock: Option<Arc<dyn Clock>>,
    /// CUs asked for a process's live state when it is loaded here (`--peer-cu`), after the
    /// ones a request names in `ao-handoff-from` ([`crate::handoff`]).
    pub peers: Vec<crate::handoff::Peer>,
    /// The CU's wallet when it attests results (`--attest`, [`crate::attest`]): the memory is
    /// then hashed at the end of each evaluation run.
    pub attester: Option<Arc<crate::attest::Attester>>,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        EvaluatorConfig {
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            checkpoint_gas: DEFAULT_CHECKPOINT_GAS,
            cache_bytes: DEFAULT_CACHE_BYTES,
            follow: true,
            max_memory_limit: DEFAULT_MAX_MEMORY_LIMIT,
            max_compute_limit: DEFAULT_MAX_COMPUTE_LIMIT,
            workers: DEFAULT_WORKERS,
            clock: None,
            peers: Vec::new(),
            attester: None,
        }
    }
}

/// How far to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Up to and including the scheduled message with this nonce (and the crons before it).
    Nonce(u64),
    /// Every scheduled message, then the crons due until now.
    Now,
}

/// The last scheduled message evaluated.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    nonce: u64,
    at: Boundary,
    hash_chain: [u8; 32],
    assignment_id: [u8; 32],
}

struct Loaded {
    module_id: String,
    /// `Module-Format`, for the loader's trace span.
    module_format: String,
    env: Value,
    worker: Worker,
    owner: String,
    origin: Boundary,
    crons: Crons,
    blocks: Vec<Boundary>,
    next_nonce: u64,
    chain: HashChain,
    last: Option<Scheduled>,
    walk: CronWalk,
    last_eval: Boundary,
    since_checkpoint: u64,
    gas_since_checkpoint: u64,
    /// Checkpoints queued or written so far: a queued message's gas counts toward the next
    /// checkpoint only if none was queued after it.
    checkpoints_queued: u64,
    /// The process message a cold start may have to evaluate before the schedule
    /// ([`crate::cold_start`]); taken at the first entry (or the first cron), `None` once
    /// decided or when resuming from a checkpoint.
    boot: Option<Value>,
    /// Messages and checkpoint copies sent to the worker thread and not yet collected, in the
    /// order sent ([`Evaluator::submit`]); empty whenever the slot's lock is free.
    queue: std::collections::VecDeque<Queued>,
    /// The store write of this process's last results (and checkpoint), running on a blocking
    /// thread while evaluation goes on ([`Evaluator::start_save`]); `None` whenever the slot's
    /// lock is free.
    saving: Option<tokio::task::JoinHandle<Result<Option<Checkpoint>, CuError>>>,
    /// An instance replaying the results older than the state the process was started from
    /// ([`Evaluator::replay_history`]): it stores results but never a checkpoint, since the
    /// process's checkpoint is newer than anything it evaluates.
    history: bool,
    /// Whether the memory is hashed at the end of each evaluation run (the CU attests).
    attesting: bool,
}

/// A message about to be sent to a process's worker thread ([`Evaluator::submit`]).
struct Next {
    /// The message JSON.
    msg: Value,
    /// Where its result will be stored (the result filled in when the answer comes).
    record: StoredResult,
    /// Its `cu.evaluate` span (none for a cron).
    span: tracing::Span,
}

/// What was sent to a process's worker thread and is collected in order by
/// [`Evaluator::collect_one`].
enum Queued {
    /// A message; its result record (the result filled in when the answer comes) and its trace
    /// spans (`cu.evaluate` and `cu.loader` inside it, closed when the answer comes).
    Message {
        answer: Pending<Timed>,
        record: StoredResult,
        spans: (tracing::Span, tracing::Span),
        /// `checkpoints_queued` when it was sent.
        window: u64,
    },
    /// The memory copy of a checkpoint taken between two messages, and its place in the
    /// schedule (its `memory` filled in when the copy comes).
    Checkpoint {
        memory: Pending<Option<Vec<u8>>>,
        checkpoint: Checkpoint,
    },
}

/// A process's place in the CU: empty until first used, then its loaded state, behind the lock
/// that makes its evaluation strictly sequential.
type ProcessSlot = Arc<Mutex<Option<Loaded>>>;

/// The CU's evaluation core, shared by its HTTP and gRPC APIs.
pub struct Evaluator {
    store: Arc<Store>,
    /// Where schedules come from (each process's own SU, see [`crate::schedule_source`]).
    su: Arc<dyn ScheduleSource>,
    gateway: Arc<dyn Gateway>,
    runtime: Runtime,
    /// The threads loaded processes evaluate on.
    workers: WorkerPool,
    /// "Now" for crons.
    clock: Arc<dyn Clock>,
    config: EvaluatorConfig,
    processes: std::sync::Mutex<HashMap<[u8; 32], ProcessSlot>>,
    /// Last use and memory size of each loaded process, for eviction.
    usage: std::sync::Mutex<HashMap<[u8; 32], (Instant, u64)>>,
    /// The `Subscribe` follower of each loaded process.
    followers: std::sync::Mutex<HashMap<[u8; 32], tokio::task::AbortHandle>>,
    /// Counters served on `/metrics`.
    pub metrics: Metrics,
    /// Checkpoints on Arweave, when configured.
    arweave: Option<crate::arweave_checkpoint::ArweaveCheckpoints>,
    /// The `traceparent` of entries the live tail brought, by process and nonce, taken when the
    /// entry is evaluated so its evaluation joins the trace that scheduled it (traces on only).
    traces: std::sync::Mutex<HashMap<([u8; 32], u64), String>>,
    /// Where peers' states are read at a handoff (`None`: no handoff, as in an evaluator
    /// built without [`Evaluator::with_peer_source`]).
    peer_source: Option<Arc<dyn PeerSource>>,
    /// The peers recent requests named, by process ([`crate::handoff`]).
    hints: Hints,
    /// Permits of the history replays running ([`HISTORY_REPLAYS`]).
    history: tokio::sync::Semaphore,
}

/// Trace contexts held for entries not yet evaluated: far more than a live tail's batch; past it
/// new ones are not kept (their evaluation then starts a trace of its own) rather than let
/// entries never evaluated here grow the table.
const MAX_PENDING_TRACES: usize = 4096;

/// Why [`Evaluator::replay_history`] replays a process on a second instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Results the CU never evaluated (before the state the process started from).
    Gap,
    /// Results stored without the memory hash an attestation needs.
    Hashes,
}

/// History replays ([`Evaluator::replay_history`]) running at once: each is a cold replay on a
/// worker thread of its own, for results clients rarely ask (older than a handoff); two keep a
/// flood of such requests from taking every worker from the processes being evaluated now.
pub const HISTORY_REPLAYS: usize = 2;

/// The clock of the process's SU: the production [`Clock`].
struct SuClock {
    su: Arc<dyn ScheduleSource>,
}

impl std::fmt::Debug for SuClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuClock")
    }
}

impl Clock for SuClock {
    fn now_ms<'a>(&'a self, process_id: &'a str) -> Now<'a> {
        Box::pin(async move { self.su.timestamp(process_id).await })
    }
}

fn pid_raw(pid: &str) -> Result<[u8; 32], CuError> {
    decode_id("process-id", pid)
        .map_err(|_| CuError::BadRequest(format!("process-id {pid:?} is not a 43-character id")))
}

fn tag<'a>(tags: &'a [pb::Tag], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name == name)
        .map(|t| t.value.as_str())
}

fn pb_tags(tags: &[ao_core::Tag]) -> Vec<pb::Tag> {
    tags.iter()
        .map(|t| pb::Tag {
            name: t.name.clone(),
            value: t.value.clone(),
        })
        .collect()
}

fn module_error(e: impl std::fmt::Display) -> CuError {
    CuError::Module(e.to_string())
}

impl Evaluator {
    /// An evaluator over `store`, reading schedules from `su` and modules from `gateway`.
    pub fn new(
        store: Store,
        su: Arc<dyn ScheduleSource>,
        gateway: Arc<dyn Gateway>,
        config: EvaluatorConfig,
    ) -> Evaluator {
        let clock = config
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SuClock { su: su.clone() }) as Arc<dyn Clock>);
        Evaluator {
            store: Arc::new(store),
            su,
            gateway,
            runtime: Runtime::new(),
            workers: WorkerPool::new(config.workers),
            clock,
            config: EvaluatorConfig {
                checkpoint_every: config.checkpoint_every.max(1),
                ..config
            },
            processes: std::sync::Mutex::new(HashMap::new()),
            usage: std::sync::Mutex::new(HashMap::new()),
            followers: std::sync::Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            arweave: None,
            traces: std::sync::Mutex::new(HashMap::new()),
            peer_source: None,
            hints: Hints::default(),
            history: tokio::sync::Semaphore::new(HISTORY_REPLAYS),
        }
    }

    /// Read peers' states at a handoff from `source` (the CU: their HTTP API).
    pub fn with_peer_source(mut self, source: Arc<dyn PeerSource>) -> Evaluator {
        self.peer_source = Some(source);
        self
    }

    /// Remember the peers a request for `pid` names (`ao-handoff-from`), for when the process is
    /// loaded; a bad process id is left for the request itself to refuse.
    pub fn hint(&self, pid: &str, peers: Vec<crate::handoff::Peer>) {
        if let Ok(raw) = pid_raw(pid) {
            self.hints.set(raw, peers);
        }
    }

    /// A peer's handoff probe: the state this CU holds of `pid` as it is, without evaluating
    /// anything (the new owner evaluates what follows): the loaded process's memory (waiting
    /// for an evaluation under way), else the local checkpoint; `None` when neither, so asking
    /// a peer never costs it a replay from nonce 0.
    pub async fn held_state(&self, pid: &str) -> Result<Option<State>, CuError> {
        let raw = pid_raw(pid)?;
        if let Some(slot) = self.existing_slot(&raw) {
            let guard = slot.lock().await;
            if let Some(p) = guard.as_ref() {
                return Ok(Some(state_of(p).await?));
            }
            drop(guard);
            self.release(&raw, &slot);
        }
        let store = Arc::clone(&self.store);
        let Some(c) = tokio::task::spawn_blocking(move || store.checkpoint(&raw))
            .await
            .map_err(|e| CuError::Storage(format!("the store read stopped: {e}")))??
        else {
            return Ok(None);
        };
        // The checkpoint does not name the module; the process does.
        let module_id = self.module_of(pid, &raw).await?;
        Ok(Some(State {
            memory: c.memory,
            nonce: c.nonce,
            timestamp: c.last_timestamp,
            block_height: c.last_block_height,
            module_id,
            scheduled: Some(ScheduledPoint {
                timestamp: c.timestamp,
                block_height: c.block_height,
                hash_chain: c.hash_chain,
                assignment_id: c.assignment_id,
            }),
            crons_done: c.crons_done,
        }))
    }

    /// The module `pid` runs: the loaded process's, else its record's `Module` tag (a round trip
    /// to its SU, which an attestation of a loaded process need not make).
    async fn module_of(&self, pid: &str, raw: &[u8; 32]) -> Result<String, CuError> {
        if let Some(slot) = self.existing_slot(raw) {
            let loaded = slot.lock().await.as_ref().map(|p| p.module_id.clone());
            if let Some(m) = loaded {
                return Ok(m);
            }
            self.release(raw, &slot);
        }
        let record = self.su.process(pid).await?;
        tag(&record.tags, "Module")
            .map(str::to_string)
            .ok_or_else(|| CuError::Module(format!("process {pid} has no Module tag")))
    }

    /// The freshest verified state of `pid` among the peers a request hinted and `--peer-cu`,
    /// if fresher than `local` (the nonce of the local checkpoint). A peer's answer is its live
    /// memory, evaluated to its present, so no checkpoint of it can be fresher: the first that
    /// verifies is taken. What fails is logged, counted, and skipped.
    async fn peer_checkpoint(
        &self,
        pid: &str,
        raw: &[u8; 32],
        module: &str,
        local: Option<u64>,
    ) -> Option<Checkpoint> {
        let source = self.peer_source.as_ref()?;
        for peer in self.peers_of(raw) {
            let state = match source.state(&peer, pid).await {
                Ok(s) => s,
                Err(crate::handoff::HandoffError::NotHeld(_)) => {
                    tracing::debug!(process = pid, %peer, "the peer does not hold the process");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(process = pid, "handoff: {e}");
                    Metrics::inc(&self.metrics.handoff_refused);
                    continue;
                }
            };
            let nonce = state.checkpoint.nonce;
            if local.is_some_and(|l| l >= nonce) {
                tracing::info!(process = pid, %peer, nonce, "the local checkpoint is as fresh as the peer's state");
                continue;
            }
            let entry = match self.entry_at(pid, nonce).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(process = pid, %peer, nonce, "handoff: cannot read the SU's entry: {e}");
                    Metrics::inc(&self.metrics.handoff_refused);
                    continue;
                }
            };
            match crate::handoff::verify(state, module, &entry) {
                Ok(c) => {
                    tracing::info!(process = pid, %peer, nonce, "starting from a peer's state");
                    return Some(c);
                }
                Err(e) => {
                    tracing::warn!(process = pid, "handoff refused: {e}");
                    Metrics::inc(&self.metrics.handoff_refused);
                }
            }
        }
        None
    }

    /// The result of message `id` of `pid` from the first peer (hinted, then `--peer-cu`) that
    /// has it stored: the process was handed over from a state past it.
    async fn peer_result(&self, pid: &str, raw: &[u8; 32], id: &str) -> Option<Value> {
        let source = self.peer_source.as_ref()?;
        for peer in self.peers_of(raw) {
            match source.result(&peer, pid, id).await {
                Ok(v) => {
                    tracing::info!(process = pid, message = id, %peer, "a result evaluated before the handoff, from the peer");
                    return Some(v);
                }
                Err(e) => {
                    tracing::debug!(process = pid, message = id, "no result from the peer: {e}")
                }
            }
        }
        None
    }

    /// The peers to ask about `raw`: those a request hinted, then `--peer-cu`.
    fn peers_of(&self, raw: &[u8; 32]) -> Vec<crate::handoff::Peer> {
        let mut peers = self.hints.get(raw);
        for p in &self.config.peers {
            if !peers.iter().any(|h| h.http == p.http) && peers.len() < crate::handoff::MAX_PEERS {
                peers.push(p.clone());
            }
        }
        peers
    }

    /// The SU's schedule entry of `pid` at `nonce`.
    async fn entry_at(&self, pid: &str, nonce: u64) -> Result<pb::ScheduledMessage, CuError> {
        use futures_util::StreamExt;
        let mut stream = self.su.read(pid, nonce.checked_sub(1), nonce).await?;
        match stream.next().await.transpose()? {
            Some(e) => Ok(e),
            None => Err(CuError::NotFound(format!(
                "the SU has no nonce {nonce} for process {pid}"
            ))),
        }
    }

    /// Upload checkpoints to Arweave and start processes from them (see
    /// [`crate::arweave_checkpoint`]).
    pub fn with_arweave(mut self, a: crate::arweave_checkpoint::ArweaveCheckpoints) -> Evaluator {
        self.arweave = Some(a);
        self
    }

    /// The slot of `pid`, created empty when there is none. A slot that stays empty must be
    /// given back with [`Evaluator::release`], or it would stay in the map for ever.
    fn slot(&self, pid: [u8; 32]) -> ProcessSlot {
        let mut map = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        let slot = map.entry(pid).or_default().clone();
        self.metrics
            .slots
            .store(map.len() as u64, Ordering::Relaxed);
        slot
    }

    /// The slot of `pid` if there is one (never creates one).
    fn existing_slot(&self, pid: &[u8; 32]) -> Option<ProcessSlot> {
        let map = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        map.get(pid).cloned()
    }

    /// Remove `pid`'s slot when it is empty (the process failed to load, or was unloaded) and
    /// nobody else holds it. Clones are only taken under the map's lock, so holding that lock
    /// while counting references is exact: a task waiting for this slot keeps it (it will load
    /// the process, or release the slot itself), and a later request creates a new one. The
    /// caller must not hold the slot's lock.
    fn release(&self, pid: &[u8; 32], slot: &ProcessSlot) {
        let mut map = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        let ours = map.get(pid).is_some_and(|s| Arc::ptr_eq(s, slot));
        // Two references: the map's and the caller's.
        if ours
            && Arc::strong_count(slot) == 2
            && slot.try_lock().is_ok_and(|guard| guard.is_none())
        {
            map.remove(pid);
            self.metrics
                .slots
                .store(map.len() as u64, Ordering::Relaxed);
        }
    }

    async fn load(&self, pid: &str, raw: &[u8; 32]) -> Result<Loaded, CuError> {
        self.load_from(pid, raw, true).await
    }

    /// [`Evaluator::load`]; with `resume` false, a fresh instance at nonce 0 that ignores every
    /// checkpoint, for [`Evaluator::replay_history`].
    async fn load_from(&self, pid: &str, raw: &[u8; 32], resume: bool) -> Result<Loaded, CuError> {
        let record = self.su.process(pid).await?;
        let module_id = tag(&record.tags, "Module")
            .ok_or_else(|| CuError::Module(format!("process {pid} has no Module tag")))?
            .to_string();
        let crons = parse_crons(&record.tags).map_err(module_error)?;
        let meta = self.tx_meta(&module_id, "module").await?;
        let module_tags = pb_tags(&meta.tags);
        let module_format = tag(&module_tags, "Module-Format")
            .ok_or_else(|| CuError::Module(format!("module {module_id} has no Module-Format")))?;
        let fmt = ModuleFormat::parse(module_format).map_err(module_error)?;
        for t in ["Input-Encoding", "Output-Encoding"] {
            format::check_encoding(t, tag(&module_tags, t).unwrap_or("")).map_err(module_error)?;
        }
        if let Some(ext) = module_tags.iter().find(|t| t.name == "Extension") {
            // WeaveDrive and any other extension need a host facility this CU does not attach;
            // running such a module anyway would give results other CUs do not.
            return Err(CuError::Module(format!(
                "module {module_id} needs the extension {:?}, which this CU does not support",
                ext.value
            )));
        }
        let limit = |name: &str| tag(&record.tags, name).or_else(|| tag(&module_tags, name));
        let memory_limit = limit("Memory-Limit")
            .map(|v| ao_core::ao::parse_memory_limit("Process", v))
            .transpose()
            .map_err(module_error)?;
        let compute_limit = limit("Compute-Limit")
            .map(|v| ao_core::ao::parse_compute_limit("Process", v))
            .transpose()
            .map_err(module_error)?;
        if let Some(m) = memory_limit
            && m > self.config.max_memory_limit
        {
            return Err(CuError::TooLarge(format!(
                "process {pid} asks for a Memory-Limit of {m} bytes; this CU allows at most {}",
                self.config.max_memory_limit
            )));
        }
        if let Some(c) = compute_limit
            && c > self.config.max_compute_limit
        {
            return Err(CuError::TooLarge(format!(
                "process {pid} asks for a Compute-Limit of {c}; this CU allows at most {}",
                self.config.max_compute_limit
            )));
        }
        let key = self.runtime.cache_key(&module_id, fmt);
        let module = match self.store.artifact(&key)? {
            Some(bytes) => match self.runtime.deserialize(&bytes, fmt) {
                Ok(m) => m,
                Err(_) => self.compile(&module_id, fmt, &key).await?,
            },
            None => self.compile(&module_id, fmt, &key).await?,
        };
        let options = Options {
            compute_limit,
            memory_limit,
            ..Options::default()
        };
        let env = env_json(&record, &module_id, &meta.owner.address, &module_tags);
        let owner = record
            .owner
            .as_ref()
            .map(|o| o.address.clone())
            .unwrap_or_default();
        let origin = Boundary {
            timestamp: record.timestamp_ms,
            height: record.block_height,
        };
        let mut loaded = Loaded {
            module_id: module_id.clone(),
            module_format: module_format.to_string(),
            env,
            worker: self
                .workers
                .spawn(module.clone(), options.clone(), None)
                .map_err(module_error)?,
            owner,
            origin,
            crons,
            blocks: Vec::new(),
            next_nonce: 0,
            chain: HashChain::for_new_process(raw),
            last: None,
            walk: CronWalk::new(origin),
            last_eval: origin,
            since_checkpoint: 0,
            gas_since_checkpoint: 0,
            checkpoints_queued: 0,
            boot: Some(crate::cold_start::process_message_json(&record)),
            queue: std::collections::VecDeque::new(),
            saving: None,
            history: !resume,
            attesting: self.config.attester.is_some(),
        };
        if !resume {
            Metrics::inc(&self.metrics.loads_history);
            return Ok(loaded);
        }
        let mut from_arweave = false;
        let mut from_peer = false;
        let mut stored = self.store.checkpoint(raw)?;
        if let Some(c) = self
            .peer_checkpoint(pid, raw, &module_id, stored.as_ref().map(|c| c.nonce))
            .await
        {
            stored = Some(c);
            from_peer = true;
        }
        if stored.is_none()
            && let Some(a) = &self.arweave
        {
            match a.latest(pid).await {
                Ok(Some(found)) => {
                    tracing::info!(process = pid, id = %found.id, nonce = found.checkpoint.nonce,
                        "starting from a checkpoint on Arweave");
                    stored = Some(found.checkpoint);
                    from_arweave = true;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(process = pid, "no checkpoint from Arweave: {e}"),
            }
        }
        if let Some(c) = stored {
            let left = Boundary {
                timestamp: c.timestamp,
                height: c.block_height,
            };
            loaded.walk = CronWalk::new(left);
            self.ensure_blocks(&mut loaded, c.last_timestamp.saturating_add(1))
                .await?;
            match CronWalk::resume(
                left,
                c.crons_done,
                &loaded.crons,
                origin,
                i64::MAX,
                &loaded.blocks,
            ) {
                Some(walk) => {
                    loaded.walk = walk;
                    // The memory already went past the process's start.
                    loaded.boot = None;
                    if from_peer {
                        // Not on this disk yet: checkpointed after its first message here (or
                        // when unloaded, or at shutdown), so a restart does not need the peer.
                        loaded.since_checkpoint = self.config.checkpoint_every;
                    }
                    loaded.next_nonce = c.nonce + 1;
                    loaded.chain = HashChain::after(&c.assignment_id, &c.hash_chain);
                    loaded.last = Some(Scheduled {
                        nonce: c.nonce,
                        at: left,
                        hash_chain: c.hash_chain,
                        assignment_id: c.assignment_id,
                    });
                    loaded.last_eval = Boundary {
                        timestamp: c.last_timestamp,
                        height: c.last_block_height,
                    };
                    loaded.worker = self
                        .workers
                        .spawn(module, options, Some(c.memory))
                        .map_err(module_error)?;
                    Metrics::inc(if from_peer {
                        &self.metrics.loads_peer
                    } else if from_arweave {
                        &self.metrics.loads_arweave
                    } else {
                        &self.metrics.loads_checkpoint
                    });
                    return Ok(loaded);
                }
                None => tracing::warn!(
                    process = pid,
                    "the checkpoint's cron position does not fit the process's crons; \
                     evaluating from the start"
                ),
            }
        }
        Metrics::inc(&self.metrics.loads_cold);
        Ok(loaded)
    }

    /// Make sure the blocks after the process's last scheduled message are known up to `right`
    /// (ms), for block-based crons. Only processes with such crons ask the gateway.
    async fn ensure_blocks(&self, p: &mut Loaded, right: i64) -> Result<(), CuError> {
        if p.crons.blocks.is_empty() {
            return Ok(());
        }
        loop {
            if p.blocks.last().is_some_and(|b| b.timestamp >= right) {
                return Ok(());
            }
            let min = p
                .blocks
                .last()
                .map_or(p.walk.left().height, |b| b.height + 1);
            let page = self
                .gateway
                .blocks(&BlockQuery {
                    height: Some(HeightRange {
                        min: Some(min),
                        max: None,
                    }),
                    first: BLOCK_PAGE,
                    after: None,
                    sort: Sort::HeightAsc,
                })
                .await
                .map_err(|e| CuError::Gateway(format!("blocks from {min}: {e}")))?;
            let before = p.blocks.len();
            for (_, b) in page.edges {
                if p.blocks.last().is_none_or(|l| b.height > l.height) {
                    p.blocks.push(Boundary {
                        timestamp: i64::try_from(b.timestamp)
                            .unwrap_or(i64::MAX / 1000)
                            .saturating_mul(1000),
                        height: b.height,
                    });
                }
            }
            if p.blocks.len() == before || !page.has_next_page {
                return Ok(());
            }
        }
    }

    async fn compile(
        &self,
        module_id: &str,
        fmt: ModuleFormat,
        key: &str,
    ) -> Result<CompiledModule, CuError> {
        let wasm = self
            .gateway
            .data(module_id)
            .await
            .map_err(|e| CuError::Gateway(format!("module {module_id}: {e}")))?;
        let rt = self.runtime.clone();
        let module = tokio::task::spawn_blocking(move || rt.compile(&wasm, fmt))
            .await
            .map_err(|e| CuError::Module(e.to_string()))?
            .map_err(|e| CuError::Module(e.to_string()))?;
        if let Ok(bytes) = module.serialize() {
            self.store.put_artifact(key, &bytes)?;
        }
        Ok(module)
    }

    /// What the gateway knows of transaction or item `id` (`what` names it in the error).
    async fn tx_meta(&self, id: &str, what: &str) -> Result<ao_arweave::TxMeta, CuError> {
        self.gateway
            .transactions_by_id(&[id.to_string()])
            .await
            .map_err(|e| CuError::Gateway(e.to_string()))?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| CuError::NotFound(format!("{what} {id} is not on the gateway")))
    }

    async fn bare_assignment(
        &self,
        id: &str,
        exclude: &[String],
    ) -> Result<(pb::DataItem, String), CuError> {
        let meta = self.tx_meta(id, "assigned transaction").await?;
        let data = if exclude.iter().any(|e| e == "Data") {
            Vec::new()
        } else {
            self.gateway
                .data(id)
                .await
                .map_err(|e| CuError::Gateway(e.to_string()))?
                .to_vec()
        };
        let item = pb::DataItem {
            id: meta.id.clone(),
            owner: Some(pb::Owner {
                address: meta.owner.address.clone(),
                key: meta.owner.key.clone(),
            }),
            data,
            tags: pb_tags(&meta.tags),
            signature: meta.signature.clone(),
            anchor: (!meta.anchor.is_empty()).then(|| meta.anchor.clone().into_bytes()),
            target: None,
        };
        Ok((item, meta.recipient.clone()))
    }

    /// Evaluate `pid` up to `target` in a task of its own, which runs to its end even when
    /// the caller stops waiting for it.
    pub fn start(
        self: &Arc<Self>,
        pid: &str,
        target: Target,
    ) -> tokio::task::JoinHandle<Result<(), CuError>> {
        use tracing::Instrument;
        let this = Arc::clone(self);
        let pid = pid.to_string();
        // In the caller's span: an evaluation a request asked for is part of its trace.
        tokio::spawn(
            async move {
                let result = this.evaluate(&pid, target).await;
                if let Ok(evaluated) = &result {
                    this.follow(&pid, *evaluated);
                }
                this.evict().await;
                result.map(|_| ())
            }
            .in_current_span(),
        )
    }

    /// Start following `pid` on the SU after nonce `after`, unless it is already followed.
    fn follow(self: &Arc<Self>, pid: &str, after: Option<u64>) {
        if !self.config.follow {
            return;
        }
        let Ok(raw) = pid_raw(pid) else {
            return;
        };
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        if followers.contains_key(&raw) {
            return;
        }
        let task = tokio::spawn(follow(Arc::downgrade(self), pid.to_string(), after));
        followers.insert(raw, task.abort_handle());
    }

    /// Evaluate `pid` up to `target` and wait for it.
    pub async fn evaluate_to(self: &Arc<Self>, pid: &str, target: Target) -> Result<(), CuError> {
        self.start(pid, target)
            .await
            .map_err(|e| CuError::Storage(format!("evaluation task failed: {e}")))?
    }

    /// Evaluate up to `target`; the last nonce evaluated.
    async fn evaluate(&self, pid: &str, target: Target) -> Result<Option<u64>, CuError> {
        let raw = pid_raw(pid)?;
        let slot = self.slot(raw);
        let result = self.evaluate_in(pid, &raw, &slot, target).await;
        if result.is_err() {
            self.release(&raw, &slot);
        }
        result
    }

    /// [`Evaluator::evaluate`] in `slot`, loading the process first when the slot is empty;
    /// the slot is left empty when this fails.
    async fn evaluate_in(
        &self,
        pid: &str,
        raw: &[u8; 32],
        slot: &ProcessSlot,
        target: Target,
    ) -> Result<Option<u64>, CuError> {
        let raw = *raw;
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.load(pid, &raw).await?);
        } else {
            Metrics::inc(&self.metrics.loads_memory);
        }
        let Some(p) = guard.as_mut() else {
            return Err(CuError::Storage("process slot empty".into()));
        };
        let mut pending = Vec::new();
        let mut result = self.run_to(pid, &raw, p, target, &mut pending).await;
        if result.is_ok() {
            result = self.hash_run_end(p, &mut pending).await;
        }
        if result.is_ok() {
            // The pool's bound on the age of its Arweave checkpoints (`--checkpoint-max-age`):
            // a checkpoint now, before `checkpoint_every`, when this process's is due.
            // (Checkpoints taken after crons are never uploaded: see `maybe_upload`.)
            // And the gas bound (`checkpoint_gas`): gas is known only once a message is
            // evaluated, after the next ones were queued, so a checkpoint it calls for comes with
            // the next queued message or here, at the end.
            let due = p.since_checkpoint > 0
                && (p.gas_since_checkpoint >= self.config.checkpoint_gas
                    || (p.walk.produced == 0
                        && self.arweave.as_ref().is_some_and(|a| a.upload_due(pid))));
            result = self.save(&raw, p, std::mem::take(&mut pending), due).await;
        }
        match result {
            Ok(()) => {
                let size = p.worker.memory_size().await.unwrap_or(0) as u64;
                self.touch(raw, size);
                Ok(p.last.map(|l| l.nonce))
            }
            Err(e) => {
                // Messages evaluated since the last save are in memory but not in the store:
                // drop the slot so the next request reloads from the stored checkpoint and
                // evaluates them again, rather than carry on with results never stored.
                *guard = None;
                self.forget(&raw);
                Err(e)
            }
        }
    }

    /// An attesting CU's hash of the memory at the end of an evaluation run, for the record of
    /// the last scheduled message when nothing (no cron) was evaluated after it: an attestation
    /// states the memory right after its message, and this is the moment it is still there.
    /// Hashing after every message instead cost 8x on a cold replay of a 6 MiB process
    /// (BENCHMARKS.md); messages in the middle of a run get theirs from a checkpoint taken
    /// right after them, or from a replay when first attested ([`Replay::Hashes`]).
    async fn hash_run_end(
        &self,
        p: &mut Loaded,
        pending: &mut [StoredResult],
    ) -> Result<(), CuError> {
        if !p.attesting || p.walk.produced != 0 {
            return Ok(());
        }
        let Some(last) = p.last else {
            return Ok(());
        };
        let Some(record) = pending.last_mut() else {
            return Ok(());
        };
        if record.sub != 0 || record.nonce != last.nonce || record.memory_sha256.is_some() {
            return Ok(());
        }
        let hash = p
            .worker
            .submit_memory_hash()
            .map_err(module_error)?
            .wait()
            .await
            .map_err(module_error)?;
        record.memory_sha256 = hash.map(hex::encode);
        Ok(())
    }

    /// Evaluate what `target` asks; results accumulate in `pending` (saved every
    /// `checkpoint_every` messages with a checkpoint, the rest by the caller).
    async fn run_to(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        target: Target,
        pending: &mut Vec<StoredResult>,
    ) -> Result<(), CuError> {
        let to_nonce = match target {
            Target::Nonce(n) => n,
            Target::Now => self.latest_nonce(pid).await?,
        };
        if p.next_nonce <= to_nonce {
            use futures_util::StreamExt;
            let mut stream = self
                .su
                .read(pid, p.next_nonce.checked_sub(1), to_nonce)
                .await?;
            while let Some(entry) = stream.next().await.transpose()? {
                self.cold_start(pid, p, Some(&entry)).await?;
                self.crons_until(pid, raw, p, entry.timestamp_ms, pending)
                    .await?;
                self.scheduled(pid, raw, p, entry, pending).await?;
            }
            if p.next_nonce <= to_nonce {
                return Err(CuError::NotFound(format!(
                    "the SU has no nonce {to_nonce} for process {pid} (it ends at {})",
                    p.next_nonce.saturating_sub(1)
                )));
            }
        }
        if target == Target::Now && !p.crons.is_empty() {
            let now = self
                .clock
                .now_ms(pid)
                .await?
                .saturating_sub(CRON_NOW_LAG_MS);
            // The reference only walks past the last message when "now" is in a later second.
            if p.walk.left().timestamp.div_euclid(1000) < now.div_euclid(1000) {
                // No entry came (an empty schedule): the process message still goes first.
                self.cold_start(pid, p, None).await?;
                self.crons_until(pid, raw, p, now, pending).await?;
            }
        }
        while !p.queue.is_empty() {
            self.collect_one(pid, raw, p, pending).await?;
        }
        Ok(())
    }

    /// On a cold start, before the schedule's first entry `first` (`None`: before the first
    /// cron of an empty schedule): evaluate the process message when the schedule does not
    /// start with the process itself ([`crate::cold_start::needs_process_message`]). Its
    /// result is not stored (it has no nonce to store it at), as in the reference CU; an error
    /// in it is the module's answer, not the CU's failure, and evaluation goes on.
    async fn cold_start(
        &self,
        pid: &str,
        p: &mut Loaded,
        first: Option<&pb::ScheduledMessage>,
    ) -> Result<(), CuError> {
        let Some(msg) = p.boot.take() else {
            return Ok(());
        };
        if p.next_nonce != 0 || !crate::cold_start::needs_process_message(pid, first) {
            return Ok(());
        }
        tracing::info!(
            process = pid,
            "the schedule does not start with the process: evaluating the process message first"
        );
        let (eval, _) = self.run_message(p, msg).await?;
        if let Some(e) = &eval.error {
            tracing::warn!(process = pid, "the process message failed: {e}");
        }
        Ok(())
    }

    /// Evaluate one message now, after whatever is queued (the process message of a cold
    /// start, which has no result to store).
    async fn run_message(&self, p: &Loaded, msg: Value) -> Result<Timed, CuError> {
        let (eval, took) = p
            .worker
            .evaluate(msg, p.env.clone())
            .await
            .map_err(module_error)?;
        self.metrics.eval_seconds.observe_duration(took);
        if eval.error.is_some() {
            Metrics::inc(&self.metrics.errors);
        }
        Ok((eval, took))
    }

    /// The `cu.loader` span of a message, inside `parent` (its `cu.evaluate`; a cron has none,
    /// so the current span). Queued messages open it when sent, so its duration includes the
    /// wait behind earlier messages; `ao.eval_ms` is the evaluation alone.
    fn loader_span(p: &Loaded, parent: &tracing::Span) -> tracing::Span {
        if !ao_runtime::telemetry::enabled() {
            return tracing::Span::none();
        }
        let parent = if parent.is_none() {
            tracing::Span::current().id()
        } else {
            parent.id()
        };
        tracing::info_span!(
            parent: parent,
            "cu.loader",
            ao.module.id = %p.module_id,
            ao.module.format = %p.module_format,
            ao.eval_ms = tracing::field::Empty,
        )
    }

    /// Send `next` to the process's thread behind what is queued, with the record its result
    /// will be stored in; then, when a checkpoint is due after it, the copy of the memory as it
    /// will be then. Collects the oldest answers first while the queue is full. The caller has
    /// already moved `p` past the message (nonce, cron walk), so a checkpoint queued here
    /// records the schedule position right after it.
    async fn submit(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        next: Next,
        pending: &mut Vec<StoredResult>,
    ) -> Result<(), CuError> {
        let Next {
            msg,
            record,
            span: evaluate_span,
        } = next;
        while p.queue.len() >= PIPELINE_DEPTH {
            self.collect_one(pid, raw, p, pending).await?;
        }
        let loader_span = Self::loader_span(p, &evaluate_span);
        let answer = p.worker.submit(msg, p.env.clone()).map_err(module_error)?;
        p.queue.push_back(Queued::Message {
            answer,
            record,
            spans: (evaluate_span, loader_span),
            window: p.checkpoints_queued,
        });
        p.since_checkpoint += 1;
        // Gas is counted as answers come, so this sees it up to `PIPELINE_DEPTH` messages late
        // (and the end of `evaluate_in` checks it once more): the gas bound bounds a
        // recomputation, it need not fall on the exact message.
        if !p.history
            && (p.since_checkpoint >= self.config.checkpoint_every
                || p.gas_since_checkpoint >= self.config.checkpoint_gas)
            && let Some(checkpoint) = checkpoint_at(p, Vec::new())
        {
            let memory = p.worker.submit_memory().map_err(module_error)?;
            p.queue.push_back(Queued::Checkpoint { memory, checkpoint });
            p.since_checkpoint = 0;
            p.gas_since_checkpoint = 0;
            p.checkpoints_queued += 1;
        }
        Ok(())
    }

    /// Take the oldest answer of the queue: a message's result joins `pending`; a checkpoint's
    /// memory is stored with every result before it.
    async fn collect_one(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        pending: &mut Vec<StoredResult>,
    ) -> Result<(), CuError> {
        match p.queue.pop_front() {
            None => Ok(()),
            Some(Queued::Message {
                answer,
                mut record,
                spans: (evaluate_span, loader_span),
                window,
            }) => {
                let (eval, took) = answer.wait().await.map_err(module_error)?;
                self.metrics.eval_seconds.observe_duration(took);
                loader_span.record("ao.eval_ms", took.as_secs_f64() * 1000.0);
                drop(loader_span);
                evaluate_span.record("ao.gas_used", eval.gas_used);
                if eval.error.is_some() {
                    Metrics::inc(&self.metrics.errors);
                    evaluate_span.record("otel.status_code", "ERROR");
                }
                if record.cron.is_some() {
                    Metrics::inc(&self.metrics.crons);
                } else {
                    Metrics::inc(&self.metrics.messages);
                }
                if window == p.checkpoints_queued {
                    p.gas_since_checkpoint = p
                        .gas_since_checkpoint
                        .saturating_add(eval.gas_used.unwrap_or(0));
                }
                record.result = result_json(&eval);
                pending.push(record);
                Ok(())
            }
            Some(Queued::Checkpoint {
                memory,
                mut checkpoint,
            }) => {
                checkpoint.memory = memory
                    .wait()
                    .await
                    .map_err(module_error)?
                    .unwrap_or_default();
                self.start_save(pid, raw, p, std::mem::take(pending), Some(checkpoint), true)
                    .await
            }
        }
    }

    /// Evaluate the cron messages due before `right` (ms).
    async fn crons_until(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        right: i64,
        pending: &mut Vec<StoredResult>,
    ) -> Result<(), CuError> {
        if p.crons.is_empty() {
            return Ok(());
        }
        self.ensure_blocks(p, right).await?;
        loop {
            let batch = p
                .walk
                .advance(&p.crons, p.origin, right, &p.blocks, CRON_BATCH);
            if batch.is_empty() {
                return Ok(());
            }
            let first_sub = p.walk.produced - batch.len() as u64 + 1;
            for (i, cron) in batch.into_iter().enumerate() {
                let msg = cron_message_json(pid, &p.owner, &cron);
                let record = StoredResult {
                    message_id: String::new(),
                    assignment_id: String::new(),
                    nonce: p.last.map_or(0, |l| l.nonce),
                    sub: first_sub + i as u64,
                    cron: Some(cron.cron),
                    timestamp: cron.timestamp,
                    result: Value::Null,
                    hash_chain: None,
                    memory_sha256: None,
                };
                p.last_eval = Boundary {
                    timestamp: cron.timestamp,
                    height: cron.block_height,
                };
                let next = Next {
                    msg,
                    record,
                    span: tracing::Span::none(),
                };
                self.submit(pid, raw, p, next, pending).await?;
            }
        }
    }

    /// Evaluate one scheduled message from the SU.
    async fn scheduled(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        entry: pb::ScheduledMessage,
        pending: &mut Vec<StoredResult>,
    ) -> Result<(), CuError> {
        if entry.nonce != p.next_nonce {
            return Err(CuError::HashChain(format!(
                "the SU sent nonce {} where {} was due",
                entry.nonce, p.next_nonce
            )));
        }
        let assignment = entry.assignment.clone().unwrap_or_default();
        let assignment_id = decode_id("assignment", &assignment.id)
            .map_err(|e| CuError::HashChain(e.to_string()))?;
        let hash_chain = decode_id("hash chain", &entry.hash_chain)
            .map_err(|e| CuError::HashChain(e.to_string()))?;
        p.chain
            .push(&assignment_id, &hash_chain)
            .map_err(|m| CuError::HashChain(format!("nonce {}: {m}", entry.nonce)))?;
        let slot_fields = Slot {
            epoch: entry.epoch,
            nonce: entry.nonce,
            timestamp: entry.timestamp_ms,
            block_height: entry.block_height,
            hash_chain: &entry.hash_chain,
        };
        let (item, target_id) = match &entry.message {
            Some(item) => (item.clone(), pid.to_string()),
            None => {
                let id = entry.message_id.clone().unwrap_or_default();
                self.bare_assignment(&id, &entry.exclude).await?
            }
        };
        let parts: Parts<'_> = item_parts(&item, &target_id);
        let msg = message_json(&parts, Some(&slot_fields), false);
        let span = self.eval_span(pid, raw, &entry, &item);
        let record = StoredResult {
            message_id: item.id.clone(),
            assignment_id: assignment.id.clone(),
            nonce: entry.nonce,
            sub: 0,
            cron: None,
            timestamp: entry.timestamp_ms,
            result: Value::Null,
            hash_chain: Some(entry.hash_chain.clone()),
            memory_sha256: None,
        };
        let at = Boundary {
            timestamp: entry.timestamp_ms,
            height: entry.block_height,
        };
        p.next_nonce += 1;
        p.last = Some(Scheduled {
            nonce: entry.nonce,
            at,
            hash_chain,
            assignment_id,
        });
        p.walk = CronWalk::new(at);
        p.blocks.retain(|b| b.timestamp > at.timestamp);
        p.last_eval = at;
        self.submit(pid, raw, p, Next { msg, record, span }, pending)
            .await
    }

    /// The span of one scheduled message's evaluation: in the trace that scheduled it when the
    /// live tail said which, else in the current one (a request's).
    fn eval_span(
        &self,
        pid: &str,
        raw: &[u8; 32],
        entry: &pb::ScheduledMessage,
        item: &pb::DataItem,
    ) -> tracing::Span {
        if !ao_runtime::telemetry::enabled() {
            return tracing::Span::none();
        }
        let span = tracing::info_span!(
            "cu.evaluate",
            ao.process.id = %pid,
            ao.message.id = %item.id,
            ao.nonce = entry.nonce,
            ao.action = tag(&item.tags, "Action").unwrap_or_default(),
            ao.gas_used = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let carried = entry.traceparent.clone().or_else(|| {
            let mut traces = self.traces.lock().unwrap_or_else(|p| p.into_inner());
            traces.remove(&(*raw, entry.nonce))
        });
        ao_runtime::propagation::set_parent(&span, carried.as_deref());
        span
    }

    /// Keep the trace context the live tail brought for `pid`'s entry at `nonce`.
    fn remember_trace(&self, pid: &str, nonce: u64, traceparent: Option<String>) {
        let (Some(tp), Ok(raw)) = (traceparent, pid_raw(pid)) else {
            return;
        };
        let mut traces = self.traces.lock().unwrap_or_else(|p| p.into_inner());
        if traces.len() < MAX_PENDING_TRACES {
            traces.insert((raw, nonce), tp);
        }
    }

    /// Store `results`, with a checkpoint of the process's memory when `checkpoint` is set, and
    /// wait until they (and every earlier write of the process) are stored.
    async fn save(
        &self,
        raw: &[u8; 32],
        p: &mut Loaded,
        results: Vec<StoredResult>,
        checkpoint: bool,
    ) -> Result<(), CuError> {
        self.save_with(raw, p, results, checkpoint, true).await
    }

    /// [`Evaluator::save`], with the fsync left to a later [`Store::sync`] when `sync` is false
    /// (many checkpoints at shutdown share one).
    async fn save_with(
        &self,
        raw: &[u8; 32],
        p: &mut Loaded,
        results: Vec<StoredResult>,
        checkpoint: bool,
        sync: bool,
    ) -> Result<(), CuError> {
        let cp = if checkpoint && p.last.is_some() {
            let memory = p
                .worker
                .memory()
                .await
                .map_err(module_error)?
                .unwrap_or_default();
            checkpoint_at(p, memory)
        } else {
            None
        };
        if cp.is_some() {
            p.since_checkpoint = 0;
            p.gas_since_checkpoint = 0;
            p.checkpoints_queued += 1;
        }
        let pid = b64url(raw);
        self.start_save(&pid, raw, p, results, cp, sync).await?;
        self.finish_save(&pid, p).await
    }

    /// Write `results` (and `checkpoint`) on a blocking thread once the process's previous
    /// write is done, without waiting for this one: the memory is hashed and written (a synced
    /// write of up to gigabytes) while evaluation goes on, never on the async runtime's workers.
    /// Writes of one process stay in order, so a checkpoint never overwrites a newer one.
    async fn start_save(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        results: Vec<StoredResult>,
        checkpoint: Option<Checkpoint>,
        sync: bool,
    ) -> Result<(), CuError> {
        self.finish_save(pid, p).await?;
        if results.is_empty() && checkpoint.is_none() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let raw = *raw;
        p.saving = Some(tokio::task::spawn_blocking(move || {
            let mut results = results;
            let cp = checkpoint.map(|mut c| {
                c.memory_sha256 = Sha256::digest(&c.memory).into();
                c
            });
            // A checkpoint taken right after a scheduled message is that message's memory:
            // its hash is the one an attestation of it states, at no cost.
            if let Some(c) = &cp
                && c.crons_done == 0
                && let Some(last) = results.last_mut()
                && last.sub == 0
                && last.nonce == c.nonce
            {
                last.memory_sha256 = Some(hex::encode(c.memory_sha256));
            }
            store.save_with(&raw, &results, cp.as_ref(), sync)?;
            Ok(cp)
        }));
        Ok(())
    }

    /// Wait for the process's write in progress, if any; then offer its checkpoint to Arweave.
    async fn finish_save(&self, pid: &str, p: &mut Loaded) -> Result<(), CuError> {
        let Some(saving) = p.saving.take() else {
            return Ok(());
        };
        let cp = saving
            .await
            .map_err(|e| CuError::Storage(format!("the store write stopped: {e}")))??;
        if let Some(c) = &cp {
            if let Some(a) = &self.arweave {
                a.maybe_upload(pid, &p.module_id, c);
            }
            Metrics::inc(&self.metrics.checkpoints);
        }
        Ok(())
    }

    fn touch(&self, raw: [u8; 32], size: u64) {
        self.update_usage(|u| {
            u.insert(raw, (Instant::now(), size));
        });
    }

    fn forget(&self, raw: &[u8; 32]) {
        self.update_usage(|u| {
            u.remove(raw);
        });
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = followers.remove(raw) {
            f.abort();
        }
    }

    fn update_usage(&self, change: impl FnOnce(&mut HashMap<[u8; 32], (Instant, u64)>)) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut usage);
        let total: u64 = usage.values().map(|u| u.1).sum();
        self.metrics.cached_bytes.store(total, Ordering::Relaxed);
        self.metrics
            .loaded
            .store(usage.len() as u64, Ordering::Relaxed);
    }

    /// Unload the least recently used processes while loaded memory exceeds the budget, each
    /// with a checkpoint first so that nothing is evaluated twice when it comes back. Busy
    /// processes are skipped (their evaluation will call this again when done).
    async fn evict(&self) {
        let mut candidates: Vec<([u8; 32], Instant, u64)> = {
            let usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
            usage.iter().map(|(k, (t, b))| (*k, *t, *b)).collect()
        };
        let mut total: u64 = candidates.iter().map(|c| c.2).sum();
        if total <= self.config.cache_bytes {
            return;
        }
        candidates.sort_by_key(|c| c.1);
        for (raw, _, bytes) in candidates {
            if total <= self.config.cache_bytes {
                break;
            }
            let Some(slot) = self.existing_slot(&raw) else {
                continue;
            };
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            if let Some(p) = guard.as_mut()
                && p.since_checkpoint > 0
                && let Err(e) = self.save(&raw, p, Vec::new(), true).await
            {
                tracing::warn!("cannot checkpoint a process before unloading it: {e}");
                continue;
            }
            *guard = None;
            drop(guard);
            self.release(&raw, &slot);
            self.forget(&raw);
            Metrics::inc(&self.metrics.evictions);
            total = total.saturating_sub(bytes);
        }
    }

    /// Checkpoint every loaded process that evaluated messages since its last checkpoint (at
    /// shutdown, so a restart evaluates nothing twice), within `deadline`.
    ///
    /// Results are durable as they are stored; a checkpoint only saves replay work after a
    /// restart, so this does the most useful ones first and stops at the deadline: processes
    /// with the most messages since their checkpoint first, [`FLUSH_CONCURRENCY`] at a time,
    /// each written without its own fsync and all synced once at the end. (Shutdown used to
    /// checkpoint one process after another with an fsync each and wait for busy evaluations:
    /// ~150 s with 2,000 loaded processes, far past any orchestrator's grace.) A process still
    /// evaluating at the deadline is left as it is: it resumes from its last checkpoint.
    pub async fn flush(&self, deadline: Instant) {
        for (_, f) in self
            .followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            f.abort();
        }
        self.checkpoint_all(deadline, true).await;
        // The unloaded processes' instances are dropped on their threads; wait for that (within
        // the deadline), so none outlives a CU that was shut down.
        let _ = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            self.workers.idle(),
        )
        .await;
    }

    /// At the start of a drain: checkpoint every loaded process that evaluated messages since its
    /// last checkpoint, most messages first, within `deadline`, and keep them loaded (and
    /// followed), so peers taking them over read them warm from `/state` while the CU lingers.
    pub async fn checkpoint_loaded(&self, deadline: Instant) {
        self.checkpoint_all(deadline, false).await;
    }

    /// [`Evaluator::flush`]'s checkpoints, unloading each process after it when `unload`.
    async fn checkpoint_all(&self, deadline: Instant, unload: bool) {
        use futures_util::StreamExt;
        let mut slots: Vec<(u64, [u8; 32], ProcessSlot)> = {
            let map = self.processes.lock().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(k, v)| (0, *k, v.clone())).collect()
        };
        for (since, _, slot) in &mut slots {
            // A busy slot (evaluating) sorts last: it is waited for only if time is left.
            *since = slot
                .try_lock()
                .ok()
                .and_then(|g| g.as_ref().map(|p| p.since_checkpoint))
                .unwrap_or(0);
        }
        slots.sort_by_key(|s| std::cmp::Reverse(s.0));
        let deadline = tokio::time::Instant::from_std(deadline);
        let written = std::sync::atomic::AtomicUsize::new(0);
        let skipped = std::sync::atomic::AtomicUsize::new(0);
        futures_util::stream::iter(slots)
            .for_each_concurrent(FLUSH_CONCURRENCY, |(_, raw, slot)| {
                let (written, skipped) = (&written, &skipped);
                async move {
                    if tokio::time::Instant::now() >= deadline {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    let Ok(mut guard) = tokio::time::timeout_at(deadline, slot.lock()).await else {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    if let Some(p) = guard.as_mut()
                        && p.since_checkpoint > 0
                    {
                        match tokio::time::timeout_at(
                            deadline,
                            self.save_with(&raw, p, Vec::new(), true, false),
                        )
                        .await
                        {
                            Ok(Ok(())) => {
                                written.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Err(e)) => {
                                tracing::warn!("cannot checkpoint a process at shutdown: {e}")
                            }
                            Err(_) => {
                                skipped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if unload {
                        *guard = None;
                        drop(guard);
                        self.release(&raw, &slot);
                    }
                }
            })
            .await;
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || store.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot sync the checkpoints written at shutdown: {e}"),
            Err(e) => tracing::warn!("the checkpoint sync stopped: {e}"),
        }
        tracing::info!(
            written = written.load(Ordering::Relaxed),
            skipped = skipped.load(Ordering::Relaxed),
            unload,
            "checkpoints at shutdown"
        );
    }

    /// `GET /result/{id}?process-id=`: the stored result, evaluating up to it first if needed.
    /// With `busy`, gives up waiting after that long and answers `None` (the evaluation goes
    /// on, and a later request finds its result).
    pub async fn result(
        self: &Arc<Self>,
        pid: &str,
        id: &str,
        busy: Option<Duration>,
    ) -> Result<Option<Value>, CuError> {
        let raw = pid_raw(pid)?;
        if let Some(n) = self.store.nonce_of(&raw, id)? {
            return self.stored(&raw, n).map(Some);
        }
        let nonce = if id == pid {
            0
        } else {
            self.su.nonce_of(pid, id).await?
        };
        let task = self.start(pid, Target::Nonce(nonce));
        if self.waited(task, busy, "evaluation").await?.is_none() {
            return Ok(None);
        }
        let n = self.store.nonce_of(&raw, id)?.unwrap_or(nonce);
        // A schedule that does not start with the process has another message at nonce 0;
        // the process's own message was evaluated on the cold start and has no result.
        if id == pid
            && self
                .store
                .result(&raw, n)?
                .is_some_and(|r| r.message_id != pid)
        {
            return Err(CuError::NotFound(format!(
                "process {pid}'s schedule does not start with the process: its own message \
                 is evaluated before nonce 0 and has no result"
            )));
        }
        match self.stored(&raw, n) {
            // Evaluated past it without a stored result: the process started from a checkpoint
            // taken after this message. A peer it was handed over from has the result; else
            // the history before the checkpoint is replayed here.
            Err(CuError::NotFound(_)) => {
                if let Some(v) = self.peer_result(pid, &raw, id).await {
                    return Ok(Some(v));
                }
                let this = Arc::clone(self);
                let owned = pid.to_string();
                // A task of its own, as evaluations are: a caller that stops waiting (`busy`)
                // does not stop the replay, and a later request finds its results.
                let task =
                    tokio::spawn(async move { this.replay_history(&owned, n, Replay::Gap).await });
                if self.waited(task, busy, "history replay").await?.is_none() {
                    return Ok(None);
                }
                self.stored(&raw, n).map(Some)
            }
            other => other.map(Some),
        }
    }

    /// Wait for `task` (an evaluation or replay running on its own, `what` for the error), at
    /// most `busy`: `None` when it is still running then (counted as a busy answer; the task
    /// goes on and a later request finds its results).
    async fn waited<T>(
        &self,
        task: tokio::task::JoinHandle<Result<T, CuError>>,
        busy: Option<Duration>,
        what: &str,
    ) -> Result<Option<T>, CuError> {
        let joined = match busy {
            Some(limit) => match tokio::time::timeout(limit, task).await {
                Ok(j) => j,
                Err(_) => {
                    Metrics::inc(&self.metrics.busy);
                    return Ok(None);
                }
            },
            None => task.await,
        };
        joined
            .map_err(|e| CuError::Storage(format!("{what} task failed: {e}")))?
            .map(Some)
    }

    /// Evaluate `pid` from nonce 0 on an instance of its own, storing every result (with its
    /// memory hash when the CU attests) and no checkpoint, while the loaded process goes on
    /// undisturbed; at most [`HISTORY_REPLAYS`] at a time. With [`Replay::Gap`], through the
    /// gap of never-evaluated messages that holds `nonce`: the process was started here from a
    /// state past them (a peer's, or a checkpoint on Arweave) and no peer has their results
    /// any more. The whole gap at once, so each old result costs one replay in all, the replay
    /// this CU would have done had the process not moved warm. With [`Replay::Hashes`], up to
    /// `nonce`, whose result was stored without the memory hash an attestation needs.
    async fn replay_history(&self, pid: &str, nonce: u64, why: Replay) -> Result<(), CuError> {
        let raw = pid_raw(pid)?;
        let _permit = self
            .history
            .acquire()
            .await
            .map_err(|_| CuError::Storage("history replays stopped".into()))?;
        // Another replay may have done the work while this one waited.
        let stored = self.store.result(&raw, nonce)?;
        let end = match why {
            Replay::Gap if stored.is_some() => return Ok(()),
            Replay::Gap => match self.store.next_result_after(&raw, nonce)? {
                Some(next) => next.saturating_sub(1).max(nonce),
                None => nonce,
            },
            Replay::Hashes if stored.is_some_and(|r| r.memory_sha256.is_some()) => return Ok(()),
            Replay::Hashes => nonce,
        };
        tracing::info!(
            process = pid,
            nonce,
            end,
            "replaying results older than the state the process started from"
        );
        let mut p = self.load_from(pid, &raw, false).await?;
        let mut pending = Vec::new();
        self.run_to(pid, &raw, &mut p, Target::Nonce(end), &mut pending)
            .await?;
        self.hash_run_end(&mut p, &mut pending).await?;
        self.save(&raw, &mut p, pending, false).await
    }

    /// `GET /result/{id}?process-id=&attest=true`: the result, evaluating up to it first, and
    /// this CU's signed attestation of it ([`crate::attest`]). A result stored without the
    /// memory hash (evaluated before `--attest`, or before a handoff) is hashed by a replay
    /// first. Refused (400) when the CU does not attest.
    pub async fn attested_result(
        self: &Arc<Self>,
        pid: &str,
        id: &str,
    ) -> Result<(Value, Vec<u8>), CuError> {
        let attester = self.config.attester.clone().ok_or_else(|| {
            CuError::BadRequest("this CU does not attest results (it runs without --attest)".into())
        })?;
        let raw = pid_raw(pid)?;
        self.result(pid, id, None).await?;
        let nonce = match self.store.nonce_of(&raw, id)? {
            Some(n) => n,
            None if id == pid => 0,
            None => self.su.nonce_of(pid, id).await?,
        };
        let hashed = |r: &StoredResult| r.memory_sha256.is_some() && r.hash_chain.is_some();
        if !self.store.result(&raw, nonce)?.is_some_and(|r| hashed(&r)) {
            let this = Arc::clone(self);
            let owned = pid.to_string();
            let task =
                tokio::spawn(
                    async move { this.replay_history(&owned, nonce, Replay::Hashes).await },
                );
            self.waited(task, None, "history replay").await?;
        }
        let record = self
            .store
            .result(&raw, nonce)?
            .filter(hashed)
            .ok_or_else(|| CuError::Storage(format!("no memory hash recorded at nonce {nonce}")))?;
        let module = self.module_of(pid, &raw).await?;
        let item = attester.attest(pid, &module, &record)?;
        Ok((record.result, item))
    }

    fn stored(&self, raw: &[u8; 32], nonce: u64) -> Result<Value, CuError> {
        self.store
            .result(raw, nonce)?
            .map(|r| r.result)
            .ok_or_else(|| CuError::NotFound(format!("no result at nonce {nonce}")))
    }

    async fn latest_nonce(&self, pid: &str) -> Result<u64, CuError> {
        self.su.latest_nonce(pid).await
    }

    /// `POST /dry-run?process-id=`: evaluate `body` on a copy of the process's latest memory;
    /// nothing is stored and the process is unchanged.
    pub async fn dry_run(self: &Arc<Self>, pid: &str, body: &Value) -> Result<Value, CuError> {
        let raw = pid_raw(pid)?;
        let owner = body
            .get("Owner")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if owner.is_empty() {
            return Err(CuError::BadRequest(
                "a dry-run message needs a non-empty Owner".into(),
            ));
        }
        let tags = dry_run_tags(body)?;
        let guard = self.evaluated_now(pid, &raw).await?;
        let Some(p) = guard.as_ref() else {
            return Err(CuError::Storage("process slot empty".into()));
        };
        let data = body
            .get("Data")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let target = body
            .get("Target")
            .and_then(Value::as_str)
            .unwrap_or(pid)
            .to_string();
        let parts = Parts {
            id: body
                .get("Id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            signature: None,
            data: data.as_bytes(),
            owner,
            target,
            anchor: body
                .get("Anchor")
                .and_then(Value::as_str)
                .map(str::as_bytes),
            tags: &tags,
        };
        let mut msg = message_json(&parts, None, true);
        if let Some(m) = msg.as_object_mut() {
            m.insert(
                "Timestamp".into(),
                body.get("Timestamp")
                    .cloned()
                    .unwrap_or(json!(p.last_eval.timestamp)),
            );
            m.insert(
                "Block-Height".into(),
                body.get("Block-Height")
                    .cloned()
                    .unwrap_or(json!(p.last_eval.height)),
            );
        }
        let eval = p
            .worker
            .dry_run(msg, p.env.clone())
            .await
            .map_err(module_error)?;
        Ok(result_json(&eval))
    }

    /// Evaluate `pid` to now and lock its loaded state. The process can be unloaded (evicted)
    /// between its evaluation and this lock; it is then evaluated again, a few times at most.
    async fn evaluated_now(
        self: &Arc<Self>,
        pid: &str,
        raw: &[u8; 32],
    ) -> Result<tokio::sync::OwnedMutexGuard<Option<Loaded>>, CuError> {
        for _ in 0..UNLOADED_RETRIES {
            self.evaluate_to(pid, Target::Now).await?;
            let Some(slot) = self.existing_slot(raw) else {
                continue;
            };
            let guard = slot.clone().lock_owned().await;
            if guard.is_some() {
                return Ok(guard);
            }
            drop(guard);
            self.release(raw, &slot);
        }
        Err(CuError::Storage(format!(
            "process {pid} was unloaded after each of {UNLOADED_RETRIES} evaluations: the \
             cache of loaded processes is too small for it"
        )))
    }

    /// `GET /state/{pid}`: the memory after everything due until now, and where that is.
    pub async fn state(self: &Arc<Self>, pid: &str) -> Result<State, CuError> {
        let raw = pid_raw(pid)?;
        let guard = self.evaluated_now(pid, &raw).await?;
        let p = guard
            .as_ref()
            .ok_or_else(|| CuError::Storage("process slot empty".into()))?;
        state_of(p).await
    }

    /// `GET /results/{pid}` (and `/cron/{pid}` with `crons_only`): a page of stored results.
    pub fn results(&self, pid: &str, listing: &Listing) -> Result<Page, CuError> {
        let raw = pid_raw(pid)?;
        Ok(self.store.list(&raw, listing)?)
    }
}

/// Wait before subscribing again after the SU's stream failed or ended.
const FOLLOW_RETRY: Duration = Duration::from_secs(1);

/// Follow a process's schedule on the SU: each new message (and any already waiting when the
/// stream delivers several at once) is evaluated as soon as it arrives. Holds only a weak
/// reference, so a stopped CU is not kept alive by its followers.
async fn follow(evaluator: std::sync::Weak<Evaluator>, pid: String, mut after: Option<u64>) {
    use futures_util::{FutureExt, StreamExt};
    loop {
        let Some(ev) = evaluator.upgrade() else {
            return;
        };
        let su = ev.su.clone();
        drop(ev);
        match su.follow(&pid, after).await {
            Ok(mut stream) => loop {
                let first = match stream.next().await {
                    Some(Ok(entry)) => entry,
                    Some(Err(e)) => {
                        tracing::debug!(process = %pid, "following: {e}");
                        break;
                    }
                    None => break,
                };
                let Some(ev) = evaluator.upgrade() else {
                    return;
                };
                let mut target = first.nonce;
                ev.remember_trace(&pid, first.nonce, first.traceparent);
                while let Some(Some(Ok(more))) = stream.next().now_or_never() {
                    target = target.max(more.nonce);
                    ev.remember_trace(&pid, more.nonce, more.traceparent);
                }
                match ev.evaluate_to(&pid, Target::Nonce(target)).await {
                    Ok(()) => after = Some(target),
                    Err(e) => {
                        tracing::warn!(process = %pid, "following: {e}");
                        break;
                    }
                }
            },
            Err(e) => tracing::debug!(process = %pid, "following: {e}"),
        }
        tokio::time::sleep(FOLLOW_RETRY).await;
    }
}

/// A process's memory and the point it was taken at (`/state`).
#[derive(Debug, Clone)]
pub struct State {
    /// The linear memory.
    pub memory: Vec<u8>,
    /// Nonce of the last scheduled message evaluated.
    pub nonce: u64,
    /// Timestamp of the last message evaluated, cron or not.
    pub timestamp: i64,
    /// Its block height.
    pub block_height: u64,
    /// The process's module.
    pub module_id: String,
    /// The last scheduled message evaluated (`None`: none yet), for a peer to verify a handoff
    /// against the SU's schedule.
    pub scheduled: Option<ScheduledPoint>,
    /// Cron messages evaluated after it.
    pub crons_done: u64,
}

/// Where the last scheduled message evaluated sits in the schedule.
#[derive(Debug, Clone, Copy)]
pub struct ScheduledPoint {
    /// Its timestamp, ms.
    pub timestamp: i64,
    /// Its block height.
    pub block_height: u64,
    /// Its hash chain (raw).
    pub hash_chain: [u8; 32],
    /// Its assignment id (raw).
    pub assignment_id: [u8; 32],
}

impl State {
    /// The checkpoint this state is, without its memory (its hash given), when a scheduled
    /// message was evaluated: what a handoff's `/state` headers carry.
    pub fn checkpoint_fields(&self, memory_sha256: [u8; 32]) -> Option<Checkpoint> {
        self.scheduled.map(|s| Checkpoint {
            nonce: self.nonce,
            timestamp: s.timestamp,
            block_height: s.block_height,
            hash_chain: s.hash_chain,
            assignment_id: s.assignment_id,
            crons_done: self.crons_done,
            last_timestamp: self.timestamp,
            last_block_height: self.block_height,
            memory_sha256,
            memory: Vec::new(),
        })
    }
}

/// `p`'s memory (copied on its thread) and where it stands in its schedule: what `/state`
/// serves and a peer's handoff reads.
async fn state_of(p: &Loaded) -> Result<State, CuError> {
    let memory = p
        .worker
        .memory()
        .await
        .map_err(module_error)?
        .unwrap_or_default();
    Ok(State {
        memory,
        nonce: p.last.map_or(0, |l| l.nonce),
        timestamp: p.last_eval.timestamp,
        block_height: p.last_eval.height,
        module_id: p.module_id.clone(),
        scheduled: p.last.map(|l| ScheduledPoint {
            timestamp: l.at.timestamp,
            block_height: l.at.height,
            hash_chain: l.hash_chain,
            assignment_id: l.assignment_id,
        }),
        crons_done: p.walk.produced,
    })
}

/// A checkpoint of `p` at its place in the schedule now (after its last scheduled message and
/// the crons since), holding `memory`; `None` before its first scheduled message (a checkpoint
/// needs a nonce to resume from).
fn checkpoint_at(p: &Loaded, memory: Vec<u8>) -> Option<Checkpoint> {
    let last = p.last?;
    Some(Checkpoint {
        // Hashed on the blocking thread that writes it.
        memory_sha256: [0; 32],
        nonce: last.nonce,
        timestamp: last.at.timestamp,
        block_height: last.at.height,
        hash_chain: last.hash_chain,
        assignment_id: last.assignment_id,
        crons_done: p.walk.produced,
        last_timestamp: p.last_eval.timestamp,
        last_block_height: p.last_eval.height,
        memory,
    })
}

/// The `Tags` of a dry-run body: a list of `{"name", "value"}` strings.
fn dry_run_tags(body: &Value) -> Result<Vec<pb::Tag>, CuError> {
    match body.get("Tags") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| {
                match (
                    t.get("name").and_then(Value::as_str),
                    t.get("value").and_then(Value::as_str),
                ) {
                    (Some(n), Some(v)) => Ok(pb::Tag {
                        name: n.to_string(),
                        value: v.to_string(),
                    }),
                    _ => Err(CuError::BadRequest(format!(
                        "Tags: {t} is not {{\"name\": string, \"value\": string}}"
                    ))),
                }
            })
            .collect(),
        Some(other) => Err(CuError::BadRequest(format!(
            "Tags must be a list, got {other}"
        ))),
    }
}
