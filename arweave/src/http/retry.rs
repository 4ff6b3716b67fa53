//! When and how long to wait before trying a request again.

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::client::HttpReply;
use crate::error::Error;

/// A [`tower::retry::Policy`] for [`HttpClient`](super::HttpClient)'s stack: retries 429, 5xx and
/// transport failures (timeouts, refused or reset connections) up to `max_retries` times, waiting
/// `Retry-After` when the server gives one and otherwise an exponential backoff with full jitter,
/// never longer than `max_backoff`. Every other answer (2xx, 3xx, other 4xx) is final: a 404 or a
/// 400 will not change by asking again.
///
/// All of AO's gateway and bundler calls are safe to repeat (reads, GraphQL queries, uploads of a
/// signed item whose id is its hash), so the policy does not look at the method.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_retries: u32,
    base: Duration,
    max_backoff: Duration,
    /// Retries made so far for this request: tower clones the policy per request.
    attempts: u32,
}

impl RetryPolicy {
    /// A policy allowing `max_retries` retries, with backoff steps `base * 2^n` capped by
    /// `max_backoff` (which also caps `Retry-After`).
    pub fn new(max_retries: u32, base: Duration, max_backoff: Duration) -> Self {
        RetryPolicy {
            max_retries,
            base,
            max_backoff,
            attempts: 0,
        }
    }

    /// The wait before retry number `attempt` (0 for the first): uniform in `[0, min(cap, base *
    /// 2^attempt)]`. Full jitter rather than a fixed step, so clients that failed together spread
    /// out instead of returning together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self.base.saturating_mul(1u32 << attempt.min(31));
        let ceiling = step.min(self.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
    }

    /// The wait before the next retry if `result` deserves one.
    fn delay_for(&self, result: &Result<HttpReply, Error>) -> Option<Duration> {
        match result {
            Ok(reply) if is_retryable_status(reply.status.as_u16()) => {
                Some(match parse_retry_after(&reply.headers, SystemTime::now()) {
                    Some(asked) => asked.min(self.max_backoff),
                    None => self.backoff(self.attempts),
                })
            }
            Ok(_) => None,
            Err(e) if e.is_retryable() => Some(self.backoff(self.attempts)),
            Err(_) => None,
        }
    }
}

/// 429 and 5xx: the same rule as [`Error::is_retryable`], applied to an answer before it becomes
/// an error.
fn is_retryable_status(status: u16) -> bool {
    status == 429 || status >= 500
}

impl tower::retry::Policy<reqwest::Request, HttpReply, Error> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut reqwest::Request,
        result: &mut Result<HttpReply, Error>,
    ) -> Option<Self::Future> {
        if self.attempts >= self.max_retries {
            return None;
        }
        let delay = self.delay_for(result)?;
        self.attempts += 1;
        let why = match result {
            Ok(reply) => format!("HTTP {}", reply.status.as_u16()),
            Err(e) => e.to_string(),
        };
        tracing::debug!(
            method = %req.method(),
            url = %req.url(),
            attempt = self.attempts,
            max_retries = self.max_retries,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            %why,
            "retrying"
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &reqwest::Request) -> Option<reqwest::Request> {
        // Bodies built from bytes clone cheaply; a streamed body cannot be replayed, so such a
        // request gets one attempt.
        req.try_clone()
    }
}

/// The wait a `Retry-After` header asks for, as delay-seconds or as an HTTP date (relative to
/// `now`; a date in the past means "now"). `None` if absent or unreadable, so the caller falls back
/// to its own backoff. Public so other clients of AO's units can honour the header the same way.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}
