/* The smallest AO process module: Lua 5.3 with a `handle(msg, env)` entry point in the ABI of
 * `wasm32-unknown-emscripten2` (what the reference loader's emscripten2 glue calls), used by the
 * CU's conformance tests. `main` boots Lua and runs boot.lua (embedded by build.sh as boot.h);
 * each `handle` call passes the message and environment JSON to the Lua global `handle` and
 * returns the JSON string it produces. */
#include <stdlib.h>
#include <string.h>
#include <emscripten.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "boot.h"

static lua_State *L = NULL;
static char *last = NULL;

/* A fixed reply for failures outside Lua's control, so the caller always gets valid JSON. */
static const char *FAILED = "{\"ok\":false,\"response\":{\"Error\":\"the Lua state could not run handle\"}}";

int main(void) {
  L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, (const char *)BOOT_LUA, sizeof(BOOT_LUA), "boot") != LUA_OK ||
      lua_pcall(L, 0, 0, 0) != LUA_OK) {
    return 1;
  }
  return 0;
}

EMSCRIPTEN_KEEPALIVE
const char *handle(const char *msg, const char *env) {
  if (L == NULL) return FAILED;
  lua_getglobal(L, "handle");
  lua_pushstring(L, msg);
  lua_pushstring(L, env);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_isstring(L, -1)) {
    lua_settop(L, 0);
    return FAILED;
  }
  free(last);
  last = strdup(lua_tostring(L, -1));
  lua_settop(L, 0);
  return last ? last : FAILED;
}
