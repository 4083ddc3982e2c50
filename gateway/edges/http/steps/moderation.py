"""The moderation classifier's verdict: the usage rules judged again with its scores.

`UsagePolicy` started the call; this step runs after the limits, so the two waits
overlap, and awaits the answer (the call's own timeout bounds the wait). A failure
makes every moderation rule of the request read as the service's `on_error` action.
The answer, or the failure, goes into the audit record under `moderation`.
"""

from __future__ import annotations

import asyncio

from gateway.core.errors import MissingToken
from gateway.core.policy import Action, GenerationRequest, Policy
from gateway.core.policy.judge import judge
from gateway.core.policy.moderation import Moderation, ModerationFailure, moderation_record
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply
from gateway.edges.http.steps.usage_policy import PENDING_MODERATION, enforce

UNCHECKED = "The moderation service could not check this request, so it is not allowed for now."


class ModerationVerdict(PassiveStep):
    async def before(self, exchange: Exchange) -> Reply | None:
        pending: asyncio.Future[Moderation] | None = exchange.notes.pop(PENDING_MODERATION, None)
        if pending is None:
            return None
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        policy: Policy = exchange.notes["policy"]
        request: GenerationRequest = exchange.notes["request"]
        moderation = await pending
        service = policy.moderation
        on_error = service.on_error if service is not None else Action.DENY
        exchange.notes["moderation"] = moderation_record(
            moderation, policy.moderation_categories(caller.tier), on_error
        )
        decision = judge(policy, request, caller.tier, moderation).decision
        if decision is None:  # the tier's checks passed in UsagePolicy already
            return None
        failed = isinstance(moderation, ModerationFailure)
        enforce(exchange, decision, message=UNCHECKED if failed else None)
        return None
