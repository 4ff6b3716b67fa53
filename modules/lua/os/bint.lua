-- `require('.bint')(bits)`: exact integers of any size, for token balances and other amounts too
-- big for a 64-bit integer or a double.
--
-- The API is the one aos processes use (`bint(x)`, `bint.new`, `bint.tonumber`, `bint.tostring`,
-- `bint.zero`, `bint.__lt`, `+ - * // % ^ == < <=`, `tostring`). One deliberate difference: aos's
-- bint has `bits` bits and silently wraps around past 2^bits, so an overflowing balance becomes a
-- small or negative one. Here numbers never wrap; `bits` is accepted for compatibility and
-- ignored.
--
-- A number is a sign and a little-endian array of base-10^7 limbs (a product of two limbs plus a
-- carry fits a Lua integer with room to spare, and printing in decimal is cheap).

local BASE = 10000000
local DIGITS = 7

local bint = {}
bint.__index = bint

local function make(neg, limbs)
  local n = #limbs
  while n > 0 and limbs[n] == 0 do limbs[n] = nil; n = n - 1 end
  limbs.neg = neg and n > 0
  return setmetatable(limbs, bint)
end

local function isbint(x) return getmetatable(x) == bint end

local function fromString(s)
  local sign, digits = s:match('^%s*([+-]?)(%d+)%s*$')
  -- aos's words, which a token's error reply shows.
  if not digits then error('value cannot be represented by a bint', 0) end
  local limbs = {}
  for i = #digits, 1, -DIGITS do
    limbs[#limbs + 1] = tonumber(digits:sub(math.max(1, i - DIGITS + 1), i))
  end
  return make(sign == '-', limbs)
end

-- A bint from a bint, an integer, an integral float or a decimal string.
function bint.new(x)
  if isbint(x) then return x end
  local kind = math.type(x)
  if kind == 'integer' then return fromString(tostring(x)) end
  if kind == 'float' then
    if x ~= x or x == math.huge or x == -math.huge or x ~= math.floor(x) then
      error('value cannot be represented by a bint', 0)
    end
    return fromString(string.format('%.0f', x))
  end
  if type(x) == 'string' then return fromString(x) end
  error('value cannot be represented by a bint', 0)
end

bint.fromvalue = bint.new
bint.frominteger = bint.new
bint.fromstring = fromString
bint.isbint = isbint

function bint.zero() return make(false, {}) end
function bint.one() return make(false, { 1 }) end

local function cmpMag(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end

local function addMag(a, b)
  local out, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local s = (a[i] or 0) + (b[i] or 0) + carry
    out[i], carry = s % BASE, s // BASE
  end
  if carry > 0 then out[#out + 1] = carry end
  return out
end

-- |a| - |b| for |a| >= |b|.
local function subMag(a, b)
  local out, borrow = {}, 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then s, borrow = s + BASE, 1 else borrow = 0 end
    out[i] = s
  end
  return out
end

local function mulMag(a, b)
  local out = {}
  for i = 1, #a + #b do out[i] = 0 end
  for i = 1, #a do
    local carry, ai = 0, a[i]
    for j = 1, #b do
      local t = out[i + j - 1] + ai * b[j] + carry
      out[i + j - 1], carry = t % BASE, t // BASE
    end
    local k = i + #b
    while carry > 0 do
      local t = out[k] + carry
      out[k], carry = t % BASE, t // BASE
      k = k + 1
    end
  end
  return out
end

local function mulSmall(a, m)
  local out, carry = {}, 0
  for i = 1, #a do
    local t = a[i] * m + carry
    out[i], carry = t % BASE, t // BASE
  end
  while carry > 0 do out[#out + 1], carry = carry % BASE, carry // BASE end
  return out
end

local function trim(t)
  while #t > 0 and t[#t] == 0 do t[#t] = nil end
  return t
end

-- Truncating division of magnitudes: quotient, remainder.
local function divmodMag(a, b)
  if #b == 0 then error('bint: division by zero', 3) end
  if #b == 1 then
    local q, r, d = {}, 0, b[1]
    for i = #a, 1, -1 do
      local cur = r * BASE + a[i]
      q[i], r = cur // d, cur % d
    end
    return trim(q), r > 0 and { r } or {}
  end
  local q, rem = {}, {}
  for i = #a, 1, -1 do
    table.insert(rem, 1, a[i])
    trim(rem)
    -- The largest digit d with b * d <= rem, by bisection.
    local lo, hi = 0, BASE - 1
    while lo < hi do
      local mid = (lo + hi + 1) // 2
      if cmpMag(trim(mulSmall(b, mid)), rem) <= 0 then lo = mid else hi = mid - 1 end
    end
    q[i] = lo
    if lo > 0 then rem = trim(subMag(rem, trim(mulSmall(b, lo)))) end
  end
  return trim(q), rem
end

local function add(a, b)
  a, b = bint.new(a), bint.new(b)
  if a.neg == b.neg then return make(a.neg, addMag(a, b)) end
  if cmpMag(a, b) >= 0 then return make(a.neg, subMag(a, b)) end
  return make(b.neg, subMag(b, a))
end

function bint.__unm(a)
  a = bint.new(a)
  local out = {}
  for i = 1, #a do out[i] = a[i] end
  return make(not a.neg, out)
end

bint.__add = add
function bint.__sub(a, b) return add(a, bint.__unm(b)) end

function bint.__mul(a, b)
  a, b = bint.new(a), bint.new(b)
  return make(a.neg ~= b.neg, mulMag(a, b))
end

-- Floor division and modulo, as Lua's `//` and `%` on integers.
function bint.fdivmod(a, b)
  a, b = bint.new(a), bint.new(b)
  local q, r = divmodMag(a, b)
  local quotient, remainder = make(a.neg ~= b.neg, q), make(a.neg, r)
  if #remainder > 0 and a.neg ~= b.neg then
    quotient = quotient - 1
    remainder = remainder + b
  end
  return quotient, remainder
end

function bint.__idiv(a, b) return (bint.fdivmod(a, b)) end
function bint.__mod(a, b) return select(2, bint.fdivmod(a, b)) end

-- Division with `/` gives a float, as it does for Lua integers.
function bint.__div(a, b) return bint.tonumber(a) / bint.tonumber(b) end

-- a ^ n for an integer n >= 0 (exact).
function bint.ipow(a, n)
  a = bint.new(a)
  n = math.tointeger(bint.tonumber(n))
  assert(n and n >= 0, 'bint: the exponent must be a non-negative integer')
  local result = bint.one()
  while n > 0 do
    if n & 1 == 1 then result = result * a end
    a = a * a
    n = n >> 1
  end
  return result
end
bint.__pow = bint.ipow

local function compare(a, b)
  a, b = bint.new(a), bint.new(b)
  if a.neg ~= b.neg then return a.neg and -1 or 1 end
  local c = cmpMag(a, b)
  return a.neg and -c or c
end

function bint.__eq(a, b) return compare(a, b) == 0 end
function bint.__lt(a, b) return compare(a, b) < 0 end
function bint.__le(a, b) return compare(a, b) <= 0 end
bint.eq, bint.lt, bint.le = bint.__eq, bint.__lt, bint.__le

function bint.max(a, b) return compare(a, b) >= 0 and bint.new(a) or bint.new(b) end
function bint.min(a, b) return compare(a, b) <= 0 and bint.new(a) or bint.new(b) end

function bint.iszero(a) return #bint.new(a) == 0 end
function bint.isneg(a) return bint.new(a).neg end
function bint.ispos(a) a = bint.new(a); return #a > 0 and not a.neg end
function bint.abs(a) a = bint.new(a); return a.neg and -a or a end

function bint.tostring(a)
  a = bint.new(a)
  if #a == 0 then return '0' end
  local parts = { tostring(a[#a]) }
  for i = #a - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', a[i]) end
  return (a.neg and '-' or '') .. table.concat(parts)
end
bint.__tostring = bint.tostring

local BASE_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'

-- The text of `a` in `base` (2 to 36, lower-case digits), as aos's bint `tobase`.
function bint.tobase(a, base)
  a = bint.new(a)
  base = base or 10
  assert(math.type(base) == 'integer' and base >= 2 and base <= 36, 'base must be an integer from 2 to 36')
  if base == 10 then return bint.tostring(a) end
  local neg = a.neg
  local n = neg and -a or a
  local b = bint.new(base)
  local out = {}
  while not bint.iszero(n) do
    local q, r = bint.fdivmod(n, b)
    local d = bint.tonumber(r)
    out[#out + 1] = BASE_DIGITS:sub(d + 1, d + 1)
    n = q
  end
  if #out == 0 then return '0' end
  return (neg and '-' or '') .. string.reverse(table.concat(out))
end

-- A Lua integer when it fits in 64 bits, else the nearest float.
function bint.tonumber(a)
  if type(a) == 'number' then return a end
  return math.tointeger(tonumber(bint.tostring(a))) or tonumber(bint.tostring(a))
end

function bint.__concat(a, b) return tostring(a) .. tostring(b) end

-- `require('.bint')(256)` returns the class, which is itself callable: `bint(x)`.
return function(_bits)
  return setmetatable(bint, { __call = function(_, x) return bint.new(x) end })
end
