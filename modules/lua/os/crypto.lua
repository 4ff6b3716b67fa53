-- `require('.crypto')`: digests, HMAC, PBKDF2 and the byte helpers, with the API aos 2.0 processes
-- use (`crypto.digest.sha2_256(stream).asHex()`, `crypto.utils.array.fromString(s)`, ...). The
-- hashing itself is C (c/crypto.c, the `.crypto.native` module): one pass over a string instead of
-- a closure call per byte. What this file adds is aos's shapes: streams (a function giving the next
-- byte, nil at the end), arrays (a list of byte numbers), and results with `asBytes`, `asHex`,
-- `asString`.
--
-- Where aos's output is simply wrong, ours is the standard one (README, kept differences): HMAC is
-- RFC 2104 (aos's `createHmac` pads the key to 32 bytes, so its values match no other HMAC), and
-- SHA-3/Keccak of a message one byte short of a block is FIPS 202 (aos adds a block). aos's ciphers
-- (AES, ISSAC, Morus, NORX), `crypto.random`, MD2 and MD4 are not shipped: calling them is an
-- error that says so.

local native = require('.crypto.native')

local crypto = { _version = '0.0.1' }

-- ---- utils: streams, arrays, hex, a queue and 32-bit bit operations

-- A FIFO queue, as aos's `crypto.utils.queue()`: push, pop (nil when empty), size, and the
-- count of pushes (`getHead`) and pops (`getTail`).
local function Queue()
  local items, head, tail = {}, 0, 0
  local q = {}
  function q.push(v)
    items[head] = v
    head = head + 1
  end
  function q.pop()
    if tail >= head then return nil end
    local v = items[tail]
    items[tail] = nil
    tail = tail + 1
    return v
  end
  function q.size() return head - tail end
  function q.getHead() return head end
  function q.getTail() return tail end
  function q.reset() items, head, tail = {}, 0, 0 end
  return q
end

-- Byte pairs of hex text by their value, both cases (aos's fromHex tables).
local HEX_BYTE = {}
for i = 0, 255 do
  HEX_BYTE[string.format('%02x', i)] = i
  HEX_BYTE[string.format('%02X', i)] = i
end

-- The bytes of an array up to its first nil, as a string.
local function arrayToString(a)
  local parts = {}
  local i = 1
  while a[i] ~= nil do
    parts[i] = string.char(a[i])
    i = i + 1
  end
  return table.concat(parts)
end

-- The bytes a stream gives until nil, as a string.
local function streamToString(stream)
  local parts = {}
  for b in stream do parts[#parts + 1] = string.char(b) end
  return table.concat(parts)
end

local function stringToArray(s)
  local out = {}
  for i = 1, #s do out[i] = s:byte(i) end
  return out
end

-- Upper-case hex of a string: what aos's array and stream helpers give.
local function upperHex(s)
  return (s:gsub('.', function(c) return string.format('%02X', c:byte()) end))
end

local Array = {}
function Array.size(a) return #a end
Array.fromString = stringToArray
Array.toString = arrayToString
function Array.fromStream(stream)
  local out = {}
  for b in stream do out[#out + 1] = b end
  return out
end
function Array.readFromQueue(queue, size)
  local out = {}
  for i = 1, size do out[i] = queue.pop() end
  return out
end
function Array.writeToQueue(queue, a)
  for i = 1, #a do queue.push(a[i]) end
end
function Array.fromHex(hex)
  local out = {}
  for i = 1, #hex // 2 do out[i] = HEX_BYTE[hex:sub(2 * i - 1, 2 * i)] end
  return out
end
function Array.toHex(a) return upperHex(arrayToString(a)) end
function Array.concat(a, b)
  local out = {}
  local i = 1
  while a[i] ~= nil do
    out[#out + 1] = a[i]
    i = i + 1
  end
  i = 1
  while b[i] ~= nil do
    out[#out + 1] = b[i]
    i = i + 1
  end
  return out
end
function Array.truncate(a, n)
  local out = {}
  for i = 1, n do out[i] = a[i] end
  return out
end
function Array.XOR(a, b)
  local out = {}
  for k, v in pairs(a) do out[k] = v ~ b[k] end
  return out
end
function Array.substitute(input, sbox)
  local out = {}
  for k, v in pairs(input) do out[k] = sbox[v] end
  return out
end
function Array.permute(input, pbox)
  local out = {}
  for k, v in pairs(pbox) do out[k] = input[v] end
  return out
end
function Array.copy(input)
  local out = {}
  for k, v in pairs(input) do out[k] = v end
  return out
end
-- Elements start..stop (negative counts from the end; both default to the whole array).
function Array.slice(input, start, stop)
  local n = #input
  start = start or 1
  if start < 0 then start = n + start + 1 end
  stop = stop or n
  if stop < 0 then stop = n + stop + 1 end
  local out = {}
  for i = start, stop do out[#out + 1] = input[i] end
  return out
end

-- The unread state of each stream made by Stream.fromString, so a digest of one takes its string
-- whole instead of a call per byte (weak: a dropped stream is collected).
local fromStringState = setmetatable({}, { __mode = 'k' })

local Stream = {}
function Stream.fromString(s)
  local state = { s = s, i = 0 }
  local function stream()
    state.i = state.i + 1
    return s:byte(state.i)
  end
  fromStringState[stream] = state
  return stream
end
Stream.toString = streamToString
function Stream.fromArray(a)
  local copy, n = {}, 0
  while a[n + 1] ~= nil do
    n = n + 1
    copy[n] = a[n]
  end
  local i = 0
  return function()
    if i >= n then return nil end
    i = i + 1
    return copy[i]
  end
end
Stream.toArray = Array.fromStream
Array.toStream = Stream.fromArray
function Stream.fromHex(hex) return Stream.fromArray(Array.fromHex(hex)) end
function Stream.toHex(stream) return upperHex(streamToString(stream)) end

local Hex = {}
-- Lower-case hex of a string; with `ln`, a newline after every `ln` bytes and `sep` between the
-- others.
function Hex.stringToHex(s, ln, sep)
  if #s == 0 then return '' end
  if not ln then
    return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end))
  end
  sep = sep or ''
  local out = {}
  for i = 1, #s - 1 do
    out[i] = string.format('%02x', s:byte(i)) .. ((i % ln == 0) and '\n' or sep)
  end
  out[#s] = string.format('%02x', s:byte(#s))
  return table.concat(out)
end
-- The bytes of hex text. Whitespace is ignored and text with other than letters and digits, or
-- of odd length, is an error, unless `unsafe`; pairs that are not hex are left as they are (aos).
function Hex.hexToString(hs, unsafe)
  if not unsafe then
    hs = hs:gsub('%s+', '')
    if hs:find('[^0-9A-Za-z]') or #hs % 2 ~= 0 then error('invalid hex string') end
  end
  return (hs:gsub('(%x%x)', function(pair) return string.char(tonumber(pair, 16)) end))
end

-- bit32's operations on 32-bit words (aos's `crypto.utils.bit`), with Lua 5.3's operators.
local MASK32 = 0xFFFFFFFF
local Bit = {}
function Bit.band(...)
  local r = MASK32
  for _, v in ipairs({ ... }) do r = r & v end
  return r & MASK32
end
function Bit.bor(...)
  local r = 0
  for _, v in ipairs({ ... }) do r = r | v end
  return r & MASK32
end
function Bit.bxor(...)
  local r = 0
  for _, v in ipairs({ ... }) do r = r ~ v end
  return r & MASK32
end
function Bit.bnot(x) return ~x & MASK32 end
function Bit.lshift(x, n)
  if n >= 32 or n <= -32 then return 0 end
  if n < 0 then return Bit.rshift(x, -n) end
  return (x << n) & MASK32
end
function Bit.rshift(x, n)
  if n >= 32 or n <= -32 then return 0 end
  if n < 0 then return Bit.lshift(x, -n) end
  return (x & MASK32) >> n
end
function Bit.lrotate(x, n)
  n = n % 32
  x = x & MASK32
  return ((x << n) | (x >> (32 - n))) & MASK32
end
function Bit.rrotate(x, n) return Bit.lrotate(x, -n) end
Bit.rol = Bit.lrotate
Bit.ror = Bit.rrotate

crypto.utils = { _version = '0.0.1', bit = Bit, queue = Queue, stream = Stream, hex = Hex, array = Array }

-- ---- results

-- aos's result object for a digest given as a raw string: bytes, lower-case hex, the string.
local function digestResult(raw)
  local r = {}
  function r.asBytes() return stringToArray(raw) end
  function r.asHex() return Hex.stringToHex(raw) end
  function r.asString() return raw end
  return r
end

-- A message given as aos's stream (or, which aos has not, as a string).
local function messageOf(data, what)
  local kind = type(data)
  if kind == 'string' then return data end
  if kind == 'function' then
    local state = fromStringState[data]
    if state then
      -- the rest of the string, and the stream is used up, as reading it byte by byte would leave it
      local rest = state.s:sub(state.i + 1)
      state.i = #state.s + 1
      return rest
    end
    return streamToString(data)
  end
  error(what .. ': expected a stream (a function giving bytes) or a string, got ' .. kind, 3)
end

-- ---- digest

local function notShipped(name)
  return function() error('crypto.' .. name .. ' is not in this process module (see its README)', 2) end
end

local digest = { _version = '0.0.1' }
digest.md2 = notShipped('digest.md2')
digest.md4 = notShipped('digest.md4')
function digest.md5(stream) return digestResult(native.md5(messageOf(stream, 'md5'))) end
function digest.sha1(stream) return digestResult(native.sha1(messageOf(stream, 'sha1'))) end
function digest.sha2_256(stream) return digestResult(native.sha256(messageOf(stream, 'sha2_256'))) end

-- SHA-512 of a string. As in aos, `asBytes` gives the eight 64-bit words (signed integers), not
-- bytes.
function digest.sha2_512(msg)
  local raw = native.sha512(msg)
  local r = digestResult(raw)
  function r.asBytes()
    local words = table.pack(string.unpack('>i8i8i8i8i8i8i8i8', raw))
    words[9], words.n = nil, nil -- string.unpack's last result is the position after the words
    return words
  end
  return r
end

-- SHA-3 and Keccak of a string; aos's results have `asString` and `asHex` only.
local function sponge(rateBytes, outBytes, pad)
  return function(data)
    local raw = native.keccak(data, rateBytes, outBytes, pad)
    return { asString = function() return raw end, asHex = function() return Hex.stringToHex(raw) end }
  end
end
-- FIPS 202's domain byte 0x06; the original Keccak (Ethereum's keccak256) pads with 0x01.
local SHA3_PAD, KECCAK_PAD = 0x06, 0x01
digest.sha3_256 = sponge(136, 32, SHA3_PAD)
digest.sha3_512 = sponge(72, 64, SHA3_PAD)
digest.keccak256 = sponge(136, 32, KECCAK_PAD)
digest.keccak512 = sponge(72, 64, KECCAK_PAD)

-- The most bytes a BLAKE2b digest and key may have (RFC 7693), and the default digest size.
local BLAKE2B_MAX = 64

-- BLAKE2b of a string, `outlen` bytes (default 64) with an optional key. Bad sizes give
-- `nil, 'illegal parameters'`, and `asBytes` gives one-character strings, both as aos.
function digest.blake2b(data, outlen, key)
  outlen = outlen or BLAKE2B_MAX
  key = key or ''
  if outlen < 1 or outlen > BLAKE2B_MAX or #key > BLAKE2B_MAX then return nil, 'illegal parameters' end
  local raw = native.blake2b(data, outlen, key)
  local r = digestResult(raw)
  function r.asBytes()
    local out = {}
    for i = 1, #raw do out[i] = raw:sub(i, i) end
    return out
  end
  return r
end
crypto.digest = digest

-- ---- mac and kdf

-- The digest names createHmac and pbkdf2 take (aos's two), and their names in c/crypto.c.
local PRF = { sha1 = 'sha1', sha256 = 'sha256' }

local function prfOf(algorithm)
  if algorithm == nil then return 'sha1' end
  local name = PRF[algorithm]
  if not name then error('Unsupported algorithm: ' .. tostring(algorithm), 2) end
  return name
end

-- HMAC (RFC 2104) of a stream (or string) with a key given as a byte array; sha1 by default.
local function createHmac(data, key, algorithm)
  local alg = prfOf(algorithm)
  return digestResult(native.hmac(alg, arrayToString(key), messageOf(data, 'createHmac')))
end
crypto.mac = { _version = '0.0.1', createHmac = createHmac }

-- PBKDF2 (RFC 8018): `keyLen` bytes from a password and salt given as byte arrays; sha1 by
-- default. Its hex is upper-case, as aos's.
local function pbkdf2(password, salt, iterations, keyLen, algorithm)
  local alg = prfOf(algorithm)
  local raw = native.pbkdf2(alg, arrayToString(password), arrayToString(salt), iterations, keyLen)
  return {
    asBytes = function() return stringToArray(raw) end,
    asHex = function() return upperHex(raw) end,
    asString = function() return raw end,
  }
end
crypto.kdf = { _version = '0.0.1', pbkdf2 = pbkdf2 }

-- ---- what is not shipped

crypto.cipher = setmetatable({ _version = '0.0.1' }, {
  __index = function(_, name)
    if type(name) ~= 'string' then return nil end
    return setmetatable({}, {
      __index = function(_, fn) return notShipped('cipher.' .. name .. '.' .. tostring(fn)) end,
      __call = notShipped('cipher.' .. name),
    })
  end,
})
crypto.random = notShipped('random')

return crypto
