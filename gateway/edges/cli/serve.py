"""`phasegate serve`: the gateway on uvicorn with uvloop and httptools."""

from __future__ import annotations

import socket
import sys
from multiprocessing.synchronize import Event

from gateway.core.policy import PolicyErrors
from gateway.edges.cli.graceful import DrainingServer
from gateway.edges.cli.http_connection import ConnectionRules, GatewayConfig
from gateway.edges.cli.listener import bind
from gateway.edges.cli.workers import run_workers
from gateway.edges.http.app import create_app
from gateway.edges.logging import configure_logging
from gateway.edges.policy_files import read_policy
from gateway.edges.settings import Settings, SettingsError
from gateway.ports.audit import check_audit_url


def check_serveable(settings: Settings) -> None:
    try:
        # Reads the URL only (no connection yet): a bad one is a usage error, exit 2.
        check_audit_url(settings.audit_url)
    except ValueError as exc:
        raise SettingsError(f"--audit: {exc}") from None
    if settings.workers > 1 and settings.limits_url == "memory://":
        raise SettingsError(
            "--workers: several workers need shared limits; the in-process limiter "
            "would multiply every limit by the number of workers (use a redis:// store or --limits)"
        )


def uvicorn_config(
    app: object,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = 30.0,
    header_timeout: float = 10.0,
) -> GatewayConfig:
    """uvicorn on uvloop, with httptools behind the gateway's connection protocol."""
    return GatewayConfig(
        app,
        ConnectionRules(header_timeout=header_timeout),
        host=host,
        port=port,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The client address comes from --trusted-proxies alone (see
        # gateway/core/client_address.py), never from uvicorn's own default trust.
        proxy_headers=False,
        timeout_graceful_shutdown=int(shutdown_timeout),
    )


def run_serve(settings: Settings) -> int:
    check_serveable(settings)
    configure_logging(settings.log_level)
    if settings.workers == 1:
        return serve_on(settings)
    try:
        # Once here rather than once per worker: a bad policy stops the command at once.
        read_policy(settings.policies)
    except PolicyErrors as exc:
        return _invalid_policy(settings, exc)
    try:
        listener = bind(settings)
    except OSError as exc:  # the port is taken, the address is not this host's…
        print(
            f"phasegate serve: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    with listener:
        return run_workers(settings, listener, serve_worker)


def serve_on(
    settings: Settings,
    sockets: list[socket.socket] | None = None,
    gateway_stops: Event | None = None,
) -> int:
    """One gateway process: the app on uvicorn, draining on SIGTERM (see graceful.py)."""
    try:
        app = create_app(settings)
    except PolicyErrors as exc:
        return _invalid_policy(settings, exc)
    server = DrainingServer(
        uvicorn_config(
            app,
            settings.host,
            settings.port,
            shutdown_timeout=settings.shutdown_timeout,
            header_timeout=settings.header_timeout,
        ),
        start_draining=app.draining.start,
        drain_delay=settings.drain_delay,
        closes_listener=gateway_stops.is_set if gateway_stops is not None else lambda: True,
    )
    server.run(sockets=sockets)
    return 0 if server.started else 1


def serve_worker(settings: Settings, sockets: list[socket.socket], gateway_stops: Event) -> None:
    """The body of one `--workers` process (spawned: it sets up its own logging)."""
    configure_logging(settings.log_level)
    try:
        status = serve_on(settings, sockets, gateway_stops)
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it drained for
        status = 0
    sys.exit(status)


def _invalid_policy(settings: Settings, exc: PolicyErrors) -> int:
    # The same messages as `phasegate policy check`: a half-valid policy never serves.
    print(f"phasegate serve: the policy in {settings.policies} is invalid:", file=sys.stderr)
    for error in exc.errors:
        print(error, file=sys.stderr)
    return 1
