"""The reverse proxy end to end: real gateway, real mock model API, real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass
from importlib import resources

import httpx

from gateway.mockmodel.app import create_mock_app
from tests.conftest import MOCK_JOB_SECONDS, Gateway, GatewayFactory
from tests.support.servers import AppServer, RawPeer, free_port, read_request_head

VIDEO = {"model": "sora-2", "prompt": "A paper boat on a rainy street", "seconds": "4"}


def _bundled_video() -> bytes:
    return resources.files("gateway.mockmodel").joinpath("media/video.mp4").read_bytes()


@dataclass(frozen=True)
class Forwarded:
    """A request as the model API received it."""

    headers: dict[str, str]
    body_size: int
    body_sha256: str | None


def _upstream_requests(mock_model: AppServer) -> list[Forwarded]:
    seen = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return [
        Forwarded({k.lower(): v for k, v in r["headers"]}, r["body_size"], r["body_sha256"])
        for r in seen
    ]


def _last_upstream_request(mock_model: AppServer) -> Forwarded:
    return _upstream_requests(mock_model)[-1]


def test_job_lifecycle_through_the_gateway(gateway: Gateway) -> None:
    """A video is created, polled to completion and downloaded byte for byte via the gateway."""
    with gateway.client() as client:
        created = client.post("/v1/videos", json=VIDEO)
        assert created.status_code == 200
        video = created.json()
        assert video["status"] == "queued"
        deadline = time.monotonic() + MOCK_JOB_SECONDS + 5
        statuses = set()
        while video["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
            video = client.get(f"/v1/videos/{video['id']}").json()
            statuses.add(video["status"])
        assert video["status"] == "completed"
        assert "in_progress" in statuses
        with client.stream("GET", f"/v1/videos/{video['id']}/content") as download:
            assert download.status_code == 200
            assert download.headers["content-type"] == "video/mp4"
            body = b"".join(download.iter_bytes())
        assert body == _bundled_video()
        listed = client.get("/v1/videos").json()
        assert [v["id"] for v in listed["data"]] == [video["id"]]
        assert client.delete(f"/v1/videos/{video['id']}").json()["deleted"] is True
        gone = client.get(f"/v1/videos/{video['id']}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "not_found"


def test_large_download_arrives_byte_for_byte(start_gateway: GatewayFactory) -> None:
    """A padded 8 MiB video arrives intact through the gateway."""
    size = 8 * 1024 * 1024
    with AppServer(create_mock_app(job_seconds=0, content_size=size)) as upstream:
        gateway = start_gateway(upstream.url)
        with gateway.client() as client:
            video_id = client.post("/v1/videos", json=VIDEO).json()["id"]
            direct = httpx.get(f"{upstream.url}/v1/videos/{video_id}/content").content
            digest = hashlib.sha256()
            received = 0
            with client.stream("GET", f"/v1/videos/{video_id}/content") as download:
                assert download.headers["content-length"] == str(size)
                for chunk in download.iter_raw():
                    digest.update(chunk)
                    received += len(chunk)
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(direct).hexdigest()


def test_a_download_streams_before_the_model_api_has_sent_it_all(
    start_gateway: GatewayFactory,
) -> None:
    """The first bytes of a video reach the caller while the model API still holds back
    the rest: the gateway passes a download on as it comes, it does not gather it first."""
    first, rest = b"a" * 64 * 1024, b"b" * 192 * 1024
    caller_has_the_first_part = threading.Event()
    held_back: list[bool] = []  # whether the caller had the first part before the rest left

    async def model(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await read_request_head(reader)).split(b"\r\n", 1)[0]
        if request_line.startswith(b"POST "):
            body = b'{"id": "video_streamed", "object": "video", "status": "completed"}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(first) + len(rest), first)
        )
        await writer.drain()
        held_back.append(await asyncio.to_thread(caller_has_the_first_part.wait, 3.0))
        writer.write(rest)
        await writer.drain()

    with RawPeer(model) as peer:
        gateway = start_gateway(peer.url)
        with gateway.client() as client:
            assert client.post("/v1/videos", json=VIDEO).json()["id"] == "video_streamed"
            received = bytearray()
            with client.stream("GET", "/v1/videos/video_streamed/content", timeout=10) as download:
                assert download.status_code == 200
                for chunk in download.iter_raw():
                    received += chunk
                    if len(received) >= len(first):
                        caller_has_the_first_part.set()
    assert held_back == [True], "the caller got nothing until the model API had sent it all"
    assert bytes(received) == first + rest


def test_multipart_with_reference_passes_through_unchanged(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """A multipart body with an input_reference file reaches the model API byte for byte."""
    image = bytes(range(256)) * 64
    with gateway.client() as client:
        request = client.build_request(
            "POST",
            "/v1/videos",
            data={"model": "sora-2", "prompt": "Animate this", "seconds": "8"},
            files={"input_reference": ("ref.png", image, "image/png")},
        )
        sent = request.read()
        response = client.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["seconds"] == "8"
    seen = _last_upstream_request(mock_model)
    assert seen.body_size == len(sent)
    assert seen.body_sha256 == hashlib.sha256(sent).hexdigest()


def test_upstream_down_is_502(start_gateway: GatewayFactory) -> None:
    """Nothing listening upstream gives 502 in the OpenAI error envelope with the request id."""
    gateway = start_gateway(f"http://127.0.0.1:{free_port()}")
    response = gateway.client().post("/v1/videos", json=VIDEO)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


def test_upstream_hanging_is_504_on_time(start_gateway: GatewayFactory) -> None:
    """An upstream that accepts but never answers gives 504 after the configured timeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the connection open, never answer

    with RawPeer(silent) as peer:
        gateway = start_gateway(peer.url, upstream_timeout=0.5)
        started = time.monotonic()
        response = gateway.client().post("/v1/videos", json=VIDEO, timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert 0.45 <= elapsed < 3


def test_upstream_garbage_is_502(start_gateway: GatewayFactory) -> None:
    """An upstream that answers something other than HTTP gives 502, not a stack trace."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        writer.close()

    with RawPeer(garbage) as peer:
        gateway = start_gateway(peer.url)
        response = gateway.client().post("/v1/videos", json=VIDEO)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_upstream_error_answer_passes_through(gateway: Gateway) -> None:
    """A 4xx from the model API reaches the caller as it is, not rewritten."""
    response = gateway.client().post("/v1/videos", json={**VIDEO, "seconds": "5"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "seconds"


def test_oversized_generation_body_is_413(
    start_gateway: GatewayFactory, mock_model: AppServer
) -> None:
    """A generation body over --max-body is refused with 413 and never forwarded."""
    gateway = start_gateway(mock_model.url, max_body=1024)
    httpx.delete(f"{mock_model.url}/_mock/requests")
    response = gateway.client().post("/v1/videos", json={**VIDEO, "prompt": "x" * 4096})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert _upstream_requests(mock_model) == []


def test_oversized_chunked_body_is_413(
    start_gateway: GatewayFactory, mock_model: AppServer
) -> None:
    """A chunked body with no Content-Length is counted and refused once it passes the limit."""
    gateway = start_gateway(mock_model.url, max_body=1024)

    def chunks() -> object:
        for _ in range(8):
            yield b'{"pad": "' + b"x" * 500 + b'"}'

    httpx.delete(f"{mock_model.url}/_mock/requests")
    response = gateway.client().post(
        "/v1/videos",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert _upstream_requests(mock_model) == []


def test_unsupported_generation_body_is_415(gateway: Gateway) -> None:
    """A generation request that is neither JSON nor multipart is refused with 415."""
    response = gateway.client().post(
        "/v1/videos", content=b"prompt=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_hop_by_hop_and_caller_credentials_are_not_forwarded(
    start_gateway: GatewayFactory, mock_model: AppServer
) -> None:
    """Hop-by-hop headers, the caller's token and forged identity headers stay behind."""
    gateway = start_gateway(mock_model.url, upstream_key="sk-upstream-test")
    client = gateway.client()
    caller_token = client.headers["authorization"].removeprefix("Bearer ")
    response = client.post(
        "/v1/videos",
        json=VIDEO,
        headers={
            "Connection": "keep-alive, X-Hop-Secret",
            "X-Hop-Secret": "for-this-hop-only",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "TE": "trailers",
            "X-PhaseGate-Principal": "someone-else",
            "X-PhaseGate-Tier": "public",
            "X-Custom-End-To-End": "kept",
        },
    )
    assert response.status_code == 200
    headers = _last_upstream_request(mock_model).headers
    for dropped in ("x-hop-secret", "keep-alive", "proxy-authorization", "te"):
        assert dropped not in headers
    assert headers["x-custom-end-to-end"] == "kept"
    assert headers["authorization"] == "Bearer sk-upstream-test"
    assert headers["x-phasegate-principal"] == "alice"
    assert headers["x-phasegate-tier"] == "invited_artists"
    assert not any(caller_token in value for value in headers.values())


def test_caller_authorization_dropped_without_upstream_key(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """With no upstream credential configured, no Authorization header reaches the model API."""
    gateway.client().post("/v1/videos", json=VIDEO)
    assert "authorization" not in _last_upstream_request(mock_model).headers


def test_hop_by_hop_response_headers_are_stripped(start_gateway: GatewayFactory) -> None:
    """Hop-by-hop headers the model API answers with never reach the caller."""

    async def hop_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            b"Connection: X-Upstream-Hop\r\nX-Upstream-Hop: secret\r\nKeep-Alive: timeout=9\r\n"
            b"Proxy-Authenticate: Basic\r\nX-End-To-End: kept\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    with RawPeer(hop_headers) as peer:
        gateway = start_gateway(peer.url)
        response = gateway.client().post("/v1/videos", json=VIDEO)
    assert response.status_code == 200
    assert response.headers["x-end-to-end"] == "kept"
    for dropped in ("x-upstream-hop", "proxy-authenticate", "keep-alive"):
        assert dropped not in response.headers


def test_request_id_generated_returned_and_forwarded(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """Without a caller id the gateway mints one, returns it and sends it upstream."""
    client = gateway.client()
    response = client.post("/v1/videos", json=VIDEO)
    minted = response.headers["x-request-id"]
    assert minted.startswith("req_")
    headers = _last_upstream_request(mock_model).headers
    assert headers["x-request-id"] == minted
    assert client.post("/v1/videos", json=VIDEO).headers["x-request-id"] != minted


def test_well_formed_request_id_passes_through(gateway: Gateway, mock_model: AppServer) -> None:
    """A caller's well-formed X-Request-ID is kept end to end."""
    response = gateway.client().post(
        "/v1/videos", json=VIDEO, headers={"X-Request-ID": "trace-42.a_b"}
    )
    assert response.headers["x-request-id"] == "trace-42.a_b"
    headers = _last_upstream_request(mock_model).headers
    assert headers["x-request-id"] == "trace-42.a_b"


def test_malformed_request_id_is_replaced(gateway: Gateway) -> None:
    """An over-long or oddly-charactered X-Request-ID is replaced, not echoed."""
    for hostile in ("x" * 129, "has space", "semi;colon", ""):
        response = gateway.client().get("/healthz", headers={"X-Request-ID": hostile})
        assert response.headers["x-request-id"] != hostile
        assert response.headers["x-request-id"].startswith("req_")


def test_error_responses_carry_the_request_id(start_gateway: GatewayFactory) -> None:
    """Gateway-made refusals carry the same request id in the header and the envelope."""
    gateway = start_gateway(f"http://127.0.0.1:{free_port()}")
    response = gateway.client().post("/v1/videos", json=VIDEO, headers={"X-Request-ID": "mine-1"})
    assert response.headers["x-request-id"] == "mine-1"
    assert response.json()["error"]["request_id"] == "mine-1"


def test_health_and_readiness(gateway: Gateway, start_gateway: GatewayFactory) -> None:
    """healthz answers always; readyz is ready only while the model API is reachable."""
    assert gateway.client().get("/healthz").json() == {"status": "ok"}
    assert gateway.client().get("/readyz").status_code == 200
    orphan = start_gateway(f"http://127.0.0.1:{free_port()}")
    assert orphan.client().get("/healthz").status_code == 200
    unready = orphan.client().get("/readyz")
    assert unready.status_code == 503
    assert unready.json()["checks"]["upstream"] == "unreachable"


def test_abandoned_download_stops_reading_upstream(start_gateway: GatewayFactory) -> None:
    """When the caller goes away mid-download, the gateway stops reading the model API."""
    upstream_closed = threading.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while True:
                writer.write(b"400\r\n" + b"v" * 1024 + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.005)
        except (ConnectionError, OSError):
            upstream_closed.set()

    with RawPeer(endless) as peer:
        gateway = start_gateway(peer.url)
        with gateway.client() as client, client.stream("GET", "/v1/models/big") as download:
            assert download.status_code == 200
            received = 0
            for chunk in download.iter_raw():
                received += len(chunk)
                if received > 16 * 1024:
                    break
        assert upstream_closed.wait(timeout=3), "the gateway kept reading after the caller left"


def test_a_streamed_body_gains_no_content_type(gateway: Gateway, mock_model: AppServer) -> None:
    """A body the caller sent without a Content-Type reaches the model API without one:
    the HTTP client forwarding it adds none of its own."""
    client = gateway.client()
    video = client.post("/v1/videos", json=VIDEO).json()["id"]
    response = client.request("DELETE", f"/v1/videos/{video}", content=b"{}")
    assert response.status_code == 200
    forwarded = _last_upstream_request(mock_model)
    assert forwarded.headers["content-length"] == "2"
    assert "content-type" not in forwarded.headers
