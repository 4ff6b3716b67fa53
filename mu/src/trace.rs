//! `Trace`: for an item, the tree of everything it caused and where each piece stands, read from
//! the task queue (every task keeps its children in outbox order).

use ao_proto::messenger::v1::{TraceKind, TraceNode, TraceState};

use crate::store::{State, Store, StoreError, Task, Work};

/// Deepest tree returned: a ping-pong between two processes never ends, its trace must.
pub const MAX_DEPTH: usize = 64;

fn kind(t: &Task) -> TraceKind {
    match &t.work {
        Work::Spawn { .. } => TraceKind::Spawn,
        Work::Assign(_) => TraceKind::Assignment,
        Work::Forward { kind, .. } if kind == "Process" => TraceKind::Spawn,
        _ => TraceKind::Message,
    }
}

fn state(s: State) -> TraceState {
    match s {
        State::Queued => TraceState::Queued,
        State::Pushed => TraceState::Pushed,
        State::Computed => TraceState::Computed,
        State::Failed => TraceState::Failed,
        State::DeadLetter => TraceState::DeadLetter,
        State::Dropped => TraceState::Dropped,
    }
}

fn from_process(t: &Task) -> Option<String> {
    match &t.work {
        Work::Push { from_process, .. } => Some(from_process.clone()),
        Work::Spawn { parent, .. } => Some(parent.clone()),
        Work::Results { process, .. } => Some(process.clone()),
        _ => None,
    }
}

fn node(store: &Store, t: &Task, depth: usize) -> Result<TraceNode, StoreError> {
    let mut children = Vec::new();
    if depth < MAX_DEPTH {
        for id in &t.children {
            if let Some(c) = store.task(id)? {
                children.push(node(store, &c, depth + 1)?);
            }
        }
    }
    Ok(TraceNode {
        id: t.item_id.clone().unwrap_or_default(),
        kind: kind(t) as i32,
        process_id: t.process_id.clone(),
        state: state(t.state) as i32,
        error: t.error.clone(),
        children,
        from_process_id: if t.parent.is_some() {
            from_process(t)
        } else {
            None
        },
        stage: t.stage.name().to_string(),
        retries: t.retries,
        updated_ms: t.updated_ms as i64,
        receipt: t.receipt.clone(),
    })
}

/// The tree of the item `id` (a user item, a pushed item, or an assignment id).
pub fn tree(store: &Store, id: &str) -> Result<Option<TraceNode>, StoreError> {
    match store.task_by_item(id)? {
        Some(t) => node(store, &t, 0).map(Some),
        None => Ok(None),
    }
}

/// The tree as JSON (the HTTP `GET /trace/{id}`).
pub fn json(n: &TraceNode) -> serde_json::Value {
    let kind = TraceKind::try_from(n.kind).map_or("unknown", |k| match k {
        TraceKind::Message => "message",
        TraceKind::Spawn => "spawn",
        TraceKind::Assignment => "assignment",
        TraceKind::Unspecified => "unknown",
    });
    let state = TraceState::try_from(n.state).map_or("unknown", |s| match s {
        TraceState::Queued => "queued",
        TraceState::Pushed => "pushed",
        TraceState::Computed => "computed",
        TraceState::Failed => "failed",
        TraceState::DeadLetter => "dead-letter",
        TraceState::Dropped => "dropped",
        TraceState::Unspecified => "unknown",
    });
    serde_json::json!({
        "id": n.id,
        "kind": kind,
        "process": n.process_id,
        "from_process": n.from_process_id,
        "state": state,
        "stage": n.stage,
        "retries": n.retries,
        "error": n.error,
        "updated_ms": n.updated_ms,
        "receipt": n.receipt,
        "children": n.children.iter().map(json).collect::<Vec<_>>(),
    })
}
