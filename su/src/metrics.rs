//! Prometheus counters of the SU, rendered by hand in the text exposition format: a handful of
//! atomics does not justify a registry, and every number here is cheap to keep on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::Result;
use crate::store::Store;
use crate::writer::Scheduled;

/// Upper bounds (ms) of the write-latency histogram: spans an fsync on fast NVMe (<1 ms) to a
/// struggling disk (1 s).
const LATENCY_BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

/// The SU's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    writes_ok: AtomicU64,
    writes_refused: [AtomicU64; 6],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    /// Items delivered to the bundler.
    pub uploads_ok: AtomicU64,
    /// Upload attempts that failed and will be retried.
    pub upload_retries: AtomicU64,
    /// Uploads refused for good (moved to the dead list).
    pub uploads_dead: AtomicU64,
}

const REFUSAL_CLASSES: [&str; 6] = ["400", "404", "409", "413", "503", "other"];

impl Metrics {
    /// Count a write's outcome.
    pub fn record_write(&self, result: &Result<Scheduled>) {
        match result {
            Ok(_) => {
                self.writes_ok.fetch_add(1, Ordering::Relaxed);
            }
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

    /// Record one request's latency, from `started`.
    pub fn observe_latency(&self, started: Instant) {
        let us = started.elapsed().as_micros() as u64;
        let ms = us / 1000;
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            if ms < *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The exposition text, with the store's gauges.
    pub fn render(&self, store: &Store, block_height: Option<u64>) -> String {
        let mut out = String::new();
        let r = Ordering::Relaxed;
        let one = |out: &mut String, name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        one(
            &mut out,
            "su_writes_total",
            "counter",
            "Items and assignments scheduled.",
            self.writes_ok.load(r),
        );
        let _ = writeln!(
            out,
            "# HELP su_writes_refused_total Writes refused, by HTTP status."
        );
        let _ = writeln!(out, "# TYPE su_writes_refused_total counter");
        for (i, class) in REFUSAL_CLASSES.iter().enumerate() {
            let n = self.writes_refused[i].load(r);
            let _ = writeln!(out, "su_writes_refused_total{{status=\"{class}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP su_write_seconds Time to answer a write, durable."
        );
        let _ = writeln!(out, "# TYPE su_write_seconds histogram");
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            let le = *bound as f64 / 1000.0;
            let n = self.latency_buckets[i].load(r);
            let _ = writeln!(out, "su_write_seconds_bucket{{le=\"{le}\"}} {n}");
        }
        let count = self.latency_count.load(r);
        let sum = self.latency_sum_us.load(r) as f64 / 1e6;
        let _ = writeln!(out, "su_write_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "su_write_seconds_sum {sum}\nsu_write_seconds_count {count}"
        );
        let stats = store.stats();
        one(
            &mut out,
            "su_commit_batches_total",
            "counter",
            "Synced RocksDB batches (group commits).",
            stats.batches.load(r),
        );
        one(
            &mut out,
            "su_commits_total",
            "counter",
            "Writes carried by those batches.",
            stats.commits.load(r),
        );
        one(
            &mut out,
            "su_upload_backlog",
            "gauge",
            "Items waiting for the bundler.",
            store.upload_backlog(),
        );
        one(
            &mut out,
            "su_uploads_total",
            "counter",
            "Items delivered to the bundler.",
            self.uploads_ok.load(r),
        );
        one(
            &mut out,
            "su_upload_retries_total",
            "counter",
            "Failed upload attempts, retried.",
            self.upload_retries.load(r),
        );
        one(
            &mut out,
            "su_uploads_dead_total",
            "counter",
            "Uploads the bundler refused for good.",
            self.uploads_dead.load(r),
        );
        if let Some(h) = block_height {
            one(
                &mut out,
                "su_block_height",
                "gauge",
                "Cached Arweave height.",
                h,
            );
        }
        out
    }
}
