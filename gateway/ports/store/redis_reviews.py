"""Held requests and their reviews in the Redis store: the scripts and the encoding.

Every key is in the `{reviews}` slot (see `redis_keys`), so a hold, a compare-and-set
on a review and the settling of its reservation each move the review and its indexes
in one script. The methods here raise Redis's own errors; the store translates them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields as dataclass_fields
from typing import Any, Final, cast

from redis.asyncio import Redis

from gateway.core.limits import LimitCheck
from gateway.core.review import HeldRequest
from gateway.core.review_state import Review, ReviewMove, ReviewState, ReviewTransition
from gateway.ports.redis_connection import AsyncClient
from gateway.ports.store import redis_keys as keys
from gateway.ports.store.charges import decode_charges, encode_charges
from gateway.ports.store.redis_codec import fields, pairs

# KEYS: held hash, review hash, order counter, pending state zset, pending expiry zset.
# ARGV: video id, expires_at, number n of held fields*2, the held request's field/value
# pairs (n values), then the review's. Returns 0 when the id is taken.
HOLD: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + n))
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], 'seq', seq, 'state', 'pending', 'settled', '0', unpack(ARGV, 4 + n))
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
return 1
"""

# KEYS: review hash, state zset of the source, of `submitting`, of the target; pending
# expiry zset; owed zset. ARGV: video id, source, target, at, takeover_before ("" for
# none), only_owner ("" for none), "1" if decided, then field/value pairs to record.
# Returns {won, the review's fields as they stand}; {0} when there is no such review.
MOVE: Final = """
local review = KEYS[1]
local state = redis.call('HGET', review, 'state')
if not state then return {0} end
local won = state == ARGV[2]
if not won and ARGV[5] ~= '' and state == 'submitting' then
  local claim = redis.call('HGET', review, 'claim_expires_at')
  won = claim and tonumber(claim) <= tonumber(ARGV[5])
end
if won and ARGV[6] ~= '' then
  won = redis.call('HGET', review, 'claim_owner') == ARGV[6]
end
if not won then return {0, redis.call('HGETALL', review)} end
local changes = {'state', ARGV[3], 'updated_at', ARGV[4]}
if ARGV[7] == '1' then
  changes[#changes + 1] = 'decided_at'
  changes[#changes + 1] = ARGV[4]
end
if ARGV[3] == 'submitted' then
  changes[#changes + 1] = 'settled'
  changes[#changes + 1] = '1'
end
for i = 8, #ARGV do changes[#changes + 1] = ARGV[i] end
redis.call('HSET', review, unpack(changes))
local seq = redis.call('HGET', review, 'seq')
local from = KEYS[2]
if state ~= ARGV[2] then from = KEYS[3] end
redis.call('ZREM', from, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
if state == 'pending' then redis.call('ZREM', KEYS[5], ARGV[1]) end
if redis.call('HGET', review, 'settled') == '1' then
  redis.call('ZREM', KEYS[6], ARGV[1])
else
  redis.call('ZADD', KEYS[6], seq, ARGV[1])
end
return {1, redis.call('HGETALL', review)}
"""

# KEYS: review hash, owed zset. ARGV: video id. Returns the charges (JSON) to the one
# caller that settles an ended review; nil to everyone else.
SETTLE: Final = """
local review = redis.call('HMGET', KEYS[1], 'state', 'settled', 'charges')
if review[2] ~= '0' then return false end
if review[1] ~= 'rejected' and review[1] ~= 'expired' and review[1] ~= 'failed' then
  return false
end
redis.call('HSET', KEYS[1], 'settled', '1')
redis.call('ZREM', KEYS[2], ARGV[1])
return review[3]
"""

# KEYS: pending expiry zset, owed zset. ARGV: now, review key prefix. Overdue pending
# reviews and every owed one, each as its fields (the caller puts them in order).
DUE: Final = """
local due = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  due[#due + 1] = redis.call('HGETALL', ARGV[2] .. id)
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  due[#due + 1] = redis.call('HGETALL', ARGV[2] .. id)
end
return due
"""

# KEYS: state zsets. ARGV: review key prefix. Every review in them, as its fields.
IN_STATES: Final = """
local found = {}
for _, state in ipairs(KEYS) do
  for _, id in ipairs(redis.call('ZRANGE', state, 0, -1)) do
    found[#found + 1] = redis.call('HGETALL', ARGV[1] .. id)
  end
end
return found
"""

_FLOATS: Final = frozenset(
    {"created_at", "expires_at", "updated_at", "decided_at", "claim_expires_at"}
)
_REVIEW_FIELDS: Final = tuple(field.name for field in dataclass_fields(Review))
# What a transition records when given (the rest of its fields steer the move itself).
_RECORDED: Final = (
    "reviewer",
    "note",
    "reason",
    "public_message",
    "claim_owner",
    "claim_expires_at",
    "upstream_job_id",
    "upstream_status",
    "error_code",
    "error_message",
)


def _review(stored: dict[str, bytes]) -> Review:
    values: dict[str, Any] = {}
    for name in _REVIEW_FIELDS:
        raw = stored.get(name)
        if raw is None:
            continue
        text = raw.decode()
        if name in _FLOATS:
            values[name] = float(text)
        elif name == "upstream_status":
            values[name] = int(text)
        elif name == "settled":
            values[name] = text == "1"
        elif name == "state":
            values[name] = ReviewState(text)
        else:
            values[name] = text
    return Review(**values)


def _in_order(found: Sequence[Sequence[bytes]]) -> list[Review]:
    stored = [fields(flat) for flat in found if flat]
    stored.sort(key=lambda review: int(review["seq"]))
    return [_review(review) for review in stored]


def _held(stored: dict[str, bytes]) -> HeldRequest:
    rules = stored["rule_ids"].decode()
    return HeldRequest(
        video_id=stored["video_id"].decode(),
        principal=stored["principal"].decode(),
        client_id=stored["client_id"].decode(),
        tier=stored["tier"].decode(),
        target=stored["target"].decode(),
        content_type=stored["content_type"].decode(),
        body=stored["body"],
        rule_ids=tuple(rules.split("\n")) if rules else (),
        policy_version=stored["policy_version"].decode(),
        created_at=float(stored["created_at"]),
    )


class ReviewScripts:
    """The review half of the Redis store, on the store's client."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        registrar = cast(Redis, client)  # see RedisStore: both clients register scripts
        self._hold = registrar.register_script(HOLD)
        self._move = registrar.register_script(MOVE)
        self._settle = registrar.register_script(SETTLE)
        self._due = registrar.register_script(DUE)
        self._in_states = registrar.register_script(IN_STATES)

    async def hold(
        self,
        held: HeldRequest,
        *,
        expires_at: float,
        request_id: str | None,
        charges: Sequence[LimitCheck],
    ) -> bool:
        request = pairs(
            {
                "video_id": held.video_id,
                "principal": held.principal,
                "client_id": held.client_id,
                "tier": held.tier,
                "target": held.target,
                "content_type": held.content_type,
                "body": held.body,
                "rule_ids": "\n".join(held.rule_ids),
                "policy_version": held.policy_version,
                "created_at": held.created_at,
            }
        )
        review = pairs(
            {
                "video_id": held.video_id,
                "principal": held.principal,
                "client_id": held.client_id,
                "tier": held.tier,
                "request_id": request_id,
                "created_at": held.created_at,
                "expires_at": expires_at,
                "updated_at": held.created_at,
                "charges": encode_charges(charges),
            }
        )
        script_keys = [
            keys.held(held.video_id),
            keys.review(held.video_id),
            keys.REVIEW_SEQ,
            keys.review_state(ReviewState.PENDING),
            keys.PENDING,
        ]
        args = [held.video_id, repr(expires_at), len(request), *request, *review]
        return bool(await self._hold(script_keys, args))

    async def held_request(self, video_id: str) -> HeldRequest | None:
        stored: dict[bytes, bytes] = await self._client.hgetall(keys.held(video_id))  # type: ignore[misc]
        return _held({k.decode(): v for k, v in stored.items()}) if stored else None

    async def review(self, video_id: str) -> Review | None:
        stored: dict[bytes, bytes] = await self._client.hgetall(keys.review(video_id))  # type: ignore[misc]
        return _review({k.decode(): v for k, v in stored.items()}) if stored else None

    async def reviews(self, states: Collection[ReviewState]) -> list[Review]:
        wanted = sorted({ReviewState(state).value for state in states})
        if not wanted:
            return []
        found = await self._in_states([keys.review_state(s) for s in wanted], [keys.REVIEW])
        return _in_order(found)

    async def move(self, video_id: str, transition: ReviewTransition) -> ReviewMove:
        recorded = pairs({name: getattr(transition, name) for name in _RECORDED})
        script_keys = [
            keys.review(video_id),
            keys.review_state(transition.source),
            keys.review_state(ReviewState.SUBMITTING),
            keys.review_state(transition.to),
            keys.PENDING,
            keys.OWED,
        ]
        args: list[str | bytes] = [
            video_id,
            transition.source.value,
            transition.to.value,
            repr(transition.at),
            "" if transition.takeover_before is None else repr(transition.takeover_before),
            transition.only_owner or "",
            "1" if transition.decided else "0",
            *recorded,
        ]
        reply = await self._move(script_keys, args)
        if len(reply) < 2:
            return ReviewMove(False, None)
        return ReviewMove(bool(reply[0]), _review(fields(reply[1])))

    async def due(self, now: float) -> list[Review]:
        return _in_order(await self._due([keys.PENDING, keys.OWED], [repr(now), keys.REVIEW]))

    async def settle(self, video_id: str) -> tuple[LimitCheck, ...] | None:
        charges = await self._settle([keys.review(video_id), keys.OWED], [video_id])
        return None if charges is None else decode_charges(charges)
