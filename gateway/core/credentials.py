"""Client credentials: identifiers, high-entropy secrets, and their hashes at rest.

Secrets carry 256 bits of randomness, so a plain SHA-256 digest is as safe at rest
as a slow password hash would be, and costs microseconds instead of a CPU-bound
stall per token request that an attacker could multiply.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

_SECRET_PREFIX = "pgs_"  # noqa: S105 - a marker that makes leaked secrets greppable


def new_client_id() -> str:
    return "pgc_" + secrets.token_hex(12)


def new_secret() -> str:
    return _SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret).encode(), stored_hash.encode())


def new_token_id() -> str:
    # Hex, not base64url: an id that began with "-" would read as an option to
    # `phasegate revoke --jti ID`.
    return secrets.token_hex(16)


def basic_credentials_readable(authorization: str | None) -> bool:
    """Whether an Authorization header's `Basic` credentials are base64 of UTF-8 text,
    as RFC 7617 and the OAuth library reading them expect; any other header (none, or
    another scheme) is not this function's to judge and reads as True."""
    if authorization is None:
        return True
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return True
    try:
        base64.b64decode(encoded.strip().encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        return False
    return True
