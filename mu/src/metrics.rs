//! The MU's metrics, served as Prometheus text on `/metrics` with the servers' latency
//! histograms and the process metrics ([`ao_runtime::metrics`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ao_runtime::metrics::{Exposition, ServerMetrics};

use crate::store::{Stage, Store};

/// Prefix of every MU metric.
pub const PREFIX: &str = "ao_mu";

/// Tasks read from each index of the store per scrape at most: a scrape every 15 s must stay
/// cheap while a backlog of millions builds up; past it the queue gauges are lower bounds (and
/// already say what an operator needs: the queue is huge).
pub const MAX_SCRAPE_SCAN: usize = 100_000;

/// Counters of what the MU did since it started.
pub struct Metrics {
    received: AtomicU64,
    refused: AtomicU64,
    pushed: AtomicU64,
    uploaded: AtomicU64,
    spawned: AtomicU64,
    assigned: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    rate_limited: AtomicU64,
    cron_results: AtomicU64,
    /// The HTTP and gRPC servers' latency histograms.
    pub server: Arc<ServerMetrics>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            received: AtomicU64::default(),
            refused: AtomicU64::default(),
            pushed: AtomicU64::default(),
            uploaded: AtomicU64::default(),
            spawned: AtomicU64::default(),
            assigned: AtomicU64::default(),
            retried: AtomicU64::default(),
            dead_lettered: AtomicU64::default(),
            rate_limited: AtomicU64::default(),
            cron_results: AtomicU64::default(),
            server: ServerMetrics::new(PREFIX),
        }
    }
}

macro_rules! counter {
    ($($name:ident),*) => {
        impl Metrics {
            $(
                #[doc = concat!("Count one `", stringify!($name), "`.")]
                pub fn $name(&self) {
                    self.$name.fetch_add(1, Ordering::Relaxed);
                }
            )*
        }
    };
}

counter!(
    received,
    refused,
    pushed,
    uploaded,
    spawned,
    assigned,
    retried,
    dead_lettered,
    rate_limited,
    cron_results
);

impl Metrics {
    /// Count `n` cron results read for pushing.
    pub fn cron(&self, n: u64) {
        self.cron_results.fetch_add(n, Ordering::Relaxed);
    }

    /// Prometheus text exposition, with the queue as the store has it now.
    pub fn render(&self, store: &Store, now_ms: u64) -> String {
        let rows: [(&str, &str, &AtomicU64); 10] = [
            (
                "ao_mu_items_received_total",
                "User items accepted (handed to their SU).",
                &self.received,
            ),
            (
                "ao_mu_items_refused_total",
                "User items refused (invalid, unknown process, SU refusal).",
                &self.refused,
            ),
            (
                "ao_mu_messages_pushed_total",
                "Outbox messages scheduled on a process (pushes).",
                &self.pushed,
            ),
            (
                "ao_mu_messages_uploaded_total",
                "Outbox messages to wallets uploaded to Arweave.",
                &self.uploaded,
            ),
            (
                "ao_mu_spawns_total",
                "Processes spawned from outboxes.",
                &self.spawned,
            ),
            (
                "ao_mu_assignments_total",
                "Assignments made.",
                &self.assigned,
            ),
            (
                "ao_mu_task_retries_total",
                "Failed task attempts that will be retried.",
                &self.retried,
            ),
            (
                "ao_mu_dead_letters_total",
                "Tasks moved to the dead-letter list.",
                &self.dead_lettered,
            ),
            (
                "ao_mu_rate_limited_total",
                "Requests refused with 429.",
                &self.rate_limited,
            ),
            (
                "ao_mu_cron_results_total",
                "Cron results read from the CU for pushing.",
                &self.cron_results,
            ),
        ];
        let mut out = Exposition::new();
        for (name, help, v) in rows {
            out.counter(name, help, v.load(Ordering::Relaxed));
        }
        // A store that cannot be read shows as missing queue samples, not as an empty queue.
        match store.queue_summary(MAX_SCRAPE_SCAN) {
            Ok(q) => {
                let stages: Vec<(&str, f64)> = Stage::ALL
                    .iter()
                    .zip(q.by_stage)
                    .filter(|(s, _)| **s != Stage::Done)
                    .map(|(s, n)| (s.name(), n as f64))
                    .collect();
                out.gauges(
                    "ao_mu_queue_tasks",
                    "Unfinished tasks, by the stage they are at (the reference's stage names).",
                    "stage",
                    &stages,
                );
                let age = q.oldest_updated_ms.map_or(0, |t| now_ms.saturating_sub(t));
                out.gauge(
                    "ao_mu_queue_oldest_age_seconds",
                    "Time since the least recently advanced unfinished task last moved (0 when none).",
                    age as f64 / 1000.0,
                );
                out.gauge(
                    "ao_mu_dead_letters",
                    "Tasks in the dead-letter list now (re-push or drop them at /dead-letters).",
                    q.dead_letters as f64,
                );
            }
            Err(e) => tracing::warn!("cannot read the queue for /metrics: {e}"),
        }
        self.server.render(&mut out);
        out.finish()
    }
}
