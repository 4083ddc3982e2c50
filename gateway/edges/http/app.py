"""The app factory: picks the adapters from the settings and wires the request path once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from gateway.edges.http.health import healthz, readiness
from gateway.edges.http.pipeline import Pipeline
from gateway.edges.http.proxy import ProxyConfig, ReverseProxy
from gateway.edges.http.request_identity import RequestIdentity
from gateway.edges.settings import Settings
from gateway.ports.upstream import Upstream
from gateway.ports.upstream.aiohttp_client import AiohttpUpstream, UpstreamConfig


def build_upstream(settings: Settings) -> Upstream:
    return AiohttpUpstream(
        UpstreamConfig(
            base_url=settings.upstream,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_timeout,
        )
    )


def create_app(settings: Settings, *, upstream: Upstream | None = None) -> Starlette:
    model_api = upstream if upstream is not None else build_upstream(settings)
    proxy = ReverseProxy(
        model_api,
        Pipeline(),
        ProxyConfig(max_body=settings.max_body, upstream_key=settings.upstream_key),
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await model_api.close()

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readiness(model_api), methods=["GET"]),
            # Everything else belongs to the model API, behind the pipeline.
            Route("/{path:path}", proxy),
        ],
        middleware=[Middleware(RequestIdentity, access_log=settings.access_log)],
        lifespan=lifespan,
    )
