"""The rate and cost checks a held request was charged, as stored text (JSON), so that
whoever settles its review can give them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import orjson

from gateway.core.limits import LimitCheck
from gateway.core.policy import LimitKind


def encode_charges(charges: Sequence[LimitCheck]) -> str:
    return orjson.dumps([{**asdict(c), "kind": c.kind.value} for c in charges]).decode()


def decode_charges(text: str | bytes) -> tuple[LimitCheck, ...]:
    return tuple(
        LimitCheck(**{**fields, "kind": LimitKind(fields["kind"])}) for fields in orjson.loads(text)
    )
