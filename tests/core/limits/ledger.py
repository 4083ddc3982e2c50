"""A minimal in-test driver of the pure core: state in dictionaries, times given explicitly."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.limits import LimitCheck, Verdict, decide, gcra
from gateway.core.limits.decide import Leases, Observed
from gateway.core.policy.limits import LimitKind

TIER = "t"


def rate_check(
    name: str = "requests",
    *,
    rate: int,
    period: float,
    burst: int | None = None,
    cost: float = 1.0,
    owner: str = "alice",
) -> LimitCheck:
    """A rate limit (or, with a cost other than one, a cost limit) on one principal."""
    return LimitCheck(
        f"{TIER}:principal:{owner}:{name}",
        name,
        LimitKind.RATE if cost == 1.0 else LimitKind.COST,
        emission_interval=period / rate,
        burst=float(burst if burst is not None else rate),
        cost=cost,
        period=period,
        quota=rate,
    )


def lease_check(name: str = "jobs", *, n: int, owner: str = "alice") -> LimitCheck:
    return LimitCheck(
        f"{TIER}:principal:{owner}:{name}",
        name,
        LimitKind.CONCURRENCY,
        emission_interval=0.0,
        burst=0.0,
        concurrency=n,
        quota=n,
    )


class Ledger:
    """Applies `decide` to state it keeps, as an adapter would, at the times it is told."""

    def __init__(self) -> None:
        self.tats: dict[str, int] = {}
        self.leases: dict[str, dict[str, int]] = {}

    def _observe(self, check: LimitCheck, lease_id: str, now: int) -> Observed:
        if check.is_concurrency:
            live = gcra.live_leases(self.leases.get(check.key, {}), now)
            self.leases[check.key] = live
            return Leases(len(live), lease_id in live, min(live.values(), default=None))
        return self.tats.get(check.key)

    def request(
        self, checks: Sequence[LimitCheck], at: float, *, lease_id: str = "l", ttl: float = 60.0
    ) -> Verdict:
        now = gcra.to_micros(at)
        observed = [self._observe(check, lease_id, now) for check in checks]
        decision = decide(checks, observed, now)
        if decision.verdict.allowed:
            for check, new_tat in zip(checks, decision.new_tats, strict=True):
                if check.is_concurrency:
                    self.leases[check.key][lease_id] = now + gcra.to_micros(ttl)
                else:
                    assert new_tat is not None
                    self.tats[check.key] = new_tat
        return decision.verdict

    def refund(self, checks: Sequence[LimitCheck], at: float, *, lease_id: str = "l") -> None:
        now = gcra.to_micros(at)
        for check in checks:
            if check.is_concurrency:
                self.leases.get(check.key, {}).pop(lease_id, None)
            elif (tat := gcra.refund(self.tats.get(check.key), now, check.increment_us)) is None:
                self.tats.pop(check.key, None)
            else:
                self.tats[check.key] = tat

    def admitted(self, checks: Sequence[LimitCheck], at: float, attempts: int) -> int:
        """How many of `attempts` identical requests at one instant are admitted."""
        return sum(self.request(checks, at, lease_id=f"l{i}").allowed for i in range(attempts))
