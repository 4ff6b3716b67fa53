//! The MU's durable state in RocksDB: the task queue (every piece of work and where it stands),
//! the process -> scheduler cache, and the cron monitors.
//!
//! Keys (one keyspace, a letter per kind):
//! - `t{task id}` -> [`Task`] JSON. A task is written before its work is acknowledged and after
//!   every stage it completes; a task and the children its result causes are written in one synced
//!   batch, so a crash loses nothing acknowledged and creates nothing twice.
//! - `i{item id}` -> task id: find a task (for `Trace`) by the id of the item it pushed.
//! - `u{task id}` -> empty, while the task is unfinished: what a restart resumes, read without
//!   scanning the finished tasks kept for traces.
//! - `d{task id}` -> empty, while the task is dead-lettered: the dead-letter list reads only these.
//! - `f{finished ms, 8 bytes big-endian}{task id}` -> empty, once a task completed or was dropped:
//!   the retention sweep reads the oldest finished tasks first and deletes them (see [`Store::sweep`]).
//! - `p{process id}` -> scheduler address of a process this MU has seen spawned.
//! - `m{process id}` -> [`Monitor`] JSON: a process whose cron results are pushed.
//!
//! Writes: every synced write goes through one committer thread, which takes everything queued
//! while the previous sync ran and syncs it once (group commit, as the SU's store does). Callers
//! await the answer, so no tokio worker ever blocks on an fsync, and concurrent tasks share syncs.
//! The retention sweep runs on the same thread, so its check-then-delete cannot race a task write.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as channel;

use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::crank::{AssignOrder, Outgoing};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB.
    #[error("storage: {0}")]
    Db(#[from] rocksdb::Error),
    /// A record that does not decode.
    #[error("corrupt record {0}: {1}")]
    Corrupt(String, String),
    /// The committer thread has stopped (the MU is shutting down).
    #[error("the store is closed")]
    Closed,
}

/// Writes one group commit takes at most: bounds the batch a sync carries (and the latency of the
/// first writer in it) while letting a burst of task writes share one fsync.
pub const MAX_GROUP_COMMIT: usize = 256;

/// What a task does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Work {
    /// A user's signed item (Message or Process) received over `POST /`: schedule it as is.
    Forward {
        /// The item bytes, base64.
        item: String,
        /// The process it goes to (its target, or itself for a Process).
        process: String,
        /// `Process` or `Message`.
        kind: String,
    },
    /// Push an outbox message of `from_process`.
    Push {
        /// The outbox entry.
        out: Outgoing,
        /// The process whose result produced it.
        from_process: String,
    },
    /// Spawn a process for `parent`.
    Spawn {
        /// The outbox entry.
        out: Outgoing,
        /// The parent process.
        parent: String,
    },
    /// Assign a message to a process (from a user or an outbox).
    Assign(AssignOrder),
    /// Push the outbox of results already computed (cron results of a monitored process).
    Results {
        /// The process.
        process: String,
        /// The results, as `EvalResult` protobuf bytes, base64.
        results: Vec<String>,
    },
}

/// How far a task got. Stages only move forward; each is idempotent to redo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// The item to push is being built and signed.
    Sign,
    /// The item or assignment is being handed to the SU (or, for a wallet, uploaded).
    Schedule,
    /// The CU result is being read and the work it causes enqueued.
    PullResult,
    /// Nothing left to do.
    Done,
}

/// What [`Store::queue_summary`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Unfinished tasks per stage, in the order of [`Stage::ALL`].
    pub by_stage: [u64; 4],
    /// The oldest last change (ms since the epoch) of an unfinished task.
    pub oldest_updated_ms: Option<u64>,
    /// Tasks in the dead-letter list.
    pub dead_letters: u64,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 4] = [Stage::Sign, Stage::Schedule, Stage::PullResult, Stage::Done];

    /// The reference's stage names, for traces.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Sign => "build-tx",
            Stage::Schedule => "write-message-su",
            Stage::PullResult => "pull-result",
            Stage::Done => "end",
        }
    }
}

/// Where a task stands (the `TraceState` of the gRPC contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Waiting to run or running.
    Queued,
    /// Accepted by the SU; result not read yet.
    Pushed,
    /// Result read, its work enqueued: complete.
    Computed,
    /// The last attempt failed; it will be retried.
    Failed,
    /// Retries exhausted: in the dead-letter list until an operator re-pushes it.
    DeadLetter,
    /// Not pushed on purpose (an outbox entry that cannot be an item).
    Dropped,
}

/// One piece of work and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable id: the user item's id for a root, `{parent}.{index}` for the work a result caused.
    pub id: String,
    /// The task whose result caused this one.
    pub parent: Option<String>,
    /// Id of the user item that started the chain (`Pushed-For`); `None` for cron work.
    pub root: Option<String>,
    /// What to do.
    pub work: Work,
    /// How far it got.
    pub stage: Stage,
    /// Where it stands.
    pub state: State,
    /// Failed attempts so far.
    pub retries: u32,
    /// Last error.
    pub error: Option<String>,
    /// Signed item bytes (base64), kept between signing and scheduling so a retry pushes the
    /// same bytes.
    pub signed: Option<String>,
    /// Id of the item pushed (message id, new process id) or of the SU's assignment.
    pub item_id: Option<String>,
    /// The process the item went to (`None` for a wallet).
    pub process_id: Option<String>,
    /// Ids of the tasks its result caused, in outbox order.
    pub children: Vec<String>,
    /// Last change, ms since the epoch.
    pub updated_ms: u64,
    /// W3C `traceparent` of the span that made the task (the user's request, or the task whose
    /// result caused it), so the task's spans join that trace even after a restart. `None` when
    /// traces are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The MU's signed receipt for this task's item (base64url; `Received` for a user's item,
    /// `Forwarded` for a push or spawn), [`ao_core::ao::Receipt`]. `None` for assignments, cron
    /// reads, and tasks stored before receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// A monitored process: its cron results are read and pushed on every tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    /// The CU cursor after the last cron result pushed.
    pub cursor: Option<String>,
}

fn key(kind: u8, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(kind);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Whether a task still has work to do (it is resumed after a restart).
fn unfinished(t: &Task) -> bool {
    matches!(t.state, State::Queued | State::Pushed | State::Failed)
}

/// Whether a finished task expires after the retention: completed or dropped work. Unfinished
/// tasks are kept (they are resumed) and so are dead letters (an operator may re-push them).
fn expires(t: &Task) -> bool {
    matches!(t.state, State::Computed | State::Dropped)
}

/// The finish-time index key of a task finished at `ms`.
fn finished_key(ms: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(b'f');
    k.extend_from_slice(&ms.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// One write, queued to the committer.
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Add a task to a write, with its indexes: `i` (its item id), `u` (present while unfinished, so
/// a restart reads the pending work, not the whole history kept for traces), `d` (present while
/// dead-lettered) and `f` (its finish time, for the retention sweep).
fn add_task(ops: &mut Vec<Op>, t: &Task) -> Result<(), StoreError> {
    let v = serde_json::to_vec(t).map_err(|e| StoreError::Corrupt(t.id.clone(), e.to_string()))?;
    ops.push(Op::Put(key(b't', &t.id), v));
    if let Some(item) = &t.item_id
        && *item != t.id
    {
        ops.push(Op::Put(key(b'i', item), t.id.as_bytes().to_vec()));
    }
    if unfinished(t) {
        ops.push(Op::Put(key(b'u', &t.id), Vec::new()));
    } else {
        ops.push(Op::Delete(key(b'u', &t.id)));
    }
    if t.state == State::DeadLetter {
        ops.push(Op::Put(key(b'd', &t.id), Vec::new()));
    } else {
        ops.push(Op::Delete(key(b'd', &t.id)));
    }
    if expires(t) {
        ops.push(Op::Put(finished_key(t.updated_ms, &t.id), Vec::new()));
    }
    Ok(())
}

/// What the committer is asked to do.
enum Job {
    /// Write these operations, synced, and answer once durable.
    Write(Vec<Op>, oneshot::Sender<Result<(), StoreError>>),
    /// Delete up to `max` tasks finished at or before `cutoff_ms`.
    Sweep {
        cutoff_ms: u64,
        max: usize,
        reply: oneshot::Sender<Result<Swept, StoreError>>,
    },
}

/// What one sweep step deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Tasks deleted.
    pub deleted: usize,
    /// Whether more index entries at or before the cutoff remain (sweep again).
    pub more: bool,
    /// Smallest and largest key deleted, for the compaction of that range.
    pub range: Option<(Vec<u8>, Vec<u8>)>,
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// The RocksDB store.
pub struct Store {
    db: Arc<DB>,
    jobs: std::sync::Mutex<Option<channel::Sender<Job>>>,
    committer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Store {
    /// Open (or create) the store in `dir` and start its committer thread.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = Arc::new(DB::open(&opts, dir)?);
        let (tx, rx) = channel::channel();
        let committer = Committer { db: db.clone() };
        let handle = std::thread::Builder::new()
            .name("mu-committer".into())
            .spawn(move || committer.run(rx))
            .map_err(|e| StoreError::Corrupt("committer".into(), e.to_string()))?;
        Ok(Store {
            db,
            jobs: std::sync::Mutex::new(Some(tx)),
            committer: std::sync::Mutex::new(Some(handle)),
        })
    }

    /// Whether the committer thread is running (writes can be made), for readiness.
    pub fn is_running(&self) -> bool {
        let open = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        open && self
            .committer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Write(ops, reply))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, k: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get(k)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| {
                StoreError::Corrupt(String::from_utf8_lossy(k).into_owned(), e.to_string())
            }),
        }
    }

    /// A task by id.
    pub fn task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        self.get_json(&key(b't', id))
    }

    /// The task that pushed item `item_id` (or whose id it is).
    pub fn task_by_item(&self, item_id: &str) -> Result<Option<Task>, StoreError> {
        if let Some(t) = self.task(item_id)? {
            return Ok(Some(t));
        }
        match self.db.get(key(b'i', item_id))? {
            Some(id) => self.task(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Write tasks (a task and the children its result caused) in one synced batch, on the
    /// committer thread.
    pub async fn put_tasks(&self, tasks: &[&Task]) -> Result<(), StoreError> {
        let mut ops = Vec::new();
        for t in tasks {
            add_task(&mut ops, t)?;
        }
        self.write(ops).await
    }

    /// Delete up to `max` tasks that completed or were dropped at or before `cutoff_ms`, with
    /// their item index, on the committer thread (so no task write can fall between the check and
    /// the delete). Unfinished and dead-lettered tasks are never deleted.
    pub async fn sweep(&self, cutoff_ms: u64, max: usize) -> Result<Swept, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Sweep {
            cutoff_ms,
            max,
            reply,
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Compact the key range a sweep deleted, and the finish-time index up to `cutoff_ms`, so the
    /// space of the deleted tasks is given back (blocking: call it off the async runtime).
    pub fn compact(&self, swept: &Swept, cutoff_ms: u64) {
        if let Some((from, to)) = &swept.range {
            self.db.compact_range(Some(from), Some(to));
        }
        self.db.compact_range(
            Some(b"f".as_slice()),
            Some(finished_key(cutoff_ms, "~").as_slice()),
        );
    }

    /// Every record of one kind (`prefix`), decoded.
    fn scan<T: for<'de> Deserialize<'de>>(
        &self,
        prefix: u8,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .db
            .iterator(IteratorMode::From(&[prefix], Direction::Forward))
        {
            let (k, v) = kv?;
            if k.first() != Some(&prefix) {
                break;
            }
            let id = String::from_utf8_lossy(&k[1..]).into_owned();
            let t = serde_json::from_slice(&v)
                .map_err(|e| StoreError::Corrupt(id.clone(), e.to_string()))?;
            out.push((id, t));
        }
        Ok(out)
    }

    /// Every task not yet finished (to resume after a restart), in id order.
    pub fn unfinished(&self) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .db
            .iterator(IteratorMode::From(b"u", Direction::Forward))
        {
            let (k, _) = kv?;
            if k.first() != Some(&b'u') {
                break;
            }
            if let Some(t) = self.task(&String::from_utf8_lossy(&k[1..]))?
                && unfinished(&t)
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Unfinished tasks by stage, the oldest last change among them, and the dead letters, for
    /// `/metrics`: reads at most `max` tasks of each index, so a scrape stays cheap however long
    /// the queue (past it the numbers are lower bounds).
    pub fn queue_summary(&self, max: usize) -> Result<QueueSummary, StoreError> {
        let mut out = QueueSummary::default();
        for kv in self
            .db
            .iterator(IteratorMode::From(b"u", Direction::Forward))
            .take(max)
        {
            let (k, _) = kv?;
            if k.first() != Some(&b'u') {
                break;
            }
            if let Some(t) = self.task(&String::from_utf8_lossy(&k[1..]))?
                && unfinished(&t)
            {
                let i = Stage::ALL.iter().position(|s| *s == t.stage).unwrap_or(0);
                out.by_stage[i] += 1;
                out.oldest_updated_ms = Some(
                    out.oldest_updated_ms
                        .map_or(t.updated_ms, |o| o.min(t.updated_ms)),
                );
            }
        }
        for kv in self
            .db
            .iterator(IteratorMode::From(b"d", Direction::Forward))
            .take(max)
        {
            let (k, _) = kv?;
            if k.first() != Some(&b'd') {
                break;
            }
            if self
                .task(&String::from_utf8_lossy(&k[1..]))?
                .is_some_and(|t| t.state == State::DeadLetter)
            {
                out.dead_letters += 1;
            }
        }
        Ok(out)
    }

    /// Every task in the dead-letter list, read through its index (not a scan of every task).
    pub fn dead_letters(&self) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .db
            .iterator(IteratorMode::From(b"d", Direction::Forward))
        {
            let (k, _) = kv?;
            if k.first() != Some(&b'd') {
                break;
            }
            if let Some(t) = self.task(&String::from_utf8_lossy(&k[1..]))?
                && t.state == State::DeadLetter
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The scheduler of a process this MU saw spawned.
    pub fn scheduler_of(&self, pid: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(key(b'p', pid))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Remember the scheduler of a process.
    pub fn remember_scheduler(&self, pid: &str, scheduler: &str) -> Result<(), StoreError> {
        self.db.put(key(b'p', pid), scheduler.as_bytes())?;
        Ok(())
    }

    /// A monitor.
    pub fn monitor(&self, pid: &str) -> Result<Option<Monitor>, StoreError> {
        self.get_json(&key(b'm', pid))
    }

    /// Every monitored process.
    pub fn monitors(&self) -> Result<Vec<(String, Monitor)>, StoreError> {
        self.scan(b'm')
    }

    /// Start (or update) a monitor; with `task`, in the same batch (a tick's results and the
    /// cursor after them move together).
    pub async fn put_monitor(
        &self,
        pid: &str,
        m: &Monitor,
        task: Option<&Task>,
    ) -> Result<(), StoreError> {
        let v = serde_json::to_vec(m)
            .map_err(|e| StoreError::Corrupt(pid.to_string(), e.to_string()))?;
        let mut ops = vec![Op::Put(key(b'm', pid), v)];
        if let Some(t) = task {
            add_task(&mut ops, t)?;
        }
        self.write(ops).await
    }

    /// Stop a monitor.
    pub async fn delete_monitor(&self, pid: &str) -> Result<(), StoreError> {
        self.write(vec![Op::Delete(key(b'm', pid))]).await
    }
}

impl Drop for Store {
    /// Stop the committer (it finishes what is queued) and wait for it, so the database closes
    /// cleanly before the process can exit.
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = self
            .committer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = h.join();
        }
    }
}

/// A write waiting for its group commit, and where its answer goes.
type Pending = (Vec<Op>, oneshot::Sender<Result<(), StoreError>>);

/// The thread that owns every synced write.
struct Committer {
    db: Arc<DB>,
}

impl Committer {
    fn run(self, rx: channel::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut writes = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Write(ops, reply) => writes.push((ops, reply)),
                    Job::Sweep {
                        cutoff_ms,
                        max,
                        reply,
                    } => {
                        // Writes queued before the sweep land first.
                        self.commit(std::mem::take(&mut writes));
                        let _ = reply.send(self.sweep(cutoff_ms, max));
                    }
                }
                if writes.len() < MAX_GROUP_COMMIT {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(writes);
        }
    }

    fn commit(&self, group: Vec<Pending>) {
        if group.is_empty() {
            return;
        }
        let mut batch = WriteBatch::default();
        for (ops, _) in &group {
            for op in ops {
                match op {
                    Op::Put(k, v) => batch.put(k, v),
                    Op::Delete(k) => batch.delete(k),
                }
            }
        }
        let result = self.db.write_opt(batch, &synced());
        for (_, reply) in group {
            let _ = reply.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Db(e.clone())),
            });
        }
    }

    fn sweep(&self, cutoff_ms: u64, max: usize) -> Result<Swept, StoreError> {
        let mut batch = WriteBatch::default();
        let mut swept = Swept::default();
        let widen = |k: Vec<u8>, swept: &mut Swept| match &mut swept.range {
            None => swept.range = Some((k.clone(), k)),
            Some((lo, hi)) => {
                if k < *lo {
                    *lo = k;
                } else if k > *hi {
                    *hi = k;
                }
            }
        };
        for (seen, kv) in self
            .db
            .iterator(IteratorMode::From(b"f", Direction::Forward))
            .enumerate()
        {
            let (k, _) = kv?;
            if k.first() != Some(&b'f') || k.len() < 9 {
                break;
            }
            let mut ms = [0u8; 8];
            ms.copy_from_slice(&k[1..9]);
            if u64::from_be_bytes(ms) > cutoff_ms {
                break;
            }
            if seen == max {
                swept.more = true;
                break;
            }
            batch.delete(&k);
            let id = String::from_utf8_lossy(&k[9..]).into_owned();
            let tk = key(b't', &id);
            let Some(v) = self.db.get(&tk)? else {
                continue;
            };
            let t: Task = serde_json::from_slice(&v)
                .map_err(|e| StoreError::Corrupt(id.clone(), e.to_string()))?;
            // A stale index entry (the task was queued again since) deletes only itself.
            if !expires(&t) || t.updated_ms > cutoff_ms {
                continue;
            }
            if let Some(item) = &t.item_id {
                let ik = key(b'i', item);
                if self.db.get(&ik)?.as_deref() == Some(id.as_bytes()) {
                    batch.delete(&ik);
                }
            }
            batch.delete(&tk);
            widen(tk, &mut swept);
            swept.deleted += 1;
        }
        // Not synced: a delete lost in a crash is found again by the next sweep.
        self.db.write(batch)?;
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crank::AssignOrder;

    fn task(id: &str, state: State) -> Task {
        let mut t = crate::queue::new_task(
            id.to_string(),
            None,
            None,
            Work::Assign(AssignOrder {
                process: "P".into(),
                message: "M".into(),
                base_layer: false,
                exclude: Vec::new(),
            }),
        );
        t.state = state;
        t
    }

    #[tokio::test]
    async fn a_restart_reads_only_unfinished_tasks_and_they_survive_reopening() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let store = Store::open(dir.path()).expect("open");
            let (a, b, c) = (
                task("a", State::Queued),
                task("b", State::Computed),
                task("c", State::Failed),
            );
            store.put_tasks(&[&a, &b, &c]).await.expect("put");
            let mut done = a.clone();
            done.state = State::Computed;
            store.put_tasks(&[&done]).await.expect("finish a");
        }
        let store = Store::open(dir.path()).expect("reopen");
        let ids: Vec<String> = store
            .unfinished()
            .expect("unfinished")
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, ["c"]);
        assert_eq!(
            store.task("a").expect("a").map(|t| t.state),
            Some(State::Computed)
        );
    }

    /// A task in `state`, last changed at `ms`, that pushed item `{id}-item`.
    fn aged(id: &str, state: State, ms: u64) -> Task {
        let mut t = task(id, state);
        t.updated_ms = ms;
        t.item_id = Some(format!("{id}-item"));
        t
    }

    #[tokio::test]
    async fn retention_deletes_old_finished_tasks_and_keeps_unfinished_dead_and_recent_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let old = 1_000;
        let recent = 10_000;
        let tasks = [
            aged("old-done", State::Computed, old),
            aged("old-dropped", State::Dropped, old),
            aged("old-dead", State::DeadLetter, old),
            aged("old-queued", State::Queued, old),
            aged("old-failed", State::Failed, old),
            aged("new-done", State::Computed, recent),
        ];
        store
            .put_tasks(&tasks.iter().collect::<Vec<_>>())
            .await
            .expect("put");
        // A finished task queued again since (a client's retry after a refusal): its stale
        // finish-time entry must not delete it.
        let mut again = aged("requeued", State::Dropped, old);
        store.put_tasks(&[&again]).await.expect("dropped");
        again.state = State::Queued;
        again.updated_ms = recent;
        store.put_tasks(&[&again]).await.expect("queued again");

        // One task per step: the sweep goes on in steps until nothing is left.
        let mut deleted = 0;
        loop {
            let swept = store.sweep(5_000, 1).await.expect("sweep");
            deleted += swept.deleted;
            store.compact(&swept, 5_000);
            if !swept.more {
                break;
            }
        }
        assert_eq!(deleted, 2);
        for gone in ["old-done", "old-dropped"] {
            assert_eq!(store.task(gone).expect("read"), None, "{gone}");
            assert_eq!(
                store.task_by_item(&format!("{gone}-item")).expect("read"),
                None,
                "{gone}'s item index"
            );
        }
        for kept in [
            "old-dead",
            "old-queued",
            "old-failed",
            "new-done",
            "requeued",
        ] {
            assert!(store.task(kept).expect("read").is_some(), "{kept}");
            assert!(
                store
                    .task_by_item(&format!("{kept}-item"))
                    .expect("read")
                    .is_some(),
                "{kept}'s item index"
            );
        }
        assert_eq!(store.dead_letters().expect("dead").len(), 1);
        let mut ids: Vec<String> = store
            .unfinished()
            .expect("unfinished")
            .into_iter()
            .map(|t| t.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["old-failed", "old-queued", "requeued"]);
        // Nothing left to sweep at that cutoff; the recent one goes once it is old enough.
        assert_eq!(store.sweep(5_000, 100).await.expect("sweep").deleted, 0);
        assert_eq!(store.sweep(recent, 100).await.expect("sweep").deleted, 1);
        assert_eq!(store.task("new-done").expect("read"), None);
    }

    #[tokio::test]
    async fn a_trace_works_for_work_within_the_retention() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let mut root = aged("root", State::Computed, 10_000);
        let child = Task {
            parent: Some("root".into()),
            ..aged("child", State::Computed, 10_000)
        };
        root.children = vec![child.id.clone()];
        let gone = aged("gone", State::Computed, 1_000);
        store.put_tasks(&[&root, &child, &gone]).await.expect("put");
        assert_eq!(store.sweep(5_000, 100).await.expect("sweep").deleted, 1);
        let tree = crate::trace::tree(&store, "root")
            .expect("trace")
            .expect("found");
        assert_eq!(tree.children.len(), 1);
        assert_eq!(tree.children[0].id, "child-item");
        assert!(
            crate::trace::tree(&store, "gone-item")
                .expect("trace")
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_dead_letter_list_reads_only_its_index() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let dead = task("dead", State::DeadLetter);
        let done = task("done", State::Computed);
        store.put_tasks(&[&dead, &done]).await.expect("put");
        // A task record that does not decode: a scan of every task would fail on it; the list,
        // reading only the dead-letter index, never touches it.
        store
            .db
            .put(key(b't', "broken"), b"not json")
            .expect("raw put");
        let list = store.dead_letters().expect("dead letters");
        assert_eq!(
            list.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["dead"]
        );
        // Re-pushed, it leaves the list.
        let mut back = dead.clone();
        back.state = State::Queued;
        store.put_tasks(&[&back]).await.expect("repush");
        assert!(store.dead_letters().expect("dead letters").is_empty());
    }
}
