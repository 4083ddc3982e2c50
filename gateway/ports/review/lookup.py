"""The review behind a job id, for the request path: overdue ones expire on sight.

Most job ids are the model API's and never reviews; a review, once submitted, never
changes again. Both are remembered, so a job read costs a store lookup only the first
time this process sees its id.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gateway.core.errors import InternalError
from gateway.core.generation_body import parse_generation
from gateway.core.review import failed_video, queued_video
from gateway.core.review_state import Review, ReviewState
from gateway.ports.review.settlement import Settlement
from gateway.ports.store import Store


class ReviewLookup:
    def __init__(
        self,
        store: Store,
        settlement: Settlement,
        clock: Callable[[], float],
        cache_size: int = 50_000,
    ) -> None:
        self._store = store
        self._settlement = settlement
        self._clock = clock
        self._cache_size = cache_size
        # A job id that is not a review now never becomes one: review ids are issued new.
        self._plain: OrderedDict[str, None] = OrderedDict()
        self._submitted: OrderedDict[str, Review] = OrderedDict()

    async def find(self, job_id: str) -> Review | None:
        """The job's review as it stands (None for a job the model API created directly).
        Raises `StoreUnavailable`."""
        if job_id in self._plain:
            return None
        known = self._submitted.get(job_id)
        if known is not None:
            return known
        review = await self._store.review(job_id)
        if review is None:
            self._remember(self._plain, job_id, None)
            return None
        now = self._clock()
        if review.overdue(now):
            review = await self._settlement.expire(review)
        elif review.state.ended_without_job and not review.settled:
            await self._settlement.give_back(job_id)
        if review.state is ReviewState.SUBMITTED:
            self._remember(self._submitted, job_id, review)
        return review

    def _remember(self, cache: OrderedDict[str, Any], key: str, value: Any) -> None:
        cache[key] = value
        if len(cache) > self._cache_size:
            cache.popitem(last=False)

    async def video(self, review: Review) -> dict[str, Any]:
        """The video object the gateway answers for a review whose job is not at the model:
        queued while it waits, failed once it ended without a job."""
        held = await self._store.held_request(review.video_id)
        if held is None:
            raise InternalError(f"the held request of review {review.video_id} is missing")
        request = parse_generation(
            held.body,
            held.content_type,
            is_remix=held.target.endswith("/remix"),
            max_reference=len(held.body),
        )
        if review.state.reads_queued:
            return queued_video(request, held.video_id, held.created_at)
        code, message = review.client_error()
        return failed_video(
            request,
            held.video_id,
            held.created_at,
            failed_at=review.updated_at,
            code=code,
            message=message,
        )
