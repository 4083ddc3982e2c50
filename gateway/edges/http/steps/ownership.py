"""Callers see only their own jobs: someone else's job reads exactly like no job at all."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from gateway.core.errors import (
    DependencyUnavailable,
    MissingToken,
    NotFound,
    UpstreamUnavailable,
    VideoNotReady,
)
from gateway.core.identity import OwnedJob
from gateway.core.listing import list_document, parse_list_query
from gateway.core.review import queued_video
from gateway.core.routes import RouteKind
from gateway.edges.http.forwarding import Forwarder
from gateway.edges.http.generation_body import parse_generation
from gateway.edges.http.pipeline import Exchange, Outcome, PassiveStep, Reply
from gateway.ports.store import Store, StoreUnavailable


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
        cache_size: int = 50_000,
    ) -> None:
        self._store = store
        self._forwarder = forwarder
        self._clock = clock
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
        if route.kind.touches_job and route.video_id is not None:
            if await self._owner(route.video_id) != caller.subject:
                raise NotFound(f"Video '{route.video_id}' not found.", param="video_id")
            return await self._held_answer(route.kind, route.video_id)
        if route.kind is RouteKind.LIST_VIDEOS:
            return await self._listing(exchange, caller.subject)
        return None

    async def _listing(self, exchange: Exchange, principal: str) -> Reply:
        query_string = exchange.target.partition("?")[2]
        query = parse_list_query(dict(parse_qsl(query_string)))
        if query.after is not None and await self._owner(query.after) != principal:
            raise NotFound(f"Video '{query.after}' not found.", param="after")
        with store_failures_refused():
            page = await self._store.owned_jobs(
                principal, after=query.after, limit=query.limit + 1, newest_first=query.newest_first
            )
        shown = page[: query.limit]
        fetched = await asyncio.gather(*(self._video(exchange, job.job_id) for job in shown))
        videos = [video for video in fetched if video is not None]
        return Reply(200, list_document(videos, has_more=len(page) > query.limit))

    async def _held(self, job_id: str) -> dict[str, Any] | None:
        """The queued video object of a request held for review; None for any other job."""
        with store_failures_refused():
            held = await self._store.held_request(job_id)
        if held is None:
            return None
        request = await parse_generation(
            held.body,
            held.content_type,
            is_remix=held.target.endswith("/remix"),
            max_reference=len(held.body),
        )
        return queued_video(request, held.video_id, held.created_at)

    async def _held_answer(self, kind: RouteKind, job_id: str) -> Reply | None:
        # A held request has no job at the model API yet: the gateway answers for it, as
        # a job that is still queued (reviews and their outcome are the review queue's).
        if kind is RouteKind.READ_VIDEO or kind is RouteKind.DOWNLOAD_VIDEO:
            document = await self._held(job_id)
            if document is not None:
                if kind is RouteKind.READ_VIDEO:
                    return Reply(200, document)
                raise VideoNotReady(f"Video '{job_id}' is not ready yet.")
        return None

    async def _video(self, exchange: Exchange, job_id: str) -> dict[str, Any] | None:
        held = await self._held(job_id)
        if held is not None:
            return held
        status, document = await self._forwarder.get_document(exchange, f"/v1/videos/{job_id}")
        if status == 404:
            return None  # gone upstream (expired or deleted behind the gateway's back)
        if status != 200 or not isinstance(document, dict):
            raise UpstreamUnavailable(f"The model API failed to return video '{job_id}'.")
        return document

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        caller, kind = exchange.caller, exchange.route.kind
        if caller is None or not 200 <= outcome.status < 300:
            return
        if kind.is_generation and outcome.body:
            job_id = outcome.job_id
            if job_id is not None:
                self._remember(job_id, caller.subject)
                with store_failures_refused():
                    await self._store.record_job(OwnedJob(job_id, caller.subject, self._clock()))
        elif kind is RouteKind.DELETE_VIDEO and exchange.route.video_id is not None:
            self._owners.pop(exchange.route.video_id, None)
            with store_failures_refused():
                await self._store.forget_job(exchange.route.video_id)
