"""Hand-built JWTs for tests that attack token verification: every byte is chosen by the test.

Nothing here goes through the code under test's signing path, so a hostile token is
exactly what the test wrote: its own header, its own payload, its own signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.core.keys import KeyRing, SigningKey
from gateway.ports.store import SqliteStore

T = TypeVar("T")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def segments(token: str) -> list[str]:
    return token.split(".")


def unverified_header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".", maxsplit=1)[0]))
    return header


def unverified_payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return payload


def attacker_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def es256_signature(signing_input: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A JWS ES256 signature: the raw 64-byte r || s, not the DER that cryptography returns."""
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def es256_token(
    header: dict[str, Any], payload: dict[str, Any], key: ec.EllipticCurvePrivateKey
) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    return f"{signing_input}.{b64url(es256_signature(signing_input.encode(), key))}"


def hs256_token(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{b64url_json(header)}.{b64url_json(payload)}.{signature}"


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """The token with its payload replaced and its original header and signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url_json(payload)}.{signature}"


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint, computed here from the definition, not by a library."""
    canonical = json.dumps(public_jwk(key), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def access_payload(
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    now: int,
    tier: str = "invited_artists",
    lifetime: int = 600,
) -> dict[str, Any]:
    """Claims that a gateway with this issuer and audience would accept."""
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + lifetime,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": "videos",
        "tier": tier,
    }
    return payload


def on_store(state_file: Path, work: Callable[[SqliteStore], Awaitable[T]]) -> T:
    """Runs `work` on a second connection to a gateway's state file, as the admin CLI would."""

    async def run() -> T:
        store = SqliteStore(state_file)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def gateway_signing_key(state_file: Path, now: float) -> SigningKey:
    """The key a running gateway signs its access tokens with, read from its state file."""
    signing = KeyRing.from_stored(on_store(state_file, SqliteStore.keys), now).signing
    assert signing is not None, "the gateway has no signing key"
    return signing
