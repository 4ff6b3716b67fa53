#!/usr/bin/env bash
# Build the minimal Lua process module (wasm32-unknown-emscripten2 ABI) with Debian's emscripten:
# the C entry point and build of modules/lua, with boot.lua and the OS's JSON codec instead of
# the whole OS.
#
#   modules/lua-minimal/build.sh OUT_DIR      -> OUT_DIR/process.wasm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../lua/c/build-wasm.sh" "${1:?usage: build.sh OUT_DIR}" 524288000 \
  "$here/boot.lua" "json=$here/../lua/os/json.lua"
