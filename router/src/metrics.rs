//! The router's Prometheus metrics (`GET /metrics`), every name prefixed `ao_router_`: requests
//! by route, member and outcome, retries, ejections, members healthy, determinism samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use ao_runtime::metrics::{Exposition, ServerMetrics};
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters and gauges.
#[derive(Debug)]
pub struct Metrics {
    /// The HTTP and gRPC servers' latency histograms and the process metrics, as every unit has.
    pub server: Arc<ServerMetrics>,
    requests: Mutex<BTreeMap<(String, String, String), u64>>,
    retries: Mutex<BTreeMap<String, u64>>,
    ejections: Mutex<BTreeMap<String, u64>>,
    members: Mutex<BTreeMap<String, (u64, u64)>>,
    verify_samples: AtomicU64,
    verify_mismatches: AtomicU64,
    verify_errors: AtomicU64,
    min_stake: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            server: ServerMetrics::new("ao_router"),
            requests: Mutex::default(),
            retries: Mutex::default(),
            ejections: Mutex::default(),
            members: Mutex::default(),
            verify_samples: AtomicU64::default(),
            verify_mismatches: AtomicU64::default(),
            verify_errors: AtomicU64::default(),
            min_stake: Mutex::default(),
        }
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += 1;
}

/// A label value with `\`, `"` and newlines escaped, as the text format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One forwarded request ended: `route` (`result`, `dry-run`, `grpc.Result`...), the member
    /// that answered (or `none`), and `ok`, `error` (the member answered with an error status)
    /// or `failed` (no member answered).
    pub fn request(&self, route: &str, member: &str, outcome: &str) {
        bump(
            &self.requests,
            (route.to_string(), member.to_string(), outcome.to_string()),
        );
    }

    /// A request was retried on its next choice.
    pub fn retry(&self, route: &str) {
        bump(&self.retries, route.to_string());
    }

    /// A member was ejected.
    pub fn ejection(&self, member: &str) {
        bump(&self.ejections, member.to_string());
    }

    /// The size of `pool` and how many of its members get traffic.
    pub fn set_members(&self, pool: &str, total: u64, healthy: u64) {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pool.to_string(), (total, healthy));
    }

    /// A result was compared with a second CU's.
    pub fn verify_sample(&self) {
        self.verify_samples.fetch_add(1, Ordering::Relaxed);
    }

    /// Two CUs gave different results.
    pub fn verify_mismatch(&self) {
        self.verify_mismatches.fetch_add(1, Ordering::Relaxed);
    }

    /// The second CU could not be asked.
    pub fn verify_error(&self) {
        self.verify_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A `min-stake` request ended: `enough`, `conflict` or `short`.
    pub fn min_stake(&self, outcome: &str) {
        bump(&self.min_stake, outcome.to_string());
    }

    /// Mismatches so far.
    pub fn mismatches(&self) -> u64 {
        self.verify_mismatches.load(Ordering::Relaxed)
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP ao_router_requests_total Requests forwarded, by route, member and outcome.\n# TYPE ao_router_requests_total counter"
        );
        for ((route, member, outcome), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ao_router_requests_total{{route=\"{}\",member=\"{}\",outcome=\"{}\"}} {n}",
                label(route),
                label(member),
                label(outcome)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ao_router_retries_total Requests retried on their next choice after the owner failed before answering.\n# TYPE ao_router_retries_total counter"
        );
        for (route, n) in self
            .retries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ao_router_retries_total{{route=\"{}\"}} {n}",
                label(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ao_router_min_stake_total min-stake requests by outcome: enough (agreeing attestations reached the stake), conflict (staked CUs disagreed: 409), short (not enough stake: 503).\n# TYPE ao_router_min_stake_total counter"
        );
        for (outcome, n) in self
            .min_stake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ao_router_min_stake_total{{outcome=\"{}\"}} {n}",
                label(outcome)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ao_router_ejections_total Times a member was taken out of rotation.\n# TYPE ao_router_ejections_total counter"
        );
        for (member, n) in self
            .ejections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ao_router_ejections_total{{member=\"{}\"}} {n}",
                label(member)
            );
        }
        let members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP ao_router_members Members of each pool.\n# TYPE ao_router_members gauge"
        );
        for (pool, (total, _)) in members.iter() {
            let _ = writeln!(out, "ao_router_members{{pool=\"{}\"}} {total}", label(pool));
        }
        let _ = writeln!(
            out,
            "# HELP ao_router_members_healthy Members of each pool getting traffic.\n# TYPE ao_router_members_healthy gauge"
        );
        for (pool, (_, healthy)) in members.iter() {
            let _ = writeln!(
                out,
                "ao_router_members_healthy{{pool=\"{}\"}} {healthy}",
                label(pool)
            );
        }
        drop(members);
        for (name, help, v) in [
            (
                "ao_router_verify_samples_total",
                "Results compared with a second CU (--verify-rate).",
                &self.verify_samples,
            ),
            (
                "ao_router_verify_mismatches_total",
                "Results on which two CUs disagreed (both kept).",
                &self.verify_mismatches,
            ),
            (
                "ao_router_verify_errors_total",
                "Samples the second CU could not answer.",
                &self.verify_errors,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let mut server = Exposition::new();
        self.server.render(&mut server);
        out.push_str(&server.finish());
        out
    }
}
