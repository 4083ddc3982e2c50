"""Approved requests go to the model API from the running gateways, exactly once.

The CLI only records an approval; every gateway polls the store and claims approved
reviews (compare-and-set, with a claim that runs out), writes the write-ahead audit
record, sends the stored body with `Idempotency-Key: <review id>`, and records the
model's job id. A gateway that dies mid-submission leaves the review `submitting`; once
its claim has run out, any gateway sends it again with the same key, and a model API
that honours the key answers with the same job. (One that does not may create a second
job, but only for a submission that was in flight when a gateway died.)

The same poll expires overdue reviews and gives back what ended ones reserved, so
nothing waits for a client to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
import structlog

from gateway.core.audit import records
from gateway.core.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.core.jobs import video_in
from gateway.core.review import HeldRequest
from gateway.core.review_state import (
    Review,
    ReviewTransition,
    claim,
    refused_upstream,
    retry_later,
    submitted,
)
from gateway.ports.audit import AuditSink, AuditUnavailable
from gateway.ports.review.settlement import AuditHook, Settlement
from gateway.ports.store import Store, StoreUnavailable
from gateway.ports.upstream import Upstream

_log = structlog.get_logger("phasegate.review")

ACTOR = "gateway"
_MAX_ANSWER = 1024 * 1024
# Answers that say "not now" rather than "not this": the submission is retried.
_RETRYABLE = frozenset({408, 409, 425, 429})
_MAX_BACKOFF = 60.0


def gateway_identity() -> str:
    """Names this process in the claims it takes, so a claim's holder can be told apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _model_error(body: bytes) -> tuple[str | None, str | None]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code") or error.get("type")
    message = error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


class ReviewSubmitter:
    def __init__(
        self,
        store: Store,
        upstream: Upstream,
        settlement: Settlement,
        *,
        audit: AuditSink,
        record: AuditHook,
        clock: Callable[[], float],
        credential: Sequence[tuple[str, str]],
        claim_seconds: float,
        interval: float = 0.5,
        retry_seconds: float = 2.0,
        max_in_flight: int = 8,
    ) -> None:
        self._store = store
        self._upstream = upstream
        self._settlement = settlement
        self._audit = audit
        self._record = record
        self._clock = clock
        self._credential = list(credential)
        self._claim_seconds = claim_seconds
        self._interval = interval
        self._retry_seconds = retry_seconds
        self._max_in_flight = max_in_flight
        self.owner = gateway_identity()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._attempts: dict[str, int] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except StoreUnavailable as exc:
                _log.warning("review_poll_failed", reason=str(exc))
            except Exception:
                # A fault here must not end the loop: reviews would silently stop moving.
                _log.exception("review_poll_fault")
            await asyncio.sleep(self._interval)

    async def tick(self) -> None:
        """One look at the store: expire, give back, and start submissions."""
        now = self._clock()
        for review in await self._store.due_reviews(now):
            if review.overdue(now):
                await self._settlement.expire(review)
            elif review.state.ended_without_job:
                await self._settlement.give_back(review.video_id)
            elif (
                review.claimable(now)
                and review.video_id not in self._in_flight
                and len(self._in_flight) < self._max_in_flight
            ):
                task = asyncio.create_task(self._submit_guarded(review))
                self._in_flight[review.video_id] = task
                task.add_done_callback(functools.partial(self._finished, review.video_id))

    def _finished(self, video_id: str, _: asyncio.Task[None]) -> None:
        self._in_flight.pop(video_id, None)

    async def close(self) -> None:
        """Stop submissions in flight; their claims run out and another gateway (or this
        one, restarted) sends them again with the same key."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _submit_guarded(self, review: Review) -> None:
        try:
            await self._submit(review)
        except StoreUnavailable as exc:
            _log.warning(
                "review_submission_interrupted", review_id=review.video_id, reason=str(exc)
            )
        except Exception:
            _log.exception("review_submission_fault", review_id=review.video_id)

    async def _move(self, review: Review, transition: ReviewTransition) -> Review | None:
        move = await self._store.move_review(review.video_id, transition)
        return move.review if move.won else None

    async def _submit(self, review: Review) -> None:
        now = self._clock()
        mine = await self._move(
            review, claim(owner=self.owner, at=now, until=now + self._claim_seconds)
        )
        if mine is None:
            return  # another gateway claimed it first
        held = await self._store.held_request(review.video_id)
        if held is None:
            await self._refused(mine, None, "review_request_missing", "The request is gone.")
            return
        try:
            await self._audit.append(self._write_ahead(mine, held))
        except AuditUnavailable:
            _log.error("review_submission_not_recorded", review_id=review.video_id)
            await self._later(mine)
            return
        try:
            status, body = await self._send(held, mine)
        except (UpstreamUnavailable, UpstreamTimeout) as error:
            _log.warning(
                "review_submission_unanswered", review_id=mine.video_id, reason=error.message
            )
            await self._later(mine)
            return
        job_id, _ = video_in(body)
        if 200 <= status < 300 and job_id is not None:
            self._attempts.pop(mine.video_id, None)
            at = self._clock()
            done = await self._move(
                mine, submitted(upstream_job_id=job_id, upstream_status=status, at=at)
            )
            if done is not None:
                await self._outcome(done, status, job_id, None)
        elif 400 <= status < 500 and status not in _RETRYABLE:
            self._attempts.pop(mine.video_id, None)
            code, message = _model_error(body)
            await self._refused(mine, status, code, message)
        else:
            _log.warning("review_submission_retry", review_id=mine.video_id, upstream_status=status)
            await self._later(mine)

    def _write_ahead(self, review: Review, held: HeldRequest) -> dict[str, Any]:
        return records.review_submission(
            time=self._clock(), actor=ACTOR, review=review, route=held.target
        )

    async def _send(self, held: HeldRequest, review: Review) -> tuple[int, bytes]:
        headers = [
            ("content-type", held.content_type),
            # The key is the review id: a second send of one review is the same request.
            ("idempotency-key", held.video_id),
            ("x-request-id", review.request_id or held.video_id),
            ("x-phasegate-principal", held.principal),
            ("x-phasegate-tier", held.tier),
            *self._credential,
        ]
        response = await self._upstream.send("POST", held.target, headers, held.body)
        try:
            return response.status, await response.read(_MAX_ANSWER)
        finally:
            response.release()

    async def _later(self, review: Review) -> None:
        attempts = self._attempts.get(review.video_id, 0) + 1
        self._attempts[review.video_id] = attempts
        delay = min(_MAX_BACKOFF, self._retry_seconds * 2 ** (attempts - 1))
        now = self._clock()
        await self._move(review, retry_later(owner=self.owner, at=now, retry_at=now + delay))

    async def _refused(
        self, review: Review, status: int | None, code: str | None, message: str | None
    ) -> None:
        at = self._clock()
        failed = await self._move(
            review, refused_upstream(upstream_status=status, code=code, message=message, at=at)
        )
        if failed is None:
            return
        await self._outcome(failed, status, None, failed.error_code)
        await self._settlement.give_back(review.video_id)

    async def _outcome(
        self, review: Review, status: int | None, job_id: str | None, error: str | None
    ) -> None:
        await self._record(
            records.review_outcome(
                time=self._clock(),
                actor=ACTOR,
                review=review,
                upstream_status=status,
                job_id=job_id,
                error=error,
            )
        )


@contextlib.asynccontextmanager
async def submitting(submitter: ReviewSubmitter) -> AsyncIterator[None]:
    """The submitter's poll for as long as the gateway serves; stopped before the store,
    the upstream session and the audit sink close."""
    task = asyncio.create_task(submitter.run(), name="review-submitter")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await submitter.close()
