//! Limits on what users may ask of the MU, as tower layers on the HTTP API (linkerd-style: a
//! policy is a layer, not code in the handlers): requests per client IP, the largest body, and a
//! deadline per request. The per-wallet limit needs the parsed item, so `ingress` checks it with
//! the same [`RateLimiter`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ingress::MuError;

/// A fixed-window counter per key (wallet or IP): at most `limit` requests per `window`.
pub struct RateLimiter {
    limit: u64,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RateLimiter {
    /// `limit` requests per `window` per key; `limit == 0` means no limit.
    pub fn new(limit: u64, window: Duration) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request of `key`; `Err` with the wait when over the limit.
    pub fn check(&self, key: &str) -> Result<(), MuError> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = counts.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(MuError::RateLimited {
                key: key.to_string(),
                retry_after: self.window.saturating_sub(now.duration_since(entry.0)),
            });
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The answer to a refused request: the AO API's `{"error": ...}` with its status, and
/// `Retry-After` when rate limited.
pub fn error_response(e: &MuError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        status,
        axum::Json(serde_json::json!({"error": e.to_string()})),
    )
        .into_response();
    if let MuError::RateLimited { retry_after, .. } = e
        && let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// The client's IP: `X-Real-IP` when a proxy in front set it, else the connection's address.
fn client_ip(req: &Request) -> String {
    if let Some(ip) = req.headers().get("x-real-ip").and_then(|v| v.to_str().ok()) {
        return ip.to_string();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

/// Middleware (a tower layer through `axum::middleware::from_fn_with_state`): writes count
/// against their client IP's limit.
pub async fn per_ip(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    if req.method() != axum::http::Method::GET
        && let Err(e) = limiter.check(&client_ip(&req))
    {
        return error_response(&e);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_limit_waits_for_the_next_window() {
        let l = RateLimiter::new(2, Duration::from_millis(200));
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert!(matches!(l.check("a"), Err(MuError::RateLimited { .. })));
        assert!(l.check("b").is_ok(), "keys are counted apart");
        std::thread::sleep(Duration::from_millis(210));
        assert!(l.check("a").is_ok());
        assert!(
            RateLimiter::new(0, Duration::from_secs(1))
                .check("x")
                .is_ok()
        );
    }
}
