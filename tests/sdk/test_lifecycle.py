"""What an SDK client meets over a job's life at PhaseGate: a request held for review,
concurrency slots that come back as its jobs end, and access tokens that expire."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.sdk.conftest import POLL_MS, SDK_POLICIES, sdk_client
from tests.sdk.gateway_token import GatewayToken
from tests.support.reviews import Reviewer, wait_for
from tests.support.secrets_sweep import SWEEP
from tests.support.servers import AppServer


def test_a_held_request_reads_queued_until_a_reviewer_approves(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    held = client.videos.with_raw_response.create(prompt="fishing boats in the harbour at dawn")
    assert held.status_code == 202
    video = held.parse()
    assert video.status == "queued"
    assert client.videos.retrieve(video.id).status == "queued"
    assert [(v.id, v.status) for v in client.videos.list()] == [(video.id, "queued")]
    Reviewer(sdk_gateway.settings.data_dir, SDK_POLICIES).approve(video.id)
    done = client.videos.poll(video.id, poll_interval_ms=POLL_MS)
    assert (done.id, done.status) == (video.id, "completed")
    assert len(client.videos.download_content(video.id).content) > 1000


def test_a_client_that_follows_its_jobs_by_listing_gets_its_slot_back(
    sdk_gateway: Gateway,
) -> None:
    """One job in flight: the next create is a RateLimitError until the listing shows the
    job completed, then it passes, with no read of the job itself."""
    client = sdk_client(sdk_gateway, "sam", "single", max_retries=0)
    client.sdk.videos.create(prompt="a kite")
    with pytest.raises(openai.RateLimitError) as limited:
        client.sdk.videos.create(prompt="another kite")
    assert "'jobs_in_flight'" in limited.value.message
    wait_for(
        lambda: all(v.status == "completed" for v in client.sdk.videos.list()),
        what="the listing to show the job completed",
    )
    assert client.sdk.videos.create(prompt="another kite").status == "queued"
    assert not any("/v1/videos/video_" in str(r.url) for r in client.sent.requests)


def test_a_client_that_never_looks_gets_its_slot_back(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """The lease reconciler frees the slot of a job nobody reads: a create refused for
    the job in flight passes soon after the job ends (here within a couple of seconds,
    not the hour the lease would last)."""
    gateway = start_gateway(mock_model.url, policies=SDK_POLICIES, reconcile_after=0.5)
    client = sdk_client(gateway, "nell", "single", max_retries=0)
    client.sdk.videos.create(prompt="a kite")
    with pytest.raises(openai.RateLimitError):
        client.sdk.videos.create(prompt="another kite")

    def created() -> bool:
        try:
            return client.sdk.videos.create(prompt="another kite").status == "queued"
        except openai.RateLimitError:
            return False

    wait_for(created, timeout=5, what="the slot to come back")
    assert not any(r.method == "GET" for r in client.sent.requests)


def test_an_api_key_callable_refreshes_the_access_token(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """With 2 s tokens, a client working for longer than that keeps working: authlib's
    client-credentials client fetches a new token before the old one runs out."""
    gateway = start_gateway(mock_model.url, policies=SDK_POLICIES, token_ttl=2.0)
    credential = gateway.grant("tess", "artists")
    tokens = GatewayToken(gateway.url, credential.client_id, credential.client_secret, leeway=1)
    gateway.resources.callback(tokens.oauth.close)
    seen: list[str] = []

    def api_key() -> str:
        token = tokens()
        SWEEP.add_token(token)
        seen.append(token)
        return token

    client = sdk_client(gateway, api_key=api_key)
    video = client.sdk.videos.create(prompt="a kite")
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        assert client.sdk.videos.retrieve(video.id).id == video.id
        time.sleep(0.25)
    assert len(set(seen)) >= 2
    sent = {r.headers["authorization"] for r in client.sent.requests}
    assert sent == {f"Bearer {token}" for token in seen}
