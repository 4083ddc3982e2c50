"""Every `client.videos` method of the official SDK works through the gateway as it does
against OpenAI: the same objects, the same bytes, the same pagination."""

from __future__ import annotations

from typing import Literal

import openai
import pytest

from tests.conftest import Gateway
from tests.sdk.conftest import POLL_MS, model_content, sdk_client
from tests.support.servers import AppServer


def test_create_then_retrieve(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    video = client.videos.create(prompt="a kite over dunes", model="sora-2", seconds="8")
    assert (video.object, video.status, video.seconds) == ("video", "queued", "8")
    assert video.id.startswith("video_")
    again = client.videos.retrieve(video.id)
    assert again.id == video.id
    assert again.prompt == "a kite over dunes"


def test_create_and_poll_then_download_content_byte_for_byte(
    sdk_gateway: Gateway, mock_model: AppServer
) -> None:
    client = sdk_client(sdk_gateway).sdk
    video = client.videos.create_and_poll(
        prompt="a paper boat in the rain", size="1280x720", poll_interval_ms=POLL_MS
    )
    assert (video.status, video.progress, video.size) == ("completed", 100, "1280x720")
    downloaded = client.videos.download_content(video.id)
    expected = model_content(mock_model.url, video.id)
    assert len(expected) > 1000
    assert downloaded.content == expected
    assert downloaded.response.headers["content-type"] == "video/mp4"
    thumbnail = client.videos.download_content(video.id, variant="thumbnail")
    assert thumbnail.content == model_content(mock_model.url, video.id, "thumbnail")


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_list_paginates_through_the_callers_own_jobs(
    sdk_gateway: Gateway, order: Literal["asc", "desc"]
) -> None:
    """Auto-pagination walks every page (`after` = the last id) and stops at the end."""
    alice, bob = sdk_client(sdk_gateway, "alice"), sdk_client(sdk_gateway, "bob")
    mine = [alice.sdk.videos.create(prompt=f"a kite, take {n}").id for n in range(5)]
    bob.sdk.videos.create(prompt="someone else's kite")
    alice.sent.requests.clear()
    listed = [video.id for video in alice.sdk.videos.list(limit=2, order=order)]
    assert listed == (list(reversed(mine)) if order == "desc" else mine)
    # Three pages of at most two: the SDK followed `has_more` and stopped when it was false.
    assert alice.sent.count("GET", "/v1/videos") == 3
    first_page = alice.sdk.videos.list(limit=2, order=order)
    assert (len(first_page.data), first_page.has_more) == (2, True)


def test_a_zero_limit_lists_nothing_and_says_more_exist(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    client.videos.create(prompt="a kite")
    page = client.videos.list(limit=0)
    assert (page.data, page.has_more) == ([], True)
    assert list(page) == []


def test_remix_a_completed_video(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    source = client.videos.create_and_poll(prompt="a lighthouse", poll_interval_ms=POLL_MS)
    remix = client.videos.remix(source.id, prompt="a lighthouse in a storm")
    assert remix.remixed_from_video_id == source.id
    assert remix.id != source.id
    done = client.videos.poll(remix.id, poll_interval_ms=POLL_MS)
    assert (done.status, done.prompt) == ("completed", "a lighthouse in a storm")


def test_delete_then_the_video_is_gone(sdk_gateway: Gateway) -> None:
    client = sdk_client(sdk_gateway).sdk
    video = client.videos.create_and_poll(prompt="a kite", poll_interval_ms=POLL_MS)
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert video.id not in [v.id for v in client.videos.list()]


def test_an_input_reference_file_is_taken(sdk_gateway: Gateway) -> None:
    """The SDK uploads bytes, a (name, bytes, type) tuple or a path as a multipart file."""
    client = sdk_client(sdk_gateway).sdk
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    as_tuple = client.videos.create(
        prompt="animate this", input_reference=("a.png", image, "image/png")
    )
    as_bytes = client.videos.create(prompt="animate this", input_reference=image)
    assert as_tuple.status == as_bytes.status == "queued"


def test_json_input_reference_objects_through_the_sdks_generic_post(sdk_gateway: Gateway) -> None:
    """The SDK's `videos.create` sends only files; the JSON forms go through `client.post`."""
    client = sdk_client(sdk_gateway).sdk
    for reference in (
        {"image_url": "https://images.example/kite.png"},
        {"file_id": "file-abc123"},
    ):
        video = client.post(
            "/videos",
            body={"prompt": "animate this", "input_reference": reference},
            cast_to=openai.types.Video,
        )
        assert video.status == "queued"
