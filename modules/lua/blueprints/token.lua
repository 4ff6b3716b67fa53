-- Blueprint `token`: the ao Standard Token on this process (load with `Blueprint('token')` or the
-- console's `.load-blueprint token`). Balances are exact (bint) decimal strings.
--
--   Info                      -> reply: Name, Ticker, Logo, Denomination, Total-Supply
--   Balance [Recipient|Target]-> reply: Balance, Ticker, Account; Data = the balance
--   Balances                  -> reply: Data = JSON {address: balance}
--   Transfer Recipient Quantity [Cast] [X-*]
--                             -> Debit-Notice to the sender, Credit-Notice to the recipient
--                                (X-* tags copied onto both; none when Cast is set), or
--                                Transfer-Error with Error and Message-Id
--   Mint Quantity             -> by the process or its Owner: added to the process's balance;
--                                anyone else gets Mint-Error
--   Total-Supply              -> reply: Data = the supply
--
-- Differences from aos's blueprint, each because the aos behaviour loses information: an invalid
-- Transfer or Mint (missing Recipient, a Quantity that is not a positive integer) is answered
-- with Transfer-Error / Mint-Error instead of failing the whole message with no reply; the Owner
-- may mint as well as the process itself; no HyperBEAM `patch@1.0` message without a Target is
-- sent after each transfer.

local bint = require('.bint')(256)
local json = require('json')

Variant = '0.0.3'
Denomination = Denomination or 12
Balances = Balances or { [ao.id] = tostring(bint(10000) * bint.ipow(10, Denomination)) }
TotalSupply = TotalSupply or tostring(bint(10000) * bint.ipow(10, Denomination))
Name = (Name ~= nil and Name ~= 'aos') and Name or 'Points Coin'
Ticker = Ticker or 'PNTS'
Logo = Logo or 'SBCCXwwecBlDqRLUjb8dYABExTJXLieawf7m2aBJ-KY'

-- A positive integer quantity, or nil and why not.
local function quantity(q)
  if type(q) ~= 'string' then return nil, 'Quantity is required!' end
  local ok, n = pcall(bint, q)
  if not ok then return nil, 'Quantity must be an integer, not ' .. q end
  if not bint.__lt(0, n) then return nil, 'Quantity must be greater than 0' end
  return n
end

Handlers.add('info', Handlers.utils.hasMatchingTag('Action', 'Info'), function(msg)
  msg.reply({
    Name = Name,
    Ticker = Ticker,
    Logo = Logo,
    Denomination = tostring(Denomination),
    ['Total-Supply'] = TotalSupply,
  })
end)

Handlers.add('balance', Handlers.utils.hasMatchingTag('Action', 'Balance'), function(msg)
  local account = msg.Tags.Recipient or msg.Tags.Target or msg.From
  local balance = Balances[account] or '0'
  msg.reply({ Balance = balance, Ticker = Ticker, Account = account, Data = balance })
end)

Handlers.add('balances', Handlers.utils.hasMatchingTag('Action', 'Balances'), function(msg)
  msg.reply({ Data = json.encode(Balances) })
end)

Handlers.add('transfer', Handlers.utils.hasMatchingTag('Action', 'Transfer'), function(msg)
  local qty, why = quantity(msg.Quantity)
  if type(msg.Recipient) ~= 'string' or msg.Recipient == '' then why = 'Recipient is required!' end
  if why == nil and bint(Balances[msg.From] or '0') < qty then why = 'Insufficient Balance!' end
  if why ~= nil then
    msg.reply({ Action = 'Transfer-Error', ['Message-Id'] = msg.Id, Error = why })
    return
  end
  Balances[msg.From] = tostring(bint(Balances[msg.From]) - qty)
  Balances[msg.Recipient] = tostring(bint(Balances[msg.Recipient] or '0') + qty)
  if msg.Cast then return end
  local debit = {
    Action = 'Debit-Notice',
    Recipient = msg.Recipient,
    Quantity = msg.Quantity,
    Data = Colors.gray .. 'You transferred ' .. Colors.blue .. msg.Quantity .. Colors.gray .. ' to '
      .. Colors.green .. msg.Recipient .. Colors.reset,
  }
  local credit = {
    Target = msg.Recipient,
    Action = 'Credit-Notice',
    Sender = msg.From,
    Quantity = msg.Quantity,
    Data = Colors.gray .. 'You received ' .. Colors.blue .. msg.Quantity .. Colors.gray .. ' from '
      .. Colors.green .. msg.From .. Colors.reset,
  }
  for name, value in pairs(msg) do
    if type(name) == 'string' and name:sub(1, 2) == 'X-' then
      debit[name] = value
      credit[name] = value
    end
  end
  msg.reply(debit)
  Send(credit)
end)

Handlers.add('mint', Handlers.utils.hasMatchingTag('Action', 'Mint'), function(msg)
  if msg.From ~= ao.id and msg.From ~= Owner then
    msg.reply({ Action = 'Mint-Error', ['Message-Id'] = msg.Id,
      Error = 'Only the Process Id or its Owner can mint new ' .. Ticker .. ' tokens!' })
    return
  end
  local qty, why = quantity(msg.Quantity)
  if why ~= nil then
    msg.reply({ Action = 'Mint-Error', ['Message-Id'] = msg.Id, Error = why })
    return
  end
  Balances[ao.id] = tostring(bint(Balances[ao.id] or '0') + qty)
  TotalSupply = tostring(bint(TotalSupply) + qty)
  msg.reply({ Data = Colors.gray .. 'Successfully minted ' .. Colors.blue .. msg.Quantity .. Colors.reset })
end)

Handlers.add('totalSupply', Handlers.utils.hasMatchingTag('Action', 'Total-Supply'), function(msg)
  assert(msg.From ~= ao.id, 'Cannot call Total-Supply from the same process!')
  msg.reply({ Action = 'Total-Supply', Data = TotalSupply, Ticker = Ticker })
end)
