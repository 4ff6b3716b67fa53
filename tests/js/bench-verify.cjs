// node bench-verify.cjs ITEM.bin... : arbundles DataItem.verify throughput per item file, one JSON line
// each, for comparison with `cargo bench -p ao-core --bench items` (see BENCHMARKS.md).
"use strict";
const fs = require("fs");
const { DataItem } = require("arbundles");
(async () => {
  for (const file of process.argv.slice(2)) {
    const buf = fs.readFileSync(file);
    const once = async () => { if (!(await DataItem.verify(buf))) throw new Error(file + " invalid"); };
    for (let i = 0; i < 20; i++) await once(); // warm up
    let n = 0;
    const start = process.hrtime.bigint();
    while (process.hrtime.bigint() - start < 3_000_000_000n) { await once(); n++; }
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(JSON.stringify({ file, items_per_s: Math.round(n / secs), us_per_item: Math.round((secs / n) * 1e6) }));
  }
})();
