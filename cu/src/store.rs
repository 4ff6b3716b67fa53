//! The CU's RocksDB: results by nonce, message ids to nonces, the latest memory checkpoint of each
//! process, and compiled-module artifacts.
//!
//! | key | value |
//! |---|---|
//! | `R` pid nonce | result JSON (spec 4.3) with its message id and timestamp |
//! | `I` pid message-id | nonce: `/result/{id}?process-id=` finds a result within its process |
//! | `C` pid | the latest checkpoint: nonce, timestamp, block height, hash chain, assignment id, memory SHA-256, memory |
//! | `W` cache-key | a serialized compiled module |
//!
//! Results and their checkpoint are written in one batch, so a restart resumes exactly after the
//! last stored result. Values are compressed by RocksDB (LZ4 blocks), which shrinks mostly-zero
//! memory images many times over.

use std::path::Path;

use rocksdb::{DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

/// A stored evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResult {
    /// The message id (the process id for its own first message; the assigned id for a bare
    /// assignment).
    pub message_id: String,
    /// The assignment id, by which the result is found too (spec 7.28).
    pub assignment_id: String,
    /// Nonce.
    pub nonce: u64,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// The result JSON.
    pub result: serde_json::Value,
}

/// A memory checkpoint: everything needed to continue after `nonce` without re-evaluating.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Last evaluated nonce.
    pub nonce: u64,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its block height.
    pub block_height: u64,
    /// Its hash chain (raw), to verify the next link.
    pub hash_chain: [u8; 32],
    /// Its assignment id (raw).
    pub assignment_id: [u8; 32],
    /// SHA-256 of `memory`.
    pub memory_sha256: [u8; 32],
    /// The linear memory.
    pub memory: Vec<u8>,
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
        let mut batch = WriteBatch::default();
        for r in results {
            let v = serde_json::to_vec(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            batch.put(key(b'R', pid, &r.nonce.to_be_bytes()), v);
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
        if let Some(c) = checkpoint {
            let mut v = Vec::with_capacity(128 + c.memory.len());
            v.extend_from_slice(&c.nonce.to_le_bytes());
            v.extend_from_slice(&c.timestamp.to_le_bytes());
            v.extend_from_slice(&c.block_height.to_le_bytes());
            v.extend_from_slice(&c.hash_chain);
            v.extend_from_slice(&c.assignment_id);
            v.extend_from_slice(&c.memory_sha256);
            v.extend_from_slice(&c.memory);
            batch.put(key(b'C', pid, &[]), v);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// The result at `nonce`.
    pub fn result(&self, pid: &[u8; 32], nonce: u64) -> Result<Option<StoredResult>, StoreError> {
        match self.db.get_pinned(key(b'R', pid, &nonce.to_be_bytes()))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("result: {e}"))),
            None => Ok(None),
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

    /// Stored results with nonces in `from..=to`, ascending, at most `limit`.
    pub fn results(
        &self,
        pid: &[u8; 32],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let start = key(b'R', pid, &from.to_be_bytes());
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(key(b'R', pid, &to.saturating_add(1).to_be_bytes()));
        let mut out = Vec::new();
        for kv in self
            .db
            .iterator_opt(IteratorMode::From(&start, Direction::Forward), ro)
            .take(limit)
        {
            let (_, v) = kv?;
            out.push(
                serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Corrupt(format!("result: {e}")))?,
            );
        }
        Ok(out)
    }

    /// The latest checkpoint, verified against its SHA-256 (a corrupt one reads as none, so the
    /// process is evaluated again from the start rather than from bad memory).
    pub fn checkpoint(&self, pid: &[u8; 32]) -> Result<Option<Checkpoint>, StoreError> {
        let Some(v) = self.db.get_pinned(key(b'C', pid, &[]))? else {
            return Ok(None);
        };
        if v.len() < 120 {
            return Ok(None);
        }
        let u64_at = |i: usize| u64::from_le_bytes(v[i..i + 8].try_into().unwrap_or([0; 8]));
        let arr = |i: usize| -> [u8; 32] { v[i..i + 32].try_into().unwrap_or([0; 32]) };
        let c = Checkpoint {
            nonce: u64_at(0),
            timestamp: u64_at(8) as i64,
            block_height: u64_at(16),
            hash_chain: arr(24),
            assignment_id: arr(56),
            memory_sha256: arr(88),
            memory: v[120..].to_vec(),
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
