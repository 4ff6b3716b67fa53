//! The write path: one process at a time under its own lock, every process at once.
//!
//! For each write the writer takes the process's lock, loads its tip (once; then it is cached),
//! refuses duplicates, asks `schedule.rs` for the next slot, signs the assignment and queues the
//! entry to the store's committer. It then updates the tip and **releases the lock before the
//! sync**, so the next write of the same process is computed and queued while the first is being
//! synced: one process can fill a group commit too. The caller is answered only once its batch
//! is durable. Ids queued but not yet durable are remembered as pending, so a duplicate that
//! arrives during the sync is still refused.
//!
//! A lock is a `tokio` mutex per process in a map; a process's lock never blocks another process.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ao_core::encoding::b64url;
use ao_core::{DataItem, Signer};
use bytes::Bytes;
use tokio::sync::Mutex;

use crate::error::{Result, SuError};
use crate::schedule::{Incoming, Tip, dedupe_hash, next_slot};
use crate::store::{Entry, NewEntry, Store, StoredProcess};

/// Idle per-process locks kept before the map is swept: each costs ~200 bytes and saves one
/// RocksDB seek on the process's next write.
pub const MAX_IDLE_LOCKS: usize = 100_000;

/// What a successful write tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// Message id, process id, or (for a bare assignment) the assignment id: what `POST /` answers.
    pub id: String,
    /// The assignment's id.
    pub assignment_id: String,
    /// The slot's nonce.
    pub nonce: u64,
    /// The slot's timestamp (ms).
    pub timestamp: u64,
}

#[derive(Default)]
struct ProcessState {
    /// `None` until loaded from the store.
    tip: Option<Option<Tip>>,
    /// Whether the process record exists (or is queued).
    exists: Option<bool>,
}

/// A process's lock and its in-flight set. The set is behind its own short std mutex, outside
/// the async lock, so a drop guard can clear it synchronously when a write is cancelled.
#[derive(Default)]
struct ProcessLock {
    state: Mutex<ProcessState>,
    /// Ids and dedupe hashes queued but not yet durable.
    pending: std::sync::Mutex<HashSet<Vec<u8>>>,
}

impl ProcessLock {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keys in a process's in-flight set until their write is durable. Dropped with the write (the
/// client went away, the request deadline passed) before the commit answered, it hands the wait
/// to a task of its own, so the keys leave the set once the commit is done, never before (a
/// duplicate arriving meanwhile is still refused) and never later.
struct InFlight {
    lock: Arc<ProcessLock>,
    keys: Vec<Vec<u8>>,
    rx: Option<tokio::sync::oneshot::Receiver<Result<()>>>,
}

impl InFlight {
    async fn durable(mut self) -> Result<()> {
        let result = match self.rx.as_mut() {
            Some(rx) => rx.await.map_err(|_| {
                SuError::Unavailable("the SU stopped before the write was durable".into())
            })?,
            None => Ok(()),
        };
        self.rx = None;
        result
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let clear = |lock: &ProcessLock, keys: &[Vec<u8>]| {
            let mut pending = lock.pending();
            for k in keys {
                pending.remove(k);
            }
        };
        let keys = std::mem::take(&mut self.keys);
        match (self.rx.take(), tokio::runtime::Handle::try_current()) {
            (Some(rx), Ok(rt)) => {
                let lock = self.lock.clone();
                rt.spawn(async move {
                    let _ = rx.await;
                    clear(&lock, &keys);
                });
            }
            _ => clear(&self.lock, &keys),
        }
    }
}

/// What is being placed in a schedule.
pub enum Placement {
    /// A new process (its own entry at nonce 0, or only its record with process assignments off).
    Process(ao_core::ao::Process),
    /// A message for an existing process.
    Message(ao_core::ao::Message),
    /// An existing item or L1 transaction, by id, with `Exclude` values.
    Assignment {
        /// The process receiving it.
        process: [u8; 32],
        /// The assigned id.
        message: [u8; 32],
        /// AOP-1 excluded fields.
        exclude: Vec<String>,
    },
}

impl From<Incoming> for Placement {
    fn from(i: Incoming) -> Self {
        match i {
            Incoming::Process(p) => Placement::Process(p),
            Incoming::Message(m) => Placement::Message(m),
        }
    }
}

/// Serialises writes per process and queues them to the store.
pub struct Writer {
    store: Arc<Store>,
    signer: Arc<dyn Signer>,
    process_assignment: bool,
    locks: std::sync::Mutex<HashMap<[u8; 32], Arc<ProcessLock>>>,
}

impl Writer {
    /// A writer signing assignments with `signer`. `process_assignment` gives each new process its
    /// own assignment at nonce 0 (AOP-6, what live networks run).
    pub fn new(store: Arc<Store>, signer: Arc<dyn Signer>, process_assignment: bool) -> Writer {
        Writer {
            store,
            signer,
            process_assignment,
            locks: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Ids and dedupe hashes of writes queued but not yet durable, over every process: zero
    /// when the SU is idle (for metrics and tests; a write that cannot leave it is a leak).
    pub fn in_flight(&self) -> usize {
        let locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.values().map(|l| l.pending().len()).sum()
    }

    fn lock_for(&self, pid: [u8; 32]) -> Arc<ProcessLock> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > MAX_IDLE_LOCKS {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(pid).or_default().clone()
    }

    /// Place `what` in its process's schedule at `block_height`, answering once durable.
    ///
    /// With traces on, in an `su.schedule` span (`ao.process.id`, `ao.message.id`, `ao.action`,
    /// then `ao.nonce`), whose context goes with the entry to the live tail.
    pub async fn write(&self, what: Placement, block_height: u64) -> Result<Scheduled> {
        use tracing::Instrument;
        if !ao_runtime::telemetry::enabled() {
            return self.write_now(what, block_height).await;
        }
        let (pid, id, action) = match &what {
            Placement::Process(p) => (p.id(), p.id(), p.item().tag("Action").map(str::to_string)),
            Placement::Message(m) => (
                b64url(m.process_raw()),
                m.id(),
                m.item().tag("Action").map(str::to_string),
            ),
            Placement::Assignment {
                process, message, ..
            } => (b64url(*process), b64url(*message), None),
        };
        let span = tracing::info_span!(
            "su.schedule",
            ao.process.id = %pid,
            ao.message.id = %id,
            ao.action = action.as_deref().unwrap_or_default(),
            ao.nonce = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let r = self
            .write_now(what, block_height)
            .instrument(span.clone())
            .await;
        match &r {
            Ok(s) => span.record("ao.nonce", s.nonce),
            Err(_) => span.record("otel.status_code", "ERROR"),
        };
        r
    }

    async fn write_now(&self, what: Placement, block_height: u64) -> Result<Scheduled> {
        let pid = match &what {
            Placement::Process(p) => p.raw_id(),
            Placement::Message(m) => m.process_raw(),
            Placement::Assignment { process, .. } => *process,
        };
        let lock = self.lock_for(pid);
        let mut state = lock.state.lock().await;
        self.store.check_writable()?;
        if state.tip.is_none() {
            state.tip = Some(self.store.tip(&pid)?);
        }
        if state.exists.is_none() {
            state.exists = Some(self.store.process(&pid)?.is_some());
        }
        let tip = state.tip.flatten();
        let exists = state.exists == Some(true);

        // Refusals, all before anything is queued.
        let mut pending_keys: Vec<Vec<u8>> = Vec::new();
        let mut dedupe = None;
        match &what {
            Placement::Process(p) => {
                if exists {
                    return Err(SuError::Duplicate(format!(
                        "Process {} already exists",
                        p.id()
                    )));
                }
            }
            Placement::Message(m) => {
                if !exists {
                    return Err(SuError::NotFound(format!(
                        "Process {} not found on this SU",
                        m.process_id()
                    )));
                }
                let id = m.raw_id();
                if lock.pending().contains(id.as_slice()) || self.store.find(&pid, &id)?.is_some() {
                    return Err(SuError::Duplicate(format!(
                        "Message already exists: {}",
                        m.id()
                    )));
                }
                pending_keys.push(id.to_vec());
                if let Some(h) = dedupe_hash(m.item()) {
                    if lock.pending().contains(h.as_slice())
                        || self.store.find_dedupe(&pid, &h)?.is_some()
                    {
                        return Err(SuError::Duplicate(format!(
                            "Message {} is a duplicate of a pushed message already scheduled \
                             (same From-Process, target, anchor, tags and data)",
                            m.id()
                        )));
                    }
                    pending_keys.push(h.to_vec());
                    dedupe = Some(h);
                }
            }
            Placement::Assignment { message, .. } => {
                if !exists {
                    return Err(SuError::NotFound(format!(
                        "Process {} not found on this SU",
                        b64url(pid)
                    )));
                }
                if lock.pending().contains(message.as_slice())
                    || self.store.find(&pid, message)?.is_some()
                {
                    return Err(SuError::Duplicate(format!(
                        "Message {} is already scheduled on process {}",
                        b64url(message),
                        b64url(pid)
                    )));
                }
                pending_keys.push(message.to_vec());
            }
        }

        // A process without its own assignment (the reference's old mode): only the record.
        if let Placement::Process(p) = &what
            && !self.process_assignment
        {
            let timestamp = now_ms();
            let record = StoredProcess {
                process: p.clone(),
                timestamp,
                block_height,
            };
            let uploads = vec![p.item().as_bytes().clone()];
            let rx = self.store.submit(Vec::new(), vec![record], uploads).await?;
            state.exists = Some(true);
            drop(state);
            InFlight {
                lock: lock.clone(),
                keys: Vec::new(),
                rx: Some(rx),
            }
            .durable()
            .await?;
            return Ok(Scheduled {
                id: p.id(),
                assignment_id: String::new(),
                nonce: 0,
                timestamp,
            });
        }

        let slot = next_slot(&pid, tip.as_ref(), now_ms());
        let (message_raw, exclude, item): (Option<[u8; 32]>, Vec<String>, Option<DataItem>) =
            match &what {
                Placement::Process(p) => (None, Vec::new(), Some(p.item().clone())),
                Placement::Message(m) => (Some(m.raw_id()), Vec::new(), Some(m.item().clone())),
                Placement::Assignment {
                    message, exclude, ..
                } => (Some(*message), exclude.clone(), None),
            };
        let assignment = slot
            .assignment(pid, block_height, message_raw, exclude, rand::random())
            .sign(self.signer.as_ref())
            .map_err(|e| SuError::Storage(format!("cannot sign the assignment: {e}")))?;
        let assignment_id = assignment.raw_id();
        let mut uploads: Vec<Bytes> = Vec::with_capacity(2);
        if let Some(item) = &item {
            uploads.push(item.as_bytes().clone());
        }
        uploads.push(assignment.item().as_bytes().clone());
        let new_process = match &what {
            Placement::Process(p) => Some(StoredProcess {
                process: p.clone(),
                timestamp: slot.timestamp,
                block_height,
            }),
            _ => None,
        };
        let reply_id = match &what {
            Placement::Process(p) => p.id(),
            Placement::Message(m) => m.id(),
            Placement::Assignment { .. } => b64url(assignment_id),
        };
        let entry = NewEntry {
            process_id: pid,
            entry: Entry {
                assignment,
                message: item,
                traceparent: ao_runtime::propagation::current_traceparent(),
            },
            new_process,
            dedupe,
            uploads,
        };
        let rx = self
            .store
            .submit(vec![entry], Vec::new(), Vec::new())
            .await?;
        state.tip = Some(Some(slot.tip(assignment_id)));
        state.exists = Some(true);
        lock.pending().extend(pending_keys.iter().cloned());
        let in_flight = InFlight {
            lock: lock.clone(),
            keys: pending_keys,
            rx: Some(rx),
        };
        drop(state);
        in_flight.durable().await?;
        Ok(Scheduled {
            id: reply_id,
            assignment_id: b64url(assignment_id),
            nonce: slot.nonce,
            timestamp: slot.timestamp,
        })
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ao_core::ao::{MessageBuilder, ProcessBuilder};
    use ao_core::wallet::Ed25519Wallet;

    use super::*;

    /// A write whose request goes away while its commit is being synced (what the HTTP and gRPC
    /// servers do when a client disconnects or the deadline passes: they drop the write's future)
    /// must not leave its ids in the in-flight set: the set is empty once the commit is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_cancelled_mid_sync_leaves_nothing_in_flight() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(
            Store::open(
                dir.path(),
                Box::new(|_| {}),
                Arc::new(tokio::sync::Notify::new()),
            )
            .expect("store"),
        );
        let wallet = Arc::new(Ed25519Wallet::generate());
        let writer = Writer::new(store.clone(), wallet.clone(), true);
        let p = ProcessBuilder::new([7; 32], "SU".to_string())
            .sign(wallet.as_ref())
            .expect("process");
        let pid = p.raw_id();
        writer
            .write(Placement::Process(p), 0)
            .await
            .expect("process");
        assert_eq!(writer.in_flight(), 0);

        // Poll a write once: it queues its commit and waits for the sync. Dropping it there is the
        // cancellation. (If the sync was already done by then, try another message.)
        let mut cancelled = None;
        for n in 0..20u64 {
            let m = MessageBuilder::new(pid)
                .tag("N", n.to_string())
                .sign(wallet.as_ref())
                .expect("message");
            let id = m.raw_id();
            let mut write = Box::pin(writer.write(Placement::Message(m), 0));
            if futures_util::poll!(&mut write).is_pending() {
                drop(write);
                cancelled = Some(id);
                break;
            }
        }
        let id = cancelled.expect("a write still waiting for its sync after one poll");
        let deadline = Instant::now() + Duration::from_secs(20);
        while store.find(&pid, &id).expect("find").is_none() || writer.in_flight() != 0 {
            assert!(
                Instant::now() < deadline,
                "{} ids still in flight after the cancelled write was committed",
                writer.in_flight()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
