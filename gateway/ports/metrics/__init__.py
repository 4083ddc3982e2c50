"""Prometheus metrics: declared in `registry`, recorded around the other ports by the
metered wrappers (and on the request path by the HTTP edge), exposed by `edges/metrics`."""

from gateway.ports.metrics.metered import MeteredAuditSink, MeteredLimiter, MeteredUpstream
from gateway.ports.metrics.registry import MULTIPROCESS_VARIABLE, GatewayMetrics

__all__ = [
    "MULTIPROCESS_VARIABLE",
    "GatewayMetrics",
    "MeteredAuditSink",
    "MeteredLimiter",
    "MeteredUpstream",
]
