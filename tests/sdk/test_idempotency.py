"""Idempotency-Key through the SDK: its multipart creates carry a fresh boundary on every
send, and the gateway still recognises a retry by what it asks for."""

from __future__ import annotations

import httpx2
import openai
import pytest

from gateway.mockmodel.app import create_mock_app
from tests.conftest import GatewayFactory
from tests.sdk.conftest import SDK_POLICIES, sdk_client
from tests.support.servers import AppServer


def _creates_at_the_model(model_url: str) -> int:
    seen = httpx2.get(f"{model_url}/_mock/requests").json()["data"]
    return sum(1 for e in seen if e["method"] == "POST" and e["path"] == "/v1/videos")


def test_the_same_create_twice_replays_the_first_answer(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(mock_model.url, policies=SDK_POLICIES)
    client = sdk_client(gateway)
    key = {"Idempotency-Key": "order-42"}
    first = client.sdk.videos.with_raw_response.create(
        prompt="a kite over dunes", seconds="8", extra_headers=key
    )
    second = client.sdk.videos.with_raw_response.create(
        prompt="a kite over dunes", seconds="8", extra_headers=key
    )
    sent = [r.headers["content-type"] for r in client.sent.requests]
    assert len(set(sent)) == 2  # two different boundaries on the wire
    assert second.parse().id == first.parse().id
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert _creates_at_the_model(mock_model.url) == 1


def test_another_request_under_the_same_key_is_a_conflict_not_retried(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(mock_model.url, policies=SDK_POLICIES)
    client = sdk_client(gateway, max_retries=2)
    key = {"Idempotency-Key": "order-43"}
    client.sdk.videos.create(prompt="a kite over dunes", extra_headers=key)
    client.sent.requests.clear()
    with pytest.raises(openai.ConflictError) as conflict:
        client.sdk.videos.create(prompt="a kite over the sea", extra_headers=key)
    assert (conflict.value.code, conflict.value.param) == (
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    # The SDK retries 409s unless told otherwise; the gateway tells it this one is final.
    assert len(client.sent.requests) == 1
    assert _creates_at_the_model(mock_model.url) == 1


def test_a_create_the_sdk_retries_after_a_timeout_makes_one_job(
    start_gateway: GatewayFactory,
) -> None:
    """The model answers a create after 1.5 s; the SDK gives up after 0.5 s and sends the
    create again (a new multipart body) until it gets the first one's answer."""
    with AppServer(create_mock_app(job_seconds=0.6, create_delay=1.5)) as slow_model:
        gateway = start_gateway(slow_model.url, policies=SDK_POLICIES)
        client = sdk_client(gateway, max_retries=6, timeout=0.5)
        video = client.sdk.videos.create(
            prompt="a kite over dunes", extra_headers={"Idempotency-Key": "order-44"}
        )
        assert client.sent.count("POST", "/v1/videos") >= 2
        assert _creates_at_the_model(slow_model.url) == 1
        assert client.sdk.videos.retrieve(video.id).id == video.id
        assert [v.id for v in client.sdk.videos.list()] == [video.id]
