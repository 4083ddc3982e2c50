"""Request ids: accept a caller's well-formed id so traces join up, mint one otherwise."""

from __future__ import annotations

import re
import secrets

_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_well_formed(candidate: str) -> bool:
    return _WELL_FORMED.fullmatch(candidate) is not None


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def accept_or_mint(candidate: str | None) -> str:
    # A malformed id is replaced rather than refused: it must never break a request,
    # but it must not smuggle newlines or huge values into logs and upstream headers.
    if candidate is not None and is_well_formed(candidate):
        return candidate
    return new_request_id()
