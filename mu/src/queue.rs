//! The task queue: runs every [`Task`] through its stages (sign, schedule, pull the result) and
//! turns each result into child tasks, until a chain of work is done.
//!
//! Durability: a task is in the store before anyone is told it was accepted, and after each stage
//! it completes; a result's children are written together with their parent's completion. After a
//! crash [`Mu::resume`] picks every unfinished task up at its stage. Redoing a stage is safe: a
//! signed item is kept in the task (and signing is deterministic anyway), and the SU refuses an
//! item or assignment it already has, which the queue takes as success.
//!
//! Order: the children of one result are handed to their SUs one after another, in outbox order
//! (a process that sends A then B to the same target sees them in that order); their results are
//! then pulled concurrently. Failures are retried with exponential backoff up to
//! `max_retries`, then the task goes to the dead-letter list, where an operator can re-push it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ao_arweave::Bundler;
use ao_core::wallet::Wallet;
use ao_core::{DataItem, DataItemBuilder};
use ao_proto::common::v1 as pb;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use prost::Message as _;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, watch};

use crate::crank::{self, Outgoing};
use crate::locate::{BoundedCache, Destination, Locator};
use crate::metrics::Metrics;
use crate::store::{Stage, State, Store, Task, Work};
use crate::units::{CuClient, ProcessInfo, UnitError};

/// Retry policy of the queue.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first before a task is dead-lettered.
    pub max_retries: u32,
    /// Delay before the first retry; doubled each time.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

/// The messenger: its store, the units it talks to, its signing key, its queue.
pub struct Mu {
    /// Durable state.
    pub store: Arc<Store>,
    /// Process and SU lookups.
    pub locator: Locator,
    /// The CU.
    pub cu: CuClient,
    /// Where messages to wallets are uploaded.
    pub bundler: Arc<dyn Bundler>,
    /// The MU's signing key: ed25519, so re-signing an item gives the same id.
    pub wallet: Wallet,
    /// The MU's address (processes list it as `Authority` to trust its pushes).
    pub address: String,
    /// Retries.
    pub retry: RetryPolicy,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Bounds the tasks running at once.
    pub permits: Arc<Semaphore>,
    processes: std::sync::Mutex<BoundedCache<ProcessInfo>>,
    /// Items being handed to their SU right now, by task id: a client's retry while the first
    /// attempt is in flight waits for that attempt instead of starting a second one.
    accepting: std::sync::Mutex<HashMap<String, Answer>>,
}

/// Process infos cached: each holds a process's owner and tags (about a KiB); 10,000 covers the
/// processes a busy MU pushes for at once, in about 10 MiB, whatever ids clients send.
pub const MAX_PROCESS_INFOS: usize = 10_000;

/// Where the answer of an accepted item's first schedule appears.
type Answer = watch::Receiver<Option<Result<Task, StepError>>>;

/// The MU's AO address, the `Authority` processes trust it by: base64url(sha256(public key)) for
/// every kind of key, secp256k1 included, because that is the `Owner` address SUs (ours and the
/// reference) give the MU's pushes and so what a process sees, not the `0x…` Ethereum address.
pub fn address_of(wallet: &Wallet) -> String {
    use ao_core::Signer;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(wallet.owner()))
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The id of child `index` of task `parent`: stable, short whatever the chain's depth.
pub fn child_id(parent: &str, index: usize) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update(b"/");
    h.update(index.to_be_bytes());
    let d = h.finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..24])
}

/// A new task at its first stage, in the current span's trace.
pub fn new_task(id: String, parent: Option<String>, root: Option<String>, work: Work) -> Task {
    let stage = match &work {
        Work::Push { .. } | Work::Spawn { .. } => Stage::Sign,
        Work::Forward { .. } | Work::Assign(_) => Stage::Schedule,
        Work::Results { .. } => Stage::PullResult,
    };
    Task {
        id,
        parent,
        root,
        work,
        stage,
        state: State::Queued,
        retries: 0,
        error: None,
        signed: None,
        item_id: None,
        process_id: None,
        children: Vec::new(),
        updated_ms: now_ms(),
        traceparent: ao_runtime::propagation::current_traceparent(),
        receipt: None,
    }
}

/// Why a stage could not complete.
#[derive(Debug, Clone)]
pub enum StepError {
    /// Try again later (a unit unreachable, a storage hiccup).
    Retry(String),
    /// A unit refused it with this status. 404 is retried by the queue (a process still being
    /// spawned); anything else cannot succeed and is dead-lettered.
    Refused(u16, String),
    /// The outbox entry is not something to push: drop it.
    Drop(String),
}

impl From<UnitError> for StepError {
    fn from(e: UnitError) -> StepError {
        match e {
            UnitError::Refused(status, m) => StepError::Refused(status, m),
            UnitError::Duplicate(m) => StepError::Refused(409, m),
            UnitError::Unavailable(m) => StepError::Retry(m),
        }
    }
}

impl From<crate::store::StoreError> for StepError {
    fn from(e: crate::store::StoreError) -> StepError {
        StepError::Retry(e.to_string())
    }
}

fn tag_of<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl Mu {
    /// The messenger over these parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<Store>,
        locator: Locator,
        cu: CuClient,
        bundler: Arc<dyn Bundler>,
        wallet: Wallet,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
        max_running: usize,
    ) -> Mu {
        let address = address_of(&wallet);
        Mu {
            store,
            locator,
            cu,
            bundler,
            wallet,
            address,
            retry,
            metrics,
            permits: Arc::new(Semaphore::new(max_running.max(1))),
            processes: std::sync::Mutex::new(BoundedCache::new(MAX_PROCESS_INFOS)),
            accepting: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Owner and tags of a process (cached: a process's tags never change).
    pub async fn process_info(&self, pid: &str) -> Result<ProcessInfo, UnitError> {
        if let Some(p) = self
            .processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(pid)
        {
            return Ok(p.clone());
        }
        let info = self.locator.su_of(pid).await?.process(pid).await?;
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid.to_string(), info.clone());
        Ok(info)
    }

    /// How many process infos are cached (bounded by [`MAX_PROCESS_INFOS`]).
    pub fn cached_process_infos(&self) -> usize {
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    async fn save(&self, task: &mut Task) -> Result<(), StepError> {
        task.updated_ms = now_ms();
        self.store.put_tasks(&[task]).await?;
        Ok(())
    }

    /// `fields` signed by the MU's wallet: a receipt, base64url ([`ao_core::ao::Receipt`]).
    fn receipt(&self, fields: ao_core::ao::ReceiptBuilder) -> Result<String, StepError> {
        let r = fields
            .sign(&self.wallet)
            .map_err(|e| StepError::Refused(500, format!("cannot sign a receipt: {e}")))?;
        Ok(ao_core::encoding::b64url(r.item().as_bytes()))
    }

    /// Run one stage of `task` and record it.
    async fn step(&self, task: &mut Task) -> Result<(), StepError> {
        match task.stage {
            Stage::Sign => self.sign(task).await,
            Stage::Schedule => self.schedule(task).await,
            Stage::PullResult => self.pull(task).await,
            Stage::Done => Ok(()),
        }
    }

    async fn sign(&self, task: &mut Task) -> Result<(), StepError> {
        let item = match &task.work {
            Work::Push { out, from_process } => {
                let module = if from_process.is_empty() {
                    String::new()
                } else {
                    let info = self.process_info(from_process).await?;
                    tag_of(&info.tags, "Module").unwrap_or_default().to_string()
                };
                let p = crank::pushed_message(out, from_process, &module, task.root.as_deref())
                    .map_err(|e| StepError::Drop(e.to_string()))?;
                DataItemBuilder::new()
                    .target(p.target)
                    .anchor(p.anchor)
                    .tags(p.tags)
                    .data(p.data)
                    .sign(&self.wallet)
                    .map_err(|e| StepError::Refused(400, e.to_string()))?
            }
            Work::Spawn { out, parent } => {
                let info = self.process_info(parent).await?;
                let module = tag_of(&info.tags, "Module").unwrap_or_default();
                let scheduler = tag_of(&info.tags, "Scheduler").unwrap_or_default();
                let (tags, data) =
                    crank::spawned_process(out, parent, module, scheduler, task.root.as_deref())
                        .map_err(|e| StepError::Drop(e.to_string()))?;
                DataItemBuilder::new()
                    .tags(tags)
                    .data(data)
                    .sign(&self.wallet)
                    .map_err(|e| StepError::Refused(400, e.to_string()))?
            }
            _ => {
                task.stage = Stage::Schedule;
                return Ok(());
            }
        };
        // What the MU forwards, and from what it made it: its signed word on the push.
        let (from, target, outbox) = match &task.work {
            Work::Push { out, from_process } => (
                from_process.clone(),
                out.target.clone(),
                serde_json::to_value(out).ok(),
            ),
            Work::Spawn { out, parent } => (parent.clone(), None, serde_json::to_value(out).ok()),
            _ => (String::new(), None, None),
        };
        task.receipt = Some(self.receipt(ao_core::ao::ReceiptBuilder {
            kind: ao_core::ao::ReceiptKind::Forwarded,
            message: item.id(),
            process: target,
            item_sha256: Sha256::digest(item.as_bytes()).into(),
            timestamp: now_ms(),
            from_process: Some(from).filter(|f| !f.is_empty()),
            outbox_sha256:
                outbox.map(|o| Sha256::digest(ao_core::canonical_json::to_vec(&o)).into()),
            pushed_for: task.root.clone(),
        })?);
        task.item_id = Some(item.id());
        task.signed = Some(B64.encode(item.as_bytes()));
        task.stage = Stage::Schedule;
        self.save(task).await
    }

    fn signed_item(task: &Task) -> Result<DataItem, StepError> {
        let text = match &task.work {
            Work::Forward { item, .. } => item.as_str(),
            _ => task.signed.as_deref().unwrap_or_default(),
        };
        let raw = B64
            .decode(text)
            .map_err(|e| StepError::Refused(400, format!("stored item: {e}")))?;
        DataItem::parse(raw).map_err(|e| StepError::Refused(400, format!("stored item: {e}")))
    }

    /// Hand the item (or assignment) to its SU; for a wallet, upload it.
    pub async fn schedule(&self, task: &mut Task) -> Result<(), StepError> {
        match task.work.clone() {
            Work::Assign(order) => {
                let su = self.locator.su_of(&order.process).await?;
                let id = match su.assign(&order).await {
                    Ok(id) => id,
                    Err(UnitError::Duplicate(_)) => su
                        .assignment_of(&order.process, &order.message)
                        .await?
                        .ok_or_else(|| {
                            StepError::Retry("assigned, but the assignment is not found yet".into())
                        })?,
                    Err(e) => return Err(e.into()),
                };
                task.item_id = Some(id);
                task.process_id = Some(order.process.clone());
                self.metrics.assigned();
            }
            Work::Forward { process, kind, .. } => {
                let item = Self::signed_item(task)?;
                let scheduler = if kind == "Process" {
                    item.tag("Scheduler").unwrap_or_default().to_string()
                } else {
                    match self.locator.destination(&process).await? {
                        Destination::Process { scheduler } => scheduler,
                        Destination::Wallet => {
                            return Err(StepError::Refused(
                                404,
                                format!("{process} is not a known process"),
                            ));
                        }
                    }
                };
                if kind == "Process" {
                    self.locator.remember(&process, &scheduler)?;
                }
                let su = self.locator.su(&scheduler).await?;
                match su.schedule(item.as_bytes().clone()).await {
                    Ok(_) | Err(UnitError::Duplicate(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                task.item_id = Some(item.id());
                task.process_id = Some(process);
            }
            Work::Push { out, .. } => {
                let item = Self::signed_item(task)?;
                let target = out.target.clone().unwrap_or_default();
                match self.locator.destination(&target).await? {
                    Destination::Process { scheduler } => {
                        let su = self.locator.su(&scheduler).await?;
                        match su.schedule(item.as_bytes().clone()).await {
                            Ok(_) | Err(UnitError::Duplicate(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                        task.process_id = Some(target);
                        self.metrics.pushed();
                    }
                    Destination::Wallet => {
                        self.bundler
                            .upload(&item)
                            .await
                            .map_err(|e| StepError::Retry(format!("upload to Arweave: {e}")))?;
                        task.stage = Stage::Done;
                        task.state = State::Computed;
                        self.metrics.uploaded();
                        return self.save(task).await;
                    }
                }
            }
            Work::Spawn { .. } => {
                let item = Self::signed_item(task)?;
                let pid = item.id();
                let scheduler = item.tag("Scheduler").unwrap_or_default().to_string();
                self.locator.remember(&pid, &scheduler)?;
                let su = self.locator.su(&scheduler).await?;
                match su.schedule(item.as_bytes().clone()).await {
                    Ok(_) | Err(UnitError::Duplicate(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                task.process_id = Some(pid);
                self.metrics.spawned();
            }
            Work::Results { .. } => {}
        }
        task.stage = Stage::PullResult;
        task.state = State::Pushed;
        self.save(task).await
    }

    /// Read the result and enqueue the work it causes, in one batch with this task's completion.
    async fn pull(&self, task: &mut Task) -> Result<(), StepError> {
        let mut works: Vec<(Work, Option<String>)> = Vec::new();
        let from = task.process_id.clone().unwrap_or_default();
        let mut results = Vec::new();
        match &task.work {
            Work::Results {
                results: encoded,
                process,
            } => {
                for r in encoded {
                    let bytes = B64
                        .decode(r)
                        .map_err(|e| StepError::Refused(400, e.to_string()))?;
                    results.push((
                        pb::EvalResult::decode(bytes.as_slice())
                            .map_err(|e| StepError::Refused(400, e.to_string()))?,
                        process.clone(),
                    ));
                }
            }
            Work::Spawn { out, parent } => {
                // The parent hears of its child first (`Spawned`), then the child's boot outbox runs.
                works.push((
                    Work::Push {
                        out: crank::spawned_notice(out, parent, &from),
                        from_process: parent.clone(),
                    },
                    None,
                ));
                results.push((self.cu.result(&from, &from).await?, from.clone()));
            }
            _ => {
                let id = task.item_id.clone().unwrap_or_default();
                results.push((self.cu.result(&from, &id).await?, from.clone()));
                if let Work::Push { out, .. } = &task.work {
                    for p in crank::pushed_message(out, "", "", None)
                        .map(|p| p.assign_to)
                        .unwrap_or_default()
                    {
                        works.push((
                            Work::Assign(crank::AssignOrder {
                                process: p,
                                message: id.clone(),
                                base_layer: false,
                                exclude: Vec::new(),
                            }),
                            None,
                        ));
                    }
                }
            }
        }
        for (result, process) in &results {
            for w in crank::outbox(result) {
                works.push(match w {
                    crank::Work::Push(out) => (
                        Work::Push {
                            out,
                            from_process: process.clone(),
                        },
                        None,
                    ),
                    crank::Work::Spawn(out) => (
                        Work::Spawn {
                            out,
                            parent: process.clone(),
                        },
                        None,
                    ),
                    crank::Work::Assign(order) => (Work::Assign(order), None),
                    crank::Work::Dropped(why) => (
                        Work::Push {
                            out: Outgoing {
                                target: None,
                                anchor: None,
                                tags: Vec::new(),
                                data: None,
                            },
                            from_process: process.clone(),
                        },
                        Some(why),
                    ),
                });
            }
        }
        let mut children = Vec::new();
        for (i, (work, dropped)) in works.into_iter().enumerate() {
            let mut child = new_task(
                child_id(&task.id, i),
                Some(task.id.clone()),
                task.root.clone(),
                work,
            );
            if let Some(why) = dropped {
                child.stage = Stage::Done;
                child.state = State::Dropped;
                child.error = Some(why);
            }
            children.push(child);
        }
        task.children = children.iter().map(|c| c.id.clone()).collect();
        task.stage = Stage::Done;
        task.state = State::Computed;
        task.error = None;
        task.updated_ms = now_ms();
        let mut all: Vec<&Task> = vec![task];
        all.extend(children.iter());
        self.store.put_tasks(&all).await?;
        Ok(())
    }

    /// Run `task` until it is done (or, with `until_scheduled`, until its item is with its SU),
    /// retrying with backoff; returns the task as it stands.
    pub async fn run(&self, task: Task, until_scheduled: bool) -> Task {
        use tracing::Instrument;
        let span = task_span(&task);
        self.run_task(task, until_scheduled).instrument(span).await
    }

    async fn run_task(&self, mut task: Task, until_scheduled: bool) -> Task {
        loop {
            let done = match task.stage {
                Stage::Done => true,
                Stage::PullResult => until_scheduled,
                _ => false,
            };
            if done || matches!(task.state, State::DeadLetter | State::Dropped) {
                return task;
            }
            let result = {
                let _permit = self.permits.acquire().await;
                self.step(&mut task).await
            };
            let Err(e) = result else {
                continue;
            };
            let (why, fatal) = match e {
                StepError::Retry(m) | StepError::Refused(404, m) => (m, false),
                StepError::Refused(status, m) => (format!("refused ({status}): {m}"), true),
                StepError::Drop(m) => {
                    task.state = State::Dropped;
                    task.stage = Stage::Done;
                    task.error = Some(m);
                    let _ = self.save(&mut task).await;
                    return task;
                }
            };
            task.error = Some(why.clone());
            task.retries += 1;
            if fatal || task.retries > self.retry.max_retries {
                tracing::warn!(task = %task.id, error = %why, "dead-lettered");
                task.state = State::DeadLetter;
                self.metrics.dead_lettered();
                let _ = self.save(&mut task).await;
                return task;
            }
            task.state = State::Failed;
            self.metrics.retried();
            let _ = self.save(&mut task).await;
            let delay = self
                .retry
                .base_delay
                .saturating_mul(1 << task.retries.min(16))
                .min(self.retry.max_delay);
            tracing::debug!(task = %task.id, error = %why, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Run `task` to completion in the background, then its children: handed to their SUs one
    /// by one in order, their own results concurrently.
    pub fn drive(self: &Arc<Self>, task: Task) {
        let mu = self.clone();
        tokio::spawn(async move {
            let task = mu.run(task, false).await;
            mu.drive_children(&task).await;
        });
    }

    async fn drive_children(self: &Arc<Self>, task: &Task) {
        if task.state != State::Computed {
            return;
        }
        let mut ordered = Vec::new();
        for id in &task.children {
            match self.store.task(id) {
                Ok(Some(c)) => ordered.push(c),
                Ok(None) => {}
                Err(e) => tracing::error!(task = %id, "cannot read a child task: {e}"),
            }
        }
        self.drive_in_order(ordered);
    }

    /// Hand `tasks` (siblings, in outbox order) to their SUs one at a time, each continuing on its
    /// own once scheduled.
    pub fn drive_in_order(self: &Arc<Self>, tasks: Vec<Task>) {
        if tasks.is_empty() {
            return;
        }
        let mu = self.clone();
        tokio::spawn(async move {
            for t in tasks {
                let t = mu.run(t, true).await;
                // Anything else is finished (a wallet upload) or given up (dead letter, dropped).
                if t.stage == Stage::PullResult {
                    mu.drive(t);
                }
            }
        });
    }

    /// After a restart: pick every unfinished task up where it stopped.
    pub fn resume(self: &Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let tasks = self.store.unfinished()?;
        let n = tasks.len();
        let mut siblings: HashMap<Option<String>, Vec<Task>> = HashMap::new();
        for t in tasks {
            if t.stage == Stage::PullResult {
                self.drive(t);
            } else {
                siblings.entry(t.parent.clone()).or_default().push(t);
            }
        }
        for (parent, mut group) in siblings {
            // Outbox order: the parent lists its children in order.
            if let Some(Ok(Some(p))) = parent.as_ref().map(|p| self.store.task(p)) {
                group.sort_by_key(|c| p.children.iter().position(|id| *id == c.id));
            }
            self.drive_in_order(group);
        }
        Ok(n)
    }

    /// Put a dead-lettered task back in the queue (an operator's re-push).
    pub async fn repush(
        self: &Arc<Self>,
        id: &str,
    ) -> Result<Option<Task>, crate::store::StoreError> {
        let Some(mut t) = self.store.task(id)? else {
            return Ok(None);
        };
        if t.state != State::DeadLetter {
            return Ok(Some(t));
        }
        t.state = State::Queued;
        t.retries = 0;
        t.error = None;
        t.updated_ms = now_ms();
        self.store.put_tasks(&[&t]).await?;
        if t.stage == Stage::PullResult {
            self.drive(t.clone());
        } else {
            self.drive_in_order(vec![t.clone()]);
        }
        Ok(Some(t))
    }

    /// Accept a user's item for scheduling: the task is stored, then the item is handed to its
    /// SU; `Ok` means the SU has it durably (the crank goes on in the background).
    pub async fn forward(
        self: &Arc<Self>,
        item: &DataItem,
        process: String,
        kind: &str,
    ) -> Result<Task, StepError> {
        let id = item.id();
        let receipt = self.receipt(ao_core::ao::ReceiptBuilder {
            kind: ao_core::ao::ReceiptKind::Received,
            message: id.clone(),
            process: Some(process.clone()),
            item_sha256: Sha256::digest(item.as_bytes()).into(),
            timestamp: now_ms(),
            from_process: None,
            outbox_sha256: None,
            pushed_for: None,
        })?;
        let mut task = new_task(
            id.clone(),
            None,
            Some(id),
            Work::Forward {
                item: B64.encode(item.as_bytes()),
                process,
                kind: kind.to_string(),
            },
        );
        task.receipt = Some(receipt);
        self.accept(task).await
    }

    /// Accept an assignment request (`POST /?process-id=&assign=`).
    pub async fn assign(self: &Arc<Self>, order: crank::AssignOrder) -> Result<Task, StepError> {
        let id = child_id(&format!("assign:{}:{}", order.process, order.message), 0);
        let task = new_task(
            id.clone(),
            None,
            Some(order.message.clone()),
            Work::Assign(order),
        );
        self.accept(task).await
    }

    /// Store `task` and hand it to its SU in a task of its own, and wait for the answer. The
    /// request may go away (the client disconnects, the request deadline passes): the work goes
    /// on regardless, so an item the SU accepted is always cranked on, not left half done until
    /// the MU restarts. The same task again (a client's retry) answers as the first time, or waits
    /// for the first attempt still in flight; only a task the SU refused is tried again.
    async fn accept(self: &Arc<Self>, task: Task) -> Result<Task, StepError> {
        let mut answer = {
            let mut accepting = self.accepting.lock().unwrap_or_else(|p| p.into_inner());
            match accepting.get(&task.id) {
                Some(rx) => rx.clone(),
                None => {
                    if let Some(existing) = self.store.task(&task.id)?
                        && existing.stage != Stage::Schedule
                        && existing.state != State::Dropped
                    {
                        return Ok(existing);
                    }
                    let (tx, rx) = watch::channel(None);
                    accepting.insert(task.id.clone(), rx.clone());
                    let mu = self.clone();
                    // In the request's span: the SU's scheduling is part of the user's trace.
                    tokio::spawn(tracing::Instrument::in_current_span(async move {
                        let _done = Accepting {
                            mu: &mu,
                            id: task.id.clone(),
                        };
                        let result = mu.schedule_now(task).await;
                        tx.send_replace(Some(result));
                    }));
                    rx
                }
            }
        };
        match answer.wait_for(Option::is_some).await {
            Ok(a) => a
                .clone()
                .unwrap_or_else(|| Err(StepError::Retry("no answer".into()))),
            Err(_) => Err(StepError::Retry(
                "the MU stopped before the SU answered".into(),
            )),
        }
    }

    async fn schedule_now(self: &Arc<Self>, mut task: Task) -> Result<Task, StepError> {
        self.save(&mut task).await?;
        match self.schedule(&mut task).await {
            Ok(()) => {
                self.drive(task.clone());
                Ok(task)
            }
            Err(e) => {
                // Not acknowledged: the client hears the error; nothing is left queued.
                task.state = State::Dropped;
                task.stage = Stage::Done;
                task.error = Some(format!("{e:?}"));
                let _ = self.save(&mut task).await;
                Err(e)
            }
        }
    }

    /// Queue already computed results of `process` (cron) for pushing; `id` makes a repeated
    /// tick a no-op.
    pub fn results_task(process: &str, id: String, results: &[pb::EvalResult]) -> Task {
        new_task(
            id,
            None,
            None,
            Work::Results {
                process: process.to_string(),
                results: results
                    .iter()
                    .map(|r| B64.encode(r.encode_to_vec()))
                    .collect(),
            },
        )
    }
}

/// The span a task's work runs in (traces on only): `mu.push`, `mu.spawn`, `mu.assign`,
/// `mu.forward` or `mu.results`, child of the span that made the task, with `ao.process.id`,
/// `ao.action` and the task's `ao.mu.task`.
fn task_span(task: &Task) -> tracing::Span {
    if !ao_runtime::telemetry::enabled() {
        return tracing::Span::none();
    }
    let (name, process, action) = match &task.work {
        Work::Forward { process, .. } => ("mu.forward", process.as_str(), None),
        Work::Push { out, .. } => (
            "mu.push",
            out.target.as_deref().unwrap_or_default(),
            tag_of(&out.tags, "Action"),
        ),
        Work::Spawn { parent, .. } => ("mu.spawn", parent.as_str(), None),
        Work::Assign(order) => ("mu.assign", order.process.as_str(), None),
        Work::Results { process, .. } => ("mu.results", process.as_str(), None),
    };
    let span = tracing::info_span!(
        "mu.task",
        otel.name = name,
        ao.process.id = %process,
        ao.action = action.unwrap_or_default(),
        ao.mu.task = %task.id,
    );
    ao_runtime::propagation::set_parent(&span, task.traceparent.as_deref());
    span
}

/// Takes an accepted task off the in-flight list when its first schedule ends, however it ends.
struct Accepting<'a> {
    mu: &'a Mu,
    id: String,
}

impl Drop for Accepting<'_> {
    fn drop(&mut self) {
        self.mu
            .accepting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
