#!/usr/bin/env bash
# Build a Lua 5.3 process module (wasm32-unknown-emscripten2 ABI) with Debian's emscripten.
#
#   build-wasm.sh OUT_DIR MAXIMUM_MEMORY BOOT.lua [NAME=FILE.lua ...]   -> OUT_DIR/process.wasm
#
# Each NAME=FILE.lua is embedded as `package.preload[NAME]`; each NAME=FILE.c is compiled in and
# its `luaopen_<NAME without dots and dashes>` becomes `package.preload[NAME]` (a Lua C module);
# BOOT.lua runs at start-up and defines the global `handle` (see handle.c). Used by modules/lua/build.sh (the process OS) and
# modules/lua-minimal/build.sh (the CU's conformance module).
#
# Needs `emcc` (apt-get install emscripten) and cargo (to fetch the Lua 5.3 sources of the
# `lua-src` crate into cargo's registry; no other download). Deterministic: the same sources and
# emcc give the same bytes, whatever the folders (no paths end up in the module).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-wasm.sh OUT_DIR MAXIMUM_MEMORY BOOT.lua [NAME=FILE.lua ...]}
max_memory=${2:?maximum memory in bytes}
boot=${3:?boot file}
shift 3
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

# The C modules' sources; the Lua ones are embedded below.
native_sources=()
for entry in "$@"; do
  case $entry in *.c) native_sources+=("${entry#*=}") ;; esac
done

# The Lua files as C arrays, the boot file last, and the C modules' entry points.
python3 - "$out/bundle.h" "$@" "boot=$boot" <<'PY'
import re, sys
out, entries = sys.argv[1], sys.argv[2:]
arrays, table, natives = [], [], []
for entry in entries:
    name, path = entry.split('=', 1)
    if path.endswith('.c'):
        natives.append((name, 'luaopen_' + re.sub('[^A-Za-z0-9]+', '_', name).strip('_')))
        continue
    i = len(table)
    data = open(path, 'rb').read()
    arrays.append('static const unsigned char LUA_SRC_%d[%d] = {%s};' % (i, len(data), ','.join(str(b) for b in data)))
    table.append('  {"%s", LUA_SRC_%d, %d},' % (name, i, len(data)))
with open(out, 'w') as f:
    f.write('\n'.join(arrays) + '\n')
    f.write('static const struct lua_file LUA_FILES[] = {\n' + '\n'.join(table) + '\n};\n')
    f.write('#define LUA_FILE_COUNT %d\n' % len(table))
    for _, fn in natives:
        f.write('int %s(lua_State *L);\n' % fn)
    f.write('static const struct lua_native LUA_NATIVES[] = {\n'
            + ''.join('  {"%s", %s},\n' % n for n in natives) + '  {NULL, NULL},\n};\n')
PY

sources=()
for f in "$lua"/*.c; do
  case $(basename "$f") in lua.c|luac.c) ;; *) sources+=("$f") ;; esac
done

# NODE_PATH: Debian's emcc runs its JS optimiser with node, which must find Debian's acorn.
export NODE_PATH=/usr/share/nodejs
emcc -O2 -I"$lua" -I"$out" "${sources[@]}" "$here/handle.c" "$here/compat.c" ${native_sources[@]+"${native_sources[@]}"} -o "$out/process.js" \
  -sASSERTIONS=1 -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=6291456 -sMAXIMUM_MEMORY="$max_memory" \
  -sMODULARIZE=1 -sEXPORTED_FUNCTIONS=_main,_handle,_malloc,_free \
  -sEXPORTED_RUNTIME_METHODS=cwrap -sDETERMINISTIC=1
rm -f "$out/process.js"
echo "$out/process.wasm"
