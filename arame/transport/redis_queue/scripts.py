"""The Lua scripts behind every queue operation: each one runs atomically on the server.

Every script takes the same KEYS, in the order ``QueueKeys.all`` gives them:

    KEYS[1]      leases       sorted set: tag -> lease deadline (server time, epoch milliseconds)
    KEYS[2]      payloads     hash: tag -> the Kombu message, JSON
    KEYS[3]      deliveries   hash: tag -> how many times it was fetched
    KEYS[4..13]  ready lists  priority 9 down to 0: LPUSH at the tail, RPOP at the head
    KEYS[14]     delayed      sorted set: tag -> due time (server time, epoch milliseconds)
    KEYS[15]     returned     sorted set: tag -> 9 - priority; requeued or reclaimed messages

A tag is ``"<priority digit>:<hex publish time><hex id>"``, so a script can find a tag's ready
list without another lookup (``KEYS[13 - priority]``), and tags of one priority sort by publish
time. A message given back (requeued, released on close, or its lease ran out) goes to
``returned``, where members of one score sort by tag: served before the ready list of its
priority, in the order the messages were published, as RabbitMQ keeps them, however many are
given back and in whatever order. Deadlines and due times use the server's clock
(``TIME``), so clients with skewed clocks still agree on when a lease ran out or a message is due;
a publisher sends a delay (milliseconds from now), never a time of its own clock.
"""

from __future__ import annotations

# Shared by every script: effects replication (a no-op from Redis 5 on, needed before it for
# TIME followed by writes), the server clock, and a tag's ready list.
_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ready_key(tag)
  return KEYS[13 - tonumber(string.sub(tag, 1, 1))]
end
local function returned_score(tag)
  return 9 - tonumber(string.sub(tag, 1, 1))
end
local function first_score(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return tonumber(first[2]) end
  return nil
end
"""

#: ARGV: tag, payload, wake-up channel, delay in milliseconds. Stores the payload, queues the tag
#: (or files it under its due time), and wakes idle consumers: for a delayed message too, so that
#: they learn how long to sleep.
PUT = (
    _PRELUDE
    + """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local delay = tonumber(ARGV[4])
if delay > 0 then
  redis.call('ZADD', KEYS[14], now_ms() + delay, ARGV[1])
else
  redis.call('LPUSH', ready_key(ARGV[1]), ARGV[1])
end
redis.call('PUBLISH', ARGV[3], '')
return 1
"""
)

#: ARGV: lease milliseconds, most expired leases to reclaim, most due messages to move, most
#: messages to take. Returns {tag, payload, deliveries, tag, payload, deliveries, ...}, highest
#: priority first; when nothing is ready, the milliseconds until a delayed
#: message comes due or a lease runs out, whichever is first (-1: neither), for an idle wait.
#: Due messages join the tail of their lists first (earliest due first, as if published then),
#: and expired leases join the returned messages, so a dead consumer's messages and delayed ones
#: come back without any separate sweeper process.
FETCH = (
    _PRELUDE
    + """
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[14], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
if #due > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[14], 0, #due - 1)
  for i = 1, #due do redis.call('LPUSH', ready_key(due[i]), due[i]) end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #expired do
  redis.call('ZREM', KEYS[1], expired[i])
  redis.call('ZADD', KEYS[15], returned_score(expired[i]), expired[i])
end
local taken, wanted = {}, tonumber(ARGV[4])
local function take(tag)
  local payload = redis.call('HGET', KEYS[2], tag)
  if payload then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), tag)
    taken[#taken + 1] = tag
    taken[#taken + 1] = payload
    taken[#taken + 1] = redis.call('HINCRBY', KEYS[3], tag, 1)
  else
    -- Acknowledged by an earlier holder whose lease had run out: nothing left to deliver.
    redis.call('HDEL', KEYS[3], tag)
  end
end
local any_returned = redis.call('ZCARD', KEYS[15]) > 0
for k = 4, 13 do
  if any_returned and #taken < wanted * 3 then
    local back = redis.call('ZRANGEBYSCORE', KEYS[15], k - 4, k - 4, 'LIMIT', 0, wanted - #taken / 3)
    for i = 1, #back do
      redis.call('ZREM', KEYS[15], back[i])
      take(back[i])
    end
  end
  while #taken < wanted * 3 do
    local tag = redis.call('RPOP', KEYS[k])
    if not tag then break end
    take(tag)
  end
end
if #taken > 0 then return taken end
local next_at = first_score(KEYS[14])
local lease_at = first_score(KEYS[1])
if lease_at and (not next_at or lease_at < next_at) then next_at = lease_at end
if next_at then return math.max(0, next_at - now) end
return -1
"""
)

#: ARGV: tags. Forgets them whoever holds them now: the work is done.
ACK = (
    _PRELUDE
    + """
for i = 1, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
end
return #ARGV
"""
)

#: ARGV: wake-up channel, then pairs of tag and the delivery count its holder saw.
#: Back among the returned messages (ahead of its ready list, in publish order), but only while
#: that holder's lease is still current: a holder whose lease ran out (the message may be with
#: another consumer now) releases nothing.
RELEASE = (
    _PRELUDE
    + """
local released = 0
for i = 2, #ARGV, 2 do
  local tag = ARGV[i]
  if redis.call('HGET', KEYS[3], tag) == ARGV[i + 1] and redis.call('ZREM', KEYS[1], tag) == 1 then
    redis.call('ZADD', KEYS[15], returned_score(tag), tag)
    released = released + 1
  end
end
if released > 0 then redis.call('PUBLISH', ARGV[1], '') end
return released
"""
)

#: ARGV: lease milliseconds, then pairs of tag and delivery count. Returns the tags whose lease
#: was already gone (expired and reclaimed, or taken by another consumer).
RENEW = (
    _PRELUDE
    + """
local deadline = now_ms() + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
  local tag = ARGV[i]
  if redis.call('HGET', KEYS[3], tag) == ARGV[i + 1] and redis.call('ZSCORE', KEYS[1], tag) then
    redis.call('ZADD', KEYS[1], deadline, tag)
  else
    lost[#lost + 1] = tag
  end
end
return lost
"""
)

#: No ARGV. Ready messages: the ready lists, returned ones, leases that have run out, due delayed
#: messages.
SIZE = (
    _PRELUDE
    + """
local now = now_ms()
local n = redis.call('ZCOUNT', KEYS[1], '-inf', now) + redis.call('ZCOUNT', KEYS[14], '-inf', now)
n = n + redis.call('ZCARD', KEYS[15])
for k = 4, 13 do n = n + redis.call('LLEN', KEYS[k]) end
return n
"""
)

#: No ARGV. Delayed messages not yet due.
DELAYED_SIZE = (
    _PRELUDE
    + """
return redis.call('ZCOUNT', KEYS[14], '(' .. now_ms(), '+inf')
"""
)

#: No ARGV. Deletes the ready and delayed messages (and those whose lease ran out); returns how many.
PURGE = (
    _PRELUDE
    + """
local n = 0
local function forget(tag)
  redis.call('HDEL', KEYS[2], tag)
  redis.call('HDEL', KEYS[3], tag)
  n = n + 1
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())
for _, tag in ipairs(expired) do
  redis.call('ZREM', KEYS[1], tag)
  forget(tag)
end
for k = 4, 15 do
  local tags = k >= 14 and redis.call('ZRANGE', KEYS[k], 0, -1) or redis.call('LRANGE', KEYS[k], 0, -1)
  for _, tag in ipairs(tags) do forget(tag) end
  redis.call('DEL', KEYS[k])
end
return n
"""
)


def sharded(script: str) -> str:
    """``script`` sending its wake-ups by sharded pub/sub, as a Redis Cluster wants them.

    A plain PUBLISH in a cluster goes to every node; SPUBLISH stays with the shard that owns the
    queue's slot (the wake-up channel carries the queue's hash tag), where its consumers listen.
    """
    return script.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',")
