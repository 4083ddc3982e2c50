"""Stopping without losing a request: drain first, then close the listening socket, then
end each connection between requests.

A load balancer (or Kubernetes endpoints) learns that a replica is going away from its
readiness probe, not from the signal. So on SIGTERM the server only starts draining:
`/readyz` answers 503 at once, while connections are still taken for `drain_delay`
seconds, long enough for the balancer's next probe to take the replica out. From the
signal on, every answer carries `Connection: close`, so the keep-alive connections still
in use end cleanly after their next answer, each at a moment the client knows of.

Then the listening socket closes without resetting the connections in its accept queue
(listener.py), uvicorn asks each connection to end between requests (http_connection.py:
an idle one is closed, a request under way is answered first), lets in-flight requests
(downloads included) finish within `shutdown_timeout`, cancels what is left and runs the
app's shutdown (which seals the audit segment).

SIGINT (Ctrl-C at a terminal) skips the delay: nobody balances load onto a terminal.
A second signal of either kind ends the drain at once.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

import uvicorn

from gateway.edges.cli.http_connection import GatewayConfig
from gateway.edges.cli.listener import refuse_new_connections

# Between the end of the drain and the listening socket's closing: time for handshakes
# under way to complete and for the event loop to accept everything queued, and a last
# call for keep-alive connections in use (their next answer says `Connection: close`).
_LAST_CALL_SECONDS: Final = 0.2


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: GatewayConfig,
        *,
        start_draining: Callable[[], None],
        drain_delay: float,
        closes_listener: Callable[[], bool] = lambda: True,
    ) -> None:
        """`closes_listener` says, at the stop, whether the listening socket stops taking
        connections for good (not when one of several workers sharing it stops alone)."""
        super().__init__(config)
        self._rules = config.rules
        self._start_draining = start_draining
        self._drain_delay = drain_delay
        self._drain_until: float | None = None
        self._closes_listener = closes_listener

    @property
    def draining(self) -> bool:
        return self._drain_until is not None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._start_draining()
        self._rules.keep_alive = False
        if sig != signal.SIGTERM or self.should_exit:
            super().handle_exit(sig, frame)
            return
        if self._drain_until is not None:
            # Asked twice: stop waiting for the balancer.
            self.should_exit = True
            return
        self._drain_until = time.monotonic() + self._drain_delay
        # SIGTERM is not recorded for re-raising after shutdown (uvicorn would die by it
        # then): a drained stop is a clean exit, status 0.

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            return True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._closes_listener():
            for server in self.servers:
                for sock in server.sockets:
                    refuse_new_connections(sock)
        await asyncio.sleep(_LAST_CALL_SECONDS)
        await super().shutdown(sockets)
