"""The Authorization header of a proxied request, read strictly (RFC 6750 section 2.1)."""

from __future__ import annotations

from gateway.core.errors import InvalidToken

# Far above any token this gateway issues, far below what would cost real memory.
MAX_AUTHORIZATION_BYTES = 8 * 1024


def bearer_token(header: str) -> str:
    """The token in a `Bearer` credential; the scheme name is case-insensitive."""
    if len(header) > MAX_AUTHORIZATION_BYTES:
        raise InvalidToken("The Authorization header is too large.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("Only Bearer access tokens are accepted.")
    token = token.strip()
    if not token or " " in token:
        raise InvalidToken("The Bearer credential is malformed.")
    return token
