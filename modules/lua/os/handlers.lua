-- `Handlers`: how a process reacts to messages. A handler is a name, a pattern and a function.
-- For each message the handlers are tried in list order; the pattern decides:
--   true, -1, 'break'       run the handler and stop
--   1, 'continue'           run the handler and go on to the next
--   false, 0, 'skip', nil   do not run it
-- A message no handler stopped on goes to `_default` (the Inbox). Patterns are a function, a table
-- of field patterns (see utils.matchesSpec) or a string (the `Action`).
--
-- `Handlers.receive(pattern)` suspends the running handler (each message is evaluated in a
-- coroutine) until a later message matches, and returns that message.

local utils = require('.utils')

local handlers = { _version = '0.1.0' }
handlers.utils = require('.handlers-utils')
handlers.list = {}
-- Suspended handlers (coroutines waiting in `receive`), so they are not garbage collected.
handlers.coroutines = {}
handlers.onceNonce = 0

local USAGE = 'Invalid arguments given. Expected: \n'
  .. '\tname : string, '
  .. '\tpattern : Action : string | MsgMatch : table,\n'
  .. '\t\tfunction(msg: Message) : {-1 = break, 0 = skip, 1 = continue},\n'
  .. '\thandle(msg : Message) : void) | Resolver,\n'
  .. '\tMaxRuns? : number | "inf" | nil'

local function indexOf(name)
  for i, h in ipairs(handlers.list) do
    if h.name == name then return i end
  end
end

-- A handler function, or a resolver table {[spec] = function} whose first matching spec runs.
local function resolver(handle)
  if type(handle) == 'function' then return handle end
  assert(type(handle) == 'table', USAGE)
  return function(msg, env)
    for spec, fn in pairs(handle) do
      if utils.matchesSpec(msg, spec) then return fn(msg, env) end
    end
  end
end

-- (name, handle) uses the name as the Action pattern; (name, pattern, handle[, maxRuns]).
local function parse(...)
  local n = select('#', ...)
  local name, pattern, handle, maxRuns
  if n == 2 then
    name, handle = select(1, ...), select(2, ...)
    pattern = name
  else
    name, pattern, handle, maxRuns = ...
  end
  local kind = type(pattern)
  assert(type(name) == 'string' and (kind == 'function' or kind == 'table' or kind == 'string'), USAGE)
  assert(maxRuns == nil or maxRuns == 'inf' or math.type(maxRuns) == 'integer', USAGE)
  return { name = name, pattern = pattern, handle = resolver(handle), maxRuns = maxRuns }
end

-- Replace the handler of the same name in place, or insert at `position` (nil: the end).
local function put(h, position)
  local i = indexOf(h.name)
  if i then
    handlers.list[i].pattern, handlers.list[i].handle, handlers.list[i].maxRuns = h.pattern, h.handle, h.maxRuns
    return
  end
  if position then table.insert(handlers.list, position, h) else table.insert(handlers.list, h) end
end

-- As aos: `add` returns the number of handlers; `append`, `prepend`, `before`, `after` and `once`
-- return nothing.
function handlers.add(...)
  put(parse(...))
  return #handlers.list
end

function handlers.append(...) put(parse(...)) end

function handlers.prepend(...) put(parse(...), 1) end

-- `Handlers.before('name').add(...)` / `Handlers.after('name').add(...)`: insert beside another
-- (its place is taken when `before`/`after` is called; as in aos, no name check: a second handler
-- of the same name may result, and nothing is added when `name` is not there).
function handlers.before(name)
  assert(type(name) == 'string', 'Handler name MUST be a string')
  local i = indexOf(name)
  return { add = function(...)
    local h = parse(...)
    if i then table.insert(handlers.list, i, h) end
  end }
end

function handlers.after(name)
  assert(type(name) == 'string', 'Handler name MUST be a string')
  local i = indexOf(name)
  return { add = function(...)
    local h = parse(...)
    if i then table.insert(handlers.list, i + 1, h) end
  end }
end

-- A handler that runs once, added at the end as aos does: (pattern, handle) gets a generated name.
function handlers.once(...)
  local name, pattern, handle
  if select('#', ...) == 3 then
    name, pattern, handle = ...
  else
    name = '_once_' .. tostring(handlers.onceNonce)
    handlers.onceNonce = handlers.onceNonce + 1
    pattern, handle = ...
  end
  handlers.add(name, pattern, handle, 1)
end

function handlers.remove(name)
  assert(type(name) == 'string', 'name MUST be string')
  local i = indexOf(name)
  if i then table.remove(handlers.list, i) end
end

-- Wait for a message matching `pattern`; returns it. Must run inside a handler (a coroutine).
function handlers.receive(pattern)
  local self = coroutine.running()
  handlers.once(pattern, function(msg)
    -- The waiting code runs on inside its `pcall(Handlers.evaluate)`: an error there comes back as
    -- (true, false, err) and is raised here, in the message that woke it.
    local resumed, ok, err = coroutine.resume(self, msg)
    if not resumed then error(ok, 0) end
    if ok == false then error(err, 0) end
  end)
  return coroutine.yield(pattern)
end

-- Compose a resolver function from a handle or a {[spec] = function} table (aos name).
handlers.generateResolver = resolver

local function decision(match)
  local kind = type(match)
  if kind == 'nil' then return 0 end
  if kind == 'boolean' then return match and -1 or 0 end
  if kind == 'string' then
    if match == 'continue' then return 1 end
    if match == 'break' then return -1 end
    return 0
  end
  if kind == 'number' then return match end
  error('Pattern result is not valid, it MUST be string, number, or boolean', 0)
end

-- Run the handlers for one message (see the top of this file).
function handlers.evaluate(msg, env)
  assert(type(msg) == 'table', 'msg is not valid')
  assert(type(env) == 'table', 'env is not valid')
  local handled = false
  -- A snapshot: handlers added or removed while running take effect from the next message.
  local list = { table.unpack(handlers.list) }
  for _, h in ipairs(list) do
    if h.name ~= '_default' then
      local match = decision(utils.matchesSpec(msg, h.pattern))
      if match ~= 0 then
        if h.maxRuns ~= nil and h.maxRuns ~= 'inf' then
          h.maxRuns = h.maxRuns - 1
          if h.maxRuns <= 0 then handlers.remove(h.name) end
        end
        h.handle(msg, env)
        if match < 0 then
          handled = true
          break
        end
      end
    end
  end
  if not handled then
    local i = indexOf('_default')
    if i then handlers.list[i].handle(msg, env) end
  end
  return handled
end

return handlers
