"""The lease reconciler: asks the model API about jobs whose lease the gateway has not
seen end, so a client that never polls still gets its slots back within minutes.

Every replica runs one. Each look claims a bounded batch of due leases in the store
(the claim moves their next check on, so replicas share the work and never ask about
one lease at once), asks the model API about each job with bounded concurrency, and
frees the lease of every job that ended or is gone. The decisions are the core's
(`gateway.core.lease_reconciliation`); freeing goes through the store's atomic
`take_lease`, so a slot is released once however many replicas see the job end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import quote

import orjson
import structlog

from gateway.core.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.core.lease_reconciliation import (
    MAX_IN_FLIGHT,
    LeaseVerdict,
    ReconcileConfig,
    claim_at,
    verdict,
)
from gateway.core.review_state import ReviewState
from gateway.ports.leases.release import LeaseRelease
from gateway.ports.review.lookup import ReviewLookup
from gateway.ports.store import Store, StoreUnavailable
from gateway.ports.upstream import Upstream

_log = structlog.get_logger("phasegate.leases")
_MAX_ANSWER = 1024 * 1024


class LeaseReconciler:
    def __init__(
        self,
        store: Store,
        upstream: Upstream,
        leases: LeaseRelease,
        reviews: ReviewLookup,
        *,
        config: ReconcileConfig,
        clock: Callable[[], float],
        credential: Sequence[tuple[str, str]],
    ) -> None:
        self._store = store
        self._upstream = upstream
        self._leases = leases
        self._reviews = reviews
        self._config = config
        self._clock = clock
        self._credential = list(credential)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except StoreUnavailable as exc:
                _log.warning("lease_reconciliation_failed", reason=str(exc))
            except Exception:
                # A fault here must not end the loop: slots would silently stop coming back.
                _log.exception("lease_reconciliation_fault")
            await asyncio.sleep(self._config.interval)

    async def tick(self) -> int:
        """One look: claim the due leases and free those whose job ended; how many it freed."""
        claim = claim_at(self._clock(), self._config)
        due = await self._store.claim_due_leases(claim.now, until=claim.until, limit=claim.limit)
        if not due:
            return 0
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def check(job_id: str) -> bool:
            async with in_flight:
                return await self._check(job_id)

        freed = sum(await asyncio.gather(*(check(job_id) for job_id in due)))
        _log.info("leases_reconciled", checked=len(due), freed=freed)
        return freed

    async def _check(self, job_id: str) -> bool:
        try:
            review = await self._reviews.find(job_id)
            if review is not None and review.state is not ReviewState.SUBMITTED:
                # Not at the model (yet): a pending review keeps its slot, and one that
                # ended without a job is given back by the review settlement.
                return False
            upstream_id = review.upstream_job_id if review is not None else None
            owner = await self._store.job_owner(job_id)
            status, document = await self._ask(upstream_id or job_id, owner)
            if verdict(status, document) is not LeaseVerdict.RELEASE:
                return False
            return await self._leases.job_ended(job_id)
        except StoreUnavailable as exc:
            _log.warning("lease_check_failed", job_id=job_id, reason=str(exc))
        except (UpstreamUnavailable, UpstreamTimeout) as error:
            _log.warning("lease_check_unanswered", job_id=job_id, reason=error.message)
        return False

    async def _ask(self, job_id: str, owner: str | None) -> tuple[int, Any]:
        headers = [
            ("x-request-id", "reconcile-" + secrets.token_hex(8)),
            *((("x-phasegate-principal", owner),) if owner is not None else ()),
            *self._credential,
        ]
        target = f"/v1/videos/{quote(job_id, safe='')}"
        response = await self._upstream.send("GET", target, headers, None)
        try:
            body = await response.read(_MAX_ANSWER)
        finally:
            response.release()
        try:
            return response.status, orjson.loads(body)
        except orjson.JSONDecodeError:
            return response.status, None


@contextlib.asynccontextmanager
async def reconciling(reconciler: LeaseReconciler) -> AsyncIterator[None]:
    """The reconciler's loop for as long as the gateway serves; stopped before the store,
    the upstream session and the limiter close."""
    task = asyncio.create_task(reconciler.run(), name="lease-reconciler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
