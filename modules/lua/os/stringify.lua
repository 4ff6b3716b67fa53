-- `require('.stringify')`: tables as readable text, for `print` and Eval results, laid out and
-- coloured as aos 2.0 does, so a console shows the same thing for both:
--   a list of only strings and numbers     { 1, "a" }           (strings green, others blue)
--   a list holding tables                  one item a line, closed by ` }`
--   anything else                          key (red) = value, one a line, 3 spaces in
-- Where aos takes keys in `pairs` order (a hash order, which differs between builds), keys here
-- are sorted (numbers first), so the same table always prints the same way. A table met again
-- inside itself prints as `<circular reference>`.

local stringify = { _version = '0.2.0' }

local colors = {
  red = '\27[31m',
  green = '\27[32m',
  blue = '\27[34m',
  reset = '\27[0m',
}

local function sortedKeys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == 'number' or ta == 'string' then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- Keys exactly 1..n.
local function isList(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- A list of only strings and numbers (the empty table is one), printed on one line.
function stringify.isSimpleArray(t)
  if not isList(t) then return false end
  for _, v in ipairs(t) do
    if type(v) ~= 'number' and type(v) ~= 'string' then return false end
  end
  return true
end

local format

local function value(v, indent, seen)
  if type(v) == 'table' then
    if seen[v] then return '<circular reference>' end
    return format(v, indent + 2, seen)
  end
  if type(v) == 'string' then return colors.green .. '"' .. v .. '"' .. colors.reset end
  return colors.blue .. tostring(v) .. colors.reset
end

format = function(t, indent, seen)
  local parts = {}
  if stringify.isSimpleArray(t) then
    for i, v in ipairs(t) do parts[i] = value(v, indent, seen) end
    return '{ ' .. table.concat(parts, ', ') .. ' }'
  end
  seen[t] = true
  local pad = string.rep(' ', indent + 2)
  local text
  if isList(t) then
    for i, v in ipairs(t) do parts[i] = pad .. value(v, indent, seen) end
    text = '{\n' .. table.concat(parts, ',\n') .. '\n' .. string.rep(' ', indent) .. ' }'
  else
    for _, k in ipairs(sortedKeys(t)) do
      parts[#parts + 1] = pad .. colors.red .. tostring(k) .. colors.reset .. ' = ' .. value(t[k], indent, seen)
    end
    text = '{\n ' .. table.concat(parts, ',\n ') .. '\n' .. string.rep(' ', indent) .. '}'
  end
  seen[t] = nil
  return text
end

function stringify.format(t, indent)
  if type(t) ~= 'table' then return tostring(t) end
  return format(t, indent or 0, {})
end

return stringify
