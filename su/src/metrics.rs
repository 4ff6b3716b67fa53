//! Prometheus metrics of the SU, on the shared helpers of [`ao_runtime::metrics`]: atomics on the
//! hot path, rendered in the text format on `/metrics` with the servers' latency histograms and
//! the process metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ao_runtime::metrics::{Counter, Exposition, Histogram, LATENCY_BUCKETS, ServerMetrics};

use crate::error::Result;
use crate::store::Store;
use crate::writer::Scheduled;

/// Prefix of every SU metric.
pub const PREFIX: &str = "ao_su";

/// The SU's counters.
#[derive(Debug)]
pub struct Metrics {
    writes_ok: Counter,
    writes_refused: [AtomicU64; 6],
    write_seconds: Histogram,
    /// Items delivered to the bundler.
    pub uploads_ok: AtomicU64,
    /// Upload attempts that failed and will be retried.
    pub upload_retries: AtomicU64,
    /// Uploads refused for good (moved to the dead list).
    pub uploads_dead: AtomicU64,
    /// The HTTP and gRPC servers' latency histograms.
    pub server: Arc<ServerMetrics>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            writes_ok: Counter::default(),
            writes_refused: Default::default(),
            write_seconds: Histogram::new(LATENCY_BUCKETS),
            uploads_ok: AtomicU64::default(),
            upload_retries: AtomicU64::default(),
            uploads_dead: AtomicU64::default(),
            server: ServerMetrics::new(PREFIX),
        }
    }
}

const REFUSAL_CLASSES: [&str; 6] = ["400", "404", "409", "413", "503", "other"];

impl Metrics {
    /// Count a write's outcome.
    pub fn record_write(&self, result: &Result<Scheduled>) {
        match result {
            Ok(_) => self.writes_ok.inc(),
            Err(e) => {
                let class = match e.http_status() {
                    400 => 0,
                    404 => 1,
                    409 => 2,
                    413 => 3,
                    503 => 4,
                    _ => 5,
                };
                self.writes_refused[class].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Record one write's latency, from `started`.
    pub fn observe_latency(&self, started: Instant) {
        self.write_seconds.observe_since(started);
    }

    /// The exposition text, with the store's gauges.
    pub fn render(&self, store: &Store, block_height: Option<u64>) -> String {
        let r = Ordering::Relaxed;
        let mut out = Exposition::new();
        out.counter(
            "ao_su_assignments_total",
            "Messages scheduled (items and assignments), each given its slot.",
            self.writes_ok.get(),
        );
        let refused: Vec<(&str, u64)> = REFUSAL_CLASSES
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, self.writes_refused[i].load(r)))
            .collect();
        out.counters(
            "ao_su_writes_refused_total",
            "Writes refused, by HTTP status.",
            "status",
            &refused,
        );
        out.histogram(
            "ao_su_write_duration_seconds",
            "Time to answer a write, durable.",
            &self.write_seconds,
        );
        let stats = store.stats();
        out.counter(
            "ao_su_commit_batches_total",
            "Synced RocksDB batches (group commits).",
            stats.batches.load(r),
        );
        out.counter(
            "ao_su_commits_total",
            "Writes carried by those batches.",
            stats.commits.load(r),
        );
        out.histogram(
            "ao_su_commit_duration_seconds",
            "Time of one group commit's synced write.",
            &stats.sync_seconds,
        );
        out.gauge(
            "ao_su_upload_backlog_items",
            "Items not yet delivered to the bundler (Arweave).",
            store.upload_backlog() as f64,
        );
        // A failed read shows as no sample rather than a wrong age.
        if let Ok(age) = store.oldest_upload_age() {
            out.gauge(
                "ao_su_upload_backlog_oldest_age_seconds",
                "How long the oldest item not yet on Arweave has waited (0 when none).",
                age.as_secs_f64(),
            );
        }
        out.counter(
            "ao_su_uploads_total",
            "Items delivered to the bundler.",
            self.uploads_ok.load(r),
        );
        out.counter(
            "ao_su_upload_retries_total",
            "Failed upload attempts, retried.",
            self.upload_retries.load(r),
        );
        out.counter(
            "ao_su_uploads_dead_total",
            "Uploads the bundler refused for good.",
            self.uploads_dead.load(r),
        );
        if let Some(h) = block_height {
            out.gauge("ao_su_block_height", "Cached Arweave height.", h as f64);
        }
        self.server.render(&mut out);
        out.finish()
    }
}
