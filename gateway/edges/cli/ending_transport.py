"""A connection's transport as uvicorn's protocol sees it, with its ending left to the
gateway's protocol (http_connection.py), and what the kernel still holds unread."""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from collections.abc import Callable, Iterable
from typing import Any


def has_unread_bytes(transport: asyncio.Transport) -> bool:
    """Whether bytes wait in the kernel that the event loop has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        count = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return False
    unread: int = struct.unpack("i", count)[0]
    return unread > 0


class EndedByProtocol(asyncio.Transport):
    """The connection's transport as uvicorn sees it, but `close()` leaves to the protocol
    how the connection ends."""

    def __init__(self, inner: asyncio.Transport, end: Callable[[], None]) -> None:
        super().__init__()
        self._inner = inner
        self._end = end
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._end()

    def is_closing(self) -> bool:
        return self._closed or self._inner.is_closing()

    def abort(self) -> None:
        self._closed = True
        self._inner.abort()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closed:
            self._inner.write(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        if not self._closed:
            self._inner.writelines(list_of_data)

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def write_eof(self) -> None:
        self._inner.write_eof()

    def pause_reading(self) -> None:
        # Once closed, reading is the lingering close's to manage.
        if not self._closed:
            self._inner.pause_reading()

    def resume_reading(self) -> None:
        if not self._closed:
            self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)
