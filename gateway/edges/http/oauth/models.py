"""What authlib needs to see of our grants and tokens."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin

from gateway.core.credentials import secret_matches
from gateway.core.identity import Grant
from gateway.core.tokens import AccessClaims

CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPE = "client_credentials"
SCOPE = "videos"


class GrantClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, grant: Grant) -> None:
        self.grant = grant

    def get_client_id(self) -> str:
        return self.grant.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(client_secret, self.grant.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in CLIENT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE


class IssuedToken(TokenMixin):  # type: ignore[misc]
    """A token this gateway signed, as the revocation and introspection endpoints see it."""

    def __init__(self, claims: AccessClaims, *, active: bool) -> None:
        self.claims = claims
        self.active = active

    def check_client(self, client: GrantClient) -> bool:
        return bool(client.get_client_id() == self.claims.client_id)

    def get_scope(self) -> str:
        return self.claims.scope

    def get_expires_in(self) -> int:
        return self.claims.expires_at - self.claims.issued_at

    def is_expired(self) -> bool:
        return not self.active

    def is_revoked(self) -> bool:
        return not self.active
