//! Routing between SUs: where this SU says it lives, and where other SUs live.
//!
//! On start the SU signs a Scheduler-Location item (`Url`, `Time-To-Live`) and queues it in the
//! durable upload outbox, so it reaches the gateway even if the bundler is down at boot. A process
//! that names another SU in its `Scheduler` tag, or a message for a process that is not here but
//! is known to the gateway, is answered with 307 to the owning SU's URL. Lookups are cached for the
//! location's `Time-To-Live` (and misses briefly), so a stream of misdirected writes costs one
//! gateway query, not one each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::{Gateway, TxQuery};
use ao_core::Signer;
use ao_core::ao::{SchedulerLocationBuilder, tag};
use bytes::Bytes;

use crate::error::{Result, SuError};

/// How long a failed location lookup is remembered: short, because the other SU may publish its
/// location any moment, long enough that a burst of misdirected writes asks the gateway once.
pub const NEGATIVE_CACHE: Duration = Duration::from_secs(10);

/// Longest a positive lookup is trusted, whatever `Time-To-Live` says: SUs publish day-long TTLs,
/// and a moved SU should not stay unreachable that long.
pub const MAX_CACHE: Duration = Duration::from_secs(3600);

/// The signed Scheduler-Location item of this SU (with its gRPC URL, for ao-rs MUs and CUs).
pub fn location_item(url: &str, grpc_url: &str, ttl_ms: u64, signer: &dyn Signer) -> Result<Bytes> {
    SchedulerLocationBuilder::new(url, ttl_ms)
        .grpc_url(grpc_url)
        .sign(signer)
        .map(|l| l.item().as_bytes().clone())
        .map_err(|e| SuError::Storage(format!("cannot sign the Scheduler-Location: {e}")))
}

/// Finds other SUs through the gateway.
pub struct Router {
    gateway: Arc<dyn Gateway>,
    our_address: String,
    urls: Mutex<HashMap<String, (Option<String>, Instant)>>,
    schedulers: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl Router {
    /// A router asking `gateway`; `our_address` is never redirected to.
    pub fn new(gateway: Arc<dyn Gateway>, our_address: String) -> Router {
        Router {
            gateway,
            our_address,
            urls: Mutex::new(HashMap::new()),
            schedulers: Mutex::new(HashMap::new()),
        }
    }

    fn cached(
        map: &Mutex<HashMap<String, (Option<String>, Instant)>>,
        k: &str,
    ) -> Option<Option<String>> {
        let map = map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(k) {
            Some((v, until)) if *until > Instant::now() => Some(v.clone()),
            _ => None,
        }
    }

    fn remember(
        map: &Mutex<HashMap<String, (Option<String>, Instant)>>,
        k: &str,
        v: Option<String>,
        ttl: Duration,
    ) {
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
        }
        map.insert(k.to_string(), (v, Instant::now() + ttl));
    }

    /// The URL of the SU whose wallet is `address`, from its newest Scheduler-Location.
    pub async fn scheduler_url(&self, address: &str) -> Result<Option<String>> {
        if let Some(hit) = Self::cached(&self.urls, address) {
            return Ok(hit);
        }
        let query = TxQuery::scheduler_location(address);
        let page = self
            .gateway
            .query(&query)
            .await
            .map_err(|e| SuError::Gateway(e.to_string()))?;
        let found = page.edges.into_iter().next().and_then(|(_, tx)| {
            let get = |name: &str| {
                tx.tags
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(name))
                    .map(|t| t.value.clone())
            };
            let url = get("Url")?;
            let ttl = get("Time-To-Live").and_then(|t| t.parse::<u64>().ok())?;
            Some((url.trim_end_matches('/').to_string(), ttl))
        });
        match found {
            Some((url, ttl)) => {
                let ttl = Duration::from_millis(ttl).min(MAX_CACHE);
                Self::remember(&self.urls, address, Some(url.clone()), ttl);
                Ok(Some(url))
            }
            None => {
                Self::remember(&self.urls, address, None, NEGATIVE_CACHE);
                Ok(None)
            }
        }
    }

    /// The `Scheduler` tag of a process this SU does not hold, from the gateway.
    pub async fn process_scheduler(&self, pid: &str) -> Result<Option<String>> {
        if let Some(hit) = Self::cached(&self.schedulers, pid) {
            return Ok(hit);
        }
        let found = self
            .gateway
            .transactions_by_id(&[pid.to_string()])
            .await
            .map_err(|e| SuError::Gateway(e.to_string()))?
            .into_iter()
            .find(|tx| tx.id == pid)
            .and_then(|tx| {
                tx.tags
                    .iter()
                    .find(|t| t.name == tag::SCHEDULER)
                    .map(|t| t.value.clone())
            });
        // A process's Scheduler never changes, so a hit can be kept as long as the cache allows.
        let ttl = if found.is_some() {
            MAX_CACHE
        } else {
            NEGATIVE_CACHE
        };
        Self::remember(&self.schedulers, pid, found.clone(), ttl);
        Ok(found)
    }

    /// Where a write for a process owned by `scheduler` must go: `Redirect` to its URL, or
    /// `WrongScheduler` when it cannot be located. `None` when it is us.
    pub async fn redirect(&self, scheduler: &str, what: &str) -> Result<Option<SuError>> {
        if scheduler == self.our_address {
            return Ok(None);
        }
        Ok(Some(match self.scheduler_url(scheduler).await? {
            Some(url) => SuError::Redirect { url },
            None => SuError::WrongScheduler(format!(
                "Process does not belong on this SU: {what} is scheduled by {scheduler}, \
                 whose Scheduler-Location is not on the gateway"
            )),
        }))
    }
}
