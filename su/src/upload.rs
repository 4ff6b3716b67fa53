//! The upload outbox: every item the SU stores is also sent to the bundler, durably.
//!
//! The committer writes each message (or process) item and its assignment into `U` keys in the
//! same synced batch as the entry, so an item is either scheduled *and* queued for upload, or
//! neither. This task drains the queue oldest first, several at a time, retries each with
//! exponential backoff until the bundler takes it, and only then deletes it. After a crash it
//! starts again from what is left. (The reference uploads fire-and-forget and can lose items,
//! sharp edge 24.) An item the bundler refuses for good (4xx) is moved to a dead list and counted,
//! so one bad item cannot stall the queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ao_arweave::Bundler;
use ao_core::DataItem;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::store::Store;

/// Uploads in flight at once: enough to hide a bundler's latency without flooding it.
pub const UPLOAD_CONCURRENCY: usize = 8;
/// Items read from the outbox per round.
pub const UPLOAD_BATCH: usize = 64;
/// First retry delay; doubled per failure (the reference's 1 s).
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay (the reference's 32 s).
pub const BACKOFF_MAX: Duration = Duration::from_secs(32);
/// Idle re-check of the outbox even without a wake-up, as a safety net.
const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Drain the outbox forever.
pub fn spawn_uploader(
    store: Arc<Store>,
    bundler: Arc<dyn Bundler>,
    ready: Arc<Notify>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Every item of a finished round is delivered or buried, so the next round starts after
        // it: scanning from the start again would walk the tombstones of every delivered item.
        let mut cursor: Option<u64> = None;
        loop {
            let batch = match store.pending_uploads(cursor, UPLOAD_BATCH) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("cannot read the upload outbox: {e}");
                    tokio::time::sleep(IDLE_RECHECK).await;
                    continue;
                }
            };
            if batch.is_empty() {
                let _ = tokio::time::timeout(IDLE_RECHECK, ready.notified()).await;
                continue;
            }
            cursor = batch.last().map(|(seq, _)| *seq);
            let delivered: Vec<u64> = futures_util::stream::iter(batch)
                .map(|(seq, bytes)| {
                    let (store, bundler, metrics) = (&store, &bundler, &metrics);
                    async move {
                        upload_one(store, bundler.as_ref(), metrics, seq, bytes)
                            .await
                            .then_some(seq)
                    }
                })
                .buffer_unordered(UPLOAD_CONCURRENCY)
                .filter_map(std::future::ready)
                .collect()
                .await;
            if let Err(e) = store.delete_uploads(&delivered) {
                tracing::warn!("uploads delivered but not removed from the outbox: {e}");
            }
        }
    })
}

/// Deliver one item, retrying until the bundler takes it (`true`) or refuses it for good, in
/// which case it is buried (`false`).
async fn upload_one(
    store: &Store,
    bundler: &dyn Bundler,
    metrics: &Metrics,
    seq: u64,
    bytes: bytes::Bytes,
) -> bool {
    let item = match DataItem::parse(bytes.clone()) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("upload {seq} is not a data item ({e}); moved to the dead list");
            bury(store, metrics, seq, &bytes);
            return false;
        }
    };
    let mut delay = BACKOFF_START;
    loop {
        match bundler.upload(&item).await {
            Ok(_) => {
                metrics.uploads_ok.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e) if e.is_retryable() => {
                metrics.upload_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("upload of {} failed, retrying in {delay:?}: {e}", item.id());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(BACKOFF_MAX);
            }
            Err(e) => {
                tracing::error!(
                    "the bundler refused {} for good ({e}); moved to the dead list",
                    item.id()
                );
                bury(store, metrics, seq, &bytes);
                return false;
            }
        }
    }
}

fn bury(store: &Store, metrics: &Metrics, seq: u64, bytes: &[u8]) {
    metrics.uploads_dead.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = store.bury_upload(seq, bytes) {
        tracing::error!("cannot move upload {seq} to the dead list: {e}");
    }
}
