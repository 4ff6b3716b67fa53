-- The process: what happens to one message, from the CU's JSON to the reply.
--
--   process.handle(msg, env)
--     1. ao.init(env): identity, authorities, an empty outbox
--     2. the message is normalised: tag names title-cased, tags copied onto the message
--        (`msg.Action`), `msg.Tags` becomes a name -> value map (`msg.TagArray` keeps the list),
--        JSON Data decoded when `Content-Type` says so
--     3. on the process's own message (the first one): Owner, Name, On-Boot
--     4. the trust rule (ao.isTrusted) and the assignment rule (ao.isAssignable); a message that
--        fails either is dropped with a line in Output
--     5. Handlers.evaluate in a coroutine, so a handler can wait in `Receive`
--     6. the reply: the outbox, `Output = {data = <printed lines>, prompt = Prompt(), print}`,
--        or `Error` (the CU then rolls the memory back)
--
-- The globals an aos process expects are defined here: Owner, Name, Inbox, Handlers, Send, Spawn,
-- Assign, Receive, Prompt, print, Colors, Tab, Errors, Version, Blueprint, Dump.

local json = require('json')
local stringify = require('.stringify')
local utils = require('.utils')

local process = { _version = '0.1.0' }

local systemTime = os.time

-- The most messages the Inbox keeps; older ones are dropped first (as aos).
local MAX_INBOX = 10000

Colors = {
  red = '\27[31m',
  green = '\27[32m',
  blue = '\27[34m',
  reset = '\27[0m',
  gray = '\27[90m',
}
Bell = '\x07'

ao = require('.ao')
Utils = utils
Dump = require('.dump')
Handlers = require('.handlers')
Inbox = {}
Errors = {}

-- Lines printed while handling the current message; they become Output.data.
local printed = {}

-- The value a message was sent to this process with, as a name -> first value map.
function Tab(msg)
  local tags = {}
  for _, t in ipairs(msg.Tags) do
    if tags[t.name] == nil then tags[t.name] = t.value end
  end
  return tags
end

function Prompt()
  return Colors.green .. (Name or 'aos') .. Colors.gray .. '@' .. Colors.blue .. 'ao-rs-' .. process._version
    .. Colors.gray .. '[Inbox:' .. Colors.red .. tostring(#Inbox) .. Colors.gray .. ']' .. Colors.reset .. '> '
end

function print(v)
  if type(v) == 'table' then
    v = stringify.format(v)
  elseif type(v) == 'boolean' then
    v = Colors.blue .. tostring(v) .. Colors.reset
  elseif type(v) == 'nil' then
    v = Colors.red .. 'nil' .. Colors.reset
  elseif type(v) == 'number' then
    v = Colors.green .. tostring(v) .. Colors.reset
  else
    v = tostring(v)
  end
  printed[#printed + 1] = v
end

function Version()
  print('version: ' .. process._version)
end

-- Queue a message (`msg.Target` is the receiver; other keys become tags).
function Send(msg)
  if not msg.Target then
    print('WARN: No target specified for message. Data will be stored, but no process will receive it.')
  end
  local sent = ao.send(msg)
  return { output = 'Message added to outbox', receive = sent.receive, onReply = sent.onReply }
end

-- Spawn(msg) with this process's module, or Spawn(module, msg).
function Spawn(...)
  local module, msg
  if select('#', ...) == 1 then module, msg = ao._module, select(1, ...) else module, msg = ... end
  local spawned = ao.spawn(module, msg or {})
  return { output = 'Spawn process request added to outbox', receive = spawned.receive }
end

function Assign(assignment)
  ao.assign(assignment)
  print('Assignment added to outbox.')
  return 'Assignment added to outbox.'
end

-- Wait (inside a handler or Eval) for a message matching `pattern`, and return it.
function Receive(pattern)
  return Handlers.receive(pattern)
end

-- Run a blueprint shipped in the module (`Blueprint('token')`, `Blueprint('chatroom')`): the same
-- source as `.load-blueprint NAME` sends, so it can be loaded without the network.
function Blueprint(name)
  local loader = package.preload['.blueprints.' .. tostring(name)]
  if not loader then error('no blueprint named ' .. tostring(name), 2) end
  loader()
  return 'Loaded blueprint ' .. name
end

local function insertInbox(msg)
  table.insert(Inbox, msg)
  while #Inbox > MAX_INBOX do table.remove(Inbox, 1) end
end

local function short(id)
  return id and (id:sub(1, 3) .. '...' .. id:sub(-3)) or 'unknown'
end

-- A message no handler took goes to the Inbox with a line in Output (an `Info` too, as in aos).
local function default(msg)
  insertInbox(msg)
  local text = Colors.gray .. 'New Message From ' .. Colors.green .. short(msg.From) .. Colors.gray .. ': '
  if msg.Action then
    text = text .. Colors.gray .. 'Action = ' .. Colors.blue .. msg.Action:sub(1, 20) .. Colors.reset
  else
    local data = msg.Data
    if type(data) == 'table' then data = json.encode(data) end
    text = text .. Colors.gray .. 'Data = ' .. Colors.blue .. tostring(data or ''):sub(1, 20) .. Colors.reset
  end
  print(text)
end

-- The Eval action: run msg.Data as Lua (as an expression first, so `1 + 1` prints 2); its value
-- is printed. As in aos: a syntax error is the reply's Error as it is, and so is a second value
-- returned (`return nil, 'why'`); a runtime error reaches Error through the handler's failure.
local function eval(msg)
  local code = msg.Data
  if type(code) ~= 'string' then error('Eval: Data must be Lua source', 0) end
  local fn, err = load('return ' .. code, 'aos', 't', _G)
  if not fn then fn, err = load(code, 'aos', 't', _G) end
  if not fn then
    ao.outbox.Error = err
    return
  end
  local out, second = fn()
  if second then
    ao.outbox.Error = second
    return
  end
  if out ~= nil then
    printed[#printed + 1] = type(out) == 'table' and stringify.format(out) or tostring(out)
  end
end

local function findTag(tags, name)
  for _, t in ipairs(tags) do
    if t.name == name then return t.value end
  end
end

-- The process's own message (`_boot`, run once, as aos): its On-Boot code.
local function runOnBoot(msg)
  local onBoot = msg.Tags['On-Boot']
  if onBoot == 'Data' then
    eval(msg)
  elseif onBoot ~= nil then
    print('On-Boot: loading code from transaction ' .. onBoot .. ' needs WeaveDrive, which this module has not')
  end
end

-- The process's own message: whose process it is, its name, the random seed.
local function boot(msg, env)
  if Owner == nil then Owner = findTag(env.Process.TagArray, 'From-Process') or msg.From end
  if Name == nil then Name = findTag(env.Process.TagArray, 'Name') or 'aos' end
  -- The same seed on every CU: the process id's bytes.
  local seed = 0
  for i = 1, #env.Process.Id do seed = (seed * 31 + env.Process.Id:byte(i)) % 2147483647 end
  math.randomseed(seed)
end

-- aos's handler error lines: what failed, the error, and where (the traceback less its last three
-- lines, which are the OS's own frames).
local function withoutLastThreeLines(text)
  local list = {}
  for line in text:gmatch('([^\n]*)\n?') do list[#list + 1] = line end
  for _ = 1, 3 do table.remove(list) end
  return table.concat(list, '\n')
end

local function normalize(msg)
  for key, value in pairs(msg) do
    local name = utils.normalize(key)
    if name ~= key and msg[name] == nil then
      msg[key] = nil
      msg[name] = value
    end
  end
  msg.Tags = msg.Tags or {}
  for _, t in ipairs(msg.Tags) do
    if type(t.name) == 'string' then t.name = utils.normalize(t.name) end
  end
  ao.normalize(msg)
  msg.TagArray = msg.Tags
  msg.Tags = Tab(msg)
  return msg
end

local function lines()
  return table.concat(printed, '\n')
end

-- Resume-safe bookkeeping: keep waiting coroutines reachable, forget finished ones.
local function track(co)
  if coroutine.status(co) ~= 'dead' then table.insert(Handlers.coroutines, co) end
  for i = #Handlers.coroutines, 1, -1 do
    if coroutine.status(Handlers.coroutines[i]) == 'dead' then table.remove(Handlers.coroutines, i) end
  end
end

function process.handle(msg, env)
  ao.init(env)
  printed = {}
  msg = normalize(msg)
  env.Process.TagArray = env.Process.Tags
  env.Process.Tags = Tab(env.Process)
  -- As aos: the time is the message's (in milliseconds); `os.time(table)` still converts dates.
  os.time = function(t)
    if t ~= nil then return systemTime(t) end
    return msg.Timestamp
  end
  if msg.Tags['Content-Type'] == 'application/json' and type(msg.Data) == 'string' then
    local ok, decoded = pcall(json.decode, msg.Data ~= '' and msg.Data or '{}')
    if ok then msg.Data = decoded end
  end

  if msg.Id == env.Process.Id then boot(msg, env) end

  if msg.From ~= msg.Owner and not ao.isTrusted(msg) then
    if msg.From ~= ao.id then Send({ Target = msg.From, Data = 'Message is not trusted by this process!' }) end
    print('Message is not trusted! From: ' .. tostring(msg.From) .. ' - Owner: ' .. tostring(msg.Owner))
    return ao.result({ Output = { data = lines(), prompt = Prompt(), print = true } })
  end
  if ao.isAssignment(msg) and not ao.isAssignable(msg) then
    if msg.From ~= ao.id then Send({ Target = msg.From, Data = 'Assignment is not trusted by this process!' }) end
    print('Assignment is not trusted! From: ' .. tostring(msg.From) .. ' - Owner: ' .. tostring(msg.Owner))
    return ao.result({ Output = { data = lines(), prompt = Prompt(), print = true } })
  end

  -- Put back every message: a process may remove them, but never for longer than one message.
  Handlers.add('_eval', function(m) return m.Action == 'Eval' and Owner == m.From end, eval)
  Handlers.once('_boot', function(m) return m.Tags.Type == 'Process' and Owner == m.From end, runOnBoot)
  Handlers.append('_default', function() return true end, default)

  msg.reply = function(reply)
    reply.Target = msg['Reply-To'] or reply.Target or msg.From
    reply['X-Reference'] = msg['X-Reference'] or msg.Reference
    reply['X-Origin'] = msg['X-Origin'] or nil
    return ao.send(reply)
  end
  msg.forward = function(target, extra)
    local copy = ao.sanitize(msg)
    for k, v in pairs(extra or {}) do copy[k] = v end
    copy.Target = target
    copy['Reply-To'] = msg['Reply-To'] or msg.From
    copy['X-Reference'] = msg['X-Reference'] or msg.Reference
    copy['X-Origin'] = msg['X-Origin'] or msg.From
    copy.reply, copy.forward = nil, nil
    return ao.send(copy)
  end

  local co = coroutine.create(function() return pcall(Handlers.evaluate, msg, env) end)
  local resumed, ok, err = coroutine.resume(co)
  track(co)
  if not resumed then ok, err = false, ok end
  if ok == false then
    table.insert(Errors, err)
    if msg.Action ~= 'Eval' then
      print(Colors.red .. 'Error' .. Colors.gray .. ' handling message '
        .. (msg.Action and ('with Action = ' .. msg.Action) or '') .. Colors.reset)
      print(Colors.green .. tostring(err) .. Colors.reset)
      print('\n' .. Colors.gray .. withoutLastThreeLines(debug.traceback()) .. Colors.reset)
    end
    return { Error = lines() .. '\n\n' .. Colors.red .. 'error:\n' .. Colors.reset .. tostring(err) }
  end
  local output = { data = lines(), prompt = Prompt() }
  if msg.Action ~= 'Eval' then output.print = true end
  -- The process's own message prints only when its On-Boot code printed something.
  if msg.Tags.Type == 'Process' and Owner == msg.From and output.data == '' then output.print = nil end
  return ao.result({ Output = output })
end

return process
