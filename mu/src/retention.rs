//! Retention: finished tasks (each keeps its whole item) are deleted once older than
//! `--task-retention`, so the store does not grow forever. A periodic sweep reads the oldest
//! finished tasks through their finish-time index, deletes them in bounded steps on the store's
//! committer, then compacts the deleted range so RocksDB gives the space back. Unfinished and
//! dead-lettered tasks are never deleted; `Trace` keeps working for anything inside the retention.

use std::sync::Arc;
use std::time::Duration;

use crate::queue::now_ms;
use crate::store::{Store, StoreError};

/// How long a finished task is kept: a week covers a client retrying an item (answered as the
/// first time from the kept task) and an operator tracing what a message caused days later, while
/// a busy MU's disk holds a week of items, not its whole history.
pub const DEFAULT_TASK_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often the sweep runs: often enough that a day's expiry never piles up, rarely enough that
/// its index read is noise.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Tasks deleted per step on the committer: a step holds task writes back for a few ms at most.
pub const SWEEP_STEP: usize = 512;

/// Delete every finished task older than `retention`, step by step, then compact what was
/// deleted; the number deleted.
pub async fn sweep(store: &Arc<Store>, retention: Duration) -> Result<usize, StoreError> {
    let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
    let mut deleted = 0;
    loop {
        let swept = store.sweep(cutoff, SWEEP_STEP).await?;
        deleted += swept.deleted;
        let more = swept.more;
        if swept.deleted > 0 {
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || s.compact(&swept, cutoff)).await;
        }
        if !more {
            break;
        }
    }
    Ok(deleted)
}

/// The background loop: a sweep at start and every [`SWEEP_INTERVAL`].
pub fn spawn(store: Arc<Store>, retention: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match sweep(&store, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tasks = n, "deleted finished tasks past the retention"),
                Err(e) => tracing::warn!("retention sweep failed: {e}"),
            }
        }
    })
}
