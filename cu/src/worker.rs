//! A process's wasm instance lives on its own thread: Wasmer's `Store` and instances cannot move
//! between threads, and one instance must never serve two evaluations at once. The async side
//! sends commands and awaits replies; many processes evaluate in parallel on their threads.

use serde_json::Value;
use tokio::sync::oneshot;

use crate::loader::{CompiledModule, Evaluation, LoaderError, Options, ProcessRunner};

enum Cmd {
    Evaluate(
        Value,
        Value,
        oneshot::Sender<Result<Evaluation, LoaderError>>,
    ),
    DryRun(
        Value,
        Value,
        oneshot::Sender<Result<Evaluation, LoaderError>>,
    ),
    Memory(oneshot::Sender<Result<Option<Vec<u8>>, LoaderError>>),
    Size(oneshot::Sender<Result<usize, LoaderError>>),
}

/// The handle of a process's evaluation thread. Dropping it ends the thread and waits for it, so
/// that no Wasmer instance outlives the CU (a process exiting under a live instance can crash).
pub struct Worker {
    tx: Option<std::sync::mpsc::Sender<Cmd>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread is gone (it panicked): the process must be reloaded.
fn gone() -> LoaderError {
    LoaderError::Start("the process's evaluation thread stopped".into())
}

impl Worker {
    /// Start the thread with a process on `module`, from `memory` when given.
    pub fn spawn(
        module: CompiledModule,
        options: Options,
        memory: Option<Vec<u8>>,
    ) -> Result<Worker, LoaderError> {
        let (tx, rx) = std::sync::mpsc::channel::<Cmd>();
        let thread = std::thread::Builder::new()
            .name("cu-process".into())
            .spawn(move || {
                let mut runner = ProcessRunner::new(module.clone(), options.clone(), memory);
                for cmd in rx {
                    match cmd {
                        Cmd::Evaluate(msg, env, reply) => {
                            let _ = reply.send(runner.evaluate(&msg, &env));
                        }
                        Cmd::DryRun(msg, env, reply) => {
                            let result = runner.memory().and_then(|memory| {
                                ProcessRunner::new(module.clone(), options.clone(), memory)
                                    .evaluate(&msg, &env)
                            });
                            let _ = reply.send(result);
                        }
                        Cmd::Memory(reply) => {
                            let _ = reply.send(runner.memory());
                        }
                        Cmd::Size(reply) => {
                            let _ = reply.send(runner.memory_size());
                        }
                    }
                }
            })
            .map_err(|e| LoaderError::Start(format!("cannot start an evaluation thread: {e}")))?;
        Ok(Worker {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, cmd: Cmd) -> Result<(), LoaderError> {
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(cmd)
            .map_err(|_| gone())
    }

    /// Evaluate a message on the process (its memory advances, or rolls back on `Error`).
    pub async fn evaluate(&self, msg: Value, env: Value) -> Result<Evaluation, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Evaluate(msg, env, reply))?;
        rx.await.map_err(|_| gone())?
    }

    /// Evaluate a message on a copy of the process's memory; the process is unchanged.
    pub async fn dry_run(&self, msg: Value, env: Value) -> Result<Evaluation, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::DryRun(msg, env, reply))?;
        rx.await.map_err(|_| gone())?
    }

    /// A copy of the process's memory (`None` before its first message).
    pub async fn memory(&self) -> Result<Option<Vec<u8>>, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Memory(reply))?;
        rx.await.map_err(|_| gone())?
    }

    /// The size of the process's memory, without copying it (what the instance cache counts).
    pub async fn memory_size(&self) -> Result<usize, LoaderError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Size(reply))?;
        rx.await.map_err(|_| gone())?
    }
}
