"""The listening socket at the stop: new connection attempts dropped, queued ones kept.

Real kernel sockets on loopback: the behaviour under test is the kernel's, as the filter
set on the socket makes it.
"""

from __future__ import annotations

import errno
import select
import socket
import sys

import pytest

from gateway.edges.cli.listener import refuse_new_connections

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a Linux socket filter")


def test_queued_connections_are_kept_and_new_ones_end_refused() -> None:
    """A connection queued before the filter is accepted and served; one attempted after
    it does not complete while the socket is open, and is refused once it closes (a
    client may retry that elsewhere) rather than reset after sending."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        address = listener.getsockname()
        queued = socket.create_connection(address)
        assert refuse_new_connections(listener)
        late = socket.socket()
        late.setblocking(False)
        assert late.connect_ex(address) == errno.EINPROGRESS
        # Still unconnected: its SYN was dropped, so nothing is queued for it.
        assert select.select([], [late], [], 0.5)[1] == []

        accepted, _ = listener.accept()
        with queued, accepted:
            queued.sendall(b"ping")
            assert accepted.recv(4) == b"ping"
            accepted.sendall(b"pong")
            assert queued.recv(4) == b"pong"
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()

    with late:
        # The SYN is sent again after a second, finds the port closed, and is refused.
        assert select.select([], [late], [], 5)[1] == [late]
        assert late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
