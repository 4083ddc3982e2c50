"""GCRA and lease arithmetic at explicit times: bursts, steady rates, costs, refunds, expiry."""

from __future__ import annotations

import pytest

from gateway.core.limits import LimitCheck, gcra
from tests.core.limits.ledger import Ledger, lease_check, rate_check

T0 = 1_700_000_000.0  # an epoch time as large as the ones the adapters see


def test_burst_from_idle_admits_exactly_n_then_refuses_with_the_wait_for_one_unit() -> None:
    """30 a minute with a burst of 10 admits 10 at once, then the 11th must wait T = 2 s."""
    ledger = Ledger()
    requests = rate_check(rate=30, period=60.0, burst=10)
    verdicts = [ledger.request([requests], T0) for _ in range(11)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False]
    assert [v.states[0].remaining for v in verdicts] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    refused = verdicts[-1]
    assert refused.refused_by == "requests"
    assert refused.retry_after == pytest.approx(2.0)
    assert ledger.request([requests], T0 + 1.999).allowed is False
    assert ledger.request([requests], T0 + 2.0).allowed is True


@pytest.mark.parametrize(
    ("rate", "period", "burst"),
    [(30, 60.0, 10), (7, 60.0, 7), (3, 1.0, 3), (600, 86_400.0, 600), (1000, 60.0, 1), (9, 7.0, 4)],
)
@pytest.mark.parametrize("start", [0.0, T0, T0 + 0.123457, 9_000_000_000.0])
def test_a_burst_of_n_is_exact_for_any_rate_period_and_start(
    rate: int, period: float, burst: int, start: float
) -> None:
    """Whatever T rounds to in microseconds, from idle a burst of N admits exactly N."""
    ledger = Ledger()
    check = rate_check(rate=rate, period=period, burst=burst)
    assert ledger.admitted([check], start, burst + 5) == burst


def test_a_steady_rate_admits_one_request_per_emission_interval() -> None:
    """Once the burst is spent, one request conforms every T seconds and not sooner."""
    ledger = Ledger()
    requests = rate_check(rate=60, period=60.0, burst=2)  # T = 1 s
    assert ledger.admitted([requests], T0, 2) == 2
    for second in range(1, 6):
        assert ledger.request([requests], T0 + second - 0.5).allowed is False
        assert ledger.request([requests], T0 + second).allowed is True
        assert ledger.request([requests], T0 + second).allowed is False


def test_remaining_and_reset_after_follow_the_tat() -> None:
    """Remaining counts whole units left now; reset_after is the time until fully idle."""
    ledger = Ledger()
    requests = rate_check(rate=30, period=60.0, burst=10)  # T = 2 s
    first = ledger.request([requests], T0).states[0]
    assert (first.remaining, first.reset_after, first.quota, first.window) == (9, 2.0, 30, 60.0)
    for _ in range(9):
        last = ledger.request([requests], T0)
    assert (last.states[0].remaining, last.states[0].reset_after) == (0, 20.0)
    # 3 s later one and a half units came back: one whole unit is usable.
    later = ledger.request([requests], T0 + 3.0)
    assert later.allowed is True
    assert (later.states[0].remaining, later.states[0].reset_after) == (0, 19.0)
    # Fully replenished: idle state reports the whole burst.
    idle = ledger.request([requests], T0 + 100.0).states[0]
    assert (idle.remaining, idle.reset_after) == (9, 2.0)


def test_video_seconds_a_day_admit_75_requests_of_8_seconds_then_refuse() -> None:
    """600 video-seconds a day: 75 requests of 8 s fit, the 76th waits 8 * 144 s."""
    ledger = Ledger()
    eight = rate_check("video_seconds", rate=600, period=86_400.0, cost=8)
    verdicts = [ledger.request([eight], T0) for _ in range(76)]
    assert [v.allowed for v in verdicts] == [True] * 75 + [False]
    assert verdicts[74].states[0].remaining == 0
    assert verdicts[-1].retry_after == pytest.approx(8 * 144.0)


def test_a_cost_above_what_remains_is_refused_and_consumes_nothing() -> None:
    """With 4 video-seconds left a 12 s request is refused, and 4 s still fit afterwards."""
    ledger = Ledger()

    def video(seconds: float) -> LimitCheck:
        return rate_check("video_seconds", rate=600, period=86_400.0, cost=seconds)

    assert ledger.admitted([video(8)], T0, 74) == 74
    four = video(4)
    assert ledger.request([four], T0).states[0].remaining == 4
    twelve = ledger.request([video(12)], T0)
    assert twelve.allowed is False
    assert twelve.retry_after == pytest.approx(8 * 144.0)  # 12 - 4 missing seconds
    assert twelve.states[0].remaining == 4
    assert ledger.request([four], T0).allowed is True
    assert ledger.request([four], T0).allowed is False


def test_fractional_costs_are_counted_exactly() -> None:
    """Costs of 2.5 units: four fit in a burst of 10, a fifth does not."""
    ledger = Ledger()
    check = rate_check(rate=10, period=10.0, cost=2.5)
    assert ledger.admitted([check], T0, 5) == 4


def test_refund_gives_back_the_cost_but_never_below_idle() -> None:
    """A refund returns the units a request used; refunding more than used leaves it idle."""
    ledger = Ledger()
    requests = rate_check(rate=30, period=60.0, burst=3)
    assert ledger.admitted([requests], T0, 4) == 3
    ledger.refund([requests], T0)
    assert ledger.admitted([requests], T0, 2) == 1
    for _ in range(10):
        ledger.refund([requests], T0)
    assert ledger.tats == {}
    assert ledger.admitted([requests], T0, 4) == 3


def test_refund_arithmetic_is_clamped_at_now() -> None:
    """tat = max(now, tat - cost*T), and a TAT at or before now is reported as idle."""
    assert gcra.refund(5_000, 1_000, 1_000) == 4_000
    assert gcra.refund(5_000, 4_500, 1_000) is None
    assert gcra.refund(None, 1_000, 1_000) is None


def test_concurrency_admits_n_leases_until_one_expires() -> None:
    """Two leases of two are held; a third waits until the earliest one expires."""
    ledger = Ledger()
    jobs = lease_check(n=2)
    assert ledger.request([jobs], T0, lease_id="a", ttl=10.0).allowed is True
    assert ledger.request([jobs], T0 + 1, lease_id="b", ttl=10.0).states[0].remaining == 0
    refused = ledger.request([jobs], T0 + 2, lease_id="c", ttl=10.0)
    assert (refused.allowed, refused.refused_by) == (False, "jobs")
    assert refused.retry_after == pytest.approx(8.0)
    assert ledger.request([jobs], T0 + 9.999, lease_id="c").allowed is False
    assert ledger.request([jobs], T0 + 10.0, lease_id="c").allowed is True  # "a" expired


def test_a_lease_held_already_is_renewed_not_doubled() -> None:
    """Acquiring with a lease id that holds a slot keeps one slot for it."""
    ledger = Ledger()
    jobs = lease_check(n=2)
    assert ledger.request([jobs], T0, lease_id="a").states[0].remaining == 1
    assert ledger.request([jobs], T0, lease_id="a").states[0].remaining == 1
    assert ledger.request([jobs], T0, lease_id="b").allowed is True
    assert ledger.request([jobs], T0, lease_id="a").allowed is True
    assert ledger.request([jobs], T0, lease_id="c").allowed is False


def test_refund_releases_the_lease() -> None:
    """Refunding a request frees its concurrency slot."""
    ledger = Ledger()
    jobs = lease_check(n=1)
    assert ledger.request([jobs], T0, lease_id="a").allowed is True
    assert ledger.request([jobs], T0, lease_id="b").allowed is False
    ledger.refund([jobs], T0, lease_id="a")
    assert ledger.request([jobs], T0, lease_id="b").allowed is True
