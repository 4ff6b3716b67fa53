-- The process side of the minimal module: the OS's JSON codec and a `handle` that evaluates `Eval`
-- messages. Enough to exercise what a loader must get right (strings in and out, Lua errors
-- through setjmp/longjmp, memory growth, print through fd_write, os.time/os.date) without
-- the full OS of modules/lua.

local json = require('json')

_G.json = json

local function tag(msg, name)
  for _, t in ipairs(msg.Tags or {}) do
    if t.name == name then return t.value end
  end
end

function handle(msg_json, env_json)
  local ok_decode, msg = pcall(json.decode, msg_json)
  local response = { Output = '', Messages = {}, Spawns = {}, Assignments = {} }
  if not ok_decode then
    response.Error = tostring(msg)
    return json.encode({ ok = true, response = response })
  end
  _G.env = json.decode(env_json)
  _G.msg = msg
  if tag(msg, 'Action') == 'Eval' then
    local fn, err = load(msg.Data or '', 'eval', 't', _G)
    if not fn then
      response.Error = err
    else
      local ok, result = pcall(fn)
      if ok then
        response.Output = result == nil and '' or tostring(result)
      else
        response.Error = tostring(result)
      end
    end
  elseif type(_G.Handle) == 'function' then
    -- Any other message goes to a `Handle(msg)` that an Eval defined, if any (tests of cron
    -- and of message fields use it).
    local ok, result = pcall(_G.Handle, msg)
    if ok then
      response.Output = result == nil and '' or tostring(result)
    else
      response.Error = tostring(result)
    end
  end
  return json.encode({ ok = true, response = response })
end
