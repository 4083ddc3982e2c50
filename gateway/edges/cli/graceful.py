"""Stopping without losing a request: drain first, then uvicorn's graceful shutdown.

A load balancer (or Kubernetes endpoints) learns that a replica is going away from its
readiness probe, not from the signal. So on SIGTERM the server only starts draining:
`/readyz` answers 503 at once, while connections are still taken for `drain_delay`
seconds, long enough for the balancer's next probe to take the replica out. Then
uvicorn stops accepting, lets in-flight requests (downloads included) finish within
`shutdown_timeout`, cancels what is left and runs the app's shutdown (which seals the
audit segment).

SIGINT (Ctrl-C at a terminal) skips the delay: nobody balances load onto a terminal.
A second signal of either kind ends the drain at once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

import uvicorn


class DrainingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, *, start_draining: Callable[[], None], drain_delay: float
    ) -> None:
        super().__init__(config)
        self._start_draining = start_draining
        self._drain_delay = drain_delay
        self._drain_until: float | None = None

    @property
    def draining(self) -> bool:
        return self._drain_until is not None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._start_draining()
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
