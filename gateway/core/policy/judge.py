"""One judgement of a generation request by a policy: the tier's constraints first, then
the usage rules. The gateway, `policy replay` and `policy test` all judge with it, so
what a replay or a test case says is what the gateway does."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.policy.compiled import Policy, TierRefusal
from gateway.core.policy.decision import Decision
from gateway.core.policy.matchers import Subject
from gateway.core.policy.moderation import Moderation
from gateway.core.policy.request import GenerationRequest

REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Judgement:
    """A tier refusal (model, seconds, size), or the rules' decision."""

    refusal: TierRefusal | None
    decision: Decision | None

    @property
    def label(self) -> str:
        """As the audit log names it: `refused`, or `allow`, `flag`, `hold`, `deny`."""
        if self.decision is None:
            return REFUSED
        return self.decision.action.label

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Every matching rule, shadow rules included, in policy order."""
        return tuple(hit.rule_id for hit in self.decision.hits) if self.decision else ()


def judge(
    policy: Policy,
    request: GenerationRequest,
    tier: str,
    moderation: Moderation | None = None,
    *,
    reading: Subject | None = None,
) -> Judgement:
    """The policy's judgement of `request` from a caller of `tier`.

    A remix inherits model, size and length from a job that passed the tier's checks, so
    only its rules are judged. `moderation` is the classifier's answer for the prompt;
    without it, the rules that read it are passed over (see `Policy.evaluate`);
    `reading` lends the readings of the same text made for an earlier request.
    """
    if not request.is_remix:
        refusal = policy.check_tier(request, tier)
        if refusal is not None:
            return Judgement(refusal, None)
    return Judgement(None, policy.evaluate(request, tier, moderation, reading=reading))
