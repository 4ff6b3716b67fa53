-- `Dump(value[, indent[, padding[, filter[, udata]]]])`: a value as Lua source text, printed
-- exactly as aos's `Dump` (the lua-dump layout) so code and tests written against aos read the
-- same text here.
--
-- A table is laid out one field per line, `indent` spaces deeper per level (default 4; 0 puts it
-- all on one line) after `padding` spaces; number and boolean keys first, in order, then the
-- other keys as text in order; a key that is not a plain name is written `["key"]`; a table seen
-- again inside itself is `"<Circular table: 0x...>"`. Any other value is quoted (`%q` of its
-- text). `filter(value, depth, type, use, key, udata)`, called for each key (`use` 'key'), value
-- ('val') and repeated table ('circular'), may replace it, drop it (nil) or, with a second result
-- `true`, have it written as it is.

-- The layout aos's Dump uses when no indent is given.
local DEFAULT_INDENT = 4

-- Words that cannot be a bare field name.
local KEYWORDS = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch('%a+') do
  KEYWORDS[word] = true
end

local function identity(v) return v end

local function isUnsigned(v)
  return type(v) == 'number' and v >= 0 and v < math.huge and math.floor(v) == v
end

-- The order of the fields: number and boolean keys before the others; numbers by value, text by
-- text; booleans by lua-dump's rule (kept, whatever order it gives).
local function before(a, b)
  if a.kind ~= b.kind then return a.kind == 'number' end
  if a.kind == 'boolean' then return b.key end
  return a.key < b.key
end

local layoutTable

-- One value in field position.
local function valueText(val, verbatim, depth, fieldIndent, ctx)
  local kind = type(val)
  if kind == 'number' or kind == 'boolean' then return tostring(val) end
  if kind == 'string' then return verbatim and val or string.format('%q', val) end
  if kind == 'table' and not verbatim then return layoutTable(val, depth + 1, fieldIndent, ctx) end
  return string.format('%q', tostring(val))
end

-- A table already being laid out, met again inside itself.
local function circular(tbl, depth, indent, ctx)
  local val, verbatim = ctx.filter(tbl, depth, type(tbl), 'circular', tbl, ctx.udata)
  if val == nil or val == tbl then return '"<Circular ' .. tostring(tbl) .. '>"' end
  local kind = type(val)
  if kind == 'table' then
    if verbatim then return tostring(val) end
    return layoutTable(val, depth + 1, indent, ctx)
  end
  if kind == 'number' or kind == 'boolean' then return tostring(val) end
  return string.format('%q', tostring(val))
end

function layoutTable(tbl, depth, indent, ctx)
  if ctx.open[tbl] then return circular(tbl, depth, indent, ctx) end
  local fieldIndent = indent .. ctx.step
  local fields = {}
  ctx.open[tbl] = true
  for k, v in pairs(tbl) do
    local key, keyVerbatim = ctx.filter(k, depth, type(k), 'key', nil, ctx.udata)
    if key ~= nil then
      local val, valVerbatim = ctx.filter(v, depth, type(v), 'val', key, ctx.udata)
      if val ~= nil then
        local kind, sortKey, keyText = type(key), k, key
        if kind == 'number' or kind == 'boolean' then
          sortKey, keyText = key, '[' .. tostring(key) .. ']'
        elseif kind == 'table' and not keyVerbatim then
          keyText = '[' .. layoutTable(key, depth + 1, fieldIndent, ctx) .. ']'
          sortKey, kind = keyText, 'string'
        elseif kind ~= 'string' or KEYWORDS[key] or not key:match('^[%a_][%w_]*$') then
          keyText = string.format('[%q]', tostring(key))
          sortKey, kind = keyText, 'string'
        end
        fields[#fields + 1] = {
          kind = kind,
          key = sortKey,
          text = fieldIndent .. keyText .. ' = ' .. valueText(val, valVerbatim, depth, fieldIndent, ctx),
        }
      end
    end
  end
  ctx.open[tbl] = nil
  if #fields == 0 then return '{}' end
  table.sort(fields, before)
  local lines = {}
  for i, f in ipairs(fields) do lines[i] = f.text end
  return '{' .. ctx.newline .. table.concat(lines, ',' .. ctx.newline) .. ctx.newline .. indent .. '}'
end

local function dump(val, indent, padding, filter, udata)
  if indent == nil then
    indent = DEFAULT_INDENT
  elseif not isUnsigned(indent) then
    error('indent must be unsigned integer', 2)
  end
  if padding == nil then
    padding = 0
  elseif not isUnsigned(padding) then
    error('padding must be unsigned integer', 2)
  end
  if filter == nil then
    filter = identity
  elseif type(filter) ~= 'function' then
    error('filter must be function', 2)
  end
  if type(val) == 'table' then
    local step, pad = '', ''
    -- a width as string.format takes it, so a width it refuses fails as in aos
    if indent > 0 then step = string.format('%' .. tostring(indent) .. 's', '') end
    if padding > 0 then pad = string.format('%' .. tostring(padding) .. 's', '') end
    return layoutTable(val, 1, pad, {
      step = step,
      newline = step == '' and ' ' or '\n',
      open = {},
      filter = filter,
      udata = udata,
    })
  end
  local v, verbatim = filter(val, 0, type(val), 'val', nil, udata)
  if verbatim == true then return tostring(v) end
  return string.format('%q', tostring(v))
end

return dump
