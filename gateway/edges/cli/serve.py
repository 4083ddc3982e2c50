"""`phasegate serve`: the gateway on uvicorn with uvloop and httptools."""

from __future__ import annotations

import sys

import uvicorn

from gateway.core.policy import PolicyErrors
from gateway.edges.http.app import create_app
from gateway.edges.logging import configure_logging
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
    if settings.workers > 1:
        raise SettingsError(
            "--workers: several workers are not supported yet; run replicas instead"
        )


def uvicorn_config(app: object, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The client address comes from --trusted-proxies alone (see
        # gateway/core/client_address.py), never from uvicorn's own default trust.
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )


def run_serve(settings: Settings) -> int:
    check_serveable(settings)
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except PolicyErrors as exc:
        # The same messages as `phasegate policy check`: a half-valid policy never serves.
        print(f"phasegate serve: the policy in {settings.policies} is invalid:", file=sys.stderr)
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    server = uvicorn.Server(uvicorn_config(app, settings.host, settings.port))
    server.run()
    return 0 if server.started else 1
