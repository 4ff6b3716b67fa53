//! The CU's RocksDB: results by position and by time, message ids to nonces, the latest memory
//! checkpoint of each process, and compiled-module artifacts.
//!
//! A position is `(nonce, sub)`: sub 0 is the scheduled message with that nonce, sub k >= 1 the
//! k-th cron message generated after it (spec 4.6), so RocksDB's key order is evaluation order.
//!
//! | key | value |
//! |---|---|
//! | `R` pid nonce sub | [`StoredResult`]: result JSON (spec 4.3) with its ids, timestamp and cron id |
//! | `I` pid message-id | nonce: `/result/{id}?process-id=` finds a result within its process |
//! | `T` pid timestamp nonce sub | flags (1 = errored) and cron id: `/results` and `/cron` pages in the reference's (timestamp, ordinate, cron) order without reading results |
//! | `C` pid | the latest checkpoint: where evaluation stopped, the hash chain there, memory SHA-256, memory |
//! | `W` cache-key | a serialized compiled module |
//!
//! Results and indexes are written in one synced batch, with the checkpoint when there is one.
//! Results past the checkpoint are evaluated again after a restart and rewritten with the same
//! bytes (evaluation is deterministic). Values are compressed by RocksDB (LZ4 blocks), which
//! shrinks mostly-zero memory images many times over.

use std::path::Path;

use rocksdb::{DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

/// A stored evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResult {
    /// The message id (the process id for its own first message; the assigned id for a bare
    /// assignment); empty for a cron message, which has none.
    pub message_id: String,
    /// The assignment id, by which the result is found too (spec 7.28); empty for crons.
    pub assignment_id: String,
    /// Nonce (for a cron message: the nonce of the scheduled message it follows, the
    /// reference's "ordinate").
    pub nonce: u64,
    /// 0 for a scheduled message, k for the k-th cron message after it.
    #[serde(default)]
    pub sub: u64,
    /// The cron id (`0-10-minutes`) of a cron message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// The result JSON.
    pub result: serde_json::Value,
    /// The SU's hash chain at this nonce (base64url), for an attestation; scheduled messages
    /// only (records written before attestations have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_chain: Option<String>,
    /// Lower-case hex SHA-256 of the memory right after this message, when the CU attests
    /// (`--attest`): an attestation states it, and the memory moves on with the next message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_sha256: Option<String>,
}

impl StoredResult {
    fn errored(&self) -> bool {
        self.result.get("Error").is_some()
    }
}

/// A memory checkpoint: everything needed to continue without re-evaluating what came before.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// Nonce of the last evaluated scheduled message.
    pub nonce: u64,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its block height.
    pub block_height: u64,
    /// Its hash chain (raw), to verify the next link.
    pub hash_chain: [u8; 32],
    /// Its assignment id (raw).
    pub assignment_id: [u8; 32],
    /// Cron messages evaluated after it.
    pub crons_done: u64,
    /// Timestamp of the last evaluated message, cron or not (dry-runs default to it).
    pub last_timestamp: i64,
    /// Block height of the last evaluated message.
    pub last_block_height: u64,
    /// SHA-256 of `memory`.
    pub memory_sha256: [u8; 32],
    /// The linear memory.
    pub memory: Vec<u8>,
}

/// A bound of a `/results` or `/cron` page, decoded from the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// A plain timestamp (ms): anything that is not a cursor.
    Timestamp(i64),
    /// A cursor: `(timestamp, ordinate, cron)`.
    At {
        /// ms.
        timestamp: i64,
        /// Nonce.
        nonce: u64,
        /// Cron id, for a cron message.
        cron: Option<String>,
    },
}

/// What a page of results asks for.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Exclusive lower bound.
    pub from: Option<Bound>,
    /// Inclusive upper bound.
    pub to: Option<Bound>,
    /// Newest first.
    pub descending: bool,
    /// At most this many rows.
    pub limit: usize,
    /// Only cron messages (`/cron`).
    pub crons_only: bool,
}

/// Rows of a page, and whether more match.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The results, in the listing's order.
    pub rows: Vec<StoredResult>,
    /// Whether another row matches past the last one.
    pub has_next: bool,
}

type Entry<'a> = (i64, u64, Option<&'a str>);

impl Bound {
    fn timestamp(&self) -> i64 {
        match self {
            Bound::Timestamp(t) | Bound::At { timestamp: t, .. } => *t,
        }
    }

    /// Whether `e` lies after this bound.
    fn before(&self, e: Entry<'_>) -> bool {
        match self {
            Bound::Timestamp(t) => e.0 > *t,
            Bound::At {
                timestamp,
                nonce,
                cron,
            } => e > (*timestamp, *nonce, cron.as_deref()),
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB.
    #[error("storage: {0}")]
    Db(#[from] rocksdb::Error),
    /// A value did not decode, or a checkpoint's memory does not match its hash.
    #[error("storage: corrupt {0}")]
    Corrupt(String),
}

/// The CU database.
pub struct Store {
    db: DB,
}

fn key(prefix: u8, pid: &[u8; 32], rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33 + rest.len());
    k.push(prefix);
    k.extend_from_slice(pid);
    k.extend_from_slice(rest);
    k
}

fn position(nonce: u64, sub: u64) -> [u8; 16] {
    let mut p = [0; 16];
    p[..8].copy_from_slice(&nonce.to_be_bytes());
    p[8..].copy_from_slice(&sub.to_be_bytes());
    p
}

/// Timestamps before 1970 are not AO timestamps; they sort first rather than wrap.
fn ts_key(ts: i64) -> [u8; 8] {
    u64::try_from(ts).unwrap_or(0).to_be_bytes()
}

const CHECKPOINT_VERSION: u8 = 1;
const CHECKPOINT_HEADER: usize = 1 + 8 * 3 + 32 * 2 + 8 * 3 + 32;

impl Store {
    /// Open or create the database in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        Ok(Store {
            db: DB::open(&opts, dir)?,
        })
    }

    /// Store results (and, when given, the checkpoint after them) in one synced batch.
    pub fn save(
        &self,
        pid: &[u8; 32],
        results: &[StoredResult],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<(), StoreError> {
        self.save_with(pid, results, checkpoint, true)
    }

    /// [`Store::save`], synced (`sync`) or left in the WAL for a later [`Store::sync`], so that
    /// many writes at shutdown share one fsync.
    pub fn save_with(
        &self,
        pid: &[u8; 32],
        results: &[StoredResult],
        checkpoint: Option<&Checkpoint>,
        sync: bool,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for r in results {
            let v = serde_json::to_vec(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let pos = position(r.nonce, r.sub);
            batch.put(key(b'R', pid, &pos), v);
            let mut t = ts_key(r.timestamp).to_vec();
            t.extend_from_slice(&pos);
            let mut tv = vec![u8::from(r.errored())];
            tv.extend_from_slice(r.cron.as_deref().unwrap_or("").as_bytes());
            batch.put(key(b'T', pid, &t), tv);
            if r.sub == 0 {
                batch.put(
                    key(b'I', pid, r.message_id.as_bytes()),
                    r.nonce.to_be_bytes(),
                );
                if !r.assignment_id.is_empty() {
                    batch.put(
                        key(b'I', pid, r.assignment_id.as_bytes()),
                        r.nonce.to_be_bytes(),
                    );
                }
            }
        }
        if let Some(c) = checkpoint {
            let mut v = Vec::with_capacity(CHECKPOINT_HEADER + c.memory.len());
            v.push(CHECKPOINT_VERSION);
            v.extend_from_slice(&c.nonce.to_le_bytes());
            v.extend_from_slice(&c.timestamp.to_le_bytes());
            v.extend_from_slice(&c.block_height.to_le_bytes());
            v.extend_from_slice(&c.hash_chain);
            v.extend_from_slice(&c.assignment_id);
            v.extend_from_slice(&c.crons_done.to_le_bytes());
            v.extend_from_slice(&c.last_timestamp.to_le_bytes());
            v.extend_from_slice(&c.last_block_height.to_le_bytes());
            v.extend_from_slice(&c.memory_sha256);
            v.extend_from_slice(&c.memory);
            batch.put(key(b'C', pid, &[]), v);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Make every write so far durable (one fsync of the WAL), after unsynced
    /// [`Store::save_with`] calls.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// The result of the scheduled message with `nonce`.
    pub fn result(&self, pid: &[u8; 32], nonce: u64) -> Result<Option<StoredResult>, StoreError> {
        match self.db.get_pinned(key(b'R', pid, &position(nonce, 0)))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("result: {e}"))),
            None => Ok(None),
        }
    }

    /// The nonce of the first result stored after nonce `after` (a scheduled message's, or a
    /// cron's that followed one): where a process started from a checkpoint resumed storing
    /// results, so the messages between `after` and it were never evaluated here.
    pub fn next_result_after(&self, pid: &[u8; 32], after: u64) -> Result<Option<u64>, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(None);
        };
        let lower = key(b'R', pid, &position(from, 0));
        let mut ro = ReadOptions::default();
        // Longer than any 16-byte position, so above every result key of the process.
        ro.set_iterate_upper_bound(key(b'R', pid, &[0xff; 17]));
        let first = self
            .db
            .iterator_opt(IteratorMode::From(&lower, Direction::Forward), ro)
            .next();
        match first {
            None => Ok(None),
            Some(kv) => {
                let (k, _) = kv?;
                let nonce = k
                    .get(33..41)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .ok_or_else(|| StoreError::Corrupt("result key".into()))?;
                Ok(Some(u64::from_be_bytes(nonce)))
            }
        }
    }

    /// The nonce of a stored result by message id.
    pub fn nonce_of(&self, pid: &[u8; 32], message_id: &str) -> Result<Option<u64>, StoreError> {
        match self.db.get_pinned(key(b'I', pid, message_id.as_bytes()))? {
            Some(v) => <[u8; 8]>::try_from(&v[..])
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::Corrupt("nonce".into())),
            None => Ok(None),
        }
    }

    /// A page of stored results in (timestamp, nonce, cron) order, errored evaluations left
    /// out, as `/results` and `/cron` serve them.
    pub fn list(&self, pid: &[u8; 32], q: &Listing) -> Result<Page, StoreError> {
        let lower = key(
            b'T',
            pid,
            &ts_key(q.from.as_ref().map_or(0, Bound::timestamp)),
        );
        let upper = match &q.to {
            Some(b) => key(b'T', pid, &ts_key(b.timestamp().saturating_add(1))),
            // Longer than any 24-byte suffix, so above every key of the process.
            None => key(b'T', pid, &[0xff; 25]),
        };
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(lower.clone());
        ro.set_iterate_upper_bound(upper.clone());
        let mode = if q.descending {
            IteratorMode::End
        } else {
            IteratorMode::From(&lower, Direction::Forward)
        };
        let mut page = Page::default();
        for kv in self.db.iterator_opt(mode, ro) {
            let (k, v) = kv?;
            let Some(rest) = k.get(33..).filter(|r| r.len() == 24) else {
                return Err(StoreError::Corrupt("time index key".into()));
            };
            let be = |i: usize| u64::from_be_bytes(rest[i..i + 8].try_into().unwrap_or([0; 8]));
            let (ts, nonce, sub) = (be(0) as i64, be(8), be(16));
            let errored = v.first() == Some(&1);
            let cron = std::str::from_utf8(v.get(1..).unwrap_or(&[]))
                .map_err(|_| StoreError::Corrupt("time index cron id".into()))?;
            let entry = (ts, nonce, (!cron.is_empty()).then_some(cron));
            let after_from = q.from.as_ref().is_none_or(|b| b.before(entry));
            let within_to = q.to.as_ref().is_none_or(|b| !b.before(entry));
            if errored || !after_from || !within_to || (q.crons_only && entry.2.is_none()) {
                continue;
            }
            if page.rows.len() == q.limit {
                page.has_next = true;
                break;
            }
            let row = self
                .db
                .get_pinned(key(b'R', pid, &position(nonce, sub)))?
                .ok_or_else(|| StoreError::Corrupt("time index points at no result".into()))?;
            page.rows.push(
                serde_json::from_slice(&row)
                    .map_err(|e| StoreError::Corrupt(format!("result: {e}")))?,
            );
        }
        Ok(page)
    }

    /// The latest checkpoint, verified against its SHA-256 (a corrupt one reads as none, so the
    /// process is evaluated again from the start rather than from bad memory).
    pub fn checkpoint(&self, pid: &[u8; 32]) -> Result<Option<Checkpoint>, StoreError> {
        let Some(v) = self.db.get_pinned(key(b'C', pid, &[]))? else {
            return Ok(None);
        };
        if v.len() < CHECKPOINT_HEADER || v[0] != CHECKPOINT_VERSION {
            tracing::warn!("checkpoint of a process has an unknown layout; ignoring it");
            return Ok(None);
        }
        let u64_at = |i: usize| u64::from_le_bytes(v[i..i + 8].try_into().unwrap_or([0; 8]));
        let arr = |i: usize| -> [u8; 32] { v[i..i + 32].try_into().unwrap_or([0; 32]) };
        let c = Checkpoint {
            nonce: u64_at(1),
            timestamp: u64_at(9) as i64,
            block_height: u64_at(17),
            hash_chain: arr(25),
            assignment_id: arr(57),
            crons_done: u64_at(89),
            last_timestamp: u64_at(97) as i64,
            last_block_height: u64_at(105),
            memory_sha256: arr(113),
            memory: v[CHECKPOINT_HEADER..].to_vec(),
        };
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(&c.memory).into();
        if digest != c.memory_sha256 {
            tracing::warn!("checkpoint of a process fails its SHA-256; ignoring it");
            return Ok(None);
        }
        Ok(Some(c))
    }

    /// A cached compiled-module artifact.
    pub fn artifact(&self, cache_key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut k = vec![b'W'];
        k.extend_from_slice(cache_key.as_bytes());
        Ok(self.db.get(k)?)
    }

    /// Cache a compiled-module artifact.
    pub fn put_artifact(&self, cache_key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut k = vec![b'W'];
        k.extend_from_slice(cache_key.as_bytes());
        self.db.put(k, bytes)?;
        Ok(())
    }
}
