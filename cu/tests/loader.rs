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
    let e = rt
        .compile(&wasm, ModuleFormat::Wasm64)
        .err()
        .expect("unsupported");
    assert!(matches!(e, LoaderError::UnsupportedFormat(_)), "{e}");
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
