//! Prometheus metrics of the CU, rendered by hand in the text exposition format (as the SU
//! does): a few atomics on the evaluation path, no registry.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The CU's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Scheduled messages evaluated (stored results), including ones evaluated again after a
    /// restart from a checkpoint.
    pub messages: AtomicU64,
    /// Cron messages evaluated.
    pub crons: AtomicU64,
    /// Evaluations whose result carries `Error`.
    pub errors: AtomicU64,
    /// Microseconds spent inside modules.
    pub eval_us: AtomicU64,
    /// Memory checkpoints written.
    pub checkpoints: AtomicU64,
    /// Processes loaded from a checkpoint.
    pub loads_checkpoint: AtomicU64,
    /// Processes started from a checkpoint on Arweave.
    pub loads_arweave: AtomicU64,
    /// Processes loaded from nothing (evaluated from nonce 0).
    pub loads_cold: AtomicU64,
    /// Processes evicted from the instance cache.
    pub evictions: AtomicU64,
    /// `/result` answers that were "busy" (202).
    pub busy: AtomicU64,
    /// Processes loaded now.
    pub loaded: AtomicU64,
    /// Bytes of process memory held by loaded processes.
    pub cached_bytes: AtomicU64,
    /// Process slots the CU holds (loaded processes, and ones being loaded or evaluated): each
    /// costs memory, so this must stay bounded by the loaded processes, whatever is asked.
    pub slots: AtomicU64,
}

impl Metrics {
    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &str, &AtomicU64); 13] = [
            (
                "cu_messages_evaluated_total",
                "counter",
                "Scheduled messages evaluated.",
                &self.messages,
            ),
            (
                "cu_cron_messages_evaluated_total",
                "counter",
                "Cron messages evaluated.",
                &self.crons,
            ),
            (
                "cu_evaluation_errors_total",
                "counter",
                "Evaluations whose result has an Error.",
                &self.errors,
            ),
            (
                "cu_evaluation_microseconds_total",
                "counter",
                "Time spent evaluating messages in modules.",
                &self.eval_us,
            ),
            (
                "cu_checkpoints_total",
                "counter",
                "Memory checkpoints written.",
                &self.checkpoints,
            ),
            (
                "cu_process_loads_from_checkpoint_total",
                "counter",
                "Processes loaded from a stored checkpoint.",
                &self.loads_checkpoint,
            ),
            (
                "cu_process_loads_from_arweave_total",
                "counter",
                "Processes started from a checkpoint on Arweave.",
                &self.loads_arweave,
            ),
            (
                "cu_process_loads_cold_total",
                "counter",
                "Processes loaded with no checkpoint (evaluated from nonce 0).",
                &self.loads_cold,
            ),
            (
                "cu_process_evictions_total",
                "counter",
                "Processes evicted from the instance cache.",
                &self.evictions,
            ),
            (
                "cu_result_busy_total",
                "counter",
                "Result requests answered 202 (evaluation still running).",
                &self.busy,
            ),
            (
                "cu_processes_loaded",
                "gauge",
                "Processes with a live instance.",
                &self.loaded,
            ),
            (
                "cu_process_memory_cached_bytes",
                "gauge",
                "Bytes of process memory held by live instances.",
                &self.cached_bytes,
            ),
            (
                "cu_process_slots",
                "gauge",
                "Process slots held (loaded processes and ones being loaded).",
                &self.slots,
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}
