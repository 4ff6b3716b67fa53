//! Behaviours matched to aos 2.0 after the differential run of issue 13 (tests/js/aos-diff.cjs
//! against permaweb/ao's aos 2.0 module): each test pins one behaviour the harness found to differ.

mod common;

use common::*;

const MALLORY: &str = "MALLORY-ADDRESS-000000000000000000000000000";

/// aos's colours, as the OS prints them.
const GRAY: &str = "\u{1b}[90m";
const GREEN: &str = "\u{1b}[32m";
const BLUE: &str = "\u{1b}[34m";
const RED: &str = "\u{1b}[31m";
const RESET: &str = "\u{1b}[0m";

/// The evaluation's Error as text ("" when there is none).
fn error_text(e: &ao_cu::loader::Evaluation) -> String {
    e.error
        .as_ref()
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn after_boot_the_handlers_are_eval_default_and_boot_and_the_boot_output_is_not_printed() {
    let mut p = Process::spawn("PID-COMPAT-BOOT", &[]);
    assert_eq!(p.run("#Handlers.list"), "3");
    assert_eq!(
        p.run("local n = {} for _, h in ipairs(Handlers.list) do n[#n+1] = h.name end return table.concat(n, ',')"),
        "_eval,_default,_boot"
    );
}

#[test]
fn an_unhandled_info_goes_to_the_inbox() {
    let mut p = Process::spawn("PID-COMPAT-INFO", &[]);
    let e = p.send(Msg::from(ALICE).action("Info"));
    assert_eq!(e.messages, serde_json::json!([]), "no reply");
    assert_eq!(
        data(&e),
        format!("{GRAY}New Message From {GREEN}ALI...000{GRAY}: {GRAY}Action = {BLUE}Info{RESET}")
    );
    assert_eq!(p.run("#Inbox"), "1");
    assert_eq!(p.run("Inbox[1].Action"), "Info");
}

#[test]
fn an_untrusted_message_is_answered_as_not_trusted() {
    let mut p = Process::spawn("PID-COMPAT-TRUST", &[]);
    let e = p.send(Msg {
        signer: MALLORY,
        from_process: Some(OTHER),
        tags: vec![("Action", "Ping")],
        data: "",
    });
    assert_eq!(e.error, None);
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["Target"], OTHER);
    assert_eq!(msgs[0]["Data"], "Message is not trusted by this process!");
    assert!(data(&e).contains("Message is not trusted!"), "{}", data(&e));
    assert_eq!(p.run("#Inbox"), "0");
}

#[test]
fn handler_api_returns_and_places_as_aos() {
    let mut p = Process::spawn("PID-COMPAT-HANDLERS", &[]);
    // add returns the count; prepend, append, once, before/after return nothing.
    assert_eq!(
        p.run("Handlers.add('a', 'Go', function() print('a') end)"),
        "4"
    );
    assert_eq!(
        p.run("Handlers.prepend('p', 'Go', function() print('p') end)"),
        ""
    );
    assert_eq!(
        p.run("Handlers.append('z', 'Go', function() print('z') end)"),
        ""
    );
    assert_eq!(
        p.run("Handlers.once({Action = 'Anon'}, function() print('once') end)"),
        ""
    );
    assert_eq!(
        p.run("Handlers.before('a').add('b-a', function(m) return m.Action == 'Go' and 'continue' end, function() print('before a') end)"),
        ""
    );
    // once goes to the end (after _default, which only runs when nothing stopped).
    assert_eq!(
        p.run("local n = {} for _, h in ipairs(Handlers.list) do n[#n+1] = h.name end return table.concat(n, ',')"),
        "p,_eval,_default,_boot,b-a,a,z,_once_0"
    );
    let e = p.send(Msg::from(ALICE).action("Go"));
    assert_eq!(data(&e), "p");
    p.run("Handlers.remove('p')");
    let e = p.send(Msg::from(ALICE).action("Go"));
    assert_eq!(data(&e), "before a\na");
    let e = p.send(Msg::from(ALICE).action("Anon"));
    assert_eq!(data(&e), "once");
    let e = p.send(Msg::from(ALICE).action("Anon"));
    assert!(data(&e).contains("New Message From"), "{}", data(&e));
}

#[test]
fn eval_syntax_errors_and_second_values_are_the_error_as_they_are() {
    let mut p = Process::spawn("PID-COMPAT-EVAL", &[]);
    let e = p.eval("this is not lua");
    assert_eq!(error_text(&e), "[string \"aos\"]:1: syntax error near 'is'");
    let e = p.eval("return nil, 'why not'");
    assert_eq!(error_text(&e), "why not");
}

#[test]
fn tables_print_laid_out_and_coloured_as_aos() {
    let mut p = Process::spawn("PID-COMPAT-PRINT", &[]);
    assert_eq!(
        p.run("{1, 'x'}"),
        format!("{{ {BLUE}1{RESET}, {GREEN}\"x\"{RESET} }}")
    );
    assert_eq!(
        p.run("{a = 1, b = 'v'}"),
        format!(
            "{{\n   {RED}a{RESET} = {BLUE}1{RESET},\n   {RED}b{RESET} = {GREEN}\"v\"{RESET}\n}}"
        )
    );
    assert_eq!(
        p.run("{{1}, {2}}"),
        format!("{{\n  {{ {BLUE}1{RESET} }},\n  {{ {BLUE}2{RESET} }}\n }}")
    );
}

#[test]
fn a_failing_handler_reports_as_aos() {
    let mut p = Process::spawn("PID-COMPAT-FAIL", &[]);
    p.run("Handlers.add('bad', 'Bad', function() print('in bad'); error('bad handler', 0) end)");
    let e = p.send(Msg::from(ALICE).action("Bad"));
    let err = error_text(&e);
    // The traceback names the OS's file and line where aos (built without debug information)
    // names only the function.
    let (head, tail) = err.split_once("\n\n").expect("two parts");
    assert_eq!(
        head,
        format!(
            "in bad\n{RED}Error{GRAY} handling message with Action = Bad{RESET}\n{GREEN}bad handler{RESET}"
        )
    );
    assert!(
        tail.starts_with(&format!("{GRAY}stack traceback:\n\t"))
            && tail.ends_with(&format!(
                "in function '.process.handle'{RESET}\n\n{RED}error:\n{RESET}bad handler"
            )),
        "{tail}"
    );
}

#[test]
fn json_bint_and_spawn_as_aos() {
    let mut p = Process::spawn("PID-COMPAT-LIBS", &[]);
    let e = p.eval("require('json').encode(math.huge)");
    assert!(
        error_text(&e).ends_with("unexpected number value 'inf'"),
        "{e:?}"
    );
    assert_eq!(
        p.run("local bint = require('.bint')(256); return bint.ipow(bint(2), bint(100)):tobase(10) .. ' ' .. bint(255):tobase(16) .. ' ' .. tostring(bint.frominteger(7))"),
        "1267650600228229401496703205376 ff 7"
    );
    let e = p.eval("local bint = require('.bint')(256); return bint('abc')");
    assert!(
        error_text(&e).ends_with("value cannot be represented by a bint"),
        "{e:?}"
    );
    assert_eq!(
        p.run("local r = Spawn({Data = 'x'}); local k = {} for n in pairs(r) do k[#k+1] = n end table.sort(k) return table.concat(k, ',')"),
        "output,receive"
    );
}

#[test]
fn dump_lays_values_out_as_aos() {
    let mut p = Process::spawn("PID-COMPAT-DUMP", &[]);
    // the texts aos 2.0 gives for the same calls (tests/js/aos-diff.cjs, area dump)
    let cases = [
        (
            "Dump({1, 2, {a = 'x'}})",
            "{\n    [1] = 1,\n    [2] = 2,\n    [3] = {\n        a = \"x\"\n    }\n}",
        ),
        ("Dump('str')", "\"str\""),
        ("Dump(5)", "\"5\""),
        ("Dump(nil)", "\"nil\""),
        ("Dump({})", "{}"),
        (
            "Dump({b = {}, a = 1, [3] = 'c', [1.5] = 2})",
            "{\n    [1.5] = 2,\n    [3] = \"c\",\n    a = 1,\n    b = {}\n}",
        ),
        (
            "Dump({['end'] = 1, ['a b'] = 2, _ok = 3, ['9x'] = 4})",
            "{\n    [\"9x\"] = 4,\n    [\"a b\"] = 2,\n    [\"end\"] = 1,\n    _ok = 3\n}",
        ),
        (
            "Dump({a = {b = {c = 1}}}, 2)",
            "{\n  a = {\n    b = {\n      c = 1\n    }\n  }\n}",
        ),
        ("Dump({a = {b = 1}}, 0)", "{ a = { b = 1 } }"),
        ("Dump({a = 1}, 2, 3)", "{\n     a = 1\n   }"),
        (
            "Dump({s = 'q\"uote\\n'})",
            "{\n    s = \"q\\\"uote\\\n\"\n}",
        ),
        (
            "Dump({a = 1, b = 2}, 4, 0, function(v, depth, vt, use) if use == 'key' and v == 'b' then return nil end return v end)",
            "{\n    a = 1\n}",
        ),
        (
            "Dump({[{1}] = 'k'})",
            "{\n    [{\n        [1] = 1\n    }] = \"k\"\n}",
        ),
        (
            "local t = {x = 1}; t.self = t; return (Dump(t):gsub('0x%x+', 'ADDR'))",
            "{\n    self = \"<Circular table: ADDR>\",\n    x = 1\n}",
        ),
    ];
    for (code, want) in cases {
        assert_eq!(p.run(code), want, "{code}");
    }
    for (code, want) in [
        ("Dump({a = 1}, -1)", "indent must be unsigned integer"),
        ("Dump({a = 1}, 4, 1.5)", "padding must be unsigned integer"),
        ("Dump({a = 1}, 4, 0, 'x')", "filter must be function"),
    ] {
        let e = p.eval(code);
        assert!(error_text(&e).ends_with(want), "{code}: {:?}", e.error);
    }
}

#[test]
fn json_decode_errors_read_as_aos_and_trailing_text_is_one() {
    let mut p = Process::spawn("PID-COMPAT-JSON-ERR", &[]);
    // aos 2.0's texts for the same input (tests/js/aos-diff.cjs, area json)
    for (input, want) in [
        ("bad json", "unexpected character 'b' at line 1 col 1"),
        ("[1,2", "expected ']' or ',' at line 1 col 6"),
        ("{\\\"a\\\" 1}", "expected ':' after key at line 1 col 6"),
        ("{\\\"a\\\":1 x", "expected '}' or ',' at line 1 col 9"),
        ("[1] x", "trailing garbage at line 1 col 5"),
        ("tru", "invalid literal 'tru' at line 1 col 1"),
        ("12abc", "invalid number '12abc' at line 1 col 1"),
        (
            "\\\"abc",
            "expected closing quote for string at line 1 col 1",
        ),
        ("{1:2}", "expected string for key at line 1 col 2"),
        (
            "[1,\\n  2,\\n  x]",
            "unexpected character 'x' at line 3 col 3",
        ),
    ] {
        let code = format!("require('json').decode(\"{input}\")");
        let e = p.eval(&code);
        assert!(error_text(&e).ends_with(want), "{code}: {:?}", e.error);
    }
    assert_eq!(
        p.run("require('json').decode(' {\"a\":[1,2,{\"b\":null}]} ').a[2]"),
        "2"
    );
}

#[test]
fn utils_take_a_list_with_holes_as_an_array_as_aos() {
    let mut p = Process::spawn("PID-COMPAT-ISARRAY", &[]);
    assert_eq!(
        p.run("Utils.map(function(x) return x end, {1, nil, 3})[3]"),
        "3"
    );
    assert_eq!(p.run("tostring(Utils.isArray({1, nil, 3}))"), "true");
    assert_eq!(p.run("tostring(Utils.isArray({[2] = 'x'}))"), "false");
}
