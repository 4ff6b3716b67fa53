//! The live tail behind gRPC `Subscribe`: the committer publishes each entry here once it is
//! durable, and each subscriber of that process receives it.
//!
//! A broadcast channel per process with subscribers; none for the others, so publishing for an
//! unwatched process costs one map lookup. A subscriber that falls behind the channel's buffer is
//! told it lagged and catches up from the store (see `service.rs`), so a slow CU never blocks
//! the committer and never misses an entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::store::Entry;

/// Entries buffered per process for subscribers: a CU that falls further behind re-reads the store.
pub const TAIL_BUFFER: usize = 1024;

/// Per-process broadcast of durable entries.
#[derive(Default)]
pub struct Tail {
    senders: Mutex<HashMap<[u8; 32], broadcast::Sender<Arc<Entry>>>>,
}

impl Tail {
    /// Start receiving `pid`'s new entries. Subscribe before reading the store, so that nothing
    /// written between the read and the subscription is missed.
    pub fn subscribe(&self, pid: [u8; 32]) -> broadcast::Receiver<Arc<Entry>> {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders
            .entry(pid)
            .or_insert_with(|| broadcast::channel(TAIL_BUFFER).0)
            .subscribe()
    }

    /// Hand a durable entry to `pid`'s subscribers, if it has any.
    pub fn publish(&self, pid: &[u8; 32], entry: &Entry) {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = senders.get(pid)
            && tx.send(Arc::new(entry.clone())).is_err()
        {
            // Every subscriber has gone.
            senders.remove(pid);
        }
    }
}
