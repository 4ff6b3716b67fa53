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

/// Most keys a [`RateLimiter`] remembers: 100,000 wallets or addresses at about 100 bytes each is
/// ~10 MB; past it the least recently seen key is forgotten (its count starts again if it
/// returns), so a flood of new keys (fresh wallets cost nothing) cannot grow memory, and the keys
/// still being used (the ones a limit is holding back) are the last to go.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// A fixed-window counter per key (wallet or IP): at most `limit` requests per `window`, for at
/// most `max_keys` keys (least recently seen forgotten first), O(1) amortised per request.
pub struct RateLimiter {
    limit: u64,
    window: Duration,
    table: Mutex<KeyTable>,
}

/// The counters, with the keys in order of last use: `order` holds `(stamp, key)` for every use,
/// and a key's entry records its latest stamp, so older pairs of that key are skipped when the
/// front is evicted, and dropped in a compaction once they are more than the live ones (each
/// compaction pays for the uses since the last: amortised O(1)).
struct KeyTable {
    max_keys: usize,
    counts: HashMap<String, Counter>,
    order: std::collections::VecDeque<(u64, String)>,
    next_stamp: u64,
}

struct Counter {
    start: Instant,
    used: u64,
    stamp: u64,
}

impl KeyTable {
    /// The counter of `key`, marked as just used; the least recently used key is forgotten first
    /// when a new key would pass the bound.
    fn touch(&mut self, key: &str, now: Instant) -> &mut Counter {
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        if !self.counts.contains_key(key) {
            while self.counts.len() >= self.max_keys {
                let Some((old_stamp, old_key)) = self.order.pop_front() else {
                    break;
                };
                if self
                    .counts
                    .get(&old_key)
                    .is_some_and(|c| c.stamp == old_stamp)
                {
                    self.counts.remove(&old_key);
                }
            }
        }
        let counter = self.counts.entry(key.to_string()).or_insert(Counter {
            start: now,
            used: 0,
            stamp,
        });
        counter.stamp = stamp;
        self.order.push_back((stamp, key.to_string()));
        if self.order.len() > 2 * self.max_keys.max(8) {
            let counts = &self.counts;
            self.order
                .retain(|(s, k)| counts.get(k).is_some_and(|c| c.stamp == *s));
        }
        self.counts.entry(key.to_string()).or_insert(Counter {
            start: now,
            used: 0,
            stamp,
        })
    }
}

impl RateLimiter {
    /// `limit` requests per `window` per key; `limit == 0` means no limit.
    pub fn new(limit: u64, window: Duration) -> RateLimiter {
        RateLimiter::with_max_keys(limit, window, DEFAULT_MAX_KEYS)
    }

    /// As [`RateLimiter::new`], remembering at most `max_keys` keys.
    pub fn with_max_keys(limit: u64, window: Duration, max_keys: usize) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            table: Mutex::new(KeyTable {
                max_keys: max_keys.max(1),
                counts: HashMap::new(),
                order: std::collections::VecDeque::new(),
                next_stamp: 0,
            }),
        }
    }

    /// Count one request of `key`; `Err` with the wait when over the limit.
    pub fn check(&self, key: &str) -> Result<(), MuError> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), MuError> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let entry = table.touch(key, now);
        if now.duration_since(entry.start) >= self.window {
            entry.start = now;
            entry.used = 0;
        }
        if entry.used >= self.limit {
            return Err(MuError::RateLimited {
                key: key.to_string(),
                retry_after: self.window.saturating_sub(now.duration_since(entry.start)),
            });
        }
        entry.used += 1;
        Ok(())
    }

    /// Keys remembered now (for tests and metrics).
    pub fn keys(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counts
            .len()
    }

    #[cfg(test)]
    fn order_len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .order
            .len()
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

/// The client's IP as the server resolved it ([`ao_runtime::client_ip`]: `X-Real-IP` only from a
/// trusted proxy), else the connection's address.
fn client_ip(req: &Request) -> String {
    if let Some(ao_runtime::client_ip::ClientIp(ip)) = req.extensions().get() {
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

    #[test]
    fn many_keys_stay_within_the_bound_and_an_active_key_keeps_its_count() {
        let l = RateLimiter::with_max_keys(2, Duration::from_secs(3600), 100);
        let now = Instant::now();
        assert!(l.check_at("victim", now).is_ok());
        assert!(l.check_at("victim", now).is_ok());
        assert!(l.check_at("victim", now).is_err(), "at its limit");
        for i in 0..20_000 {
            assert!(l.check_at(&format!("fresh-{i}"), now).is_ok());
            if i % 10 == 0 {
                // Still being refused: in use, so never the one forgotten.
                assert!(
                    matches!(l.check_at("victim", now), Err(MuError::RateLimited { .. })),
                    "the limited key was evicted and its count reset after {i} new keys"
                );
            }
            assert!(l.keys() <= 100, "{} keys", l.keys());
            assert!(l.order_len() <= 2 * 100 + 1, "order {}", l.order_len());
        }
        // A key not seen for a while is the one forgotten.
        assert!(l.check_at("idle", now).is_ok());
        for i in 0..200 {
            let _ = l.check_at(&format!("more-{i}"), now);
        }
        assert_eq!(l.keys(), 100);
        assert!(l.check_at("idle", now).is_ok());
        assert!(
            l.check_at("idle", now).is_ok(),
            "forgotten: counted from zero again"
        );
    }
}
