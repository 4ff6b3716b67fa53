//! Conformance: our loader and the reference `@permaweb/ao-loader` 0.0.49 (run in node) evaluate
//! the same module on the same messages and must agree on every field of every result and on the
//! SHA-256 of the memory after each message.
//!
//! In CI the module is built from source here: `modules/lua-minimal` (Lua 5.3.6, emscripten2
//! ABI) with Debian's emscripten. Outside CI,
//! `AO_CONFORMANCE_MODULES="path|format[|messages.jsonl[|compute-limit]];..."` adds other modules (the real aos builds from permaweb/ao's `loader/test/`, which this repository
//! does not carry) to the same comparison.

use std::path::Path;

mod common;

use common::{minimal_module, repo};

use ao_cu::loader::{ModuleFormat, Options, ProcessRunner, Runtime, result_line};
use serde_json::{Value, json};

fn env_json() -> Value {
    json!({"Process": {"Id": "AOPROCESS000000000000000000000000000000000", "Owner": "OWNER",
        "Tags": [{"name": "Name", "value": "conformance"}]},
        "Module": {"Id": "MODULE", "Tags": [{"name": "Module-Format", "value": "wasm32-unknown-emscripten2"}]}})
}

fn eval(id: usize, data: &str) -> Value {
    json!({"Id": format!("MSG{id}"), "Target": "AOPROCESS000000000000000000000000000000000",
        "Owner": "OWNER", "From": "OWNER", "Module": "MODULE", "Block-Height": "1000",
        "Timestamp": (1_700_000_000_000u64 + id as u64).to_string(),
        "Tags": [{"name": "Action", "value": "Eval"}], "Data": data})
}

/// The cases: arithmetic, state across messages, a Lua error (longjmp), dates through the time
/// imports, heap growth, printing (fd_write), non-ASCII strings (UTF-16 sizing of the stack
/// copies), a long message, and state surviving an error.
fn messages() -> Vec<Value> {
    let cases = [
        "return 1 + 1",
        "count = (count or 0) + 1; return count",
        "error('boom')",
        "return os.date('%Y-%m-%d %H:%M:%S') .. ' ' .. os.date('!%c', 86400 * 400)",
        "return os.time({year = 2024, month = 2, day = 30, hour = 12})",
        "local t = {} for i = 1, 100000 do t[i] = i * 2 end big = t return #big",
        "print('printed'); return 'after print'",
        "return 'héllo ✓ 😀 ' .. #msg.Data",
        &format!("return #'{}'", "x".repeat(20_000)),
        "count = count + 1; return count",
        "return string.format('%.3f', math.pi) .. tostring(nil) .. tostring(#big)",
    ];
    cases.iter().enumerate().map(|(i, d)| eval(i, d)).collect()
}

/// Compare our loader with the reference on `msgs` (default: [`messages`]), with an optional
/// compute limit (modules whose handlers loop on unknown messages need one).
fn compare_with(wasm: &Path, format: &str, msgs: Option<Vec<Value>>, compute_limit: Option<u64>) {
    let env = env_json();
    let msgs = msgs.unwrap_or_else(messages);
    let (argv, want) = ao_tests::reference_loader(wasm, format, &env, &msgs, compute_limit);
    assert_one_result_per_message(&want, &msgs);

    let bytes = std::fs::read(wasm).expect("wasm");
    let format = ModuleFormat::parse(format).expect("format");
    let module = Runtime::new().compile(&bytes, format).expect("compile");
    let options = Options {
        argv,
        compute_limit,
        ..Options::default()
    };
    let mut process = ProcessRunner::new(module, options, None);
    for (i, (msg, want)) in msgs.iter().zip(&want).enumerate() {
        let e = process.evaluate(msg, &env).expect("evaluate");
        let (size, sha) = process.memory_digest().expect("memory");
        let got = result_line(&e, size, &sha);
        assert_eq!(
            &got,
            want,
            "{}: message {i} ({}) differs",
            wasm.display(),
            msg["Data"]
        );
    }
}

/// Comparisons zip our results with the reference's: a reference that stopped early (a crash
/// in node, a truncated output) would otherwise pass on the messages it did answer.
fn assert_one_result_per_message(want: &[Value], msgs: &[Value]) {
    assert_eq!(
        want.len(),
        msgs.len(),
        "the reference gave a result per message"
    );
}

fn compare(wasm: &Path, format: &str) {
    compare_with(wasm, format, None, None);
}

#[test]
fn the_lua_test_module_matches_the_reference_loader_bit_for_bit() {
    compare(&minimal_module(), "wasm32-unknown-emscripten2");
}

/// Our metering (the `-metering` formats) against `@permaweb/wasm-metering`: the module metered
/// by the library runs in ao-loader (emscripten2, whose glue provides `metering.usegas`) and in
/// our loader (the same host import), and the original module metered by our rewrite runs in
/// our loader; all three must report the same GasUsed and the same memory after every message.
#[test]
fn our_metering_charges_exactly_what_wasm_metering_charges() {
    metering_against_the_reference(|want| want);
}

/// The metering comparison fails, rather than passing on the messages answered, when the
/// reference prints fewer results than it was given messages.
#[test]
#[should_panic(expected = "the reference gave a result per message")]
fn the_metering_comparison_fails_on_a_truncated_reference_output() {
    metering_against_the_reference(|mut want| {
        want.truncate(want.len() - 1);
        want
    });
}

/// The metering comparison, with the reference's results passed through `reference` (the
/// identity, or a truncation showing the comparison notices).
fn metering_against_the_reference(reference: impl FnOnce(Vec<Value>) -> Vec<Value>) {
    let dir = tempfile::tempdir().expect("tmp");
    let metered = dir.path().join("metered.wasm");
    let out = ao_tests::node(
        &repo().join("tests/js/meter.cjs"),
        &[minimal_module().into(), metered.clone().into()],
    );
    assert!(
        out.status.success(),
        "wasm-metering failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = env_json();
    let msgs = messages();
    let (argv, want) =
        ao_tests::reference_loader(&metered, "wasm32-unknown-emscripten2", &env, &msgs, None);
    let want = reference(want);
    assert_one_result_per_message(&want, &msgs);
    let options = Options {
        argv,
        ..Options::default()
    };
    let rt = Runtime::new();
    let theirs = rt
        .compile(
            &std::fs::read(&metered).expect("metered"),
            ModuleFormat::Emscripten2,
        )
        .expect("compile metered");
    let ours = rt
        .compile_with(
            &std::fs::read(minimal_module()).expect("wasm"),
            ModuleFormat::Emscripten2,
            true,
        )
        .expect("compile with our metering");
    let mut a = ProcessRunner::new(theirs, options.clone(), None);
    let mut b = ProcessRunner::new(ours, options, None);
    for (i, (msg, want)) in msgs.iter().zip(&want).enumerate() {
        let ea = a.evaluate(msg, &env).expect("evaluate");
        let eb = b.evaluate(msg, &env).expect("evaluate");
        let gas = want["GasUsed"].as_u64().expect("the reference meters");
        assert!(gas > 0, "message {i}");
        assert_eq!(
            ea.gas_used,
            Some(gas),
            "message {i}: wasm-metering's binary on our host"
        );
        assert_eq!(eb.gas_used, Some(gas), "message {i}: our metering");
        assert_eq!(eb.output, ea.output, "message {i}");
        assert_eq!(
            b.memory_digest().expect("memory").1,
            want["memory_sha256"],
            "message {i}: memory"
        );
    }
}

/// Run by hand (`-- --ignored`): the modules are not in this repository.
#[test]
#[ignore = "needs AO_CONFORMANCE_MODULES naming modules outside this repository"]
fn modules_named_in_the_environment_match_the_reference_loader() {
    let list = std::env::var("AO_CONFORMANCE_MODULES")
        .expect("set AO_CONFORMANCE_MODULES=\"path|format[|messages.jsonl[|compute-limit]];...\"");
    // path|format[|messages.jsonl[|compute-limit]]
    for entry in list.split(';').filter(|e| !e.is_empty()) {
        let fields: Vec<&str> = entry.split('|').collect();
        let msgs = fields.get(2).filter(|f| !f.is_empty()).map(|f| {
            std::fs::read_to_string(f)
                .expect("messages file")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("message JSON"))
                .collect()
        });
        let limit = fields.get(3).map(|l| l.parse().expect("compute limit"));
        compare_with(Path::new(fields[0]), fields[1], msgs, limit);
    }
}

fn lua_process(options: Options, memory: Option<Vec<u8>>) -> ProcessRunner {
    let bytes = std::fs::read(minimal_module()).expect("wasm");
    let module = Runtime::new()
        .compile(&bytes, ModuleFormat::Emscripten2)
        .expect("compile");
    ProcessRunner::new(module, options, memory)
}

#[test]
fn out_of_memory_is_an_error_and_the_process_goes_on() {
    let env = env_json();
    let limit = 8 * 1024 * 1024;
    let mut p = lua_process(
        Options {
            memory_limit: Some(limit),
            ..Options::default()
        },
        None,
    );
    assert_eq!(
        p.evaluate(&eval(0, "x = 41 return x"), &env)
            .expect("eval")
            .output,
        "41"
    );
    let e = p
        .evaluate(
            &eval(
                1,
                "local t = {} for i = 1, 4000000 do t[i] = i end return #t",
            ),
            &env,
        )
        .expect("eval");
    let err = e.error.expect("out of memory");
    assert!(err.to_string().contains("not enough memory"), "{err}");
    assert!(p.memory().expect("memory").expect("some").len() as u64 <= limit);
    assert_eq!(
        p.evaluate(&eval(2, "return x + 1"), &env)
            .expect("eval")
            .output,
        "42"
    );
}

#[test]
fn a_snapshot_restored_into_a_fresh_instance_continues_the_process() {
    let env = env_json();
    let mut p = lua_process(Options::default(), None);
    for i in 0..2 {
        p.evaluate(&eval(i, "n = (n or 0) + 1 return n"), &env)
            .expect("eval");
    }
    let snapshot = p.memory().expect("memory").expect("some");
    let mut q = lua_process(Options::default(), Some(snapshot));
    let e = q
        .evaluate(&eval(2, "n = (n or 0) + 1 return n"), &env)
        .expect("eval");
    assert_eq!(e.output, "3");
}
