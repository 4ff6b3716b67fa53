//! The host of the newer glue family: `wasm32-unknown-emscripten3`, `-emscripten4`,
//! `wasm32-unknown-emscripten-metering` and the wasm64 formats. Where its imports behave as the
//! emscripten2 ones, [`host::implementation`] serves them; this module holds what differs:
//!
//! - `emscripten_date_now` is the glue's deterministic `Date.now`: a counter from 10000 that
//!   every reader advances by one, the JS file system included (its start-up reads it four
//!   times, and each non-empty write to stdout or stderr once more).
//! - An empty environment (the glue's `getEnvStrings` returns `[]`), and `_tzset_js` writing
//!   the zone name "UTC" into two 17-byte buffers instead of mallocing.
//! - Time arguments by value (`_localtime_js(time, tm)`; a lo/hi pair of i32 in wasm32), and in
//!   wasm64 8-byte pointers everywhere: iovecs of 16 bytes, `size_t` results of 8 bytes, a
//!   `struct tm` whose `tm_gmtoff` and `tm_zone` are 8 bytes at +40 and +48.
//! - `_emscripten_system` answers -52 without touching errno.
//! - The WeaveDrive imports `__asyncjs__weavedrive_*` are Asyncify imports: every call unwinds
//!   the wasm stack into a 40 MiB buffer the glue mallocs, and `handle` is called again to
//!   rewind (see [`weavedrive`]). With no drive attached, `open` answers null (0) as the
//!   reference does; `read` and `close` cannot be reached without an open file, and where the
//!   reference would wait forever on a rejected promise we stop with an error.
//! - `metering_gasUsed` reads the gas counter.

use wasmer::{FunctionEnvMut, FunctionType, RuntimeError, Type, Value};

use crate::loader::host::{
    self, ENOSYS, HostFn, HostState, MAX_CAPTURED_OUTPUT, Trap, arg_i32, arg_u64, call_int,
    exports, read, read_i32, ret, ret_f64, trap, write, write_i32,
};
use crate::loader::jsdate::JsDate;

/// `Date.now` as the newer glue pins it: starts at 10000 and the JS side reads it four times
/// while the instance starts, so the module's first read is 10004.
pub const DATE_NOW_AT_START: f64 = 10_004.0;

/// `Asyncify.StackSize` of the glue: the buffer each unwind mallocs.
pub const ASYNCIFY_STACK_SIZE: i64 = 41_943_040;

/// The Asyncify state machine as the glue keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsyncState {
    /// Running normally.
    #[default]
    Normal,
    /// An import started an unwind; `handle` is returning through it.
    Unwinding,
    /// `handle` was called again to rewind into the import.
    Rewinding,
}

/// Which of the three WeaveDrive imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive {
    Open,
    Read,
    Close,
}

fn write_u64(env: &FunctionEnvMut<HostState>, ptr: u64, v: u64) -> Result<(), RuntimeError> {
    write(env, ptr, &v.to_le_bytes())
}

/// Write a `size_t` (4 bytes in wasm32, 8 in wasm64).
fn write_size(env: &FunctionEnvMut<HostState>, ptr: u64, v: u64) -> Result<(), RuntimeError> {
    if env.data().pointer64 {
        write_u64(env, ptr, v)
    } else {
        write_i32(env, ptr, v as u32 as i32)
    }
}

fn read_size(env: &FunctionEnvMut<HostState>, ptr: u64) -> Result<u64, RuntimeError> {
    if env.data().pointer64 {
        let b = read(env, ptr, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_le_bytes(a))
    } else {
        Ok(u64::from(read_i32(env, ptr)? as u32))
    }
}

/// A `time_t` passed by value: one i64 in wasm64, a lo/hi i32 pair in wasm32 (then the `tm`
/// pointer is the third argument).
fn time_and_tm(args: &[Value]) -> (f64, u64) {
    match args {
        [Value::I64(t), tm] => (*t as f64, arg_u64(std::slice::from_ref(tm), 0)),
        [Value::I32(lo), Value::I32(hi), tm] => (
            f64::from(*hi) * 4_294_967_296.0 + f64::from(*lo as u32),
            arg_u64(std::slice::from_ref(tm), 0),
        ),
        _ => (f64::NAN, arg_u64(args, args.len().saturating_sub(1))),
    }
}

/// The Asyncify round trip of a WeaveDrive import (the glue's `Asyncify.handleAsync`).
fn weavedrive(
    env: &mut FunctionEnvMut<HostState>,
    which: Drive,
) -> Result<Vec<Value>, RuntimeError> {
    let ex = exports(env)?;
    let Some(a) = ex.asyncify.clone() else {
        return Err(trap(Trap::Abort(
            "a WeaveDrive import in a module without Asyncify exports".into(),
        )));
    };
    match env.data().async_state {
        AsyncState::Normal => {
            if which != Drive::Open {
                return Err(trap(Trap::Abort(
                    "WeaveDrive is not attached to this CU: the module read or closed a drive \
                     file it could not have opened"
                        .into(),
                )));
            }
            let Some(malloc) = ex.malloc.clone() else {
                return Err(trap(Trap::Abort("the module exports no malloc".into())));
            };
            let p64 = env.data().pointer64;
            let header: i64 = if p64 { 24 } else { 12 };
            let data = call_int(env, &malloc, &[header + ASYNCIFY_STACK_SIZE])?;
            if data == 0 {
                return Err(trap(Trap::Abort(
                    "malloc failed for the Asyncify buffer".into(),
                )));
            }
            let (start, end) = (data + header, data + header + ASYNCIFY_STACK_SIZE);
            let at = data as u64;
            if p64 {
                write_u64(env, at, start as u64)?;
                write_u64(env, at + 8, end as u64)?;
                // The rewind id of `handle`, the only export that ever sleeps here.
                write_i32(env, at + 16, 0)?;
            } else {
                write_i32(env, at, start as i32)?;
                write_i32(env, at + 4, end as i32)?;
                write_i32(env, at + 8, 0)?;
            }
            let d = env.data_mut();
            d.async_state = AsyncState::Unwinding;
            d.async_data = data;
            call_int(env, &a.start_unwind, &[data])?;
            Ok(vec![Value::I32(0)])
        }
        AsyncState::Rewinding => {
            let data = env.data().async_data;
            env.data_mut().async_state = AsyncState::Normal;
            call_int(env, &a.stop_rewind, &[])?;
            if let Some(free) = ex.free.clone() {
                call_int(env, &free, &[data])?;
            }
            env.data_mut().async_data = 0;
            // `wakeUp(null)`: the drive is absent, `open` gives null, which wasm reads as 0.
            Ok(vec![Value::I32(0)])
        }
        AsyncState::Unwinding => Err(trap(Trap::Abort(
            "a WeaveDrive import was called while unwinding".into(),
        ))),
    }
}

/// The implementation of `name` for the newer glue, where it differs from emscripten2's.
pub fn implementation(name: &str, ty: &FunctionType) -> Option<HostFn> {
    let t = ty.clone();
    let f: HostFn = match name {
        "emscripten_date_now" => Box::new(move |env, _| {
            let d = env.data_mut();
            let now = d.date_now;
            d.date_now += 1.0;
            Ok(ret_f64(&t, now))
        }),
        "environ_sizes_get" => Box::new(move |env, args| {
            write_size(env, arg_u64(args, 0), 0)?;
            write_size(env, arg_u64(args, 1), 0)?;
            Ok(ret(&t, 0))
        }),
        "environ_get" => Box::new(move |_, _| Ok(ret(&t, 0))),
        "_tzset_js" => Box::new(move |env, args| {
            let (timezone, daylight, std_name, dst_name) = (
                arg_u64(args, 0),
                arg_u64(args, 1),
                arg_u64(args, 2),
                arg_u64(args, 3),
            );
            write_size(env, timezone, 0)?;
            write_i32(env, daylight, 0)?;
            write(env, std_name, b"UTC\0")?;
            write(env, dst_name, b"UTC\0")?;
            Ok(ret(&t, 0))
        }),
        "_localtime_js" | "_gmtime_js" => {
            let local = name == "_localtime_js";
            Box::new(move |env, args| {
                let (time, tm) = time_and_tm(args);
                let date = JsDate::from_ms(time * 1000.0);
                host::tm_fields(env, tm, date.fields(), false)?;
                if local {
                    // tm_isdst, then tm_gmtoff (UTC: both 0), at the family's offsets.
                    write_i32(env, tm + 32, 0)?;
                    if env.data().pointer64 {
                        write_u64(env, tm + 40, 0)?;
                    } else {
                        write_i32(env, tm + 36, 0)?;
                    }
                }
                Ok(ret(&t, 0))
            })
        }
        "_mktime_js" => Box::new(move |env, args| {
            let date = host::mktime(env, arg_u64(args, 0), true)?;
            let seconds = if date.0.is_nan() {
                -1
            } else {
                (date.0 / 1000.0) as i64
            };
            Ok(ret(&t, seconds))
        }),
        "strftime" => Box::new(move |env, args| {
            let tm = arg_u64(args, 3);
            let (gmtoff, zone) = if env.data().pointer64 {
                (
                    read_size(env, tm + 40)? as i64 as i32,
                    read_size(env, tm + 48)?,
                )
            } else {
                (
                    read_i32(env, tm + 36)?,
                    u64::from(read_i32(env, tm + 40)? as u32),
                )
            };
            let n = host::strftime_js(env, args, gmtoff, zone)?;
            Ok(ret(&t, n))
        }),
        "fd_write" => Box::new(move |env, args| {
            let (fd, iov, iovcnt, pnum) = (
                arg_i32(args, 0),
                arg_u64(args, 1),
                arg_u64(args, 2),
                arg_u64(args, 3),
            );
            if !(1..=2).contains(&fd) {
                // EBADF: the file system has no other open file.
                return Ok(ret(&t, 8));
            }
            let step = if env.data().pointer64 { 16 } else { 8 };
            let mut total: u64 = 0;
            for i in 0..iovcnt {
                let ptr = read_size(env, iov + step * i)?;
                let len = read_size(env, iov + step * i + step / 2)?;
                let bytes = read(env, ptr, len as usize)?;
                let d = env.data_mut();
                if d.output.len() < MAX_CAPTURED_OUTPUT {
                    let room = MAX_CAPTURED_OUTPUT - d.output.len();
                    d.output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                if len > 0 {
                    // The TTY stamps its node with Date.now() on every non-empty write.
                    d.date_now += 1.0;
                }
                total += len;
            }
            write_size(env, pnum, total)?;
            Ok(ret(&t, 0))
        }),
        "fd_read" => Box::new(move |env, args| {
            write_size(env, arg_u64(args, 3), 0)?;
            Ok(ret(&t, 0))
        }),
        "_emscripten_system" => Box::new(move |_, args| {
            if arg_u64(args, 0) == 0 {
                return Ok(ret(&t, 0));
            }
            Ok(ret(&t, -i64::from(ENOSYS)))
        }),
        "metering_gasUsed" => Box::new(move |env, _| {
            let used = match exports(env)?.gas {
                Some((used, _)) => match used.get(env) {
                    Value::I64(v) => v,
                    _ => 0,
                },
                None => env.data().gas_used as i64,
            };
            Ok(ret(&t, used))
        }),
        "__asyncjs__weavedrive_open" => Box::new(|env, _| weavedrive(env, Drive::Open)),
        "__asyncjs__weavedrive_read" => Box::new(|env, _| weavedrive(env, Drive::Read)),
        "__asyncjs__weavedrive_close" => Box::new(|env, _| weavedrive(env, Drive::Close)),
        _ => return None,
    };
    // Results must match the import's type; WeaveDrive returns i32 in every build seen.
    if name.starts_with("__asyncjs__") && ty.results() != [Type::I32] {
        return None;
    }
    Some(f)
}
