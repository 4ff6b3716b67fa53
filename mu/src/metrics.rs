//! The MU's counters, served as Prometheus text on `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what the MU did since it started.
#[derive(Default)]
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

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 10] = [
            (
                "ao_mu_items_received_total",
                "user items accepted (handed to their SU)",
                &self.received,
            ),
            (
                "ao_mu_items_refused_total",
                "user items refused (invalid, unknown process, SU refusal)",
                &self.refused,
            ),
            (
                "ao_mu_messages_pushed_total",
                "outbox messages scheduled on a process",
                &self.pushed,
            ),
            (
                "ao_mu_messages_uploaded_total",
                "outbox messages to wallets uploaded to Arweave",
                &self.uploaded,
            ),
            (
                "ao_mu_spawns_total",
                "processes spawned from outboxes",
                &self.spawned,
            ),
            (
                "ao_mu_assignments_total",
                "assignments made",
                &self.assigned,
            ),
            (
                "ao_mu_task_retries_total",
                "failed task attempts that will be retried",
                &self.retried,
            ),
            (
                "ao_mu_dead_letters_total",
                "tasks moved to the dead-letter list",
                &self.dead_lettered,
            ),
            (
                "ao_mu_rate_limited_total",
                "requests refused with 429",
                &self.rate_limited,
            ),
            (
                "ao_mu_cron_results_total",
                "cron results read from the CU for pushing",
                &self.cron_results,
            ),
        ];
        let mut out = String::new();
        for (name, help, v) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}
