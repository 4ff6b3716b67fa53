// node loader-bench.cjs WASM N
//
// The ao-loader side of `cargo bench -p ao-cu --bench loader`: the same cases with
// @permaweb/ao-loader 0.0.49 as the reference CU drives it (instance reused, the previous
// Memory passed back in each call).
const fs = require("node:fs");
const { createRequire } = require("node:module");
const req = createRequire((process.env.NODE_PATH || __dirname) + "/");
const AoLoader = req("@permaweb/ao-loader");
// The emscripten glue replaces process.hrtime and Date.now with counters: keep the real clock.
const clock = process.hrtime.bigint;

const [wasmPath, nText] = process.argv.slice(2);
const n = Number(nText || 200);
const env = { Process: { Id: "P", Owner: "OWNER", Tags: [{ name: "Name", value: "bench" }] } };
const msg = (i, data) => ({ Id: `M${i}`, Target: "P", Owner: "OWNER", From: "OWNER", Module: "MOD",
  "Block-Height": "1000", Timestamp: String(1700000000000 + i), Tags: [{ name: "Action", value: "Eval" }], Data: data });
const cases = [["Eval `return 1 + 1`", "return 1 + 1"], ["handler appending to a table", "t = t or {}; t[#t + 1] = #t; return #t"]];

async function main() {
  const wasm = fs.readFileSync(wasmPath);
  let t = clock();
  let handle = await AoLoader(wasm, { format: "wasm32-unknown-emscripten2" });
  console.log(`compile + new instance + start-up: ${(Number(clock() - t) / 1e6).toFixed(0)} ms`);
  for (const [label, data] of cases) {
    handle = await AoLoader(wasm, { format: "wasm32-unknown-emscripten2" });
    let memory = (await handle(null, msg(0, data), env)).Memory;
    t = clock();
    for (let i = 1; i <= n; i++) {
      const r = await handle(memory, msg(i, data), env);
      if (r.Error) throw new Error(String(r.Error));
      memory = r.Memory;
    }
    const s = Number(clock() - t) / 1e9;
    console.log(`warm, ${label}: ${(n / s).toFixed(0)} msg/s (${((s * 1e3) / n).toFixed(2)} ms each)`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
