// node spawn-check.mjs GATEWAY_URL JWK_FILE MODULE_ID SCHEDULER
//
// Runs the real @permaweb/aoconnect 0.0.98 `spawn` against a gateway: spawn first looks the module up
// with GraphQL and refuses modules without Data-Protocol=ao, Type=Module, Module-Format,
// Input-Encoding and Output-Encoding; only then does it POST the process to the MU. The MU here is a
// collector on 127.0.0.1 that records what arrives (ao-rs's MU does not exist yet), so the outcome
// says whether the gateway's answer let spawn through. Prints one JSON line:
// {"ok": bool, "id": string|null, "error": string|null, "mu_posts": n}
import http from "node:http";
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH + "/");
const { connect, createDataItemSigner } = require("@permaweb/aoconnect");
const { DataItem } = require("arbundles");

const [gateway, jwkPath, module, scheduler] = process.argv.slice(2);
const jwk = JSON.parse(fs.readFileSync(jwkPath, "utf8"));

let posts = 0;
const mu = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  posts++;
  const item = new DataItem(Buffer.concat(chunks));
  res.writeHead(202, { "content-type": "application/json" });
  res.end(JSON.stringify({ message: "Processing DataItem", id: item.id }));
});
await new Promise((r) => mu.listen(0, "127.0.0.1", r));
const muUrl = `http://127.0.0.1:${mu.address().port}`;

const ao = connect({ MODE: "legacy", MU_URL: muUrl, CU_URL: muUrl, GATEWAY_URL: gateway, GRAPHQL_URL: `${gateway}/graphql` });
let out;
try {
  const id = await ao.spawn({ module, scheduler, signer: createDataItemSigner(jwk), tags: [{ name: "Name", value: "spawn-check" }] });
  out = { ok: true, id, error: null };
} catch (e) {
  out = { ok: false, id: null, error: String(e && e.message ? e.message : e) };
}
out.mu_posts = posts;
console.log(JSON.stringify(out));
mu.close();
