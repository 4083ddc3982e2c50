"""The Lua scripts of the Redis state store (reviews have theirs in `redis_reviews`).

A script runs atomically, so each one below is a whole store operation: a
compare-and-set, or a change together with the revision it moves. Every key a script
touches shares one hash tag (see `redis_keys`); scripts that walk a set reach the
members' keys by a prefix passed in ARGV, which keeps them in the same slot.

Times arrive as Python `repr` strings and are stored as given: Lua only compares them
(`tonumber`), never formats one, since its own formatting keeps 14 digits.
"""

from __future__ import annotations

from typing import Final

# Every admin change moves the revision and announces it, in the script that made it.
_BUMP = """
local function bump(revision_key, channel)
  local revision = redis.call('INCR', revision_key)
  redis.call('PUBLISH', channel, revision)
end
"""

# KEYS: record hash, order zset, order counter, revision[, principal's set].
# ARGV: id, channel, then field/value pairs. Returns 1, or 0 when the id is taken.
ADD_RECORD: Final = (
    _BUMP
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
if KEYS[5] then redis.call('SADD', KEYS[5], ARGV[1]) end
bump(KEYS[4], ARGV[2])
return 1
"""
)

# A grant due to be revoked later is still live: revoking brings it forward.
_LIVE = """
local function live(key, at)
  local revoked = redis.call('HGET', key, 'revoked_at')
  return not revoked or tonumber(revoked) > at
end
"""

# KEYS: principal's set, revision. ARGV: at, channel, grant key prefix. Returns the count.
REVOKE_PRINCIPAL: Final = (
    _BUMP
    + _LIVE
    + """
local at = tonumber(ARGV[1])
local count = 0
for _, client_id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[3] .. client_id
  if live(key, at) then
    redis.call('HSET', key, 'revoked_at', ARGV[1])
    count = count + 1
  end
end
if count > 0 then bump(KEYS[2], ARGV[2]) end
return count
"""
)

# KEYS: grant hash, revision. ARGV: at, channel. Returns 1 if it revoked.
REVOKE_CLIENT: Final = (
    _BUMP
    + _LIVE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 or not live(KEYS[1], tonumber(ARGV[1])) then
  return 0
end
redis.call('HSET', KEYS[1], 'revoked_at', ARGV[1])
bump(KEYS[2], ARGV[2])
return 1
"""
)

# KEYS: revoked zset, revision. ARGV: jti, expires_at, prune before, channel. Ids past
# the horizon go now; the set itself expires once its last id would (the time left is
# counted on the caller's clock, like the horizon).
REVOKE_TOKEN: Final = (
    _BUMP
    + """
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  local ttl = math.ceil((tonumber(last[2]) - tonumber(ARGV[3])) * 1000)
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
bump(KEYS[2], ARGV[4])
return 1
"""
)

# KEYS: order zset. ARGV: record key prefix. Every record's fields, in order.
READ_RECORDS: Final = """
local records = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  records[#records + 1] = redis.call('HGETALL', ARGV[1] .. id)
end
return records
"""

# KEYS: grants zset, revoked zset, revision. ARGV: now, grant key prefix.
# Returns {revision, unexpired revoked jtis, every grant's fields in order}: one snapshot.
REVOCATION_VIEW: Final = """
local grants = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  grants[#grants + 1] = redis.call('HGETALL', ARGV[2] .. id)
end
local jtis = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
return {redis.call('GET', KEYS[3]) or '0', jtis, grants}
"""

# KEYS: key hash, revision. ARGV: retire_at, channel. Returns 1 if the key exists.
SCHEDULE_RETIREMENT: Final = (
    _BUMP
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local retire_at = redis.call('HGET', KEYS[1], 'retire_at')
if not retire_at or tonumber(retire_at) > tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'retire_at', ARGV[1])
  bump(KEYS[2], ARGV[2])
end
return 1
"""
)

# KEYS: phases list, revision. ARGV: the change (JSON), channel.
SET_PHASE: Final = (
    _BUMP
    + """
redis.call('RPUSH', KEYS[1], ARGV[1])
bump(KEYS[2], ARGV[2])
return 1
"""
)

# Adds a job to its principal's listing once, keeping creation order.
_LIST_JOB = """
local function list_job(order, created, counter, job_id, created_at)
  if redis.call('ZSCORE', order, job_id) then return end
  redis.call('ZADD', order, redis.call('INCR', counter), job_id)
  redis.call('HSET', created, job_id, created_at)
end
"""

# Adds a bound lease to the reconcilers' index, once.
_INDEX_LEASE = """
local function index_lease(due, expiry, job_id, check_at, expires_at)
  redis.call('ZADD', due, 'NX', check_at, job_id)
  redis.call('ZADD', expiry, 'NX', expires_at, job_id)
end
"""

# KEYS: job hash, lease key[, leases due zset, leases expiry zset[, listing zset, created
# hash, listing counter]]. ARGV: job id, principal, created_at, lease (JSON, or "" for
# none), lease ttl (ms), check_at, expires_at. The first owner wins; a lease binds once
# and, when the index keys are given (on a single Redis), is indexed with it; the listing
# (likewise) gets the job only if the principal owns it. Returns {owner, 1 if this call
# bound the lease else 0}.
RECORD_JOB: Final = (
    _LIST_JOB
    + _INDEX_LEASE
    + """
local owner = redis.call('HGET', KEYS[1], 'principal')
if not owner then
  redis.call('HSET', KEYS[1], 'principal', ARGV[2], 'created_at', ARGV[3])
  owner = ARGV[2]
end
local bound = 0
if ARGV[4] ~= '' and redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then
  bound = 1
  if KEYS[3] then index_lease(KEYS[3], KEYS[4], ARGV[1], ARGV[6], ARGV[7]) end
end
if KEYS[5] and owner == ARGV[2] then
  list_job(KEYS[5], KEYS[6], KEYS[7], ARGV[1], ARGV[3])
end
return {owner, bound}
"""
)

# KEYS: leases due zset, leases expiry zset. ARGV: job id, check_at, expires_at.
INDEX_LEASE: Final = (
    _INDEX_LEASE
    + """
index_lease(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
return 1
"""
)

# KEYS: lease key[, leases due zset, leases expiry zset]. ARGV: job id. Removes and
# returns the binding (nil for none), and its index entries when their keys are given.
TAKE_LEASE: Final = """
local binding = redis.call('GET', KEYS[1])
if binding then
  redis.call('DEL', KEYS[1])
  if KEYS[2] then
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
end
return binding
"""

# KEYS: leases due zset, leases expiry zset. ARGV: job id.
UNINDEX_LEASE: Final = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: leases due zset, leases expiry zset. ARGV: now, until, limit. Drops entries whose
# lease has run out (a bounded number per call), then claims up to `limit` due ones by
# moving their next check to `until`. Returns the claimed job ids.
CLAIM_LEASES: Final = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
end
return due
"""

# KEYS: listing zset, created hash, listing counter. ARGV: job id, created_at.
LIST_JOB: Final = (
    _LIST_JOB
    + """
list_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
return 1
"""
)

# KEYS: job hash. Returns the owner it had (nil for none), and forgets the job.
FORGET_JOB: Final = """
local owner = redis.call('HGET', KEYS[1], 'principal')
redis.call('DEL', KEYS[1])
return owner
"""

# KEYS: listing zset, created hash. ARGV: job id.
UNLIST_JOB: Final = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# KEYS: listing zset, created hash. ARGV: after ("" for the start), limit, "1" for
# newest first. Returns job id, created_at, job id, created_at... The cursor is looked
# up among the principal's own jobs only: anyone else's id gives an empty page.
PAGE_JOBS: Final = """
local limit = tonumber(ARGV[2])
if limit <= 0 then return {} end
local newest = ARGV[3] == '1'
local ids
if ARGV[1] ~= '' then
  local seq = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not seq then return {} end
  if newest then
    ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. seq, '-inf', 'LIMIT', 0, limit)
  else
    ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. seq, '+inf', 'LIMIT', 0, limit)
  end
elseif newest then
  ids = redis.call('ZREVRANGE', KEYS[1], 0, limit - 1)
else
  ids = redis.call('ZRANGE', KEYS[1], 0, limit - 1)
end
local page = {}
for _, id in ipairs(ids) do
  page[#page + 1] = id
  page[#page + 1] = redis.call('HGET', KEYS[2], id)
end
return page
"""

_IDEMPOTENCY_FIELDS = "'fingerprint', 'state', 'status', 'content_type', 'body', 'expires_at'"

# KEYS: the record. ARGV: fingerprint, now, expires_at, ttl (ms). Returns nil when this
# call claimed the key, else the unexpired record's fields.
CLAIM_IDEMPOTENCY: Final = f"""
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
if expires_at and tonumber(expires_at) > tonumber(ARGV[2]) then
  return redis.call('HMGET', KEYS[1], {_IDEMPOTENCY_FIELDS})
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'state', 'in_progress',
  'created_at', ARGV[2], 'expires_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return false
"""

# KEYS: the record. ARGV: status, content type, body, expires_at, slack (ms). Only a
# claim in progress takes an answer; the record then lives as long as the answer is
# kept, counted from the claim (the caller's clock, not Redis's), plus the slack.
COMPLETE_IDEMPOTENCY: Final = """
if redis.call('HGET', KEYS[1], 'state') ~= 'in_progress' then return 0 end
local created_at = tonumber(redis.call('HGET', KEYS[1], 'created_at'))
redis.call('HSET', KEYS[1], 'state', 'completed', 'status', ARGV[1],
  'content_type', ARGV[2], 'body', ARGV[3], 'expires_at', ARGV[4])
local ttl = math.floor((tonumber(ARGV[4]) - created_at) * 1000) + tonumber(ARGV[5])
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return 1
"""

# KEYS: the record. Only a claim in progress goes; a kept answer stays.
RELEASE_IDEMPOTENCY: Final = """
if redis.call('HGET', KEYS[1], 'state') == 'in_progress' then
  redis.call('DEL', KEYS[1])
end
return 1
"""
