"""The state store on Redis or Redis Cluster, shared by any number of gateway replicas
and the admin CLI.

Every operation is one command or one Lua script, so it is atomic and one round trip;
only a job's record and its owner's listing and lease index, which live in different
cluster slots, take two (forgetting a job always, recording one or taking its lease on
a cluster: see `redis_keys`).
Admin changes move the revision in the script that makes them and announce it over
pub/sub (`redis_changes`), so gateways reload at once rather than at their next poll.

Failing fast: connect and read timeouts of a second, and one retry only for a broken
pooled connection, so a Redis outage is `StoreUnavailable` within about a second,
never a hang. Errors name the failure, never the URL (it may carry a password).

What expires: a revoked token id a day past its token's expiry (never in a view once
its token expired; pruned by the next revocation, and the whole set expires a day after
its last token), an idempotency record with its retention, a job's lease binding with
the lease (its index entries at the next reconciler's claim after that). Grants, keys,
jobs, reviews and the phase history stay. Client secrets are stored only as their
hashes, as the grants carry them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

import orjson
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError

from gateway.core.idempotency import IdempotencyRecord, IdempotencyState
from gateway.core.identity import (
    Grant,
    JobLease,
    OwnedJob,
    PhaseChange,
    RevocationView,
    StoredKey,
)
from gateway.core.limits import LimitCheck
from gateway.core.review import HeldRequest
from gateway.core.review_state import Review, ReviewMove, ReviewState, ReviewTransition
from gateway.ports.redis_connection import (
    CLIENT_ERRORS,
    AsyncClient,
    async_client,
    cancelling,
    retry_once,
)
from gateway.ports.store import redis_keys as keys
from gateway.ports.store import redis_scripts as scripts
from gateway.ports.store.base import StoreUnavailable
from gateway.ports.store.redis_changes import ChangeSubscriber, subscriber_clients
from gateway.ports.store.redis_codec import (
    grant_record,
    in_creation_order,
    key_record,
    pairs,
    phase_change,
    text,
)
from gateway.ports.store.redis_reviews import ReviewScripts

_T = TypeVar("_T")

CONNECT_TIMEOUT: Final = 1.0
OPERATION_TIMEOUT: Final = 1.0
# As in the SQLite store: past this, no clock skew between hosts could make a revoked
# token id matter again.
PRUNE_AFTER_SECONDS: Final = 86_400.0
# Records expire this long after they stop counting, so that a replica whose clock is
# a little behind still finds what it would count as live.
EXPIRY_SLACK_MS: Final = 60_000


def _sent(reply: object) -> Awaitable[Any]:
    # redis-py types each command for its blocking and its asyncio client at once.
    return cast(Awaitable[Any], reply)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisStore:
    """`Store` on Redis or Redis Cluster; it owns its client(s) and closes them."""

    def __init__(self, client: AsyncClient, *, subscribers: Sequence[Redis]) -> None:
        self._client = client
        # A single Redis writes a job and its listing in one script; a cluster cannot.
        self._cluster = isinstance(client, RedisCluster)
        # register_script works on both clients (the cluster client loads a script on
        # every primary that lacks it), though redis-py annotates it for Redis only.
        registrar = cast(Redis, client)
        self._add_record = registrar.register_script(scripts.ADD_RECORD)
        self._revoke_principal = registrar.register_script(scripts.REVOKE_PRINCIPAL)
        self._revoke_client = registrar.register_script(scripts.REVOKE_CLIENT)
        self._revoke_token = registrar.register_script(scripts.REVOKE_TOKEN)
        self._read_records = registrar.register_script(scripts.READ_RECORDS)
        self._revocation_view = registrar.register_script(scripts.REVOCATION_VIEW)
        self._schedule_retirement = registrar.register_script(scripts.SCHEDULE_RETIREMENT)
        self._set_phase = registrar.register_script(scripts.SET_PHASE)
        self._record_job = registrar.register_script(scripts.RECORD_JOB)
        self._index_lease = registrar.register_script(scripts.INDEX_LEASE)
        self._take_lease = registrar.register_script(scripts.TAKE_LEASE)
        self._unindex_lease = registrar.register_script(scripts.UNINDEX_LEASE)
        self._claim_leases = registrar.register_script(scripts.CLAIM_LEASES)
        self._list_job = registrar.register_script(scripts.LIST_JOB)
        self._forget_job = registrar.register_script(scripts.FORGET_JOB)
        self._unlist_job = registrar.register_script(scripts.UNLIST_JOB)
        self._page_jobs = registrar.register_script(scripts.PAGE_JOBS)
        self._claim = registrar.register_script(scripts.CLAIM_IDEMPOTENCY)
        self._complete = registrar.register_script(scripts.COMPLETE_IDEMPOTENCY)
        self._release = registrar.register_script(scripts.RELEASE_IDEMPOTENCY)
        self._reviews = ReviewScripts(client)
        self._subscribers = tuple(subscribers)
        self._feed = ChangeSubscriber(self._subscribers, self.revision)
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store on `redis://host:port/db`, `rediss://…` or
        `redis+cluster://[user:password@]host:port[,host:port…]`; nothing connects yet."""
        client = async_client(
            url, connect_timeout=CONNECT_TIMEOUT, timeout=OPERATION_TIMEOUT, retry=retry_once()
        )
        return cls(client, subscribers=subscriber_clients(url, client))

    async def _call(self, pending: Awaitable[_T]) -> _T:
        if self._closed:
            if inspect.iscoroutine(pending):
                pending.close()
            raise StoreUnavailable("the store is closed")
        try:
            return await pending
        except ResponseError as exc:
            # A script's own error (a CROSSSLOT would be one): worth its words, which
            # name keys and commands, never the password.
            raise StoreUnavailable(f"the Redis store refused a command: {exc}") from exc
        except CLIENT_ERRORS as exc:
            if cancelling():
                raise asyncio.CancelledError from exc
            raise StoreUnavailable(f"the Redis store failed: {type(exc).__name__}") from exc

    def changes(self) -> AsyncIterator[int]:
        return self._feed.changes()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._feed.close()
        # A connection that is gone has nothing left to release.
        for client in {id(c): c for c in (self._client, *self._subscribers)}.values():
            with contextlib.suppress(*CLIENT_ERRORS):
                await client.aclose()

    # Grants and revocation

    async def add_grant(self, grant: Grant) -> None:
        record = pairs(
            {
                "principal": grant.principal,
                "tier": grant.tier,
                "client_id": grant.client_id,
                "secret_hash": grant.secret_hash,
                "created_at": grant.created_at,
                "expires_at": grant.expires_at,
                "revoked_at": grant.revoked_at,
            }
        )
        script_keys = [
            keys.grant(grant.client_id),
            keys.GRANTS,
            keys.SEQ,
            keys.REVISION,
            keys.principal_grants(grant.principal),
        ]
        args = [grant.client_id, keys.CHANGES, *record]
        if not await self._call(self._add_record(script_keys, args)):
            raise ValueError(f"a grant for client {grant.client_id!r} already exists")

    async def grant(self, client_id: str) -> Grant | None:
        stored = await self._call(_sent(self._client.hgetall(keys.grant(client_id))))
        return grant_record({k.decode(): v for k, v in stored.items()}) if stored else None

    async def grants(self) -> list[Grant]:
        found = await self._call(self._read_records([keys.GRANTS], [keys.GRANT]))
        return [grant_record(record) for record in in_creation_order(found)]

    async def revoke_principal(self, principal: str, at: float) -> int:
        script_keys = [keys.principal_grants(principal), keys.REVISION]
        args = [text(at), keys.CHANGES, keys.GRANT]
        return int(await self._call(self._revoke_principal(script_keys, args)))

    async def revoke_client(self, client_id: str, at: float) -> bool:
        script_keys = [keys.grant(client_id), keys.REVISION]
        return bool(await self._call(self._revoke_client(script_keys, [text(at), keys.CHANGES])))

    async def revoke_token(self, jti: str, expires_at: float, at: float) -> None:
        prune_before = at - PRUNE_AFTER_SECONDS
        args = [jti, text(float(expires_at)), text(float(prune_before)), keys.CHANGES]
        await self._call(self._revoke_token([keys.REVOKED, keys.REVISION], args))

    async def revocation_view(self, now: float) -> RevocationView:
        script_keys = [keys.GRANTS, keys.REVOKED, keys.REVISION]
        reply = await self._call(self._revocation_view(script_keys, [text(now), keys.GRANT]))
        revision, jtis, found = reply
        grants = {grant.client_id: grant for grant in map(grant_record, in_creation_order(found))}
        revoked = frozenset(jti.decode() for jti in jtis)
        return RevocationView(MappingProxyType(grants), revoked, int(revision))

    async def revision(self) -> int:
        stored = await self._call(_sent(self._client.get(keys.REVISION)))
        return int(stored) if stored is not None else 0

    # Signing keys

    async def add_key(self, key: StoredKey) -> None:
        record = pairs(
            {
                "kid": key.kid,
                "private_pem": key.private_pem,
                "created_at": key.created_at,
                "retire_at": key.retire_at,
            }
        )
        script_keys = [keys.signing_key(key.kid), keys.KEYS, keys.SEQ, keys.REVISION]
        if not await self._call(self._add_record(script_keys, [key.kid, keys.CHANGES, *record])):
            raise ValueError(f"a signing key with kid {key.kid!r} already exists")

    async def keys(self) -> list[StoredKey]:
        found = await self._call(self._read_records([keys.KEYS], [keys.KEY]))
        return [key_record(record) for record in in_creation_order(found)]

    async def schedule_retirement(self, kid: str, retire_at: float) -> bool:
        script_keys = [keys.signing_key(kid), keys.REVISION]
        args = [text(retire_at), keys.CHANGES]
        return bool(await self._call(self._schedule_retirement(script_keys, args)))

    # Job ownership: written on every generation request, so it never moves the revision.

    async def record_job(self, job: OwnedJob, *, lease: JobLease | None = None) -> None:
        binding = orjson.dumps([lease.lease_id, list(lease.keys)]) if lease else b""
        script_keys = [keys.job(job.job_id), keys.lease(job.job_id)]
        index = [keys.LEASES_DUE, keys.LEASES_EXPIRY]
        listing = list(keys.listing(job.principal))
        if not self._cluster:
            script_keys += [*index, *listing]
        check_at = text(job.created_at + lease.reconcile_after) if lease else ""
        expires_at = text(job.created_at + lease.ttl) if lease else ""
        args: list[str | bytes | int] = [
            job.job_id,
            job.principal,
            text(job.created_at),
            binding,
            _ms(lease.ttl) + EXPIRY_SLACK_MS if lease else 0,
            check_at,
            expires_at,
        ]
        owner, bound = await self._call(self._record_job(script_keys, args))
        if not self._cluster:
            return
        follow_ups: list[Awaitable[Any]] = []
        if owner == job.principal.encode():
            follow_ups.append(self._list_job(listing, [job.job_id, text(job.created_at)]))
        if bound:
            follow_ups.append(self._index_lease(index, [job.job_id, check_at, expires_at]))
        await asyncio.gather(*(self._call(pending) for pending in follow_ups))

    async def job_owner(self, job_id: str) -> str | None:
        owner = await self._call(_sent(self._client.hget(keys.job(job_id), "principal")))
        return None if owner is None else bytes(owner).decode()

    async def owned_jobs(
        self, principal: str, *, after: str | None, limit: int, newest_first: bool
    ) -> list[OwnedJob]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        order, created, _ = keys.listing(principal)
        args: list[str | int] = [after or "", limit, "1" if newest_first else "0"]
        page = await self._call(self._page_jobs([order, created], args))
        return [
            OwnedJob(page[i].decode(), principal, float(page[i + 1]))
            for i in range(0, len(page), 2)
        ]

    async def forget_job(self, job_id: str) -> None:
        owner = await self._call(self._forget_job([keys.job(job_id)], []))
        if owner is not None:
            order, created, _ = keys.listing(bytes(owner).decode())
            await self._call(self._unlist_job([order, created], [job_id]))

    # Held generation requests and their reviews (`redis_reviews`)

    async def hold_request(
        self,
        held: HeldRequest,
        *,
        expires_at: float,
        request_id: str | None = None,
        charges: Sequence[LimitCheck] = (),
    ) -> None:
        kept = await self._call(
            self._reviews.hold(held, expires_at=expires_at, request_id=request_id, charges=charges)
        )
        if not kept:
            raise ValueError(f"a held request {held.video_id!r} already exists")

    async def held_request(self, video_id: str) -> HeldRequest | None:
        return await self._call(self._reviews.held_request(video_id))

    async def review(self, video_id: str) -> Review | None:
        return await self._call(self._reviews.review(video_id))

    async def reviews(self, states: Collection[ReviewState]) -> list[Review]:
        return await self._call(self._reviews.reviews(states))

    async def move_review(self, video_id: str, transition: ReviewTransition) -> ReviewMove:
        return await self._call(self._reviews.move(video_id, transition))

    async def due_reviews(self, now: float) -> list[Review]:
        return await self._call(self._reviews.due(now))

    async def settle_review(self, video_id: str) -> tuple[LimitCheck, ...] | None:
        return await self._call(self._reviews.settle(video_id))

    # Idempotency keys: written on generation requests, so they never move the revision.

    async def claim_idempotency(
        self, principal: str, key: str, fingerprint: str, now: float, expires_at: float
    ) -> IdempotencyRecord | None:
        args: list[str | int] = [
            fingerprint,
            text(now),
            text(expires_at),
            _ms(expires_at - now) + EXPIRY_SLACK_MS,
        ]
        found: Any = await self._call(self._claim([keys.idempotency(principal, key)], args))
        if found is None:
            return None
        fingerprint_, state, status, content_type, body, expires = found
        return IdempotencyRecord(
            fingerprint_.decode(),
            IdempotencyState(state.decode()),
            None if status is None else int(status),
            None if content_type is None else content_type.decode(),
            body,
            float(expires),
        )

    async def complete_idempotency(
        self,
        principal: str,
        key: str,
        status: int,
        content_type: str,
        body: bytes,
        *,
        expires_at: float,
    ) -> None:
        args: list[str | bytes | int] = [
            status,
            content_type,
            body,
            text(expires_at),
            EXPIRY_SLACK_MS,
        ]
        await self._call(self._complete([keys.idempotency(principal, key)], args))

    async def release_idempotency(self, principal: str, key: str) -> None:
        await self._call(self._release([keys.idempotency(principal, key)], []))

    # Concurrency leases of jobs (bound by `record_job`, expiring with the lease)

    async def take_lease(self, job_id: str) -> tuple[str, tuple[str, ...]] | None:
        # One script takes the binding: of two replicas, one gets it.
        index = [keys.LEASES_DUE, keys.LEASES_EXPIRY]
        script_keys = [keys.lease(job_id), *([] if self._cluster else index)]
        stored = await self._call(self._take_lease(script_keys, [job_id]))
        if stored is None:
            return None
        if self._cluster:
            await self._call(self._unindex_lease(index, [job_id]))
        lease_id, lease_keys = orjson.loads(stored)
        return str(lease_id), tuple(str(key) for key in lease_keys)

    async def claim_due_leases(self, now: float, *, until: float, limit: int) -> list[str]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        index = [keys.LEASES_DUE, keys.LEASES_EXPIRY]
        claimed = await self._call(self._claim_leases(index, [text(now), text(until), limit]))
        return [bytes(job_id).decode() for job_id in claimed]

    # Rollout phase

    async def phase(self) -> str | None:
        stored = await self._call(_sent(self._client.lindex(keys.PHASES, -1)))
        return None if stored is None else phase_change(stored).phase

    async def set_phase(self, change: PhaseChange) -> None:
        document = orjson.dumps(
            {"phase": change.phase, "actor": change.actor, "changed_at": change.changed_at}
        )
        await self._call(self._set_phase([keys.PHASES, keys.REVISION], [document, keys.CHANGES]))

    async def phase_history(self) -> list[PhaseChange]:
        stored = await self._call(_sent(self._client.lrange(keys.PHASES, 0, -1)))
        return [phase_change(change) for change in stored]
