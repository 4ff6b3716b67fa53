// node tests/js/aos-diff.cjs AOS_WASM AOS_BLUEPRINTS_DIR [OUR_WASM] [--verbose] [--only AREA]
//
// A by-hand differential harness (not run in CI: aos is in no package registry): the same message
// sequences through aos 2.0 (permaweb/ao's `loader/test/emscripten4/process.wasm`, format
// wasm32-unknown-emscripten4) and through our module (modules/lua/dist/process.wasm, format
// wasm32-unknown-emscripten2), both in @permaweb/ao-loader, one fresh process per scenario on each
// side. The upstream blueprints are loaded by an Eval of their text read from AOS_BLUEPRINTS_DIR
// (permaweb/aos `blueprints/`); none of their text is in this repository. Every message's result is
// compared: Error, Output.data, and the outgoing Messages, Spawns and Assignments (Target, Data, tags).
//
// Normalised, because they differ by construction and say nothing about behaviour:
//  * Output.prompt (it names the OS and its version), Output.test (aos 2.0 only), GasUsed, Memory;
//  * addresses in `function: 0x...` / `table: 0x...` (heap layout);
//  * positions inside the OS's own files in error texts (`[string ".handlers"]:563: `), which depend
//    on each OS's source lines (the user code's `[string "aos"]:1:` is kept);
//  * the order of tags (aos takes the table keys in `pairs` order, a hash order; we sort them) and
//    the key order of JSON in Data and in Output (the same reason);
//  * a tag value as text (we send numbers and booleans as strings, aos as JSON numbers and
//    booleans; the CU gives both on as the same text: a kept difference, see the README).
// A result whose Output lines are the same only in another order (a table printed in `pairs`
// order) is counted "same up to order", apart from "identical" and "different".
//
// Get the aos side (outside this repository), e.g. with a clone of each:
//   git -C ao show HEAD:loader/test/emscripten4/process.wasm > /work/ext/aos2-process.wasm
//   cp -r aos/blueprints /work/ext/aos/blueprints
// then: NODE_PATH=$HOME/.cache/ao-rs/js/node_modules node tests/js/aos-diff.cjs \
//   /work/ext/aos2-process.wasm /work/ext/aos/blueprints
const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const req = createRequire((process.env.NODE_PATH || path.join(process.env.HOME || "", ".cache/ao-rs/js/node_modules")) + "/");
const AoLoader = req("@permaweb/ao-loader");

const args = process.argv.slice(2);
const verbose = args.includes("--verbose");
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? args[onlyAt + 1] : null;
const positional = args.filter((a, i) => !a.startsWith("--") && (onlyAt < 0 || i !== onlyAt + 1));
const [aosWasm, blueprintDir, ourWasm = path.join(__dirname, "../../modules/lua/dist/process.wasm")] = positional;
if (!aosWasm || !blueprintDir) {
  process.stderr.write("usage: node aos-diff.cjs AOS_WASM AOS_BLUEPRINTS_DIR [OUR_WASM] [--verbose] [--only AREA]\n");
  process.exit(2);
}

const PID = "PROCESS-UNDER-TEST-000000000000000000000000";
const OWNER = "OWNER-ADDRESS-00000000000000000000000000000";
const MODULE = "MODULE-ID-0000000000000000000000000000000000";
// The MU's signer: listed as Authority, so a message it pushes From another process is trusted.
const MU = "MU-ADDRESS-000000000000000000000000000000000";
const ALICE = "ALICE-ADDRESS-00000000000000000000000000000";
const BOB = "BOB-ADDRESS-0000000000000000000000000000000";
const TOKEN = "TOKEN-PROCESS-00000000000000000000000000000";
const OTHER = "OTHER-PROCESS-00000000000000000000000000000";
const MALLORY = "MALLORY-ADDRESS-000000000000000000000000000";

const processTags = [
  { name: "Data-Protocol", value: "ao" }, { name: "Variant", value: "ao.TN.1" }, { name: "Type", value: "Process" },
  { name: "Module", value: MODULE }, { name: "Scheduler", value: "SCHEDULER-000000000000000000000000000000000" },
  { name: "Authority", value: MU }, { name: "Name", value: "differ" },
];
const env = { Process: { Id: PID, Owner: OWNER, Tags: processTags }, Module: { Id: MODULE, Owner: OWNER, Tags: [] } };

// A step: {eval: code[, oursEval: code]} from the owner (oursEval: what our side runs instead,
// e.g. `Blueprint('token')` for the upstream blueprint's text), or {from, owner?, tags, data, height?}.
function item(step, n, ours) {
  if (ours && step.oursEval !== undefined) step = { ...step, eval: step.oursEval };
  const from = step.from || OWNER;
  const tags = [];
  if (step.eval !== undefined) tags.push({ name: "Action", value: "Eval" });
  for (const [name, value] of Object.entries(step.tags || {})) tags.push({ name, value });
  return {
    Id: step.id || `MESSAGE-${String(n).padStart(35, "0")}`,
    Target: step.target || PID,
    Owner: step.owner || from,
    From: from,
    Module: MODULE,
    "Block-Height": String(step.height || 1000 + n),
    Timestamp: String(1700000000000 + n * 1000),
    Nonce: String(n),
    Epoch: "0",
    "Hash-Chain": "HASHCHAIN",
    Cron: false,
    "Read-Only": false,
    Tags: tags,
    Data: step.eval !== undefined ? step.eval : step.data === undefined ? "" : step.data,
  };
}

function bootItem() {
  return {
    Id: PID, Target: PID, Owner: OWNER, From: OWNER, Module: MODULE, "Block-Height": "1000",
    Timestamp: "1700000000000", Nonce: "0", Epoch: "0", "Hash-Chain": "HASHCHAIN", Cron: false, "Read-Only": false,
    Tags: processTags, Data: "",
  };
}

const blueprint = (name) => fs.readFileSync(path.join(blueprintDir, `${name}.lua`), "utf8");
const E = (code) => ({ eval: code });
const A = (from, action, tags = {}, data = "", extra = {}) => ({ from, tags: { Action: action, ...tags }, data, ...extra });
// A message another process sent, pushed by the MU (trusted: the MU is an Authority).
const P = (fromProcess, action, tags = {}, data = "") => ({ from: fromProcess, owner: MU, tags: { Action: action, ...tags }, data });

const scenarios = [
  // --- boot and the default handler
  { area: "boot", name: "handlers after boot", steps: [E("#Handlers.list"), E("local n = {} for _, h in ipairs(Handlers.list) do n[#n+1] = h.name end return table.concat(n, ',')")] },
  { area: "boot", name: "identity", steps: [E("Owner"), E("Name"), E("ao.id"), E("ao._module"), E("ao.authorities[1]"), E("#ao.authorities"), E("type(Inbox)"), E("type(Errors)")] },
  { area: "inbox", name: "unhandled messages", steps: [A(ALICE, "Info"), A(ALICE, "Ping"), { from: ALICE, tags: { Foo: "bar" }, data: "hello world, a long text here" }, E("#Inbox"), E("Inbox[1].Action"), E("Inbox[2].From"), E("Inbox[3].Data"), E("Inbox[3].Foo")] },
  { area: "inbox", name: "untrusted", steps: [{ from: OTHER, owner: MALLORY, tags: { Action: "Ping" } }, E("#Inbox")] },
  { area: "inbox", name: "eval from another", steps: [A(ALICE, "Eval", {}, "Hacked = true"), E("tostring(Hacked)"), E("#Inbox")] },
  // --- Eval
  { area: "eval", name: "values", steps: [E("1 + 1"), E("'text'"), E("nil"), E("true"), E("{1, 2, 3}"), E("{a = 1}"), E("x = 5"), E("x"), E("print('a'); print('b'); return 3"), E("print(nil)"), E("print(true)"), E("print(12)"), E("print({k = 'v'})"), E("return 1, 2")] },
  { area: "eval", name: "errors", steps: [E("error('boom')"), E("this is not lua"), E("nil + 1"), E("error({code = 1})"), E("print('before'); error('after print')"), E("#Errors"), E("local t = nil; return t.x")] },
  { area: "eval", name: "handler errors", steps: [E("Handlers.add('bad', 'Bad', function(msg) print('in bad'); error('bad handler') end)"), A(ALICE, "Bad"), E("#Errors"), { from: ALICE, tags: { Other: "x" } }, E("Handlers.add('bad2', function(m) return m.Data == 'x' end, function() error('no action') end)"), { from: ALICE, data: "x" }] },
  { area: "eval", name: "globals", steps: [E("Version()"), E("type(Send)"), E("type(Spawn)"), E("type(Assign)"), E("type(Receive)"), E("type(Tab)"), E("type(Prompt)"), E("type(Colors)"), E("Colors.red"), E("Bell"), E("type(Dump)"), E("type(Utils)"), E("type(Handlers.utils)"), E("os.time()"), E("type(require('json'))"), E("type(require('.bint'))"), E("type(require('.base64'))"), E("type(require('.crypto'))"), E("type(require('.utils'))"), E("type(require('.stringify'))")] },
  // --- Send, Spawn, Assign
  { area: "send", name: "send shapes", steps: [E(`Send({Target = '${OTHER}', Action = 'Ping', Data = 'hello'})`), E(`Send({Target = '${OTHER}', Data = {a = 1}})`), E(`Send({Target = '${OTHER}', Tags = {{name = 'X', value = 'y'}}})`), E(`Send({Target = '${OTHER}', Tags = {Z = 'w'}})`), E(`Send({Target = '${OTHER}', Quantity = 5})`), E(`ao.send({Target = '${OTHER}', Action = 'Raw'}).Target`), E("Send({Data = 'no target'})"), E("Send({device = 'patch@1.0', balances = {a = '1'}})")] },
  { area: "send", name: "spawn assign", steps: [E("Spawn('CHILD-MODULE', {Name = 'child', Data = 'boot'})"), E("Spawn({Data = 'same module'})"), E("Assign({Processes = {'A', 'B'}, Message = 'M'})"), E("ao.assign({Processes = {'C'}, Message = 'N'})")] },
  { area: "send", name: "receive", steps: [
    E(`Handlers.add('ask', 'Ask', function(msg) local r = Send({Target = '${OTHER}', Action = 'Question'}).receive(); print('got ' .. r.Data); msg.reply({Data = 'answer: ' .. r.Data}) end)`),
    A(ALICE, "Ask"),
    P(OTHER, "Answer", { "X-Reference": "1" }, "42"),
    E("#Handlers.list"),
  ] },
  { area: "send", name: "onReply", steps: [
    E(`Send({Target = '${OTHER}', Action = 'Question'}).onReply(function(m) print('reply ' .. m.Data) end)`),
    E("#Handlers.list"),
    P(OTHER, "Answer", { "X-Reference": "1" }, "yes"),
    P(OTHER, "Answer", { "X-Reference": "1" }, "again"),
    E("#Inbox"),
  ] },
  { area: "send", name: "Receive in eval", steps: [
    E(`local m = Receive({Action = 'Later'}); print('woke ' .. m.Data)`),
    A(ALICE, "Later", {}, "now"),
    E("#Handlers.list"),
  ] },
  { area: "send", name: "reply and forward", steps: [
    E("Handlers.add('r', 'R', function(msg) msg.reply({Data = 'pong', Extra = 'e'}) end)"),
    A(ALICE, "R", { Reference: "7" }),
    A(ALICE, "R", { "Reply-To": BOB, "X-Reference": "9", "X-Origin": "ORIGIN" }),
    E(`Handlers.add('f', 'F', function(msg) msg.forward('${OTHER}', {Note = 'n'}) end)`),
    A(ALICE, "F", { Reference: "3", Custom: "c" }, "payload"),
    A(ALICE, "F", { "Reply-To": BOB }, "p2"),
  ] },
  // --- the handler API
  { area: "handlers", name: "add order", steps: [
    E("Handlers.add('a', 'Go', function() print('a') end)"),
    E("Handlers.add('b', 'Go', function() print('b') end)"),
    A(ALICE, "Go"),
    E("Handlers.prepend('p', 'Go', function() print('p') end)"),
    A(ALICE, "Go"),
    E("Handlers.before('a').add('before-a', 'Go', function() print('before a') end)"),
    E("Handlers.after('a').add('after-a', function(m) return m.Action == 'Go' and 'continue' end, function() print('after a') end)"),
    A(ALICE, "Go"),
    E("local n = {} for _, h in ipairs(Handlers.list) do n[#n+1] = h.name end return table.concat(n, ',')"),
    E("Handlers.remove('p')"),
    E("Handlers.remove('nothing')"),
    A(ALICE, "Go"),
    E("Handlers.add('a', 'Go', function() print('a2') end)"),
    A(ALICE, "Go"),
    E("Handlers.append('z', 'Go', function() print('z') end)"),
    E("#Handlers.list"),
    E("Handlers.before('missing').add('x', 'Go', function() end)"),
    E("Handlers.after('missing').add('x', 'Go', function() end)"),
    E("Handlers.add('x')"),
    E("Handlers.add(1, 'Go', function() end)"),
  ] },
  { area: "handlers", name: "patterns", steps: [
    E("Handlers.add('t', {Action = 'T', Kind = 'k'}, function() print('table') end)"),
    A(ALICE, "T", { Kind: "k" }), A(ALICE, "T", { Kind: "other" }),
    E("Handlers.add('f', function(m) return m.Data == 'go' end, function() print('fn') end)"),
    { from: ALICE, data: "go" },
    E("Handlers.add('c', function(m) return m.Data == 'c' and 1 or 0 end, function() print('continue') end)"),
    E("Handlers.add('c2', function(m) return m.Data == 'c' and -1 or 0 end, function() print('break') end)"),
    { from: ALICE, data: "c" },
    E("Handlers.add('s', function(m) return m.Data == 's' and 'continue' or 'skip' end, function() print('cs') end)"),
    E("Handlers.add('s2', function(m) return m.Data == 's' and 'break' or 'skip' end, function() print('bs') end)"),
    { from: ALICE, data: "s" },
    E("Handlers.add('lua', {Action = 'Pat', Data = '^%d+$'}, function() print('lua pattern') end)"),
    A(ALICE, "Pat", {}, "123"), A(ALICE, "Pat", {}, "abc"),
    E("Handlers.add('fnv', {Action = 'FV', Qty = function(v) return tonumber(v) > 3 end}, function() print('fn value') end)"),
    A(ALICE, "FV", { Qty: "5" }), A(ALICE, "FV", { Qty: "1" }),
    E("Handlers.add('anyd', {Action = 'AD', Data = '_'}, function() print('any data') end)"),
    A(ALICE, "AD", {}, "whatever"),
    E("Handlers.add('bad', function() return {} end, function() end)"),
    { from: ALICE, data: "bad" },
  ] },
  { area: "handlers", name: "once and maxRuns", steps: [
    E("Handlers.once('one', 'One', function() print('once') end)"),
    A(ALICE, "One"), A(ALICE, "One"),
    E("Handlers.once({Action = 'Anon'}, function() print('anon once') end)"),
    E("local n = {} for _, h in ipairs(Handlers.list) do n[#n+1] = h.name end return table.concat(n, ',')"),
    A(ALICE, "Anon"), A(ALICE, "Anon"),
    E("Handlers.add('two', 'Two', function() print('two') end, 2)"),
    A(ALICE, "Two"), A(ALICE, "Two"), A(ALICE, "Two"),
    E("Handlers.add('inf', 'Inf', function() print('inf') end, 'inf')"),
    A(ALICE, "Inf"), A(ALICE, "Inf"),
  ] },
  { area: "handlers", name: "resolvers", steps: [
    E("Handlers.add('res', 'Res', {[{Kind = 'a'}] = function() print('ra') end, [{Kind = 'b'}] = function() print('rb') end})"),
    A(ALICE, "Res", { Kind: "a" }), A(ALICE, "Res", { Kind: "b" }), A(ALICE, "Res", { Kind: "c" }),
    E("type(Handlers.generateResolver)"),
  ] },
  { area: "handlers", name: "utils", steps: [
    E("Handlers.add('hmt', Handlers.utils.hasMatchingTag('Kind', 'x'), Handlers.utils.reply('matched x'))"),
    A(ALICE, "Any", { Kind: "x" }),
    E("Handlers.add('hmto', Handlers.utils.hasMatchingTagOf('Kind', {'y', 'z'}), Handlers.utils.reply({Data = 'y or z', Extra = '1'}))"),
    A(ALICE, "Any", { Kind: "z" }), A(ALICE, "Any", { Kind: "w" }),
    E("Handlers.add('hmd', Handlers.utils.hasMatchingData('ping'), Handlers.utils.reply('pong'))"),
    { from: ALICE, data: "ping" },
    E("Handlers.prepend('cont', Handlers.utils.continue(Handlers.utils.hasMatchingTag('Kind', 'x')), function() print('continued') end)"),
    A(ALICE, "Any", { Kind: "x" }),
    E("Handlers.utils.hasMatchingTag(1, 2)"),
  ] },
  // --- Utils, json, bint
  { area: "utils", name: "functional", steps: [
    E("Utils.map(function(x) return x * 2 end, {1, 2, 3})"),
    E("Utils.filter(function(x) return x > 1 end, {1, 2, 3})"),
    E("Utils.reduce(function(a, x) return a + x end, 0, {1, 2, 3})"),
    E("Utils.concat({1}, {2, 3})"),
    E("Utils.includes(2, {1, 2})"),
    E("Utils.find(function(x) return x > 1 end, {1, 2, 3})"),
    E("Utils.keys({a = 1})"),
    E("Utils.values({a = 1})"),
    E("Utils.compose(function(x) return x + 1 end, function(x) return x * 2 end)(3)"),
    E("Utils.prop('a', {a = 9})"),
    E("Utils.propEq('a', 9)({a = 9})"),
    E("Utils.reverse({1, 2, 3})"),
    E("Utils.matchesPattern('Go', 'Go', {})"),
    E("Utils.matchesSpec({Action = 'Go', Tags = {}}, 'Go')"),
    E("Utils.isArray({1, 2})"),
    E("Utils.isArray({a = 1})"),
    E("Utils.curry(function(a, b) return a + b end, 2)(1)(2)"),
    E("Utils.pipe and 'yes' or 'no'"),
    E("Utils.normalize and Utils.normalize('x-y') or 'no'"),
  ] },
  // --- Dump and require('.crypto')
  { area: "dump", name: "dump", steps: [
    E("Dump({1, 2, {a = 'x'}})"),
    E("Dump('str')"),
    E("Dump(5)"),
    E("Dump(nil)"),
    E("Dump(true)"),
    E("Dump({})"),
    E("Dump({b = {}, a = 1, [3] = 'c', [1.5] = 2})"),
    E("Dump({['end'] = 1, ['a b'] = 2, _ok = 3, ['9x'] = 4})"),
    E("Dump({a = {b = {c = 1}}}, 2)"),
    E("Dump({a = {b = 1}}, 0)"),
    E("Dump({a = 1}, 2, 3)"),
    E("local t = {x = 1}; t.self = t; return (Dump(t):gsub('0x%x+', 'ADDR'))"),
    E("Dump({s = 'q\"uote\\n'})"),
    E("Dump({a = 1, b = 2}, 4, 0, function(v, depth, vt, use) if use == 'key' and v == 'b' then return nil end return v end)"),
    E("(Dump({f = print}):gsub('0x%x+', 'ADDR'))"),
    E("Dump({[{1}] = 'k'})"),
    E("Dump({a = 1}, -1)"),
    E("Dump({a = 1}, 4, 1.5)"),
    E("Dump({a = 1}, 4, 0, 'x')"),
  ] },
  { area: "crypto", name: "digests", steps: [
    E("local c = require('.crypto'); return c.digest.md5(c.utils.stream.fromString('abc')).asHex()"),
    E("local c = require('.crypto'); return c.digest.md5(c.utils.stream.fromString(string.rep('a', 1000))).asHex()"),
    E("local c = require('.crypto'); return c.digest.sha1(c.utils.stream.fromString('abc')).asHex()"),
    E("local c = require('.crypto'); return c.digest.sha1(c.utils.stream.fromString('')).asHex()"),
    E("local c = require('.crypto'); return c.digest.sha2_256(c.utils.stream.fromString('abc')).asHex()"),
    E("local c = require('.crypto'); local r = {} for _, n in ipairs({55, 56, 63, 64, 65, 119, 120}) do r[#r + 1] = c.digest.sha2_256(c.utils.stream.fromString(string.rep('x', n))).asHex() end return table.concat(r, ' ')"),
    E("local c = require('.crypto'); return c.digest.sha2_256(c.utils.stream.fromString('abc')).asBytes()"),
    E("local c = require('.crypto'); return #c.digest.sha2_256(c.utils.stream.fromString('abc')).asString()"),
    E("local c = require('.crypto'); return c.digest.sha2_512('abc').asHex()"),
    E("local c = require('.crypto'); local r = {} for _, n in ipairs({0, 111, 112, 127, 128, 129}) do r[#r + 1] = c.digest.sha2_512(string.rep('y', n)).asHex() end return table.concat(r, ' ')"),
    E("local c = require('.crypto'); return c.digest.sha2_512('abc').asBytes()"),
    E("local c = require('.crypto'); return c.digest.sha3_256('abc').asHex()"),
    E("local c = require('.crypto'); return c.digest.sha3_512('abc').asHex()"),
    E("local c = require('.crypto'); return c.digest.keccak256('').asHex()"),
    E("local c = require('.crypto'); return c.digest.keccak256('hello').asHex()"),
    E("local c = require('.crypto'); return c.digest.keccak512('abc').asHex()"),
    E("local c = require('.crypto'); local r = {} for _, n in ipairs({70, 71, 72, 134, 136, 137, 300}) do r[#r + 1] = c.digest.sha3_256(string.rep('z', n)).asHex() end return table.concat(r, ' ')"),
    E("local c = require('.crypto'); return c.digest.sha3_256(string.rep('z', 135)).asHex()"),
    E("local c = require('.crypto'); return c.digest.md5('abc')"),
    E("local c = require('.crypto'); return c.digest.sha2_256(c.utils.stream.fromString(string.rep('m', 2000))).asHex()"),
    E("local c = require('.crypto'); return c.cipher.aes.encrypt('x', 'k')"),
    E("local c = require('.crypto'); return #c.digest.sha3_256('abc').asString()"),
    E("local c = require('.crypto'); return c.digest.blake2b('abc').asHex()"),
    E("local c = require('.crypto'); return c.digest.blake2b('abc', 32).asHex()"),
    E("local c = require('.crypto'); return c.digest.blake2b(string.rep('b', 300), 20, 'secret key').asHex()"),
    E("local c = require('.crypto'); return c.digest.blake2b('', 64, string.rep('k', 64)).asHex()"),
    E("local c = require('.crypto'); return c.digest.blake2b('abc', 65)"),
    E("local c = require('.crypto'); return c.digest.blake2b('abc', 8).asBytes()"),
  ] },
  { area: "crypto", name: "utils mac kdf", steps: [
    E("local c = require('.crypto'); return c.utils.hex.stringToHex('abc\\0\\255')"),
    E("local c = require('.crypto'); return c.utils.hex.stringToHex('abcdef', 2, ':')"),
    E("local c = require('.crypto'); return c.utils.hex.hexToString('61 62\\n63')"),
    E("local c = require('.crypto'); return c.utils.hex.hexToString('6g')"),
    E("local c = require('.crypto'); return c.utils.stream.toHex(c.utils.stream.fromString('ab\\255'))"),
    E("local c = require('.crypto'); return c.utils.stream.toString(c.utils.stream.fromHex('414243'))"),
    E("local c = require('.crypto'); return c.utils.stream.toArray(c.utils.stream.fromArray({1, 2, 3}))"),
    E("local c = require('.crypto'); return c.utils.array.toHex(c.utils.array.fromString('ab'))"),
    E("local c = require('.crypto'); return c.utils.array.fromHex('0aFF10')"),
    E("local c = require('.crypto'); local a = c.utils.array; return a.toString(a.concat(a.fromString('ab'), a.fromString('cd')))"),
    E("local c = require('.crypto'); local a = c.utils.array; return a.XOR({1, 2, 3}, {3, 2, 1})"),
    E("local c = require('.crypto'); local a = c.utils.array; return a.slice({1, 2, 3, 4}, 2, -2)"),
    E("local c = require('.crypto'); local a = c.utils.array; return a.truncate({1, 2, 3, 4}, 2)"),
    E("local c = require('.crypto'); local a = c.utils.array; return a.size({1, 2, 3}), a.fromStream(a.toStream({5, 6}))"),
    E("local c = require('.crypto'); return c.mac.createHmac(c.utils.stream.fromString('what do ya want for nothing?'), c.utils.array.fromString('Jefe'), 'sha256').asHex()"),
    E("local c = require('.crypto'); return c.mac.createHmac(c.utils.stream.fromString('what do ya want for nothing?'), c.utils.array.fromString('Jefe')).asHex()"),
    E("local c = require('.crypto'); return c.mac.createHmac(c.utils.stream.fromString('Hi There'), c.utils.array.fromString(string.rep('k', 100)), 'sha256').asHex()"),
    E("local c = require('.crypto'); return c.mac.createHmac(c.utils.stream.fromString('x'), {1}, 'md5')"),
    E("local c = require('.crypto'); return c.kdf.pbkdf2(c.utils.array.fromString('password'), c.utils.array.fromString('salt'), 2, 20).asHex()"),
    E("local c = require('.crypto'); return c.kdf.pbkdf2(c.utils.array.fromString('password'), c.utils.array.fromString('salt'), 1, 32, 'sha256').asHex()"),
    E("local c = require('.crypto'); return c.kdf.pbkdf2(c.utils.array.fromString('passwordPASSWORDpassword'), c.utils.array.fromString('saltSALTsaltSALTsaltSALTsaltSALTsalt'), 4096, 40, 'sha256').asHex()"),
    E("local c = require('.crypto'); return c.kdf.pbkdf2(c.utils.array.fromString('p'), c.utils.array.fromString('s'), 3, 10, 'sha1').asBytes()"),
    E("local c = require('.crypto'); return #c.kdf.pbkdf2(c.utils.array.fromString('p'), c.utils.array.fromString('s'), 3, 10, 'sha1').asString()"),
    E("local c = require('.crypto'); return c.kdf.pbkdf2({1}, {2}, 1, 4, 'md5')"),
    E("local c = require('.crypto'); return c._version, type(c.digest), type(c.utils), type(c.mac), type(c.kdf), type(c.cipher), type(c.random)"),
  ] },
  { area: "json", name: "json errors", steps: [
    E("require('json').decode('[1,2')"),
    E("require('json').decode('{\"a\" 1}')"),
    E("require('json').decode('{\"a\":1 x')"),
    E("require('json').decode('[1] x')"),
    E("require('json').decode('tru')"),
    E("require('json').decode('12abc')"),
    E("require('json').decode('\"abc')"),
    E("require('json').decode('{1:2}')"),
    E("require('json').decode('[1,\\n  2,\\n  x]')"),
    E("require('json').decode('')"),
  ] },
  { area: "utils", name: "arrays", steps: [
    E("#Utils.map(function(x) return x end, {1, nil, 3})"),
    E("Utils.map(function(x) return x end, {[2] = 'x'})"),
    E("Utils.propEq('name')('Lua')({name = 'Lua'})"),
    E("Utils.propEq('name', 'Lua', {name = 'Lua'})"),
  ] },
  { area: "json", name: "json", steps: [
    E("require('json').encode({1, 2, 'x'})"),
    E("require('json').encode({a = 1})"),
    E("require('json').encode('q\"uote')"),
    E("require('json').encode(1.5)"),
    E("require('json').encode({})"),
    E("require('json').decode('{\"a\":[1,2,{\"b\":null}]}').a[3].b"),
    E("require('json').decode('[1,2,3]')[2]"),
    E("require('json').decode('bad json')"),
    E("require('json').encode(math.huge)"),
    E("require('json').decode('\"\\\\u00e9\"')"),
    { from: ALICE, tags: { "Content-Type": "application/json", Action: "J" }, data: "{\"k\":\"v\"}" },
    E("Inbox[1].Data.k"),
  ] },
  { area: "bint", name: "bint", steps: [
    E("local bint = require('.bint')(256); return tostring(bint('123456789012345678901234567890') + bint(1))"),
    E("local bint = require('.bint')(256); return tostring(bint('10') * bint('20'))"),
    E("local bint = require('.bint')(256); return tostring(bint('100') // bint('7'))"),
    E("local bint = require('.bint')(256); return tostring(bint('100') % bint('7'))"),
    E("local bint = require('.bint')(256); return bint('5') < bint('6')"),
    E("local bint = require('.bint')(256); return tostring(bint('1') - bint('2'))"),
    E("local bint = require('.bint')(256); return bint.tonumber(bint('42'))"),
    E("local bint = require('.bint')(256); return bint.ipow(bint(2), bint(100)):tobase(10)"),
    E("local bint = require('.bint')(256); return tostring(bint.zero())"),
    E("local bint = require('.bint')(256); return bint.iszero(bint(0))"),
    E("local bint = require('.bint')(256); return bint.eq(bint(3), bint(3))"),
    E("local bint = require('.bint')(256); return tostring(bint.frominteger(7))"),
    E("local bint = require('.bint')(256); return tostring(bint.fromstring('99'))"),
    E("local bint = require('.bint')(256); return tostring(bint('abc'))"),
    E("local bint = require('.bint')(256); return tostring(-bint(5))"),
    E("local bint = require('.bint')(256); return tostring(bint.max(bint(1), bint(9)))"),
  ] },
  // --- the upstream blueprints, loaded by Eval of their text
  { area: "token", name: "token", steps: [
    E(blueprint("token")),
    A(ALICE, "Info"),
    A(OWNER, "Balance"),
    A(ALICE, "Balance"),
    A(ALICE, "Balance", { Target: OWNER }),
    A(OWNER, "Balances"),
    A(OWNER, "Transfer", { Recipient: ALICE, Quantity: "1000" }),
    A(ALICE, "Transfer", { Recipient: BOB, Quantity: "250", "X-Note": "hi" }),
    A(ALICE, "Transfer", { Recipient: BOB, Quantity: "1000000" }),
    A(ALICE, "Transfer", { Recipient: BOB, Quantity: "5", Cast: "true" }),
    A(OWNER, "Mint", { Quantity: "500" }),
    A(ALICE, "Mint", { Quantity: "500" }),
    A(ALICE, "Burn", { Quantity: "10" }),
    A(OWNER, "Total-Supply"),
    A(ALICE, "Balance", { Recipient: BOB }),
    A(BOB, "Transfer", { Recipient: ALICE, Quantity: "abc" }),
    A(BOB, "Transfer", { Quantity: "1" }),
  ] },
  { area: "staking", name: "staking", steps: [
    E("Balances = {['" + ALICE + "'] = '1000'}"),
    E(blueprint("staking")),
    A(ALICE, "Stake", { Quantity: "300" }),
    A(ALICE, "Stakers"),
    A(ALICE, "Stake", { Quantity: "5000" }),
    A(BOB, "Unstake", { Quantity: "1" }),
    A(ALICE, "Unstake", { Quantity: "100" }),
    E("Balances['" + ALICE + "']"),
    A(ALICE, "Ping", {}, "", { height: 5000 }),
    E("Balances['" + ALICE + "']"),
    E("require('json').encode(Unstaking)"),
  ] },
  { area: "voting", name: "voting", steps: [
    E("Balances = {['" + ALICE + "'] = '1000'}"),
    E(blueprint("staking")),
    E(blueprint("voting")),
    A(ALICE, "Stake", { Quantity: "300" }),
    A(ALICE, "Vote", { Target: "PROPOSAL-1", Side: "yay", Deadline: "10" }),
    E("Stakers['" + ALICE + "'].amount = 300"),
    A(ALICE, "Vote", { Target: "PROPOSAL-1", Side: "yay", Deadline: "10" }),
    E("require('json').encode(Votes)"),
    A(BOB, "Ping", {}, "", { height: 9000 }),
    E("require('json').encode(Votes)"),
  ] },
  { area: "chatroom", name: "chatroom", steps: [
    E(blueprint("chatroom")),
    A(ALICE, "Register"),
    A(BOB, "Register"),
    A(ALICE, "Broadcast", {}, "hello all"),
    E("#Members"),
    A(BOB, "Unregister"),
    A(ALICE, "Broadcast", {}, "again"),
    A(MALLORY, "Broadcast", {}, "not a member"),
  ] },
  { area: "chat", name: "chat", steps: [
    E(blueprint("chat")),
    E("DevChat.Router"),
    E(`Join('${OTHER}', 'alice')`),
    E(`Say('hello room', '${OTHER}')`),
    P(OTHER, "Broadcasted", { Nickname: "bob", Broadcaster: BOB }, "hi there"),
    P(OTHER, "Chatroom-Message", { Nickname: "bob" }, "msg"),
    E(`Leave('${OTHER}')`),
    E("List()"),
    P(OTHER, "Room-List", {}, ""),
    E("Replay(2)"),
    E("Tip()"),
  ] },
  { area: "arena", name: "arena", steps: [
    E(blueprint("arena")),
    E(`PaymentToken = '${TOKEN}'`),
    A(ALICE, "GetGameState"),
    A(ALICE, "Register"),
    A(BOB, "Register"),
    P(TOKEN, "Credit-Notice", { Sender: ALICE, Quantity: "1000" }),
    P(TOKEN, "Credit-Notice", { Sender: BOB, Quantity: "1000" }),
    A(ALICE, "Tick"),
    A(ALICE, "GetGameState"),
    A(BOB, "Unregister"),
    A(ALICE, "RequestTokens"),
    A(ALICE, "Tick"),
  ] },
];

// The same sequences with our shipped blueprints (`Blueprint(name)`) on our side and the upstream
// text on the aos side: how far our own blueprints behave as aos's.
for (const name of ["token", "staking", "voting", "chatroom", "chat", "arena"]) {
  const sc = scenarios.find((s) => s.area === name);
  scenarios.push({
    area: `ours:${name}`,
    name: `${name} (ours)`,
    steps: sc.steps.map((st) => {
      if (st.eval === undefined) return st;
      let code = st.eval;
      for (const bp of ["token", "staking", "voting", "chatroom", "chat", "arena"]) {
        if (code === blueprint(bp)) return { ...st, oursEval: `Blueprint('${bp}')` };
      }
      return st;
    }),
  });
}

// ---- running

async function runScenario(wasm, format, steps, ours) {
  const handle = await AoLoader(wasm, { format, memoryLimit: "524288000", computeLimit: 9e12 });
  let memory = null;
  const results = [];
  const items = [bootItem(), ...steps.map((s, i) => item(s, i + 1, ours))];
  for (const msg of items) {
    let res;
    try {
      res = await handle(memory, msg, JSON.parse(JSON.stringify(env)));
    } catch (e) {
      res = { Error: "loader: " + (typeof e === "string" ? e : (e && e.message) || JSON.stringify(e)) };
    }
    if (res.Error === undefined || res.Error === null) memory = res.Memory;
    results.push(res);
  }
  return results;
}

const ANSI_ADDR = /(function|table|thread|userdata): (builtin: )?0x[0-9a-f]+/g;
// `[string ".handlers"]:563: ` (aos) and `.handlers.lua:56: ` / `json.lua:66: ` (ours).
const OS_POS = /(\[string "(?!aos")[A-Za-z0-9_.-]+"\]|(?<=^|\s|\x1b\[0m)\.?[a-z][a-z-]*\.lua):\d+: /g;
function text(s) {
  if (s === undefined || s === null) return "";
  if (typeof s !== "string") s = JSON.stringify(s);
  return s.replace(ANSI_ADDR, "$1: 0xADDR").replace(OS_POS, "");
}
function canonicalJson(v) {
  if (Array.isArray(v)) return v.map(canonicalJson);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonicalJson(v[k])]));
  return v;
}
function dataText(d) {
  if (typeof d === "string") {
    try {
      const parsed = JSON.parse(d);
      if (parsed && typeof parsed === "object") return JSON.stringify(canonicalJson(parsed));
    } catch (_) { /* not JSON */ }
    return text(d);
  }
  if (d === undefined || d === null) return "";
  return JSON.stringify(canonicalJson(d));
}
function tagText(v) {
  if (typeof v === "string") return v;
  if (v && typeof v === "object") return JSON.stringify(canonicalJson(v));
  return String(v);
}
function outgoing(list) {
  return (list || []).map((m) => ({
    Target: m.Target === undefined ? null : m.Target,
    Anchor: m.Anchor === undefined ? null : m.Anchor,
    Data: dataText(m.Data),
    Tags: (m.Tags || []).map((t) => `${t.name}=${tagText(t.value)}`).sort(),
  }));
}
function assignments(list) {
  return (list || []).map((a) => JSON.stringify(canonicalJson(a)));
}
function view(res) {
  const out = res.Output;
  let data = out && typeof out === "object" ? out.data : out;
  return {
    Error: res.Error === undefined || res.Error === null ? null : text(res.Error),
    Output: dataText(data),
    Print: !!(out && typeof out === "object" && out.print),
    Messages: outgoing(res.Messages),
    Spawns: outgoing(res.Spawns),
    Assignments: assignments(res.Assignments),
  };
}
function sortedLines(s) {
  return s.split("\n").map((l) => l.trim().replace(/,$/, "")).sort().join("\n");
}
function compare(a, b) {
  const va = view(a);
  const vb = view(b);
  const fields = [];
  for (const k of Object.keys(va)) {
    if (JSON.stringify(va[k]) !== JSON.stringify(vb[k])) fields.push(k);
  }
  if (fields.length === 0) return { kind: "identical", fields, va, vb };
  if (fields.length === 1 && fields[0] === "Output" && sortedLines(va.Output) === sortedLines(vb.Output)) {
    return { kind: "order", fields, va, vb };
  }
  return { kind: "different", fields, va, vb };
}

function describe(step) {
  if (step === null) return "(boot)";
  if (step.eval !== undefined) return "Eval " + JSON.stringify(step.eval.length > 70 ? step.eval.slice(0, 67) + "..." : step.eval);
  return `${step.from.slice(0, 5)} ${JSON.stringify(step.tags || {})} ${JSON.stringify(step.data || "")}`;
}

async function main() {
  const aos = fs.readFileSync(aosWasm);
  const ours = fs.readFileSync(ourWasm);
  const totals = {};
  for (const sc of scenarios) {
    if (only && sc.area !== only) continue;
    const ra = await runScenario(aos, "wasm32-unknown-emscripten4", sc.steps, false);
    const ro = await runScenario(ours, "wasm32-unknown-emscripten2", sc.steps, true);
    const t = (totals[sc.area] = totals[sc.area] || { identical: 0, order: 0, different: 0 });
    ra.forEach((res, i) => {
      const c = compare(res, ro[i]);
      t[c.kind] += 1;
      if (c.kind !== "identical" && (verbose || c.kind === "different")) {
        const step = i === 0 ? null : sc.steps[i - 1];
        process.stdout.write(`\n[${sc.area}/${sc.name} #${i}] ${c.kind}: ${c.fields.join(",")}  ${describe(step)}\n`);
        for (const f of c.fields) {
          process.stdout.write(`  aos : ${JSON.stringify(c.va[f])}\n  ours: ${JSON.stringify(c.vb[f])}\n`);
        }
      }
    });
  }
  process.stdout.write("\narea           identical  same-up-to-order  different\n");
  const sum = { identical: 0, order: 0, different: 0 };
  for (const [area, t] of Object.entries(totals)) {
    process.stdout.write(`${area.padEnd(15)}${String(t.identical).padStart(9)}${String(t.order).padStart(18)}${String(t.different).padStart(11)}\n`);
    for (const k of Object.keys(sum)) sum[k] += t[k];
  }
  process.stdout.write(`${"total".padEnd(15)}${String(sum.identical).padStart(9)}${String(sum.order).padStart(18)}${String(sum.different).padStart(11)}\n`);
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(1);
});
