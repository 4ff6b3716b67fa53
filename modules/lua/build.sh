#!/usr/bin/env bash
# Build the Lua process module: Lua 5.3.6 and the OS in os/ and blueprints/, for the
# `wasm32-unknown-emscripten2` format, with Debian's emscripten (apt-get install emscripten).
#
#   modules/lua/build.sh              -> modules/lua/dist/process.wasm (the committed module)
#   modules/lua/build.sh OUT_DIR      -> OUT_DIR/process.wasm
#
# Reproducible: the same sources and emcc give the same bytes (CI rebuilds the module and checks
# that it is the committed one: modules/lua/tests/build.rs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-}
if [ -z "$out" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  bash "$0" "$work" >/dev/null
  mkdir -p "$here/dist"
  cp "$work/process.wasm" "$here/dist/process.wasm"
  echo "$here/dist/process.wasm"
  exit 0
fi

# 500 MiB: the most the emscripten2 glue lets a heap grow to (its getHeapMax(), which our CU's host
# matches), and the Memory-Limit the module is published with (src/lib.rs).
max_memory=524288000
os=$here/os
exec bash "$here/c/build-wasm.sh" "$out" "$max_memory" "$os/boot.lua" \
  "json=$os/json.lua" \
  ".utils=$os/utils.lua" \
  ".ao=$os/ao.lua" \
  ".handlers-utils=$os/handlers-utils.lua" \
  ".handlers=$os/handlers.lua" \
  ".stringify=$os/stringify.lua" \
  ".base64=$os/base64.lua" \
  ".bint=$os/bint.lua" \
  ".process=$os/process.lua" \
  ".dump=$os/dump.lua" \
  ".crypto=$os/crypto.lua" \
  ".crypto.native=$here/c/crypto.c" \
  ".blueprints.token=$here/blueprints/token.lua" \
  ".blueprints.chatroom=$here/blueprints/chatroom.lua" \
  ".blueprints.staking=$here/blueprints/staking.lua" \
  ".blueprints.voting=$here/blueprints/voting.lua" \
  ".blueprints.chat=$here/blueprints/chat.lua" \
  ".blueprints.arena=$here/blueprints/arena.lua" \
  ".blueprints.unit-registry=$here/blueprints/unit-registry.lua"
