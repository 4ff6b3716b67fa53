-- Blueprint `staking`: holders of this process's token (the `token` blueprint's Balances) lock
-- part of their balance; an unstaked amount comes back after a delay in blocks. Load it after
-- `token` (`Blueprint('token'); Blueprint('staking')`).
--
--   Stake Quantity    -> moved from Balances to Stakers; reply "Successfully Staked <Q>"
--                        (an error "Insufficient balance to stake" when the balance is short)
--   Unstake Quantity  -> moved from Stakers to Unstaking, released at the stake's height plus
--                        UnstakeDelay; reply "Successfully unstaked <Q>" (an error
--                        "Insufficient staked amount" when the stake is short)
--   Stakers           -> reply: Data = JSON {address: {amount, unstake_at}}
--   every message     -> first, unstakes whose release height is reached go back to Balances
--
-- The same state, handler names and replies as aos's staking blueprint. One difference: Stake and
-- Unstake stop at their handler, where aos lets them go on to the Inbox as unhandled messages.

local bint = require('.bint')(256)
local json = require('json')

Variant = '0.0.4'
Stakers = Stakers or {}
Unstaking = Unstaking or {}
-- About a day of Arweave blocks, aos's value.
UnstakeDelay = UnstakeDelay or 670
Balances = Balances or {}

local function plus(a, b) return tostring(bint(a) + bint(b)) end
local function minus(a, b) return tostring(bint(a) - bint(b)) end

local function answer(msg, text)
  if msg.reply then msg.reply({ Data = text }) else Send({ Target = msg.From, Data = text }) end
end

Handlers.stake = function(msg)
  local q = msg.Tags.Quantity
  local have = Balances[msg.From]
  assert(have ~= nil and bint(have) >= bint(q), 'Insufficient balance to stake')
  Balances[msg.From] = minus(have, q)
  local staker = Stakers[msg.From] or { amount = '0' }
  staker.amount = plus(staker.amount, q)
  staker.unstake_at = tonumber(msg['Block-Height']) + UnstakeDelay
  Stakers[msg.From] = staker
  print('Successfully Staked ' .. q)
  answer(msg, 'Successfully Staked ' .. q)
end

Handlers.unstake = function(msg)
  local q = msg.Tags.Quantity
  local staker = Stakers[msg.From]
  assert(staker ~= nil and bint(staker.amount) >= bint(q), 'Insufficient staked amount')
  staker.amount = minus(staker.amount, q)
  Unstaking[msg.From] = { amount = q, release_at = staker.unstake_at }
  answer(msg, 'Successfully unstaked ' .. q)
end

-- Runs on every message and lets it go on.
local function release(msg)
  local height = tonumber(msg['Block-Height'])
  for address, pending in pairs(Unstaking) do
    if pending.release_at == nil or (height ~= nil and height >= pending.release_at) then
      Balances[address] = plus(Balances[address] or '0', pending.amount)
      Unstaking[address] = nil
    end
  end
end

Handlers.add('staking.balances', 'Stakers', function(msg) answer(msg, json.encode(Stakers)) end)
Handlers.add('staking.stake', 'Stake', Handlers.stake)
Handlers.add('staking.unstake', 'Unstake', Handlers.unstake)
Handlers.prepend('staking.finalize', function() return 'continue' end, release)
