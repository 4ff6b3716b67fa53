// node loader-run.cjs WASM FORMAT ENV_JSON_FILE MSGS_JSONL_FILE [COMPUTE_LIMIT] [MEMORY_LIMIT]
//
// The reference side of the CU's conformance harness: evaluates the messages in order on one
// process with @permaweb/ao-loader 0.0.49, the way the reference CU does (the memory of each
// result is the next call's buffer; a result with Error is rolled back: its instance is thrown
// away and the previous memory kept). Prints, first, one JSON line with the argv the emscripten
// glue passes to `main` (`{"argv": [...]}`: it is part of the memory image, so the Rust side
// must pass the same), then one JSON line per message:
// {"Output", "Messages", "Spawns", "Assignments", "Error", "GasUsed", "memory_bytes", "memory_sha256"}
const fs = require("node:fs");
const crypto = require("node:crypto");
const { createRequire } = require("node:module");

const req = createRequire((process.env.NODE_PATH || __dirname) + "/");
const AoLoader = req("@permaweb/ao-loader");

const [wasmPath, format, envPath, msgsPath, computeLimit, memoryLimit] = process.argv.slice(2);

async function main() {
  const wasm = fs.readFileSync(wasmPath);
  const env = JSON.parse(fs.readFileSync(envPath, "utf8"));
  const msgs = fs.readFileSync(msgsPath, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const options = { format };
  if (computeLimit) options.computeLimit = Number(computeLimit);
  if (memoryLimit) options.memoryLimit = Number(memoryLimit);
  // What emscripten's node glue gives main: thisProgram, then the rest of the command line.
  process.stdout.write(JSON.stringify({ argv: [process.argv[1].replace(/\\/g, "/"), ...process.argv.slice(2)] }) + "\n");

  let handle = null;
  let memory = null;
  let dumped = 0;
  for (const msg of msgs) {
    if (!handle) handle = await AoLoader(wasm, options);
    let res;
    try {
      res = await handle(memory, msg, env);
    } catch (e) {
      res = { Error: typeof e === "string" ? e : (e && e.message) || JSON.stringify(e) };
    }
    if (res.Error !== undefined && res.Error !== null) {
      handle = null;
    } else {
      memory = res.Memory;
    }
    const mem = memory ? Buffer.from(memory) : Buffer.alloc(0);
    // For diffing memory images by hand: AO_DUMP_MEMORY_DIR=dir writes dir/ref-<n>.bin.
    if (process.env.AO_DUMP_MEMORY_DIR) fs.writeFileSync(`${process.env.AO_DUMP_MEMORY_DIR}/ref-${dumped++}.bin`, mem);
    const line = {
      Output: res.Output === undefined ? null : res.Output,
      Messages: res.Messages || [],
      Spawns: res.Spawns || [],
      Assignments: res.Assignments || [],
      Error: res.Error === undefined ? null : res.Error,
      GasUsed: res.GasUsed === undefined ? null : res.GasUsed,
      memory_bytes: mem.length,
      memory_sha256: crypto.createHash("sha256").update(mem).digest("hex"),
    };
    process.stdout.write(JSON.stringify(line) + "\n");
  }
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(1);
});
