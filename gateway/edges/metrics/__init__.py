"""`/metrics`: the Prometheus exposition on the main port or on `--metrics-port`."""

from gateway.edges.metrics.exposition import metrics_endpoint, metrics_routes
from gateway.edges.metrics.server import MetricsPortUnavailable, serving_metrics

__all__ = ["MetricsPortUnavailable", "metrics_endpoint", "metrics_routes", "serving_metrics"]
