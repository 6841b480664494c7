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

# KEYS: tickets. ARGV: new version, json for each. All versions must be new - 1, or nothing changes.
REPLACE = """
for i, key in ipairs(KEYS) do
  local current = redis.call('HGET', key, 'v')
  if not current or tonumber(current) + 1 ~= tonumber(ARGV[2 * i - 1]) then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'v', ARGV[2 * i - 1], 'd', ARGV[2 * i])
end
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
