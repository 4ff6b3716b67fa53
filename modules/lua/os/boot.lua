-- Start-up of the process module (run once by `main`, see c/handle.c): load the OS and define the
-- `handle(msgJson, envJson)` the CU calls for every message. It always answers JSON
-- `{"ok": true, "response": {...}}`: a failure is the response's `Error` (which makes the CU roll
-- the memory back), never a failure of the call itself.

local json = require('json')

-- The other names aos processes require these modules by.
package.preload['.json'] = function() return require('json') end
package.preload['ao'] = function() return require('.ao') end
package.preload['.crypto.init'] = function() return require('.crypto') end

local process = require('.process')

function handle(msgJson, envJson)
  local ok, response = pcall(function()
    local msg = json.decode(msgJson)
    local env = json.decode(envJson)
    return process.handle(msg, env)
  end)
  if not ok then response = { Error = tostring(response) } end
  local encoded, text = pcall(json.encode, { ok = true, response = response })
  if not encoded then
    text = json.encode({ ok = true, response = { Error = 'the reply could not be encoded: ' .. tostring(text) } })
  end
  return text
end
