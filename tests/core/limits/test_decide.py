"""One verdict over all of a request's limits: all admit it, or nothing is consumed."""

from __future__ import annotations

import pytest

from gateway.core.limits import decide, gcra, require_distinct_keys
from gateway.core.limits.decide import Leases
from tests.core.limits.ledger import Ledger, lease_check, rate_check

T0 = 1_700_000_000.0
NOW = gcra.to_micros(T0)


def test_a_refusal_by_one_limit_leaves_the_others_untouched() -> None:
    """When the cost limit refuses, the request limit keeps every unit it had."""
    ledger = Ledger()
    requests = rate_check(rate=100, period=3600.0, burst=10)
    video = rate_check("video_seconds", rate=20, period=3600.0, cost=8)
    both = [requests, video]
    assert ledger.admitted(both, T0, 3) == 2
    refused = ledger.request(both, T0)
    assert (refused.allowed, refused.refused_by) == (False, "video_seconds")
    assert [state.remaining for state in refused.states] == [8, 4]
    assert ledger.admitted([requests], T0, 20) == 8


def test_retry_after_is_the_longest_wait_among_refusing_limits() -> None:
    """Two refusing limits: the verdict names the one that frees up last, with its wait."""
    short = rate_check("per_minute", rate=60, period=60.0, burst=1)  # T = 1 s
    long = rate_check("per_hour", rate=60, period=3600.0, burst=1)  # T = 60 s
    spent = gcra.consume(None, NOW, gcra.to_micros(1.0))
    decision = decide([short, long], [spent, spent + gcra.to_micros(59.0)], NOW)
    verdict = decision.verdict
    assert (verdict.allowed, verdict.refused_by, verdict.retry_after) == (False, "per_hour", 60.0)
    assert decision.new_tats == (None, None)


def test_an_admitted_request_reports_every_limit_after_consuming() -> None:
    """States come in check order and count this request, leases included."""
    checks = [rate_check(rate=10, period=60.0), lease_check(n=3)]
    decision = decide(checks, [None, Leases(live=1, holds=False, next_expiry=NOW + 5)], NOW)
    assert decision.verdict.allowed is True
    assert decision.verdict.refused_by is None
    assert [(s.name, s.remaining, s.reset_after) for s in decision.verdict.states] == [
        ("requests", 9, 6.0),
        ("jobs", 1, 0.0),
    ]
    assert decision.new_tats == (NOW + gcra.to_micros(6.0), None)


def test_a_refused_concurrency_limit_blocks_the_rate_limits_too() -> None:
    """A full concurrency limit refuses, so no TAT is written for the other checks."""
    checks = [rate_check(rate=10, period=60.0), lease_check(n=1)]
    decision = decide(checks, [None, Leases(live=1, holds=False, next_expiry=NOW + 3_000)], NOW)
    assert decision.verdict.allowed is False
    assert decision.verdict.refused_by == "jobs"
    assert decision.verdict.retry_after == pytest.approx(0.003)
    assert decision.new_tats == (None, None)
    assert decision.verdict.states[0].remaining == 10


def test_no_checks_means_allowed() -> None:
    """A request with no limits is admitted with no states."""
    decision = decide([], [], NOW)
    assert decision.verdict.allowed is True
    assert decision.verdict.states == ()


def test_observations_must_match_the_checks() -> None:
    """A missing observation, or one of the wrong kind, is a programming error."""
    rate, lease = rate_check(rate=10, period=60.0), lease_check(n=1)
    with pytest.raises(ValueError, match="one observed state per check"):
        decide([rate], [], NOW)
    with pytest.raises(TypeError, match="leases"):
        decide([lease], [None], NOW)
    with pytest.raises(TypeError, match="TAT"):
        decide([rate], [Leases(0, holds=False)], NOW)


def test_duplicate_keys_are_refused() -> None:
    """One key twice in a request would be judged twice against one snapshot."""
    check = rate_check(rate=10, period=60.0)
    with pytest.raises(ValueError, match="distinct keys"):
        require_distinct_keys([check, check])
