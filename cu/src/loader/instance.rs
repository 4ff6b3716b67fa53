//! One running module instance: start-up exactly as the format's reference glue does it (stack
//! init, stack cookies, constructors, then `main(argc, argv)` for emscripten2, `main(0, 0)` for
//! v1 and emscripten3, nothing for emscripten4 and wasm64), `handle(msg, env)` through the wasm
//! stack as `ccall` does it (with the Asyncify unwind/rewind rounds of the newer glue),
//! snapshots of the linear memory and their restore into a fresh instance.

use wasmer::{Function, FunctionEnv, Instance, Memory, Store, Value};

use crate::loader::CompiledModule;
use crate::loader::error::LoaderError;
use crate::loader::format::ModuleFormat;
use crate::loader::host::{self, AbiExports, AsyncifyExports, HostState, Trap};
use crate::loader::modern::{AsyncState, DATE_NOW_AT_START};

/// The gas limit when a process sets none: the reference glue's `DEFAULT_GAS_LIMIT` (9e15).
pub const DEFAULT_GAS_LIMIT: u64 = 9_000_000_000_000_000;

/// The environment strings emscripten's glue gives every program (v1/2/3), `_` being the program
/// name; part of the memory image once `environ_get` copied them in.
pub fn default_env_strings(program: &str) -> Vec<String> {
    vec![
        "USER=web_user".into(),
        "LOGNAME=web_user".into(),
        "PATH=/".into(),
        "PWD=/".into(),
        "HOME=/home/web_user".into(),
        "LANG=C.UTF-8".into(),
        format!("_={program}"),
    ]
}

/// The program name and arguments `main` receives when none are configured: fixed, so every
/// ao-rs CU builds the same memory image. (The reference passes its node command line, which
/// differs per deployment; `argv` reproduces any of them.)
pub const DEFAULT_ARGV: [&str; 1] = ["/ao/process"];

/// How an instance is started and limited.
#[derive(Debug, Clone)]
pub struct Options {
    /// Gas allowed per call (and for start-up); `None` = [`DEFAULT_GAS_LIMIT`].
    pub compute_limit: Option<u64>,
    /// Largest memory, bytes; also caps growth below the format's own maximum.
    pub memory_limit: Option<u64>,
    /// `main`'s argv, program name first.
    pub argv: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compute_limit: None,
            memory_limit: None,
            argv: DEFAULT_ARGV.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Why a `handle` call produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// A trap, out of gas, abort or exit: the instance must be discarded.
    #[error("{0}")]
    Trap(String),
    /// A loader-level failure.
    #[error(transparent)]
    Loader(#[from] LoaderError),
}

/// The module's reply to one `handle` call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `ok` of `{"ok": ..., "response": ...}`.
    pub ok: bool,
    /// `response`.
    pub response: serde_json::Value,
    /// Gas charged by the call, for formats whose glue meters.
    pub gas_used: Option<u64>,
}

/// A started instance.
pub struct AoInstance {
    store: Store,
    env: FunctionEnv<HostState>,
    exports: AbiExports,
    handle: Function,
    _instance: Instance,
    format: ModuleFormat,
}

fn trap_text(e: wasmer::RuntimeError) -> String {
    match e.downcast_ref::<Trap>() {
        Some(t) => t.to_string(),
        None => e.message(),
    }
}

/// The v1 glue reads the module's exports under minified names (`Module.asm.E` is the memory,
/// and so on); the names are fixed by that glue, so every v1 module uses them.
const V1_EXPORTS: [(&str, &str); 11] = [
    ("memory", "E"),
    ("__wasm_call_ctors", "F"),
    ("handle", "G"),
    ("main", "H"),
    ("__indirect_function_table", "I"),
    ("malloc", "J"),
    ("__errno_location", "K"),
    ("setThrew", "L"),
    ("stackSave", "M"),
    ("stackRestore", "N"),
    ("stackAlloc", "O"),
];

/// The newer glue reaches the stack through these exports instead.
const NEWER_EXPORTS: [(&str, &str); 3] = [
    ("stackSave", "emscripten_stack_get_current"),
    ("stackRestore", "_emscripten_stack_restore"),
    ("stackAlloc", "_emscripten_stack_alloc"),
];

/// The name `format`'s modules export `name` under.
fn export_name(name: &str, format: ModuleFormat) -> &str {
    let table: &[(&str, &str)] = match format {
        ModuleFormat::Emscripten => &V1_EXPORTS,
        f if f.newer_glue() => &NEWER_EXPORTS,
        _ => &[],
    };
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, short)| short)
}

fn get_fn(instance: &Instance, name: &str, format: ModuleFormat) -> Result<Function, LoaderError> {
    instance
        .exports
        .get_function(export_name(name, format))
        .cloned()
        .map_err(|_| LoaderError::MissingExport(name.to_string(), format.to_string()))
}

fn opt_fn(instance: &Instance, name: &str, format: ModuleFormat) -> Option<Function> {
    instance
        .exports
        .get_function(export_name(name, format))
        .ok()
        .cloned()
}

impl AoInstance {
    /// Instantiate `module` and run the format's start-up.
    pub fn new(module: &CompiledModule, options: &Options) -> Result<AoInstance, LoaderError> {
        let format = module.format;
        let mut store = Store::new(module.engine.clone());
        let heap_max = options
            .memory_limit
            .map_or(format.heap_max(), |l| l.min(format.heap_max()));
        let program = options.argv.first().cloned().unwrap_or_default();
        let env = FunctionEnv::new(
            &mut store,
            HostState {
                exports: None,
                temp_ret0: 0,
                tzset_called: false,
                gas_used: 0,
                gas_limit: options.compute_limit.unwrap_or(DEFAULT_GAS_LIMIT),
                heap_max,
                env_strings: default_env_strings(&program),
                output: Vec::new(),
                pointer64: format.pointer64(),
                date_now: DATE_NOW_AT_START,
                async_state: AsyncState::Normal,
                async_data: 0,
            },
        );
        let imports = host::imports(&mut store, &env, &module.module, format)?;
        let instance = Instance::new(&mut store, &module.module, &imports)
            .map_err(|e| LoaderError::Start(e.to_string()))?;
        let memory: Memory = instance
            .exports
            .get_memory(export_name("memory", format))
            .cloned()
            .map_err(|_| LoaderError::MissingExport("memory".into(), format.to_string()))?;
        let exports = AbiExports {
            memory,
            table: instance
                .exports
                .get_table(export_name("__indirect_function_table", format))
                .ok()
                .cloned(),
            stack_save: get_fn(&instance, "stackSave", format)?,
            stack_restore: get_fn(&instance, "stackRestore", format)?,
            stack_alloc: get_fn(&instance, "stackAlloc", format)?,
            set_threw: opt_fn(&instance, "setThrew", format),
            malloc: opt_fn(&instance, "malloc", format),
            errno_location: opt_fn(&instance, "__errno_location", format),
            free: opt_fn(&instance, "free", format),
            asyncify: match (
                opt_fn(&instance, "asyncify_start_unwind", format),
                opt_fn(&instance, "asyncify_stop_unwind", format),
                opt_fn(&instance, "asyncify_start_rewind", format),
                opt_fn(&instance, "asyncify_stop_rewind", format),
            ) {
                (Some(start_unwind), Some(stop_unwind), Some(start_rewind), Some(stop_rewind)) => {
                    Some(AsyncifyExports {
                        start_unwind,
                        stop_unwind,
                        start_rewind,
                        stop_rewind,
                    })
                }
                _ => None,
            },
            gas: match (
                instance
                    .exports
                    .get_global(crate::loader::metering::GAS_USED_EXPORT),
                instance
                    .exports
                    .get_global(crate::loader::metering::GAS_LIMIT_EXPORT),
            ) {
                (Ok(used), Ok(limit)) => Some((used.clone(), limit.clone())),
                _ => None,
            },
            dyncalls: if format.newer_glue() {
                instance
                    .exports
                    .iter()
                    .filter(|(name, _)| name.starts_with("dynCall_"))
                    .filter_map(|(name, e)| match e {
                        wasmer::Extern::Function(f) => Some((name.clone(), f.clone())),
                        _ => None,
                    })
                    .collect()
            } else {
                Default::default()
            },
        };
        if let Some((_, limit)) = &exports.gas {
            let gas_limit = options.compute_limit.unwrap_or(DEFAULT_GAS_LIMIT);
            limit
                .set(&mut store, Value::I64(gas_limit as i64))
                .map_err(|e| LoaderError::Start(e.to_string()))?;
        }
        env.as_mut(&mut store).exports = Some(exports.clone());
        let handle = get_fn(&instance, "handle", format)?;
        let mut me = AoInstance {
            store,
            env,
            exports,
            handle,
            _instance: instance,
            format,
        };
        me.start(&options.argv)?;
        Ok(me)
    }

    fn call(&mut self, f: &Function, args: &[Value]) -> Result<Box<[Value]>, String> {
        f.call(&mut self.store, args).map_err(trap_text)
    }

    fn call_ptr(&mut self, f: &Function, args: &[Value]) -> Result<u64, String> {
        match self.call(f, args)?.first() {
            Some(Value::I32(v)) => Ok(u64::from(*v as u32)),
            Some(Value::I64(v)) => Ok(*v as u64),
            _ => Err("expected a pointer result".into()),
        }
    }

    fn write(&mut self, ptr: u64, bytes: &[u8]) -> Result<(), String> {
        self.exports
            .memory
            .view(&self.store)
            .write(ptr, bytes)
            .map_err(|e| e.to_string())
    }

    /// Integer arguments typed as `f`'s parameters (i32 or i64 pointers).
    fn typed(&self, f: &Function, values: &[u64]) -> Vec<Value> {
        f.ty(&self.store)
            .params()
            .iter()
            .zip(values)
            .map(|(t, v)| match t {
                wasmer::Type::I64 => Value::I64(*v as i64),
                _ => Value::I32(*v as i32),
            })
            .collect()
    }

    /// `stackAlloc(size)` and write `bytes` there; returns the address.
    fn on_stack(&mut self, size: u64, bytes: &[u8]) -> Result<u64, String> {
        let alloc = self.exports.stack_alloc.clone();
        let args = self.typed(&alloc, &[size]);
        let ptr = self.call_ptr(&alloc, &args)?;
        self.write(ptr, bytes)?;
        Ok(ptr)
    }

    /// Start-up as the format's glue `run()` does it.
    fn start(&mut self, argv: &[String]) -> Result<(), LoaderError> {
        if self.format == ModuleFormat::Emscripten {
            return self.start_v1();
        }
        if self.format.newer_glue() {
            return self.start_newer();
        }
        let start = |e: String| LoaderError::Start(e);
        let main = get_fn(&self._instance, "main", self.format)?;
        self.init_stack_and_constructors()?;
        // callMain(args): the argv array first, then each string, all on the stack, never freed.
        let argc = argv.len();
        let array = self.on_stack(((argc + 1) * 4) as u64, &[]).map_err(start)?;
        let mut pointers = Vec::with_capacity((argc + 1) * 4);
        for arg in argv {
            let mut bytes = arg.as_bytes().to_vec();
            bytes.push(0);
            let p = self.on_stack(bytes.len() as u64, &bytes).map_err(start)?;
            pointers.extend_from_slice(&(p as u32).to_le_bytes());
        }
        pointers.extend_from_slice(&0u32.to_le_bytes());
        self.write(array, &pointers).map_err(start)?;
        match main.call(
            &mut self.store,
            &[Value::I32(argc as i32), Value::I32(array as i32)],
        ) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.downcast_ref::<Trap>(), Some(Trap::Exit(0))) => Ok(()),
            Err(e) => Err(LoaderError::Start(format!("main: {}", trap_text(e)))),
        }
    }

    /// `stackCheckInit()` and `initRuntime()` of the glue: stack init, `writeStackCookie()` (two
    /// words at the stack's end and "emsc" at address 0: part of the memory image), constructors.
    fn init_stack_and_constructors(&mut self) -> Result<(), LoaderError> {
        let start = |e: String| LoaderError::Start(e);
        let instance = &self._instance;
        let stack_init = get_fn(instance, "emscripten_stack_init", self.format)?;
        let stack_end = get_fn(instance, "emscripten_stack_get_end", self.format)?;
        let ctors = get_fn(instance, "__wasm_call_ctors", self.format)?;
        self.call(&stack_init, &[]).map_err(start)?;
        let max = self.call_ptr(&stack_end, &[]).map_err(start)?;
        self.write(max, &0x0213_5467u32.to_le_bytes())
            .map_err(start)?;
        self.write(max + 4, &0x89BA_CDFEu32.to_le_bytes())
            .map_err(start)?;
        self.write(0, &0x6373_6d65u32.to_le_bytes())
            .map_err(start)?;
        self.call(&ctors, &[]).map_err(start)?;
        Ok(())
    }

    /// The newer glue: stack init and cookies, constructors; emscripten3 then calls
    /// `main(0, 0)`, emscripten4 and wasm64 boot Lua lazily in the first `handle`.
    fn start_newer(&mut self) -> Result<(), LoaderError> {
        self.init_stack_and_constructors()?;
        if self.format == ModuleFormat::Emscripten3 {
            let main = get_fn(&self._instance, "main", self.format)?;
            let args = self.typed(&main, &[0, 0]);
            match main.call(&mut self.store, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.downcast_ref::<Trap>(), Some(Trap::Exit(0))) => {}
                Err(e) => return Err(LoaderError::Start(format!("main: {}", trap_text(e)))),
            }
        }
        Ok(())
    }

    /// v1: no stack cookies, constructors, then `main(0, 0)` (the v1 glue passes no argv).
    fn start_v1(&mut self) -> Result<(), LoaderError> {
        let ctors = get_fn(&self._instance, "__wasm_call_ctors", self.format)?;
        let main = get_fn(&self._instance, "main", self.format)?;
        self.call(&ctors, &[]).map_err(LoaderError::Start)?;
        match main.call(&mut self.store, &[Value::I32(0), Value::I32(0)]) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.downcast_ref::<Trap>(), Some(Trap::Exit(0))) => Ok(()),
            Err(e) => Err(LoaderError::Start(format!("main: {}", trap_text(e)))),
        }
    }

    /// Overwrite memory from the start with a snapshot, growing it first if it is smaller (bytes
    /// above the snapshot keep what the fresh instance had, as in the reference).
    pub fn load_memory(&mut self, snapshot: &[u8]) -> Result<(), LoaderError> {
        let size = self.exports.memory.view(&self.store).data_size();
        if (snapshot.len() as u64) > size {
            let heap_max = self.env.as_ref(&self.store).heap_max;
            let memory = self.exports.memory.clone();
            if !host::resize_heap(&mut self.store, &memory, heap_max, snapshot.len() as u64) {
                return Err(LoaderError::SnapshotTooLarge {
                    size: snapshot.len(),
                    max: heap_max,
                });
            }
        }
        self.write(0, snapshot).map_err(LoaderError::Start)
    }

    /// Call `handle(msg, env)` the way `ccall` does: both strings on the wasm stack (emscripten2
    /// reserves 4 bytes per UTF-16 unit plus the NUL), the reply read up to its NUL, the stack
    /// restored only after a normal return. Gas is refilled first.
    pub fn handle(&mut self, msg: &str, env: &str) -> Result<Reply, CallError> {
        {
            let state = self.env.as_mut(&mut self.store);
            state.gas_used = 0;
            state.output.clear();
        }
        // `gas.refill()`: the metered formats count from zero for each call, the ccall helpers
        // included.
        if let Some((used, _)) = self.exports.gas.clone() {
            used.set(&mut self.store, Value::I64(0))
                .map_err(|e| CallError::Trap(e.to_string()))?;
        }
        let save = self.exports.stack_save.clone();
        let sp = self.call(&save, &[]).map_err(CallError::Trap)?;
        let mut ptrs = Vec::with_capacity(2);
        for s in [msg, env] {
            // emscripten2 and v1 reserve 4 bytes per UTF-16 unit; the newer glue the exact
            // UTF-8 length.
            let size = if self.format.newer_glue() {
                s.len() as u64 + 1
            } else {
                (s.encode_utf16().count() as u64) * 4 + 1
            };
            let mut bytes = s.as_bytes().to_vec();
            bytes.push(0);
            ptrs.push(self.on_stack(size, &bytes).map_err(CallError::Trap)?);
        }
        let handle = self.handle.clone();
        let args = self.typed(&handle, &ptrs);
        let mut out = self
            .call_ptr(&handle, &args)
            .map_err(|e| self.out_of_gas_or(e))?;
        // Asyncify: an import unwound the stack. Stop the unwind, start the rewind and call
        // `handle` again (its arguments are restored from the Asyncify buffer), until it
        // returns for real.
        while self.env.as_ref(&self.store).async_state == AsyncState::Unwinding {
            let Some(a) = self.exports.asyncify.clone() else {
                return Err(CallError::Trap("unwinding without Asyncify exports".into()));
            };
            self.call(&a.stop_unwind, &[]).map_err(CallError::Trap)?;
            let data = self.env.as_ref(&self.store).async_data as u64;
            self.env.as_mut(&mut self.store).async_state = AsyncState::Rewinding;
            let rewind_args = self.typed(&a.start_rewind, &[data]);
            self.call(&a.start_rewind, &rewind_args)
                .map_err(CallError::Trap)?;
            let zeros = self.typed(&handle, &[0, 0]);
            out = self
                .call_ptr(&handle, &zeros)
                .map_err(|e| self.out_of_gas_or(e))?;
        }
        let text =
            host::read_c_string(&self.exports.memory, &self.store, out).map_err(CallError::Trap)?;
        let restore = self.exports.stack_restore.clone();
        self.call(&restore, &sp).map_err(CallError::Trap)?;
        // The newer glue reports GasUsed only when it meters (the -metering formats); the
        // plain ones answer 0, as their `Module.gas.used` never moves.
        let gas_used = Some(match self.metered_gas() {
            Some(used) => used,
            None => self.env.as_ref(&self.store).gas_used,
        });
        let reply: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            LoaderError::BadReply(format!(
                "{e}: {}",
                String::from_utf8_lossy(&text[..text.len().min(200)])
            ))
        })?;
        let ok = reply.get("ok").and_then(|v| v.as_bool()).unwrap_or(false);
        let response = reply
            .get("response")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        Ok(Reply {
            ok,
            response,
            gas_used,
        })
    }

    /// Gas counted by the metering rewrite, for the `-metering` formats.
    fn metered_gas(&mut self) -> Option<u64> {
        let (used, _) = self.exports.gas.clone()?;
        match used.get(&mut self.store) {
            Value::I64(v) => Some(v as u64),
            _ => None,
        }
    }

    /// A trap of a metered module past its limit is the reference's "out of gas!" (the rewrite
    /// stops with `unreachable`); anything else keeps its own message.
    fn out_of_gas_or(&mut self, e: String) -> CallError {
        let over = match (self.exports.gas.clone(), self.metered_gas()) {
            (Some((_, limit)), Some(used)) => match limit.get(&mut self.store) {
                Value::I64(l) => used > l as u64,
                _ => false,
            },
            _ => false,
        };
        CallError::Trap(if over { Trap::OutOfGas.to_string() } else { e })
    }

    /// A copy of the linear memory (the snapshot the reference returns as `Memory`).
    pub fn memory(&self) -> Vec<u8> {
        self.exports
            .memory
            .view(&self.store)
            .copy_to_vec()
            .unwrap_or_default()
    }

    /// SHA-256 of the linear memory, read through a small buffer rather than copied whole: an
    /// attesting CU hashes at the end of every evaluation run, and aos memories are 100+ MiB.
    pub fn memory_sha256(&self) -> [u8; 32] {
        use sha2::Digest;
        /// Bytes read per step: large enough that the hash, not the copy, is the cost.
        const STEP: u64 = 1 << 20;
        let view = self.exports.memory.view(&self.store);
        let size = view.data_size();
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; STEP.min(size) as usize];
        let mut at = 0u64;
        while at < size {
            let n = STEP.min(size - at) as usize;
            if view.read(at, &mut buf[..n]).is_err() {
                break;
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        hasher.finalize().into()
    }

    /// Size of the linear memory in bytes.
    pub fn memory_size(&self) -> u64 {
        self.exports.memory.view(&self.store).data_size()
    }

    /// What the module wrote to stdout/stderr during the last call (bounded).
    pub fn output(&self) -> Vec<u8> {
        self.env.as_ref(&self.store).output.clone()
    }
}
