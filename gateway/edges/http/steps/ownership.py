"""Callers see only their own jobs: someone else's job reads exactly like no job at all.

The listing is built here from the caller's own jobs; a job it shows ended frees its
concurrency slot, as a read of that job would, so a client that follows its jobs
through the list gets its slots back as soon as it sees them done.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import structlog

from gateway.core.errors import (
    DependencyUnavailable,
    MissingToken,
    NotFound,
    UpstreamUnavailable,
)
from gateway.core.identity import JobLease, OwnedJob
from gateway.core.job_alias import JobAlias
from gateway.core.lease_reconciliation import ended_jobs
from gateway.core.listing import list_document, parse_list_query
from gateway.core.review_state import ReviewState
from gateway.core.routes import JOB_ID, RouteKind
from gateway.edges.http.forwarding import Forwarder
from gateway.edges.http.pipeline import Exchange, Outcome, PassiveStep, Reply
from gateway.ports.leases.release import LeaseRelease
from gateway.ports.review.lookup import ReviewLookup
from gateway.ports.store import Store, StoreUnavailable

_log = structlog.get_logger("phasegate.limits")

# The `JobLease` a generation request reserved (set by `RateLimits`): recorded with the job
# it becomes, in one store write.
JOB_LEASE = "job_lease"


@contextmanager
def store_failures_refused() -> Iterator[None]:
    try:
        yield
    except StoreUnavailable:
        raise DependencyUnavailable("The state store is unavailable; try again shortly.") from None


class JobOwnership(PassiveStep):
    def __init__(
        self,
        store: Store,
        forwarder: Forwarder,
        clock: Callable[[], float],
        reviews: ReviewLookup,
        leases: LeaseRelease,
        *,
        cache_size: int = 50_000,
    ) -> None:
        self._store = store
        self._forwarder = forwarder
        self._clock = clock
        self._reviews = reviews
        self._leases = leases
        # Owners never change, so known ones are kept; unknown ids always ask the store.
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def _owner(self, job_id: str) -> str | None:
        owner = self._owners.get(job_id)
        if owner is None:
            with store_failures_refused():
                owner = await self._store.job_owner(job_id)
            if owner is not None:
                self._remember(job_id, owner)
        return owner

    def _remember(self, job_id: str, owner: str) -> None:
        self._owners[job_id] = owner
        if len(self._owners) > self._cache_size:
            self._owners.popitem(last=False)

    async def before(self, exchange: Exchange) -> Reply | None:
        route, caller = exchange.route, exchange.caller
        if caller is None:
            raise MissingToken()
        # An id outside the model's alphabet is no job at all: answered here, asked of
        # neither the store nor the model API.
        if route.kind.touches_job and (
            not route.names_a_job
            or route.video_id is None
            or await self._owner(route.video_id) != caller.subject
        ):
            raise NotFound(f"Video '{route.video_id}' not found.", param="video_id")
        if route.kind is RouteKind.LIST_VIDEOS:
            return await self._listing(exchange, caller.subject)
        return None

    async def _listing(self, exchange: Exchange, principal: str) -> Reply:
        query_string = exchange.target.partition("?")[2]
        # Blank values kept: `limit=` is a bad limit, not the default one.
        query = parse_list_query(parse_qsl(query_string, keep_blank_values=True))
        if query.after is not None and (
            JOB_ID.fullmatch(query.after) is None or await self._owner(query.after) != principal
        ):
            raise NotFound(f"Video '{query.after}' not found.", param="after")
        with store_failures_refused():
            page = await self._store.owned_jobs(
                principal, after=query.after, limit=query.limit + 1, newest_first=query.newest_first
            )
        shown = page[: query.limit]
        fetched = await asyncio.gather(*(self._video(exchange, job.job_id) for job in shown))
        videos = [video for video in fetched if video is not None]
        await asyncio.gather(*(self._ended(exchange, job_id) for job_id in ended_jobs(videos)))
        return Reply(200, list_document(videos, has_more=len(page) > query.limit))

    async def _ended(self, exchange: Exchange, job_id: str) -> None:
        try:
            await self._leases.job_ended(job_id)
        except StoreUnavailable as exc:
            # The listing stands; the reconciler (or the lease's expiry) frees the slot.
            _log.warning("lease_release_deferred", request_id=exchange.request_id, reason=str(exc))

    async def _video(self, exchange: Exchange, job_id: str) -> dict[str, Any] | None:
        with store_failures_refused():
            review = await self._reviews.find(job_id)
            if review is not None and review.state is not ReviewState.SUBMITTED:
                return await self._reviews.video(review)
        # A reviewed job the gateway submitted is known to the model by the model's id.
        upstream_id = review.upstream_job_id if review is not None else None
        status, document = await self._forwarder.get_document(
            exchange, f"/v1/videos/{upstream_id or job_id}"
        )
        if status == 404:
            return None  # gone upstream (expired or deleted behind the gateway's back)
        if status != 200 or not isinstance(document, dict):
            raise UpstreamUnavailable(f"The model API failed to return video '{job_id}'.")
        if upstream_id is not None:
            return JobAlias(job_id, upstream_id).to_client(document)
        return document

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        caller, kind = exchange.caller, exchange.route.kind
        if caller is None or not 200 <= outcome.status < 300:
            return
        if kind.is_generation and outcome.body:
            job_id = outcome.job_id
            lease: JobLease | None = exchange.notes.pop(JOB_LEASE, None)
            if job_id is not None:
                self._remember(job_id, caller.subject)
                job = OwnedJob(job_id, caller.subject, self._clock())
                with store_failures_refused():
                    await self._store.record_job(job, lease=lease)
        elif kind is RouteKind.DELETE_VIDEO and exchange.route.video_id is not None:
            self._owners.pop(exchange.route.video_id, None)
            with store_failures_refused():
                await self._store.forget_job(exchange.route.video_id)
