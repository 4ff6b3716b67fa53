//! The loader: runs AO process modules in Wasmer the way `@permaweb/ao-loader` 0.0.49 runs them,
//! so results, GasUsed and memory images agree with the reference bit for bit. Usable on its own
//! (`ao module run`, the conformance tests) and by the CU's evaluation service.
//!
//! - `format.rs`: `Module-Format` and encodings; what this CU runs.
//! - `host.rs`: the emscripten imports (setjmp/longjmp, heap growth, time, fd_write, env, stubs,
//!   metering), bound from the module's import list.
//! - `jsdate.rs`: JavaScript `Date` and the glue's `strftime`, for the time imports.
//! - `instance.rs`: start-up, `handle`, memory snapshots.
//! - here: [`Runtime`] (one Wasmer engine, compiles modules), [`CompiledModule`] (serializable),
//!   and [`ProcessRunner`], which evaluates a sequence of messages with the reference CU's rules
//!   (reuse the instance; after an `Error`, discard it and keep the previous memory).
//!
//! Formats: `wasm32-unknown-emscripten2` runs today. The others parse, and are refused with a
//! clear error until their host families land (see the README).

pub mod error;
pub mod format;
pub mod host;
pub mod instance;
pub mod jsdate;
pub mod lower64;
pub mod metering;
pub mod modern;

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmer::{Engine, Module};

pub use error::LoaderError;
pub use format::ModuleFormat;
pub use instance::{AoInstance, CallError, Options, Reply};

/// One Wasmer engine (Cranelift): compiles modules; compiled modules and their serialized
/// artifacts belong to it.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Runtime {
    /// A Cranelift engine with Wasmer's default features (no memory64: see the README).
    pub fn new() -> Runtime {
        let compiler = wasmer::sys::Cranelift::default();
        let engine: Engine = wasmer::sys::EngineBuilder::new(compiler).engine().into();
        Runtime { engine }
    }

    /// Compile `wasm` for `format`. Unknown or unsupported formats, and bytes that are not a
    /// valid module, are errors, never panics.
    pub fn compile(
        &self,
        wasm: &[u8],
        format: ModuleFormat,
    ) -> Result<CompiledModule, LoaderError> {
        self.compile_with(wasm, format, format.metered())
    }

    /// [`Runtime::compile`], metering the module as the `-metering` formats do whatever its
    /// format (to compare our metering with `@permaweb/wasm-metering` on any module).
    pub fn compile_with(
        &self,
        wasm: &[u8],
        format: ModuleFormat,
        meter: bool,
    ) -> Result<CompiledModule, LoaderError> {
        // Also inlines `metering.usegas` in pre-metered modules (and returns other modules as
        // they are).
        let rewritten =
            lower64::rewrite(wasm, meter).map_err(|e| LoaderError::Compile(e.to_string()))?;
        let wasm = &rewritten[..];
        let module =
            Module::new(&self.engine, wasm).map_err(|e| LoaderError::Compile(e.to_string()))?;
        Ok(CompiledModule {
            module,
            format,
            engine: self.engine.clone(),
        })
    }

    /// The key a serialized artifact of `wasm_id` is cached under: the artifact is only valid for
    /// this Wasmer version and engine configuration.
    pub fn cache_key(&self, wasm_id: &str, format: ModuleFormat) -> String {
        format!(
            "{wasm_id}.{format}.wasmer-7.4.2.{}.rewrite-{}",
            self.engine.deterministic_id(),
            lower64::REWRITE_VERSION
        )
    }

    /// Load an artifact made by [`CompiledModule::serialize`] with the same engine configuration.
    #[allow(unsafe_code)]
    pub fn deserialize(
        &self,
        bytes: &[u8],
        format: ModuleFormat,
    ) -> Result<CompiledModule, LoaderError> {
        // SAFETY: `Module::deserialize` trusts its input to be an artifact this Wasmer version
        // produced; callers pass only bytes from our own cache, written by `serialize` and looked
        // up by `cache_key`, which names the Wasmer version and engine, so a foreign or stale
        // artifact is never loaded.
        let module = unsafe { Module::deserialize(&self.engine, bytes.to_vec()) }
            .map_err(|e| LoaderError::Compile(format!("cached artifact: {e}")))?;
        Ok(CompiledModule {
            module,
            format,
            engine: self.engine.clone(),
        })
    }
}

/// A compiled module and its format.
#[derive(Clone)]
pub struct CompiledModule {
    pub(crate) module: Module,
    pub(crate) format: ModuleFormat,
    pub(crate) engine: Engine,
}

impl CompiledModule {
    /// The artifact, for the compiled-module cache.
    pub fn serialize(&self) -> Result<Vec<u8>, LoaderError> {
        self.module
            .serialize()
            .map(|b| b.to_vec())
            .map_err(|e| LoaderError::Compile(format!("serialize: {e}")))
    }

    /// The module's format.
    pub fn format(&self) -> ModuleFormat {
        self.format
    }
}

/// The outcome of evaluating one message, in the fields of the reference's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `Output` (`null` when absent).
    pub output: Value,
    /// `Messages` (`[]` when absent).
    pub messages: Value,
    /// `Spawns`.
    pub spawns: Value,
    /// `Assignments`.
    pub assignments: Value,
    /// `Error`, when the evaluation failed (the memory was then rolled back).
    pub error: Option<Value>,
    /// `GasUsed`, for formats whose glue meters (absent after a trap).
    pub gas_used: Option<u64>,
}

/// Evaluates a process's messages in order with the reference CU's instance rules.
///
/// The instance is reused while messages succeed. Rolling back an `Error` needs the memory as it
/// was before the failed message; instead of copying the whole memory after every message (what
/// the reference does, and most of the cost of a small message), the runner keeps a base memory
/// and the messages evaluated on top of it since, and rebuilds the previous memory by replaying
/// them on a scratch instance when an error actually happens (evaluation is deterministic). The
/// base moves forward every [`REPLAY_WINDOW`] messages or [`REPLAY_WINDOW_BYTES`] of them.
pub struct ProcessRunner {
    module: CompiledModule,
    options: Options,
    instance: Option<AoInstance>,
    /// The memory the replay starts from (`None`: a fresh instance).
    base: Option<Vec<u8>>,
    /// Messages (msg JSON, env JSON) evaluated successfully on top of `base`.
    since: Vec<(String, String)>,
    since_bytes: usize,
}

/// Messages kept for replay before the base memory is copied again.
pub const REPLAY_WINDOW: usize = 64;
/// Bytes of messages kept for replay before the base memory is copied again.
pub const REPLAY_WINDOW_BYTES: usize = 8 << 20;

fn error_value(response: &Value) -> Value {
    match response {
        Value::String(_) => response.clone(),
        Value::Object(o) => match o.get("message") {
            Some(Value::String(m)) => Value::String(m.clone()),
            _ => Value::String(response.to_string()),
        },
        other => Value::String(other.to_string()),
    }
}

impl ProcessRunner {
    /// A process on `module`, starting from a fresh instance, or from `memory` when given.
    pub fn new(module: CompiledModule, options: Options, memory: Option<Vec<u8>>) -> ProcessRunner {
        ProcessRunner {
            module,
            options,
            instance: None,
            base: memory,
            since: Vec::new(),
            since_bytes: 0,
        }
    }

    /// A fresh instance with `memory` loaded, as the reference starts every instance.
    fn fresh(&self, memory: Option<&[u8]>) -> Result<AoInstance, LoaderError> {
        let mut i = AoInstance::new(&self.module, &self.options)?;
        if let Some(m) = memory {
            i.load_memory(m)?;
        }
        Ok(i)
    }

    /// The memory after the last successful message, rebuilt by replay when the live instance
    /// was discarded; it becomes the new base.
    fn settle(&mut self) -> Result<(), LoaderError> {
        if self.since.is_empty() {
            return Ok(());
        }
        let mut scratch = self.fresh(self.base.as_deref())?;
        for (msg, env) in &self.since {
            match scratch.handle(msg, env) {
                Ok(reply) if reply.ok && reply.response.get("Error").is_none_or(Value::is_null) => {
                }
                _ => {
                    return Err(LoaderError::Start(
                        "replaying evaluated messages gave a different result".into(),
                    ));
                }
            }
        }
        self.base = Some(scratch.memory());
        self.since.clear();
        self.since_bytes = 0;
        Ok(())
    }

    /// Evaluate one message (the JSON the CU hands the module) with the process environment.
    pub fn evaluate(&mut self, msg: &Value, env: &Value) -> Result<Evaluation, LoaderError> {
        if self.instance.is_none() {
            // After an error the reference starts a new instance from the previous memory.
            self.settle()?;
            let i = self.fresh(self.base.as_deref())?;
            self.instance = Some(i);
        }
        let Some(instance) = self.instance.as_mut() else {
            return Err(LoaderError::Start("no instance".into()));
        };
        let msg = serde_json::to_string(msg).map_err(|e| LoaderError::BadInput(e.to_string()))?;
        let env = serde_json::to_string(env).map_err(|e| LoaderError::BadInput(e.to_string()))?;
        let field = |r: &Value, k: &str, default: Value| match r.get(k) {
            Some(Value::Null) | None => default,
            Some(v) => v.clone(),
        };
        let eval = match instance.handle(&msg, &env) {
            Ok(reply) if reply.ok => Evaluation {
                output: field(&reply.response, "Output", Value::Null),
                messages: field(&reply.response, "Messages", Value::Array(vec![])),
                spawns: field(&reply.response, "Spawns", Value::Array(vec![])),
                assignments: field(&reply.response, "Assignments", Value::Array(vec![])),
                error: reply
                    .response
                    .get("Error")
                    .filter(|e| !e.is_null())
                    .cloned(),
                gas_used: reply.gas_used,
            },
            Ok(reply) => Evaluation {
                output: Value::Null,
                messages: Value::Array(vec![]),
                spawns: Value::Array(vec![]),
                assignments: Value::Array(vec![]),
                error: Some(error_value(&reply.response)),
                gas_used: None,
            },
            Err(CallError::Trap(t)) => Evaluation {
                output: Value::Null,
                messages: Value::Array(vec![]),
                spawns: Value::Array(vec![]),
                assignments: Value::Array(vec![]),
                error: Some(Value::String(t)),
                gas_used: None,
            },
            Err(CallError::Loader(e)) => return Err(e),
        };
        if eval.error.is_some() {
            // The reference CU drops the instance and keeps the previous memory.
            self.instance = None;
        } else {
            self.since_bytes += msg.len() + env.len();
            self.since.push((msg, env));
            if self.since.len() >= REPLAY_WINDOW || self.since_bytes >= REPLAY_WINDOW_BYTES {
                self.base = Some(instance.memory());
                self.since.clear();
                self.since_bytes = 0;
            }
        }
        Ok(eval)
    }

    /// The process memory after the last successful message (`None` before any).
    pub fn memory(&mut self) -> Result<Option<Vec<u8>>, LoaderError> {
        if let Some(i) = &self.instance
            && (self.base.is_some() || !self.since.is_empty())
        {
            return Ok(Some(i.memory()));
        }
        self.settle()?;
        Ok(self.base.clone())
    }

    /// SHA-256 of [`ProcessRunner::memory`] without copying it when the instance is live;
    /// `None` before any memory.
    pub fn memory_sha256(&mut self) -> Result<Option<[u8; 32]>, LoaderError> {
        if let Some(i) = &self.instance
            && (self.base.is_some() || !self.since.is_empty())
        {
            return Ok(Some(i.memory_sha256()));
        }
        self.settle()?;
        Ok(self.base.as_deref().map(|m| Sha256::digest(m).into()))
    }

    /// Size of [`ProcessRunner::memory`] without copying it when the instance is live.
    pub fn memory_size(&mut self) -> Result<usize, LoaderError> {
        if let Some(i) = &self.instance
            && (self.base.is_some() || !self.since.is_empty())
        {
            return Ok(i.memory_size() as usize);
        }
        self.settle()?;
        Ok(self.base.as_ref().map_or(0, Vec::len))
    }

    /// SHA-256 (hex) and size of the current memory (empty when none yet).
    pub fn memory_digest(&mut self) -> Result<(usize, String), LoaderError> {
        let m = self.memory()?.unwrap_or_default();
        Ok((m.len(), hex::encode(Sha256::digest(&m))))
    }
}

/// One line of `ao module run` and of the conformance harness.
pub fn result_line(e: &Evaluation, memory_bytes: usize, memory_sha256: &str) -> Value {
    serde_json::json!({
        "Output": e.output,
        "Messages": e.messages,
        "Spawns": e.spawns,
        "Assignments": e.assignments,
        "Error": e.error.clone().unwrap_or(Value::Null),
        "GasUsed": e.gas_used,
        "memory_bytes": memory_bytes,
        "memory_sha256": memory_sha256,
    })
}
