"""`openai.AsyncOpenAI` through the gateway: the same methods, awaited, and an async
`api_key` callable for token refresh."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.sdk.conftest import POLL_MS, SDK_POLICIES, async_sdk_client, model_content
from tests.sdk.gateway_token import AsyncGatewayToken
from tests.support.identity import Credential
from tests.support.secrets_sweep import SWEEP
from tests.support.servers import AppServer


@pytest.fixture
def token(sdk_gateway: Gateway) -> str:
    return sdk_gateway.token(sdk_gateway.grant("alice", "artists"))


@pytest.fixture
def short_lived(mock_model: AppServer, start_gateway: GatewayFactory) -> tuple[Gateway, Credential]:
    """A gateway issuing 2 s access tokens, and a credential to ask it for some."""
    gateway = start_gateway(mock_model.url, policies=SDK_POLICIES, token_ttl=2.0)
    return gateway, gateway.grant("tess", "artists")


async def test_every_videos_method_awaited(
    sdk_gateway: Gateway, mock_model: AppServer, token: str
) -> None:
    client = async_sdk_client(sdk_gateway, token)
    videos = client.sdk.videos
    try:
        video = await videos.create_and_poll(prompt="a paper boat", poll_interval_ms=POLL_MS)
        assert video.status == "completed"
        assert (await videos.retrieve(video.id)).id == video.id
        content = await videos.download_content(video.id)
        assert content.content == model_content(mock_model.url, video.id)
        remix = await videos.remix(video.id, prompt="a paper boat at night")
        assert remix.remixed_from_video_id == video.id
        more = [(await videos.create(prompt=f"a kite, take {n}")).id for n in range(3)]
        listed = [v.id async for v in videos.list(limit=2)]
        assert listed == [*reversed(more), remix.id, video.id]
        assert client.sent.count("GET", "/v1/videos") == 3
        deleted = await videos.delete(more[0])
        assert deleted.deleted is True
        with pytest.raises(openai.NotFoundError) as gone:
            await videos.retrieve(more[0])
        assert gone.value.code == "not_found"
    finally:
        await client.sdk.close()


async def test_refusals_map_to_the_same_classes(sdk_gateway: Gateway, token: str) -> None:
    client = async_sdk_client(sdk_gateway, token, max_retries=0)
    try:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await client.sdk.videos.create(prompt="a dragon")
        assert denied.value.code == "policy_violation"
        with pytest.raises(openai.BadRequestError) as bad:
            await client.sdk.videos.create(prompt="")
        assert bad.value.param == "prompt"
    finally:
        await client.sdk.close()


async def test_an_async_api_key_callable_refreshes_the_access_token(
    short_lived: tuple[Gateway, Credential],
) -> None:
    """With 2 s tokens, an async client working for longer keeps working."""
    gateway, credential = short_lived
    tokens = AsyncGatewayToken(
        gateway.url, credential.client_id, credential.client_secret, leeway=1
    )
    seen: list[str] = []

    async def api_key() -> str:
        token = await tokens()
        SWEEP.add_token(token)
        seen.append(token)
        return token

    client = async_sdk_client(gateway, api_key)
    try:
        video = await client.sdk.videos.create(prompt="a kite")
        for _ in range(4):
            await client.sdk.videos.retrieve(video.id)
            await asyncio.sleep(0.6)
        assert len(set(seen)) >= 2
        sent = {r.headers["authorization"] for r in client.sent.requests}
        assert sent == {f"Bearer {token}" for token in seen}
    finally:
        await client.sdk.close()
        await tokens.oauth.aclose()
