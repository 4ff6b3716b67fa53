//! Blocks of the local gateway: how a block is made from the pending items, and the miner task that
//! makes one every `block_interval`.
//!
//! A block covers a contiguous range of arrival sequence numbers (`first_seq..end_seq`): every item
//! received since the previous block, in arrival order. That is what lets the store order queries
//! by sequence number alone and still sort exactly by (height, position in block), with pending
//! items last, as real gateways do. Blocks are made even when nothing is pending, because on a real
//! chain time and height move on regardless: block-based crons and confirmation counts rely on it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use ao_core::encoding::b64url;

use crate::gateway::BlockMeta;
use crate::local::store::Store;

/// One block as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Height; the genesis block is 0.
    pub height: u64,
    /// `sha256(previous ‖ height as u64 big-endian ‖ raw ids of the items, in order)`.
    pub id: [u8; 32],
    /// Seconds since the epoch, never less than the previous block's.
    pub timestamp: u64,
    /// The previous block's id; `None` for genesis.
    pub previous: Option<[u8; 32]>,
    /// First sequence number included.
    pub first_seq: u64,
    /// One past the last sequence number included (`first_seq` when the block is empty).
    pub end_seq: u64,
}

impl Block {
    /// The genesis block of a new store: empty, at `now` seconds.
    pub fn genesis(now: u64) -> Block {
        Block {
            height: 0,
            id: Sha256::digest(0u64.to_be_bytes()).into(),
            timestamp: now,
            previous: None,
            first_seq: 0,
            end_seq: 0,
        }
    }

    /// The gateway-facing view (ids base64url, genesis `previous` empty as on Arweave).
    pub fn meta(&self) -> BlockMeta {
        BlockMeta {
            id: b64url(self.id),
            height: self.height,
            timestamp: self.timestamp,
            previous: self.previous.map(b64url).unwrap_or_default(),
        }
    }
}

/// Builds the block on top of `tip` from the pending ids, hashing them as they stream by so that a
/// large pending set is never held in memory.
pub struct BlockBuilder {
    hasher: Sha256,
    tip_id: [u8; 32],
    height: u64,
    timestamp: u64,
    first_seq: u64,
}

impl BlockBuilder {
    /// Start the block after `tip`, made at `now` seconds (raised to the tip's timestamp if the
    /// clock went back, so timestamps never decrease along the chain).
    pub fn new(tip: &Block, now: u64) -> BlockBuilder {
        let height = tip.height + 1;
        let mut hasher = Sha256::new();
        hasher.update(tip.id);
        hasher.update(height.to_be_bytes());
        BlockBuilder {
            hasher,
            tip_id: tip.id,
            height,
            timestamp: now.max(tip.timestamp),
            first_seq: tip.end_seq,
        }
    }

    /// Add the next pending item, in sequence order.
    pub fn push(&mut self, id: &[u8; 32]) {
        self.hasher.update(id);
    }

    /// The block, covering sequence numbers up to `end_seq` (exclusive).
    pub fn finish(self, end_seq: u64) -> Block {
        Block {
            height: self.height,
            id: self.hasher.finalize().into(),
            timestamp: self.timestamp,
            previous: Some(self.tip_id),
            first_seq: self.first_seq,
            end_seq,
        }
    }
}

/// Seconds since the epoch, the unit of Arweave block timestamps.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the epoch, the unit of bundler receipts.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The miner: makes a block every `interval` until `stop` turns true. A failed block is logged and
/// tried again at the next tick, since the pending items stay pending.
pub async fn run_miner(store: Arc<Store>, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval);
    // After a stall (a slow disk, a suspended laptop) make one block, not a burst of catch-up blocks.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once; the first block should come one interval after start.
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.mine(now_secs())).await {
            Ok(Ok(block)) => tracing::debug!(
                height = block.height,
                items = block.end_seq - block.first_seq,
                "mined block"
            ),
            Ok(Err(e)) => tracing::error!("mining failed: {e}"),
            Err(e) => tracing::error!("mining task failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_chain_and_timestamps_never_decrease() {
        let g = Block::genesis(100);
        let mut b = BlockBuilder::new(&g, 50);
        b.push(&[1; 32]);
        let one = b.finish(1);
        assert_eq!(one.height, 1);
        assert_eq!(one.timestamp, 100);
        assert_eq!(one.previous, Some(g.id));
        assert_eq!((one.first_seq, one.end_seq), (0, 1));
        let mut again = BlockBuilder::new(&g, 50);
        again.push(&[1; 32]);
        assert_eq!(again.finish(1).id, one.id);
        let other = BlockBuilder::new(&g, 50).finish(0);
        assert_ne!(other.id, one.id);
        assert_eq!(g.meta().previous, "");
    }
}
