//! The loader's behaviour beyond conformance: clear errors for modules it cannot run, traps,
//! the compute limit (out of gas), the memory limit (out of memory), snapshots restored into a
//! fresh instance, and the compiled-module cache. Small modules are written in WAT here; the Lua
//! module is the one `conformance.rs` builds.

use ao_cu::loader::{LoaderError, ModuleFormat, Options, ProcessRunner, Runtime};
use serde_json::{Value, json};

fn tiny(import: &str) -> Vec<u8> {
    wat_to_wasm(&ao_tests::TINY_EMSCRIPTEN2_WAT.replace("IMPORT", import))
}

fn wat_to_wasm(wat: &str) -> Vec<u8> {
    wasmer::wat2wasm(wat.as_bytes()).expect("wat").into_owned()
}

fn data(d: &str) -> Value {
    json!({"Data": d})
}

#[test]
fn modules_it_cannot_run_are_refused_with_their_reason() {
    let rt = Runtime::new();
    let wasm = tiny("");
    let e = rt
        .compile(&wasm[..wasm.len() / 2], ModuleFormat::Emscripten2)
        .err()
        .expect("truncated");
    assert!(matches!(e, LoaderError::Compile(_)), "{e}");

    let unknown = rt
        .compile(
            &tiny(r#"(import "env" "frobnicate" (func (param i32) (result i32)))"#),
            ModuleFormat::Emscripten2,
        )
        .expect("compiles");
    let e = ProcessRunner::new(unknown, Options::default(), None)
        .evaluate(&data("x"), &json!({}))
        .expect_err("unknown import");
    let text = e.to_string();
    assert!(
        text.contains("env.frobnicate") && text.contains("emscripten2"),
        "{text}"
    );

    assert!(matches!(
        ModuleFormat::parse("wasm32-wasi"),
        Err(LoaderError::UnknownFormat(_))
    ));
}

#[test]
fn a_trap_is_an_error_and_the_next_message_runs_on_a_fresh_instance() {
    let module = Runtime::new()
        .compile(&tiny(""), ModuleFormat::Emscripten2)
        .expect("compile");
    let mut p = ProcessRunner::new(module, Options::default(), None);
    let ok = p.evaluate(&data("fine"), &json!({})).expect("eval");
    assert_eq!(ok.output, "fine");
    assert_eq!(ok.gas_used, Some(500), "the call's gas, refilled per call");
    let trapped = p.evaluate(&data("trap"), &json!({})).expect("eval");
    let err = trapped.error.expect("an error");
    assert!(
        err.as_str().is_some_and(|s| s.contains("unreachable")),
        "{err}"
    );
    let again = p.evaluate(&data("fine"), &json!({})).expect("eval");
    assert_eq!(again.output, "fine");
}

#[test]
fn the_compute_limit_stops_a_call_with_out_of_gas_and_the_next_still_runs() {
    let rt = Runtime::new();
    let module = rt
        .compile(&tiny(""), ModuleFormat::Emscripten2)
        .expect("compile");
    let limited = Options {
        compute_limit: Some(499),
        ..Options::default()
    };
    let mut p = ProcessRunner::new(module.clone(), limited, None);
    let e = p.evaluate(&data("fine"), &json!({})).expect("eval");
    assert_eq!(e.error, Some(Value::String("out of gas!".into())));
    assert_eq!(e.gas_used, None);
    let enough = Options {
        compute_limit: Some(500),
        ..Options::default()
    };
    let mut p = ProcessRunner::new(module, enough, None);
    assert_eq!(
        p.evaluate(&data("fine"), &json!({})).expect("eval").error,
        None
    );
}

#[test]
fn compiled_modules_round_trip_through_the_cache_format() {
    let rt = Runtime::new();
    let module = rt
        .compile(&tiny(""), ModuleFormat::Emscripten2)
        .expect("compile");
    let bytes = module.serialize().expect("serialize");
    let back = rt
        .deserialize(&bytes, ModuleFormat::Emscripten2)
        .expect("deserialize");
    let mut p = ProcessRunner::new(back, Options::default(), None);
    assert_eq!(
        p.evaluate(&data("fine"), &json!({})).expect("eval").output,
        "fine"
    );
    assert!(
        rt.cache_key("MOD", ModuleFormat::Emscripten2)
            .contains("wasmer-7.4.2")
    );
    assert!(
        rt.deserialize(b"not an artifact", ModuleFormat::Emscripten2)
            .is_err()
    );
}

/// The newer glue's ABI in miniature: `_emscripten_stack_*` exports, a bump `malloc`, and a
/// hand-written Asyncify state machine around one call of `__asyncjs__weavedrive_open`. Its
/// `handle` answers "round trip ok" only if the host unwound and rewound exactly as the
/// reference glue does: two entries into `handle`, the 12-byte buffer header (stack start, stack
/// end, rewind id 0), the buffer freed, and `Date.now` reading 10004 first.
const TINY_EMSCRIPTEN4_WAT: &str = r#"
(module
  (import "env" "__asyncjs__weavedrive_open" (func $open (param i32 i32) (result i32)))
  (import "env" "emscripten_date_now" (func $now (result f64)))
  (memory (export "memory") 2 2000)
  (global $sp (mut i32) (i32.const 65536))
  (global $heap (mut i32) (i32.const 131072))
  (global $state (mut i32) (i32.const 0))
  (global $data (mut i32) (i32.const 0))
  (global $entries (mut i32) (i32.const 0))
  (global $freed (mut i32) (i32.const -1))
  (global $first_now (mut f64) (f64.const 0))
  (data (i32.const 1024) "{\"ok\":true,\"response\":{\"Output\":\"round trip ok\"}}\00")
  (data (i32.const 2048) "{\"ok\":true,\"response\":{\"Output\":\"round trip wrong\"}}\00")
  (func (export "emscripten_stack_init"))
  (func (export "emscripten_stack_get_end") (result i32) i32.const 512)
  (func (export "__wasm_call_ctors"))
  (func (export "emscripten_stack_get_current") (result i32) global.get $sp)
  (func (export "_emscripten_stack_restore") (param i32) local.get 0 global.set $sp)
  (func (export "_emscripten_stack_alloc") (param i32) (result i32)
    global.get $sp local.get 0 i32.sub i32.const -16 i32.and global.set $sp global.get $sp)
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
                            (i32.const 65536)) (i32.const 1))))))
    local.get $p)
  (func (export "free") (param i32) local.get 0 global.set $freed)
  (func (export "asyncify_start_unwind") (param i32)
    i32.const 1 global.set $state local.get 0 global.set $data)
  (func (export "asyncify_stop_unwind") i32.const 0 global.set $state)
  (func (export "asyncify_start_rewind") (param i32) i32.const 2 global.set $state)
  (func (export "asyncify_stop_rewind") i32.const 0 global.set $state)
  (func (export "handle") (param i32 i32) (result i32) (local $r i32)
    (global.set $entries (i32.add (global.get $entries) (i32.const 1)))
    (if (f64.eq (global.get $first_now) (f64.const 0)) (then (global.set $first_now (call $now))))
    (local.set $r (call $open (i32.const 0) (i32.const 0)))
    (if (i32.eq (global.get $state) (i32.const 1)) (then (return (i32.const 0))))
    (if (result i32)
      (i32.and
        (i32.and
          (i32.and (i32.eq (global.get $entries) (i32.const 2)) (i32.eqz (local.get $r)))
          (i32.and
            (i32.eq (i32.load (global.get $data)) (i32.add (global.get $data) (i32.const 12)))
            (i32.eq (i32.load offset=4 (global.get $data))
                    (i32.add (global.get $data) (i32.const 41943052)))))
        (i32.and
          (i32.and (i32.eqz (i32.load offset=8 (global.get $data)))
                   (i32.eq (global.get $freed) (global.get $data)))
          (f64.eq (global.get $first_now) (f64.const 10004))))
      (then (i32.const 1024))
      (else (i32.const 2048)))))
"#;

#[test]
fn the_newer_glue_unwinds_and_rewinds_weavedrive_calls_like_the_reference() {
    let wasm = wasmer::wat2wasm(TINY_EMSCRIPTEN4_WAT.as_bytes())
        .expect("wat")
        .to_vec();
    let module = Runtime::new()
        .compile(&wasm, ModuleFormat::Emscripten4)
        .expect("compile");
    let env = serde_json::json!({"Process": {"Id": "P"}});
    let mut p = ProcessRunner::new(module, Options::default(), None);
    let e = p
        .evaluate(&serde_json::json!({"Id": "1", "Data": ""}), &env)
        .expect("evaluate");
    assert_eq!(e.error, None);
    assert_eq!(e.output, "round trip ok");
    let memory = p.memory().expect("memory").expect("some").len();
    assert!(
        memory > 40 << 20,
        "the 40 MiB Asyncify buffer was allocated ({memory} bytes)"
    );
}
