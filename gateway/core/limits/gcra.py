"""The rate-limit arithmetic, written once: GCRA for rate and cost limits, leases for
concurrency limits.

Every quantity is an integer number of microseconds: a theoretical arrival time (TAT)
and "now" are microseconds since the epoch, T (the emission interval) is microseconds
per unit. Integers keep the arithmetic exact, so that from idle a burst of N admits
exactly N, however many requests came before, and so that the Redis adapter's Lua
script, which mirrors these functions line by line, computes bit for bit the same
(its numbers are doubles, exact for integers below 2**53; epoch microseconds are
about 2**51). The conversions from seconds happen once, at the edge of this module,
in `to_micros`.
"""

from __future__ import annotations

from collections.abc import Mapping

MICROS_PER_SECOND = 1_000_000


def to_micros(seconds: float) -> int:
    """Seconds as whole microseconds, rounded to the nearest."""
    return round(seconds * MICROS_PER_SECOND)


def to_seconds(micros: int) -> float:
    return micros / MICROS_PER_SECOND


# Rate and cost limits (GCRA). `interval` is T, `tolerance` is burst * T, `increment`
# is cost * T; `tat` None means idle (never seen, or fully replenished and forgotten).


def consume(tat: int | None, now: int, increment: int) -> int:
    """The TAT after admitting a request that uses `increment` microseconds of budget."""
    return max(now if tat is None else tat, now) + increment


def conforms(new_tat: int, now: int, tolerance: int) -> bool:
    """Whether the request that would move the TAT to `new_tat` is admitted."""
    return new_tat - now <= tolerance


def remaining(tat: int | None, now: int, interval: int, tolerance: int) -> int:
    """Whole units a request could still use now, with the TAT at `tat`."""
    used = max(now if tat is None else tat, now) - now
    return max(0, (tolerance - used) // interval)


def retry_after(new_tat: int, now: int, tolerance: int) -> int:
    """How long a refused request must wait until the same request would conform."""
    return max(0, new_tat - now - tolerance)


def reset_after(tat: int | None, now: int) -> int:
    """How long until the budget is fully replenished (the limit is idle again)."""
    return 0 if tat is None else max(0, tat - now)


def refund(tat: int | None, now: int, increment: int) -> int | None:
    """The TAT after giving back `increment`; never below now. None when that leaves it idle."""
    if tat is None:
        return None
    given_back = max(now, tat - increment)
    return None if given_back <= now else given_back


def is_idle(tat: int | None, now: int) -> bool:
    """An idle limit is indistinguishable from one never used: its state can be dropped."""
    return tat is None or tat <= now


# Concurrency limits: a set of leases {lease_id: expires_at}.


def live_leases(leases: Mapping[str, int], now: int) -> dict[str, int]:
    """The leases that have not expired: an expired lease is as good as released."""
    return {lease_id: expires_at for lease_id, expires_at in leases.items() if expires_at > now}


def admits(live: int, holds: bool, limit: int) -> bool:
    """Whether a lease may be taken: a free slot, or the same lease id holds one already."""
    return holds or live < limit


def lease_expiry(now: int, lease_ttl: int) -> int:
    return now + lease_ttl
