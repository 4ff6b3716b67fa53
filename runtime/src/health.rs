//! Readiness and liveness, one state per unit shared by HTTP `/ready` and the standard
//! `grpc.health.v1` service, so a load balancer, Kubernetes and a gRPC client all see the same
//! answer at the same moment.
//!
//! Liveness (`/health`, each unit's own handler) only says the process answers. Readiness says it
//! should be sent traffic: not while it warms up (a check the unit registers fails: the SU without
//! a block height, say), not while it drains after SIGTERM, not while a dependency it cannot work
//! without is down. Draining is final: once begun, the unit never reports ready again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Notify;
use tonic_health::ServingStatus;

/// How often the gRPC health service re-evaluates the checks: a check is a cheap read (an atomic,
/// a flag), and a load balancer polls every few seconds, so a quarter second keeps the gRPC answer
/// as fresh as the HTTP one (evaluated per request) at no real cost. Draining is pushed at once.
pub const GRPC_HEALTH_REFRESH: Duration = Duration::from_millis(250);

/// The name of the overall server status in `grpc.health.v1` (the protocol's convention).
pub const OVERALL_SERVICE: &str = "";

/// One readiness condition: `Ok` when met, else the reason the unit is not ready.
type Check = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Whether the unit should get traffic, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every check passes and the unit is not draining.
    Ready,
    /// A check fails (warming up, or a dependency is down); the reasons, `; `-joined.
    NotReady(String),
    /// Shutting down after a signal: finishing what is in flight, taking nothing new.
    Draining,
}

impl Readiness {
    /// The word `/ready` answers with.
    pub fn label(&self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::NotReady(_) => "not ready",
            Readiness::Draining => "draining",
        }
    }
}

struct Inner {
    draining: AtomicBool,
    checks: Mutex<Vec<(&'static str, Check)>>,
    changed: Notify,
}

/// The readiness state of one unit (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl Default for Health {
    fn default() -> Health {
        Health::new()
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("readiness", &self.readiness())
            .finish()
    }
}

impl Health {
    /// Ready, with no checks yet.
    pub fn new() -> Health {
        Health {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                checks: Mutex::new(Vec::new()),
                changed: Notify::new(),
            }),
        }
    }

    /// Add a readiness condition, evaluated at every probe; `name` prefixes its reason. Keep it a
    /// cheap read (it runs on the probe's request).
    pub fn add_check(
        &self,
        name: &'static str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.inner
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, Box::new(check)));
        self.inner.changed.notify_waiters();
    }

    /// A check's answer may have changed (a unit finished warming up): have the gRPC health
    /// service re-evaluate now rather than at its next refresh, so gRPC and HTTP agree at once.
    pub fn recheck(&self) {
        self.inner.changed.notify_waiters();
    }

    /// Start draining: every probe answers not ready from now on.
    pub fn begin_drain(&self) {
        self.inner.draining.store(true, Ordering::Release);
        self.inner.changed.notify_waiters();
    }

    /// Whether [`Health::begin_drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// The state now.
    pub fn readiness(&self) -> Readiness {
        if self.is_draining() {
            return Readiness::Draining;
        }
        let checks = self.inner.checks.lock().unwrap_or_else(|p| p.into_inner());
        let failed: Vec<String> = checks
            .iter()
            .filter_map(|(name, check)| check().err().map(|why| format!("{name}: {why}")))
            .collect();
        if failed.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(failed.join("; "))
        }
    }

    /// `app` with `GET /ready` (200 when ready, else 503 with the state and reason), and with
    /// `GET /health` (200, liveness) when `liveness` is set, for units that have no `/health` of
    /// their own.
    pub fn routes(&self, app: Router, liveness: bool) -> Router {
        let health = self.clone();
        let app = app.route(
            "/ready",
            get(move || {
                let health = health.clone();
                async move { ready_answer(&health.readiness()) }
            }),
        );
        if liveness {
            app.route("/health", get(|| async { StatusCode::OK }))
        } else {
            app
        }
    }

    /// The `grpc.health.v1.Health` service, reporting this state for the overall server (`""`)
    /// and for each of `services` (the unit's own gRPC service names), kept current by a task
    /// that ends once draining is reported, ending `Watch` streams with it (or when every clone
    /// of this state is gone).
    pub async fn grpc_service(
        &self,
        services: &[&'static str],
    ) -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>
    {
        let (mut reporter, server) = tonic_health::server::health_reporter();
        let mut names = vec![OVERALL_SERVICE];
        names.extend_from_slice(services);
        let status = grpc_status(&self.readiness());
        for n in &names {
            reporter.set_service_status(*n, status).await;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut last = status;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let health = Health { inner };
                // Registered before reading, so a drain between the read and the wait is not missed.
                let changed = health.inner.changed.notified();
                let readiness = health.readiness();
                let now = grpc_status(&readiness);
                if now != last {
                    for n in &names {
                        reporter.set_service_status(*n, now).await;
                    }
                    last = now;
                }
                if readiness == Readiness::Draining {
                    // Watchers have NOT_SERVING queued; removing the statuses then ends their
                    // `Watch` streams, which would otherwise hold the gRPC server's graceful
                    // shutdown open until the grace runs out. (A `Check` after this answers
                    // NOT_FOUND, also not serving, and new connections are refused by then.)
                    for n in &names {
                        reporter.clear_service_status(n).await;
                    }
                    return;
                }
                let _ = tokio::time::timeout(GRPC_HEALTH_REFRESH, changed).await;
            }
        });
        server
    }
}

fn grpc_status(r: &Readiness) -> ServingStatus {
    match r {
        Readiness::Ready => ServingStatus::Serving,
        _ => ServingStatus::NotServing,
    }
}

/// The `/ready` answer: `{"status": "ready"}` with 200, or 503 with `status` and `reason`.
fn ready_answer(r: &Readiness) -> Response {
    let body = match r {
        Readiness::NotReady(why) => serde_json::json!({ "status": r.label(), "reason": why }),
        _ => serde_json::json!({ "status": r.label() }),
    };
    let status = if *r == Readiness::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_then_drain_decide_readiness() {
        let h = Health::new();
        assert_eq!(h.readiness(), Readiness::Ready);
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        h.add_check("height", move || {
            if f.load(Ordering::Acquire) {
                Ok(())
            } else {
                Err("no block height yet".into())
            }
        });
        assert_eq!(
            h.readiness(),
            Readiness::NotReady("height: no block height yet".into())
        );
        flag.store(true, Ordering::Release);
        assert_eq!(h.readiness(), Readiness::Ready);
        h.begin_drain();
        assert_eq!(h.readiness(), Readiness::Draining);
    }
}
