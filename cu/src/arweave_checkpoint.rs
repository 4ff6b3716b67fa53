//! Memory checkpoints on Arweave (spec 1.2 "Checkpoint", 4.9), so that a new CU, or one that
//! lost its disk, starts a long-lived process from a recent memory instead of from nonce 0.
//!
//! Upload: a data item signed by the CU's wallet with the reference's tags in the reference's
//! order (ao-core's `CheckpointBuilder`: `SHA-256` of the uncompressed memory, `Assignment` and
//! `Hash-Chain` of the last scheduled message) and the gzipped memory as data, sent to the bundler at most once per process per interval and in the
//! background (a failed upload costs nothing but the lost shortcut). Only checkpoints taken at a
//! scheduled message go up.
//!
//! Load: the gateway's newest checkpoints of the process by the trusted owners
//! (`transactions(tags: Process, Type: Checkpoint, Data-Protocol: ao; owners; HEIGHT_DESC)`);
//! the one with the highest nonce that carries `Assignment` and `Hash-Chain` (needed to verify
//! the next link of the chain) and was taken at a scheduled message (no `Cron-Interval`: the
//! cron walk restarts exactly there), whose data gunzips to memory matching its `SHA-256`.
//! Anything else is skipped, never trusted.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::{Bundler, Gateway, Sort, TagFilter, TxQuery};
use ao_core::ao::CheckpointBuilder;
use ao_core::encoding::decode_id;
use ao_core::wallet::Wallet;
use sha2::{Digest, Sha256};

use crate::store::Checkpoint;

/// Candidates read from the gateway per lookup: enough to skip a few unusable ones.
const LOOKUP_LIMIT: u32 = 10;

/// Largest uncompressed memory accepted from a checkpoint: the 32-bit memory of a lowered
/// module, so a hostile item cannot make us inflate without bound.
const MAX_MEMORY: u64 = 4 << 30;

/// Why a checkpoint could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ArweaveCheckpointError {
    /// Signing or encoding.
    #[error("checkpoint item: {0}")]
    Item(String),
    /// Gateway or bundler.
    #[error("checkpoint transfer: {0}")]
    Transfer(String),
}

/// Uploading and finding checkpoints on Arweave.
pub struct ArweaveCheckpoints {
    wallet: Arc<Wallet>,
    bundler: Arc<dyn Bundler>,
    gateway: Arc<dyn Gateway>,
    /// Owners whose checkpoints are loaded (this CU's own address among them when configured).
    trusted: Vec<String>,
    /// Random per start, as the reference's `CU_IDENTIFIER`.
    unit: String,
    /// Least time between two uploads for one process.
    interval: Duration,
    last_upload: Mutex<HashMap<String, Instant>>,
    upload: bool,
    /// The pool's bound on the age of a process's newest checkpoint on Arweave
    /// (`--checkpoint-max-age`): `None`, uploads only follow `checkpoint_every`.
    max_age: Option<Duration>,
    /// When each process first evaluated a message not yet in an uploaded checkpoint.
    stale_since: Mutex<HashMap<String, Instant>>,
}

/// A checkpoint read from Arweave.
#[derive(Debug, Clone)]
pub struct Found {
    /// The item id.
    pub id: String,
    /// The state it holds.
    pub checkpoint: Checkpoint,
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl ArweaveCheckpoints {
    /// Checkpoints signed by `wallet`, uploaded through `bundler` when `upload`, and read from
    /// `gateway` when `trusted` names owners.
    pub fn new(
        wallet: Arc<Wallet>,
        bundler: Arc<dyn Bundler>,
        gateway: Arc<dyn Gateway>,
        trusted: Vec<String>,
        upload: bool,
        interval: Duration,
    ) -> ArweaveCheckpoints {
        ArweaveCheckpoints {
            wallet,
            bundler,
            gateway,
            trusted,
            unit: uuid_v4(),
            interval,
            last_upload: Mutex::new(HashMap::new()),
            upload,
            max_age: None,
            stale_since: Mutex::new(HashMap::new()),
        }
    }

    /// Bound the age of each process's newest checkpoint on Arweave to `max_age`: a process
    /// whose evaluated state has not been uploaded for that long is checkpointed (and uploaded,
    /// the interval notwithstanding) at its next evaluation, so a CU that takes it over from
    /// Arweave replays at most `max_age` of its messages.
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> ArweaveCheckpoints {
        self.max_age = max_age.filter(|d| !d.is_zero());
        self
    }

    /// Whether `pid`, which just evaluated messages, must be checkpointed now to keep its newest
    /// checkpoint on Arweave within the max age (uploads on and a max age set).
    pub fn upload_due(&self, pid: &str) -> bool {
        let (true, Some(max_age)) = (self.upload, self.max_age) else {
            return false;
        };
        let mut stale = self.stale_since.lock().unwrap_or_else(|p| p.into_inner());
        let since = *stale.entry(pid.to_string()).or_insert_with(Instant::now);
        since.elapsed() >= max_age
    }

    /// The signed item of a checkpoint of `pid` on `module`, taken at a scheduled message.
    pub fn item(
        &self,
        pid: &str,
        module: &str,
        c: &Checkpoint,
    ) -> Result<ao_core::DataItem, ArweaveCheckpointError> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&c.memory)
            .map_err(|e| ArweaveCheckpointError::Item(e.to_string()))?;
        let data = gz
            .finish()
            .map_err(|e| ArweaveCheckpointError::Item(e.to_string()))?;
        let pid_raw =
            decode_id("process", pid).map_err(|e| ArweaveCheckpointError::Item(e.to_string()))?;
        let module_raw =
            decode_id("module", module).map_err(|e| ArweaveCheckpointError::Item(e.to_string()))?;
        CheckpointBuilder {
            module: module_raw,
            process: pid_raw,
            nonce: Some(c.nonce),
            ordinate: c.nonce,
            timestamp: u64::try_from(c.last_timestamp).unwrap_or(0),
            block_height: c.last_block_height,
            memory_sha256: c.memory_sha256,
            unit_identifier: self.unit.clone(),
            assignment: Some(c.assignment_id),
            hash_chain: Some(c.hash_chain),
            epoch: 0,
            cron: None,
            gzip_memory: data,
        }
        .sign(self.wallet.as_ref())
        .map(|checkpoint| checkpoint.item().clone())
        .map_err(|e| ArweaveCheckpointError::Item(e.to_string()))
    }

    /// Upload a checkpoint in the background, unless uploads are off, it was taken after cron
    /// messages (a state only a full cron walk reproduces; the reference tags those with
    /// `Cron-Interval`, which we neither write nor load), or one of this process went up less
    /// than the interval ago.
    pub fn maybe_upload(&self, pid: &str, module: &str, c: &Checkpoint) {
        if !self.upload || c.crons_done > 0 {
            return;
        }
        {
            let gap = self.max_age.map_or(self.interval, |m| m.min(self.interval));
            let mut last = self.last_upload.lock().unwrap_or_else(|p| p.into_inner());
            if last.get(pid).is_some_and(|t| t.elapsed() < gap) {
                return;
            }
            last.insert(pid.to_string(), Instant::now());
            self.stale_since
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(pid);
        }
        let item = match self.item(pid, module, c) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(process = pid, "checkpoint not uploaded: {e}");
                return;
            }
        };
        let bundler = self.bundler.clone();
        let pid = pid.to_string();
        tokio::spawn(async move {
            match bundler.upload(&item).await {
                Ok(_) => tracing::info!(process = %pid, id = %item.id(), "checkpoint uploaded"),
                Err(e) => tracing::warn!(process = %pid, "checkpoint upload failed: {e}"),
            }
        });
    }

    /// The newest usable checkpoint of `pid` on Arweave by a trusted owner.
    pub async fn latest(&self, pid: &str) -> Result<Option<Found>, ArweaveCheckpointError> {
        if self.trusted.is_empty() {
            return Ok(None);
        }
        let filter = |name: &str, value: &str| TagFilter {
            name: name.into(),
            values: vec![value.into()],
        };
        let page = self
            .gateway
            .query(&TxQuery {
                owners: self.trusted.clone(),
                tags: vec![
                    filter("Process", pid),
                    filter("Type", "Checkpoint"),
                    filter("Data-Protocol", "ao"),
                ],
                first: LOOKUP_LIMIT,
                sort: Sort::HeightDesc,
                ..TxQuery::default()
            })
            .await
            .map_err(|e| ArweaveCheckpointError::Transfer(e.to_string()))?;
        let mut candidates: Vec<(u64, ao_arweave::TxMeta)> = page
            .edges
            .into_iter()
            .filter_map(|(_, tx)| {
                let tag = |n: &str| {
                    tx.tags
                        .iter()
                        .find(|t| t.name == n)
                        .map(|t| t.value.clone())
                };
                if tag("Cron-Interval").is_some()
                    || tag("Content-Encoding").as_deref() != Some("gzip")
                {
                    return None;
                }
                let nonce = tag("Nonce")?.parse().ok()?;
                Some((nonce, tx))
            })
            .collect();
        candidates.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        for (nonce, tx) in candidates {
            match self.fetch(&tx, nonce).await {
                Ok(c) => {
                    return Ok(Some(Found {
                        id: tx.id,
                        checkpoint: c,
                    }));
                }
                Err(e) => tracing::warn!(process = pid, id = %tx.id, "checkpoint skipped: {e}"),
            }
        }
        Ok(None)
    }

    async fn fetch(
        &self,
        tx: &ao_arweave::TxMeta,
        nonce: u64,
    ) -> Result<Checkpoint, ArweaveCheckpointError> {
        let bad = |what: &str| ArweaveCheckpointError::Item(what.to_string());
        let tag = |n: &str| {
            tx.tags
                .iter()
                .find(|t| t.name == n)
                .map(|t| t.value.as_str())
        };
        let num = |n: &str| tag(n).and_then(|v| v.parse::<u64>().ok());
        let id32 = |n: &'static str| tag(n).and_then(|v| decode_id(n, v).ok());
        let (Some(timestamp), Some(height), Some(assignment), Some(chain), Some(sha)) = (
            num("Timestamp"),
            num("Block-Height"),
            id32("Assignment"),
            id32("Hash-Chain"),
            tag("SHA-256").and_then(|v| hex::decode(v).ok()),
        ) else {
            return Err(bad(
                "missing Timestamp, Block-Height, Assignment, Hash-Chain or SHA-256",
            ));
        };
        let data = self
            .gateway
            .data(&tx.id)
            .await
            .map_err(|e| ArweaveCheckpointError::Transfer(e.to_string()))?;
        let mut memory = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .take(MAX_MEMORY + 1)
            .read_to_end(&mut memory)
            .map_err(|e| bad(&format!("not gzip: {e}")))?;
        if memory.len() as u64 > MAX_MEMORY {
            return Err(bad("memory larger than 4 GiB"));
        }
        let digest: [u8; 32] = Sha256::digest(&memory).into();
        if digest[..] != sha[..] {
            return Err(bad("memory does not match its SHA-256"));
        }
        Ok(Checkpoint {
            nonce,
            timestamp: timestamp as i64,
            block_height: height,
            hash_chain: chain,
            assignment_id: assignment,
            crons_done: 0,
            last_timestamp: timestamp as i64,
            last_block_height: height,
            memory_sha256: digest,
            memory,
        })
    }
}
