//! Evaluation of processes: strictly in nonce order per process, processes in parallel.
//!
//! Each process has a slot behind its own lock: the loaded module, the process environment, the
//! instance with its memory, the next nonce and the hash chain so far. `evaluate_to` reads the
//! missing part of the schedule from the SU over gRPC (`ReadSchedule`), verifies every hash-chain
//! link, builds each message as spec 4.5 says (bare assignments are loaded from the gateway), runs
//! it, and stores the results, with a memory checkpoint every `checkpoint_every` messages and at
//! the end of each run, in one synced batch. After a restart a process resumes from its checkpoint.

use std::collections::HashMap;
use std::sync::Arc;

use ao_arweave::Gateway;
use ao_core::ao::HashChain;
use ao_core::encoding::decode_id;
use ao_proto::common::v1 as pb;
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    GetMessageRequest, GetProcessRequest, LatestRequest, NonceRange, ReadScheduleRequest,
    read_schedule_request,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::error::CuError;
use crate::loader::{CompiledModule, ModuleFormat, Options, Runtime, format};
use crate::message::{Parts, Slot, env_json, item_parts, message_json, result_json};
use crate::store::{Checkpoint, Store, StoredResult};
use crate::worker::Worker;

/// Messages between memory checkpoints when not configured: a restart re-evaluates at most this
/// many messages, and a checkpoint (a copy of memory into RocksDB) is rare enough not to matter.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 100;

struct Loaded {
    env: Value,
    worker: Worker,
    next_nonce: u64,
    chain: HashChain,
    last: Option<(i64, u64, [u8; 32], [u8; 32])>,
    since_checkpoint: u64,
}

/// A process's place in the CU: empty until first used, then its loaded state, behind the lock
/// that makes its evaluation strictly sequential.
type ProcessSlot = Arc<Mutex<Option<Loaded>>>;

/// The CU's evaluation core, shared by its HTTP API.
pub struct Evaluator {
    store: Store,
    su: SchedulerClient<Channel>,
    gateway: Arc<dyn Gateway>,
    runtime: Runtime,
    checkpoint_every: u64,
    processes: std::sync::Mutex<HashMap<[u8; 32], ProcessSlot>>,
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

impl Evaluator {
    /// An evaluator over `store`, reading schedules from `su` and modules from `gateway`.
    pub fn new(
        store: Store,
        su: SchedulerClient<Channel>,
        gateway: Arc<dyn Gateway>,
        checkpoint_every: u64,
    ) -> Evaluator {
        Evaluator {
            store,
            su,
            gateway,
            runtime: Runtime::new(),
            checkpoint_every: checkpoint_every.max(1),
            processes: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, pid: [u8; 32]) -> ProcessSlot {
        let mut map = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(pid).or_default().clone()
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
        let meta = self
            .gateway
            .transactions_by_id(std::slice::from_ref(&module_id))
            .await
            .map_err(|e| CuError::Gateway(e.to_string()))?
            .into_iter()
            .find(|t| t.id == module_id)
            .ok_or_else(|| {
                CuError::NotFound(format!("module {module_id} is not on the gateway"))
            })?;
        let module_tags: Vec<pb::Tag> = meta
            .tags
            .iter()
            .map(|t| pb::Tag {
                name: t.name.clone(),
                value: t.value.clone(),
            })
            .collect();
        let module_format = tag(&module_tags, "Module-Format")
            .ok_or_else(|| CuError::Module(format!("module {module_id} has no Module-Format")))?;
        let fmt = ModuleFormat::parse(module_format).map_err(|e| CuError::Module(e.to_string()))?;
        for t in ["Input-Encoding", "Output-Encoding"] {
            format::check_encoding(t, tag(&module_tags, t).unwrap_or(""))
                .map_err(|e| CuError::Module(e.to_string()))?;
        }
        let limit = |name: &str| tag(&record.tags, name).or_else(|| tag(&module_tags, name));
        let memory_limit = limit("Memory-Limit")
            .map(|v| ao_core::ao::parse_memory_limit("Process", v))
            .transpose()
            .map_err(|e| CuError::Module(e.to_string()))?;
        let compute_limit = limit("Compute-Limit")
            .map(|v| ao_core::ao::parse_compute_limit("Process", v))
            .transpose()
            .map_err(|e| CuError::Module(e.to_string()))?;
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
        let (memory, next_nonce, chain, last) = match self.store.checkpoint(raw)? {
            Some(c) => (
                Some(c.memory),
                c.nonce + 1,
                HashChain::after(&c.assignment_id, &c.hash_chain),
                Some((c.timestamp, c.block_height, c.hash_chain, c.assignment_id)),
            ),
            None => (None, 0, HashChain::for_new_process(raw), None),
        };
        let worker =
            Worker::spawn(module, options, memory).map_err(|e| CuError::Module(e.to_string()))?;
        Ok(Loaded {
            env,
            worker,
            next_nonce,
            chain,
            last,
            since_checkpoint: 0,
        })
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

    async fn bare_assignment(
        &self,
        id: &str,
        exclude: &[String],
    ) -> Result<(pb::DataItem, String), CuError> {
        let meta = self
            .gateway
            .transactions_by_id(&[id.to_string()])
            .await
            .map_err(|e| CuError::Gateway(e.to_string()))?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| {
                CuError::NotFound(format!("assigned transaction {id} is not on the gateway"))
            })?;
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
            tags: meta
                .tags
                .iter()
                .map(|t| pb::Tag {
                    name: t.name.clone(),
                    value: t.value.clone(),
                })
                .collect(),
            signature: meta.signature.clone(),
            anchor: (!meta.anchor.is_empty()).then(|| meta.anchor.clone().into_bytes()),
            target: None,
        };
        Ok((item, meta.recipient.clone()))
    }

    /// Evaluate `pid` up to and including `target` (no-op when already there).
    pub async fn evaluate_to(&self, pid: &str, target: u64) -> Result<(), CuError> {
        let raw = pid_raw(pid)?;
        let slot = self.slot(raw);
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.load(pid, &raw).await?);
        }
        let Some(p) = guard.as_mut() else {
            return Err(CuError::Storage("process slot empty".into()));
        };
        let result = self.run_to(pid, &raw, p, target).await;
        if result.is_err() {
            // Messages evaluated since the last save are in memory but not in the store: drop
            // the slot so the next request reloads from the stored checkpoint and evaluates them
            // again, rather than carry on with results that were never stored.
            *guard = None;
        }
        result
    }

    async fn run_to(
        &self,
        pid: &str,
        raw: &[u8; 32],
        p: &mut Loaded,
        target: u64,
    ) -> Result<(), CuError> {
        if p.next_nonce > target {
            return Ok(());
        }
        let mut stream = self
            .su
            .clone()
            .read_schedule(ReadScheduleRequest {
                process_id: pid.to_string(),
                range: Some(read_schedule_request::Range::Nonce(NonceRange {
                    from: p.next_nonce.checked_sub(1),
                    to: Some(target),
                })),
                limit: Some(u32::MAX),
            })
            .await
            .map_err(CuError::from_su)?
            .into_inner();
        let mut batch = Vec::new();
        while let Some(entry) = stream.message().await.map_err(CuError::from_su)? {
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
            let eval = p
                .worker
                .evaluate(msg, p.env.clone())
                .await
                .map_err(|e| CuError::Module(e.to_string()))?;
            batch.push(StoredResult {
                message_id: item.id.clone(),
                assignment_id: assignment.id.clone(),
                nonce: entry.nonce,
                timestamp: entry.timestamp_ms,
                result: result_json(&eval),
            });
            p.next_nonce += 1;
            p.since_checkpoint += 1;
            p.last = Some((
                entry.timestamp_ms,
                entry.block_height,
                hash_chain,
                assignment_id,
            ));
            if p.since_checkpoint >= self.checkpoint_every {
                self.save(raw, p, &batch).await?;
                batch.clear();
            }
        }
        if !batch.is_empty() || p.since_checkpoint > 0 {
            self.save(raw, p, &batch).await?;
        }
        if p.next_nonce <= target {
            return Err(CuError::NotFound(format!(
                "the SU has no nonce {target} for process {pid} (it ends at {})",
                p.next_nonce.saturating_sub(1)
            )));
        }
        Ok(())
    }

    async fn save(
        &self,
        raw: &[u8; 32],
        p: &mut Loaded,
        results: &[StoredResult],
    ) -> Result<(), CuError> {
        let cp = match p.last {
            Some((timestamp, block_height, hash_chain, assignment_id)) => {
                let memory = p
                    .worker
                    .memory()
                    .await
                    .map_err(|e| CuError::Module(e.to_string()))?
                    .unwrap_or_default();
                Some(Checkpoint {
                    nonce: p.next_nonce - 1,
                    timestamp,
                    block_height,
                    hash_chain,
                    assignment_id,
                    memory_sha256: Sha256::digest(&memory).into(),
                    memory,
                })
            }
            None => None,
        };
        self.store.save(raw, results, cp.as_ref())?;
        if cp.is_some() {
            p.since_checkpoint = 0;
        }
        Ok(())
    }

    /// `GET /result/{id}?process-id=`: the stored result, evaluating up to it first if needed.
    pub async fn result(&self, pid: &str, id: &str) -> Result<Value, CuError> {
        let raw = pid_raw(pid)?;
        if let Some(n) = self.store.nonce_of(&raw, id)? {
            return self.stored(&raw, n);
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
        self.evaluate_to(pid, nonce).await?;
        match self.store.nonce_of(&raw, id)? {
            Some(n) => self.stored(&raw, n),
            None => self.stored(&raw, nonce),
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
    pub async fn dry_run(&self, pid: &str, body: &Value) -> Result<Value, CuError> {
        let raw = pid_raw(pid)?;
        let latest = self.latest_nonce(pid).await?;
        self.evaluate_to(pid, latest).await?;
        let slot = self.slot(raw);
        let guard = slot.lock().await;
        let Some(p) = guard.as_ref() else {
            return Err(CuError::Storage("process slot empty".into()));
        };
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
        let (timestamp, height) = p.last.map_or((0, 0), |l| (l.0, l.1));
        let mut msg = message_json(&parts, None, true);
        if let Some(m) = msg.as_object_mut() {
            m.insert(
                "Timestamp".into(),
                body.get("Timestamp").cloned().unwrap_or(json!(timestamp)),
            );
            m.insert(
                "Block-Height".into(),
                body.get("Block-Height").cloned().unwrap_or(json!(height)),
            );
        }
        let eval = p
            .worker
            .dry_run(msg, p.env.clone())
            .await
            .map_err(|e| CuError::Module(e.to_string()))?;
        Ok(result_json(&eval))
    }

    /// `GET /state/{pid}`: the memory after the latest message, and that message's nonce.
    pub async fn state(&self, pid: &str) -> Result<(Vec<u8>, u64), CuError> {
        let raw = pid_raw(pid)?;
        let latest = self.latest_nonce(pid).await?;
        self.evaluate_to(pid, latest).await?;
        let slot = self.slot(raw);
        let guard = slot.lock().await;
        let p = guard
            .as_ref()
            .ok_or_else(|| CuError::Storage("process slot empty".into()))?;
        let memory = p
            .worker
            .memory()
            .await
            .map_err(|e| CuError::Module(e.to_string()))?;
        Ok((memory.unwrap_or_default(), latest))
    }

    /// `GET /results/{pid}`: stored results from nonce `from` (inclusive), at most `limit`.
    pub fn results(
        &self,
        pid: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredResult>, CuError> {
        let raw = pid_raw(pid)?;
        Ok(self.store.results(&raw, from, u64::MAX, limit)?)
    }
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
