-- `Utils` / `require('.utils')`: message matching for Handlers, and the small functional helpers
-- aos processes use (curried as in aos: `utils.map(f)(list)` and `utils.map(f, list)` both work).

local utils = { _version = '0.1.0' }

local MAGIC = '[%^%$%(%)%%%.%[%]%*%+%?]'

-- Does one field value match a pattern? `'_'` matches anything present; a string matches
-- case-insensitively, as a Lua pattern if it has magic characters; a function decides; a table
-- matches when any of its patterns does.
function utils.matchesPattern(pattern, value, msg)
  if not pattern then return false end
  if pattern == '_' then return true end
  local kind = type(pattern)
  if kind == 'function' then return pattern(value, msg) and true or false end
  if kind == 'string' then
    local text = string.lower(tostring(value or ''))
    if string.match(pattern, MAGIC) then
      return string.match(text, string.lower(pattern)) ~= nil
    end
    return text == string.lower(pattern)
  end
  if kind == 'table' then
    for _, sub in pairs(pattern) do
      if utils.matchesPattern(sub, value, msg) then return true end
    end
  end
  return false
end

-- Does a message match a spec? A function is asked (and may answer 'continue', 'break', 'skip'
-- or a number, which Handlers interprets); a table needs every key present and matching; a string
-- is the `Action`.
function utils.matchesSpec(msg, spec)
  local kind = type(spec)
  if kind == 'function' then return spec(msg) end
  if kind == 'table' then
    for key, pattern in pairs(spec) do
      if not msg[key] then return false end
      if not utils.matchesPattern(pattern, msg[key], msg) then return false end
    end
    return true
  end
  if kind == 'string' then return msg.Action ~= nil and msg.Action == spec end
  return false
end

-- 'content_type' and 'CONTENT-TYPE' both become 'Content-Type', the form aos processes read.
function utils.normalize(s)
  if type(s) ~= 'string' then return s end
  s = s:gsub('_', '-'):lower():gsub('^%l', string.upper)
  return (s:gsub('%-(%l)', function(c) return '-' .. c:upper() end))
end

function utils.capitalize(s)
  if type(s) ~= 'string' or s == '' then return s end
  return s:sub(1, 1):upper() .. s:sub(2):lower()
end

-- An array as aos's helpers accept one: only positive whole-number keys, the largest being the
-- border `#t` (so `{1, nil, 3}` is one, as in aos; `{[2] = 'x'}` is not).
local function isArray(t)
  if type(t) ~= 'table' then return false end
  local largest = 0
  for k in pairs(t) do
    if math.type(k) ~= 'integer' or k < 1 then return false end
    if k > largest then largest = k end
  end
  return largest == #t
end
utils.isArray = isArray

-- `fn` of `arity` arguments, callable with fewer (returns a function wanting the rest).
function utils.curry(fn, arity)
  assert(type(fn) == 'function', 'function is required as first argument')
  arity = arity or debug.getinfo(fn, 'u').nparams
  if arity < 2 then return fn end
  return function(...)
    local args = table.pack(...)
    if args.n >= arity then return fn(...) end
    return utils.curry(function(...)
      local all = { table.unpack(args, 1, args.n) }
      local more = table.pack(...)
      for i = 1, more.n do all[args.n + i] = more[i] end
      return fn(table.unpack(all, 1, args.n + more.n))
    end, arity - args.n)
  end
end

utils.concat = utils.curry(function(a, b)
  assert(isArray(a), 'first argument should be a table that is an array')
  assert(isArray(b), 'second argument should be a table that is an array')
  local out = {}
  for i = 1, #a do out[#out + 1] = a[i] end
  for i = 1, #b do out[#out + 1] = b[i] end
  return out
end, 2)

utils.reduce = utils.curry(function(fn, initial, t)
  assert(type(fn) == 'function', 'first argument should be a function that accepts (result, value, key)')
  assert(isArray(t), 'third argument should be a table that is an array')
  local result = initial
  for i = 1, #t do
    if result == nil then result = t[i] else result = fn(result, t[i], i) end
  end
  return result
end, 3)

utils.map = utils.curry(function(fn, t)
  assert(type(fn) == 'function', 'first argument should be a unary function')
  assert(isArray(t), 'second argument should be an Array')
  local out = {}
  for i = 1, #t do out[i] = fn(t[i], i) end
  return out
end, 2)

utils.filter = utils.curry(function(fn, t)
  assert(type(fn) == 'function', 'first argument should be a unary function')
  assert(isArray(t), 'second argument should be an Array')
  local out = {}
  for i = 1, #t do
    if fn(t[i]) then out[#out + 1] = t[i] end
  end
  return out
end, 2)

utils.find = utils.curry(function(fn, t)
  assert(type(fn) == 'function', 'first argument should be a unary function')
  assert(type(t) == 'table', 'second argument should be a table that is an array')
  for _, v in ipairs(t) do
    if fn(v) then return v end
  end
end, 2)

utils.propEq = utils.curry(function(name, value, object)
  assert(type(name) == 'string', 'first argument should be a string')
  assert(type(object) == 'table', 'third argument should be a table<object>')
  return object[name] == value
end, 3)

function utils.reverse(t)
  assert(type(t) == 'table', 'argument needs to be a table that is an array')
  local out = {}
  for i = #t, 1, -1 do out[#out + 1] = t[i] end
  return out
end

-- compose(f, g, h)(x) == f(g(h(x)))
utils.compose = utils.curry(function(...)
  local fns = table.pack(...)
  return function(v)
    for i = fns.n, 1, -1 do
      assert(type(fns[i]) == 'function', 'each argument needs to be a function')
      v = fns[i](v)
    end
    return v
  end
end, 2)

utils.prop = utils.curry(function(name, object) return object[name] end, 2)

utils.includes = utils.curry(function(value, t)
  assert(isArray(t), 'argument should be a table that is an array')
  for _, v in ipairs(t) do
    if v == value then return true end
  end
  return false
end, 2)

function utils.keys(t)
  assert(type(t) == 'table', 'argument needs to be a table')
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  return out
end

function utils.values(t)
  assert(type(t) == 'table', 'argument needs to be a table')
  local out = {}
  for _, v in pairs(t) do out[#out + 1] = v end
  return out
end

return utils
