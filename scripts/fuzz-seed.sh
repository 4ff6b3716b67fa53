#!/usr/bin/env bash
# Seed the parse_item fuzz corpus with every ANS-104 fixture (items, bundles, aoconnect captures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${AO_FIXTURES:-$(cd "$root/.." && pwd)/shared/fixtures/ans104}
corpus=$root/fuzz/corpus/parse_item
mkdir -p "$corpus"
find "$fixtures" -name '*.bin' -size -200k -exec cp {} "$corpus/" \;
echo "seeded $(ls "$corpus" | wc -l) files into $corpus"
