"""Every refusal of the gateway reaches SDK users as the SDK's own exception class, with
the envelope's `code`, `param` and `type` readable, and retried where the SDK retries."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.sdk.conftest import SDK_POLICIES, sdk_client
from tests.support.servers import AppServer, free_port


def _refusal(error: openai.APIStatusError) -> dict[str, Any]:
    return {"code": error.code, "param": error.param, "type": error.type}


def test_a_bad_token_is_an_authentication_error(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway, api_key="not-a-token")
    with pytest.raises(openai.AuthenticationError) as refused:
        client.sdk.videos.list()
    assert refused.value.status_code == 401
    assert refused.value.code == "invalid_token"
    assert "invalid_token" in refused.value.response.headers["www-authenticate"]


def test_a_tier_outside_the_phase_is_permission_denied(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway, "wanda", "waiting").sdk
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.videos.create(prompt="a kite")
    assert refused.value.code == "tier_not_in_phase"


def test_a_denying_rule_is_permission_denied_naming_the_rule(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.videos.create(prompt="a dragon over the harbour wall")
    assert refused.value.code == "policy_violation"
    assert refused.value.message.endswith("No dragons in this preview.")
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["rule"] == "no-dragons"


def test_a_model_outside_the_tier_is_permission_denied_naming_model(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.videos.create(prompt="a kite", model="sora-2-pro")
    assert (refused.value.code, refused.value.param) == ("model_not_allowed", "model")


def test_someone_elses_video_is_not_found(sdk_gateway: Gateway) -> None:
    mine = sdk_client(sdk_gateway, "alice").sdk.videos.create(prompt="a kite")
    other = sdk_client(sdk_gateway, "mallory").sdk
    with pytest.raises(openai.NotFoundError) as refused:
        other.videos.retrieve(mine.id)
    assert _refusal(refused.value) == {
        "code": "not_found",
        "param": "video_id",
        "type": "invalid_request_error",
    }
    for call in (other.videos.download_content, other.videos.delete):
        with pytest.raises(openai.NotFoundError):
            call(mine.id)


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"prompt": "x" * 32_001}, "prompt"),
        ({"prompt": "a kite", "size": "1024x1792"}, "size"),
    ],
)
def test_bad_parameters_are_bad_requests_naming_the_field(
    sdk_gateway: Gateway, arguments: dict[str, Any], param: str
) -> None:
    client = sdk_client(sdk_gateway)
    with pytest.raises(openai.BadRequestError) as refused:
        client.sdk.videos.create(**arguments)
    assert (refused.value.code, refused.value.param) == ("invalid_request", param)
    assert len(client.sent.requests) == 1  # a 400 is final


def test_a_bad_list_parameter_is_a_bad_request(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.list(order="sideways")  # type: ignore[arg-type]
    assert refused.value.param == "order"


def test_an_oversized_reference_is_a_413_status_error(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """The SDK has no class of its own for 413 and 415: they arrive as `APIStatusError`."""
    gateway = start_gateway(mock_model.url, policies=SDK_POLICIES, max_reference=1024)
    client = sdk_client(gateway).sdk
    with pytest.raises(openai.APIStatusError) as refused:
        client.videos.create(prompt="a kite", input_reference=("a.png", b"x" * 2048, "image/png"))
    assert refused.value.status_code == 413
    assert (refused.value.code, refused.value.param) == ("body_too_large", "input_reference")


def test_a_body_of_another_type_is_a_415_status_error(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    with pytest.raises(openai.APIStatusError) as refused:
        client.post(
            "/videos",
            body={"prompt": "a kite"},
            options={"headers": {"Content-Type": "text/plain"}},
            cast_to=openai.types.Video,
        )
    assert refused.value.status_code == 415
    assert refused.value.code == "unsupported_media_type"


def test_a_rate_limit_is_waited_out_as_retry_after_says(sdk_gateway: Gateway) -> None:
    """One request per 2 s: the SDK's second create meets 429 with Retry-After, sleeps
    that long and succeeds on its retry; with retries off it sees a RateLimitError."""
    client = sdk_client(sdk_gateway, "pat", "paced", max_retries=2)
    client.sdk.videos.create(prompt="a kite")
    started = time.monotonic()
    video = client.sdk.videos.create(prompt="another kite")
    waited = time.monotonic() - started
    assert video.status == "queued"
    assert client.sent.count("POST", "/v1/videos") == 3
    assert waited >= 1.0  # Retry-After is whole seconds, at least 1; the SDK slept it
    strict = client.sdk.with_options(max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        strict.videos.create(prompt="a third kite")
    assert limited.value.code == "rate_limited"
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 2
    assert limited.value.response.headers["ratelimit-policy"] == '"requests";q=1;w=2'


def test_a_dependency_outage_is_a_server_error_the_sdk_retries(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """With the shared limiter unreachable, generation fails closed with 503; the SDK
    retries it as any 5xx, then raises InternalServerError with the code readable."""
    gateway = start_gateway(
        mock_model.url, policies=SDK_POLICIES, limits=f"redis://127.0.0.1:{free_port()}/0"
    )
    client = sdk_client(gateway, "carl", "capped", max_retries=2)
    with pytest.raises(openai.InternalServerError) as refused:
        client.sdk.videos.create(prompt="a kite")
    assert refused.value.status_code == 503
    assert refused.value.code == "limits_unavailable"
    assert client.sent.count("POST", "/v1/videos") == 3
