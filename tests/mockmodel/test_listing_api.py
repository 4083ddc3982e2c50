from __future__ import annotations

import httpx
import pytest

from tests.mockmodel.support import FakeClock, assert_error, create_video


async def walk(client: httpx.AsyncClient, order: str) -> tuple[list[str], list[bool]]:
    """Page through the whole list two at a time, returning ids and has_more flags."""
    ids: list[str] = []
    flags: list[bool] = []
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "order": order}
        if after is not None:
            params["after"] = after
        response = await client.get("/v1/videos", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["object"] == "list"
        page_ids = [video["id"] for video in page["data"]]
        assert page["first_id"] == page_ids[0]
        assert page["last_id"] == page_ids[-1]
        ids += page_ids
        flags.append(page["has_more"])
        if not page["has_more"]:
            return ids, flags
        after = page["last_id"]


@pytest.fixture
async def five(client: httpx.AsyncClient, clock: FakeClock) -> list[str]:
    ids = []
    for index in range(5):
        ids.append(await create_video(client, f"clip {index}"))
        clock.advance(1)
    return ids


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_cursor_pagination_walks_every_video_once(
    client: httpx.AsyncClient, five: list[str], order: str
) -> None:
    """Paging with limit=2 and after yields all videos in creation order, has_more until the end."""
    ids, flags = await walk(client, order)
    assert ids == (five[::-1] if order == "desc" else five)
    assert flags == [True, True, False]


async def test_default_listing_is_newest_first(client: httpx.AsyncClient, five: list[str]) -> None:
    """Without parameters the list holds every video, newest first, and no more pages."""
    page = (await client.get("/v1/videos")).json()
    assert [video["id"] for video in page["data"]] == five[::-1]
    assert page["has_more"] is False
    assert all(video["object"] == "video" for video in page["data"])


async def test_exact_final_page_has_no_more(client: httpx.AsyncClient, five: list[str]) -> None:
    """A page that ends exactly on the last video reports has_more false."""
    response = await client.get("/v1/videos", params={"limit": 5})
    assert response.json()["has_more"] is False
    response = await client.get("/v1/videos", params={"limit": 4})
    assert response.json()["has_more"] is True


async def test_empty_list(client: httpx.AsyncClient) -> None:
    """With no videos the list is empty and the cursors are null."""
    page = (await client.get("/v1/videos")).json()
    assert page == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "two"}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "video_gone"}, "after"),
    ],
)
async def test_bad_list_parameters(
    client: httpx.AsyncClient, five: list[str], params: dict[str, str], param: str
) -> None:
    """Bad limit or order values and unknown cursors are 400s naming the parameter."""
    response = await client.get("/v1/videos", params=params)
    assert_error(response, 400, param=param, code="invalid_value")


async def test_limit_zero_is_an_empty_page_that_says_whether_more_exist(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    """The spec's smallest page: no items, `has_more` telling whether any exist."""
    page = (await client.get("/v1/videos", params={"limit": "0"})).json()
    assert (page["data"], page["first_id"], page["last_id"]) == ([], None, None)
    assert page["has_more"] is True


async def test_delete_removes_the_video(client: httpx.AsyncClient, five: list[str]) -> None:
    """Deleting returns the deleted marker, after which the video is 404 and unlisted."""
    victim = five[2]
    response = await client.delete(f"/v1/videos/{victim}")
    assert response.status_code == 200
    assert response.json() == {"id": victim, "object": "video.deleted", "deleted": True}
    response = await client.get(f"/v1/videos/{victim}")
    assert_error(response, 404, param=None, code="video_not_found")
    response = await client.delete(f"/v1/videos/{victim}")
    assert_error(response, 404, param=None, code="video_not_found")
    listed = [video["id"] for video in (await client.get("/v1/videos")).json()["data"]]
    assert victim not in listed
    assert len(listed) == 4
