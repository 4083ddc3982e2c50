"""Bytes on a raw socket and what came back: for requests no HTTP client would send."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Outcome:
    answer: bytes
    # How the connection ended: by the server (an end of stream, or a reset that may have
    # destroyed part of the answer), or not by the deadline.
    ending: Literal["closed", "reset", "open"]
    # From the connection's start to its end, or to the deadline.
    seconds: float

    @property
    def status(self) -> int | None:
        """The answer's status; None if no answer came."""
        if not self.answer.startswith(b"HTTP/1.1 "):
            return None
        return int(self.answer[9:12])

    @property
    def headers(self) -> dict[str, str]:
        head = self.answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
        return {name.lower(): value for name, _, value in (line.partition(": ") for line in head)}

    def json(self) -> Any:
        return json.loads(self.answer.partition(b"\r\n\r\n")[2])


def exchange(
    port: int, pieces: Sequence[bytes], *, pause: float = 0.0, deadline: float = 10.0
) -> Outcome:
    """Send `pieces` with `pause` seconds between them, stopping early once the server
    answers or closes, then read until the server closes or `deadline` seconds passed."""
    started = time.monotonic()
    received = bytearray()
    ending: Literal["closed", "reset", "open"] = "open"
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        try:
            for index, piece in enumerate(pieces):
                if index and select.select([sock], [], [], pause)[0]:
                    break  # answered (or closed) already
                sock.sendall(piece)
        except ConnectionResetError:
            ending = "reset"
        except OSError:
            pass  # the server stopped reading: what it answered is still to be read
        while ending == "open" and (left := started + deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                ending = "reset"
                break
            if not chunk:
                ending = "closed"
                break
            received += chunk
    return Outcome(bytes(received), ending, time.monotonic() - started)
