"""Request ids: passed through when well formed, minted otherwise."""

from __future__ import annotations

import pytest

from gateway.core.request_id import accept_or_mint, is_well_formed


@pytest.mark.parametrize(
    "candidate", ["a", "A-z_0.9", "x" * 128, "7b2d6f0e-1c3a-4b6e-9f00-abcdef012345"]
)
def test_well_formed_ids_pass(candidate: str) -> None:
    """1-128 characters of A-Za-z0-9._- are kept as they are."""
    assert accept_or_mint(candidate) == candidate


@pytest.mark.parametrize("candidate", [None, "", "x" * 129, "a b", "a\nb", "é", "a;b", "a/b"])
def test_malformed_ids_are_replaced(candidate: str | None) -> None:
    """Anything else is replaced by a fresh, well-formed id."""
    minted = accept_or_mint(candidate)
    assert minted != candidate
    assert is_well_formed(minted)


def test_minted_ids_are_unique() -> None:
    """Two minted ids never collide in practice."""
    assert len({accept_or_mint(None) for _ in range(1000)}) == 1000
