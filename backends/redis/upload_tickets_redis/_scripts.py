"""The Lua scripts: each is one atomic step on one Cluster slot (a team's keys share a hash tag).

Times are integer microseconds; Lua numbers are doubles, exact up to 2^53 (year 2255 in
µs), and are written back with ``%.0f`` so large integers never turn into ``1.7e+15``.
"""

from __future__ import annotations

# GCRA, timed by the server's TIME so app servers with skewed clocks cannot over-admit.
_CHARGE = """
local function charge(key, increment, capacity)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + increment
  if new_tat - capacity <= now then
    -- The key lives exactly until the bucket is full again: a full bucket needs no key.
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
    return {new_tat, 1, now}
  end
  return {tat, 0, now}
end
"""

ACQUIRE = (
    _CHARGE
    + """
-- KEYS: bucket. ARGV: increment_us, capacity_us. Returns {tat, allowed, now}.
return charge(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
"""
)

CREATE = (
    _CHARGE
    + """
-- KEYS: bucket, ticket, idempotency key, team expiry index.
-- ARGV[1]: "charge increment_us capacity_us keep_until_ms expires_at_us has_idempotency grace_ms"
--          (one string: each extra argument costs more to pack client-side than to parse here).
-- ARGV[2]: ticket id. ARGV[3]: ticket json.
-- Returns {tat, allowed, now, first ticket in the team's index (1/0), replayed id or ''}.
local n = {}
for word in string.gmatch(ARGV[1], '%S+') do n[#n + 1] = tonumber(word) end
local charging, increment, capacity, keep_until, expires_at, has_idempotency, grace =
  n[1], n[2], n[3], n[4], n[5], n[6], n[7]
if has_idempotency == 1 then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {0, 1, 0, 0, existing} end
end
local decision = {0, 1, 0}
if charging == 1 then
  decision = charge(KEYS[1], increment, capacity)
  if decision[2] == 0 then return {decision[1], 0, decision[3], 0, ''} end
end
-- Keep the ticket until its TTL plus the grace, and never less than the grace from
-- Redis' own now: an app clock behind Redis must not make a new ticket vanish at once.
local t = redis.call('TIME')
local keep = string.format('%.0f', math.max(keep_until, tonumber(t[1]) * 1000 + grace))
redis.call('HSET', KEYS[2], 'v', 0, 'd', ARGV[3])
redis.call('PEXPIREAT', KEYS[2], keep)
if has_idempotency == 1 then redis.call('SET', KEYS[3], ARGV[2], 'PXAT', keep) end
local first = redis.call('ZADD', KEYS[4], string.format('%.0f', expires_at), ARGV[2]) == 1
  and redis.call('ZCARD', KEYS[4]) == 1
-- The index lives as long as its longest-lived ticket.
if redis.call('PEXPIREAT', KEYS[4], keep, 'GT') == 0 and redis.call('PTTL', KEYS[4]) == -1 then
  redis.call('PEXPIREAT', KEYS[4], keep)
end
return {decision[1], 1, decision[3], first and 1 or 0, ''}
"""
)

# Version-checked writes of tickets KEYS[k], KEYS[k + 1], ... with ARGV[a], ARGV[a + 1] =
# new version, json for each, from KEYS[first_key] and ARGV[first_arg] on.
_TICKETS = """
local function tickets_current(first_key, first_arg)
  for i = first_key, #KEYS do
    local current = redis.call('HGET', KEYS[i], 'v')
    local wanted = tonumber(ARGV[first_arg + 2 * (i - first_key)])
    if not current or tonumber(current) + 1 ~= wanted then return false end
  end
  return true
end
local function write_tickets(first_key, first_arg)
  for i = first_key, #KEYS do
    local arg = first_arg + 2 * (i - first_key)
    redis.call('HSET', KEYS[i], 'v', ARGV[arg], 'd', ARGV[arg + 1])
  end
end
"""

# A character and its team's two indexes: KEYS[1..3] = character, character index (ids,
# score 0, so ZRANGEBYLEX pages in id order), unsettled index (ids not ready).
# ARGV[1..4] = id, version, json, unsettled (1/0). Characters never expire: no PEXPIRE.
_CHARACTER = """
local function write_character()
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
  if ARGV[4] == '1' then
    -- True when this starts the team's unsettled index: the caller lists the team.
    return redis.call('ZADD', KEYS[3], 0, ARGV[1]) == 1 and redis.call('ZCARD', KEYS[3]) == 1
  end
  redis.call('ZREM', KEYS[3], ARGV[1])
  return false
end
"""

# KEYS: tickets. ARGV: new version, json for each. All versions must be new - 1, or nothing changes.
REPLACE = (
    _TICKETS
    + """
if not tickets_current(1, 1) then return 0 end
write_tickets(1, 1)
return 1
"""
)

# KEYS: character, character index, unsettled index, then the tickets.
# ARGV: character id, version, json, unsettled (1/0), then new version, json per ticket.
# The tickets move on and the character appears together, or (a ticket moved on or is
# gone, or the character id is taken) nothing changes. Returns 1/0.
CONSUME = (
    _TICKETS
    + _CHARACTER
    + """
if redis.call('EXISTS', KEYS[1]) == 1 or not tickets_current(4, 5) then return 0 end
write_tickets(4, 5)
write_character()
return 1
"""
)

# KEYS, ARGV: as for a character above. Stored only if the stored version is ARGV[2] - 1.
# Returns 0 (refused), 1 (stored) or 2 (stored, and the team's unsettled index started).
REPLACE_CHARACTER = (
    _CHARACTER
    + """
local current = redis.call('HGET', KEYS[1], 'v')
if not current or tonumber(current) + 1 ~= tonumber(ARGV[2]) then return 0 end
return write_character() and 2 or 1
"""
)

# KEYS: character, character index, unsettled index. ARGV: id, version.
# Deleted, from the indexes too, only if still at that version. Returns 1/0.
DELETE_CHARACTER = """
local current = redis.call('HGET', KEYS[1], 'v')
if not current or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# KEYS: team expiry index, then ticket and idempotency key per ticket.
# ARGV: version, id, has idempotency key (1/0) per ticket. Returns how many were deleted.
DELETE = """
local deleted = 0
for i = 1, #ARGV / 3 do
  local ticket, idempotency = KEYS[2 * i], KEYS[2 * i + 1]
  local current = redis.call('HGET', ticket, 'v')
  if current and tonumber(current) == tonumber(ARGV[3 * i - 2]) then
    redis.call('DEL', ticket)
    if ARGV[3 * i] == '1' then redis.call('DEL', idempotency) end
    redis.call('ZREM', KEYS[1], ARGV[3 * i - 1])
    deleted = deleted + 1
  elseif not current then
    redis.call('ZREM', KEYS[1], ARGV[3 * i - 1])
  end
end
return deleted
"""

# KEYS: the claim. ARGV: now_us, ttl_ms, encoded claim (``_codec.encode_claim``).
# A stored claim still live at the caller's now holds; otherwise (absent, or past its
# expires_at though Redis has not dropped it yet: its PX was rounded up) ours replaces
# it. Returns the encoded claim that holds.
CLAIM = """
local held = redis.call('GET', KEYS[1])
if held and tonumber(cjson.decode(held)[6]) > tonumber(ARGV[1]) then return held end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
return ARGV[3]
"""

# KEYS: the claim. ARGV: encoded claim. Deleted only if it is still exactly that one. Returns 1/0.
RELEASE_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: the sweep lease (a hash: holder, until_us). ARGV: holder, now_us, until_us.
# Times come from the caller's clock, not TIME: the lease ends when the sweepers' own
# clock says so, and no Redis expiry ends it either. Refused (0) while another holder's
# lease runs past now; otherwise taken or renewed (1).
CLAIM_SWEEP = """
local held = redis.call('HMGET', KEYS[1], 'holder', 'until')
if held[1] and held[1] ~= ARGV[1] and tonumber(held[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', ARGV[3])
return 1
"""

# KEYS: the sweep lease. ARGV: holder. Deleted only if that holder has it. Returns 1/0.
RELEASE_SWEEP = """
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
