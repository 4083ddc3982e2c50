"""Signing keys: P-256 key pairs named by thumbprint, the key ring, rotation and the JWK set."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.core.identity import StoredKey
from gateway.core.keys import KeyRing, SigningKey, new_key, retirements
from gateway.core.tokens import AccessClaims, TokenRules, UnknownSigningKey, issue, verify
from tests.support.tokens import b64url, b64url_decode, public_jwk, thumbprint

NOW = 1_800_000_000.0
RULES = TokenRules(issuer="https://phasegate.example", audience="phasegate", lifetime=900.0)
# Members of a private JWK for EC, RSA and symmetric keys: none may ever be published.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _stored(created_at: float, retire_at: float | None = None) -> StoredKey:
    key = new_key(created_at)
    return StoredKey(key.kid, key.private_pem, key.created_at, retire_at)


def _private(stored: StoredKey) -> ec.EllipticCurvePrivateKey:
    private = serialization.load_pem_private_key(stored.private_pem, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return private


def _token(key: SigningKey) -> str:
    now = int(time.time())
    claims = AccessClaims("alice", "pgc_1", "studios", "videos", "jti-1", now, now + 900)
    return issue(claims, key, RULES)


def test_new_key_is_p256_named_by_its_thumbprint() -> None:
    """new_key makes a P-256 key whose kid is its RFC 7638 thumbprint, created now, not retiring."""
    stored = new_key(NOW)
    private = _private(stored)
    assert isinstance(private.curve, ec.SECP256R1)
    assert stored.kid == thumbprint(private.public_key())
    assert len(b64url_decode(stored.kid)) == 32  # a SHA-256 digest
    assert stored.created_at == NOW
    assert stored.retire_at is None


def test_new_keys_are_fresh() -> None:
    """Each new_key call makes a different key pair, hence a different kid."""
    first, second = new_key(NOW), new_key(NOW)
    assert first.kid != second.kid
    assert first.private_pem != second.private_pem


def test_new_key_pem_is_unencrypted_pkcs8() -> None:
    """The stored private key is PKCS#8 PEM that loads without a password."""
    stored = new_key(NOW)
    assert stored.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    _private(stored)


def test_stored_key_repr_hides_the_private_key() -> None:
    """A stored key's repr never shows its private PEM."""
    stored = new_key(NOW)
    assert b"PRIVATE" in stored.private_pem
    assert "PRIVATE" not in repr(stored)
    assert stored.kid in repr(stored)


def test_signing_key_from_stored_keeps_kid_and_times() -> None:
    """SigningKey.from_stored loads the pair and keeps kid, creation and retirement times."""
    stored = _stored(NOW, retire_at=NOW + 60)
    key = SigningKey.from_stored(stored)
    assert (key.kid, key.created_at, key.retire_at) == (stored.kid, NOW, NOW + 60)
    assert key.public.public_numbers() == _private(stored).public_key().public_numbers()


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP256K1()])
def test_signing_key_refuses_other_curves(curve: ec.EllipticCurve) -> None:
    """A stored EC key on a curve other than P-256 is refused."""
    pem = ec.generate_private_key(curve).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(TypeError, match="not a P-256 key"):
        SigningKey.from_stored(StoredKey("odd", pem, NOW))


def test_signing_key_refuses_rsa() -> None:
    """A stored RSA key is refused."""
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(TypeError, match="not a P-256 key"):
        SigningKey.from_stored(StoredKey("rsa", pem, NOW))


# The ring


def test_newest_unretiring_key_signs() -> None:
    """The newest key without a retirement date signs; newer keys already retiring do not."""
    oldest = _stored(NOW - 300)
    newest_plain = _stored(NOW - 200)
    retiring = _stored(NOW - 100, retire_at=NOW + 600)
    ring = KeyRing.from_stored([newest_plain, retiring, oldest], NOW)
    assert ring.signing is not None
    assert ring.signing.kid == newest_plain.kid
    assert set(ring.verifying) == {oldest.kid, newest_plain.kid, retiring.kid}


def test_signer_does_not_depend_on_order() -> None:
    """The signer is chosen by creation time, not by the order the store lists keys in."""
    keys = [_stored(NOW - age) for age in (50, 10, 30)]
    for ordering in (keys, keys[::-1]):
        signing = KeyRing.from_stored(ordering, NOW).signing
        assert signing is not None
        assert signing.kid == keys[1].kid


def test_keys_past_retirement_neither_sign_nor_verify() -> None:
    """A key whose retirement time has come (inclusive) is out of the ring entirely."""
    retired = _stored(NOW - 100)
    just_retired = _stored(NOW - 50, retire_at=NOW)
    live = _stored(NOW - 200)
    ring = KeyRing.from_stored(
        [StoredKey(retired.kid, retired.private_pem, NOW - 100, NOW - 1), just_retired, live],
        NOW,
    )
    assert set(ring.verifying) == {live.kid}
    assert ring.signing is not None
    assert ring.signing.kid == live.kid


def test_all_keys_retired_leaves_no_signer() -> None:
    """With every key retired the ring has nothing to sign or verify with."""
    ring = KeyRing.from_stored([_stored(NOW - 100, retire_at=NOW - 1)], NOW)
    assert ring.signing is None
    assert dict(ring.verifying) == {}
    assert ring.jwks() == {"keys": []}


def test_only_retiring_keys_verify_but_do_not_sign() -> None:
    """When every live key is scheduled to retire there is no signer, yet all still verify."""
    first = _stored(NOW - 100, retire_at=NOW + 10)
    second = _stored(NOW - 50, retire_at=NOW + 20)
    ring = KeyRing.from_stored([first, second], NOW)
    assert ring.signing is None
    assert set(ring.verifying) == {first.kid, second.kid}


def test_tokens_of_a_retiring_key_still_verify() -> None:
    """A token signed by a key scheduled to retire verifies until the retirement time."""
    now = time.time()
    retiring = _stored(now - 100, retire_at=now + 600)
    current = _stored(now - 10)
    ring = KeyRing.from_stored([retiring, current], now)
    token = _token(SigningKey.from_stored(retiring))
    assert verify(token, ring, RULES).key_id == retiring.kid


def test_tokens_of_a_retired_key_are_refused() -> None:
    """A token signed by a key past its retirement is refused as signed by an unknown key."""
    now = time.time()
    retired = _stored(now - 100, retire_at=now - 1)
    current = _stored(now - 10)
    ring = KeyRing.from_stored([retired, current], now)
    with pytest.raises(UnknownSigningKey):
        verify(_token(SigningKey.from_stored(retired)), ring, RULES)


def test_jwks_publishes_every_verifying_key_without_private_parts() -> None:
    """The JWK set lists each verifying key as EC P-256 with kid, sig, ES256, and no `d`."""
    live = _stored(NOW - 100)
    retiring = _stored(NOW - 50, retire_at=NOW + 60)
    retired = _stored(NOW - 200, retire_at=NOW - 60)
    document = KeyRing.from_stored([live, retiring, retired], NOW).jwks()
    assert set(document) == {"keys"}
    by_kid = {jwk["kid"]: jwk for jwk in document["keys"]}
    assert set(by_kid) == {live.kid, retiring.kid}
    for stored in (live, retiring):
        jwk = by_kid[stored.kid]
        assert jwk["kty"] == "EC"
        assert jwk["crv"] == "P-256"
        assert jwk["use"] == "sig"
        assert jwk["alg"] == "ES256"
        assert "d" not in jwk
        assert not PRIVATE_MEMBERS & set(jwk)
        assert jwk == {
            **public_jwk(_private(stored).public_key()),
            "kid": stored.kid,
            "use": "sig",
            "alg": "ES256",
        }


def test_jwks_never_contains_private_scalar() -> None:
    """No serialisation of the private scalar appears anywhere in the published JWK set."""
    stored = _stored(NOW - 100)
    scalar = _private(stored).private_numbers().private_value.to_bytes(32, "big")
    document = repr(KeyRing.from_stored([stored], NOW).jwks())
    assert b64url(scalar) not in document
    assert scalar.hex() not in document


def test_jwks_kid_is_the_thumbprint_of_the_published_key() -> None:
    """A client can recompute each published kid from the published x and y."""
    document = KeyRing.from_stored([_stored(NOW - 100), _stored(NOW - 50)], NOW).jwks()
    for jwk in document["keys"]:
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        assert jwk["kid"] == thumbprint(public)


# Rotation


def test_retirements_schedule_every_current_key() -> None:
    """A rotation retires every key not already retiring, once the grace period has passed."""
    first = _stored(NOW - 300)
    second = _stored(NOW - 200)
    already = _stored(NOW - 100, retire_at=NOW + 30)
    schedule = retirements([first, second, already], NOW, grace=930.0)
    assert schedule == {first.kid: NOW + 930.0, second.kid: NOW + 930.0}


def test_retirements_of_nothing_is_empty() -> None:
    """With no keys, or only retiring ones, a rotation schedules nothing."""
    assert retirements([], NOW, grace=60.0) == {}
    assert retirements([_stored(NOW, retire_at=NOW + 1)], NOW, grace=60.0) == {}
