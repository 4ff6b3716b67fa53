-- JSON for process modules: `json.encode(value)` and `json.decode(text)`, the API of the rxi
-- codec that aos processes `require('json')` for.
--
-- Encoding is deterministic: object keys are sorted, so the same table always gives the same
-- text (aos's encoder follows `pairs` order). Integers stay integers (`3`, not `3.0`); NaN and
-- infinities are an error, as in aos (JSON has no such numbers); an empty table is `[]`. Decoding turns integral numbers without a
-- fraction into Lua integers and `null` into nil (in an array, a hole at its index).
-- A decoding error reads as rxi's ("unexpected character 'b' at line 1 col 1"), and text after
-- the value is one ("trailing garbage"), as in aos.

local json = {}

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

function json.encode(v)
  local kind = type(v)
  if kind == 'nil' then return 'null'
  elseif kind == 'boolean' then return tostring(v)
  elseif kind == 'number' then
    if math.type(v) == 'integer' then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then
      error("unexpected number value '" .. tostring(v) .. "'", 0)
    end
    return string.format('%.17g', v)
  elseif kind == 'string' then return encode_string(v)
  elseif kind == 'table' then
    local parts = {}
    if is_array(v) then
      for i = 1, #v do parts[i] = json.encode(v[i]) end
      return '[' .. table.concat(parts, ',') .. ']'
    end
    local keys = {}
    for k in pairs(v) do
      local kind = type(k)
      if kind ~= 'string' and kind ~= 'number' then error('cannot encode a table key of type ' .. kind) end
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for i, k in ipairs(keys) do parts[i] = encode_string(tostring(k)) .. ':' .. json.encode(v[k]) end
    return '{' .. table.concat(parts, ',') .. '}'
  end
  error('cannot encode a ' .. kind)
end

local SIMPLE = { b = '\b', f = '\f', n = '\n', r = '\r', t = '\t', ['"'] = '"', ['\\'] = '\\', ['/'] = '/' }

function json.decode(s)
  local pos = 1
  local value

  local function skip()
    pos = s:find('[^ \t\r\n]', pos) or #s + 1
  end

  -- rxi's wording, which aos processes see: what went wrong, then the line and column of `at`
  -- (after a wrong delimiter, the place past it, as rxi counts).
  local function fail(what, at)
    at = at or pos
    local line, col = 1, 1
    for nl in s:sub(1, at - 1):gmatch('()\n') do
      line, col = line + 1, at - nl
    end
    if line == 1 then col = at end
    error(string.format('%s at line %d col %d', what, line, col))
  end

  -- A string from the opening quote at `pos`: runs of plain characters are copied whole, so a
  -- message of a few KB costs a handful of `find`s, not a Lua step per byte.
  local function str()
    local out, i = {}, pos + 1
    while true do
      local j = s:find('["\\]', i)
      if not j then fail('expected closing quote for string') end
      if j > i then out[#out + 1] = s:sub(i, j - 1) end
      if s:byte(j) == 34 then pos = j + 1; return table.concat(out) end
      local e = s:sub(j + 1, j + 1)
      if SIMPLE[e] then out[#out + 1] = SIMPLE[e]; i = j + 2
      elseif e == 'u' then
        local code = tonumber(s:sub(j + 2, j + 5), 16) or fail('invalid unicode escape in string', j)
        if code >= 0xD800 and code <= 0xDBFF and s:sub(j + 6, j + 7) == '\\u' then
          local low = tonumber(s:sub(j + 8, j + 11), 16) or fail('invalid unicode escape in string', j)
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          i = j + 12
        else
          i = j + 6
        end
        out[#out + 1] = utf8.char(code)
      else fail("invalid escape char '" .. e .. "' in string", j) end
    end
  end

  function value()
    skip()
    local c = s:sub(pos, pos)
    if c == '{' then
      local t = {}
      pos = pos + 1; skip()
      if s:sub(pos, pos) == '}' then pos = pos + 1; return t end
      while true do
        skip()
        if s:sub(pos, pos) ~= '"' then fail('expected string for key') end
        local k = str(); skip()
        if s:sub(pos, pos) ~= ':' then fail("expected ':' after key") end
        pos = pos + 1
        t[k] = value(); skip()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == '}' then return t end
        if d ~= ',' then fail("expected '}' or ','") end
      end
    elseif c == '[' then
      local t, n = {}, 0
      pos = pos + 1; skip()
      if s:sub(pos, pos) == ']' then pos = pos + 1; return t end
      while true do
        n = n + 1
        t[n] = value(); skip()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == ']' then return t end
        if d ~= ',' then fail("expected ']' or ','") end
      end
    elseif c == '"' then return str()
    end
    -- a literal or a number runs to the next delimiter, and must be one whole (as rxi's)
    local word = s:match('^[^ \t\r\n%]},]*', pos)
    if c == 't' or c == 'f' or c == 'n' then
      if word == 'true' then pos = pos + 4; return true end
      if word == 'false' then pos = pos + 5; return false end
      if word == 'null' then pos = pos + 4; return nil end
      fail("invalid literal '" .. word .. "'")
    end
    if c ~= '-' and not c:match('%d') then fail("unexpected character '" .. c .. "'") end
    local num = word:match('^-?%d+%.?%d*[eE]?[-+]?%d*$') and tonumber(word)
    if not num then fail("invalid number '" .. word .. "'") end
    pos = pos + #word
    return math.tointeger(num) or num
  end

  local result = value()
  skip()
  if pos <= #s then fail('trailing garbage') end
  return result
end

return json
