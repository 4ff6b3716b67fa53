//! Handoff: a process that comes to this CU from another starts from that CU's live state, not
//! from nonce 0.
//!
//! Where the peers come from: the router adds `ao-handoff-from: URL[,URL]` (HTTP header, gRPC
//! metadata of the same name) to what it forwards, naming the CUs that may hold the process warm
//! (its previous owners, in order of preference); operators without the router list their pool
//! with `--peer-cu`. The URLs are the peers' HTTP base URLs (what a router or an operator knows
//! of a CU); the state is read over HTTP `GET /state/{pid}` with [`PROBE_HEADER`]: the peer
//! answers what it holds as it is, or 404 at once instead of evaluating the process for us.
//! Results of messages the peer evaluated before its state was taken are asked of it too
//! (`/result`), since this CU never evaluated them. A request only leaves a hint ([`Hints`], by process, expiring): the load of the process,
//! wherever a request reaches it, reads it, so no signature in between carries the header.
//!
//! Nothing a peer sends is used unverified ([`verify`]): the memory's SHA-256 must be the one the
//! peer states, its module the process's module, and its last scheduled message (nonce, hash
//! chain, assignment, timestamp, block height) the SU's entry at that nonce, so the hash chain
//! continues into the SU's schedule. A state that fails is logged, counted
//! (`ao_cu_handoff_refused_total`) and skipped for the next source: another peer, the local
//! checkpoint, Arweave, then replay from nonce 0.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ao_core::encoding::{b64url, decode_id};
use ao_proto::common::v1 as pb;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::store::Checkpoint;

/// The header (and gRPC metadata key) naming the CUs that may hold a process warm.
pub const HEADER: &str = "ao-handoff-from";

/// Sent with a peer's `/state` request: answer with the state this CU holds as it is (the loaded
/// process, else its local checkpoint) without evaluating anything, 404 when it holds none, so
/// asking a peer never makes it replay from nonce 0 nor do work the new owner will do.
pub const PROBE_HEADER: &str = "ao-handoff-probe";

/// `/state` answer headers a handoff needs beyond the `Last-*` ones the AO API has.
pub mod headers {
    /// Lower-case hex SHA-256 of the memory (the body).
    pub const MEMORY_SHA256: &str = "memory-sha256";
    /// The process's module id.
    pub const MODULE: &str = "module";
    /// Hash chain (base64url) of the last scheduled message evaluated.
    pub const HASH_CHAIN: &str = "last-hash-chain";
    /// Assignment id of the last scheduled message evaluated.
    pub const ASSIGNMENT: &str = "last-assignment";
    /// Timestamp (ms) of the last scheduled message evaluated (`Last-Timestamp` may be a cron's).
    pub const SCHEDULED_TIMESTAMP: &str = "last-scheduled-timestamp";
    /// Block height of the last scheduled message evaluated.
    pub const SCHEDULED_HEIGHT: &str = "last-scheduled-block-height";
    /// Cron messages evaluated after the last scheduled message.
    pub const CRONS_DONE: &str = "crons-done";
}

/// How long one peer may take to answer with a state: a warm peer on the same network sends a
/// Lua process's few MiB in well under a second; 5 s leaves room for a large memory or a busy
/// peer, and bounds what a dead or stuck peer adds to a load before the next source is tried
/// (cold replay of a long process takes minutes, so waiting this long is still worth it).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request's `ao-handoff-from` is remembered for its process: the load it leads to
/// starts at once, or after the evaluation queued before it on the process (seconds); a minute
/// covers that, and a stale hint costs only a 404 from a peer that no longer holds the process.
pub const HINT_TTL: Duration = Duration::from_secs(60);

/// Processes with a hint at once: a request per process sets one, and a flood of requests for
/// processes never loaded must not grow the table without bound; past it, expired hints are
/// dropped and, if still full, the new hint is not kept (that load goes without peers).
pub const MAX_HINTS: usize = 10_000;

/// Peers asked per load: the router names the previous owner or two; more would only add
/// timeouts before the next source.
pub const MAX_PEERS: usize = 4;

/// Largest memory accepted from a peer: the 4 GiB a 32-bit (or lowered wasm64) memory can hold.
pub const MAX_PEER_MEMORY: u64 = 4 << 30;

/// Why a peer's state was not used.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// The peer could not be asked, or answered with an error.
    #[error("peer {0}: {1}")]
    Transfer(String, String),
    /// The peer does not hold the process (404).
    #[error("peer {0} does not hold the process")]
    NotHeld(String),
    /// The answer lacks a field or has one that does not parse.
    #[error("peer {0}: {1}")]
    Malformed(String, String),
    /// The state does not verify (memory hash, module, or the SU's schedule).
    #[error("peer {peer}: {why}")]
    Unverified {
        /// The peer's URL.
        peer: String,
        /// What did not match.
        why: String,
    },
}

/// A process's state as a peer states it, not yet verified.
#[derive(Debug, Clone)]
pub struct PeerState {
    /// The peer it came from.
    pub peer: String,
    /// The process's module, as the peer runs it.
    pub module: String,
    /// The SHA-256 the peer states for `checkpoint.memory` (not computed here: [`verify`] does).
    pub stated_sha256: [u8; 32],
    /// Everything to resume from; its `memory_sha256` is the stated one until verified.
    pub checkpoint: Checkpoint,
}

/// Where peers' states are read: a trait so that tests and other transports can stand in.
#[async_trait::async_trait]
pub trait PeerSource: Send + Sync {
    /// The latest state `peer` holds of `pid`.
    async fn state(&self, peer: &str, pid: &str) -> Result<PeerState, HandoffError>;

    /// The result `peer` stored for message `id` of `pid`: for a message a process taken over
    /// from `peer` had evaluated there before its state was taken (this CU never evaluated it).
    async fn result(
        &self,
        peer: &str,
        pid: &str,
        id: &str,
    ) -> Result<serde_json::Value, HandoffError>;
}

/// Peers' states over their HTTP `/state/{pid}`.
pub struct HttpPeers {
    http: reqwest::Client,
}

impl HttpPeers {
    /// Reading through `http` (each request bounded by [`PEER_TIMEOUT`]).
    pub fn new(http: reqwest::Client) -> HttpPeers {
        HttpPeers { http }
    }
}

#[async_trait::async_trait]
impl PeerSource for HttpPeers {
    async fn state(&self, peer: &str, pid: &str) -> Result<PeerState, HandoffError> {
        let transfer = |e: reqwest::Error| HandoffError::Transfer(peer.to_string(), e.to_string());
        let url = format!("{}/state/{pid}", peer.trim_end_matches('/'));
        let resp = self
            .http
            .get(&url)
            .header(PROBE_HEADER, "1")
            .timeout(PEER_TIMEOUT)
            .send()
            .await
            .map_err(transfer)?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(HandoffError::NotHeld(peer.to_string()));
        }
        if !resp.status().is_success() {
            return Err(HandoffError::Transfer(
                peer.to_string(),
                format!("GET {url}: {}", resp.status()),
            ));
        }
        if resp.content_length().is_some_and(|n| n > MAX_PEER_MEMORY) {
            return Err(HandoffError::Malformed(
                peer.to_string(),
                "memory larger than 4 GiB".into(),
            ));
        }
        let fields = state_fields(peer, resp.headers())?;
        let memory = resp.bytes().await.map_err(transfer)?.to_vec();
        Ok(fields.with_memory(memory))
    }

    async fn result(
        &self,
        peer: &str,
        pid: &str,
        id: &str,
    ) -> Result<serde_json::Value, HandoffError> {
        let transfer = |e: reqwest::Error| HandoffError::Transfer(peer.to_string(), e.to_string());
        let mut url = reqwest::Url::parse(&format!("{}/result/", peer.trim_end_matches('/')))
            .and_then(|u| u.join(id))
            .map_err(|e| HandoffError::Transfer(peer.to_string(), e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("process-id", pid)
            .append_pair("no-busy", "1");
        let resp = self
            .http
            .get(url.clone())
            .timeout(PEER_TIMEOUT)
            .send()
            .await
            .map_err(transfer)?;
        if !resp.status().is_success() || resp.status() == reqwest::StatusCode::ACCEPTED {
            return Err(HandoffError::Transfer(
                peer.to_string(),
                format!("GET {url}: {}", resp.status()),
            ));
        }
        let body = resp.bytes().await.map_err(transfer)?;
        serde_json::from_slice(&body)
            .map_err(|e| HandoffError::Malformed(peer.to_string(), format!("result: {e}")))
    }
}

/// The `/state` answer headers of a handoff, parsed; the memory comes after.
struct Fields {
    peer: String,
    module: String,
    sha: [u8; 32],
    checkpoint: Checkpoint,
}

impl Fields {
    fn with_memory(self, memory: Vec<u8>) -> PeerState {
        PeerState {
            peer: self.peer,
            module: self.module,
            stated_sha256: self.sha,
            checkpoint: Checkpoint {
                memory_sha256: self.sha,
                memory,
                ..self.checkpoint
            },
        }
    }
}

fn state_fields(peer: &str, h: &reqwest::header::HeaderMap) -> Result<Fields, HandoffError> {
    let bad = |why: String| HandoffError::Malformed(peer.to_string(), why);
    let text = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad(format!("no {name} header (a CU without handoff support?)")))
    };
    fn num<T: std::str::FromStr>(
        name: &str,
        v: &str,
        bad: impl Fn(String) -> HandoffError,
    ) -> Result<T, HandoffError> {
        v.trim()
            .parse()
            .map_err(|_| bad(format!("{name} {v:?} is not a number")))
    }
    let id = |name: &'static str| {
        text(name).and_then(|v| decode_id(name, v).map_err(|e| bad(e.to_string())))
    };
    let sha: [u8; 32] = hex::decode(text(headers::MEMORY_SHA256)?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(format!("{} is not 32 bytes of hex", headers::MEMORY_SHA256)))?;
    Ok(Fields {
        peer: peer.to_string(),
        module: text(headers::MODULE)?.to_string(),
        sha,
        checkpoint: Checkpoint {
            nonce: num("last-ordinate", text("last-ordinate")?, bad)?,
            timestamp: num(
                headers::SCHEDULED_TIMESTAMP,
                text(headers::SCHEDULED_TIMESTAMP)?,
                bad,
            )?,
            block_height: num(
                headers::SCHEDULED_HEIGHT,
                text(headers::SCHEDULED_HEIGHT)?,
                bad,
            )?,
            hash_chain: id(headers::HASH_CHAIN)?,
            assignment_id: id(headers::ASSIGNMENT)?,
            crons_done: num(headers::CRONS_DONE, text(headers::CRONS_DONE)?, bad)?,
            last_timestamp: num("last-timestamp", text("last-timestamp")?, bad)?,
            last_block_height: num("last-block-height", text("last-block-height")?, bad)?,
            memory_sha256: sha,
            memory: Vec::new(),
        },
    })
}

/// The handoff headers of a `/state` answer for `c` (its memory is the body), beside the
/// `Last-*` ones.
pub fn answer_headers(module: &str, c: &Checkpoint) -> Vec<(&'static str, String)> {
    vec![
        (headers::MEMORY_SHA256, hex::encode(c.memory_sha256)),
        (headers::MODULE, module.to_string()),
        (headers::HASH_CHAIN, b64url(c.hash_chain)),
        (headers::ASSIGNMENT, b64url(c.assignment_id)),
        (headers::SCHEDULED_TIMESTAMP, c.timestamp.to_string()),
        (headers::SCHEDULED_HEIGHT, c.block_height.to_string()),
        (headers::CRONS_DONE, c.crons_done.to_string()),
    ]
}

/// Check `state` before anything runs on it: its memory hashes to what the peer stated, it runs
/// `module` (the process's), and its last scheduled message is `entry`, the SU's entry at its
/// nonce (same hash chain, assignment, timestamp and block height), so the next message's link
/// is verified as usual. The checkpoint to resume from, or what did not match. Pure.
pub fn verify(
    state: PeerState,
    module: &str,
    entry: &pb::ScheduledMessage,
) -> Result<Checkpoint, HandoffError> {
    let peer = state.peer.clone();
    let fail = |why: String| HandoffError::Unverified {
        peer: peer.clone(),
        why,
    };
    let c = state.checkpoint;
    let digest: [u8; 32] = Sha256::digest(&c.memory).into();
    if digest != state.stated_sha256 {
        return Err(fail(format!(
            "the memory hashes to {} but the peer states {}",
            hex::encode(digest),
            hex::encode(state.stated_sha256)
        )));
    }
    if state.module != module {
        return Err(fail(format!(
            "the peer runs module {} but the process's module is {module}",
            state.module
        )));
    }
    if entry.nonce != c.nonce {
        return Err(fail(format!(
            "the SU answered nonce {} for nonce {}",
            entry.nonce, c.nonce
        )));
    }
    let chain = decode_id("hash chain", &entry.hash_chain).map_err(|e| fail(e.to_string()))?;
    if chain != c.hash_chain {
        return Err(fail(format!(
            "hash chain at nonce {}: the peer's {} is not the SU's {}",
            c.nonce,
            b64url(c.hash_chain),
            entry.hash_chain
        )));
    }
    let assignment = entry
        .assignment
        .as_ref()
        .map(|a| a.id.as_str())
        .unwrap_or_default();
    let assignment_raw = decode_id("assignment", assignment).map_err(|e| fail(e.to_string()))?;
    if assignment_raw != c.assignment_id {
        return Err(fail(format!(
            "assignment at nonce {}: the peer's {} is not the SU's {assignment}",
            c.nonce,
            b64url(c.assignment_id)
        )));
    }
    if entry.timestamp_ms != c.timestamp || entry.block_height != c.block_height {
        return Err(fail(format!(
            "nonce {}: the peer's timestamp {} / height {} are not the SU's {} / {}",
            c.nonce, c.timestamp, c.block_height, entry.timestamp_ms, entry.block_height
        )));
    }
    Ok(Checkpoint {
        memory_sha256: digest,
        ..c
    })
}

/// The peers an `ao-handoff-from` value names: comma-separated `http(s)://` base URLs, in order,
/// without duplicates, at most [`MAX_PEERS`]; anything else is dropped with a warning (a bad
/// hint must not fail the request: the process still loads from the other sources). Pure.
pub fn parse_peers(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && reqwest::Url::parse(url).is_ok();
        if !ok {
            tracing::warn!(url, "{HEADER}: not an http(s) URL; ignored");
            continue;
        }
        let url = url.trim_end_matches('/').to_string();
        if !out.contains(&url) && out.len() < MAX_PEERS {
            out.push(url);
        }
    }
    out
}

/// The peers named in HTTP `headers`, if any.
pub fn peers_in(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_peers)
        .collect()
}

/// The peers named in gRPC `metadata`, if any.
pub fn peers_in_metadata(metadata: &tonic::metadata::MetadataMap) -> Vec<String> {
    metadata
        .get_all(HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_peers)
        .collect()
}

/// The peers a request named for a process, and when.
type Hint = (Vec<String>, Instant);

/// Handoff hints by process: the peers a recent request named, until [`HINT_TTL`].
#[derive(Default)]
pub struct Hints {
    hints: Mutex<HashMap<[u8; 32], Hint>>,
}

impl Hints {
    /// Remember `peers` for process `pid` (nothing when empty).
    pub fn set(&self, pid: [u8; 32], peers: Vec<String>) {
        if peers.is_empty() {
            return;
        }
        let mut map = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_HINTS && !map.contains_key(&pid) {
            map.retain(|_, (_, at)| at.elapsed() < HINT_TTL);
            if map.len() >= MAX_HINTS {
                return;
            }
        }
        map.insert(pid, (peers, Instant::now()));
    }

    /// The peers hinted for `pid`, if the hint has not expired (it is kept for the next load).
    pub fn get(&self, pid: &[u8; 32]) -> Vec<String> {
        let map = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        map.get(pid)
            .filter(|(_, at)| at.elapsed() < HINT_TTL)
            .map(|(p, _)| p.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_peers_keeps_urls_in_order_once() {
        assert_eq!(
            parse_peers(" http://a:1/ ,https://b, ftp://c, nonsense,http://a:1"),
            vec!["http://a:1".to_string(), "https://b".to_string()]
        );
        assert!(parse_peers("").is_empty());
    }

    fn entry(c: &Checkpoint) -> pb::ScheduledMessage {
        pb::ScheduledMessage {
            nonce: c.nonce,
            hash_chain: b64url(c.hash_chain),
            timestamp_ms: c.timestamp,
            block_height: c.block_height,
            assignment: Some(pb::AssignmentView {
                id: b64url(c.assignment_id),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn state(memory: &[u8]) -> PeerState {
        let c = Checkpoint {
            nonce: 7,
            timestamp: 1000,
            block_height: 3,
            hash_chain: [1; 32],
            assignment_id: [2; 32],
            memory: memory.to_vec(),
            ..Default::default()
        };
        PeerState {
            peer: "http://a".into(),
            module: "M".into(),
            stated_sha256: Sha256::digest(memory).into(),
            checkpoint: c,
        }
    }

    #[test]
    fn verify_takes_a_matching_state_and_refuses_any_mismatch() {
        let good = state(b"memory");
        let e = entry(&good.checkpoint);
        assert!(verify(good.clone(), "M", &e).is_ok());
        let mut tampered = good.clone();
        tampered.checkpoint.memory[0] ^= 1;
        assert!(verify(tampered, "M", &e).is_err());
        assert!(verify(good.clone(), "other module", &e).is_err());
        let mut chain = e.clone();
        chain.hash_chain = b64url([9; 32]);
        assert!(verify(good.clone(), "M", &chain).is_err());
        let mut time = e.clone();
        time.timestamp_ms += 1;
        assert!(verify(good.clone(), "M", &time).is_err());
        let mut assignment = e;
        assignment.assignment = None;
        assert!(verify(good, "M", &assignment).is_err());
    }
}
