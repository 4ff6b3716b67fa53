// node aoconnect-e2e.mjs MU_URL CU_URL GATEWAY_URL JWK_FILE MODULE SCHEDULER MU_ADDRESS
//
// The real @permaweb/aoconnect 0.0.98 (legacy mode) against an ao-rs computer (`ao devnet`):
// spawn, message, result, results, dryrun, assign, monitor and unmonitor, as an application would
// call them. Prints one JSON line per step ({"step", ...what it saw}) and a last {"done": true};
// any exception prints {"step", "error"} and exits 1. The Rust test (cli/tests/devnet.rs) checks
// the lines.
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH + "/");
const { connect, createDataItemSigner } = require("@permaweb/aoconnect");

const [MU_URL, CU_URL, GATEWAY_URL, jwkPath, module, scheduler, muAddress] = process.argv.slice(2);
const signer = createDataItemSigner(JSON.parse(fs.readFileSync(jwkPath, "utf8")));
const ao = connect({ MODE: "legacy", MU_URL, CU_URL, GATEWAY_URL, GRAPHQL_URL: `${GATEWAY_URL}/graphql` });

let step = "start";
const say = (o) => process.stdout.write(JSON.stringify({ step, ...o }) + "\n");
const tags = (name) => [{ name: "Name", value: name }, { name: "Authority", value: muAddress }];

try {
  step = "spawn";
  const pid = await ao.spawn({ module, scheduler, signer, tags: tags("aoconnect") });
  say({ pid });

  step = "message-eval";
  const evalId = await ao.message({
    process: pid,
    signer,
    tags: [{ name: "Action", value: "Eval" }],
    data: "Handlers.add('ping', 'Ping', function(m) m.reply({Data = 'pong'}) end); return 'ready'",
  });
  step = "result-eval";
  const evalResult = await ao.result({ process: pid, message: evalId });
  say({ id: evalId, output: evalResult.Output, error: evalResult.Error ?? null });

  step = "message-ping";
  const pingId = await ao.message({ process: pid, signer, tags: [{ name: "Action", value: "Ping" }] });
  const ping = await ao.result({ process: pid, message: pingId });
  say({ id: pingId, messages: ping.Messages.map((m) => ({ Target: m.Target, Data: m.Data })) });

  step = "results";
  const page = await ao.results({ process: pid, sort: "ASC", limit: 10 });
  say({ edges: page.edges.length, cursors: page.edges.every((e) => typeof e.cursor === "string") });

  step = "dryrun";
  const dry = await ao.dryrun({ process: pid, tags: [{ name: "Action", value: "Ping" }] });
  say({ messages: dry.Messages.map((m) => ({ Data: m.Data })) });

  step = "assign";
  const other = await ao.spawn({ module, scheduler, signer, tags: tags("assignee") });
  const setup = await ao.message({
    process: other,
    signer,
    tags: [{ name: "Action", value: "Eval" }],
    data: "Noted = 'none'; ao.addAssignable('all', function() return true end); " +
      "Handlers.add('note', 'Note', function(m) Noted = m.Data end); " +
      "Handlers.add('get', 'Get-Noted', function(m) m.reply({Data = Noted}) end)",
  });
  await ao.result({ process: other, message: setup });
  const note = await ao.message({ process: pid, signer, tags: [{ name: "Action", value: "Note" }], data: "assigned!" });
  const assignment = await ao.assign({ process: other, message: note });
  const assigned = await ao.result({ process: other, message: assignment });
  const check = await ao.dryrun({ process: other, tags: [{ name: "Action", value: "Get-Noted" }] });
  say({ assignment, error: assigned.Error ?? null, noted: check.Messages[0]?.Data ?? null });

  step = "monitor";
  const monitorId = await ao.monitor({ process: pid, signer });
  step = "unmonitor";
  const unmonitorId = await ao.unmonitor({ process: pid, signer });
  say({ monitorId, unmonitorId });

  step = "done";
  say({ done: true });
} catch (e) {
  say({ error: String(e && e.stack ? e.stack : e) });
  process.exit(1);
}
