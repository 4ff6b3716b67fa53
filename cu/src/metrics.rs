//! Prometheus metrics of the CU, on the shared helpers of [`ao_runtime::metrics`]: atomics on the
//! evaluation path, rendered in the text format on `/metrics` with the servers' latency
//! histograms and the process metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ao_runtime::metrics::{Exposition, Histogram, ServerMetrics};

/// Prefix of every CU metric.
pub const PREFIX: &str = "ao_cu";

/// Upper bounds (seconds) of the evaluation histogram: a Lua handler takes well under a
/// millisecond, a heavy module's message seconds, and the compute limit ends one in minutes.
pub const EVAL_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// The CU's counters and gauges.
#[derive(Debug)]
pub struct Metrics {
    /// Scheduled messages evaluated (stored results), including ones evaluated again after a
    /// restart from a checkpoint.
    pub messages: AtomicU64,
    /// Cron messages evaluated.
    pub crons: AtomicU64,
    /// Evaluations whose result carries `Error`.
    pub errors: AtomicU64,
    /// Time of each evaluation inside the module.
    pub eval_seconds: Histogram,
    /// Memory checkpoints written.
    pub checkpoints: AtomicU64,
    /// Evaluations that found their process already loaded.
    pub loads_memory: AtomicU64,
    /// Processes loaded from a checkpoint.
    pub loads_checkpoint: AtomicU64,
    /// Processes started from a checkpoint on Arweave.
    pub loads_arweave: AtomicU64,
    /// Processes started from a peer CU's live state (a handoff, [`crate::handoff`]).
    pub loads_peer: AtomicU64,
    /// Peers' states not used at a handoff: unreachable, malformed, or failing verification.
    pub handoff_refused: AtomicU64,
    /// Processes loaded from nothing (evaluated from nonce 0).
    pub loads_cold: AtomicU64,
    /// Instances started to replay results older than the state a process started from.
    pub loads_history: AtomicU64,
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
    /// The HTTP and gRPC servers' latency histograms.
    pub server: Arc<ServerMetrics>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            messages: AtomicU64::default(),
            crons: AtomicU64::default(),
            errors: AtomicU64::default(),
            eval_seconds: Histogram::new(EVAL_BUCKETS),
            checkpoints: AtomicU64::default(),
            loads_memory: AtomicU64::default(),
            loads_checkpoint: AtomicU64::default(),
            loads_arweave: AtomicU64::default(),
            loads_peer: AtomicU64::default(),
            handoff_refused: AtomicU64::default(),
            loads_cold: AtomicU64::default(),
            loads_history: AtomicU64::default(),
            evictions: AtomicU64::default(),
            busy: AtomicU64::default(),
            loaded: AtomicU64::default(),
            cached_bytes: AtomicU64::default(),
            slots: AtomicU64::default(),
            server: ServerMetrics::new(PREFIX),
        }
    }
}

impl Metrics {
    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let r = Ordering::Relaxed;
        let mut out = Exposition::new();
        out.counter(
            "ao_cu_messages_evaluated_total",
            "Scheduled messages evaluated.",
            self.messages.load(r),
        );
        out.counter(
            "ao_cu_cron_messages_evaluated_total",
            "Cron messages evaluated.",
            self.crons.load(r),
        );
        out.counter(
            "ao_cu_eval_errors_total",
            "Evaluations whose result has an Error.",
            self.errors.load(r),
        );
        out.histogram(
            "ao_cu_eval_duration_seconds",
            "Time spent evaluating one message in its module.",
            &self.eval_seconds,
        );
        out.counter(
            "ao_cu_checkpoints_total",
            "Memory checkpoints written.",
            self.checkpoints.load(r),
        );
        out.counters(
            "ao_cu_process_loads_total",
            "Where evaluations found their process: memory (already loaded), checkpoint (a stored \
             checkpoint), arweave (a checkpoint on Arweave), peer (a peer CU's verified state, a handoff), cold (evaluated from nonce \
             0), history (replaying results older than the state a process started from).",
            "source",
            &[
                ("memory", self.loads_memory.load(r)),
                ("checkpoint", self.loads_checkpoint.load(r)),
                ("arweave", self.loads_arweave.load(r)),
                ("peer", self.loads_peer.load(r)),
                ("cold", self.loads_cold.load(r)),
                ("history", self.loads_history.load(r)),
            ],
        );
        out.counter(
            "ao_cu_handoff_refused_total",
            "Peer states not used at a handoff: unreachable, malformed or unverified.",
            self.handoff_refused.load(r),
        );
        out.counter(
            "ao_cu_process_evictions_total",
            "Processes evicted from the instance cache.",
            self.evictions.load(r),
        );
        out.counter(
            "ao_cu_busy_answers_total",
            "Result requests answered 202 (evaluation still running).",
            self.busy.load(r),
        );
        out.gauge(
            "ao_cu_processes_loaded",
            "Processes with a live instance.",
            self.loaded.load(r) as f64,
        );
        out.gauge(
            "ao_cu_cache_bytes",
            "Bytes of process memory held by live instances.",
            self.cached_bytes.load(r) as f64,
        );
        out.gauge(
            "ao_cu_process_slots",
            "Process slots held (loaded processes and ones being loaded).",
            self.slots.load(r) as f64,
        );
        self.server.render(&mut out);
        out.finish()
    }
}
