"""One request against all of its limits at once: all of them admit it, or it uses nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.limits import gcra
from gateway.core.limits.checks import LimitCheck, tier_of
from gateway.core.policy.limits import LimitKind


@dataclass(frozen=True, slots=True)
class Leases:
    """What a concurrency check sees of its key once the expired leases are dropped."""

    live: int
    holds: bool  # the acquiring lease id is among the live leases already
    next_expiry: int | None = None  # microseconds; when the earliest live lease expires


# Per check, what the limiter read before deciding: the TAT of a rate or cost check
# (None when idle) or the leases of a concurrency check.
Observed = int | Leases | None


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit after the decision, for the RateLimit headers and messages."""

    name: str
    kind: LimitKind
    quota: int  # units per window, or concurrent leases
    window: float  # seconds; 0 for concurrency
    remaining: int  # whole units still available now
    reset_after: float  # seconds until fully replenished; 0 for concurrency


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    refused_by: str | None = None  # the name of the limit that refused for longest
    retry_after: float = 0.0  # seconds; the longest wait among the refusing limits
    states: tuple[LimitState, ...] = ()  # one per check, in check order


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    # Per check, the TAT to store when the request is admitted; None for concurrency
    # checks (the adapter adds the lease) and for every check of a refused request.
    new_tats: tuple[int | None, ...]


def require_distinct_keys(checks: Sequence[LimitCheck]) -> None:
    """One key twice in a request would be judged against one snapshot twice; refuse it."""
    keys = [check.key for check in checks]
    if len(set(keys)) != len(keys):
        raise ValueError("the checks of one request must have distinct keys")


def validate_acquire(checks: Sequence[LimitCheck], lease_ttl: float) -> None:
    """What every adapter refuses (ValueError) before touching any state: keys that are
    not distinct, keys of several tiers (a request's keys share one Redis Cluster slot),
    and a lease ttl that is not a positive number of seconds."""
    require_distinct_keys(checks)
    if len({tier_of(check.key) for check in checks}) > 1:
        raise ValueError("the checks of one request must share a tier")
    if not (math.isfinite(lease_ttl) and lease_ttl > 0):
        raise ValueError("the lease ttl must be a positive number of seconds")


def _rate_state(check: LimitCheck, tat: int | None, now: int) -> LimitState:
    return LimitState(
        check.name,
        check.kind,
        check.quota,
        check.period,
        gcra.remaining(tat, now, check.interval_us, check.tolerance_us),
        gcra.to_seconds(gcra.reset_after(tat, now)),
    )


def _lease_state(check: LimitCheck, held: int) -> LimitState:
    remaining = max(0, check.concurrency - held)
    return LimitState(check.name, check.kind, check.quota, 0.0, remaining, 0.0)


def _judge(check: LimitCheck, seen: Observed, now: int) -> tuple[int | None, int | None]:
    """The TAT this check would move to (None for concurrency) and its wait if it refuses."""
    if check.is_concurrency:
        if not isinstance(seen, Leases):
            raise TypeError(f"limit {check.name!r} needs the leases of its key")
        if gcra.admits(seen.live, seen.holds, check.concurrency):
            return None, None
        return None, 0 if seen.next_expiry is None else max(0, seen.next_expiry - now)
    if isinstance(seen, Leases):
        raise TypeError(f"limit {check.name!r} needs the TAT of its key")
    new_tat = gcra.consume(seen, now, check.increment_us)
    if gcra.conforms(new_tat, now, check.tolerance_us):
        return new_tat, None
    return new_tat, gcra.retry_after(new_tat, now, check.tolerance_us)


def _state(
    check: LimitCheck, seen: Observed, new_tat: int | None, now: int, *, took: bool
) -> LimitState:
    """The limit as it stands after the decision; `took` when the request was admitted."""
    if isinstance(seen, Leases):
        return _lease_state(check, seen.live + (took and not seen.holds))
    return _rate_state(check, new_tat if took else seen, now)


def decide(checks: Sequence[LimitCheck], observed: Sequence[Observed], now: int) -> Decision:
    """The verdict on a request whose limits were in the `observed` states at `now` (us)."""
    if len(checks) != len(observed):
        raise ValueError("one observed state per check is needed")
    judged = [_judge(check, seen, now) for check, seen in zip(checks, observed, strict=True)]
    allowed = all(wait is None for _, wait in judged)
    states = tuple(
        _state(check, seen, new_tat, now, took=allowed)
        for check, seen, (new_tat, _) in zip(checks, observed, judged, strict=True)
    )
    if allowed:
        return Decision(Verdict(True, states=states), tuple(new_tat for new_tat, _ in judged))

    # The longest wait decides; among equal waits, the first refusing check in order.
    longest, refusing = -1, checks[0]
    for check, (_, wait) in zip(checks, judged, strict=True):
        if wait is not None and wait > longest:
            longest, refusing = wait, check
    verdict = Verdict(False, refusing.name, gcra.to_seconds(longest), states)
    return Decision(verdict, (None,) * len(checks))
