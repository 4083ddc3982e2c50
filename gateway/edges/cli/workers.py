"""`serve --workers N`: N gateway processes sharing one listening socket.

The parent binds the socket once and starts N workers (spawned, not forked: each
builds its own app, event loop and connections from the settings). The kernel spreads
connections among the workers accepting on the socket. The parent only supervises:

- SIGTERM / SIGINT are passed on to every worker (each drains and shuts down as one
  process would, see graceful.py); the parent closes its copy of the socket, waits for
  them, then exits 0. Workers still running after their drain and shutdown deadlines are
  killed.
- SIGHUP is passed on: every worker reloads its policy.
- A worker that dies is replaced, unless it died while starting (a bad setting or a
  dependency missing at start would kill every replacement the same way): then all
  stop and the parent exits 1.

Workers share nothing in memory, which is why several of them need the limits in
Redis (checked before this module runs). Metrics are the exception made on purpose:
the parent gives the workers one folder for prometheus_client's multiprocess mode, so
a scrape answered by any worker adds up all of them, and clears a dead worker's share.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Final

import structlog
from prometheus_client import multiprocess

from gateway.edges.settings import Settings
from gateway.ports.metrics.registry import MULTIPROCESS_VARIABLE

_log = structlog.get_logger("phasegate.workers")

_POLL_SECONDS: Final = 0.2
# A worker that dies this soon after it started is taken to be failing at start-up.
_STARTUP_GRACE_SECONDS: Final = 10.0
# Beyond a worker's own drain and shutdown deadlines, before the parent kills it.
_KILL_MARGIN_SECONDS: Final = 5.0

# Runs in the worker process; its exit status is the worker's. The event is set before
# the workers are told to stop when the whole gateway stops (rather than one worker, killed
# alone and replaced): only then may a worker stop the shared socket taking connections.
ServeOne = Callable[[Settings, list[socket.socket], Event], None]


@dataclass
class _Worker:
    process: BaseProcess
    started_at: float


def run_workers(settings: Settings, sock: socket.socket, serve_one: ServeOne) -> int:
    """Supervise `settings.workers` processes each running `serve_one` on the bound
    socket; the exit status."""
    given = os.environ.get(MULTIPROCESS_VARIABLE)
    metrics_dir = given or tempfile.mkdtemp(prefix="phasegate-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = metrics_dir  # inherited by the spawned workers
    try:
        return _supervise(settings, sock, serve_one, metrics_dir)
    finally:
        if given is None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(
    settings: Settings, sock: socket.socket, serve_one: ServeOne, metrics_dir: str
) -> int:
    received: list[int] = []

    def on_signal(sig: int, _: FrameType | None) -> None:
        received.append(sig)

    for forwarded in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(forwarded, on_signal)
    supervisor = _Supervisor(settings, sock, serve_one, metrics_dir)
    try:
        while not supervisor.done:
            time.sleep(_POLL_SECONDS)
            while received:
                supervisor.forward(received.pop(0))
            supervisor.check()
    finally:
        supervisor.join()
    return supervisor.status


class _Supervisor:
    def __init__(
        self, settings: Settings, sock: socket.socket, serve_one: ServeOne, metrics_dir: str
    ) -> None:
        self._settings = settings
        self._sock = sock
        self._serve_one = serve_one
        self._metrics_dir = metrics_dir
        self._context = multiprocessing.get_context("spawn")
        self._gateway_stops = self._context.Event()
        self._stop_deadline: float | None = None
        self.done = False
        self.status = 0
        self.workers = [self._start() for _ in range(settings.workers)]
        _log.info(
            "workers_started", workers=len(self.workers), pids=[w.process.pid for w in self.workers]
        )

    def _start(self) -> _Worker:
        process = self._context.Process(
            target=self._serve_one,
            args=(self._settings, [self._sock], self._gateway_stops),
            daemon=False,
        )
        process.start()
        return _Worker(process, time.monotonic())

    def forward(self, sig: int) -> None:
        if sig != signal.SIGHUP:
            self._gateway_stops.set()
        _signal_all(self.workers, sig)
        if sig != signal.SIGHUP:
            delay = self._settings.drain_delay if sig == signal.SIGTERM else 0.0
            self._stopping(delay)

    def _stopping(self, delay: float) -> None:
        # No worker is started from now on: the socket lives on in the workers alone, and
        # closes when the last of them has closed it.
        self._sock.close()
        if self._stop_deadline is None:
            self._stop_deadline = (
                time.monotonic() + delay + self._settings.shutdown_timeout + _KILL_MARGIN_SECONDS
            )

    def check(self) -> None:
        """Done once every worker has stopped (killed past the deadline); until asked to
        stop, replace a worker that died."""
        if self._stop_deadline is not None:
            if all(not w.process.is_alive() for w in self.workers):
                self.done = True
            elif time.monotonic() > self._stop_deadline:
                _kill_all(self.workers)
                self.done = True
            return
        for index, worker in enumerate(self.workers):
            if not worker.process.is_alive():
                self._replace(index, worker)

    def _replace(self, index: int, worker: _Worker) -> None:
        worker.process.join()
        if worker.process.pid is not None:
            # Its counters stay in the totals; its gauges leave with it.
            multiprocess.mark_process_dead(worker.process.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
        if time.monotonic() - worker.started_at < _STARTUP_GRACE_SECONDS:
            _log.error("worker_failed_at_start", exit_code=worker.process.exitcode)
            self.status = 1
            self._gateway_stops.set()
            _signal_all(self.workers, signal.SIGINT)
            self._stopping(0.0)
            return
        _log.warning("worker_replaced", pid=worker.process.pid, exit_code=worker.process.exitcode)
        self.workers[index] = self._start()

    def join(self) -> None:
        for worker in self.workers:
            worker.process.join(timeout=1)


def _signal_all(workers: list[_Worker], sig: int) -> None:
    for worker in workers:
        pid = worker.process.pid
        if pid is not None and worker.process.is_alive():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue


def _kill_all(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.process.is_alive():
            worker.process.kill()
