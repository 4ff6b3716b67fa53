-- Blueprint `unit-registry`: the registry of AO units (SU, CU, MU). Units register and stake a
-- token; anyone reads the stakes by dry-run; a unit that signed two statements that cannot both
-- be true is slashed on the statements themselves, with no trusted party to decide it. Load it
-- with `Blueprint('unit-registry')`, then configure the token (Owner only).
--
-- State (globals):
--   Registry = { Token, UnbondingBlocks = 1000, SlashRewardPercent = 10, ChallengeBlocks = 100,
--                Units = {address -> {role, url, stake, unbonding = {{amount, ['until']}}}},
--                Seen = {'<unit>:<kind>:<Process>:<Nonce>' -> {statement id, ...}},
--                Statements = {id -> {unit, kind, process, nonce, chain, result, memory, message}},
--                Attestations = {'<Process>:<Nonce>' -> {unit -> id of its first attestation}},
--                Slashed = {key -> {unit, amount, reward, reason, proofA, proofB, paid, prover}},
--                Challenges = {'<Process>:<Nonce>' -> {id, challenger, result, chosen, deadline,
--                                                      resolved, winner, tie}},
--                Burned = '0' }
--   Amounts are integers as decimal strings (bint). Heights are the message's Block-Height; a
--   message that carries a `Block-Height` TAG is refused where the height matters (Unstake,
--   Withdraw, Challenge, Resolve), since the tag would replace the real height in `msg`.
--
-- Handlers (by Action tag unless said otherwise; every refusal is a reply `<Action>-Error` with
-- tags `Error` (why) and `Message-Id`, and changes nothing):
--   Configure [Token] [Unbonding-Blocks] [Slash-Reward-Percent] [Challenge-Blocks]
--       from the process Owner only. The Token cannot change while any stake or unbonding
--       amount is held. Reply `Configured` with the four values (Token '' when unset).
--       (The Owner may equally set `Registry.Token` with an Eval.)
--   Register Role=su|cu|mu Url
--       from the unit's wallet (msg.From). Creates or updates Units[From] (role and url; stake and
--       unbonding kept). Reply `Registered` with Role, Url, Stake. Error `Register-Error`.
--   Credit-Notice with X-Action=Stake (sent by the token on `Transfer` to the registry with
--   `X-Action: Stake`), tags Sender, Quantity
--       only when msg.From == Registry.Token: Units[Sender].stake += Quantity and `Staked` goes to
--       the Sender with Stake (new total) and Quantity. When the Sender is not a registered unit the
--       tokens go back: Transfer {Recipient = Sender, Quantity, X-Reason}. When no Token is
--       configured the tokens go back the same way through msg.From (the token that sent them). A
--       Credit-Notice from any other process never credits stake: `Stake-Error` to msg.From.
--       Credit-Notices without X-Action=Stake are not this handler's (they stay in the Inbox).
--   Unstake Quantity
--       moves Quantity of the sender's stake to an unbonding entry {amount, until = Block-Height +
--       UnbondingBlocks}. Reply `Unstaked` with Quantity, Stake (left), Until. Unbonding amounts
--       do not count as stake (queries, votes) but are slashed with it. Error `Unstake-Error`.
--   Withdraw
--       every unbonding entry of the sender with until <= Block-Height is paid back: one Transfer
--       {Recipient = sender, Quantity = their sum, X-Reason = 'Withdraw'} to the Token; reply
--       `Withdrawn` with Quantity. Nothing due: `Withdraw-Error`.
--   Units [Role] [All=true]            (dry-run)
--       Data = JSON [{address, role, url, stake}] of the units with stake > 0 (all with
--       All=true), of Role when given, by stake descending then address ascending. Reply
--       `Units`. A bad Role: `Units-Error`.
--   Stake-Of Unit                      (dry-run)
--       Data = the unit's stake ("0" when unknown). Reply `Stake-Of` with Unit, Stake.
--   Statements: a message with tag Type=Attestation or Type=Assignment (no Action needed),
--   signed by the unit itself (msg.From == msg.Owner), sent or assigned to the registry:
--       Attestation: Process, Nonce, Hash-Chain, Result-SHA-256, Memory-SHA-256 (64 hex digits,
--       compared lower-cased); Assignment: Process, Nonce, Message, Hash-Chain. The Nonce is read
--       as a decimal without leading zeros. Recorded under (Owner, Type, Process, Nonce). When it
--       contradicts an earlier statement under that key (Attestation: the same Hash-Chain and
--       another Result-SHA-256 or Memory-SHA-256; Assignment: another Message), a registered
--       signer is slashed at once (see Slashing), with Proof-A = the earlier id, Proof-B = this
--       one. Silent when accepted; a malformed statement gets `Attestation-Error` /
--       `Assignment-Error`. A statement id seen before is ignored.
--   Prove Proof-A Proof-B
--       anyone: both ids seen, the same key, contradicting, the signer registered: the signer is
--       slashed for that pair if it was not yet, and the pair's reward is transferred to msg.From
--       (once per pair). Reply `Slashed` (see Slashing) with also Reward. Error `Prove-Error`.
--   Challenge Process Nonce Result-SHA-256 [Count=3]
--       anyone, of a result thought wrong: picks Count staked CUs by the selection rule below,
--       records the challenge with deadline Block-Height + ChallengeBlocks and sends each chosen
--       CU `Attest-Request` with Process, Nonce, Challenge (this message's id), Deadline. Reply
--       `Challenged` with Process, Nonce, Deadline, Data = JSON [chosen addresses]. One challenge
--       per (Process, Nonce), unless the earlier one was resolved as a tie. Error
--       `Challenge-Error` (e.g. no staked CU).
--   Resolve Process Nonce
--       anyone, once Block-Height >= the deadline or every chosen CU has attested: each CU with
--       stake > 0 and an attestation for (Process, Nonce) votes its first attestation's
--       Result-SHA-256 with weight = its stake; the heaviest result wins. Every registered CU
--       whose first attestation says another result is slashed (also one with only unbonding
--       stake left), the reward paid to the challenger at once; Proof-A = its attestation id,
--       Proof-B = the Challenge's id. Reply `Resolved` with Process, Nonce, Tie (true|false),
--       Result-SHA-256 (the winner; absent on a tie), Data = JSON [{unit, amount}] of the slashed.
--       A tie (or no vote) slashes nobody and the Process/Nonce may be challenged again.
--       Error `Resolve-Error` (no challenge, too early, already resolved).
--
-- Slashing: the unit's stake and every unbonding amount go to 0 (the unbonding entries are
-- dropped). reward = floor(amount * SlashRewardPercent / 100) is owed to the prover, the rest is
-- added to Registry.Burned (the tokens stay in the registry's balance, which nobody can spend).
-- `Slashed` goes to the unit with Unit, Amount, Proof-A, Proof-B, Reason; the prover's reward is a
-- Transfer {Recipient = prover, Quantity = reward, X-Reason = 'Slash-Reward', X-Unit = unit}.
-- Only registered units are slashed; statements of others are recorded, and a unit that registers
-- later can still be proved against with them.
--
-- Selection rule (Challenge), recomputable by anyone from the registry's Units: the candidates are
-- the units with role 'cu' and stake > 0; each gets the score
--     lower-case hex SHA-256 of (Process .. ':' .. Nonce .. ':' .. address)
-- (Nonce in decimal without leading zeros; `require('.crypto')`, the module's real SHA-256); they
-- are ordered by score descending (as strings: equal-length hex), then address ascending, and the
-- first Count (all, when fewer) are chosen.
--
-- Attack analysis and limits. The registry decides nothing by trust: a slash for self-
-- contradiction needs two statements signed by the unit's own key, which nobody else can forge
-- (a statement pushed by a process, From ~= Owner, is refused, so no one can speak for an MU's or
-- a unit's wallet). So a unit that never signed two contradicting statements cannot be slashed
-- for it by anyone, whatever their stake. A challenge is different: it is decided by
-- stake-weighted majority among staked CUs' attestations. Colluding CUs holding most of the
-- attesting stake can therefore decide a challenge as they like and slash an honest minority (and
-- by attesting a false result together, make it the winner); they cannot slash a CU that did not
-- attest for that (Process, Nonce), nor an SU or MU, nor anyone's stake without the minority's own
-- signed attestation. Honest CUs that keep most of the stake are safe; the answer to a colluding
-- majority is outside the registry (anyone can re-run the process and check the attested
-- hashes). Attestations of one (Process, Nonce) with different Hash-Chains (an SU fork) are
-- counted together in a challenge; the fork itself slashes the SU when its two assignments reach
-- the registry. A unit's escape is to stop being at stake: unbonding amounts stay slashable until
-- withdrawn, so UnbondingBlocks must outlast the time to find a lie, get both statements assigned
-- to the registry and prove it (and a challenge's ChallengeBlocks plus the Resolve). A unit may
-- Prove its own contradiction first and get the reward back: lying still costs it
-- (100 - SlashRewardPercent)% of everything at stake. Challenges cost the challenger nothing but a
-- message (no bond), so chosen CUs can be made to attest at will. The registry keeps every
-- statement it sees (memory grows with them). The process Owner can change anything with an Eval:
-- for a registry with no trusted party, configure it, then renounce (an Eval of `Owner = ''`).

local bint = require('.bint')(256)
local json = require('json')
local crypto = require('.crypto')
local normalize = require('.utils').normalize

Registry = Registry or {
  Token = nil,
  UnbondingBlocks = 1000,
  SlashRewardPercent = 10,
  Units = {},
  Seen = {},
  Slashed = {},
  Challenges = {},
}
Registry.ChallengeBlocks = Registry.ChallengeBlocks or 100
Registry.Statements = Registry.Statements or {}
Registry.Attestations = Registry.Attestations or {}
Registry.Burned = Registry.Burned or '0'

local ROLES = { su = true, cu = true, mu = true }

-- ---- helpers

local function fail(msg, action, why)
  msg.reply({ Action = action .. '-Error', Error = why, ['Message-Id'] = msg.Id })
end

-- A positive integer given as decimal digits, or nil and why not.
local function positive(value, name)
  if type(value) ~= 'string' or not value:match('^%d+$') then
    return nil, name .. ' must be a positive integer in decimal, not ' .. tostring(value)
  end
  local n = bint(value)
  if not bint.__lt(bint.zero(), n) then return nil, name .. ' must be greater than 0' end
  return n
end

-- A nonce: decimal digits, read without leading zeros.
local function nonceOf(value)
  if type(value) ~= 'string' or not value:match('^%d+$') then
    return nil, 'Nonce must be a decimal integer, not ' .. tostring(value)
  end
  return (value:gsub('^0+(%d)', '%1'))
end

-- Tag `name` of `msg`, non-empty. The process reads tag names title-cased (`Result-SHA-256`
-- arrives as `Result-Sha-256`), so the name is looked up the same way.
local function required(msg, name)
  local v = msg.Tags[normalize(name)]
  if type(v) ~= 'string' or v == '' then return nil, name .. ' is required' end
  return v
end

local function sha256Tag(msg, name)
  local v, why = required(msg, name)
  if not v then return nil, why end
  if #v ~= 64 or not v:match('^%x+$') then
    return nil, name .. ' must be 64 hex digits of a SHA-256 digest, not ' .. v
  end
  return v:lower()
end

-- The message's Block-Height, unless a tag could have replaced it.
local function heightOf(msg)
  if msg.Tags['Block-Height'] ~= nil then
    return nil, 'a Block-Height tag would hide the message\'s real height: refused'
  end
  local h = math.tointeger(tonumber(msg['Block-Height']))
  if h == nil then return nil, 'the message has no Block-Height' end
  return h
end

local function total(unit)
  local sum = bint(unit.stake)
  for _, entry in ipairs(unit.unbonding) do sum = sum + bint(entry.amount) end
  return sum
end

local function anyHeld()
  for _, unit in pairs(Registry.Units) do
    if not bint.iszero(total(unit)) then return true end
  end
  return false
end

local function transfer(recipient, quantity, reason, extra)
  local m = {
    Target = Registry.Token,
    Action = 'Transfer',
    Recipient = recipient,
    Quantity = tostring(quantity),
    ['X-Reason'] = reason,
  }
  for k, v in pairs(extra or {}) do m[k] = v end
  Send(m)
end

local function sha256Hex(s) return crypto.digest.sha2_256(s).asHex() end

-- ---- slashing

-- Slash `address` (nil when it is not a registered unit) and record it under `key`.
local function slash(address, key, reason, proofA, proofB)
  local unit = Registry.Units[address]
  if unit == nil then return nil end
  local amount = total(unit)
  local reward = (amount * bint(Registry.SlashRewardPercent)) // bint(100)
  unit.stake = '0'
  unit.unbonding = {}
  Registry.Burned = tostring(bint(Registry.Burned) + amount - reward)
  local event = {
    unit = address,
    amount = tostring(amount),
    reward = tostring(reward),
    reason = reason,
    proofA = proofA,
    proofB = proofB,
    paid = false,
  }
  Registry.Slashed[key] = event
  Send({
    Target = address,
    Action = 'Slashed',
    Unit = address,
    Amount = event.amount,
    ['Proof-A'] = proofA,
    ['Proof-B'] = proofB,
    Reason = reason,
  })
  return event
end

-- Pay an event's reward to `prover` (once).
local function payReward(event, prover)
  if event.paid then return false end
  event.paid = true
  event.prover = prover
  if bint.__lt(bint.zero(), bint(event.reward)) then
    transfer(prover, event.reward, 'Slash-Reward', { ['X-Unit'] = event.unit })
  end
  return true
end

-- ---- statements

local function statementKey(s) return s.unit .. ':' .. s.kind .. ':' .. s.process .. ':' .. s.nonce end

local function pairKey(a, b)
  if b < a then a, b = b, a end
  return 'proof:' .. a .. ':' .. b
end

-- Why statements `a` and `b` cannot both be true, or nil.
local function contradiction(a, b)
  if statementKey(a) ~= statementKey(b) then return nil end
  local where = ' for process ' .. a.process .. ' nonce ' .. a.nonce
  if a.kind == 'Attestation' then
    if a.chain ~= b.chain then return nil end
    if a.result ~= b.result then return 'two Result-SHA-256 attested' .. where .. ' at one Hash-Chain' end
    if a.memory ~= b.memory then return 'two Memory-SHA-256 attested' .. where .. ' at one Hash-Chain' end
    return nil
  end
  if a.message ~= b.message then return 'two messages assigned' .. where end
  return nil
end

local function isStatement(msg) return msg.Tags.Type == 'Attestation' or msg.Tags.Type == 'Assignment' end

-- Statements may be assigned to the registry (their Target is another process).
ao.addAssignable('unit-registry.statements', isStatement)

local function statement(msg)
  local kind = msg.Tags.Type
  if msg.From ~= msg.Owner or msg.Tags['From-Process'] ~= nil then
    return fail(msg, kind, 'a statement must be signed by the unit itself (From = Owner), not sent by a process')
  end
  if Registry.Statements[msg.Id] ~= nil then return end
  local s = { unit = msg.Owner, kind = kind }
  local why
  s.process, why = required(msg, 'Process')
  if why then return fail(msg, kind, why) end
  s.nonce, why = nonceOf(msg.Tags.Nonce)
  if why then return fail(msg, kind, why) end
  s.chain, why = required(msg, 'Hash-Chain')
  if why then return fail(msg, kind, why) end
  if kind == 'Attestation' then
    s.result, why = sha256Tag(msg, 'Result-SHA-256')
    if why then return fail(msg, kind, why) end
    s.memory, why = sha256Tag(msg, 'Memory-SHA-256')
    if why then return fail(msg, kind, why) end
  else
    s.message, why = required(msg, 'Message')
    if why then return fail(msg, kind, why) end
  end

  local key = statementKey(s)
  local earlier = Registry.Seen[key] or {}
  Registry.Statements[msg.Id] = s
  for _, id in ipairs(earlier) do
    local reason = contradiction(Registry.Statements[id], s)
    if reason then
      local pk = pairKey(id, msg.Id)
      if Registry.Slashed[pk] == nil then slash(s.unit, pk, reason, id, msg.Id) end
      break
    end
  end
  table.insert(earlier, msg.Id)
  Registry.Seen[key] = earlier
  if kind == 'Attestation' then
    local pn = s.process .. ':' .. s.nonce
    local votes = Registry.Attestations[pn] or {}
    votes[s.unit] = votes[s.unit] or msg.Id
    Registry.Attestations[pn] = votes
  end
end

-- ---- handlers

Handlers.add('unit-registry.statement', isStatement, statement)

Handlers.add('unit-registry.configure', Handlers.utils.hasMatchingTag('Action', 'Configure'), function(msg)
  if msg.From ~= Owner then return fail(msg, 'Configure', 'only the process Owner may configure the registry') end
  local token = msg.Tags.Token
  if token ~= nil and (type(token) ~= 'string' or token == '') then
    return fail(msg, 'Configure', 'Token must be a process id')
  end
  if token ~= nil and token ~= Registry.Token and anyHeld() then
    return fail(msg, 'Configure', 'the Token cannot change while stake is held in ' .. tostring(Registry.Token))
  end
  local numbers = {}
  for _, name in ipairs({ 'Unbonding-Blocks', 'Slash-Reward-Percent', 'Challenge-Blocks' }) do
    local v = msg.Tags[name]
    if v ~= nil then
      if type(v) ~= 'string' or not v:match('^%d+$') or #v > 15 then
        return fail(msg, 'Configure', name .. ' must be a non-negative integer, not ' .. tostring(v))
      end
      numbers[name] = math.tointeger(tonumber(v))
    end
  end
  if numbers['Slash-Reward-Percent'] and numbers['Slash-Reward-Percent'] > 100 then
    return fail(msg, 'Configure', 'Slash-Reward-Percent must be at most 100')
  end
  if token ~= nil then Registry.Token = token end
  Registry.UnbondingBlocks = numbers['Unbonding-Blocks'] or Registry.UnbondingBlocks
  Registry.SlashRewardPercent = numbers['Slash-Reward-Percent'] or Registry.SlashRewardPercent
  Registry.ChallengeBlocks = numbers['Challenge-Blocks'] or Registry.ChallengeBlocks
  msg.reply({
    Action = 'Configured',
    Token = Registry.Token or '',
    ['Unbonding-Blocks'] = tostring(Registry.UnbondingBlocks),
    ['Slash-Reward-Percent'] = tostring(Registry.SlashRewardPercent),
    ['Challenge-Blocks'] = tostring(Registry.ChallengeBlocks),
  })
end)

Handlers.add('unit-registry.register', Handlers.utils.hasMatchingTag('Action', 'Register'), function(msg)
  local role = msg.Tags.Role
  if type(role) ~= 'string' or not ROLES[role:lower()] then
    return fail(msg, 'Register', 'Role must be su, cu or mu, not ' .. tostring(role))
  end
  role = role:lower()
  local url, why = required(msg, 'Url')
  if why then return fail(msg, 'Register', why) end
  local unit = Registry.Units[msg.From] or { stake = '0', unbonding = {} }
  unit.role, unit.url = role, url
  Registry.Units[msg.From] = unit
  msg.reply({ Action = 'Registered', Role = role, Url = url, Stake = unit.stake })
end)

Handlers.add('unit-registry.stake', function(msg)
  return msg.Action == 'Credit-Notice' and msg.Tags['X-Action'] == 'Stake'
end, function(msg)
  local sender, quantity = msg.Tags.Sender, msg.Tags.Quantity
  if Registry.Token == nil then
    if type(sender) == 'string' and sender ~= '' and positive(quantity, 'Quantity') then
      Send({ Target = msg.From, Action = 'Transfer', Recipient = sender, Quantity = quantity,
        ['X-Reason'] = 'Refund: the registry has no Token configured' })
    end
    return fail(msg, 'Stake', 'the registry has no Token configured: refunded')
  end
  if msg.From ~= Registry.Token then
    return fail(msg, 'Stake', 'only a Credit-Notice from the registry\'s Token ' .. Registry.Token .. ' stakes')
  end
  local q, why = positive(quantity, 'Quantity')
  if why == nil and (type(sender) ~= 'string' or sender == '') then why = 'Sender is required' end
  if why then return fail(msg, 'Stake', why) end
  local unit = Registry.Units[sender]
  if unit == nil then
    transfer(sender, quantity, 'Refund: ' .. sender .. ' is not a registered unit (Register first)')
    return
  end
  unit.stake = tostring(bint(unit.stake) + q)
  Send({ Target = sender, Action = 'Staked', Stake = unit.stake, Quantity = tostring(q) })
end)

Handlers.add('unit-registry.unstake', Handlers.utils.hasMatchingTag('Action', 'Unstake'), function(msg)
  local unit = Registry.Units[msg.From]
  if unit == nil then return fail(msg, 'Unstake', msg.From .. ' is not a registered unit') end
  local q, why = positive(msg.Tags.Quantity, 'Quantity')
  if why then return fail(msg, 'Unstake', why) end
  local height
  height, why = heightOf(msg)
  if why then return fail(msg, 'Unstake', why) end
  if bint(unit.stake) < q then
    return fail(msg, 'Unstake', 'cannot unstake ' .. tostring(q) .. ': the stake is ' .. unit.stake)
  end
  unit.stake = tostring(bint(unit.stake) - q)
  local entry = { amount = tostring(q), ['until'] = height + Registry.UnbondingBlocks }
  table.insert(unit.unbonding, entry)
  msg.reply({ Action = 'Unstaked', Quantity = entry.amount, Stake = unit.stake, Until = tostring(entry['until']) })
end)

Handlers.add('unit-registry.withdraw', Handlers.utils.hasMatchingTag('Action', 'Withdraw'), function(msg)
  local unit = Registry.Units[msg.From]
  if unit == nil then return fail(msg, 'Withdraw', msg.From .. ' is not a registered unit') end
  local height, why = heightOf(msg)
  if why then return fail(msg, 'Withdraw', why) end
  local due, left, soonest = bint.zero(), {}, nil
  for _, entry in ipairs(unit.unbonding) do
    if entry['until'] <= height then
      due = due + bint(entry.amount)
    else
      table.insert(left, entry)
      if soonest == nil or entry['until'] < soonest then soonest = entry['until'] end
    end
  end
  if bint.iszero(due) then
    return fail(msg, 'Withdraw', 'nothing to withdraw at block ' .. height
      .. (soonest and ('; the next unbonding ends at block ' .. soonest) or ': nothing is unbonding'))
  end
  unit.unbonding = left
  transfer(msg.From, due, 'Withdraw')
  msg.reply({ Action = 'Withdrawn', Quantity = tostring(due) })
end)

Handlers.add('unit-registry.units', Handlers.utils.hasMatchingTag('Action', 'Units'), function(msg)
  local role = msg.Tags.Role
  if role ~= nil and not ROLES[tostring(role):lower()] then
    return fail(msg, 'Units', 'Role must be su, cu or mu, not ' .. tostring(role))
  end
  role = role and role:lower()
  local all = msg.Tags.All == 'true'
  local list = {}
  for address, unit in pairs(Registry.Units) do
    if (role == nil or unit.role == role) and (all or bint.__lt(bint.zero(), bint(unit.stake))) then
      table.insert(list, { address = address, role = unit.role, url = unit.url, stake = unit.stake })
    end
  end
  table.sort(list, function(a, b)
    local sa, sb = bint(a.stake), bint(b.stake)
    if sa ~= sb then return sb < sa end
    return a.address < b.address
  end)
  msg.reply({ Action = 'Units', Data = json.encode(list) })
end)

Handlers.add('unit-registry.stake-of', Handlers.utils.hasMatchingTag('Action', 'Stake-Of'), function(msg)
  local address, why = required(msg, 'Unit')
  if why then return fail(msg, 'Stake-Of', why) end
  local unit = Registry.Units[address]
  local stake = unit and unit.stake or '0'
  msg.reply({ Action = 'Stake-Of', Unit = address, Stake = stake, Data = stake })
end)

Handlers.add('unit-registry.prove', Handlers.utils.hasMatchingTag('Action', 'Prove'), function(msg)
  local a, why = required(msg, 'Proof-A')
  if why then return fail(msg, 'Prove', why) end
  local b
  b, why = required(msg, 'Proof-B')
  if why then return fail(msg, 'Prove', why) end
  if a == b then return fail(msg, 'Prove', 'Proof-A and Proof-B are the same statement') end
  local sa, sb = Registry.Statements[a], Registry.Statements[b]
  if sa == nil then return fail(msg, 'Prove', 'statement ' .. a .. ' was not seen by the registry') end
  if sb == nil then return fail(msg, 'Prove', 'statement ' .. b .. ' was not seen by the registry') end
  local reason = contradiction(sa, sb)
  if reason == nil then return fail(msg, 'Prove', 'the two statements do not contradict each other') end
  if Registry.Units[sa.unit] == nil then
    return fail(msg, 'Prove', sa.unit .. ' is not a registered unit: nothing to slash')
  end
  local pk = pairKey(a, b)
  local event = Registry.Slashed[pk] or slash(sa.unit, pk, reason, a, b)
  if not payReward(event, msg.From) then
    return fail(msg, 'Prove', 'the reward for this contradiction was already paid to ' .. tostring(event.prover))
  end
  msg.reply({
    Action = 'Slashed',
    Unit = event.unit,
    Amount = event.amount,
    Reward = event.reward,
    ['Proof-A'] = event.proofA,
    ['Proof-B'] = event.proofB,
    Reason = event.reason,
  })
end)

-- The selection rule (see the header).
function Registry.select(process, nonce, count)
  local scored = {}
  for address, unit in pairs(Registry.Units) do
    if unit.role == 'cu' and bint.__lt(bint.zero(), bint(unit.stake)) then
      table.insert(scored, { address = address, score = sha256Hex(process .. ':' .. nonce .. ':' .. address) })
    end
  end
  table.sort(scored, function(x, y)
    if x.score ~= y.score then return x.score > y.score end
    return x.address < y.address
  end)
  local chosen = {}
  for i = 1, math.min(count, #scored) do chosen[i] = scored[i].address end
  return chosen
end

Handlers.add('unit-registry.challenge', Handlers.utils.hasMatchingTag('Action', 'Challenge'), function(msg)
  local process, why = required(msg, 'Process')
  if why then return fail(msg, 'Challenge', why) end
  local nonce
  nonce, why = nonceOf(msg.Tags.Nonce)
  if why then return fail(msg, 'Challenge', why) end
  local result
  result, why = sha256Tag(msg, 'Result-SHA-256')
  if why then return fail(msg, 'Challenge', why) end
  local count = 3
  if msg.Tags.Count ~= nil then
    local c
    c, why = positive(msg.Tags.Count, 'Count')
    if why then return fail(msg, 'Challenge', why) end
    if bint(1000) < c then return fail(msg, 'Challenge', 'Count must be at most 1000') end
    count = bint.tonumber(c)
  end
  local height
  height, why = heightOf(msg)
  if why then return fail(msg, 'Challenge', why) end
  local pn = process .. ':' .. nonce
  local open = Registry.Challenges[pn]
  if open and not (open.resolved and open.tie) then
    return fail(msg, 'Challenge', 'process ' .. process .. ' nonce ' .. nonce .. ' is already challenged by ' .. open.id)
  end
  local chosen = Registry.select(process, nonce, count)
  if #chosen == 0 then return fail(msg, 'Challenge', 'no CU has stake to attest') end
  local deadline = height + Registry.ChallengeBlocks
  Registry.Challenges[pn] = {
    id = msg.Id,
    challenger = msg.From,
    process = process,
    nonce = nonce,
    result = result,
    chosen = chosen,
    deadline = deadline,
    resolved = false,
  }
  for _, cu in ipairs(chosen) do
    Send({ Target = cu, Action = 'Attest-Request', Process = process, Nonce = nonce, Challenge = msg.Id,
      Deadline = tostring(deadline) })
  end
  msg.reply({ Action = 'Challenged', Process = process, Nonce = nonce, Deadline = tostring(deadline),
    Data = json.encode(chosen) })
end)

Handlers.add('unit-registry.resolve', Handlers.utils.hasMatchingTag('Action', 'Resolve'), function(msg)
  local process, why = required(msg, 'Process')
  if why then return fail(msg, 'Resolve', why) end
  local nonce
  nonce, why = nonceOf(msg.Tags.Nonce)
  if why then return fail(msg, 'Resolve', why) end
  local height
  height, why = heightOf(msg)
  if why then return fail(msg, 'Resolve', why) end
  local pn = process .. ':' .. nonce
  local c = Registry.Challenges[pn]
  if c == nil then return fail(msg, 'Resolve', 'process ' .. process .. ' nonce ' .. nonce .. ' is not challenged') end
  if c.resolved then return fail(msg, 'Resolve', 'the challenge ' .. c.id .. ' is already resolved') end
  local votes = Registry.Attestations[pn] or {}
  local answered = 0
  for _, cu in ipairs(c.chosen) do
    if votes[cu] then answered = answered + 1 end
  end
  if height < c.deadline and answered < #c.chosen then
    return fail(msg, 'Resolve', answered .. ' of ' .. #c.chosen .. ' chosen CUs attested; the deadline is block '
      .. c.deadline)
  end

  local weights, units = {}, {}
  for address, id in pairs(votes) do
    table.insert(units, address)
    local unit = Registry.Units[address]
    if unit and unit.role == 'cu' and bint.__lt(bint.zero(), bint(unit.stake)) then
      local r = Registry.Statements[id].result
      weights[r] = (weights[r] or bint.zero()) + bint(unit.stake)
    end
  end
  table.sort(units)
  local winner, best, tie = nil, bint.zero(), true
  for r, w in pairs(weights) do
    if best < w then
      winner, best, tie = r, w, false
    elseif w == best then
      tie = true
    end
  end
  if tie then winner = nil end
  local slashed = {}
  if not tie then
    for _, address in ipairs(units) do
      local unit = Registry.Units[address]
      local s = Registry.Statements[votes[address]]
      if unit and unit.role == 'cu' and s.result ~= winner and not bint.iszero(total(unit)) then
        local key = 'challenge:' .. pn .. ':' .. address
        local event = slash(address, key,
          'attested Result-SHA-256 ' .. s.result .. ' for process ' .. process .. ' nonce ' .. nonce
            .. ' where the stake-weighted majority attested ' .. winner, votes[address], c.id)
        payReward(event, c.challenger)
        table.insert(slashed, { unit = address, amount = event.amount })
      end
    end
  end
  c.resolved, c.winner, c.tie = true, winner, tie
  msg.reply({
    Action = 'Resolved',
    Process = process,
    Nonce = nonce,
    Tie = tostring(tie),
    ['Result-SHA-256'] = winner,
    Data = json.encode(slashed),
  })
end)
