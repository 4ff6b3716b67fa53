-- A token in a few handlers (the README walks through it; modules/lua/tests/token.rs runs it).
local bint = require('.bint')(256)

Balances = Balances or { [Owner] = '1000' }

Handlers.add('balance', 'Balance', function(msg)
  local account = msg.Recipient or msg.From
  msg.reply({ Account = account, Balance = Balances[account] or '0' })
end)

Handlers.add('transfer', 'Transfer', function(msg)
  local quantity = bint(msg.Quantity)
  local balance = bint(Balances[msg.From] or '0')
  if quantity <= bint(0) or quantity > balance then
    msg.reply({ Action = 'Transfer-Error', Error = 'Insufficient Balance!' })
    return
  end
  Balances[msg.From] = tostring(balance - quantity)
  Balances[msg.Recipient] = tostring(bint(Balances[msg.Recipient] or '0') + quantity)
  msg.reply({ Action = 'Debit-Notice', Recipient = msg.Recipient, Quantity = msg.Quantity })
  Send({ Target = msg.Recipient, Action = 'Credit-Notice', Sender = msg.From, Quantity = msg.Quantity })
end)
