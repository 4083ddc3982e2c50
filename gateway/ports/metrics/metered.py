"""The ports as the gateway uses them, measured on the way through.

Each wrapper implements its port's protocol around the real adapter, so every user of
the port is measured (the request path, the review submitter, readiness, policy
reload records) and no adapter knows metrics exist. A port's failures and successes,
and its readiness checks, keep `phasegate_dependency_up` current.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gateway.core.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.core.limits import LimitCheck, Verdict
from gateway.core.routes import classify
from gateway.ports.audit import AuditSink, AuditUnavailable
from gateway.ports.limiter import Limiter, LimiterUnavailable
from gateway.ports.metrics.registry import GatewayMetrics, status_class
from gateway.ports.upstream import Headers, RequestBody, Upstream, UpstreamResponse


class MeteredUpstream:
    """Times each request to the model API until its answer's headers have arrived (the
    body streams on afterwards, for as long as the caller reads it)."""

    def __init__(self, upstream: Upstream, metrics: GatewayMetrics) -> None:
        self._upstream = upstream
        self._metrics = metrics

    async def send(
        self, method: str, target: str, headers: Headers, body: RequestBody
    ) -> UpstreamResponse:
        route = classify(method, target.partition("?")[0]).kind.value
        started = time.perf_counter()
        try:
            response = await self._upstream.send(method, target, headers, body)
        except UpstreamTimeout:
            self._failed(route, "timeout", started)
            raise
        except UpstreamUnavailable:
            self._failed(route, "error", started)
            raise
        self._metrics.upstream_answered(
            route, status_class(response.status), time.perf_counter() - started
        )
        self._metrics.dependency("upstream", up=True)
        return response

    def _failed(self, route: str, outcome: str, started: float) -> None:
        self._metrics.upstream_answered(route, outcome, time.perf_counter() - started)
        self._metrics.dependency("upstream", up=False)

    async def reachable(self) -> bool:
        reachable = await self._upstream.reachable()
        self._metrics.dependency("upstream", up=reachable)
        return reachable

    async def close(self) -> None:
        await self._upstream.close()


class MeteredAuditSink:
    def __init__(self, sink: AuditSink, metrics: GatewayMetrics) -> None:
        self._sink = sink
        self._metrics = metrics

    async def append(self, record: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            await self._sink.append(record)
        except AuditUnavailable:
            self._metrics.audit_failures.inc()
            self._metrics.dependency("audit", up=False)
            raise
        self._metrics.audit_writes.observe(time.perf_counter() - started)
        self._metrics.dependency("audit", up=True)

    async def healthy(self) -> bool:
        healthy = await self._sink.healthy()
        self._metrics.dependency("audit", up=healthy)
        return healthy

    async def close(self) -> None:
        await self._sink.close()


class MeteredLimiter:
    def __init__(self, limiter: Limiter, metrics: GatewayMetrics) -> None:
        self._limiter = limiter
        self._metrics = metrics

    async def acquire(
        self, checks: Sequence[LimitCheck], *, lease_id: str, lease_ttl: float
    ) -> Verdict:
        try:
            verdict = await self._limiter.acquire(checks, lease_id=lease_id, lease_ttl=lease_ttl)
        except LimiterUnavailable:
            self._metrics.dependency("limits", up=False)
            raise
        self._metrics.dependency("limits", up=True)
        if not verdict.allowed and verdict.refused_by is not None:
            self._metrics.limit_refused(verdict.refused_by)
        return verdict

    async def refund(self, checks: Sequence[LimitCheck], *, lease_id: str) -> None:
        try:
            await self._limiter.refund(checks, lease_id=lease_id)
        except LimiterUnavailable:
            self._metrics.dependency("limits", up=False)
            raise

    async def release(self, lease_keys: Sequence[str], lease_id: str) -> None:
        try:
            await self._limiter.release(lease_keys, lease_id)
        except LimiterUnavailable:
            self._metrics.dependency("limits", up=False)
            raise

    async def ping(self) -> bool:
        answers = await self._limiter.ping()
        self._metrics.dependency("limits", up=answers)
        return answers

    async def close(self) -> None:
        await self._limiter.close()
