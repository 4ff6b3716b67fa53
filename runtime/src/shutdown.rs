//! Graceful shutdown within a bounded grace: after SIGTERM a unit drains (not ready at once, no new
//! connections, requests in flight finish), flushes what must be flushed, and exits before the
//! orchestrator's SIGKILL.

use std::future::Future;
use std::time::{Duration, Instant};

/// Default `--shutdown-grace`: Kubernetes sends SIGKILL 30 s after SIGTERM
/// (`terminationGracePeriodSeconds`); 25 s leaves 5 s for the process to exit and for the kubelet's
/// own delays, so the drain never ends in a SIGKILL.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Environment variable behind `--shutdown-grace`.
pub const ENV_SHUTDOWN_GRACE: &str = "AO_SHUTDOWN_GRACE";

/// Share of the grace (percent) requests in flight may use; the rest is kept for the flush after
/// them (CU checkpoints, closing stores), which can only start once the servers are done and must
/// still end inside the grace.
pub const SERVING_SHARE_PERCENT: u32 = 60;

/// Exit status when the shutdown overran its grace: not 0, so a supervisor sees that the drain was
/// cut short (what was acknowledged is durable anyway; only a flush may be incomplete).
pub const EXIT_GRACE_EXCEEDED: i32 = 1;

/// The deadlines of one shutdown, from the moment it began.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// When servers still busy are cut off.
    pub serving: Instant,
    /// When everything, flush included, must be done.
    pub end: Instant,
}

impl Deadlines {
    /// The deadlines of a shutdown starting now with `grace`.
    pub fn starting_now(grace: Duration) -> Deadlines {
        let start = Instant::now();
        Deadlines {
            serving: start + grace * SERVING_SHARE_PERCENT / 100,
            end: start + grace,
        }
    }
}

/// Await a unit's `shutdown` for at most `grace`; past it, log and exit the process at once with
/// [`EXIT_GRACE_EXCEEDED`], rather than wait on a stuck flush (dropping the async runtime would
/// wait for blocking tasks without bound). For binaries' `main` only.
pub async fn within_grace<F: Future>(grace: Duration, shutdown: F) -> F::Output {
    match tokio::time::timeout(grace, shutdown).await {
        Ok(v) => v,
        Err(_) => {
            tracing::error!("shutdown did not finish within {grace:?}; exiting now");
            std::process::exit(EXIT_GRACE_EXCEEDED)
        }
    }
}
