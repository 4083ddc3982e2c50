"""Builders for the checks the limiter tests send: limits as a tier declares them."""

from __future__ import annotations

from gateway.core.limits import LimitCheck, checks_for
from gateway.core.policy.limits import LimitKind, LimitScope, LimitSpec

HOUR = 3600.0  # periods this long make the time a test takes negligible on a real clock
TIER = "studios"


def rate(
    name: str = "requests",
    count: int = 10,
    *,
    period: float = HOUR,
    burst: int | None = None,
    per: LimitScope = LimitScope.PRINCIPAL,
) -> LimitSpec:
    return LimitSpec(name, per, LimitKind.RATE, count, period, burst if burst else count)


def cost(name: str = "video_seconds", count: int = 600, *, period: float = HOUR) -> LimitSpec:
    return LimitSpec(name, LimitScope.PRINCIPAL, LimitKind.COST, count, period, count, "seconds")


def concurrency(name: str = "jobs", count: int = 3) -> LimitSpec:
    return LimitSpec(name, LimitScope.PRINCIPAL, LimitKind.CONCURRENCY, concurrency=count)


def request(
    *specs: LimitSpec,
    principal: str = "alice",
    client_id: str = "client-1",
    tier: str = TIER,
    seconds: int | float = 1,
) -> tuple[LimitCheck, ...]:
    """The checks of one generation request of `principal` asking for `seconds` of video."""
    return checks_for(
        specs, principal=principal, client_id=client_id, tier=tier, params={"seconds": seconds}
    )
