"""Real servers on loopback ports for end-to-end tests: uvicorn apps and raw TCP peers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from gateway.edges.cli.serve import uvicorn_config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class AppServer:
    """An ASGI app served in a thread as `phasegate serve` serves it: uvicorn on uvloop, with
    the gateway's connection protocol over httptools."""

    def __init__(self, app: Any, *, header_timeout: float = 10.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, "127.0.0.1", self.port, header_timeout=header_timeout)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> AppServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the test server failed to start")
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut down as uvicorn does on a signal (lifespan shutdown included); idempotent."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise RuntimeError("the test server did not stop within 10 s")


class RawPeer:
    """A TCP peer that answers every connection with a handler of our choosing.

    For upstream behaviour that no well-behaved server produces: silence, garbage,
    hand-written hop-by-hop headers.
    """

    def __init__(
        self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        connections: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._handler(reader, writer)
            finally:
                writer.close()
                connections.discard(task)

        async def serve() -> None:
            self._stop = asyncio.Event()
            server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            self._ready.set()
            async with server:
                await self._stop.wait()
                # Handlers that never answer are still running: end them with the peer.
                for task in list(connections):
                    task.cancel()
                await asyncio.gather(*connections, return_exceptions=True)

        try:
            self._loop.run_until_complete(serve())
        finally:
            self._loop.close()

    def __enter__(self) -> RawPeer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")
