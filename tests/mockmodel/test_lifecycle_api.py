from __future__ import annotations

import httpx
import pytest

from gateway.mockmodel.app import create_mock_app
from gateway.mockmodel.jobs import EXPIRY_SECONDS
from gateway.mockmodel.media import iter_boxes, load_asset
from tests.mockmodel.support import (
    JOB_SECONDS,
    START,
    FakeClock,
    assert_error,
    client_for,
    create_video,
)


async def status_of(client: httpx.AsyncClient, video_id: str) -> dict[str, object]:
    response = await client.get(f"/v1/videos/{video_id}")
    assert response.status_code == 200
    video: dict[str, object] = response.json()
    return video


async def test_job_moves_from_queued_through_in_progress_to_completed(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Retrieval reflects the clock: queued, then in_progress with partial progress, then done."""
    video_id = await create_video(client)
    assert (await status_of(client, video_id))["status"] == "queued"

    clock.advance(JOB_SECONDS * 0.5)
    video = await status_of(client, video_id)
    assert video["status"] == "in_progress"
    assert isinstance(video["progress"], int)
    assert 0 < video["progress"] < 100
    assert video["completed_at"] is None

    clock.advance(JOB_SECONDS * 0.3)
    later = await status_of(client, video_id)
    assert isinstance(later["progress"], int)
    assert later["progress"] > video["progress"]

    clock.advance(JOB_SECONDS)
    done = await status_of(client, video_id)
    assert (done["status"], done["progress"], done["error"]) == ("completed", 100, None)
    assert done["completed_at"] == int(START + JOB_SECONDS)
    assert done["expires_at"] == int(START + JOB_SECONDS) + EXPIRY_SECONDS


async def test_fail_marker_ends_in_failed_with_error(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A prompt containing mock:fail ends failed with a video_generation_failed error."""
    video_id = await create_video(client, "please mock:fail now")
    clock.advance(JOB_SECONDS * 0.5)
    assert (await status_of(client, video_id))["status"] == "in_progress"
    clock.advance(JOB_SECONDS)
    video = await status_of(client, video_id)
    assert video["status"] == "failed"
    assert video["expires_at"] is None
    error = video["error"]
    assert isinstance(error, dict)
    assert error["code"] == "video_generation_failed"
    assert error["message"]
    response = await client.get(f"/v1/videos/{video_id}/content")
    assert_error(response, 400, param=None, code="video_generation_failed")


async def test_unknown_video_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    """Every per-video endpoint answers an unknown id with the exact video_not_found envelope."""
    expected = {
        "error": {
            "message": "Video 'video_nope' not found",
            "type": "invalid_request_error",
            "param": None,
            "code": "video_not_found",
        }
    }
    for response in (
        await client.get("/v1/videos/video_nope"),
        await client.get("/v1/videos/video_nope/content"),
        await client.delete("/v1/videos/video_nope"),
        await client.post("/v1/videos/video_nope/remix", json={"prompt": "x"}),
    ):
        assert response.status_code == 404
        assert response.json() == expected


async def test_content_is_refused_until_completed(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Downloading before completion is a 400 video_not_ready for every variant."""
    video_id = await create_video(client)
    clock.advance(JOB_SECONDS * 0.5)
    for variant in ("video", "thumbnail", "spritesheet"):
        response = await client.get(f"/v1/videos/{video_id}/content", params={"variant": variant})
        error = assert_error(response, 400, param=None, code="video_not_ready")
        assert error["message"] == "Video is not ready yet"


async def test_video_content_is_the_bundled_mp4(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The default variant streams the bundled MP4 byte for byte with its length declared."""
    video_id = await create_video(client)
    clock.advance(JOB_SECONDS)
    response = await client.get(f"/v1/videos/{video_id}/content")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    expected = load_asset("video.mp4")
    assert response.headers["content-length"] == str(len(expected))
    assert response.content == expected


@pytest.mark.parametrize(
    ("variant", "media_type", "asset"),
    [
        ("thumbnail", "image/webp", "thumbnail.webp"),
        ("spritesheet", "image/jpeg", "spritesheet.jpg"),
    ],
)
async def test_image_variants(
    client: httpx.AsyncClient, clock: FakeClock, variant: str, media_type: str, asset: str
) -> None:
    """The thumbnail and spritesheet variants serve the bundled images with their types."""
    video_id = await create_video(client)
    clock.advance(JOB_SECONDS)
    response = await client.get(f"/v1/videos/{video_id}/content", params={"variant": variant})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == load_asset(asset)


async def test_unknown_variant_is_rejected(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """An unsupported variant is a 400 naming the variant parameter."""
    video_id = await create_video(client)
    clock.advance(JOB_SECONDS)
    response = await client.get(f"/v1/videos/{video_id}/content", params={"variant": "gif"})
    assert_error(response, 400, param="variant", code="invalid_value")


async def test_padded_content_has_the_exact_size_and_parses() -> None:
    """With content_size set the download is exactly that long and still a valid box list."""
    clock = FakeClock()
    size = 3 * 65536 + 1234
    app = create_mock_app(job_seconds=0, content_size=size, clock=clock)
    async with client_for(app) as client:
        video_id = await create_video(client)
        response = await client.get(f"/v1/videos/{video_id}/content")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(size)
    body = response.content
    assert len(body) == size
    base = load_asset("video.mp4")
    assert body[: len(base)] == base
    boxes = list(iter_boxes(body))
    types = [box_type for box_type, _ in boxes]
    assert types[0] == "ftyp"
    assert {"moov", "mdat"} <= set(types)
    assert boxes[-1] == ("free", size - len(base))
    assert sum(box_size for _, box_size in boxes) == size


async def test_remix_copies_parameters_from_a_completed_source(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Remixing a completed video queues a new job with its model, size and seconds."""
    source = await create_video(client, model="sora-2-pro", size="1024x1792", seconds="12")
    clock.advance(JOB_SECONDS)
    response = await client.post(f"/v1/videos/{source}/remix", json={"prompt": "now in blue"})
    assert response.status_code == 200, response.text
    remix = response.json()
    assert remix["id"] != source
    assert remix["remixed_from_video_id"] == source
    assert (remix["model"], remix["size"], remix["seconds"]) == ("sora-2-pro", "1024x1792", "12")
    assert (remix["prompt"], remix["status"]) == ("now in blue", "queued")
    assert (await status_of(client, remix["id"]))["remixed_from_video_id"] == source


async def test_remix_takes_a_form_too(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """As in OpenAI's API, a remix's prompt may come as multipart/form-data; a file is no
    remix parameter."""
    source = await create_video(client)
    clock.advance(JOB_SECONDS)
    response = await client.post(
        f"/v1/videos/{source}/remix", files={"prompt": (None, "now in blue")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["prompt"] == "now in blue"
    response = await client.post(
        f"/v1/videos/{source}/remix",
        files={"prompt": (None, "x"), "input_reference": ("a.png", b"png", "image/png")},
    )
    assert_error(response, 400, param="input_reference", code="unknown_parameter")


async def test_remix_of_unfinished_source_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Only completed videos can be remixed; others (queued, in progress, failed) get 400."""
    pending = await create_video(client)
    failing = await create_video(client, "mock:fail")
    response = await client.post(f"/v1/videos/{pending}/remix", json={"prompt": "x"})
    assert_error(response, 400, param=None, code="video_not_ready")
    clock.advance(JOB_SECONDS)
    response = await client.post(f"/v1/videos/{failing}/remix", json={"prompt": "x"})
    assert_error(response, 400, param=None, code="video_not_ready")


JSON = "application/json"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"{}", JSON, (400, "prompt", "missing_required_parameter")),
        (b'{"prompt": "x", "model": "sora-2"}', JSON, (400, "model", "unknown_parameter")),
        (b"{", JSON, (400, None, "invalid_json")),
        (
            b"--x--",
            "multipart/form-data; boundary=x",
            (400, "prompt", "missing_required_parameter"),
        ),
    ],
)
async def test_remix_body_validation(
    client: httpx.AsyncClient,
    clock: FakeClock,
    body: bytes,
    content_type: str,
    expected: tuple[int, str | None, str],
) -> None:
    """Remix takes exactly a JSON prompt; anything else is rejected."""
    source = await create_video(client)
    clock.advance(JOB_SECONDS)
    response = await client.post(
        f"/v1/videos/{source}/remix", content=body, headers={"content-type": content_type}
    )
    status, param, code = expected
    assert_error(response, status, param=param, code=code)
