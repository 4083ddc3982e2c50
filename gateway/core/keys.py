"""Token signing keys: ES256 (P-256) key pairs, the key ring, rotation and the JWK set.

Key ids are RFC 7638 thumbprints, so a kid names exactly one public key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, KeySet

from gateway.core.identity import StoredKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public: ec.EllipticCurvePublicKey
    created_at: float
    retire_at: float | None

    @classmethod
    def from_stored(cls, stored: StoredKey) -> SigningKey:
        private = serialization.load_pem_private_key(stored.private_pem, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
            private.curve, ec.SECP256R1
        ):
            raise TypeError(f"signing key {stored.kid} is not a P-256 key")
        return cls(stored.kid, private, private.public_key(), stored.created_at, stored.retire_at)


def new_key(now: float) -> StoredKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = ECKey.import_key(private.public_key()).thumbprint()
    return StoredKey(kid=kid, private_pem=pem, created_at=now)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The keys that verify now, and the one that signs."""

    verifying: Mapping[str, SigningKey]
    signing: SigningKey | None

    @classmethod
    def from_stored(cls, stored: Iterable[StoredKey], now: float) -> KeyRing:
        live = [SigningKey.from_stored(key) for key in stored if key.verifies_at(now)]
        # The newest key not on its way out signs; keys scheduled to retire only verify.
        candidates = [key for key in live if key.retire_at is None]
        signing = max(candidates, key=lambda key: key.created_at, default=None)
        return cls({key.kid: key for key in live}, signing)

    def jwks(self) -> dict[str, Any]:
        document: dict[str, Any] = dict(
            KeySet(
                [ECKey.import_key(key.public, {"kid": key.kid}) for key in self.verifying.values()]
            ).as_dict(private=False)
        )
        for jwk in document["keys"]:
            jwk.update(use="sig", alg="ES256")
        return document


def retirements(stored: Iterable[StoredKey], now: float, grace: float) -> dict[str, float]:
    """When each current key stops verifying after a rotation: once its tokens have expired."""
    return {key.kid: now + grace for key in stored if key.retire_at is None}
