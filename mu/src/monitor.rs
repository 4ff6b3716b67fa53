//! Cron monitors: for each monitored process, every tick reads the CU's new cron results and
//! queues their outboxes (spec 3.7). The monitor's cursor and the task holding the tick's results
//! are written in one batch, so a restart neither skips nor repeats a tick; monitors survive
//! restarts because they live in the store.

use std::sync::Arc;
use std::time::Duration;

use crate::ingress::MuError;
use crate::queue::Mu;
use crate::store::Monitor;

/// Cron results read per process per tick.
pub const CRON_PAGE: u32 = 50;

/// Start monitoring `pid` (its SU must know it). The cursor starts at its newest result, so
/// only crons after now are pushed.
pub async fn start(mu: &Arc<Mu>, pid: &str) -> Result<(), MuError> {
    if mu
        .store
        .monitor(pid)
        .map_err(|e| MuError::Unavailable(e.to_string()))?
        .is_some()
    {
        return Err(MuError::Conflict(format!(
            "process {pid} is already monitored"
        )));
    }
    mu.process_info(pid).await.map_err(|e| match e {
        crate::units::UnitError::Refused(s, m) => MuError::Refused(s, m),
        other => MuError::Unavailable(other.to_string()),
    })?;
    let cursor = mu
        .cu
        .latest_cursor(pid)
        .await
        .map_err(|e| MuError::Unavailable(e.to_string()))?;
    mu.store
        .put_monitor(pid, &Monitor { cursor }, None)
        .await
        .map_err(|e| MuError::Unavailable(e.to_string()))
}

/// Stop monitoring `pid`.
pub async fn stop(mu: &Arc<Mu>, pid: &str) -> Result<(), MuError> {
    if mu
        .store
        .monitor(pid)
        .map_err(|e| MuError::Unavailable(e.to_string()))?
        .is_none()
    {
        return Err(MuError::NotFound(format!("process {pid} is not monitored")));
    }
    mu.store
        .delete_monitor(pid)
        .await
        .map_err(|e| MuError::Unavailable(e.to_string()))
}

/// One tick for one process: read new cron results, queue them, move the cursor.
pub async fn tick(mu: &Arc<Mu>, pid: &str) -> Result<usize, MuError> {
    let Some(m) = mu
        .store
        .monitor(pid)
        .map_err(|e| MuError::Unavailable(e.to_string()))?
    else {
        return Ok(0);
    };
    let edges = mu
        .cu
        .cron(pid, m.cursor.clone(), CRON_PAGE)
        .await
        .map_err(|e| MuError::Unavailable(e.to_string()))?;
    let Some(last) = edges.last() else {
        return Ok(0);
    };
    let results: Vec<_> = edges.iter().map(|e| e.result.clone()).collect();
    let task = Mu::results_task(pid, format!("cron:{pid}:{}", last.cursor), &results);
    let cursor = Some(last.cursor.clone());
    mu.store
        .put_monitor(pid, &Monitor { cursor }, Some(&task))
        .await
        .map_err(|e| MuError::Unavailable(e.to_string()))?;
    mu.metrics.cron(results.len() as u64);
    mu.drive(task);
    Ok(results.len())
}

/// The background loop: a tick for every monitor each `interval`.
pub fn spawn(mu: Arc<Mu>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let monitors = match mu.store.monitors() {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!("cannot read monitors: {e}");
                    continue;
                }
            };
            for (pid, _) in monitors {
                if let Err(e) = tick(&mu, &pid).await {
                    tracing::warn!(process = %pid, "cron tick failed: {e}");
                }
            }
        }
    })
}
