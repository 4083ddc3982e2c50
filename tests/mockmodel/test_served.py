from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette

from gateway.mockmodel.app import create_mock_app
from gateway.mockmodel.media import iter_boxes


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run the app under uvicorn (uvloop + httptools, as benchmarks do) on a loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", lifespan="off", access_log=False, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the mock server failed to start"
            assert time.monotonic() < deadline, "the mock server did not start in time"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def test_padded_video_streams_over_a_real_server() -> None:
    """Under uvicorn the shared memoryview chunks arrive intact and exactly content_size long."""
    size = 2 * 1024 * 1024 + 3
    with serve(create_mock_app(job_seconds=0, content_size=size)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            created = await client.post("/v1/videos", json={"prompt": "a cat"})
            video_id = created.json()["id"]
            received = bytearray()
            async with client.stream("GET", f"/v1/videos/{video_id}/content") as response:
                assert response.status_code == 200
                assert response.headers["content-length"] == str(size)
                async for chunk in response.aiter_raw():
                    received += chunk
    assert len(received) == size
    assert sum(box_size for _, box_size in iter_boxes(bytes(received))) == size
