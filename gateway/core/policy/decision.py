"""What the policy decided about one request, and why."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.IntEnum):
    """Ordered by severity: the most severe matching action wins."""

    ALLOW = 0
    FLAG = 1
    HOLD = 2
    DENY = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule_id: str
    action: Action
    shadow: bool
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The enforced action (shadow rules never count) and every rule that matched."""

    action: Action
    hits: tuple[RuleHit, ...]
    policy_version: str

    @property
    def deciding_rule(self) -> RuleHit | None:
        """The enforced rule that set the action (first in policy order), if any."""
        for hit in self.hits:
            if not hit.shadow and hit.action == self.action and self.action != Action.ALLOW:
                return hit
        return None


class Admission(enum.Enum):
    ADMITTED = "admitted"
    TIER_NOT_IN_PHASE = "tier_not_in_phase"
    WAITLISTED = "waitlisted"
    UNKNOWN_TIER = "unknown_tier"
