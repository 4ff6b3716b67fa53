// node attestation-check.cjs ANSWER.json
//
// Checks a CU's `/result?attest=true` answer with the public JS libraries only, as a client that
// does not run ao-rs would: each base64url item of `Attestations` must verify with arbundles
// 0.11.2, and `Result-SHA-256` must be the SHA-256 of the result cut to Output, Messages, Spawns,
// Assignments and Error in RFC 8785 canonical form, computed here by the RFC's own algorithm
// (JSON.stringify for primitives, members sorted by UTF-16 code units). Prints one JSON line:
// {"valid": [bool...], "tagged": [hex...], "computed": hex, "owners": [string...]}
const fs = require("node:fs");
const crypto = require("node:crypto");
const { DataItem } = require("arbundles");

function canonicalize(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(canonicalize).join(",") + "]";
  return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonicalize(v[k])).join(",") + "}";
}

(async () => {
  const answer = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const cut = {};
  for (const k of ["Output", "Messages", "Spawns", "Assignments", "Error"]) {
    if (k in answer) cut[k] = answer[k];
  }
  const computed = crypto.createHash("sha256").update(canonicalize(cut)).digest("hex");
  const valid = [], tagged = [], owners = [];
  for (const b64 of answer.Attestations || []) {
    const buf = Buffer.from(b64, "base64url");
    valid.push(await DataItem.verify(buf));
    const item = new DataItem(buf);
    const tag = item.tags.find((t) => t.name === "Result-SHA-256");
    tagged.push(tag ? tag.value : null);
    owners.push(crypto.createHash("sha256").update(item.rawOwner).digest("base64url"));
  }
  console.log(JSON.stringify({ valid, tagged, computed, owners }));
})().catch((e) => { console.error(e); process.exit(1); });
