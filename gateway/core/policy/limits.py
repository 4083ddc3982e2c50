"""Limits as the policy declares them, compiled; they are enforced elsewhere."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LimitKind(enum.Enum):
    RATE = "rate"  # GCRA: `rate` requests per `period`, up to `burst` at once
    COST = "cost"  # GCRA weighted by a request parameter, e.g. video seconds
    CONCURRENCY = "concurrency"  # at most N generation jobs in flight


class LimitScope(enum.Enum):
    """Whose budget a limit counts: one principal's, one client's, or the whole tier's."""

    PRINCIPAL = "principal"
    CLIENT = "client"
    TIER = "tier"


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit of a tier. Rate and cost limits have rate, period and burst; a
    concurrency limit has only `concurrency`."""

    name: str
    per: LimitScope
    kind: LimitKind
    rate: int | None = None
    period: float | None = None  # seconds
    burst: int | None = None  # defaults to rate: from idle, a burst of N admits exactly N
    cost: str | None = None  # the request parameter a COST limit is weighted by
    concurrency: int | None = None

    @property
    def emission_interval(self) -> float | None:
        """GCRA's T: seconds of budget one unit uses (period / rate)."""
        if self.rate is None or self.period is None:
            return None
        return self.period / self.rate
