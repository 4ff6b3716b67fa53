//! Where a process's SU answers, as every AO unit finds it (spec 5.3): the process's `Scheduler`
//! tag on the gateway, then that SU's newest Scheduler-Location, cached for its `Time-To-Live`.
//!
//! The MU (to push messages) and the CU (to read schedules) both need this; it lives here, beside
//! the [`Gateway`] it reads, so the two cannot drift apart.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::gateway::{Gateway, TxQuery};

/// Longest a Scheduler-Location is trusted whatever its `Time-To-Live` says: an SU that moved
/// should not stay unreachable for the day-long TTLs SUs publish.
pub const MAX_LOCATION_TTL: Duration = Duration::from_secs(3600);

/// Scheduler-Locations cached: one per SU a unit talks to; a few hundred SUs exist, and the
/// bound keeps lookups of scheduler addresses someone made up from growing the map.
pub const MAX_LOCATIONS: usize = 1_000;

/// A map of at most `cap` entries: inserting one more evicts the oldest inserted. For caches
/// whose keys come from clients (process ids, scheduler addresses), so memory stays bounded
/// whatever they send; an evicted entry is only looked up again.
pub struct BoundedCache<V> {
    cap: usize,
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> BoundedCache<V> {
    /// An empty cache of at most `cap` entries (at least one).
    pub fn new(cap: usize) -> BoundedCache<V> {
        BoundedCache {
            cap: cap.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    /// Insert or replace; evicts the oldest entries past the bound.
    pub fn insert(&mut self, key: String, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Why an SU could not be located.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The gateway failed.
    #[error("gateway: {0}")]
    Gateway(#[from] crate::Error),
    /// The scheduler never published a Scheduler-Location on this gateway.
    #[error("no Scheduler-Location for scheduler {0} on the gateway")]
    NoLocation(String),
    /// Its newest Scheduler-Location has no `Url` tag.
    #[error("the Scheduler-Location of {0} has no Url")]
    NoUrl(String),
}

/// Where one SU answers, from its newest Scheduler-Location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuLocation {
    /// The SU's wallet address.
    pub address: String,
    /// Its AO HTTP API (`Url`), without a trailing `/`.
    pub url: String,
    /// Its gRPC endpoint (`Grpc-Url`), published by ao-rs SUs only.
    pub grpc_url: Option<String>,
    /// How long the record may be trusted: its `Time-To-Live`, at most [`MAX_LOCATION_TTL`].
    pub ttl: Duration,
}

/// What the gateway says an id is, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduled {
    /// A process, scheduled by the SU with this wallet address.
    Process(String),
    /// The gateway has the id but it is not a process with a `Scheduler` tag (a wallet's item,
    /// a message, a module).
    NotAProcess,
    /// The gateway does not know the id (yet: a process just spawned may not be indexed).
    Unknown,
}

/// The `Scheduler` of `pid`, from its tags on the gateway.
pub async fn scheduler_of(gateway: &dyn Gateway, pid: &str) -> Result<Scheduled, crate::Error> {
    let found = gateway.transactions_by_id(&[pid.to_string()]).await?;
    let Some(tx) = found.into_iter().next() else {
        return Ok(Scheduled::Unknown);
    };
    let get = |name: &str| {
        tx.tags
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .map(|t| t.value.clone())
    };
    Ok(match (get("Type").as_deref(), get("Scheduler")) {
        (Some("Process"), Some(s)) => Scheduled::Process(s),
        _ => Scheduled::NotAProcess,
    })
}

/// Scheduler-Locations read from a gateway, cached for their `Time-To-Live` and bounded.
pub struct Locations {
    gateway: Arc<dyn Gateway>,
    cache: Mutex<BoundedCache<(SuLocation, Instant)>>,
}

impl Locations {
    /// Locations read from `gateway`.
    pub fn new(gateway: Arc<dyn Gateway>) -> Locations {
        Locations {
            gateway,
            cache: Mutex::new(BoundedCache::new(MAX_LOCATIONS)),
        }
    }

    /// The gateway it reads.
    pub fn gateway(&self) -> &Arc<dyn Gateway> {
        &self.gateway
    }

    /// Where the SU whose wallet is `address` answers.
    pub async fn locate(&self, address: &str) -> Result<SuLocation, LocateError> {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((loc, until)) = cache.get(address)
                && *until > Instant::now()
            {
                return Ok(loc.clone());
            }
        }
        let page = self
            .gateway
            .query(&TxQuery::scheduler_location(address))
            .await?;
        let Some((_, tx)) = page.edges.into_iter().next() else {
            return Err(LocateError::NoLocation(address.to_string()));
        };
        let get = |name: &str| {
            tx.tags
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(name))
                .map(|t| t.value.trim_end_matches('/').to_string())
                .filter(|v| !v.is_empty())
        };
        let ttl = get("Time-To-Live")
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(MAX_LOCATION_TTL, |ms| {
                Duration::from_millis(ms).min(MAX_LOCATION_TTL)
            });
        let url = get("Url").ok_or_else(|| LocateError::NoUrl(address.to_string()))?;
        let loc = SuLocation {
            address: address.to_string(),
            url,
            grpc_url: get(ao_core::ao::scheduler_location::GRPC_URL_TAG),
            ttl,
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(address.to_string(), (loc.clone(), Instant::now() + ttl));
        Ok(loc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_never_exceeds_its_bound_and_keeps_the_newest() {
        let mut c = BoundedCache::new(100);
        for i in 0..10_000 {
            c.insert(format!("p{i}"), i);
            assert!(c.len() <= 100, "{} entries after {i} inserts", c.len());
            assert_eq!(c.order.len(), c.len());
        }
        assert_eq!(c.len(), 100);
        assert_eq!(c.get("p9999"), Some(&9999));
        assert_eq!(c.get("p9900"), Some(&9900));
        assert_eq!(c.get("p9899"), None);
        // Replacing an entry neither grows the cache nor evicts another.
        c.insert("p9999".into(), 0);
        assert_eq!((c.len(), c.get("p9900")), (100, Some(&9900)));
    }
}
