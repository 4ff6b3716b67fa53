-- Blueprint `chatroom`: members register, and a broadcast goes to every member.
--
--   Register    -> reply "Registered." (or "Already registered.")
--   Unregister  -> reply "Unregistered" (or "Not registered")
--   Broadcast   -> Broadcast-Notice with the Data to each member once; reply "Broadcasted."

Members = Members or {}

local function indexOf(address)
  for i, member in ipairs(Members) do
    if member == address then return i end
  end
end

Handlers.add('register', 'Register', function(msg)
  if indexOf(msg.From) then
    Handlers.utils.reply('Already registered.')(msg)
  else
    table.insert(Members, msg.From)
    Handlers.utils.reply('Registered.')(msg)
  end
end)

Handlers.add('unregister', 'Unregister', function(msg)
  local i = indexOf(msg.From)
  if i then
    table.remove(Members, i)
    Handlers.utils.reply('Unregistered')(msg)
  else
    Handlers.utils.reply('Not registered')(msg)
  end
end)

Handlers.add('broadcast', 'Broadcast', function(msg)
  local sent = {}
  for _, member in ipairs(Members) do
    if not sent[member] then
      ao.send({ Target = member, Action = 'Broadcast-Notice', Data = msg.Data })
      sent[member] = true
    end
  end
  Handlers.utils.reply('Broadcasted.')(msg)
end)
