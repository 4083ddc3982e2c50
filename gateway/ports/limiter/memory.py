"""The in-process limiter: exact within one process, for the embedded single-worker setup.

Atomic because no method awaits between reading the state and writing it: the event
loop cannot run another request's acquire in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from gateway.core.limits import LimitCheck, Verdict, decide, gcra, validate_acquire
from gateway.core.limits.decide import Leases, Observed

# The state is swept for idle keys whenever it has grown to this many times its size
# after the previous sweep (and at least _SWEEP_MIN keys): amortised O(1) per call, and
# memory bounded by a small multiple of the keys in use.
_SWEEP_GROWTH = 2
_SWEEP_MIN = 1024


class MemoryLimiter:
    """`Limiter` on dictionaries in this process, with an injectable clock (seconds)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._leases: dict[str, dict[str, int]] = {}
        self._sweep_at = _SWEEP_MIN

    def _now(self) -> int:
        return gcra.to_micros(self._clock())

    def _live(self, key: str, now: int) -> dict[str, int]:
        leases = gcra.live_leases(self._leases.get(key, {}), now)
        if leases:
            self._leases[key] = leases
        else:
            self._leases.pop(key, None)
        return leases

    def _observe(self, check: LimitCheck, lease_id: str, now: int) -> Observed:
        if check.is_concurrency:
            live = self._live(check.key, now)
            return Leases(len(live), lease_id in live, min(live.values(), default=None))
        tat = self._tats.get(check.key)
        if gcra.is_idle(tat, now):
            self._tats.pop(check.key, None)
            return None
        return tat

    async def acquire(
        self, checks: Sequence[LimitCheck], *, lease_id: str, lease_ttl: float
    ) -> Verdict:
        validate_acquire(checks, lease_ttl)
        now = self._now()
        observed = [self._observe(check, lease_id, now) for check in checks]
        decision = decide(checks, observed, now)
        if decision.verdict.allowed:
            expires_at = gcra.lease_expiry(now, gcra.to_micros(lease_ttl))
            for check, new_tat in zip(checks, decision.new_tats, strict=True):
                if check.is_concurrency:
                    self._leases.setdefault(check.key, {})[lease_id] = expires_at
                elif new_tat is not None and not gcra.is_idle(new_tat, now):
                    self._tats[check.key] = new_tat
        self._maybe_sweep(now)
        return decision.verdict

    async def refund(self, checks: Sequence[LimitCheck], *, lease_id: str) -> None:
        now = self._now()
        for check in checks:
            if check.is_concurrency:
                self._drop_lease(check.key, lease_id)
                continue
            tat = gcra.refund(self._tats.get(check.key), now, check.increment_us)
            if tat is None:
                self._tats.pop(check.key, None)
            else:
                self._tats[check.key] = tat

    async def release(self, lease_keys: Sequence[str], lease_id: str) -> None:
        for key in lease_keys:
            self._drop_lease(key, lease_id)

    def _drop_lease(self, key: str, lease_id: str) -> None:
        leases = self._leases.get(key)
        if leases is not None:
            leases.pop(lease_id, None)
            if not leases:
                del self._leases[key]

    def _maybe_sweep(self, now: int) -> None:
        if len(self._tats) + len(self._leases) < self._sweep_at:
            return
        self._tats = {key: tat for key, tat in self._tats.items() if not gcra.is_idle(tat, now)}
        swept: dict[str, dict[str, int]] = {}
        for key, leases in self._leases.items():
            if live := gcra.live_leases(leases, now):
                swept[key] = live
        self._leases = swept
        self._sweep_at = max(_SWEEP_MIN, _SWEEP_GROWTH * (len(self._tats) + len(self._leases)))

    def __len__(self) -> int:
        """How many keys hold state (for tests of the memory bound)."""
        return len(self._tats) + len(self._leases)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._tats.clear()
        self._leases.clear()
