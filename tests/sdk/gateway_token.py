"""The README's recipe for a long-running SDK client: an `api_key` that is a PhaseGate
access token, fetched with authlib's client-credentials client and fetched again shortly
before it expires. The SDK calls `api_key` before every request."""

from __future__ import annotations

from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client


class GatewayToken:
    """A callable `api_key` for `openai.OpenAI`: always a token with `leeway` s to live."""

    def __init__(self, gateway: str, client_id: str, client_secret: str, leeway: int = 60) -> None:
        self.oauth = OAuth2Client(client_id, client_secret, token_endpoint=f"{gateway}/oauth/token")
        self.leeway = leeway

    def __call__(self) -> str:
        token = self.oauth.token
        if not token or token.is_expired(leeway=self.leeway):
            token = self.oauth.fetch_token(grant_type="client_credentials")
        return str(token["access_token"])


class AsyncGatewayToken:
    """The same for `openai.AsyncOpenAI`, whose `api_key` may be an async callable."""

    def __init__(self, gateway: str, client_id: str, client_secret: str, leeway: int = 60) -> None:
        self.oauth = AsyncOAuth2Client(
            client_id, client_secret, token_endpoint=f"{gateway}/oauth/token"
        )
        self.leeway = leeway

    async def __call__(self) -> str:
        token = self.oauth.token
        if not token or token.is_expired(leeway=self.leeway):
            token = await self.oauth.fetch_token(grant_type="client_credentials")
        return str(token["access_token"])
