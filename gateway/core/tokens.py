"""Access tokens: RFC 9068 JWTs signed with ES256, verified per RFC 8725.

Verification trusts nothing in the token's header but the key id, and looks that id
up only in the gateway's own key ring: `jku`, `jwk`, `x5u` and `x5c` are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.core.errors import InvalidToken
from gateway.core.keys import KeyRing, SigningKey

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
# RFC 9068 section 4: "at+jwt", or its full media type form.
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "tier")


class UnknownSigningKey(InvalidToken):
    """The key id is not in the ring: forged, retired, or minted by a key not yet loaded here."""


@dataclass(frozen=True, slots=True)
class TokenRules:
    issuer: str
    audience: str
    lifetime: float  # of the tokens issued, and the longest `exp - iat` accepted (+ leeway)
    leeway: float = 30.0


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    client_id: str
    tier: str
    scope: str
    jti: str
    issued_at: int
    expires_at: int
    key_id: str = ""


def issue(claims: AccessClaims, key: SigningKey, rules: TokenRules) -> str:
    payload = {
        "iss": rules.issuer,
        "sub": claims.subject,
        "aud": rules.audience,
        "exp": claims.expires_at,
        "iat": claims.issued_at,
        "jti": claims.jti,
        "client_id": claims.client_id,
        "scope": claims.scope,
        "tier": claims.tier,
    }
    return jwt.encode(
        payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )


def _header(token: str) -> dict[str, Any]:
    if _COMPACT_JWS.fullmatch(token) is None:
        raise InvalidToken("The access token is not a signed JWT.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is not a well-formed JWT.") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"Access tokens must be signed with {ALGORITHM}.")
    if str(header.get("typ", "")).lower() not in _ACCEPTED_TYPES:
        raise InvalidToken("The token is not an access token (typ must be at+jwt).")
    # No extension is understood, so one marked critical must be refused (RFC 7515 4.1.11).
    if "crit" in header:
        raise InvalidToken("The access token carries critical header parameters.")
    return header


def verify(token: str, keys: KeyRing, rules: TokenRules) -> AccessClaims:
    """The claims of a valid access token, or `InvalidToken` saying what is wrong."""
    kid = _header(token).get("kid")
    key = keys.verifying.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UnknownSigningKey("The access token was not signed by a key of this gateway.")
    try:
        payload = jwt.decode(
            token,
            key.public,
            algorithms=[ALGORITHM],
            audience=rules.audience,
            issuer=rules.issuer,
            leeway=rules.leeway,
            options={"require": list(_REQUIRED), "verify_iat": True},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("The access token is not valid yet.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The access token is meant for another audience.") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("The access token was issued by someone else.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The access token lacks the {exc.claim!r} claim.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token's signature or claims are invalid.") from None
    claims = _claims(payload, key.kid)
    # A gateway key signs nothing longer-lived than the gateway issues: a longer token is
    # forged with a stolen key, or minted by a bug, and either way must not outlive them.
    if claims.expires_at - claims.issued_at > rules.lifetime + rules.leeway:
        raise InvalidToken("The access token's lifetime is longer than this gateway issues.")
    return claims


def _claims(payload: dict[str, Any], kid: str) -> AccessClaims:
    strings = ("sub", "client_id", "tier", "scope", "jti")
    if not all(isinstance(payload[name], str) and payload[name] for name in strings):
        raise InvalidToken("The access token's claims are malformed.")
    if not all(isinstance(payload[name], int) for name in ("iat", "exp")):
        raise InvalidToken("The access token's times are malformed.")
    return AccessClaims(
        subject=payload["sub"],
        client_id=payload["client_id"],
        tier=payload["tier"],
        scope=payload["scope"],
        jti=payload["jti"],
        issued_at=payload["iat"],
        expires_at=payload["exp"],
        key_id=kid,
    )
