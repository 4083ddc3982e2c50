from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.mockmodel.support import START, assert_error

VIDEO_KEYS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "size",
    "seconds",
    "quality",
    "prompt",
    "remixed_from_video_id",
    "error",
}


async def test_json_creation_returns_a_queued_video_object(client: httpx.AsyncClient) -> None:
    """A JSON create returns 200 with a complete, queued video object."""
    response = await client.post(
        "/v1/videos",
        json={"model": "sora-2-pro", "prompt": "a cat", "seconds": 8, "size": "1792x1024"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    video = response.json()
    assert set(video) == VIDEO_KEYS
    assert video["id"].startswith("video_")
    assert video["object"] == "video"
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2-pro", "8", "1792x1024")
    assert (video["status"], video["progress"]) == ("queued", 0)
    assert video["created_at"] == int(START)
    assert video["quality"] == "standard"
    assert video["prompt"] == "a cat"
    for key in ("completed_at", "expires_at", "remixed_from_video_id", "error"):
        assert video[key] is None


async def test_multipart_creation_without_reference(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Multipart form fields are validated like JSON ones, seconds arriving as a string."""
    response = await client.post(
        "/v1/videos", files={"prompt": (None, "a dog"), "seconds": (None, "12")}
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert (video["prompt"], video["seconds"], video["model"]) == ("a dog", "12", "sora-2")
    assert app.state.jobs.get(video["id"]).input_reference is None


async def test_multipart_input_reference_is_recorded(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """An input_reference file's size, sha256 and content type are kept on the job only."""
    image = bytes(range(256)) * 300
    response = await client.post(
        "/v1/videos",
        data={"prompt": "animate this", "size": "1280x720"},
        files={"input_reference": ("ref.png", image, "image/png")},
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert "input_reference" not in video
    reference = app.state.jobs.get(video["id"]).input_reference
    assert reference.size == len(image)
    assert reference.sha256 == hashlib.sha256(image).hexdigest()
    assert reference.content_type == "image/png"


@pytest.mark.parametrize(
    ("reference", "kept"),
    [
        (
            {"image_url": "data:image/png;base64," + base64.b64encode(b"\x89PNG-ish").decode()},
            {
                "size": 8,
                "sha256": hashlib.sha256(b"\x89PNG-ish").hexdigest(),
                "content_type": "image/png",
            },
        ),
        (
            {"image_url": "https://images.example/ref.png"},
            {"url": "https://images.example/ref.png"},
        ),
        ({"file_id": "file-abc123"}, {"file_id": "file-abc123"}),
    ],
)
async def test_json_input_reference_objects_are_recorded(
    app: Starlette, client: httpx.AsyncClient, reference: dict[str, str], kept: dict[str, Any]
) -> None:
    """The JSON forms the video API takes: a data URL, an https URL or a file id."""
    response = await client.post(
        "/v1/videos", json={"prompt": "animate this", "input_reference": reference}
    )
    assert response.status_code == 200, response.text
    recorded = app.state.jobs.get(response.json()["id"]).input_reference
    assert {name: getattr(recorded, name) for name in kept} == kept


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "prompt", "missing_required_parameter"),
        ({"prompt": ""}, "prompt", "invalid_value"),
        ({"prompt": "   "}, "prompt", "invalid_value"),
        ({"prompt": 7}, "prompt", "invalid_type"),
        ({"prompt": "x", "seconds": "5"}, "seconds", "invalid_value"),
        ({"prompt": "x", "seconds": 10}, "seconds", "invalid_value"),
        ({"prompt": "x", "size": "1920x1080"}, "size", "invalid_value"),
        ({"prompt": "x", "model": "sora-3"}, "model", "invalid_value"),
        ({"prompt": "x", "quality": "high"}, "quality", "unknown_parameter"),
        ({"prompt": "x", "input_reference": "aGk="}, "input_reference", "invalid_type"),
        ({"prompt": "x" * 32_001}, "prompt", "string_above_max_length"),
        ({"prompt": "x", "input_reference": {}}, "input_reference", "invalid_value"),
        (
            {"prompt": "x", "input_reference": {"image_url": "https://a/b", "file_id": "f"}},
            "input_reference",
            "invalid_value",
        ),
        (
            {"prompt": "x", "input_reference": {"image_url": "http://a/b.png"}},
            "input_reference",
            "invalid_value",
        ),
        (
            {"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,!!"}},
            "input_reference",
            "invalid_value",
        ),
    ],
)
async def test_json_validation_errors(
    client: httpx.AsyncClient, body: dict[str, Any], param: str, code: str
) -> None:
    """Each invalid JSON field yields 400 invalid_request_error naming that field."""
    response = await client.post("/v1/videos", json=body)
    assert_error(response, 400, param=param, code=code)


@pytest.mark.parametrize(
    ("files", "param", "code"),
    [
        ({"seconds": (None, "4")}, "prompt", "missing_required_parameter"),
        ({"prompt": (None, "x"), "size": (None, "1x1")}, "size", "invalid_value"),
        (
            {"prompt": (None, "x"), "input_reference": (None, "text")},
            "input_reference",
            "invalid_type",
        ),
        ({"prompt": ("p.txt", b"x", "text/plain")}, "prompt", "invalid_type"),
    ],
)
async def test_multipart_validation_errors(
    client: httpx.AsyncClient, files: dict[str, Any], param: str, code: str
) -> None:
    """Multipart fields get the same checks, and file/text parts must be where expected."""
    response = await client.post("/v1/videos", files=files)
    assert_error(response, 400, param=param, code=code)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_other_content_types_are_unsupported(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    """Bodies that are neither JSON nor multipart (or untyped) get 415."""
    headers = {} if content_type is None else {"content-type": content_type}
    response = await client.post("/v1/videos", content=b"prompt=x", headers=headers)
    assert_error(response, 415, param=None, code="unsupported_media_type")


@pytest.mark.parametrize("body", [b"{not json", b"", b'["a list"]', b'"text"'])
async def test_malformed_json_is_a_400(client: httpx.AsyncClient, body: bytes) -> None:
    """Unparseable JSON, or JSON that is not an object, is rejected with 400 invalid_json."""
    response = await client.post(
        "/v1/videos", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, param=None, code="invalid_json")


async def test_malformed_multipart_is_a_400(client: httpx.AsyncClient) -> None:
    """A multipart body without a boundary is a client error in the OpenAI envelope."""
    response = await client.post(
        "/v1/videos", content=b"garbage", headers={"content-type": "multipart/form-data"}
    )
    assert_error(response, 400, param=None, code="invalid_multipart")


async def test_unknown_routes_use_the_error_envelope(client: httpx.AsyncClient) -> None:
    """Routing failures (404 path, 405 method) are also rendered in the OpenAI envelope."""
    assert_error(await client.get("/v1/nothing"), 404, param=None, code=None)
    response = await client.put("/v1/videos")
    assert_error(response, 405, param=None, code=None)
    assert "GET" in response.headers["allow"]


async def test_unexpected_failures_are_enveloped_500s(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside a handler surfaces as a 500 server_error envelope, not a bare text page."""

    def explode(job: object) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.jobs, "to_object", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        response = await client.post("/v1/videos", json={"prompt": "x"})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
