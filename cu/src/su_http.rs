//! Schedules read over the AO HTTP API of SUs (spec 2.2, 2.3): the reference SU and every other
//! SU that published no `Grpc-Url`.
//!
//! Pages are read in nonce mode (`from-nonce` exclusive, `to-nonce` inclusive, as the reference
//! SU's stores compare them) rather than by timestamp: the reference's timestamps are wall-clock
//! ms and may repeat, so a timestamp page boundary can skip or repeat messages (spec 7.3), while
//! nonces are gap-free and unique. Each page continues after the last nonce received, whatever
//! page size the SU chose; entries at or before it are dropped, so a page never repeats one; a
//! full page followed by an empty one (the reference's `has_next_page` on an exactly full page,
//! spec 7.4) ends the read. Redirects (307 of a router) are followed by the HTTP client.
//! Following polls `/{pid}/latest` with backoff: there is no live tail in the HTTP API.

use std::collections::VecDeque;
use std::time::Duration;

use ao_proto::common::v1 as pb;
use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::CuError;
use crate::schedule_source::{Entries, NewEntry, NewNonces, ScheduleSource};

/// Entries asked for per page. The reference's default is 100; an SU may answer fewer (its own
/// page size), and reading continues from the last nonce it gave.
pub const PAGE_LIMIT: u32 = 500;

/// First wait between two polls of an HTTP SU's newest nonce while following a process: new
/// messages show up within about this long, and an active process is polled at this pace.
pub const POLL_MIN: Duration = Duration::from_millis(500);

/// Longest wait between two polls: an idle process costs its SU one request per this long,
/// and a message arriving after a quiet spell is still evaluated within it.
pub const POLL_MAX: Duration = Duration::from_secs(15);

/// Most of an SU's error body quoted in a CU error: enough to read the reason, not a page of
/// HTML from a misconfigured proxy.
const QUOTED_BODY: usize = 300;

/// An SU reached over the AO HTTP API at a base URL.
#[derive(Clone)]
pub struct HttpSource {
    url: String,
    http: reqwest::Client,
}

impl HttpSource {
    /// The SU at `url` (its Scheduler-Location's `Url`).
    pub fn new(url: &str, http: reqwest::Client) -> HttpSource {
        HttpSource {
            url: url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// GET `path_and_query` and parse its JSON, turning every failure into an error that names
    /// the SU and what it answered.
    async fn get(&self, path_and_query: &str) -> Result<Value, CuError> {
        let url = format!("{}{path_and_query}", self.url);
        let r = ao_runtime::propagation::inject_reqwest(
            self.http.get(&url).header("accept", "application/json"),
        )
        .send()
        .await
        .map_err(|e| CuError::Su(format!("GET {url}: {e}")))?;
        let status = r.status().as_u16();
        let body = r
            .bytes()
            .await
            .map_err(|e| CuError::Su(format!("GET {url}: reading the answer: {e}")))?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body);
            let reason = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| text.chars().take(QUOTED_BODY).collect());
            // The reference answers 400 "Message or Process not found" for unknown ids.
            if status == 404 || reason.to_ascii_lowercase().contains("not found") {
                return Err(CuError::NotFound(format!("SU {}: {reason}", self.url)));
            }
            return Err(CuError::Su(format!(
                "GET {url} answered {status}: {reason}"
            )));
        }
        serde_json::from_slice(&body).map_err(|e| {
            let text: String = String::from_utf8_lossy(&body)
                .chars()
                .take(QUOTED_BODY)
                .collect();
            CuError::Su(format!(
                "GET {url} answered something that is not JSON ({e}): {text:?}"
            ))
        })
    }

    /// One page: the entries after `after` up to `to`, and whether the SU says more follow.
    async fn page(
        &self,
        pid: &str,
        after: Option<u64>,
        to: u64,
    ) -> Result<(Vec<pb::ScheduledMessage>, bool), CuError> {
        let mut q = format!("/{pid}?process-id={pid}&to-nonce={to}&limit={PAGE_LIMIT}");
        if let Some(a) = after {
            q.push_str(&format!("&from-nonce={a}"));
        }
        let v = self.get(&q).await?;
        let bad =
            |what: &str| CuError::Su(format!("SU {} schedule page of {pid}: {what}", self.url));
        let edges = v
            .get("edges")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no edges list"))?;
        let more = v
            .get("page_info")
            .and_then(|p| p.get("has_next_page"))
            .and_then(Value::as_bool)
            .ok_or_else(|| bad("no page_info.has_next_page"))?;
        let entries = edges
            .iter()
            .map(|e| {
                let node = e.get("node").ok_or_else(|| bad("an edge has no node"))?;
                entry(node).map_err(|m| bad(&m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((entries, more))
    }
}

/// Where a paged read is.
struct Reading {
    source: HttpSource,
    pid: String,
    after: Option<u64>,
    to: u64,
    buffered: VecDeque<pb::ScheduledMessage>,
    done: bool,
}

#[async_trait]
impl ScheduleSource for HttpSource {
    async fn process(&self, pid: &str) -> Result<pb::ProcessRecord, CuError> {
        let v = self.get(&format!("/processes/{pid}")).await?;
        process_record(&v).map_err(|m| CuError::Su(format!("SU {} process {pid}: {m}", self.url)))
    }

    async fn nonce_of(&self, pid: &str, id: &str) -> Result<u64, CuError> {
        let v = self.get(&format!("/{id}?process-id={pid}")).await?;
        if v.get("edges").is_some() {
            return Err(CuError::NotFound(format!(
                "{id} is a process on SU {}, not a message of {pid}",
                self.url
            )));
        }
        let e = entry(&v).map_err(|m| CuError::Su(format!("SU {} message {id}: {m}", self.url)))?;
        // The reference finds a message by id whatever process was asked for (spec 7.27).
        if e.process_id != pid {
            return Err(CuError::NotFound(format!(
                "message {id} is scheduled on process {}, not {pid}",
                e.process_id
            )));
        }
        Ok(e.nonce)
    }

    async fn latest_nonce(&self, pid: &str) -> Result<u64, CuError> {
        let v = self.get(&format!("/{pid}/latest")).await?;
        entry(&v)
            .map(|e| e.nonce)
            .map_err(|m| CuError::Su(format!("SU {} latest of {pid}: {m}", self.url)))
    }

    async fn timestamp(&self, pid: &str) -> Result<i64, CuError> {
        let v = self.get(&format!("/timestamp?process-id={pid}")).await?;
        number(v.get("timestamp"))
            .ok_or_else(|| CuError::Su(format!("SU {} /timestamp: no timestamp in {v}", self.url)))
    }

    async fn read(&self, pid: &str, after: Option<u64>, to: u64) -> Result<Entries, CuError> {
        let start = Reading {
            source: self.clone(),
            pid: pid.to_string(),
            after,
            to,
            buffered: VecDeque::new(),
            done: false,
        };
        Ok(futures_util::stream::unfold(start, |mut r| async move {
            loop {
                if let Some(e) = r.buffered.pop_front() {
                    return Some((Ok(e), r));
                }
                if r.done {
                    return None;
                }
                match r.source.page(&r.pid, r.after, r.to).await {
                    Ok((entries, more)) => {
                        let before = r.after;
                        for e in entries {
                            if r.after.is_none_or(|a| e.nonce > a) && e.nonce <= r.to {
                                r.after = Some(e.nonce);
                                r.buffered.push_back(e);
                            }
                        }
                        // No progress means the end, whatever `has_next_page` said: the
                        // reference says true after an exactly full page.
                        let progressed = r.after != before;
                        r.done = !more || !progressed || r.after.is_some_and(|a| a >= r.to);
                    }
                    Err(e) => {
                        r.done = true;
                        return Some((Err(e), r));
                    }
                }
            }
        })
        .boxed())
    }

    async fn follow(&self, pid: &str, after: Option<u64>) -> Result<NewNonces, CuError> {
        // `None` means new entries only: start from the newest there is now.
        let after = match after {
            Some(a) => Some(a),
            None => Some(self.latest_nonce(pid).await?),
        };
        let state = (self.clone(), pid.to_string(), after, POLL_MIN);
        Ok(
            futures_util::stream::unfold(state, |(source, pid, mut after, mut wait)| async move {
                loop {
                    tokio::time::sleep(wait).await;
                    match source.latest_nonce(&pid).await {
                        Ok(n) if after.is_none_or(|a| n > a) => {
                            after = Some(n);
                            let entry = NewEntry {
                                nonce: n,
                                traceparent: None,
                            };
                            return Some((Ok(entry), (source, pid, after, POLL_MIN)));
                        }
                        Ok(_) => wait = (wait * 2).min(POLL_MAX),
                        Err(e) => {
                            let next = (wait * 2).min(POLL_MAX);
                            return Some((Err(e), (source, pid, after, next)));
                        }
                    }
                }
            })
            .boxed(),
        )
    }
}

/// A JSON number, or a decimal string (the reference writes timestamps and heights as both).
fn number<T: std::str::FromStr + TryFrom<u64> + TryFrom<i64>>(v: Option<&Value>) -> Option<T> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n
            .as_u64()
            .and_then(|u| T::try_from(u).ok())
            .or_else(|| n.as_i64().and_then(|i| T::try_from(i).ok())),
        _ => None,
    }
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("no {key:?} string"))
}

fn owner(v: &Value) -> Option<pb::Owner> {
    let o = v.get("owner")?;
    Some(pb::Owner {
        address: o.get("address")?.as_str()?.to_string(),
        key: o.get("key")?.as_str()?.to_string(),
    })
}

fn tags(v: &Value) -> Result<Vec<pb::Tag>, String> {
    v.get("tags")
        .and_then(Value::as_array)
        .ok_or("no tags list")?
        .iter()
        .map(|t| match (t.get("name"), t.get("value")) {
            (Some(Value::String(n)), Some(Value::String(v))) => Ok(pb::Tag {
                name: n.clone(),
                value: v.clone(),
            }),
            _ => Err(format!("a tag is not {{name, value}} strings: {t}")),
        })
        .collect()
}

/// An anchor or target: absent when null or empty (the reference renders absent anchors as
/// `null` and absent targets as `""`).
fn optional(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn data_item(v: &Value) -> Result<pb::DataItem, String> {
    Ok(pb::DataItem {
        id: string(v, "id")?,
        owner: owner(v),
        data: v
            .get("data")
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        tags: tags(v)?,
        signature: string(v, "signature").unwrap_or_default(),
        anchor: optional(v, "anchor").map(String::into_bytes),
        target: optional(v, "target"),
    })
}

/// One schedule entry (`{"message", "assignment"}`) with its assignment's tags read into the
/// typed fields the evaluator uses.
pub fn entry(node: &Value) -> Result<pb::ScheduledMessage, String> {
    let a = node
        .get("assignment")
        .filter(|a| a.is_object())
        .ok_or("no assignment")?;
    let assignment_tags = tags(a)?;
    let id = string(a, "id")?;
    let tag = |name: &str| {
        assignment_tags
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.value.clone())
    };
    let required =
        |name: &str| tag(name).ok_or_else(|| format!("assignment {id} has no {name} tag"));
    let parse = |name: &str| -> Result<u64, String> {
        let v = required(name)?;
        v.parse()
            .map_err(|_| format!("assignment {id}: {name} {v:?} is not a number"))
    };
    let timestamp = required("Timestamp")?;
    let message = match node.get("message") {
        None | Some(Value::Null) => None,
        Some(m) => Some(data_item(m).map_err(|e| format!("message of assignment {id}: {e}"))?),
    };
    Ok(pb::ScheduledMessage {
        process_id: required("Process")?,
        epoch: tag("Epoch").and_then(|e| e.parse().ok()).unwrap_or(0),
        nonce: parse("Nonce")?,
        timestamp_ms: timestamp
            .parse()
            .map_err(|_| format!("assignment {id}: Timestamp {timestamp:?} is not a number"))?,
        block_height: parse("Block-Height")?,
        hash_chain: required("Hash-Chain")?,
        message_id: tag("Message"),
        exclude: assignment_tags
            .iter()
            .filter(|t| t.name == "Exclude")
            .map(|t| t.value.clone())
            .collect(),
        message,
        assignment: Some(pb::AssignmentView {
            id,
            owner: owner(a),
            tags: assignment_tags.clone(),
            signature: string(a, "signature").unwrap_or_default(),
            anchor: optional(a, "anchor").map(String::into_bytes),
            target: optional(a, "target"),
        }),
        // The AO HTTP API carries no trace context per entry.
        traceparent: None,
    })
}

/// The process record of `GET /processes/{pid}`.
pub fn process_record(v: &Value) -> Result<pb::ProcessRecord, String> {
    Ok(pb::ProcessRecord {
        process_id: string(v, "process_id")?,
        block_height: number(v.get("block")).ok_or("no block height")?,
        timestamp_ms: number(v.get("timestamp")).ok_or("no timestamp")?,
        owner: owner(v),
        tags: tags(v)?,
        data: v
            .get("data")
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        anchor: optional(v, "anchor").map(String::into_bytes),
        signature: string(v, "signature").unwrap_or_default(),
        target: optional(v, "target"),
        assignment: None,
    })
}
