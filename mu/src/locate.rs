//! Where things are: whether an id is a process (and which SU schedules it) or a wallet, and how
//! to reach an SU by its wallet address.
//!
//! A process's scheduler comes from its `Scheduler` tag: remembered in the store when this MU
//! forwarded or spawned it (so a fresh process is found before the gateway has it), else read
//! from the gateway. An SU's address becomes a client through its newest Scheduler-Location on
//! the gateway, cached for its `Time-To-Live` (at most [`MAX_CACHE`]): gRPC when it published a
//! `Grpc-Url` (ao-rs SUs), the AO HTTP API otherwise.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::{Gateway, TxQuery};

use crate::store::Store;
use crate::units::{SuClient, UnitError};

/// Longest a Scheduler-Location is trusted whatever its `Time-To-Live` says: an SU that moved
/// should not stay unreachable for the day-long TTLs SUs publish.
pub const MAX_CACHE: Duration = Duration::from_secs(3600);

/// SU clients cached: one per scheduler this MU talks to; a few hundred SUs exist, and the bound
/// keeps lookups of scheduler addresses someone made up from growing the map.
pub const MAX_SU_CLIENTS: usize = 1_000;

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

/// What an id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A process, scheduled by the SU with this wallet address.
    Process {
        /// The SU's address.
        scheduler: String,
    },
    /// Not a process: a wallet (messages to it are uploaded to Arweave, not scheduled).
    Wallet,
}

/// Finds processes and SUs.
pub struct Locator {
    gateway: Arc<dyn Gateway>,
    store: Arc<Store>,
    http: reqwest::Client,
    sus: Mutex<BoundedCache<(SuClient, Instant)>>,
}

impl Locator {
    /// A locator reading `gateway`, remembering in `store`.
    pub fn new(gateway: Arc<dyn Gateway>, store: Arc<Store>, http: reqwest::Client) -> Locator {
        Locator {
            gateway,
            store,
            http,
            sus: Mutex::new(BoundedCache::new(MAX_SU_CLIENTS)),
        }
    }

    /// Remember that `pid` is scheduled by `scheduler` (from the process item itself).
    pub fn remember(&self, pid: &str, scheduler: &str) -> Result<(), UnitError> {
        self.store
            .remember_scheduler(pid, scheduler)
            .map_err(|e| UnitError::Unavailable(e.to_string()))
    }

    /// Whether `id` is a process, and its scheduler.
    pub async fn destination(&self, id: &str) -> Result<Destination, UnitError> {
        if let Some(s) = self
            .store
            .scheduler_of(id)
            .map_err(|e| UnitError::Unavailable(e.to_string()))?
        {
            return Ok(Destination::Process { scheduler: s });
        }
        let found = self
            .gateway
            .transactions_by_id(&[id.to_string()])
            .await
            .map_err(|e| UnitError::Unavailable(format!("gateway: {e}")))?;
        let Some(tx) = found.into_iter().next() else {
            return Ok(Destination::Wallet);
        };
        let get = |name: &str| {
            tx.tags
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(name))
                .map(|t| t.value.clone())
        };
        match (get("Type").as_deref(), get("Scheduler")) {
            (Some("Process"), Some(s)) => {
                self.remember(id, &s)?;
                Ok(Destination::Process { scheduler: s })
            }
            _ => Ok(Destination::Wallet),
        }
    }

    /// The SU whose wallet is `address`.
    pub async fn su(&self, address: &str) -> Result<SuClient, UnitError> {
        {
            let map = self.sus.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((c, until)) = map.get(address)
                && *until > Instant::now()
            {
                return Ok(c.clone());
            }
        }
        let query = TxQuery::scheduler_location(address);
        let page = self
            .gateway
            .query(&query)
            .await
            .map_err(|e| UnitError::Unavailable(format!("gateway: {e}")))?;
        let Some((_, tx)) = page.edges.into_iter().next() else {
            return Err(UnitError::Unavailable(format!(
                "no Scheduler-Location for scheduler {address} on the gateway"
            )));
        };
        let get = |name: &str| {
            tx.tags
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(name))
                .map(|t| t.value.trim_end_matches('/').to_string())
        };
        let ttl = get("Time-To-Live")
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(MAX_CACHE, |ms| Duration::from_millis(ms).min(MAX_CACHE));
        let client = match (
            get(ao_core::ao::scheduler_location::GRPC_URL_TAG),
            get("Url"),
        ) {
            (Some(grpc), _) => SuClient::grpc(&grpc)?,
            (None, Some(url)) => SuClient::Http {
                url,
                http: self.http.clone(),
            },
            (None, None) => {
                return Err(UnitError::Unavailable(format!(
                    "the Scheduler-Location of {address} has no Url"
                )));
            }
        };
        let mut map = self.sus.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(address.to_string(), (client.clone(), Instant::now() + ttl));
        Ok(client)
    }

    /// The SU of process `pid`.
    pub async fn su_of(&self, pid: &str) -> Result<SuClient, UnitError> {
        match self.destination(pid).await? {
            Destination::Process { scheduler } => self.su(&scheduler).await,
            Destination::Wallet => Err(UnitError::Refused(
                404,
                format!("{pid} is not a known process"),
            )),
        }
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
