"""The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11)
and Retry-After, from a limiter verdict.

Both fields are Structured Field lists of policies: `"name";q=QUOTA;w=WINDOW` and
`"name";r=REMAINING;t=SECONDS`. Cost-weighted limits count in the unit of their
parameter (video-seconds), which no registered quota unit names, so they carry it in
a vendor parameter; concurrency limits use the registered `qu="concurrent-requests"`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway.core.limits.decide import LimitState, Verdict
from gateway.core.policy.limits import LimitKind

_COST_UNIT = 'pg-unit="video-seconds"'


def _policy_item(state: LimitState) -> str:
    item = f'"{state.name}";q={state.quota}'
    if state.kind is LimitKind.CONCURRENCY:
        return item + ';qu="concurrent-requests"'
    item += f";w={math.ceil(state.window)}"
    return item + (f";{_COST_UNIT}" if state.kind is LimitKind.COST else "")


def _remaining_item(state: LimitState) -> str:
    return f'"{state.name}";r={max(0, state.remaining)};t={math.ceil(state.reset_after)}'


def ratelimit_headers(states: Sequence[LimitState]) -> list[tuple[str, str]]:
    if not states:
        return []
    return [
        ("RateLimit-Policy", ", ".join(_policy_item(state) for state in states)),
        ("RateLimit", ", ".join(_remaining_item(state) for state in states)),
    ]


# A concurrency slot frees when a job ends, usually long before its lease would expire.
CONCURRENCY_RETRY_AFTER = 10


def retry_after_seconds(verdict: Verdict) -> int:
    """Whole seconds to wait, rounded up: a client that waits this long can be admitted."""
    wait = max(1, math.ceil(verdict.retry_after))
    refusing = next((s for s in verdict.states if s.name == verdict.refused_by), None)
    if refusing is not None and refusing.kind is LimitKind.CONCURRENCY:
        return min(wait, CONCURRENCY_RETRY_AFTER)
    return wait
