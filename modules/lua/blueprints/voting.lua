-- Blueprint `voting`: stakers (the `staking` blueprint's Stakers) vote on a proposal with the
-- weight of their stake; when its deadline (a block height) passes, the proposal is settled.
-- Load it after `staking`.
--
--   Vote Target Side Deadline -> adds the voter's stake to Votes[Target][Side] (Side is `yay` or
--                                `nay`); the first vote sets the deadline, Deadline blocks on
--                                (an error "No staked tokens to vote" without a stake)
--   every message             -> proposals whose deadline is reached are settled: "Handle Vote"
--                                is printed when yay outweighs nay, and the record is removed
--
-- The same state (`Votes[target] = {yay, nay, deadline}`) and handler names as aos's voting
-- blueprint. One difference: aos compares the stake (a decimal string, as staking keeps it) with
-- the number 0, which is an error for every vote; here the weights are exact integers (bint), and
-- yay and nay are kept as decimal strings.

local bint = require('.bint')(256)

Balances = Balances or {}
Stakers = Stakers or {}
Votes = Votes or {}

Handlers.vote = function(msg)
  local staker = Stakers[msg.From]
  local weight = bint(staker and staker.amount or '0')
  assert(weight > bint(0), 'No staked tokens to vote')
  local target, side = msg.Tags.Target, msg.Tags.Side
  assert(side == 'yay' or side == 'nay', 'Side must be yay or nay')
  local deadline = tonumber(msg['Block-Height']) + tonumber(msg.Tags.Deadline)
  local record = Votes[target] or { yay = '0', nay = '0', deadline = deadline }
  record[side] = tostring(bint(record[side]) + weight)
  Votes[target] = record
end

local function settle(msg)
  local height = tonumber(msg['Block-Height'])
  if height == nil then return end
  for target, record in pairs(Votes) do
    if height >= record.deadline then
      if bint(record.yay) > bint(record.nay) then print('Handle Vote') end
      Votes[target] = nil
    end
  end
end

Handlers.add('vote', Handlers.utils.continue(Handlers.utils.hasMatchingTag('Action', 'Vote')), Handlers.vote)
Handlers.add('finalize', function() return 'continue' end, settle)
