"""Verified claims by token digest, so a token's signature is checked once, not per request.

Bounded (least recently used goes first) and never answers past a token's expiry.
Revocation is deliberately not cached here: it is checked on every request.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from gateway.core.tokens import AccessClaims


def token_digest(token: str) -> bytes:
    # Keyed by digest so the cache never holds a usable credential in memory dumps.
    return hashlib.sha256(token.encode()).digest()


class ClaimsCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[bytes, AccessClaims] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float) -> AccessClaims | None:
        claims = self._entries.get(digest)
        if claims is None:
            return None
        if now >= claims.expires_at:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return claims

    def put(self, digest: bytes, claims: AccessClaims) -> None:
        self._entries[digest] = claims
        self._entries.move_to_end(digest)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
