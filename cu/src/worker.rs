//! Processes evaluate on a bounded pool of worker threads, each owning the Wasmer instances of
//! many processes. A Wasmer `Store` and its instances cannot move between threads, so a process
//! is pinned to one thread when it is loaded (the thread with the fewest processes then) and
//! stays there until unloaded. One instance never serves two evaluations at once: a thread runs
//! one command at a time, and the CU's per-process lock orders a process's commands. The async
//! side sends commands and awaits replies; as many processes evaluate in parallel as there are
//! threads, which is all that cores can run anyway, while thousands of processes stay loaded
//! without a thread (and its stack) each.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

use crate::loader::{CompiledModule, Evaluation, LoaderError, Options, ProcessRunner};

/// Worker threads when not configured: 0 means one per core. Evaluation is CPU-bound, so more
/// threads than cores only add switching and memory, and fewer leave cores idle while loaded
/// processes wait.
pub const DEFAULT_WORKERS: usize = 0;

type Reply<T> = oneshot::Sender<Result<T, LoaderError>>;

/// An evaluation and the time its thread spent on it (without the time it waited in the queue
/// behind earlier commands).
pub type Timed = (Evaluation, Duration);

/// A command sent to a process's thread whose answer is awaited later: a replay sends the next
/// messages while earlier ones evaluate, so the thread never waits for the async side. Answers
/// come in the order the commands were sent (one queue per thread).
pub struct Pending<T>(oneshot::Receiver<Result<T, LoaderError>>);

impl<T> Pending<T> {
    /// The command's answer.
    pub async fn wait(self) -> Result<T, LoaderError> {
        self.0.await.map_err(|_| gone())?
    }
}

/// What a process is started from.
struct Start {
    module: CompiledModule,
    options: Options,
    memory: Option<Vec<u8>>,
}

enum Cmd {
    Start(u64, Box<Start>),
    Evaluate(u64, Value, Value, Reply<Timed>),
    DryRun(u64, Value, Value, Reply<Evaluation>),
    Memory(u64, Reply<Option<Vec<u8>>>),
    MemoryHash(u64, Reply<Option<[u8; 32]>>),
    Size(u64, Reply<usize>),
    Stop(u64),
    /// Answered once every command sent before it is done.
    Barrier(oneshot::Sender<()>),
}

/// One worker thread: its command queue and how many processes it holds.
struct Lane {
    tx: std::sync::mpsc::Sender<Cmd>,
    processes: AtomicUsize,
}

/// The evaluation threads of a CU.
pub struct WorkerPool {
    lanes: Vec<Arc<Lane>>,
    next_id: AtomicU64,
}

/// A process on a worker thread. Dropping it unloads the process on its thread (the Wasmer
/// instance is dropped where it lives) without waiting: nothing blocks the async runtime.
pub struct Worker {
    id: u64,
    lane: Arc<Lane>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.lane.tx.send(Cmd::Stop(self.id));
        self.lane.processes.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The process is gone from its thread (an evaluation panicked): it must be reloaded.
fn gone() -> LoaderError {
    LoaderError::Start("the process's evaluation thread dropped it".into())
}

/// A loaded process on a lane: its runner, and what a dry run starts a copy from.
struct Held {
    runner: ProcessRunner,
    module: CompiledModule,
    options: Options,
}

/// The loop of one worker thread: it owns every process pinned to it.
fn run_lane(rx: std::sync::mpsc::Receiver<Cmd>) {
    let mut held: HashMap<u64, Held> = HashMap::new();
    // Run `f` on process `id`; a panic drops the process (its instance may be half-changed) and
    // answers `gone`, leaving the thread and its other processes running.
    fn with<T>(
        held: &mut HashMap<u64, Held>,
        id: u64,
        f: impl FnOnce(&mut Held) -> Result<T, LoaderError>,
    ) -> Result<T, LoaderError> {
        let Some(h) = held.get_mut(&id) else {
            return Err(gone());
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(h))) {
            Ok(r) => r,
            Err(_) => {
                held.remove(&id);
                Err(gone())
            }
        }
    }
    for cmd in rx {
        match cmd {
            Cmd::Start(id, s) => {
                let Start {
                    module,
                    options,
                    memory,
                } = *s;
                let runner = ProcessRunner::new(module.clone(), options.clone(), memory);
                held.insert(
                    id,
                    Held {
                        runner,
                        module,
                        options,
                    },
                );
            }
            Cmd::Evaluate(id, msg, env, reply) => {
                let started = Instant::now();
                let _ = reply.send(with(&mut held, id, |h| {
                    h.runner
                        .evaluate(&msg, &env)
                        .map(|e| (e, started.elapsed()))
                }));
            }
            Cmd::DryRun(id, msg, env, reply) => {
                let _ = reply.send(with(&mut held, id, |h| {
                    let memory = h.runner.memory()?;
                    ProcessRunner::new(h.module.clone(), h.options.clone(), memory)
                        .evaluate(&msg, &env)
                }));
            }
            Cmd::Memory(id, reply) => {
                let _ = reply.send(with(&mut held, id, |h| h.runner.memory()));
            }
            Cmd::MemoryHash(id, reply) => {
                let _ = reply.send(with(&mut held, id, |h| h.runner.memory_sha256()));
            }
            Cmd::Size(id, reply) => {
                let _ = reply.send(with(&mut held, id, |h| h.runner.memory_size()));
            }
            Cmd::Stop(id) => {
                held.remove(&id);
            }
            Cmd::Barrier(reply) => {
                let _ = reply.send(());
            }
        }
    }
}

impl WorkerPool {
    /// Start `threads` worker threads (0: one per core). A thread the system refuses is
    /// logged and left out; with none at all, every load fails with a clear error.
    pub fn new(threads: usize) -> WorkerPool {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        };
        let mut lanes = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = std::sync::mpsc::channel::<Cmd>();
            // Detached: the thread ends when the pool and every process on it are dropped
            // (its queue closes); `idle` is the signal that unloaded processes are gone.
            let started = std::thread::Builder::new()
                .name(format!("cu-worker-{i}"))
                .spawn(move || run_lane(rx));
            if let Err(e) = started {
                tracing::error!("cannot start evaluation thread {i}: {e}");
                continue;
            }
            lanes.push(Arc::new(Lane {
                tx,
                processes: AtomicUsize::new(0),
            }));
        }
        WorkerPool {
            lanes,
            next_id: AtomicU64::new(0),
        }
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.lanes.len()
    }

    /// Load a process on `module`, from `memory` when given, on the thread with the fewest
    /// processes (the instance itself is created there at its first command).
    pub fn spawn(
        &self,
        module: CompiledModule,
        options: Options,
        memory: Option<Vec<u8>>,
    ) -> Result<Worker, LoaderError> {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|l| l.processes.load(Ordering::Relaxed))
            .ok_or_else(|| LoaderError::Start("this CU has no evaluation thread".into()))?
            .clone();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lane.tx
            .send(Cmd::Start(
                id,
                Box::new(Start {
                    module,
                    options,
                    memory,
                }),
            ))
            .map_err(|_| gone())?;
        lane.processes.fetch_add(1, Ordering::Relaxed);
        Ok(Worker { id, lane })
    }

    /// Wait until every command sent so far is done on every thread: after unloading
    /// processes, the signal that their instances are dropped.
    pub async fn idle(&self) {
        let mut waits = Vec::with_capacity(self.lanes.len());
        for lane in &self.lanes {
            let (tx, rx) = oneshot::channel();
            if lane.tx.send(Cmd::Barrier(tx)).is_ok() {
                waits.push(rx);
            }
        }
        for w in waits {
            let _ = w.await;
        }
    }
}

impl Worker {
    fn send(&self, cmd: Cmd) -> Result<(), LoaderError> {
        self.lane.tx.send(cmd).map_err(|_| gone())
    }

    /// Evaluate a message on the process (its memory advances, or rolls back on `Error`).
    pub async fn evaluate(&self, msg: Value, env: Value) -> Result<Timed, LoaderError> {
        self.submit(msg, env)?.wait().await
    }

    /// Queue a message for evaluation after every command sent before it; its answer later.
    pub fn submit(&self, msg: Value, env: Value) -> Result<Pending<Timed>, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Evaluate(self.id, msg, env, reply))?;
        Ok(Pending(rx))
    }

    /// Queue a copy of the memory as it will be once every command sent before is done (a
    /// checkpoint between two queued messages).
    pub fn submit_memory(&self) -> Result<Pending<Option<Vec<u8>>>, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Memory(self.id, reply))?;
        Ok(Pending(rx))
    }

    /// Queue the SHA-256 of the memory as it will be once every command sent before is done
    /// (an attesting CU's hash after a queued message), computed on the process's thread.
    pub fn submit_memory_hash(&self) -> Result<Pending<Option<[u8; 32]>>, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::MemoryHash(self.id, reply))?;
        Ok(Pending(rx))
    }

    /// Evaluate a message on a copy of the process's memory; the process is unchanged.
    pub async fn dry_run(&self, msg: Value, env: Value) -> Result<Evaluation, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::DryRun(self.id, msg, env, reply))?;
        rx.await.map_err(|_| gone())?
    }

    /// A copy of the process's memory (`None` before its first message), made on its thread.
    pub async fn memory(&self) -> Result<Option<Vec<u8>>, LoaderError> {
        self.submit_memory()?.wait().await
    }

    /// The size of the process's memory, without copying it (what the instance cache counts).
    pub async fn memory_size(&self) -> Result<usize, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Size(self.id, reply))?;
        rx.await.map_err(|_| gone())?
    }
}
