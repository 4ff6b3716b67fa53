// node meter.cjs IN.wasm OUT.wasm [i32|i64]
//
// Meters a module with @permaweb/wasm-metering exactly as @permaweb/ao-loader does for the
// `-metering` formats (`meterWASM(binary, {meterType})`), so the CU's own metering can be
// compared with it on any module.
const fs = require("node:fs");
const { createRequire } = require("node:module");

const req = createRequire((process.env.NODE_PATH || __dirname) + "/");
const metering = req("@permaweb/wasm-metering");

const [input, output, meterType] = process.argv.slice(2);
fs.writeFileSync(output, metering.meterWASM(fs.readFileSync(input), { meterType: meterType || "i32" }));
