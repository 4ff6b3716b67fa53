//! The CU while it warms up: its listeners are bound and its probes answer at once (`/health`
//! 200; `/ready` 503 and `grpc.health.v1` NOT_SERVING, with the reason), while the store opens;
//! the rest of its API answers 503 (HTTP) or UNAVAILABLE (gRPC) until it can serve.
//!
//! Opening the store can take a while (RocksDB replays its log after a crash) or wait on another
//! process: during a rolling update the old CU may still hold the store's lock while it drains.
//! A CU that failed at once there would be restarted in a loop; one that listened only after the
//! store opened would look dead to its probes. So it listens first, says it is warming up and
//! why, and retries a held lock until [`STORE_LOCK_WAIT`].

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tower::{Service, ServiceExt};

use crate::store::{Store, StoreError};

/// How often a store whose lock another process holds is tried again: the holder is draining and
/// closes it within its grace, so a fifth of a second costs nothing and adds little delay.
pub const STORE_LOCK_RETRY: Duration = Duration::from_millis(200);

/// Longest a CU waits for another process to release its store's lock before it gives up:
/// longer than a draining CU's default shutdown grace (25 s) and its exit, so a rolling update
/// on one volume waits the old CU out, yet a store held for good (two CUs on one folder) is
/// reported within a minute.
pub const STORE_LOCK_WAIT: Duration = Duration::from_secs(60);

/// The reason readiness gives before the store is open.
pub const OPENING: &str = "warming up: opening the store";

/// Why the CU is not ready yet (`None` once it is), shared with its readiness check.
#[derive(Clone, Default)]
pub struct WarmUp {
    reason: Arc<Mutex<Option<String>>>,
}

impl WarmUp {
    /// Warming up, opening the store.
    pub fn new() -> WarmUp {
        WarmUp {
            reason: Arc::new(Mutex::new(Some(OPENING.to_string()))),
        }
    }

    /// The check for [`ao_runtime::health::Health::add_check`]: fails with the reason until
    /// [`WarmUp::done`].
    pub fn check(&self) -> impl Fn() -> Result<(), String> + Send + Sync + 'static {
        let reason = self.reason.clone();
        move || match &*reason.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    fn set(&self, why: Option<String>) {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// The CU can serve.
    pub fn done(&self) {
        self.set(None);
    }
}

/// Whether opening a store failed only because another process (or another open in this one)
/// holds its lock: RocksDB names its `LOCK` file then, and for nothing else.
pub fn is_lock_held(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(db) if db.to_string().contains("/LOCK:"))
}

/// Open the store in `dir`, retrying every [`STORE_LOCK_RETRY`] while another process holds
/// its lock, for at most `wait` (then that error); `warm` says so meanwhile.
pub async fn open_store(dir: &Path, wait: Duration, warm: &WarmUp) -> Result<Store, OpenError> {
    let deadline = Instant::now() + wait;
    loop {
        let d: PathBuf = dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || Store::open(&d))
            .await
            .map_err(|e| OpenError::Task(e.to_string()))?;
        match opened {
            Ok(store) => return Ok(store),
            Err(e) if is_lock_held(&e) && Instant::now() < deadline => {
                warm.set(Some(format!(
                    "warming up: the store {} is locked by another process; retrying",
                    dir.display()
                )));
                tokio::time::sleep(STORE_LOCK_RETRY).await;
            }
            Err(e) => return Err(OpenError::Store(e)),
        }
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store itself (a lock still held at the deadline, corruption, I/O).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task that opens it failed.
    #[error("opening the store: {0}")]
    Task(String),
}

/// The HTTP API behind a gate: until `api` is set, `/health` answers 200 (the process is alive)
/// and everything else 503 with [`OPENING`]; then every request goes to `api`.
pub fn http_gate(api: Arc<OnceLock<Router>>) -> Router {
    Router::new().fallback(move |req: Request| {
        let api = api.clone();
        async move {
            match api.get() {
                Some(router) => match router.clone().oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                },
                None if req.uri().path() == "/health" => (
                    StatusCode::OK,
                    axum::Json(serde_json::json!({"status": "warming up"})),
                )
                    .into_response(),
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(serde_json::json!({ "error": OPENING })),
                )
                    .into_response(),
            }
        }
    })
}

/// A gRPC service behind a gate: UNAVAILABLE with [`OPENING`] until the service is set, then the
/// service itself.
pub struct GrpcGate<S> {
    service: Arc<OnceLock<S>>,
}

impl<S> GrpcGate<S> {
    /// A gate over `service`, closed until it is set.
    pub fn new(service: Arc<OnceLock<S>>) -> GrpcGate<S> {
        GrpcGate { service }
    }
}

impl<S> Clone for GrpcGate<S> {
    fn clone(&self) -> GrpcGate<S> {
        GrpcGate {
            service: self.service.clone(),
        }
    }
}

impl<S: NamedService> NamedService for GrpcGate<S> {
    const NAME: &'static str = S::NAME;
}

type GateFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S> Service<http::Request<Body>> for GrpcGate<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = GateFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The service behind is made ready per call (it may not exist yet).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> GateFuture {
        match self.service.get() {
            Some(s) => {
                let s = s.clone();
                Box::pin(s.oneshot(req))
            }
            None => {
                let answer = tonic::Status::unavailable(OPENING).into_http();
                Box::pin(async move { Ok(answer) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_held_lock_is_retried() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = Store::open(dir.path()).expect("open");
        let second = Store::open(dir.path()).err().expect("the lock is held");
        assert!(is_lock_held(&second), "{second}");
        drop(first);
        assert!(!is_lock_held(&StoreError::Corrupt("x".into())));
    }

    #[test]
    fn the_check_fails_with_the_reason_until_done() {
        let warm = WarmUp::new();
        let check = warm.check();
        assert_eq!(check(), Err(OPENING.to_string()));
        warm.done();
        assert_eq!(check(), Ok(()));
    }
}
