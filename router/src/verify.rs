//! Determinism, checked for free (`--verify-rate`): a sampled share of `/result` answers is asked
//! again of a second CU of the pool and the two compared by SHA-256. Every CU of a pool must give
//! the same bytes; a mismatch is logged, counted (`ao_router_verify_mismatches_total`) and both
//! answers are written under `<data-dir>/mismatches/` for inspection. The client gets the first
//! answer at once; the comparison runs after.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Shared;
use crate::members::Choice;

/// Largest answer sampled: `/result` answers are a few KiB; one far larger is skipped rather than
/// held in memory twice.
pub const MAX_SAMPLED_BODY: u64 = 16 * 1024 * 1024;

/// Mismatch records kept on disk: enough to study a determinism bug, bounded so a CU that
/// disagrees on everything cannot fill the disk.
pub const MAX_KEPT_MISMATCHES: usize = 1000;

/// The sampler.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Share of `/result` answers compared, in (0, 1].
    pub rate: f64,
    /// Where mismatches are written.
    pub dir: PathBuf,
}

impl Verifier {
    /// Whether this answer (of `len` bytes, when known) is sampled.
    pub fn sample(&self, len: Option<u64>) -> bool {
        len.is_some_and(|l| l <= MAX_SAMPLED_BODY) && rand::random::<f64>() < self.rate
    }

    /// Ask the best usable member other than `answered` for the same `path_and_query` and
    /// compare its answer with `first`, in the background.
    pub fn compare_later(
        &self,
        shared: Arc<Shared>,
        pid: &str,
        path_and_query: &str,
        ranking: &[Choice],
        answered: &Choice,
        first: Bytes,
    ) {
        let Some(second) = ranking
            .iter()
            .find(|c| c.member.url() != answered.member.url() && c.member.state().usable())
            .map(|c| c.member.clone())
        else {
            return;
        };
        let (a_url, pid, path) = (
            answered.member.url().to_string(),
            pid.to_string(),
            path_and_query.to_string(),
        );
        let dir = self.dir.clone();
        tokio::spawn(async move {
            let other = shared
                .http
                .get(format!("{}{path}", second.url()))
                .send()
                .await;
            let body = match other {
                Ok(r) if r.status().is_success() => r.bytes().await,
                Ok(r) => {
                    shared.metrics.verify_error();
                    tracing::debug!(member = second.url(), status = %r.status(), "verify: no result to compare");
                    return;
                }
                Err(e) => Err(e),
            };
            let second_body = match body {
                Ok(b) => b,
                Err(e) => {
                    shared.metrics.verify_error();
                    tracing::debug!(member = second.url(), "verify: {}", crate::error_chain(&e));
                    return;
                }
            };
            shared.metrics.verify_sample();
            let (ha, hb) = (sha(&first), sha(&second_body));
            if ha == hb {
                return;
            }
            shared.metrics.verify_mismatch();
            tracing::error!(
                process = %pid, %path, first = %a_url, first_sha256 = %ha,
                second = second.url(), second_sha256 = %hb,
                "two CUs of the pool gave different results (determinism broken)"
            );
            if let Err(e) = keep(
                &dir,
                &pid,
                &path,
                (&a_url, &first),
                (second.url(), &second_body),
            ) {
                tracing::warn!("cannot keep the mismatching answers: {e}");
            }
        });
    }
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Write both answers as one JSON file (bodies as text when they are UTF-8, else hex).
fn keep(
    dir: &std::path::Path,
    pid: &str,
    path: &str,
    a: (&str, &[u8]),
    b: (&str, &[u8]),
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if std::fs::read_dir(dir)?.count() >= MAX_KEPT_MISMATCHES {
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let side = |(member, body): (&str, &[u8])| {
        json!({
            "member": member,
            "sha256": sha(body),
            "body": std::str::from_utf8(body).map_or_else(|_| hex::encode(body), str::to_string),
        })
    };
    let record = json!({ "process": pid, "path": path, "first": side(a), "second": side(b) });
    let safe: String = pid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    std::fs::write(
        dir.join(format!("{now}-{safe}.json")),
        serde_json::to_vec_pretty(&record).unwrap_or_default(),
    )
}
