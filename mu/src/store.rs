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
//! - `p{process id}` -> scheduler address of a process this MU has seen spawned.
//! - `m{process id}` -> [`Monitor`] JSON: a process whose cron results are pushed.

use std::path::Path;

use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

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
}

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

impl Stage {
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

/// Add a task to a batch, with its indexes: `i` (its item id) and `u` (present while unfinished,
/// so a restart reads the pending work, not the whole history kept for traces).
fn add_task(batch: &mut WriteBatch, t: &Task) -> Result<(), StoreError> {
    let v = serde_json::to_vec(t).map_err(|e| StoreError::Corrupt(t.id.clone(), e.to_string()))?;
    batch.put(key(b't', &t.id), v);
    if let Some(item) = &t.item_id
        && *item != t.id
    {
        batch.put(key(b'i', item), t.id.as_bytes());
    }
    if unfinished(t) {
        batch.put(key(b'u', &t.id), b"");
    } else {
        batch.delete(key(b'u', &t.id));
    }
    Ok(())
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// The RocksDB store.
pub struct Store {
    db: DB,
}

impl Store {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        Ok(Store {
            db: DB::open(&opts, dir)?,
        })
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

    /// Write tasks (a task and the children its result caused) in one synced batch.
    pub fn put_tasks(&self, tasks: &[&Task]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for t in tasks {
            add_task(&mut batch, t)?;
        }
        self.db.write_opt(batch, &synced())?;
        Ok(())
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

    fn tasks_where(&self, keep: impl Fn(&Task) -> bool) -> Result<Vec<Task>, StoreError> {
        Ok(self
            .scan::<Task>(b't')?
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| keep(t))
            .collect())
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

    /// Every task in the dead-letter list.
    pub fn dead_letters(&self) -> Result<Vec<Task>, StoreError> {
        self.tasks_where(|t| t.state == State::DeadLetter)
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
    pub fn put_monitor(
        &self,
        pid: &str,
        m: &Monitor,
        task: Option<&Task>,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let v = serde_json::to_vec(m)
            .map_err(|e| StoreError::Corrupt(pid.to_string(), e.to_string()))?;
        batch.put(key(b'm', pid), v);
        if let Some(t) = task {
            add_task(&mut batch, t)?;
        }
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Stop a monitor.
    pub fn delete_monitor(&self, pid: &str) -> Result<(), StoreError> {
        self.db.delete_opt(key(b'm', pid), &synced())?;
        Ok(())
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

    #[test]
    fn a_restart_reads_only_unfinished_tasks_and_they_survive_reopening() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let store = Store::open(dir.path()).expect("open");
            let (a, b, c) = (
                task("a", State::Queued),
                task("b", State::Computed),
                task("c", State::Failed),
            );
            store.put_tasks(&[&a, &b, &c]).expect("put");
            let mut done = a.clone();
            done.state = State::Computed;
            store.put_tasks(&[&done]).expect("finish a");
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
}
