"""Durations and sizes as operators write them."""

from __future__ import annotations

import pytest

from gateway.core.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("90s", 90), ("15m", 900), ("12h", 43200), ("90d", 7776000), ("1.5m", 90)],
)
def test_durations(text: str, seconds: float) -> None:
    """Each unit converts to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "15x", "m", "-5s", "0s", "1 5s"])
def test_bad_durations(text: str) -> None:
    """A duration without a unit, or zero, or garbage, is refused."""
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("512KiB", 524288),
        ("50MiB", 52428800),
        ("1GiB", 1073741824),
        ("2MB", 2000000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    """Binary and decimal units convert to bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1.5MiB", "MiB", "-1", "10 TB"])
def test_bad_sizes(text: str) -> None:
    """Fractions, negatives and unknown units are refused."""
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)
