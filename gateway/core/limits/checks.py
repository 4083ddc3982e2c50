"""What one request asks of the limiter: one `LimitCheck` per limit of the caller's tier."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.core.limits.gcra import to_micros
from gateway.core.numbers import as_number
from gateway.core.policy.limits import LimitKind, LimitScope, LimitSpec
from gateway.core.policy.request import ParamValue

# Characters that would make a key ambiguous (":" separates its parts) or break the
# Redis Cluster hash tag an adapter builds from the tier ("{" and "}").
_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})


def key_part(value: str) -> str:
    """One part of a limit key, escaped so that distinct values never give one key."""
    return value.translate(_ESCAPES)


def tier_of(key: str) -> str:
    """The (escaped) tier a limit key starts with; every key of one request shares it."""
    tier, separator, _ = key.partition(":")
    if not separator or not tier:
        raise ValueError("a limit key starts with its tier and a colon")
    return tier


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One limit applied to one request: whose budget (`key`), how big, and how much it uses.

    Rate and cost checks carry GCRA's T (`emission_interval`, seconds per unit) and the
    `burst` (units that may be used at once); `cost` is what this request uses. A
    concurrency check carries `concurrency`, the number of leases that may be held.
    """

    key: str  # opaque to the limiter; starts with "<tier>:"
    name: str
    kind: LimitKind
    emission_interval: float  # seconds per unit; 0 for concurrency
    burst: float  # units; 0 for concurrency
    cost: float = 1.0  # units this request consumes
    concurrency: int = 0  # N for concurrency limits, else 0
    period: float = 0.0  # seconds, for reporting (RateLimit-Policy's window)
    quota: int = 0  # units per period, or N, for reporting

    def __post_init__(self) -> None:
        tier_of(self.key)
        if self.kind is LimitKind.CONCURRENCY:
            if self.concurrency < 0:
                raise ValueError(f"limit {self.name!r}: concurrency must not be negative")
            return
        if not (math.isfinite(self.emission_interval) and self.emission_interval > 0):
            raise ValueError(f"limit {self.name!r}: the emission interval must be positive")
        if not (math.isfinite(self.burst) and self.burst > 0):
            raise ValueError(f"limit {self.name!r}: the burst must be positive")
        if not (math.isfinite(self.cost) and self.cost >= 0):
            raise ValueError(f"limit {self.name!r}: the cost must be a non-negative number")

    @property
    def is_concurrency(self) -> bool:
        return self.kind is LimitKind.CONCURRENCY

    # The GCRA parameters in whole microseconds (see gcra.py). T is rounded once and
    # the others are multiples of it, so that a burst of N unit costs is exactly N * T.

    @property
    def interval_us(self) -> int:
        """T in microseconds (at least one)."""
        return max(1, to_micros(self.emission_interval)) if not self.is_concurrency else 0

    @property
    def tolerance_us(self) -> int:
        """burst * T in microseconds: how far the TAT may run ahead of now."""
        return round(self.burst * self.interval_us)

    @property
    def increment_us(self) -> int:
        """cost * T in microseconds: how far this request moves the TAT."""
        return round(self.cost * self.interval_us)


def parse_cost(name: str, value: ParamValue) -> float:
    """A cost parameter's value as a number: a number, or a string holding one in ASCII
    digits (read as the policy reads it, so what is judged is what is charged)."""
    number = as_number(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(f"{name!r} must be a non-negative number")
    return float(number)


def limit_key(spec: LimitSpec, *, principal: str, client_id: str, tier: str) -> str:
    """Whose budget the limit counts, as a key that starts with the tier."""
    tier_part = key_part(tier)
    name = key_part(spec.name)
    if spec.per is LimitScope.PRINCIPAL:
        return f"{tier_part}:principal:{key_part(principal)}:{name}"
    if spec.per is LimitScope.CLIENT:
        return f"{tier_part}:client:{key_part(client_id)}:{name}"
    return f"{tier_part}:tier:{name}"


def check_for(
    spec: LimitSpec,
    *,
    principal: str,
    client_id: str,
    tier: str,
    params: Mapping[str, ParamValue],
) -> LimitCheck:
    key = limit_key(spec, principal=principal, client_id=client_id, tier=tier)
    if spec.kind is LimitKind.CONCURRENCY:
        if spec.concurrency is None:
            raise ValueError(f"limit {spec.name!r} has no concurrency")
        return LimitCheck(
            key,
            spec.name,
            spec.kind,
            emission_interval=0.0,
            burst=0.0,
            cost=1.0,
            concurrency=spec.concurrency,
            quota=spec.concurrency,
        )
    interval = spec.emission_interval
    if spec.rate is None or spec.period is None or interval is None:
        raise ValueError(f"limit {spec.name!r} has no rate and period")
    burst = spec.burst if spec.burst is not None else spec.rate
    cost = 1.0
    if spec.kind is LimitKind.COST:
        if spec.cost is None:
            raise ValueError(f"limit {spec.name!r} names no cost parameter")
        if spec.cost not in params or params[spec.cost] is None:
            raise ValueError(f"{spec.cost!r} is required")
        cost = parse_cost(spec.cost, params[spec.cost])
    return LimitCheck(
        key,
        spec.name,
        spec.kind,
        emission_interval=interval,
        burst=float(burst),
        cost=cost,
        period=spec.period,
        quota=spec.rate,
    )


def checks_for(
    specs: Sequence[LimitSpec],
    *,
    principal: str,
    client_id: str,
    tier: str,
    params: Mapping[str, ParamValue],
) -> tuple[LimitCheck, ...]:
    """The checks one request of `principal` (through `client_id`, in `tier`) must pass.

    Raises ValueError, naming the parameter, when a cost limit's parameter is missing
    or not a non-negative number: the caller answers that with a 400.
    """
    return tuple(
        check_for(spec, principal=principal, client_id=client_id, tier=tier, params=params)
        for spec in specs
    )
