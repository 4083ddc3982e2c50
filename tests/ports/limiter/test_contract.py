"""What every `Limiter` adapter promises, run against each backend in `conftest.BACKENDS`.

Periods are an hour long, so the milliseconds a test takes on Redis's real clock never
change a count; tests assert counts, and times only to within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.core.limits import LimitCheck
from gateway.core.policy.limits import LimitScope
from gateway.ports.limiter import Limiter
from tests.ports.limiter.conftest import Backend
from tests.ports.limiter.limits import concurrency, cost, rate, request

TTL = 600.0


async def _admitted(
    limiter: Limiter, checks: Sequence[LimitCheck], attempts: int, prefix: str = "r"
) -> int:
    """How many of `attempts` identical requests, one after another, are admitted."""
    admitted = 0
    for i in range(attempts):
        verdict = await limiter.acquire(checks, lease_id=f"{prefix}{i}", lease_ttl=TTL)
        admitted += verdict.allowed
    return admitted


async def test_a_burst_of_n_admits_exactly_n(limiter: Limiter) -> None:
    """From idle a burst of 10 admits 10 requests, counting down, then refuses the rest."""
    checks = request(rate(count=10))
    verdicts = [await limiter.acquire(checks, lease_id="l", lease_ttl=TTL) for _ in range(15)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 5
    assert [v.states[0].remaining for v in verdicts[:10]] == list(range(9, -1, -1))
    refused = verdicts[-1]
    assert refused.refused_by == "requests"
    assert 359.0 < refused.retry_after <= 360.0  # one unit of 10 an hour
    state = refused.states[0]
    assert (state.name, state.quota, state.window, state.remaining) == ("requests", 10, 3600.0, 0)
    assert 3599.0 < state.reset_after <= 3600.0


async def test_refused_requests_consume_nothing(limiter: Limiter) -> None:
    """Refusals leave the budget as it was: a refund after many refusals frees exactly one."""
    checks = request(rate(count=3))
    assert await _admitted(limiter, checks, 30) == 3
    await limiter.refund(checks, lease_id="r0")
    assert await _admitted(limiter, checks, 5) == 1


async def test_a_cost_above_what_remains_is_refused_without_consuming(limiter: Limiter) -> None:
    """With 4 of 600 video-seconds left, 12 s is refused and 4 s is still admitted."""
    spec = cost(count=600)
    assert await _admitted(limiter, request(spec, seconds=8), 80) == 75
    assert await _admitted(limiter, request(spec, seconds=8), 1) == 0
    refund_four = request(spec, seconds=4)
    await limiter.refund(refund_four, lease_id="x")
    twelve = await limiter.acquire(request(spec, seconds=12), lease_id="x", lease_ttl=TTL)
    assert (twelve.allowed, twelve.refused_by, twelve.states[0].remaining) == (
        False,
        "video_seconds",
        4,
    )
    assert await _admitted(limiter, refund_four, 3) == 1


async def test_all_limits_admit_a_request_or_none_is_consumed(limiter: Limiter) -> None:
    """When one of two limits refuses, the other keeps every unit it had."""
    requests, video = rate(count=5), cost(count=20)
    assert await _admitted(limiter, request(requests, video, seconds=8), 3) == 2
    refused = await limiter.acquire(request(requests, video, seconds=8), lease_id="x", lease_ttl=1)
    assert refused.refused_by == "video_seconds"
    assert [state.remaining for state in refused.states] == [3, 4]
    assert await _admitted(limiter, request(requests, video, seconds=1), 5) == 3
    last = await limiter.acquire(request(requests, video, seconds=1), lease_id="y", lease_ttl=1)
    assert (last.allowed, last.refused_by) == (False, "requests")
    assert [state.remaining for state in last.states] == [0, 1]


async def test_refund_gives_back_rate_cost_and_lease(limiter: Limiter) -> None:
    """A refunded request's units and its concurrency slot can be used again."""
    checks = request(rate(count=2), cost(count=10), concurrency(count=2), seconds=5)
    assert await _admitted(limiter, checks, 3) == 2
    await limiter.refund(checks, lease_id="r1")
    again = await limiter.acquire(checks, lease_id="again", lease_ttl=TTL)
    assert again.allowed is True
    assert [state.remaining for state in again.states] == [0, 0, 0]


async def test_refund_never_goes_below_idle(limiter: Limiter) -> None:
    """Refunding more than was used leaves the limit idle, not with extra budget."""
    checks = request(rate(count=3))
    assert await _admitted(limiter, checks, 1) == 1
    for _ in range(5):
        await limiter.refund(checks, lease_id="r0")
    assert await _admitted(limiter, checks, 5) == 3


async def test_concurrency_never_exceeds_n_and_release_frees_a_slot(limiter: Limiter) -> None:
    """Three leases are held at most; releasing one lets exactly one more in."""
    checks = request(concurrency(count=3))
    assert await _admitted(limiter, checks, 5, prefix="job") == 3
    await limiter.release([checks[0].key], "job-unknown")
    assert await _admitted(limiter, checks, 2, prefix="late") == 0
    await limiter.release([checks[0].key], "job1")
    await limiter.release([checks[0].key], "job1")  # twice is harmless
    verdict = await limiter.acquire(checks, lease_id="next", lease_ttl=TTL)
    assert (verdict.allowed, verdict.states[0].remaining) == (True, 0)
    assert await _admitted(limiter, checks, 2, prefix="late") == 0


async def test_reacquiring_a_held_lease_takes_no_second_slot(limiter: Limiter) -> None:
    """The same lease id acquiring again (a retry) keeps its one slot."""
    checks = request(concurrency(count=2))
    for _ in range(3):
        verdict = await limiter.acquire(checks, lease_id="same", lease_ttl=TTL)
        assert (verdict.allowed, verdict.states[0].remaining) == (True, 1)


async def test_an_expired_lease_frees_its_slot(backend: Backend) -> None:
    """A lease nobody released stops counting once its ttl has passed."""
    limiter, checks = backend.limiter, request(concurrency(count=1))
    assert (await limiter.acquire(checks, lease_id="a", lease_ttl=0.2)).allowed is True
    refused = await limiter.acquire(checks, lease_id="b", lease_ttl=0.2)
    assert refused.allowed is False
    assert 0 < refused.retry_after <= 0.2
    await backend.advance(0.3)
    assert (await limiter.acquire(checks, lease_id="b", lease_ttl=TTL)).allowed is True


async def test_a_spent_rate_limit_comes_back_with_time(backend: Backend) -> None:
    """Once the TAT has passed the whole burst conforms again."""
    checks = request(rate(count=10, period=1.0, burst=2))  # T = 100 ms
    assert await _admitted(backend.limiter, checks, 4) == 2
    await backend.advance(0.25)
    assert await _admitted(backend.limiter, checks, 4) == 2


async def test_budgets_are_per_principal_client_and_tier(limiter: Limiter) -> None:
    """Principals have their own budgets; a tier-wide limit is shared by all of them."""
    mine, shared = rate(count=2), rate("tier_capacity", 3, per=LimitScope.TIER)
    assert await _admitted(limiter, request(mine, shared, principal="alice"), 5) == 2
    assert await _admitted(limiter, request(mine, shared, principal="bob"), 5) == 1
    assert await _admitted(limiter, request(mine, principal="carol"), 5) == 2
    assert await _admitted(limiter, request(mine, shared, tier="public"), 5) == 2


async def test_three_hundred_concurrent_acquires_admit_exactly_the_burst(limiter: Limiter) -> None:
    """300 acquires racing against a burst of 10 admit exactly 10."""
    checks = request(rate(count=10), concurrency(count=50))
    verdicts = await asyncio.gather(
        *(limiter.acquire(checks, lease_id=f"r{i}", lease_ttl=TTL) for i in range(300))
    )
    assert sum(v.allowed for v in verdicts) == 10


async def test_concurrent_acquires_never_exceed_the_concurrency(limiter: Limiter) -> None:
    """300 racing acquires take exactly 5 leases of 5."""
    checks = request(concurrency(count=5))
    verdicts = await asyncio.gather(
        *(limiter.acquire(checks, lease_id=f"r{i}", lease_ttl=TTL) for i in range(300))
    )
    assert sum(v.allowed for v in verdicts) == 5


async def test_several_clients_share_one_budget(backend: Backend) -> None:
    """Three clients on the same state, racing 100 acquires each, admit exactly 10 in all."""
    clients = [backend.connect() for _ in range(3)]
    checks = request(rate(count=10))
    verdicts = await asyncio.gather(
        *(
            client.acquire(checks, lease_id=f"c{n}-{i}", lease_ttl=TTL)
            for n, client in enumerate(clients)
            for i in range(100)
        )
    )
    assert sum(v.allowed for v in verdicts) == 10


async def test_a_request_with_no_limits_is_admitted(limiter: Limiter) -> None:
    """No checks, nothing to refuse."""
    verdict = await limiter.acquire((), lease_id="l", lease_ttl=TTL)
    assert (verdict.allowed, verdict.states) == (True, ())


async def test_bad_calls_are_refused_before_touching_state(limiter: Limiter) -> None:
    """Duplicate keys, keys of several tiers or a non-positive lease ttl raise ValueError."""
    checks = request(rate(count=1))
    with pytest.raises(ValueError, match="distinct keys"):
        await limiter.acquire(checks + checks, lease_id="l", lease_ttl=TTL)
    with pytest.raises(ValueError, match="share a tier"):
        await limiter.acquire(checks + request(rate(), tier="public"), lease_id="l", lease_ttl=1)
    with pytest.raises(ValueError, match="ttl"):
        await limiter.acquire(checks, lease_id="l", lease_ttl=0)
    assert await _admitted(limiter, checks, 2) == 1


async def test_ping_answers_true_when_up(limiter: Limiter) -> None:
    """A reachable limiter pings True."""
    assert await limiter.ping() is True
