-- Blueprint `arena`: the game-server skeleton of aos's arena blueprint. Players register, pay the
-- entry fee in PaymentToken (its Credit-Notice marks them ready), the game runs for GameTime, and
-- the players left at the end share the bonus; a game builds on it by setting PlayerInitState,
-- onTick and calling eliminatePlayer.
--
--   Register [Mode=Listen]  -> Registered; the sender listens to announcements (and, without
--                              Mode=Listen, waits to play)
--   Unregister              -> Unregistered; no more announcements
--   Credit-Notice from PaymentToken with Quantity >= PaymentQty
--                           -> Payment-Received to the Sender; the Sender is ready to play
--   Reason=AddBet           -> BonusQty grows by Quantity
--   GetGameState            -> GameState: Data = JSON {GameMode, TimeRemaining, Players}
--   Tick                    -> an announcement of the time left
--   RequestTokens           -> a Transfer of 10000 * UNIT from this process to the sender
--   every message           -> first, the clock: Not-Started -> Waiting (WaitTime) -> Playing
--                              (GameTime, only with MinimumPlayers paid, else refunds and wait
--                              again) -> the game ends, winners are paid, and it waits again
-- Announcements go to every listener as `Action = Announcement, Event, Data`.
--
-- The state, functions, handler names and messages of aos's arena. Differences: the time is the
-- message's Timestamp as a number (aos compares the text with numbers, so its clock fails on
-- every message from a CU that gives Timestamp as text); players are visited in sorted order, so
-- the messages of one step come in the same order on every CU; rewards are whole token units.

local json = require('json')

GameMode = GameMode or 'Not-Started'
StateChangeTime = StateChangeTime or nil
-- aos's defaults: 2 minutes to gather players, 20 minutes of play (milliseconds).
WaitTime = WaitTime or 2 * 60 * 1000
GameTime = GameTime or 20 * 60 * 1000
Now = Now or nil
UNIT = 1000
PaymentToken = PaymentToken or 'ADDR'
PaymentQty = PaymentQty or tostring(math.floor(UNIT))
BonusQty = BonusQty or tostring(math.floor(UNIT))
Waiting = Waiting or {}
Players = Players or {}
Winners = 0
Listeners = Listeners or {}
MinimumPlayers = MinimumPlayers or 2
PlayerInitState = PlayerInitState or function() return {} end

local function sorted(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

function announce(event, description)
  for _, address in ipairs(Listeners) do
    ao.send({ Target = address, Action = 'Announcement', Event = event, Data = description })
  end
  return print(Colors.gray .. 'Announcement: ' .. Colors.red .. event .. ' ' .. Colors.blue .. description .. Colors.reset)
end

function sendReward(recipient, qty, reason)
  qty = tostring(math.floor(tonumber(qty)))
  ao.send({ Target = PaymentToken, Action = 'Transfer', Quantity = qty, Recipient = recipient, Reason = reason })
  return print(Colors.gray .. 'Sent Reward: ' .. Colors.blue .. qty .. Colors.gray .. ' tokens to '
    .. Colors.green .. recipient .. ' ' .. Colors.blue .. reason .. Colors.reset)
end

function removeListener(listener)
  for i, v in ipairs(Listeners) do
    if v == listener then
      table.remove(Listeners, i)
      return
    end
  end
end

function startWaitingPeriod()
  GameMode = 'Waiting'
  StateChangeTime = Now + WaitTime
  announce('Started-Waiting-Period', 'The game is about to begin! Send your token to take part.')
  print('Starting Waiting Period')
end

function startGamePeriod()
  local paid = 0
  for _, hasPaid in pairs(Waiting) do
    if hasPaid then paid = paid + 1 end
  end
  if paid < MinimumPlayers then
    announce('Not-Enough-Players', 'Not enough players registered! Restarting...')
    for _, player in ipairs(sorted(Waiting)) do
      if Waiting[player] then
        Waiting[player] = false
        sendReward(player, PaymentQty, 'Refund')
      end
    end
    startWaitingPeriod()
    return
  end
  LastTick = nil
  GameMode = 'Playing'
  StateChangeTime = Now + GameTime
  for _, player in ipairs(sorted(Waiting)) do
    if Waiting[player] then
      Players[player] = PlayerInitState()
    else
      ao.send({ Target = player, Action = 'Ejected', Reason = 'Did-Not-Pay' })
      removeListener(player)
    end
  end
  announce('Started-Game', 'The game has started. Good luck!')
  print('Game Started....')
end

function endGame()
  print('Game Over')
  Winners = 0
  for _ in pairs(Players) do Winners = Winners + 1 end
  local share = Winners > 0 and math.floor(tonumber(BonusQty) / Winners) or 0
  for _, player in ipairs(sorted(Players)) do
    sendReward(player, share + tonumber(PaymentQty), 'Win')
    Waiting[player] = false
  end
  Players = {}
  announce('Game-Ended', 'Congratulations! The game has ended. Remaining players at conclusion: ' .. Winners .. '.')
  startWaitingPeriod()
end

function eliminatePlayer(eliminated, eliminator)
  sendReward(eliminator, PaymentQty, 'Eliminated-Player')
  Waiting[eliminated] = false
  Players[eliminated] = nil
  ao.send({ Target = eliminated, Action = 'Eliminated', Eliminator = eliminator })
  announce('Player-Eliminated', eliminated .. ' was eliminated by ' .. eliminator .. '!')
  local left = 0
  for _ in pairs(Players) do left = left + 1 end
  print('Eliminating player: ' .. eliminated .. ' by: ' .. eliminator)
  if left < MinimumPlayers then endGame() end
end

Handlers.add('Game-State-Timers', function() return 'continue' end, function(msg)
  Now = tonumber(msg.Timestamp)
  if GameMode == 'Not-Started' then
    startWaitingPeriod()
  elseif GameMode == 'Waiting' then
    if Now > StateChangeTime then startGamePeriod() end
  elseif GameMode == 'Playing' then
    if type(onTick) == 'function' then onTick() end
    if Now > StateChangeTime then endGame() end
  end
end)

Handlers.add('Transfer', function(msg)
  return msg.Action == 'Credit-Notice' and msg.From == PaymentToken
    and (tonumber(msg.Quantity) or 0) >= tonumber(PaymentQty) and 'continue'
end, function(msg)
  Waiting[msg.Sender] = true
  ao.send({ Target = msg.Sender, Action = 'Payment-Received' })
  announce('Player-Ready', msg.Sender .. ' is ready to play!')
end)

Handlers.add('Register', Handlers.utils.hasMatchingTag('Action', 'Register'), function(msg)
  if msg.Mode ~= 'Listen' and Waiting[msg.From] == nil then Waiting[msg.From] = false end
  removeListener(msg.From)
  table.insert(Listeners, msg.From)
  ao.send({ Target = msg.From, Action = 'Registered' })
  announce('New Player Registered', msg.From .. ' has joined in waiting.')
end)

Handlers.add('Unregister', Handlers.utils.hasMatchingTag('Action', 'Unregister'), function(msg)
  removeListener(msg.From)
  ao.send({ Target = msg.From, Action = 'Unregistered' })
end)

Handlers.add('AddBet', Handlers.utils.hasMatchingTag('Reason', 'AddBet'), function(msg)
  BonusQty = tostring(math.floor(tonumber(BonusQty) + tonumber(msg.Tags.Quantity)))
  announce('Bet-Added', msg.From .. 'has placed a bet. ' .. 'BonusQty amount increased by ' .. msg.Tags.Quantity .. '!')
end)

Handlers.add('GetGameState', Handlers.utils.hasMatchingTag('Action', 'GetGameState'), function(msg)
  ao.send({ Target = msg.From, Action = 'GameState',
    Data = json.encode({ GameMode = GameMode, TimeRemaining = StateChangeTime - Now, Players = Players }) })
end)

Handlers.add('AnnounceTick', Handlers.utils.hasMatchingTag('Action', 'Tick'), function()
  local left = StateChangeTime - Now
  if GameMode == 'Waiting' then
    announce('Tick', 'The game will start in ' .. (left / 1000) .. ' seconds.')
  elseif GameMode == 'Playing' then
    announce('Tick', 'The game will end in ' .. (left / 1000) .. ' seconds.')
  end
end)

Handlers.add('RequestTokens', Handlers.utils.hasMatchingTag('Action', 'RequestTokens'), function(msg)
  print('Transfering Tokens: ' .. tostring(math.floor(10000 * UNIT)))
  ao.send({ Target = ao.id, Action = 'Transfer', Quantity = tostring(math.floor(10000 * UNIT)), Recipient = msg.From })
end)
