"""The Starlette authentication backend for proxied requests.

It only composes core decisions: read the Bearer credential, verify the token
once (then trust the claims cache until expiry), and check revocation against the
shared state on every request.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from gateway.core.bearer import bearer_token
from gateway.core.claims_cache import ClaimsCache, token_digest
from gateway.core.envelope import error_envelope
from gateway.core.errors import GatewayError, InvalidToken
from gateway.core.tokens import AccessClaims, TokenRules, UnknownSigningKey, verify
from gateway.edges.shared_state import SharedState


class Caller(BaseUser):
    def __init__(self, claims: AccessClaims) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.claims.subject

    @property
    def identity(self) -> str:
        return self.claims.subject


class Refused(AuthenticationError):
    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


class BearerTokenBackend(AuthenticationBackend):
    def __init__(
        self,
        state: SharedState,
        rules: TokenRules,
        clock: Callable[[], float],
        cache: ClaimsCache | None = None,
    ) -> None:
        self._state = state
        self._rules = rules
        self._clock = clock
        self._cache = cache if cache is not None else ClaimsCache()

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        headers = conn.headers.getlist("authorization")
        if not headers:
            return None
        if len(headers) > 1:
            raise Refused(InvalidToken("Send one Authorization header, not several."))
        try:
            claims = await self.claims(bearer_token(headers[0]))
        except InvalidToken as error:
            raise Refused(error) from None
        return AuthCredentials(claims.scope.split()), Caller(claims)

    async def claims(self, token: str) -> AccessClaims:
        now = self._clock()
        digest = token_digest(token)
        claims = self._cache.get(digest, now)
        if claims is not None and claims.key_id not in self._state.keys.verifying:
            raise InvalidToken("The access token's signing key has been retired.")
        if claims is None:
            claims = await self._verified(token)
            self._cache.put(digest, claims)
        revocations = self._state.revocations
        if claims.client_id not in revocations.grants:
            await self._state.catch_up()
            revocations = self._state.revocations
        refusal = revocations.refusal(claims.client_id, claims.subject, claims.jti, now)
        if refusal is not None:
            raise InvalidToken(f"The access token is no longer accepted: {refusal}.")
        return claims

    async def _verified(self, token: str) -> AccessClaims:
        try:
            return verify(token, self._state.keys, self._rules)
        except UnknownSigningKey:
            await self._state.catch_up()
            return verify(token, self._state.keys, self._rules)


def refusal_response(conn: HTTPConnection, exc: Exception) -> Response:
    error = exc.error if isinstance(exc, Refused) else InvalidToken(str(exc))
    request_id: str = conn.scope["state"]["request_id"]
    return JSONResponse(
        error_envelope(error, request_id), status_code=error.status, headers=dict(error.headers)
    )
