//! The CUs of a pool: from a list (`--cu`) or from DNS (`--cu-dns`, re-resolved every
//! [`DNS_REFRESH`]), each health-checked on `/ready` every [`HEALTH_INTERVAL`]. A member that
//! fails a check, or a forwarded request, is ejected at once; its processes go to their next
//! choice until a check finds it ready again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ao_proto::compute::v1::compute_client::ComputeClient;
use ao_runtime::propagation::{InjectContext, TracedChannel};

use crate::metrics::Metrics;
use crate::rendezvous;

/// How often DNS members are re-resolved: a Kubernetes headless Service changes when a pod
/// starts or stops; a few seconds follows a rolling update closely without loading the resolver.
pub const DNS_REFRESH: Duration = Duration::from_secs(5);

/// How often each member's `/ready` is read: a second bounds how long a dead or draining CU that
/// gets no traffic keeps its processes, and how soon a restarted one gets them back.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// Longest a `/ready` check waits: a CU answers it from memory in microseconds; two seconds
/// means it is stuck, unreachable, or its machine is overloaded.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks in a row that must time out before a member is ejected for it: a CU whose machine is
/// overloaded for a moment answers late but is alive, and ejecting it would move its processes
/// (a replay each) and back. A check refused or answered "not ready" ejects at once, and so
/// does a request that fails on the member.
pub const HEALTH_TIMEOUTS_TO_EJECT: u32 = 3;

/// How long after a membership change (a member added, removed, ejected or readmitted) the
/// router names the next choice in `ao-handoff-from`: long enough for the processes that moved to
/// be asked for at least once and fetch their warm state from where they were.
pub const HANDOFF_WINDOW: Duration = Duration::from_secs(120);

/// Longest a connection to a member may take: on one network a CU accepts in milliseconds; past
/// two seconds the request is better retried on the next choice.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The gRPC port of a member whose gRPC URL is not given: its HTTP port plus one, the CU's own
/// default pair (6363/6364).
pub const DEFAULT_GRPC_PORT_OFFSET: u16 = 1;

/// Largest gRPC message forwarded (a results page, a dry-run result): the CU's own limit.
pub const MAX_GRPC_MESSAGE: usize = 64 * 1024 * 1024;

/// A `--cu` value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The URL is not `http://HOST:PORT`.
    #[error("member {0:?}: {1}")]
    Url(String, String),
    /// A `weight=` that is not a positive number.
    #[error("member {0:?}: weight {1:?} is not a positive number")]
    Weight(String, String),
    /// An option other than `grpc=` or `weight=`.
    #[error("member {0:?}: unknown option {1:?} (expected grpc=URL or weight=N)")]
    Option(String, String),
    /// `--cu-dns` is not `NAME:PORT`.
    #[error("--cu-dns {0:?} is not NAME:PORT")]
    Dns(String),
}

/// What a member is configured as: `URL[;grpc=URL][;weight=N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSpec {
    /// HTTP base URL, without a trailing slash; also the member's id in the hash.
    pub http: String,
    /// gRPC URL of its Compute service.
    pub grpc: String,
    /// Relative share of processes.
    pub weight: f64,
}

/// Split `http://host:port` into its host and port.
fn host_port(url: &str) -> Option<(&str, u16)> {
    let rest = url.strip_prefix("http://")?;
    let (host, port) = rest.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then_some((host, port))
}

impl MemberSpec {
    /// Parse `URL[;grpc=URL][;weight=N]`; the gRPC URL defaults to the HTTP port plus
    /// `grpc_offset`.
    pub fn parse(s: &str, grpc_offset: u16) -> Result<MemberSpec, MemberError> {
        let mut parts = s.split(';').map(str::trim);
        let http = parts
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let Some((host, port)) = host_port(&http) else {
            return Err(MemberError::Url(
                s.into(),
                "expected http://HOST:PORT".into(),
            ));
        };
        let mut spec = MemberSpec {
            grpc: grpc_url(host, port, grpc_offset).ok_or_else(|| {
                MemberError::Url(s.into(), "the gRPC port is out of range".into())
            })?,
            http: http.clone(),
            weight: 1.0,
        };
        for opt in parts.filter(|p| !p.is_empty()) {
            match opt.split_once('=') {
                Some(("grpc", url)) => {
                    if host_port(url).is_none() {
                        return Err(MemberError::Url(
                            s.into(),
                            format!("grpc={url} is not http://HOST:PORT"),
                        ));
                    }
                    spec.grpc = url.trim_end_matches('/').to_string();
                }
                Some(("weight", w)) => {
                    spec.weight = w
                        .parse::<f64>()
                        .ok()
                        .filter(|w| w.is_finite() && *w > 0.0)
                        .ok_or_else(|| MemberError::Weight(s.into(), w.into()))?;
                }
                _ => return Err(MemberError::Option(s.into(), opt.into())),
            }
        }
        Ok(spec)
    }
}

fn grpc_url(host: &str, port: u16, offset: u16) -> Option<String> {
    port.checked_add(offset)
        .map(|p| format!("http://{host}:{p}"))
}

/// Parse `--cu-dns NAME:PORT`.
pub fn parse_dns(s: &str) -> Result<(String, u16), MemberError> {
    let (name, port) = s
        .rsplit_once(':')
        .ok_or_else(|| MemberError::Dns(s.into()))?;
    let port = port.parse().map_err(|_| MemberError::Dns(s.into()))?;
    if name.is_empty() {
        return Err(MemberError::Dns(s.into()));
    }
    Ok((name.to_string(), port))
}

/// Why a member is not getting traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its last check passed and no request failed on it since.
    Healthy,
    /// Not checked yet: treated as healthy, so a router that just started sends traffic at
    /// once rather than waiting a check interval.
    Unchecked,
    /// `/ready` answered `draining`: it is shutting down.
    Draining,
    /// A check or a request failed; the reason.
    Ejected(String),
}

impl State {
    /// Whether the member gets traffic.
    pub fn usable(&self) -> bool {
        matches!(self, State::Healthy | State::Unchecked)
    }

    /// The word `/route` shows.
    pub fn label(&self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Unchecked => "unchecked",
            State::Draining => "draining",
            State::Ejected(_) => "ejected",
        }
    }
}

/// One member with its health and its clients.
pub struct Member {
    /// What it was configured as.
    pub spec: MemberSpec,
    /// [`rendezvous::member_key`] of its id.
    pub key: u64,
    state: Mutex<State>,
    /// Whether a request or check ever failed since it was last healthy (for the ejection count).
    ejected: AtomicBool,
    /// Health checks timed out in a row ([`HEALTH_TIMEOUTS_TO_EJECT`]).
    timeouts: std::sync::atomic::AtomicU32,
    /// A gRPC client of its Compute service (connected on first use).
    pub grpc: ComputeClient<TracedChannel>,
    /// Its wallet address as its `GET /` reports it, once asked ([`crate::min_stake`]).
    address: Mutex<Option<String>>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("spec", &self.spec)
            .field("state", &self.state())
            .finish()
    }
}

impl Member {
    fn new(spec: MemberSpec) -> Result<Member, MemberError> {
        let channel = tonic::transport::Endpoint::from_shared(spec.grpc.clone())
            .map_err(|e| MemberError::Url(spec.grpc.clone(), e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Member {
            key: rendezvous::member_key(&spec.http),
            grpc: ComputeClient::with_interceptor(channel, InjectContext)
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(MAX_GRPC_MESSAGE),
            spec,
            state: Mutex::new(State::Unchecked),
            ejected: AtomicBool::new(false),
            timeouts: std::sync::atomic::AtomicU32::new(0),
            address: Mutex::new(None),
        })
    }

    /// Its state now.
    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Its HTTP base URL (its id).
    pub fn url(&self) -> &str {
        &self.spec.http
    }

    /// Its wallet address, when known.
    pub fn address(&self) -> Option<String> {
        self.address
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Remember its wallet address.
    pub fn set_address(&self, address: String) {
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = Some(address);
    }

    /// How an `ao-handoff-from` hint names it: `HTTP-URL;grpc=URL`, so the CU taking a process
    /// over reads the state over gRPC `State`.
    pub fn peer(&self) -> String {
        format!("{};grpc={}", self.spec.http, self.spec.grpc)
    }
}

/// The members of one pool (the evaluation pool, or the dry-run pool) and when they last changed.
pub struct Pool {
    /// `evaluation` or `dry-run`, for logs and metrics.
    pub name: &'static str,
    members: RwLock<Arc<Vec<Arc<Member>>>>,
    changed: Mutex<Instant>,
    metrics: Arc<Metrics>,
}

/// A member's place for one process, with its state, as `/route` shows it.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The member.
    pub member: Arc<Member>,
    /// Its score for the process.
    pub score: f64,
    /// Its state when ranked.
    pub state: State,
}

impl Pool {
    /// A pool of `specs` (more may come from DNS).
    pub fn new(
        name: &'static str,
        specs: Vec<MemberSpec>,
        metrics: Arc<Metrics>,
    ) -> Result<Pool, MemberError> {
        let members = specs
            .into_iter()
            .map(|s| Member::new(s).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pool {
            name,
            members: RwLock::new(Arc::new(members)),
            // A router that just started cannot know what changed while it was down (a member
            // added with the restart): its start counts as a change, for the handoff hint.
            changed: Mutex::new(Instant::now()),
            metrics,
        })
    }

    /// The members now.
    pub fn members(&self) -> Arc<Vec<Arc<Member>>> {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every member ranked for `pid`, best first, with its state.
    pub fn ranking(&self, pid: &str) -> Vec<Choice> {
        let members = self.members();
        let keys: Vec<u64> = members.iter().map(|m| m.key).collect();
        rendezvous::rank_keyed(&keys, members.iter().map(|m| m.spec.weight), pid)
            .into_iter()
            .map(|r| {
                let member = members[r.index].clone();
                Choice {
                    state: member.state(),
                    member,
                    score: r.score,
                }
            })
            .collect()
    }

    /// Whether the membership changed within [`HANDOFF_WINDOW`].
    pub fn changed_recently(&self) -> bool {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            < HANDOFF_WINDOW
    }

    fn touch(&self) {
        *self.changed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn set_state(&self, member: &Member, new: State) {
        let mut s = member.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s == new {
            return;
        }
        let was_usable = s.usable();
        let now_usable = new.usable();
        match (&new, was_usable, now_usable) {
            (State::Healthy, false, true) => {
                tracing::info!(pool = self.name, member = member.url(), "member readmitted");
            }
            (_, true, false) => {
                tracing::warn!(pool = self.name, member = member.url(), state = ?new, "member ejected");
                if !member.ejected.swap(true, Ordering::AcqRel) {
                    self.metrics.ejection(member.url());
                }
            }
            _ => {}
        }
        if now_usable {
            member.ejected.store(false, Ordering::Release);
        }
        if was_usable != now_usable {
            self.touch();
        }
        *s = new;
        drop(s);
        self.publish_health();
    }

    /// Eject `member` now: a request on it failed before any answer.
    pub fn eject(&self, member: &Member, why: String) {
        self.set_state(member, State::Ejected(why));
    }

    fn publish_health(&self) {
        let members = self.members();
        let healthy = members.iter().filter(|m| m.state().usable()).count();
        self.metrics
            .set_members(self.name, members.len() as u64, healthy as u64);
    }

    /// Whether any member may get traffic (the router's readiness).
    pub fn any_usable(&self) -> bool {
        self.members().iter().any(|m| m.state().usable())
    }

    /// Replace the DNS-found members with `specs` (list members kept), keeping the state of
    /// those that stay.
    fn set_dns_members(&self, list: &[MemberSpec], found: Vec<MemberSpec>) {
        let current = self.members();
        let mut wanted: Vec<MemberSpec> = list.to_vec();
        for f in found {
            if !wanted.iter().any(|w| w.http == f.http) {
                wanted.push(f);
            }
        }
        let same = wanted.len() == current.len()
            && wanted
                .iter()
                .all(|w| current.iter().any(|c| c.spec.http == w.http));
        if same {
            return;
        }
        let mut next = Vec::with_capacity(wanted.len());
        for w in wanted {
            if let Some(c) = current.iter().find(|c| c.spec.http == w.http) {
                next.push(c.clone());
            } else {
                match Member::new(w) {
                    Ok(m) => {
                        tracing::info!(pool = self.name, member = m.url(), "member added (DNS)");
                        next.push(Arc::new(m));
                    }
                    Err(e) => tracing::warn!(pool = self.name, "DNS member refused: {e}"),
                }
            }
        }
        for c in current.iter() {
            if !next.iter().any(|n| n.spec.http == c.spec.http) {
                tracing::info!(pool = self.name, member = c.url(), "member removed (DNS)");
            }
        }
        *self.members.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.touch();
        self.publish_health();
    }

    /// Read every member's `/ready` once, concurrently.
    pub async fn check_all(&self, http: &reqwest::Client) {
        let members = self.members();
        let checks = members.iter().map(|m| async move {
            let state = check(http, m.url()).await;
            (m.clone(), state)
        });
        for (m, state) in futures_util::future::join_all(checks).await {
            let state = match state {
                Check::Answered(state) => {
                    m.timeouts.store(0, Ordering::Relaxed);
                    state
                }
                Check::TimedOut(why) => {
                    let n = m.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                    if n < HEALTH_TIMEOUTS_TO_EJECT && m.state().usable() {
                        tracing::info!(pool = self.name, member = m.url(), "{why} ({n} in a row)");
                        continue;
                    }
                    State::Ejected(why)
                }
            };
            self.set_state(&m, state);
        }
        self.publish_health();
    }

    /// Health checks every [`HEALTH_INTERVAL`] until `stop` resolves.
    pub async fn run_health(
        self: Arc<Self>,
        http: reqwest::Client,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(HEALTH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => self.check_all(&http).await,
            }
        }
    }

    /// Re-resolve `name:port` every [`DNS_REFRESH`] until `stop` resolves; each A/AAAA record is
    /// a member `http://IP:port` (gRPC on `port + grpc_offset`).
    pub async fn run_dns(
        self: Arc<Self>,
        list: Vec<MemberSpec>,
        name: String,
        port: u16,
        grpc_offset: u16,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(DNS_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {
                    match resolve(&name, port, grpc_offset).await {
                        Ok(found) => self.set_dns_members(&list, found),
                        // Keep the members we have: a resolver hiccup must not empty the pool.
                        Err(e) => tracing::warn!(pool = self.name, "cannot resolve {name}: {e}"),
                    }
                }
            }
        }
    }
}

/// The members `name:port` resolves to now, sorted (so an unchanged answer compares equal).
pub async fn resolve(name: &str, port: u16, grpc_offset: u16) -> std::io::Result<Vec<MemberSpec>> {
    let mut addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((name, port)).await?.collect();
    addrs.sort();
    addrs.dedup();
    Ok(addrs
        .into_iter()
        .filter_map(|a| {
            let host = match a.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            };
            Some(MemberSpec {
                grpc: grpc_url(&host, a.port(), grpc_offset)?,
                http: format!("http://{host}:{}", a.port()),
                weight: 1.0,
            })
        })
        .collect())
}

/// What one `/ready` read found.
enum Check {
    /// An answer, or a refused connection: the state it shows.
    Answered(State),
    /// No answer within [`HEALTH_TIMEOUT`]; the reason.
    TimedOut(String),
}

/// One `/ready` read: healthy on 200, draining when it says so, else ejected with the reason.
async fn check(http: &reqwest::Client, url: &str) -> Check {
    Check::Answered(match ready(http, url).await {
        Err(e) if e.is_timeout() => {
            return Check::TimedOut(format!("/ready failed: {}", crate::error_chain(&e)));
        }
        Err(e) => State::Ejected(format!("/ready failed: {}", crate::error_chain(&e))),
        Ok(state) => state,
    })
}

/// The state `url`'s `/ready` answers.
async fn ready(http: &reqwest::Client, url: &str) -> Result<State, reqwest::Error> {
    let answer = http
        .get(format!("{url}/ready"))
        .timeout(HEALTH_TIMEOUT)
        .send()
        .await;
    Ok(match answer? {
        r if r.status().is_success() => State::Healthy,
        r => {
            let status = r.status().as_u16();
            let body: serde_json::Value = match r.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
                Err(_) => serde_json::Value::Null,
            };
            if body["status"] == "draining" {
                State::Draining
            } else {
                State::Ejected(format!(
                    "/ready answered {status}: {}",
                    body["reason"].as_str().unwrap_or("no reason given")
                ))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_specs_parse() {
        let m = MemberSpec::parse("http://10.0.0.1:6363/", 1).unwrap();
        assert_eq!(m.http, "http://10.0.0.1:6363");
        assert_eq!(m.grpc, "http://10.0.0.1:6364");
        assert_eq!(m.weight, 1.0);
        let m = MemberSpec::parse("http://cu-0.cu:6363;grpc=http://cu-0.cu:7000;weight=2.5", 1)
            .unwrap();
        assert_eq!(m.grpc, "http://cu-0.cu:7000");
        assert_eq!(m.weight, 2.5);
        assert!(MemberSpec::parse("10.0.0.1:6363", 1).is_err());
        assert!(MemberSpec::parse("http://h:6363;weight=0", 1).is_err());
        assert!(MemberSpec::parse("http://h:6363;weight=-1", 1).is_err());
        assert!(MemberSpec::parse("http://h:6363;colour=red", 1).is_err());
        assert!(MemberSpec::parse("http://h:65535", 1).is_err());
        assert_eq!(
            parse_dns("cu.ao.svc:6363").unwrap(),
            ("cu.ao.svc".into(), 6363)
        );
        assert!(parse_dns("cu.ao.svc").is_err());
    }

    #[tokio::test]
    async fn localhost_resolves_to_members() {
        let found = resolve("localhost", 6363, 1).await.unwrap();
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|m| m.http.ends_with(":6363") && m.grpc.ends_with(":6364"))
        );
    }
}
