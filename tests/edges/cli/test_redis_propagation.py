"""Admin changes made by the CLI reach every replica sharing a Redis state store within a
second: three `phasegate serve` processes on one Redis, or on a three-primary cluster."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest

from tests.support.processes import POLICIES
from tests.support.replicas import Replicas, replicas

BOUND = 1.0  # seconds, from the moment the admin command returned


@pytest.fixture
def fleet(tmp_path: Path, shared_redis: str) -> Iterator[Replicas]:
    with replicas(tmp_path, POLICIES, admin_args=("--store", shared_redis)) as started:
        yield started


def _seconds_until_all(fleet: Replicas, token: str, wanted: int) -> list[float]:
    """How long after now each replica took to answer `token` with `wanted`; the test fails
    once the bound is well past (so a change that never arrives cannot hang it)."""
    started = time.monotonic()
    reached: dict[str, float] = {}
    while len(reached) < len(fleet.urls):
        for url in fleet.urls:
            if url not in reached and fleet.status(url, token) == wanted:
                reached[url] = time.monotonic() - started
        assert time.monotonic() - started < 3 * BOUND, f"not every replica answered {wanted}"
    return [reached[url] for url in fleet.urls]


def _after(fleet: Replicas, *command: str) -> Callable[[str, int], list[float]]:
    result = fleet.admin(*command)
    assert result.returncode == 0, result.stderr
    return lambda token, wanted: _seconds_until_all(fleet, token, wanted)


def test_a_cli_revocation_reaches_every_replica_within_a_second(fleet: Replicas) -> None:
    """Revoking a principal, a client and one token each refuse it on all three replicas
    within 1 s; other callers and carol's next token are untouched."""
    alice, bob, carol = (fleet.token(name, "invited_artists") for name in ("alice", "bob", "carol"))
    grants = {row["principal"]: row for row in _grants(fleet)}
    for url in fleet.urls:
        for token in (alice, bob, carol):
            assert fleet.status(url, token) == 200

    assert max(_after(fleet, "revoke", "alice")(alice, 401)) < BOUND
    assert max(_after(fleet, "revoke", "--client-id", grants["bob"]["client_id"])(bob, 401)) < BOUND
    jti = jwt.decode(carol, options={"verify_signature": False})["jti"]
    assert max(_after(fleet, "revoke", "--jti", jti)(carol, 401)) < BOUND

    fresh = fleet.token("carol", "invited_artists")
    assert all(fleet.status(url, fresh) == 200 for url in fleet.urls)


def test_a_phase_change_reaches_every_replica_within_a_second(fleet: Replicas) -> None:
    """A studio refused in the research preview is admitted by all three replicas within
    1 s of `phase set`, and refused again within 1 s of moving back."""
    studio = fleet.token("studio", "studios")
    assert all(fleet.status(url, studio) == 403 for url in fleet.urls)
    assert max(_after(fleet, "phase", "set", "limited_preview")(studio, 200)) < BOUND
    assert max(_after(fleet, "phase", "set", "research_preview")(studio, 403)) < BOUND


def _grants(fleet: Replicas) -> list[dict[str, str]]:
    listed = fleet.admin("grants", "--json")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, str]] = json.loads(listed.stdout)
    return rows
