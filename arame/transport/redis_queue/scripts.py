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

# One queue's fetch, over its 15 keys from q[1]: ``ready(o, now, ...)`` moves due messages
# to their ready lists and expired leases to the returned ones; ``take(o, now, ...)`` leases up
# to ``wanted`` messages, highest priority first, appending tag, payload and delivery count to
# ``taken``; ``idle_ms(q, now)`` is how long until a delayed message comes due or a lease runs
# out there, whichever is first (-1: neither). Due messages join the tail of their lists (earliest
# due first, as if published then), and expired leases join the returned messages, so a dead
# consumer's messages and delayed ones come back without any separate sweeper process.
_FETCH_FUNCTIONS = """
local function ready(q, now, most_reclaimed, most_promoted)
  local due = redis.call('ZRANGEBYSCORE', q[14], '-inf', now, 'LIMIT', 0, most_promoted)
  if #due > 0 then
    redis.call('ZREMRANGEBYRANK', q[14], 0, #due - 1)
    for i = 1, #due do redis.call('LPUSH', q[13 - tonumber(string.sub(due[i], 1, 1))], due[i]) end
  end
  local expired = redis.call('ZRANGEBYSCORE', q[1], '-inf', now, 'LIMIT', 0, most_reclaimed)
  for i = 1, #expired do
    redis.call('ZREM', q[1], expired[i])
    redis.call('ZADD', q[15], returned_score(expired[i]), expired[i])
  end
end
local function take(q, now, lease_ms, wanted, taken)
  local count = 0
  local function lease(tag)
    local payload = redis.call('HGET', q[2], tag)
    if payload then
      redis.call('ZADD', q[1], now + lease_ms, tag)
      taken[#taken + 1] = tag
      taken[#taken + 1] = payload
      taken[#taken + 1] = redis.call('HINCRBY', q[3], tag, 1)
      count = count + 1
    else
      -- Acknowledged by an earlier holder whose lease had run out: nothing left to deliver.
      redis.call('HDEL', q[3], tag)
    end
  end
  local any_returned = redis.call('ZCARD', q[15]) > 0
  -- One call tells an empty queue (the usual case among many consumed) from ten empty pops.
  if not any_returned and redis.call('EXISTS', unpack(q, 4, 13)) == 0 then return 0 end
  for k = 4, 13 do
    if any_returned and count < wanted then
      local back = redis.call('ZRANGEBYSCORE', q[15], k - 4, k - 4, 'LIMIT', 0, wanted - count)
      for i = 1, #back do
        redis.call('ZREM', q[15], back[i])
        lease(back[i])
      end
    end
    while count < wanted do
      local tag = redis.call('RPOP', q[k])
      if not tag then break end
      lease(tag)
    end
  end
  return count
end
local function idle_ms(q, now)
  local next_at = first_score(q[14])
  local lease_at = first_score(q[1])
  if lease_at and (not next_at or lease_at < next_at) then next_at = lease_at end
  if next_at then return math.max(0, next_at - now) end
  return -1
end
"""

#: ARGV: lease milliseconds, most expired leases to reclaim, most due messages to move, most
#: messages to take. Returns {tag, payload, deliveries, tag, payload, deliveries, ...}, highest
#: priority first; when nothing is ready, the milliseconds until a delayed message comes due or
#: a lease runs out, whichever is first (-1: neither), for an idle wait.
FETCH = (
    _PRELUDE
    + _FETCH_FUNCTIONS
    + """
local now = now_ms()
ready(KEYS, now, tonumber(ARGV[2]), tonumber(ARGV[3]))
local taken = {}
take(KEYS, now, tonumber(ARGV[1]), tonumber(ARGV[4]), taken)
if #taken > 0 then return taken end
return idle_ms(KEYS, now)
"""
)

#: KEYS: the key prefix of each of several queues (``arame:{<queue>}``), whose 15 keys the script
#: names itself, as ``queue_keys`` does: one argument per queue instead of 15, on a single server
#: only (a cluster wants every key named, and in one slot). ARGV as ``FETCH``'s, the most
#: messages counted over all the queues. Visits the queues in order, taking at most an even share
#: from each, then what is still wanted from those that had more. Returns the number of queues
#: visited (it stops once enough is taken), then for each: how many messages it gave, those
#: messages as ``FETCH`` returns them, or, when it gave none, its idle milliseconds.
FETCH_MANY = (
    _PRELUDE
    + _FETCH_FUNCTIONS
    + """
local function keys_of(base)
  local q = {base .. ':leases', base .. ':payloads', base .. ':deliveries'}
  for p = 9, 0, -1 do q[#q + 1] = base .. ':ready:' .. p end
  q[14] = base .. ':delayed'
  q[15] = base .. ':returned'
  return q
end
local now = now_ms()
local lease_ms, wanted, queues = tonumber(ARGV[1]), tonumber(ARGV[4]), #KEYS
local share = math.max(1, math.floor(wanted / queues))
local keys, taken, counts, total, visited = {}, {}, {}, 0, 0
for i = 1, queues do
  if total >= wanted then break end
  keys[i] = keys_of(KEYS[i])
  ready(keys[i], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
  taken[i] = {}
  counts[i] = take(keys[i], now, lease_ms, math.min(share, wanted - total), taken[i])
  total = total + counts[i]
  visited = i
end
for i = 1, visited do
  if total >= wanted then break end
  if counts[i] == share then
    local more = take(keys[i], now, lease_ms, wanted - total, taken[i])
    counts[i] = counts[i] + more
    total = total + more
  end
end
local reply = {visited}
for i = 1, visited do
  reply[#reply + 1] = counts[i]
  if counts[i] == 0 then
    reply[#reply + 1] = idle_ms(keys[i], now)
  else
    for j = 1, #taken[i] do reply[#reply + 1] = taken[i][j] end
  end
end
return reply
"""
)

#: KEYS: the leases, payloads and deliveries keys (``KEYS[1..3]`` of each) of several queues, one
#: queue after the other. ARGV: for each queue, how many tags, then those tags. ``ACK`` for each.
ACK_MANY = """
local at = 1
for k = 1, #KEYS, 3 do
  local n = tonumber(ARGV[at])
  for i = at + 1, at + n do
    redis.call('ZREM', KEYS[k], ARGV[i])
    redis.call('HDEL', KEYS[k + 1], ARGV[i])
    redis.call('HDEL', KEYS[k + 2], ARGV[i])
  end
  at = at + n + 1
end
return at
"""

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
