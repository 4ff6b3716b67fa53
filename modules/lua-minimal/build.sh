#!/usr/bin/env bash
# Build the minimal Lua process module (wasm32-unknown-emscripten2 ABI) with Debian's emscripten.
#
#   modules/lua-minimal/build.sh OUT_DIR      -> OUT_DIR/process.wasm
#
# Needs `emcc` (apt-get install emscripten) and cargo (to fetch the Lua 5.3 sources of the
# `lua-src` crate into cargo's registry; no other download). Deterministic: same sources and
# emcc give the same bytes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The Lua sources: lua-src's copy of Lua 5.3.6, fetched by cargo from crates.io.
fetch=$out/lua-src-fetch
mkdir -p "$fetch/src"
cat > "$fetch/Cargo.toml" <<'TOML'
[package]
name = "lua-src-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
lua-src = "=551.1.0"
[workspace]
TOML
echo 'fn main() {}' > "$fetch/src/main.rs"
manifest=$(cd "$fetch" && cargo metadata --format-version 1 --quiet |
  python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="lua-src"))')
lua=$(dirname "$manifest")/lua-5.3.6

# boot.lua as a C array, so the module needs no file system.
python3 - "$here/boot.lua" "$out/boot.h" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
body = ','.join(str(b) for b in data)
open(sys.argv[2], 'w').write('static const unsigned char BOOT_LUA[%d] = {%s};\n' % (len(data), body))
PY

sources=()
for f in "$lua"/*.c; do
  case $(basename "$f") in lua.c|luac.c) ;; *) sources+=("$f") ;; esac
done

# NODE_PATH: Debian's emcc runs its JS optimiser with node, which must find Debian's acorn.
export NODE_PATH=/usr/share/nodejs
emcc -O2 -I"$lua" -I"$out" "${sources[@]}" "$here/handle.c" "$here/compat.c" -o "$out/process.js" \
  -sASSERTIONS=1 -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=6291456 -sMAXIMUM_MEMORY=524288000 \
  -sMODULARIZE=1 -sEXPORTED_FUNCTIONS=_main,_handle,_malloc,_free \
  -sEXPORTED_RUNTIME_METHODS=cwrap -sDETERMINISTIC=1
rm -f "$out/process.js"
echo "$out/process.wasm"
