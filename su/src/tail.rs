//! The live tail behind gRPC `Subscribe`: the committer publishes each entry here once it is
//! durable, and each subscriber of that process receives it.
//!
//! A broadcast channel per process with subscribers; none for the others, so publishing for an
//! unwatched process costs one map lookup. A subscriber that falls behind the channel's buffer is
//! told it lagged and catches up from the store (see `service.rs`), so a slow CU never blocks
//! the committer and never misses an entry.
//!
//! A subscriber that reads nothing at all for [`DEFAULT_SUBSCRIBER_STALL`] is cut off: its stream
//! ends with an error naming the nonce to subscribe again from, and what it held (its channel,
//! its place in the broadcast buffer) is freed. Without that, a silent subscriber would pin up to
//! [`TAIL_BUFFER`] entries of its process, and any number of them could be opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::store::Entry;

/// Entries buffered per process for subscribers: a CU that falls further behind re-reads the store.
pub const TAIL_BUFFER: usize = 1024;

/// How long a subscriber may read nothing while entries wait for it before it is cut off: far
/// longer than a CU takes to evaluate a message, short enough that a silent client frees its
/// memory within the minute.
pub const DEFAULT_SUBSCRIBER_STALL: Duration = Duration::from_secs(30);

/// Per-process broadcast of durable entries.
pub struct Tail {
    senders: Mutex<HashMap<[u8; 32], broadcast::Sender<Arc<Entry>>>>,
    stall: Duration,
}

impl Default for Tail {
    fn default() -> Tail {
        Tail::new(DEFAULT_SUBSCRIBER_STALL)
    }
}

impl Tail {
    /// A tail that cuts off subscribers silent for `stall`.
    pub fn new(stall: Duration) -> Tail {
        Tail {
            senders: Mutex::new(HashMap::new()),
            stall,
        }
    }

    /// How long a subscriber may read nothing before it is cut off.
    pub fn stall(&self) -> Duration {
        self.stall
    }

    /// Subscribers of `pid` right now.
    pub fn subscribers(&self, pid: &[u8; 32]) -> usize {
        let senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders
            .get(pid)
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Entries of `pid` held for subscribers that have not read them yet.
    pub fn buffered(&self, pid: &[u8; 32]) -> usize {
        let senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders.get(pid).map_or(0, broadcast::Sender::len)
    }

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
