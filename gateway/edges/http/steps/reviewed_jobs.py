"""Jobs that began as held requests: the gateway answers for them until the model has one.

While a review is pending (or approved and on its way to the model) the job reads as
queued and has no content; once it ended without a job (rejected, expired, refused by
the model) it reads as failed. Once submitted, the client's id is translated: the path
goes to the model with the model's id, and the answer comes back with the client's.
"""

from __future__ import annotations

from gateway.core.errors import VideoFailed, VideoNotReady
from gateway.core.job_alias import JobAlias
from gateway.core.review_state import ReviewState
from gateway.core.routes import RouteKind
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply
from gateway.edges.http.steps.ownership import store_failures_refused
from gateway.ports.review.lookup import ReviewLookup


class ReviewedJobs(PassiveStep):
    """Runs after `JobOwnership`: only the owner of a job gets this far."""

    def __init__(self, reviews: ReviewLookup) -> None:
        self._reviews = reviews

    async def before(self, exchange: Exchange) -> Reply | None:
        route = exchange.route
        if not route.kind.touches_job or route.video_id is None:
            return None
        video_id = route.video_id
        with store_failures_refused():
            review = await self._reviews.find(video_id)
        if review is None:
            return None
        if review.state is ReviewState.SUBMITTED and review.upstream_job_id is not None:
            exchange.alias = JobAlias(video_id, review.upstream_job_id)
            exchange.target = exchange.alias.upstream_target(exchange.target)
            return None
        queued = review.state.reads_queued
        if route.kind is RouteKind.READ_VIDEO:
            with store_failures_refused():
                return Reply(200, await self._reviews.video(review))
        if route.kind is RouteKind.DOWNLOAD_VIDEO:
            if queued:
                raise VideoNotReady(f"Video '{video_id}' is not ready yet.")
            raise VideoFailed(f"Video '{video_id}' failed and has no content.")
        if route.kind is RouteKind.REMIX_VIDEO:
            raise VideoNotReady(f"Video '{video_id}' is not completed and cannot be remixed.")
        if queued:
            # Its reservation and its review are in play; the reviewer decides first.
            raise VideoNotReady(f"Video '{video_id}' is held for review and cannot be deleted yet.")
        # Ended without a job: nothing at the model to delete, the client's id goes away.
        return Reply(200, {"id": video_id, "object": "video.deleted", "deleted": True})
