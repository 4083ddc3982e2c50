"""The shared limiter: limits exact across any number of gateway replicas sharing Redis.

Each call is one Lua script, so it is one round trip and atomic: Redis runs a script
with nothing else in between. The script reads the state of the request's keys, judges
it with GCRA arithmetic that mirrors `gateway.core.limits.gcra` line by line (integer
microseconds, which Lua's doubles hold exactly), writes only if every check admits the
request, and returns what it read. The verdict (remaining, reset and retry times) is
then computed by the same core function the memory adapter uses, from those readings,
and must agree with the script's own decision.

The clock is Redis's `TIME`, read inside the script, so replicas whose clocks disagree
still agree on the limits.

Keys: a check key "<tier>:<rest>" is stored as "pg:{<tier>}:<rest>". The braces are a
Redis Cluster hash tag: every key of one request (they share the tier) is in one slot,
as a multi-key script on a cluster requires.
  - rate and cost checks: a string holding the TAT (integer microseconds since the
    epoch), expiring when the budget would be fully replenished;
  - concurrency checks: a sorted set of lease ids scored by expiry (microseconds),
    expiring with its last lease.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from gateway.core.limits import LimitCheck, Verdict, decide, gcra, tier_of, validate_acquire
from gateway.core.limits.decide import Leases, Observed
from gateway.ports.limiter.base import LimiterUnavailable
from gateway.ports.redis_connection import CLIENT_ERRORS, AsyncClient, async_client, retry_once

RedisClient = AsyncClient
_T = TypeVar("_T")

KEY_PREFIX = "pg:"
CONNECT_TIMEOUT = 0.5
OPERATION_TIMEOUT = 0.5

# Shared by the scripts: the time in integer microseconds, and integers written out in
# full (Lua's own number-to-string conversion keeps only 14 significant digits).
_PRELUDE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function int(x) return string.format('%.0f', x) end
local function ms(us) return int(math.ceil(us / 1000)) end
"""

# KEYS: one per check. ARGV[1]: lease id; ARGV[2]: lease ttl (us); then three values per
# check i at ARGV[3i], ARGV[3i+1], ARGV[3i+2]: "r", increment (cost*T), tolerance
# (burst*T) for rate and cost checks; "c", N, 0 for concurrency checks.
# Returns {allowed, now, then per check three numbers}: tat (-1 when none), 0, 0 for
# rate and cost checks; live leases, holds (1/0), earliest expiry (-1 when none) for
# concurrency checks.
ACQUIRE = (
    _PRELUDE
    + """
local lease_id = ARGV[1]
local lease_ttl = tonumber(ARGV[2])
local allowed = 1
local new_tats = {}
local seen = {1, now}
for i, key in ipairs(KEYS) do
  local kind = ARGV[3 * i]
  local a = tonumber(ARGV[3 * i + 1])
  local b = tonumber(ARGV[3 * i + 2])
  if kind == 'r' then
    local stored = redis.call('GET', key)
    local tat = -1
    if stored then tat = tonumber(stored) end
    -- gcra.consume: max(tat or now, now) + increment
    local base = now
    if tat > now then base = tat end
    local new_tat = base + a
    new_tats[i] = new_tat
    -- gcra.conforms: new_tat - now <= tolerance
    if not (new_tat - now <= b) then allowed = 0 end
    table.insert(seen, tat)
    table.insert(seen, 0)
    table.insert(seen, 0)
  else
    -- gcra.live_leases: a lease expiring at or before now is gone
    redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now))
    local live = redis.call('ZCARD', key)
    local holds = 0
    if redis.call('ZSCORE', key, lease_id) then holds = 1 end
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local next_expiry = -1
    if first[2] then next_expiry = tonumber(first[2]) end
    -- gcra.admits: holds or live < limit
    if not (holds == 1 or live < a) then allowed = 0 end
    table.insert(seen, live)
    table.insert(seen, holds)
    table.insert(seen, next_expiry)
  end
end
seen[1] = allowed
if allowed == 1 then
  -- gcra.lease_expiry: now + lease_ttl
  local expires_at = now + lease_ttl
  for i, key in ipairs(KEYS) do
    if ARGV[3 * i] == 'r' then
      -- kept until gcra.is_idle: tat <= now
      if new_tats[i] > now then
        redis.call('SET', key, int(new_tats[i]), 'PX', ms(new_tats[i] - now))
      else
        redis.call('DEL', key)
      end
    else
      redis.call('ZADD', key, int(expires_at), lease_id)
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      redis.call('PEXPIRE', key, ms(tonumber(last[2]) - now))
    end
  end
end
return seen
"""
)

# KEYS: one per check. ARGV[1]: lease id; then two values per check i at ARGV[2i],
# ARGV[2i+1]: "r", increment for rate and cost checks; "c", 0 for concurrency checks.
REFUND = (
    _PRELUDE
    + """
local lease_id = ARGV[1]
for i, key in ipairs(KEYS) do
  if ARGV[2 * i] == 'r' then
    local stored = redis.call('GET', key)
    if stored then
      -- gcra.refund: max(now, tat - increment), idle (dropped) when that is now
      local tat = tonumber(stored) - tonumber(ARGV[2 * i + 1])
      if tat > now then
        redis.call('SET', key, int(tat), 'PX', ms(tat - now))
      else
        redis.call('DEL', key)
      end
    end
  elseif redis.call('TYPE', key).ok == 'zset' then
    redis.call('ZREM', key, lease_id)
  end
end
return 0
"""
)

# KEYS: lease keys. ARGV[1]: lease id. Keys that hold no leases are left alone.
RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'zset' then
    redis.call('ZREM', key, ARGV[1])
  end
end
return 0
"""


def storage_key(key: str) -> str:
    """The Redis key of a check key: its tier becomes the hash tag."""
    tier = tier_of(key)
    return f"{KEY_PREFIX}{{{tier}}}:{key[len(tier) + 1 :]}"


def _by_tier(keys: Sequence[str]) -> dict[str, list[int]]:
    """Positions of the keys per tier: one script call per cluster slot."""
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(tier_of(key), []).append(position)
    return groups


def _observed(check: LimitCheck, a: int, b: int, c: int) -> Observed:
    if check.is_concurrency:
        return Leases(a, b == 1, None if c < 0 else c)
    return None if a < 0 else a


class RedisLimiter:
    """`Limiter` on Redis or Redis Cluster; it owns the client and closes it."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        # register_script works on both clients (it picks the cluster's encoder itself),
        # though redis-py annotates it for Redis only. A script runs with EVALSHA and is
        # loaded (on every primary of a cluster) when the server does not know it yet.
        registrar = cast(Redis, client)
        self._acquire = registrar.register_script(ACQUIRE)
        self._refund = registrar.register_script(REFUND)
        self._release = registrar.register_script(RELEASE)

    async def _call(self, pending: Awaitable[_T]) -> _T:
        try:
            return await pending
        # Redis errors name the command and the server's address, never the password;
        # the class name is what the caller needs, the chained cause has the rest.
        except CLIENT_ERRORS as exc:
            raise LimiterUnavailable(f"the Redis limiter failed: {type(exc).__name__}") from exc

    async def acquire(
        self, checks: Sequence[LimitCheck], *, lease_id: str, lease_ttl: float
    ) -> Verdict:
        validate_acquire(checks, lease_ttl)
        if not checks:
            return Verdict(True)
        keys = [storage_key(check.key) for check in checks]
        args: list[str | int] = [lease_id, gcra.to_micros(lease_ttl)]
        for check in checks:
            if check.is_concurrency:
                args += ["c", check.concurrency, 0]
            else:
                args += ["r", check.increment_us, check.tolerance_us]
        reply: list[Any] = await self._call(self._acquire(keys, args))
        allowed, now, *values = (int(value) for value in reply)
        observed = [_observed(check, *values[3 * i : 3 * i + 3]) for i, check in enumerate(checks)]
        decision = decide(checks, observed, now)
        if decision.verdict.allowed != bool(allowed):
            # A bug, never an outcome: the script and the core compute the same thing.
            raise LimiterUnavailable("the Redis limiter script disagrees with the core")
        return decision.verdict

    async def refund(self, checks: Sequence[LimitCheck], *, lease_id: str) -> None:
        for positions in _by_tier([check.key for check in checks]).values():
            keys = [storage_key(checks[i].key) for i in positions]
            args: list[str | int] = [lease_id]
            for i in positions:
                check = checks[i]
                args += ["c", 0] if check.is_concurrency else ["r", check.increment_us]
            await self._call(self._refund(keys, args))

    async def release(self, lease_keys: Sequence[str], lease_id: str) -> None:
        for positions in _by_tier(lease_keys).values():
            keys = [storage_key(lease_keys[i]) for i in positions]
            await self._call(self._release(keys, [lease_id]))

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except CLIENT_ERRORS:
            return False

    async def close(self) -> None:
        # A connection that is gone has nothing left to release.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await self._client.aclose()


def from_url(
    url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    timeout: float = OPERATION_TIMEOUT,
) -> RedisLimiter:
    """A limiter on `redis://host:port/db`, `rediss://…` or `redis+cluster://h:p[,h:p…]`.

    Short socket timeouts make a dead or stuck Redis fail within about a second
    (`LimiterUnavailable`) instead of hanging the request. Nothing connects yet.
    """
    client = async_client(url, connect_timeout=connect_timeout, timeout=timeout, retry=retry_once())
    return RedisLimiter(client)
