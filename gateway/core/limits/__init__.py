"""Rate, cost and concurrency limits: the checks of a request, GCRA, and the verdict."""

from gateway.core.limits.checks import LimitCheck, checks_for, key_part, limit_key, tier_of
from gateway.core.limits.decide import (
    Decision,
    Leases,
    LimitState,
    Observed,
    Verdict,
    decide,
    require_distinct_keys,
    validate_acquire,
)

__all__ = [
    "Decision",
    "Leases",
    "LimitCheck",
    "LimitState",
    "Observed",
    "Verdict",
    "checks_for",
    "decide",
    "key_part",
    "limit_key",
    "require_distinct_keys",
    "tier_of",
    "validate_acquire",
]
