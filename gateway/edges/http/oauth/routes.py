"""The OAuth2 HTTP surface: token, revocation, introspection, JWKS and RFC 8414 metadata."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749.errors import OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.core.credentials import basic_credentials_readable
from gateway.core.numbers import whole_number
from gateway.core.tokens import TokenRules
from gateway.edges.http.oauth.models import CLIENT_AUTH_METHODS, GRANT_TYPE, SCOPE
from gateway.edges.http.oauth.server import FormRequest, GatewayAuthorizationServer
from gateway.edges.shared_state import SharedState

MAX_FORM_BYTES = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


async def _form(request: Request) -> dict[str, str] | Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Send application/x-www-form-urlencoded.")
    declared = whole_number(request.headers.get("content-length", ""))
    if declared is not None and declared > MAX_FORM_BYTES:
        # Answered before reading: the connection then ends without a reset (the body
        # that follows is read and dropped, see gateway/edges/cli/http_connection.py).
        return _oauth_error(413, "invalid_request", "The request body is too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return _oauth_error(413, "invalid_request", "The request body is too large.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        return _oauth_error(400, "invalid_request", "The form is malformed.")
    form: dict[str, str] = {}
    for name, value in pairs:
        # RFC 6749 section 3.2: parameters must not be repeated.
        if name in form:
            return _oauth_error(400, "invalid_request", f"The parameter {name!r} is repeated.")
        form[name] = value
    return form


class OAuthEndpoints:
    def __init__(self, state: SharedState, rules: TokenRules, clock: Callable[[], float]) -> None:
        self._state = state
        self._rules = rules
        self._clock = clock
        self._server: GatewayAuthorizationServer | None = None

    def _authorization_server(self) -> GatewayAuthorizationServer:
        # Built on first use: its callbacks need the loop that serves requests.
        if self._server is None:
            self._server = GatewayAuthorizationServer(
                self._state, self._rules, self._clock, asyncio.get_running_loop()
            )
        return self._server

    async def _respond(self, request: Request, endpoint: str | None) -> Response:
        if not basic_credentials_readable(request.headers.get("authorization")):
            # RFC 6749 section 5.2: a client that tried Basic and failed gets its challenge.
            return _oauth_error(
                401,
                "invalid_client",
                "The Basic credentials are not base64-encoded UTF-8 text.",
                {"WWW-Authenticate": "Basic"},
            )
        form = await _form(request)
        if isinstance(form, Response):
            return form
        server = self._authorization_server()
        # Requests are judged by the gateway's public address (its issuer), not by the
        # hop they arrived on: TLS usually ends at a load balancer in front of it.
        public_url = self._rules.issuer.rstrip("/") + request.url.path
        try:
            oauth_request = FormRequest(request.method, public_url, request.headers, form)
        except OAuth2Error as error:
            return _oauth_error(400, error.error, error.description or "")
        if endpoint is None:
            status, body, headers = await run_in_threadpool(
                server.create_token_response, oauth_request
            )
        else:
            status, body, headers = await run_in_threadpool(
                server.create_endpoint_response, endpoint, oauth_request
            )
        return JSONResponse(body, status_code=status, headers={**dict(headers), **_NO_STORE})

    async def token(self, request: Request) -> Response:
        return await self._respond(request, None)

    async def revoke(self, request: Request) -> Response:
        return await self._respond(request, "revocation")

    async def introspect(self, request: Request) -> Response:
        return await self._respond(request, "introspection")

    async def jwks(self, _: Request) -> Response:
        return JSONResponse(
            self._state.keys.jwks(), headers={"Cache-Control": "public, max-age=60"}
        )

    async def metadata(self, _: Request) -> Response:
        return JSONResponse(authorization_server_metadata(self._rules.issuer))

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/oauth/introspect", self.introspect, methods=["POST"]),
            Route("/.well-known/jwks.json", self.jwks, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
        ]


def authorization_server_metadata(issuer: str) -> dict[str, Any]:
    base = issuer.rstrip("/")
    methods = list(CLIENT_AUTH_METHODS)
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": [GRANT_TYPE],
        # Required by RFC 8414; no authorization endpoint exists, so no response type is issued.
        "response_types_supported": ["none"],
        "scopes_supported": [SCOPE],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
    }
