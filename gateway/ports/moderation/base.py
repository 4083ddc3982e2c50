"""The moderation classifier: a prompt in, scores per category (or a failure) out.

The service, its timeout and the action its failure reads as come from the policy
(`gateway.core.policy.moderation.ModerationService`); an adapter only talks to it.
"""

from __future__ import annotations

from typing import Protocol

from gateway.core.policy.moderation import Moderation, ModerationService


class Moderator(Protocol):
    async def classify(self, service: ModerationService, prompt: str) -> Moderation:
        """The service's scores for `prompt`, within `service.timeout`.

        Never raises: a timeout, a refused connection, an error status or an answer that
        is not a moderation result is a `ModerationFailure` saying which.
        """
        ...

    async def close(self) -> None: ...
