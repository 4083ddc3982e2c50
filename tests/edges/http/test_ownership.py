"""Callers keep out of each other's jobs: someone else's job is indistinguishable from none."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import MOCK_JOB_SECONDS, Gateway, GatewayFactory
from tests.support.servers import AppServer

VIDEO = {"model": "sora-2", "prompt": "A kite over dunes", "seconds": "4"}


def _create(client: httpx.Client) -> str:
    response = client.post("/v1/videos", json=VIDEO)
    assert response.status_code == 200, response.text
    video_id: str = response.json()["id"]
    return video_id


def _clear(mock_model: AppServer) -> None:
    httpx.delete(f"{mock_model.url}/_mock/requests").raise_for_status()


def _received(mock_model: AppServer) -> list[tuple[str, str]]:
    """(method, path) of each request the mock model API received since the last clear."""
    seen = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return [(entry["method"], entry["path"]) for entry in seen]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _completed(client: httpx.Client, video_id: str) -> None:
    deadline = time.monotonic() + MOCK_JOB_SECONDS + 5
    while client.get(f"/v1/videos/{video_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/videos/{id}"),
        ("GET", "/v1/videos/{id}/content"),
        ("GET", "/v1/videos/{id}/content?variant=thumbnail"),
        ("DELETE", "/v1/videos/{id}"),
        ("POST", "/v1/videos/{id}/remix"),
    ],
)
def test_other_principals_get_404_exactly_as_for_a_missing_job(
    gateway: Gateway, mock_model: AppServer, method: str, path: str
) -> None:
    """Every job route answers another principal exactly as it answers an unknown id, and
    sends nothing to the model API."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    video_id = _create(alice)
    _completed(alice, video_id)
    _clear(mock_model)
    body = {"prompt": "again"} if method == "POST" else None
    foreign = bob.request(method, path.format(id=video_id), json=body)
    assert _received(mock_model) == [], f"bob's {method} of alice's job reached the model API"
    missing = bob.request(method, path.format(id="video_doesnotexist"), json=body)
    assert foreign.status_code == missing.status_code == 404
    foreign_error, missing_error = foreign.json()["error"], missing.json()["error"]
    assert foreign_error["code"] == missing_error["code"] == "not_found"
    assert foreign_error["type"] == missing_error["type"]
    assert foreign_error["param"] == missing_error["param"]
    assert foreign_error["message"].replace(video_id, "ID") == missing_error["message"].replace(
        "video_doesnotexist", "ID"
    )
    # The owner still has it: nothing was deleted or remixed on bob's behalf.
    assert alice.get(f"/v1/videos/{video_id}").status_code == 200


def test_owner_reaches_every_job_route(gateway: Gateway) -> None:
    """The creator reads, downloads, remixes and deletes its own job."""
    alice = gateway.client("alice")
    video_id = _create(alice)
    _completed(alice, video_id)
    assert alice.get(f"/v1/videos/{video_id}/content").headers["content-type"] == "video/mp4"
    remix = alice.post(f"/v1/videos/{video_id}/remix", json={"prompt": "at night"})
    assert remix.status_code == 200
    remix_id = remix.json()["id"]
    assert alice.get(f"/v1/videos/{remix_id}").status_code == 200
    assert alice.delete(f"/v1/videos/{video_id}").status_code == 200
    assert alice.get(f"/v1/videos/{video_id}").status_code == 404


def test_remix_belongs_to_whoever_remixed(gateway: Gateway) -> None:
    """A remix is owned by its creator, and the source's owner cannot see it unless theirs."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    video_id = _create(alice)
    _completed(alice, video_id)
    remix_id = alice.post(f"/v1/videos/{video_id}/remix", json={"prompt": "x"}).json()["id"]
    assert bob.get(f"/v1/videos/{remix_id}").status_code == 404
    assert [v["id"] for v in alice.get("/v1/videos", params={"order": "asc"}).json()["data"]] == [
        video_id,
        remix_id,
    ]


def test_listing_shows_only_the_callers_jobs_and_paginates(gateway: Gateway) -> None:
    """GET /v1/videos pages through the caller's jobs alone, in both orders."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    mine = []
    for index in range(5):
        mine.append(_create(alice))
        if index % 2 == 0:
            _create(bob)
    pages, after = [], None
    while True:
        params = {"limit": "2", "order": "asc", **({"after": after} if after else {})}
        page = alice.get("/v1/videos", params=params).json()
        pages.append([video["id"] for video in page["data"]])
        assert page["first_id"] == pages[-1][0]
        assert page["last_id"] == pages[-1][-1]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert pages == [mine[0:2], mine[2:4], mine[4:5]]
    newest_first = alice.get("/v1/videos", params={"limit": "3"}).json()
    assert [v["id"] for v in newest_first["data"]] == mine[::-1][:3]
    assert newest_first["has_more"] is True
    assert len(bob.get("/v1/videos").json()["data"]) == 3


def test_listing_refuses_another_principals_cursor(gateway: Gateway) -> None:
    """Paging after someone else's job id reads as an unknown id."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    bob_video = _create(bob)
    _create(alice)
    response = alice.get("/v1/videos", params={"after": bob_video})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=-1", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("limit=%D9%A3", "limit"),
        ("limit=", "limit"),
        ("limit=2&limit=3", "limit"),
        ("order=sideways", "order"),
        ("order=", "order"),
        ("order=ASC", "order"),
        ("order=asc&order=desc", "order"),
        ("after=", "after"),
    ],
)
def test_listing_validates_its_query(gateway: Gateway, query: str, param: str) -> None:
    """Bad, empty or repeated list parameters get 400 naming the parameter."""
    response = gateway.client("alice").get(f"/v1/videos?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", param)


def test_limit_zero_is_an_empty_page_that_says_whether_jobs_exist(gateway: Gateway) -> None:
    """The spec's smallest page: no items, and `has_more` true once the caller has jobs."""
    alice = gateway.client("alice")
    empty = alice.get("/v1/videos", params={"limit": "0"}).json()
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    _create(alice)
    page = alice.get("/v1/videos", params={"limit": "0"}).json()
    assert (page["data"], page["has_more"]) == ([], True)
    assert len(alice.get("/v1/videos", params={"limit": "100"}).json()["data"]) == 1


def test_deleted_jobs_leave_the_listing(gateway: Gateway) -> None:
    """A job deleted through the gateway no longer appears in its owner's list."""
    alice = gateway.client("alice")
    kept, deleted = _create(alice), _create(alice)
    assert alice.delete(f"/v1/videos/{deleted}").status_code == 200
    assert [v["id"] for v in alice.get("/v1/videos").json()["data"]] == [kept]


def test_ownership_survives_a_restart(mock_model: AppServer, start_gateway: GatewayFactory) -> None:
    """Ownership lives in the state file: once the gateway is stopped and a new one started
    on the same data folder, bob still gets 404 for alice's job and alice still reads it,
    both with the tokens they held before."""
    first = start_gateway(mock_model.url)
    alice_token = first.token(first.grant("alice"))
    bob_token = first.token(first.grant("bob"))
    with httpx.Client(base_url=first.url, headers=_bearer(alice_token)) as alice:
        video_id = _create(alice)
    first.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{first.url}/healthz")

    second = start_gateway(mock_model.url)
    assert second.state_file == first.state_file
    assert second.url != first.url
    _clear(mock_model)
    url = f"{second.url}/v1/videos/{video_id}"
    refused = httpx.get(url, headers=_bearer(bob_token))
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert httpx.delete(url, headers=_bearer(bob_token)).status_code == 404
    assert _received(mock_model) == []
    read = httpx.get(url, headers=_bearer(alice_token))
    assert read.status_code == 200, read.text
    assert read.json()["id"] == video_id
