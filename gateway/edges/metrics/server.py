"""`--metrics-port`: `/metrics` on a port of its own, for the life of the gateway.

A second uvicorn server in a thread of its own: uvicorn takes over the process's
signal handlers only when it runs in the main thread, so this one leaves SIGTERM and
SIGHUP to the gateway's server, and a scrape never waits behind the request path's
event loop. The socket is bound here, before the thread starts, so a port already in
use stops the gateway at start with the reason, instead of a metrics server that
silently never came up.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from typing import Final

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.edges.metrics.exposition import metrics_endpoint
from gateway.ports.metrics.registry import GatewayMetrics

_log = structlog.get_logger("phasegate.metrics")
_STARTUP_SECONDS: Final = 10.0
_SHUTDOWN_SECONDS: Final = 5.0


class MetricsPortUnavailable(RuntimeError):
    """The metrics port could not be bound or served."""


def bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A listening socket; `shared` lets every worker process bind the same port (each
    answers with all workers' metrics, so whichever the kernel picks is right)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, reuse_port=shared)
    except OSError as exc:
        reason = f"--metrics-port {port}: {exc.strerror or exc}"
        _log.error("metrics_port_unavailable", reason=reason)
        raise MetricsPortUnavailable(reason) from None


@contextlib.asynccontextmanager
async def serving_metrics(
    metrics: GatewayMetrics, host: str, port: int | None
) -> AsyncIterator[int | None]:
    """Serve /metrics on host:port (0: any free port) until the block ends, and yield the
    port; every other path there is 404. No port: nothing is served, None is yielded."""
    if port is None:
        yield None
        return
    sock = bind(host, port, shared=metrics.multiprocess)
    bound: int = sock.getsockname()[1]
    app = Starlette(routes=[Route("/metrics", metrics_endpoint(metrics), methods=["GET"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            proxy_headers=False,
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="metrics-server", daemon=True
    )
    try:
        thread.start()
        await _started(server, thread)
        _log.info("metrics_serving", host=host, port=bound)
        yield bound
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, _SHUTDOWN_SECONDS)
        sock.close()


async def _started(server: uvicorn.Server, thread: threading.Thread) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or loop.time() > deadline:
            raise MetricsPortUnavailable("the metrics server did not start")
        await asyncio.sleep(0.01)
