-- `require('.stringify')`: tables as readable text, for `print` and Eval results.
-- Keys are sorted (numbers first), so the same table always prints the same way; nested tables
-- are indented; a table met again (a cycle) prints as `<cycle>`.

local stringify = { _version = '0.1.0' }

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

local function isList(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function scalar(v)
  if type(v) == 'string' then return string.format('%q', v) end
  return tostring(v)
end

local function format(v, indent, seen)
  if type(v) ~= 'table' then return scalar(v) end
  if seen[v] then return '<cycle>' end
  if next(v) == nil then return '{}' end
  seen[v] = true
  local pad = string.rep('  ', indent + 1)
  local parts = {}
  if isList(v) then
    for i = 1, #v do parts[i] = pad .. format(v[i], indent + 1, seen) end
  else
    for _, k in ipairs(sortedKeys(v)) do
      local key = (type(k) == 'string' and k:match('^[%a_][%w_]*$')) and k or '[' .. scalar(k) .. ']'
      parts[#parts + 1] = pad .. key .. ' = ' .. format(v[k], indent + 1, seen)
    end
  end
  seen[v] = nil
  return '{\n' .. table.concat(parts, ',\n') .. '\n' .. string.rep('  ', indent) .. '}'
end

function stringify.format(v, indent)
  return format(v, indent or 0, {})
end

return stringify
