"""Prometheus metrics: declared in `registry`, recorded by the request counter and
the metered ports, exposed at `/metrics` on the main port or on `--metrics-port`."""

from gateway.edges.metrics.exposition import metrics_endpoint, metrics_routes
from gateway.edges.metrics.ports import MeteredAuditSink, MeteredLimiter, MeteredUpstream
from gateway.edges.metrics.registry import GatewayMetrics
from gateway.edges.metrics.request_counter import RequestCounter
from gateway.edges.metrics.server import MetricsPortUnavailable, serving_metrics

__all__ = [
    "GatewayMetrics",
    "MeteredAuditSink",
    "MeteredLimiter",
    "MeteredUpstream",
    "MetricsPortUnavailable",
    "RequestCounter",
    "metrics_endpoint",
    "metrics_routes",
    "serving_metrics",
]
