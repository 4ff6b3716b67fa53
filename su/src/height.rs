//! The Arweave block height every assignment carries, kept fresh by a background task so that the
//! write path never waits for the gateway (the reference refreshes every 5 s; so do we).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ao_arweave::Gateway;

/// How often the height is asked of the gateway: Arweave blocks come every ~2 minutes, so 5 s
/// staleness is invisible, and it is the reference's interval (sharp edge 29).
pub const DEFAULT_HEIGHT_REFRESH: Duration = Duration::from_secs(5);

/// The cached height; unknown until the gateway first answers, and the SU refuses writes until
/// then rather than stamp assignments with a made-up height.
#[derive(Debug, Default)]
pub struct BlockHeight {
    value: AtomicU64,
    known: AtomicBool,
}

impl BlockHeight {
    /// The cached height, or `None` before the gateway first answered.
    pub fn get(&self) -> Option<u64> {
        self.known
            .load(Ordering::Acquire)
            .then(|| self.value.load(Ordering::Relaxed))
    }

    /// Record a height read from the gateway.
    pub fn set(&self, height: u64) {
        self.value.store(height, Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
    }

    /// Ask the gateway once and record the answer.
    pub async fn refresh(&self, gateway: &dyn Gateway) -> bool {
        match gateway.info().await {
            Ok(info) => {
                self.set(info.height);
                true
            }
            Err(e) => {
                tracing::warn!("cannot read the block height from the gateway: {e}");
                false
            }
        }
    }

    /// Refresh every `every` until the task is aborted.
    pub fn spawn_refresher(
        self: Arc<Self>,
        gateway: Arc<dyn Gateway>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.refresh(gateway.as_ref()).await;
                tokio::time::sleep(every).await;
            }
        })
    }
}
