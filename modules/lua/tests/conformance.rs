//! The module in the reference loader: the same messages evaluated by `@permaweb/ao-loader`
//! 0.0.49 (under the format the module declares) and by our CU's loader give identical results,
//! field by field, and identical memory after every message.

mod common;

use ao_cu::loader::{ModuleFormat, Options, ProcessRunner, Runtime, result_line};
use common::*;
use serde_json::Value;

const PID: &str = "CONFORMANCE-PROCESS-000000000000000000000000";

/// A session touching every part of the OS: boot, Eval and print, handlers, the token blueprint
/// with notices and refusals, a pushed message from an authority and one from a stranger, an
/// error rolled back, Receive resumed by a later message, spawn and assign.
fn session() -> (Value, Vec<Value>) {
    let tags = process_tags(&[("Name", "conformance"), ("Authority", MU)]);
    let env = env(PID, &tags);
    let boot = Msg {
        signer: OWNER,
        from_process: None,
        tags: tags.clone(),
        data: "",
    };
    let steps = vec![
        boot,
        Msg::from(OWNER).action("Eval").data("print('hello'); return 1 + 1"),
        Msg::from(OWNER).action("Eval").data("Blueprint('token')"),
        Msg::from(OWNER).action("Mint").tag("Quantity", "1000000000000000000000"),
        Msg::from(OWNER)
            .action("Eval")
            .data("Send({Target = ao.id, Action = 'Transfer', Recipient = 'ALICE', Quantity = '5'})"),
        Msg::pushed(PID)
            .action("Transfer")
            .tag("Recipient", ALICE)
            .tag("Quantity", "400000000000000000000")
            .tag("X-Note", "n"),
        Msg::from(ALICE).action("Transfer").tag("Recipient", OWNER).tag("Quantity", "1"),
        Msg::from(OWNER).action("Transfer").tag("Recipient", ALICE).tag("Quantity", "1"),
        Msg::from(ALICE).action("Balances"),
        Msg::pushed(OTHER).action("Hello").data("from a process"),
        Msg::from(OWNER).action("Eval").data("Balances = nil; error('rolled back')"),
        Msg::from(OWNER).action("Eval").data(
            "Handlers.add('ask', 'Ask', function(msg) local r = Send({Target = 'OTHER', Action = 'Q'}).receive('OTHER') print('got ' .. r.Data) end)",
        ),
        Msg::from(ALICE).action("Ask"),
        Msg {
            signer: "OTHER",
            from_process: None,
            tags: vec![("X-Reference", "4")],
            data: "the answer",
        },
        Msg::from(OWNER).action("Eval").data(
            "Spawn('MOD', {Data = 'child'}); Assign({Processes = {'P1'}, Message = 'M1'}); return #Inbox",
        ),
        Msg::from(ALICE).action("Info"),
    ];
    let msgs = steps
        .iter()
        .enumerate()
        .map(|(nonce, m)| {
            let id = if nonce == 0 {
                PID.to_string()
            } else {
                format!("MSG-{nonce}")
            };
            message(PID, &id, nonce as u64, m)
        })
        .collect();
    (env, msgs)
}

#[test]
fn the_module_gives_identical_results_in_the_reference_loader() {
    let wasm = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(wasm.path(), ao_module_lua::PROCESS_WASM).expect("write");
    let (env, msgs) = session();
    let (argv, want) =
        ao_tests::reference_loader(wasm.path(), ao_module_lua::MODULE_FORMAT, &env, &msgs, None);
    assert_eq!(want.len(), msgs.len(), "a reference result per message");

    let module = Runtime::new()
        .compile(ao_module_lua::PROCESS_WASM, ModuleFormat::Emscripten2)
        .expect("compile");
    let options = Options {
        argv,
        ..Options::default()
    };
    let mut process = ProcessRunner::new(module, options, None);
    let mut errors = 0;
    for (i, (msg, want)) in msgs.iter().zip(&want).enumerate() {
        let e = process.evaluate(msg, &env).expect("evaluate");
        errors += usize::from(e.error.is_some());
        let (size, sha) = process.memory_digest().expect("memory");
        assert_eq!(
            &result_line(&e, size, &sha),
            want,
            "message {i} ({}) differs",
            msg["Tags"]
        );
    }
    // The session is meant to exercise these; make sure it did.
    assert_eq!(errors, 1, "exactly the rolled-back Eval fails");
    let last = &want[msgs.len() - 1]["Messages"][0];
    assert_eq!(tag(last, "Name"), Some("conformance"), "the token's Info");
    let transfer = &want[5]["Messages"];
    assert_eq!(tag(&transfer[1], "Action"), Some("Credit-Notice"));
}
