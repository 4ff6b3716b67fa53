//! Where things are: whether an id is a process (and which SU schedules it) or a wallet, and how
//! to reach an SU by its wallet address.
//!
//! A process's scheduler comes from its `Scheduler` tag: remembered in the store when this MU
//! forwarded or spawned it (so a fresh process is found before the gateway has it), else read
//! from the gateway. An SU's address becomes a client through its newest Scheduler-Location on
//! the gateway, cached for its `Time-To-Live` (at most [`MAX_CACHE`]): gRPC when it published a
//! `Grpc-Url` (ao-rs SUs), the AO HTTP API otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::{Gateway, TxQuery};

use crate::store::Store;
use crate::units::{SuClient, UnitError};

/// Longest a Scheduler-Location is trusted whatever its `Time-To-Live` says: an SU that moved
/// should not stay unreachable for the day-long TTLs SUs publish.
pub const MAX_CACHE: Duration = Duration::from_secs(3600);

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
    sus: Mutex<HashMap<String, (SuClient, Instant)>>,
}

impl Locator {
    /// A locator reading `gateway`, remembering in `store`.
    pub fn new(gateway: Arc<dyn Gateway>, store: Arc<Store>, http: reqwest::Client) -> Locator {
        Locator {
            gateway,
            store,
            http,
            sus: Mutex::new(HashMap::new()),
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
