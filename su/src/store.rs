//! The durable schedule: every process, entry, index and pending upload in one RocksDB database,
//! written by one committer thread in synced batches.
//!
//! Layout (one column family, a one-byte prefix per kind of key, ids raw, integers big-endian so
//! that key order is numeric order):
//!
//! | key | value | why |
//! |---|---|---|
//! | `P` pid | ts u64 LE, height u64 LE, process item | the process record (`GET /processes/{pid}`) |
//! | `E` pid nonce | len u32 LE, assignment item, message item (absent for bare assignments) | the schedule itself, in nonce order |
//! | `T` pid timestamp | nonce | timestamp-mode pages: timestamps are strictly increasing per process, so a timestamp range is a nonce range |
//! | `I` pid id | nonce | lookups of a message or assignment id **within** a process (sharp edge 27) and duplicate refusal |
//! | `D` pid hash | nonce | dedupe hashes of pushed messages (spec 1.4) |
//! | `G` id | pid | items scheduled here, for assignments of them to other processes |
//! | `U` seq | item | the upload outbox, drained by `upload.rs` |
//! | `X` seq | item | uploads the bundler refused for good, kept for an operator |
//!
//! Durability: a write is one [`WriteBatch`] holding the entry, its indexes and its uploads, written
//! with the WAL synced, so either all of it survives a crash or none does. Writes from every
//! process go through one committer thread, which takes everything queued while the previous sync
//! ran and syncs it once (group commit): concurrency raises throughput instead of queueing fsyncs.
//! If a sync fails the store is poisoned: nothing more is written until a restart reloads the truth
//! from disk, because writers have already computed later slots on top of the failed one.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ao_core::DataItem;
use ao_core::ao::{Assignment, Process};
use ao_core::deephash::DeepHash;
use bytes::Bytes;
use rocksdb::{DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, SuError};
use crate::schedule::Tip;

/// Most commits merged into one synced batch: large enough that a sync carries every write that
/// queued behind it at 256 concurrent clients, small enough that one batch stays a few MB.
pub const MAX_GROUP_COMMIT: usize = 512;

/// Commits that may wait for the committer before writers are made to wait: bounds memory, and
/// back-pressure reaches clients as latency rather than as an unbounded queue.
pub const COMMIT_QUEUE: usize = 4096;

mod key {
    pub const PROCESS: u8 = b'P';
    pub const ENTRY: u8 = b'E';
    pub const TIMESTAMP: u8 = b'T';
    pub const ID: u8 = b'I';
    pub const DEDUPE: u8 = b'D';
    pub const GLOBAL: u8 = b'G';
    pub const UPLOAD: u8 = b'U';
    pub const DEAD: u8 = b'X';

    pub fn process(pid: &[u8; 32]) -> Vec<u8> {
        let mut k = Vec::with_capacity(33);
        k.push(PROCESS);
        k.extend_from_slice(pid);
        k
    }

    pub fn pid_u64(prefix: u8, pid: &[u8; 32], n: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(41);
        k.push(prefix);
        k.extend_from_slice(pid);
        k.extend_from_slice(&n.to_be_bytes());
        k
    }

    pub fn pid_bytes(prefix: u8, pid: &[u8; 32], id: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(33 + id.len());
        k.push(prefix);
        k.extend_from_slice(pid);
        k.extend_from_slice(id);
        k
    }

    pub fn global(id: &[u8; 32]) -> Vec<u8> {
        let mut k = Vec::with_capacity(33);
        k.push(GLOBAL);
        k.extend_from_slice(id);
        k
    }

    pub fn seq(prefix: u8, seq: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(9);
        k.push(prefix);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
}

/// One entry of a process's schedule: the SU's assignment and, unless it is a bare assignment, the
/// item it places (for nonce 0 under process assignments, the process item itself).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The SU-signed assignment.
    pub assignment: Assignment,
    /// The scheduled item; `None` for an assignment of an item or L1 transaction stored elsewhere.
    pub message: Option<DataItem>,
    /// The trace of the request that scheduled it (`traceparent`), for the live tail; not
    /// stored, so `None` on entries read back.
    pub traceparent: Option<String>,
}

/// A process as stored: the item, and when and at which height it was scheduled.
#[derive(Debug, Clone)]
pub struct StoredProcess {
    /// The process item.
    pub process: Process,
    /// Timestamp of its scheduling (its assignment's, or the SU clock without process assignments).
    pub timestamp: u64,
    /// Arweave height when it was scheduled.
    pub block_height: u64,
}

/// Everything one scheduling writes, handed to the committer.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The process scheduled on.
    pub process_id: [u8; 32],
    /// The entry (nonce and timestamp are read from its assignment).
    pub entry: Entry,
    /// Set when this write creates the process record.
    pub new_process: Option<StoredProcess>,
    /// Dedupe hash of a pushed message.
    pub dedupe: Option<DeepHash>,
    /// Items to send to the bundler once durable, in order.
    pub uploads: Vec<Bytes>,
}

/// One writer's contribution to a group commit.
#[derive(Debug)]
struct Commit {
    entries: Vec<NewEntry>,
    /// Process records written without an entry (process assignments off: the reference's old mode).
    bare_processes: Vec<StoredProcess>,
    uploads: Vec<Bytes>,
    done: oneshot::Sender<Result<()>>,
}

/// What the committer is asked to do.
#[derive(Debug)]
enum Job {
    /// Write a group member.
    Commit(Commit),
    /// Stop after everything queued before this, releasing the database.
    Close,
}

/// Called by the committer with every entry of a group once its sync returned: the live tail.
pub type OnDurable = Box<dyn Fn(&NewEntry) + Send + 'static>;

/// The SU's database: reads from any thread, writes through the committer.
pub struct Store {
    db: Arc<DB>,
    commits: mpsc::Sender<Job>,
    committer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    poisoned: Arc<AtomicBool>,
    backlog: Arc<AtomicU64>,
    ages: Arc<UploadAges>,
    stats: Arc<CommitStats>,
}

/// When each pending upload was queued, for the age of the oldest (what an operator pages on:
/// a backlog that is not moving). Kept in memory, one entry per pending upload: uploads found
/// pending at start count from the start, the best a restart can know without a stored time.
#[derive(Debug)]
struct UploadAges {
    /// Uploads with a smaller sequence number were pending when the store opened.
    first_new_seq: u64,
    opened: std::time::Instant,
    queued: std::sync::Mutex<std::collections::BTreeMap<u64, std::time::Instant>>,
}

impl UploadAges {
    fn queued(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, std::time::Instant>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters the committer keeps, for `/metrics` and the benchmark's explanation of throughput.
#[derive(Debug)]
pub struct CommitStats {
    /// Synced batches written.
    pub batches: AtomicU64,
    /// Commits carried by those batches.
    pub commits: AtomicU64,
    /// Total microseconds spent in synced writes.
    pub sync_micros: AtomicU64,
    /// Time of each synced batch write (group commit).
    pub sync_seconds: ao_runtime::metrics::Histogram,
}

impl Default for CommitStats {
    fn default() -> CommitStats {
        CommitStats {
            batches: AtomicU64::default(),
            commits: AtomicU64::default(),
            sync_micros: AtomicU64::default(),
            sync_seconds: ao_runtime::metrics::Histogram::new(ao_runtime::metrics::LATENCY_BUCKETS),
        }
    }
}

impl Store {
    /// Open (or create) the database in `dir` and start the committer thread. `on_durable` sees
    /// each entry after its batch is synced; `uploads_ready` is woken after each batch that queued
    /// uploads.
    pub fn open(
        dir: &Path,
        on_durable: OnDurable,
        uploads_ready: Arc<tokio::sync::Notify>,
    ) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SuError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Two cores here and on small nodes; more background jobs only contend with requests.
        opts.set_max_background_jobs(2);
        let db = Arc::new(DB::open(&opts, dir)?);
        let backlog = Arc::new(AtomicU64::new(count_prefix(&db, key::UPLOAD)?));
        // Dead uploads keep their sequence numbers, so new ones must start after both lists.
        let next_seq = last_seq(&db, key::UPLOAD)?
            .max(last_seq(&db, key::DEAD)?)
            .map_or(0, |s| s + 1);
        let poisoned = Arc::new(AtomicBool::new(false));
        let ages = Arc::new(UploadAges {
            first_new_seq: next_seq,
            opened: std::time::Instant::now(),
            queued: Default::default(),
        });
        let stats = Arc::new(CommitStats::default());
        let (tx, rx) = mpsc::channel(COMMIT_QUEUE);
        let committer = Committer {
            db: db.clone(),
            rx,
            on_durable,
            uploads_ready,
            poisoned: poisoned.clone(),
            backlog: backlog.clone(),
            ages: ages.clone(),
            next_seq,
            stats: stats.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("su-committer".into())
            .spawn(move || committer.run())
            .map_err(|e| SuError::Storage(format!("cannot start the committer: {e}")))?;
        Ok(Store {
            db,
            commits: tx,
            committer: std::sync::Mutex::new(Some(handle)),
            poisoned,
            backlog,
            ages,
            stats,
        })
    }

    /// Queue entries (and any extra uploads) for the next synced batch. Returns once queued, in
    /// queue order; the receiver resolves once they are durable. Callers hold their processes'
    /// locks across this call, so queue order is nonce order within a process.
    pub async fn submit(
        &self,
        entries: Vec<NewEntry>,
        bare_processes: Vec<StoredProcess>,
        uploads: Vec<Bytes>,
    ) -> Result<oneshot::Receiver<Result<()>>> {
        self.check_writable()?;
        let (done, rx) = oneshot::channel();
        self.commits
            .send(Job::Commit(Commit {
                entries,
                bare_processes,
                uploads,
                done,
            }))
            .await
            .map_err(|_| SuError::Unavailable("the SU is stopping".into()))?;
        Ok(rx)
    }

    /// Queue items for upload alone (the Scheduler-Location record) and wait until durable.
    pub async fn enqueue_uploads(&self, uploads: Vec<Bytes>) -> Result<()> {
        let rx = self.submit(Vec::new(), Vec::new(), uploads).await?;
        rx.await
            .map_err(|_| SuError::Unavailable("the SU is stopping".into()))?
    }

    /// Finish what is queued and stop the committer, so that the database closes cleanly (its
    /// memtable flushed, no background thread left running) once the last reader lets go.
    pub async fn close(&self) {
        let _ = self.commits.send(Job::Close).await;
        let handle = self
            .committer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Refuse writes once a sync has failed.
    pub fn check_writable(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(SuError::Unavailable(
                "storage failed to sync a write; this SU refuses writes until it is restarted"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The process record, if the process is scheduled here.
    pub fn process(&self, pid: &[u8; 32]) -> Result<Option<StoredProcess>> {
        let Some(v) = self.db.get_pinned(key::process(pid))? else {
            return Ok(None);
        };
        decode_process(&v).map(Some)
    }

    /// The newest entry's slot, or `None` when the process has no entry.
    pub fn tip(&self, pid: &[u8; 32]) -> Result<Option<Tip>> {
        let Some(entry) = self.last_entry(pid)? else {
            return Ok(None);
        };
        let a = &entry.assignment;
        Ok(Some(Tip {
            epoch: a.epoch(),
            nonce: a.nonce(),
            timestamp: a.timestamp(),
            hash_chain: a.hash_chain_raw(),
            assignment_id: a.raw_id(),
        }))
    }

    /// The newest entry of a process.
    pub fn last_entry(&self, pid: &[u8; 32]) -> Result<Option<Entry>> {
        let prefix = key::pid_bytes(key::ENTRY, pid, &[]);
        let mut it = self.db.raw_iterator();
        it.seek_for_prev(key::pid_u64(key::ENTRY, pid, u64::MAX));
        it.status()?;
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.starts_with(&prefix) => decode_entry(v).map(Some),
            _ => Ok(None),
        }
    }

    /// The entry at `nonce`.
    pub fn entry(&self, pid: &[u8; 32], nonce: u64) -> Result<Option<Entry>> {
        match self.db.get_pinned(key::pid_u64(key::ENTRY, pid, nonce))? {
            Some(v) => decode_entry(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Up to `max` entries with nonces in `from..=to`, in order: one bounded chunk of a page, so a
    /// reader of any size of process holds at most `max` entries at a time.
    pub fn entries(&self, pid: &[u8; 32], from: u64, to: u64, max: usize) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let start = key::pid_u64(key::ENTRY, pid, from);
        let end = key::pid_u64(key::ENTRY, pid, to);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(next_key(&end));
        let it = self
            .db
            .iterator_opt(IteratorMode::From(&start, Direction::Forward), ro);
        for kv in it.take(max) {
            let (_, v) = kv?;
            out.push(decode_entry(&v)?);
        }
        Ok(out)
    }

    /// Nonce of the first entry whose timestamp is greater than `ts`.
    pub fn first_nonce_after(&self, pid: &[u8; 32], ts: u64) -> Result<Option<u64>> {
        let Some(from) = ts.checked_add(1) else {
            return Ok(None);
        };
        let prefix = key::pid_bytes(key::TIMESTAMP, pid, &[]);
        let mut it = self.db.raw_iterator();
        it.seek(key::pid_u64(key::TIMESTAMP, pid, from));
        it.status()?;
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.starts_with(&prefix) => Ok(Some(be_u64(v)?)),
            _ => Ok(None),
        }
    }

    /// Nonce of the last entry whose timestamp is at most `ts`.
    pub fn last_nonce_at_or_before(&self, pid: &[u8; 32], ts: u64) -> Result<Option<u64>> {
        let prefix = key::pid_bytes(key::TIMESTAMP, pid, &[]);
        let mut it = self.db.raw_iterator();
        it.seek_for_prev(key::pid_u64(key::TIMESTAMP, pid, ts));
        it.status()?;
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.starts_with(&prefix) => Ok(Some(be_u64(v)?)),
            _ => Ok(None),
        }
    }

    /// The nonce of the entry whose message id or assignment id is `id`, within `pid` only.
    pub fn find(&self, pid: &[u8; 32], id: &[u8; 32]) -> Result<Option<u64>> {
        match self.db.get_pinned(key::pid_bytes(key::ID, pid, id))? {
            Some(v) => be_u64(&v).map(Some),
            None => Ok(None),
        }
    }

    /// The nonce of an earlier pushed message with the same dedupe hash.
    pub fn find_dedupe(&self, pid: &[u8; 32], hash: &DeepHash) -> Result<Option<u64>> {
        match self.db.get_pinned(key::pid_bytes(key::DEDUPE, pid, hash))? {
            Some(v) => be_u64(&v).map(Some),
            None => Ok(None),
        }
    }

    /// The process an item id was scheduled on here, if it was.
    pub fn scheduled_on(&self, id: &[u8; 32]) -> Result<Option<[u8; 32]>> {
        match self.db.get_pinned(key::global(id))? {
            Some(v) => <[u8; 32]>::try_from(&v[..])
                .map(Some)
                .map_err(|_| SuError::Storage("corrupt G record".into())),
            None => Ok(None),
        }
    }

    /// The oldest pending uploads after `after` (exclusive), at most `max`.
    pub fn pending_uploads(&self, after: Option<u64>, max: usize) -> Result<Vec<(u64, Bytes)>> {
        let start = key::seq(key::UPLOAD, after.map_or(0, |s| s + 1));
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(vec![key::UPLOAD + 1]);
        let it = self
            .db
            .iterator_opt(IteratorMode::From(&start, Direction::Forward), ro);
        let mut out = Vec::new();
        for kv in it.take(max) {
            let (k, v) = kv?;
            out.push((be_u64(&k[1..])?, Bytes::copy_from_slice(&v)));
        }
        Ok(out)
    }

    /// Remove delivered uploads, in one batch: one WAL append for a round of uploads rather than
    /// one each, which would contend with the committer. Not synced: a delete lost in a crash only
    /// means the item is uploaded again, which the bundler treats as the same item.
    pub fn delete_uploads(&self, seqs: &[u64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for seq in seqs {
            batch.delete(key::seq(key::UPLOAD, *seq));
        }
        self.db.write(batch)?;
        self.backlog.fetch_sub(seqs.len() as u64, Ordering::Relaxed);
        let mut queued = self.ages.queued();
        for seq in seqs {
            queued.remove(seq);
        }
        Ok(())
    }

    /// Move an upload the bundler refused for good to the dead list, where an operator finds it.
    pub fn bury_upload(&self, seq: u64, item: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put(key::seq(key::DEAD, seq), item);
        batch.delete(key::seq(key::UPLOAD, seq));
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        self.backlog.fetch_sub(1, Ordering::Relaxed);
        self.ages.queued().remove(&seq);
        Ok(())
    }

    /// Items waiting for the bundler.
    pub fn upload_backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// How long the oldest item waiting for the bundler has waited (zero when none waits);
    /// items found waiting at start count from the start.
    pub fn oldest_upload_age(&self) -> Result<std::time::Duration> {
        let mut it = self.db.raw_iterator();
        it.seek([key::UPLOAD]);
        it.status()?;
        let seq = match it.key() {
            Some(k) if k.first() == Some(&key::UPLOAD) => be_u64(&k[1..])?,
            _ => return Ok(std::time::Duration::ZERO),
        };
        if seq < self.ages.first_new_seq {
            return Ok(self.ages.opened.elapsed());
        }
        // Queued since the store opened: its time is in the map unless it was delivered between
        // the read above and now (then it no longer waits).
        Ok(self
            .ages
            .queued()
            .get(&seq)
            .map_or(std::time::Duration::ZERO, |t| t.elapsed()))
    }

    /// Uploads the bundler refused for good.
    pub fn dead_uploads(&self) -> Result<u64> {
        count_prefix(&self.db, key::DEAD)
    }

    /// Group-commit counters.
    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }
}

impl Drop for Store {
    /// Stop the committer and wait for it, so the database is closed before the process can exit:
    /// RocksDB aborts the process ("terminate called without an active exception") when it
    /// exits while a database is still open on another thread.
    fn drop(&mut self) {
        let _ = self.commits.try_send(Job::Close);
        let handle = self
            .committer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

struct Committer {
    db: Arc<DB>,
    rx: mpsc::Receiver<Job>,
    on_durable: OnDurable,
    uploads_ready: Arc<tokio::sync::Notify>,
    poisoned: Arc<AtomicBool>,
    backlog: Arc<AtomicU64>,
    ages: Arc<UploadAges>,
    next_seq: u64,
    stats: Arc<CommitStats>,
}

impl Committer {
    fn run(mut self) {
        while let Some(Job::Commit(first)) = self.rx.blocking_recv() {
            let mut group = vec![first];
            let mut close = false;
            while group.len() < MAX_GROUP_COMMIT {
                match self.rx.try_recv() {
                    Ok(Job::Commit(c)) => group.push(c),
                    Ok(Job::Close) => {
                        close = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(group);
            if close {
                break;
            }
        }
        // Writers still queued behind a close see their channel dropped: "stopping".
    }

    fn commit(&mut self, group: Vec<Commit>) {
        if self.poisoned.load(Ordering::Acquire) {
            for c in group {
                let _ = c.done.send(Err(SuError::Unavailable(
                    "storage failed earlier; restart the SU".into(),
                )));
            }
            return;
        }
        let mut batch = WriteBatch::default();
        let mut seq = self.next_seq;
        for c in &group {
            for p in &c.bare_processes {
                put_process(&mut batch, p);
            }
            for e in &c.entries {
                put_entry(&mut batch, e);
                for u in &e.uploads {
                    batch.put(key::seq(key::UPLOAD, seq), u);
                    seq += 1;
                }
            }
            for u in &c.uploads {
                batch.put(key::seq(key::UPLOAD, seq), u);
                seq += 1;
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        // Times noted before the write: the uploader may deliver an item the moment it is written,
        // and its removal must find the entry.
        let now = std::time::Instant::now();
        self.ages
            .queued()
            .extend((self.next_seq..seq).map(|s| (s, now)));
        let started = std::time::Instant::now();
        let result = self.db.write_opt(batch, &wo);
        if result.is_err() {
            let mut queued = self.ages.queued();
            for s in self.next_seq..seq {
                queued.remove(&s);
            }
        }
        let took = started.elapsed();
        self.stats
            .sync_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.stats.sync_seconds.observe_duration(took);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .commits
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                let queued = seq - self.next_seq;
                self.next_seq = seq;
                self.backlog.fetch_add(queued, Ordering::Relaxed);
                for c in group {
                    for e in &c.entries {
                        (self.on_durable)(e);
                    }
                    let _ = c.done.send(Ok(()));
                }
                if queued > 0 {
                    self.uploads_ready.notify_one();
                }
            }
            Err(e) => {
                tracing::error!("synced write failed, refusing further writes: {e}");
                self.poisoned.store(true, Ordering::Release);
                let err = SuError::Unavailable(format!("storage failed to sync: {e}"));
                for c in group {
                    let _ = c.done.send(Err(err.clone()));
                }
            }
        }
    }
}

fn put_process(batch: &mut WriteBatch, p: &StoredProcess) {
    let item = p.process.item().as_bytes();
    let mut v = Vec::with_capacity(16 + item.len());
    v.extend_from_slice(&p.timestamp.to_le_bytes());
    v.extend_from_slice(&p.block_height.to_le_bytes());
    v.extend_from_slice(item);
    let pid = p.process.raw_id();
    batch.put(key::process(&pid), v);
    batch.put(key::global(&pid), pid);
}

fn put_entry(batch: &mut WriteBatch, e: &NewEntry) {
    let pid = &e.process_id;
    let a = &e.entry.assignment;
    let nonce = a.nonce();
    let nonce_be = nonce.to_be_bytes();
    if let Some(p) = &e.new_process {
        put_process(batch, p);
    }
    let a_bytes = a.item().as_bytes();
    let m_bytes = e.entry.message.as_ref().map(|m| m.as_bytes().clone());
    let mut v = Vec::with_capacity(4 + a_bytes.len() + m_bytes.as_ref().map_or(0, |m| m.len()));
    v.extend_from_slice(&(a_bytes.len() as u32).to_le_bytes());
    v.extend_from_slice(a_bytes);
    if let Some(m) = &m_bytes {
        v.extend_from_slice(m);
    }
    batch.put(key::pid_u64(key::ENTRY, pid, nonce), v);
    batch.put(key::pid_u64(key::TIMESTAMP, pid, a.timestamp()), nonce_be);
    batch.put(key::pid_bytes(key::ID, pid, &a.raw_id()), nonce_be);
    // The process's own entry is not indexed under the process id: `GET /{pid}?process-id={pid}`
    // must list the schedule, not return the first entry.
    if let Some(m) = a.message_raw() {
        batch.put(key::pid_bytes(key::ID, pid, &m), nonce_be);
    }
    if let Some(m) = &e.entry.message
        && m.raw_id() != *pid
    {
        batch.put(key::global(&m.raw_id()), pid);
    }
    if let Some(h) = &e.dedupe {
        batch.put(key::pid_bytes(key::DEDUPE, pid, h), nonce_be);
    }
}

fn decode_entry(v: &[u8]) -> Result<Entry> {
    let corrupt = |why: String| SuError::Storage(format!("corrupt entry: {why}"));
    let len_bytes: [u8; 4] = v
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("short".into()))?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    let a_end = 4 + len;
    if v.len() < a_end {
        return Err(corrupt("assignment length".into()));
    }
    let all = Bytes::copy_from_slice(v);
    let assignment = DataItem::parse(all.slice(4..a_end))
        .and_then(Assignment::new)
        .map_err(|e| corrupt(e.to_string()))?;
    let message = if all.len() > a_end {
        Some(DataItem::parse(all.slice(a_end..)).map_err(|e| corrupt(e.to_string()))?)
    } else {
        None
    };
    Ok(Entry {
        assignment,
        message,
        traceparent: None,
    })
}

fn decode_process(v: &[u8]) -> Result<StoredProcess> {
    let corrupt = |why: String| SuError::Storage(format!("corrupt process record: {why}"));
    if v.len() < 16 {
        return Err(corrupt("short".into()));
    }
    let timestamp = u64::from_le_bytes(v[..8].try_into().map_err(|_| corrupt("ts".into()))?);
    let block_height = u64::from_le_bytes(v[8..16].try_into().map_err(|_| corrupt("h".into()))?);
    let process = DataItem::parse(Bytes::copy_from_slice(&v[16..]))
        .and_then(Process::new)
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(StoredProcess {
        process,
        timestamp,
        block_height,
    })
}

fn be_u64(v: &[u8]) -> Result<u64> {
    v.get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| SuError::Storage("corrupt nonce".into()))
}

/// The smallest key greater than every key starting with `k`.
fn next_key(k: &[u8]) -> Vec<u8> {
    let mut v = k.to_vec();
    while let Some(last) = v.pop() {
        if last < u8::MAX {
            v.push(last + 1);
            return v;
        }
    }
    vec![u8::MAX; k.len() + 1]
}

fn count_prefix(db: &DB, prefix: u8) -> Result<u64> {
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(vec![prefix + 1]);
    let mut n = 0;
    for kv in db.iterator_opt(IteratorMode::From(&[prefix], Direction::Forward), ro) {
        kv?;
        n += 1;
    }
    Ok(n)
}

fn last_seq(db: &DB, prefix: u8) -> Result<Option<u64>> {
    let mut it = db.raw_iterator();
    it.seek_for_prev(key::seq(prefix, u64::MAX));
    it.status()?;
    match it.key() {
        Some(k) if k.first() == Some(&prefix) => be_u64(&k[1..]).map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Store {
        Store::open(dir, Box::new(|_| {}), Arc::new(tokio::sync::Notify::new())).unwrap()
    }

    /// Poll `f` until it holds, for at most 10 s: ages grow with the clock, which a test must not
    /// race.
    fn eventually(f: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    #[tokio::test]
    async fn the_oldest_upload_ages_until_delivered_and_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert_eq!(
            store.oldest_upload_age().unwrap(),
            std::time::Duration::ZERO
        );
        store
            .enqueue_uploads(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])
            .await
            .unwrap();
        assert_eq!(store.upload_backlog(), 2);
        assert!(eventually(
            || store.oldest_upload_age().unwrap() > std::time::Duration::ZERO
        ));
        let pending = store.pending_uploads(None, 10).unwrap();
        let seqs: Vec<u64> = pending.iter().map(|(s, _)| *s).collect();
        // The oldest delivered: the age is the next one's, still waiting.
        store.delete_uploads(&seqs[..1]).unwrap();
        assert!(store.oldest_upload_age().unwrap() > std::time::Duration::ZERO);
        store.close().await;
        drop(store);

        // After a restart the item still waiting counts from the start.
        let store = open(dir.path());
        assert_eq!(store.upload_backlog(), 1);
        assert!(eventually(
            || store.oldest_upload_age().unwrap() > std::time::Duration::ZERO
        ));
        store.bury_upload(seqs[1], b"b").unwrap();
        assert_eq!(store.upload_backlog(), 0);
        assert_eq!(
            store.oldest_upload_age().unwrap(),
            std::time::Duration::ZERO
        );
        // Nothing is left in memory for uploads that are gone.
        assert!(store.ages.queued().is_empty());
    }
}
