#!/usr/bin/env bash
# The test command of ao-rs (the README's second command; .ci/run calls exactly this).
#
# 1. Installs the public JS libraries our tests check us against (arbundles, arweave) into the build
#    cache, not the clone, and only when tests/js/package-lock.json changed.
# 2. Checks the alert rules with promtool, runs every test of the workspace in the one optimised
#    profile (see BENCHMARKS.md and shared/spec/ops-tooling.md for why never two profiles), then
#    checks the Helm chart and the image (helm/ci.sh).
#
# Environment: AO_CACHE (default ~/.cache/ao-rs) holds the cargo target dir and node_modules;
# AO_FIXTURES (default ../shared/fixtures/ans104 beside the clone) the shared test fixtures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AO_CACHE:-$HOME/.cache/ao-rs}
export AO_CACHE=$cache
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
export AO_FIXTURES=${AO_FIXTURES:-$(cd "$root/.." && pwd)/shared/fixtures/ans104}

js=$cache/js
if ! cmp -s "$root/tests/js/package-lock.json" "$js/package-lock.json" || [ ! -d "$js/node_modules" ]; then
  echo "test.sh: installing JS peers into $js"
  mkdir -p "$js"
  cp "$root/tests/js/package.json" "$root/tests/js/package-lock.json" "$js/"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
export AO_JS_MODULES=$js/node_modules

cd "$root"
# The alert rules: promtool (Debian's `prometheus` package) checks them and runs their unit tests.
command -v promtool >/dev/null || { echo "test.sh: promtool missing: apt-get install prometheus" >&2; exit 1; }
promtool check rules deploy/prometheus/ao-rules.yaml
(cd deploy/prometheus && promtool test rules ao-rules.test.yaml)

cargo test --release --workspace --no-fail-fast "$@"

# The chart and the image (helm/ci.sh: pinned Python linters in a venv under $AO_CACHE). After the
# tests, because the image check reads the release binaries they built with ldd (so only on a full
# run: arguments narrow the tests to some crates).
if [ $# -eq 0 ]; then
  bash helm/ci.sh
fi
