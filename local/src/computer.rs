//! A local AO computer: which units to start and how ([`Builder`]), and the running computer
//! ([`LocalComputer`]): its URLs, its units' in-process handles or child processes, and the
//! ways to stop, crash and restart them.
//!
//! Units start in dependency order (gateway, SU, CUs, the router when there are several CUs,
//! MU), each told where the ones before it listen. A unit started again gets the addresses it had, so nothing pointing at it goes stale.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ao_arweave::local::LocalGateway;
use clap::Parser;

use crate::Error;
use crate::child::{ChildUnit, EXIT_MARGIN, Spawn};
use crate::flags;

/// Time between blocks of the local gateway when not told: the devnet's, `arweave-local`'s
/// default (items confirm within seconds, and blocks carry several).
pub const DEFAULT_BLOCK_INTERVAL: &str = "2s";

/// With several CUs the router takes the CU port; CU i listens 10 + 2i ports above it (room for
/// the router's HTTP and gRPC and a few spare, each CU an HTTP and gRPC pair).
pub const ROUTED_CU_PORT_OFFSET: u16 = 10;

/// A change to a unit's configuration that has no flag (a test's retry delay, a bundler of its
/// own), applied after the flags are parsed; only for units running in this process.
pub type Tweak<C> = Arc<dyn Fn(&mut C) + Send + Sync>;

/// Where the units run.
#[derive(Debug, Clone)]
pub enum Mode {
    /// All in this process, as tasks.
    InProcess,
    /// Each its own process: the `arweave-local`, `su`, `cu` and `mu` binaries in this folder.
    Separate(PathBuf),
}

/// One unit of a computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitId {
    /// The local gateway.
    Gateway,
    /// The SU.
    Su,
    /// The CU with this index (0 is the first).
    Cu(usize),
    /// The router in front of the CUs (started when there are several).
    Router,
    /// The MU.
    Mu,
}

impl UnitId {
    /// The binary that runs this unit.
    pub fn binary(self) -> &'static str {
        match self {
            UnitId::Gateway => "arweave-local",
            UnitId::Su => "su",
            UnitId::Cu(_) => "cu",
            UnitId::Router => "router",
            UnitId::Mu => "mu",
        }
    }
}

impl std::fmt::Display for UnitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnitId::Gateway => f.write_str("the gateway"),
            UnitId::Su => f.write_str("the SU"),
            UnitId::Cu(0) => f.write_str("the CU"),
            UnitId::Cu(i) => write!(f, "CU {i}"),
            UnitId::Router => f.write_str("the router"),
            UnitId::Mu => f.write_str("the MU"),
        }
    }
}

/// What to start. Ports are on loopback; 0 is any free port.
#[derive(Clone)]
pub struct Builder {
    data_dir: PathBuf,
    mode: Mode,
    gateway_port: u16,
    su_port: u16,
    cu_port: u16,
    mu_port: u16,
    block_interval: String,
    cus: usize,
    mu: bool,
    su_flags: Vec<String>,
    cu_flags: Vec<String>,
    mu_flags: Vec<String>,
    env: Vec<(String, String)>,
    grace: Duration,
    tweak_su: Option<Tweak<ao_su::Config>>,
    tweak_cu: Option<Tweak<ao_cu::Config>>,
    tweak_mu: Option<Tweak<ao_mu::Config>>,
}

impl Builder {
    /// A gateway, an SU, one CU and an MU in this process, with their data under `data_dir`
    /// (`arweave/`, `su/`, `cu/`, `mu/`), on any free ports.
    pub fn new(data_dir: impl Into<PathBuf>) -> Builder {
        Builder {
            data_dir: data_dir.into(),
            mode: Mode::InProcess,
            gateway_port: 0,
            su_port: 0,
            cu_port: 0,
            mu_port: 0,
            block_interval: DEFAULT_BLOCK_INTERVAL.to_string(),
            cus: 1,
            mu: true,
            su_flags: Vec::new(),
            cu_flags: Vec::new(),
            mu_flags: Vec::new(),
            env: Vec::new(),
            grace: ao_runtime::shutdown::DEFAULT_SHUTDOWN_GRACE,
            tweak_su: None,
            tweak_cu: None,
            tweak_mu: None,
        }
    }

    /// Run the units in this process or as the binaries in a folder.
    pub fn mode(mut self, mode: Mode) -> Builder {
        self.mode = mode;
        self
    }

    /// The gateway's port.
    pub fn gateway_port(mut self, port: u16) -> Builder {
        self.gateway_port = port;
        self
    }

    /// The SU's HTTP port (its gRPC on the next).
    pub fn su_port(mut self, port: u16) -> Builder {
        self.su_port = port;
        self
    }

    /// The first CU's HTTP port (its gRPC on the next; CU `i` two ports further per index).
    pub fn cu_port(mut self, port: u16) -> Builder {
        self.cu_port = port;
        self
    }

    /// The MU's HTTP port (its gRPC on the next, its admin listener after that).
    pub fn mu_port(mut self, port: u16) -> Builder {
        self.mu_port = port;
        self
    }

    /// Time between the gateway's blocks (`2s`, `500ms`; `0` mines only on `POST /mine`).
    pub fn block_interval(mut self, interval: impl Into<String>) -> Builder {
        self.block_interval = interval.into();
        self
    }

    /// How many CUs (0: none; the MU then needs one: give none either). CU 0 keeps its data in
    /// `cu/`, CU `i` in `cu-i/`. Above one, the router (`ao-router`) runs in front of them on the
    /// CU port, with CU `i` on the CU port + [`ROUTED_CU_PORT_OFFSET`] + 2i, and the MU reads
    /// results through it (`ao devnet --cus N`).
    pub fn cus(mut self, n: usize) -> Builder {
        self.cus = n;
        self
    }

    /// Whether to start the MU.
    pub fn mu(mut self, start: bool) -> Builder {
        self.mu = start;
        self
    }

    /// Extra flags for the SU (e.g. `--wallet FILE`).
    pub fn su_flags<S: Into<String>>(mut self, f: impl IntoIterator<Item = S>) -> Builder {
        self.su_flags.extend(f.into_iter().map(Into::into));
        self
    }

    /// Extra flags for every CU.
    pub fn cu_flags<S: Into<String>>(mut self, f: impl IntoIterator<Item = S>) -> Builder {
        self.cu_flags.extend(f.into_iter().map(Into::into));
        self
    }

    /// Extra flags for the MU (e.g. `--wallet FILE`, `--retry-delay 100`).
    pub fn mu_flags<S: Into<String>>(mut self, f: impl IntoIterator<Item = S>) -> Builder {
        self.mu_flags.extend(f.into_iter().map(Into::into));
        self
    }

    /// A variable for every unit binary, on top of the inherited environment (the `OTEL_*`
    /// variables are inherited as they are).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Builder {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Every unit's `--shutdown-grace`; a graceful stop waits that long and [`EXIT_MARGIN`]
    /// before it kills a unit binary.
    pub fn shutdown_grace(mut self, grace: Duration) -> Builder {
        self.grace = grace;
        self
    }

    /// Change the SU's configuration after its flags (in process only).
    pub fn tweak_su(mut self, f: impl Fn(&mut ao_su::Config) + Send + Sync + 'static) -> Builder {
        self.tweak_su = Some(Arc::new(f));
        self
    }

    /// Change every CU's configuration after its flags (in process only).
    pub fn tweak_cu(mut self, f: impl Fn(&mut ao_cu::Config) + Send + Sync + 'static) -> Builder {
        self.tweak_cu = Some(Arc::new(f));
        self
    }

    /// Change the MU's configuration after its flags (in process only).
    pub fn tweak_mu(mut self, f: impl Fn(&mut ao_mu::Config) + Send + Sync + 'static) -> Builder {
        self.tweak_mu = Some(Arc::new(f));
        self
    }

    /// The folder of `unit`'s data.
    pub fn unit_dir(&self, unit: UnitId) -> PathBuf {
        self.data_dir.join(match unit {
            UnitId::Gateway => "arweave".to_string(),
            UnitId::Su => "su".to_string(),
            UnitId::Cu(0) => "cu".to_string(),
            UnitId::Cu(i) => format!("cu-{i}"),
            UnitId::Router => "router".to_string(),
            UnitId::Mu => "mu".to_string(),
        })
    }

    /// Start every unit, in dependency order; on a failure, the units already started are
    /// stopped before the error is returned.
    pub async fn start(self) -> Result<LocalComputer, Error> {
        let mut c = LocalComputer {
            plan: self,
            gateway: Slot::Stopped,
            su: Slot::Stopped,
            cus: Vec::new(),
            router: None,
            mu: None,
            urls: Urls::default(),
        };
        if let Err(e) = c.start_all().await {
            c.stop().await;
            return Err(e);
        }
        Ok(c)
    }
}

/// The HTTP and gRPC addresses of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitAddrs {
    /// The AO HTTP API.
    pub http: SocketAddr,
    /// The gRPC services.
    pub grpc: SocketAddr,
}

impl Default for UnitAddrs {
    fn default() -> UnitAddrs {
        UnitAddrs {
            http: flags::loopback(0),
            grpc: flags::loopback(0),
        }
    }
}

impl UnitAddrs {
    /// `http://` and the HTTP address.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// `http://` and the gRPC address (what a tonic client connects to).
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }
}

/// Where a running computer answers.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The local gateway (and bundler).
    pub gateway: SocketAddr,
    /// The SU.
    pub su: UnitAddrs,
    /// The CUs, CU 0 first.
    pub cus: Vec<UnitAddrs>,
    /// The router in front of the CUs, when there are several.
    pub router: Option<UnitAddrs>,
    /// The MU, when started.
    pub mu: Option<UnitAddrs>,
    /// The MU's admin listener (dead letters, re-push): loopback only.
    pub mu_admin: Option<SocketAddr>,
    /// The SU's wallet address (what a process's `Scheduler` tag names).
    pub scheduler: String,
    /// The MU's wallet address (what a process lists as an `Authority` to trust its pushes).
    pub mu_address: Option<String>,
}

impl Default for Urls {
    fn default() -> Urls {
        Urls {
            gateway: flags::loopback(0),
            su: UnitAddrs::default(),
            cus: Vec::new(),
            router: None,
            mu: None,
            mu_admin: None,
            scheduler: String::new(),
            mu_address: None,
        }
    }
}

impl Urls {
    /// `http://` and the gateway's address.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The CU clients and the MU use: the router when there is one, else the CU.
    pub fn cu(&self) -> Option<&UnitAddrs> {
        self.router.as_ref().or(self.cus.first())
    }
}

/// One unit: running in this process, running as a child process, or stopped.
enum Slot<T> {
    InProcess(T),
    /// Boxed: a child's handle and flags are larger than most in-process handles.
    Child(Box<ChildUnit>),
    Stopped,
}

/// A running local computer. Dropping it kills unit binaries and drops in-process units without
/// their clean shutdown; [`LocalComputer::stop`] stops everything cleanly.
pub struct LocalComputer {
    plan: Builder,
    gateway: Slot<LocalGateway>,
    su: Slot<ao_su::RunningSu>,
    cus: Vec<Slot<ao_cu::RunningCu>>,
    router: Option<Slot<ao_router::RunningRouter>>,
    mu: Option<Slot<ao_mu::RunningMu>>,
    urls: Urls,
}

impl LocalComputer {
    /// Where everything answers.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The folder holding every unit's data.
    pub fn data_dir(&self) -> &Path {
        &self.plan.data_dir
    }

    /// The folder of `unit`'s data.
    pub fn unit_dir(&self, unit: UnitId) -> PathBuf {
        self.plan.unit_dir(unit)
    }

    /// The gateway, when it runs in this process (a test can upload to it directly).
    pub fn gateway(&self) -> Option<&LocalGateway> {
        match &self.gateway {
            Slot::InProcess(g) => Some(g),
            _ => None,
        }
    }

    /// The SU, when it runs in this process.
    pub fn su(&self) -> Option<&ao_su::RunningSu> {
        match &self.su {
            Slot::InProcess(s) => Some(s),
            _ => None,
        }
    }

    /// CU `i`, when it runs in this process.
    pub fn cu(&self, i: usize) -> Option<&ao_cu::RunningCu> {
        match self.cus.get(i) {
            Some(Slot::InProcess(c)) => Some(c),
            _ => None,
        }
    }

    /// The MU, when it runs in this process.
    pub fn mu(&self) -> Option<&ao_mu::RunningMu> {
        match &self.mu {
            Some(Slot::InProcess(m)) => Some(m),
            _ => None,
        }
    }

    /// `unit`'s child process, when it runs as one.
    pub fn child(&mut self, unit: UnitId) -> Option<&mut ChildUnit> {
        match unit {
            UnitId::Gateway => slot_child(&mut self.gateway),
            UnitId::Su => slot_child(&mut self.su),
            UnitId::Cu(i) => self.cus.get_mut(i).and_then(slot_child),
            UnitId::Router => self.router.as_mut().and_then(slot_child),
            UnitId::Mu => self.mu.as_mut().and_then(slot_child),
        }
    }

    /// Stop every unit cleanly, the MU first and the gateway last (each one's dependents are
    /// gone before it goes). A unit that does not stop in time is killed and reported in the log.
    pub async fn stop(mut self) {
        let mut order = vec![UnitId::Mu, UnitId::Router];
        order.extend((0..self.cus.len()).rev().map(UnitId::Cu));
        order.extend([UnitId::Su, UnitId::Gateway]);
        for unit in order {
            if let Err(e) = self.stop_unit(unit).await
                && !matches!(e, Error::NotRunning(_) | Error::NoSuchUnit(_))
            {
                tracing::warn!("stopping {unit}: {e}");
                eprintln!("ao-local: stopping {unit}: {e}");
            }
        }
    }

    /// Stop one unit cleanly (its data stays; [`LocalComputer::start_unit`] starts it again).
    pub async fn stop_unit(&mut self, unit: UnitId) -> Result<(), Error> {
        let patience = self.plan.grace + EXIT_MARGIN;
        macro_rules! stop {
            ($slot:expr) => {
                match std::mem::replace($slot, Slot::Stopped) {
                    Slot::InProcess(u) => {
                        u.shutdown().await;
                        Ok(())
                    }
                    Slot::Child(c) => c.stop(patience).await.map(|_| ()),
                    Slot::Stopped => Err(Error::NotRunning(unit.to_string())),
                }
            };
        }
        match unit {
            UnitId::Gateway => match std::mem::replace(&mut self.gateway, Slot::Stopped) {
                Slot::InProcess(g) => {
                    g.shutdown_within(self.plan.grace).await;
                    Ok(())
                }
                Slot::Child(c) => c.stop(patience).await.map(|_| ()),
                Slot::Stopped => Err(Error::NotRunning(unit.to_string())),
            },
            UnitId::Su => stop!(&mut self.su),
            UnitId::Cu(i) => {
                let slot = self
                    .cus
                    .get_mut(i)
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?;
                stop!(slot)
            }
            UnitId::Router => {
                let slot = self
                    .router
                    .as_mut()
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?;
                stop!(slot)
            }
            UnitId::Mu => {
                let slot = self
                    .mu
                    .as_mut()
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?;
                stop!(slot)
            }
        }
    }

    /// Kill a unit binary at once (SIGKILL): a crash, for tests of what survives one. A unit in
    /// this process cannot crash alone, so that is an error.
    pub async fn kill_unit(&mut self, unit: UnitId) -> Result<(), Error> {
        fn kill<T>(slot: &mut Slot<T>, unit: UnitId) -> Result<ChildUnit, Error> {
            match std::mem::replace(slot, Slot::Stopped) {
                Slot::Child(c) => Ok(*c),
                Slot::Stopped => Err(Error::NotRunning(unit.to_string())),
                s @ Slot::InProcess(_) => {
                    *slot = s;
                    Err(Error::InProcess(
                        unit.to_string(),
                        "only a unit binary can be killed",
                    ))
                }
            }
        }
        let child = match unit {
            UnitId::Gateway => kill(&mut self.gateway, unit)?,
            UnitId::Su => kill(&mut self.su, unit)?,
            UnitId::Cu(i) => kill(
                self.cus
                    .get_mut(i)
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?,
                unit,
            )?,
            UnitId::Router => kill(
                self.router
                    .as_mut()
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?,
                unit,
            )?,
            UnitId::Mu => kill(
                self.mu
                    .as_mut()
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?,
                unit,
            )?,
        };
        child.kill().await
    }

    /// Start a stopped (or killed) unit again, on the same data and the same addresses.
    pub async fn start_unit(&mut self, unit: UnitId) -> Result<(), Error> {
        let running = match unit {
            UnitId::Gateway => !matches!(self.gateway, Slot::Stopped),
            UnitId::Su => !matches!(self.su, Slot::Stopped),
            UnitId::Cu(i) => !matches!(
                self.cus
                    .get(i)
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?,
                Slot::Stopped
            ),
            UnitId::Router => !matches!(
                self.router
                    .as_ref()
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?,
                Slot::Stopped
            ),
            UnitId::Mu => !matches!(
                self.mu
                    .as_ref()
                    .ok_or_else(|| Error::NoSuchUnit(unit.to_string()))?,
                Slot::Stopped
            ),
        };
        if running {
            return Err(Error::Start(unit.to_string(), "it is running".into()));
        }
        self.start_one(unit, true).await
    }

    /// Stop a unit cleanly and start it again on the same data and addresses.
    pub async fn restart_unit(&mut self, unit: UnitId) -> Result<(), Error> {
        self.stop_unit(unit).await?;
        self.start_unit(unit).await
    }

    async fn start_all(&mut self) -> Result<(), Error> {
        self.start_one(UnitId::Gateway, false).await?;
        self.start_one(UnitId::Su, false).await?;
        for i in 0..self.plan.cus {
            self.cus.push(Slot::Stopped);
            self.urls.cus.push(UnitAddrs::default());
            self.start_one(UnitId::Cu(i), false).await?;
        }
        if self.plan.cus > 1 {
            self.router = Some(Slot::Stopped);
            self.start_one(UnitId::Router, false).await?;
        }
        if self.plan.mu {
            self.mu = Some(Slot::Stopped);
            self.start_one(UnitId::Mu, false).await?;
        }
        Ok(())
    }

    /// The addresses `unit` is to listen on: the ones it had (`again`), else the planned ports.
    fn listen(&self, unit: UnitId, again: bool) -> UnitAddrs {
        let planned = |port: u16| UnitAddrs {
            http: flags::loopback(port),
            grpc: flags::loopback(flags::grpc_port(port)),
        };
        match unit {
            UnitId::Gateway if again => UnitAddrs {
                http: self.urls.gateway,
                grpc: self.urls.gateway,
            },
            UnitId::Gateway => planned(self.plan.gateway_port),
            UnitId::Su if again => self.urls.su,
            UnitId::Su => planned(self.plan.su_port),
            UnitId::Cu(i) if again => self.urls.cus.get(i).copied().unwrap_or_default(),
            UnitId::Cu(i) => {
                // Behind a router (which takes the CU port), CU i is on the CU port + 10 + 2i:
                // stable, so each keeps its place in the rendezvous hash across restarts.
                let first = if self.plan.cus > 1 {
                    ROUTED_CU_PORT_OFFSET
                } else {
                    0
                };
                let offset = u16::try_from(i.saturating_mul(2))
                    .unwrap_or(u16::MAX)
                    .saturating_add(first);
                match self.plan.cu_port {
                    0 => planned(0),
                    p => planned(p.saturating_add(offset)),
                }
            }
            UnitId::Router if again => self.urls.router.unwrap_or_default(),
            UnitId::Router => planned(self.plan.cu_port),
            UnitId::Mu if again => self.urls.mu.unwrap_or_default(),
            UnitId::Mu => planned(self.plan.mu_port),
        }
    }

    /// `unit`'s flags (without the program name).
    fn flags(&self, unit: UnitId, at: UnitAddrs, again: bool) -> Vec<String> {
        let dir = self.plan.unit_dir(unit);
        let gw = self.urls.gateway_url();
        let mut f = match unit {
            UnitId::Gateway => flags::gateway(&dir, at.http, &self.plan.block_interval),
            UnitId::Su => flags::server(&dir, at.http, at.grpc, &gw),
            UnitId::Cu(_) => flags::cu(&dir, at.http, at.grpc, &gw, &self.urls.su.grpc_url()),
            UnitId::Router => flags::router(&dir, at.http, at.grpc, &self.urls.cus),
            UnitId::Mu => {
                let cu = self.urls.cu().map(UnitAddrs::grpc_url).unwrap_or_default();
                let admin = if again { self.urls.mu_admin } else { None };
                flags::mu(&dir, at.http, at.grpc, &gw, &cu, admin)
            }
        };
        f.extend(match unit {
            UnitId::Gateway => Vec::new(),
            UnitId::Su => self.plan.su_flags.clone(),
            UnitId::Cu(_) => self.plan.cu_flags.clone(),
            UnitId::Router => Vec::new(),
            UnitId::Mu => self.plan.mu_flags.clone(),
        });
        if unit != UnitId::Gateway || matches!(self.plan.mode, Mode::Separate(_)) {
            f.extend([
                "--shutdown-grace".to_string(),
                format!("{}ms", self.plan.grace.as_millis()),
            ]);
        }
        f
    }

    async fn start_one(&mut self, unit: UnitId, again: bool) -> Result<(), Error> {
        let at = self.listen(unit, again);
        let args = self.flags(unit, at, again);
        let name = unit.binary();
        match self.plan.mode.clone() {
            Mode::Separate(bin_dir) => {
                let mut env = vec![(
                    ao_runtime::telemetry::ENV_SERVICE_NAME.to_string(),
                    flags::service_name(name),
                )];
                env.extend(self.plan.env.iter().cloned());
                let child = ChildUnit::start(Spawn {
                    name: name.to_string(),
                    exe: crate::child::binary(&bin_dir, name),
                    args,
                    env,
                })
                .await?;
                // The ready line says it listens; `/ready` that it can serve (a CU opens its
                // store after it listens, an SU learns a block height).
                child.wait_ready(crate::child::READY_TIMEOUT).await?;
                let http = child.addr("http")?;
                match unit {
                    UnitId::Gateway => {
                        self.urls.gateway = http;
                        self.gateway = Slot::Child(Box::new(child));
                    }
                    UnitId::Su => {
                        self.urls.su = UnitAddrs {
                            http,
                            grpc: child.addr("grpc")?,
                        };
                        self.su = Slot::Child(Box::new(child));
                        if !again {
                            self.urls.scheduler =
                                info_address(&self.urls.su.http_url(), "/", name).await?;
                        }
                    }
                    UnitId::Cu(i) => {
                        let addrs = UnitAddrs {
                            http,
                            grpc: child.addr("grpc")?,
                        };
                        self.put_cu(i, Slot::Child(Box::new(child)), addrs);
                    }
                    UnitId::Router => {
                        self.urls.router = Some(UnitAddrs {
                            http,
                            grpc: child.addr("grpc")?,
                        });
                        self.router = Some(Slot::Child(Box::new(child)));
                    }
                    UnitId::Mu => {
                        let addrs = UnitAddrs {
                            http,
                            grpc: child.addr("grpc")?,
                        };
                        self.urls.mu = Some(addrs);
                        self.urls.mu_admin = Some(child.addr("admin")?);
                        self.mu = Some(Slot::Child(Box::new(child)));
                        if !again {
                            self.urls.mu_address =
                                Some(info_address(&addrs.http_url(), "/health", name).await?);
                        }
                    }
                }
            }
            Mode::InProcess => {
                let argv = std::iter::once(name.to_string()).chain(args);
                let cfg_err = |e: String| Error::Config(unit.to_string(), e);
                let start_err = |e: String| Error::Start(unit.to_string(), e);
                match unit {
                    UnitId::Gateway => {
                        let mut g = ao_arweave::local::Config::new(self.plan.unit_dir(unit));
                        g.http_addr = at.http;
                        g.block_interval =
                            ao_arweave::local::parse_duration(&self.plan.block_interval)
                                .map_err(|e| cfg_err(format!("block interval: {e}")))?;
                        let gw = ao_arweave::local::serve(g)
                            .await
                            .map_err(|e| start_err(e.to_string()))?;
                        self.urls.gateway = gw.http_addr();
                        self.gateway = Slot::InProcess(gw);
                    }
                    UnitId::Su => {
                        let mut c = ao_su::SuArgs::try_parse_from(argv)
                            .map_err(|e| cfg_err(e.to_string()))?
                            .into_config()
                            .map_err(|e| cfg_err(e.to_string()))?;
                        if let Some(t) = &self.plan.tweak_su {
                            t(&mut c);
                        }
                        let su = ao_su::serve(c)
                            .await
                            .map_err(|e| start_err(e.to_string()))?;
                        self.urls.su = UnitAddrs {
                            http: su.http_addr,
                            grpc: su.grpc_addr,
                        };
                        self.urls.scheduler = su.address.clone();
                        self.su = Slot::InProcess(su);
                    }
                    UnitId::Cu(i) => {
                        let mut c = ao_cu::config::CuArgs::try_parse_from(argv)
                            .map_err(|e| cfg_err(e.to_string()))?
                            .into_config()
                            .map_err(|e| cfg_err(e.to_string()))?;
                        if let Some(t) = &self.plan.tweak_cu {
                            t(&mut c);
                        }
                        let cu = ao_cu::serve(c)
                            .await
                            .map_err(|e| start_err(e.to_string()))?;
                        let addrs = UnitAddrs {
                            http: cu.http_addr,
                            grpc: cu.grpc_addr,
                        };
                        self.put_cu(i, Slot::InProcess(cu), addrs);
                    }
                    UnitId::Router => {
                        let c = ao_router::config::RouterArgs::try_parse_from(argv)
                            .map_err(|e| cfg_err(e.to_string()))?
                            .into_config()
                            .map_err(|e| cfg_err(e.to_string()))?;
                        let router = ao_router::serve(c)
                            .await
                            .map_err(|e| start_err(e.to_string()))?;
                        self.urls.router = Some(UnitAddrs {
                            http: router.http_addr,
                            grpc: router.grpc_addr,
                        });
                        self.router = Some(Slot::InProcess(router));
                    }
                    UnitId::Mu => {
                        let mut c = ao_mu::MuArgs::try_parse_from(argv)
                            .map_err(|e| cfg_err(e.to_string()))?
                            .into_config()
                            .map_err(|e| cfg_err(e.to_string()))?;
                        if let Some(t) = &self.plan.tweak_mu {
                            t(&mut c);
                        }
                        let mu = ao_mu::serve(c)
                            .await
                            .map_err(|e| start_err(e.to_string()))?;
                        self.urls.mu = Some(UnitAddrs {
                            http: mu.http_addr,
                            grpc: mu.grpc_addr,
                        });
                        self.urls.mu_admin = Some(mu.admin_addr);
                        self.urls.mu_address = Some(mu.address.clone());
                        self.mu = Some(Slot::InProcess(mu));
                    }
                }
            }
        }
        Ok(())
    }

    fn put_cu(&mut self, i: usize, slot: Slot<ao_cu::RunningCu>, addrs: UnitAddrs) {
        if let Some(s) = self.cus.get_mut(i) {
            *s = slot;
        }
        if let Some(a) = self.urls.cus.get_mut(i) {
            *a = addrs;
        }
    }
}

fn slot_child<T>(slot: &mut Slot<T>) -> Option<&mut ChildUnit> {
    match slot {
        Slot::Child(c) => Some(c.as_mut()),
        _ => None,
    }
}

/// The `address` field of a unit's JSON answer at `path` (the SU's `/`, the MU's `/health`).
async fn info_address(base: &str, path: &str, unit: &str) -> Result<String, Error> {
    let err = |e: String| Error::Info(unit.to_string(), e);
    let http = ao_arweave::HttpClient::new(&ao_arweave::ClientConfig::default())
        .map_err(|e| err(e.to_string()))?;
    let r = http
        .reqwest()
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    let body = r.bytes().await.map_err(|e| err(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| err(e.to_string()))?;
    v["address"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| err(format!("no address in {v}")))
}
