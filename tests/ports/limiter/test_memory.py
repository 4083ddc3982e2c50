"""What only the in-process limiter has: an injected clock and bounded memory."""

from __future__ import annotations

from gateway.ports.limiter import MemoryLimiter
from tests.ports.limiter.limits import concurrency, rate, request
from tests.support.clock import FakeClock


async def test_idle_state_is_forgotten_when_seen_again() -> None:
    """A limit back to idle and a set of expired leases hold no memory once looked at."""
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    checks = request(rate(count=10, period=10.0), concurrency())
    await limiter.acquire(checks, lease_id="l", lease_ttl=5.0)
    assert len(limiter) == 2
    clock.now += 60
    await limiter.acquire((), lease_id="l", lease_ttl=5.0)
    await limiter.refund(checks[:1], lease_id="l")
    assert len(limiter) == 1  # the refund found the TAT idle; the leases wait for a look
    verdict = await limiter.acquire(checks[1:], lease_id="m", lease_ttl=5.0)
    assert (verdict.allowed, verdict.states[0].remaining) == (True, 2)


async def test_memory_stays_bounded_as_principals_come_and_go() -> None:
    """Keys of principals who went idle are swept, so memory tracks the live keys only."""
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    for wave in range(3):
        for n in range(5000):
            checks = request(rate(count=10, period=10.0), principal=f"p{wave}-{n}")
            await limiter.acquire(checks, lease_id="l", lease_ttl=5.0)
        clock.now += 60  # every TAT of this wave is in the past now
    assert len(limiter) <= 10_000  # three waves without sweeping would hold 15000
