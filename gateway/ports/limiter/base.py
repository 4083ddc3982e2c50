"""The limiter: rate, cost and concurrency limits enforced over shared state.

One protocol, adapters beside it (in-process memory embedded; Redis at scale). The
arithmetic lives in `gateway.core.limits`; an adapter only reads the state of a
request's keys, lets the core decide, and writes the outcome, atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.core.limits import LimitCheck, Verdict


class LimiterUnavailable(Exception):
    """The limiter could not be reached or answered in time; the caller picks the fail mode."""


class Limiter(Protocol):
    async def acquire(
        self, checks: Sequence[LimitCheck], *, lease_id: str, lease_ttl: float
    ) -> Verdict:
        """Judge a request against all its checks at once, and consume only if all admit it.

        Rate and cost checks use their cost; each concurrency check takes a lease named
        `lease_id` that expires after `lease_ttl` seconds unless released first. A
        refused request consumes nothing. The checks must share a tier and have
        distinct keys (ValueError otherwise).
        """
        ...

    async def refund(self, checks: Sequence[LimitCheck], *, lease_id: str) -> None:
        """Give back what an admitted request used: the cost of its rate and cost checks
        (never below idle) and its leases, e.g. for a generation the model API refused."""
        ...

    async def release(self, lease_keys: Sequence[str], lease_id: str) -> None:
        """Release the lease `lease_id` on each of the keys (concurrency check keys), e.g.
        when a job reached a terminal state; releasing twice or too late is harmless."""
        ...

    async def ping(self) -> bool:
        """Whether the limiter answers now; never raises."""
        ...

    async def close(self) -> None: ...
