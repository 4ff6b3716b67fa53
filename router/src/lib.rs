//! `ao-router`: one address for a pool of CUs. A CU's limit is memory, so operators run several
//! and each process must go to the CU that already holds it warm; the router serves the CU's AO
//! HTTP API and Compute gRPC service and forwards each request to the CU that owns its process by
//! rendezvous hashing over the healthy members. The MU's `--cu-url` and aoconnect's `CU_URL`
//! point at it.
//!
//! Modules, one concern each:
//! - [`rendezvous`]: which member owns a process (pure: weighted highest-random-weight hashing).
//! - [`members`]: the pool, from `--cu` and `--cu-dns`, health-checked on `/ready`, ejection.
//! - [`handoff`]: the `ao-handoff-from` hint naming where a moved process was warm (pure).
//! - [`forward_http`]: forwarding an HTTP request, streamed, retried once on the next choice.
//! - [`forward_grpc`]: the Compute service, forwarding each call the same way.
//! - [`verify`]: `--verify-rate`, results compared across two CUs.
//! - [`min_stake`]: `min-stake`: attested results from staked CUs until their agreeing stake
//!   reaches the amount asked (409 on disagreement, 503 when the pool holds less).
//! - [`http`]: the routes, `/route/{pid}` included. [`metrics`]: `ao_router_*` on `/metrics`.
//! - [`config`]: flags and `AO_*` environment.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use ao_runtime::servers::Servers;

pub mod config;
pub mod forward_grpc;
pub mod forward_http;
pub mod handoff;
pub mod http;
pub mod members;
pub mod metrics;
pub mod min_stake;
pub mod rendezvous;
pub mod verify;

/// What the handlers share.
pub struct Shared {
    /// The evaluation pool: every request but dry-runs (and dry-runs without `--dry-run-cu`).
    pub pool: Arc<members::Pool>,
    /// The read pool of `--dry-run-cu`, if any.
    pub dry_runs: Option<Arc<members::Pool>>,
    /// The HTTP client to members (pooled connections).
    pub http: reqwest::Client,
    /// Counters.
    pub metrics: Arc<metrics::Metrics>,
    /// `--verify-rate`, when above 0.
    pub verify: Option<verify::Verifier>,
    /// Where stakes come from for `min-stake` requests.
    pub stakes: min_stake::Stakes,
}

impl Shared {
    /// The pool dry-runs go to.
    pub fn dry_run_pool(&self) -> &members::Pool {
        self.dry_runs.as_deref().unwrap_or(&self.pool)
    }
}

/// Why the router cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener cannot be bound.
    #[error(transparent)]
    Bind(#[from] ao_runtime::servers::BindError),
    /// A member is malformed.
    #[error(transparent)]
    Member(#[from] members::MemberError),
    /// No member at all.
    #[error("no CU given: pass --cu URL (repeatable) or --cu-dns NAME:PORT")]
    NoMembers,
    /// The HTTP client cannot be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// A running router.
pub struct RunningRouter {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The shared state (pools, metrics).
    pub shared: Arc<Shared>,
    servers: Servers,
    grace: std::time::Duration,
}

impl RunningRouter {
    /// Drain: not ready at once, stop accepting, let forwarded requests finish within the grace.
    pub async fn shutdown(self) {
        let deadlines = ao_runtime::shutdown::Deadlines::starting_now(self.grace);
        if !self.servers.stop(deadlines.serving).await {
            tracing::warn!("requests were still being forwarded at the end of the grace");
        }
    }
}

/// The error and its sources on one line (reqwest's top message alone says "error sending
/// request", not why).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Start the router: pools, health checks and DNS refresh, HTTP and gRPC listeners.
pub async fn serve(config: config::Config) -> Result<RunningRouter, StartError> {
    if config.members.is_empty() && config.dns.is_none() {
        return Err(StartError::NoMembers);
    }
    let metrics = Arc::new(metrics::Metrics::default());
    // reqwest is built without a default TLS provider (see the workspace Cargo.toml); without one
    // installed, building a client panics. Already installed (the devnet in one process): fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .connect_timeout(members::CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| StartError::Client(error_chain(&e)))?;
    let pool = Arc::new(members::Pool::new(
        "evaluation",
        config.members.clone(),
        metrics.clone(),
    )?);
    let dry_runs = if config.dry_run_members.is_empty() {
        None
    } else {
        Some(Arc::new(members::Pool::new(
            "dry-run",
            config.dry_run_members.clone(),
            metrics.clone(),
        )?))
    };
    // One round of checks before serving, so the first requests do not go to a dead member.
    pool.check_all(&http).await;
    if let Some(p) = &dry_runs {
        p.check_all(&http).await;
    }
    let verify = (config.verify_rate > 0.0).then(|| verify::Verifier {
        rate: config.verify_rate.min(1.0),
        dir: config.data_dir.join("mismatches"),
    });
    let shared = Arc::new(Shared {
        pool: pool.clone(),
        dry_runs: dry_runs.clone(),
        http: http.clone(),
        metrics,
        verify,
        stakes: min_stake::Stakes::new(config.stakes.clone(), config.registry.clone()),
    });

    let (http_listener, http_addr) = ao_runtime::servers::bind(config.http_addr).await?;
    let (grpc_listener, grpc_addr) = ao_runtime::servers::bind(config.grpc_addr).await?;
    let health = ao_runtime::health::Health::new();
    let p = pool.clone();
    health.add_check("members", move || {
        if p.any_usable() {
            Ok(())
        } else {
            Err("no CU of the pool is healthy".into())
        }
    });
    let mut servers = Servers::new(health, shared.metrics.server.clone());
    for p in std::iter::once(&pool).chain(dry_runs.iter()) {
        tokio::spawn(p.clone().run_health(http.clone(), servers.stopping()));
    }
    if let Some((name, port)) = config.dns.clone() {
        tokio::spawn(pool.clone().run_dns(
            config.members.clone(),
            name,
            port,
            config.grpc_port_offset,
            servers.stopping(),
        ));
    }
    servers.http(
        "http",
        http_listener,
        http::router(shared.clone()),
        config.http_limits.clone(),
        true,
    );
    let grpc = ao_runtime::servers::grpc_server(&shared.metrics.server)
        .add_service(forward_grpc::service(shared.clone()));
    servers
        .grpc("grpc", grpc_listener, grpc, &[forward_grpc::SERVICE_NAME])
        .await;
    tracing::info!(%http_addr, %grpc_addr, members = pool.members().len(), "router serving");
    Ok(RunningRouter {
        http_addr,
        grpc_addr,
        shared,
        servers,
        grace: config.shutdown_grace,
    })
}
