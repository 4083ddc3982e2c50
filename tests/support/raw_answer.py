"""One request sent by hand over a socket and its one answer read back, with whether the
server closed the connection after it (tests/support/raw_http.py reads to the end)."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    # The server closed the connection after its answer (rather than keeping it open).
    closed: bool
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(port: int, request: bytes, *, wait: float = 10.0) -> RawAnswer:
    """Sends `request` as it is, then reads one answer (and whether the connection closed
    after it), giving up after `wait` seconds of silence."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.settimeout(wait)
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                raise AssertionError(f"the connection closed without an answer: {received!r}")
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
        seconds = time.monotonic() - started
        # A server that closes does so at once; one that keeps the connection stays silent.
        connection.settimeout(1.0)
        try:
            closed = connection.recv(1) == b""
        except TimeoutError:
            closed = False
    return RawAnswer(int(status_line.split()[1]), headers, body, closed, seconds)


def request_head(method: str, target: str, *headers: str) -> bytes:
    """A request line and headers, ending with the blank line that ends the head."""
    lines = [f"{method} {target} HTTP/1.1", "Host: phasegate.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
