//! Handoff: a process that comes to this CU from another starts from that CU's live state, not
//! from nonce 0.
//!
//! Where the peers come from: the router adds `ao-handoff-from: PEER[,PEER]` (HTTP header, gRPC
//! metadata of the same name) to what it forwards, naming the CUs that may hold the process warm
//! (its previous owners, in order of preference); operators without the router list their pool
//! with `--peer-cu`. A peer is its HTTP base URL, with `;grpc=URL` when its gRPC address is known
//! (the router knows both of every member): [`Peer`]. The state is read over gRPC `State` with
//! `probe` set when the peer's gRPC URL is known, else over HTTP `GET /state/{pid}` with
//! [`PROBE_HEADER`]; either way the peer answers what it holds as it is, or not-found at once,
//! instead of evaluating the process for us. Results of messages the peer evaluated before its
//! state was taken are asked of it too (HTTP `/result`, the bytes the peer serves), since this
//! CU never evaluated them; when no peer has them, the CU replays that history itself
//! ([`crate::process`]). A request only leaves a hint ([`Hints`], by process, expiring): the
//! load of the process, wherever a request reaches it, reads it, so no signature in between
//! carries the header.
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

/// A CU of the pool that may hold a process: its HTTP base URL (its name in logs and results'
/// requests) and, when known, its gRPC URL, over which its state is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `http(s)://HOST:PORT`, no trailing slash.
    pub http: String,
    /// `http(s)://HOST:PORT` of its Compute gRPC service.
    pub grpc: Option<String>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.http)
    }
}

impl Peer {
    /// Parse `URL[;grpc=URL]`; `None` (with the reason) when either is not an http(s) URL or an
    /// option is unknown. Pure.
    pub fn parse(s: &str) -> Result<Peer, String> {
        let url = |u: &str| -> Result<String, String> {
            let u = u.trim();
            if (u.starts_with("http://") || u.starts_with("https://"))
                && reqwest::Url::parse(u).is_ok()
            {
                Ok(u.trim_end_matches('/').to_string())
            } else {
                Err(format!("{u:?} is not an http(s) URL"))
            }
        };
        let mut parts = s.split(';');
        let http = url(parts.next().unwrap_or_default())?;
        let mut grpc = None;
        for option in parts {
            match option.trim().split_once('=') {
                Some(("grpc", u)) => grpc = Some(url(u)?),
                _ => return Err(format!("unknown option {option:?} (expected grpc=URL)")),
            }
        }
        Ok(Peer { http, grpc })
    }
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
    async fn state(&self, peer: &Peer, pid: &str) -> Result<PeerState, HandoffError>;

    /// The result `peer` stored for message `id` of `pid`: for a message a process taken over
    /// from `peer` had evaluated there before its state was taken (this CU never evaluated it).
    async fn result(
        &self,
        peer: &Peer,
        pid: &str,
        id: &str,
    ) -> Result<serde_json::Value, HandoffError>;
}

/// Peers' states over their gRPC `State` (when their gRPC URL is known) or HTTP `/state/{pid}`,
/// and their results over HTTP `/result`.
pub struct NetworkPeers {
    http: reqwest::Client,
}

impl NetworkPeers {
    /// Reading through `http` (each request bounded by [`PEER_TIMEOUT`]), and gRPC channels
    /// made for each state read (a handoff is rare: one per process that moves).
    pub fn new(http: reqwest::Client) -> NetworkPeers {
        NetworkPeers { http }
    }

    /// The state over the peer's gRPC `State`, with `probe` set: its chunks reassembled and
    /// checked against the size the header states.
    async fn grpc_state(
        &self,
        peer: &Peer,
        grpc: &str,
        pid: &str,
    ) -> Result<PeerState, HandoffError> {
        use ao_proto::compute::v1::StateRequest;
        use ao_proto::compute::v1::compute_client::ComputeClient;
        use futures_util::StreamExt;
        let transfer = |e: String| HandoffError::Transfer(peer.to_string(), e);
        let bad = |why: String| HandoffError::Malformed(peer.to_string(), why);
        let channel = tonic::transport::Endpoint::from_shared(grpc.to_string())
            .map_err(|e| transfer(format!("gRPC URL {grpc}: {e}")))?
            .connect_timeout(PEER_TIMEOUT)
            .timeout(PEER_TIMEOUT)
            .connect_lazy();
        let mut client =
            ComputeClient::new(channel).max_decoding_message_size(2 * crate::grpc::STATE_CHUNK);
        let read = async {
            let request = StateRequest {
                process_id: pid.to_string(),
                to_timestamp_ms: None,
                probe: true,
            };
            let mut stream = match client.state(request).await {
                Ok(r) => r.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => {
                    return Err(HandoffError::NotHeld(peer.to_string()));
                }
                Err(s) => return Err(transfer(format!("gRPC State: {s}"))),
            };
            let first = stream
                .next()
                .await
                .ok_or_else(|| bad("State sent no chunk".into()))?
                .map_err(|s| transfer(format!("gRPC State: {s}")))?;
            let header = first
                .header
                .ok_or_else(|| bad("the first State chunk has no header".into()))?;
            if header.memory_size > MAX_PEER_MEMORY {
                return Err(bad("memory larger than 4 GiB".into()));
            }
            let fields = grpc_fields(peer, &header)?;
            let mut memory = first.data;
            // The stated size bounds what is taken (and the allocation made for it).
            memory.reserve(header.memory_size.saturating_sub(memory.len() as u64) as usize);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|s| transfer(format!("gRPC State: {s}")))?;
                if memory.len() as u64 + chunk.data.len() as u64 > header.memory_size {
                    return Err(bad("more memory than the header states".into()));
                }
                memory.extend_from_slice(&chunk.data);
            }
            if memory.len() as u64 != header.memory_size {
                return Err(bad(format!(
                    "{} bytes of memory where the header states {}",
                    memory.len(),
                    header.memory_size
                )));
            }
            Ok(fields.with_memory(memory))
        };
        tokio::time::timeout(PEER_TIMEOUT, read)
            .await
            .map_err(|_| transfer(format!("gRPC State took over {PEER_TIMEOUT:?}")))?
    }
}

#[async_trait::async_trait]
impl PeerSource for NetworkPeers {
    async fn state(&self, peer: &Peer, pid: &str) -> Result<PeerState, HandoffError> {
        if let Some(grpc) = &peer.grpc {
            return self.grpc_state(peer, grpc, pid).await;
        }
        let transfer = |e: reqwest::Error| HandoffError::Transfer(peer.to_string(), e.to_string());
        let url = format!("{}/state/{pid}", peer.http);
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
        peer: &Peer,
        pid: &str,
        id: &str,
    ) -> Result<serde_json::Value, HandoffError> {
        let transfer = |e: reqwest::Error| HandoffError::Transfer(peer.to_string(), e.to_string());
        let mut url = reqwest::Url::parse(&format!("{}/result/", peer.http))
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

/// The fields of a gRPC `StateHeader` and its handoff point.
fn grpc_fields(
    peer: &Peer,
    h: &ao_proto::compute::v1::StateHeader,
) -> Result<Fields, HandoffError> {
    let bad = |why: String| HandoffError::Malformed(peer.to_string(), why);
    let point = h.handoff.as_ref().ok_or_else(|| {
        bad("no handoff point (a CU without handoff support, or no message evaluated)".into())
    })?;
    let sha: [u8; 32] = hex::decode(&h.sha256)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("sha256 is not 32 bytes of hex".into()))?;
    let id = |name: &'static str, v: &str| decode_id(name, v).map_err(|e| bad(e.to_string()));
    Ok(Fields {
        peer: peer.to_string(),
        module: point.module.clone(),
        sha,
        checkpoint: Checkpoint {
            nonce: h.last_ordinate,
            timestamp: point.scheduled_timestamp_ms,
            block_height: point.scheduled_block_height,
            hash_chain: id("hash chain", &point.hash_chain)?,
            assignment_id: id("assignment", &point.assignment)?,
            crons_done: point.crons_done,
            last_timestamp: h.last_timestamp_ms,
            last_block_height: h.last_block_height,
            memory_sha256: sha,
            memory: Vec::new(),
        },
    })
}

fn state_fields(peer: &Peer, h: &reqwest::header::HeaderMap) -> Result<Fields, HandoffError> {
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

/// The peers an `ao-handoff-from` value names: comma-separated [`Peer`]s (`URL[;grpc=URL]`), in
/// order, one per HTTP URL, at most [`MAX_PEERS`]; anything else is dropped with a warning (a
/// bad hint must not fail the request: the process still loads from the other sources). Pure.
pub fn parse_peers(value: &str) -> Vec<Peer> {
    let mut out: Vec<Peer> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let peer = match Peer::parse(item) {
            Ok(p) => p,
            Err(why) => {
                tracing::warn!(peer = item, "{HEADER}: {why}; ignored");
                continue;
            }
        };
        if !out.iter().any(|p| p.http == peer.http) && out.len() < MAX_PEERS {
            out.push(peer);
        }
    }
    out
}

/// The peers named in HTTP `headers`, if any.
pub fn peers_in(headers: &HeaderMap) -> Vec<Peer> {
    headers
        .get_all(HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_peers)
        .collect()
}

/// The peers named in gRPC `metadata`, if any.
pub fn peers_in_metadata(metadata: &tonic::metadata::MetadataMap) -> Vec<Peer> {
    metadata
        .get_all(HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_peers)
        .collect()
}

/// The peers a request named for a process, and when.
type Hint = (Vec<Peer>, Instant);

/// Handoff hints by process: the peers a recent request named, until [`HINT_TTL`].
#[derive(Default)]
pub struct Hints {
    hints: Mutex<HashMap<[u8; 32], Hint>>,
}

impl Hints {
    /// Remember `peers` for process `pid` (nothing when empty).
    pub fn set(&self, pid: [u8; 32], peers: Vec<Peer>) {
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
    pub fn get(&self, pid: &[u8; 32]) -> Vec<Peer> {
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
        let http = |u: &str| Peer {
            http: u.into(),
            grpc: None,
        };
        assert_eq!(
            parse_peers(" http://a:1/ ,https://b, ftp://c, nonsense,http://a:1;grpc=http://a:2"),
            vec![http("http://a:1"), http("https://b")]
        );
        assert_eq!(
            parse_peers("http://a:1;grpc=http://a:2/,http://b:1;grpc=ftp://b,http://c:1;x=1"),
            vec![Peer {
                http: "http://a:1".into(),
                grpc: Some("http://a:2".into()),
            }]
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
