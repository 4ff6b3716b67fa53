-- Blueprint `chat`: the client side of chat rooms (aos's DevChat client), for talking in rooms
-- such as the `chatroom` blueprint's from the console.
--
--   Join(room[, nickname])      Register with a room (an address, or a name from DevChat.Rooms)
--   Say(text[, room])           Broadcast to the room (the last one used when none is given)
--   Leave(room)                 Unregister
--   Replay([depth[, room]])     Ask the room for its last messages (Action Replay, Depth)
--   Tip([recipient[, room[, quantity]]])
--                               Transfer from the room's token to the last sender
--   List()                      Ask DevChat.Router for its rooms (Action Get-List)
--   incoming Broadcasted / Broadcast-Notice are printed as `[nick@room]> text`; a Room-List from
--   the router fills DevChat.Rooms
--
-- The functions, messages and DevChat table of aos's chat blueprint. Differences, because this
-- module runs without the public network: no router or room is preset (aos presets the public
-- DevChat router and joins its Getting-Started room on load), so set `DevChat.Router` before
-- `List()`; and a `Broadcast-Notice` (what the `chatroom` blueprint sends) is printed as well.

DevChat = DevChat or {}
DevChat.Rooms = DevChat.Rooms or {}
DevChat.LastReceive = DevChat.LastReceive or {}
if DevChat.Confirmations == nil then DevChat.Confirmations = true end

function DevChat.findRoom(target)
  for address, name in pairs(DevChat.Rooms) do
    if name == target then return address end
  end
end

local function roomOf(id) return DevChat.findRoom(id) or id end

function DevChat.add(name, address)
  assert(DevChat.Router, 'set DevChat.Router first')
  ao.send({ Target = DevChat.Router, Action = 'Register', Name = name or Name, Address = address or ao.id })
end

function List()
  if not DevChat.Router then return 'No DevChat.Router is set: set it to a room index process first.' end
  ao.send({ Target = DevChat.Router, Action = 'Get-List' })
  return Colors.gray .. 'Getting the room list from the DevChat index...' .. Colors.reset
end

function Join(id, nickname)
  ao.send({ Target = roomOf(id), Action = 'Register', Nickname = nickname or ao.id })
  return Colors.gray .. 'Registering with room ' .. Colors.blue .. id .. Colors.gray .. '...' .. Colors.reset
end

function Say(text, id)
  if id ~= nil then DevChat.LastSend = roomOf(id) end
  assert(DevChat.LastSend, 'Say(text, room): no room given yet')
  ao.send({ Target = DevChat.LastSend, Action = 'Broadcast', Data = text })
  if not DevChat.Confirmations then return '' end
  local name = DevChat.Rooms[DevChat.LastSend] or id or DevChat.LastSend
  return Colors.gray .. 'Broadcasting to ' .. Colors.blue .. name .. Colors.gray .. '...' .. Colors.reset
end

function Leave(id)
  ao.send({ Target = roomOf(id), Action = 'Unregister' })
  return Colors.gray .. 'Leaving room ' .. Colors.blue .. id .. Colors.gray .. '...' .. Colors.reset
end

function Replay(depth, id)
  local room = id and roomOf(id) or DevChat.LastReceive.Room
  assert(room, 'Replay(depth, room): no room given yet')
  depth = depth or 3
  ao.send({ Target = room, Action = 'Replay', Depth = tostring(depth) })
  return Colors.gray .. 'Requested replay of the last ' .. Colors.green .. depth .. Colors.gray
    .. ' messages from ' .. Colors.blue .. (DevChat.Rooms[room] or room) .. Colors.reset .. '.'
end

function Tip(recipient, id, quantity)
  local room = id or DevChat.LastReceive.Room
  recipient = recipient or DevChat.LastReceive.Sender
  assert(room and recipient, 'Tip(recipient, room[, quantity]): nobody to tip yet')
  local qty = tostring(quantity or 1)
  ao.send({ Target = room, Action = 'Transfer', Recipient = recipient, Quantity = qty })
  return Colors.gray .. 'Sent tip of ' .. Colors.green .. qty .. Colors.gray .. ' to ' .. Colors.red
    .. recipient .. Colors.gray .. ' in room ' .. Colors.blue .. (DevChat.Rooms[room] or room)
    .. Colors.gray .. '.'
end

local function show(m, sender, nickname)
  local room = DevChat.Rooms[m.From] or string.sub(m.From, 1, 6)
  if sender == ao.id and DevChat.Confirmations then
    print(Colors.gray .. '[Received confirmation of your broadcast in ' .. Colors.blue .. room
      .. Colors.gray .. '.]' .. Colors.reset)
  end
  local nick = string.sub(nickname or sender or '?', 1, 10)
  if sender ~= nil and sender ~= nickname then nick = nick .. Colors.gray .. '#' .. string.sub(sender, 1, 3) end
  local data = m.Data
  if type(data) ~= 'string' then data = require('json').encode(data) end
  print('[' .. Colors.red .. nick .. Colors.reset .. '@' .. Colors.blue .. room .. Colors.reset .. ']> '
    .. Colors.green .. data .. Colors.reset)
  DevChat.LastReceive.Room = m.From
  DevChat.LastReceive.Sender = sender
end

Handlers.add('DevChat-Broadcasted', Handlers.utils.hasMatchingTag('Action', 'Broadcasted'), function(m)
  show(m, m.Broadcaster, m.Nickname)
end)

Handlers.add('DevChat-Broadcast-Notice', Handlers.utils.hasMatchingTag('Action', 'Broadcast-Notice'), function(m)
  show(m, m.Broadcaster or m.Sender, m.Nickname)
end)

Handlers.add('DevChat-List', function(m)
  return m.Action == 'Room-List' and DevChat.Router ~= nil and m.From == DevChat.Router
end, function(m)
  local rows = {}
  DevChat.Rooms = {}
  for _, t in ipairs(m.TagArray) do
    if t.name:sub(1, 5) == 'Room-' then
      DevChat.Rooms[t.value] = t.name:sub(6)
      rows[#rows + 1] = Colors.blue .. '        ' .. t.name:sub(6) .. Colors.reset
    end
  end
  print('The following rooms are available:\n\n' .. table.concat(rows, '\n')
    .. '\n\nJoin a chat with `Join("name"[, "nickname"])`, leave it with `Leave("name")`.')
end)

return Colors.blue .. 'DevChat client loaded.' .. Colors.reset
  .. ' Join(room[, nickname]), Say(text[, room]), Leave(room), Replay([depth[, room]]), Tip(), List().'
