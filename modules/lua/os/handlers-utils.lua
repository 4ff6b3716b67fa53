-- `Handlers.utils`: ready-made patterns and handlers.

local utils = require('.utils')

local hu = { _version = '0.1.0' }

-- A pattern: the message's tag `name` equals `value`.
function hu.hasMatchingTag(name, value)
  assert(type(name) == 'string' and type(value) == 'string', 'invalid arguments: (name : string, value : string)')
  return function(msg) return msg.Tags[name] == value end
end

-- A pattern: tag `name` equals any of `values`.
function hu.hasMatchingTagOf(name, values)
  assert(type(name) == 'string' and type(values) == 'table', 'invalid arguments: (name : string, values : string[])')
  return function(msg)
    for _, value in ipairs(values) do
      if msg.Tags[name] == value then return true end
    end
    return 0
  end
end

-- A pattern: the message's Data equals `value`.
function hu.hasMatchingData(value)
  assert(type(value) == 'string', 'invalid arguments: (value : string)')
  return function(msg) return msg.Data == value end
end

-- A handler: reply with `input` (a string becomes the Data).
function hu.reply(input)
  assert(type(input) == 'table' or type(input) == 'string', 'invalid arguments: (input : table or string)')
  return function(msg)
    if type(input) == 'string' then msg.reply({ Data = input }) else msg.reply(input) end
  end
end

-- A pattern: like `pattern`, but later handlers still run after a match.
function hu.continue(pattern)
  return function(msg)
    local match = utils.matchesSpec(msg, pattern)
    if not match or match == 0 or match == 'skip' then return match end
    return 1
  end
end

return hu
