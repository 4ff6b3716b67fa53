-- `require('.base64')`: standard base64 (RFC 4648, with padding), and the URL-safe alphabet that
-- Arweave ids use (`base64.encode(s, true)`, no padding).

local base64 = { _version = '0.1.0' }

local STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

local DECODE = {}
for i = 1, 64 do
  DECODE[STD:byte(i)] = i - 1
  DECODE[URL:byte(i)] = i - 1
end

function base64.encode(s, urlsafe)
  assert(type(s) == 'string', 'base64.encode: a string is required')
  local alphabet = urlsafe and URL or STD
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chunk = {}
    for j = 1, 4 do
      local idx = (n >> (6 * (4 - j))) & 63
      chunk[j] = alphabet:sub(idx + 1, idx + 1)
    end
    if not b then chunk[3] = '=' end
    if not c then chunk[4] = '=' end
    out[#out + 1] = table.concat(chunk)
  end
  local text = table.concat(out)
  if urlsafe then text = text:gsub('=', '') end
  return text
end

-- Accepts both alphabets, with or without padding; errors on anything else.
function base64.decode(s)
  assert(type(s) == 'string', 'base64.decode: a string is required')
  s = s:gsub('=+$', '')
  local out, n, bits = {}, 0, 0
  for i = 1, #s do
    local v = DECODE[s:byte(i)]
    if not v then error('base64.decode: invalid character at ' .. i, 2) end
    n = (n << 6) | v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((n >> bits) & 255)
    end
  end
  return table.concat(out)
end

return base64
