//! What the MU accepts from users, checked before anything else happens: a validly signed ANS-104
//! item tagged `Data-Protocol: ao` with `Type: Process` (carrying `Module` and `Scheduler`) or
//! `Type: Message` (with a target), within the per-wallet rate limit. Then it is handed to its SU
//! through the queue, and acknowledged only once the SU has it.

use std::sync::Arc;
use std::time::Duration;

use ao_core::DataItem;

use crate::crank::AssignOrder;
use crate::limits::RateLimiter;
use crate::queue::{Mu, StepError};
use crate::store::Task;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum MuError {
    /// The body is not a valid signed item, or its tags are not an AO Process/Message.
    #[error("{0}")]
    BadItem(String),
    /// Over the rate limit.
    #[error("rate limit reached for {key}; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// Wallet or IP.
        key: String,
        /// When the window resets.
        retry_after: Duration,
    },
    /// The SU refused the item (its status and reason).
    #[error("the SU refused it ({0}): {1}")]
    Refused(u16, String),
    /// The SU (or the gateway) could not be reached; nothing was accepted.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Not found (a trace, a monitor, a dead letter).
    #[error("{0}")]
    NotFound(String),
    /// Already there (a monitor started twice).
    #[error("{0}")]
    Conflict(String),
}

impl MuError {
    /// HTTP status of the AO API for this error.
    pub fn status(&self) -> u16 {
        match self {
            MuError::BadItem(_) => 400,
            MuError::RateLimited { .. } => 429,
            MuError::Refused(s, _) => *s,
            MuError::Unavailable(_) => 503,
            MuError::NotFound(_) => 404,
            MuError::Conflict(_) => 409,
        }
    }

    /// gRPC status for this error (the codes messenger.proto lists).
    pub fn grpc(&self) -> tonic::Status {
        let m = self.to_string();
        match self {
            MuError::BadItem(_) => tonic::Status::invalid_argument(m),
            MuError::RateLimited { .. } => tonic::Status::resource_exhausted(m),
            MuError::Refused(404, _) | MuError::NotFound(_) => tonic::Status::not_found(m),
            MuError::Refused(409, _) | MuError::Conflict(_) => tonic::Status::already_exists(m),
            MuError::Refused(_, _) => tonic::Status::invalid_argument(m),
            MuError::Unavailable(_) => tonic::Status::unavailable(m),
        }
    }
}

impl From<StepError> for MuError {
    fn from(e: StepError) -> MuError {
        match e {
            StepError::Retry(m) => MuError::Unavailable(m),
            StepError::Refused(status, m) => MuError::Refused(status, m),
            StepError::Drop(m) => MuError::BadItem(m),
        }
    }
}

/// An item checked to be something the MU forwards.
pub struct Incoming {
    /// The item.
    pub item: DataItem,
    /// `Process` or `Message`.
    pub kind: &'static str,
    /// The process it goes to: its target, or itself for a Process.
    pub process: String,
}

/// Verify and classify a `POST /` body (spec 3.3 steps 1-3).
pub fn check(body: bytes::Bytes) -> Result<Incoming, MuError> {
    let item =
        DataItem::parse(body).map_err(|e| MuError::BadItem(format!("not a data item: {e}")))?;
    item.verify()
        .map_err(|e| MuError::BadItem(format!("invalid signature on {}: {e}", item.id())))?;
    let values = |name: &str| -> Vec<String> {
        item.tags()
            .iter()
            .filter(|t| t.name.eq_ignore_ascii_case(name))
            .map(|t| t.value.clone())
            .collect()
    };
    if !values("Data-Protocol").iter().any(|v| v == "ao") {
        return Err(MuError::BadItem(format!(
            "item {} has no Data-Protocol: ao tag",
            item.id()
        )));
    }
    let kind = values("Type")
        .into_iter()
        .find(|v| v == "Process" || v == "Message")
        .ok_or_else(|| {
            MuError::BadItem(format!(
                "item {} is neither Type: Process nor Type: Message",
                item.id()
            ))
        })?;
    if kind == "Process" {
        for required in ["Module", "Scheduler"] {
            if item.tag(required).is_none_or(str::is_empty) {
                return Err(MuError::BadItem(format!(
                    "process {} has no {required} tag",
                    item.id()
                )));
            }
        }
        let process = item.id();
        Ok(Incoming {
            item,
            kind: "Process",
            process,
        })
    } else {
        let process = item.target_id().ok_or_else(|| {
            MuError::BadItem(format!("message {} has no target process", item.id()))
        })?;
        Ok(Incoming {
            item,
            kind: "Message",
            process,
        })
    }
}

/// Accept a `POST /` item: check it, count it against its wallet's limit, hand it to its SU.
pub async fn accept(
    mu: &Arc<Mu>,
    limiter: &RateLimiter,
    body: bytes::Bytes,
) -> Result<Task, MuError> {
    let incoming = check(body).inspect_err(|_| mu.metrics.refused())?;
    let span = if ao_runtime::telemetry::enabled() {
        tracing::info_span!(
            "mu.ingress",
            ao.process.id = %incoming.process,
            ao.message.id = %incoming.item.id(),
            ao.action = incoming.item.tag("Action").unwrap_or_default(),
            ao.message.type = incoming.kind,
        )
    } else {
        tracing::Span::none()
    };
    let _entered = span.enter();
    let wallet = incoming.item.owner_address();
    limiter
        .check(&wallet)
        .inspect_err(|_| mu.metrics.rate_limited())?;
    drop(_entered);
    let task = tracing::Instrument::instrument(
        mu.forward(&incoming.item, incoming.process, incoming.kind),
        span,
    )
    .await
    .map_err(MuError::from)
    .inspect_err(|_| mu.metrics.refused())?;
    mu.metrics.received();
    Ok(task)
}

/// Accept an assignment request.
pub async fn assign(mu: &Arc<Mu>, order: AssignOrder) -> Result<Task, MuError> {
    for (what, id) in [("process-id", &order.process), ("assign", &order.message)] {
        if ao_core::encoding::decode_id(what, id).is_err() {
            return Err(MuError::BadItem(format!(
                "{what} {id:?} is not a 43-character id"
            )));
        }
    }
    mu.assign(order).await.map_err(MuError::from)
}
