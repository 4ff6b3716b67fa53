//! The OS, tested from inside the module: each test spawns a process on our CU's loader and
//! sends it messages.

mod common;

use common::*;

#[test]
fn eval_prints_and_returns_values_for_the_owner() {
    let mut p = Process::spawn("PID-EVAL", &[("Name", "tester")]);
    assert_eq!(p.run("1 + 1"), "2");
    assert_eq!(p.run("x = 41; print('hi'); return x + 1"), "hi\n42");
    let e = p.eval("return Name");
    assert_eq!(data(&e), "tester");
    assert!(
        e.output["prompt"]
            .as_str()
            .is_some_and(|s| s.contains("tester") && s.contains("[Inbox:")),
        "{:?}",
        e.output
    );
}

#[test]
fn eval_from_anyone_but_the_owner_runs_nothing_and_lands_in_the_inbox() {
    let mut p = Process::spawn("PID-EVAL-OWNER", &[]);
    let e = p.send(Msg::from(ALICE).action("Eval").data("Hacked = true"));
    assert_eq!(e.error, None);
    assert!(data(&e).contains("New Message From"), "{}", data(&e));
    assert_eq!(p.run("tostring(Hacked)"), "nil");
    assert_eq!(p.run("#Inbox"), "1");
    assert_eq!(
        p.run("Inbox[1].From .. ' ' .. Inbox[1].Action"),
        format!("{ALICE} Eval")
    );
}

#[test]
fn lua_errors_are_the_error_and_the_state_is_rolled_back() {
    let mut p = Process::spawn("PID-ERR", &[]);
    p.run("Counter = 1");
    let e = p.eval("Counter = 2; error('boom')");
    let err = e.error.expect("an error").to_string();
    assert!(err.contains("boom"), "{err}");
    assert_eq!(
        p.run("Counter"),
        "1",
        "the failed message's change is undone"
    );
    let e = p.eval("this is not lua");
    assert!(e.error.is_some(), "a syntax error is an error");

    // A handler's error: Error names the action; the outbox of the failed message is dropped.
    p.run("Handlers.add('bad', 'Bad', function(msg) Send({Target = msg.From, Data = 'x'}); error('bad handler') end)");
    let e = p.send(Msg::from(ALICE).action("Bad"));
    let err = e.error.expect("an error").to_string();
    assert!(
        err.contains("bad handler") && err.contains("Action = Bad"),
        "{err}"
    );
    assert_eq!(e.messages, serde_json::json!([]));
}

#[test]
fn send_puts_a_message_in_the_outbox_in_the_shape_the_mu_pushes() {
    let mut p = Process::spawn("PID-SEND", &[]);
    let e = p.eval(&format!(
        "Send({{Target = '{OTHER}', Action = 'Ping', Quantity = 5, Data = 'hello', Tags = {{ {{name = 'Z-Last', value = 'z'}} }} }})"
    ));
    assert_eq!(e.error, None);
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["Target"], OTHER);
    assert_eq!(m["Data"], "hello");
    assert_eq!(m["Anchor"], "00000000000000000000000000000001");
    let want: Vec<(String, String)> = [
        ("Data-Protocol", "ao"),
        ("Variant", "ao.TN.1"),
        ("Type", "Message"),
        ("Reference", "1"),
        ("Action", "Ping"),
        ("Quantity", "5"),
        ("Z-Last", "z"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        tags(m),
        want,
        "protocol tags, then the keys sorted, then Tags"
    );
    let keys: Vec<&String> = m.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 4, "only Target, Anchor, Tags, Data: {keys:?}");

    // The reference counter goes on across messages; a table Data is sent as JSON.
    let e = p.eval(&format!(
        "Send({{Target = '{OTHER}', Data = {{a = 1, b = {{true}}}}}})"
    ));
    let m = &e.messages[0];
    assert_eq!(m["Anchor"], "00000000000000000000000000000002");
    assert_eq!(m["Data"], r#"{"a":1,"b":[true]}"#);
    assert_eq!(tag(m, "Content-Type"), Some("application/json"));

    // A tag value that is a function is an error naming the tag.
    let e = p.eval(&format!(
        "Send({{Target = '{OTHER}', Tags = {{ {{name = 'Bad', value = print}} }} }})"
    ));
    let err = e.error.expect("an error").to_string();
    assert!(err.contains("tag Bad"), "{err}");
}

/// Issue 13: the upstream aos token blueprint ends each Transfer with a Target-less
/// `device = 'patch@1.0'` message whose tags hold tables. As in aos that is a warning, not an
/// error: the message stays in the outbox (the MU drops it) and the notices go out.
#[test]
fn a_target_less_send_with_table_tags_warns_and_keeps_the_message() {
    let mut p = Process::spawn("PID-NOTARGET", &[]);
    p.run(
        "Handlers.add('Transfer', 'Transfer', function(msg)
           Send({Target = msg.From, Action = 'Debit-Notice', Quantity = msg.Quantity})
           Send({Target = msg.Recipient, Action = 'Credit-Notice', Quantity = msg.Quantity})
           Send({device = 'patch@1.0', balances = {[msg.From] = '0'},
                 ['token-info'] = {name = 'T', denomination = '12'}})
         end)",
    );
    let e = p.send(
        Msg::from(ALICE)
            .action("Transfer")
            .tag("Recipient", OTHER)
            .tag("Quantity", "5"),
    );
    assert_eq!(e.error, None, "{:?}", e.output);
    assert!(
        data(&e).contains(
            "WARN: No target specified for message. Data will be stored, but no process will receive it."
        ),
        "{}",
        data(&e)
    );
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(tag(&msgs[0], "Action"), Some("Debit-Notice"));
    assert_eq!(msgs[0]["Target"], ALICE);
    assert_eq!(tag(&msgs[1], "Action"), Some("Credit-Notice"));
    assert_eq!(msgs[1]["Target"], OTHER);
    let patch = &msgs[2];
    assert!(patch.get("Target").is_none(), "{patch}");
    assert_eq!(tag(patch, "device"), Some("patch@1.0"));
    let balances = patch["Tags"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "balances"))
        .expect("balances tag");
    assert_eq!(balances["value"], serde_json::json!({ ALICE: "0" }));
}

#[test]
fn spawn_and_assign_fill_their_outboxes() {
    let mut p = Process::spawn("PID-SPAWN", &[]);
    let e = p.eval("Spawn('CHILD-MODULE', {Name = 'child', Data = 'boot'}); Assign({Processes = {'A', 'B'}, Message = 'M'})");
    assert_eq!(e.error, None);
    let s = &e.spawns[0];
    assert_eq!(s["Data"], "boot");
    assert_eq!(s["Anchor"], "00000000000000000000000000000001");
    assert_eq!(
        tags(s)
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>(),
        [
            "Data-Protocol=ao",
            "Variant=ao.TN.1",
            "Type=Process",
            "From-Process=PID-SPAWN",
            "From-Module=MODULE-ID",
            "Module=CHILD-MODULE",
            "Reference=1",
            "Name=child",
        ]
    );
    assert_eq!(
        e.assignments,
        serde_json::json!([{"Processes": ["A", "B"], "Message": "M"}])
    );
    // Spawn(msg) uses the process's own module; no Data becomes "NODATA" (as aos).
    let e = p.eval("Spawn({})");
    assert_eq!(tag(&e.spawns[0], "Module"), Some("MODULE-ID"));
    assert_eq!(e.spawns[0]["Data"], "NODATA");
}

#[test]
fn handlers_match_by_action_string_tag_table_and_function_in_list_order() {
    let mut p = Process::spawn("PID-HANDLERS", &[]);
    p.run(
        r#"
        Seen = {}
        Handlers.add('by-string', 'Ping', function(msg) table.insert(Seen, 'string') end)
        Handlers.add('by-table', {Action = 'Pong', Color = 'red'}, function(msg) table.insert(Seen, 'table') end)
        Handlers.add('by-function', function(msg) return msg.Data == 'fn' end, function(msg) table.insert(Seen, 'function') end)
        Handlers.add('by-util', Handlers.utils.hasMatchingTag('Action', 'Util'), function(msg) table.insert(Seen, 'util') end)
        Handlers.add('by-data', Handlers.utils.hasMatchingData('data!'), function(msg) table.insert(Seen, 'data') end)
        Handlers.add('by-pattern', {Action = 'Sw.*'}, function(msg) table.insert(Seen, 'lua-pattern') end)
        "#,
    );
    p.send(Msg::from(ALICE).action("Ping"));
    p.send(Msg::from(ALICE).action("Pong").tag("Color", "RED"));
    p.send(Msg::from(ALICE).action("Pong").tag("Color", "blue"));
    p.send(Msg::from(ALICE).data("fn"));
    p.send(Msg::from(ALICE).action("Util"));
    p.send(Msg::from(ALICE).data("data!"));
    p.send(Msg::from(ALICE).action("Switch"));
    assert_eq!(
        p.run("table.concat(Seen, ',')"),
        "string,table,function,util,data,lua-pattern"
    );
    assert_eq!(p.run("#Inbox"), "1", "the blue Pong matched nothing");

    // Order: prepend, before, after, and continue/break decisions.
    p.run(
        r#"
        Order = {}
        Handlers.add('b', function(msg) return msg.Action == 'Go' and 'continue' end, function() table.insert(Order, 'b') end)
        Handlers.add('d', 'Go', function() table.insert(Order, 'd') end)
        Handlers.add('e', 'Go', function() table.insert(Order, 'e') end)
        Handlers.prepend('a', function(msg) return msg.Action == 'Go' and 1 or 0 end, function() table.insert(Order, 'a') end)
        Handlers.before('d').add('c', function(msg) return msg.Action == 'Go' and 'continue' end, function() table.insert(Order, 'c') end)
        Handlers.after('a').add('a2', function(msg) return msg.Action == 'Go' and 'continue' end, function() table.insert(Order, 'a2') end)
        "#,
    );
    p.send(Msg::from(ALICE).action("Go"));
    assert_eq!(p.run("table.concat(Order, ',')"), "a,a2,b,c,d", "d breaks");
    let names = p.run("local n = {} for _, h in ipairs(Handlers.list) do table.insert(n, h.name) end return table.concat(n, ',')");
    assert!(names.starts_with("a,a2,_eval,"), "{names}");

    // Replacing by name keeps the place; remove takes it out.
    p.run("Handlers.add('d', 'Go', function() table.insert(Order, 'd2') end); Handlers.remove('c'); Order = {}");
    p.send(Msg::from(ALICE).action("Go"));
    assert_eq!(p.run("table.concat(Order, ',')"), "a,a2,b,d2");

    // once runs once; a handler with maxRuns runs that many times.
    p.run("Count = 0; Handlers.once('Once', function() Count = Count + 1 end); Handlers.add('twice', 'Twice', function() Count = Count + 10 end, 2)");
    for action in ["Once", "Once", "Twice", "Twice", "Twice"] {
        p.send(Msg::from(ALICE).action(action));
    }
    assert_eq!(p.run("Count"), "21");
}

#[test]
fn tag_names_are_title_cased_and_tags_are_fields_of_the_message() {
    let mut p = Process::spawn("PID-NORMALIZE", &[]);
    p.run("Handlers.add('t', 'Echo', function(msg) Last = msg; Last.Time = os.time() end)");
    p.send(
        Msg::from(ALICE)
            .tag("action", "Echo")
            .tag("content_type", "text/plain")
            .tag("X-Thing", "1")
            .tag("X-Thing", "2"),
    );
    assert_eq!(
        p.run("Last.Action .. ' ' .. Last['Content-Type'] .. ' ' .. Last.Tags['X-Thing'] .. ' ' .. #Last.TagArray .. ' ' .. Last.From .. ' ' .. Last.Time"),
        format!("Echo text/plain 1 4 {ALICE} {}", T0 + 2000)
    );
}

#[test]
fn pushed_messages_are_believed_only_from_an_authority() {
    let mut untrusting = Process::spawn("PID-NO-AUTH", &[]);
    let e = untrusting.send(Msg::pushed(OTHER).action("Hello"));
    assert!(data(&e).contains("not trusted"), "{}", data(&e));
    assert_eq!(untrusting.run("#Inbox"), "0");

    let mut trusting = Process::spawn("PID-AUTH", &[("Authority", MU)]);
    assert_eq!(trusting.run("ao.authorities[1]"), MU);
    let e = trusting.send(Msg::pushed(OTHER).action("Hello"));
    assert!(data(&e).contains("New Message From"), "{}", data(&e));
    assert_eq!(
        trusting.run("Inbox[1].From .. ' ' .. Inbox[1]['Forwarded-By']"),
        format!("{OTHER} {MU}")
    );
    assert_eq!(trusting.run("tostring(ao.isTrusted(Inbox[1]))"), "true");
}

#[test]
fn msg_reply_and_forward_carry_references() {
    let mut p = Process::spawn("PID-REPLY", &[]);
    p.run("Handlers.add('r', 'Ask', function(msg) msg.reply({Data = 'answer'}) end)");
    p.run(&format!(
        "Handlers.add('f', 'Fwd', function(msg) msg.forward('{OTHER}', {{Extra = 'yes'}}) end)"
    ));
    let e = p.send(Msg::from(ALICE).action("Ask").tag("Reference", "7"));
    let m = &e.messages[0];
    assert_eq!(m["Target"], ALICE);
    assert_eq!(m["Data"], "answer");
    assert_eq!(tag(m, "X-Reference"), Some("7"));
    // Reply-To redirects the reply.
    let e = p.send(Msg::from(ALICE).action("Ask").tag("Reply-To", OTHER));
    assert_eq!(e.messages[0]["Target"], OTHER);

    let e = p.send(
        Msg::from(ALICE)
            .action("Fwd")
            .tag("Reference", "9")
            .data("payload"),
    );
    let m = &e.messages[0];
    assert_eq!(m["Target"], OTHER);
    assert_eq!(m["Data"], "payload");
    assert_eq!(tag(m, "Action"), Some("Fwd"));
    assert_eq!(tag(m, "Extra"), Some("yes"));
    assert_eq!(tag(m, "Reply-To"), Some(ALICE));
    assert_eq!(tag(m, "X-Origin"), Some(ALICE));
    assert_eq!(tag(m, "X-Reference"), Some("9"));
    assert_eq!(tag(m, "Nonce"), None, "delivery fields are not forwarded");
}

#[test]
fn receive_waits_for_a_later_message_and_resumes_there() {
    let mut p = Process::spawn("PID-RECEIVE", &[("Authority", MU)]);
    p.run(&format!(
        r#"Handlers.add('ask', 'Start', function(msg)
             local reply = Send({{Target = '{OTHER}', Action = 'Question'}}).receive()
             print('got ' .. reply.Data)
             Send({{Target = msg.From, Data = 'answer was ' .. reply.Data}})
           end)"#
    ));
    let e = p.send(Msg::from(ALICE).action("Start"));
    assert_eq!(e.error, None);
    assert_eq!(tag(&e.messages[0], "Action"), Some("Question"));
    assert_eq!(e.messages.as_array().map(Vec::len), Some(1), "waiting");

    // An unrelated message is not the reply.
    let e = p.send(Msg::pushed(OTHER).action("Noise"));
    assert_eq!(e.messages, serde_json::json!([]));

    let e = p.send(Msg::pushed(OTHER).tag("X-Reference", "1").data("42"));
    assert_eq!(e.error, None);
    assert_eq!(data(&e), "got 42");
    assert_eq!(e.messages[0]["Target"], ALICE);
    assert_eq!(e.messages[0]["Data"], "answer was 42");
    assert_eq!(
        p.run("#Handlers.coroutines"),
        "0",
        "the finished coroutine is let go"
    );

    // Receive in an Eval, resumed by a matching pattern; an error after resuming is reported.
    p.run("Handlers.add('x', 'Never', function() end); co = 0");
    p.run("local m = Receive({Action = 'Wake'}); Woken = m.Data; error('after wake')");
    let e = p.send(Msg::from(ALICE).action("Wake").data("up"));
    assert!(
        e.error
            .as_ref()
            .is_some_and(|v| v.to_string().contains("after wake")),
        "{e:?}"
    );
}

#[test]
fn on_boot_data_runs_when_the_process_starts() {
    let mut p = Process::spawn_with(
        "PID-ONBOOT",
        &[("On-Boot", "Data")],
        "Booted = 'yes'; Handlers.add('hi', 'Hi', function(msg) msg.reply({Data = 'hello'}) end)",
        Default::default(),
    );
    assert_eq!(p.run("Booted"), "yes");
    let e = p.send(Msg::from(ALICE).action("Hi"));
    assert_eq!(e.messages[0]["Data"], "hello");
}

#[test]
fn json_base64_and_utils_work_as_aos_processes_use_them() {
    let mut p = Process::spawn("PID-LIBS", &[]);
    let out = p.run(
        r#"local json = require('json')
           local t = json.decode([==[{"a":[1,2.5,"x\u00e9\ud83d\ude00",true,null,{"b":{}}],"n":-3e2}]==])
           return json.encode(t) .. ' ' .. math.type(t.a[1]) .. ' ' .. json.encode(json.decode(json.encode(t)))"#,
    );
    assert_eq!(
        out,
        r#"{"a":{"1":1,"2":2.5,"3":"xé😀","4":true,"6":{"b":[]}},"n":-300} integer {"a":{"1":1,"2":2.5,"3":"xé😀","4":true,"6":{"b":[]}},"n":-300}"#
    );
    let e = p.eval("require('json').decode('{bad')");
    assert!(e.error.is_some());
    assert_eq!(
        p.run("local b = require('.base64') return b.encode('hello?>') .. ' ' .. b.decode(b.encode('hello?>')) .. ' ' .. b.encode('\\255\\254', true)"),
        "aGVsbG8/Pg== hello?> __4"
    );
    assert_eq!(
        p.run("local u = require('.utils') return table.concat(u.map(function(x) return x * 2 end)({1, 2, 3}), ',') .. ' ' .. u.reduce(function(a, b) return a + b end, 0, {1, 2, 3}) .. ' ' .. #u.filter(function(x) return x > 1 end, {1, 2, 3}) .. ' ' .. tostring(u.includes(2)({1, 2})) .. ' ' .. u.find(u.propEq('k', 'v'))({{k = 'w'}, {k = 'v', n = 9}}).n .. ' ' .. u.compose(function(x) return x + 1 end, function(x) return x * 10 end)(2)"),
        "2,4,6 6 2 true 9 21"
    );
}

#[test]
fn bint_is_exact_beyond_64_bits() {
    let mut p = Process::spawn("PID-BINT", &[]);
    let out = p.run(
        r#"local bint = require('.bint')(256)
           local a = bint('123456789012345678901234567890')
           local b = bint('987654321098765432109876543210')
           return table.concat({
             tostring(a + b), tostring(b - a), tostring(a - b), tostring(a * b),
             tostring(b // a), tostring(b % a), tostring(bint(-7) // 2), tostring(bint(-7) % 2),
             tostring(bint.ipow(2, 256)), tostring(bint(10000 * 10 ^ 12)),
             tostring(bint.__lt(0, bint('1'))), tostring(a < b), tostring(a == bint('123456789012345678901234567890')),
             tostring(bint.tonumber(bint('9007199254740993'))), tostring(bint.zero()), tostring(-bint(5)),
           }, ' ')"#,
    );
    assert_eq!(
        out,
        "1111111110111111111011111111100 864197532086419753208641975320 -864197532086419753208641975320 \
         121932631137021795226185032733622923332237463801111263526900 8 9000000000900000000090 -4 1 \
         115792089237316195423570985008687907853269984665640564039457584007913129639936 10000000000000000 \
         true true true 9007199254740993 0 -5"
    );
    for bad in ["bint('12x')", "bint(1.5)", "bint('1') // 0"] {
        let e = p.eval(&format!("local bint = require('.bint')(256) return {bad}"));
        assert!(e.error.is_some(), "{bad} is an error");
    }
}

#[test]
fn chatroom_blueprint_registers_and_broadcasts() {
    let mut p = Process::spawn("PID-CHAT", &[]);
    assert_eq!(p.run("Blueprint('chatroom')"), "Loaded blueprint chatroom");
    let e = p.send(Msg::from(ALICE).action("Register"));
    assert_eq!(e.messages[0]["Data"], "Registered.");
    let e = p.send(Msg::from(ALICE).action("Register"));
    assert_eq!(e.messages[0]["Data"], "Already registered.");
    p.send(Msg::from(OWNER).action("Register"));
    let e = p.send(Msg::from(OWNER).action("Broadcast").data("hi all"));
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        (
            msgs[0]["Target"].as_str(),
            tag(&msgs[0], "Action"),
            msgs[0]["Data"].as_str()
        ),
        (Some(ALICE), Some("Broadcast-Notice"), Some("hi all"))
    );
    assert_eq!(msgs[1]["Target"], OWNER);
    assert_eq!(msgs[2]["Data"], "Broadcasted.");
    let e = p.eval("Blueprint('nope')");
    assert!(e.error.is_some());
}
