"""The official `openai` SDK against a real gateway and the mock model API on loopback.

Each client is made as a user would make one (`base_url` the gateway's `/v1`, `api_key`
a PhaseGate access token), with an HTTP client of its own whose request hook counts
what the SDK really sent, retries included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.support.servers import AppServer

HERE = Path(__file__).resolve().parent
SDK_POLICIES = HERE.parent / "fixtures" / "sdk_policies"
# The SDK marks the video resource deprecated (the hosted API's shutdown date); the
# gateway serves it regardless, so that warning is not the suite's business.
DEPRECATED = "ignore:The Sora API is scheduled:DeprecationWarning"
# Polling helpers ask every 100 ms instead of the SDK's default second.
POLL_MS = 100


@dataclass
class Sent:
    """Every request an SDK client put on the wire, retries included."""

    requests: list[httpx2.Request] = field(default_factory=list)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


@dataclass
class SdkClient:
    sdk: openai.OpenAI
    sent: Sent


@dataclass
class AsyncSdkClient:
    sdk: openai.AsyncOpenAI
    sent: Sent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.filterwarnings(DEPRECATED))


@pytest.fixture
def sdk_gateway(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url, policies=SDK_POLICIES)


def sdk_client(
    gateway: Gateway,
    principal: str = "alice",
    tier: str = "artists",
    *,
    api_key: Any = None,
    max_retries: int = 2,
    timeout: float = 10.0,
) -> SdkClient:
    """An `openai.OpenAI` client of a newly granted principal, through the gateway."""
    sent = Sent()

    def record(request: httpx2.Request) -> None:
        sent.requests.append(request)

    http = httpx2.Client(event_hooks={"request": [record]})
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=api_key if api_key is not None else gateway.token(gateway.grant(principal, tier)),
        max_retries=max_retries,
        timeout=timeout,
        http_client=http,
    )
    gateway.resources.callback(client.close)
    return SdkClient(client, sent)


def async_sdk_client(gateway: Gateway, api_key: Any, *, max_retries: int = 2) -> AsyncSdkClient:
    """An `openai.AsyncOpenAI` client; the caller closes it in its own event loop. Its
    `api_key` is made beforehand, outside the loop (granting runs a loop of its own)."""
    sent = Sent()

    async def record(request: httpx2.Request) -> None:
        sent.requests.append(request)

    http = httpx2.AsyncClient(event_hooks={"request": [record]})
    client = openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=api_key,
        max_retries=max_retries,
        timeout=10.0,
        http_client=http,
    )
    return AsyncSdkClient(client, sent)


def model_content(mock_model_url: str, video_id: str, variant: str = "video") -> bytes:
    """The bytes the model API itself serves for a video, fetched around the gateway."""
    response = httpx2.get(
        f"{mock_model_url}/v1/videos/{video_id}/content", params={"variant": variant}
    )
    assert response.status_code == 200, response.text
    return response.content
