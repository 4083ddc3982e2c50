"""Access tokens: issue and verify, and every refusal RFC 8725 asks of a verifier."""

from __future__ import annotations

import datetime
import json
import socket
import time
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.core.errors import InvalidToken
from gateway.core.keys import KeyRing, SigningKey, new_key
from gateway.core.tokens import (
    AccessClaims,
    TokenRules,
    UnknownSigningKey,
    issue,
    verify,
)
from tests.support.tokens import (
    access_payload,
    attacker_key,
    b64url,
    b64url_json,
    es256_signature,
    es256_token,
    hs256_token,
    public_jwk,
    public_pem,
    segments,
    thumbprint,
    unsigned_token,
    unverified_header,
    unverified_payload,
    with_payload,
)

ISSUER = "https://phasegate.example"
AUDIENCE = "phasegate"
RULES = TokenRules(issuer=ISSUER, audience=AUDIENCE, lifetime=900.0, leeway=30.0)
REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "tier")

WRONG_ALG = "Access tokens must be signed with ES256."
WRONG_TYP = "The token is not an access token (typ must be at+jwt)."
NOT_A_JWS = "The access token is not a signed JWT."
BAD_HEADER = "The access token is not a well-formed JWT."
BAD_SIGNATURE = "The access token's signature or claims are invalid."
FOREIGN_KEY = "The access token was not signed by a key of this gateway."


@pytest.fixture
def ring() -> KeyRing:
    now = time.time()
    return KeyRing.from_stored([new_key(now - 60)], now)


@pytest.fixture
def key(ring: KeyRing) -> SigningKey:
    assert ring.signing is not None
    return ring.signing


def _published(ring: KeyRing, key: SigningKey) -> dict[str, Any]:
    """The key's public JWK as the gateway publishes it in its JWK set."""
    [jwk] = [jwk for jwk in ring.jwks()["keys"] if jwk["kid"] == key.kid]
    published: dict[str, Any] = jwk
    return published


def _now() -> int:
    return int(time.time())


def _claims(**changes: Any) -> AccessClaims:
    now = _now()
    fields: dict[str, Any] = {
        "subject": "alice",
        "client_id": "pgc_0123456789abcdef01234567",
        "tier": "invited_artists",
        "scope": "videos",
        "jti": "jti-0001",
        "issued_at": now,
        "expires_at": now + 900,
    }
    fields.update(changes)
    return AccessClaims(**fields)


def _payload(**changes: Any) -> dict[str, Any]:
    payload = access_payload(
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="alice",
        client_id="pgc_0123456789abcdef01234567",
        now=_now(),
    )
    payload.update(changes)
    return payload


def _header(key: SigningKey, **changes: Any) -> dict[str, Any]:
    return {"alg": "ES256", "typ": "at+jwt", "kid": key.kid, **changes}


def _refusal(token: str, ring: KeyRing) -> InvalidToken:
    with pytest.raises(InvalidToken) as refused:
        verify(token, ring, RULES)
    return refused.value


def _self_signed_certificate(private: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phasegate.example")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


# Issue and verify


def test_round_trip_returns_the_claims(ring: KeyRing, key: SigningKey) -> None:
    """A token issued with the ring's signing key verifies to the same claims plus its key id."""
    claims = _claims()
    verified = verify(issue(claims, key, RULES), ring, RULES)
    assert verified == AccessClaims(
        subject="alice",
        client_id=claims.client_id,
        tier="invited_artists",
        scope="videos",
        jti="jti-0001",
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        key_id=key.kid,
    )


def test_issued_header_and_payload(key: SigningKey) -> None:
    """An issued token's header is exactly alg ES256, typ at+jwt and the key's kid, with RFC 9068
    claims."""
    claims = _claims()
    token = issue(claims, key, RULES)
    assert unverified_header(token) == {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    assert unverified_payload(token) == {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": claims.expires_at,
        "iat": claims.issued_at,
        "jti": "jti-0001",
        "client_id": claims.client_id,
        "scope": "videos",
        "tier": "invited_artists",
    }


def test_issued_token_is_a_real_es256_signature(key: SigningKey) -> None:
    """An issued token verifies with an independent ES256 implementation and the public key."""
    token = issue(_claims(), key, RULES)
    decoded = jwt.decode(token, public_pem(key.public), algorithms=["ES256"], audience=AUDIENCE)
    assert decoded["sub"] == "alice"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_accepted_token_types(typ: str, ring: KeyRing, key: SigningKey) -> None:
    """Both RFC 9068 spellings of the access token type verify, compared case-insensitively."""
    token = es256_token(_header(key, typ=typ), _payload(), key.private)
    assert verify(token, ring, RULES).subject == "alice"


def test_hand_built_token_verifies(ring: KeyRing, key: SigningKey) -> None:
    """The hand-built baseline used by the refusal tests below is itself accepted."""
    token = es256_token(_header(key), _payload(), key.private)
    assert verify(token, ring, RULES).key_id == key.kid


# The header


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "HS256", "RS256", "PS256", "ES384", "ES512", "EdDSA", "es256"]
)
def test_other_algorithms_are_refused(alg: str, ring: KeyRing, key: SigningKey) -> None:
    """A header naming any algorithm but ES256 is refused, whatever the signature."""
    signature = b64url(b"\x00" * 64)
    token = unsigned_token(_header(key, alg=alg), _payload(), signature)
    assert _refusal(token, ring).message == WRONG_ALG


def test_missing_algorithm_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """A header without alg is refused even though the signature itself is valid ES256."""
    header = {"typ": "at+jwt", "kid": key.kid}
    assert _refusal(es256_token(header, _payload(), key.private), ring).message == WRONG_ALG


def test_alg_none_with_empty_signature_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """The classic unsecured JWT (alg none, empty signature) is refused."""
    token = unsigned_token(_header(key, alg="none"), _payload())
    assert token.endswith(".")
    assert _refusal(token, ring).message == NOT_A_JWS


@pytest.mark.parametrize(
    "secret_form",
    ["pem", "pem-without-newline", "der", "x962-point", "jwk-json"],
)
def test_hs256_with_the_public_key_as_secret_is_refused(
    secret_form: str, ring: KeyRing, key: SigningKey
) -> None:
    """The algorithm-confusion attack (HMAC keyed with the public key) never verifies."""
    secrets = {
        "pem": public_pem(key.public),
        "pem-without-newline": public_pem(key.public).rstrip(b"\n"),
        "der": key.public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "x962-point": key.public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ),
        "jwk-json": json.dumps(_published(ring, key)).encode(),
    }
    token = hs256_token(_header(key, alg="HS256"), _payload(), secrets[secret_form])
    assert _refusal(token, ring).message == WRONG_ALG


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt", "at+jwt2", "", 1])
def test_wrong_or_missing_typ_is_refused(typ: object, ring: KeyRing, key: SigningKey) -> None:
    """A validly signed token that does not declare itself an access token is refused."""
    header = _header(key, typ=typ)
    if typ is None:
        del header["typ"]
    assert _refusal(es256_token(header, _payload(), key.private), ring).message == WRONG_TYP


def test_crit_header_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """A validly signed token declaring a critical header parameter is refused, even one the
    JOSE library understands (the gateway understands none)."""
    token = es256_token(_header(key, crit=["b64"], b64=True), _payload(), key.private)
    message = "The access token carries critical header parameters."
    assert _refusal(token, ring).message == message


@pytest.mark.parametrize(
    "crit",
    [
        {"crit": ["exp"], "exp": 1},
        {"crit": ["b64"]},
        {"crit": ["b64"], "b64": False},
        {"crit": []},
        {"crit": "b64"},
        {"crit": [1]},
    ],
)
def test_malformed_or_unknown_crit_is_refused(
    crit: dict[str, Any], ring: KeyRing, key: SigningKey
) -> None:
    """A validly signed token with an unknown or malformed crit list is refused as malformed."""
    token = es256_token(_header(key, **crit), _payload(), key.private)
    assert _refusal(token, ring).message == BAD_HEADER


def test_unknown_kid_is_refused_as_unknown_key(ring: KeyRing) -> None:
    """A token whose kid is not in the ring raises UnknownSigningKey, an InvalidToken."""
    attacker = attacker_key()
    header = {"alg": "ES256", "typ": "at+jwt", "kid": thumbprint(attacker.public_key())}
    with pytest.raises(UnknownSigningKey) as refused:
        verify(es256_token(header, _payload(), attacker), ring, RULES)
    assert isinstance(refused.value, InvalidToken)
    assert refused.value.message == FOREIGN_KEY


def test_missing_kid_is_refused_as_unknown_key(ring: KeyRing, key: SigningKey) -> None:
    """A token without kid is refused, even when signed by the ring's only key."""
    header = {"alg": "ES256", "typ": "at+jwt"}
    with pytest.raises(UnknownSigningKey):
        verify(es256_token(header, _payload(), key.private), ring, RULES)


@pytest.mark.parametrize("kid", [1, None, ["kid"], {"kid": "x"}])
def test_non_string_kid_is_refused(kid: object, ring: KeyRing, key: SigningKey) -> None:
    """A kid that is not a string is refused, never looked up."""
    token = es256_token(_header(key, kid=kid), _payload(), key.private)
    _refusal(token, ring)


def test_known_kid_with_another_key_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """A token naming the gateway's kid but signed by another P-256 key fails its signature."""
    token = es256_token(_header(key), _payload(), attacker_key())
    refusal = _refusal(token, ring)
    assert not isinstance(refusal, UnknownSigningKey)
    assert refusal.message == BAD_SIGNATURE


def test_der_encoded_signature_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """An ECDSA signature in DER rather than JWS's raw r||s form is refused."""
    signing_input = f"{b64url_json(_header(key))}.{b64url_json(_payload())}"
    der = key.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    assert _refusal(f"{signing_input}.{b64url(der)}", ring).message == BAD_SIGNATURE


# Key material carried in the header is never trusted


def _attacker_headers(
    key: SigningKey, attacker: ec.EllipticCurvePrivateKey
) -> dict[str, dict[str, Any]]:
    jwk = public_jwk(attacker.public_key())
    certificate = b64url(_self_signed_certificate(attacker)).replace("-", "+").replace("_", "/")
    url = "http://127.0.0.1:9/attacker/jwks.json"
    return {
        "jwk": {"jwk": jwk},
        "jwk-with-kid": {"jwk": {**jwk, "kid": key.kid}},
        "jku": {"jku": url},
        "x5u": {"x5u": "http://127.0.0.1:9/attacker/cert.pem"},
        "x5c": {"x5c": [certificate]},
        "all": {"jwk": jwk, "jku": url, "x5c": [certificate]},
    }


@pytest.mark.parametrize("carrier", ["jwk", "jwk-with-kid", "jku", "x5u", "x5c", "all"])
@pytest.mark.parametrize("kid_choice", ["gateway", "attacker", "absent"])
def test_key_material_in_the_header_is_ignored(
    carrier: str,
    kid_choice: str,
    ring: KeyRing,
    key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attacker-signed token never verifies by embedding or pointing to the attacker's key,
    and verification makes no network call to fetch one."""
    dialled: list[object] = []

    def no_network(*args: object, **kwargs: object) -> Any:
        dialled.append(args)
        raise OSError("verification must not use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    attacker = attacker_key()
    header: dict[str, Any] = {"alg": "ES256", "typ": "at+jwt"}
    if kid_choice == "gateway":
        header["kid"] = key.kid
    elif kid_choice == "attacker":
        header["kid"] = thumbprint(attacker.public_key())
    header.update(_attacker_headers(key, attacker)[carrier])
    _refusal(es256_token(header, _payload(), attacker), ring)
    assert dialled == []


def test_embedded_key_of_the_gateway_does_not_bypass_the_ring(
    ring: KeyRing, key: SigningKey
) -> None:
    """Embedding the gateway's own public jwk in the header of an attacker-signed token fails."""
    header = _header(key, jwk=_published(ring, key))
    assert _refusal(es256_token(header, _payload(), attacker_key()), ring).message == BAD_SIGNATURE


# Times


def test_expired_beyond_leeway_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """A token that expired more than the leeway ago is refused as expired."""
    now = _now()
    token = es256_token(_header(key), _payload(iat=now - 900, exp=now - 31), key.private)
    assert _refusal(token, ring).message == "The access token has expired."


def test_expired_within_leeway_is_accepted(ring: KeyRing, key: SigningKey) -> None:
    """A token that expired less than the leeway ago still verifies (clock skew allowance)."""
    now = _now()
    token = es256_token(_header(key), _payload(iat=now - 900, exp=now - 10), key.private)
    assert verify(token, ring, RULES).expires_at == now - 10


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_not_yet_valid_is_refused(claim: str, ring: KeyRing, key: SigningKey) -> None:
    """A token issued (iat) or valid from (nbf) beyond the leeway in the future is refused."""
    now = _now()
    payload = _payload(exp=now + 900, **{claim: now + 120})
    token = es256_token(_header(key), payload, key.private)
    assert _refusal(token, ring).message == "The access token is not valid yet."


def test_iat_slightly_ahead_within_leeway_is_accepted(ring: KeyRing, key: SigningKey) -> None:
    """An iat a few seconds ahead (clock skew within the leeway) still verifies."""
    now = _now()
    token = es256_token(_header(key), _payload(iat=now + 5), key.private)
    assert verify(token, ring, RULES).issued_at == now + 5


@pytest.mark.parametrize("lifetime", [900 + 31, 10 * 365 * 86_400])
def test_lifetime_beyond_the_issued_one_is_refused(
    lifetime: int, ring: KeyRing, key: SigningKey
) -> None:
    """A token signed by the gateway's key but meant to live longer than the tokens it
    issues (plus the leeway) is refused, however current it is."""
    now = _now()
    token = es256_token(_header(key), _payload(iat=now, exp=now + lifetime), key.private)
    assert (
        _refusal(token, ring).message
        == "The access token's lifetime is longer than this gateway issues."
    )


def test_lifetime_up_to_the_issued_one_and_leeway_is_accepted(
    ring: KeyRing, key: SigningKey
) -> None:
    """The longest token the gateway issues, and one up to the leeway longer, verify."""
    now = _now()
    for lifetime in (900, 900 + 30):
        token = es256_token(_header(key), _payload(iat=now, exp=now + lifetime), key.private)
        assert verify(token, ring, RULES).expires_at == now + lifetime


@pytest.mark.parametrize("claim", ["iat", "exp"])
@pytest.mark.parametrize("value", ["soon", [1], {"t": 1}])
def test_non_numeric_times_are_refused(
    claim: str, value: object, ring: KeyRing, key: SigningKey
) -> None:
    """A time claim that is not a number is refused."""
    token = es256_token(_header(key), _payload(**{claim: value}), key.private)
    _refusal(token, ring)


# Audience and issuer


@pytest.mark.parametrize(
    "aud", ["other-api", "phasegat", "phasegate2", ["other-api"], ["phasegat", "ate"]]
)
def test_wrong_audience_is_refused(aud: object, ring: KeyRing, key: SigningKey) -> None:
    """A token for another audience (including near misses) is refused."""
    token = es256_token(_header(key), _payload(aud=aud), key.private)
    assert _refusal(token, ring).message == "The access token is meant for another audience."


@pytest.mark.parametrize(
    "iss",
    [
        "https://attacker.example",
        "https://phasegate.example/",
        "https://phasegate.exampl",
        "https://phasegate.example.attacker.example",
        "HTTPS://PHASEGATE.EXAMPLE",
        [ISSUER],
        "",
    ],
)
def test_wrong_issuer_is_refused(iss: object, ring: KeyRing, key: SigningKey) -> None:
    """A token from any issuer but exactly this one (no prefix or substring match) is refused."""
    token = es256_token(_header(key), _payload(iss=iss), key.private)
    assert _refusal(token, ring).message == "The access token was issued by someone else."


# Claims


@pytest.mark.parametrize("claim", REQUIRED)
def test_each_required_claim_is_required(claim: str, ring: KeyRing, key: SigningKey) -> None:
    """A validly signed token lacking any one required claim is refused, naming the claim."""
    payload = _payload()
    del payload[claim]
    token = es256_token(_header(key), payload, key.private)
    assert _refusal(token, ring).message == f"The access token lacks the {claim!r} claim."


@pytest.mark.parametrize("claim", REQUIRED)
def test_null_required_claim_counts_as_missing(claim: str, ring: KeyRing, key: SigningKey) -> None:
    """A required claim set to JSON null is refused like a missing one."""
    token = es256_token(_header(key), _payload(**{claim: None}), key.private)
    assert _refusal(token, ring).message == f"The access token lacks the {claim!r} claim."


@pytest.mark.parametrize("tier", [1, 1.5, True, ["studios"], {"name": "studios"}, ""])
def test_non_string_tier_is_refused(tier: object, ring: KeyRing, key: SigningKey) -> None:
    """A tier that is not a non-empty string is refused as malformed claims."""
    token = es256_token(_header(key), _payload(tier=tier), key.private)
    assert _refusal(token, ring).message == "The access token's claims are malformed."


@pytest.mark.parametrize("claim", ["client_id", "scope"])
@pytest.mark.parametrize("value", [7, ["x"], ""])
def test_malformed_string_claims_are_refused(
    claim: str, value: object, ring: KeyRing, key: SigningKey
) -> None:
    """client_id and scope must be non-empty strings."""
    token = es256_token(_header(key), _payload(**{claim: value}), key.private)
    assert _refusal(token, ring).message == "The access token's claims are malformed."


@pytest.mark.parametrize("claim", ["sub", "jti"])
@pytest.mark.parametrize("value", [7, ["x"], ""])
def test_malformed_subject_and_token_id_are_refused(
    claim: str, value: object, ring: KeyRing, key: SigningKey
) -> None:
    """sub and jti must be non-empty strings."""
    token = es256_token(_header(key), _payload(**{claim: value}), key.private)
    _refusal(token, ring)


# Tampering and framing


def test_tampered_payload_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """Changing the tier of a genuine token breaks its signature."""
    token = issue(_claims(), key, RULES)
    tampered = with_payload(token, {**unverified_payload(token), "tier": "studios"})
    assert _refusal(tampered, ring).message == BAD_SIGNATURE


def test_tampered_header_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """Re-encoding a genuine token's header (even to an equivalent typ) breaks its signature."""
    token = issue(_claims(), key, RULES)
    _, payload, signature = segments(token)
    header = b64url_json(_header(key, typ="application/at+jwt"))
    assert _refusal(f"{header}.{payload}.{signature}", ring).message == BAD_SIGNATURE


@pytest.mark.parametrize("cut", [2, 22, 42, 62])
def test_truncated_signature_is_refused(cut: int, ring: KeyRing, key: SigningKey) -> None:
    """A genuine token whose signature is cut short (still valid base64url) fails its signature."""
    token = issue(_claims(), key, RULES)
    assert _refusal(token[:-cut], ring).message == BAD_SIGNATURE


@pytest.mark.parametrize("cut", [1, 3, 8, 43])
def test_truncated_mid_character_is_refused(cut: int, ring: KeyRing, key: SigningKey) -> None:
    """A genuine token cut in the middle of a base64 character group is refused."""
    token = issue(_claims(), key, RULES)
    _refusal(token[:-cut], ring)


@pytest.mark.parametrize("keep", [1, 2])
def test_missing_segments_are_refused(keep: int, ring: KeyRing, key: SigningKey) -> None:
    """A genuine token cut down to fewer than three segments is not a signed JWT."""
    token = ".".join(segments(issue(_claims(), key, RULES))[:keep])
    assert _refusal(token, ring).message == NOT_A_JWS


@pytest.mark.parametrize("extra", [".", ".e30", ".e30.e30", ".AAAA"])
def test_extra_segments_are_refused(extra: str, ring: KeyRing, key: SigningKey) -> None:
    """A genuine token with more segments appended (JWE-like or otherwise) is refused."""
    token = issue(_claims(), key, RULES) + extra
    assert _refusal(token, ring).message == NOT_A_JWS


def test_empty_signature_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """A genuine header and payload with the signature removed is refused."""
    header, payload, _ = segments(issue(_claims(), key, RULES))
    assert _refusal(f"{header}.{payload}.", ring).message == NOT_A_JWS


@pytest.mark.parametrize("transform", ["padding", "standard-alphabet", "space", "newline", "utf8"])
def test_non_base64url_is_refused(transform: str, ring: KeyRing, key: SigningKey) -> None:
    """Anything outside the unpadded base64url alphabet is refused before any decoding."""
    header, payload, signature = segments(issue(_claims(), key, RULES))
    variants = {
        "padding": f"{header}==.{payload}.{signature}",
        "standard-alphabet": f"{header}.{payload}.{signature.replace('-', '+').replace('_', '/')}"
        + "+/",
        "space": f"{header}.{payload} .{signature}",
        "newline": f"{header}.{payload}.{signature}\n",
        "utf8": f"{header}.{payload}.{signature}é",
    }
    assert _refusal(variants[transform], ring).message == NOT_A_JWS


@pytest.mark.parametrize(
    "header_segment",
    [
        "e30x",  # base64url characters, not decodable as base64
        b64url(b"not json"),
        b64url(b"[]"),
        b64url(b'"ES256"'),
        b64url(b"\xff\xfe"),
        b64url(b"[" * 5000),
    ],
)
def test_undecodable_header_is_refused(header_segment: str, ring: KeyRing) -> None:
    """A header segment that is not a base64url JSON object is refused as malformed."""
    token = f"{header_segment}.{b64url_json(_payload())}.{b64url(b'x' * 64)}"
    assert _refusal(token, ring).message == BAD_HEADER


@pytest.mark.parametrize("payload", [b"not json", b"[]", b"1", b'"claims"', b"\xff"])
def test_validly_signed_non_object_payload_is_refused(
    payload: bytes, ring: KeyRing, key: SigningKey
) -> None:
    """A validly signed token whose payload is not a JSON object is refused."""
    signing_input = f"{b64url_json(_header(key))}.{b64url(payload)}"
    signature = b64url(es256_signature(signing_input.encode(), key.private))
    assert _refusal(f"{signing_input}.{signature}", ring).message == BAD_SIGNATURE


def test_token_signed_by_rsa_key_is_refused(ring: KeyRing, key: SigningKey) -> None:
    """A token signed RS256 by an RSA key under the gateway's kid is refused for its alg."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_payload(), rsa_key, algorithm="RS256", headers=_header(key, alg="RS256"))
    assert _refusal(token, ring).message == WRONG_ALG


def test_pyjwt_signed_es256_with_other_key_and_unknown_kid(ring: KeyRing) -> None:
    """A token signed by PyJWT with another P-256 key and its own kid is an unknown key."""
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        _payload(), other, algorithm="ES256", headers={"kid": "other", "typ": "at+jwt"}
    )
    with pytest.raises(UnknownSigningKey):
        verify(token, ring, RULES)


def test_refusals_carry_the_bearer_challenge(ring: KeyRing) -> None:
    """Every verification refusal is a 401 invalid_token with the RFC 6750 challenge."""
    refusal = _refusal("a.b.c", ring)
    assert refusal.status == 401
    assert refusal.code == "invalid_token"
    assert dict(refusal.headers) == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
