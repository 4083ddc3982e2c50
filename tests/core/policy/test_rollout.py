"""Rollout admission over many generated principals: sticky, phase-independent, uniform.

`hypothesis` is not installed in this project, so these properties run over a seeded
random sample of principals (the same sample on every run).
"""

from __future__ import annotations

import random
import string

import pytest

from gateway.core.policy import Admission, Policy, rollout_bucket
from tests.core.policy.support import load, y

PERCENTAGES = (0, 0.5, 1, 5, 10, 25, 33.3, 50, 75, 99, 99.9, 100)


def principals(count: int, seed: int = 20240611) -> list[str]:
    """Principal ids of varied shapes: emails, uuids-ish, unicode, empty."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    alphabet = string.ascii_letters + string.digits + "@._-é漢"
    found = {"", "alice", "bob@example.com"}
    while len(found) < count:
        found.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return sorted(found)


def rollout_policy(percent: float) -> Policy:
    """Two phases admitting `public` at the same percentage: `a` first, `b` later."""
    phases = y(
        "version: 1",
        "phases:",
        "  - {name: preview, admit: [artists]}",
        f"  - {{name: a, admit: [artists, public], rollout: {{public: {percent}}}}}",
        f"  - {{name: b, admit: [public], rollout: {{public: {percent}}}}}",
    )
    return load({"rollout.yaml": phases})


POLICIES = {percent: rollout_policy(percent) for percent in PERCENTAGES}
SAMPLE = principals(3000)


def admitted(percent: float, principal: str, phase: str = "a") -> bool:
    return POLICIES[percent].admission(phase, "public", principal) is Admission.ADMITTED


def test_admission_is_sticky_as_the_percentage_grows() -> None:
    """Whoever is admitted at p% stays admitted at every q >= p, and 0%/100% are absolute."""
    for principal in SAMPLE:
        row = [admitted(percent, principal) for percent in PERCENTAGES]
        assert row == sorted(row), principal  # False ... False True ... True
        assert row[0] is False
        assert row[-1] is True


def test_admission_does_not_depend_on_the_phase() -> None:
    """Two phases with the same percentage admit exactly the same principals."""
    for percent in (1, 10, 50):
        for principal in SAMPLE:
            assert admitted(percent, principal, "a") == admitted(percent, principal, "b")


def test_waitlisted_is_the_only_other_answer_within_a_rollout() -> None:
    """A principal of a rolled-out tier is either admitted or waitlisted, never refused."""
    answers = {POLICIES[10].admission("a", "public", p) for p in SAMPLE}
    assert answers == {Admission.ADMITTED, Admission.WAITLISTED}


@pytest.mark.parametrize("percent", [1, 10, 50, 90])
def test_admission_is_roughly_uniform(percent: float) -> None:
    """About p% of 10,000 principals get in at p% (10%: between 8% and 12%)."""
    sample = principals(10_000, seed=7)
    share = sum(rollout_bucket(p, "public") < percent for p in sample) / len(sample) * 100
    assert percent * 0.8 <= share <= percent * 1.2


def test_buckets_spread_over_every_decile() -> None:
    """Each tenth of [0, 100) holds about a tenth of the principals."""
    counts = [0] * 10
    for principal in principals(10_000, seed=11):
        bucket = rollout_bucket(principal, "public")
        assert 0 <= bucket < 100
        counts[int(bucket // 10)] += 1
    assert all(800 <= count <= 1200 for count in counts), counts


def test_bucket_is_stable_across_runs_and_depends_on_the_tier() -> None:
    """The bucket is a fixed function of principal and tier (pinned), different per tier."""
    # Changing this value would reshuffle who is admitted in every running rollout.
    assert rollout_bucket("alice", "public") == 18.335365669397273
    differing = sum(rollout_bucket(p, "public") != rollout_bucket(p, "studios") for p in SAMPLE)
    assert differing == len(SAMPLE)
