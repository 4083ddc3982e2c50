"""How `phasegate serve` ends its connections when it stops: between requests, never
within one, and never with a reset.

Raw sockets against a real gateway process stopped with a real SIGTERM, so that every
byte of what a client sees (the `Connection` header, the end of the stream) is checked.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from tests.support.processes import POLICIES, exit_status, serving, wait_ready
from tests.support.servers import free_port

DRAIN_DELAY = 1.0
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"


def _answer(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """Status and headers of one answer read off the connection (its body too)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, "the connection ended without an answer"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = (line.partition(": ") for line in lines[1:])
    headers = {name.lower(): value for name, _, value in fields}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split(" ")[1]), headers


def _ends_cleanly(sock: socket.socket) -> bool:
    """Whether the gateway ended the connection with an end of stream, not a reset."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return False


def _until_refused(port: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the port still takes connections"
        time.sleep(0.1)


def test_sigterm_ends_keep_alive_connections_between_requests(tmp_path: Path) -> None:
    """During the drain a request on a kept-alive connection is answered with
    `Connection: close`; a head half sent when the stop began is answered once complete,
    after the listening socket has closed; an idle connection is closed without a reset;
    exit 0."""
    port = free_port()
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    gateway = serving(
        port, f"http://127.0.0.1:{free_port()}", settings, "--drain-delay", f"{DRAIN_DELAY}s"
    )
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/healthz").status_code == 200
        busy, idle, halfway = (socket.create_connection(("127.0.0.1", port)) for _ in range(3))
        with busy, idle, halfway:
            for sock in (busy, idle, halfway):
                sock.settimeout(15)
            for sock in (busy, idle):
                sock.sendall(HEALTHZ)
                status, headers = _answer(sock)
                assert (status, headers.get("connection")) == (200, None)
            halfway.sendall(HEALTHZ[:20])

            gateway.send_signal(signal.SIGTERM)
            time.sleep(DRAIN_DELAY / 2)
            busy.sendall(HEALTHZ)
            status, headers = _answer(busy)
            assert (status, headers.get("connection")) == (200, "close")
            assert _ends_cleanly(busy)

            _until_refused(port)  # the drain is over and the listening socket closed
            halfway.sendall(HEALTHZ[20:])
            status, headers = _answer(halfway)
            assert (status, headers["connection"]) == (200, "close")
            assert _ends_cleanly(halfway)
            assert _ends_cleanly(idle)
        assert exit_status(gateway) == 0
    finally:
        if gateway.poll() is None:
            gateway.kill()
            exit_status(gateway)
