// node loader-time.cjs WASM FORMAT ENV_JSON_FILE MSGS_JSONL_FILE WARM
//
// Times @permaweb/ao-loader 0.0.49 on a message sequence, the way the reference CU drives it
// (instance reused, the previous Memory passed back in each call): the first WARM messages are
// the warm-up, the rest are timed. Prints one JSON line: {"messages", "seconds", "per_second",
// "memory_bytes"}. The Rust side of the comparison is modules/lua/benches/token.rs.
const fs = require("node:fs");
const { createRequire } = require("node:module");
const req = createRequire((process.env.NODE_PATH || __dirname) + "/");
const AoLoader = req("@permaweb/ao-loader");
// The emscripten glue replaces process.hrtime and Date.now with counters: keep the real clock.
const clock = process.hrtime.bigint;

const [wasmPath, format, envPath, msgsPath, warmText] = process.argv.slice(2);

async function main() {
  const wasm = fs.readFileSync(wasmPath);
  const env = JSON.parse(fs.readFileSync(envPath, "utf8"));
  const msgs = fs.readFileSync(msgsPath, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const warm = Number(warmText || 0);
  const handle = await AoLoader(wasm, { format });
  let memory = null;
  let start = clock();
  for (let i = 0; i < msgs.length; i++) {
    if (i === warm) start = clock();
    const r = await handle(memory, msgs[i], env);
    if (r.Error) throw new Error(`message ${i}: ${r.Error}`);
    memory = r.Memory;
  }
  const seconds = Number(clock() - start) / 1e9;
  const n = msgs.length - warm;
  process.stdout.write(JSON.stringify({ messages: n, seconds, per_second: n / seconds, memory_bytes: memory.byteLength }) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
