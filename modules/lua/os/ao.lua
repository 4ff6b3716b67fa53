-- `ao`: the process's view of AO. Its identity (`ao.id`, `ao.env`, `ao._module`), whom it trusts
-- (`ao.authorities`, `ao.isTrusted`), and its outbox: `ao.send`, `ao.spawn`, `ao.assign` add to
-- the Messages, Spawns and Assignments that the CU returns and the MU pushes on.
--
-- Names and behaviour follow aos so that published processes run unchanged. Where aos leaves a
-- result to chance this module is deterministic, and says so:
--  * the tags a message or spawn gets from its table keys come in sorted order (aos: `pairs`
--    order), after the protocol tags and before an explicit `Tags` list;
--  * numbers and booleans as tag values are converted with `tostring` (aos passes them on as JSON
--    numbers and booleans, which an MU cannot sign); a table value is passed on as it is, as aos
--    does (HyperBEAM's `patch@1.0` messages carry tables; such a message has no Target, so our MU
--    drops it with a trace reason, and a CU gives a table value on as its JSON text).

local ao = {
  _version = '0.1.0',
  id = '',
  _module = '',
  authorities = {},
  -- The per-process message counter: each send or spawn takes the next value, as `Reference` and,
  -- padded to 32 digits, as the `Anchor` of the item the MU signs for it.
  reference = 0,
  outbox = { Output = {}, Messages = {}, Spawns = {}, Assignments = {} },
  -- Tags that stay in `msg.Tags` and are not copied onto the message's own fields.
  nonExtractableTags = {
    'Data-Protocol', 'Variant', 'From-Process', 'From-Module', 'Type',
    'From', 'Owner', 'Anchor', 'Target', 'Data', 'Tags', 'Read-Only',
  },
  -- Fields `msg.forward` drops: they describe the original delivery, not the content.
  nonForwardableTags = {
    'Data-Protocol', 'Variant', 'From-Process', 'From-Module', 'Type',
    'From', 'Owner', 'Anchor', 'Target', 'Tags', 'TagArray', 'Hash-Chain',
    'Timestamp', 'Nonce', 'Epoch', 'Signature', 'Forwarded-By',
    'Pushed-For', 'Read-Only', 'Cron', 'Block-Height', 'Reference', 'Id',
    'Reply-To',
  },
}

local function includes(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

-- Lists are told from maps as utils does.
local isArray = require('.utils').isArray

local function tagValue(name, value)
  local kind = type(value)
  if kind == 'string' or kind == 'table' then return value end
  if kind == 'number' or kind == 'boolean' then return tostring(value) end
  error('tag ' .. tostring(name) .. ': a value must be a string, not a ' .. kind, 3)
end

-- The item's tags: the protocol ones, then the table's own keys (sorted), then `msg.Tags`
-- (a list of {name, value} in its order, or a map, sorted).
local function buildTags(base, msg)
  local tags = base
  local keys = {}
  for k in pairs(msg) do
    if type(k) == 'string' and not includes({ 'Target', 'Data', 'Anchor', 'Tags', 'From' }, k)
        and type(msg[k]) ~= 'function' then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    tags[#tags + 1] = { name = k, value = tagValue(k, msg[k]) }
  end
  if type(msg.Tags) == 'table' then
    if isArray(msg.Tags) then
      for _, t in ipairs(msg.Tags) do
        tags[#tags + 1] = { name = t.name, value = tagValue(t.name, t.value) }
      end
    else
      local names = {}
      for k in pairs(msg.Tags) do names[#names + 1] = k end
      table.sort(names)
      for _, k in ipairs(names) do
        tags[#tags + 1] = { name = k, value = tagValue(k, msg.Tags[k]) }
      end
    end
  end
  return tags
end

-- Data as the item carries it: a table is sent as JSON (with `Content-Type: application/json`, so
-- the receiving aos decodes it back), a number or boolean as its text.
local function itemData(msg)
  local data = msg.Data
  if type(data) == 'table' then
    msg['Content-Type'] = 'application/json'
    return require('json').encode(data)
  end
  if type(data) == 'number' or type(data) == 'boolean' then return tostring(data) end
  return data
end

local function nextReference()
  ao.reference = ao.reference + 1
  return tostring(ao.reference), string.format('%032d', ao.reference)
end

-- Deep copy (keeps metatables), for messages handed on.
function ao.clone(obj, seen)
  if type(obj) ~= 'table' then return obj end
  seen = seen or {}
  if seen[obj] then return seen[obj] end
  local copy = {}
  seen[obj] = copy
  for k, v in pairs(obj) do copy[ao.clone(k, seen)] = ao.clone(v, seen) end
  return setmetatable(copy, getmetatable(obj))
end

-- Copy every tag of `msg.Tags` (a list) onto `msg` itself, so handlers read `msg.Action`.
function ao.normalize(msg)
  for _, t in ipairs(msg.Tags or {}) do
    if not includes(ao.nonExtractableTags, t.name) then msg[t.name] = t.value end
  end
  return msg
end

-- A copy of `msg` without the fields that describe its delivery.
function ao.sanitize(msg)
  local copy = ao.clone(msg)
  for k in pairs(copy) do
    if includes(ao.nonForwardableTags, k) then copy[k] = nil end
  end
  return copy
end

-- Called before each message: identity and authorities from the process, an empty outbox.
function ao.init(env)
  if ao.id == '' then ao.id = env.Process.Id end
  for _, t in ipairs(env.Process.Tags) do
    if t.name == 'Module' and ao._module == '' then ao._module = t.value end
    if t.name == 'Authority' then
      for part in string.gmatch(t.value, '[^,]+') do
        if not includes(ao.authorities, part) then table.insert(ao.authorities, part) end
      end
    end
  end
  ao.clearOutbox()
  ao.env = env
end

function ao.clearOutbox()
  ao.outbox = { Output = {}, Messages = {}, Spawns = {}, Assignments = {} }
end

-- Add a line to the Output (kept for aos compatibility; `print` is the usual way).
function ao.log(text)
  if type(ao.outbox.Output) == 'string' then ao.outbox.Output = { ao.outbox.Output } end
  table.insert(ao.outbox.Output, text)
end

-- Queue a message. Returns it, with `receive()` and `onReply(handler)` to wait for the answer
-- (an answer is a message from the target with `X-Reference` equal to this one's `Reference`).
function ao.send(msg)
  assert(type(msg) == 'table', 'msg should be a table')
  local ref, anchor = nextReference()
  local data = itemData(msg)
  local message = {
    Target = msg.Target,
    Data = data,
    Anchor = anchor,
    Tags = buildTags({
      { name = 'Data-Protocol', value = 'ao' },
      { name = 'Variant', value = 'ao.TN.1' },
      { name = 'Type', value = 'Message' },
      { name = 'Reference', value = ref },
    }, msg),
  }
  table.insert(ao.outbox.Messages, { Target = message.Target, Data = message.Data,
    Anchor = message.Anchor, Tags = message.Tags })
  message.onReply = function(...)
    local from, resolver = message.Target, select(1, ...)
    if select('#', ...) == 2 then from, resolver = select(1, ...), select(2, ...) end
    Handlers.once({ From = from, ['X-Reference'] = ref }, resolver)
  end
  message.receive = function(...)
    local from = message.Target
    if select('#', ...) == 1 then from = select(1, ...) end
    return Handlers.receive({ From = from, ['X-Reference'] = ref })
  end
  return message
end

-- Queue a new process of `module`. The MU signs it and tells this process `Action = Spawned`
-- (with the same `Reference`), which `receive()` / `onReply` wait for.
function ao.spawn(module, msg)
  assert(type(module) == 'string', 'Module source id is required!')
  assert(type(msg) == 'table', 'Message must be a table')
  local ref, anchor = nextReference()
  local spawn = {
    Data = itemData(msg) or 'NODATA',
    Anchor = anchor,
    Tags = buildTags({
      { name = 'Data-Protocol', value = 'ao' },
      { name = 'Variant', value = 'ao.TN.1' },
      { name = 'Type', value = 'Process' },
      { name = 'From-Process', value = ao.id },
      { name = 'From-Module', value = ao._module },
      { name = 'Module', value = module },
      { name = 'Reference', value = ref },
    }, msg),
  }
  table.insert(ao.outbox.Spawns, { Data = spawn.Data, Anchor = spawn.Anchor, Tags = spawn.Tags })
  local spawned = { Action = 'Spawned', From = ao.id, Reference = ref }
  spawn.onReply = function(callback) Handlers.once(spawned, callback) end
  spawn.receive = function() return Handlers.receive(spawned) end
  return spawn
end

-- Queue an assignment: the MU asks each process's SU to schedule the existing message `Message`.
function ao.assign(assignment)
  assert(type(assignment) == 'table', 'assignment should be a table')
  assert(type(assignment.Processes) == 'table', 'Processes should be a table')
  assert(type(assignment.Message) == 'string', 'Message should be a string')
  table.insert(ao.outbox.Assignments, assignment)
end

-- The trust rule for pushed messages: `From` differs from the signer only when an MU pushed the
-- message on behalf of another process, and the CU takes `From-Process` from any signer (spec
-- sharp edge 15), so the process believes it only from a signer it lists as `Authority`.
function ao.isTrusted(msg)
  for _, authority in ipairs(ao.authorities) do
    if msg.From == authority or msg.Owner == authority then return true end
  end
  return false
end

-- The reply the CU gets: the outbox, or only the Error.
function ao.result(result)
  if ao.outbox.Error or result.Error then return { Error = result.Error or ao.outbox.Error } end
  return {
    Output = result.Output or ao.outbox.Output,
    Messages = ao.outbox.Messages,
    Spawns = ao.outbox.Spawns,
    Assignments = ao.outbox.Assignments,
  }
end

-- Assignables: which messages assigned to this process (Target is another process) it accepts.
ao.assignables = {}

function ao.addAssignable(...)
  local name, spec
  if select('#', ...) == 1 then spec = select(1, ...) else name, spec = select(1, ...), select(2, ...) end
  for _, a in ipairs(ao.assignables) do
    if name and a.name == name then a.pattern = spec; return end
  end
  table.insert(ao.assignables, { name = name, pattern = spec })
end

function ao.removeAssignable(name)
  for i, a in ipairs(ao.assignables) do
    if a.name == name or i == name then table.remove(ao.assignables, i); return end
  end
end

function ao.isAssignment(msg) return msg.Target ~= ao.id end

function ao.isAssignable(msg)
  local utils = require('.utils')
  for _, a in ipairs(ao.assignables) do
    if utils.matchesSpec(msg, a.pattern) then return true end
  end
  return false
end

return ao
