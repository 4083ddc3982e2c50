"""Durations (`90s`, `15m`, `12h`, `90d`) and sizes (`512KiB`, `50MiB`) as operators write them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)", re.ASCII)
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_SIZE = re.compile(r"(?P<number>\d+)(?P<unit>B|KiB|MiB|GiB|KB|MB|GB)?", re.ASCII)
_SIZE_BYTES = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `90s` or `1.5m`; a unit is required."""
    seconds = parse_duration_or_zero(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def parse_duration_or_zero(text: str) -> float:
    """As `parse_duration`, where zero (`0s`) is a meaningful value: "not at all"."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 500ms, 90s, 15m, 12h, 90d)")
    return float(match["number"]) * _DURATION_SECONDS[match["unit"]]


def parse_size(text: str) -> int:
    """Bytes in a size such as `512KiB`, `50MiB` or a bare byte count."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size (examples: 4096, 512KiB, 50MiB, 1GiB)")
    return int(match["number"]) * _SIZE_BYTES[match["unit"]]
