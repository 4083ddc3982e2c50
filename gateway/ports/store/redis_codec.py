"""How the Redis store writes values as Redis strings, and reads its hashes back as the
core's records.

Times are written as Python's `repr` of the float, which reads back exactly; absent
(None) values are not written at all, so a missing hash field reads back as None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from gateway.core.identity import Grant, PhaseChange, StoredKey

Value = str | bytes | int | float | None


def text(value: str | int | float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def pairs(values: Mapping[str, Value]) -> list[str | bytes]:
    """Field/value pairs for HSET, leaving out the None ones."""
    flat: list[str | bytes] = []
    for name, value in values.items():
        if value is not None:
            flat += [name, value if isinstance(value, bytes) else text(value)]
    return flat


def fields(flat: Sequence[bytes]) -> dict[str, bytes]:
    """An HGETALL reply from a script (a flat list) as a dictionary."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def optional_float(stored: Mapping[str, bytes], name: str) -> float | None:
    raw = stored.get(name)
    return None if raw is None else float(raw)


def grant_record(stored: dict[str, bytes]) -> Grant:
    return Grant(
        principal=stored["principal"].decode(),
        tier=stored["tier"].decode(),
        client_id=stored["client_id"].decode(),
        secret_hash=stored["secret_hash"].decode(),
        created_at=float(stored["created_at"]),
        expires_at=optional_float(stored, "expires_at"),
        revoked_at=optional_float(stored, "revoked_at"),
    )


def key_record(stored: dict[str, bytes]) -> StoredKey:
    return StoredKey(
        kid=stored["kid"].decode(),
        private_pem=stored["private_pem"],
        created_at=float(stored["created_at"]),
        retire_at=optional_float(stored, "retire_at"),
    )


def in_creation_order(found: Sequence[Sequence[bytes]]) -> list[dict[str, bytes]]:
    """Records read in insertion order, put in creation order (ties keep insertion)."""
    return sorted((fields(flat) for flat in found if flat), key=lambda r: float(r["created_at"]))


def phase_change(stored: bytes) -> PhaseChange:
    change = orjson.loads(stored)
    return PhaseChange(change["phase"], change["actor"], change["changed_at"])
