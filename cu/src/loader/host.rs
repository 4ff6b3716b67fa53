//! The emscripten host: the imports an AO module calls, written in Rust after the reference
//! loader's JavaScript glue, bound by name and checked by signature from the module's own import
//! list. Family implemented here: `wasm32-unknown-emscripten2` and v1 (sync, i32 pointers,
//! JS-based setjmp / longjmp through `invoke_*`, `metering.usegas` for pre-metered builds); the
//! newer glue (emscripten3/4, wasm64) overrides what differs in `modern.rs`.
//!
//! Deterministic by construction: no wall clock (`_emscripten_date_now` is 0 and
//! `emscripten_get_now` NaN, as in the reference glue), no host randomness, a fixed environment,
//! no file system (paths fail with ENOENT), the UTC zone.

use wasmer::{
    AsStoreMut, ExternType, Function, FunctionEnv, FunctionEnvMut, FunctionType, Imports, Memory,
    Module, RuntimeError, Store, Table, Type, Value,
};

use crate::loader::error::LoaderError;
use crate::loader::format::ModuleFormat;
use crate::loader::jsdate::{JsDate, Tm, strftime, to_int32};

/// Bytes of stdout/stderr kept per call, for diagnostics: modules print through `fd_write`,
/// which the reference silences; we keep a bounded tail instead of nothing.
pub const MAX_CAPTURED_OUTPUT: usize = 64 * 1024;

/// The timezone name node reports on a UTC host, which emscripten2's `_tzset_js` copies into
/// the module's heap (twice): part of the memory image.
const UTC_ZONE_NAME: &str = "Coordinated Universal Time";

/// errno values the glue returns.
pub(crate) const ENOENT: i32 = 44;
pub(crate) const ENOSYS: i32 = 52;
pub(crate) const ESPIPE: i32 = 70;

/// Why a host function stopped the module. `Longjmp` is caught by `invoke_*`; the others end the
/// call.
#[derive(Debug, thiserror::Error)]
pub enum Trap {
    /// `_emscripten_throw_longjmp`: unwinds to the nearest `invoke_*`.
    #[error("longjmp")]
    Longjmp,
    /// The compute limit was passed (the reference's message, kept verbatim).
    #[error("out of gas!")]
    OutOfGas,
    /// The module called `exit`.
    #[error("the module called exit({0})")]
    Exit(i32),
    /// The module called `abort`, failed an assertion, or needs a missing facility.
    #[error("the module aborted: {0}")]
    Abort(String),
}

/// The module exports the host calls back into.
#[derive(Clone)]
pub struct AbiExports {
    /// Linear memory.
    pub memory: Memory,
    /// The indirect function table (`invoke_*` calls through it).
    pub table: Option<Table>,
    /// `stackSave`.
    pub stack_save: Function,
    /// `stackRestore`.
    pub stack_restore: Function,
    /// `stackAlloc`.
    pub stack_alloc: Function,
    /// `setThrew`.
    pub set_threw: Option<Function>,
    /// `malloc` (for `_tzset_js`).
    pub malloc: Option<Function>,
    /// `__errno_location` (for `system`).
    pub errno_location: Option<Function>,
    /// `free` (Asyncify buffers).
    pub free: Option<Function>,
    /// The Asyncify exports, in modules built with Asyncify.
    pub asyncify: Option<AsyncifyExports>,
    /// The gas-used and gas-limit globals the metering rewrite adds (`-metering` formats).
    pub gas: Option<(wasmer::Global, wasmer::Global)>,
    /// `dynCall_<sig>` exports, through which the newer glue's `invoke_<sig>` calls (they are
    /// wasm functions, so they cost gas and Asyncify frames: part of GasUsed and memory).
    pub dyncalls: std::collections::HashMap<String, Function>,
}

/// The exports that drive Asyncify's unwind and rewind.
#[derive(Clone)]
pub struct AsyncifyExports {
    /// `asyncify_start_unwind(data)`.
    pub start_unwind: Function,
    /// `asyncify_stop_unwind()`.
    pub stop_unwind: Function,
    /// `asyncify_start_rewind(data)`.
    pub start_rewind: Function,
    /// `asyncify_stop_rewind()`.
    pub stop_rewind: Function,
}

/// Per-instance host state: what the JS glue keeps in closures.
pub struct HostState {
    /// Set once the instance exists.
    pub exports: Option<AbiExports>,
    /// The high half of legalised i64 results.
    pub temp_ret0: i32,
    /// `_tzset_js` runs once per instance.
    pub tzset_called: bool,
    /// Gas charged since the last refill.
    pub gas_used: u64,
    /// Gas allowed per call (and for start-up).
    pub gas_limit: u64,
    /// Largest heap, bytes: the format's glue limit and the process's memory limit.
    pub heap_max: u64,
    /// `KEY=value` strings of the environment.
    pub env_strings: Vec<String>,
    /// Tail of what the module wrote to stdout/stderr.
    pub output: Vec<u8>,
    /// Pointers are 8 bytes (the wasm64 formats).
    pub pointer64: bool,
    /// The newer glue's `Date.now` counter.
    pub date_now: f64,
    /// Asyncify state of the newer glue.
    pub async_state: crate::loader::modern::AsyncState,
    /// The buffer of the Asyncify operation in flight.
    pub async_data: i64,
}

pub(crate) fn trap(t: Trap) -> RuntimeError {
    RuntimeError::user(Box::new(t))
}

pub(crate) fn exports(env: &FunctionEnvMut<HostState>) -> Result<AbiExports, RuntimeError> {
    env.data()
        .exports
        .clone()
        .ok_or_else(|| RuntimeError::new("host called before the instance was ready"))
}

/// A pointer or size argument: i32 values are unsigned 32-bit addresses.
pub(crate) fn arg_u64(args: &[Value], i: usize) -> u64 {
    match args.get(i) {
        Some(Value::I32(v)) => u64::from(*v as u32),
        Some(Value::I64(v)) => *v as u64,
        _ => 0,
    }
}

pub(crate) fn arg_i32(args: &[Value], i: usize) -> i32 {
    match args.get(i) {
        Some(Value::I32(v)) => *v,
        Some(Value::I64(v)) => *v as i32,
        _ => 0,
    }
}

/// The results of a signature, all set to `v` (or zero for other types).
pub(crate) fn ret(ty: &FunctionType, v: i64) -> Vec<Value> {
    ty.results()
        .iter()
        .map(|t| match t {
            Type::I32 => Value::I32(v as i32),
            Type::I64 => Value::I64(v),
            Type::F32 => Value::F32(v as f32),
            Type::F64 => Value::F64(v as f64),
            _ => Value::I32(0),
        })
        .collect()
}

pub(crate) fn ret_f64(ty: &FunctionType, v: f64) -> Vec<Value> {
    ty.results()
        .iter()
        .map(|t| match t {
            Type::F64 => Value::F64(v),
            Type::F32 => Value::F32(v as f32),
            _ => Value::I32(0),
        })
        .collect()
}

pub(crate) fn mem_err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::new(format!("memory access out of bounds: {e}"))
}

pub(crate) fn read(
    env: &FunctionEnvMut<HostState>,
    ptr: u64,
    len: usize,
) -> Result<Vec<u8>, RuntimeError> {
    let memory = exports(env)?.memory;
    let mut buf = vec![0u8; len];
    memory.view(env).read(ptr, &mut buf).map_err(mem_err)?;
    Ok(buf)
}

pub(crate) fn write(
    env: &FunctionEnvMut<HostState>,
    ptr: u64,
    data: &[u8],
) -> Result<(), RuntimeError> {
    let memory = exports(env)?.memory;
    memory.view(env).write(ptr, data).map_err(mem_err)
}

pub(crate) fn read_i32(env: &FunctionEnvMut<HostState>, ptr: u64) -> Result<i32, RuntimeError> {
    let b = read(env, ptr, 4)?;
    Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn write_i32(
    env: &FunctionEnvMut<HostState>,
    ptr: u64,
    v: i32,
) -> Result<(), RuntimeError> {
    write(env, ptr, &v.to_le_bytes())
}

/// A NUL-terminated string at `ptr` (as `UTF8ToString`), read in chunks.
pub fn read_c_string(
    memory: &Memory,
    store: &impl wasmer::AsStoreRef,
    ptr: u64,
) -> Result<Vec<u8>, String> {
    let view = memory.view(store);
    let size = view.data_size();
    let mut out = Vec::new();
    let mut at = ptr;
    let mut chunk = [0u8; 256];
    while at < size {
        let n = ((size - at) as usize).min(chunk.len());
        view.read(at, &mut chunk[..n]).map_err(|e| e.to_string())?;
        if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    Err(format!("string at {ptr} runs past the end of memory"))
}

pub(crate) fn c_string(env: &FunctionEnvMut<HostState>, ptr: u64) -> Result<String, RuntimeError> {
    let memory = exports(env)?.memory;
    let bytes = read_c_string(&memory, env, ptr).map_err(RuntimeError::new)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub(crate) fn call(
    env: &mut FunctionEnvMut<HostState>,
    f: &Function,
    args: &[Value],
) -> Result<Box<[Value]>, RuntimeError> {
    let (_, mut store) = env.data_and_store_mut();
    f.call(&mut store, args)
}

pub(crate) fn call_i64(
    env: &mut FunctionEnvMut<HostState>,
    f: &Function,
    args: &[Value],
) -> Result<i64, RuntimeError> {
    Ok(match call(env, f, args)?.first() {
        Some(Value::I32(v)) => i64::from(*v as u32),
        Some(Value::I64(v)) => *v,
        _ => 0,
    })
}

/// Arguments for `f` from plain integers, typed as its parameters are (a pointer is an i32 in
/// wasm32 modules and an i64 in wasm64 ones).
pub(crate) fn typed_args(
    env: &FunctionEnvMut<HostState>,
    f: &Function,
    values: &[i64],
) -> Vec<Value> {
    let ty = f.ty(env);
    ty.params()
        .iter()
        .zip(values)
        .map(|(t, v)| match t {
            Type::I64 => Value::I64(*v),
            Type::F32 => Value::F32(*v as f32),
            Type::F64 => Value::F64(*v as f64),
            _ => Value::I32(*v as i32),
        })
        .collect()
}

/// Call `f` with integer arguments typed to its signature; its first result as an integer.
pub(crate) fn call_int(
    env: &mut FunctionEnvMut<HostState>,
    f: &Function,
    values: &[i64],
) -> Result<i64, RuntimeError> {
    let args = typed_args(env, f, values);
    call_i64(env, f, &args)
}

/// `allocateUTF8`: malloc a copy of `s` with its NUL, as `_tzset_js` does.
fn malloc_string(env: &mut FunctionEnvMut<HostState>, s: &str) -> Result<i64, RuntimeError> {
    let Some(malloc) = exports(env)?.malloc else {
        return Err(trap(Trap::Abort("the module exports no malloc".into())));
    };
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    let ptr = call_int(env, &malloc, &[bytes.len() as i64])?;
    if ptr != 0 {
        write(env, ptr as u64, &bytes)?;
    }
    Ok(ptr)
}

/// `emscripten_resize_heap` with emscripten's growth policy (exactly the glue's arithmetic, in
/// f64 as JS does it), capped at the heap maximum. Returns whether the memory grew.
pub fn resize_heap(
    store: &mut impl AsStoreMut,
    memory: &Memory,
    heap_max: u64,
    requested: u64,
) -> bool {
    let old = memory.view(store).data_size() as f64;
    let requested = requested as f64;
    if requested > heap_max as f64 {
        return false;
    }
    let align_up = |x: f64, m: f64| x + (m - x % m) % m;
    let mut cut_down = 1.0;
    while cut_down <= 4.0 {
        let over = (old * (1.0 + 0.2 / cut_down)).min(requested + 100_663_296.0);
        let new_size = (heap_max as f64).min(align_up(requested.max(over), 65_536.0));
        let pages = ((new_size - old + 65_535.0) as u64 as u32) >> 16;
        if memory.grow(store, wasmer::Pages(pages)).is_ok() {
            return true;
        }
        cut_down *= 2.0;
    }
    false
}

/// The glue's `_mktime_js` on the `struct tm` at `tm`: normalises it in place (UTC: an unknown
/// `tm_isdst` becomes 0) and gives the date. The newer glue also writes `tm_year` back.
pub(crate) fn mktime(
    env: &FunctionEnvMut<HostState>,
    tm: u64,
    write_year: bool,
) -> Result<JsDate, RuntimeError> {
    let f: Vec<i32> = (0..9)
        .map(|i| read_i32(env, tm + 4 * i))
        .collect::<Result<_, _>>()?;
    let date = JsDate::new(
        f64::from(f[5]) + 1900.0,
        f64::from(f[4]),
        f64::from(f[3]),
        f64::from(f[2]),
        f64::from(f[1]),
        f64::from(f[0]),
    );
    if f[8] < 0 {
        write_i32(env, tm + 32, 0)?;
    }
    let fields = date.fields();
    let get = |g: fn(&crate::loader::jsdate::Fields) -> i32| fields.as_ref().map_or(0, g);
    let start = fields.map(|x| JsDate::new(x.year as f64, 0.0, 1.0, 0.0, 0.0, 0.0));
    let yday = match start {
        Some(s) => to_int32((date.0 - s.0) / 86_400_000.0),
        None => 0,
    };
    write_i32(env, tm + 24, get(|x| x.wday))?;
    write_i32(env, tm + 28, yday)?;
    write_i32(env, tm, get(|x| x.sec))?;
    write_i32(env, tm + 4, get(|x| x.min))?;
    write_i32(env, tm + 8, get(|x| x.hour))?;
    write_i32(env, tm + 12, get(|x| x.mday))?;
    write_i32(env, tm + 16, get(|x| x.mon))?;
    if write_year {
        write_i32(env, tm + 20, get(|x| (x.year - 1900) as i32))?;
    }
    Ok(date)
}

/// The glue's `strftime(s, max, fmt, tm)`: the first nine `struct tm` fields are ints in every
/// family; `gmtoff` and the `zone` pointer, whose offsets differ, come from the caller. The length
/// written, or 0 when it does not fit `max`.
pub(crate) fn strftime_js(
    env: &FunctionEnvMut<HostState>,
    args: &[Value],
    gmtoff: i32,
    zone: u64,
) -> Result<i64, RuntimeError> {
    let (s, max, fmt, tm) = (
        arg_u64(args, 0),
        arg_u64(args, 1),
        arg_u64(args, 2),
        arg_u64(args, 3),
    );
    let f: Vec<i32> = (0..9)
        .map(|i| read_i32(env, tm + 4 * i))
        .collect::<Result<_, _>>()?;
    let zone = if zone != 0 {
        c_string(env, zone)?
    } else {
        String::new()
    };
    let tm = Tm {
        sec: f[0],
        min: f[1],
        hour: f[2],
        mday: f[3],
        mon: f[4],
        year: f[5],
        wday: f[6],
        yday: f[7],
        isdst: f[8],
        gmtoff,
        zone,
    };
    let pattern = c_string(env, fmt)?;
    let mut bytes = strftime(&pattern, &tm);
    bytes.push(0);
    if bytes.len() as u64 > max {
        return Ok(0);
    }
    write(env, s, &bytes)?;
    Ok(bytes.len() as i64 - 1)
}

pub(crate) fn tm_fields(
    env: &FunctionEnvMut<HostState>,
    tm: u64,
    f: Option<crate::loader::jsdate::Fields>,
    local: bool,
) -> Result<(), RuntimeError> {
    // An invalid date's getters are NaN, which a HEAP32 store turns into 0.
    let f = f.unwrap_or(crate::loader::jsdate::Fields {
        sec: 0,
        min: 0,
        hour: 0,
        mday: 0,
        mon: 0,
        year: 1900,
        wday: 0,
        yday: 0,
    });
    let mut vals = vec![
        f.sec,
        f.min,
        f.hour,
        f.mday,
        f.mon,
        (f.year - 1900) as i32,
        f.wday,
        f.yday,
    ];
    if local {
        // tm_isdst (UTC has none) and tm_gmtoff; gmtime leaves both untouched.
        vals.push(0);
        vals.push(0);
    }
    for (i, v) in vals.iter().enumerate() {
        write_i32(env, tm + 4 * i as u64, *v)?;
    }
    Ok(())
}

pub(crate) type HostFn = Box<
    dyn Fn(&mut FunctionEnvMut<HostState>, &[Value]) -> Result<Vec<Value>, RuntimeError>
        + Send
        + Sync,
>;

/// The implementation of `env.<name>` / `wasi_snapshot_preview1.<name>` for signature `ty`, or
/// `None` when the host has no such import.
pub(crate) fn implementation(name: &str, ty: &FunctionType) -> Option<HostFn> {
    let t = ty.clone();
    if let Some(sig) = name.strip_prefix("invoke_") {
        // JS-based exception handling: call table[index](args...) and turn a longjmp into
        // `setThrew(1, 0)`, restoring the stack pointer, as the glue's `invoke_*` does. The
        // newer glue goes through the module's `dynCall_<sig>` export instead of the table.
        let dyncall = format!("dynCall_{sig}");
        return Some(Box::new(move |env, args| {
            let ex = exports(env)?;
            let index = arg_u64(args, 0) as u32;
            let sp = call(env, &ex.stack_save, &[])?;
            let result = match ex.dyncalls.get(&dyncall) {
                Some(d) => {
                    let ty = d.ty(env);
                    let mut typed = Vec::with_capacity(args.len());
                    for (i, (want, have)) in ty.params().iter().zip(args).enumerate() {
                        typed.push(match (want, have) {
                            (Type::I32, Value::I64(v)) if i == 0 => Value::I32(*v as i32),
                            (Type::I64, Value::I32(v)) if i == 0 => Value::I64(i64::from(*v)),
                            _ => have.clone(),
                        });
                    }
                    call(env, d, &typed)
                }
                None => {
                    let f = {
                        let Some(table) = ex.table.as_ref() else {
                            return Err(trap(Trap::Abort(
                                "invoke_* without a function table".into(),
                            )));
                        };
                        let (_, mut store) = env.data_and_store_mut();
                        match table.get(&mut store, index) {
                            Some(Value::FuncRef(Some(f))) => f,
                            _ => {
                                return Err(RuntimeError::new(format!(
                                    "invoke_*: no function at table index {index}"
                                )));
                            }
                        }
                    };
                    call(env, &f, &args[1..])
                }
            };
            match result {
                Ok(r) => Ok(r.into_vec()),
                Err(e) if matches!(e.downcast_ref::<Trap>(), Some(Trap::Longjmp)) => {
                    call(env, &ex.stack_restore, &sp)?;
                    if let Some(set_threw) = &ex.set_threw {
                        call_int(env, set_threw, &[1, 0])?;
                    }
                    Ok(ret(&t, 0))
                }
                Err(e) => Err(e),
            }
        }));
    }
    let f: HostFn = match name {
        "_emscripten_throw_longjmp" => Box::new(|_, _| Err(trap(Trap::Longjmp))),
        "getTempRet0" => Box::new(move |env, _| Ok(ret(&t, i64::from(env.data().temp_ret0)))),
        "setTempRet0" => Box::new(|env, args| {
            env.data_mut().temp_ret0 = arg_i32(args, 0);
            Ok(vec![])
        }),
        "emscripten_memcpy_big" | "_emscripten_memcpy_js" | "emscripten_memcpy_js" => {
            Box::new(move |env, args| {
                let (dst, src, n) = (
                    arg_u64(args, 0),
                    arg_u64(args, 1),
                    arg_u64(args, 2) as usize,
                );
                let bytes = read(env, src, n)?;
                write(env, dst, &bytes)?;
                Ok(ret(&t, 0))
            })
        }
        "emscripten_resize_heap" => Box::new(move |env, args| {
            let requested = arg_u64(args, 0) & 0xffff_ffff;
            let ex = exports(env)?;
            let heap_max = env.data().heap_max;
            let (_, mut store) = env.data_and_store_mut();
            let ok = resize_heap(&mut store, &ex.memory, heap_max, requested);
            Ok(ret(&t, i64::from(ok)))
        }),
        "emscripten_get_heap_max" => {
            Box::new(move |env, _| Ok(ret(&t, env.data().heap_max as i64)))
        }
        "fd_write" => Box::new(move |env, args| {
            let (iov, iovcnt, pnum) = (arg_u64(args, 1), arg_u64(args, 2), arg_u64(args, 3));
            let mut total: u32 = 0;
            for i in 0..iovcnt {
                let ptr = read_i32(env, iov + 8 * i)? as u32;
                let len = read_i32(env, iov + 8 * i + 4)? as u32;
                let bytes = read(env, u64::from(ptr), len as usize)?;
                let out = &mut env.data_mut().output;
                if out.len() < MAX_CAPTURED_OUTPUT {
                    let room = MAX_CAPTURED_OUTPUT - out.len();
                    out.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                total = total.wrapping_add(len);
            }
            write_i32(env, pnum, total as i32)?;
            Ok(ret(&t, 0))
        }),
        "fd_read" => Box::new(move |env, args| {
            write_i32(env, arg_u64(args, 3), 0)?;
            Ok(ret(&t, 0))
        }),
        "fd_close" | "fd_sync" => Box::new(move |_, _| Ok(ret(&t, 0))),
        "fd_seek" => Box::new(move |_, _| Ok(ret(&t, i64::from(ESPIPE)))),
        "fd_fdstat_get" => Box::new(move |_, _| Ok(ret(&t, 8))),
        "environ_sizes_get" => Box::new(move |env, args| {
            let strings = env.data().env_strings.clone();
            let size: usize = strings.iter().map(|s| s.len() + 1).sum();
            write_i32(env, arg_u64(args, 0), strings.len() as i32)?;
            write_i32(env, arg_u64(args, 1), size as i32)?;
            Ok(ret(&t, 0))
        }),
        "environ_get" => Box::new(move |env, args| {
            let (ptrs, buf) = (arg_u64(args, 0), arg_u64(args, 1));
            let strings = env.data().env_strings.clone();
            let mut at = buf;
            for (i, s) in strings.iter().enumerate() {
                write_i32(env, ptrs + 4 * i as u64, at as i32)?;
                let mut bytes = s.as_bytes().to_vec();
                bytes.push(0);
                write(env, at, &bytes)?;
                at += bytes.len() as u64;
            }
            Ok(ret(&t, 0))
        }),
        "_tzset_js" => Box::new(move |env, args| {
            if env.data().tzset_called {
                return Ok(ret(&t, 0));
            }
            env.data_mut().tzset_called = true;
            let (timezone, daylight, tzname) =
                (arg_u64(args, 0), arg_u64(args, 1), arg_u64(args, 2));
            write_i32(env, timezone, 0)?;
            write_i32(env, daylight, 0)?;
            // Winter name first, then summer; with equal offsets tzname = [summer, winter].
            let winter = malloc_string(env, UTC_ZONE_NAME)?;
            let summer = malloc_string(env, UTC_ZONE_NAME)?;
            write_i32(env, tzname, summer as i32)?;
            write_i32(env, tzname + 4, winter as i32)?;
            Ok(ret(&t, 0))
        }),
        "_localtime_js" | "_gmtime_js" => {
            let local = name == "_localtime_js";
            Box::new(move |env, args| {
                let (time, tm) = (arg_u64(args, 0), arg_u64(args, 1));
                let secs = read_i32(env, time)?;
                let date = JsDate::from_ms(f64::from(secs) * 1000.0);
                tm_fields(env, tm, date.fields(), local)?;
                Ok(ret(&t, 0))
            })
        }
        "_mktime_js" => Box::new(move |env, args| {
            let date = mktime(env, arg_u64(args, 0), false)?;
            Ok(ret(&t, i64::from(date.unix_seconds_i32())))
        }),
        "strftime" => Box::new(move |env, args| {
            let tm = arg_u64(args, 3);
            let gmtoff = read_i32(env, tm + 36)?;
            let zone = u64::from(read_i32(env, tm + 40)? as u32);
            let n = strftime_js(env, args, gmtoff, zone)?;
            Ok(ret(&t, n))
        }),
        "_emscripten_date_now" => Box::new(move |_, _| Ok(ret_f64(&t, 0.0))),
        "emscripten_get_now" => Box::new(move |_, _| Ok(ret_f64(&t, f64::NAN))),
        "_emscripten_get_now_is_monotonic" => Box::new(move |_, _| Ok(ret(&t, 1))),
        "system" | "_emscripten_system" => Box::new(move |env, args| {
            if arg_u64(args, 0) == 0 {
                return Ok(ret(&t, 0));
            }
            if let Some(errno) = exports(env)?.errno_location {
                let at = call_i64(env, &errno, &[])?;
                write_i32(env, at as u64, ENOSYS)?;
            }
            Ok(ret(&t, -1))
        }),
        "exit" => Box::new(|_, args| Err(trap(Trap::Exit(arg_i32(args, 0))))),
        "abort" | "_abort_js" => {
            Box::new(|_, _| Err(trap(Trap::Abort("native code called abort()".into()))))
        }
        "__assert_fail" => Box::new(|env, args| {
            let what = c_string(env, arg_u64(args, 0)).unwrap_or_default();
            Err(trap(Trap::Abort(format!("assertion failed: {what}"))))
        }),
        "_dlopen_js" | "_dlsym_js" | "_dlinit" => {
            Box::new(|_, _| Err(trap(Trap::Abort("dynamic linking is not available".into()))))
        }
        "_mmap_js" | "_munmap_js" => Box::new(move |_, _| Ok(ret(&t, -i64::from(ENOSYS)))),
        "__syscall_fcntl64" | "__syscall_ioctl" => Box::new(move |_, _| Ok(ret(&t, 0))),
        n if n.starts_with("__syscall_") => Box::new(move |_, _| Ok(ret(&t, -i64::from(ENOENT)))),
        _ => return None,
    };
    Some(f)
}

/// The first aos builds (`wasm32-unknown-emscripten`) import the glue's functions under minified
/// names in module `a`; this is the glue's `asmLibraryArg` table, name for name.
const V1_IMPORTS: [(&str, &str); 30] = [
    ("a", "_emscripten_date_now"),
    ("b", "setTempRet0"),
    ("c", "fd_close"),
    ("d", "__syscall_fcntl64"),
    ("e", "__syscall_unlinkat"),
    ("f", "fd_write"),
    ("g", "__syscall_openat"),
    ("h", "getTempRet0"),
    ("i", "_mktime_js"),
    ("j", "_tzset_js"),
    ("k", "emscripten_memcpy_big"),
    ("l", "exit"),
    ("m", "system"),
    ("n", "strftime"),
    ("o", "fd_seek"),
    ("p", "_emscripten_throw_longjmp"),
    ("q", "emscripten_resize_heap"),
    ("r", "__syscall_lstat64"),
    ("s", "__syscall_renameat"),
    ("t", "__syscall_rmdir"),
    ("u", "environ_get"),
    ("v", "environ_sizes_get"),
    ("w", "__syscall_dup3"),
    ("x", "invoke_vii"),
    ("y", "fd_read"),
    ("z", "__syscall_ioctl"),
    ("A", "_emscripten_get_now_is_monotonic"),
    ("B", "_gmtime_js"),
    ("C", "_localtime_js"),
    ("D", "abort"),
];

/// The v1 glue has no file system at all: its path syscalls return `undefined` (0 in wasm) and
/// `fd_close`/`fd_read` answer ENOSYS; everything else behaves as in emscripten2.
fn v1_override(name: &str, ty: &FunctionType) -> Option<HostFn> {
    let t = ty.clone();
    match name {
        "__syscall_openat" | "__syscall_lstat64" | "__syscall_renameat" | "__syscall_rmdir"
        | "__syscall_unlinkat" | "__syscall_dup3" => Some(Box::new(move |_, _| Ok(ret(&t, 0)))),
        "fd_close" | "fd_read" => Some(Box::new(move |_, _| Ok(ret(&t, i64::from(ENOSYS))))),
        _ => None,
    }
}

/// Build the import object for `module` from its own import list: every import must be one the
/// host provides, with a signature it can serve.
pub fn imports(
    store: &mut Store,
    env: &FunctionEnv<HostState>,
    module: &Module,
    format: ModuleFormat,
) -> Result<Imports, LoaderError> {
    let mut imports = Imports::new();
    for import in module.imports() {
        let unknown = |signature: String| LoaderError::UnknownImport {
            module: import.module().to_string(),
            name: import.name().to_string(),
            signature,
            format: format.to_string(),
        };
        let ExternType::Function(ty) = import.ty() else {
            return Err(unknown(format!("{:?}", import.ty())));
        };
        let func = match (import.module(), import.name()) {
            ("metering", "usegas") if ty.params() == [Type::I32] && ty.results().is_empty() => {
                Function::new_typed_with_env(
                    store,
                    env,
                    |mut env: FunctionEnvMut<HostState>, gas: i32| -> Result<(), Trap> {
                        let d = env.data_mut();
                        d.gas_used = d.gas_used.wrapping_add(i64::from(gas) as u64);
                        if d.gas_used > d.gas_limit {
                            return Err(Trap::OutOfGas);
                        }
                        Ok(())
                    },
                )
            }
            ("a", short) if format == ModuleFormat::Emscripten => {
                let Some((_, name)) = V1_IMPORTS.iter().find(|(s, _)| *s == short) else {
                    return Err(unknown(format!("{ty}")));
                };
                let Some(f) = v1_override(name, ty).or_else(|| implementation(name, ty)) else {
                    return Err(unknown(format!("{ty}")));
                };
                Function::new_with_env(store, env, ty.clone(), move |mut env, args| {
                    f(&mut env, args)
                })
            }
            ("env" | "wasi_snapshot_preview1", name) if format != ModuleFormat::Emscripten => {
                let newer = if format.newer_glue() {
                    crate::loader::modern::implementation(name, ty)
                } else {
                    None
                };
                let Some(f) = newer.or_else(|| implementation(name, ty)) else {
                    return Err(unknown(format!("{ty}")));
                };
                Function::new_with_env(store, env, ty.clone(), move |mut env, args| {
                    f(&mut env, args)
                })
            }
            _ => return Err(unknown(format!("{ty}"))),
        };
        imports.define(import.module(), import.name(), func);
    }
    Ok(imports)
}
