//! `min-stake`: a result backed by at least that much stake, or a clear no.
//!
//! Why: a user chooses how much stake must stand behind an answer (a transfer that can lose $100
//! needs little; a bridge needs a lot). The router asks the pool's staked CUs for attested
//! results (`attest=true`, [`ao_core::ao::Attestation`]), in the process's rendezvous order (its
//! owner first, so the answer usually comes warm), as many at once as the amount needs if they
//! agree (more only when some do not count), until the attestations of distinct staked CUs that
//! agree reach the amount:
//! - enough: 200, the result with every agreeing attestation under `Attestations`, and
//!   `ao-stake: TOTAL`;
//! - two CUs disagree: 409 with every attestation gathered (the proof a challenge starts from);
//! - the pool's staked CUs hold less: 503 saying how much stands behind the result and how much
//!   was asked.
//!
//! The amount comes from `?min-stake=N`, the `ao-min-stake` header, or a path prefix
//! `/min-stake/N/...` (an unchanged aoconnect gets it by setting `CU_URL` to
//! `ROUTER/min-stake/N`: it appends `/result/{id}?process-id=` to `CU_URL`). Stake comes from
//! `--stake ADDRESS=AMOUNT` and from the unit registry process (`--registry PID`, its `Units`
//! query by dry-run, refreshed every [`STAKES_TTL`]). A CU's address is the one its `GET /`
//! reports, and every attestation must be signed by that address, state the process and
//! message asked, and state the result it came with; anything else is not counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ao_core::DataItem;
use ao_core::ao::Attestation;
use ao_core::encoding::b64url_decode;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Shared;

/// The header carrying the amount, as the query `min-stake` and the path prefix do.
pub const HEADER: &str = "ao-min-stake";

/// The answer header with the stake behind a result.
pub const STAKE_HEADER: &str = "ao-stake";

/// How long the registry's stakes are reused: stake changes by messages to the registry
/// (blocks apart); ten seconds keeps a flood of min-stake requests from being a flood of
/// dry-runs, and a slashed unit stops counting within that.
pub const STAKES_TTL: Duration = Duration::from_secs(10);

/// How long one CU may take to answer an attested result: a cold CU may replay the process
/// first (the owner is asked first, so that is rare); past this, the next CU is asked.
pub const ATTEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The dry-run `Owner` of the registry query: any address does for a read.
const QUERY_OWNER: &str = "ao-router-min-stake-query-000000000000000000";

pub use ao_core::ao::registry::{Amount, parse_amount};

/// Where stakes come from.
pub struct Stakes {
    fixed: HashMap<String, Amount>,
    registry: Option<String>,
    cache: Mutex<Option<(Instant, HashMap<String, Amount>)>>,
}

impl Stakes {
    /// `fixed` (from `--stake`), and the registry process `registry` when given.
    pub fn new(fixed: HashMap<String, Amount>, registry: Option<String>) -> Stakes {
        Stakes {
            fixed,
            registry,
            cache: Mutex::new(None),
        }
    }

    /// Whether any stake source is configured (min-stake requests are refused otherwise).
    pub fn configured(&self) -> bool {
        !self.fixed.is_empty() || self.registry.is_some()
    }

    /// Stake by unit address now: `--stake`, plus the registry's (cached [`STAKES_TTL`]).
    pub async fn current(&self, shared: &Shared) -> Result<HashMap<String, Amount>, String> {
        let mut all = self.fixed.clone();
        let Some(registry) = &self.registry else {
            return Ok(all);
        };
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < STAKES_TTL)
            .map(|(_, s)| s.clone());
        let from_registry = match cached {
            Some(s) => s,
            None => {
                let s = query_registry(shared, registry).await?;
                *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), s.clone()));
                s
            }
        };
        for (address, stake) in from_registry {
            *all.entry(address).or_default() += stake;
        }
        Ok(all)
    }
}

/// The registry's `Units` (role `cu`) by a dry-run on the pool: address -> stake.
async fn query_registry(
    shared: &Shared,
    registry: &str,
) -> Result<HashMap<String, Amount>, String> {
    let body = json!({
        "Id": "1234",
        "Owner": QUERY_OWNER,
        "Target": registry,
        "Tags": [{"name": "Action", "value": "Units"}, {"name": "Role", "value": "cu"}],
    });
    let pool = shared.dry_run_pool();
    let mut last = "no healthy CU to ask".to_string();
    for choice in pool.ranking(registry) {
        if !choice.state.usable() {
            continue;
        }
        let url = format!("{}/dry-run?process-id={registry}", choice.member.url());
        let answer = shared
            .http
            .post(&url)
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(ATTEST_TIMEOUT)
            .send()
            .await;
        let v: Value = match answer {
            Ok(r) if r.status().is_success() => match json_of(r).await {
                Ok(v) => v,
                Err(e) => {
                    last = format!("{url}: {e}");
                    continue;
                }
            },
            Ok(r) => {
                last = format!("{url}: {}", r.status());
                continue;
            }
            Err(e) => {
                last = format!("{url}: {}", crate::error_chain(&e));
                continue;
            }
        };
        return ao_core::ao::registry::stakes_of_units(&v)
            .map_err(|e| format!("the registry {registry}: {e}"));
    }
    Err(format!("cannot read the registry {registry}: {last}"))
}

/// One staked CU's verified answer.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The CU's address (the attestation's signer).
    pub unit: String,
    /// Its stake.
    pub stake: Amount,
    /// The attestation, base64url, as the CU sent it.
    pub item: String,
    /// The attestation's `Result-SHA-256`.
    pub result_sha256: [u8; 32],
}

/// Where the answers gathered so far stand.
#[derive(Debug, PartialEq, Eq)]
pub enum Tally {
    /// They agree and their distinct units' stake reaches the amount.
    Enough(Amount),
    /// Two results differ.
    Conflict,
    /// They agree, with this much stake so far.
    Short(Amount),
}

/// Tally `answers` against `want`. Pure.
pub fn tally(answers: &[Signed], want: Amount) -> Tally {
    let Some(first) = answers.first() else {
        return if want == 0 {
            Tally::Enough(0)
        } else {
            Tally::Short(0)
        };
    };
    if answers
        .iter()
        .any(|a| a.result_sha256 != first.result_sha256)
    {
        return Tally::Conflict;
    }
    let mut units: HashMap<&str, Amount> = HashMap::new();
    for a in answers {
        units.insert(&a.unit, a.stake);
    }
    let stake = units.values().fold(0u128, |s, v| s.saturating_add(*v));
    if stake >= want {
        Tally::Enough(stake)
    } else {
        Tally::Short(stake)
    }
}

/// A CU's attested answer, checked: signed by `address`, about `pid`, stating the result it
/// came with. The result (without `Attestations`) and the attestation, or why not. (The message
/// is not compared with the id asked: a bare assignment is asked by its assignment id.)
pub fn check_answer(
    answer: &Value,
    address: &str,
    pid: &str,
) -> Result<(Value, String, Attestation), String> {
    let item = answer["Attestations"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or("no attestation in the answer (is the CU run with --attest?)")?
        .to_string();
    let raw = b64url_decode("attestation", &item).map_err(|e| e.to_string())?;
    let a = DataItem::parse(raw)
        .map_err(|e| e.to_string())
        .and_then(|i| Attestation::verified(i).map_err(|e| e.to_string()))?;
    if a.unit() != address {
        return Err(format!(
            "signed by {}, not by the CU's address {address}",
            a.unit()
        ));
    }
    if a.process_id() != pid {
        return Err(format!("about process {}, not {pid}", a.process_id()));
    }
    let mut result = answer.clone();
    if let Some(m) = result.as_object_mut() {
        m.remove(crate::min_stake::ATTESTATIONS);
    }
    if !a.covers(&result) {
        return Err("its Result-SHA-256 is not the result it came with".into());
    }
    Ok((result, item, a))
}

/// The key attestations are listed under.
pub const ATTESTATIONS: &str = "Attestations";

/// A CU's address as its `GET /` reports it (cached on the member).
async fn address_of(shared: &Shared, member: &crate::members::Member) -> Result<String, String> {
    if let Some(a) = member.address() {
        return Ok(a);
    }
    let url = format!("{}/", member.url());
    let v: Value = shared
        .http
        .get(&url)
        .timeout(ATTEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| crate::error_chain(&e))
        .map(json_of)?
        .await?;
    let a = v["address"]
        .as_str()
        .ok_or_else(|| format!("{url} names no address"))?
        .to_string();
    member.set_address(a.clone());
    Ok(a)
}

/// A member's answer body as JSON (reqwest is built without its `json` feature).
async fn json_of(r: reqwest::Response) -> Result<Value, String> {
    let bytes = r.bytes().await.map_err(|e| crate::error_chain(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}

fn answer_json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// What one CU answered to an attested `/result`.
enum Asked {
    /// Its JSON answer (not yet checked).
    Body(Value),
    /// Not counted, and why.
    Skip(String),
    /// An answer every CU would give (the process or message does not exist): passed on.
    Final(Response),
}

/// Ask `member` for the attested result of `id`.
async fn ask(shared: &Shared, member: &crate::members::Member, pid: &str, id: &str) -> Asked {
    let mut url =
        match reqwest::Url::parse(&format!("{}/result/", member.url())).and_then(|u| u.join(id)) {
            Ok(u) => u,
            Err(e) => {
                return Asked::Final(answer_json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": e.to_string()}),
                ));
            }
        };
    url.query_pairs_mut()
        .append_pair("process-id", pid)
        .append_pair("attest", "true");
    match shared.http.get(url).timeout(ATTEST_TIMEOUT).send().await {
        Ok(r) if r.status() == StatusCode::OK => match json_of(r).await {
            Ok(v) => Asked::Body(v),
            Err(e) => Asked::Skip(e),
        },
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST {
                Asked::Final((status, text).into_response())
            } else {
                Asked::Skip(status.to_string())
            }
        }
        Err(e) => Asked::Skip(crate::error_chain(&e)),
    }
}

/// `GET /result/{id}?process-id=PID` with `want` stake behind it.
pub async fn gather(shared: &Shared, pid: &str, id: &str, want: Amount) -> Response {
    if !shared.stakes.configured() {
        return answer_json(
            StatusCode::BAD_REQUEST,
            json!({"error": "this router knows no stake (start it with --registry PID or --stake ADDRESS=AMOUNT)"}),
        );
    }
    let stakes = match shared.stakes.current(shared).await {
        Ok(s) => s,
        Err(e) => {
            return answer_json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": format!("stakes unknown: {e}")}),
            );
        }
    };
    let mut gathered: Vec<Signed> = Vec::new();
    let mut result: Option<Value> = None;
    let mut skipped: Vec<String> = Vec::new();
    // The staked CUs that get traffic, best first.
    let mut candidates = Vec::new();
    for choice in shared.pool.ranking(pid) {
        if !choice.state.usable() {
            continue;
        }
        match address_of(shared, &choice.member).await {
            Ok(address) => {
                let stake = stakes.get(&address).copied().unwrap_or(0);
                if stake > 0 {
                    candidates.push((choice.member, address, stake));
                }
            }
            Err(e) => skipped.push(format!("{}: {e}", choice.member.url())),
        }
    }
    let mut next = 0;
    while next < candidates.len() {
        // At once, as many of the next CUs as the stake still missing needs if they agree:
        // one round trip when all answer, more only for the ones that do not.
        let mut cover = match tally(&gathered, want) {
            Tally::Short(s) | Tally::Enough(s) => s,
            Tally::Conflict => 0,
        };
        let mut batch = Vec::new();
        while next < candidates.len() && (batch.is_empty() || cover < want) {
            cover = cover.saturating_add(candidates[next].2);
            batch.push(next);
            next += 1;
        }
        let answers = futures_util::future::join_all(
            batch
                .iter()
                .map(|&i| ask(shared, &candidates[i].0, pid, id)),
        )
        .await;
        for (&i, answer) in batch.iter().zip(answers) {
            let (member, address, stake) = &candidates[i];
            let body = match answer {
                Asked::Body(v) => v,
                Asked::Final(response) => return response,
                Asked::Skip(why) => {
                    skipped.push(format!("{}: {why}", member.url()));
                    continue;
                }
            };
            match check_answer(&body, address, pid) {
                Ok((r, item, a)) => {
                    gathered.push(Signed {
                        unit: address.clone(),
                        stake: *stake,
                        item,
                        result_sha256: a.result_sha256(),
                    });
                    result.get_or_insert(r);
                }
                Err(e) => {
                    tracing::warn!(
                        member = member.url(),
                        "min-stake: attestation not counted: {e}"
                    );
                    skipped.push(format!("{}: {e}", member.url()));
                }
            }
        }
        match tally(&gathered, want) {
            Tally::Conflict => {
                shared.metrics.min_stake("conflict");
                return answer_json(
                    StatusCode::CONFLICT,
                    json!({
                        "error": "staked CUs attest different results for this message",
                        ATTESTATIONS: gathered.iter().map(|s| s.item.clone()).collect::<Vec<_>>(),
                    }),
                );
            }
            Tally::Enough(total) => {
                shared.metrics.min_stake("enough");
                let mut body = result.unwrap_or_else(|| json!({}));
                body[ATTESTATIONS] =
                    json!(gathered.iter().map(|s| s.item.clone()).collect::<Vec<_>>());
                return (
                    StatusCode::OK,
                    [(STAKE_HEADER, total.to_string())],
                    axum::Json(body),
                )
                    .into_response();
            }
            Tally::Short(_) => {}
        }
    }
    let have = match tally(&gathered, want) {
        Tally::Short(s) | Tally::Enough(s) => s,
        Tally::Conflict => 0,
    };
    shared.metrics.min_stake("short");
    answer_json(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({
            "error": format!(
                "only {have} of stake stands behind this result among the pool's CUs; {want} was asked"
            ),
            "stake": have.to_string(),
            "asked": want.to_string(),
            "skipped": skipped,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(unit: &str, stake: Amount, sha: u8) -> Signed {
        Signed {
            unit: unit.into(),
            stake,
            item: String::new(),
            result_sha256: [sha; 32],
        }
    }

    #[test]
    fn stake_of_distinct_agreeing_units_counts() {
        assert_eq!(tally(&[], 0), Tally::Enough(0));
        assert_eq!(tally(&[], 5), Tally::Short(0));
        assert_eq!(tally(&[s("a", 10, 1)], 15), Tally::Short(10));
        assert_eq!(
            tally(&[s("a", 10, 1), s("b", 10, 1)], 15),
            Tally::Enough(20)
        );
        assert_eq!(
            tally(&[s("a", 10, 1), s("a", 10, 1)], 15),
            Tally::Short(10),
            "one unit twice is one stake"
        );
        assert_eq!(tally(&[s("a", 10, 1), s("b", 10, 2)], 5), Tally::Conflict);
    }
}
