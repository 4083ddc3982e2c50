"""authlib's AuthorizationServer, wired to the store, the key ring and the token rules.

authlib's callbacks are synchronous, so the adapter runs them on a worker thread;
where they need the store they hop back onto the event loop and wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar, TypeVar

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request, UnsupportedTokenTypeError, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from gateway.core.credentials import new_token_id
from gateway.core.errors import InvalidToken
from gateway.core.identity import Grant
from gateway.core.tokens import AccessClaims, TokenRules, issue, verify
from gateway.edges.http.oauth.models import CLIENT_AUTH_METHODS, SCOPE, GrantClient, IssuedToken
from gateway.edges.shared_state import SharedState

T = TypeVar("T")

# authlib logs issued tokens at debug level; they must never reach a log stream.
logging.getLogger("authlib").setLevel(logging.WARNING)


class FormRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        state: SharedState,
        rules: TokenRules,
        clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(scopes_supported=[SCOPE])
        self.state = state
        self.rules = rules
        self.clock = clock
        self.loop = loop
        self.register_grant(ClientCredentials)
        self.register_token_generator("default", self._generate_token)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def query_client(self, client_id: str) -> GrantClient | None:
        grant: Grant | None = self.on_loop(self.state.store.grant(client_id))
        if grant is None or not grant.usable_at(self.clock()):
            return None
        return GrantClient(grant)

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        # The Starlette adapter builds the request already, with the form read asynchronously.
        return request

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Access tokens are self-contained JWTs: nothing to store until one is revoked.
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def _generate_token(
        self,
        grant_type: str,
        client: GrantClient,
        *,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        key = self.state.keys.signing
        if key is None:
            raise RuntimeError("no signing key is available")
        now = int(self.clock())
        lifetime = int(self.rules.lifetime)
        grant = client.grant
        # A token never outlives the grant it was issued under.
        if grant.expires_at is not None:
            lifetime = max(0, min(lifetime, int(grant.expires_at) - now))
        claims = AccessClaims(
            subject=grant.principal,
            client_id=grant.client_id,
            tier=grant.tier,
            scope=SCOPE,
            jti=new_token_id(),
            issued_at=now,
            expires_at=now + lifetime,
        )
        return {
            "access_token": issue(claims, key, self.rules),
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": SCOPE,
        }

    def issued_token(self, token: str) -> IssuedToken | None:
        """The token as issued by this gateway, active unless expired or revoked; else None."""
        try:
            claims = verify(token, self.state.keys, self.rules)
        except InvalidToken:
            return None
        if claims.client_id not in self.state.revocations.grants:
            self.on_loop(self.state.catch_up())
        refusal = self.state.revocations.refusal(
            claims.client_id, claims.subject, claims.jti, self.clock()
        )
        return IssuedToken(claims, active=refusal is None)


class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(CLIENT_AUTH_METHODS)


class UnsupportedTokenType(UnsupportedTokenTypeError):  # type: ignore[misc]
    """RFC 7009 section 2.2.1 answers it as RFC 6749 section 5.2 does every error but
    `invalid_client`: 400 (authlib makes it a 401, with no challenge)."""

    status_code = 400


class TokenTypeHint:
    """A `token_type_hint` naming a type the gateway does not issue is a 400."""

    def check_params(self, request: OAuth2Request, client: GrantClient) -> None:
        try:
            super().check_params(request, client)  # type: ignore[misc]
        except UnsupportedTokenTypeError:
            raise UnsupportedTokenType() from None


class Revocation(TokenTypeHint, RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(CLIENT_AUTH_METHODS)
    SUPPORTED_TOKEN_TYPES = ("access_token",)
    server: GatewayAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return self.server.issued_token(token_string)

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        claims = token.claims
        self.server.on_loop(
            self.server.state.store.revoke_token(claims.jti, claims.expires_at, self.server.clock())
        )


class Introspection(TokenTypeHint, IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(CLIENT_AUTH_METHODS)
    SUPPORTED_TOKEN_TYPES = ("access_token",)
    server: GatewayAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return self.server.issued_token(token_string)

    def check_permission(
        self, token: IssuedToken, client: GrantClient, request: OAuth2Request
    ) -> bool:
        # A client may only learn about its own tokens; others read as inactive.
        return token.check_client(client)

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        claims = token.claims
        return {
            "active": True,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.subject,
            "tier": claims.tier,
            "aud": self.server.rules.audience,
            "iss": self.server.rules.issuer,
            "exp": claims.expires_at,
            "iat": claims.issued_at,
            "jti": claims.jti,
        }
