"""Usage rules on every generation request: deny, hold for review, flag, or allow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from gateway.core.errors import (
    BadRequest,
    GatewayError,
    MissingToken,
    ModelNotAllowed,
    PolicyViolation,
)
from gateway.core.identity import JobLease, OwnedJob
from gateway.core.limits import LimitCheck
from gateway.core.policy import Action, Decision, GenerationRequest, LimitKind, Policy, TierRefusal
from gateway.core.policy.judge import judge
from gateway.core.policy.moderation import Moderation
from gateway.core.review import HeldRequest, new_held_video_id, queued_video
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply
from gateway.edges.http.steps.generation_request import REQUEST
from gateway.edges.http.steps.ownership import JOB_LEASE, store_failures_refused
from gateway.ports.moderation import Moderator
from gateway.ports.store import Store

_log = structlog.get_logger("phasegate.policy")


# Notes this step leaves for the steps after it.
PENDING_MODERATION = "pending_moderation"
# The classifier may still hold the request: its concurrency lease must outlast a review.
MAY_HOLD = "may_hold"


class UsagePolicy(PassiveStep):
    """Judges the request by its tier and the usage rules (`gateway.core.policy.judge`).

    When rules of the caller's tier read the moderation classifier, the call to it starts
    here and the decision waits for `ModerationVerdict`, so that the limit check runs
    meanwhile; a request the other rules deny already is never sent to the classifier.
    """

    def __init__(self, *, moderator: Moderator | None = None) -> None:
        self._moderator = moderator

    async def before(self, exchange: Exchange) -> Reply | None:
        if not exchange.route.kind.is_generation or exchange.body is None:
            return None
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        policy: Policy = exchange.notes["policy"]
        request: GenerationRequest = exchange.notes[REQUEST]
        judgement = judge(policy, request, caller.tier)
        decision = judgement.decision
        if decision is None:
            raise _tier_refusal(judgement.refusal)
        service = policy.moderation
        if (
            service is not None
            and self._moderator is not None
            and decision.action is not Action.DENY
            and policy.moderation_categories(caller.tier)
        ):
            exchange.notes["decision"] = decision  # until the classifier has answered
            exchange.notes[PENDING_MODERATION] = asyncio.ensure_future(
                self._moderator.classify(service, request.prompt)
            )
            if policy.moderation_may_hold(caller.tier):
                exchange.notes[MAY_HOLD] = True
            return None
        enforce(exchange, decision)
        return None

    async def failed(self, exchange: Exchange) -> None:
        _drop_pending(exchange)

    async def refused(self, exchange: Exchange, error: GatewayError) -> None:
        _drop_pending(exchange)


def _tier_refusal(refusal: TierRefusal | None) -> GatewayError:
    if refusal is None:
        return BadRequest("This request exceeds what the tier may ask for.")
    if refusal.status == 403:
        return ModelNotAllowed(refusal.message, param=refusal.param)
    return BadRequest(refusal.message, param=refusal.param)


def _drop_pending(exchange: Exchange) -> None:
    pending: asyncio.Future[Moderation] | None = exchange.notes.pop(PENDING_MODERATION, None)
    if pending is not None:
        pending.cancel()


def enforce(exchange: Exchange, decision: Decision, *, message: str | None = None) -> None:
    """Acts on the final decision: refuse (deny), hold for review, or mark (flag)."""
    exchange.notes["decision"] = decision
    caller = exchange.caller
    if decision.hits and caller is not None:
        # Until the audit log records decisions, shadow matches are visible here.
        _log.info(
            "policy_decision",
            request_id=exchange.request_id,
            principal=caller.subject,
            tier=caller.tier,
            action=decision.action.label,
            rules=[
                {"id": hit.rule_id, "action": hit.action.label, "shadow": hit.shadow}
                for hit in decision.hits
            ],
            policy_version=decision.policy_version,
        )
    if decision.action is Action.DENY:
        rule = decision.deciding_rule
        raise PolicyViolation(
            message
            or (rule.message if rule and rule.message else None)
            or "This request is not allowed by the usage policy.",
            rule=rule.rule_id if rule else None,
        )
    if decision.action is Action.HOLD:
        # Answered by HoldForReview once the limits have reserved what the job will use.
        exchange.notes["hold"] = decision
    if decision.action is Action.FLAG:
        flagged = ",".join(h.rule_id for h in decision.hits if not h.shadow)
        exchange.upstream_headers.append(("x-phasegate-flags", flagged))


class HoldForReview(PassiveStep):
    """Stores a held request with its body and answers 202 with a queued video object.

    It runs after the limits, so a held request has reserved its cost and its
    concurrency slot; the lease is bound to the video id the caller holds, and the
    rate and cost checks are kept with the request, to be given back if no job comes of
    it. The review expires `review_ttl` seconds after the hold.
    """

    def __init__(self, store: Store, clock: Callable[[], float], *, review_ttl: float) -> None:
        self._store = store
        self._clock = clock
        self._review_ttl = review_ttl

    async def before(self, exchange: Exchange) -> Reply | None:
        decision: Decision | None = exchange.notes.get("hold")
        if decision is None:
            return None
        caller, body = exchange.caller, exchange.body
        if caller is None or body is None:
            raise MissingToken()
        now = self._clock()
        video_id = new_held_video_id()
        held = HeldRequest(
            video_id=video_id,
            principal=caller.subject,
            client_id=caller.client_id,
            tier=caller.tier,
            target=exchange.target,
            content_type=exchange.header("content-type") or "",
            body=body,
            rule_ids=tuple(hit.rule_id for hit in decision.hits),
            policy_version=decision.policy_version,
            created_at=now,
        )
        checks: tuple[LimitCheck, ...] = exchange.notes.get("limits", ())
        with store_failures_refused():
            await self._store.hold_request(
                held,
                expires_at=now + self._review_ttl,
                request_id=exchange.request_id,
                charges=tuple(c for c in checks if c.kind is not LimitKind.CONCURRENCY),
            )
            lease: JobLease | None = exchange.notes.pop(JOB_LEASE, None)
            await self._store.record_job(OwnedJob(video_id, caller.subject, now), lease=lease)
        # The reservation now belongs to the held job: nothing is given back on reply.
        exchange.notes.pop("limits", None)
        return Reply(202, queued_video(exchange.notes["request"], video_id, now))
