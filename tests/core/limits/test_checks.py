"""Building a request's checks from its tier's limits: keys, costs and parameters."""

from __future__ import annotations

import pytest

from gateway.core.limits import LimitCheck, checks_for, tier_of
from gateway.core.policy.limits import LimitKind, LimitScope, LimitSpec
from gateway.core.policy.request import ParamValue

SPECS = (
    LimitSpec("requests", LimitScope.PRINCIPAL, LimitKind.RATE, 30, 60.0, 10),
    LimitSpec(
        "video_seconds", LimitScope.PRINCIPAL, LimitKind.COST, 600, 86_400.0, None, "seconds"
    ),
    LimitSpec("jobs_in_flight", LimitScope.PRINCIPAL, LimitKind.CONCURRENCY, concurrency=3),
    LimitSpec("per_client", LimitScope.CLIENT, LimitKind.RATE, 5, 1.0, None),
    LimitSpec("tier_capacity", LimitScope.TIER, LimitKind.RATE, 500, 60.0, None),
)


def _checks(seconds: ParamValue = "8", principal: str = "alice") -> tuple[LimitCheck, ...]:
    return checks_for(
        SPECS, principal=principal, client_id="c-1", tier="studios", params={"seconds": seconds}
    )


def test_keys_carry_the_tier_and_the_scope_values() -> None:
    """Each key starts with the tier, then the scope and its value, then the limit's name."""
    assert [check.key for check in _checks()] == [
        "studios:principal:alice:requests",
        "studios:principal:alice:video_seconds",
        "studios:principal:alice:jobs_in_flight",
        "studios:client:c-1:per_client",
        "studios:tier:tier_capacity",
    ]
    assert {tier_of(check.key) for check in _checks()} == {"studios"}


def test_key_parts_are_escaped_so_distinct_values_never_share_a_key() -> None:
    """Colons and braces in a principal or tier cannot forge another key or hash tag."""
    spec = (SPECS[0],)
    tricky = checks_for(spec, principal="a:b", client_id="c", tier="t{x}", params={})
    assert tricky[0].key == "t%7Bx%7D:principal:a%3Ab:requests"
    assert tier_of(tricky[0].key) == "t%7Bx%7D"


def test_check_values_come_from_the_specs() -> None:
    """T is period / rate, the burst defaults to the rate, the cost is the parameter."""
    requests, video, jobs, per_client, _ = _checks()
    assert (requests.kind, requests.emission_interval, requests.burst) == (LimitKind.RATE, 2.0, 10)
    assert (requests.cost, requests.quota, requests.period) == (1.0, 30, 60.0)
    assert (video.kind, video.emission_interval, video.burst, video.cost) == (
        LimitKind.COST,
        144.0,
        600.0,
        8.0,
    )
    assert (jobs.kind, jobs.concurrency, jobs.quota, jobs.emission_interval) == (
        LimitKind.CONCURRENCY,
        3,
        3,
        0.0,
    )
    assert per_client.burst == 5.0
    assert (requests.interval_us, requests.tolerance_us, video.increment_us) == (
        2_000_000,
        20_000_000,
        1_152_000_000,
    )


@pytest.mark.parametrize(("value", "cost"), [("8", 8.0), (" 4.5 ", 4.5), (12, 12.0), (2.5, 2.5)])
def test_cost_parameters_may_be_numbers_or_numeric_strings(value: ParamValue, cost: float) -> None:
    """`seconds` arrives as "8" or 8 and counts the same."""
    assert _checks(value)[1].cost == cost


@pytest.mark.parametrize("value", [None, "", "eight", True, "-1", -3, "nan", "inf"])
def test_a_cost_parameter_that_is_not_a_non_negative_number_is_refused(value: ParamValue) -> None:
    """Missing or non-numeric costs raise ValueError naming the parameter (a 400 upstream)."""
    with pytest.raises(ValueError, match="'seconds'"):
        _checks(value)


def test_a_missing_cost_parameter_is_refused() -> None:
    """A cost limit needs its parameter in the request."""
    with pytest.raises(ValueError, match="'seconds' is required"):
        checks_for(SPECS, principal="a", client_id="c", tier="t", params={})


def test_checks_validate_their_numbers() -> None:
    """A check with no tier in its key, or a non-positive interval or burst, is refused."""
    with pytest.raises(ValueError, match="tier"):
        LimitCheck("nokey", "n", LimitKind.RATE, emission_interval=1.0, burst=1.0)
    with pytest.raises(ValueError, match="emission interval"):
        LimitCheck("t:k", "n", LimitKind.RATE, emission_interval=0.0, burst=1.0)
    with pytest.raises(ValueError, match="burst"):
        LimitCheck("t:k", "n", LimitKind.RATE, emission_interval=1.0, burst=0.0)
    with pytest.raises(ValueError, match="cost"):
        LimitCheck("t:k", "n", LimitKind.COST, emission_interval=1.0, burst=1.0, cost=-1.0)
