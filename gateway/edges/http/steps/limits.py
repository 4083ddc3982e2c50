"""Rate, cost and concurrency limits on generation requests, exact across replicas.

All of a request's limits are checked and consumed in one limiter call, so a request
refused by one limit uses none of the others. A generation the model API refuses (or
never answers) gives its cost back; a job's concurrency lease is held until the
gateway sees the job end in an answer it passes (a read or a listing showing it
completed or failed, a download, a delete), the lease reconciler finds it ended, or the
lease expires. A request held for review keeps its lease through the review too.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from gateway.core.errors import BadRequest, LimitsUnavailable, MissingToken, RateLimited
from gateway.core.identity import JobLease
from gateway.core.jobs import MODEL_DEFAULTS, TERMINAL_STATUSES
from gateway.core.limits import LimitCheck, checks_for
from gateway.core.limits.headers import ratelimit_headers, retry_after_seconds
from gateway.core.policy import GenerationRequest, LimitKind, LimitSpec, ParamValue, Policy
from gateway.core.routes import RouteKind
from gateway.edges.http.forwarding import Forwarder
from gateway.edges.http.pipeline import Exchange, Outcome, PassiveStep, Reply
from gateway.edges.http.steps.ownership import JOB_LEASE
from gateway.edges.http.steps.usage_policy import MAY_HOLD
from gateway.ports.leases.release import LeaseRelease
from gateway.ports.limiter import Limiter, LimiterUnavailable
from gateway.ports.store import StoreUnavailable

_log = structlog.get_logger("phasegate.limits")


class RateLimits(PassiveStep):
    def __init__(
        self,
        limiter: Limiter,
        leases: LeaseRelease,
        forwarder: Forwarder,
        *,
        lease_ttl: float,
        review_ttl: float,
        reconcile_after: float,
    ) -> None:
        self._limiter = limiter
        self._leases = leases
        self._forwarder = forwarder
        self._lease_ttl = lease_ttl
        self._review_ttl = review_ttl
        self._reconcile_after = reconcile_after

    async def before(self, exchange: Exchange) -> Reply | None:
        if not exchange.route.kind.is_generation:
            return None
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        policy: Policy = exchange.notes["policy"]
        request: GenerationRequest = exchange.notes["request"]
        tier = policy.tiers.get(caller.tier)
        if tier is None or not tier.limits:
            return None
        params = {**MODEL_DEFAULTS, **request.params}
        if exchange.route.kind is RouteKind.REMIX_VIDEO and exchange.route.video_id is not None:
            alias = exchange.alias
            source = alias.upstream_id if alias is not None else exchange.route.video_id
            params.update(await self._source_params(exchange, source))
        try:
            checks = checks_for(
                tier.limits,
                principal=caller.subject,
                client_id=caller.client_id,
                tier=caller.tier,
                params=params,
            )
        except ValueError as exc:
            raise BadRequest(str(exc), param=_cost_param(tier.limits)) from None
        # A held request's slot must outlast its review, then the job it may become; so
        # must the slot of one the moderation classifier, still thinking, may yet hold.
        may_hold = "hold" in exchange.notes or MAY_HOLD in exchange.notes
        lease_ttl = self._lease_ttl + (self._review_ttl if may_hold else 0.0)
        try:
            verdict = await self._limiter.acquire(
                checks, lease_id=exchange.request_id, lease_ttl=lease_ttl
            )
        except LimiterUnavailable:
            raise LimitsUnavailable(
                "Rate limits cannot be checked right now; try again shortly."
            ) from None
        headers = ratelimit_headers(verdict.states)
        exchange.notes["limit_states"] = verdict.states
        if not verdict.allowed:
            wait = retry_after_seconds(verdict)
            raise RateLimited(
                f"Rate limit '{verdict.refused_by}' reached; retry in {wait} s.",
                headers={"Retry-After": str(wait), **dict(headers)},
            )
        exchange.notes["limits"] = checks
        leases = tuple(c.key for c in checks if c.kind is LimitKind.CONCURRENCY)
        if leases:
            # Bound to the job it becomes in the same store write that records the job.
            exchange.notes[JOB_LEASE] = JobLease(
                exchange.request_id, leases, lease_ttl, reconcile_after=self._reconcile_after
            )
        exchange.response_headers.extend(headers)
        return None

    async def _source_params(self, exchange: Exchange, source_id: str) -> dict[str, ParamValue]:
        """A remix is as long as its source: charge the source's length, not a default."""
        status, document = await self._forwarder.get_document(exchange, f"/v1/videos/{source_id}")
        if status != 200 or not isinstance(document, dict):
            return {}  # the model API refuses the remix itself, and the cost comes back
        return {
            name: document[name]
            for name in ("seconds", "size")
            if isinstance(document.get(name), str | int | float)
        }

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        kind = exchange.route.kind
        checks: tuple[LimitCheck, ...] | None = exchange.notes.get("limits")
        if checks is not None:
            if outcome.status >= 400:
                await self._give_back(exchange, checks)
            # A created job's lease is bound by `JobOwnership`, with the job's owner.
            return
        if not 200 <= outcome.status < 300:
            return
        if kind is RouteKind.READ_VIDEO:
            job_id, status = outcome.job_id, outcome.job_status
            if job_id is not None and status in TERMINAL_STATUSES:
                await self._release(exchange, job_id)
        elif (
            kind in (RouteKind.DOWNLOAD_VIDEO, RouteKind.DELETE_VIDEO)
            and exchange.route.video_id is not None
        ):
            # Content exists only for a completed job; a deleted one runs no more.
            await self._release(exchange, exchange.route.video_id)

    async def failed(self, exchange: Exchange) -> None:
        checks: tuple[LimitCheck, ...] | None = exchange.notes.get("limits")
        if checks is not None:
            await self._give_back(exchange, checks)

    async def _give_back(self, exchange: Exchange, checks: tuple[LimitCheck, ...]) -> None:
        exchange.notes.pop("limits", None)
        exchange.notes.pop(JOB_LEASE, None)
        try:
            await self._limiter.refund(checks, lease_id=exchange.request_id)
        except LimiterUnavailable:
            # The cost stays spent and the lease runs out on its own: fail safe, not open.
            return

    async def _release(self, exchange: Exchange, job_id: str) -> None:
        try:
            await self._leases.job_ended(job_id)
        except StoreUnavailable as exc:
            # The answer stands; the reconciler (or the lease's expiry) frees the slot later.
            _log.warning("lease_release_deferred", request_id=exchange.request_id, reason=str(exc))


def _cost_param(specs: Sequence[LimitSpec]) -> str | None:
    return next((spec.cost for spec in specs if spec.cost), None)
