//! Where things are: whether an id is a process (and which SU schedules it) or a wallet, and how
//! to reach an SU by its wallet address.
//!
//! A process's scheduler comes from its `Scheduler` tag: remembered in the store when this MU
//! forwarded or spawned it (so a fresh process is found before the gateway has it), else read
//! from the gateway. An SU's address becomes a client through its newest Scheduler-Location on
//! the gateway, cached for its `Time-To-Live` (at most [`MAX_CACHE`]): gRPC when it published a
//! `Grpc-Url` (ao-rs SUs), the AO HTTP API otherwise.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::Gateway;
pub use ao_arweave::locate::BoundedCache;
use ao_arweave::locate::{LocateError, Locations, Scheduled};

use crate::store::Store;
use crate::units::{SuClient, UnitError};

/// Longest a Scheduler-Location is trusted whatever its `Time-To-Live` says (the shared rule).
pub const MAX_CACHE: Duration = ao_arweave::locate::MAX_LOCATION_TTL;

/// SU clients cached: one per scheduler this MU talks to; a few hundred SUs exist, and the bound
/// keeps lookups of scheduler addresses someone made up from growing the map.
pub const MAX_SU_CLIENTS: usize = 1_000;

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
    locations: Locations,
    store: Arc<Store>,
    http: reqwest::Client,
    /// `X-Real-IP` sent on POSTs to HTTP SUs (the reference SU's whitelist), when configured.
    forwarded_ip: Option<String>,
    sus: Mutex<BoundedCache<(SuClient, Instant)>>,
}

impl Locator {
    /// A locator reading `gateway`, remembering in `store`.
    pub fn new(gateway: Arc<dyn Gateway>, store: Arc<Store>, http: reqwest::Client) -> Locator {
        Locator {
            locations: Locations::new(gateway),
            store,
            http,
            forwarded_ip: None,
            sus: Mutex::new(BoundedCache::new(MAX_SU_CLIENTS)),
        }
    }

    /// Send `X-Real-IP: ip` with every POST to an HTTP SU (`--su-forwarded-ip`): the reference
    /// SU refuses POSTs whose `X-Real-IP` its whitelist does not know.
    pub fn with_forwarded_ip(mut self, ip: Option<String>) -> Locator {
        self.forwarded_ip = ip;
        self
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
        let found = ao_arweave::locate::scheduler_of(self.locations.gateway().as_ref(), id)
            .await
            .map_err(|e| UnitError::Unavailable(format!("gateway: {e}")))?;
        match found {
            Scheduled::Process(s) => {
                self.remember(id, &s)?;
                Ok(Destination::Process { scheduler: s })
            }
            Scheduled::NotAProcess | Scheduled::Unknown => Ok(Destination::Wallet),
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
        let location = self.locations.locate(address).await.map_err(|e| match e {
            LocateError::Gateway(e) => UnitError::Unavailable(format!("gateway: {e}")),
            other => UnitError::Unavailable(other.to_string()),
        })?;
        let ttl = location.ttl;
        let client = match location.grpc_url {
            Some(grpc) => SuClient::grpc(&grpc)?,
            None => SuClient::Http {
                url: location.url,
                http: self.http.clone(),
                forwarded_ip: self.forwarded_ip.clone(),
            },
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
