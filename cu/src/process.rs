//! Evaluation of processes: strictly in nonce order per process, processes in parallel.
//!
//! Each process has a slot behind its own lock: the loaded module, the process environment, the
//! instance (on its worker thread) with its memory, the next nonce, the hash chain so far and
//! the cron walk since the last scheduled message. An evaluation reads the missing part of the
//! schedule from the SU over gRPC (`ReadSchedule`), verifies every hash-chain link, evaluates
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
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    GetMessageRequest, GetProcessRequest, LatestRequest, NonceRange, ReadScheduleRequest,
    TimestampRequest, read_schedule_request,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::cron::{Boundary, Clock, CronWalk, Crons, Now, parse_crons};
use crate::error::CuError;
use crate::loader::{CompiledModule, Evaluation, ModuleFormat, Options, Runtime, format};
use crate::message::{
    Parts, Slot, cron_message_json, env_json, item_parts, message_json, result_json,
};
use crate::metrics::Metrics;
use crate::store::{Checkpoint, Listing, Page, Store, StoredResult};
use crate::worker::{DEFAULT_WORKERS, Worker, WorkerPool};

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
}

/// A process's place in the CU: empty until first used, then its loaded state, behind the lock
/// that makes its evaluation strictly sequential.
type ProcessSlot = Arc<Mutex<Option<Loaded>>>;

/// The CU's evaluation core, shared by its HTTP and gRPC APIs.
pub struct Evaluator {
    store: Arc<Store>,
    su: SchedulerClient<Channel>,
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
}

/// The SU's clock (`Timestamp`): the production [`Clock`].
#[derive(Debug)]
struct SuClock {
    su: SchedulerClient<Channel>,
}

impl Clock for SuClock {
    fn now_ms<'a>(&'a self, process_id: &'a str) -> Now<'a> {
        Box::pin(async move {
            Ok(self
                .su
                .clone()
                .timestamp(TimestampRequest {
                    process_id: Some(process_id.to_string()),
                })
                .await
                .map_err(CuError::from_su)?
                .into_inner()
                .timestamp_ms)
        })
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
        su: SchedulerClient<Channel>,
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
        let record = self
            .su
            .clone()
            .get_process(GetProcessRequest {
                process_id: pid.to_string(),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner();
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
        };
        let mut from_arweave = false;
        let mut stored = self.store.checkpoint(raw)?;
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
                    Metrics::inc(if from_arweave {
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
        let this = Arc::clone(self);
        let pid = pid.to_string();
        tokio::spawn(async move {
            let result = this.evaluate(&pid, target).await;
            if let Ok(evaluated) = &result {
                this.follow(&pid, *evaluated);
            }
            this.evict().await;
            result.map(|_| ())
        })
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
        }
        let Some(p) = guard.as_mut() else {
            return Err(CuError::Storage("process slot empty".into()));
        };
        let mut pending = Vec::new();
        let mut result = self.run_to(pid, &raw, p, target, &mut pending).await;
        if result.is_ok() {
            result = self
                .save(&raw, p, std::mem::take(&mut pending), false)
                .await;
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
            let mut stream = self
                .su
                .clone()
                .read_schedule(ReadScheduleRequest {
                    process_id: pid.to_string(),
                    range: Some(read_schedule_request::Range::Nonce(NonceRange {
                        from: p.next_nonce.checked_sub(1),
                        to: Some(to_nonce),
                    })),
                    limit: Some(u32::MAX),
                })
                .await
                .map_err(CuError::from_su)?
                .into_inner();
            while let Some(entry) = stream.message().await.map_err(CuError::from_su)? {
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
                self.crons_until(pid, raw, p, now, pending).await?;
            }
        }
        Ok(())
    }

    async fn run_message(&self, p: &Loaded, msg: Value) -> Result<Evaluation, CuError> {
        let started = Instant::now();
        let eval = p
            .worker
            .evaluate(msg, p.env.clone())
            .await
            .map_err(module_error)?;
        self.metrics
            .eval_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if eval.error.is_some() {
            Metrics::inc(&self.metrics.errors);
        }
        Ok(eval)
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
                let eval = self.run_message(p, msg).await?;
                Metrics::inc(&self.metrics.crons);
                pending.push(StoredResult {
                    message_id: String::new(),
                    assignment_id: String::new(),
                    nonce: p.last.map_or(0, |l| l.nonce),
                    sub: first_sub + i as u64,
                    cron: Some(cron.cron),
                    timestamp: cron.timestamp,
                    result: result_json(&eval),
                });
                p.last_eval = Boundary {
                    timestamp: cron.timestamp,
                    height: cron.block_height,
                };
                self.count_and_maybe_checkpoint(raw, p, pending, eval.gas_used)
                    .await?;
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
        let eval = self.run_message(p, msg).await?;
        Metrics::inc(&self.metrics.messages);
        pending.push(StoredResult {
            message_id: item.id.clone(),
            assignment_id: assignment.id.clone(),
            nonce: entry.nonce,
            sub: 0,
            cron: None,
            timestamp: entry.timestamp_ms,
            result: result_json(&eval),
        });
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
        self.count_and_maybe_checkpoint(raw, p, pending, eval.gas_used)
            .await
    }

    async fn count_and_maybe_checkpoint(
        &self,
        raw: &[u8; 32],
        p: &mut Loaded,
        pending: &mut Vec<StoredResult>,
        gas: Option<u64>,
    ) -> Result<(), CuError> {
        p.since_checkpoint += 1;
        p.gas_since_checkpoint = p.gas_since_checkpoint.saturating_add(gas.unwrap_or(0));
        if p.since_checkpoint >= self.config.checkpoint_every
            || p.gas_since_checkpoint >= self.config.checkpoint_gas
        {
            self.save(raw, p, std::mem::take(pending), true).await?;
        }
        Ok(())
    }

    /// Store `results`, with a checkpoint of the process's memory when `checkpoint` is set.
    /// The memory is copied on the process's worker thread, and hashed and written (a synced
    /// write of up to gigabytes) on a blocking thread: never on the async runtime's workers.
    async fn save(
        &self,
        raw: &[u8; 32],
        p: &mut Loaded,
        results: Vec<StoredResult>,
        checkpoint: bool,
    ) -> Result<(), CuError> {
        let cp = match (checkpoint, p.last) {
            (true, Some(last)) => {
                let memory = p
                    .worker
                    .memory()
                    .await
                    .map_err(module_error)?
                    .unwrap_or_default();
                Some(Checkpoint {
                    // Hashed on the blocking thread below.
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
            _ => None,
        };
        if results.is_empty() && cp.is_none() {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let pid = *raw;
        let cp = tokio::task::spawn_blocking(move || {
            let cp = cp.map(|mut c| {
                c.memory_sha256 = Sha256::digest(&c.memory).into();
                c
            });
            store.save(&pid, &results, cp.as_ref()).map(|()| cp)
        })
        .await
        .map_err(|e| CuError::Storage(format!("the store write stopped: {e}")))??;
        if let (Some(a), Some(c)) = (&self.arweave, &cp) {
            a.maybe_upload(&b64url(raw), &p.module_id, c);
        }
        if cp.is_some() {
            p.since_checkpoint = 0;
            p.gas_since_checkpoint = 0;
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
    /// shutdown, so a restart evaluates nothing twice).
    pub async fn flush(&self) {
        for (_, f) in self
            .followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            f.abort();
        }
        let slots: Vec<([u8; 32], ProcessSlot)> = {
            let map = self.processes.lock().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        for (raw, slot) in slots {
            let mut guard = slot.lock().await;
            if let Some(p) = guard.as_mut()
                && p.since_checkpoint > 0
                && let Err(e) = self.save(&raw, p, Vec::new(), true).await
            {
                tracing::warn!("cannot checkpoint a process at shutdown: {e}");
            }
            *guard = None;
            drop(guard);
            self.release(&raw, &slot);
        }
        // The unloaded processes' instances are dropped on their threads; wait for that, so
        // none outlives a CU that was shut down.
        self.workers.idle().await;
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
            self.su
                .clone()
                .get_message(GetMessageRequest {
                    process_id: pid.to_string(),
                    id: id.to_string(),
                })
                .await
                .map_err(CuError::from_su)?
                .into_inner()
                .nonce
        };
        let task = self.start(pid, Target::Nonce(nonce));
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
        joined.map_err(|e| CuError::Storage(format!("evaluation task failed: {e}")))??;
        let n = self.store.nonce_of(&raw, id)?.unwrap_or(nonce);
        match self.stored(&raw, n) {
            // Evaluated past it without a stored result: the process started from a checkpoint
            // taken after this message.
            Err(CuError::NotFound(_)) => Err(CuError::BeforeCheckpoint(format!(
                "message {id} (nonce {n}) is older than the checkpoint this CU started process \
                 {pid} from, and was never evaluated here"
            ))),
            other => other.map(Some),
        }
    }

    fn stored(&self, raw: &[u8; 32], nonce: u64) -> Result<Value, CuError> {
        self.store
            .result(raw, nonce)?
            .map(|r| r.result)
            .ok_or_else(|| CuError::NotFound(format!("no result at nonce {nonce}")))
    }

    async fn latest_nonce(&self, pid: &str) -> Result<u64, CuError> {
        Ok(self
            .su
            .clone()
            .latest(LatestRequest {
                process_id: pid.to_string(),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner()
            .nonce)
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
        })
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
    use futures_util::FutureExt;
    loop {
        let Some(ev) = evaluator.upgrade() else {
            return;
        };
        let subscribed = ev
            .su
            .clone()
            .subscribe(ao_proto::scheduler::v1::SubscribeRequest {
                process_id: pid.clone(),
                from_nonce: after,
            })
            .await;
        drop(ev);
        if let Ok(stream) = subscribed {
            let mut stream = stream.into_inner();
            while let Ok(Some(entry)) = stream.message().await {
                let mut target = entry.nonce;
                while let Some(Ok(Some(more))) = stream.message().now_or_never() {
                    target = target.max(more.nonce);
                }
                let Some(ev) = evaluator.upgrade() else {
                    return;
                };
                match ev.evaluate_to(&pid, Target::Nonce(target)).await {
                    Ok(()) => after = Some(target),
                    Err(e) => {
                        tracing::warn!(process = %pid, "following: {e}");
                        break;
                    }
                }
            }
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
