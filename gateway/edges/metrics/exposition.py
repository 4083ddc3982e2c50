"""`GET /metrics`: the Prometheus text format (or OpenMetrics, when the scraper asks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.ports.metrics.registry import GatewayMetrics


def metrics_endpoint(metrics: GatewayMetrics) -> Callable[[Request], Awaitable[Response]]:
    async def scrape(request: Request) -> Response:
        registry = metrics.scraped()
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), media_type=content_type)

    return scrape


def metrics_routes(metrics: GatewayMetrics, *, own_port: bool) -> list[Route]:
    """/metrics for the main port. With a port of its own, the path is no longer the
    gateway's here and goes to the proxy like any other path it does not serve."""
    return [] if own_port else [Route("/metrics", metrics_endpoint(metrics), methods=["GET"])]
