from __future__ import annotations

import hashlib

import httpx

from gateway.mockmodel.recorder import DEFAULT_CAPACITY
from tests.mockmodel.support import create_video


async def recorded(client: httpx.AsyncClient) -> list[dict[str, object]]:
    response = await client.get("/_mock/requests")
    assert response.status_code == 200
    data: list[dict[str, object]] = response.json()["data"]
    return data


async def test_requests_are_recorded_with_headers_in_order(client: httpx.AsyncClient) -> None:
    """Each request is logged with method, raw path and query, and headers as received."""
    await client.get(
        "/v1/videos?limit=3&order=asc",
        headers=[("x-first", "1"), ("X-Second", "two"), ("x-first", "again")],
    )
    (entry,) = await recorded(client)
    assert entry["method"] == "GET"
    assert entry["path"] == "/v1/videos?limit=3&order=asc"
    headers = entry["headers"]
    assert isinstance(headers, list)
    custom = [pair for pair in headers if pair[0].startswith("x-")]
    assert custom == [["x-first", "1"], ["x-second", "two"], ["x-first", "again"]]
    assert (entry["body_size"], entry["body_sha256"]) == (0, None)


async def test_request_bodies_are_sized_and_hashed(client: httpx.AsyncClient) -> None:
    """Bodies the handler consumed are recorded by size and sha256, JSON and multipart alike."""
    json_body = b'{"prompt": "a cat", "seconds": "8"}'
    multipart_body = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\n'
        b"a dog\r\n"
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="input_reference"; filename="r.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + bytes(5000) + b"\r\n"
        b"--b0undary--\r\n"
    )
    for body, content_type in (
        (json_body, "application/json"),
        (multipart_body, "multipart/form-data; boundary=b0undary"),
    ):
        response = await client.post(
            "/v1/videos", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 200, response.text
    entries = await recorded(client)
    assert [(entry["body_size"], entry["body_sha256"]) for entry in entries] == [
        (len(json_body), hashlib.sha256(json_body).hexdigest()),
        (len(multipart_body), hashlib.sha256(multipart_body).hexdigest()),
    ]


async def test_log_is_bounded_and_skips_inspection_calls(client: httpx.AsyncClient) -> None:
    """Only the most recent requests are kept, oldest first, and /_mock calls are not logged."""
    for index in range(DEFAULT_CAPACITY + 5):
        await client.get(f"/v1/videos/video_{index}")
    entries = await recorded(client)
    entries_again = await recorded(client)
    assert entries == entries_again
    assert len(entries) == DEFAULT_CAPACITY
    assert entries[0]["path"] == "/v1/videos/video_5"
    assert entries[-1]["path"] == f"/v1/videos/video_{DEFAULT_CAPACITY + 4}"


async def test_delete_clears_the_log(client: httpx.AsyncClient) -> None:
    """DELETE /_mock/requests empties the log and reports how many entries it dropped."""
    await create_video(client)
    await client.get("/v1/videos")
    response = await client.delete("/_mock/requests")
    assert response.status_code == 200
    assert response.json() == {"cleared": 2}
    assert await recorded(client) == []
