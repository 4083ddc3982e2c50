"""Reviews that end without a job: expiring overdue ones, and giving their reservation back.

Whoever wins a transition to rejected, expired or failed makes the reservation owed;
`settle_review` hands it to exactly one caller, who refunds the cost and releases the
concurrency slot. Only a gateway can: its limiter holds the reservation (in memory, by
default), so the CLI leaves the giving back to the running gateways.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from gateway.core.audit import records
from gateway.core.review_state import Review, expire
from gateway.ports.limiter import Limiter, LimiterUnavailable
from gateway.ports.store import Store

_log = structlog.get_logger("phasegate.review")

AuditHook = Callable[[dict[str, Any]], Awaitable[None]]
# Nobody in particular expires a review: its time ran out.
EXPIRY_ACTOR = "review-ttl"


class Settlement:
    def __init__(
        self,
        store: Store,
        limiter: Limiter | None,
        record: AuditHook,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._limiter = limiter
        self._record = record
        self._clock = clock

    async def expire(self, review: Review) -> Review:
        """Expire an overdue pending review, unless a reviewer decided first; the review as
        it stands afterwards. The winner records the expiry and gives back."""
        move = await self._store.move_review(review.video_id, expire(at=self._clock()))
        if move.won and move.review is not None:
            await self._record(
                records.review_expired(time=self._clock(), actor=EXPIRY_ACTOR, review=review)
            )
            await self.give_back(review.video_id)
        return move.review or review

    async def give_back(self, video_id: str) -> None:
        """Refund what a review that ended without a job was charged and release its slot,
        if nobody did yet. Without a limiter (the CLI) this is left to a gateway."""
        if self._limiter is None:
            return
        charges = await self._store.settle_review(video_id)
        if charges is None:
            return
        try:
            if charges:
                await self._limiter.refund(charges, lease_id=video_id)
        except LimiterUnavailable:
            # The cost stays spent: failing safe, like any refund the limiter cannot take.
            _log.warning("review_refund_lost", review_id=video_id)
        lease = await self._store.take_lease(video_id)
        if lease is None:
            return
        lease_id, keys = lease
        try:
            await self._limiter.release(keys, lease_id)
        except LimiterUnavailable:
            _log.warning("review_lease_left_to_expire", review_id=video_id)
